//! A streaming `multipart/form-data` reader for the two upload commands (importConfig,
//! fwUpgrade): it picks out one named file field and writes its bytes as they arrive, holding
//! at most a part header and one delimiter's worth of data in memory.

use std::io::Write;

/// Longest part header block accepted.
const MAX_PART_HEADERS: usize = 8 * 1024;

/// Why an upload body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum MultipartError {
    /// The body does not follow the multipart format.
    Malformed(&'static str),
    /// Writing the extracted file failed.
    Write(String),
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Reading a part's headers.
    Headers,
    /// Reading a part's body; `wanted` when it is the requested field.
    Body { wanted: bool },
    /// After the closing delimiter.
    Done,
}

/// Extracts the field named `field` from a multipart body fed in chunks.
pub struct FieldExtractor {
    delimiter: Vec<u8>,
    field: String,
    state: State,
    buffer: Vec<u8>,
    found: bool,
}

impl FieldExtractor {
    /// A reader for bodies with `boundary` (from the Content-Type) extracting `field`.
    pub fn new(boundary: &str, field: &str) -> FieldExtractor {
        FieldExtractor {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            field: field.to_owned(),
            state: State::Preamble,
            buffer: Vec::new(),
            found: false,
        }
    }

    /// The boundary parameter of a `multipart/form-data` Content-Type.
    pub fn boundary(content_type: &str) -> Option<&str> {
        let (kind, params) = content_type.split_once(';')?;
        if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        params.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.eq_ignore_ascii_case("boundary")
                .then(|| v.trim_matches('"'))
                .filter(|b| !b.is_empty() && b.len() <= 70)
        })
    }

    /// Feeds the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8], out: &mut impl Write) -> Result<(), MultipartError> {
        if self.buffer.is_empty() && self.state == State::Preamble {
            // The first delimiter may open the body without the leading CRLF.
            self.buffer.extend_from_slice(b"\r\n");
        }
        self.buffer.extend_from_slice(chunk);
        loop {
            match self.state {
                State::Preamble => match find(&self.buffer, &self.delimiter) {
                    Some(at) => {
                        self.buffer.drain(..at + self.delimiter.len());
                        self.state = State::Headers;
                    }
                    None => {
                        let keep = self.delimiter.len().min(self.buffer.len());
                        self.buffer.drain(..self.buffer.len() - keep);
                        return Ok(());
                    }
                },
                State::Headers => {
                    if self.buffer.len() >= 2 && &self.buffer[..2] == b"--" {
                        self.state = State::Done;
                        continue;
                    }
                    let Some(end) = find(&self.buffer, b"\r\n\r\n") else {
                        if self.buffer.len() > MAX_PART_HEADERS {
                            return Err(MultipartError::Malformed("part headers too long"));
                        }
                        return Ok(());
                    };
                    let headers = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                    self.buffer.drain(..end + 4);
                    let wanted = field_name(&headers).is_some_and(|n| n == self.field);
                    if wanted {
                        if self.found {
                            return Err(MultipartError::Malformed("the file field appears twice"));
                        }
                        self.found = true;
                    }
                    self.state = State::Body { wanted };
                }
                State::Body { wanted } => match find(&self.buffer, &self.delimiter) {
                    Some(at) => {
                        if wanted {
                            out.write_all(&self.buffer[..at])
                                .map_err(|e| MultipartError::Write(e.to_string()))?;
                        }
                        self.buffer.drain(..at + self.delimiter.len());
                        self.state = State::Headers;
                    }
                    None => {
                        let keep = (self.delimiter.len() - 1).min(self.buffer.len());
                        let emit = self.buffer.len() - keep;
                        if wanted {
                            out.write_all(&self.buffer[..emit])
                                .map_err(|e| MultipartError::Write(e.to_string()))?;
                        }
                        self.buffer.drain(..emit);
                        return Ok(());
                    }
                },
                State::Done => {
                    self.buffer.clear();
                    return Ok(());
                }
            }
        }
    }

    /// Ends the body; `Ok(true)` when the field was found and the body closed properly.
    pub fn finish(&self) -> Result<bool, MultipartError> {
        match self.state {
            State::Done => Ok(self.found),
            _ => Err(MultipartError::Malformed(
                "body ended before the closing boundary",
            )),
        }
    }
}

fn field_name(headers: &str) -> Option<&str> {
    headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        value.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k == "name").then(|| v.trim_matches('"'))
        })
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhello\r\n",
        );
        b.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"fw_file\"; filename=\"fw.bin\"\r\n",
        );
        b.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        b.extend_from_slice(b"\x00\x01\r\n--Xy\r\nbinary\r\n--XyZ--\r\n");
        b
    }

    #[test]
    fn test_extracts_the_named_field_whatever_the_chunking() {
        for chunk in [1, 2, 3, 7, 1000] {
            let mut extractor = FieldExtractor::new("XyZ", "fw_file");
            let mut out = Vec::new();
            for piece in body().chunks(chunk) {
                extractor.feed(piece, &mut out).unwrap();
            }
            assert_eq!(extractor.finish(), Ok(true), "chunk {chunk}");
            assert_eq!(out, b"\x00\x01\r\n--Xy\r\nbinary", "chunk {chunk}");
        }
    }

    #[test]
    fn test_missing_field_and_truncated_body_are_reported() {
        let mut extractor = FieldExtractor::new("XyZ", "setting_file");
        extractor.feed(&body(), &mut Vec::new()).unwrap();
        assert_eq!(extractor.finish(), Ok(false));
        let mut extractor = FieldExtractor::new("XyZ", "fw_file");
        extractor.feed(&body()[..60], &mut Vec::new()).unwrap();
        assert!(extractor.finish().is_err());
    }

    #[test]
    fn test_boundary_from_content_type() {
        assert_eq!(
            FieldExtractor::boundary("multipart/form-data; boundary=\"abc\""),
            Some("abc")
        );
        assert_eq!(FieldExtractor::boundary("text/plain; boundary=abc"), None);
    }
}

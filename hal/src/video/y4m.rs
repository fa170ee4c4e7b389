//! YUV4MPEG2 (`.y4m`) file reading for the simulated sensor's recorded scenes: 4:2:0 (any
//! chroma siting) and mono, read one frame at a time into a reused buffer, looping at the end.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::{HalError, HalErrorKind, HalResult};

/// Chroma layout of a y4m stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Y4mColorspace {
    /// Planar 4:2:0 (Y, U, V).
    I420,
    /// Luma only.
    Mono,
}

/// A y4m file opened for looping playback.
pub struct Y4mReader {
    reader: BufReader<File>,
    width: usize,
    height: usize,
    colorspace: Y4mColorspace,
    frame_rate: (u32, u32),
    first_frame_offset: u64,
    frame: Vec<u8>,
    line: Vec<u8>,
}

fn invalid(path: &Path, what: &str) -> HalError {
    HalError::new(
        HalErrorKind::InvalidArgument,
        format!("y4m file {}: {what}", path.display()),
    )
}

impl Y4mReader {
    /// Opens `path` and parses its stream header. Colourspaces other than 4:2:0 and mono
    /// answer `NotSupported`.
    pub fn open(path: &Path) -> HalResult<Y4mReader> {
        let file = File::open(path)
            .map_err(|e| HalError::io(format!("opening y4m file {}", path.display()), e))?;
        let mut reader = BufReader::new(file);
        let mut header = Vec::new();
        reader
            .by_ref()
            .take(4096)
            .read_until(b'\n', &mut header)
            .map_err(|e| HalError::io(format!("reading y4m file {}", path.display()), e))?;
        if header.last() != Some(&b'\n') {
            return Err(invalid(path, "no stream header line"));
        }
        let header = std::str::from_utf8(&header[..header.len() - 1])
            .map_err(|_| invalid(path, "header is not text"))?;
        let mut fields = header.split(' ');
        if fields.next() != Some("YUV4MPEG2") {
            return Err(invalid(path, "not a YUV4MPEG2 file"));
        }
        let (mut width, mut height) = (0usize, 0usize);
        let mut frame_rate = (25, 1);
        let mut colorspace = Y4mColorspace::I420;
        for field in fields.filter(|f| !f.is_empty()) {
            let (tag, value) = field.split_at(1);
            match tag {
                "W" => width = value.parse().map_err(|_| invalid(path, "bad width"))?,
                "H" => height = value.parse().map_err(|_| invalid(path, "bad height"))?,
                "F" => {
                    let (n, d) = value
                        .split_once(':')
                        .ok_or_else(|| invalid(path, "bad frame rate"))?;
                    let n: u32 = n.parse().map_err(|_| invalid(path, "bad frame rate"))?;
                    let d: u32 = d.parse().map_err(|_| invalid(path, "bad frame rate"))?;
                    if n == 0 || d == 0 {
                        return Err(invalid(path, "zero frame rate"));
                    }
                    frame_rate = (n, d);
                }
                "C" => {
                    colorspace = match value {
                        "420" | "420jpeg" | "420paldv" | "420mpeg2" => Y4mColorspace::I420,
                        "mono" => Y4mColorspace::Mono,
                        other => {
                            return Err(HalError::new(
                                HalErrorKind::NotSupported,
                                format!(
                                    "y4m file {}: colourspace C{other} (only 4:2:0 and mono)",
                                    path.display()
                                ),
                            ));
                        }
                    }
                }
                "I" if value != "p" && value != "?" => {
                    return Err(HalError::new(
                        HalErrorKind::NotSupported,
                        format!("y4m file {}: interlaced", path.display()),
                    ));
                }
                _ => {} // Progressive I, A (aspect), X (extensions): nothing to do.
            }
        }
        if width == 0 || height == 0 || width > 8192 || height > 8192 {
            return Err(invalid(path, "missing or unreasonable picture size"));
        }
        let first_frame_offset = reader
            .stream_position()
            .map_err(|e| HalError::io("y4m position", e))?;
        let frame_len = match colorspace {
            Y4mColorspace::I420 => super::convert::i420_len(width, height),
            Y4mColorspace::Mono => width * height,
        };
        Ok(Y4mReader {
            reader,
            width,
            height,
            colorspace,
            frame_rate,
            first_frame_offset,
            frame: vec![0; frame_len],
            line: Vec::with_capacity(64),
        })
    }

    /// Picture width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Picture height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Chroma layout.
    pub fn colorspace(&self) -> Y4mColorspace {
        self.colorspace
    }

    /// Frame rate as numerator/denominator.
    pub fn frame_rate(&self) -> (u32, u32) {
        self.frame_rate
    }

    /// Reads the next frame, going back to the first one at the end of the file. The planes
    /// (Y, or Y then U then V) are returned in a buffer reused across calls.
    pub fn next_frame_looping(&mut self) -> HalResult<&[u8]> {
        if !self.read_frame_header()? {
            self.reader
                .seek(SeekFrom::Start(self.first_frame_offset))
                .map_err(|e| HalError::io("y4m rewind", e))?;
            if !self.read_frame_header()? {
                return Err(HalError::new(
                    HalErrorKind::InvalidArgument,
                    "y4m file has no frames",
                ));
            }
        }
        if let Err(e) = self.reader.read_exact(&mut self.frame) {
            // A truncated last frame: start over from the first frame on the next call.
            let _ = self.reader.seek(SeekFrom::Start(self.first_frame_offset));
            return Err(HalError::io("y4m frame truncated", e));
        }
        Ok(&self.frame)
    }

    /// Reads a `FRAME` line; false at end of file.
    fn read_frame_header(&mut self) -> HalResult<bool> {
        self.line.clear();
        let read = self
            .reader
            .by_ref()
            .take(1024)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| HalError::io("y4m frame header", e))?;
        if read == 0 {
            return Ok(false);
        }
        if !self.line.starts_with(b"FRAME") || self.line.last() != Some(&b'\n') {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                "y4m: bad FRAME header",
            ));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ipcamd-y4m-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("scene.y4m");
        let mut file = File::create(&path).expect("create");
        file.write_all(bytes).expect("write");
        path
    }

    #[test]
    fn test_y4m_reader_420_frames_loop() {
        let mut bytes = b"YUV4MPEG2 W4 H2 F30:1 Ip A1:1 C420jpeg\n".to_vec();
        for value in [10u8, 20] {
            bytes.extend_from_slice(b"FRAME\n");
            bytes.extend(std::iter::repeat_n(value, 8 + 2 + 2));
        }
        let path = write_file("loop", &bytes);
        let mut reader = Y4mReader::open(&path).expect("open");
        assert_eq!((reader.width(), reader.height()), (4, 2));
        assert_eq!(reader.frame_rate(), (30, 1));
        assert_eq!(reader.colorspace(), Y4mColorspace::I420);
        assert_eq!(reader.next_frame_looping().expect("1")[0], 10);
        assert_eq!(reader.next_frame_looping().expect("2")[0], 20);
        assert_eq!(reader.next_frame_looping().expect("3")[0], 10);
    }

    #[test]
    fn test_y4m_reader_truncated_frame_fails_then_restarts() {
        let mut bytes = b"YUV4MPEG2 W2 H2 F10:1 Cmono\nFRAME\n".to_vec();
        bytes.extend_from_slice(&[5, 5, 5, 5]);
        bytes.extend_from_slice(b"FRAME\n");
        bytes.extend_from_slice(&[6, 6]);
        let path = write_file("truncated", &bytes);
        let mut reader = Y4mReader::open(&path).expect("open");
        assert_eq!(reader.next_frame_looping().expect("1"), &[5, 5, 5, 5]);
        assert!(reader.next_frame_looping().is_err());
        assert_eq!(reader.next_frame_looping().expect("again"), &[5, 5, 5, 5]);
    }

    #[test]
    fn test_y4m_reader_mono_frame_is_luma_only() {
        let mut bytes = b"YUV4MPEG2 W2 H2 F10:1 Cmono\nFRAME\n".to_vec();
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        let path = write_file("mono", &bytes);
        let mut reader = Y4mReader::open(&path).expect("open");
        assert_eq!(reader.colorspace(), Y4mColorspace::Mono);
        assert_eq!(reader.next_frame_looping().expect("frame"), &[1, 2, 3, 4]);
    }

    #[test]
    fn test_y4m_reader_444_is_not_supported() {
        let path = write_file("444", b"YUV4MPEG2 W2 H2 F10:1 C444\n");
        let err = Y4mReader::open(&path).err().expect("444");
        assert_eq!(err.kind(), HalErrorKind::NotSupported);
    }

    #[test]
    fn test_y4m_reader_not_y4m_is_invalid() {
        let path = write_file("bad", b"P5 2 2 255\n");
        let err = Y4mReader::open(&path).err().expect("bad");
        assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
    }
}

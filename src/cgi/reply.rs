//! Replies: the `<CGI_Result>` XML envelope (every value XML-escaped), the snapPicture HTML
//! page, and raw JPEG bytes. Streams (MJPEG) are produced by the HTTP layer.

use std::fmt::Write as _;

use bytes::Bytes;

/// What a command answers.
#[derive(Debug)]
pub enum Reply {
    /// `<result>0</result>` followed by these fields, in order.
    Xml(Fields),
    /// An HTML page (snapPicture).
    Html(String),
    /// A JPEG image (snapPicture2).
    Jpeg(Bytes),
    /// A multipart MJPEG stream (GetMJStream), served by the HTTP layer.
    MjpegStream,
}

impl Reply {
    /// A success reply with no fields.
    pub fn ok() -> Reply {
        Reply::Xml(Fields::default())
    }
}

/// Reply fields in wire order.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// An empty list.
    pub fn new() -> Fields {
        Fields::default()
    }

    /// Appends a field.
    pub fn push(&mut self, name: impl Into<String>, value: impl ToString) -> &mut Fields {
        self.0.push((name.into(), value.to_string()));
        self
    }

    /// Appends a field (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl ToString) -> Fields {
        self.push(name, value);
        self
    }

    /// The value of a field, for tests and composition.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every field.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Reply {
    /// Into a reply.
    pub fn xml(fields: Fields) -> Reply {
        Reply::Xml(fields)
    }
}

/// Renders `<CGI_Result>` with `code` and `fields`, as the stock firmware lays it out.
pub fn render_xml(code: i32, fields: &Fields) -> String {
    let mut out = String::with_capacity(64 + fields.0.len() * 32);
    out.push_str("<CGI_Result>\n    <result>");
    let _ = write!(out, "{code}");
    out.push_str("</result>\n");
    for (name, value) in &fields.0 {
        let _ = writeln!(
            out,
            "    <{name}>{}</{name}>",
            quick_xml::escape::escape(value.as_str())
        );
    }
    out.push_str("</CGI_Result>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_render_xml_escapes_values() {
        let fields = Fields::new().with("devName", "<a&b>\"'");
        let xml = render_xml(0, &fields);
        assert_eq!(
            xml,
            "<CGI_Result>\n    <result>0</result>\n    \
             <devName>&lt;a&amp;b&gt;&quot;&apos;</devName>\n</CGI_Result>\n"
        );
    }

    #[test]
    fn test_render_xml_error_has_only_result() {
        assert_eq!(
            render_xml(-2, &Fields::new()),
            "<CGI_Result>\n    <result>-2</result>\n</CGI_Result>\n"
        );
    }
}

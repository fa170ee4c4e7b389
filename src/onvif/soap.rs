//! SOAP 1.2 for the ONVIF service: the request envelope read with quick-xml (the operation,
//! the WS-Security UsernameToken, the few arguments the operations take) and replies written
//! with quick-xml's writer, every text and attribute value escaped by it. Nothing of a request
//! is ever pasted into XML text by hand.

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

/// SOAP 1.2 envelope.
pub const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// ONVIF device service.
pub const NS_DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";
/// ONVIF media service.
pub const NS_MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
/// ONVIF schema types.
pub const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";
/// ONVIF fault codes.
pub const NS_ERROR: &str = "http://www.onvif.org/ver10/error";

/// Deepest element nesting a request may have.
const MAX_DEPTH: usize = 32;

/// A WS-Security UsernameToken (OASIS WSS UsernameToken Profile 1.0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsernameToken {
    /// The account name.
    pub username: String,
    /// The password (PasswordText) or its digest (PasswordDigest).
    pub password: String,
    /// Whether the password is a digest (`#PasswordDigest` type).
    pub digest: bool,
}

/// What the service needs of a request envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The local name of the Body's first element (the operation).
    pub operation: String,
    /// The Header's UsernameToken, if any.
    pub token: Option<UsernameToken>,
    /// A `ProfileToken` argument (GetProfile, GetStreamUri, GetSnapshotUri).
    pub profile_token: Option<String>,
    /// GetStreamUri's `StreamSetup/Stream` (`RTP-Unicast`, `RTP-Multicast`).
    pub stream: Option<String>,
    /// GetStreamUri's `StreamSetup/Transport/Protocol` (`UDP`, `TCP`, `RTSP`, `HTTP`).
    pub protocol: Option<String>,
    /// GetCapabilities' `Category` arguments.
    pub categories: Vec<String>,
}

/// Why a body is not a SOAP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Reads a request envelope: well-formed XML, an `Envelope` root with a `Body` holding one
/// operation. A DTD is refused (no entity of a client's is ever expanded).
pub fn parse(body: &[u8]) -> Result<Envelope, Malformed> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<String> = Vec::new();
    let mut envelope = Envelope::default();
    let mut token = UsernameToken::default();
    let mut in_token = false;
    let mut seen_body = false;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|_| Malformed("not well-formed XML"))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match stack.len() {
                    0 if name != "Envelope" => {
                        return Err(Malformed("the root is not an Envelope"));
                    }
                    1 if name == "Body" => seen_body = true,
                    2 if stack[1] == "Body" && envelope.operation.is_empty() => {
                        envelope.operation = name.clone();
                    }
                    _ => {}
                }
                if name == "UsernameToken" && stack.get(1).is_some_and(|s| s == "Header") {
                    in_token = true;
                }
                if in_token && name == "Password" {
                    for attribute in e.attributes() {
                        let attribute = attribute.map_err(|_| Malformed("not well-formed XML"))?;
                        if attribute.key.local_name().as_ref() == b"Type" {
                            token.digest = attribute.value.ends_with(b"#PasswordDigest");
                        }
                    }
                }
                if matches!(event, Event::Start(_)) {
                    if stack.len() >= MAX_DEPTH {
                        return Err(Malformed("nested too deep"));
                    }
                    stack.push(name);
                } else if stack.is_empty() {
                    return Err(Malformed("an empty Envelope"));
                }
            }
            Event::End(_) => {
                let closed = stack.pop();
                in_token &= closed.as_deref() != Some("UsernameToken");
            }
            Event::Text(ref e) => {
                let text = e
                    .unescape()
                    .map_err(|_| Malformed("not well-formed XML"))?
                    .into_owned();
                let here = stack.last().map(String::as_str).unwrap_or("");
                let in_body = stack.get(1).is_some_and(|s| s == "Body");
                match here {
                    "Username" if in_token => token.username = text,
                    "Password" if in_token => token.password = text,
                    "ProfileToken" if in_body => envelope.profile_token = Some(text),
                    "Stream" if in_body => envelope.stream = Some(text),
                    "Protocol" if in_body => envelope.protocol = Some(text),
                    "Category" if in_body => envelope.categories.push(text),
                    _ => {}
                }
            }
            Event::DocType(_) => return Err(Malformed("a DTD is not accepted")),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(Malformed("not well-formed XML"));
    }
    if !seen_body || envelope.operation.is_empty() {
        return Err(Malformed("no operation in the Body"));
    }
    if !token.username.is_empty() {
        envelope.token = Some(token);
    }
    Ok(envelope)
}

/// A reply under construction: elements with escaped text, inside a SOAP envelope.
pub struct Xml {
    writer: Writer<Vec<u8>>,
}

impl Xml {
    /// A reply: the XML declaration, the envelope with every namespace prefix the replies
    /// use (`s`, `tds`, `trt`, `tt`, `ter`) and an open Body.
    pub fn envelope() -> Xml {
        let mut xml = Xml {
            writer: Writer::new(Vec::with_capacity(2048)),
        };
        xml.raw(Event::Decl(quick_xml::events::BytesDecl::new(
            "1.0",
            Some("UTF-8"),
            None,
        )));
        xml.open_with(
            "s:Envelope",
            &[
                ("xmlns:s", NS_SOAP),
                ("xmlns:tds", NS_DEVICE),
                ("xmlns:trt", NS_MEDIA),
                ("xmlns:tt", NS_SCHEMA),
                ("xmlns:ter", NS_ERROR),
            ],
        );
        xml.open("s:Body");
        xml
    }

    #[inline(never)]
    fn raw(&mut self, event: Event<'_>) {
        // Writing to memory does not fail.
        let _ = self.writer.write_event(event);
    }

    /// Opens `name`.
    pub fn open(&mut self, name: &str) -> &mut Xml {
        self.open_with(name, &[])
    }

    /// Opens `name` with attributes (values escaped).
    #[inline(never)]
    pub fn open_with(&mut self, name: &str, attributes: &[(&str, &str)]) -> &mut Xml {
        let start = BytesStart::new(name).with_attributes(attributes.iter().copied());
        self.raw(Event::Start(start));
        self
    }

    /// Closes `name`.
    #[inline(never)]
    pub fn close(&mut self, name: &str) -> &mut Xml {
        self.raw(Event::End(BytesEnd::new(name)));
        self
    }

    /// `<name>text</name>`, the text escaped.
    pub fn leaf(&mut self, name: &str, text: impl std::fmt::Display) -> &mut Xml {
        self.leaf_text(name, &text.to_string())
    }

    #[inline(never)]
    fn leaf_text(&mut self, name: &str, text: &str) -> &mut Xml {
        self.open(name);
        self.raw(Event::Text(BytesText::new(text)));
        self.close(name)
    }

    /// `<name>` around what `inner` writes.
    pub fn el(&mut self, name: &str, inner: impl FnOnce(&mut Xml)) -> &mut Xml {
        self.open(name);
        inner(self);
        self.close(name)
    }

    /// `<name attributes>` around what `inner` writes.
    pub fn el_with(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
        inner: impl FnOnce(&mut Xml),
    ) -> &mut Xml {
        self.open_with(name, attributes);
        inner(self);
        self.close(name)
    }

    /// Closes the Body and the envelope: the reply's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.close("s:Body").close("s:Envelope");
        self.writer.into_inner()
    }
}

/// A SOAP fault as ONVIF prescribes them (ONVIF Core, "SOAP fault messages").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `s:Sender` (the request is at fault) or `s:Receiver`.
    pub sender: bool,
    /// The ONVIF subcodes, outermost first (`ter:NotAuthorized`, …).
    pub subcodes: &'static [&'static str],
    /// The human-readable reason.
    pub reason: String,
}

impl Fault {
    /// `s:Sender` / `ter:NotAuthorized`.
    pub fn not_authorized(reason: &str) -> Fault {
        Fault {
            sender: true,
            subcodes: &["ter:NotAuthorized"],
            reason: reason.to_owned(),
        }
    }

    /// `s:Receiver` / `ter:ActionNotSupported`.
    pub fn action_not_supported(operation: &str) -> Fault {
        Fault {
            sender: false,
            subcodes: &["ter:ActionNotSupported"],
            reason: format!("{operation} is not supported by this device"),
        }
    }

    /// `s:Sender` / `ter:InvalidArgVal` / `subcode`.
    pub fn invalid_arg(subcode: &'static [&'static str], reason: &str) -> Fault {
        Fault {
            sender: true,
            subcodes: subcode,
            reason: reason.to_owned(),
        }
    }

    /// `s:Sender` without an ONVIF subcode: the body is not a SOAP request.
    pub fn malformed(reason: &str) -> Fault {
        Fault {
            sender: true,
            subcodes: &[],
            reason: reason.to_owned(),
        }
    }

    /// The HTTP status of the fault (SOAP 1.2 HTTP binding: Sender 400, Receiver 500).
    pub fn status(&self) -> u16 {
        if self.sender { 400 } else { 500 }
    }

    /// The fault envelope.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut xml = Xml::envelope();
        xml.el("s:Fault", |x| {
            x.el("s:Code", |x| {
                x.leaf(
                    "s:Value",
                    if self.sender {
                        "s:Sender"
                    } else {
                        "s:Receiver"
                    },
                );
                subcode(x, self.subcodes);
            });
            x.el("s:Reason", |x| {
                x.open_with("s:Text", &[("xml:lang", "en")]);
                x.raw(Event::Text(BytesText::new(&self.reason)));
                x.close("s:Text");
            });
        });
        xml.finish()
    }
}

fn subcode(xml: &mut Xml, codes: &[&str]) {
    if let Some((first, rest)) = codes.split_first() {
        xml.el("s:Subcode", |x| {
            x.leaf("s:Value", first);
            subcode(x, rest);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_TOKEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">
  <s:Header>
    <Security s:mustUnderstand="1" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
      <UsernameToken>
        <Username>ad&amp;min</Username>
        <Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">p&lt;w</Password>
      </UsernameToken>
    </Security>
  </s:Header>
  <s:Body xmlns:trt="http://www.onvif.org/ver10/media/wsdl">
    <trt:GetStreamUri>
      <trt:StreamSetup><Stream xmlns="http://www.onvif.org/ver10/schema">RTP-Unicast</Stream>
        <Transport xmlns="http://www.onvif.org/ver10/schema"><Protocol>RTSP</Protocol></Transport>
      </trt:StreamSetup>
      <trt:ProfileToken>main</trt:ProfileToken>
    </trt:GetStreamUri>
  </s:Body>
</s:Envelope>"#;

    #[test]
    fn test_operation_token_and_arguments_are_read_and_unescaped() {
        let envelope = parse(WITH_TOKEN.as_bytes()).unwrap();
        assert_eq!(envelope.operation, "GetStreamUri");
        assert_eq!(
            envelope.token,
            Some(UsernameToken {
                username: "ad&min".into(),
                password: "p<w".into(),
                digest: false
            })
        );
        assert_eq!(envelope.profile_token.as_deref(), Some("main"));
        assert_eq!(envelope.stream.as_deref(), Some("RTP-Unicast"));
        assert_eq!(envelope.protocol.as_deref(), Some("RTSP"));
    }

    #[test]
    fn test_an_empty_operation_element_and_a_digest_token_are_read() {
        let body = WITH_TOKEN
            .replace("#PasswordText", "#PasswordDigest")
            .replace(
                &WITH_TOKEN[WITH_TOKEN.find("<trt:GetStreamUri>").unwrap()
                    ..WITH_TOKEN.find("</s:Body>").unwrap()],
                "<tds:GetDeviceInformation xmlns:tds=\"x\"/>",
            );
        let envelope = parse(body.as_bytes()).unwrap();
        assert_eq!(envelope.operation, "GetDeviceInformation");
        assert!(envelope.token.unwrap().digest);
        assert_eq!(envelope.profile_token, None);
    }

    #[test]
    fn test_malformed_bodies_are_refused() {
        for body in [
            "",
            "not xml",
            "<a><b></a>",
            "<s:Envelope xmlns:s=\"x\"><s:Body><Op>",
            "<Other><Body><Op/></Body></Other>",
            "<s:Envelope xmlns:s=\"x\"><s:Body/></s:Envelope>",
            "<!DOCTYPE e [<!ENTITY x \"y\">]><Envelope><Body><Op/></Body></Envelope>",
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body:?}");
        }
        let deep = format!(
            "<Envelope><Body>{}{}</Body></Envelope>",
            "<a>".repeat(40),
            "</a>".repeat(40)
        );
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn test_replies_escape_text_and_faults_carry_their_codes() {
        let mut xml = Xml::envelope();
        xml.el("tds:R", |x| {
            x.leaf("tt:Name", "<x>&\"");
        });
        let text = String::from_utf8(xml.finish()).unwrap();
        assert!(
            text.contains("<tt:Name>&lt;x&gt;&amp;&quot;</tt:Name>"),
            "{text}"
        );
        let reparsed = parse(text.as_bytes()).unwrap();
        assert_eq!(reparsed.operation, "R");

        let fault = Fault::not_authorized("no <credentials>");
        assert_eq!(fault.status(), 400);
        let text = String::from_utf8(fault.to_xml()).unwrap();
        assert!(text.contains("<s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value></s:Subcode>"), "{text}");
        assert!(text.contains("no &lt;credentials&gt;"));
        assert_eq!(Fault::action_not_supported("Foo").status(), 500);
        let nested = Fault::invalid_arg(&["ter:InvalidArgVal", "ter:NoProfile"], "x").to_xml();
        let nested = String::from_utf8(nested).unwrap();
        assert!(nested.contains("<s:Subcode><s:Value>ter:InvalidArgVal</s:Value><s:Subcode><s:Value>ter:NoProfile</s:Value></s:Subcode></s:Subcode>"), "{nested}");
    }
}

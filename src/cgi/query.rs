//! The CGI query string, parsed the way the guide and real clients need:
//! `cmd`/`usr`/`pwd` anywhere; a wholly percent-encoded query string; stray spaces around keys
//! and the command; empty `&&` segments; repeated keys (last wins); `+` read as a space (clients
//! form-encode) while credentials also keep the literal-`+` reading; values that are not UTF-8
//! decoded as GBK. Bounded: too many or too long parameters are a format error.

use std::borrow::Cow;

/// Most parameters one request may carry (setWifiSetting has ~20, the largest ~110).
pub const MAX_PARAMS: usize = 160;
/// Longest key.
pub const MAX_KEY_LEN: usize = 64;
/// Longest decoded value.
pub const MAX_VALUE_LEN: usize = 1024;

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub &'static str);

/// A parsed query.
#[derive(Debug, Default, Clone)]
pub struct Query {
    /// Decoded pairs in order, `+` read as space.
    pairs: Vec<(String, String)>,
    /// The same values with `+` kept literal (only differs where the raw value had a `+`).
    literal_plus: Vec<Option<String>>,
    /// Every key looked up, shared with the query's clones (tests check that handlers read
    /// each parameter they declare).
    #[cfg(test)]
    reads: ReadLog,
}

/// The keys a query (or a clone of it) was asked for, in tests.
#[cfg(test)]
#[derive(Debug, Default, Clone)]
struct ReadLog(std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>);

#[cfg(test)]
impl ReadLog {
    fn note(&self, key: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned());
    }

    fn keys(&self) -> std::collections::BTreeSet<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Query {
    /// Parses a raw query string (the part after `?`).
    pub fn parse(raw: &str) -> Result<Query, QueryError> {
        // The guide's URL-encoding example encodes the separators too. With no literal '='
        // no pair can be split, so decode the whole string once first.
        let whole: Cow<'_, str> = if !raw.contains('=') && raw.contains('%') {
            Cow::Owned(String::from_utf8_lossy(&percent_decode(raw.as_bytes(), false)).into_owned())
        } else {
            Cow::Borrowed(raw)
        };
        let mut query = Query::default();
        for segment in whole.split('&') {
            if segment.trim().is_empty() {
                continue;
            }
            if query.pairs.len() == MAX_PARAMS {
                return Err(QueryError("too many parameters"));
            }
            let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
            let key = decode_text(key.as_bytes(), true);
            let key = key.trim();
            if key.is_empty() {
                continue;
            }
            if key.len() > MAX_KEY_LEN {
                return Err(QueryError("parameter name too long"));
            }
            let decoded = decode_text(value.as_bytes(), true);
            if decoded.len() > MAX_VALUE_LEN {
                return Err(QueryError("parameter value too long"));
            }
            let literal = value
                .contains('+')
                .then(|| decode_text(value.as_bytes(), false));
            query.pairs.push((key.to_owned(), decoded));
            query.literal_plus.push(literal);
        }
        Ok(query)
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        #[cfg(test)]
        self.reads.note(key);
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `key` or, failing that, of one of `aliases`.
    pub fn get_any(&self, key: &str, aliases: &[&str]) -> Option<&str> {
        self.get(key)
            .or_else(|| aliases.iter().find_map(|a| self.get(a)))
    }

    /// Whether `key` is present at all.
    pub fn has(&self, key: &str) -> bool {
        #[cfg(test)]
        self.reads.note(key);
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// The command name, trimmed (the guide's examples have `cmd= logIn`).
    pub fn cmd(&self) -> Option<&str> {
        self.get("cmd").map(str::trim).filter(|c| !c.is_empty())
    }

    /// Both readings of a credential: `+` as space, then `+` as a literal plus (if different).
    pub fn credential(&self, key: &str) -> (Option<&str>, Option<&str>) {
        #[cfg(test)]
        self.reads.note(key);
        let index = self.pairs.iter().rposition(|(k, _)| k == key);
        match index {
            None => (None, None),
            Some(i) => (
                Some(self.pairs[i].1.as_str()),
                self.literal_plus[i].as_deref(),
            ),
        }
    }

    /// Every key present, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// Every key looked up so far, on this query or a clone of it (by [`Query::get`],
    /// [`Query::get_any`], [`Query::has`] or [`Query::credential`]).
    #[cfg(test)]
    pub(crate) fn keys_read(&self) -> std::collections::BTreeSet<String> {
        self.reads.keys()
    }
}

/// Percent-decodes, optionally reading `+` as a space. Malformed escapes stay literal.
fn percent_decode(input: &[u8], plus_as_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes to text: UTF-8 when valid, otherwise GBK (older Chinese clients send
/// device names that way).
fn decode_text(input: &[u8], plus_as_space: bool) -> String {
    let bytes = percent_decode(input, plus_as_space);
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let (text, _, _) = encoding_rs::GBK.decode(err.as_bytes());
            text.into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_plain_query_any_order() {
        let q = Query::parse("usr=admin&pwd=&cmd=getIPInfo").unwrap();
        assert_eq!(q.cmd(), Some("getIPInfo"));
        assert_eq!(q.get("usr"), Some("admin"));
        assert_eq!(q.get("pwd"), Some(""));
    }

    #[test]
    fn test_parse_wholly_encoded_query_string() {
        let q = Query::parse("usr%3Dadmin%26pwd%3D%26cmd%3DgetIPInfo").unwrap();
        assert_eq!(q.cmd(), Some("getIPInfo"));
        assert_eq!(q.get("usr"), Some("admin"));
    }

    #[test]
    fn test_parse_trims_spaces_and_skips_empty_segments() {
        let q = Query::parse("cmd=%20logIn&&%20usr=admin&pwd=").unwrap();
        assert_eq!(q.cmd(), Some("logIn"));
        assert_eq!(q.get("usr"), Some("admin"));
    }

    #[test]
    fn test_parse_repeated_key_last_wins() {
        let q = Query::parse("area7=1&area7=3").unwrap();
        assert_eq!(q.get("area7"), Some("3"));
    }

    #[test]
    fn test_plus_is_space_but_credentials_keep_literal_reading() {
        let q = Query::parse("devName=my+cam&pwd=a+b").unwrap();
        assert_eq!(q.get("devName"), Some("my cam"));
        assert_eq!(q.credential("pwd"), (Some("a b"), Some("a+b")));
        let q = Query::parse("pwd=a%2Bb").unwrap();
        assert_eq!(q.credential("pwd"), (Some("a+b"), None));
    }

    #[test]
    fn test_non_utf8_value_decoded_as_gbk() {
        // "中文" in GBK.
        let q = Query::parse("devName=%D6%D0%CE%C4").unwrap();
        assert_eq!(q.get("devName"), Some("中文"));
    }

    #[test]
    fn test_malformed_escape_kept_literal() {
        let q = Query::parse("a=%zz&b=%4").unwrap();
        assert_eq!(q.get("a"), Some("%zz"));
        assert_eq!(q.get("b"), Some("%4"));
    }

    #[test]
    fn test_limits_reject_oversized_queries() {
        let many = vec!["a=1"; MAX_PARAMS + 1].join("&");
        assert!(Query::parse(&many).is_err());
        let long = format!("a={}", "x".repeat(MAX_VALUE_LEN + 1));
        assert!(Query::parse(&long).is_err());
    }

    #[test]
    fn test_read_log_records_every_lookup_and_is_shared_by_clones() {
        let q = Query::parse("cmd=setDevName&devName=x&unused=1").unwrap();
        let copy = q.clone();
        assert_eq!(q.cmd(), Some("setDevName"));
        assert_eq!(copy.get_any("name", &["devName"]), Some("x"));
        let _ = copy.credential("pwd");
        let read: Vec<_> = q.keys_read().into_iter().collect();
        assert_eq!(read, ["cmd", "devName", "name", "pwd"]);
    }
}

//! RTSP Digest authentication (RFC 2617, with RFC 7616's SHA-256): the server's nonces and
//! the check of a client's `Authorization: Digest …` response.
//!
//! Nonces are stateless: the seconds since the server started and a keyed BLAKE2 MAC of them
//! and the client address, under a key drawn at start (so a nonce of a previous boot, or of
//! another client address, is not ours). One goes stale [`NONCE_LIFETIME`] after it was
//! issued; a client answering a stale nonce with a correct response is told `stale=true` and
//! retries without asking its user again. Being stateless, a nonce can be answered more than
//! once within its lifetime (no `nc` bookkeeping): the response still proves the password
//! without sending it.
//!
//! The header is parsed with `http-auth`'s RFC 7235 auth-param parser (quoted strings with
//! escapes, tokens); the secrets (HA1) are the accounts' ([`crate::accounts`]).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use blake2::digest::consts::U16;
use blake2::digest::{KeyInit, Mac};
use rand_core::{OsRng, RngCore};
use rtsp_types::Url;
use subtle::ConstantTimeEq;

use crate::accounts::{DigestAlgorithm, hex};

/// How long a nonce stays fresh.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);

type NonceMac = blake2::Blake2bMac<U16>;

/// Issues and checks the server's nonces.
pub struct Nonces {
    key: [u8; 32],
    epoch: Instant,
    lifetime: Duration,
}

/// What a nonce a client answered is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// Issued by this server to this client address within the lifetime.
    Fresh,
    /// Ours, but older than the lifetime.
    Expired,
    /// Not ours: a previous boot's, another address's, or made up.
    Unknown,
}

impl Nonces {
    /// Nonces under a new random key, stale after `lifetime`.
    pub fn new(lifetime: Duration) -> Nonces {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Nonces {
            key,
            epoch: Instant::now(),
            lifetime,
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }

    fn mac(&self, issued: u64, peer: IpAddr) -> String {
        let mut mac = <NonceMac as KeyInit>::new_from_slice(&self.key).expect("32-byte MAC key");
        mac.update(&issued.to_be_bytes());
        match peer {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        hex(&mac.finalize().into_bytes())
    }

    /// A new nonce for a client at `peer`.
    pub fn issue(&self, peer: IpAddr) -> String {
        self.issue_at(peer, self.now())
    }

    fn issue_at(&self, peer: IpAddr, issued: u64) -> String {
        format!("{issued:012x}{}", self.mac(issued, peer))
    }

    /// Whether `nonce` is one of ours for `peer`, and fresh.
    pub fn check(&self, nonce: &str, peer: IpAddr) -> NonceState {
        self.check_at(nonce, peer, self.now())
    }

    fn check_at(&self, nonce: &str, peer: IpAddr, now: u64) -> NonceState {
        let (Some(stamp), Some(mac)) = (nonce.get(..12), nonce.get(12..)) else {
            return NonceState::Unknown;
        };
        let Ok(issued) = u64::from_str_radix(stamp, 16) else {
            return NonceState::Unknown;
        };
        let expected = self.mac(issued, peer);
        if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) || issued > now {
            return NonceState::Unknown;
        }
        if now - issued >= self.lifetime.as_secs() {
            NonceState::Expired
        } else {
            NonceState::Fresh
        }
    }
}

/// A client's `Authorization: Digest …` credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    /// The account name.
    pub username: String,
    /// The realm the client hashed with.
    pub realm: String,
    /// The server nonce it answers.
    pub nonce: String,
    /// The request URI it hashed (digest-uri).
    pub uri: String,
    /// The response, lower-case hex.
    pub response: String,
    /// The hash algorithm (absent: MD5).
    pub algorithm: DigestAlgorithm,
    /// With `qop=auth`: the nonce count and the client nonce (RFC 2617); `None` for an RFC
    /// 2069-style response without qop.
    pub qop_auth: Option<(String, String)>,
}

/// Why Digest credentials were refused before any secret was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestError {
    /// Not parsable as one Digest credential.
    Syntax,
    /// A required parameter is missing.
    Missing(&'static str),
    /// An algorithm or qop the server did not offer (e.g. `MD5-sess`, `auth-int`).
    Unsupported,
}

impl DigestResponse {
    /// Parses an Authorization header value (`Digest username="…", …`).
    pub fn parse(value: &str) -> Result<DigestResponse, DigestError> {
        let challenges = http_auth::parse_challenges(value).map_err(|_| DigestError::Syntax)?;
        let [credential] = challenges.as_slice() else {
            return Err(DigestError::Syntax);
        };
        if !credential.scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::Syntax);
        }
        let param = |name: &str| {
            credential
                .params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.to_unescaped())
        };
        let required = |name: &'static str| param(name).ok_or(DigestError::Missing(name));
        let algorithm = match param("algorithm") {
            None => DigestAlgorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("MD5") => DigestAlgorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => DigestAlgorithm::Sha256,
            Some(_) => return Err(DigestError::Unsupported),
        };
        let qop_auth = match param("qop") {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                Some((required("nc")?, required("cnonce")?))
            }
            Some(_) => return Err(DigestError::Unsupported),
        };
        Ok(DigestResponse {
            username: required("username")?,
            realm: required("realm")?,
            nonce: required("nonce")?,
            uri: required("uri")?,
            response: required("response")?.to_ascii_lowercase(),
            algorithm,
            qop_auth,
        })
    }

    /// The response a client knowing `ha1` computes for `method` (RFC 2617 section 3.2.2.1).
    pub fn expected(&self, method: &str, ha1: &str) -> String {
        let ha2 = self.algorithm.hash_hex(&[method, &self.uri]);
        match &self.qop_auth {
            Some((nc, cnonce)) => {
                self.algorithm
                    .hash_hex(&[ha1, &self.nonce, nc, cnonce, "auth", &ha2])
            }
            None => self.algorithm.hash_hex(&[ha1, &self.nonce, &ha2]),
        }
    }

    /// Whether the response was computed from `ha1` (compared in constant time).
    pub fn matches(&self, method: &str, ha1: &str) -> bool {
        let expected = self.expected(method, ha1);
        bool::from(expected.as_bytes().ct_eq(self.response.as_bytes()))
    }

    /// Whether the digest-uri names the request's URI: the same absolute URL, or its path
    /// (and query) as some clients send it.
    pub fn uri_matches(&self, request: Option<&Url>) -> bool {
        let Some(request) = request else {
            return self.uri == "*";
        };
        match Url::parse(&self.uri) {
            Ok(uri) => uri == *request,
            Err(_) => {
                let path = match request.query() {
                    Some(query) => format!("{}?{query}", request.path()),
                    None => request.path().to_owned(),
                };
                self.uri == path
            }
        }
    }
}

/// The `WWW-Authenticate` challenge for `algorithm` with `nonce`; `stale` when the client's
/// nonce was stale.
pub fn challenge(realm: &str, nonce: &str, algorithm: DigestAlgorithm, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
        algorithm.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn test_rfc_2617_example_response_is_verified_and_a_wrong_secret_is_not() {
        // RFC 2617 section 3.5.
        let header = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#
            .replace('\n', " ");
        let response = DigestResponse::parse(&header).unwrap();
        assert_eq!(response.username, "Mufasa");
        assert_eq!(response.uri, "/dir/index.html");
        assert_eq!(response.algorithm, DigestAlgorithm::Md5);
        assert_eq!(
            response.qop_auth,
            Some(("00000001".into(), "0a4f113b".into()))
        );
        let ha1 =
            DigestAlgorithm::Md5.hash_hex(&["Mufasa", "testrealm@host.com", "Circle Of Life"]);
        assert_eq!(ha1, "939e7578ed9e3c518a452acee763bce9");
        assert!(response.matches("GET", &ha1));
        assert!(!response.matches("POST", &ha1), "the method is hashed");
        let wrong =
            DigestAlgorithm::Md5.hash_hex(&["Mufasa", "testrealm@host.com", "circle of life"]);
        assert!(!response.matches("GET", &wrong));
    }

    #[test]
    fn test_rfc_7616_sha256_and_md5_examples_and_rfc_2069_without_qop() {
        // RFC 7616 section 3.9.1 (the password is "Circle of Life" there).
        let sha = DigestResponse::parse(
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        assert_eq!(sha.algorithm, DigestAlgorithm::Sha256);
        let ha1 = DigestAlgorithm::Sha256.hash_hex(&[
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        ]);
        assert!(sha.matches("GET", &ha1));
        let md5 = DigestResponse::parse(
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"8ca523f5e9506fed4657c9700eebdbec\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        let ha1 =
            DigestAlgorithm::Md5.hash_hex(&["Mufasa", "http-auth@example.org", "Circle of Life"]);
        assert!(md5.matches("GET", &ha1));
        // RFC 2069 (no qop): response = H(HA1:nonce:HA2), as live555 sends it; quoted
        // algorithm and upper-case hex as some clients write them.
        let ha1 = DigestAlgorithm::Md5.hash_hex(&["u", "r", "p"]);
        let ha2 = DigestAlgorithm::Md5.hash_hex(&["DESCRIBE", "rtsp://h/videoMain"]);
        let response = DigestAlgorithm::Md5
            .hash_hex(&[&ha1, "n", &ha2])
            .to_uppercase();
        let old = DigestResponse::parse(&format!(
            "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"rtsp://h/videoMain\", \
             response=\"{response}\", algorithm=\"MD5\""
        ))
        .unwrap();
        assert_eq!(old.qop_auth, None);
        assert!(old.matches("DESCRIBE", &ha1));
    }

    #[test]
    fn test_digest_parser_refuses_what_it_cannot_check() {
        for bad in [
            "Basic YWRtaW46",
            "Digest",
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\"",
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", algorithm=MD5-sess",
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth-int, nc=1, cnonce=c",
            "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\", qop=auth",
            "Digest username=\"a, realm=\"r\"",
            "Digest a=1, Digest b=2",
        ] {
            assert!(DigestResponse::parse(bad).is_err(), "{bad}");
        }
        // Escapes inside quoted strings are undone.
        let escaped = DigestResponse::parse(
            r#"Digest username="a\"b", realm="r", nonce="n", uri="/", response="x""#,
        )
        .unwrap();
        assert_eq!(escaped.username, "a\"b");
    }

    #[test]
    fn test_digest_uri_must_name_the_request() {
        let with = |uri: &str| DigestResponse {
            username: "u".into(),
            realm: "r".into(),
            nonce: "n".into(),
            uri: uri.into(),
            response: String::new(),
            algorithm: DigestAlgorithm::Md5,
            qop_auth: None,
        };
        let request = Url::parse("rtsp://127.0.0.1:8554/videoMain/trackID=0").unwrap();
        assert!(with("rtsp://127.0.0.1:8554/videoMain/trackID=0").uri_matches(Some(&request)));
        assert!(with("/videoMain/trackID=0").uri_matches(Some(&request)));
        assert!(!with("rtsp://127.0.0.1:8554/videoSub").uri_matches(Some(&request)));
        assert!(!with("/videoSub").uri_matches(Some(&request)));
        assert!(with("*").uri_matches(None));
    }

    #[test]
    fn test_nonces_are_fresh_then_stale_and_bound_to_this_server_and_client() {
        let nonces = Nonces::new(NONCE_LIFETIME);
        let nonce = nonces.issue_at(PEER, 1000);
        assert_eq!(nonces.check_at(&nonce, PEER, 1000), NonceState::Fresh);
        assert_eq!(nonces.check_at(&nonce, PEER, 1299), NonceState::Fresh);
        assert_eq!(nonces.check_at(&nonce, PEER, 1300), NonceState::Expired);
        assert_eq!(
            nonces.check_at(&nonce, PEER, 999),
            NonceState::Unknown,
            "from the future"
        );
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(nonces.check_at(&nonce, other, 1000), NonceState::Unknown);
        let rebooted = Nonces::new(NONCE_LIFETIME);
        assert_eq!(rebooted.check_at(&nonce, PEER, 1000), NonceState::Unknown);
        let mut forged = nonce.clone();
        forged.replace_range(..12, &format!("{:012x}", 1200));
        assert_eq!(nonces.check_at(&forged, PEER, 1250), NonceState::Unknown);
        for junk in [
            "",
            "zz",
            "0000000003e8",
            "not-a-nonce-at-all-0123456789abcdef",
        ] {
            assert_eq!(nonces.check_at(junk, PEER, 1000), NonceState::Unknown);
        }
        assert_eq!(nonces.check(&nonces.issue(PEER), PEER), NonceState::Fresh);
    }

    #[test]
    fn test_challenge_names_the_algorithm_and_staleness() {
        assert_eq!(
            challenge("ipcamd", "abc", DigestAlgorithm::Md5, false),
            "Digest realm=\"ipcamd\", nonce=\"abc\", algorithm=MD5, qop=\"auth\""
        );
        assert!(
            challenge("ipcamd", "abc", DigestAlgorithm::Sha256, true)
                .ends_with("algorithm=SHA-256, qop=\"auth\", stale=true")
        );
    }
}

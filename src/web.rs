//! The camera's web interface on the HTTP side: the page and its assets (`web/`), embedded in
//! the binary gzip-compressed at build time (`web/embed.rs`), served at `/` and `/web/…`; and
//! the one thing the page needs from the CGI surface that Foscam clients do not: credentials in
//! an `Authorization: Basic` header.
//!
//! Why a header: the CGI takes `usr`/`pwd` in the query string, and a query string is written
//! into proxy and server logs, browser history, caches and `Referer` headers. The page keeps
//! the credentials in `sessionStorage` only and sends them with every request as
//! `Authorization: Basic` (fetch, or XMLHttpRequest for uploads; the live picture is read with
//! fetch and decoded in the page, since an `<img src>` could not carry a header). The daemon
//! reads the header into the same `usr`/`pwd` the dispatcher authenticates, so privilege
//! checks, lock-out and logging are those of every CGI client. The daemon never answers with
//! `WWW-Authenticate`, so a browser never caches these credentials itself.
//!
//! Assets are stored only compressed. Every browser sends `Accept-Encoding: gzip`; a request
//! without Accept-Encoding accepts any coding (RFC 9110 §12.5.3) and also gets gzip; a client
//! that lists codings without gzip gets 406 (the daemon carries no inflater for them).
//! Entity tags are content hashes, so a page revalidates cheaply and a firmware upgrade's new
//! page is fetched at once.
//!
//! Pages are served with a strict Content-Security-Policy (only the camera's own scripts,
//! styles and images; no framing).

use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, HeaderMap,
    HeaderValue, IF_NONE_MATCH, VARY,
};
use hyper::{Response, StatusCode};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// URL path.
    pub path: &'static str,
    /// Media type.
    pub mime: &'static str,
    /// Quoted entity tag (content hash of the uncompressed file).
    pub etag: &'static str,
    /// Size before compression (the size report's figure; a test checks compression pays).
    #[cfg_attr(not(test), allow(dead_code))]
    pub raw_len: usize,
    /// The gzip-compressed file.
    pub gzip: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Content-Security-Policy of the page: nothing from elsewhere, frames refused.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                   media-src 'self' blob:; connect-src 'self'; form-action 'none'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The asset served at `path` (`/` and `/index.html` are the page).
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether `path` belongs to the web interface (GET and HEAD only).
pub fn is_web_path(path: &str) -> bool {
    path == "/" || path == "/index.html" || path.starts_with("/web/")
}

/// Answers a GET for `path`: the compressed asset, 304 when the client has it, 404 for an
/// unknown path, 406 for a client that refuses gzip.
pub fn serve(path: &str, headers: &HeaderMap) -> Response<Bytes> {
    let Some(asset) = find(path) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    if !accepts_gzip(headers) {
        return text(
            StatusCode::NOT_ACCEPTABLE,
            "the web interface is served gzip-compressed only\n",
        );
    }
    let fresh = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == asset.etag || tag.trim() == "*");
    let mut response = if fresh {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Bytes::from_static(asset.gzip))
    };
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(ETAG, HeaderValue::from_static(asset.etag));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if asset.path == "/" {
        h.insert("content-security-policy", HeaderValue::from_static(CSP));
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    }
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// Whether the request's Accept-Encoding admits gzip (absent: any coding is acceptable).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut values = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    if values.peek().is_none() {
        return true;
    }
    values.flat_map(|v| v.split(',')).any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "q=0" || p.starts_with("q=0.0") && p.trim_end_matches('0') == "q=0."
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// The query string the dispatcher sees: `query` with the credentials of an
/// `Authorization: Basic` header appended as `usr`/`pwd` (the last occurrence of a key is the
/// one authenticated, so the header wins over credentials in the query). Without such a header
/// the query is unchanged.
pub fn with_header_credentials(headers: &HeaderMap, query: String) -> String {
    let Some(credentials) = basic_credentials(headers) else {
        return query;
    };
    let (user, password) = credentials;
    let mut out = query;
    if !out.is_empty() {
        out.push('&');
    }
    out.push_str("usr=");
    percent_encode_into(&user, &mut out);
    out.push_str("&pwd=");
    percent_encode_into(&password, &mut out);
    out
}

/// The user and password of an `Authorization: Basic` header (RFC 7617; UTF-8).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Percent-encodes every byte outside the unreserved set, so `+`, `&`, `=` and `%` in a
/// password reach the dispatcher literally.
pub(crate) fn percent_encode_into(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgi::query::Query;

    fn headers(pairs: &[(hyper::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn test_every_asset_is_embedded_gzip_compressed() {
        for asset in ASSETS {
            assert_eq!(&asset.gzip[..2], &[0x1f, 0x8b], "{} is gzip", asset.path);
            assert!(asset.gzip.len() < asset.raw_len, "{} shrinks", asset.path);
        }
        for link in ["/web/app.js", "/web/app.css"] {
            assert!(find(link).is_some(), "{link} is embedded");
        }
        assert!(find("/web/commands.json").is_some());
        assert!(find("/web/nothing.js").is_none());
        assert!(find("/index.html").is_some());
    }

    #[test]
    fn test_gzip_negotiation_follows_rfc_9110() {
        assert!(accepts_gzip(&HeaderMap::new()));
        assert!(accepts_gzip(&headers(&[(
            ACCEPT_ENCODING,
            "gzip, deflate, br"
        )])));
        assert!(accepts_gzip(&headers(&[(ACCEPT_ENCODING, "*")])));
        assert!(!accepts_gzip(&headers(&[(ACCEPT_ENCODING, "identity")])));
        assert!(!accepts_gzip(&headers(&[(ACCEPT_ENCODING, "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[(
            ACCEPT_ENCODING,
            "gzip; q=0.000"
        )])));
        assert!(accepts_gzip(&headers(&[(ACCEPT_ENCODING, "gzip;q=0.5")])));
        let refused = serve("/", &headers(&[(ACCEPT_ENCODING, "br")]));
        assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE);
    }

    #[test]
    fn test_page_revalidates_by_etag_and_carries_its_security_headers() {
        let first = serve("/", &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[CONTENT_ENCODING], "gzip");
        assert!(
            first.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        let tag = first.headers()[ETAG].to_str().unwrap().to_owned();
        let again = serve("/", &headers(&[(IF_NONE_MATCH, &tag)]));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(again.body().is_empty());
        let other = serve("/", &headers(&[(IF_NONE_MATCH, "\"0\"")]));
        assert_eq!(other.status(), StatusCode::OK);
        assert_eq!(
            serve("/web/missing.css", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn test_basic_header_credentials_reach_the_query_literally_and_win() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("op er:p+w&d=%1:");
        let h = headers(&[(AUTHORIZATION, &format!("Basic {encoded}"))]);
        let query = with_header_credentials(&h, "cmd=getDevState&usr=x&pwd=y".into());
        let parsed = Query::parse(&query).unwrap();
        assert_eq!(parsed.credential("usr").0, Some("op er"));
        assert_eq!(parsed.credential("pwd").0, Some("p+w&d=%1:"));
        assert_eq!(parsed.cmd(), Some("getDevState"));
        let only = with_header_credentials(&h, String::new());
        assert!(only.starts_with("usr="));
    }

    #[test]
    fn test_query_unchanged_without_a_usable_basic_header() {
        for value in ["Bearer abc", "Basic !!!", "Basic bm9jb2xvbg=="] {
            let h = headers(&[(AUTHORIZATION, value)]);
            assert_eq!(with_header_credentials(&h, "cmd=x".into()), "cmd=x");
        }
        assert_eq!(
            with_header_credentials(&HeaderMap::new(), "cmd=x".into()),
            "cmd=x"
        );
    }
}

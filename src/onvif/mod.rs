//! The ONVIF service (layer 4, beside [`crate::rtsp`]): a minimal ONVIF Profile S device so
//! NVRs and ONVIF clients find the camera's streams. SOAP 1.2 over HTTP POST (hyper) on
//! onvifPort, at `/onvif/device_service` and `/onvif/media_service` (either path takes any
//! operation: dispatch is on the Body's operation, [`soap`]).
//!
//! Operations: device service GetSystemDateAndTime (without credentials, as ONVIF requires),
//! GetDeviceInformation, GetCapabilities, GetServices, GetScopes, GetHostname,
//! GetNetworkInterfaces; media service GetProfiles, GetProfile, GetVideoSources,
//! GetStreamUri, GetSnapshotUri. Two fixed profiles, `main` and `sub`, mirror the live
//! stream settings; stream URIs are the RTSP server's (`rtsp://HOST:PORT/videoMain`,
//! `/videoSub`, no credentials in them), the snapshot URI is the CGI's snapPicture2 on the
//! web port, HOST being the host the client addressed. Anything else is
//! `ter:ActionNotSupported`; a body that is not a SOAP request is a Sender fault.
//!
//! Credentials: a WS-Security UsernameToken with PasswordText is checked against the
//! camera's accounts (the CGI's lock-out applies). PasswordDigest needs the plain password,
//! which ipcamd does not keep (Argon2id hashes and RTSP HA1s only): it is refused with
//! `ter:NotAuthorized` and a rate-limited log line says why. HTTP Digest (RFC 2617/7616)
//! over the stored HA1, as RTSP takes it ([`crate::rtsp::digest`]), is accepted instead;
//! a request without credentials gets HTTP 401 with the Digest challenges and a
//! `ter:NotAuthorized` fault. Passwords are never logged.
//!
//! Built from narrow handles ([`OnvifParts`]): the accounts as an [`Authenticator`], the
//! typed settings, the local clock, the network services (listeners and the interface) and
//! the device's identity. Its listener is the [`Role::Onvif`] endpoint, so setPortInfo's
//! moves (with rollback), the firewall and the per-address limits apply as on every port.

pub mod soap;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};

use crate::accounts::{AuthFailure, DIGEST_REALM, DigestAlgorithm};
use crate::http::Body;
use crate::http::render::{full, plain};
use crate::http::server::Handler;
use crate::listener::Role;
use crate::local_time::LocalClock;
use crate::log_limit::limited;
use crate::net::Network;
use crate::rtsp::Authenticator;
use crate::rtsp::digest::{self, DigestResponse, NonceState};
use crate::settings::Settings;
use crate::streams::StreamSettings;
use ipcamd_hal::video::h264::H264Params;
use soap::{Envelope, Fault, Xml};

/// The device service's path.
pub const DEVICE_PATH: &str = "/onvif/device_service";
/// The media service's path.
pub const MEDIA_PATH: &str = "/onvif/media_service";
/// Largest request body (SOAP requests of these operations are a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// GetDeviceInformation's Manufacturer: board files name no maker, so the software's name.
pub const MANUFACTURER: &str = "ipcamd";

/// The device's identity, as getDevInfo reports it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// getProductModelName.
    pub model: String,
    /// The running firmware version.
    pub firmware: String,
    /// getDevInfo serialNo.
    pub serial: String,
    /// getDevInfo hardwareVer.
    pub hardware: String,
    /// getDevInfo mac.
    pub mac: String,
}

/// What the service is built from.
pub struct OnvifParts {
    /// The camera's accounts (with the CGI's lock-out).
    pub auth: Arc<dyn Authenticator>,
    /// Typed settings (stream parameters, time, device name).
    pub settings: Arc<Settings>,
    /// The local clock.
    pub clock: Arc<LocalClock>,
    /// Listeners (where RTSP and the web port are now) and the interface.
    pub net: Arc<Network>,
    /// Identity.
    pub device: DeviceInfo,
    /// The board file's `[rtsp] port`, if RTSP has a listener of its own.
    pub rtsp_port: Option<u16>,
}

/// The ONVIF service.
#[derive(Clone)]
pub struct OnvifServer {
    shared: Arc<Shared>,
}

struct Shared {
    parts: OnvifParts,
    nonces: digest::Nonces,
}

type Reply = Response<Body>;

impl OnvifServer {
    /// The service over `parts`.
    pub fn new(parts: OnvifParts) -> OnvifServer {
        OnvifServer {
            shared: Arc::new(Shared {
                parts,
                nonces: digest::Nonces::new(digest::NONCE_LIFETIME),
            }),
        }
    }

    /// The service as the HTTP server's request handler (served with
    /// [`crate::http::server::serve_handler`] on the [`Role::Onvif`] endpoint: the web
    /// server's accept loop and connections, with the same limits, timeouts and eviction).
    pub fn handler(self) -> Handler {
        Arc::new(move |peer, local, req| {
            let server = self.clone();
            Box::pin(async move { server.handle(peer, local, req).await })
        })
    }

    async fn handle(
        &self,
        peer: SocketAddr,
        local: Option<SocketAddr>,
        req: Request<hyper::body::Incoming>,
    ) -> Reply {
        let path = req.uri().path().to_owned();
        if path != DEVICE_PATH && path != MEDIA_PATH {
            return plain(StatusCode::NOT_FOUND, "not found\n");
        }
        if req.method() != Method::POST {
            let mut reply = plain(StatusCode::METHOD_NOT_ALLOWED, "SOAP requests are POSTed\n");
            reply
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return reply;
        }
        let host = ClientHost::of(req.headers().get(HOST), local);
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let target = req.uri().to_string();
        let mut body = Limited::new(req.into_body(), MAX_BODY_BYTES);
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                refused(peer.ip(), "request body over the limit or cut short");
                return fault(&Fault::malformed(
                    "the request body is larger than 64 KiB or was cut short",
                ));
            };
            if let Ok(data) = frame.into_data() {
                bytes.extend_from_slice(&data);
            }
        }
        let request = Incoming {
            peer: peer.ip(),
            host,
            authorization,
            target,
            path,
        };
        // Checking a password hashes: off the runtime's worker (the daemon's runtime is
        // multi-threaded).
        tokio::task::block_in_place(|| self.answer(&request, &bytes))
    }

    /// Parses, authenticates and answers one request (blocking: checking a password hashes).
    fn answer(&self, request: &Incoming, body: &[u8]) -> Reply {
        let envelope = match soap::parse(body) {
            Ok(envelope) => envelope,
            Err(soap::Malformed(why)) => {
                refused(request.peer, why);
                return fault(&Fault::malformed(why));
            }
        };
        if envelope.operation != "GetSystemDateAndTime" {
            if let Some(denied) = self.authenticate(request, &envelope) {
                return denied;
            }
        }
        match self.operation(&envelope, &request.host) {
            Ok(xml) => soap_reply(StatusCode::OK, xml),
            Err(f) => fault(&f),
        }
    }

    /// `None` when the request carries valid credentials (HTTP Digest, or a UsernameToken
    /// with PasswordText), else the refusal to answer.
    fn authenticate(&self, request: &Incoming, envelope: &Envelope) -> Option<Reply> {
        let auth = &self.shared.parts.auth;
        let peer = request.peer;
        if let Some(value) = request.authorization.as_deref().filter(|v| {
            v.trim_start()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("digest"))
        }) {
            return self.authenticate_digest(request, value);
        }
        let Some(token) = &envelope.token else {
            return Some(self.unauthorized(peer, false, "credentials required"));
        };
        if token.digest {
            limited!(
                info,
                "ONVIF PasswordDigest",
                %peer,
                user = token.username,
                "ONVIF UsernameToken PasswordDigest refused: ipcamd keeps no plain password to \
                 check it against (Argon2id hashes and Digest HA1s only); use HTTP Digest or \
                 PasswordText"
            );
            return Some(fault(&Fault::not_authorized(
                "PasswordDigest cannot be verified by this device: use HTTP Digest or PasswordText",
            )));
        }
        if auth.verify(peer, &token.username, &token.password) {
            None
        } else {
            auth_failed(
                peer,
                &token.username,
                "UsernameToken: wrong user name or password",
            );
            Some(fault(&Fault::not_authorized("wrong user name or password")))
        }
    }

    fn authenticate_digest(&self, request: &Incoming, value: &str) -> Option<Reply> {
        let peer = request.peer;
        let response = match DigestResponse::parse(value) {
            Ok(r) if r.realm == DIGEST_REALM => r,
            Ok(_) | Err(_) => {
                auth_failed(
                    peer,
                    "",
                    "Digest credentials unusable (syntax, realm, algorithm)",
                );
                return Some(self.unauthorized(peer, false, "unusable Digest credentials"));
            }
        };
        if response.uri != request.target && response.uri != request.path {
            auth_failed(peer, &response.username, "Digest response for another URI");
            return Some(self.unauthorized(peer, false, "Digest response for another URI"));
        }
        let fresh = self.shared.nonces.check(&response.nonce, peer) == NonceState::Fresh;
        let verdict = self.shared.parts.auth.verify_digest(
            peer,
            &response.username,
            response.algorithm,
            fresh,
            &|ha1| response.matches("POST", ha1),
        );
        match verdict {
            Ok(()) if fresh => None,
            Ok(()) => Some(self.unauthorized(peer, true, "stale nonce")),
            Err(failure) => {
                let why = match failure {
                    AuthFailure::NoDigestSecret => {
                        "Digest: the account has no Digest secret yet (it gets one at its next password login)"
                    }
                    AuthFailure::LockedOut => "Digest: the address is locked out",
                    _ => "Digest: wrong user name or password",
                };
                auth_failed(peer, &response.username, why);
                Some(self.unauthorized(peer, false, why))
            }
        }
    }

    /// HTTP 401 with Digest challenges (SHA-256, then MD5, as RTSP offers them) and a
    /// `ter:NotAuthorized` fault.
    fn unauthorized(&self, peer: IpAddr, stale: bool, why: &str) -> Reply {
        let nonce = self.shared.nonces.issue(peer);
        let mut reply = fault(&Fault::not_authorized(why));
        *reply.status_mut() = StatusCode::UNAUTHORIZED;
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
            let challenge = digest::challenge(DIGEST_REALM, &nonce, algorithm, stale);
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                reply.headers_mut().append(WWW_AUTHENTICATE, value);
            }
        }
        reply
    }

    fn operation(&self, envelope: &Envelope, host: &ClientHost) -> Result<Vec<u8>, Fault> {
        let parts = &self.shared.parts;
        let mut xml = Xml::envelope();
        let op = envelope.operation.as_str();
        let response = format!(
            "{}:{op}Response",
            if MEDIA_OPERATIONS.contains(&op) {
                "trt"
            } else {
                "tds"
            }
        );
        xml.open(&response);
        match op {
            "GetSystemDateAndTime" => self.date_and_time(&mut xml),
            "GetDeviceInformation" => {
                let d = &parts.device;
                xml.leaf("tds:Manufacturer", MANUFACTURER)
                    .leaf("tds:Model", &d.model)
                    .leaf("tds:FirmwareVersion", &d.firmware)
                    .leaf("tds:SerialNumber", &d.serial)
                    .leaf("tds:HardwareId", &d.hardware);
            }
            "GetCapabilities" => {
                for category in &envelope.categories {
                    if !matches!(category.as_str(), "All" | "Device" | "Media") {
                        return Err(Fault::invalid_arg(
                            &["ter:InvalidArgVal", "ter:NoSuchService"],
                            "this device has the device and media services only",
                        ));
                    }
                }
                let all = envelope.categories.is_empty()
                    || envelope.categories.iter().any(|c| c == "All");
                let wants = |c: &str| all || envelope.categories.iter().any(|x| x == c);
                xml.el("tds:Capabilities", |x| {
                    if wants("Device") {
                        x.el("tt:Device", |x| {
                            x.leaf("tt:XAddr", host.xaddr(DEVICE_PATH));
                        });
                    }
                    if wants("Media") {
                        x.el("tt:Media", |x| {
                            x.leaf("tt:XAddr", host.xaddr(MEDIA_PATH));
                            x.el("tt:StreamingCapabilities", |x| {
                                x.leaf("tt:RTPMulticast", false)
                                    .leaf("tt:RTP_TCP", true)
                                    .leaf("tt:RTP_RTSP_TCP", true);
                            });
                        });
                    }
                });
            }
            "GetServices" => {
                for (namespace, path) in
                    [(soap::NS_DEVICE, DEVICE_PATH), (soap::NS_MEDIA, MEDIA_PATH)]
                {
                    xml.el("tds:Service", |x| {
                        x.leaf("tds:Namespace", namespace)
                            .leaf("tds:XAddr", host.xaddr(path))
                            .el("tds:Version", |x| {
                                x.leaf("tt:Major", 2).leaf("tt:Minor", 0);
                            });
                    });
                }
            }
            "GetScopes" => {
                let name = parts.settings.snapshot().dev_name.name.clone();
                let scopes = [
                    "onvif://www.onvif.org/Profile/Streaming".to_owned(),
                    "onvif://www.onvif.org/type/video_encoder".to_owned(),
                    format!(
                        "onvif://www.onvif.org/hardware/{}",
                        percent_encode(&parts.device.model)
                    ),
                    format!("onvif://www.onvif.org/name/{}", percent_encode(&name)),
                ];
                for scope in scopes {
                    xml.el("tds:Scopes", |x| {
                        x.leaf("tt:ScopeDef", "Fixed").leaf("tt:ScopeItem", scope);
                    });
                }
            }
            "GetHostname" => {
                xml.el("tds:HostnameInformation", |x| {
                    x.leaf("tt:FromDHCP", false);
                    if let Some(name) = system_host_name() {
                        x.leaf("tt:Name", name);
                    }
                });
            }
            "GetNetworkInterfaces" => self.network_interfaces(&mut xml)?,
            "GetProfiles" => {
                let (main, sub, jpeg) = self.pictures();
                xml.el_with(
                    "trt:Profiles",
                    &[("token", "main"), ("fixed", "true")],
                    |x| {
                        profile(x, "main", &main, &main, false);
                    },
                );
                xml.el_with(
                    "trt:Profiles",
                    &[("token", "sub"), ("fixed", "true")],
                    |x| {
                        profile(x, "sub", &sub, &main, jpeg);
                    },
                );
            }
            "GetProfile" => {
                let (main, sub, jpeg) = self.pictures();
                let token = profile_token(envelope)?;
                let (params, jpeg) = if token == "main" {
                    (main, false)
                } else {
                    (sub, jpeg)
                };
                xml.el_with("trt:Profile", &[("token", token), ("fixed", "true")], |x| {
                    profile(x, token, &params, &main, jpeg);
                });
            }
            "GetVideoSources" => {
                let (main, _, _) = self.pictures();
                xml.el_with("trt:VideoSources", &[("token", VIDEO_SOURCE)], |x| {
                    x.leaf("tt:Framerate", main.fps).el("tt:Resolution", |x| {
                        x.leaf("tt:Width", main.width)
                            .leaf("tt:Height", main.height);
                    });
                });
            }
            "GetStreamUri" => {
                let token = profile_token(envelope)?;
                let unsupported = |why: &str| {
                    Fault::invalid_arg(&["ter:InvalidArgVal", "ter:InvalidStreamSetup"], why)
                };
                if envelope
                    .stream
                    .as_deref()
                    .is_some_and(|s| s != "RTP-Unicast")
                {
                    return Err(unsupported("only RTP-Unicast streams"));
                }
                if envelope.protocol.as_deref() == Some("HTTP") {
                    return Err(unsupported(
                        "no RTSP over HTTP tunnelling; use RTSP, TCP or UDP",
                    ));
                }
                if token == "sub" && self.pictures().2 {
                    return Err(unsupported(
                        "the sub stream is MJPEG (setSubStreamFormat format=0 makes it H.264 for RTSP)",
                    ));
                }
                let port = parts
                    .rtsp_port
                    .or_else(|| parts.net.ports.local_addr(Role::Media).map(|a| a.port()))
                    .or_else(|| parts.net.ports.local_addr(Role::Web).map(|a| a.port()))
                    .ok_or_else(|| receiver("RTSP is not listening"))?;
                let path = if token == "main" {
                    "videoMain"
                } else {
                    "videoSub"
                };
                media_uri(&mut xml, &format!("rtsp://{}:{port}/{path}", host.name));
            }
            "GetSnapshotUri" => {
                profile_token(envelope)?;
                let port = parts
                    .net
                    .ports
                    .local_addr(Role::Web)
                    .map(|a| a.port())
                    .ok_or_else(|| receiver("the web port is not listening"))?;
                media_uri(
                    &mut xml,
                    &format!(
                        "http://{}:{port}/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2",
                        host.name
                    ),
                );
            }
            other => return Err(Fault::action_not_supported(other)),
        }
        xml.close(&response);
        Ok(xml.finish())
    }

    /// Main and sub stream parameters, and whether the sub stream is MJPEG.
    fn pictures(&self) -> (H264Params, H264Params, bool) {
        let snapshot = self.shared.parts.settings.snapshot();
        let (main, sub) = StreamSettings::pictures(&snapshot);
        (main, sub, snapshot.sub_stream_format.format != 0)
    }

    fn date_and_time(&self, xml: &mut Xml) {
        let parts = &self.shared.parts;
        let time = parts.settings.snapshot().time.clone();
        let unix = parts.clock.unix_now();
        let utc = crate::civil_time::from_unix(unix);
        let local = LocalClock::at(unix, &time);
        // POSIX TZ: the offset is hours west of UTC, as the guide's timeZone (seconds west).
        let west = time.zone;
        let tz = format!(
            "UTC{}{:02}:{:02}",
            if west < 0 { '-' } else { '+' },
            west.abs() / 3600,
            west.abs() % 3600 / 60
        );
        let civil = |x: &mut Xml, name: &str, t: crate::civil_time::CivilTime| {
            x.el(name, |x| {
                x.el("tt:Time", |x| {
                    x.leaf("tt:Hour", t.hour)
                        .leaf("tt:Minute", t.minute)
                        .leaf("tt:Second", t.second);
                })
                .el("tt:Date", |x| {
                    x.leaf("tt:Year", t.year)
                        .leaf("tt:Month", t.month)
                        .leaf("tt:Day", t.day);
                });
            });
        };
        xml.el("tds:SystemDateAndTime", |x| {
            x.leaf(
                "tt:DateTimeType",
                if time.source == 0 { "NTP" } else { "Manual" },
            )
            .leaf("tt:DaylightSavings", time.dst)
            .el("tt:TimeZone", |x| {
                x.leaf("tt:TZ", tz);
            });
            civil(x, "tt:UTCDateTime", utc);
            civil(x, "tt:LocalDateTime", local);
        });
    }

    fn network_interfaces(&self, xml: &mut Xml) -> Result<(), Fault> {
        let parts = &self.shared.parts;
        let ip = parts
            .net
            .ip
            .as_ref()
            .ok_or_else(|| receiver("this board has no network interface role"))?;
        let status = ip
            .status()
            .map_err(|e| receiver(&format!("the interface cannot be read: {e}")))?;
        xml.el_with(
            "tds:NetworkInterfaces",
            &[("token", status.interface.as_str())],
            |x| {
                x.leaf("tt:Enabled", true)
                    .el("tt:Info", |x| {
                        x.leaf("tt:Name", &status.interface)
                            .leaf("tt:HwAddress", &parts.device.mac);
                    })
                    .el("tt:IPv4", |x| {
                        x.leaf("tt:Enabled", status.address.is_some())
                            .el("tt:Config", |x| {
                                if let Some((address, prefix)) = status.address {
                                    let tag = if status.dhcp {
                                        "tt:FromDHCP"
                                    } else {
                                        "tt:Manual"
                                    };
                                    x.el(tag, |x| {
                                        x.leaf("tt:Address", address)
                                            .leaf("tt:PrefixLength", prefix);
                                    });
                                }
                                x.leaf("tt:DHCP", status.dhcp);
                            });
                    });
            },
        );
        Ok(())
    }
}

/// Logs (rate-limited) a request refused before any operation: not SOAP, too large, not
/// supported.
fn refused(peer: IpAddr, why: &str) {
    limited!(debug, "ONVIF request refused", %peer, why, "ONVIF request refused");
}

/// Logs (rate-limited) a failed authentication; never the password.
fn auth_failed(peer: IpAddr, user: &str, why: &str) {
    limited!(info, "ONVIF authentication failed", %peer, user, why, "ONVIF authentication failed");
}

/// The operations of the media service (their replies are in its namespace).
const MEDIA_OPERATIONS: &[&str] = &[
    "GetProfiles",
    "GetProfile",
    "GetVideoSources",
    "GetStreamUri",
    "GetSnapshotUri",
];

/// The one video source's token.
const VIDEO_SOURCE: &str = "video_src";

/// What [`OnvifServer::answer`] needs of a request besides its body.
struct Incoming {
    peer: IpAddr,
    host: ClientHost,
    authorization: Option<String>,
    /// The request target as sent (for the Digest URI check).
    target: String,
    path: String,
}

/// The host (and port) the client addressed: the Host header where it is a plain host name
/// or address, else the connection's local address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientHost {
    /// `host[:port]` for the service addresses.
    authority: String,
    /// The host alone (IPv6 in brackets), for URIs on other ports.
    name: String,
}

impl ClientHost {
    fn of(header: Option<&HeaderValue>, local: Option<SocketAddr>) -> ClientHost {
        let header = header.and_then(|v| v.to_str().ok()).filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
        if let Some(authority) = header {
            let name = if authority.starts_with('[') {
                authority
                    .find(']')
                    .map(|end| &authority[..=end])
                    .unwrap_or(authority)
            } else {
                match authority.split_once(':') {
                    Some((host, port)) if !port.contains(':') => host,
                    _ => authority,
                }
            };
            return ClientHost {
                authority: authority.to_owned(),
                name: name.to_owned(),
            };
        }
        let local = local.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 80)));
        let name = match local.ip() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        ClientHost {
            authority: local.to_string(),
            name,
        }
    }

    fn xaddr(&self, path: &str) -> String {
        format!("http://{}{path}", self.authority)
    }
}

fn profile_token(envelope: &Envelope) -> Result<&str, Fault> {
    match envelope.profile_token.as_deref().map(str::trim) {
        Some(token @ ("main" | "sub")) => Ok(token),
        _ => Err(Fault::invalid_arg(
            &["ter:InvalidArgVal", "ter:NoProfile"],
            "no such profile (main and sub)",
        )),
    }
}

fn receiver(reason: &str) -> Fault {
    Fault {
        sender: false,
        subcodes: &[],
        reason: reason.to_owned(),
    }
}

/// One profile: the video source configuration (the main picture) and the stream's encoder
/// configuration.
fn profile(xml: &mut Xml, token: &str, params: &H264Params, source: &H264Params, jpeg: bool) {
    let width = source.width.to_string();
    let height = source.height.to_string();
    xml.leaf("tt:Name", token)
        .el_with(
            "tt:VideoSourceConfiguration",
            &[("token", "video_src_cfg")],
            |x| {
                x.leaf("tt:Name", "video source")
                    .leaf("tt:UseCount", 2)
                    .leaf("tt:SourceToken", VIDEO_SOURCE);
                x.open_with(
                    "tt:Bounds",
                    &[
                        ("x", "0"),
                        ("y", "0"),
                        ("width", &width),
                        ("height", &height),
                    ],
                );
                x.close("tt:Bounds");
            },
        )
        .el_with(
            "tt:VideoEncoderConfiguration",
            &[("token", &format!("{token}_enc"))],
            |x| {
                x.leaf("tt:Name", format!("{token} stream"))
                    .leaf("tt:UseCount", 1)
                    .leaf("tt:Encoding", if jpeg { "JPEG" } else { "H264" })
                    .el("tt:Resolution", |x| {
                        x.leaf("tt:Width", params.width)
                            .leaf("tt:Height", params.height);
                    })
                    .leaf("tt:Quality", 5)
                    .el("tt:RateControl", |x| {
                        x.leaf("tt:FrameRateLimit", params.fps)
                            .leaf("tt:EncodingInterval", 1)
                            .leaf("tt:BitrateLimit", params.bitrate / 1000);
                    });
                if !jpeg {
                    x.el("tt:H264", |x| {
                        x.leaf("tt:GovLength", params.gop)
                            .leaf("tt:H264Profile", "Baseline");
                    });
                }
                x.el("tt:Multicast", |x| {
                    x.el("tt:Address", |x| {
                        x.leaf("tt:Type", "IPv4").leaf("tt:IPv4Address", "0.0.0.0");
                    })
                    .leaf("tt:Port", 0)
                    .leaf("tt:TTL", 0)
                    .leaf("tt:AutoStart", false);
                })
                .leaf("tt:SessionTimeout", "PT60S");
            },
        );
}

fn media_uri(xml: &mut Xml, uri: &str) {
    xml.el("trt:MediaUri", |x| {
        x.leaf("tt:Uri", uri)
            .leaf("tt:InvalidAfterConnect", false)
            .leaf("tt:InvalidAfterReboot", false)
            .leaf("tt:Timeout", "PT0S");
    });
}

/// The system's host name (Linux), when it is a plain one.
fn system_host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    .then(|| name.to_owned())
}

/// Percent-encodes everything but letters, digits and `-._~` (scope URIs).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    crate::web::percent_encode_into(text, &mut out);
    out
}

fn soap_reply(status: StatusCode, xml: Vec<u8>) -> Reply {
    let mut reply = Response::new(full(xml));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/soap+xml; charset=utf-8"),
    );
    reply
}

fn fault(fault: &Fault) -> Reply {
    let status = StatusCode::from_u16(fault.status()).unwrap_or(StatusCode::BAD_REQUEST);
    soap_reply(status, fault.to_xml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_client_host_comes_from_a_plain_host_header_or_the_local_address() {
        let local = Some(SocketAddr::from(([192, 0, 2, 5], 888)));
        let h = |v: &'static str| ClientHost::of(Some(&HeaderValue::from_static(v)), local);
        assert_eq!(h("cam.local:8888").name, "cam.local");
        assert_eq!(
            h("cam.local:8888").xaddr(DEVICE_PATH),
            "http://cam.local:8888/onvif/device_service"
        );
        assert_eq!(h("[2001:db8::1]:888").name, "[2001:db8::1]");
        assert_eq!(h("10.0.0.2").name, "10.0.0.2");
        // Anything else is not pasted into URIs.
        let odd = h("evil\"<x>");
        assert_eq!(odd.authority, "192.0.2.5:888");
        assert_eq!(odd.name, "192.0.2.5");
        assert_eq!(ClientHost::of(None, local).name, "192.0.2.5");
    }

    #[test]
    fn test_scope_values_are_percent_encoded() {
        assert_eq!(percent_encode("my cam/1"), "my%20cam%2F1");
    }
}

//! UPnP (setUPnPConfig): port mappings for the web port and, where it differs, the media port
//! on the LAN's Internet gateway (IGD): the gateway found by SSDP (`M-SEARCH` for
//! `InternetGatewayDevice:1`), its WANIPConnection (or WANPPPConnection) control URL read from
//! the device description, `AddPortMapping` for each port with the board's lease, renewed at
//! half the lease, `DeletePortMapping` when UPnP is switched off, the ports move, or the
//! daemon stops. upnpState (getDevState) reports 0 off, 1 mapped, 2 failed.
//!
//! Hand-written over the daemon's HTTP client: the IGD crate (igd-next) brings url, idna and
//! the ICU tables (hundreds of KiB on the camera, and releases that need Rust 1.88). What is
//! read of the gateway's XML is two elements of one service; SOAP replies are judged by status.
//! Built from the settings, the device state and the board's `[network.upnp]`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client;
use crate::heartbeat::Heartbeat;
use crate::settings::Settings;
use crate::state::DeviceState;

/// upnpState values.
pub mod state {
    /// Off.
    pub const DISABLED: u8 = 0;
    /// Every mapping is in place.
    pub const MAPPED: u8 = 1;
    /// Discovery or a mapping failed.
    pub const FAILED: u8 = 2;
}

/// Longest wait for a gateway's SSDP answer.
pub const SEARCH_TIMEOUT: Duration = Duration::from_secs(3);
/// One SOAP call or description fetch may take this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the loop looks for new settings.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// After a failure, the next attempt waits this long.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(30);

const SERVICES: [&str; 2] = [
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/// A gateway's control point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// The control URL.
    pub control: String,
    /// The service type its actions belong to.
    pub service: &'static str,
    /// The camera's address as the gateway sees it (the mapping's internal client).
    pub local_ip: IpAddr,
}

/// Where mappings are in place now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mapped {
    gateway: Gateway,
    ports: Vec<u16>,
}

/// The UPnP service.
pub struct Upnp {
    settings: Arc<Settings>,
    state: Arc<DeviceState>,
    ssdp: SocketAddr,
    lease: Duration,
    mapped: Mutex<Option<Mapped>>,
}

/// The header value `name` of an SSDP or HTTP head (case-insensitive name).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// The text of the first `<tag>…</tag>` in `xml` after position `from`.
fn element<'a>(xml: &'a str, tag: &str, from: usize) -> Option<(&'a str, usize)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.get(from..)?.find(&open)? + from + open.len();
    let end = xml.get(start..)?.find(&close)? + start;
    Some((xml[start..end].trim(), end))
}

/// The control URL and service type of the first WAN connection service in a device
/// description fetched from `location`.
pub fn control_point(description: &str, location: &str) -> Option<(String, &'static str)> {
    for service in SERVICES {
        let mut at = 0;
        while let Some((found, end)) = element(description, "serviceType", at) {
            at = end;
            if found == service {
                let (control, _) = element(description, "controlURL", end)?;
                return Some((absolute(location, control), service));
            }
        }
    }
    None
}

/// `path` made absolute against the description's URL.
fn absolute(location: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_owned();
    }
    let scheme_end = location.find("://").map_or(0, |i| i + 3);
    let host_end = location[scheme_end..]
        .find('/')
        .map_or(location.len(), |i| i + scheme_end);
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("{}{slash}{path}", &location[..host_end])
}

fn soap(service: &str, action: &str, arguments: &[(&str, String)]) -> String {
    let mut body = String::new();
    for (name, value) in arguments {
        body.push_str(&format!("<{name}>{value}</{name}>"));
    }
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:{action} xmlns:u=\"{service}\">{body}</u:{action}></s:Body></s:Envelope>\r\n"
    )
}

impl Upnp {
    /// The service; `spec` says where to search and how long a lease is.
    pub fn new(
        settings: Arc<Settings>,
        state: Arc<DeviceState>,
        spec: &ipcamd_hal::net::spec::UpnpSpec,
    ) -> Result<Arc<Upnp>, String> {
        let ssdp = spec
            .ssdp_address
            .parse()
            .map_err(|e| format!("board file network.upnp.ssdp_address: {e}"))?;
        Ok(Arc::new(Upnp {
            settings,
            state,
            ssdp,
            lease: Duration::from_secs(spec.lease_secs.max(2).into()),
            mapped: Mutex::new(None),
        }))
    }

    fn ports_wanted(&self) -> Option<Vec<u16>> {
        let snapshot = self.settings.snapshot();
        if !snapshot.upnp.enabled {
            return None;
        }
        let port = |p: i64| u16::try_from(p).ok().filter(|p| *p != 0);
        let mut ports = Vec::new();
        ports.extend(port(snapshot.ports.web_port));
        if let Some(media) = port(snapshot.ports.media_port) {
            if !ports.contains(&media) {
                ports.push(media);
            }
        }
        Some(ports)
    }

    fn current(&self) -> Option<Mapped> {
        self.mapped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_current(&self, mapped: Option<Mapped>) {
        *self.mapped.lock().unwrap_or_else(|e| e.into_inner()) = mapped;
    }

    /// The service loop (spawn it on the runtime; it never returns).
    pub async fn run(self: Arc<Self>, heartbeat: Heartbeat) {
        let mut followed: Option<Vec<u16>> = None;
        let mut next = Instant::now();
        loop {
            // Every turn sleeps WATCH_INTERVAL after a network attempt (each has timeouts).
            heartbeat.beat();
            let wanted = self.ports_wanted();
            if wanted != followed {
                followed = wanted.clone();
                next = Instant::now();
                if self.current().is_some() {
                    self.remove_mappings().await;
                }
            }
            match &wanted {
                None => self.state.upnp.set(state::DISABLED),
                Some(ports) if Instant::now() >= next => match self.map(ports).await {
                    Ok(gateway) => {
                        if self.state.upnp.get() != state::MAPPED {
                            tracing::info!(control = %gateway.control, ?ports, lease = ?self.lease, "UPnP port mappings in place");
                        }
                        self.state.upnp.set(state::MAPPED);
                        self.set_current(Some(Mapped {
                            gateway,
                            ports: ports.clone(),
                        }));
                        // Renewed before the lease runs out.
                        next = Instant::now() + self.lease / 2;
                    }
                    Err(why) => {
                        tracing::warn!(%why, "UPnP port mapping failed");
                        self.state.upnp.set(state::FAILED);
                        next = Instant::now() + RETRY_INTERVAL.min(self.lease);
                    }
                },
                Some(_) => {}
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }

    /// Removes the mappings in place (switching off, a move, the daemon stopping).
    pub async fn remove_mappings(&self) {
        let Some(mapped) = self.current() else {
            return;
        };
        for port in &mapped.ports {
            let arguments = [
                ("NewRemoteHost", String::new()),
                ("NewExternalPort", port.to_string()),
                ("NewProtocol", "TCP".to_owned()),
            ];
            match self
                .call(&mapped.gateway, "DeletePortMapping", &arguments)
                .await
            {
                Ok(()) => tracing::info!(port, "UPnP port mapping removed"),
                Err(why) => tracing::warn!(port, %why, "UPnP port mapping not removed"),
            }
        }
        self.set_current(None);
    }

    async fn map(&self, ports: &[u16]) -> Result<Gateway, String> {
        let gateway = match self.current() {
            Some(mapped) => mapped.gateway,
            None => self.discover().await?,
        };
        for port in ports {
            let arguments = [
                ("NewRemoteHost", String::new()),
                ("NewExternalPort", port.to_string()),
                ("NewProtocol", "TCP".to_owned()),
                ("NewInternalPort", port.to_string()),
                ("NewInternalClient", gateway.local_ip.to_string()),
                ("NewEnabled", "1".to_owned()),
                ("NewPortMappingDescription", "ipcamd".to_owned()),
                ("NewLeaseDuration", self.lease.as_secs().to_string()),
            ];
            if let Err(why) = self.call(&gateway, "AddPortMapping", &arguments).await {
                // Forget the gateway: the next attempt searches again.
                self.set_current(None);
                return Err(why);
            }
        }
        Ok(gateway)
    }

    async fn call(
        &self,
        gateway: &Gateway,
        action: &str,
        arguments: &[(&str, String)],
    ) -> Result<(), String> {
        let body = soap(gateway.service, action, arguments);
        let headers = [
            ("Content-Type", "text/xml; charset=\"utf-8\"".to_owned()),
            ("SOAPAction", format!("\"{}#{action}\"", gateway.service)),
        ];
        let reply = client::request(
            "POST",
            &gateway.control,
            &headers,
            Some(body),
            REQUEST_TIMEOUT,
        )
        .await?;
        if reply.status == 200 {
            Ok(())
        } else {
            let text = String::from_utf8_lossy(&reply.body);
            let code = element(&text, "errorCode", 0).map_or("", |(c, _)| c);
            Err(format!("{action}: HTTP {} {code}", reply.status))
        }
    }

    async fn discover(&self) -> Result<Gateway, String> {
        let socket = tokio::net::UdpSocket::bind(if self.ssdp.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .await
        .map_err(|e| format!("SSDP socket: {e}"))?;
        let search = format!(
            "M-SEARCH * HTTP/1.1\r\nHOST: {}\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\n\
             ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n",
            self.ssdp
        );
        socket
            .send_to(search.as_bytes(), self.ssdp)
            .await
            .map_err(|e| format!("SSDP search: {e}"))?;
        let mut buf = vec![0u8; 2048];
        let location = tokio::time::timeout(SEARCH_TIMEOUT, async {
            loop {
                let (len, _) = socket.recv_from(&mut buf).await?;
                let text = String::from_utf8_lossy(&buf[..len]).into_owned();
                if let Some(location) = header(&text, "location") {
                    return Ok::<_, std::io::Error>(location.to_owned());
                }
            }
        })
        .await
        .map_err(|_| format!("no gateway answered within {SEARCH_TIMEOUT:?}"))?
        .map_err(|e| format!("SSDP: {e}"))?;
        let reply = client::request("GET", &location, &[], None, REQUEST_TIMEOUT).await?;
        let description = String::from_utf8_lossy(&reply.body);
        let (control, service) = control_point(&description, &location)
            .ok_or_else(|| format!("{location}: no WAN connection service"))?;
        let local_ip = local_ip_towards(&control).await?;
        Ok(Gateway {
            control,
            service,
            local_ip,
        })
    }
}

/// The camera's address on the route to the control URL's host.
async fn local_ip_towards(url: &str) -> Result<IpAddr, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad control URL: {e}"))?;
    let host = uri.host().ok_or("control URL without a host")?;
    let port = uri.port_u16().unwrap_or(80);
    let target = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let socket = tokio::net::UdpSocket::bind(if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .await
    .map_err(|e| e.to_string())?;
    socket.connect(target).await.map_err(|e| e.to_string())?;
    Ok(socket.local_addr().map_err(|e| e.to_string())?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_control_url_is_found_in_a_description() {
        let description = "<root><device><serviceList>\
            <service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>\
            <controlURL>/l3f</controlURL></service>\
            <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>\
            <controlURL>/upnp/control/WANIPConn1</controlURL></service>\
            </serviceList></device></root>";
        assert_eq!(
            control_point(description, "http://192.168.1.1:5000/rootDesc.xml"),
            Some((
                "http://192.168.1.1:5000/upnp/control/WANIPConn1".into(),
                SERVICES[0]
            ))
        );
        assert_eq!(control_point("<root/>", "http://h/d.xml"), None);
        assert_eq!(
            header(
                "HTTP/1.1 200 OK\r\nLocation: http://x/d.xml\r\n",
                "LOCATION"
            ),
            Some("http://x/d.xml")
        );
    }
}

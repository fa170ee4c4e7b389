//! The wired interface on Linux: addresses, the default route and the gateway's neighbour
//! entry over rtnetlink (netlink-packet-route's address, route and neighbour messages in the
//! narrow [`RtMessage`], synchronously), DNS in resolv.conf, and the
//! board's DHCP client (an argument vector from the board file, never a shell) for DHCP.
//!
//! Static: the DHCP client is stopped, the interface's IPv4 addresses and default route are
//! replaced, resolv.conf is rewritten (atomically). DHCP: static addresses are removed and the
//! DHCP client is started; it configures address, route and DNS itself. Whether a setting
//! works is judged by the gateway's neighbour entry after a datagram to it (ARP resolved).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    DecodeError, Emitable, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST, NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NetlinkSerializable, Parseable,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::board::BoardSpec;
use crate::net::{IpMode, IpStatus, Network, StaticIp};
use crate::{HalError, HalErrorKind, HalResult};

fn failed(what: &str, err: impl std::fmt::Display) -> HalError {
    HalError::new(HalErrorKind::Io, format!("{what}: {err}"))
}

// rtnetlink message types (linux/rtnetlink.h).
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;

/// The rtnetlink messages the camera sends and reads: addresses, routes, neighbours, each
/// parsed and emitted by netlink-packet-route's own message types. Not the crate's
/// `RouteNetlinkMessage`: deserialising that links the parsers of every message family the
/// kernel has (links with every link kind, traffic control, rules, ...), about 300 KiB of
/// ARM code the camera never runs (cross/README.md, "Where the bytes go").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtMessage {
    /// RTM_NEWADDR: an address added (request) or listed (dump reply).
    NewAddress(AddressMessage),
    /// RTM_DELADDR.
    DelAddress(AddressMessage),
    /// RTM_GETADDR (dump request).
    GetAddress(AddressMessage),
    /// RTM_NEWROUTE: a route added or listed.
    NewRoute(RouteMessage),
    /// RTM_GETROUTE (dump request).
    GetRoute(RouteMessage),
    /// RTM_NEWNEIGH: a neighbour entry listed.
    NewNeighbour(NeighbourMessage),
    /// RTM_GETNEIGH (dump request).
    GetNeighbour(NeighbourMessage),
    /// A reply of another type, not parsed (the kernel sends none for these requests).
    Other(u16),
}

impl NetlinkSerializable for RtMessage {
    fn message_type(&self) -> u16 {
        match self {
            RtMessage::NewAddress(_) => RTM_NEWADDR,
            RtMessage::DelAddress(_) => RTM_DELADDR,
            RtMessage::GetAddress(_) => RTM_GETADDR,
            RtMessage::NewRoute(_) => RTM_NEWROUTE,
            RtMessage::GetRoute(_) => RTM_GETROUTE,
            RtMessage::NewNeighbour(_) => RTM_NEWNEIGH,
            RtMessage::GetNeighbour(_) => RTM_GETNEIGH,
            RtMessage::Other(kind) => *kind,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            RtMessage::NewAddress(m) | RtMessage::DelAddress(m) | RtMessage::GetAddress(m) => {
                m.buffer_len()
            }
            RtMessage::NewRoute(m) | RtMessage::GetRoute(m) => m.buffer_len(),
            RtMessage::NewNeighbour(m) | RtMessage::GetNeighbour(m) => m.buffer_len(),
            RtMessage::Other(_) => 0,
        }
    }

    fn serialize(&self, buffer: &mut [u8]) {
        match self {
            RtMessage::NewAddress(m) | RtMessage::DelAddress(m) | RtMessage::GetAddress(m) => {
                m.emit(buffer)
            }
            RtMessage::NewRoute(m) | RtMessage::GetRoute(m) => m.emit(buffer),
            RtMessage::NewNeighbour(m) | RtMessage::GetNeighbour(m) => m.emit(buffer),
            RtMessage::Other(_) => {}
        }
    }
}

impl NetlinkDeserializable for RtMessage {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, Self::Error> {
        Ok(match header.message_type {
            RTM_NEWADDR => RtMessage::NewAddress(AddressMessage::parse(payload)?),
            RTM_DELADDR => RtMessage::DelAddress(AddressMessage::parse(payload)?),
            RTM_NEWROUTE => RtMessage::NewRoute(RouteMessage::parse(payload)?),
            RTM_NEWNEIGH => RtMessage::NewNeighbour(NeighbourMessage::parse(payload)?),
            other => RtMessage::Other(other),
        })
    }
}

impl From<RtMessage> for NetlinkPayload<RtMessage> {
    fn from(message: RtMessage) -> Self {
        NetlinkPayload::InnerMessage(message)
    }
}

/// One rtnetlink request; returns the messages of the reply (a dump's entries, or nothing
/// for an acknowledged change).
pub fn request(message: RtMessage, flags: u16) -> HalResult<Vec<RtMessage>> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| failed("netlink socket", e))?;
    socket.bind_auto().map_err(|e| failed("netlink bind", e))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(|e| failed("netlink connect", e))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    socket
        .send(&buf, 0)
        .map_err(|e| failed("netlink send", e))?;
    let mut out = Vec::new();
    loop {
        let (datagram, _) = socket
            .recv_from_full()
            .map_err(|e| failed("netlink receive", e))?;
        let mut offset = 0;
        while offset < datagram.len() {
            let reply = NetlinkMessage::<RtMessage>::deserialize(&datagram[offset..])
                .map_err(|e| failed("netlink reply", e))?;
            let length = reply.header.length as usize;
            match reply.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(err) => {
                    return match err.code {
                        None => Ok(out),
                        Some(_) => Err(failed("netlink", err.to_io())),
                    };
                }
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                _ => {}
            }
            if flags & NLM_F_DUMP == 0 && flags & NLM_F_ACK == 0 {
                return Ok(out);
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

/// The IPv4 addresses of interface `index`, with prefix lengths.
pub fn addresses(index: u32) -> HalResult<Vec<(Ipv4Addr, u8)>> {
    let replies = request(RtMessage::GetAddress(AddressMessage::default()), NLM_F_DUMP)?;
    let mut out = Vec::new();
    for reply in replies {
        let RtMessage::NewAddress(message) = reply else {
            continue;
        };
        if message.header.index != index || message.header.family != AddressFamily::Inet {
            continue;
        }
        let local = message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(v4)) | AddressAttribute::Address(IpAddr::V4(v4)) => {
                Some(*v4)
            }
            _ => None,
        });
        if let Some(address) = local {
            out.push((address, message.header.prefix_len));
        }
    }
    Ok(out)
}

fn address_message(index: u32, address: Ipv4Addr, prefix_len: u8) -> AddressMessage {
    let mut message = AddressMessage::default();
    message.header.family = AddressFamily::Inet;
    message.header.prefix_len = prefix_len;
    message.header.index = index;
    message
        .attributes
        .push(AddressAttribute::Local(IpAddr::V4(address)));
    message
        .attributes
        .push(AddressAttribute::Address(IpAddr::V4(address)));
    message
}

/// The IPv4 default route's gateway through interface `index`.
pub fn default_gateway(index: u32) -> HalResult<Option<Ipv4Addr>> {
    let replies = request(RtMessage::GetRoute(RouteMessage::default()), NLM_F_DUMP)?;
    for reply in replies {
        let RtMessage::NewRoute(route) = reply else {
            continue;
        };
        if route.header.address_family != AddressFamily::Inet
            || route.header.destination_prefix_length != 0
            || route.header.table != RouteHeader::RT_TABLE_MAIN
        {
            continue;
        }
        let through_us = route
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == index));
        let gateway = route.attributes.iter().find_map(|a| match a {
            RouteAttribute::Gateway(RouteAddress::Inet(v4)) => Some(*v4),
            _ => None,
        });
        if through_us {
            if let Some(gateway) = gateway {
                return Ok(Some(gateway));
            }
        }
    }
    Ok(None)
}

fn default_route(index: u32, gateway: Ipv4Addr) -> RouteMessage {
    let mut route = RouteMessage::default();
    route.header.address_family = AddressFamily::Inet;
    route.header.table = RouteHeader::RT_TABLE_MAIN;
    route.header.protocol = RouteProtocol::Static;
    route.header.scope = RouteScope::Universe;
    route.header.kind = RouteType::Unicast;
    route
        .attributes
        .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
    route.attributes.push(RouteAttribute::Oif(index));
    route
}

/// The neighbour-table state of `address` on interface `index`.
pub fn neighbour_state(index: u32, address: Ipv4Addr) -> HalResult<Option<NeighbourState>> {
    let replies = request(
        RtMessage::GetNeighbour(NeighbourMessage::default()),
        NLM_F_DUMP,
    )?;
    for reply in replies {
        let RtMessage::NewNeighbour(entry) = reply else {
            continue;
        };
        if entry.header.ifindex != index {
            continue;
        }
        let matches = entry.attributes.iter().any(|a| {
            matches!(a, NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) if *v4 == address)
        });
        if matches {
            return Ok(Some(entry.header.state));
        }
    }
    Ok(None)
}

/// The DNS servers a resolv.conf names.
pub fn parse_resolv_conf(text: &[u8]) -> Vec<Ipv4Addr> {
    match resolv_conf::Config::parse(text) {
        Ok(config) => config
            .nameservers
            .iter()
            .filter_map(|n| match n {
                resolv_conf::ScopedIp::V4(v4) => Some(*v4),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A resolv.conf naming these servers.
pub fn resolv_conf_text(servers: &[Ipv4Addr]) -> String {
    let mut text = String::from("# written by ipcamd (setIpInfo)\n");
    for server in servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    text
}

/// The wired interface.
pub struct LinuxNetwork {
    interface: String,
    dhcp_client: Vec<String>,
    resolv_conf: PathBuf,
    dhcp: Mutex<Option<Child>>,
}

impl LinuxNetwork {
    /// The interface the board file names, if it names one.
    pub fn open(board: &BoardSpec) -> HalResult<Option<LinuxNetwork>> {
        let spec = &board.network;
        let Some(interface) = spec.interface.clone() else {
            return Ok(None);
        };
        Ok(Some(LinuxNetwork {
            interface,
            dhcp_client: spec.dhcp_client.clone(),
            resolv_conf: spec
                .resolv_conf
                .clone()
                .unwrap_or_else(|| "/etc/resolv.conf".into()),
            dhcp: Mutex::new(None),
        }))
    }

    fn index(&self) -> HalResult<u32> {
        nix::net::if_::if_nametoindex(self.interface.as_str())
            .map_err(|e| failed(&format!("interface {}", self.interface), e))
    }

    fn dhcp_running(&self) -> bool {
        let mut child = self.dhcp.lock().unwrap_or_else(|e| e.into_inner());
        match child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(Ok(Some(status))) => {
                tracing::warn!(%status, "the DHCP client exited");
                *child = None;
                false
            }
            _ => false,
        }
    }

    fn stop_dhcp(&self) {
        if let Some(mut child) = self.dhcp.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn start_dhcp(&self) -> HalResult<()> {
        if self.dhcp_running() {
            return Ok(());
        }
        let Some((program, args)) = self.dhcp_client.split_first() else {
            return Err(HalError::new(
                HalErrorKind::NotSupported,
                "the board file names no dhcp_client",
            ));
        };
        let args = args.iter().map(|a| {
            if a == "{interface}" {
                self.interface.clone()
            } else {
                a.clone()
            }
        });
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| failed(&format!("starting {program}"), e))?;
        *self.dhcp.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        Ok(())
    }

    fn remove_addresses(&self, index: u32) -> HalResult<()> {
        for (address, prefix_len) in addresses(index)? {
            request(
                RtMessage::DelAddress(address_message(index, address, prefix_len)),
                NLM_F_ACK,
            )?;
        }
        Ok(())
    }

    fn apply_static(&self, index: u32, setting: &StaticIp) -> HalResult<()> {
        self.stop_dhcp();
        self.remove_addresses(index)?;
        request(
            RtMessage::NewAddress(address_message(index, setting.address, setting.prefix_len)),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )?;
        if !setting.gateway.is_unspecified() {
            request(
                RtMessage::NewRoute(default_route(index, setting.gateway)),
                NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            )?;
        }
        if !setting.dns.is_empty() {
            let temp = self.resolv_conf.with_extension("ipcamd-new");
            std::fs::write(&temp, resolv_conf_text(&setting.dns))
                .and_then(|()| std::fs::rename(&temp, &self.resolv_conf))
                .map_err(|e| failed(&format!("writing {}", self.resolv_conf.display()), e))?;
        }
        Ok(())
    }
}

impl Network for LinuxNetwork {
    fn status(&self) -> HalResult<IpStatus> {
        let index = self.index()?;
        let dns = std::fs::read(&self.resolv_conf)
            .map(|text| parse_resolv_conf(&text))
            .unwrap_or_default();
        Ok(IpStatus {
            interface: self.interface.clone(),
            dhcp: self.dhcp_running(),
            address: addresses(index)?.first().copied(),
            gateway: default_gateway(index)?,
            dns,
        })
    }

    fn apply(&self, mode: &IpMode) -> HalResult<()> {
        let index = self.index()?;
        match mode {
            IpMode::Static(setting) => self.apply_static(index, setting),
            IpMode::Dhcp => {
                if !self.dhcp_running() {
                    self.remove_addresses(index)?;
                }
                self.start_dhcp()
            }
        }
    }

    fn gateway_reachable(&self) -> HalResult<bool> {
        let index = self.index()?;
        let Some((address, _)) = addresses(index)?.first().copied() else {
            return Ok(false);
        };
        let Some(gateway) = default_gateway(index)? else {
            return Ok(true);
        };
        // A datagram to the discard port makes the kernel resolve the gateway's link address.
        if let Ok(socket) = UdpSocket::bind((address, 0)) {
            let _ = socket.send_to(b"ipcamd", (gateway, 9));
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let state = neighbour_state(index, gateway)?;
            if matches!(
                state,
                Some(
                    NeighbourState::Reachable
                        | NeighbourState::Stale
                        | NeighbourState::Delay
                        | NeighbourState::Probe
                        | NeighbourState::Permanent
                        | NeighbourState::Noarp
                )
            ) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LinuxNetwork {
    fn drop(&mut self) {
        self.stop_dhcp();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_resolv_conf_round_trips_its_servers() {
        let servers = [Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::new(9, 9, 9, 9)];
        let text = resolv_conf_text(&servers);
        assert_eq!(parse_resolv_conf(text.as_bytes()), servers);
        assert_eq!(
            parse_resolv_conf(b"search lan\nnameserver 10.0.0.1\nnameserver ::1\n"),
            [Ipv4Addr::new(10, 0, 0, 1)]
        );
    }

    #[test]
    fn test_loopback_has_its_address_over_netlink() {
        let index = nix::net::if_::if_nametoindex("lo").unwrap();
        let found = addresses(index).unwrap();
        assert!(found.contains(&(Ipv4Addr::LOCALHOST, 8)), "{found:?}");
    }

    #[test]
    #[cfg_attr(
        ipcamd_qemu_user,
        ignore = "qemu-user does not translate route and neighbour dumps (EOPNOTSUPP); the QEMU lab's network check covers them on ARM"
    )]
    fn test_the_kernel_routing_table_and_neighbours_parse() {
        // Every reply of a route and a neighbour dump parses as the narrow message type
        // (nothing falls through as `Other`), on whatever tables this machine has.
        let routes = request(RtMessage::GetRoute(RouteMessage::default()), NLM_F_DUMP).unwrap();
        assert!(
            routes.iter().all(|m| matches!(m, RtMessage::NewRoute(_))),
            "{routes:?}"
        );
        let local = routes.iter().any(|m| {
            matches!(m, RtMessage::NewRoute(r) if r.attributes.iter().any(|a| matches!(a,
                RouteAttribute::Destination(RouteAddress::Inet(v4)) if v4.is_loopback())))
        });
        assert!(local, "the loopback network's local route: {routes:?}");
        let neighbours = request(
            RtMessage::GetNeighbour(NeighbourMessage::default()),
            NLM_F_DUMP,
        )
        .unwrap();
        assert!(
            neighbours
                .iter()
                .all(|m| matches!(m, RtMessage::NewNeighbour(_)))
        );
    }

    #[test]
    fn test_messages_round_trip_through_their_wire_form() {
        let sent = RtMessage::NewAddress(address_message(7, Ipv4Addr::new(192, 168, 1, 20), 24));
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(sent.clone()));
        packet.finalize();
        let mut wire = vec![0; packet.buffer_len()];
        packet.serialize(&mut wire);
        let back = NetlinkMessage::<RtMessage>::deserialize(&wire).unwrap();
        assert_eq!(back.payload, NetlinkPayload::InnerMessage(sent));
        // A type the camera never asks for is kept as its number, not parsed.
        let mut header = NetlinkHeader::default();
        header.message_type = 16; // RTM_NEWLINK
        assert_eq!(
            RtMessage::deserialize(&header, &[0; 16]).unwrap(),
            RtMessage::Other(16)
        );
    }
}

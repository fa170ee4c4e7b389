//! `[network]` of the board file: which interfaces and tools the Linux backend drives, how long
//! a new setting gets to prove itself, and the simulated LAN of the simulated board.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[network]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Wired interface (Linux), e.g. "eth0". Without it the board has no network role.
    pub interface: Option<String>,
    /// The DHCP client's argument vector; an argument `{interface}` is replaced by the
    /// interface name. Run without a shell; stopped when a static address is applied.
    #[serde(default)]
    pub dhcp_client: Vec<String>,
    /// resolv.conf the backend writes for static DNS (default /etc/resolv.conf).
    pub resolv_conf: Option<PathBuf>,
    /// wpa_supplicant's control socket for the Wi-Fi interface (e.g.
    /// /run/wpa_supplicant/wlan0). Without it the board has no Wi-Fi role.
    pub wpa_control: Option<PathBuf>,
    /// PPPoE through pppd (Linux). Without it the board has no PPPoE role.
    #[serde(default)]
    pub pppoe: Option<PppoeSpec>,
    /// Seconds a new IP or Wi-Fi setting gets to work before the last working one returns.
    #[serde(default = "default_apply_timeout")]
    pub apply_timeout_secs: u32,
    /// The simulated LAN (simulated board only).
    #[serde(default)]
    pub sim: Option<SimLanSpec>,
    /// Where DDNS updates and the public-address check go.
    #[serde(default)]
    pub ddns: DdnsSpec,
    /// Where UPnP searches for the gateway.
    #[serde(default)]
    pub upnp: UpnpSpec,
}

/// `[network.pppoe]`: how pppd is run. Directly (the daemon is root, or not under systemd):
/// the argument vector `PPPD plugin PLUGIN INTERFACE unit UNIT nodetach OPTIONS... file
/// ACCOUNT_FILE`, without a shell, the account (`user`, `password`) only in ACCOUNT_FILE, mode
/// 0600 in a 0700 runtime directory. Through systemd (the daemon is not root and runs under
/// systemd): `SYSTEMCTL start|restart|stop SYSTEMD_UNIT`, the root unit running pppd with its
/// own fixed options (`systemd/ipcamd-pppoe@.service`); `pppd`, `plugin`, `unit`, `options` and
/// `runtime_dir` then do not apply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PppoeSpec {
    /// Which of the two ways (default: by who the daemon runs as).
    #[serde(default)]
    pub mode: PppoeMode,
    /// The root unit that runs pppd (systemd mode); `{interface}` is replaced by the Ethernet
    /// interface.
    #[serde(default = "default_pppoe_unit")]
    pub systemd_unit: String,
    /// systemctl's path (systemd mode).
    #[serde(default = "default_systemctl")]
    pub systemctl: PathBuf,
    /// pppd's path.
    #[serde(default = "default_pppd")]
    pub pppd: PathBuf,
    /// The Ethernet interface the PPPoE session runs over (default: `[network] interface`).
    pub interface: Option<String>,
    /// The PPPoE plugin pppd loads.
    #[serde(default = "default_pppoe_plugin")]
    pub plugin: String,
    /// The ppp unit: the session's interface is pppUNIT.
    #[serde(default)]
    pub unit: u32,
    /// Further pppd options, in order.
    #[serde(default = "default_pppd_options")]
    pub options: Vec<String>,
    /// Where the account file goes (default: `run` in the data directory). Relative paths are
    /// relative to the data directory.
    pub runtime_dir: Option<PathBuf>,
}

/// `[network.pppoe] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PppoeMode {
    /// systemd when the daemon is not root and runs under systemd (`$NOTIFY_SOCKET` set, as
    /// for rebootSystem), else direct.
    #[default]
    Auto,
    /// The daemon starts pppd itself (it must be root: pppd refuses otherwise, exit 3).
    Direct,
    /// The daemon asks systemd to start the root unit `systemd_unit`.
    Systemd,
}

fn default_pppoe_unit() -> String {
    "ipcamd-pppoe@{interface}.service".into()
}

fn default_systemctl() -> PathBuf {
    "/usr/bin/systemctl".into()
}

fn default_pppd() -> PathBuf {
    "/usr/sbin/pppd".into()
}

fn default_pppoe_plugin() -> String {
    "rp-pppoe.so".into()
}

fn default_pppd_options() -> Vec<String> {
    ["noauth", "defaultroute", "noipdefault", "hide-password"]
        .map(String::from)
        .to_vec()
}

/// `[network.upnp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpnpSpec {
    /// Where the SSDP search goes (the multicast group by default; a test points it at its
    /// gateway simulator).
    #[serde(default = "default_ssdp_address")]
    pub ssdp_address: String,
    /// Lease of a port mapping, seconds (renewed at half of it).
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u32,
}

impl Default for UpnpSpec {
    fn default() -> Self {
        UpnpSpec {
            ssdp_address: default_ssdp_address(),
            lease_secs: default_lease_secs(),
        }
    }
}

fn default_ssdp_address() -> String {
    "239.255.255.250:1900".into()
}

fn default_lease_secs() -> u32 {
    3600
}

/// `[network.ddns]`: the public-address check and the providers' update URLs (defaults: the
/// providers' public endpoints; a board or a test may point them elsewhere).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DdnsSpec {
    /// A URL whose reply names the camera's public IPv4 address (checkip.dyndns.org style).
    #[serde(default = "default_check_ip_url")]
    pub check_ip_url: String,
    /// Update URLs for the guide's providers 1 (Oray), 2 (3322), 3 (no-ip), 4 (dyndns), in
    /// order; missing ones keep the provider's public endpoint.
    #[serde(default)]
    pub update_urls: Vec<String>,
    /// Seconds between public-address checks.
    #[serde(default = "default_check_secs")]
    pub check_secs: u32,
}

impl Default for DdnsSpec {
    fn default() -> Self {
        DdnsSpec {
            check_ip_url: default_check_ip_url(),
            update_urls: Vec::new(),
            check_secs: default_check_secs(),
        }
    }
}

fn default_check_ip_url() -> String {
    "http://checkip.dyndns.org/".into()
}

fn default_check_secs() -> u32 {
    600
}

fn default_apply_timeout() -> u32 {
    30
}

/// `[network.sim]`: the simulated board's LAN: a gateway that also serves DHCP and DNS, hosts
/// already on it, a PPPoE access concentrator and the access points in radio range.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimLanSpec {
    /// The gateway (and DHCP and DNS server).
    pub gateway: Ipv4Addr,
    /// Prefix length of the LAN.
    pub prefix_len: u8,
    /// The address the DHCP server leases to the camera.
    pub dhcp_address: Ipv4Addr,
    /// Addresses other hosts already use (a static address among them does not come up).
    #[serde(default)]
    pub taken: Vec<Ipv4Addr>,
    /// The account the access concentrator accepts.
    pub pppoe_user: Option<String>,
    /// Its password.
    pub pppoe_password: Option<String>,
    /// The address a PPPoE session gets.
    pub pppoe_address: Option<Ipv4Addr>,
    /// Access points in range.
    #[serde(default)]
    pub access_points: Vec<SimAccessPointSpec>,
}

/// `[[network.sim.access_points]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAccessPointSpec {
    /// Network name.
    pub ssid: String,
    /// BSSID, "aa:bb:cc:dd:ee:ff".
    pub bssid: String,
    /// Signal quality 0..=100.
    pub quality: u8,
    /// The guide's encryptType (0 open, 1 WEP, 2 WPA, 3 WPA2, 4 WPA/WPA2).
    pub security: u8,
    /// The key it accepts (empty for open networks).
    #[serde(default)]
    pub key: String,
}

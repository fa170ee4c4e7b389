//! Linux device backends: V4L2 capture ([`video`]), the V4L2 memory-to-memory H.264 encoder
//! ([`m2m`]) and JPEG encoder ([`m2m_jpeg`]), GPIO character devices ([`gpio`]), the RS485 serial motor controller
//! ([`serial_ptz`]), the SD card slot ([`storage`]), the wired interface ([`net`]), Wi-Fi
//! through wpa_supplicant ([`wpa`]), PPPoE through pppd ([`pppd`], or its root systemd unit:
//! [`pppoe_unit`]) and the system clock
//! ([`clock`]), after checking the board file was written for this machine
//! ([`device_tree`]); what the machine says about itself ([`identity`]). Only compiled with the
//! `linux` feature on Linux; nothing outside this folder touches a device node.

pub mod clock;
pub mod device_tree;
pub mod gpio;
pub mod identity;
pub mod m2m;
pub mod m2m_jpeg;
pub mod net;
pub mod pppd;
pub mod pppoe_unit;
pub mod serial_ptz;
pub mod storage;
mod v4l2_raw;
pub mod video;
pub mod wpa;

use std::path::Path;
use std::sync::Arc;

use crate::board::BoardSpec;
use crate::net::spec::PppoeMode;
use crate::{Hal, HalError, HalErrorKind, HalResult};

/// The Wi-Fi role: wpa_supplicant at the board file's `[network] wpa_control`, if it names one.
pub fn wifi_role(board: &BoardSpec) -> HalResult<Option<Arc<dyn crate::net::Wifi>>> {
    let Some(path) = &board.network.wpa_control else {
        return Ok(None);
    };
    let wifi = wpa::WpaWifi::new(board.resolve(path))?;
    Ok(Some(Arc::new(wifi)))
}

/// The PPPoE role: pppd as `[network.pppoe]` says, if the board file has that table; who
/// runs pppd is chosen by [`pppoe_through_systemd`] for this process (root or not, under
/// systemd or not). Directly, its account file goes to `runtime_dir` (relative to `data_dir`;
/// default `data_dir/run`); through the unit, to `data_dir/pppoe-account`.
pub fn pppoe_role(
    board: &BoardSpec,
    data_dir: &Path,
) -> HalResult<Option<Arc<dyn crate::net::Pppoe>>> {
    let root = nix::unistd::geteuid().is_root();
    // As rebootSystem decides it (src/main.rs): systemd sets $NOTIFY_SOCKET for Type=notify.
    let under_systemd = std::env::var_os("NOTIFY_SOCKET").is_some();
    pppoe_role_as(board, data_dir, root, under_systemd)
}

/// Whether pppd is asked of systemd (the root unit) rather than started by the daemon: as
/// `mode` says, and for `auto` when the daemon is not root (pppd would refuse, exit 3) and
/// runs under systemd (which can run it as root).
pub fn pppoe_through_systemd(mode: PppoeMode, root: bool, under_systemd: bool) -> bool {
    match mode {
        PppoeMode::Direct => false,
        PppoeMode::Systemd => true,
        PppoeMode::Auto => !root && under_systemd,
    }
}

/// [`pppoe_role`] for a process that is (not) `root` and (not) `under_systemd`.
pub fn pppoe_role_as(
    board: &BoardSpec,
    data_dir: &Path,
    root: bool,
    under_systemd: bool,
) -> HalResult<Option<Arc<dyn crate::net::Pppoe>>> {
    let Some(spec) = &board.network.pppoe else {
        return Ok(None);
    };
    let Some(interface) = spec
        .interface
        .clone()
        .or_else(|| board.network.interface.clone())
    else {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            "board file: [network.pppoe] needs an interface (or [network] interface)",
        ));
    };
    if pppoe_through_systemd(spec.mode, root, under_systemd) {
        let unit = pppoe_unit::unit_name(&spec.systemd_unit, &interface)?;
        tracing::info!(%unit, "PPPoE through the systemd unit");
        return Ok(Some(Arc::new(pppoe_unit::UnitPppoe::new(
            spec.systemctl.clone(),
            unit,
            data_dir.join(pppoe_unit::ACCOUNT_FILE),
        ))));
    }
    let runtime_dir = match &spec.runtime_dir {
        Some(dir) => data_dir.join(dir),
        None => data_dir.join("run"),
    };
    Ok(Some(Arc::new(pppd::Pppd::new(
        spec,
        interface,
        runtime_dir,
    ))))
}

/// Opens every device the board file declares.
pub fn open(board: Arc<BoardSpec>, data_dir: &Path) -> HalResult<Hal> {
    let tree = std::fs::read(device_tree::COMPATIBLE_PATH).ok();
    device_tree::check_compatible(board.board.compatible.as_deref(), tree.as_deref())?;
    let video = video::open(&board)?;
    let encoder = video::encoder(&board)?;
    let h264 = m2m::h264_factory(&board)?;
    let ptz = serial_ptz::open(&board)?;
    let gpio = &board.gpio;
    let storage = board
        .storage
        .as_ref()
        .map(|spec| Arc::new(storage::SdCard::new(&spec.path)) as Arc<dyn crate::storage::Storage>);
    Ok(Hal {
        video: Some(video),
        encoder,
        h264,
        ir_led: gpio.ir_led.as_ref().map(gpio::open_output).transpose()?,
        ir_cut: gpio.ir_cut.as_ref().map(gpio::open_output).transpose()?,
        alarm_in: gpio.alarm_in.as_ref().map(gpio::open_input).transpose()?,
        alarm_out: gpio.alarm_out.as_ref().map(gpio::open_output).transpose()?,
        light_sensor: gpio
            .light_sensor
            .as_ref()
            .map(gpio::open_input)
            .transpose()?,
        ptz,
        clock: Arc::new(clock::SystemClock::new()),
        storage,
        network: net::LinuxNetwork::open(&board)?
            .map(|n| Arc::new(n) as Arc<dyn crate::net::Network>),
        wifi: wifi_role(&board)?,
        pppoe: pppoe_role(&board, data_dir)?,
        board,
        sim: None,
    })
}

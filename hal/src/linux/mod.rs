//! Linux device backends: V4L2 capture ([`video`]), the V4L2 memory-to-memory H.264 encoder
//! ([`m2m`]) and JPEG encoder ([`m2m_jpeg`]), GPIO character devices ([`gpio`]), the RS485 serial motor controller
//! ([`serial_ptz`]), the SD card slot ([`storage`]), the wired interface ([`net`]), Wi-Fi
//! through wpa_supplicant ([`wpa`]), PPPoE through pppd ([`pppd`]) and the system clock
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
pub mod serial_ptz;
pub mod storage;
mod v4l2_raw;
pub mod video;
pub mod wpa;

use std::path::Path;
use std::sync::Arc;

use crate::board::BoardSpec;
use crate::{Hal, HalError, HalErrorKind, HalResult};

/// The Wi-Fi role: wpa_supplicant at the board file's `[network] wpa_control`, if it names one.
pub fn wifi_role(board: &BoardSpec) -> HalResult<Option<Arc<dyn crate::net::Wifi>>> {
    let Some(path) = &board.network.wpa_control else {
        return Ok(None);
    };
    let wifi = wpa::WpaWifi::new(board.resolve(path))?;
    Ok(Some(Arc::new(wifi)))
}

/// The PPPoE role: pppd as `[network.pppoe]` says, if the board file has that table; its
/// account file goes to `runtime_dir` (relative to `data_dir`; default `data_dir/run`).
pub fn pppoe_role(
    board: &BoardSpec,
    data_dir: &Path,
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

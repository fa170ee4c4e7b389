//! Linux device backends: V4L2 capture ([`video`]), the V4L2 memory-to-memory H.264 encoder
//! ([`m2m`]), GPIO character devices ([`gpio`]), the RS485 serial motor controller
//! ([`serial_ptz`]) and the SD card slot ([`storage`]), after checking the board file was written
//! for this machine ([`device_tree`]). Only compiled with the `linux` feature on
//! Linux; nothing outside this folder touches a device node.

pub mod device_tree;
pub mod gpio;
pub mod identity;
pub mod m2m;
pub mod net;
pub mod serial_ptz;
pub mod storage;
mod v4l2_raw;
pub mod video;

use std::path::Path;
use std::sync::Arc;

use crate::board::BoardSpec;
use crate::clock::OffsetClock;
use crate::{Hal, HalResult};

/// Opens every device the board file declares.
pub fn open(board: Arc<BoardSpec>, _data_dir: &Path) -> HalResult<Hal> {
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
        clock: Arc::new(OffsetClock::default()),
        storage,
        network: net::LinuxNetwork::open(&board)?
            .map(|n| Arc::new(n) as Arc<dyn crate::net::Network>),
        wifi: None,
        pppoe: None,
        board,
        sim: None,
    })
}

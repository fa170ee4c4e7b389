//! Linux device backends: V4L2 capture ([`video`]), GPIO character devices ([`gpio`]) and the
//! RS485 serial motor controller ([`serial_ptz`]). Only compiled with the `linux` feature on
//! Linux; nothing outside this folder touches a device node.

pub mod gpio;
pub mod net;
pub mod serial_ptz;
pub mod video;

use std::path::Path;
use std::sync::Arc;

use crate::board::BoardSpec;
use crate::clock::OffsetClock;
use crate::{Hal, HalResult};

/// Opens every device the board file declares.
pub fn open(board: Arc<BoardSpec>, _data_dir: &Path) -> HalResult<Hal> {
    let video = video::open(&board)?;
    let encoder = video::encoder(&board)?;
    let ptz = serial_ptz::open(&board)?;
    let gpio = &board.gpio;
    let storage = match &board.storage {
        Some(spec) => Some(Arc::new(crate::sim::storage::SimStorage::open(&spec.path)?)
            as Arc<dyn crate::storage::Storage>),
        None => None,
    };
    Ok(Hal {
        video: Some(video),
        encoder,
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

//! Live device state that subsystems update and getDevState reports: alarm states, IR LED,
//! recording, NTP/DDNS/UPnP outcomes. Plain atomics: written by one subsystem, read by many.

use std::sync::atomic::{AtomicU8, Ordering};

/// Alarm states of the guide's getDevState (0 disabled, 1 no alarm, 2 alarm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AlarmState {
    /// Detection is off.
    Disabled = 0,
    /// Armed, nothing detected.
    Idle = 1,
    /// Alarm in progress.
    Alarm = 2,
}

impl AlarmState {
    fn from_u8(value: u8) -> AlarmState {
        match value {
            1 => AlarmState::Idle,
            2 => AlarmState::Alarm,
            _ => AlarmState::Disabled,
        }
    }
}

/// One alarm's state.
#[derive(Debug, Default)]
pub struct AlarmCell(AtomicU8);

impl AlarmCell {
    /// Current state.
    pub fn get(&self) -> AlarmState {
        AlarmState::from_u8(self.0.load(Ordering::Relaxed))
    }

    /// Sets the state.
    pub fn set(&self, state: AlarmState) {
        self.0.store(state as u8, Ordering::Relaxed);
    }
}

/// Outcome of a network service (NTP, DDNS, UPnP): 0 disabled, 1 success, 2 fail.
#[derive(Debug, Default)]
pub struct ServiceCell(AtomicU8);

impl ServiceCell {
    /// Current value.
    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the value.
    pub fn set(&self, value: u8) {
        self.0.store(value, Ordering::Relaxed);
    }
}

/// Everything getDevState reports that is not read from settings or hardware on demand.
#[derive(Debug, Default)]
pub struct DeviceState {
    /// IO alarm input.
    pub io_alarm: AlarmCell,
    /// Motion detection.
    pub motion_alarm: AlarmCell,
    /// Sound detection (no microphone support yet: stays disabled).
    pub sound_alarm: AlarmCell,
    /// 1 while recording.
    pub recording: ServiceCell,
    /// NTP sync outcome.
    pub ntp: ServiceCell,
    /// DDNS update outcome.
    pub ddns: ServiceCell,
    /// UPnP mapping outcome.
    pub upnp: ServiceCell,
}

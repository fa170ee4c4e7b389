//! ipcamd

pub mod firmware;
pub mod systemd;

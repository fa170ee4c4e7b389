//! ipcamd
pub mod motion;

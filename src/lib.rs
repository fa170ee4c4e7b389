//! ipcamd
pub mod ir_auto;
pub mod motion;

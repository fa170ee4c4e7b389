//! ipcamd: a Foscam-compatible IP camera daemon. The library holds everything; `main.rs` only
//! parses the command line and calls [`daemon::run`].
// `deny`, not `forbid`: the one module with SIMD code (`motion::simd`) allows it for itself.
#![deny(unsafe_code)]

pub mod accounts;
pub mod alarm;
pub mod app;
pub mod cgi;
pub mod civil_time;
pub mod daemon;
pub mod firmware;
pub mod http;
pub mod ir;
pub mod ir_auto;
pub mod media;
pub mod motion;
pub mod multipart;
pub mod ptz;
pub mod selftest;
pub mod state;
pub mod store;
pub mod systemd;

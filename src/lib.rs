//! ipcamd: a Foscam-compatible IP camera daemon. The library holds everything; `main.rs` only
//! parses the command line and calls [`daemon::run`].
//!
//! Layers (imports only go down; a test in `tests/layers.rs` keeps it so):
//!
//! | layer | modules |
//! |---|---|
//! | L6 | `main.rs`: command line, logging, exit codes |
//! | L5 | [`daemon`] (composition root, watchdog), [`supervisor`] |
//! | L4 | [`http`]: server, routes, render; [`web`]: the embedded web interface; [`rtsp`]: H.264 over RTSP/RTP (shares the web port or has its own); [`onvif`]: the ONVIF Profile S service on onvifPort |
//! | L3 | [`cgi`]: command table, dispatch, error → wire map, handlers by guide chapter |
//! | L2 | services: [`media`], [`streams`] (the encoded H.264 stream hub), [`alarm`], [`recorder`] (SD-card recording and its index), [`ir`], [`ptz`], [`accounts`], [`net`] (ports, firewall) |
//! | L1 | [`settings`], [`local_time`], [`store`] (with the event log), [`state`], [`listener`] (sockets, admission gate, TLS: shared by every server) |
//! | L0 | [`motion`], [`civil_time`], [`log_limit`] (rate limits for client-triggered log lines), [`heartbeat`] (loop progress for the watchdog), [`firmware`], [`multipart`], [`systemd`], [`ir_auto`], [`selftest`], the `ipcamd-hal` crate |
//!
//! Modules are `pub` only where another crate uses them (`main.rs`, the `src/bin` tools, the
//! integration tests and the benches); the rest are `pub(crate)`, so the compiler reports
//! code nothing uses.
// No unsafe code in the daemon; the SIMD kernels are in the motion crate (src/motion).
#![forbid(unsafe_code)]

pub(crate) mod accounts;
pub(crate) mod alarm;
pub mod cgi;
pub(crate) mod civil_time;
pub mod daemon;
pub mod firmware;
pub(crate) mod heartbeat;
pub mod http;
pub(crate) mod ir;
pub(crate) mod ir_auto;
pub mod listener;
pub(crate) mod local_time;
pub(crate) mod log_limit;
pub(crate) mod media;
pub use ipcamd_motion as motion;
pub(crate) mod multipart;
pub(crate) mod net;
pub(crate) mod onvif;
pub(crate) mod ptz;
pub mod recorder;
pub(crate) mod rtsp;
pub mod selftest;
pub(crate) mod settings;
pub mod state;
pub(crate) mod store;
pub mod streams;
pub(crate) mod supervisor;
pub(crate) mod systemd;
pub(crate) mod web;

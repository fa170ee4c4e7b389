//! ipcamd: a Foscam-compatible IP camera daemon. The library holds everything; `main.rs` only
//! parses the command line and calls [`daemon::run`].
//!
//! Layers (imports only go down; a test in `tests/layers.rs` keeps it so):
//!
//! | layer | modules |
//! |---|---|
//! | L6 | `main.rs`: command line, logging, exit codes |
//! | L5 | [`daemon`] (composition root, watchdog), [`supervisor`] |
//! | L4 | [`http`]: server, routes, render; [`web`]: the embedded web interface; [`rtsp`]: H.264 over RTSP/RTP (shares the web port or has its own) |
//! | L3 | [`cgi`]: command table, dispatch, error → wire map, handlers by guide chapter |
//! | L2 | services: [`media`], [`streams`] (the encoded H.264 stream hub), [`alarm`], [`recorder`] (SD-card recording and its index), [`ir`], [`ptz`], [`accounts`], [`net`] (ports, firewall) |
//! | L1 | [`settings`], [`local_time`], [`store`] (with the event log), [`state`], [`listener`] (sockets, admission gate, TLS: shared by every server) |
//! | L0 | [`motion`], [`civil_time`], [`log_limit`] (rate limits for client-triggered log lines), [`heartbeat`] (loop progress for the watchdog), [`firmware`], [`multipart`], [`systemd`], [`ir_auto`], [`selftest`], the `ipcamd-hal` crate |
// `deny`, not `forbid`: the one module with SIMD code (`motion::simd`) allows it for itself.
#![deny(unsafe_code)]

pub mod accounts;
pub mod alarm;
pub mod cgi;
pub mod civil_time;
pub mod daemon;
pub mod firmware;
pub mod heartbeat;
pub mod http;
pub mod ir;
pub mod ir_auto;
pub mod listener;
pub mod local_time;
pub mod log_limit;
pub mod media;
pub mod motion;
pub mod multipart;
pub mod net;
pub mod ptz;
pub mod recorder;
pub mod rtsp;
pub mod selftest;
pub mod settings;
pub mod state;
pub mod store;
pub mod streams;
pub mod supervisor;
pub mod systemd;
pub mod web;

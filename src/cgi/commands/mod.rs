//! Command handlers, one file per part of the guide. Each file exports its handlers; the
//! registry collects them.

pub mod alarm;
pub mod config;
pub mod device;
pub mod network;
pub mod ptz;
pub mod stream;
pub mod system;
pub mod user;
pub mod video;

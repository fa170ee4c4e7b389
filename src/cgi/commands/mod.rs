//! Command handlers, one file per chapter of the guide. The command table
//! (`super::table`) names each handler; handlers import only the request, error and reply
//! types of the CGI layer and the services below it, never the table or the dispatcher.

pub mod alarm;
pub mod config;
pub mod device;
pub mod network;
pub mod ptz;
pub mod record;
pub mod stream;
pub mod system;
pub mod user;
pub mod video;

//! Integration tests through the CGI surface: the real daemon binary, real HTTP, real SQLite.

mod accounts;
mod registry;
mod settings;
mod ptz;
mod support;
mod system;
mod video;
mod wire;

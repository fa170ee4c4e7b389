//! Integration tests through the CGI surface: the real daemon binary, real HTTP, real SQLite.

mod accounts;
mod alarms;
mod motion;
mod network;
mod onvif;
mod ptz;
mod recording;
mod recording_live;
mod registry;
mod rtsp;
mod servers;
mod settings;
mod support;
mod system;
mod video;
mod web;
mod wire;

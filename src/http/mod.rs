//! The HTTP service (layer 4), in three parts: [`server`] (listener, connection limits and
//! timeouts), [`routes`] (which path goes where; callable in-process with any request body)
//! and [`render`] (CGI outcomes and streams as HTTP responses); [`playback`] serves recordings. Result codes are never minted
//! here: they come from the CGI layer.

pub mod playback;
pub mod render;
pub mod routes;
pub mod server;
pub mod upload;

pub use render::Body;
pub use routes::handle;
pub use server::serve;

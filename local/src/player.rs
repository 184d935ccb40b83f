//! The player page served at `/`, the status page at `/status`, and hls.js served locally
//! (no CDN).

pub const PAGE: &str = include_str!("../assets/player.html");
pub const HLS_JS: &[u8] = include_bytes!("../assets/hls.min.js");
pub const STATUS_PAGE: &str = include_str!("../assets/status.html");

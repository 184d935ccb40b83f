//! The player page served at `/`, and hls.js served locally (no CDN).

pub const PAGE: &str = include_str!("../assets/player.html");
pub const HLS_JS: &[u8] = include_bytes!("../assets/hls.min.js");

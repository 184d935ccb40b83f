//! The media core: sans-IO and deterministic, so both AZs cut the same bytes from the same
//! encoder timeline (DESIGN.md §4). FLV tags in ([`flv`]), the encoder clock mapped to segment
//! numbers ([`clock`]), MPEG-TS out ([`ts`]) or fragmented MP4
//! ([`fmp4`], not wired in yet), and the segmenter that ties them together and
//! returns what to upload as data ([`packager`]). No sockets, no clock reads: time comes in as
//! an argument.

pub mod clock;
pub mod flv;
pub mod fmp4;
pub mod frame;
pub mod packager;
pub mod ts;

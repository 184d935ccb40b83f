//! CORS for browser players (hls.js, video.js, Shaka) on any origin: one owner for the
//! playlist function, the local edge and the CloudFront response headers policy
//! (`CorsResponseHeadersPolicy` in template.yaml, checked against these constants by a test
//! below), so a preflight gets the same answer from every one of them (Fetch standard,
//! "CORS protocol"; DESIGN.md §5: the local edge reproduces CloudFront).
//!
//! Nothing ZoneCast serves needs credentials, so the origin is `*` and credentials are not
//! allowed (the Fetch standard forbids `*` with credentials).

/// `Access-Control-Allow-Origin`, on every answer (playlists, segments, errors).
pub const ALLOW_ORIGIN: &str = "*";

/// The methods viewers use; also the `Allow` header of a 405.
pub const ALLOW_METHODS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

/// [`ALLOW_METHODS`] as a header value.
pub const ALLOW_METHODS_HEADER: &str = "GET, HEAD, OPTIONS";

/// `Access-Control-Allow-Headers`: any request header (players add `Range`, custom ones).
pub const ALLOW_HEADERS: &str = "*";

/// How long a browser may reuse a preflight answer (`Access-Control-Max-Age`): a day. The
/// answer never changes between deploys, and browsers cap it lower anyway (Chromium at 2 h).
pub const MAX_AGE_SECS: u32 = 86_400;

/// [`MAX_AGE_SECS`] as a header value.
pub const MAX_AGE_HEADER: &str = "86400";

/// Cache-Control of the preflight answer itself: as long as browsers may reuse it.
pub const PREFLIGHT_CACHE_CONTROL: &str = "max-age=86400";

/// The headers a preflight (`OPTIONS`) answer carries besides [`ALLOW_ORIGIN`], as
/// (lowercase name, value) pairs.
pub fn preflight_headers() -> [(&'static str, &'static str); 3] {
    [
        ("access-control-allow-methods", ALLOW_METHODS_HEADER),
        ("access-control-allow-headers", ALLOW_HEADERS),
        ("access-control-max-age", MAX_AGE_HEADER),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_agree_with_the_constants() {
        assert_eq!(ALLOW_METHODS.join(", "), ALLOW_METHODS_HEADER);
        assert_eq!(MAX_AGE_SECS.to_string(), MAX_AGE_HEADER);
        assert_eq!(PREFLIGHT_CACHE_CONTROL, format!("max-age={MAX_AGE_SECS}"));
    }

    /// The CloudFront response headers policy says what the function and the local edge say.
    #[test]
    fn template_yaml_agrees() {
        let template = include_str!("../../template.yaml");
        let start = template
            .find("CorsConfig:")
            .expect("template.yaml has a CorsConfig");
        // The block: every line more indented than `CorsConfig:` itself.
        let indent = template[..start].len() - template[..start].trim_end_matches(' ').len();
        let block: Vec<&str> = template[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.len() - l.trim_start().len() > indent || l.trim().is_empty())
            .map(str::trim)
            .collect();
        let after = |key: &str| {
            let at = block
                .iter()
                .position(|l| l.starts_with(key))
                .unwrap_or_else(|| panic!("CorsConfig has no {key}"));
            let line = block[at];
            let value = line[key.len()..].trim();
            if value.is_empty() {
                block[at + 1].to_owned()
            } else {
                value.to_owned()
            }
        };
        let items = |key: &str| {
            let line = after(key);
            let list = line
                .trim()
                .strip_prefix("Items:")
                .unwrap_or_else(|| panic!("{key}: {line:?}"))
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            list.split(',')
                .map(|s| s.trim().trim_matches('"').to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(after("AccessControlAllowCredentials:"), "false");
        assert_eq!(items("AccessControlAllowOrigins:"), [ALLOW_ORIGIN]);
        assert_eq!(items("AccessControlAllowHeaders:"), [ALLOW_HEADERS]);
        assert_eq!(items("AccessControlAllowMethods:"), ALLOW_METHODS);
        assert_eq!(after("AccessControlMaxAgeSec:"), MAX_AGE_SECS.to_string());
    }
}

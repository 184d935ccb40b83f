//! The edge rewrite (DESIGN.md §2): the viewer's Host picks the AZ, which becomes a path prefix,
//! so the path alone is both the cache key and the S3 key.
//!
//! This is the Rust twin of `cloudfront/viewer-request.js`; the local edge uses it. Both are
//! checked against the same table, `contract/testdata/edge_rewrite_cases.json`.

use crate::Az;

/// The header the viewer-request function sets to the viewer's Host. CloudFront cannot forward
/// Host to a Lambda function URL, and the playlist function renders absolute URLs from it.
pub const VIEWER_HOST_HEADER: &str = "x-zonecast-viewer-host";

/// The header CloudFront sets to the viewer's protocol (`http` or `https`), forwarded to the
/// playlist function by the origin request policy; the scheme of the URLs it renders.
pub const FORWARDED_PROTO_HEADER: &str = "cloudfront-forwarded-proto";

/// The AZ a viewer host pins to: first DNS label `media-hls-az1` or `media-hls-az2`,
/// case-insensitive, port ignored. A bracketed IPv6 literal never matches.
pub fn az_for_host(host: &str) -> Option<Az> {
    // Same steps as azForHost() in viewer-request.js, including its Unicode lowercasing.
    let lower = host.to_lowercase();
    let mut name = lower.as_str();
    if let Some(colon) = name.rfind(':')
        && !name.contains(']')
    {
        name = &name[..colon];
    }
    let label = name.split_once('.').map_or(name, |(label, _)| label);
    match label {
        "media-hls-az1" => Some(Az::Az1),
        "media-hls-az2" => Some(Az::Az2),
        _ => None,
    }
}

/// Viewer Host + URI → origin URI: `/azN` prepended for an AZ host, otherwise unchanged.
pub fn rewrite(host: &str, uri: &str) -> String {
    match az_for_host(host) {
        Some(az) => format!("/{az}{uri}"),
        None => uri.to_owned(),
    }
}

/// The value of `name` in a query string, as it is (no percent-decoding: the parameters the
/// edge keys on and the function reads, `_HLS_pathway=az1`, never need it).
pub fn query_value<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Table {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        host: String,
        uri: String,
        expect: String,
    }

    #[test]
    fn shared_case_table() {
        let table: Table =
            serde_json::from_str(include_str!("../testdata/edge_rewrite_cases.json")).unwrap();
        assert!(table.cases.len() >= 10);
        for c in &table.cases {
            assert_eq!(
                rewrite(&c.host, &c.uri),
                c.expect,
                "host {:?} uri {:?}",
                c.host,
                c.uri
            );
        }
    }

    #[test]
    fn ipv6_and_odd_hosts() {
        assert_eq!(az_for_host("[::1]:8080"), None);
        assert_eq!(az_for_host("media-hls-az2"), Some(Az::Az2));
        assert_eq!(az_for_host("media-hls-az1:443"), Some(Az::Az1));
        assert_eq!(az_for_host("media-hls.example.com"), None);
    }
}

//! Origin paths the playlist function answers, as they arrive after the edge rewrite
//! (DESIGN.md §2): the AZ prefix is already in the path, whichever mode the viewer used.
//!
//! Parsing is strict: every component must be exactly what the ingest would have written.
//! No decoding, no normalisation: `..`, `%2e`, empty components and extra components are
//! refused, so a path either names one stream's playlist or is a 400.

use std::fmt;

use crate::{Az, AzError, NameError, StreamName, keys, keys::SegmentId};

/// Longest path considered at all; a real one is under 150 bytes.
pub const MAX_PATH_LEN: usize = 512;

/// What an origin path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/<app>/<stream>/playlist.m3u8`, on the neutral host.
    Multivariant(StreamName),
    /// `/<app>/<stream>/steering.json`: the content steering manifest, next to the
    /// multivariant playlist.
    Steering(StreamName),
    /// `/<az>/<app>/<stream>/chunklist.m3u8`, or `/<az>/<app>/<stream>/<rendition>/…` for a
    /// rendition (the name then carries it).
    Chunklist(Az, StreamName),
    /// `/<az>/<app>/<stream>/[<rendition>/]<epoch>-<msn>.ts`: served from S3, never by the
    /// function.
    Segment(Az, StreamName, SegmentId),
}

/// Why a path is not a route. Carries the (shortened) path for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("path {path:?} does not start with /")]
    NotAbsolute { path: String },
    #[error("path is {len} bytes long, more than {MAX_PATH_LEN}")]
    TooLong { len: usize },
    #[error("path {path:?} has {components} components; expected 3 to 5, none empty")]
    Shape { path: String, components: usize },
    #[error("path {path:?}: {source}")]
    Az {
        path: String,
        #[source]
        source: AzError,
    },
    #[error("path {path:?}: {source}")]
    Name {
        path: String,
        #[source]
        source: NameError,
    },
    #[error("path {path:?}: {file:?} is not {expected}")]
    File {
        path: String,
        file: String,
        expected: &'static str,
    },
}

fn shown(path: &str) -> String {
    path.chars().take(120).collect()
}

impl Route {
    /// Parses an origin path (no query string).
    pub fn parse(path: &str) -> Result<Route, RouteError> {
        if path.len() > MAX_PATH_LEN {
            return Err(RouteError::TooLong { len: path.len() });
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Err(RouteError::NotAbsolute { path: shown(path) });
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || !(3..=5).contains(&parts.len()) {
            return Err(RouteError::Shape {
                path: shown(path),
                components: parts.len(),
            });
        }
        let name = |app: &str, stream: &str| {
            StreamName::new(app, stream).map_err(|source| RouteError::Name {
                path: shown(path),
                source,
            })
        };
        let file_err = |file: &str, expected| RouteError::File {
            path: shown(path),
            file: file.chars().take(80).collect(),
            expected,
        };
        match parts.as_slice() {
            [app, stream, file] => match *file {
                keys::MULTIVARIANT_FILE => Ok(Route::Multivariant(name(app, stream)?)),
                keys::STEERING_FILE => Ok(Route::Steering(name(app, stream)?)),
                _ => Err(file_err(file, "playlist.m3u8 or steering.json")),
            },
            [az, app, stream, rest @ .., file] => {
                let az: Az = az.parse().map_err(|source| RouteError::Az {
                    path: shown(path),
                    source,
                })?;
                let mut name = name(app, stream)?;
                if let [rendition] = rest {
                    name = name
                        .with_rendition(rendition)
                        .map_err(|source| RouteError::Name {
                            path: shown(path),
                            source,
                        })?;
                }
                if *file == keys::CHUNKLIST_FILE {
                    return Ok(Route::Chunklist(az, name));
                }
                let id = file
                    .strip_suffix(keys::SEGMENT_EXT)
                    .and_then(|f| f.strip_suffix('.'))
                    .and_then(|f| f.split_once('-'))
                    .and_then(|(epoch, msn)| {
                        Some(SegmentId {
                            epoch: parse_number(epoch)?,
                            msn: parse_number(msn)?,
                        })
                    })
                    .ok_or_else(|| file_err(file, "chunklist.m3u8 or <epoch>-<msn>.ts"))?;
                Ok(Route::Segment(az, name, id))
            }
            // Unreachable: the length was checked above.
            _ => Err(RouteError::Shape {
                path: shown(path),
                components: parts.len(),
            }),
        }
    }

    pub fn name(&self) -> &StreamName {
        match self {
            Route::Multivariant(n)
            | Route::Steering(n)
            | Route::Chunklist(_, n)
            | Route::Segment(_, n, _) => n,
        }
    }

    pub fn az(&self) -> Option<Az> {
        match self {
            Route::Multivariant(_) | Route::Steering(_) => None,
            Route::Chunklist(az, _) | Route::Segment(az, _, _) => Some(*az),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Multivariant(n) => write!(f, "multivariant {n}"),
            Route::Steering(n) => write!(f, "steering {n}"),
            Route::Chunklist(az, n) => write!(f, "chunklist {az} {n}"),
            Route::Segment(az, n, id) => write!(f, "segment {az} {n} {}-{}", id.epoch, id.msn),
        }
    }
}

/// An epoch or segment number exactly as the ingest names it: decimal digits, no sign, no
/// leading zero.
fn parse_number(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show() -> StreamName {
        StreamName::new("live", "show").unwrap()
    }

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("/live/show/playlist.m3u8"),
            Ok(Route::Multivariant(show()))
        );
        assert_eq!(
            Route::parse("/az1/live/show/chunklist.m3u8"),
            Ok(Route::Chunklist(Az::Az1, show()))
        );
        assert_eq!(
            Route::parse("/live/show/steering.json"),
            Ok(Route::Steering(show()))
        );
        let id = |epoch, msn| SegmentId { epoch, msn };
        assert_eq!(
            Route::parse("/az2/live/show/1795003200000-42.ts"),
            Ok(Route::Segment(Az::Az2, show(), id(1_795_003_200_000, 42)))
        );
        assert_eq!(
            Route::parse("/az2/live/show/0-0.ts"),
            Ok(Route::Segment(Az::Az2, show(), id(0, 0)))
        );
        let r = Route::parse("/az2/a_b-C/x-1/chunklist.m3u8").unwrap();
        assert_eq!(r.az(), Some(Az::Az2));
        assert_eq!(r.name().to_string(), "a_b-C/x-1");
    }

    #[test]
    fn rendition_routes() {
        let r720 = show().with_rendition("720p").unwrap();
        assert_eq!(
            Route::parse("/az1/live/show/720p/chunklist.m3u8"),
            Ok(Route::Chunklist(Az::Az1, r720.clone()))
        );
        assert_eq!(
            Route::parse("/az2/live/show/720p/5-42.ts"),
            Ok(Route::Segment(
                Az::Az2,
                r720,
                SegmentId { epoch: 5, msn: 42 }
            ))
        );
        for path in [
            "/live/show/720p/playlist.m3u8",
            "/live/show/720p/steering.json",
            "/az1/live/show/720.p/chunklist.m3u8",
            "/az1/live/show/../chunklist.m3u8",
            "/az1/live/show/720p/renditions.json",
            "/az1/live/show/renditions.json",
            "/az1/live/show/720p/index.json",
            "/az1/live/show/720p/x/chunklist.m3u8",
            "/az1/live/show//chunklist.m3u8",
        ] {
            assert!(Route::parse(path).is_err(), "{path:?} accepted");
        }
    }

    #[test]
    fn hostile_paths() {
        let long = format!("/live/{}/playlist.m3u8", "a".repeat(600));
        for path in [
            "",
            "/",
            "//",
            "live/show/playlist.m3u8",
            "/live/show/",
            "/live/show",
            "/live/show/chunklist.m3u8",
            "/live/show/42.ts",
            "/az1/live/show/playlist.m3u8",
            "/az3/live/show/chunklist.m3u8",
            "/AZ1/live/show/chunklist.m3u8",
            "/live/../etc/passwd",
            "/live/../playlist.m3u8",
            "/az1/live/../show/chunklist.m3u8",
            "/az1/../show/chunklist.m3u8",
            "/az1/live/show/../chunklist.m3u8",
            "/live/sh ow/playlist.m3u8",
            "/live/sh%20ow/playlist.m3u8",
            "/live/%2e%2e/playlist.m3u8",
            "/az1/live/show%2Fx/chunklist.m3u8",
            "/live//show/playlist.m3u8",
            "/live/show/playlist.m3u8/",
            "/x/live/show/playlist.m3u8/extra",
            "/az1/live/show/extra/more/chunklist.m3u8",
            "/az1/live/show/index.json",
            "/az1/live/show/-1.ts",
            "/az1/live/show/42.ts",
            "/az1/live/show/1-2-3.ts",
            "/az1/live/show/01-2.ts",
            "/az1/live/show/1--2.ts",
            "/az1/live/show/1-.ts",
            "/az1/live/show/steering.json",
            "/live/show/steering.JSON",
            "/live/show/index.json",
            "/az1/live/show/+1.ts",
            "/az1/live/show/01.ts",
            "/az1/live/show/.ts",
            "/az1/live/show/1.TS",
            "/az1/live/show/1ts",
            "/az1/live/show/1-99999999999999999999999.ts",
            "/az1/live/show/chunklist.m3u8?x=1",
            "/live/shöw/playlist.m3u8",
            "/live/show\n/playlist.m3u8",
            long.as_str(),
        ] {
            assert!(Route::parse(path).is_err(), "{path:?} accepted");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(matches!(
            Route::parse("/az9/live/show/chunklist.m3u8"),
            Err(RouteError::Az { .. })
        ));
        assert!(matches!(
            Route::parse("/live/a.b/playlist.m3u8"),
            Err(RouteError::Name { .. })
        ));
        assert!(matches!(
            Route::parse("/a/b/c/d/e/f"),
            Err(RouteError::Shape { components: 6, .. })
        ));
    }
}

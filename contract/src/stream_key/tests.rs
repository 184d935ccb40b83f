use super::*;

fn parse(key: &str) -> Result<StreamKey, NameError> {
    StreamKey::parse("live", key)
}

/// Stream key → (name, token, relayed from), for keys that parse.
#[test]
fn accepted_keys() {
    type Token = Result<Option<&'static str>, DuplicateParam>;
    let dup = Err(DuplicateParam { param: TOKEN_PARAM });
    let cases: &[(&str, &str, Token, Option<Option<Az>>)] = &[
        ("show", "live/show", Ok(None), None),
        ("show?", "live/show", Ok(None), None),
        ("show?&&", "live/show", Ok(None), None),
        ("show?x=1", "live/show", Ok(None), None),
        ("show?token=1.ab", "live/show", Ok(Some("1.ab")), None),
        ("show?x=1&token=1.ab&y", "live/show", Ok(Some("1.ab")), None),
        // A bare or empty token is an empty one (refused as missing when auth is on).
        ("show?token", "live/show", Ok(Some("")), None),
        ("show?token=", "live/show", Ok(Some("")), None),
        // Two tokens: the name is fine, the token is refused when it is read.
        ("show?token=a&token=b", "live/show", dup.clone(), None),
        ("show?token&token", "live/show", dup, None),
        ("show?rendition=720p", "live/show/720p", Ok(None), None),
        (
            "show?rendition=720p&token=1.ab",
            "live/show/720p",
            Ok(Some("1.ab")),
            None,
        ),
        (
            "show?token=1.ab&rendition=720p",
            "live/show/720p",
            Ok(Some("1.ab")),
            None,
        ),
        // A bare `rendition` names none (as before this parser).
        ("show?rendition", "live/show", Ok(None), None),
        // Percent-encoding and `+` are decoded in names and values.
        ("show?rendition=72%30p", "live/show/720p", Ok(None), None),
        ("show?%74oken=1.ab", "live/show", Ok(Some("1.ab")), None),
        ("show?token=a+b", "live/show", Ok(Some("a b")), None),
        ("show?token=a%2Bb%3D", "live/show", Ok(Some("a+b=")), None),
        // A value keeps everything after the first `=`, and a second `?`.
        ("show?token=1.a=b?c", "live/show", Ok(Some("1.a=b?c")), None),
        // Invalid UTF-8 after decoding becomes U+FFFD (no valid token holds it).
        ("show?token=%FF", "live/show", Ok(Some("\u{FFFD}")), None),
        // Names are case-sensitive: `Token` is some other parameter.
        ("show?Token=1.ab", "live/show", Ok(None), None),
        (
            "show?zonecast-relay=az1",
            "live/show",
            Ok(None),
            Some(Some(Az::Az1)),
        ),
        (
            "show?token=1.ab&zonecast-relay=az2",
            "live/show",
            Ok(Some("1.ab")),
            Some(Some(Az::Az2)),
        ),
        // Any marker marks a relayed publish; its AZ is the first marker's, if it is one.
        ("show?zonecast-relay=x", "live/show", Ok(None), Some(None)),
        ("show?zonecast-relay", "live/show", Ok(None), Some(None)),
        (
            "show?zonecast-relay=az2&zonecast-relay=az1",
            "live/show",
            Ok(None),
            Some(Some(Az::Az2)),
        ),
        (
            "show?zonecast%2Drelay=az%31",
            "live/show",
            Ok(None),
            Some(Some(Az::Az1)),
        ),
    ];
    for (key, name, token, relayed) in cases {
        let parsed = parse(key).unwrap_or_else(|e| panic!("{key:?}: {e}"));
        assert_eq!(parsed.name().to_string(), *name, "{key:?}");
        assert_eq!(parsed.token(), *token, "{key:?}");
        assert_eq!(parsed.relayed_from(), *relayed, "{key:?}");
    }
}

#[test]
fn refused_keys() {
    type Expect = fn(&NameError) -> bool;
    let cases: &[(&str, Expect)] = &[
        ("", |e| matches!(e, NameError::Empty { what: "stream" })),
        ("?token=1.ab", |e| {
            matches!(e, NameError::Empty { what: "stream" })
        }),
        ("../x?token=1.ab", |e| {
            matches!(e, NameError::BadCharacter { .. })
        }),
        // The stream part is not decoded: it becomes an S3 key as it is.
        ("sh%6Fw", |e| matches!(e, NameError::BadCharacter { .. })),
        ("show?rendition=", |e| {
            matches!(e, NameError::Empty { what: "rendition" })
        }),
        ("show?rendition=a.b", |e| {
            matches!(e, NameError::BadCharacter { .. })
        }),
        ("show?rendition=../x", |e| {
            matches!(e, NameError::BadCharacter { .. })
        }),
        // Decoded, `%2f` is a slash: still refused.
        ("show?rendition=7%2f2", |e| {
            matches!(e, NameError::BadCharacter { .. })
        }),
        ("show?rendition=a&rendition=b", |e| {
            *e == NameError::DuplicateRendition
        }),
        ("show?rendition=a&rendition=a", |e| {
            *e == NameError::DuplicateRendition
        }),
    ];
    for (key, expected) in cases {
        match parse(key) {
            Ok(k) => panic!("{key:?} was accepted as {}", k.name()),
            Err(e) => assert!(expected(&e), "{key:?}: {e:?}"),
        }
    }
    assert!(StreamKey::parse("li ve", "show").is_err());
}

#[test]
fn relayed_keys() {
    let relayed = |key: &str, from, token| parse(key).unwrap().relayed(from, token);
    assert_eq!(relayed("show", Az::Az1, None), "show?zonecast-relay=az1");
    // The encoder's query is kept as sent (token, rendition, unknown parameters, their
    // encoding); an old marker is not doubled.
    assert_eq!(
        relayed("show?token=1.ab&rendition=720p", Az::Az2, None),
        "show?token=1.ab&rendition=720p&zonecast-relay=az2"
    );
    assert_eq!(
        relayed("show?a=%41+b&&rendition=72%30p&flag", Az::Az1, None),
        "show?a=%41+b&rendition=72%30p&flag&zonecast-relay=az1"
    );
    assert_eq!(
        relayed("show?token=1.ab&zonecast-relay=az1", Az::Az2, Some("9.cd")),
        "show?token=9.cd&zonecast-relay=az2"
    );
    // A fresh token replaces every token of the key, and is encoded if it must be.
    assert_eq!(
        relayed("show?token=a&x=1&token=b", Az::Az1, Some("1.a+b")),
        "show?x=1&token=1.a%2Bb&zonecast-relay=az1"
    );
    // The relayed key names the same stream, carries the token, and is marked.
    for key in [
        "show?token=1.ab",
        "show?rendition=720p&token=1.ab&zonecast-relay=x",
    ] {
        let original = parse(key).unwrap();
        let again = parse(&original.relayed(Az::Az1, None)).unwrap();
        assert_eq!(again.name(), original.name(), "{key:?}");
        assert_eq!(again.token(), Ok(Some("1.ab")), "{key:?}");
        assert_eq!(again.relayed_from(), Some(Some(Az::Az1)), "{key:?}");
    }
}

/// The fuzz target's oracle (`fuzz/fuzz_targets/stream_key.rs`) over every key of up to five
/// pieces from an alphabet of the parser's tricky parts: no panic, only valid names, and a
/// relayed key parses back to the same name and token, marked.
#[test]
fn every_small_key_round_trips_through_the_relay() {
    const PIECES: [&str; 14] = [
        "show",
        "?",
        "&",
        "=",
        "token",
        "rendition",
        "720p",
        "zonecast-relay",
        "az1",
        "%",
        "%4",
        "%41",
        "+",
        "\u{e9}",
    ];
    let mut keys = vec![String::new()];
    let mut accepted = 0;
    for _ in 0..5 {
        keys = keys
            .iter()
            .flat_map(|k| PIECES.iter().map(move |p| format!("{k}{p}")))
            .collect();
        for key in &keys {
            let Ok(parsed) = parse(key) else { continue };
            accepted += 1;
            let name = parsed.name();
            for part in [name.app(), name.stream()]
                .into_iter()
                .chain(name.rendition())
            {
                assert!(
                    part.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                    "{key:?}"
                );
            }
            for token in [None, Some("1.a+b&c=d")] {
                let again = parse(&parsed.relayed(Az::Az2, token)).unwrap();
                assert_eq!(again.name(), parsed.name(), "{key:?}");
                assert_eq!(again.relayed_from(), Some(Some(Az::Az2)), "{key:?}");
                let expected = token.map_or(parsed.token(), |t| Ok(Some(t)));
                assert_eq!(again.token(), expected, "{key:?}");
            }
        }
    }
    assert!(accepted > 1000, "{accepted}");
}

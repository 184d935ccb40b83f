use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

const NOW: u64 = 1_800_000_000;

fn secret() -> PublishSecret {
    PublishSecret::from_text("correct horse battery staple 42").unwrap()
}

fn name(app: &str, stream: &str) -> StreamName {
    StreamName::new(app, stream).unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn the_canonical_string_is_documented_exactly() {
    assert_eq!(
        canonical_string(&name("live", "show"), "1800000000"),
        "zonecast-publish-v1\nlive\nshow\n1800000000"
    );
}

/// A known-answer vector, so another implementation (a shell script with openssl, an
/// encoder's control panel) can be checked against this one:
/// `printf 'zonecast-publish-v1\nlive\nshow\n1800000000' | openssl dgst -sha256 -hmac 'correct horse battery staple 42'`
#[test]
fn known_answer() {
    let token = mint(&secret(), &name("live", "show"), 1_800_000_000);
    assert_eq!(
        token,
        "1800000000.b055f7ec81e4a461ae0f16efbb0b45bd5719b3373d685b9be01280f25e962a65"
    );
}

#[test]
fn a_valid_token_is_accepted_in_hex_and_base64url() {
    let n = name("live", "show");
    let token = mint(&secret(), &n, NOW + 60);
    assert_eq!(verify(&secret(), &n, &token, NOW), Ok(NOW + 60));
    // Upper-case hex too.
    assert_eq!(
        verify(&secret(), &n, &token.to_ascii_uppercase(), NOW),
        Ok(NOW + 60)
    );
    let (expiry, hex_sig) = token.split_once('.').unwrap();
    let b64 = URL_SAFE_NO_PAD.encode(hex::decode(hex_sig).unwrap());
    assert_eq!(b64.len(), 43);
    assert_eq!(
        verify(&secret(), &n, &format!("{expiry}.{b64}"), NOW),
        Ok(NOW + 60)
    );
}

#[test]
fn an_expired_token_is_refused_as_expired() {
    let n = name("live", "show");
    let token = mint(&secret(), &n, NOW - 30);
    assert_eq!(
        verify(&secret(), &n, &token, NOW),
        Err(TokenError::Expired {
            expiry: NOW - 30,
            ago: 30
        })
    );
    // The second it expires.
    let token = mint(&secret(), &n, NOW);
    assert!(matches!(
        verify(&secret(), &n, &token, NOW),
        Err(TokenError::Expired { ago: 0, .. })
    ));
}

#[test]
fn a_token_for_another_stream_or_app_is_refused() {
    let token = mint(&secret(), &name("live", "show"), NOW + 60);
    for other in [
        name("live", "other"),
        name("vod", "show"),
        name("liv", "eshow"),
    ] {
        assert_eq!(
            verify(&secret(), &other, &token, NOW),
            Err(TokenError::BadSignature),
            "{other}"
        );
    }
}

#[test]
fn a_token_made_with_another_secret_is_refused() {
    let n = name("live", "show");
    let other = PublishSecret::from_text("another secret, also long enough").unwrap();
    let token = mint(&other, &n, NOW + 60);
    assert_eq!(
        verify(&secret(), &n, &token, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn a_tampered_expiry_is_a_bad_signature_not_a_longer_token() {
    let n = name("live", "show");
    let token = mint(&secret(), &n, NOW - 30);
    let (_, signature) = token.split_once('.').unwrap();
    for expiry in [
        (NOW + 3600).to_string(),
        format!("0{}", NOW - 30),
        format!("{}", NOW - 29),
    ] {
        assert_eq!(
            verify(&secret(), &n, &format!("{expiry}.{signature}"), NOW),
            Err(TokenError::BadSignature),
            "{expiry}"
        );
    }
    // A flipped signature digit.
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert_eq!(
        verify(&secret(), &n, &flipped, NOW - 60),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn malformed_tokens_are_refused_without_panicking() {
    let n = name("live", "show");
    let good = mint(&secret(), &n, NOW + 60);
    let (expiry, signature) = good.split_once('.').unwrap();
    let cases = [
        String::new(),
        "abc".into(),
        ".".into(),
        format!(".{signature}"),
        format!("{expiry}."),
        expiry.to_string(),
        format!("-1.{signature}"),
        format!("+{expiry}.{signature}"),
        format!("1e9.{signature}"),
        format!("{}.{signature}", "9".repeat(21)),
        format!("{}.{signature}", "9".repeat(20)), // > u64::MAX
        format!("{expiry}.{}", &signature[..63]),
        format!("{expiry}.{}z", &signature[..63]),
        format!("{expiry}.{signature}00"),
        format!("{expiry}.{}", "=".repeat(43)),
        format!("{expiry}.{signature}.{signature}"),
        format!("{expiry}.é{}", &signature[2..]),
    ];
    for token in cases {
        assert!(
            matches!(
                verify(&secret(), &n, &token, NOW),
                Err(TokenError::Malformed(_))
            ),
            "{token:?}: {:?}",
            verify(&secret(), &n, &token, NOW)
        );
    }
}

#[test]
fn the_token_comes_from_the_query_string() {
    assert_eq!(token_param("show"), Ok(None));
    assert_eq!(token_param("show?"), Ok(None));
    assert_eq!(token_param("show?x=1"), Ok(None));
    assert_eq!(token_param("show?token=a.b"), Ok(Some("a.b".into())));
    assert_eq!(token_param("show?x=1&token=a.b&y"), Ok(Some("a.b".into())));
    assert_eq!(token_param("show?token"), Ok(Some(String::new())));
    assert!(token_param("show?token=a&token=b").is_err());
}

#[test]
fn the_policy_decides() {
    let n = name("live", "show");
    let key = |token: &str| format!("show?token={token}");
    let s = secret();
    let off = |key: &str| check_publish(PublishAuthPolicy::Off, Some(&s), &n, key, at(NOW));
    assert_eq!(off("show"), Ok(()));
    assert_eq!(off(&key("junk")), Ok(()));
    assert_eq!(
        check_publish(PublishAuthPolicy::Off, None, &n, "show", at(NOW)),
        Ok(())
    );

    let on = |key: &str, now| check_publish(PublishAuthPolicy::Required, Some(&s), &n, key, now);
    let token = mint(&s, &n, NOW + 60);
    assert_eq!(on(&key(&token), at(NOW)), Ok(()));
    assert_eq!(on("show", at(NOW)), Err(TokenError::Missing));
    assert_eq!(on("show?token=", at(NOW)), Err(TokenError::Missing));
    assert_eq!(
        on(&key(&token), at(NOW + 61)),
        Err(TokenError::Expired {
            expiry: NOW + 60,
            ago: 1
        })
    );
    assert_eq!(
        check_publish(PublishAuthPolicy::Required, None, &n, &key(&token), at(NOW)),
        Err(TokenError::NoSecret)
    );
}

#[test]
fn refusals_never_show_the_secret_or_the_signature() {
    let n = name("live", "show");
    let token = mint(&secret(), &n, NOW - 1);
    let (_, signature) = token.split_once('.').unwrap();
    let wrong = mint(
        &PublishSecret::from_text("another secret, also long enough").unwrap(),
        &n,
        NOW + 60,
    );
    let errors = [
        verify(&secret(), &n, &token, NOW).unwrap_err(),
        verify(&secret(), &n, &wrong, NOW).unwrap_err(),
        verify(&secret(), &n, "x.y", NOW).unwrap_err(),
    ];
    for e in errors {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(signature), "{text}");
        assert!(!text.contains(&wrong[11..]), "{text}");
        assert!(!text.contains("horse"), "{text}");
    }
    assert!(!format!("{:?}", secret()).contains("horse"));
}

#[test]
fn secrets_are_trimmed_and_must_not_be_short() {
    assert_eq!(
        PublishSecret::from_text("  0123456789abcdef\n").unwrap(),
        PublishSecret::from_text("0123456789abcdef").unwrap()
    );
    assert!(matches!(
        PublishSecret::from_text(" \n"),
        Err(SecretError::Empty)
    ));
    assert!(matches!(
        PublishSecret::from_text("short"),
        Err(SecretError::TooShort { len: 5, .. })
    ));
}

#[test]
fn ttls() {
    assert_eq!(parse_ttl("24h"), Ok(Duration::from_secs(86_400)));
    assert_eq!(parse_ttl("90m"), Ok(Duration::from_secs(5_400)));
    assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
    assert_eq!(parse_ttl("3600"), Ok(Duration::from_secs(3_600)));
    assert_eq!(parse_ttl("45s"), Ok(Duration::from_secs(45)));
    for bad in ["", "h", "1w", "-1h", "0", "1.5h", "99999999999999999999d"] {
        assert!(parse_ttl(bad).is_err(), "{bad}");
    }
}

#[test]
fn one_token_serves_every_rendition_of_its_stream() {
    let token = mint(&secret(), &name("live", "show"), NOW + 60);
    for key in [
        format!("show?rendition=720p&token={token}"),
        format!("show?token={token}&rendition=360p"),
    ] {
        let n = StreamName::from_publish("live", &key).unwrap();
        assert!(n.rendition().is_some());
        assert_eq!(
            check_publish(
                PublishAuthPolicy::Required,
                Some(&secret()),
                &n,
                &key,
                at(NOW)
            ),
            Ok(()),
            "{key}"
        );
    }
    // Another stream's renditions are not covered.
    let key = format!("other?rendition=720p&token={token}");
    let n = StreamName::from_publish("live", &key).unwrap();
    assert!(
        check_publish(
            PublishAuthPolicy::Required,
            Some(&secret()),
            &n,
            &key,
            at(NOW)
        )
        .is_err()
    );
}

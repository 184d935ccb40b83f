use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zonecast_contract::StreamName;

use super::*;
use crate::auth::{PublishSecret, verify};

const NOW: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn secret() -> PublishSecret {
    PublishSecret::from_text("correct horse battery staple 42").unwrap()
}

fn name(app: &str, stream: &str) -> StreamName {
    StreamName::new(app, stream).unwrap()
}

#[test]
fn the_token_command_reads_the_secret_like_the_ingest() {
    let dir = std::env::temp_dir().join(format!("zc-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, "correct horse battery staple 42\n").unwrap();
    let args = IngestArgs::parse_flags([
        "zonecast-ingest".as_ref(),
        "--publish-secret-file".as_ref(),
        path.as_os_str(),
    ])
    .unwrap();
    let token = TokenArgs {
        app: "live".into(),
        stream: "show".into(),
        ttl: Duration::from_secs(86_400),
    };
    let minted = token_command(args, &token, at(NOW)).unwrap();
    assert_eq!(minted.expiry, NOW + 86_400);
    assert_eq!(
        verify(&secret(), &name("live", "show"), &minted.token, NOW),
        Ok(NOW + 86_400)
    );
    // No secret: a clear error, not a token nobody accepts.
    assert!(matches!(
        token_command(IngestArgs::default(), &token, at(NOW)),
        Err(TokenCommandError::NoSecret)
    ));
    let bad_name = TokenArgs {
        stream: "../x".into(),
        ..token
    };
    let args = IngestArgs::parse_flags([
        "zonecast-ingest",
        "--publish-secret",
        "correct horse battery staple 42",
    ])
    .unwrap();
    assert!(matches!(
        token_command(args, &bad_name, at(NOW)),
        Err(TokenCommandError::Name(_))
    ));
}

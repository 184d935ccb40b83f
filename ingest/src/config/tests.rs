use std::{path::PathBuf, time::Duration};

use zonecast_contract::{Az, ShardSpec};

use super::*;
use crate::{auth::PublishSecret, relay::RelayConfig, storage::spool::SpoolFullPolicy};

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zc-config-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A TOML file with `text`.
fn file(name: &str, text: &str) -> PathBuf {
    let path = scratch(name).join("ingest.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Flags alone (no environment), resolved.
fn resolve(flags: &[&str]) -> Result<IngestConfig, ConfigError> {
    let argv = std::iter::once("zonecast-ingest").chain(flags.iter().copied());
    IngestArgs::parse_flags(argv).unwrap().resolve()
}

#[test]
fn defaults_come_from_the_one_definition() {
    let d = IngestConfig::default();
    assert_eq!(d.az, Az::Az1);
    assert_eq!(d.listen, ([0, 0, 0, 0], 1935).into());
    assert_eq!(d.health_listen, ([0, 0, 0, 0], 8935).into());
    assert_eq!(
        (d.bucket.as_str(), d.region.as_str()),
        ("zonecast", "us-east-1")
    );
    assert_eq!((d.target_duration_ms, d.window), (2000, 6));
    assert_eq!(d.duplicate_publish, DuplicatePublishPolicy::ReplaceOld);
    assert_eq!((d.idle_timeout_secs, d.max_connections), (30, 256));
    assert_eq!((d.max_message_bytes, d.max_chunk_size), (8 << 20, 1 << 20));
    assert_eq!((d.reconnect_grace_secs, d.drain_timeout_secs), (10, 10));
    assert_eq!(d.on_unpublish, UnpublishPolicy::Grace);
    assert_eq!(d.publish_auth, PublishAuthPolicy::Off);
    assert_eq!(
        (d.upload_memory_max_bytes, d.spool_max_bytes),
        (64 << 20, 2 << 30)
    );
    assert_eq!(d.spool_full, SpoolFullPolicy::DropOldest);
    assert_eq!(d.relay, RelayConfig::default());
    assert_eq!(
        (&d.endpoint, &d.spool_dir, d.shard, &d.relay_to),
        (&None, &None, None, &None)
    );
    d.validate().unwrap();
    // An empty file and an empty command line are the defaults too.
    assert_eq!(
        toml::from_str::<IngestConfig>("").unwrap(),
        IngestConfig::default()
    );
    assert_eq!(resolve(&[]).unwrap(), IngestConfig::default());
}

#[test]
fn file_then_flags() {
    let path = file(
        "file-then-flags",
        "az = \"az2\"\nwindow = 8\nduplicate_publish = \"reject-new\"\non_unpublish = \"end\"\nreconnect_grace_secs = 4\n",
    );
    let config = resolve(&["--config", path.to_str().unwrap(), "--window", "10"]).unwrap();
    assert_eq!(config.az, Az::Az2);
    assert_eq!(config.window, 10);
    assert_eq!(config.duplicate_publish, DuplicatePublishPolicy::RejectNew);
    assert_eq!(config.target_duration_ms, 2000);
    assert_eq!(config.on_unpublish, UnpublishPolicy::End);
    assert_eq!(config.reconnect_grace_secs, 4);
    assert_eq!(config.drain_timeout_secs, 10);
    assert_eq!(config.spool_full, SpoolFullPolicy::DropOldest);
    let spool: IngestConfig = toml::from_str(
        "spool_dir = \"/var/spool/zc\"\nspool_max_bytes = 1000\nspool_full = \"drop-newest\"\n",
    )
    .unwrap();
    assert_eq!(spool.spool_full, SpoolFullPolicy::DropNewest);
    assert_eq!(spool.spool_max_bytes, 1000);
    let config = resolve(&[
        "--spool-dir",
        "/tmp/s",
        "--spool-max-bytes",
        "5",
        "--spool-full",
        "drop-newest",
    ])
    .unwrap();
    assert_eq!(config.spool_dir, Some(PathBuf::from("/tmp/s")));
    assert_eq!(config.spool_full, SpoolFullPolicy::DropNewest);
}

/// Flag over file over default, for a setting with a default, one without, and a policy; a
/// blank flag for a setting without a default unsets it over the file. (The environment's
/// place, between flag and file, is in `environment_between_flag_and_file`.)
#[test]
fn precedence_without_the_environment() {
    let path = file(
        "precedence",
        "window = 7\nrelay_to = \"peer:1935\"\nspool_full = \"drop-newest\"\nshard = \"1/2\"\n",
    );
    let path = path.to_str().unwrap();
    #[rustfmt::skip]
    let rows: &[(&[&str], &str)] = &[
        // flags                                             window, relay_to, spool_full, shard
        (&[],                                                  "6 None DropOldest None"),
        (&["--config", path],                                  "7 Some(\"peer:1935\") DropNewest Some(1/2)"),
        (&["--config", path, "--window", "9"],                 "9 Some(\"peer:1935\") DropNewest Some(1/2)"),
        (&["--window", "9", "--config", path],                 "9 Some(\"peer:1935\") DropNewest Some(1/2)"),
        (&["--config", path, "--relay-to", "other:1935"],      "7 Some(\"other:1935\") DropNewest Some(1/2)"),
        (&["--config", path, "--relay-to", ""],                "7 None DropNewest Some(1/2)"),
        (&["--config", path, "--shard", " "],                  "7 Some(\"peer:1935\") DropNewest None"),
        (&["--config", path, "--spool-full", "drop-oldest"],   "7 Some(\"peer:1935\") DropOldest Some(1/2)"),
        (&["--relay-to", "other:1935", "--shard", "0/3"],      "6 Some(\"other:1935\") DropOldest Some(0/3)"),
    ];
    for (flags, want) in rows {
        let c = resolve(flags).unwrap();
        let shard = c.shard.map(|s| s.to_string());
        let got = format!(
            "{} {:?} {:?} {:?}",
            c.window, c.relay_to, c.spool_full, shard
        )
        .replace("Some(\"1/2\")", "Some(1/2)")
        .replace("Some(\"0/3\")", "Some(0/3)");
        assert_eq!(&got, want, "{flags:?}");
    }
}

/// Environment variables of a child process.
type Env<'a> = &'a [(&'a str, &'a str)];

/// Each row runs `resolve_in_child` in a child process of this test binary with its own
/// environment (changing this process's environment would race the other tests).
#[test]
fn environment_between_flag_and_file() {
    let path = file("environment", "window = 7\nshard = \"1/2\"\n");
    let path = path.to_str().unwrap();
    #[rustfmt::skip]
    let rows: &[(&[&str], Env, &str)] = &[
        // flags,                            environment,                                      window and shard
        (&["--config", path],                &[],                                              "7 Some(1/2)"),
        (&["--config", path],                &[("ZONECAST_WINDOW", "8")],                      "8 Some(1/2)"),
        (&["--config", path, "--window", "9"], &[("ZONECAST_WINDOW", "8")],                    "9 Some(1/2)"),
        (&[],                                &[("ZONECAST_CONFIG", path), ("ZONECAST_WINDOW", "8")], "8 Some(1/2)"),
        (&[],                                &[("ZONECAST_CONFIG", path)],                     "7 Some(1/2)"),
        (&["--config", path],                &[("ZONECAST_SHARD", "")],                        "7 None"),
        (&["--config", path, "--shard", "0/2"], &[("ZONECAST_SHARD", "")],                     "7 Some(0/2)"),
        (&[],                                &[("ZONECAST_SHARD", "2/3")],                     "6 Some(2/3)"),
        (&[],                                &[],                                              "6 None"),
    ];
    for (flags, env, want) in rows {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args([
            "--exact",
            "config::tests::resolve_in_child",
            "--nocapture",
            "--test-threads=1",
        ]);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ZONECAST_") {
                child.env_remove(key);
            }
        }
        child
            .envs(env.iter().copied())
            .env("ZONECAST_TEST_CHILD_ARGS", flags.join("\n"));
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let got = stdout
            .lines()
            .find_map(|l| l.split_once("RESOLVED ").map(|(_, rest)| rest))
            .unwrap_or_else(|| {
                panic!(
                    "{flags:?} {env:?}: {stdout}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        assert_eq!(got, *want, "{flags:?} {env:?}");
    }
}

/// The child of `environment_between_flag_and_file`; passes at once when run on its own.
#[test]
fn resolve_in_child() {
    let Some(args) = std::env::var_os("ZONECAST_TEST_CHILD_ARGS") else {
        return;
    };
    let args = args.to_string_lossy().into_owned();
    let argv = std::iter::once("zonecast-ingest").chain(args.lines().filter(|l| !l.is_empty()));
    let config = <IngestArgs as clap::Parser>::try_parse_from(argv)
        .unwrap()
        .resolve()
        .unwrap();
    let shard = config.shard.map(|s| s.to_string());
    println!(
        "RESOLVED {} {}",
        config.window,
        format!("{shard:?}").replace('"', "")
    );
}

#[test]
fn unknown_keys_are_rejected() {
    for (text, name) in [
        ("azz = \"az1\"", "azz"),
        ("Window = 6", "Window"),
        ("target-duration-ms = 2000", "target-duration-ms"),
        ("config = \"other.toml\"", "config"),
        ("command = \"token\"", "command"),
        ("[relay]\nbogus = 1\n", "bogus"),
        ("[relay]\nmax_queue_messages = 1\nwindow = 6\n", "window"),
    ] {
        let err = toml::from_str::<IngestConfig>(text).unwrap_err();
        assert!(err.to_string().contains(name), "{text}: {err}");
        let path = file("unknown", text);
        let err = IngestConfig::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("ingest.toml"),
            "{text}: {err}"
        );
    }
    for flags in [
        &["--windw", "6"][..],
        &["--relay", "x"],
        &["--max-queue-bytes", "1"],
    ] {
        let argv = std::iter::once("zonecast-ingest").chain(flags.iter().copied());
        assert!(IngestArgs::parse_flags(argv).is_err(), "{flags:?}");
    }
}

#[test]
fn publish_auth_needs_a_secret_from_one_place() {
    let dir = scratch("secret");
    let path = dir.join("secret");
    std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
    let path = path.to_str().unwrap();
    let required = ["--publish-auth", "required"];
    let err = resolve(&required).unwrap_err();
    assert!(err.to_string().contains("no publish secret"), "{err}");
    let config = resolve(&[&required[..], &["--publish-secret-file", path]].concat()).unwrap();
    assert_eq!(
        config.publish_secret,
        Some(PublishSecret::from_text("0123456789abcdef0123456789abcdef").unwrap())
    );
    let both = [
        &required[..],
        &[
            "--publish-secret",
            "0123456789abcdef0123456789abcdef",
            "--publish-secret-file",
            path,
        ],
    ]
    .concat();
    assert!(resolve(&both).unwrap_err().to_string().contains("both"));
    let missing = dir.join("nope");
    let missing = [
        &required[..],
        &["--publish-secret-file", missing.to_str().unwrap()],
    ]
    .concat();
    let err = resolve(&missing).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    // A short secret is refused while parsing the flag.
    // The error does not show the value.
    let short = IngestArgs::parse_flags(["zonecast-ingest", "--publish-secret", "hunter2-secret"]);
    let err = short.unwrap_err().to_string();
    assert!(
        err.contains("at least") && !err.contains("hunter2"),
        "{err}"
    );
    let from_toml: IngestConfig =
        toml::from_str("publish_auth = \"required\"\npublish_secret_file = \"/run/x\"\n").unwrap();
    assert_eq!(from_toml.publish_auth, PublishAuthPolicy::Required);
}

#[test]
fn the_token_subcommand_parses() {
    let args = IngestArgs::parse_flags([
        "zonecast-ingest",
        "token",
        "live",
        "show",
        "--ttl",
        "90m",
        "--publish-secret-file",
        "/tmp/s",
    ])
    .unwrap();
    match &args.command {
        Some(IngestCommand::Token(t)) => {
            assert_eq!((t.app.as_str(), t.stream.as_str()), ("live", "show"));
            assert_eq!(t.ttl, Duration::from_secs(5400));
        }
        other => panic!("{other:?}"),
    }
    // The global flag after the subcommand reaches the settings.
    let mut config = IngestConfig::default();
    args.given.apply(&mut config).unwrap();
    assert_eq!(config.publish_secret_file, Some(PathBuf::from("/tmp/s")));
}

#[test]
fn out_of_range_is_rejected() {
    assert!(resolve(&["--target-duration-ms", "50"]).is_err());
    assert!(resolve(&["--window", "2"]).is_err());
}

#[test]
fn shard_from_flag_text_and_file() {
    let config = resolve(&["--shard", "1/2"]).unwrap();
    assert_eq!(config.shard, Some(ShardSpec::new(1, 2).unwrap()));
    assert_eq!(resolve(&["--shard", " "]).unwrap().shard, None);
    for bad in ["2/2", "0/0", "1", "a/b"] {
        let err = IngestArgs::parse_flags(["zonecast-ingest", "--shard", bad]).unwrap_err();
        assert!(err.to_string().contains("shard"), "{bad}: {err}");
    }
    let file: IngestConfig = toml::from_str("shard = \"0/3\"\n").unwrap();
    assert_eq!(file.shard, Some(ShardSpec::new(0, 3).unwrap()));
    assert!(toml::from_str::<IngestConfig>("shard = \"3/3\"\n").is_err());
}

#[test]
fn relay_to_and_relay_settings() {
    let config = resolve(&["--relay-to", "10.0.2.15:1935"]).unwrap();
    assert_eq!(config.relay_to.as_deref(), Some("10.0.2.15:1935"));
    assert_eq!(config.relay, RelayConfig::default());
    // Empty: off (an unset ZONECAST_RELAY_TO in a unit file's environment).
    assert_eq!(resolve(&["--relay-to", ""]).unwrap().relay_to, None);
    for bad in ["no-port", ":1935", "host:0", "host:http"] {
        assert!(resolve(&["--relay-to", bad]).is_err(), "{bad}");
    }
    // A name is fine (resolved at each attempt), and the queue and backoff from the file.
    let file: IngestConfig = toml::from_str(
        "relay_to = \"ec2-203-0-113-20.eu-west-1.compute.amazonaws.com:1935\"\n[relay]\nmax_queue_messages = 100\nbackoff_max_ms = 8000\n",
    )
    .unwrap();
    file.validate().unwrap();
    assert_eq!(file.relay.max_queue_messages, 100);
    assert_eq!(file.relay.backoff_max_ms, 8000);
    assert_eq!(
        file.relay.backoff_min_ms,
        RelayConfig::default().backoff_min_ms
    );
}

/// Every setting has a flag named after its file key and a `ZONECAST_` variable named after
/// that, and a doc: the one definition keeps the three spellings in step.
#[test]
fn every_setting_has_flag_env_and_doc_named_after_its_key() {
    use clap::Args;
    let command = IngestConfig::augment_args(clap::Command::new("settings"));
    for arg in command.get_arguments() {
        let key = arg.get_id().as_str();
        assert_eq!(
            arg.get_long(),
            Some(key.replace('_', "-").as_str()),
            "{key}"
        );
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        assert_eq!(
            env,
            Some(format!("ZONECAST_{}", key.to_uppercase())),
            "{key}"
        );
        assert!(arg.get_help().is_some(), "{key} has no doc");
    }
}

/// README.md's table of the ingest's flags is rendered from the definition.
#[test]
fn readme_flag_table_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (before, rest) = readme
        .split_once(&format!("{FLAG_TABLE_BEGIN}\n"))
        .unwrap_or_else(|| panic!("README.md has no line {FLAG_TABLE_BEGIN}"));
    let (current, after) = rest
        .split_once(&format!("{FLAG_TABLE_END}\n"))
        .unwrap_or_else(|| panic!("README.md has no line {FLAG_TABLE_END}"));
    let table = flag_table();
    if std::env::var_os("ZONECAST_UPDATE_GOLDEN").is_some() {
        let text = format!("{before}{FLAG_TABLE_BEGIN}\n{table}{FLAG_TABLE_END}\n{after}");
        std::fs::write(&path, text).unwrap();
        return;
    }
    assert!(
        current == table,
        "README.md's ingest flag table differs from ingest/src/config; regenerate it with\n  \
         ZONECAST_UPDATE_GOLDEN=1 cargo test -p zonecast-ingest --lib config::tests::readme\n\
         and review the diff. Generated:\n{table}"
    );
}

/// The config's Debug (logged at startup) never shows the publish secret.
#[test]
fn the_config_never_shows_the_publish_secret() {
    let config = IngestConfig {
        publish_auth: crate::auth::PublishAuthPolicy::Required,
        publish_secret: Some(
            crate::auth::PublishSecret::from_text("correct horse battery staple 42")
                .expect("secret"),
        ),
        ..Default::default()
    };
    assert!(!format!("{config:?}").contains("horse"));
}

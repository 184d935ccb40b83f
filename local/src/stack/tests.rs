use super::*;
use super::{args::StackDefaults, spawn::ingest_flags};

#[test]
fn pair_ports_and_shards() {
    let args =
        <StackDefaults as clap::Parser>::parse_from(["zonecast-local", "--pairs", "2"]).stack;
    let addrs: Vec<String> = IngestId::all(args.pairs)
        .map(|id| {
            let (rtmp, health) = args.ingest_addrs(id);
            format!("{id} {rtmp} {health}")
        })
        .collect();
    assert_eq!(
        addrs,
        [
            "az1 127.0.0.1:1935 127.0.0.1:8935",
            "az2 127.0.0.1:1936 127.0.0.1:8936",
            "p1-az1 127.0.0.1:1937 127.0.0.1:8937",
            "p1-az2 127.0.0.1:1938 127.0.0.1:8938",
        ]
    );
    assert_eq!(args.shard(1), Some(ShardSpec::new(1, 2).unwrap()));
    args.check_ports().unwrap();
    let clash = <StackDefaults as clap::Parser>::parse_from([
        "zonecast-local",
        "--pairs",
        "2",
        "--az2-listen",
        "127.0.0.1:1937",
    ])
    .stack;
    let err = clash.check_ports().unwrap_err().to_string();
    assert!(
        err.contains("p1-az1 and az2 would both listen on 127.0.0.1:1937"),
        "{err}"
    );
    let entry_clash = <StackDefaults as clap::Parser>::parse_from([
        "zonecast-local",
        "--entry-listen",
        "127.0.0.1:1935",
    ])
    .stack;
    let err = entry_clash.check_ports().unwrap_err().to_string();
    assert!(
        err.contains(
            "az1 and the entry point (--entry-listen) would both listen on 127.0.0.1:1935"
        ),
        "{err}"
    );
    let one = <StackDefaults as clap::Parser>::parse_from(["zonecast-local"]).stack;
    assert_eq!(one.entry_listen.to_string(), "127.0.0.1:1934");
    assert_eq!((one.pairs, one.shard(0)), (1, None));
    assert!(
        <StackDefaults as clap::Parser>::try_parse_from(["zonecast-local", "--pairs", "0"])
            .is_err()
    );
}

/// The stack's ingest command line parses with the ingest's own definition and sets what
/// it means to (a renamed ingest flag fails here, not at `zonecast-local` start-up).
#[test]
fn ingest_flags_are_the_ingests_own() {
    use zonecast_ingest::config::{IngestArgs, PublishAuthPolicy};
    let args = <StackDefaults as clap::Parser>::parse_from([
        "zonecast-local",
        "--pairs",
        "2",
        "--window",
        "8",
        "--upload-memory-max-bytes",
        "2000000",
    ])
    .stack;
    let id = IngestId {
        pair: 1,
        az: Az::Az2,
    };
    let (listen, health) = args.ingest_addrs(id);
    let spool = std::path::Path::new("/tmp/zc/spool/p1-az2");
    let targets = IngestTargets {
        endpoint: "http://127.0.0.1:9000",
        purge_url: "http://127.0.0.1:8080/_zonecast/invalidate",
        spool_dir: spool,
        relay_to: Some(args.ingest_addrs(id.peer()).0),
        shard: args.shard(1),
    };
    let flags = ingest_flags(id, listen, health, &targets, &args, false);
    let argv = std::iter::once("zonecast-ingest".into()).chain(flags);
    let config = IngestArgs::parse_flags(argv).unwrap().resolve().unwrap();
    assert_eq!(
        (config.az, config.listen, config.health_listen),
        (Az::Az2, listen, health)
    );
    assert_eq!(config.endpoint.as_deref(), Some(targets.endpoint));
    assert_eq!(config.edge_purge_url.as_deref(), Some(targets.purge_url));
    assert_eq!(config.spool_dir.as_deref(), Some(spool));
    assert_eq!(config.relay_to, Some("127.0.0.1:1937".to_owned()));
    assert_eq!(config.shard, args.shard(1));
    assert_eq!(
        (config.window, config.upload_memory_max_bytes),
        (8, 2_000_000)
    );
    assert_eq!(config.publish_auth, PublishAuthPolicy::Off);
    // What the stack does not set is the ingest's default, as are the stack's own defaults.
    let defaults = zonecast_ingest::config::IngestConfig::default();
    assert_eq!(config.target_duration_ms, defaults.target_duration_ms);
    assert_eq!(config.reconnect_grace_secs, defaults.reconnect_grace_secs);
    assert_eq!(config.duplicate_publish, defaults.duplicate_publish);
}

#[test]
fn shard_of_names_the_pair_and_its_urls() {
    let out = shard_of(&ShardOfArgs {
        name: "live/show?rendition=720p".into(),
        pairs: 2,
    })
    .unwrap();
    assert!(out.starts_with("live/show: pair 1 of 2"), "{out}");
    assert!(
        out.contains("rtmp://127.0.0.1:1937/live/show for az1"),
        "{out}"
    );
    assert!(
        shard_of(&ShardOfArgs {
            name: "show".into(),
            pairs: 2
        })
        .is_err()
    );
}

//! What the stack prints once everything is up: where to publish and what to open.

use super::*;

pub(super) fn print_banner(
    args: &StackArgs,
    edge: SocketAddr,
    entry: SocketAddr,
    endpoint: &str,
    data_dir: &std::path::Path,
    publish_secret_file: Option<&std::path::Path>,
) {
    let port = edge.port();
    // The example stream's pair: with one pair, pair 0's (the --azN-listen) addresses.
    let pair = zonecast_contract::shard::pair_for("live", "show", args.pairs);
    let a1 = args.ingest_addrs(IngestId { pair, az: Az::Az1 }).0;
    let a2 = args.ingest_addrs(IngestId { pair, az: Az::Az2 }).0;
    let (key, auth) = match publish_secret_file {
        Some(file) => (
            "show?token=$TOKEN",
            format!(
                "\n  Publish auth is on: every publish needs a token, minted with\n    TOKEN=$(zonecast-local ingest token live show --ttl 24h --publish-secret-file {})\n",
                file.display()
            ),
        ),
        None => (
            "show",
            "\n  Publish auth is off (--publish-secret-file FILE turns it on).\n".to_owned(),
        ),
    };
    // One queue per output, which drops when full and reconnects by itself (README.md,
    // "Publish"): a hung AZ must not stall the other.
    const TEE_QUEUE: &str = "drop_pkts_on_overflow=1:queue_size=600:attempt_recovery=1:recover_any_error=1:recovery_wait_time=1:max_recovery_attempts=0:restart_with_keyframe=1";
    let publish = match args.relay {
        RelayPolicy::On => format!(
            "\n  Publish with one output to the entry point (forwarded to a live AZ, relayed to the other;\n\
             \x20 an encoder that reconnects after its AZ died lands on the other one):\n\
             \x20   while true; do ffmpeg -re -i in.flv -c copy -map 0 -f flv \"rtmp://{entry}/live/{key}\"; sleep 1; done\n\
             \x20   OBS: server rtmp://{entry}/live, stream key {key} (OBS reconnects by itself)\n\
             \x20 or to either AZ (each ingest relays to the other; --relay off to stop it):\n    ffmpeg -re -i in.flv -c copy -map 0 -f flv \"rtmp://{a1}/live/{key}\"\n\
             \x20   OBS: server rtmp://{a1}/live, stream key {key}\n\
             \x20   or to both AZs at once (the encoder's own outputs win over the relay):\n    ffmpeg -re -i in.flv -c copy -map 0 -f tee -use_fifo 1 -fifo_options {TEE_QUEUE} \"[f=flv:onfail=ignore]rtmp://{a1}/live/{key}|[f=flv:onfail=ignore]rtmp://{a2}/live/{key}\"\n"
        ),
        RelayPolicy::Off => format!(
            "\n  Publish (both AZs at once; the relay is off):\n    ffmpeg -re -i in.flv -c copy -map 0 -f tee -use_fifo 1 -fifo_options {TEE_QUEUE} \"[f=flv:onfail=ignore]rtmp://{a1}/live/{key}|[f=flv:onfail=ignore]rtmp://{a2}/live/{key}\"\n\
             \x20   OBS: server rtmp://{a1}/live, stream key {key} (and a second output to rtmp://{a2}/live)\n\
             \x20 (the entry point rtmp://{entry} forwards to one live AZ: without the relay only that AZ gets the stream)\n"
        ),
    };
    let pairs = if args.pairs > 1 {
        let mut text = format!(
            "\n  {} instance pairs: a stream goes to pair FNV-1a-64(\"app/stream\") mod {} and the\n\
             \x20 other pairs refuse it (live/show is pair {pair}; `zonecast-local shard-of APP/STREAM --pairs {}`)\n",
            args.pairs, args.pairs, args.pairs
        );
        for k in 0..args.pairs {
            let [r1, r2] = Az::ALL.map(|az| args.ingest_addrs(IngestId { pair: k, az }).0);
            text.push_str(&format!(
                "    pair {k}: rtmp://{r1} (az1), rtmp://{r2} (az2)\n"
            ));
        }
        text
    } else {
        String::new()
    };
    let health = IngestId::all(args.pairs)
        .map(|id| format!("http://{}/healthz", args.ingest_addrs(id).1))
        .collect::<Vec<_>>()
        .join("  ");
    println!(
        "\nZoneCast local stack is up.\n{auth}{pairs}{publish}\
         \n  Watch:\n    player page     http://localhost:{port}/\n\
         \x20   status page     http://localhost:{port}/status   (stop, kill, restart an AZ's ingest)\n\
         \x20   multivariant    http://media-hls.localhost:{port}/live/show/playlist.m3u8   (browsers, curl: host pinning)\n\
         \x20   path mode       http://{edge}/live/show/playlist.m3u8   (ffmpeg, ffplay, VLC)\n\
         \n  Inside:\n    S3 store        {endpoint} (bucket {BUCKET}, data in {})\n\
         \x20   ingest health   {health}  (and /metrics, /status)\n\
         \x20   entry point     rtmp://{entry} → az1 while its /healthz says ok, else az2\n\
         \nCtrl-C stops everything.",
        data_dir.display(),
    );
}

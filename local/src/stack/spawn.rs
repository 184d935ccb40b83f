//! Starting one ingest process: its command line (the ingest's own flags), its log lines
//! and its health.

use super::*;

/// Where an ingest writes: the S3 endpoint, the edge's purge URL, its spool directory.
#[derive(Clone, Copy)]
pub(super) struct IngestTargets<'a> {
    pub(super) endpoint: &'a str,
    pub(super) purge_url: &'a str,
    pub(super) spool_dir: &'a std::path::Path,
    /// The other ingest's RTMP address, when relaying.
    pub(super) relay_to: Option<SocketAddr>,
    /// Its pair, with several pairs.
    pub(super) shard: Option<ShardSpec>,
}

pub(super) fn spawn_ingest(
    id: IngestId,
    listen: SocketAddr,
    health: SocketAddr,
    targets: &IngestTargets<'_>,
    args: &StackArgs,
    publish_secret_file: Option<&std::path::Path>,
) -> Result<Child, SpawnError> {
    let exe = std::env::current_exe().map_err(|source| SpawnError { ingest: id, source })?;
    let mut cmd = Command::new(exe);
    cmd.arg("ingest")
        .args(ingest_flags(
            id,
            listen,
            health,
            targets,
            args,
            publish_secret_file.is_some(),
        ))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        // Publish auth comes from our flag alone, whatever this shell exports.
        .env_remove("ZONECAST_PUBLISH_SECRET")
        .env_remove("ZONECAST_PUBLISH_SECRET_FILE")
        .env_remove("ZONECAST_CONFIG")
        .env_remove("ZONECAST_RELAY_TO")
        .env_remove("ZONECAST_SHARD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = publish_secret_file {
        // The path in the environment, never the secret on a command line.
        cmd.env("ZONECAST_PUBLISH_SECRET_FILE", path);
    }
    // The ingest dies with us even if we are killed without a chance to clean up.
    #[cfg(target_os = "linux")]
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|source| SpawnError { ingest: id, source })?;
    // Prefix the child's log lines with its name (its AZ, `p1-az1` beyond pair 0).
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward_lines(id, out, false));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward_lines(id, err, true));
    }
    Ok(child)
}

/// The command line of ingest `id` after `zonecast-local ingest`: the ingest's own flags
/// (`zonecast_ingest::config::IngestConfig`), checked against that definition by a test here.
/// Settings the stack does not set keep the ingest's defaults.
pub(super) fn ingest_flags(
    id: IngestId,
    listen: SocketAddr,
    health: SocketAddr,
    targets: &IngestTargets<'_>,
    args: &StackArgs,
    publish_auth: bool,
) -> Vec<std::ffi::OsString> {
    let IngestTargets {
        endpoint,
        purge_url,
        spool_dir,
        relay_to,
        shard,
    } = *targets;
    let mut flags: Vec<(&str, std::ffi::OsString)> = vec![
        ("--az", id.az.as_str().into()),
        ("--listen", listen.to_string().into()),
        ("--health-listen", health.to_string().into()),
        ("--bucket", BUCKET.into()),
        ("--region", REGION.into()),
        ("--endpoint", endpoint.into()),
        (
            "--target-duration-ms",
            args.target_duration_ms.to_string().into(),
        ),
        ("--window", args.window.to_string().into()),
        (
            "--reconnect-grace-secs",
            args.reconnect_grace_secs.to_string().into(),
        ),
        ("--edge-purge-url", purge_url.into()),
        ("--spool-dir", spool_dir.into()),
        (
            "--publish-auth",
            if publish_auth { "required" } else { "off" }.into(),
        ),
    ];
    if let Some(peer) = relay_to {
        flags.push(("--relay-to", peer.to_string().into()));
    }
    if let Some(shard) = shard {
        flags.push(("--shard", shard.to_string().into()));
    }
    if let Some(bytes) = args.upload_memory_max_bytes {
        flags.push(("--upload-memory-max-bytes", bytes.to_string().into()));
    }
    flags
        .into_iter()
        .flat_map(|(flag, value)| [flag.into(), value])
        .collect()
}

/// `report_exit`: say so when the stream closes, which is when the process is gone (an AZ
/// that died is worth a line).
async fn forward_lines(az: IngestId, stream: impl tokio::io::AsyncRead + Unpin, report_exit: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("[{az}] {line}");
    }
    if report_exit {
        eprintln!("[{az}] the {az} ingest process exited");
    }
}

pub(super) async fn wait_healthy(ingest: IngestId, addr: SocketAddr) -> Result<(), StackError> {
    for _ in 0..100 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_ok() {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                if buf.starts_with(b"HTTP/1.1 200") {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(StackError::Unhealthy { ingest, addr })
}

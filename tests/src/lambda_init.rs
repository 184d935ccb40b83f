//! The playlist function's init time, measured the way Lambda starts it: the binary is spawned
//! with `AWS_LAMBDA_RUNTIME_API` pointing at a loopback listener here, and init is over when
//! it asks that listener for its first invocation (`GET .../invocation/next`). Covers loading
//! the binary, logging setup and the S3 client; not Lambda's own sandbox start.

use std::{
    net::TcpListener,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// Init times of `runs` fresh starts of `bin`, sorted, in microseconds.
pub fn init_times_us(bin: &Path, runs: usize) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let started = Instant::now();
        let mut child = Command::new(bin)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "playlist")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("ZONECAST_BUCKET", "bench")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let deadline = started + Duration::from_secs(10);
        let took = loop {
            match listener.accept() {
                Ok(_) => break started.elapsed(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        bail!("{} never asked for an invocation", bin.display());
                    }
                    if let Some(status) = child.try_wait()? {
                        bail!("{} exited during init: {status}", bin.display());
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        out.push(took.as_micros() as u64);
    }
    out.sort_unstable();
    Ok(out)
}

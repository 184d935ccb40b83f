//! Debian's nginx with its RTMP module (`libnginx-mod-rtmp`) on loopback, HLS on, with its own
//! configuration in a temporary directory: the peer the benchmark compares against.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

const MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// Installs nginx and its RTMP module with apt-get when they are missing.
pub fn ensure_installed() -> anyhow::Result<()> {
    if Path::new(MODULE).exists() && which("nginx") {
        return Ok(());
    }
    eprintln!("installing nginx and libnginx-mod-rtmp with apt-get...");
    let status = Command::new("apt-get")
        .args(["install", "-y", "nginx", "libnginx-mod-rtmp"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get (run as root, or install nginx libnginx-mod-rtmp yourself)")?;
    if !status.success() || !Path::new(MODULE).exists() {
        bail!("apt-get install -y nginx libnginx-mod-rtmp failed");
    }
    Ok(())
}

/// On `PATH`, or in `/usr/sbin` (where Debian puts nginx, and not on every user's `PATH`).
fn which(bin: &str) -> bool {
    crate::tool::on_path(bin) || crate::tool::on_path(&format!("/usr/sbin/{bin}"))
}

/// A running nginx-rtmp (master and one worker). Dropping it stops it.
pub struct NginxRtmp {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl NginxRtmp {
    /// Starts nginx with HLS (2 s fragments, every fragment kept and listed) into `dir/hls`.
    pub fn start(dir: &Path, port: u16, fragment_secs: u32) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("hls"))?;
        // As root nginx would hand its worker to `nobody`, which cannot write our directory.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;"
        } else {
            ""
        };
        let conf = format!(
            "load_module {MODULE};\n\
             {user}\n\
             daemon off;\n\
             master_process on;\n\
             worker_processes 1;\n\
             pid {dir}/nginx.pid;\n\
             error_log {dir}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             rtmp {{\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 chunk_size 4096;\n\
                 application live {{\n\
                   live on;\n\
                   hls on;\n\
                   hls_path {dir}/hls;\n\
                   hls_nested on;\n\
                   hls_fragment {fragment_secs}s;\n\
                   hls_playlist_length 3600s;\n\
                   hls_cleanup off;\n\
                 }}\n\
               }}\n\
             }}\n",
            dir = dir.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting nginx")?;
        let nginx = NginxRtmp {
            child,
            dir: dir.to_path_buf(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                bail!("nginx did not listen on {port} in 10 s: {log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(nginx)
    }

    pub fn master_pid(&self) -> u32 {
        self.child.id()
    }

    /// Master and worker: the server's processes.
    pub fn pids(&self) -> anyhow::Result<Vec<u32>> {
        let mut pids = vec![self.master_pid()];
        pids.extend(crate::procstat::children(self.master_pid(), "worker")?);
        if pids.len() < 2 {
            bail!("nginx has no worker process");
        }
        Ok(pids)
    }

    pub fn rtmp_url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }

    pub fn playlist(&self, stream: &str) -> PathBuf {
        self.dir.join("hls").join(stream).join("index.m3u8")
    }
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        // SIGTERM to the master stops the worker too (SIGKILL would orphan it).
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = crate::stack::send_signal(pid, libc::SIGTERM);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

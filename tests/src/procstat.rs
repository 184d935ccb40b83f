//! Per-process CPU time and peak memory from /proc, for the benchmarks.

use anyhow::{Context, bail};

/// CPU time (user + system) of a process in milliseconds.
pub fn cpu_ms(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat.rsplit_once(')').context("bad stat")?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("utime")?.parse()?;
    let stime: u64 = fields.get(12).context("stime")?.parse()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok((utime + stime) * 1000 / hz)
}

/// Peak resident set size in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?)
}

/// The children of `parent` whose command line contains `needle`.
pub fn children(parent: u32, needle: &str) -> anyhow::Result<Vec<u32>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .unwrap_or("");
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == parent.to_string() && cmdline.contains(needle) {
            out.push(pid);
        }
    }
    Ok(out)
}

/// The one child of `parent` whose command line contains `needle`.
pub fn child(parent: u32, needle: &str) -> anyhow::Result<u32> {
    match children(parent, needle)?.as_slice() {
        [pid] => Ok(*pid),
        [] => bail!("no child of {parent} with {needle:?} in its command line"),
        many => bail!("{} children of {parent} match {needle:?}", many.len()),
    }
}

/// `uptime`'s load averages (1, 5, 15 min), to record with every benchmark figure.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

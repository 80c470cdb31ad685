//! The forensics snapshot taken within moments of a dirty death: memory, pressure, the
//! watched process's cgroup OOM counters (against the values seen when the watcher
//! armed), kernel OOM lines from `/dev/kmsg` when readable, the top processes by RSS and
//! the newest crash files. Every section is best effort and says why it is empty; every
//! line that may carry a secret (a command line, a path) goes through the redactor.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Most bytes read from any one file for the snapshot.
const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Most bytes read from `/dev/kmsg`.
const MAX_KMSG_BYTES: usize = 8 * 1024 * 1024;
/// Kernel lines kept (the newest).
const KMSG_KEEP: usize = 30;
/// Crash files listed.
const CRASH_FILES: usize = 10;
/// Longest command line shown in the top-RSS section.
const MAX_CMDLINE: usize = 200;

/// The watched process's cgroup and its memory-event counters when the watcher armed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Baseline {
    /// `/sys/fs/cgroup/<path>` of the watched process (cgroup v2).
    pub cgroup_dir: Option<PathBuf>,
    /// `oom_kill` from its `memory.events` at arm time.
    pub oom_kill: Option<u64>,
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES)
        .read_to_string(&mut s)?;
    Ok(s)
}

/// The counter `key` in a `memory.events` text.
fn event_counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == key).then(|| it.next()?.parse().ok())?
    })
}

impl Baseline {
    /// Capture the cgroup of `pid` and its current OOM-kill count (Linux, cgroup v2).
    pub(crate) fn capture(pid: u32) -> Baseline {
        let Ok(text) = read_bounded(Path::new(&format!("/proc/{pid}/cgroup"))) else {
            return Baseline::default();
        };
        let Some(rel) = text.lines().find_map(|l| l.strip_prefix("0::")) else {
            return Baseline::default();
        };
        let dir = Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
        let oom_kill = read_bounded(&dir.join("memory.events"))
            .ok()
            .and_then(|t| event_counter(&t, "oom_kill"));
        Baseline {
            cgroup_dir: Some(dir),
            oom_kill,
        }
    }

    /// OOM kills in the cgroup since arming, when both counts are known.
    pub(crate) fn oom_kill_delta(&self) -> Option<u64> {
        let dir = self.cgroup_dir.as_ref()?;
        let now = read_bounded(&dir.join("memory.events"))
            .ok()
            .and_then(|t| event_counter(&t, "oom_kill"))?;
        Some(now.saturating_sub(self.oom_kill?))
    }
}

/// The snapshot text: `header` first, then one `--- section` per source.
pub(crate) fn snapshot(
    header: &str,
    pid: u32,
    baseline: &Baseline,
    top: usize,
    crash_dirs: &[PathBuf],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}");
    memory(&mut out);
    cgroup(&mut out, baseline);
    kernel_log(&mut out, pid);
    top_rss(&mut out, top);
    crash_files(&mut out, crash_dirs);
    out
}

fn section(out: &mut String, name: &str) {
    let _ = writeln!(out, "--- {name}");
}

fn memory(out: &mut String) {
    if cfg!(target_os = "linux") {
        section(out, "meminfo");
        match read_bounded(Path::new("/proc/meminfo")) {
            Ok(t) => out.push_str(&t),
            Err(e) => {
                let _ = writeln!(out, "(not readable: {e})");
            }
        }
        section(out, "pressure-memory");
        match read_bounded(Path::new("/proc/pressure/memory")) {
            Ok(t) => out.push_str(&t),
            Err(e) => {
                let _ = writeln!(out, "(not readable: {e})");
            }
        }
    } else {
        section(out, "vm_stat");
        run_tool(out, "vm_stat", &[]);
        section(out, "swapusage");
        run_tool(out, "sysctl", &["-n", "vm.swapusage"]);
    }
}

fn run_tool(out: &mut String, prog: &str, args: &[&str]) {
    match std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
    {
        Ok(o) => {
            let t = String::from_utf8_lossy(&o.stdout);
            let t: String = t.chars().take(MAX_FILE_BYTES as usize).collect();
            out.push_str(&crate::redact::redact_secrets(&t));
            if !t.ends_with('\n') {
                out.push('\n');
            }
        }
        Err(e) => {
            let _ = writeln!(out, "({prog} not available: {e})");
        }
    }
}

fn cgroup(out: &mut String, b: &Baseline) {
    section(out, "cgroup");
    let Some(dir) = &b.cgroup_dir else {
        let _ = writeln!(out, "(no cgroup v2 membership known)");
        return;
    };
    let _ = writeln!(
        out,
        "path={}",
        crate::redact::redact_secrets(&dir.display().to_string())
    );
    if let Some(n) = b.oom_kill {
        let _ = writeln!(out, "oom_kill_at_arm={n}");
    }
    for f in [
        "memory.events",
        "memory.current",
        "memory.peak",
        "memory.max",
    ] {
        match read_bounded(&dir.join(f)) {
            Ok(t) => {
                for l in t.lines() {
                    let _ = writeln!(out, "{f}: {l}");
                }
            }
            Err(e) => {
                let _ = writeln!(out, "{f}: (not readable: {e})");
            }
        }
    }
}

/// OOM evidence from the kernel ring buffer: lines about the OOM killer or naming the pid.
fn kernel_log(out: &mut String, pid: u32) {
    section(out, "kernel-log");
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg");
        let mut f = match f {
            Ok(f) => f,
            Err(e) => {
                let _ = writeln!(out, "(/dev/kmsg not readable: {e})");
                return;
            }
        };
        let pid_word = format!(" {pid} ");
        let pid_paren = format!("({pid})");
        let mut keep: std::collections::VecDeque<String> = Default::default();
        let mut buf = vec![0u8; 8192];
        let mut total = 0usize;
        while total < MAX_KMSG_BYTES {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    let Some((meta, msg)) = rec.split_once(';') else {
                        continue;
                    };
                    let msg = msg.lines().next().unwrap_or("");
                    let lower = msg.to_ascii_lowercase();
                    if lower.contains("oom")
                        || lower.contains("out of memory")
                        || lower.contains("killed process")
                        || msg.contains(&pid_word)
                        || msg.contains(&pid_paren)
                    {
                        let ts_us: u64 = meta
                            .split(',')
                            .nth(2)
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                        if keep.len() == KMSG_KEEP {
                            keep.pop_front();
                        }
                        keep.push_back(format!(
                            "[{}.{:06}] {}",
                            ts_us / 1_000_000,
                            ts_us % 1_000_000,
                            crate::redact::redact_secrets(msg)
                        ));
                    }
                }
                // EPIPE: a record was overwritten while reading; go on with the next.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let _ = writeln!(out, "(/dev/kmsg read failed: {e})");
                    break;
                }
            }
        }
        if keep.is_empty() {
            let _ = writeln!(out, "(no OOM-killer line or line naming pid {pid})");
        }
        for l in keep {
            let _ = writeln!(out, "{l}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        let _ = writeln!(out, "(no kernel log source on this platform)");
    }
}

fn top_rss(out: &mut String, top: usize) {
    section(out, "top-rss");
    if top == 0 {
        let _ = writeln!(out, "(disabled)");
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // RSS (field 24) counts pages of the kernel's page size.
        let page_kb = page_size_kb().unwrap_or(4);
        let mut rows: Vec<(u64, u32, u32, String)> = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for ent in dir.flatten() {
                let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                let Some(close) = stat.rfind(')') else {
                    continue;
                };
                let comm = stat
                    .get(stat.find('(').map_or(0, |i| i + 1)..close)
                    .unwrap_or("")
                    .to_owned();
                let f: Vec<&str> = stat[close + 1..].split_ascii_whitespace().collect();
                let ppid = f.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                let rss: u64 = f.get(21).and_then(|s| s.parse().ok()).unwrap_or(0);
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .ok()
                    .map(|b| {
                        let s = String::from_utf8_lossy(&b).replace('\0', " ");
                        s.trim_end().to_owned()
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or(format!("[{comm}]"));
                rows.push((rss * page_kb, pid, ppid, cmd));
            }
        }
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        let _ = writeln!(out, "{:>8} {:>8} {:>10} COMMAND", "PID", "PPID", "RSS_KB");
        for (rss, pid, ppid, cmd) in rows.into_iter().take(top) {
            let cmd: String = cmd.chars().take(MAX_CMDLINE).collect();
            let _ = writeln!(
                out,
                "{pid:>8} {ppid:>8} {rss:>10} {}",
                crate::redact::redact_secrets(&cmd)
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let mut s = String::new();
        run_tool(&mut s, "ps", &["axo", "pid,ppid,rss,etime,command"]);
        let mut lines: Vec<&str> = s.lines().skip(1).collect();
        let rss = |l: &str| -> u64 {
            l.split_whitespace()
                .nth(2)
                .and_then(|x| x.parse().ok())
                .unwrap_or(0)
        };
        lines.sort_by_key(|l| std::cmp::Reverse(rss(l)));
        for l in lines.into_iter().take(top) {
            let l: String = l.chars().take(MAX_CMDLINE + 40).collect();
            let _ = writeln!(out, "{l}");
        }
    }
}

#[cfg(target_os = "linux")]
fn page_size_kb() -> Option<u64> {
    Some(super::sys::page_size() / 1024).filter(|n| *n > 0)
}

fn crash_files(out: &mut String, dirs: &[PathBuf]) {
    section(out, "crash-files");
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for ent in rd.flatten().take(10_000) {
            if let Ok(md) = ent.metadata() {
                if md.is_file() {
                    if let Ok(m) = md.modified() {
                        files.push((m, md.len(), ent.path()));
                    }
                }
            }
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    if files.is_empty() {
        let _ = writeln!(out, "(none in {} directories)", dirs.len());
    }
    for (m, len, p) in files.into_iter().take(CRASH_FILES) {
        let ms = m
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "{} {len:>10} {}",
            super::logfmt::iso_ms(ms),
            crate::redact::redact_secrets(&p.display().to_string())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_memory_events() {
        let t = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(event_counter(t, "oom_kill"), Some(1));
        assert_eq!(event_counter(t, "oom"), Some(2));
        assert_eq!(event_counter(t, "nope"), None);
    }
}

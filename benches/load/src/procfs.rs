//! The server processes: starting them, timing them to `/readyz`, and
//! reading their CPU time and resident memory from `/proc`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Deserialize;

use crate::http::{Conn, Origin, Req};

/// How to start one server.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerCmd {
    pub cmd: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub cwd: Option<String>,
}

/// A running server, stopped (SIGTERM, then SIGKILL after 10 s) when dropped.
pub struct Server {
    pub child: Child,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn start(spec: &ServerCmd, log: &Path) -> Result<Self> {
        let (program, args) = spec
            .cmd
            .split_first()
            .ok_or_else(|| anyhow!("empty command"))?;
        let out = File::options().create(true).append(true).open(log)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        let child = cmd.spawn().with_context(|| format!("starting {program}"))?;
        Ok(Self { child })
    }

    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Polls `GET /readyz` every millisecond (at most 20 s); returns the time from `since`.
pub async fn wait_ready(origin: &Origin, server: &mut Server, since: Instant) -> Result<Duration> {
    let until = since + Duration::from_secs(20);
    while Instant::now() < until {
        if let Ok(Some(status)) = server.child.try_wait() {
            bail!("the server exited during start: {status}");
        }
        let mut conn = Conn::new(origin);
        if let Ok(resp) = conn.send(Req::get("/readyz")).await
            && resp.status == 200
        {
            return Ok(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!("not ready within 20 s")
}

/// Starts `spec`, times it to ready, stops it.
pub async fn time_start(spec: &ServerCmd, origin: &Origin, log: &Path) -> Result<Duration> {
    let since = Instant::now();
    let mut server = Server::start(spec, log)?;
    let took = wait_ready(origin, &mut server, since).await;
    server.stop();
    took
}

/// User + system CPU time of `pid` (all threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("odd stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    let utime: u64 = fields[11].parse()?;
    let stime: u64 = fields[12].parse()?;
    Ok(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
pub fn ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `(VmRSS, VmHWM)` of `pid`, in MiB.
pub fn rss_mib(pid: u32) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow!("no {name}"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow!("odd {name}"))?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets `VmHWM` to the current `VmRSS` (`echo 5 > /proc/PID/clear_refs`),
/// so the next reading is the peak of one phase.
pub fn reset_peak(pid: u32) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("clear_refs")
}

/// CPU ticks of every process whose command line contains `needle` (the
/// PostgreSQL backends serving Kagi's database), by pid.
pub fn ticks_matching(needle: &str) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(needle)
            && let Ok(t) = cpu_ticks(pid)
        {
            out.insert(pid, t);
        }
    }
    out
}

/// Ticks spent between two [`ticks_matching`] snapshots.
pub fn ticks_between(before: &BTreeMap<u32, u64>, after: &BTreeMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, t)| t.saturating_sub(*before.get(pid).unwrap_or(&0)))
        .sum()
}

/// Busy CPU ticks of the whole machine (all but idle and iowait), from `/proc/stat`.
pub fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    v.iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum()
}

/// The one-minute load average.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

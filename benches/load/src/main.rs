//! `kagi-load CONFIG.json [RESULTS.json]`: the load client of `benches/run`.
//!
//! It times both OPs from process start to `/readyz`, starts them for good,
//! logs the same browsers in on both, drives the workloads of issue 9 with
//! closed-loop workers on keep-alive connections (one warm-up, then several
//! rounds; medians), and prints one table. Everything it sends goes to the
//! loopback ports named in the config, and every loop ends at a deadline.

mod http;
mod op;
mod passkey;
mod procfs;
mod totp;
mod work;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::json;

use crate::http::{Conn, Jar, Origin};
use crate::op::{ClientCfg, KagiUser, Op};
use crate::procfs::{Server, ServerCmd};
use crate::work::{Plan, Summary, Worker, median};

#[derive(Deserialize)]
struct Config {
    rounds: usize,
    round_secs: f64,
    warmup_secs: f64,
    start_rounds: usize,
    cores: usize,
    redirect_uri: String,
    run_dir: PathBuf,
    backend: String,
    kagi: KagiCfg,
    peer: PeerCfg,
}

#[derive(Deserialize)]
struct KagiCfg {
    server: ServerCmd,
    port: u16,
    clients: HashMap<String, ClientCfg>,
    users: Vec<KagiUser>,
    passkey_users: Vec<KagiUser>,
    outbox: PathBuf,
    hash_concurrency: usize,
    /// Part of the command line of the PostgreSQL backends serving Kagi's
    /// database (`kagi_bench`), whose CPU is reported beside Kagi's.
    #[serde(default)]
    db_backends: Option<String>,
}

/// Kagi's pid and the PostgreSQL backends' command-line match, once known.
static KAGI_DB: std::sync::OnceLock<(u32, String)> = std::sync::OnceLock::new();

fn db_of(pid: u32) -> Option<&'static str> {
    KAGI_DB
        .get()
        .filter(|(p, _)| *p == pid)
        .map(|(_, d)| d.as_str())
}

#[derive(Deserialize)]
struct PeerCfg {
    server: ServerCmd,
    port: u16,
    clients: HashMap<String, ClientCfg>,
    accounts: Vec<String>,
}

fn origin(port: u16) -> Origin {
    Origin {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        host: format!("localhost:{port}"),
    }
}

fn client<'a>(clients: &'a HashMap<String, ClientCfg>, key: &str) -> Result<&'a ClientCfg> {
    clients
        .get(key)
        .ok_or_else(|| anyhow!("no client {key:?} in the config"))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or_else(|| anyhow!("usage: kagi-load CONFIG.json [RESULTS.json]"))?;
    let cfg: Config = serde_json::from_str(&std::fs::read_to_string(path)?).context("config")?;
    // Two threads: lean enough to leave the cores to the servers, and the
    // "2 threads × 32 connections" of the static-GET target.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results = rt.block_on(run(&cfg))?;
    if let Some(out) = args.get(2) {
        std::fs::write(out, serde_json::to_string_pretty(&results)?)?;
    }
    Ok(())
}

/// argon2id with Kagi's parameters (m=19456 KiB, t=2, p=1), one at a time,
/// in memory allocated once and reused: the compute cost alone, which is
/// what a server reusing its (allocator-retained) memory pays per login.
/// Allocating the 19 MiB afresh for each hash costs page faults on top
/// (about 18-19 ms instead of 11-12 ms per hash on our machines).
fn single_hash_ms(times: usize) -> Result<f64> {
    let params = argon2::Params::new(19_456, 2, 1, Some(32)).map_err(|e| anyhow!("{e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut blocks = vec![argon2::Block::default(); 19_456];
    let mut out = [0u8; 32];
    let mut samples = Vec::new();
    for i in 0..=times {
        let t = Instant::now();
        argon
            .hash_password_into_with_memory(
                format!("a long password {i}").as_bytes(),
                b"sixteen byte salt",
                &mut out,
                &mut blocks,
            )
            .map_err(|e| anyhow!("{e}"))?;
        if i > 0 {
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(median(samples))
}

struct Targets {
    kagi: Arc<Op>,
    peer: Arc<Op>,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

async fn run(cfg: &Config) -> Result<serde_json::Value> {
    let plan = Plan {
        warmup: Duration::from_secs_f64(cfg.warmup_secs),
        round: Duration::from_secs_f64(cfg.round_secs),
        rounds: cfg.rounds,
    };
    let conns = (2 * cfg.cores).clamp(1, 32);
    let mut table = Table::default();

    let load_before = procfs::loadavg();
    let (ko, po) = (origin(cfg.kagi.port), origin(cfg.peer.port));
    let klog = cfg.run_dir.join("kagi.log");
    let plog = cfg.run_dir.join("peer.log");
    log("timing process start to /readyz (first start, then warm restarts)");
    let mut starts = HashMap::new();
    for (name, spec, o, logf) in [
        ("kagi", &cfg.kagi.server, &ko, &klog),
        ("peer", &cfg.peer.server, &po, &plog),
    ] {
        let first = procfs::time_start(spec, o, logf)
            .await
            .with_context(|| format!("{name} first start"))?;
        let mut warm = Vec::new();
        for _ in 0..cfg.start_rounds {
            warm.push(procfs::time_start(spec, o, logf).await?.as_secs_f64() * 1000.0);
        }
        starts.insert(name, (first.as_secs_f64() * 1000.0, median(warm)));
    }

    log("starting both servers");
    let mut kagi = Server::start(&cfg.kagi.server, &klog)?;
    procfs::wait_ready(&ko, &mut kagi, Instant::now()).await?;
    let mut peer = Server::start(&cfg.peer.server, &plog)?;
    procfs::wait_ready(&po, &mut peer, Instant::now()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let kagi_idle = procfs::rss_mib(kagi.pid())?;
    let peer_idle = procfs::rss_mib(peer.pid())?;

    let t = Targets {
        kagi: Arc::new(Op::discover("Kagi", ko.clone(), &cfg.redirect_uri).await?),
        peer: Arc::new(Op::discover("peer", po.clone(), &cfg.redirect_uri).await?),
    };
    let out = measure_all(cfg, &t, &kagi, &peer, plan, conns, &mut table).await;
    let kagi_load = procfs::rss_mib(kagi.pid())?;
    let peer_load = procfs::rss_mib(peer.pid())?;
    kagi.stop();
    peer.stop();
    let mut results = out?;

    let hash_ms = results["argon2_single_hash_ms"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let par_hash_ms = results["argon2_parallel_hash_ms"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let par = cfg.kagi.hash_concurrency.min(cfg.cores).max(1);
    let bound = par as f64 * 1000.0 / hash_ms;
    let logins = results["password_logins_per_s"]
        .as_f64()
        .unwrap_or(f64::NAN);
    table.row(
        "argon2id single hash (m=19 MiB, t=2, memory reused), ms",
        Some(hash_ms),
        None,
        "",
        None,
    );
    table.row(
        &format!(
            "argon2 bound = {} hashes at once / single hash, logins/s",
            cfg.kagi.hash_concurrency.min(cfg.cores)
        ),
        Some(bound),
        None,
        "",
        None,
    );
    table.row(
        "password logins / argon2 bound, %",
        Some(100.0 * logins / bound),
        None,
        ">= 90 %",
        Some(logins / bound >= 0.9),
    );
    let par_bound = par as f64 * 1000.0 / par_hash_ms;
    table.row(
        &format!("argon2id hash with {par} running at once, ms"),
        Some(par_hash_ms),
        None,
        "",
        None,
    );
    table.row(
        "password logins / that parallel-hash bound, %",
        Some(100.0 * logins / par_bound),
        None,
        "",
        None,
    );
    table.row(
        "RSS idle (VmRSS after start), MiB",
        Some(kagi_idle.0),
        Some(peer_idle.0),
        "<= 16 MiB",
        Some(kagi_idle.0 <= 16.0),
    );
    let mem = |k: &str| results["rss_phases"][k].as_f64();
    table.row(
        "RSS after log-in set-up (argon2 done), MiB",
        mem("kagi_after_setup"),
        mem("peer_after_setup"),
        "",
        None,
    );
    table.row(
        "RSS 3 s later, before the OIDC workloads, MiB",
        mem("kagi_before_oidc"),
        mem("peer_before_oidc"),
        "",
        None,
    );
    let oidc_peak = mem("kagi_peak_oidc");
    table.row(
        "RSS peak under OIDC load (VmHWM, reset after set-up), MiB",
        oidc_peak,
        mem("peer_peak_oidc"),
        "<= 48 MiB",
        oidc_peak.map(|m| m <= 48.0),
    );
    table.row(
        "RSS peak during the password flood, MiB",
        mem("kagi_peak_flood"),
        None,
        "<= 96 MiB",
        mem("kagi_peak_flood").map(|m| m <= 96.0),
    );
    table.row(
        "RSS peak over the whole run (VmHWM), MiB",
        Some(kagi_load.1),
        Some(peer_load.1),
        "<= 96 MiB",
        Some(kagi_load.1 <= 96.0),
    );
    let (kfirst, kwarm) = starts["kagi"];
    let (pfirst, pwarm) = starts["peer"];
    table.row(
        "start to /readyz 200, ms (median of restarts)",
        Some(kwarm),
        Some(pwarm),
        "< 200 ms",
        Some(kwarm < 200.0),
    );
    table.row(
        "first start (keys generated), ms",
        Some(kfirst),
        Some(pfirst),
        "",
        None,
    );

    println!();
    println!(
        "Kagi ({}) vs node-oidc-provider — {} cores, {} round(s) of {:.0} s after {:.0} s warm-up, medians",
        cfg.backend, cfg.cores, cfg.rounds, cfg.round_secs, cfg.warmup_secs
    );
    table.print();
    let others: Vec<f64> = results
        .as_object()
        .map(|m| {
            m.values()
                .flat_map(|v| {
                    [
                        v["kagi"]["other_cores"].as_f64(),
                        v["peer"]["other_cores"].as_f64(),
                    ]
                })
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    let busiest = others.iter().copied().fold(0.0, f64::max);
    println!(
        "Load average before / after: {load_before} / {}. Other processes used a median {:.2} cores (at most {busiest:.2}) during the measured rounds.",
        procfs::loadavg(),
        median(others.clone())
    );
    results["argon2_bound_per_s"] = json!(bound);
    results["rss_mib"] = json!({ "kagi_idle": kagi_idle, "peer_idle": peer_idle, "kagi_load": kagi_load, "peer_load": peer_load });
    results["start_ms"] = json!({ "kagi_first": kfirst, "kagi_warm": kwarm, "peer_first": pfirst, "peer_warm": pwarm });
    results["table"] = json!(table.lines());
    Ok(results)
}

#[derive(Default)]
struct Table {
    rows: Vec<[String; 5]>,
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(x) if x.is_nan() => "failed".into(),
        Some(x) if x >= 1000.0 => format!("{x:.0}"),
        Some(x) if x >= 100.0 => format!("{x:.1}"),
        Some(x) if x >= 1.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.3}"),
    }
}

impl Table {
    fn row(
        &mut self,
        name: &str,
        kagi: Option<f64>,
        peer: Option<f64>,
        target: &str,
        met: Option<bool>,
    ) {
        let ratio = match (kagi, peer) {
            (Some(k), Some(p)) if p != 0.0 && !k.is_nan() && !p.is_nan() => format!("{:.2}", k / p),
            _ => "—".into(),
        };
        let verdict = match met {
            Some(true) => format!("{target}: met"),
            Some(false) => format!("{target}: MISSED"),
            None => target.to_owned(),
        };
        self.rows
            .push([name.to_owned(), fmt(kagi), fmt(peer), ratio, verdict]);
    }

    fn lines(&self) -> Vec<String> {
        let head = ["workload", "Kagi", "peer", "Kagi/peer", "target"];
        let mut w = head.map(|h| h.chars().count());
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            let pad = |s: &str, n: usize, right: bool| {
                let fill = " ".repeat(n - s.chars().count());
                if right {
                    format!("{fill}{s}")
                } else {
                    format!("{s}{fill}")
                }
            };
            format!(
                "| {} | {} | {} | {} | {} |",
                pad(cells[0], w[0], false),
                pad(cells[1], w[1], true),
                pad(cells[2], w[2], true),
                pad(cells[3], w[3], true),
                pad(cells[4], w[4], false)
            )
        };
        let mut out = vec![line(head)];
        out.push(format!(
            "|{}|{}:|{}:|{}:|{}|",
            "-".repeat(w[0] + 2),
            "-".repeat(w[1] + 1),
            "-".repeat(w[2] + 1),
            "-".repeat(w[3] + 1),
            "-".repeat(w[4] + 2)
        ));
        for r in &self.rows {
            out.push(line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
        }
        out
    }

    fn print(&self) {
        for l in self.lines() {
            println!("{l}");
        }
    }
}

fn note(name: &str, who: &str, s: &Summary) {
    let rounds: Vec<String> = s
        .rounds
        .iter()
        .map(|(r, p, c)| format!("{r:.0}/s p99 {p:.2} ms cpu {c:.3} ms"))
        .collect();
    log(format!(
        "{name} [{who}]: {:.0}/s p50 {:.2} ms p99 {:.2} ms, server cpu {:.3} ms/op, client cpu {:.0}%, other processes {:.2} cores | {}",
        s.rate,
        s.p50_ms,
        s.p99_ms,
        s.cpu_ms_per_op,
        s.client_cpu_share * 100.0,
        s.other_cores,
        rounds.join("; ")
    ));
    if s.errors > 0 {
        log(format!(
            "  {} error(s) on {who}; first: {}",
            s.errors,
            s.first_error.as_deref().unwrap_or("?")
        ));
    }
}

/// A summary's figure, or NaN (shown as "failed") when the workload could not run.
fn pick(s: &Option<Summary>, f: impl Fn(&Summary) -> f64) -> Option<f64> {
    Some(s.as_ref().map_or(f64::NAN, f))
}

/// Whether workload `name` runs (`BENCH_ONLY=a,b` keeps those whose names contain a or b).
fn wanted(name: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(only) if !only.is_empty() => only.split(',').any(|o| name.contains(o.trim())),
        _ => true,
    }
}

async fn one(
    name: &str,
    who: &str,
    workers: Result<Vec<Worker>>,
    pid: u32,
    plan: Plan,
) -> Option<Summary> {
    if !wanted(name) {
        return None;
    }
    let run = async {
        let (_, mut s) = work::measure(vec![workers?], pid, db_of(pid), plan).await?;
        let s = Summary::of(&s.remove(0));
        if s.rate == 0.0 || s.rate.is_nan() {
            bail!(
                "no operation succeeded: {}",
                s.first_error.as_deref().unwrap_or("?")
            );
        }
        Ok(s)
    };
    match run.await {
        Ok(s) => {
            note(name, who, &s);
            if let Ok((rss, hwm)) = procfs::rss_mib(pid) {
                log(format!(
                    "  {who} memory after {name}: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB"
                ));
            }
            Some(s)
        }
        Err(e) => {
            log(format!("{name} [{who}] FAILED: {e:#}"));
            None
        }
    }
}

/// Measures the same workload on both OPs with their rounds interleaved
/// (Kagi, peer, Kagi, peer, ...), so that a shared machine's other load
/// falls on both sides alike.
async fn pair(
    name: &str,
    k: Result<Vec<Worker>>,
    p: Result<Vec<Worker>>,
    kp: u32,
    pp: u32,
    plan: Plan,
) -> (Option<Summary>, Option<Summary>) {
    if !wanted(name) {
        return (None, None);
    }
    // (who, pid, workers between rounds, rounds so far, first failure)
    type Side<'a> = (
        &'a str,
        u32,
        Option<Vec<Worker>>,
        Vec<work::Round>,
        Option<String>,
    );
    let mut sides: Vec<Side<'_>> = Vec::new();
    for (who, pid, w) in [("Kagi", kp, k), ("peer", pp, p)] {
        match w {
            Ok(w) => sides.push((who, pid, Some(w), Vec::new(), None)),
            Err(e) => sides.push((who, pid, None, Vec::new(), Some(format!("{e:#}")))),
        }
    }
    for round in 0..plan.rounds {
        for side in sides.iter_mut() {
            let Some(workers) = side.2.take() else {
                continue;
            };
            let one_round = Plan {
                warmup: if round == 0 {
                    plan.warmup
                } else {
                    Duration::ZERO
                },
                round: plan.round,
                rounds: 1,
            };
            match work::measure(vec![workers], side.1, db_of(side.1), one_round).await {
                Ok((mut groups, mut rounds)) => {
                    side.2 = groups.pop();
                    side.3.extend(rounds.pop().unwrap_or_default());
                }
                Err(e) => side.4 = Some(format!("{e:#}")),
            }
        }
    }
    let mut out = Vec::new();
    for (who, pid, _, rounds, err) in sides {
        let s = Summary::of(&rounds);
        if rounds.is_empty() || s.rate == 0.0 || s.rate.is_nan() {
            log(format!(
                "{name} [{who}] FAILED: {}",
                err.or(s.first_error)
                    .unwrap_or_else(|| "no operation succeeded".into())
            ));
            out.push(None);
            continue;
        }
        note(name, who, &s);
        if let Ok((rss, hwm)) = procfs::rss_mib(pid) {
            log(format!(
                "  {who} memory after {name}: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB"
            ));
        }
        out.push(Some(s));
    }
    let p = out.pop().flatten();
    let k = out.pop().flatten();
    (k, p)
}

fn gets(o: &Origin, path: &str, n: usize) -> Result<Vec<Worker>> {
    Ok((0..n)
        .map(|_| Worker::Get {
            conn: Conn::new(o),
            path: path.to_owned(),
        })
        .collect())
}

fn flows(op: &Arc<Op>, c: &ClientCfg, jars: &[Jar], n: usize) -> Result<Vec<Worker>> {
    if jars.len() < n {
        bail!("only {} logged-in sessions for {n} workers", jars.len());
    }
    Ok(jars[..n]
        .iter()
        .map(|jar| Worker::CodeFlow {
            conn: Conn::new(&op.origin),
            op: op.clone(),
            client: c.clone(),
            jar: jar.clone(),
        })
        .collect())
}

/// Refresh tokens from one code flow per session (set-up, not measured).
async fn refresh_workers(
    op: &Arc<Op>,
    c: &ClientCfg,
    jars: &mut [Jar],
    n: usize,
) -> Result<Vec<Worker>> {
    let mut out = Vec::new();
    for jar in jars.iter_mut().take(n) {
        let mut conn = Conn::new(&op.origin);
        let tokens = op::code_flow(&mut conn, op, c, jar).await?;
        let token = tokens
            .refresh_token
            .ok_or_else(|| anyhow!("{}: no refresh_token", op.name))?;
        out.push(Worker::Refresh {
            conn,
            op: op.clone(),
            client: c.clone(),
            token,
        });
    }
    Ok(out)
}

async fn userinfo_workers(
    op: &Arc<Op>,
    c: &ClientCfg,
    jars: &mut [Jar],
    n: usize,
) -> Result<Vec<Worker>> {
    let mut out = Vec::new();
    for jar in jars.iter_mut().take(n) {
        let mut conn = Conn::new(&op.origin);
        let tokens = op::code_flow(&mut conn, op, c, jar).await?;
        out.push(Worker::Userinfo {
            conn,
            op: op.clone(),
            token: tokens.access_token,
        });
    }
    Ok(out)
}

/// Logs every browser in and lets each make one flow per client, so that
/// any first-time interaction (the peer's consent) is out of the way.
async fn sessions(cfg: &Config, t: &Targets) -> Result<(Vec<Jar>, Vec<Jar>)> {
    let n = cfg.kagi.users.len().min(cfg.peer.accounts.len());
    let mut kagi = Vec::new();
    let mut peer = Vec::new();
    for i in 0..n {
        let mut conn = Conn::new(&t.kagi.origin);
        let mut jar = op::kagi_login(&mut conn, &cfg.kagi.users[i])
            .await
            .context("Kagi login")?;
        for key in ["rs", "es"] {
            op::code_flow(
                &mut conn,
                &t.kagi,
                client(&cfg.kagi.clients, key)?,
                &mut jar,
            )
            .await
            .context("Kagi first flow")?;
        }
        kagi.push(jar);

        let mut conn = Conn::new(&t.peer.origin);
        let mut jar = Jar::default();
        let rs = client(&cfg.peer.clients, "rs")?;
        let (code, verifier) = op::authorize(
            &mut conn,
            &t.peer,
            rs,
            &mut jar,
            Some(&cfg.peer.accounts[i]),
        )
        .await
        .context("peer login")?;
        op::exchange(&mut conn, &t.peer, rs, &code, &verifier).await?;
        for key in ["rs", "es", "ui"] {
            op::code_flow(
                &mut conn,
                &t.peer,
                client(&cfg.peer.clients, key)?,
                &mut jar,
            )
            .await
            .context("peer first flow")?;
        }
        peer.push(jar);
    }
    Ok((kagi, peer))
}

/// Decodes a JWT's header (to check the algorithms really differ).
fn jwt_alg(token: &str) -> String {
    use base64::Engine as _;
    token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["alg"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "opaque".into())
}

async fn measure_all(
    cfg: &Config,
    t: &Targets,
    kagi: &Server,
    peer: &Server,
    plan: Plan,
    conns: usize,
    table: &mut Table,
) -> Result<serde_json::Value> {
    let (kp, pp) = (kagi.pid(), peer.pid());
    if let Some(d) = &cfg.kagi.db_backends {
        let _ = KAGI_DB.set((kp, d.clone()));
    }
    log("logging browsers in on both OPs");
    let (mut kjars, mut pjars) = sessions(cfg, t).await?;
    // What each side really signs: ID token and access token algorithms per client.
    let mut algs = serde_json::Map::new();
    for (op, clients, jar) in [
        (&t.kagi, &cfg.kagi.clients, &mut kjars[0]),
        (&t.peer, &cfg.peer.clients, &mut pjars[0]),
    ] {
        for key in ["rs", "es"] {
            let mut conn = Conn::new(&op.origin);
            let tokens = op::code_flow(&mut conn, op, client(clients, key)?, jar).await?;
            let seen = format!(
                "id_token {}, access_token {}",
                jwt_alg(&tokens.id_token),
                jwt_alg(&tokens.access_token)
            );
            log(format!("{} client {key}: {seen}", op.name));
            algs.insert(format!("{}_{key}", op.name), json!(seen));
        }
    }

    let kpass = {
        let mut keys = Vec::new();
        for user in cfg.kagi.passkey_users.iter().filter(|_| wanted("passkey")) {
            let mut conn = Conn::new(&t.kagi.origin);
            match op::kagi_register_passkey(&mut conn, &t.kagi, user, &cfg.kagi.outbox).await {
                Ok(k) => keys.push(Arc::new(k)),
                Err(e) => {
                    log(format!("passkey registration failed: {e:#}"));
                    break;
                }
            }
        }
        keys
    };

    let mut res = serde_json::Map::new();
    let mut phases = serde_json::Map::new();
    for (who, pid) in [("kagi", kp), ("peer", pp)] {
        phases.insert(format!("{who}_after_setup"), json!(procfs::rss_mib(pid)?.0));
    }
    // The set-up's password logins leave argon2 working memory that Kagi's
    // hashing threads free after 2 s idle; wait past that before resetting
    // the peak, so "peak under OIDC load" measures the OIDC workloads.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (who, pid) in [("kagi", kp), ("peer", pp)] {
        phases.insert(format!("{who}_before_oidc"), json!(procfs::rss_mib(pid)?.0));
        procfs::reset_peak(pid)?;
    }
    let both = |name: &str,
                k: &Option<Summary>,
                p: &Option<Summary>,
                res: &mut serde_json::Map<String, serde_json::Value>| {
        let f = |s: &Option<Summary>| {
            s.as_ref().map(|s| json!({ "rate": s.rate, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms, "cpu_ms_per_op": s.cpu_ms_per_op, "db_cpu_ms_per_op": s.db_cpu_ms_per_op, "client_cpu_share": s.client_cpu_share, "other_cores": s.other_cores, "errors": s.errors, "rounds": s.rounds }))
        };
        res.insert(name.to_owned(), json!({ "kagi": f(k), "peer": f(p) }));
    };

    let c32 = 32;
    log(format!("discovery and JWKS: {c32} connections"));
    let (k, p) = pair(
        "discovery",
        gets(&t.kagi.origin, "/.well-known/openid-configuration", c32),
        gets(&t.peer.origin, "/.well-known/openid-configuration", c32),
        kp,
        pp,
        plan,
    )
    .await;
    table.row(
        "discovery GET, req/s (32 conns)",
        pick(&k, |s| s.rate),
        pick(&p, |s| s.rate),
        ">= 50,000/s",
        k.as_ref().map(|s| s.rate >= 50_000.0),
    );
    table.row(
        "discovery GET p99, ms",
        pick(&k, |s| s.p99_ms),
        pick(&p, |s| s.p99_ms),
        "",
        None,
    );
    both("discovery", &k, &p, &mut res);
    let (k, p) = pair(
        "jwks",
        gets(&t.kagi.origin, &t.kagi.jwks, c32),
        gets(&t.peer.origin, &t.peer.jwks, c32),
        kp,
        pp,
        plan,
    )
    .await;
    table.row(
        "JWKS GET, req/s (32 conns)",
        pick(&k, |s| s.rate),
        pick(&p, |s| s.rate),
        ">= 50,000/s",
        k.as_ref().map(|s| s.rate >= 50_000.0),
    );
    table.row(
        "JWKS GET p99, ms",
        pick(&k, |s| s.p99_ms),
        pick(&p, |s| s.p99_ms),
        "",
        None,
    );
    both("jwks", &k, &p, &mut res);

    // Issue 13's targets: flows/s at least this many times the peer's, OP CPU
    // per flow at most this fraction of the peer's.
    for (key, alg, rate_target, cpu_target) in [("rs", "RS256", 1.5, 0.6), ("es", "ES256", 2.0, 0.5)] {
        let kc = client(&cfg.kagi.clients, key)?;
        let pc = client(&cfg.peer.clients, key)?;
        for n in [1usize, 16] {
            let name = format!("code flow {alg} x{n}");
            log(format!("{name}: authorize with SSO cookie → code → token"));
            let (k, p) = pair(
                &name,
                flows(&t.kagi, kc, &kjars, n),
                flows(&t.peer, pc, &pjars, n),
                kp,
                pp,
                plan,
            )
            .await;
            let s = if n == 1 { "" } else { "s" };
            let (target, met) = if n == 16 {
                (
                    format!(">= {rate_target}x peer"),
                    match (&k, &p) {
                        (Some(k), Some(p)) => Some(k.rate >= rate_target * p.rate),
                        _ => None,
                    },
                )
            } else {
                (String::new(), None)
            };
            table.row(
                &format!("code flow {alg}, {n} worker{s}, flows/s"),
                pick(&k, |s| s.rate),
                pick(&p, |s| s.rate),
                &target,
                met,
            );
            table.row(
                &format!("code flow {alg}, {n} worker{s}, p50 / p99 ms"),
                pick(&k, |s| s.p50_ms),
                pick(&p, |s| s.p50_ms),
                "",
                None,
            );
            let last = table.rows.len() - 1;
            table.rows[last][1] = format!(
                "{} / {}",
                fmt(pick(&k, |s| s.p50_ms)),
                fmt(pick(&k, |s| s.p99_ms))
            );
            table.rows[last][2] = format!(
                "{} / {}",
                fmt(pick(&p, |s| s.p50_ms)),
                fmt(pick(&p, |s| s.p99_ms))
            );
            let met = match (&k, &p) {
                (Some(k), Some(p)) if n == 16 => {
                    Some(k.cpu_ms_per_op <= cpu_target * p.cpu_ms_per_op)
                }
                _ => None,
            };
            let target = if n == 16 {
                format!("<= {cpu_target}x peer")
            } else {
                String::new()
            };
            table.row(
                &format!("OP CPU per flow {alg}, {n} worker{s}, ms"),
                pick(&k, |s| s.cpu_ms_per_op),
                pick(&p, |s| s.cpu_ms_per_op),
                &target,
                met,
            );
            if cfg.kagi.db_backends.is_some() {
                table.row(
                    &format!("  + PostgreSQL backends' CPU per flow {alg}, {n} worker{s}, ms"),
                    pick(&k, |s| s.db_cpu_ms_per_op),
                    None,
                    "",
                    None,
                );
            }
            both(&name, &k, &p, &mut res);
        }
    }

    let krs = client(&cfg.kagi.clients, "rs")?;
    let prs = client(&cfg.peer.clients, "rs")?;
    let pui = client(&cfg.peer.clients, "ui")?;
    log(format!("refresh grants: {conns} connections, then 1"));
    let kw = refresh_workers(&t.kagi, krs, &mut kjars, conns).await;
    let pw = refresh_workers(&t.peer, prs, &mut pjars, conns).await;
    let (k, p) = pair("refresh", kw, pw, kp, pp, plan).await;
    let ratio = |f: fn(&Summary) -> f64, k: &Option<Summary>, p: &Option<Summary>| match (k, p) {
        (Some(k), Some(p)) => Some(f(k) / f(p)),
        _ => None,
    };
    table.row(
        &format!("refresh grant, req/s ({conns} conns)"),
        pick(&k, |s| s.rate),
        pick(&p, |s| s.rate),
        ">= 2x peer",
        ratio(|s| s.rate, &k, &p).map(|r| r >= 2.0),
    );
    table.row(
        "OP CPU per refresh grant, ms",
        pick(&k, |s| s.cpu_ms_per_op),
        pick(&p, |s| s.cpu_ms_per_op),
        "<= 0.5x peer",
        ratio(|s| s.cpu_ms_per_op, &k, &p).map(|r| r <= 0.5),
    );
    both("refresh", &k, &p, &mut res);
    let kw = refresh_workers(&t.kagi, krs, &mut kjars, 1).await;
    let pw = refresh_workers(&t.peer, prs, &mut pjars, 1).await;
    let (k, p) = pair("refresh x1", kw, pw, kp, pp, plan).await;
    table.row(
        "token (refresh) p99 alone, 1 worker, ms",
        pick(&k, |s| s.p99_ms),
        pick(&p, |s| s.p99_ms),
        "",
        None,
    );
    both("refresh x1", &k, &p, &mut res);

    log(format!("userinfo: {conns} connections"));
    let kw = userinfo_workers(&t.kagi, krs, &mut kjars, conns).await;
    let pw = userinfo_workers(&t.peer, pui, &mut pjars, conns).await;
    let (k, p) = pair("userinfo", kw, pw, kp, pp, plan).await;
    table.row(
        &format!("userinfo, req/s ({conns} conns)"),
        pick(&k, |s| s.rate),
        pick(&p, |s| s.rate),
        ">= 2.5x peer",
        ratio(|s| s.rate, &k, &p).map(|r| r >= 2.5),
    );
    both("userinfo", &k, &p, &mut res);

    log(format!(
        "passkey login ceremonies: {conns} connections (Kagi only)"
    ));
    let k = if kpass.is_empty() {
        None
    } else {
        let w = (0..conns)
            .map(|i| Worker::Passkey {
                conn: Conn::new(&t.kagi.origin),
                key: kpass[i % kpass.len()].clone(),
            })
            .collect();
        one("passkey", "Kagi", Ok(w), kp, plan).await
    };
    table.row(
        &format!("passkey logins/s (GET /login + start + finish, {conns} conns)"),
        pick(&k, |s| s.rate),
        None,
        ">= 2,000/s",
        k.as_ref().map(|s| s.rate >= 2000.0),
    );
    table.row(
        "passkey login p50 / p99, ms",
        pick(&k, |s| s.p50_ms),
        None,
        "",
        None,
    );
    if let Some(s) = &k {
        let last = table.rows.len() - 1;
        table.rows[last][1] = format!("{} / {}", fmt(Some(s.p50_ms)), fmt(Some(s.p99_ms)));
    }
    both("passkey", &k, &None, &mut res);

    for (who, pid) in [("kagi", kp), ("peer", pp)] {
        phases.insert(format!("{who}_peak_oidc"), json!(procfs::rss_mib(pid)?.1));
    }
    procfs::reset_peak(kp)?;
    log(
        "timing argon2id with Kagi's parameters (m=19456 KiB, t=2, p=1) in this process, servers idle: one at a time, then as many at once as Kagi allows",
    );
    let hash_ms = tokio::task::spawn_blocking(|| single_hash_ms(7)).await??;
    let par = cfg.kagi.hash_concurrency.min(cfg.cores).max(1);
    let mut side = Vec::new();
    for _ in 0..par {
        side.push(tokio::task::spawn_blocking(|| single_hash_ms(5)));
    }
    let mut par_ms = Vec::new();
    for h in side {
        par_ms.push(h.await??);
    }
    res.insert("argon2_single_hash_ms".into(), json!(hash_ms));
    res.insert("argon2_parallel_hash_ms".into(), json!(median(par_ms)));
    log(format!(
        "password-login flood ({conns} connections), alone and then with one token (refresh) worker beside it (Kagi only)"
    ));
    let users = Arc::new(cfg.kagi.users.clone());
    let flood = |offset: usize| -> Vec<Worker> {
        (0..conns)
            .map(|i| Worker::Password {
                conn: Conn::new(&t.kagi.origin),
                users: users.clone(),
                next: i + offset,
            })
            .collect()
    };
    let alone = one("password flood", "Kagi", Ok(flood(0)), kp, plan).await;
    table.row(
        &format!("password logins/s (GET /login + POST /login, {conns} conns)"),
        pick(&alone, |s| s.rate),
        None,
        "",
        None,
    );
    table.row(
        "password login p50 / p99, ms",
        pick(&alone, |s| s.p50_ms),
        None,
        "",
        None,
    );
    if let Some(s) = &alone {
        let last = table.rows.len() - 1;
        table.rows[last][1] = format!("{} / {}", fmt(Some(s.p50_ms)), fmt(Some(s.p99_ms)));
    }
    res.insert(
        "password_logins_per_s".into(),
        json!(alone.as_ref().map_or(f64::NAN, |s| s.rate)),
    );
    both("password flood", &alone, &None, &mut res);

    let side = refresh_workers(&t.kagi, krs, &mut kjars, 1).await?;
    let flood_run = async {
        if !wanted("password flood") {
            bail!("skipped (BENCH_ONLY)");
        }
        work::measure(vec![flood(conns), side], kp, db_of(kp), plan).await
    };
    let (f, s) = match flood_run.await {
        Ok((_, mut s)) => {
            let side = s.pop().map(|r| Summary::of(&r));
            let flood = s.pop().map(|r| Summary::of(&r));
            (flood, side)
        }
        Err(e) => {
            log(format!("flood + token FAILED: {e:#}"));
            (None, None)
        }
    };
    if let Some(f) = &f {
        note("password flood beside token", "Kagi", f);
    }
    if let Some(s) = &s {
        note("token during flood", "Kagi", s);
    }
    table.row(
        "  the same flood with the token worker beside it, logins/s",
        pick(&f, |s| s.rate),
        None,
        "",
        None,
    );
    table.row(
        "token (refresh) p99 during the password flood, ms",
        pick(&s, |s| s.p99_ms),
        None,
        "< 5 ms",
        s.as_ref().map(|s| s.p99_ms < 5.0),
    );
    both("password flood beside token", &f, &None, &mut res);
    both("token during flood", &s, &None, &mut res);
    phases.insert("kagi_peak_flood".into(), json!(procfs::rss_mib(kp)?.1));
    res.insert("rss_phases".into(), serde_json::Value::Object(phases));
    res.insert("algorithms".into(), serde_json::Value::Object(algs));
    Ok(serde_json::Value::Object(res))
}

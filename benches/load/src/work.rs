//! Closed-loop workers and the rounds that measure them: each worker owns
//! one connection and repeats its operation until the round's deadline;
//! a round records every operation's latency and the server's CPU ticks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use crate::http::{Conn, Jar};
use crate::op::{self, ClientCfg, KagiUser, Op};
use crate::passkey::Passkey;
use crate::procfs;

/// One worker's state.
pub enum Worker {
    /// A GET that must answer 200.
    Get { conn: Conn, path: String },
    /// Authorize with the SSO cookie, then exchange the code.
    CodeFlow {
        conn: Conn,
        op: Arc<Op>,
        client: ClientCfg,
        jar: Jar,
    },
    /// Refresh grants along one rotating chain.
    Refresh {
        conn: Conn,
        op: Arc<Op>,
        client: ClientCfg,
        token: String,
    },
    /// Userinfo with one access token.
    Userinfo {
        conn: Conn,
        op: Arc<Op>,
        token: String,
    },
    /// A discoverable passkey login from a fresh browser.
    Passkey { conn: Conn, key: Arc<Passkey> },
    /// Customer code + password up to the second-factor page.
    Password {
        conn: Conn,
        users: Arc<Vec<KagiUser>>,
        next: usize,
    },
}

impl Worker {
    async fn step(&mut self) -> Result<()> {
        match self {
            Self::Get { conn, path } => {
                conn.send(crate::http::Req::get(path))
                    .await?
                    .expect(200, path)?;
            }
            Self::CodeFlow {
                conn,
                op,
                client,
                jar,
            } => {
                op::code_flow(conn, op, client, jar).await?;
            }
            Self::Refresh {
                conn,
                op,
                client,
                token,
            } => {
                *token = op::refresh(conn, op, client, token).await?;
            }
            Self::Userinfo { conn, op, token } => op::userinfo(conn, op, token).await?,
            Self::Passkey { conn, key } => op::kagi_passkey_login(conn, key).await?,
            Self::Password { conn, users, next } => {
                let user = &users[*next % users.len()];
                *next += 1;
                let (_, to) = op::kagi_password(conn, user).await?;
                if to != "/login/totp" {
                    return Err(anyhow!("password login led to {to}"));
                }
            }
        }
        Ok(())
    }
}

/// One group's result in one round.
#[derive(Debug, Default, Clone)]
pub struct Round {
    pub ops: u64,
    pub secs: f64,
    /// Latencies in microseconds, sorted.
    pub lat: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Server CPU seconds during the round.
    pub cpu_secs: f64,
    /// This load client's own CPU seconds during the round.
    pub client_cpu_secs: f64,
    /// CPU seconds of the database server's backends (PostgreSQL only).
    pub db_cpu_secs: f64,
    /// CPU seconds used by every other process on the machine (a shared machine's noise).
    pub other_cpu_secs: f64,
}

impl Round {
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    pub fn pct_ms(&self, p: f64) -> f64 {
        if self.lat.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat.len() as f64 * p).ceil() as usize).clamp(1, self.lat.len()) - 1;
        f64::from(self.lat[i]) / 1000.0
    }

    pub fn cpu_ms_per_op(&self) -> f64 {
        if self.ops == 0 {
            f64::NAN
        } else {
            self.cpu_secs * 1000.0 / self.ops as f64
        }
    }

    pub fn db_cpu_ms_per_op(&self) -> f64 {
        if self.ops == 0 {
            f64::NAN
        } else {
            self.db_cpu_secs * 1000.0 / self.ops as f64
        }
    }
}

/// Medians over rounds.
#[derive(Debug, Clone)]
pub struct Summary {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu_ms_per_op: f64,
    pub db_cpu_ms_per_op: f64,
    pub client_cpu_share: f64,
    /// Cores' worth of CPU that other processes used during the rounds.
    pub other_cores: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub rounds: Vec<(f64, f64, f64)>,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Summary {
    pub fn of(rounds: &[Round]) -> Self {
        let pick = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        Self {
            rate: pick(&Round::rate),
            p50_ms: pick(&|r| r.pct_ms(0.50)),
            p99_ms: pick(&|r| r.pct_ms(0.99)),
            cpu_ms_per_op: pick(&Round::cpu_ms_per_op),
            db_cpu_ms_per_op: pick(&Round::db_cpu_ms_per_op),
            client_cpu_share: pick(&|r| r.client_cpu_secs / r.secs.max(1e-9)),
            other_cores: pick(&|r| r.other_cpu_secs / r.secs.max(1e-9)),
            errors: rounds.iter().map(|r| r.errors).sum(),
            first_error: rounds.iter().find_map(|r| r.first_error.clone()),
            rounds: rounds
                .iter()
                .map(|r| (r.rate(), r.pct_ms(0.99), r.cpu_ms_per_op()))
                .collect(),
        }
    }
}

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub warmup: Duration,
    pub round: Duration,
    pub rounds: usize,
}

const MAX_ERRORS_PER_WORKER: u64 = 20;

async fn run_worker(mut w: Worker, deadline: Instant) -> (Worker, Vec<u32>, u64, Option<String>) {
    let mut lat = Vec::with_capacity(4096);
    let (mut errors, mut first) = (0, None);
    while Instant::now() < deadline {
        let t = Instant::now();
        match w.step().await {
            Ok(()) => lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX)),
            Err(e) => {
                errors += 1;
                first.get_or_insert_with(|| format!("{e:#}"));
                if errors >= MAX_ERRORS_PER_WORKER {
                    break;
                }
            }
        }
    }
    (w, lat, errors, first)
}

/// Runs `groups` of workers side by side for one warm-up and `plan.rounds`
/// rounds; returns each group's summary (the server's CPU is charged to
/// every group, so read it only for a single group).
pub async fn measure(
    groups: Vec<Vec<Worker>>,
    pid: u32,
    db: Option<&str>,
    plan: Plan,
) -> Result<(Vec<Vec<Worker>>, Vec<Vec<Round>>)> {
    let tick = procfs::ticks_per_sec();
    let me = std::process::id();
    let mut groups = groups;
    let mut results: Vec<Vec<Round>> = vec![Vec::new(); groups.len()];
    for round in 0..=plan.rounds {
        let length = if round == 0 { plan.warmup } else { plan.round };
        let cpu0 = procfs::cpu_ticks(pid)?;
        let own0 = procfs::cpu_ticks(me)?;
        let db0 = db.map(procfs::ticks_matching).unwrap_or_default();
        let all0 = procfs::machine_busy_ticks();
        let start = Instant::now();
        let deadline = start + length;
        let mut handles = Vec::new();
        for group in groups.drain(..) {
            handles.push(
                group
                    .into_iter()
                    .map(|w| tokio::spawn(run_worker(w, deadline)))
                    .collect::<Vec<_>>(),
            );
        }
        let mut rounds = Vec::new();
        for group in handles {
            let mut workers = Vec::new();
            let mut r = Round::default();
            for h in group {
                let (w, lat, errors, first) = h.await?;
                workers.push(w);
                r.lat.extend(lat);
                r.errors += errors;
                if r.first_error.is_none() {
                    r.first_error = first;
                }
            }
            groups.push(workers);
            rounds.push(r);
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu = (procfs::cpu_ticks(pid)? - cpu0) as f64 / tick;
        let own = (procfs::cpu_ticks(me)? - own0) as f64 / tick;
        let db_cpu = db.map_or(0, |d| {
            procfs::ticks_between(&db0, &procfs::ticks_matching(d))
        }) as f64
            / tick;
        let all = procfs::machine_busy_ticks().saturating_sub(all0) as f64 / tick;
        if round == 0 {
            continue;
        }
        for (i, mut r) in rounds.into_iter().enumerate() {
            r.lat.sort_unstable();
            r.ops = r.lat.len() as u64;
            r.secs = secs;
            r.cpu_secs = cpu;
            r.client_cpu_secs = own;
            r.db_cpu_secs = db_cpu;
            r.other_cpu_secs = (all - cpu - own - db_cpu).max(0.0);
            results[i].push(r);
        }
    }
    Ok((groups, results))
}

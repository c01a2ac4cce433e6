//! The faults of `chaos`, done for real on a cluster started here: Redis killed (SIGKILL) and
//! restarted on its port and data, an instance killed and restarted, a share of the clients dropped
//! at once; the server side's CPU and memory sampled as processes come and go; and the join probe
//! (join on one instance, `hello` at once on the other). It only hurts the servers and tells the
//! clients to drop: it must never count deliveries, which is the accounting's part.

use super::ChaosConfig;
use crate::ServerOptions;
use crate::client::Command;
use crate::servers::{Haproxy, Makeroom, MakeroomOptions, Redis};
use crate::sys::{CpuUse, MachineCpu, Rng, cpu_secs, now_us, own_cpu_secs, rss_bytes};
use crate::wire::{self, Conn, Incoming, Proto};
use anyhow::{Context, Result};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Redis (append-only file, fsync always), two or more Makeroom instances on it, HAProxy in front.
pub struct Cluster {
    pub redis: Redis,
    pub instances: Vec<Makeroom>,
    pub proxy: Haproxy,
    options: MakeroomOptions,
}

impl Cluster {
    pub async fn start(options: &ServerOptions, instances: usize, volatile_redis: bool) -> Result<Self> {
        let cpus = options.cpus.as_deref();
        let redis = if volatile_redis { Redis::start(cpus).await? } else { Redis::start_durable(cpus).await? };
        let mut makeroom = options.makeroom.clone();
        makeroom.cpus = options.cpus.clone();
        makeroom.redis_url = Some(redis.url());
        let mut servers = Vec::new();
        for i in 0..instances.max(1) {
            makeroom.no_demo = i > 0;
            makeroom.port = None;
            servers.push(Makeroom::start(&makeroom).await?);
        }
        let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
        let proxy = Haproxy::start(cpus, &ports).await?;
        makeroom.no_demo = true;
        Ok(Cluster { redis, instances: servers, proxy, options: makeroom })
    }

    /// Every server-side process: Redis, the instances, the proxy.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.redis.pid(), self.proxy.pid()];
        pids.extend(self.instances.iter().map(Makeroom::pid));
        pids.retain(|&pid| pid != 0);
        pids
    }

    /// Starts instance `i` again on its port (after it was killed).
    pub async fn restart_instance(&mut self, i: usize) -> Result<()> {
        let mut options = self.options.clone();
        options.port = Some(self.instances[i].port);
        self.instances[i] = Makeroom::start(&options).await?;
        Ok(())
    }
}

/// Server CPU and memory while processes come and go.
pub struct Meter {
    seen: HashMap<u32, f64>,
    servers: f64,
    own: f64,
    machine: MachineCpu,
    started: std::time::Instant,
    pub peak_rss: u64,
}

impl Meter {
    pub fn start(pids: &[u32]) -> Self {
        Meter {
            seen: pids.iter().map(|&pid| (pid, cpu_secs(pid).unwrap_or(0.0))).collect(),
            servers: 0.0,
            own: own_cpu_secs(),
            machine: MachineCpu::now(),
            started: std::time::Instant::now(),
            peak_rss: 0,
        }
    }

    /// Adds each process's CPU since the last sample (a process seen for the first time counts from
    /// its start: it was started during the run).
    pub fn sample(&mut self, pids: &[u32]) {
        let mut rss = 0;
        for &pid in pids {
            let Some(now) = cpu_secs(pid) else { continue };
            let before = self.seen.insert(pid, now).unwrap_or(0.0);
            self.servers += (now - before).max(0.0);
            rss += rss_bytes(pid);
        }
        self.peak_rss = self.peak_rss.max(rss);
    }

    /// Servers, generator, others and the host's steal, in % of one core.
    pub fn finish(&self) -> CpuUse {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let own = own_cpu_secs() - self.own;
        let machine = MachineCpu::now().since(self.machine);
        let pct = |secs: f64| 100.0 * secs.max(0.0) / wall;
        CpuUse {
            servers_pct: pct(self.servers),
            generator_pct: pct(own),
            others_pct: pct(machine.busy - self.servers - own),
            steal_pct: pct(machine.steal),
            wall_secs: wall,
        }
    }
}

/// When each fault happened, on the generator's clock (µs).
#[derive(Debug, Default, Clone)]
pub struct Faults {
    pub redis_killed: u64,
    pub redis_back: u64,
    pub instance_killed: u64,
    pub instance_back: u64,
    pub dropped_at: u64,
    pub dropped: Vec<usize>,
    pub traffic_end: u64,
    /// What happened when, for the timeline.
    pub lines: Vec<(u64, String)>,
}

/// Runs the faults on schedule while the traffic goes on, sampling CPU and memory; hands the
/// cluster back at the end.
pub async fn conduct<O>(
    mut cluster: Cluster,
    config: ChaosConfig,
    senders: Vec<mpsc::UnboundedSender<Command<O>>>,
    t0: Instant,
    mut meter: Meter,
) -> (Cluster, Faults, Meter, Result<()>) {
    let mut faults = Faults::default();
    let outcome = async {
        let mut at = t0 + config.warmup;
        sample_until(&cluster, &mut meter, at).await;
        // Fault 1: Redis goes away for `redis_down`.
        meter.sample(&cluster.pids());
        faults.redis_killed = now_us();
        cluster.redis.kill().await;
        faults.lines.push((faults.redis_killed, format!("Redis killed (SIGKILL), port {}", cluster.redis.port)));
        at += config.redis_down;
        sample_until(&cluster, &mut meter, at).await;
        let started = Instant::now();
        cluster.redis.restart().await?;
        faults.redis_back = now_us();
        let data = if config.volatile_redis { "with no data (no append-only file)" } else { "and append-only file" };
        faults.lines.push((
            faults.redis_back,
            format!("Redis restarted on the same port {data} (listening after {} ms)", started.elapsed().as_millis()),
        ));
        // Fault 2: one instance crashes and is started again.
        at = Instant::now() + config.settle;
        sample_until(&cluster, &mut meter, at).await;
        let victim = config.kill_instance.min(cluster.instances.len() - 1);
        meter.sample(&cluster.pids());
        faults.instance_killed = now_us();
        cluster.instances[victim].kill().await;
        faults.lines.push((
            faults.instance_killed,
            format!("instance {victim} (port {}) killed (SIGKILL)", cluster.instances[victim].port),
        ));
        at += config.instance_down;
        sample_until(&cluster, &mut meter, at).await;
        let started = Instant::now();
        cluster.restart_instance(victim).await?;
        faults.instance_back = now_us();
        faults.lines.push((
            faults.instance_back,
            format!(
                "instance {victim} restarted on the same port (listening after {} ms)",
                started.elapsed().as_millis()
            ),
        ));
        // Fault 3: a share of every connection drops at once.
        at = Instant::now() + config.settle;
        sample_until(&cluster, &mut meter, at).await;
        let mut rng = Rng::new(0xC4A05);
        let mut order: Vec<usize> = (0..senders.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let count = ((senders.len() as f64) * config.drop_fraction.clamp(0.0, 1.0)).round() as usize;
        faults.dropped = order[..count].to_vec();
        faults.dropped.sort_unstable();
        faults.dropped_at = now_us();
        for &i in &faults.dropped {
            let _ = senders[i].send(Command::Drop(None));
        }
        faults.lines.push((
            faults.dropped_at,
            format!(
                "{count} of {} connections ({:.0}%) told to drop at once (those already down stay down)",
                senders.len(),
                100.0 * config.drop_fraction
            ),
        ));
        at = Instant::now() + config.after;
        sample_until(&cluster, &mut meter, at).await;
        anyhow::Ok(())
    }
    .await;
    (cluster, faults, meter, outcome)
}

pub async fn sample_until(cluster: &Cluster, meter: &mut Meter, until: Instant) {
    loop {
        meter.sample(&cluster.pids());
        let now = Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(250))).await;
    }
}

/// Joins `count` participants on the instance at `join_port` and has each say `hello` at once on
/// the one at `hello_port`: how many were refused, by error code (read-your-writes across instances).
pub async fn join_probe(join_port: u16, hello_port: u16, code: &str, count: usize) -> Result<BTreeMap<String, u64>> {
    let mut http = crate::http::HttpClient::new(join_port);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..count {
        // The WebSocket is open before the join, so `hello` follows the join's answer at once.
        let mut conn = Conn::open(Proto::Makeroom, hello_port, Ipv4Addr::LOCALHOST).await?;
        let body = json!({"code": code, "name": format!("probe {i}"), "skills": ["testing"]});
        let (status, joined) = http.request("POST", "/api/join", None, Some(&body)).await?;
        if status != 200 {
            *outcomes.entry(format!("join: {status}")).or_default() += 1;
            continue;
        }
        let token = joined["token"].as_str().context("no token")?;
        conn.send(wire::hello(1, token)).await?;
        let outcome = loop {
            match tokio::time::timeout(wire::SETUP_TIMEOUT, conn.next()).await.context("no hello reply")?? {
                Some(Incoming::Reply(reply)) if reply.id == 1 => {
                    break reply.error_code().unwrap_or("ok").to_string();
                }
                Some(_) => {}
                None => break "closed".to_string(),
            }
        };
        conn.close().await;
        *outcomes.entry(outcome).or_default() += 1;
    }
    Ok(outcomes)
}

//! `connections`: as many idle, authenticated Makeroom connections as one instance holds (each has
//! said `hello` and subscribed to `lobby` and its team's room, like a phone on the event page), and
//! the server's memory for them.

use super::Targets;
use crate::report::{Report, mib};
use crate::setup::Population;
use crate::sys::{CpuMeter, tcp_kernel_bytes};
use crate::wire::{self, Conn, Proto, source_addr};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct ConnectionsConfig {
    pub connections: usize,
    /// How long to hold every connection open once all are up (past a heartbeat or two).
    pub hold: Duration,
    pub sources: u8,
    pub parallel_setup: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig { connections: 10_000, hold: Duration::from_secs(20), sources: 4, parallel_setup: 128 }
    }
}

async fn open_idle(port: u16, index: usize, sources: u8, token: &str, team: &str) -> Result<Conn> {
    let mut conn = Conn::open(Proto::Makeroom, port, source_addr(index, sources)).await?;
    conn.call(1, wire::hello(1, token), |_| {}).await?;
    conn.call(2, wire::subscribe(Proto::Makeroom, 2, "lobby", None), |_| {}).await?;
    let team = format!("team:{team}");
    conn.call(3, wire::subscribe(Proto::Makeroom, 3, &team, None), |_| {}).await?;
    Ok(conn)
}

pub async fn run(targets: &Targets, population: &Population, config: &ConnectionsConfig) -> Result<Report> {
    let server = targets.server().context("connections runs against Makeroom")?;
    let pid = server.pid();
    if population.participants.is_empty() {
        bail!("no participants");
    }
    let rss_before = targets.rss();
    let kernel_before = tcp_kernel_bytes();
    let alive = Rc::new(Cell::new(0usize));
    let closed = Rc::new(Cell::new(0usize));
    let failures = Rc::new(Cell::new(0usize));
    let first_error: Rc<std::cell::RefCell<Option<String>>> = Default::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let setup = Rc::new(Semaphore::new(config.parallel_setup.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(config.connections);
    let mut readies = Vec::with_capacity(config.connections);
    for index in 0..config.connections {
        let participant = &population.participants[index % population.participants.len()];
        let token = participant.token.clone();
        let team = population.teams[participant.team].clone();
        let (alive, closed, failures, first_error) =
            (alive.clone(), closed.clone(), failures.clone(), first_error.clone());
        let mut stop = stop_rx.clone();
        let setup = setup.clone();
        let port = server.port;
        let sources = config.sources;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        readies.push(ready_rx);
        tasks.push(tokio::task::spawn_local(async move {
            let opened = {
                let _permit = setup.acquire().await;
                open_idle(port, index, sources, &token, &team).await
            };
            let mut conn = match opened {
                Ok(conn) => conn,
                Err(err) => {
                    failures.set(failures.get() + 1);
                    first_error.borrow_mut().get_or_insert(format!("{err:#}"));
                    let _ = ready_tx.send(());
                    return;
                }
            };
            alive.set(alive.get() + 1);
            let _ = ready_tx.send(());
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    incoming = conn.next() => match incoming {
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => {
                            alive.set(alive.get() - 1);
                            closed.set(closed.get() + 1);
                            return;
                        }
                    },
                }
            }
            alive.set(alive.get() - 1);
            conn.drop_abruptly();
        }));
    }
    for ready in readies {
        let _ = ready.await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let up = alive.get();
    // Let allocators and the kernel settle before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_up = targets.rss();
    let kernel_up = tcp_kernel_bytes();
    let cpu = CpuMeter::start(&targets.pids());
    let mut peak_during_hold = rss_up;
    let hold_until = Instant::now() + config.hold;
    while Instant::now() < hold_until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak_during_hold = peak_during_hold.max(targets.rss());
    }
    let cpu = cpu.stop();
    let still_alive = alive.get();
    let rss_end = targets.rss();
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let per_conn = if up > 0 { (rss_up.saturating_sub(rss_before)) as f64 / up as f64 } else { 0.0 };
    let mut extra = serde_json::Map::new();
    extra.insert("connected".into(), json!(up));
    extra.insert("alive_after_hold".into(), json!(still_alive));
    extra.insert("closed_by_server".into(), json!(closed.get()));
    extra.insert("setup_failures".into(), json!(failures.get()));
    extra.insert("connect_s".into(), json!((connect_secs * 10.0).round() / 10.0));
    extra.insert("hold_s".into(), json!(config.hold.as_secs_f64()));
    extra.insert("rss_before_mib".into(), json!(round1(mib(rss_before))));
    extra.insert("rss_connected_mib".into(), json!(round1(mib(rss_up))));
    extra.insert("rss_end_mib".into(), json!(round1(mib(rss_end))));
    extra.insert("server_kib_per_conn".into(), json!(round1(per_conn / 1024.0)));
    extra.insert("kernel_tcp_mib_delta".into(), json!(round1(mib(kernel_up.saturating_sub(kernel_before)))));
    extra.insert("participants".into(), json!(population.participants.len().min(config.connections)));
    extra.insert("server_pid".into(), json!(pid));
    if let Some(error) = first_error.borrow().clone() {
        extra.insert("first_error".into(), json!(error));
    }
    Ok(Report {
        scenario: "connections".into(),
        target: targets.name(),
        instances: 1,
        connections: config.connections,
        rooms: population.teams.len(),
        duration_s: config.hold.as_secs_f64(),
        server_rss_mib: mib(peak_during_hold),
        server_peak_rss_mib: mib(targets.peak_rss()),
        server_cpu_pct: cpu.servers_pct,
        generator_cpu_pct: cpu.generator_pct,
        other_cpu_pct: cpu.others_pct,
        steal_cpu_pct: cpu.steal_pct,
        extra,
        ..Report::default()
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

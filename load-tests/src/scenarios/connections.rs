//! `connections`: as many idle, authenticated Makeroom connections as one instance holds (each has
//! said `hello` and subscribed to `lobby` and its team's room, like a phone on the event page), and
//! the server's memory for them.

use super::Targets;
use crate::client::{Client, ClientSpec, Draft, Entry, Event, Fleet, Hooks, Outcome, Policy, Slot, Subscription};
use crate::report::{Report, mib};
use crate::setup::Population;
use crate::sys::{CpuMeter, tcp_kernel_bytes};
use crate::wire::{Proto, source_addr};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
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

/// An idle connection's part: counts itself alive once subscribed, and closed if the server ends it.
struct Idle {
    alive: Rc<Cell<usize>>,
    closed: Rc<Cell<usize>>,
}

impl Hooks for Idle {
    /// Idle connections are never told to send anything.
    type Order = std::convert::Infallible;

    fn draft(&mut self, order: Self::Order, _slot: Slot) -> Option<Draft> {
        match order {}
    }

    fn on_event(&mut self, event: Event<'_>) {
        match event {
            Event::Ready { .. } => self.alive.set(self.alive.get() + 1),
            Event::Lost => {
                self.alive.set(self.alive.get().saturating_sub(1));
                self.closed.set(self.closed.get() + 1);
            }
            _ => {}
        }
    }

    fn on_settled(&mut self, _entry: Entry, _outcome: Outcome<'_>) {}
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
    // Idle phones: they stay down when the server closes them, so every close shows.
    let policy = Policy { window: 1, reconnect: None, ..Policy::pipelined(Proto::Makeroom) };
    let clients = (0..config.connections)
        .map(|index| {
            let participant = &population.participants[index % population.participants.len()];
            let team = &population.teams[participant.team];
            let spec = ClientSpec {
                index,
                proto: Proto::Makeroom,
                port: server.port,
                source: source_addr(index, config.sources),
                token: participant.token.clone(),
                subscriptions: vec![
                    Subscription::new("lobby", false),
                    Subscription::new(format!("team:{team}"), false),
                ],
                seed: index as u64,
            };
            Client::new(spec, policy.clone(), Idle { alive: alive.clone(), closed: closed.clone() })
        })
        .collect();
    let started = Instant::now();
    let fleet = Fleet::start(clients, config.parallel_setup).await;
    let failures = fleet.failures().count();
    let first_error = fleet.failures().next().map(str::to_string);
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
    fleet.finish().await;
    let per_conn = if up > 0 { (rss_up.saturating_sub(rss_before)) as f64 / up as f64 } else { 0.0 };
    let mut extra = serde_json::Map::new();
    extra.insert("connected".into(), json!(up));
    extra.insert("alive_after_hold".into(), json!(still_alive));
    extra.insert("closed_by_server".into(), json!(closed.get()));
    extra.insert("setup_failures".into(), json!(failures));
    extra.insert("connect_s".into(), json!((connect_secs * 10.0).round() / 10.0));
    extra.insert("hold_s".into(), json!(config.hold.as_secs_f64()));
    extra.insert("rss_before_mib".into(), json!(round1(mib(rss_before))));
    extra.insert("rss_connected_mib".into(), json!(round1(mib(rss_up))));
    extra.insert("rss_end_mib".into(), json!(round1(mib(rss_end))));
    extra.insert("server_kib_per_conn".into(), json!(round1(per_conn / 1024.0)));
    extra.insert("kernel_tcp_mib_delta".into(), json!(round1(mib(kernel_up.saturating_sub(kernel_before)))));
    extra.insert("participants".into(), json!(population.participants.len().min(config.connections)));
    extra.insert("server_pid".into(), json!(pid));
    if let Some(error) = first_error {
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
        extra,
        ..Report::default()
    }
    .with_cpu(&cpu))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

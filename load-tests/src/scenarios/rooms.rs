//! `rooms`: N connections in R rooms, every connection publishing in its room at an aggregate
//! rate; latency from publish to every receiver; exact accounting of every delivery.

use super::Targets;
use crate::accounting::{Latency, Receiver, settle};
use crate::report::{Report, mib};
use crate::setup::Population;
use crate::sys::{CpuMeter, now_us};
use crate::traffic::{Fleet, MemberSpec, Shared, publish_for, start_fleet};
use crate::wire::{Proto, source_addr};
use anyhow::{Result, bail};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RoomsConfig {
    pub connections: usize,
    pub rooms: usize,
    /// Publishes per second, all connections together.
    pub rate: f64,
    pub duration: Duration,
    /// Traffic at the same rate before measuring (Node needs a couple of seconds).
    pub warmup: Duration,
    pub sources: u8,
    pub parallel_setup: usize,
    pub max_inflight: usize,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        RoomsConfig {
            connections: 2000,
            rooms: 100,
            rate: 5000.0,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            sources: 4,
            parallel_setup: 256,
            max_inflight: 1000,
        }
    }
}

/// The channel of room `room` for the target's protocol.
pub fn room_channel(proto: Proto, population: Option<&Population>, room: usize) -> String {
    match (proto, population) {
        (Proto::Makeroom, Some(p)) => format!("team:{}", p.teams[room % p.teams.len()]),
        _ => format!("room-{room}"),
    }
}

/// Connection `i` is in room `i % rooms` (Makeroom participants were joined to team `i % teams`).
pub fn specs(
    targets: &Targets,
    population: Option<&Population>,
    connections: usize,
    rooms: usize,
    sources: u8,
) -> Result<Vec<MemberSpec>> {
    let ports = targets.ports();
    if ports.is_empty() {
        bail!("no server to drive");
    }
    if let Some(p) = population
        && (p.participants.len() < connections || p.teams.len() != rooms)
    {
        bail!(
            "population has {} participants in {} teams; need {connections} in {rooms}",
            p.participants.len(),
            p.teams.len()
        );
    }
    Ok((0..connections)
        .map(|i| MemberSpec {
            index: i,
            stream: Some(i as u32),
            channel: room_channel(targets.proto, population, i % rooms),
            token: population.map(|p| p.participants[i].token.clone()).unwrap_or_default(),
            port: ports[i % ports.len()],
            source: source_addr(i, sources),
        })
        .collect())
}

pub async fn run(targets: &Targets, population: Option<&Population>, config: &RoomsConfig) -> Result<Report> {
    let specs = specs(targets, population, config.connections, config.rooms, config.sources)?;
    let shared = Shared::new(targets.proto, specs.len(), config.max_inflight);
    let fleet = start_fleet(specs, shared.clone(), config.parallel_setup).await?;
    let rooms = config.rooms.max(1);
    let members = fleet.room_members(rooms);
    let publishers: Vec<usize> = (0..fleet.ready.len()).filter(|&i| fleet.ready[i]).collect();
    let (report, _) = measure(targets, fleet, &publishers, config.rate, config.warmup, config.duration, |stream| {
        members[stream as usize % rooms].as_slice()
    })
    .await;
    let mut report = report;
    report.scenario = "rooms".into();
    report.rooms = rooms;
    Ok(report)
}

/// Runs warm-up then the measured window, drains, and settles the accounts.
pub async fn measure<'a>(
    targets: &Targets,
    fleet: Fleet,
    publishers: &[usize],
    rate: f64,
    warmup: Duration,
    duration: Duration,
    members: impl Fn(u32) -> &'a [usize],
) -> (Report, Vec<crate::traffic::MemberResult>) {
    let shared = fleet.shared.clone();
    publish_for(&fleet, publishers, rate, warmup, |_| true).await;
    let from = now_us();
    shared.window.set((from, from + duration.as_micros() as u64));
    let cpu = CpuMeter::start(&targets.pids());
    publish_for(&fleet, publishers, rate, duration, |_| true).await;
    let cpu = cpu.stop();
    let rss = targets.rss();
    fleet.drain(Duration::from_secs(3), Duration::from_secs(30)).await;
    let setup_failures = fleet.setup_failures;
    let setup_secs = fleet.setup_secs;
    let connections = fleet.ready.len();
    let mut results = fleet.finish().await;
    let mut acked = HashMap::new();
    let mut by_index: Vec<Receiver> = (0..connections).map(|_| Receiver::default()).collect();
    for result in results.iter_mut() {
        if let Some(slot) = by_index.get_mut(result.index) {
            *slot = std::mem::take(&mut result.receiver);
        }
        if let Some((stream, bits)) = result.acked.take() {
            acked.insert(stream, bits);
        }
    }
    let mut totals = settle(&by_index, &acked, &members);
    totals.sent = shared.sent.get();
    totals.publish_errors = shared.errors.get();
    let hist = shared.hist.borrow();
    let window_secs = duration.as_secs_f64();
    let mut extra = serde_json::Map::new();
    extra.insert("setup_failures".into(), json!(setup_failures));
    extra.insert("setup_s".into(), json!((setup_secs * 10.0).round() / 10.0));
    extra.insert("server_closes".into(), json!(shared.server_closes.get()));
    extra.insert("reconnects".into(), json!(shared.reconnects.get()));
    let ack = Latency::of(&shared.ack_hist.borrow());
    extra.insert("ack_ms".into(), json!({"p50": ack.p50_ms, "p99": ack.p99_ms, "max": ack.max_ms}));
    if shared.resent.get() > 0 {
        extra.insert("resent".into(), json!(shared.resent.get()));
        extra.insert("duplicate_replies".into(), json!(shared.duplicate_replies.get()));
    }
    if targets.proto == Proto::Makeroom {
        extra.insert("offset_gaps".into(), json!(shared.offset_gaps.get()));
    }
    if let Some(error) = shared.first_error.borrow().clone() {
        extra.insert("first_error".into(), json!(error));
    }
    let report = Report {
        scenario: String::new(),
        target: targets.name(),
        instances: targets.instances(),
        connections,
        rooms: 0,
        rate,
        duration_s: window_secs,
        totals,
        skipped: shared.skipped.get(),
        latency: Latency::of(&hist),
        deliveries_per_sec: shared.measured.get() as f64 / window_secs.max(1e-9),
        server_rss_mib: mib(rss),
        server_peak_rss_mib: mib(targets.peak_rss()),
        extra,
        ..Report::default()
    }
    .with_cpu(&cpu);
    (report, results)
}

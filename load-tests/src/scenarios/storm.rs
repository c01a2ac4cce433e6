//! `reconnect-storm`: thousands of Makeroom clients drop at once (no close handshake, as when a
//! venue's wifi blinks) and come back at random moments within a few seconds, while publishing goes
//! on. Each comes back with `subscribe` + `since` and must end with exactly the messages of its
//! channel; publishers resend what was never answered with the same idempotency keys.

use super::Targets;
use super::rooms::{measure, specs};
use crate::setup::Population;
use crate::sys::{Rng, now_us};
use crate::traffic::{Shared, publish_for, start_fleet};
use anyhow::Result;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct StormConfig {
    pub clients: usize,
    pub rooms: usize,
    /// Publishers per room (the first members of each room).
    pub publishers_per_room: usize,
    /// Publishes per second, all publishers together.
    pub rate: f64,
    /// Publishing before the storm.
    pub before: Duration,
    /// Clients come back at uniformly random moments within this long after the drop.
    pub spread: Duration,
    /// Recovery must be complete within this long after the drop (the target is 15 s).
    pub deadline: Duration,
    /// Publishing after every client is back.
    pub after: Duration,
    /// Share of clients that drop (publishers included).
    pub drop_fraction: f64,
    pub sources: u8,
    pub parallel_setup: usize,
}

impl Default for StormConfig {
    fn default() -> Self {
        StormConfig {
            clients: 5000,
            rooms: 250,
            publishers_per_room: 2,
            rate: 1000.0,
            before: Duration::from_secs(3),
            spread: Duration::from_secs(3),
            deadline: Duration::from_secs(15),
            after: Duration::from_secs(3),
            drop_fraction: 1.0,
            sources: 4,
            parallel_setup: 256,
        }
    }
}

pub async fn run(targets: &Targets, population: &Population, config: &StormConfig) -> Result<crate::report::Report> {
    let rooms = config.rooms.max(1);
    let mut specs = specs(targets, Some(population), config.clients, rooms, config.sources)?;
    let publisher_count = rooms * config.publishers_per_room;
    for spec in specs.iter_mut() {
        if spec.index >= publisher_count {
            spec.stream = None;
        }
    }
    // Room sizes are small and the storm queues publishes while clients are away.
    let shared = Shared::new(targets.proto, specs.len(), 100_000);
    let fleet = start_fleet(specs, shared.clone(), config.parallel_setup).await?;
    let members = fleet.room_members(rooms);
    let publishers: Vec<usize> = (0..publisher_count.min(fleet.ready.len())).filter(|&i| fleet.ready[i]).collect();
    // Phase 1: steady publishing.
    publish_for(&fleet, &publishers, config.rate, config.before, |_| true).await;
    // Phase 2: the storm. Everyone selected drops now and comes back within `spread`.
    let mut rng = Rng::new(0x5707);
    let mut dropped = 0u64;
    for i in 0..fleet.ready.len() {
        if fleet.ready[i] && rng.unit() < config.drop_fraction {
            fleet.clients.drop_connection(i, Some(rng.duration_below(config.spread)));
            dropped += 1;
        }
    }
    let dropped_at = now_us();
    let done = |s: &Shared| s.recovered_clients.get() + s.not_recovered.get() + s.gave_up.get();
    publish_for(&fleet, &publishers, config.rate, config.deadline, |_| done(&shared) < dropped).await;
    let back = done(&shared);
    let recovery_ms = if back >= dropped && dropped > 0 {
        Some(shared.last_recovery_us.get().saturating_sub(dropped_at) as f64 / 1000.0)
    } else {
        None
    };
    // Phase 3: publishing goes on after the storm, then everything is settled.
    let (mut report, _) = measure(targets, fleet, &publishers, config.rate, Duration::ZERO, config.after, |stream| {
        members[stream as usize % rooms].as_slice()
    })
    .await;
    report.scenario = "reconnect-storm".into();
    report.rooms = rooms;
    report.duration_s = (config.before + config.after).as_secs_f64();
    let within = recovery_ms.is_some_and(|ms| ms <= config.deadline.as_secs_f64() * 1000.0);
    let extra = &mut report.extra;
    extra.insert("dropped".into(), json!(dropped));
    extra.insert("publishers".into(), json!(publishers.len()));
    extra.insert("recovered_clients".into(), json!(shared.recovered_clients.get()));
    extra.insert("not_recovered".into(), json!(shared.not_recovered.get()));
    extra.insert("gave_up".into(), json!(shared.gave_up.get()));
    extra.insert("recovered_messages".into(), json!(shared.recovered_deliveries.get()));
    extra.insert("recovery_ms".into(), json!(recovery_ms));
    extra.insert(
        "exact_within_deadline".into(),
        json!(
            within
                && report.totals.lost == 0
                && report.totals.duplicated == 0
                && report.totals.foreign == 0
                && shared.not_recovered.get() == 0
        ),
    );
    Ok(report)
}

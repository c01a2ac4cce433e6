//! Short correctness-only runs of `rooms`, `reconnect-storm`, `event-day` and `connections` against
//! the real server binary:
//! nothing lost, doubled, reordered or misrouted. No wall-clock thresholds: figures live in
//! docs/PERFORMANCE.md, not here.

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_every_member_got_everything_once, local, makeroom_bin};
use makeroom_load::scenarios::{Targets, connections, event_day, rooms, storm};
use makeroom_load::servers::{Makeroom, MakeroomOptions};
use makeroom_load::setup;
use std::time::Duration;

async fn makeroom() -> Targets {
    let server = Makeroom::start(&MakeroomOptions::new(makeroom_bin())).await.expect("the server starts");
    Targets::single(server)
}

#[test]
fn rooms_delivers_every_message_exactly_once_in_order() {
    local(async {
        let targets = makeroom().await;
        let server = targets.server().unwrap();
        let population = setup::populate(server, 5, 50).await.unwrap();
        let config = rooms::RoomsConfig {
            connections: 50,
            rooms: 5,
            rate: 100.0,
            duration: Duration::from_secs(2),
            warmup: Duration::ZERO,
            sources: 1,
            ..Default::default()
        };
        let report = rooms::run(&targets, Some(&population), &config).await.unwrap();
        assert_every_member_got_everything_once(&report, 10);
    });
}

#[test]
fn reconnect_storm_recovers_exactly() {
    local(async {
        let targets = makeroom().await;
        let server = targets.server().unwrap();
        let population = setup::populate(server, 10, 100).await.unwrap();
        let config = storm::StormConfig {
            clients: 100,
            rooms: 10,
            publishers_per_room: 2,
            rate: 100.0,
            before: Duration::from_secs(1),
            spread: Duration::from_secs(1),
            deadline: Duration::from_secs(60),
            after: Duration::from_secs(1),
            drop_fraction: 1.0,
            sources: 1,
            parallel_setup: 32,
        };
        let report = storm::run(&targets, &population, &config).await.unwrap();
        println!("{}", report.table());
        let t = &report.totals;
        assert!(t.acked > 0, "something was published: {t:?}");
        assert_eq!(report.extra["dropped"], 100);
        assert_eq!(report.extra["recovered_clients"], 100);
        assert_eq!(report.extra["not_recovered"], 0);
        assert_eq!(t.publish_errors, 0, "{:?}", report.extra);
        assert_eq!((t.lost, t.duplicated, t.reordered, t.foreign), (0, 0, 0, 0));
        assert_eq!(t.delivered, t.expected);
    });
}

#[test]
fn event_day_gives_every_phone_every_offset_once_through_drops() {
    local(async {
        let targets = makeroom().await;
        let config = event_day::EventDayConfig {
            teams: 3,
            team_size: 3,
            displays: 1,
            duration: Duration::from_secs(4),
            // Busy enough that chats, cards, announcements and phone drops all happen in 4 s.
            intensity: 40.0,
            sources: 1,
        };
        let report = event_day::run(&targets, &config).await.unwrap();
        println!("{}", report.table());
        let t = &report.totals;
        assert!(t.acked > 0, "something was published: {t:?}");
        assert!(report.extra["phone_drops"].as_u64().unwrap() > 0, "{:?}", report.extra);
        assert!(report.extra["reconnects"].as_u64().unwrap() > 0, "{:?}", report.extra);
        assert_eq!(report.extra["not_recovered"], 0);
        assert_eq!((t.lost, t.duplicated, t.reordered), (0, 0, 0));
        assert_eq!(t.delivered, t.expected);
    });
}

#[test]
fn connections_hold_every_idle_connection() {
    local(async {
        let targets = makeroom().await;
        let server = targets.server().unwrap();
        let population = setup::populate(server, 2, 20).await.unwrap();
        let config = connections::ConnectionsConfig {
            connections: 40,
            hold: Duration::from_secs(1),
            sources: 1,
            parallel_setup: 8,
        };
        let report = connections::run(&targets, &population, &config).await.unwrap();
        println!("{}", report.table());
        assert_eq!(report.extra["connected"], 40);
        assert_eq!(report.extra["setup_failures"], 0);
        assert_eq!(report.extra["alive_after_hold"], 40);
        assert_eq!(report.extra["closed_by_server"], 0);
    });
}

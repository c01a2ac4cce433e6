//! A short correctness-only run of `rooms` and `reconnect-storm` against the real server binary:
//! nothing lost, doubled, reordered or misrouted. No wall-clock thresholds: figures live in
//! docs/PERFORMANCE.md, not here.

#![allow(clippy::unwrap_used)]

use makeroom_load::scenarios::{Targets, rooms, storm};
use makeroom_load::servers::{Makeroom, MakeroomOptions};
use makeroom_load::setup;
use std::path::PathBuf;
use std::time::Duration;

/// `MAKEROOM_BIN`, or the debug binary that the workspace test run builds.
fn makeroom_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("MAKEROOM_BIN") {
        return bin.into();
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/makeroom");
    assert!(
        bin.exists(),
        "no server binary at {}: run `cargo build -p makeroom-server` or set MAKEROOM_BIN",
        bin.display()
    );
    bin
}

fn local<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, future)
}

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
        println!("{}", report.table());
        let t = &report.totals;
        assert!(t.acked > 0, "something was published: {t:?}");
        assert_eq!(t.publish_errors, 0, "{:?}", report.extra);
        assert_eq!(t.expected, t.acked * 10, "every room has 10 members");
        assert_eq!((t.lost, t.duplicated, t.reordered, t.foreign), (0, 0, 0, 0));
        assert_eq!(t.delivered, t.expected);
        assert_eq!(report.extra["offset_gaps"], 0);
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

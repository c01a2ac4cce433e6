//! A short `chaos` run against the real server binary on a real Redis behind a real HAProxy: Redis
//! killed and restarted, an instance killed and restarted, a third of the clients dropped at once.
//! Correctness only (nothing acknowledged lost or doubled, every client got every message once, in
//! order); no wall-clock thresholds. Needs `redis-server` and `haproxy` (`scripts/test` installs
//! them) and `target/debug/makeroom` (or `$MAKEROOM_BIN`).

#![allow(clippy::unwrap_used)]

mod common;

use common::{local, server_options};
use makeroom_load::scenarios::chaos::{self, ChaosConfig};
use std::time::Duration;

#[test]
fn redis_and_instance_crashes_and_a_mass_drop_lose_and_double_nothing() {
    let report = local(async {
        let options = server_options();
        let config = ChaosConfig {
            teams: 5,
            team_size: 4,
            displays: 1,
            intensity: 10.0,
            sources: 1,
            warmup: Duration::from_secs(2),
            redis_down: Duration::from_secs(3),
            settle: Duration::from_secs(2),
            instance_down: Duration::from_secs(1),
            after: Duration::from_secs(2),
            drain: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(2),
            join_probe: 0,
            ..Default::default()
        };
        chaos::run(&options, &config).await.unwrap()
    });
    println!("{}", chaos::table(&report));
    let acknowledged = &report.extra["acknowledged"];
    let receivers = &report.extra["receivers"];
    assert!(report.totals.acked > 0, "something was acknowledged: {acknowledged}");
    assert_eq!(acknowledged["lost"], 0, "{acknowledged}");
    assert_eq!(acknowledged["doubled"], 0, "{acknowledged}");
    assert_eq!(acknowledged["unresolved"], 0, "every outbox emptied: {acknowledged}");
    assert_eq!(acknowledged["stored"], report.totals.acked, "history holds exactly what was acknowledged");
    for key in ["lost", "duplicated", "reordered", "content_mismatches", "not_recovered", "epoch_changes"] {
        assert_eq!(receivers[key], 0, "receivers {key}: {receivers}");
    }
    assert_eq!(receivers["delivered"], receivers["expected"]);
    assert!(chaos::exact(&report));
    // The faults really happened: publishes were refused while Redis was down, and the clients the
    // killed instance held came back.
    let phases = report.extra["phases"].as_array().unwrap();
    assert!(phases[1]["refused_unavailable"].as_u64().unwrap() > 0, "{}", phases[1]);
    assert!(phases[3]["lost_by_server"].as_u64().unwrap() > 0, "{}", phases[3]);
    assert!(phases[4]["dropped_by_generator"].as_u64().unwrap() > 0, "{}", phases[4]);
}

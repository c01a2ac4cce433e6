//! `compare`: Makeroom and the Socket.IO peer on the same `rooms` workload, one instance each and two
//! instances each through a private Redis (clients split between the instances), beside the floor
//! relay (Makeroom's protocol on the same stack, nothing stored: what the stack itself allows),
//! servers and Redis pinned to one core and the generator to the other. For each target, searches
//! for the highest publish rate sustained with p99 under a bound and nothing lost, then prints the
//! ratios.

use crate::report::Report;
use crate::scenarios::rooms::{self, RoomsConfig};
use crate::{ServerOptions, Target, setup, start_targets};
use anyhow::Result;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CompareConfig {
    pub connections: usize,
    pub rooms: usize,
    pub start_rate: f64,
    pub step: Duration,
    pub warmup: Duration,
    pub p99_ms: f64,
    pub max_steps: usize,
    pub sources: u8,
    /// `floor`, `makeroom`, `socketio`, `makeroom-redis`, `socketio-redis`.
    pub only: Vec<String>,
    /// A step during which other processes used more CPU than this (% of one core) is run again,
    /// at most twice, after a pause: a shared machine's noise is not the server's limit.
    pub max_other_cpu: f64,
}

/// Why a step does not count as sustained, or `None` if it does.
pub fn shortfall(report: &Report, p99_ms: f64) -> Option<String> {
    let t = &report.totals;
    let extra = |key: &str| report.extra.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    if t.lost > 0 || t.duplicated > 0 || t.foreign > 0 {
        return Some(format!("lost {} dup {}", t.lost, t.duplicated));
    }
    if t.publish_errors > 0 || report.skipped > 0 {
        return Some(format!("{} errors, {} skipped", t.publish_errors, report.skipped));
    }
    if extra("setup_failures") > 0 || extra("server_closes") > 0 || extra("reconnects") > 0 {
        return Some("connections failed or were closed".into());
    }
    if report.latency.p99_ms > p99_ms {
        return Some(format!("p99 {:.1} ms", report.latency.p99_ms));
    }
    None
}

struct Outcome {
    name: String,
    best: Option<Report>,
    steps: usize,
    /// The generator's core was saturated at the limit found: the figure is a lower bound.
    generator_bound: bool,
}

pub async fn run(options: &ServerOptions, config: &CompareConfig, json_out: Option<&Path>) -> Result<()> {
    let mut outcomes = Vec::new();
    for name in &config.only {
        let (target, instances) = match name.as_str() {
            "floor" => (Target::Floor, 1),
            "makeroom" => (Target::Makeroom, 1),
            "makeroom-redis" => (Target::Makeroom, 2),
            "socketio" => (Target::Socketio, 1),
            "socketio-redis" => (Target::Socketio, 2),
            other => anyhow::bail!("unknown target {other:?}"),
        };
        println!("== {name}: searching for the highest sustained rate");
        let targets = start_targets(target, instances, options).await?;
        let population = match targets.server() {
            Some(server) => Some(setup::populate(server, config.rooms, config.connections).await?),
            None => None,
        };
        let mut rate = config.start_rate;
        let mut best: Option<Report> = None;
        let mut failed_at: Option<f64> = None;
        // Whether the generator's core was saturated at the best step, and at the lowest failed one.
        let (mut best_saturated, mut failed_saturated) = (false, false);
        let mut steps = 0;
        for _ in 0..config.max_steps {
            steps += 1;
            let step = RoomsConfig {
                connections: config.connections,
                rooms: config.rooms,
                rate,
                duration: config.step,
                warmup: config.warmup,
                sources: config.sources,
                ..Default::default()
            };
            let mut report = rooms::run(&targets, population.as_ref(), &step).await?;
            for _ in 0..2 {
                if report.other_cpu_pct <= config.max_other_cpu {
                    break;
                }
                println!(
                    "  {:>8.0} msg/s  others took {:.0}% of a core (the host's steal {:.0}%): waiting, then running the step again",
                    rate, report.other_cpu_pct, report.steal_cpu_pct
                );
                tokio::time::sleep(Duration::from_secs(10)).await;
                report = rooms::run(&targets, population.as_ref(), &step).await?;
            }
            report.scenario = "compare-step".into();
            let verdict = shortfall(&report, config.p99_ms);
            println!(
                "  {:>8.0} msg/s  {:>9.0} deliveries/s  p99 {:>8.2} ms  lost {:>6}  cpu server {:>3.0}% gen% {:>3.0}{} ({:.1} µs/delivery) others {:>3.0}% steal {:>3.0}%  {}",
                rate,
                report.deliveries_per_sec,
                report.latency.p99_ms,
                report.totals.lost,
                report.server_cpu_pct,
                report.generator_cpu_pct,
                if report.generator_saturated { "!" } else { " " },
                report.generator_us_per_delivery,
                report.other_cpu_pct,
                report.steal_cpu_pct,
                verdict.as_deref().unwrap_or("sustained")
            );
            if let Some(warning) = report.generator_warning() {
                println!("    !! {warning}");
            }
            if let Some(path) = json_out {
                report.extra.insert("verdict".into(), json!(verdict.as_deref().unwrap_or("sustained")));
                report.emit_json_only(path);
            }
            let saturated = report.generator_saturated;
            match verdict {
                None => {
                    best_saturated = saturated;
                    best = Some(report);
                    rate = match failed_at {
                        Some(fail) => (rate + fail) / 2.0,
                        None => rate * 2.0,
                    };
                }
                Some(_) => {
                    if failed_at.is_none_or(|fail| rate < fail) {
                        failed_saturated = saturated;
                    }
                    failed_at = Some(rate);
                    rate = match &best {
                        Some(b) => (b.rate + rate) / 2.0,
                        None => rate / 2.0,
                    };
                }
            }
            if let (Some(b), Some(fail)) = (&best, failed_at)
                && fail / b.rate < 1.12
            {
                break;
            }
            if best.is_none() && rate < 10.0 {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let generator_bound = best.is_some() && (best_saturated || failed_saturated);
        outcomes.push(Outcome { name: name.clone(), best, steps, generator_bound });
        drop(targets);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "\n== highest rate sustained with p99 under {} ms and nothing lost ({} connections, {} rooms)",
        config.p99_ms, config.connections, config.rooms
    );
    println!(
        "  {:<16} {:>10} {:>14} {:>9} {:>11} {:>6}",
        "target", "msg/s", "deliveries/s", "p99 ms", "server cpu", "gen%"
    );
    let mut summary = serde_json::Map::new();
    for outcome in &outcomes {
        match &outcome.best {
            Some(b) => {
                println!(
                    "  {:<16} {:>10.0} {:>14.0} {:>9.2} {:>10.0}% {:>5.0}%{}",
                    outcome.name,
                    b.rate,
                    b.deliveries_per_sec,
                    b.latency.p99_ms,
                    b.server_cpu_pct,
                    b.generator_cpu_pct,
                    if outcome.generator_bound {
                        "  generator-bound: the generator's core saturated at this limit, not the server's"
                    } else {
                        ""
                    }
                );
                summary.insert(
                    outcome.name.clone(),
                    json!({"rate": b.rate, "deliveries_per_sec": b.deliveries_per_sec,
                           "p99_ms": b.latency.p99_ms, "server_cpu_pct": b.server_cpu_pct,
                           "generator_cpu_pct": b.generator_cpu_pct, "other_cpu_pct": b.other_cpu_pct,
                           "steal_cpu_pct": b.steal_cpu_pct,
                           "generator_us_per_delivery": b.generator_us_per_delivery,
                           "generator_bound": outcome.generator_bound,
                           "steps": outcome.steps}),
                );
            }
            None => {
                println!("  {:<16} none sustained", outcome.name);
                summary.insert(outcome.name.clone(), serde_json::Value::Null);
            }
        }
    }
    let rate_of = |name: &str| {
        outcomes.iter().find(|o| o.name == name).and_then(|o| o.best.as_ref()).map(|b| b.deliveries_per_sec)
    };
    for (ours, peer, label) in [
        ("makeroom", "socketio", "1 instance each"),
        ("makeroom-redis", "socketio-redis", "2 instances each through Redis"),
        ("makeroom", "floor", "what storing costs against the bare stack"),
        ("socketio", "floor", "the peer against the bare stack"),
    ] {
        if let (Some(ours_rate), Some(peer_rate)) = (rate_of(ours), rate_of(peer)) {
            let ratio = ours_rate / peer_rate.max(1e-9);
            println!("  ratio {ours} / {peer} ({label}): {ratio:.2}x");
            summary.insert(format!("ratio_{ours}_vs_{peer}"), json!(ratio));
        }
    }
    let line = json!({"scenario": "compare", "p99_bound_ms": config.p99_ms,
                      "connections": config.connections, "rooms": config.rooms, "results": summary});
    println!("{line}");
    if let Some(path) = json_out {
        crate::report::append_line(path, &line.to_string());
    }
    Ok(())
}

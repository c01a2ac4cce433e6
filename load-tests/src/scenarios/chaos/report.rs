//! How a `chaos` run is told: the phases (what each fault did to the clients), the fault timeline
//! with what clients saw around each fault, and the table that prints both before the usual rows.
//! It only describes what the accounting and the faults recorded: it must never judge the run.

use super::accounting::{Ev, Outcome, Person, Settled, Shared, secs_since};
use super::faults::Faults;
use crate::accounting::{Latency, Totals};
use crate::report::{Report, mib};
use crate::sys::CpuUse;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// Everything a chaos report is made of.
pub struct Run<'a> {
    pub settled: &'a Settled,
    pub shared: &'a Shared,
    pub faults: &'a Faults,
    pub people: &'a [Person],
    /// The join probe's outcomes, by error code, if it ran.
    pub probe: Option<BTreeMap<String, u64>>,
    pub t0_us: u64,
    pub setup_secs: f64,
    pub drain_secs: f64,
    pub caught_up: bool,
    pub instances: usize,
    pub connections: usize,
    pub teams: usize,
    pub rss: u64,
    pub peak_rss: u64,
    pub cpu: CpuUse,
}

/// The report of a run: the verdict and its counts, latencies, phases and timeline.
pub fn build(run: Run<'_>) -> Report {
    let Run { settled, shared, faults, people, t0_us, .. } = run;
    let events = shared.events.borrow();
    let totals = Totals {
        sent: settled.entries,
        acked: settled.acked,
        publish_errors: settled.refused,
        expected: settled.expected,
        delivered: settled.delivered,
        lost: settled.receiver_lost,
        duplicated: settled.receiver_duplicated,
        reordered: settled.receiver_reordered,
        foreign: 0,
    };
    let mut extra = serde_json::Map::new();
    let verdict = settled.exact();
    extra.insert("verdict".into(), json!(if verdict { "exact" } else { "FAILED" }));
    extra.insert(
        "acknowledged".into(),
        json!({"publishes": settled.acked_chat, "commands": settled.acked_commands,
               "stored": settled.stored, "lost": settled.acked_lost, "doubled": settled.doubled,
               "unresolved": settled.unresolved, "refused_for_good": settled.refused,
               "stored_unclaimed": settled.unclaimed}),
    );
    extra.insert(
        "receivers".into(),
        json!({"channels_checked": settled.receiver_channels, "expected": settled.expected,
               "delivered": settled.delivered, "lost": settled.receiver_lost,
               "duplicated": settled.receiver_duplicated, "reordered": settled.receiver_reordered,
               "content_mismatches": settled.mismatches, "not_recovered": settled.not_recovered,
               "epoch_changes": settled.epoch_changes}),
    );
    extra.insert(
        "resends".into(),
        json!({"entries_sent_more_than_once": settled.resent_entries, "extra_sends": settled.extra_sends,
               "acked_duplicate_true": settled.acked_duplicate}),
    );
    let ack = Latency::of(&shared.ack.borrow());
    extra.insert("ack_ms".into(), json!({"p50": ack.p50_ms, "p99": ack.p99_ms, "max": ack.max_ms}));
    for (name, histogram) in [("publish", &shared.refusal), ("command", &shared.command_refusal)] {
        let refusal = Latency::of(&histogram.borrow());
        extra.insert(
            format!("unavailable_reply_ms_{name}"),
            json!({"n": refusal.samples, "p50": refusal.p50_ms, "p99": refusal.p99_ms, "max": refusal.max_ms}),
        );
    }
    extra.insert("duplicate_true_after".into(), json!(shared.duplicate_after.borrow().clone()));
    let waited = Latency::of(&shared.created_to_received.borrow());
    extra.insert(
        "created_to_received_ms".into(),
        json!({"p50": waited.p50_ms, "p90": waited.p90_ms, "p99": waited.p99_ms, "max": waited.max_ms}),
    );
    let calm = Latency::of(&shared.calm_delivery.borrow());
    extra.insert(
        "delivery_before_faults_ms".into(),
        json!({"p50": calm.p50_ms, "p99": calm.p99_ms, "max": calm.max_ms}),
    );
    extra.insert("phases".into(), phases(faults, &events, t0_us));
    extra.insert("timeline".into(), timeline(faults, &events, people, t0_us));
    if let Some(probe) = &run.probe {
        extra.insert("join_then_hello_elsewhere".into(), json!(probe));
    }
    extra.insert("reconnect_failures".into(), json!(shared.failures.borrow().clone()));
    extra.insert("refused_codes".into(), json!(settled.refused_codes));
    extra.insert("frames_sent".into(), json!(shared.sent_frames.get()));
    extra.insert("setup_s".into(), json!((run.setup_secs * 10.0).round() / 10.0));
    extra.insert("drain_s".into(), json!((run.drain_secs * 10.0).round() / 10.0));
    extra.insert("caught_up".into(), json!(run.caught_up));
    if let Some(error) = shared.first_error.borrow().clone() {
        extra.insert("first_error".into(), json!(error));
    }
    let secs = (faults.traffic_end.saturating_sub(t0_us)) as f64 / 1e6;
    Report {
        scenario: "chaos".into(),
        target: "makeroom+redis+haproxy".into(),
        instances: run.instances,
        connections: run.connections,
        rooms: run.teams,
        rate: settled.entries as f64 / secs.max(1e-9),
        duration_s: (secs * 10.0).round() / 10.0,
        totals,
        skipped: 0,
        latency: Latency::of(&shared.delivery.borrow()),
        deliveries_per_sec: settled.delivered as f64 / secs.max(1e-9),
        server_rss_mib: mib(run.rss),
        server_peak_rss_mib: mib(run.peak_rss),
        extra,
        ..Report::default()
    }
    .with_cpu(&run.cpu)
}

/// Counts per phase of the run: what each fault did to the clients.
fn phases(faults: &Faults, events: &[(u64, usize, Ev)], t0: u64) -> serde_json::Value {
    let bounds = [
        ("before faults", t0, faults.redis_killed),
        ("Redis down", faults.redis_killed, faults.redis_back),
        ("Redis back", faults.redis_back, faults.instance_killed),
        ("instance killed+restarted", faults.instance_killed, faults.dropped_at),
        ("clients dropped", faults.dropped_at, faults.traffic_end),
        ("drain", faults.traffic_end, u64::MAX),
    ];
    let mut out = Vec::new();
    for (name, from, to) in bounds {
        let count = |ev: Ev| events.iter().filter(|(t, _, e)| *e == ev && *t >= from && *t < to).count();
        out.push(json!({
            "phase": name,
            "from_s": secs_since(from, t0),
            "lost_by_server": count(Ev::Lost),
            "dropped_by_generator": count(Ev::Dropped),
            "reconnect_attempts": count(Ev::Attempt),
            "reconnects_failed": count(Ev::AttemptFailed),
            "reconnected": count(Ev::Ready),
            "subscribe_retries": count(Ev::SubscribeRetry),
            "not_recovered": count(Ev::NotRecovered),
            "refused_unavailable": count(Ev::Unavailable),
            "refused_rate_limited": count(Ev::RateLimited),
            "refused_for_good": count(Ev::Refused),
            "request_timeouts": count(Ev::Timeout),
            "acked": count(Ev::Acked) + count(Ev::AckedDuplicate),
            "acked_duplicate_true": count(Ev::AckedDuplicate),
        }));
    }
    json!(out)
}

/// The fault timeline with what clients saw around each fault.
fn timeline(faults: &Faults, events: &[(u64, usize, Ev)], people: &[Person], t0: u64) -> serde_json::Value {
    let mut lines: Vec<(u64, String)> = faults.lines.clone();
    let first =
        |ev: Ev, from: u64, to: u64| events.iter().find(|(t, _, e)| *e == ev && *t >= from && *t < to).map(|e| e.0);
    let last = |ev: Ev, from: u64, to: u64| {
        events.iter().rev().find(|(t, _, e)| *e == ev && *t >= from && *t < to).map(|e| e.0)
    };
    let ms = |a: u64, b: u64| (a.saturating_sub(b)) / 1000;
    // Redis outage: when publishes were refused, and when they were accepted again.
    let (from, to) = (faults.redis_killed, faults.instance_killed);
    if let (Some(a), Some(b)) = (first(Ev::Unavailable, from, to), last(Ev::Unavailable, from, to)) {
        lines.push((
            a,
            format!("first `unavailable` refusal, {} ms after Redis was killed", ms(a, faults.redis_killed)),
        ));
        lines.push((
            b,
            format!(
                "last `unavailable` refusal, {} ms after Redis was restarted",
                b as i64 / 1000 - faults.redis_back as i64 / 1000
            ),
        ));
    }
    let acked_after = events
        .iter()
        .find(|(t, _, e)| matches!(e, Ev::Acked | Ev::AckedDuplicate) && *t >= faults.redis_back)
        .map(|e| e.0);
    if let Some(a) = acked_after {
        lines.push((
            a,
            format!("first acknowledgement after Redis came back, {} ms after its restart", ms(a, faults.redis_back)),
        ));
    }
    // Who a fault disconnected, and how long until each was subscribed again.
    let cohort = |kind: Ev, from: u64, to: u64, only: Option<&[usize]>| -> (usize, Vec<u64>, usize) {
        let mut hit: HashMap<usize, u64> = HashMap::new();
        for (t, person, e) in events {
            if *e == kind && *t >= from && *t < to && only.is_none_or(|o| o.binary_search(person).is_ok()) {
                hit.entry(*person).or_insert(*t);
            }
        }
        let mut back = Vec::new();
        for (person, since) in &hit {
            let ready = events.iter().find(|(t, p, e)| *p == *person && *e == Ev::Ready && *t >= *since);
            if let Some(ready) = ready {
                back.push(ready.0 - since);
            }
        }
        back.sort_unstable();
        let missing = hit.len() - back.len();
        (hit.len(), back, missing)
    };
    let describe = |what: &str, (n, back, missing): (usize, Vec<u64>, usize)| -> String {
        let pick = |q: f64| back.get(((back.len() as f64 - 1.0) * q).round() as usize).map(|us| us / 1000).unwrap_or(0);
        let mut text = format!(
            "{what}: {n} connections; subscribed again after median {} ms, 90% {} ms, last {} ms",
            pick(0.5),
            pick(0.9),
            pick(1.0)
        );
        if missing > 0 {
            text.push_str(&format!(" ({missing} never came back)"));
        }
        text
    };
    let killed = cohort(Ev::Lost, faults.instance_killed, faults.instance_killed + 2_000_000, None);
    lines.push((faults.instance_killed + 1, describe("lost with the killed instance", killed)));
    let dropped = cohort(Ev::Dropped, faults.dropped_at, faults.dropped_at + 1_000_000, Some(&faults.dropped));
    lines.push((faults.dropped_at + 1, describe("dropped at once", dropped)));
    // The longest any message waited in an outbox.
    let mut longest = (0u64, 0u64);
    for person in people {
        for done in &person.done {
            if let Outcome::Acked { at_us, .. } = done.outcome {
                let waited = at_us.saturating_sub(done.entry.created_us);
                if waited > longest.0 {
                    longest = (waited, done.entry.created_us);
                }
            }
        }
    }
    if longest.0 > 0 {
        lines
            .push((longest.1, format!("the longest wait for an acknowledgement, {} ms, began here", longest.0 / 1000)));
    }
    lines.sort_by_key(|(t, _)| *t);
    json!(lines.iter().map(|(t, text)| format!("{:+6.1} s  {text}", secs_since(*t, t0))).collect::<Vec<_>>())
}

/// The table of a chaos report: the timeline and phases in readable form, then the usual rows.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    if let Some(lines) = report.extra.get("timeline").and_then(|v| v.as_array()) {
        out.push_str("  fault timeline (seconds from the start of traffic)\n");
        for line in lines {
            out.push_str(&format!("    {}\n", line.as_str().unwrap_or_default()));
        }
    }
    if let Some(phases) = report.extra.get("phases").and_then(|v| v.as_array()) {
        out.push_str(&format!(
            "  {:<27} {:>5} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
            "phase", "lost", "dropd", "tries", "failed", "back", "unav", "refusd", "acked", "dup", "t/out"
        ));
        for phase in phases {
            let n = |key: &str| phase[key].as_u64().unwrap_or(0);
            out.push_str(&format!(
                "  {:<27} {:>5} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
                phase["phase"].as_str().unwrap_or_default(),
                n("lost_by_server"),
                n("dropped_by_generator"),
                n("reconnect_attempts"),
                n("reconnects_failed"),
                n("reconnected"),
                n("refused_unavailable"),
                n("refused_for_good"),
                n("acked"),
                n("acked_duplicate_true"),
                n("request_timeouts"),
            ));
        }
        out.push('\n');
    }
    let mut plain = report.clone();
    plain.extra.remove("timeline");
    plain.extra.remove("phases");
    out.push_str(&plain.table());
    out
}

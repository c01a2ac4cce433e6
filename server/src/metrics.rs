//! Counters for operators, served at `/metrics` in Prometheus's text format.
//!
//! Plain atomics in one static: counting must cost a relaxed add on the hot path and nothing else, and
//! every layer (hub, store, transport) can count without being handed a registry.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (in microseconds) of the latency histograms' buckets.
const BUCKETS_US: [u64; 14] =
    [10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

/// A latency histogram in Prometheus's cumulative form: counted with relaxed adds, nothing else.
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Histogram { buckets: [ZERO; BUCKETS_US.len() + 1], sum_us: ZERO }
    }

    pub fn observe(&self, elapsed: Duration) {
        let us = elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
        let bucket = BUCKETS_US.iter().position(|bound| us <= *bound).unwrap_or(BUCKETS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP makeroom_{name} {help}\n# TYPE makeroom_{name} histogram");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS_US.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "makeroom_{name}_bucket{{le=\"{}\"}} {cumulative}", *bound as f64 / 1e6);
        }
        cumulative += self.buckets[BUCKETS_US.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "makeroom_{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "makeroom_{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "makeroom_{name}_count {cumulative}");
    }
}

pub struct Metrics {
    pub connections: AtomicI64,
    pub subscriptions: AtomicI64,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub publications: AtomicU64,
    pub deliveries: AtomicU64,
    /// Frames written to sockets, and the writes that carried them (several pushes per write when
    /// a connection is busy).
    pub frames_written: AtomicU64,
    pub write_batches: AtomicU64,
    /// Transactions the embedded store committed (each one fsync), and the appends they held.
    pub store_commits: AtomicU64,
    pub store_appends: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub store_unavailable: AtomicU64,
    pub redis_disconnections: AtomicU64,
    pub pubsub_gaps_filled: AtomicU64,
    /// Times this instance found that Redis lost data it had seen (a run marker changed or vanished, or
    /// a channel's newest offset went backwards) and reloaded.
    pub redis_data_losses: AtomicU64,
    /// Appends answered `unavailable` because fewer replicas than `--redis-wait-replicas` confirmed them.
    pub redis_replica_waits_failed: AtomicU64,
    pub recoveries_exact: AtomicU64,
    pub recoveries_failed: AtomicU64,
    pub rate_limited: AtomicU64,
    /// HTTP API requests refused by their address's budget, and by their event's budget of joins.
    pub api_rate_limited_address: AtomicU64,
    pub api_rate_limited_event: AtomicU64,
    /// Unknown join codes and refused refresh tokens (what a guessing run makes).
    pub api_failed_lookups: AtomicU64,
    /// Queueing one commit group to every local subscriber.
    pub fanout: Histogram,
    /// A publish or command, from its arrival on the connection to its reply (its wait behind the
    /// connection's earlier requests included).
    pub request_seconds: Histogram,
    /// An append, from reaching the store's writer to its commit.
    pub store_append: Histogram,
}

pub static METRICS: Metrics = Metrics::new();

impl Metrics {
    const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Metrics {
            connections: AtomicI64::new(0),
            subscriptions: AtomicI64::new(0),
            requests: ZERO,
            errors: ZERO,
            publications: ZERO,
            deliveries: ZERO,
            frames_written: ZERO,
            write_batches: ZERO,
            store_commits: ZERO,
            store_appends: ZERO,
            slow_consumers: ZERO,
            store_unavailable: ZERO,
            redis_disconnections: ZERO,
            pubsub_gaps_filled: ZERO,
            redis_data_losses: ZERO,
            redis_replica_waits_failed: ZERO,
            recoveries_exact: ZERO,
            recoveries_failed: ZERO,
            rate_limited: ZERO,
            api_rate_limited_address: ZERO,
            api_rate_limited_event: ZERO,
            api_failed_lookups: ZERO,
            fanout: Histogram::new(),
            request_seconds: Histogram::new(),
            store_append: Histogram::new(),
        }
    }

    /// One commit group's fan-out to this instance's subscribers took `elapsed`.
    pub fn observe_fanout(&self, elapsed: Duration) {
        self.fanout.observe(elapsed);
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: i64| {
            let _ =
                writeln!(out, "# HELP makeroom_{name} {help}\n# TYPE makeroom_{name} {kind}\nmakeroom_{name} {value}");
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as i64;
        metric("connections", "gauge", "WebSocket connections open now.", self.connections.load(Ordering::Relaxed));
        metric("subscriptions", "gauge", "Channel subscriptions open now.", self.subscriptions.load(Ordering::Relaxed));
        metric("requests_total", "counter", "Requests answered.", get(&self.requests));
        metric("request_errors_total", "counter", "Requests answered with an error.", get(&self.errors));
        metric("rate_limited_total", "counter", "Requests refused by the rate limit.", get(&self.rate_limited));
        metric(
            "publications_total",
            "counter",
            "Committed publications fanned out by this instance.",
            get(&self.publications),
        );
        metric("deliveries_total", "counter", "Publications queued to subscribers.", get(&self.deliveries));
        metric("frames_written_total", "counter", "Frames handed to sockets.", get(&self.frames_written));
        metric(
            "write_batches_total",
            "counter",
            "Times a connection handed its waiting frames to its socket at once.",
            get(&self.write_batches),
        );
        metric(
            "store_commits_total",
            "counter",
            "Transactions committed by the embedded store.",
            get(&self.store_commits),
        );
        metric("store_appends_total", "counter", "Appends in those transactions.", get(&self.store_appends));
        metric(
            "slow_consumers_total",
            "counter",
            "Connections closed because their outbox overflowed.",
            get(&self.slow_consumers),
        );
        metric(
            "store_unavailable_total",
            "counter",
            "Store operations that failed as unavailable.",
            get(&self.store_unavailable),
        );
        metric(
            "redis_disconnections_total",
            "counter",
            "Times the Redis subscriber connection dropped.",
            get(&self.redis_disconnections),
        );
        metric(
            "pubsub_gaps_filled_total",
            "counter",
            "Publications pub/sub lost that were recovered from the log.",
            get(&self.pubsub_gaps_filled),
        );
        metric(
            "redis_data_losses_total",
            "counter",
            "Times Redis was found to have lost data this instance had seen (run marker changed, or a channel's \
             newest offset went backwards); each time the event state was reloaded and the channel got a new epoch.",
            get(&self.redis_data_losses),
        );
        metric(
            "redis_replica_waits_failed_total",
            "counter",
            "Appends answered `unavailable` because fewer replicas than --redis-wait-replicas confirmed them in time.",
            get(&self.redis_replica_waits_failed),
        );
        metric(
            "api_failed_lookups_total",
            "counter",
            "Join-code lookups and token trades that named no event or a refresh token that is no good.",
            get(&self.api_failed_lookups),
        );
        let _ = writeln!(
            out,
            "# HELP makeroom_api_rate_limited_total Join-code lookups, joins and token trades refused by a \
             rate limit: their address's, or their event's for joins."
        );
        let _ = writeln!(out, "# TYPE makeroom_api_rate_limited_total counter");
        for (limit, counter) in [("address", &self.api_rate_limited_address), ("event", &self.api_rate_limited_event)] {
            let _ = writeln!(out, "makeroom_api_rate_limited_total{{limit=\"{limit}\"}} {}", get(counter));
        }
        let _ = writeln!(out, "# HELP makeroom_recoveries_total Subscribes with `since`, by outcome.");
        let _ = writeln!(out, "# TYPE makeroom_recoveries_total counter");
        let _ = writeln!(out, "makeroom_recoveries_total{{outcome=\"exact\"}} {}", get(&self.recoveries_exact));
        let _ = writeln!(out, "makeroom_recoveries_total{{outcome=\"resync\"}} {}", get(&self.recoveries_failed));
        self.fanout.render(
            &mut out,
            "fanout_seconds",
            "Time to queue one store commit group to every local subscriber.",
        );
        self.request_seconds.render(
            &mut out,
            "request_seconds",
            "Publishes and commands, from their arrival on the connection to their reply.",
        );
        self.store_append.render(
            &mut out,
            "store_append_seconds",
            "Appends, from reaching the store's writer to their commit.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_the_text_is_prometheus() {
        let metrics = Metrics::new();
        metrics.observe_fanout(Duration::from_micros(5));
        metrics.observe_fanout(Duration::from_micros(700));
        metrics.observe_fanout(Duration::from_secs(1));
        Metrics::count(&metrics.publications);
        let text = metrics.render();
        assert!(text.contains("makeroom_publications_total 1"), "{text}");
        assert!(text.contains("makeroom_fanout_seconds_bucket{le=\"0.00001\"} 1"), "{text}");
        assert!(text.contains("makeroom_fanout_seconds_bucket{le=\"0.001\"} 2"), "{text}");
        assert!(text.contains("makeroom_fanout_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("makeroom_fanout_seconds_count 3"));
        assert!(text.contains("# TYPE makeroom_connections gauge"));
        // Every sample line is `name{labels} value`, and HELP/TYPE lines name metrics without labels.
        for line in text.lines() {
            if line.starts_with('#') {
                assert!(!line.contains('{'), "{line}");
            } else {
                assert_eq!(line.split(' ').count(), 2, "{line}");
            }
        }
    }
}

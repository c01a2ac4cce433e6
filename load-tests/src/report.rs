//! One result per run: a readable table and one JSON line with the same numbers.

use crate::accounting::{Latency, Totals};
use crate::sys::CpuUse;
use serde::Serialize;
use std::io::Write;

/// Above this share of one core the generator's own core counts as saturated: a figure measured
/// then is the generator's limit, not the server's (the generator runs on one thread).
pub const GENERATOR_SATURATED_PCT: f64 = 90.0;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    pub instances: usize,
    pub connections: usize,
    pub rooms: usize,
    /// Publishes per second asked of the generator (0 when the scenario does not publish).
    pub rate: f64,
    pub duration_s: f64,
    #[serde(flatten)]
    pub totals: Totals,
    /// Publishes the generator had to skip because a connection had too many unanswered ones.
    pub skipped: u64,
    pub latency: Latency,
    /// Live deliveries per second of messages sent in the measured window.
    pub deliveries_per_sec: f64,
    pub server_rss_mib: f64,
    pub server_peak_rss_mib: f64,
    pub server_cpu_pct: f64,
    pub generator_cpu_pct: f64,
    /// CPU taken by other processes on the machine and by the VM's host during the measurement
    /// (noise), % of one core.
    pub other_cpu_pct: f64,
    /// The part of `other_cpu_pct` the VM's host took back (steal), % of one core.
    pub steal_cpu_pct: f64,
    /// The generator's CPU time per live delivery in the measured window, µs (0 without any).
    pub generator_us_per_delivery: f64,
    /// The generator's core was above [`GENERATOR_SATURATED_PCT`] during the measurement.
    pub generator_saturated: bool,
    /// Scenario-specific figures.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// The CPU figures of the measured interval (after `deliveries_per_sec` is set).
    pub fn with_cpu(mut self, cpu: &CpuUse) -> Self {
        self.server_cpu_pct = cpu.servers_pct;
        self.generator_cpu_pct = cpu.generator_pct;
        self.other_cpu_pct = cpu.others_pct;
        self.steal_cpu_pct = cpu.steal_pct;
        self.generator_saturated = cpu.generator_pct > GENERATOR_SATURATED_PCT;
        self.generator_us_per_delivery =
            if self.deliveries_per_sec > 0.0 { cpu.generator_pct / 100.0 * 1e6 / self.deliveries_per_sec } else { 0.0 };
        self
    }

    /// The warning to print when the generator's core was saturated, if it was.
    pub fn generator_warning(&self) -> Option<String> {
        self.generator_saturated.then(|| {
            format!(
                "the generator's core was saturated ({:.0}% of one core): these figures are the generator's \
                 limit, not the server's",
                self.generator_cpu_pct
            )
        })
    }

    /// No message lost or doubled.
    pub fn exact(&self) -> bool {
        self.totals.lost == 0 && self.totals.duplicated == 0
    }

    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn table(&self) -> String {
        let t = &self.totals;
        let l = &self.latency;
        let mut out = String::new();
        let mut row = |name: &str, value: String| out.push_str(&format!("  {name:<22} {value}\n"));
        row(
            "scenario",
            format!(
                "{} on {} x{} ({} connections, {} rooms)",
                self.scenario, self.target, self.instances, self.connections, self.rooms
            ),
        );
        if self.rate > 0.0 {
            row("rate / duration", format!("{:.0} msg/s for {:.1} s", self.rate, self.duration_s));
        }
        row("sent / acked / errors", format!("{} / {} / {}", t.sent, t.acked, t.publish_errors));
        row("expected / delivered", format!("{} / {}", t.expected, t.delivered));
        row("lost / dup / reordered", format!("{} / {} / {}", t.lost, t.duplicated, t.reordered));
        if self.skipped > 0 {
            row("skipped (backlog)", self.skipped.to_string());
        }
        row(
            "latency ms",
            format!(
                "p50 {:.2}  p90 {:.2}  p99 {:.2}  p999 {:.2}  max {:.2}  (n={})",
                l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.samples
            ),
        );
        row("deliveries / s", format!("{:.0}", self.deliveries_per_sec));
        row("server RSS", format!("{:.1} MiB (peak {:.1} MiB)", self.server_rss_mib, self.server_peak_rss_mib));
        row(
            "CPU server / generator",
            format!(
                "{:.0}% / {:.0}% of one core (others: {:.0}%, of which the host's steal {:.0}%)",
                self.server_cpu_pct, self.generator_cpu_pct, self.other_cpu_pct, self.steal_cpu_pct
            ),
        );
        if self.generator_us_per_delivery > 0.0 {
            row("generator per delivery", format!("{:.2} µs of CPU", self.generator_us_per_delivery));
        }
        if let Some(warning) = self.generator_warning() {
            row("!! generator", warning);
        }
        for (key, value) in &self.extra {
            row(key, value.to_string());
        }
        out
    }

    /// Prints the table, then the JSON line; appends the JSON line to `json_out` if given.
    pub fn emit(&self, json_out: Option<&std::path::Path>) {
        println!("{}", self.table());
        println!("{}", self.json_line());
        if let Some(path) = json_out {
            self.emit_json_only(path);
        }
    }

    /// Appends the JSON line to `path` only.
    pub fn emit_json_only(&self, path: &std::path::Path) {
        append_line(path, &self.json_line());
    }
}

/// Appends one line to a file, reporting (not failing) on error.
pub fn append_line(path: &std::path::Path, line: &str) {
    let written =
        std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut file| writeln!(file, "{line}"));
    if let Err(err) = written {
        eprintln!("could not write {}: {err}", path.display());
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_generator_at(pct: f64) -> Report {
        let cpu = CpuUse { servers_pct: 50.0, generator_pct: pct, ..CpuUse::default() };
        Report { deliveries_per_sec: 100_000.0, ..Report::default() }.with_cpu(&cpu)
    }

    #[test]
    fn a_saturated_generator_is_flagged_and_its_cost_per_delivery_shown() {
        let busy = with_generator_at(95.0);
        assert!(busy.generator_saturated);
        assert!((busy.generator_us_per_delivery - 9.5).abs() < 1e-9, "{}", busy.generator_us_per_delivery);
        assert!(busy.table().contains("the generator's core was saturated (95% of one core)"));
        let calm = with_generator_at(60.0);
        assert!(!calm.generator_saturated && calm.generator_warning().is_none());
        assert!(!calm.table().contains("saturated"));
    }
}

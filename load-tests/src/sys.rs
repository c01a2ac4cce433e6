//! What the operating system says about a process: resident memory and CPU time (from `/proc`),
//! a monotonic microsecond clock shared by every task of the generator, and a tiny PRNG.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Linux reports CPU times in clock ticks of `USER_HZ`, which is 100 on every mainstream platform.
const TICKS_PER_SEC: f64 = 100.0;

static START: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the generator started. Every send time and receive time uses this clock, so
/// latency is measured inside one process and needs no clock sync.
pub fn now_us() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// CPU time (user + system) of a process in seconds, or `None` if it is gone.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after it are split from the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3 (index 0 here); utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

pub fn own_cpu_secs() -> f64 {
    cpu_secs(std::process::id()).unwrap_or(0.0)
}

/// A field of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`), or 0 if the process is gone.
pub fn status_bytes(pid: u32, field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

pub fn rss_bytes(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS")
}

/// Kernel memory held by TCP sockets, in bytes (`/proc/net/sockstat`, `TCP: ... mem N` in pages).
pub fn tcp_kernel_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/net/sockstat") else {
        return 0;
    };
    text.lines()
        .find(|line| line.starts_with("TCP:"))
        .and_then(|line| {
            let mut words = line.split_whitespace();
            while let Some(word) = words.next() {
                if word == "mem" {
                    return words.next()?.parse::<u64>().ok();
                }
            }
            None
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// CPU use of a set of processes over an interval, as a percentage of one core.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    pids: Vec<u32>,
    started: Instant,
    before: Vec<f64>,
    own_before: f64,
    machine_before: MachineCpu,
}

/// CPU seconds of the whole machine, all cores, from `/proc/stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    /// Everything but idle and iowait, steal included.
    pub busy: f64,
    /// Time the hypervisor gave this VM's CPUs to someone else: noise no process here caused.
    pub steal: f64,
}

impl MachineCpu {
    pub fn now() -> Self {
        let Ok(text) = std::fs::read_to_string("/proc/stat") else {
            return MachineCpu::default();
        };
        let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
            return MachineCpu::default();
        };
        let fields: Vec<f64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal guest guest_nice; guests are inside user/nice.
        let busy: f64 = fields.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
        let steal = fields.get(7).copied().unwrap_or(0.0);
        MachineCpu { busy: busy / TICKS_PER_SEC, steal: steal / TICKS_PER_SEC }
    }

    /// What passed between `earlier` and this reading.
    pub fn since(self, earlier: MachineCpu) -> MachineCpu {
        MachineCpu { busy: self.busy - earlier.busy, steal: self.steal - earlier.steal }
    }
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CpuUse {
    /// Each watched process's CPU over the interval, summed, in percent of one core.
    pub servers_pct: f64,
    /// The generator's own CPU in percent of one core.
    pub generator_pct: f64,
    /// CPU used by every other process on the machine meanwhile (other people's builds and tests),
    /// and taken by the VM's host, in percent of one core: a noisy machine shows here.
    pub others_pct: f64,
    /// The part of `others_pct` the host took (steal).
    pub steal_pct: f64,
    pub wall_secs: f64,
}

impl CpuMeter {
    pub fn start(pids: &[u32]) -> Self {
        CpuMeter {
            pids: pids.to_vec(),
            started: Instant::now(),
            before: pids.iter().map(|&p| cpu_secs(p).unwrap_or(0.0)).collect(),
            own_before: own_cpu_secs(),
            machine_before: MachineCpu::now(),
        }
    }

    pub fn stop(&self) -> CpuUse {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let servers: f64 =
            self.pids.iter().zip(&self.before).map(|(&pid, before)| cpu_secs(pid).unwrap_or(*before) - before).sum();
        let generator = own_cpu_secs() - self.own_before;
        let machine = MachineCpu::now().since(self.machine_before);
        CpuUse {
            servers_pct: 100.0 * servers / wall,
            generator_pct: 100.0 * generator / wall,
            others_pct: (100.0 * (machine.busy - servers - generator) / wall).max(0.0),
            steal_pct: (100.0 * machine.steal / wall).max(0.0),
            wall_secs: wall,
        }
    }
}

/// SplitMix64: deterministic, good enough to spread reconnect times and pick actions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn duration_below(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.below(max.as_micros().max(1) as u64))
    }
}

/// What about the machine makes figures noisy, checked once before a run and printed with it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MachineCheck {
    /// `fdatasync` of a 4 KiB write in the folder the servers' data goes to, in ms (p50, p99 of 50):
    /// the embedded store and Redis with `appendfsync always` wait on it before every acknowledgement,
    /// so a disk busy with someone else's writes shows here first.
    pub fdatasync_p50_ms: f64,
    pub fdatasync_p99_ms: f64,
    /// `kernel.sched_autogroup_enabled`: when on, the scheduler shares CPU between sessions before
    /// processes, so `nice` and pinning do not keep other sessions' builds off the measured cores.
    pub sched_autogroup: bool,
}

impl MachineCheck {
    pub fn run() -> Self {
        let (p50, p99) = fdatasync_latency_ms(50).unwrap_or((f64::NAN, f64::NAN));
        let sched_autogroup = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
            .map(|text| text.trim() == "1")
            .unwrap_or(false);
        MachineCheck { fdatasync_p50_ms: p50, fdatasync_p99_ms: p99, sched_autogroup }
    }

    pub fn print(&self) {
        println!(
            "  machine                fdatasync p50 {:.2} ms p99 {:.2} ms (4 KiB, in {})",
            self.fdatasync_p50_ms,
            self.fdatasync_p99_ms,
            std::env::temp_dir().display()
        );
        if self.sched_autogroup {
            println!(
                "    !! kernel.sched_autogroup_enabled is 1: CPU is shared per session first, so other sessions' work \
                 competes with the measured processes whatever their nice (echo 0 > /proc/sys/kernel/sched_autogroup_enabled)"
            );
        }
        if self.fdatasync_p99_ms > 2.0 {
            println!(
                "    !! the disk is slow to sync (p99 over 2 ms; 0.2 ms on a quiet disk here): stored targets' latency is the disk's"
            );
        }
    }
}

fn fdatasync_latency_ms(samples: usize) -> std::io::Result<(f64, f64)> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = tempfile::tempfile()?;
    let block = [0x5au8; 4096];
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&block)?;
        let started = Instant::now();
        file.sync_data()?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok((at(0.5), at(0.99)))
}

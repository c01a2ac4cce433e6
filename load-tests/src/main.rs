//! Command line of the load generator. See `docs/PERFORMANCE.md` for what each scenario does and measured.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use makeroom_load::compare::{self, CompareConfig};
use makeroom_load::scenarios::{chaos, connections, event_day, rooms, storm};
use makeroom_load::servers::MakeroomOptions;
use makeroom_load::wire;
use makeroom_load::{ServerOptions, Target, setup, start_targets};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "makeroom-load", about = "Load generator for Makeroom (and a Socket.IO peer on the same workload)")]
struct Cli {
    #[command(subcommand)]
    command: Scenario,
}

#[derive(Debug, Args, Clone)]
struct Common {
    /// The makeroom binary to start.
    #[arg(long, default_value = "target/release/makeroom")]
    makeroom_bin: PathBuf,
    /// Extra flags for `makeroom serve` (repeat the option for each word).
    #[arg(long = "makeroom-arg", allow_hyphen_values = true)]
    makeroom_args: Vec<String>,
    /// The Socket.IO peer's folder (with `npm install` done in it).
    #[arg(long, default_value = "load-tests/peer")]
    peer_dir: PathBuf,
    /// The floor relay to start (built with `cargo build --release -p makeroom-load`).
    #[arg(long, default_value = "target/release/floor-relay")]
    floor_bin: PathBuf,
    /// Pin every server process to these CPUs with `taskset -c` (e.g. `0`).
    #[arg(long)]
    server_cpus: Option<String>,
    /// Loopback source addresses to spread connections over (127.0.0.1 .. 127.0.0.N).
    #[arg(long, default_value_t = 4)]
    sources: u8,
    /// Also append each run's JSON line to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Largest socket read of each generator connection, in bytes: frames that piled up on a
    /// connection cost one `recv` (read into spare capacity; tungstenite's own small buffer is
    /// served from it).
    #[arg(long, default_value_t = wire::DEFAULT_READ_BUFFER)]
    read_buffer: usize,
}

impl Common {
    fn servers(&self) -> ServerOptions {
        wire::set_read_buffer(self.read_buffer);
        let mut makeroom = MakeroomOptions::new(&self.makeroom_bin);
        makeroom.extra_args = self.makeroom_args.clone();
        ServerOptions {
            makeroom,
            peer_dir: self.peer_dir.clone(),
            floor_bin: self.floor_bin.clone(),
            cpus: self.server_cpus.clone(),
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 3600.0))
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N connections in R rooms publishing at a total rate; latency to every receiver.
    Rooms {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value = "makeroom")]
        target: Target,
        /// Server instances (more than one share a private Redis; clients are split between them).
        #[arg(long, default_value_t = 1)]
        instances: usize,
        #[arg(long, default_value_t = 2000)]
        connections: usize,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        /// Publishes per second, all connections together.
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        /// Seconds measured.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds of traffic before measuring.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
    },
    /// Thousands of clients drop at once and come back within seconds while publishing goes on.
    ReconnectStorm {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 5000)]
        clients: usize,
        #[arg(long, default_value_t = 250)]
        rooms: usize,
        #[arg(long, default_value_t = 2)]
        publishers_per_room: usize,
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds within which the dropped clients come back.
        #[arg(long, default_value_t = 3.0)]
        spread: f64,
        /// Seconds after the drop by which every client must have recovered.
        #[arg(long, default_value_t = 15.0)]
        deadline: f64,
        #[arg(long, default_value_t = 1.0)]
        drop_fraction: f64,
    },
    /// Idle authenticated connections on one instance, and the server's memory for them.
    Connections {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Distinct participants (connections beyond this reuse tokens, like a phone and a laptop).
        #[arg(long)]
        participants: Option<usize>,
        /// Seconds to hold every connection open.
        #[arg(long, default_value_t = 20.0)]
        hold: f64,
    },
    /// A weekend's mix: teams chatting and moving cards, announcements, displays, presence churn.
    EventDay {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 30)]
        teams: usize,
        #[arg(long, default_value_t = 6)]
        team_size: usize,
        #[arg(long, default_value_t = 4)]
        displays: usize,
        /// Seconds of simulated day.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
        /// Multiplies every activity rate (1 = a busy real event).
        #[arg(long, default_value_t = 1.0)]
        intensity: f64,
    },
    /// The event-day mix on a cluster (durable Redis, two instances, HAProxy) while Redis is killed
    /// and restarted, an instance is killed and restarted, and a share of clients drop at once;
    /// checks every acknowledged message against each channel's history. Exits 1 unless exact.
    Chaos {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 40)]
        teams: usize,
        #[arg(long, default_value_t = 6)]
        team_size: usize,
        #[arg(long, default_value_t = 4)]
        displays: usize,
        /// Multiplies every event-day activity rate (1 = a busy real event).
        #[arg(long, default_value_t = 1.0)]
        intensity: f64,
        /// Leave out the event-day mix's own phone drops (so each fault's effect stands alone).
        #[arg(long)]
        no_phone_drops: bool,
        /// Seconds of traffic before the first fault.
        #[arg(long, default_value_t = 8.0)]
        warmup: f64,
        /// Seconds Redis stays down.
        #[arg(long, default_value_t = 10.0)]
        redis_down: f64,
        /// Seconds of traffic between one fault and the next.
        #[arg(long, default_value_t = 8.0)]
        settle: f64,
        /// Seconds the killed instance stays down.
        #[arg(long, default_value_t = 2.0)]
        instance_down: f64,
        /// Share of all connections that drop at once.
        #[arg(long, default_value_t = 0.3)]
        drop_fraction: f64,
        /// Seconds of traffic after the last fault.
        #[arg(long, default_value_t = 10.0)]
        after: f64,
        /// Most seconds to wait afterwards for every outbox to empty and every client to catch up.
        #[arg(long, default_value_t = 30.0)]
        drain: f64,
        /// The client's reconnect backoff (full jitter): base and cap, in seconds (the web client's).
        #[arg(long, default_value_t = 0.5)]
        backoff_base: f64,
        #[arg(long, default_value_t = 15.0)]
        backoff_cap: f64,
        /// Write every client event (`seconds connection event`) to this file.
        #[arg(long)]
        events_out: Option<PathBuf>,
        /// Negative control: Redis without an append-only file, so its restart loses everything (the
        /// run must then fail).
        #[arg(long)]
        volatile_redis: bool,
        /// Participants that join on one instance and at once say hello on the other (0: none).
        #[arg(long, default_value_t = 100)]
        join_probe: usize,
    },
    /// Makeroom against the Socket.IO peer (one instance each, two each through Redis) and the floor
    /// relay (the bare stack, nothing stored) on the same workload: the highest rate each sustains
    /// with p99 under a bound and nothing lost.
    Compare {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 2000)]
        connections: usize,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 500.0)]
        start_rate: f64,
        #[arg(long, default_value_t = 8.0)]
        step_duration: f64,
        #[arg(long, default_value_t = 3.0)]
        warmup: f64,
        #[arg(long, default_value_t = 100.0)]
        p99_ms: f64,
        /// Rate steps per target at most.
        #[arg(long, default_value_t = 12)]
        max_steps: usize,
        /// Re-run a step (twice at most) when other processes took more than this % of a core.
        #[arg(long, default_value_t = 25.0)]
        max_other_cpu: f64,
        /// Which targets: floor, makeroom, socketio, makeroom-redis, socketio-redis (in this order).
        #[arg(long, value_delimiter = ',', default_value = "floor,makeroom,socketio,makeroom-redis,socketio-redis")]
        only: Vec<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("building the runtime")?;
    let local = tokio::task::LocalSet::new();
    runtime.block_on(local.run_until(run(cli.command)))
}

async fn run(scenario: Scenario) -> Result<()> {
    makeroom_load::sys::MachineCheck::run().print();
    match scenario {
        Scenario::Rooms { common, target, instances, connections, rooms, rate, duration, warmup } => {
            let targets = start_targets(target, instances, &common.servers()).await?;
            let population = match targets.server() {
                Some(server) => Some(setup::populate(server, rooms, connections).await?),
                None => None,
            };
            let config = rooms::RoomsConfig {
                connections,
                rooms,
                rate,
                duration: secs(duration),
                warmup: secs(warmup),
                sources: common.sources,
                ..Default::default()
            };
            let report = rooms::run(&targets, population.as_ref(), &config).await?;
            report.emit(common.json_out.as_deref());
        }
        Scenario::ReconnectStorm {
            common,
            clients,
            rooms,
            publishers_per_room,
            rate,
            spread,
            deadline,
            drop_fraction,
        } => {
            let targets = start_targets(Target::Makeroom, 1, &common.servers()).await?;
            let server = targets.server().context("no server")?;
            let population = setup::populate(server, rooms, clients).await?;
            let config = storm::StormConfig {
                clients,
                rooms,
                publishers_per_room,
                rate,
                spread: secs(spread),
                deadline: secs(deadline),
                drop_fraction,
                sources: common.sources,
                ..Default::default()
            };
            let report = storm::run(&targets, &population, &config).await?;
            report.emit(common.json_out.as_deref());
        }
        Scenario::Connections { common, connections, participants, hold } => {
            let targets = start_targets(Target::Makeroom, 1, &common.servers()).await?;
            let server = targets.server().context("no server")?;
            let participants = participants.unwrap_or(connections).clamp(1, connections);
            let teams = (participants / 20).clamp(1, 1000);
            let population = setup::populate(server, teams, participants).await?;
            let config = connections::ConnectionsConfig {
                connections,
                hold: secs(hold),
                sources: common.sources,
                ..Default::default()
            };
            let report = connections::run(&targets, &population, &config).await?;
            report.emit(common.json_out.as_deref());
        }
        Scenario::EventDay { common, teams, team_size, displays, duration, intensity } => {
            let targets = start_targets(Target::Makeroom, 1, &common.servers()).await?;
            let config = event_day::EventDayConfig {
                teams,
                team_size,
                displays,
                duration: secs(duration),
                intensity,
                sources: common.sources,
            };
            let report = event_day::run(&targets, &config).await?;
            report.emit(common.json_out.as_deref());
        }
        Scenario::Chaos {
            common,
            teams,
            team_size,
            displays,
            intensity,
            no_phone_drops,
            warmup,
            redis_down,
            settle,
            instance_down,
            drop_fraction,
            after,
            drain,
            backoff_base,
            backoff_cap,
            events_out,
            join_probe,
            volatile_redis,
        } => {
            let config = chaos::ChaosConfig {
                teams,
                team_size,
                displays,
                intensity,
                phone_drops: !no_phone_drops,
                sources: common.sources,
                warmup: secs(warmup),
                redis_down: secs(redis_down),
                settle: secs(settle),
                instance_down: secs(instance_down),
                drop_fraction,
                after: secs(after),
                drain: secs(drain),
                backoff_base: secs(backoff_base),
                backoff_cap: secs(backoff_cap),
                events_out,
                join_probe,
                volatile_redis,
                ..Default::default()
            };
            let report = chaos::run(&common.servers(), &config).await?;
            println!("{}", chaos::table(&report));
            println!("{}", report.json_line());
            if let Some(path) = common.json_out.as_deref() {
                report.emit_json_only(path);
            }
            if !chaos::exact(&report) {
                eprintln!(
                    "chaos: something acknowledged was lost or doubled, or a client missed something (see above)"
                );
                std::process::exit(1);
            }
        }
        Scenario::Compare {
            common,
            connections,
            rooms,
            start_rate,
            step_duration,
            warmup,
            p99_ms,
            max_steps,
            max_other_cpu,
            only,
        } => {
            let config = CompareConfig {
                connections,
                rooms,
                start_rate,
                step: secs(step_duration),
                warmup: secs(warmup),
                p99_ms,
                max_steps,
                sources: common.sources,
                only,
                max_other_cpu,
            };
            compare::run(&common.servers(), &config, common.json_out.as_deref()).await?;
        }
    }
    Ok(())
}

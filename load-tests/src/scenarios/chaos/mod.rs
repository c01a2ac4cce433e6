//! `chaos`: the event-day mix on a Makeroom cluster (a durable Redis, two instances, HAProxy in
//! front, all started here) while faults are done for real: Redis is killed (SIGKILL) and restarted
//! on the same port and data, then one instance is killed and restarted, then 30 % of the clients
//! lose their connection at once.
//!
//! Clients behave like the web client (`web-client/makeroom.js`): every publish and command goes
//! into an outbox with an idempotency key made once, is sent one at a time, and stays there until
//! acknowledged (`unavailable` and `rate_limited` mean "wait `retry_after_ms`, then send it again";
//! a lost connection means "send it again on the next one"). A lost connection is reopened through
//! the proxy after a random wait in `[0, min(cap, base * 2^attempt)]` (full jitter), and every
//! channel is subscribed again with `since`.
//!
//! The truth is each channel's full history, read at the end with `history`: every acknowledged
//! message must be in it at its acknowledged offset (else **lost**), none twice (else **doubled**),
//! and every connection must have received every offset of each of its channels after its first
//! subscribe exactly once, in order, with the content history holds.
//!
//! The run is told here; the faults are in [`faults`], what is counted and judged in [`accounting`],
//! and how it is told in [`report`].

mod accounting;
mod faults;
mod report;

use super::event_day::{Act, Mix, TICK, channels, seats};
use crate::accounting::latency_histogram;
use crate::client::{Backoff, Client, Fleet, Policy};
use crate::history::Reader;
use crate::report::Report;
use crate::sys::{now_us, rss_bytes};
use crate::{ServerOptions, setup};
use accounting::{ChannelHistory, Order, Person, Shared, settle};
use anyhow::{Context, Result, bail};
use faults::{Cluster, Meter, conduct, join_probe};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;

pub use report::table;

/// A connection that lasted this long resets the backoff (as `ONLINE_RESET_MS` in the web client).
const ONLINE_RESET: Duration = Duration::from_secs(10);
/// `subscribe` retries on one connection (`unavailable`), as the web client retries them.
const SUBSCRIBE_RETRIES: u32 = 60;

#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub teams: usize,
    pub team_size: usize,
    pub displays: usize,
    /// Multiplies every event-day activity rate (1 = a busy real event).
    pub intensity: f64,
    /// The event-day mix's own phone drops (each phone about every 2 minutes, for 1–10 s).
    pub phone_drops: bool,
    pub sources: u8,
    /// Traffic before the first fault.
    pub warmup: Duration,
    /// How long Redis stays down.
    pub redis_down: Duration,
    /// Traffic between one fault's end and the next fault.
    pub settle: Duration,
    /// How long the killed instance stays down before it is started again.
    pub instance_down: Duration,
    /// Share of every connection that drops at once in the last fault.
    pub drop_fraction: f64,
    /// Traffic after the last fault.
    pub after: Duration,
    /// Longest wait after the traffic for every outbox to empty and every connection to catch up.
    pub drain: Duration,
    /// The web client's reconnect backoff: base and cap of the full-jitter window.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// No reply within this long: the connection is considered dead and reopened at once.
    pub request_timeout: Duration,
    /// Which instance is killed (0 or 1).
    pub kill_instance: usize,
    /// Write every client event (`seconds connection event`) to this file, for investigating.
    pub events_out: Option<std::path::PathBuf>,
    /// Run Redis without an append-only file, so killing it loses everything: a negative control
    /// that shows what the checks report when acknowledged messages are lost.
    pub volatile_redis: bool,
    /// Before the traffic: this many participants join on instance 0 and at once say `hello` on
    /// instance 1 (what a phone does when the proxy sends its two requests to different instances).
    pub join_probe: usize,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            teams: 40,
            team_size: 6,
            displays: 4,
            intensity: 1.0,
            phone_drops: true,
            sources: 4,
            warmup: Duration::from_secs(8),
            redis_down: Duration::from_secs(10),
            settle: Duration::from_secs(8),
            instance_down: Duration::from_secs(2),
            drop_fraction: 0.3,
            after: Duration::from_secs(10),
            drain: Duration::from_secs(30),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            kill_instance: 1,
            events_out: None,
            join_probe: 100,
            volatile_redis: false,
        }
    }
}

pub async fn run(options: &ServerOptions, config: &ChaosConfig) -> Result<Report> {
    let cluster = Cluster::start(options, 2, config.volatile_redis).await?;
    let first = &cluster.instances[0];
    let teams = config.teams.max(1);
    let participants = teams * config.team_size.max(1);
    let population = setup::populate(first, teams, participants).await?;
    let organiser = population.organiser_token.clone();
    let proxy = cluster.proxy.port;
    // Displays are made and their tokens fetched on one instance: through the proxy, the token
    // request may reach the other instance before it knows the display (see `join_probe`).
    let displays = setup::add_displays(first.port, &organiser, config.displays).await?;
    let probe = if config.join_probe > 0 && cluster.instances.len() > 1 {
        Some(join_probe(first.port, cluster.instances[1].port, &first.join_code, config.join_probe).await?)
    } else {
        None
    };
    let (seats, organiser_seat) = seats(&population, displays);
    let channels = channels(&population);
    // What the channels held before the run (the demo event's own content, the roster's joins).
    let mut reader = Reader::new(proxy, &organiser);
    let mut baseline = HashMap::new();
    for channel in &channels {
        baseline.insert(channel.clone(), reader.top(channel).await?);
    }

    let shared = Rc::new(Shared {
        run_id: now_us() ^ (u64::from(std::process::id()) << 40),
        events: RefCell::new(Vec::new()),
        delivery: RefCell::new(latency_histogram()),
        created_to_received: RefCell::new(latency_histogram()),
        last_send: RefCell::new(HashMap::new()),
        calm_delivery: RefCell::new(latency_histogram()),
        ack: RefCell::new(latency_histogram()),
        refusal: RefCell::new(latency_histogram()),
        command_refusal: RefCell::new(latency_histogram()),
        duplicate_after: RefCell::new(BTreeMap::new()),
        calm_until_us: Cell::new(u64::MAX),
        t0_us: Cell::new(0),
        pending: Cell::new(0),
        not_ready: Cell::new(0),
        positions: RefCell::new(vec![HashMap::new(); seats.len()]),
        sent_frames: Cell::new(0),
        failures: RefCell::new(BTreeMap::new()),
        first_error: RefCell::new(None),
    });
    // The web client: one entry on the wire at a time, retried on `unavailable`; a request
    // unanswered for `request_timeout` means a dead connection.
    let policy = Policy {
        window: 1,
        retry_refusals: true,
        subscribe_retries: SUBSCRIBE_RETRIES,
        setup_timeout: config.request_timeout,
        reply_timeout: Some(config.request_timeout),
        reconnect: Some(Backoff {
            base: config.backoff_base,
            cap: config.backoff_cap,
            reset_after: ONLINE_RESET,
            give_up_after: u32::MAX,
        }),
    };
    let clients = seats
        .iter()
        .enumerate()
        .map(|(index, seat)| {
            let spec = seat.client_spec(index, proxy, config.sources, index as u64 + 0xC1);
            let board = seat.team.map(|t| format!("board:{}", population.teams[t]));
            Client::new(spec, policy.clone(), Person::new(index, shared.clone(), board))
        })
        .collect();
    let fleet = Fleet::start(clients, 32).await;
    let failures: Vec<&str> = fleet.failures().collect();
    if let Some(first) = failures.first() {
        bail!("{} connections could not be set up, first: {first}", failures.len());
    }
    let setup_secs = fleet.setup_secs;

    // The traffic, with the faults running beside it.
    let t0 = Instant::now();
    let t0_us = now_us();
    shared.calm_until_us.set(t0_us + config.warmup.as_micros() as u64);
    shared.t0_us.set(t0_us);
    let meter = Meter::start(&cluster.pids());
    let total = config.warmup + config.redis_down + config.settle * 2 + config.instance_down + config.after;
    let conductor = tokio::task::spawn_local(conduct(cluster, config.clone(), fleet.commands.clone(), t0, meter));
    let mut mix = Mix::new(&population, config.intensity, config.phone_drops);
    let mut tick = tokio::time::interval(TICK);
    let mut acts = Vec::new();
    // Traffic stops when the conductor is done (it waits `after` past the last fault), or at a bound.
    let hard_stop = t0 + total + Duration::from_secs(60);
    while !conductor.is_finished() && Instant::now() < hard_stop {
        tick.tick().await;
        acts.clear();
        mix.tick(&mut acts);
        for act in acts.drain(..) {
            match act {
                Act::Chat { person, channel } => fleet.order(person, Order::Say(channel)),
                Act::CardAdd { person, board } => fleet.order(person, Order::CardAdd(board)),
                Act::CardMove { person, board } => fleet.order(person, Order::CardMove(board)),
                Act::Announce => fleet.order(organiser_seat, Order::Announce),
                Act::PhoneDrop { person, back } => fleet.drop_connection(person, Some(back)),
            }
        }
    }
    let (cluster, mut faults, mut meter, outcome) = conductor.await.context("the fault task failed")?;
    outcome?;
    faults.traffic_end = now_us();
    faults.lines.push((faults.traffic_end, "traffic stopped; waiting for every outbox and connection".into()));

    // Drain: every outbox empty, every connection back, and every channel caught up with history.
    let drain_started = Instant::now();
    let deadline = drain_started + config.drain;
    let mut tops: HashMap<String, u64> = HashMap::new();
    let mut caught_up = false;
    while Instant::now() < deadline {
        meter.sample(&cluster.pids());
        if shared.pending.get() == 0 && shared.not_ready.get() == 0 {
            for channel in &channels {
                if let Ok(top) = reader.top(channel).await {
                    tops.insert(channel.clone(), top);
                }
            }
            let positions = shared.positions.borrow();
            caught_up = seats.iter().enumerate().all(|(i, seat)| {
                seat.subscriptions.iter().all(|subscription| {
                    let channel = &subscription.channel;
                    let top = tops.get(channel).copied().unwrap_or(0);
                    let base = baseline.get(channel).copied().unwrap_or(0);
                    top <= base || positions[i].get(channel).copied().unwrap_or(0) >= top
                })
            });
            if caught_up {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drain_secs = drain_started.elapsed().as_secs_f64();
    meter.sample(&cluster.pids());
    let cpu = meter.finish();
    let rss: u64 = cluster.pids().into_iter().map(rss_bytes).sum();
    let people = fleet.finish().await;
    if people.len() != seats.len() {
        bail!("{} client tasks failed", seats.len() - people.len());
    }
    faults.lines.push((now_us(), format!("drain done after {drain_secs:.1} s (caught up: {caught_up})")));

    // The truth.
    let mut history = HashMap::new();
    for channel in &channels {
        history.insert(channel.clone(), ChannelHistory::from(reader.history(channel).await?));
    }
    reader.close().await;
    let settled = settle(&people, &history, &baseline, t0_us);
    if let Some(path) = &config.events_out {
        let mut text = String::new();
        for (t, person, ev) in shared.events.borrow().iter() {
            text.push_str(&format!("{:.3} {person} {ev:?}\n", (*t as f64 - t0_us as f64) / 1e6));
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let report = report::build(report::Run {
        settled: &settled,
        shared: &shared,
        faults: &faults,
        people: &people,
        probe,
        t0_us,
        setup_secs,
        drain_secs,
        caught_up,
        instances: cluster.instances.len(),
        connections: seats.len(),
        teams,
        rss,
        peak_rss: meter.peak_rss,
        cpu,
    });
    drop(cluster);
    Ok(report)
}

/// Whether a chaos report found everything exact (its `verdict`).
pub fn exact(report: &Report) -> bool {
    report.extra.get("verdict").and_then(|v| v.as_str()) == Some("exact")
}

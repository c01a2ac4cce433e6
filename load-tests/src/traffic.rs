//! The connection task behind `rooms` and `reconnect-storm`: each connection subscribes to one
//! channel, publishes when the scheduler tells it to, records what it receives, and (on Makeroom)
//! comes back after a drop and recovers exactly what it missed with `subscribe` + `since`, resending
//! its unanswered publishes with the same idempotency keys.

use crate::accounting::{Arrival, Bits, Receiver, latency_histogram};
use crate::sys::{Rng, now_us};
use crate::wire::{self, Conn, Incoming, Proto};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use makeroom_protocol::{Position, SubscribeResult};
use serde_json::value::RawValue;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// Request ids of publishes are `PUBLISH_ID_BASE + seq`, so a reply names its message.
const PUBLISH_ID_BASE: u64 = 1 << 32;
/// Attempts to reconnect after a drop before giving up on a client.
const RECONNECT_ATTEMPTS: u32 = 12;

/// One connection's part in a run.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    pub index: usize,
    /// The stream this member publishes as, if it publishes.
    pub stream: Option<u32>,
    pub channel: String,
    /// Makeroom access token (unused for Socket.IO).
    pub token: String,
    pub port: u16,
    pub source: Ipv4Addr,
}

#[derive(Debug)]
pub enum Cmd {
    Publish,
    /// Drop the connection abruptly and come back after this long.
    Drop(Duration),
    Stop,
}

/// Counters shared by every connection task (one thread, so `Cell`s).
pub struct Shared {
    pub proto: Proto,
    /// Makes idempotency keys unique per run.
    pub run_id: u64,
    pub hist: RefCell<Histogram<u64>>,
    /// Publish to acknowledgement, in µs (messages sent in the window).
    pub ack_hist: RefCell<Histogram<u64>>,
    /// Replies that said `duplicate: true` (a resend of a message already stored).
    pub duplicate_replies: Cell<u64>,
    pub resent: Cell<u64>,
    /// Messages sent in `[window.0, window.1)` (generator clock, µs) count for latency and rate.
    pub window: Cell<(u64, u64)>,
    pub measured: Cell<u64>,
    /// Distinct deliveries, live and recovered.
    pub delivered: Cell<u64>,
    pub recovered_deliveries: Cell<u64>,
    pub sent: Cell<u64>,
    pub acked: Cell<u64>,
    pub errors: Cell<u64>,
    pub skipped: Cell<u64>,
    /// Sum over acknowledged messages of the number of members of their channel.
    pub expected: Cell<u64>,
    /// Members per stream (set once every connection is ready).
    pub audience: RefCell<Vec<u64>>,
    pub max_inflight: usize,
    pub reconnects: Cell<u64>,
    pub recovered_clients: Cell<u64>,
    pub not_recovered: Cell<u64>,
    pub gave_up: Cell<u64>,
    pub server_closes: Cell<u64>,
    pub offset_gaps: Cell<u64>,
    /// Latest time (µs) a recovering client got its recovery reply.
    pub last_recovery_us: Cell<u64>,
    /// Connections currently down (dropped, not yet back).
    pub down: Cell<u64>,
    pub first_error: RefCell<Option<String>>,
}

impl Shared {
    pub fn new(proto: Proto, streams: usize, max_inflight: usize) -> Rc<Self> {
        Rc::new(Shared {
            proto,
            run_id: now_us() ^ (u64::from(std::process::id()) << 40),
            hist: RefCell::new(latency_histogram()),
            ack_hist: RefCell::new(latency_histogram()),
            duplicate_replies: Cell::new(0),
            resent: Cell::new(0),
            window: Cell::new((u64::MAX, u64::MAX)),
            measured: Cell::new(0),
            delivered: Cell::new(0),
            recovered_deliveries: Cell::new(0),
            sent: Cell::new(0),
            acked: Cell::new(0),
            errors: Cell::new(0),
            skipped: Cell::new(0),
            expected: Cell::new(0),
            audience: RefCell::new(vec![0; streams]),
            max_inflight,
            reconnects: Cell::new(0),
            recovered_clients: Cell::new(0),
            not_recovered: Cell::new(0),
            gave_up: Cell::new(0),
            server_closes: Cell::new(0),
            offset_gaps: Cell::new(0),
            last_recovery_us: Cell::new(0),
            down: Cell::new(0),
            first_error: RefCell::new(None),
        })
    }

    fn bump(cell: &Cell<u64>) {
        cell.set(cell.get() + 1);
    }

    fn note_error(&self, error: String) {
        let mut first = self.first_error.borrow_mut();
        if first.is_none() {
            *first = Some(error);
        }
    }
}

/// What a connection task hands back at the end.
pub struct MemberResult {
    pub index: usize,
    pub receiver: Receiver,
    /// (stream, acknowledged sequence numbers) for a publisher.
    pub acked: Option<(u32, Bits)>,
}

struct Member {
    spec: MemberSpec,
    shared: Rc<Shared>,
    receiver: Receiver,
    acked: Bits,
    seq: u64,
    /// Unanswered publishes, by sequence number, with the exact frame (same key) to resend.
    inflight: BTreeMap<u64, (u64, String)>,
    position: Option<Position>,
    next_request: u64,
}

/// Spawns a member task on the current `LocalSet`. `ready` gets the outcome of its setup; `setup`
/// bounds how many connections are being set up at once.
pub fn spawn(
    spec: MemberSpec,
    shared: Rc<Shared>,
    commands: mpsc::UnboundedReceiver<Cmd>,
    ready: oneshot::Sender<Result<()>>,
    setup: Rc<Semaphore>,
    seed: u64,
) -> tokio::task::JoinHandle<MemberResult> {
    tokio::task::spawn_local(async move {
        let mut member = Member {
            spec,
            shared,
            receiver: Receiver::default(),
            acked: Bits::with_capacity(1024),
            seq: 0,
            inflight: BTreeMap::new(),
            position: None,
            next_request: 1,
        };
        let conn = {
            let _permit = setup.acquire().await;
            member.connect(false).await
        };
        match conn {
            Ok(conn) => {
                let _ = ready.send(Ok(()));
                member.run(conn, commands, Rng::new(seed)).await;
            }
            Err(err) => {
                let _ = ready.send(Err(err));
            }
        }
        MemberResult {
            index: member.spec.index,
            acked: member.spec.stream.map(|s| (s, member.acked)),
            receiver: member.receiver,
        }
    })
}

impl Member {
    fn request_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// Connects, says hello and subscribes (with `since` when recovering), recording anything
    /// recovered; then resends unanswered publishes.
    async fn connect(&mut self, recovering: bool) -> Result<Conn> {
        let proto = self.shared.proto;
        let mut conn = tokio::time::timeout(wire::SETUP_TIMEOUT, Conn::open(proto, self.spec.port, self.spec.source))
            .await
            .context("connect timed out")??;
        if proto == Proto::Makeroom {
            let id = self.request_id();
            conn.call(id, wire::hello(id, &self.spec.token), |_| {}).await?;
        }
        let since = if recovering { self.position.clone() } else { None };
        let id = self.request_id();
        let result = conn.call(id, wire::subscribe(proto, id, &self.spec.channel, since.clone()), |_| {}).await?;
        if proto == Proto::Makeroom {
            let result: SubscribeResult = serde_json::from_str(result.get())?;
            if since.is_some() {
                if result.recovered == Some(true) {
                    Shared::bump(&self.shared.recovered_clients);
                } else {
                    Shared::bump(&self.shared.not_recovered);
                }
                for publication in &result.publications {
                    self.on_publication(publication.data.get(), Some(publication.offset), true);
                }
                let now = now_us();
                if now > self.shared.last_recovery_us.get() {
                    self.shared.last_recovery_us.set(now);
                }
            }
            let offset = self.position.as_ref().map(|p| p.offset).unwrap_or(0).max(result.offset);
            self.position = Some(Position { epoch: result.epoch, offset });
        }
        // Resend what was never answered, in order, with the same keys.
        if !self.inflight.is_empty() {
            for (_, frame) in self.inflight.values() {
                conn.feed(frame.clone()).await?;
                Shared::bump(&self.shared.resent);
            }
            conn.flush().await?;
        }
        Ok(conn)
    }

    fn on_publication(&mut self, text: &str, offset: Option<u64>, recovered: bool) {
        if let (Some(offset), Some(position)) = (offset, self.position.as_mut()) {
            if offset != position.offset + 1 {
                Shared::bump(&self.shared.offset_gaps);
            }
            position.offset = position.offset.max(offset);
        }
        let Some(marker) = wire::marker(text) else {
            return;
        };
        if self.receiver.record(marker.stream, marker.seq) != Arrival::New {
            return;
        }
        let shared = &self.shared;
        Shared::bump(&shared.delivered);
        if recovered {
            Shared::bump(&shared.recovered_deliveries);
            return;
        }
        let (from, to) = shared.window.get();
        if marker.sent_us >= from && marker.sent_us < to {
            Shared::bump(&shared.measured);
            let latency = now_us().saturating_sub(marker.sent_us).max(1);
            let _ = shared.hist.borrow_mut().record(latency);
        }
    }

    fn on_reply(&mut self, id: u64, result: Result<Box<RawValue>, String>) {
        let Some(seq) = id.checked_sub(PUBLISH_ID_BASE) else {
            return;
        };
        let Some((sent_us, _)) = self.inflight.remove(&seq) else {
            // A reply to a resent publish whose first reply already came: nothing to do.
            return;
        };
        match result {
            Ok(result) => {
                let (from, to) = self.shared.window.get();
                if sent_us >= from && sent_us < to {
                    let took = now_us().saturating_sub(sent_us).max(1);
                    let _ = self.shared.ack_hist.borrow_mut().record(took);
                }
                if result.get().contains(r#""duplicate":true"#) {
                    Shared::bump(&self.shared.duplicate_replies);
                }
                self.acked.set(seq);
                Shared::bump(&self.shared.acked);
                if let Some(stream) = self.spec.stream {
                    let audience = self.shared.audience.borrow().get(stream as usize).copied().unwrap_or(0);
                    let shared = &self.shared;
                    shared.expected.set(shared.expected.get() + audience);
                }
            }
            Err(err) => {
                Shared::bump(&self.shared.errors);
                self.shared.note_error(err);
            }
        }
    }

    /// Builds the next publish frame, or `None` when too many are unanswered.
    fn next_publish(&mut self) -> Option<String> {
        let stream = self.spec.stream?;
        if self.inflight.len() >= self.shared.max_inflight {
            Shared::bump(&self.shared.skipped);
            return None;
        }
        self.seq += 1;
        let seq = self.seq;
        let proto = self.shared.proto;
        // Keys are unique per run: the same participant may publish again in a later run or step.
        let key = (proto == Proto::Makeroom).then(|| format!("{}-{stream}-{seq}", self.shared.run_id));
        let sent_us = now_us();
        let frame =
            wire::publish(proto, PUBLISH_ID_BASE + seq, &self.spec.channel, wire::payload(stream, seq, sent_us), key)
                .ok()?;
        self.inflight.insert(seq, (sent_us, frame.clone()));
        Shared::bump(&self.shared.sent);
        Some(frame)
    }

    async fn run(&mut self, conn: Conn, mut commands: mpsc::UnboundedReceiver<Cmd>, mut rng: Rng) {
        let mut conn = Some(conn);
        let mut back_at: Option<Instant> = None;
        let mut attempts = 0u32;
        loop {
            let next = async {
                match conn.as_mut() {
                    Some(conn) => conn.next().await,
                    None => std::future::pending().await,
                }
            };
            let reconnect = async {
                match back_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(Cmd::Publish) => {
                        if let Some(frame) = self.next_publish()
                            && let Some(c) = conn.as_mut()
                            && c.send(frame).await.is_err()
                        {
                            conn = None;
                            self.went_down(&mut back_at, &mut rng, Duration::from_millis(100));
                        }
                    }
                    Some(Cmd::Drop(after)) => {
                        if let Some(c) = conn.take() {
                            c.drop_abruptly();
                            Shared::bump(&self.shared.down);
                            back_at = Some(Instant::now() + after);
                        }
                    }
                    Some(Cmd::Stop) | None => break,
                },
                incoming = next => match incoming {
                    Ok(Some(Incoming::Pub(text))) => {
                        let offset = if self.shared.proto == Proto::Makeroom { wire::offset(&text) } else { None };
                        self.on_publication(&text, offset, false);
                    }
                    Ok(Some(Incoming::Reply(reply))) => {
                        self.on_reply(reply.id, reply.result);
                    }
                    Ok(Some(Incoming::Closing(text))) => {
                        Shared::bump(&self.shared.server_closes);
                        self.shared.note_error(format!("server closed a connection: {text}"));
                    }
                    Ok(Some(Incoming::Other)) => {}
                    Ok(None) | Err(_) => {
                        conn = None;
                        self.went_down(&mut back_at, &mut rng, Duration::from_millis(200));
                    }
                },
                _ = reconnect => {
                    back_at = None;
                    Shared::bump(&self.shared.reconnects);
                    match self.connect(true).await {
                        Ok(c) => {
                            conn = Some(c);
                            attempts = 0;
                            self.shared.down.set(self.shared.down.get().saturating_sub(1));
                        }
                        Err(err) => {
                            attempts += 1;
                            if attempts >= RECONNECT_ATTEMPTS {
                                Shared::bump(&self.shared.gave_up);
                                self.shared.note_error(format!("reconnect failed: {err:#}"));
                            } else {
                                // Exponential backoff with full jitter.
                                let cap = Duration::from_millis(100 << attempts.min(5));
                                back_at = Some(Instant::now() + rng.duration_below(cap));
                            }
                        }
                    }
                }
            }
        }
    }

    /// The connection ended without being asked to: Makeroom clients come back and recover;
    /// Socket.IO clients (no recovery in the peer) stay down and their losses show.
    fn went_down(&mut self, back_at: &mut Option<Instant>, rng: &mut Rng, cap: Duration) {
        Shared::bump(&self.shared.down);
        if self.shared.proto == Proto::Makeroom {
            *back_at = Some(Instant::now() + rng.duration_below(cap));
        } else {
            self.shared.note_error("a Socket.IO connection closed during the run".into());
        }
    }
}

/// Every member of a run, set up and ready.
pub struct Fleet {
    pub shared: Rc<Shared>,
    pub commands: Vec<mpsc::UnboundedSender<Cmd>>,
    pub tasks: Vec<tokio::task::JoinHandle<MemberResult>>,
    /// Members that finished setup, by index.
    pub ready: Vec<bool>,
    pub setup_failures: usize,
    pub setup_secs: f64,
}

/// Starts every member (at most `parallel` connecting at once) and waits until each is subscribed.
pub async fn start_fleet(specs: Vec<MemberSpec>, shared: Rc<Shared>, parallel: usize) -> Result<Fleet> {
    let started = Instant::now();
    let setup = Rc::new(Semaphore::new(parallel.max(1)));
    let mut commands = Vec::with_capacity(specs.len());
    let mut tasks = Vec::with_capacity(specs.len());
    let mut readies = Vec::with_capacity(specs.len());
    for spec in specs {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let seed = spec.index as u64;
        tasks.push(spawn(spec, shared.clone(), rx, ready_tx, setup.clone(), seed));
        commands.push(tx);
        readies.push(ready_rx);
    }
    let mut ready = Vec::with_capacity(readies.len());
    let mut failures = 0;
    for rx in readies {
        match rx.await {
            Ok(Ok(())) => ready.push(true),
            Ok(Err(err)) => {
                failures += 1;
                shared.note_error(format!("setup failed: {err:#}"));
                ready.push(false);
            }
            Err(_) => {
                failures += 1;
                ready.push(false);
            }
        }
    }
    if failures == ready.len() {
        bail!("no connection could be set up: {}", shared.first_error.borrow().clone().unwrap_or_default());
    }
    Ok(Fleet { shared, commands, tasks, ready, setup_failures: failures, setup_secs: started.elapsed().as_secs_f64() })
}

impl Fleet {
    /// Stops every member and collects what each saw.
    pub async fn finish(self) -> Vec<MemberResult> {
        for tx in &self.commands {
            let _ = tx.send(Cmd::Stop);
        }
        let mut results = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            if let Ok(result) = task.await {
                results.push(result);
            }
        }
        results.sort_by_key(|r| r.index);
        results
    }

    /// Waits until every publish is answered and every expected delivery arrived, or until
    /// nothing has moved for `quiet`, or `limit` has passed.
    pub async fn drain(&self, quiet: Duration, limit: Duration) {
        let shared = &self.shared;
        let deadline = Instant::now() + limit;
        let mut last = (0, 0);
        let mut last_change = Instant::now();
        while Instant::now() < deadline {
            let answered = shared.acked.get() + shared.errors.get();
            let settled = answered + shared.skipped.get() >= shared.sent.get()
                && shared.delivered.get() >= shared.expected.get()
                && shared.down.get() == 0;
            if settled {
                return;
            }
            let now = (answered, shared.delivered.get());
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() > quiet {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sends `rate` publishes per second for `duration`, round-robin over `publishers` (indices into
/// the fleet's command senders). `on_tick` runs every millisecond with the elapsed time (for
/// scenarios that act mid-run) and ends the phase early by returning `false`. Returns how many
/// publish commands were issued.
pub async fn publish_for(
    fleet: &Fleet,
    publishers: &[usize],
    rate: f64,
    duration: Duration,
    mut on_tick: impl FnMut(Duration) -> bool,
) -> u64 {
    let started = Instant::now();
    let mut issued = 0u64;
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let elapsed = started.elapsed();
        if elapsed >= duration {
            break;
        }
        if !on_tick(elapsed) {
            break;
        }
        if publishers.is_empty() {
            continue;
        }
        let due = (rate * elapsed.as_secs_f64()) as u64;
        while issued < due {
            let publisher = publishers[next % publishers.len()];
            next += 1;
            issued += 1;
            let _ = fleet.commands[publisher].send(Cmd::Publish);
        }
    }
    issued
}

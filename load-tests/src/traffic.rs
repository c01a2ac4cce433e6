//! The traffic of `rooms`, `reconnect-storm` and `compare`: each member (one [`Client`]) subscribes to
//! one channel, publishes when the scheduler tells it to and records what it receives; on Makeroom
//! it comes back after a drop and recovers exactly what it missed with `subscribe` + `since`,
//! resending its unanswered publishes with the same idempotency keys. This module keeps the
//! accounting (bitsets per stream, latency histograms); the connection itself is the client's.

use crate::accounting::{Arrival, Bits, Receiver, latency_histogram};
use crate::client::{
    self, Client, ClientSpec, Delivery, Draft, Entry, Event, Hooks, Op, Outcome, Policy, Slot, Subscription,
};
use crate::sys::now_us;
use crate::wire::{self, Proto};
use anyhow::{Result, bail};
use hdrhistogram::Histogram;
use makeroom_protocol::{Position, SubscribeResult};
use std::cell::{Cell, RefCell};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;

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

/// A member's accounting: what it received, per stream, and which of its publishes were acknowledged.
pub struct Member {
    index: usize,
    stream: Option<u32>,
    channel: String,
    shared: Rc<Shared>,
    receiver: Receiver,
    acked: Bits,
}

impl Hooks for Member {
    /// Publish once (the scheduler's tick).
    type Order = ();

    fn draft(&mut self, _: (), slot: Slot) -> Option<Draft> {
        let stream = self.stream?;
        let shared = &self.shared;
        let seq = slot.seq;
        if slot.waiting >= shared.max_inflight {
            Shared::bump(&shared.skipped);
            return None;
        }
        // Keys are unique per run: the same participant may publish again in a later run or step.
        let key = (shared.proto == Proto::Makeroom).then(|| format!("{}-{stream}-{seq}", shared.run_id));
        Shared::bump(&shared.sent);
        let channel = self.channel.clone();
        Some(Draft { op: Op::Publish, channel, body: wire::payload(stream, seq, now_us()), key, tag: 0 })
    }

    fn on_event(&mut self, event: Event<'_>) {
        let shared = &self.shared;
        match event {
            Event::Attempt => Shared::bump(&shared.reconnects),
            Event::Dropped => Shared::bump(&shared.down),
            Event::Lost => {
                Shared::bump(&shared.down);
                if shared.proto != Proto::Makeroom {
                    // No recovery in the peer: the client stays down and its losses show.
                    shared.note_error("a Socket.IO connection closed during the run".into());
                }
            }
            Event::Ready { again: true } => shared.down.set(shared.down.get().saturating_sub(1)),
            Event::GaveUp(reason) => {
                Shared::bump(&shared.gave_up);
                shared.note_error(format!("reconnect failed: {reason}"));
            }
            Event::Closing(text) => {
                Shared::bump(&shared.server_closes);
                shared.note_error(format!("server closed a connection: {text}"));
            }
            _ => {}
        }
    }

    fn on_subscribed(&mut self, _channel: &str, since: Option<&Position>, result: &SubscribeResult) {
        if since.is_none() {
            return;
        }
        let shared = &self.shared;
        Shared::bump(if result.recovered == Some(true) { &shared.recovered_clients } else { &shared.not_recovered });
        let now = now_us();
        if now > shared.last_recovery_us.get() {
            shared.last_recovery_us.set(now);
        }
    }

    fn on_delivery(&mut self, delivery: Delivery<'_>) {
        let shared = &self.shared;
        if let (Some(offset), Some(after)) = (delivery.offset, delivery.after)
            && offset != after + 1
        {
            Shared::bump(&shared.offset_gaps);
        }
        let Some(marker) = wire::marker(delivery.text) else {
            return;
        };
        if self.receiver.record(marker.stream, marker.seq) != Arrival::New {
            return;
        }
        Shared::bump(&shared.delivered);
        if !delivery.live {
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

    fn on_send(&mut self, entry: &Entry) {
        if entry.sends > 1 {
            Shared::bump(&self.shared.resent);
        }
    }

    fn on_settled(&mut self, entry: Entry, outcome: Outcome<'_>) {
        let shared = &self.shared;
        match outcome {
            Outcome::Acked(result) => {
                let (from, to) = shared.window.get();
                if entry.created_us >= from && entry.created_us < to {
                    let took = now_us().saturating_sub(entry.created_us).max(1);
                    let _ = shared.ack_hist.borrow_mut().record(took);
                }
                if result.get().contains(r#""duplicate":true"#) {
                    Shared::bump(&shared.duplicate_replies);
                }
                self.acked.set(entry.seq);
                Shared::bump(&shared.acked);
                if let Some(stream) = self.stream {
                    let audience = shared.audience.borrow().get(stream as usize).copied().unwrap_or(0);
                    shared.expected.set(shared.expected.get() + audience);
                }
            }
            Outcome::Refused(err) => {
                Shared::bump(&shared.errors);
                shared.note_error(err.to_string());
            }
            // Never answered: neither acknowledged nor an error, as a publish the server never saw.
            Outcome::LostInFlight | Outcome::Unresolved => {}
        }
    }
}

/// Every member of a run, set up and ready.
pub struct Fleet {
    pub shared: Rc<Shared>,
    pub clients: client::Fleet<Member>,
    /// Members that finished setup, by index.
    pub ready: Vec<bool>,
    pub setup_failures: usize,
    pub setup_secs: f64,
}

/// Starts every member (at most `parallel` connecting at once) and waits until each is subscribed.
pub async fn start_fleet(specs: Vec<MemberSpec>, shared: Rc<Shared>, parallel: usize) -> Result<Fleet> {
    let policy = Policy::pipelined(shared.proto);
    let clients = specs
        .into_iter()
        .map(|spec| {
            let member = Member {
                index: spec.index,
                stream: spec.stream,
                channel: spec.channel.clone(),
                shared: shared.clone(),
                receiver: Receiver::default(),
                acked: Bits::with_capacity(1024),
            };
            let spec = ClientSpec {
                index: spec.index,
                proto: shared.proto,
                port: spec.port,
                source: spec.source,
                token: spec.token,
                subscriptions: vec![Subscription::new(spec.channel, false)],
                seed: spec.index as u64,
            };
            Client::new(spec, policy.clone(), member)
        })
        .collect();
    let clients = client::Fleet::start(clients, parallel).await;
    for failure in clients.failures() {
        shared.note_error(format!("setup failed: {failure}"));
    }
    let ready: Vec<bool> = clients.ready.iter().map(Result::is_ok).collect();
    let setup_failures = ready.iter().filter(|r| !**r).count();
    if setup_failures == ready.len() {
        bail!("no connection could be set up: {}", shared.first_error.borrow().clone().unwrap_or_default());
    }
    let setup_secs = clients.setup_secs;
    Ok(Fleet { shared, clients, ready, setup_failures, setup_secs })
}

impl Fleet {
    /// Who hears each room, when member `i` is in room `i % rooms` and publishes as stream `i`: the
    /// members whose setup succeeded. Sets each stream's audience to its room's.
    pub fn room_members(&self, rooms: usize) -> Vec<Vec<usize>> {
        let rooms = rooms.max(1);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); rooms];
        for (i, ready) in self.ready.iter().enumerate() {
            if *ready {
                members[i % rooms].push(i);
            }
        }
        let mut audience = self.shared.audience.borrow_mut();
        for (i, slot) in audience.iter_mut().enumerate() {
            *slot = members[i % rooms].len() as u64;
        }
        members
    }

    /// Stops every member and collects what each saw, in member order.
    pub async fn finish(self) -> Vec<MemberResult> {
        let members = self.clients.finish().await;
        members
            .into_iter()
            .map(|m| MemberResult { index: m.index, acked: m.stream.map(|s| (s, m.acked)), receiver: m.receiver })
            .collect()
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
            fleet.clients.order(publisher, ());
        }
    }
    issued
}

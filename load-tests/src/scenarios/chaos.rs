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

use super::event_day::{
    ANNOUNCEMENTS, CARD_ADD_PER_TEAM, CARD_MOVE_PER_TEAM, DROP_PER_PERSON, LOBBY_CHAT, TEAM_CHAT_PER_PERSON,
};
use crate::accounting::{Bits, Latency, Totals, latency_histogram};
use crate::report::{Report, mib};
use crate::servers::{Haproxy, Makeroom, Redis};
use crate::sys::{MachineCpu, Rng, cpu_secs, now_us, own_cpu_secs, rss_bytes};
use crate::wire::{self, Conn, Incoming, Proto, source_addr};
use crate::{ServerOptions, setup};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use makeroom_protocol::announcements::{AnnouncementCommand, Priority};
use makeroom_protocol::board::BoardCommand;
use makeroom_protocol::{DomainCommand, HistoryResult, Position, Publication, PublishResult, SubscribeResult};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

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

/// Redis (append-only file, fsync always), two or more Makeroom instances on it, HAProxy in front.
pub struct Cluster {
    pub redis: Redis,
    pub instances: Vec<Makeroom>,
    pub proxy: Haproxy,
    options: crate::servers::MakeroomOptions,
}

impl Cluster {
    pub async fn start(options: &ServerOptions, instances: usize, volatile_redis: bool) -> Result<Self> {
        let cpus = options.cpus.as_deref();
        let redis = if volatile_redis { Redis::start(cpus).await? } else { Redis::start_durable(cpus).await? };
        let mut makeroom = options.makeroom.clone();
        makeroom.cpus = options.cpus.clone();
        makeroom.redis_url = Some(redis.url());
        let mut servers = Vec::new();
        for i in 0..instances.max(1) {
            makeroom.no_demo = i > 0;
            makeroom.port = None;
            servers.push(Makeroom::start(&makeroom).await?);
        }
        let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
        let proxy = Haproxy::start(cpus, &ports).await?;
        makeroom.no_demo = true;
        Ok(Cluster { redis, instances: servers, proxy, options: makeroom })
    }

    /// Every server-side process: Redis, the instances, the proxy.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.redis.pid(), self.proxy.pid()];
        pids.extend(self.instances.iter().map(Makeroom::pid));
        pids.retain(|&pid| pid != 0);
        pids
    }

    /// Starts instance `i` again on its port (after it was killed).
    pub async fn restart_instance(&mut self, i: usize) -> Result<()> {
        let mut options = self.options.clone();
        options.port = Some(self.instances[i].port);
        self.instances[i] = Makeroom::start(&options).await?;
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// What happened, as the clients saw it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    /// The connection ended without the client asking (server or proxy closed it).
    Lost,
    /// The generator dropped the connection (phone drop or mass drop).
    Dropped,
    /// A reconnect began.
    Attempt,
    /// A reconnect failed (refused by the proxy, hello or subscribe refused, timed out).
    AttemptFailed,
    /// Connected, said hello and subscribed to every channel.
    Ready,
    /// A publish or command refused with `unavailable`.
    Unavailable,
    /// A publish or command refused with `rate_limited`.
    RateLimited,
    /// Acknowledged (first time for its key).
    Acked,
    /// Acknowledged with `duplicate: true`: a resend of something already stored.
    AckedDuplicate,
    /// A request got no reply in time; the connection was reopened.
    Timeout,
    /// A `subscribe` with `since` answered `recovered: false`.
    NotRecovered,
    /// A `subscribe` refused retryably (`unavailable`), asked again on the same connection.
    SubscribeRetry,
    /// A publish or command refused for good (any error but `unavailable` and `rate_limited`).
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    CardAdd,
    CardMove,
    Announcement,
}

/// One publish or command in a client's outbox.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    key: String,
    channel: String,
    kind: Kind,
    /// What every send of it carries.
    payload: Payload,
    created_us: u64,
    sends: u32,
    /// What became of each earlier send: `unavailable`, the connection lost while it was in flight, ...
    previous: Vec<&'static str>,
}

/// What an outbox entry sends: the `data` of a publish, or a command. The same on every send.
#[derive(Debug, Clone)]
enum Payload {
    Publish(String),
    Command(DomainCommand),
}

/// How an outbox entry ended.
#[derive(Debug, Clone)]
enum Outcome {
    Acked {
        epoch: String,
        offset: u64,
        duplicate: bool,
        at_us: u64,
    },
    /// Refused for good (not retryable): the server stored nothing.
    Refused(String),
    /// Still waiting when the run ended.
    Unresolved,
}

#[derive(Debug, Clone)]
struct Done {
    entry: Entry,
    outcome: Outcome,
}

/// One channel as one connection saw it.
#[derive(Debug, Default)]
struct ChanRx {
    epoch: String,
    /// The offset its first subscription started after.
    start: u64,
    /// The newest offset received (its position for `since`).
    last: u64,
    got: Bits,
    /// Content fingerprint of each offset received (the first time).
    prints: HashMap<u64, u64>,
    duplicated: u64,
    reordered: u64,
    epoch_changes: u64,
    not_recovered: u64,
}

struct Shared {
    config: ChaosConfig,
    run_id: u64,
    events: RefCell<Vec<(u64, usize, Ev)>>,
    /// Delivery latency: the latest send of a chat message before it arrived, to its arrival at
    /// each receiver (live pushes only). What the server adds, without the time a message waited
    /// in an outbox.
    delivery: RefCell<Histogram<u64>>,
    /// Creation of a chat message (in an outbox) to its arrival: what a person waits, retries and
    /// time offline included.
    created_to_received: RefCell<Histogram<u64>>,
    /// The latest send of each chat message, by (connection, seq).
    last_send: RefCell<HashMap<(u32, u64), u64>>,
    /// The same for messages received before the first fault.
    calm_delivery: RefCell<Histogram<u64>>,
    /// Creation of a publish or command to its acknowledgement (through every retry).
    ack: RefCell<Histogram<u64>>,
    /// Send to reply of each `unavailable` refusal of a publish / of a command: how long a client
    /// waited to be told.
    refusal: RefCell<Histogram<u64>>,
    command_refusal: RefCell<Histogram<u64>>,
    /// Acknowledgements that said `duplicate: true`, by what became of the send before.
    duplicate_after: RefCell<BTreeMap<String, u64>>,
    calm_until_us: Cell<u64>,
    /// The start of the traffic (generator clock, µs).
    t0_us: Cell<u64>,
    /// Entries in every outbox, and connections not ready (for the drain).
    pending: Cell<u64>,
    not_ready: Cell<u64>,
    /// Newest offset received per (connection, channel), for the drain.
    positions: RefCell<Vec<HashMap<String, u64>>>,
    sent_frames: Cell<u64>,
    /// Why reconnects failed, by reason.
    failures: RefCell<BTreeMap<String, u64>>,
    first_error: RefCell<Option<String>>,
}

impl Shared {
    fn log(&self, person: usize, ev: Ev) {
        self.events.borrow_mut().push((now_us(), person, ev));
    }

    fn note_error(&self, error: String) {
        self.first_error.borrow_mut().get_or_insert(error);
    }
}

#[derive(Debug)]
enum Cmd {
    Say(String),
    CardAdd(String),
    CardMove(String),
    /// The organiser posts an announcement (a command on `announcements`).
    Announce,
    /// Lose the connection; `Some(d)`: the phone is offline for `d` first.
    Drop(Option<Duration>),
    Stop,
}

/// Why a (re)connect failed, and how long the server asked to wait.
struct Failed {
    reason: String,
    retry_after: Option<Duration>,
}

impl Failed {
    fn new(reason: impl Into<String>) -> Self {
        Failed { reason: reason.into(), retry_after: None }
    }
}

/// Most reconnect attempts per connection in one run (a bound; the run's length bounds it first).
const MAX_ATTEMPTS: u32 = 500;
/// Most `subscribe` retries on one connection (`unavailable`), as the web client retries them.
const MAX_SUBSCRIBE_RETRIES: u32 = 60;
/// A connection that lasted this long resets the backoff (as `ONLINE_RESET_MS` in the web client).
const ONLINE_RESET: Duration = Duration::from_secs(10);
/// History page size (the server's maximum).
const HISTORY_PAGE: u32 = 500;

struct Person {
    index: usize,
    token: String,
    port: u16,
    source: Ipv4Addr,
    channels: Vec<(String, bool)>,
    board: Option<String>,
    shared: Rc<Shared>,
    rx: HashMap<String, ChanRx>,
    next_id: u64,
    cards: Vec<String>,
    outbox: VecDeque<Entry>,
    /// The request id and send time of the outbox head, while it waits for its reply.
    in_flight: Option<(u64, Instant)>,
    /// After `unavailable`: when to send the outbox head again.
    retry_at: Option<Instant>,
    seq: u64,
    done: Vec<Done>,
    attempt: u32,
    attempts_total: u32,
    online_since: Option<Instant>,
    ready: bool,
    rng: Rng,
}

impl Person {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn set_ready(&mut self, ready: bool) {
        if ready != self.ready {
            let n = &self.shared.not_ready;
            n.set(if ready { n.get().saturating_sub(1) } else { n.get() + 1 });
            self.ready = ready;
        }
    }

    /// Opens a connection through the proxy, says hello, subscribes to every channel (with `since`
    /// once it has a position), as the web client does; pushes that arrive meanwhile are recorded.
    async fn connect(&mut self) -> Result<Conn, Failed> {
        let timeout = self.shared.config.request_timeout;
        let mut conn = match tokio::time::timeout(timeout, Conn::open(Proto::Makeroom, self.port, self.source)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return Err(Failed::new(format!("connect: {err:#}"))),
            Err(_) => return Err(Failed::new("connect: timed out")),
        };
        let id = self.id();
        conn.send(wire::hello(id, &self.token)).await.map_err(|e| Failed::new(format!("hello: {e:#}")))?;
        let reply = self.await_reply(&mut conn, id).await?;
        if let Err(err) = &reply.result {
            return Err(Failed {
                reason: format!("hello: {err}"),
                retry_after: reply.retry_after_ms.map(Duration::from_millis),
            });
        }
        for (channel, presence) in self.channels.clone() {
            let mut retries = 0;
            let result = loop {
                let since = self.rx.get(&channel).map(|rx| Position { epoch: rx.epoch.clone(), offset: rx.last });
                let id = self.id();
                let mut frame = wire::subscribe(Proto::Makeroom, id, &channel, since.clone());
                if presence {
                    frame = frame.replacen("\"presence\":false", "\"presence\":true", 1);
                }
                conn.send(frame).await.map_err(|e| Failed::new(format!("subscribe: {e:#}")))?;
                let reply = self.await_reply(&mut conn, id).await?;
                match (&reply.result, reply.error_code()) {
                    (Ok(result), _) => {
                        let result: SubscribeResult =
                            serde_json::from_str(result.get()).map_err(|e| Failed::new(format!("subscribe: {e}")))?;
                        break (result, since);
                    }
                    (Err(_), Some("unavailable" | "rate_limited")) if retries < MAX_SUBSCRIBE_RETRIES => {
                        // The server is busy: ask again a little later on the same connection.
                        retries += 1;
                        self.shared.log(self.index, Ev::SubscribeRetry);
                        let wait = Duration::from_millis(reply.retry_after_ms.unwrap_or(1000));
                        self.pump(&mut conn, Instant::now() + wait).await?;
                    }
                    (Err(err), _) => {
                        return Err(Failed {
                            reason: format!("subscribe {channel}: {err}"),
                            retry_after: reply.retry_after_ms.map(Duration::from_millis),
                        });
                    }
                }
            };
            let (result, since) = result;
            let rx = self.rx.entry(channel.clone()).or_default();
            match &since {
                None => {
                    rx.epoch = result.epoch.clone();
                    rx.start = result.offset;
                    rx.last = result.offset;
                }
                Some(since) => {
                    if result.epoch != since.epoch {
                        rx.epoch_changes += 1;
                    }
                    if result.recovered != Some(true) {
                        rx.not_recovered += 1;
                        self.shared.log(self.index, Ev::NotRecovered);
                    }
                }
            }
            for publication in &result.publications {
                self.record(publication, false);
            }
            if let Some(rx) = self.rx.get_mut(&channel)
                && since.is_some()
                && result.recovered == Some(true)
            {
                rx.last = rx.last.max(result.offset);
            }
        }
        Ok(conn)
    }

    /// Waits for the reply to request `id`, recording pushes meanwhile.
    async fn await_reply(&mut self, conn: &mut Conn, id: u64) -> Result<wire::ReplyFrame, Failed> {
        let deadline = Instant::now() + self.shared.config.request_timeout;
        loop {
            let incoming = match tokio::time::timeout_at(deadline, conn.next()).await {
                Err(_) => return Err(Failed::new(format!("no reply to request {id} in time"))),
                Ok(Err(err)) => return Err(Failed::new(format!("connection failed: {err:#}"))),
                Ok(Ok(None)) => return Err(Failed::new("connection closed during setup")),
                Ok(Ok(Some(incoming))) => incoming,
            };
            match incoming {
                Incoming::Reply(reply) if reply.id == id => return Ok(reply),
                Incoming::Pub(text) => self.on_push(&text),
                _ => {}
            }
        }
    }

    /// Reads pushes until `until`.
    async fn pump(&mut self, conn: &mut Conn, until: Instant) -> Result<(), Failed> {
        loop {
            match tokio::time::timeout_at(until, conn.next()).await {
                Err(_) => return Ok(()),
                Ok(Err(err)) => return Err(Failed::new(format!("connection failed: {err:#}"))),
                Ok(Ok(None)) => return Err(Failed::new("connection closed during setup")),
                Ok(Ok(Some(Incoming::Pub(text)))) => self.on_push(&text),
                Ok(Ok(Some(_))) => {}
            }
        }
    }

    fn on_push(&mut self, text: &str) {
        match serde_json::from_str::<Publication>(text) {
            Ok(publication) => self.record(&publication, true),
            Err(err) => self.shared.note_error(format!("unreadable publication: {err}")),
        }
    }

    fn record(&mut self, publication: &Publication, live: bool) {
        let Some(rx) = self.rx.get_mut(&publication.channel) else {
            return;
        };
        let offset = publication.offset;
        if offset <= rx.start {
            return;
        }
        if rx.got.set(offset) {
            rx.duplicated += 1;
            return;
        }
        if offset < rx.last {
            rx.reordered += 1;
        }
        rx.last = rx.last.max(offset);
        let data = publication.data.get();
        rx.prints.insert(offset, fingerprint(data));
        if let Some(map) = self.shared.positions.borrow_mut().get_mut(self.index) {
            map.insert(publication.channel.clone(), rx.last);
        }
        if self.board.as_deref() == Some(publication.channel.as_str())
            && data.contains("\"card_added\"")
            && let Some(id) = card_id(data)
        {
            self.cards.push(id);
        }
        if live && let Some(marker) = wire::marker(data) {
            let now = now_us();
            let _ = self.shared.created_to_received.borrow_mut().record(now.saturating_sub(marker.sent_us).max(1));
            let sent = self.shared.last_send.borrow().get(&(marker.stream, marker.seq)).copied();
            if let Some(sent) = sent {
                let latency = now.saturating_sub(sent).max(1);
                let _ = self.shared.delivery.borrow_mut().record(latency);
                if now < self.shared.calm_until_us.get() {
                    let _ = self.shared.calm_delivery.borrow_mut().record(latency);
                }
            }
        }
    }

    fn enqueue(&mut self, channel: String, kind: Kind, payload: Payload) {
        self.seq += 1;
        let entry = Entry {
            seq: self.seq,
            key: format!("{}-{}-{}", self.shared.run_id, self.index, self.seq),
            channel,
            kind,
            payload,
            created_us: now_us(),
            sends: 0,
            previous: Vec::new(),
        };
        self.outbox.push_back(entry);
        self.shared.pending.set(self.shared.pending.get() + 1);
    }

    /// Sends the outbox head if nothing is in flight and no retry is pending. Returns false if the
    /// connection failed.
    async fn flush(&mut self, conn: &mut Conn) -> bool {
        if !self.ready || self.in_flight.is_some() || self.retry_at.is_some() {
            return true;
        }
        let id = self.id();
        let Some(head) = self.outbox.front_mut() else {
            return true;
        };
        head.sends += 1;
        let frame = match &head.payload {
            Payload::Publish(data) => {
                wire::publish(Proto::Makeroom, id, &head.channel, data.clone(), Some(head.key.clone()))
            }
            Payload::Command(command) => Ok(wire::command(id, &head.channel, command, Some(head.key.clone()))),
        };
        let Ok(frame) = frame else {
            return true;
        };
        if head.kind == Kind::Chat {
            self.shared.last_send.borrow_mut().insert((self.index as u32, head.seq), now_us());
        }
        self.in_flight = Some((id, Instant::now()));
        self.shared.sent_frames.set(self.shared.sent_frames.get() + 1);
        conn.send(frame).await.is_ok()
    }

    fn resolve_head(&mut self, outcome: Outcome) {
        if let Some(entry) = self.outbox.pop_front() {
            self.shared.pending.set(self.shared.pending.get().saturating_sub(1));
            if let Outcome::Acked { at_us, .. } = &outcome {
                let took = at_us.saturating_sub(entry.created_us).max(1);
                let _ = self.shared.ack.borrow_mut().record(took);
            }
            self.done.push(Done { entry, outcome });
        }
    }

    fn on_reply(&mut self, reply: wire::ReplyFrame) {
        let Some((id, sent)) = self.in_flight else {
            return;
        };
        if reply.id != id {
            return;
        }
        self.in_flight = None;
        match (&reply.result, reply.error_code()) {
            (Ok(result), _) => {
                let Ok(result) = serde_json::from_str::<PublishResult>(result.get()) else {
                    self.shared.note_error(format!("unreadable acknowledgement {}", result.get()));
                    self.resolve_head(Outcome::Refused("unreadable acknowledgement".into()));
                    return;
                };
                self.shared.log(self.index, if result.duplicate { Ev::AckedDuplicate } else { Ev::Acked });
                if result.duplicate {
                    let mut causes: Vec<&str> = self.outbox.front().map(|e| e.previous.clone()).unwrap_or_default();
                    causes.sort_unstable();
                    causes.dedup();
                    let cause = if causes.is_empty() { "nothing (first send)".to_string() } else { causes.join(" + ") };
                    if let Some(head) = self.outbox.front() {
                        let t0 = self.shared.t0_us.get();
                        eprintln!(
                            "duplicate: true for {} on {} at offset {} (created at {:+.1} s, acknowledged at {:+.1} s, \
                             send {}; earlier sends: {cause})",
                            kind_name(head.kind),
                            head.channel,
                            result.offset,
                            secs_since(head.created_us, t0),
                            secs_since(now_us(), t0),
                            head.sends
                        );
                    }
                    *self.shared.duplicate_after.borrow_mut().entry(format!("earlier sends: {cause}")).or_default() +=
                        1;
                }
                self.resolve_head(Outcome::Acked {
                    epoch: result.epoch,
                    offset: result.offset,
                    duplicate: result.duplicate,
                    at_us: now_us(),
                });
            }
            (Err(_), Some(code @ ("unavailable" | "rate_limited"))) => {
                let ev = if code == "unavailable" { Ev::Unavailable } else { Ev::RateLimited };
                self.shared.log(self.index, ev);
                let chat = self.outbox.front().is_some_and(|e| e.kind == Kind::Chat);
                if let Some(head) = self.outbox.front_mut() {
                    head.previous.push(code_name(code));
                }
                if ev == Ev::Unavailable {
                    let took = sent.elapsed().as_micros() as u64;
                    let histogram = if chat { &self.shared.refusal } else { &self.shared.command_refusal };
                    let _ = histogram.borrow_mut().record(took.max(1));
                }
                let wait = Duration::from_millis(reply.retry_after_ms.unwrap_or(1000));
                self.retry_at = Some(Instant::now() + wait);
            }
            (Err(err), _) => {
                self.shared.log(self.index, Ev::Refused);
                self.shared.note_error(format!("refused: {err}"));
                self.resolve_head(Outcome::Refused(err.clone()));
            }
        }
    }

    /// The web client's reconnect delay: random in `[0, min(cap, base * 2^attempt)]`, at least
    /// what the server asked for.
    fn backoff(&mut self, at_least: Option<Duration>) -> Instant {
        let config = &self.shared.config;
        let ceiling = config.backoff_base.saturating_mul(1u32 << self.attempt.min(20)).min(config.backoff_cap);
        let delay = self.rng.duration_below(ceiling).max(at_least.unwrap_or_default());
        self.attempt += 1;
        Instant::now() + delay
    }

    /// The connection is gone: what was in flight goes again on the next one.
    fn went_down(&mut self) {
        if self.in_flight.is_some()
            && let Some(head) = self.outbox.front_mut()
        {
            head.previous.push("connection lost in flight");
        }
        self.in_flight = None;
        self.retry_at = None;
        self.set_ready(false);
        if self.online_since.take().is_some_and(|since| since.elapsed() >= ONLINE_RESET) {
            self.attempt = 0;
        }
    }

    fn command_body(&mut self, kind: Kind) -> Option<Payload> {
        let mark = format!("[m {}.{}]", self.index, self.seq + 1);
        let command = match kind {
            Kind::CardAdd => DomainCommand::Board(BoardCommand::AddCard {
                column: None,
                title: format!("card {mark}"),
                notes: String::new(),
                assignee: None,
            }),
            Kind::Announcement => DomainCommand::Announcement(AnnouncementCommand::Post {
                text: format!("announcement {mark}"),
                priority: Priority::Normal,
                pinned: false,
            }),
            Kind::CardMove => {
                if self.cards.is_empty() {
                    return None;
                }
                let card = self.cards[self.rng.below(self.cards.len() as u64) as usize].clone();
                let column = ["todo", "doing", "done"][self.rng.below(3) as usize].to_string();
                DomainCommand::Board(BoardCommand::MoveCard { card, column, index: 0 })
            }
            Kind::Chat => return None,
        };
        Some(Payload::Command(command))
    }

    async fn run(&mut self, conn: Conn, mut commands: mpsc::UnboundedReceiver<Cmd>) {
        let mut conn = Some(conn);
        self.online_since = Some(Instant::now());
        self.set_ready(true);
        let mut back_at: Option<Instant> = None;
        loop {
            let timeout_at = self.in_flight.map(|(_, sent)| sent + self.shared.config.request_timeout);
            let next = async {
                match conn.as_mut() {
                    Some(conn) => conn.next().await,
                    None => std::future::pending().await,
                }
            };
            let at = |when: Option<Instant>| async move {
                match when {
                    Some(when) => tokio::time::sleep_until(when).await,
                    None => std::future::pending().await,
                }
            };
            let mut failed = false;
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(Cmd::Say(channel)) => {
                        let data = wire::payload(self.index as u32, self.seq + 1, now_us());
                        self.enqueue(channel, Kind::Chat, Payload::Publish(data));
                    }
                    Some(Cmd::CardAdd(channel)) => {
                        if let Some(body) = self.command_body(Kind::CardAdd) {
                            self.enqueue(channel, Kind::CardAdd, body);
                        }
                    }
                    Some(Cmd::Announce) => {
                        if let Some(body) = self.command_body(Kind::Announcement) {
                            self.enqueue("announcements".into(), Kind::Announcement, body);
                        }
                    }
                    Some(Cmd::CardMove(channel)) => {
                        if let Some(body) = self.command_body(Kind::CardMove) {
                            self.enqueue(channel, Kind::CardMove, body);
                        }
                    }
                    Some(Cmd::Drop(offline)) => {
                        if let Some(c) = conn.take() {
                            c.drop_abruptly();
                            self.shared.log(self.index, Ev::Dropped);
                            self.went_down();
                            back_at = Some(match offline {
                                Some(offline) => Instant::now() + offline,
                                None => self.backoff(None),
                            });
                        }
                    }
                    Some(Cmd::Stop) | None => break,
                },
                incoming = next => match incoming {
                    Ok(Some(Incoming::Pub(text))) => self.on_push(&text),
                    Ok(Some(Incoming::Reply(reply))) => self.on_reply(reply),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        conn = None;
                        self.shared.log(self.index, Ev::Lost);
                        self.went_down();
                        back_at = Some(self.backoff(None));
                    }
                },
                _ = at(timeout_at) => {
                    // No answer in time: the connection is presumed dead; reopen it now.
                    self.shared.log(self.index, Ev::Timeout);
                    if let Some(c) = conn.take() {
                        c.drop_abruptly();
                    }
                    self.went_down();
                    back_at = Some(Instant::now());
                }
                _ = at(self.retry_at) => {
                    self.retry_at = None;
                }
                _ = at(back_at) => {
                    back_at = None;
                    self.attempts_total += 1;
                    if self.attempts_total > MAX_ATTEMPTS {
                        self.shared.note_error(format!("connection {} gave up reconnecting", self.index));
                        continue;
                    }
                    self.shared.log(self.index, Ev::Attempt);
                    // Bounded: a display subscribes to many channels, each retried while Redis is down.
                    let attempt = tokio::time::timeout(Duration::from_secs(60), self.connect()).await;
                    match attempt {
                        Ok(Ok(c)) => {
                            conn = Some(c);
                            self.online_since = Some(Instant::now());
                            self.set_ready(true);
                            self.shared.log(self.index, Ev::Ready);
                        }
                        Ok(Err(failure)) => {
                            self.shared.log(self.index, Ev::AttemptFailed);
                            *self.shared.failures.borrow_mut().entry(reason_class(&failure.reason)).or_default() += 1;
                            back_at = Some(self.backoff(failure.retry_after));
                        }
                        Err(_) => {
                            self.shared.log(self.index, Ev::AttemptFailed);
                            *self.shared.failures.borrow_mut().entry("connect: took over 60 s".into()).or_default() += 1;
                            back_at = Some(self.backoff(None));
                        }
                    }
                }
            }
            if let Some(c) = conn.as_mut()
                && !self.flush(c).await
            {
                failed = true;
            }
            if failed {
                conn = None;
                self.shared.log(self.index, Ev::Lost);
                self.went_down();
                back_at = Some(self.backoff(None));
            }
        }
        if let Some(c) = conn.take() {
            c.close().await;
        }
        // Whatever is still in the outbox was never acknowledged.
        while !self.outbox.is_empty() {
            self.resolve_head(Outcome::Unresolved);
        }
    }
}

fn code_name(code: &str) -> &'static str {
    match code {
        "unavailable" => "`unavailable`",
        "rate_limited" => "`rate_limited`",
        _ => "another error",
    }
}

/// A reconnect failure's reason without the parts that differ every time (ids, channel names).
fn reason_class(reason: &str) -> String {
    let mut words: Vec<&str> = reason.split_whitespace().collect();
    // `subscribe team:abc...: unavailable: ...` -> `subscribe: unavailable`
    if words.first() == Some(&"subscribe") && words.len() > 2 {
        words.remove(1);
        return format!("subscribe: {}", words[1].trim_end_matches(':'));
    }
    let text: String = words.join(" ");
    let text = text.split(" (").next().unwrap_or_default();
    let cut: String = text.chars().take(70).collect();
    cut.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect::<String>().replace("##", "#")
}

/// A 64-bit fingerprint of a `data` value, independent of key order and spacing.
fn fingerprint(data: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let canonical = serde_json::from_str::<serde_json::Value>(data).map(|v| v.to_string()).unwrap_or_default();
    let mut hasher = DefaultHasher::new();
    canonical.hash(&mut hasher);
    hasher.finish()
}

fn card_id(text: &str) -> Option<String> {
    let at = text.find("\"card\":{")?;
    let rest = &text[at..];
    let id = rest.find("\"id\":\"")? + 6;
    let end = rest[id..].find('"')?;
    Some(rest[id..id + end].to_string())
}

/// Who sent a stored entry, and which of their messages it is: `(connection, seq)` from a chat
/// marker, or from `[m CONNECTION.SEQ]` in a card's title or an announcement's text. Card moves
/// carry none.
fn identity(data: &str) -> Option<(u32, u64)> {
    if let Some(marker) = wire::marker(data) {
        return Some((marker.stream, marker.seq));
    }
    let at = data.find("[m ")? + 3;
    let rest = &data[at..];
    let end = rest.find(']')?;
    let (who, seq) = rest[..end].split_once('.')?;
    Some((who.parse().ok()?, seq.parse().ok()?))
}

// ------------------------------------------------------------------------------------------------
// The truth: each channel's full history.

struct Stored {
    print: u64,
    identity: Option<(u32, u64)>,
    card_moved: bool,
}

struct ChannelHistory {
    epoch: String,
    top: u64,
    first: u64,
    entries: BTreeMap<u64, Stored>,
}

/// A request/reply connection for the organiser, reopened through the proxy if it drops.
struct Reader {
    port: u16,
    token: String,
    conn: Option<Conn>,
    next_id: u64,
}

impl Reader {
    async fn call(&mut self, request: makeroom_protocol::Request) -> Result<Box<serde_json::value::RawValue>> {
        for attempt in 0..20 {
            if self.conn.is_none() {
                if let Ok(mut conn) = Conn::open(Proto::Makeroom, self.port, Ipv4Addr::LOCALHOST).await {
                    self.next_id += 1;
                    let id = self.next_id;
                    if conn.call(id, wire::hello(id, &self.token), |_| {}).await.is_ok() {
                        self.conn = Some(conn);
                    }
                }
                if self.conn.is_none() {
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                    continue;
                }
            }
            let Some(conn) = self.conn.as_mut() else { continue };
            self.next_id += 1;
            let id = self.next_id;
            let frame = serde_json::to_string(&makeroom_protocol::ClientFrame { id, request: request.clone() })?;
            match conn.call(id, frame, |_| {}).await {
                Ok(result) => return Ok(result),
                Err(err) if err.to_string().contains("unavailable") || err.to_string().contains("rate_limited") => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(_) => {
                    self.conn = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        bail!("the organiser could not read through the proxy")
    }

    async fn history_page(&mut self, channel: &str, before: Option<u64>, limit: u32) -> Result<HistoryResult> {
        let request = makeroom_protocol::Request::History(makeroom_protocol::History {
            channel: channel.to_string(),
            before,
            limit: Some(limit),
        });
        Ok(serde_json::from_str(self.call(request).await?.get())?)
    }

    /// The channel's newest offset.
    async fn top(&mut self, channel: &str) -> Result<u64> {
        Ok(self.history_page(channel, None, 1).await?.offset)
    }

    /// Every entry history holds, paging back from the newest.
    async fn history(&mut self, channel: &str) -> Result<ChannelHistory> {
        let mut before = None;
        let mut entries = BTreeMap::new();
        let mut head: Option<(String, u64, u64)> = None;
        for _ in 0..100_000 {
            let page = self.history_page(channel, before, HISTORY_PAGE).await?;
            if head.is_none() {
                head = Some((page.epoch.clone(), page.offset, page.first));
            }
            let Some(oldest) = page.publications.first().map(|p| p.offset) else { break };
            for publication in &page.publications {
                let data = publication.data.get();
                entries.insert(
                    publication.offset,
                    Stored {
                        print: fingerprint(data),
                        identity: identity(data),
                        card_moved: data.contains("\"card_moved\""),
                    },
                );
            }
            if oldest <= page.first.max(1) {
                break;
            }
            before = Some(oldest);
        }
        let (epoch, top, first) = head.unwrap_or_default();
        Ok(ChannelHistory { epoch, top, first, entries })
    }
}

// ------------------------------------------------------------------------------------------------
// Server CPU and memory while processes come and go.

struct Meter {
    seen: HashMap<u32, f64>,
    servers: f64,
    own: f64,
    machine: MachineCpu,
    started: std::time::Instant,
    peak_rss: u64,
}

impl Meter {
    fn start(pids: &[u32]) -> Self {
        Meter {
            seen: pids.iter().map(|&pid| (pid, cpu_secs(pid).unwrap_or(0.0))).collect(),
            servers: 0.0,
            own: own_cpu_secs(),
            machine: MachineCpu::now(),
            started: std::time::Instant::now(),
            peak_rss: 0,
        }
    }

    /// Adds each process's CPU since the last sample (a process seen for the first time counts from
    /// its start: it was started during the run).
    fn sample(&mut self, pids: &[u32]) {
        let mut rss = 0;
        for &pid in pids {
            let Some(now) = cpu_secs(pid) else { continue };
            let before = self.seen.insert(pid, now).unwrap_or(0.0);
            self.servers += (now - before).max(0.0);
            rss += rss_bytes(pid);
        }
        self.peak_rss = self.peak_rss.max(rss);
    }

    /// (servers, generator, others, the host's steal among the others) in % of one core.
    fn finish(&self) -> (f64, f64, f64, f64) {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let own = own_cpu_secs() - self.own;
        let machine = MachineCpu::now().since(self.machine);
        let pct = |secs: f64| 100.0 * secs.max(0.0) / wall;
        (pct(self.servers), pct(own), pct(machine.busy - self.servers - own), pct(machine.steal))
    }
}

// ------------------------------------------------------------------------------------------------
// The run.

/// When each fault happened, on the generator's clock (µs).
#[derive(Debug, Default, Clone)]
struct Faults {
    redis_killed: u64,
    redis_back: u64,
    instance_killed: u64,
    instance_back: u64,
    dropped_at: u64,
    dropped: Vec<usize>,
    traffic_end: u64,
    lines: Vec<(u64, String)>,
}

/// Runs the faults on schedule while the traffic goes on, sampling CPU and memory; hands the
/// cluster back at the end.
async fn conduct(
    mut cluster: Cluster,
    config: ChaosConfig,
    senders: Vec<mpsc::UnboundedSender<Cmd>>,
    t0: Instant,
    mut meter: Meter,
) -> (Cluster, Faults, Meter, Result<()>) {
    let mut faults = Faults::default();
    let outcome = async {
        let mut at = t0 + config.warmup;
        sample_until(&cluster, &mut meter, at).await;
        // Fault 1: Redis goes away for `redis_down`.
        meter.sample(&cluster.pids());
        faults.redis_killed = now_us();
        cluster.redis.kill().await;
        faults.lines.push((faults.redis_killed, format!("Redis killed (SIGKILL), port {}", cluster.redis.port)));
        at += config.redis_down;
        sample_until(&cluster, &mut meter, at).await;
        let started = Instant::now();
        cluster.redis.restart().await?;
        faults.redis_back = now_us();
        let data = if config.volatile_redis { "with no data (no append-only file)" } else { "and append-only file" };
        faults.lines.push((
            faults.redis_back,
            format!("Redis restarted on the same port {data} (listening after {} ms)", started.elapsed().as_millis()),
        ));
        // Fault 2: one instance crashes and is started again.
        at = Instant::now() + config.settle;
        sample_until(&cluster, &mut meter, at).await;
        let victim = config.kill_instance.min(cluster.instances.len() - 1);
        meter.sample(&cluster.pids());
        faults.instance_killed = now_us();
        cluster.instances[victim].kill().await;
        faults.lines.push((
            faults.instance_killed,
            format!("instance {victim} (port {}) killed (SIGKILL)", cluster.instances[victim].port),
        ));
        at += config.instance_down;
        sample_until(&cluster, &mut meter, at).await;
        let started = Instant::now();
        cluster.restart_instance(victim).await?;
        faults.instance_back = now_us();
        faults.lines.push((
            faults.instance_back,
            format!(
                "instance {victim} restarted on the same port (listening after {} ms)",
                started.elapsed().as_millis()
            ),
        ));
        // Fault 3: a share of every connection drops at once.
        at = Instant::now() + config.settle;
        sample_until(&cluster, &mut meter, at).await;
        let mut rng = Rng::new(0xC4A05);
        let mut order: Vec<usize> = (0..senders.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let count = ((senders.len() as f64) * config.drop_fraction.clamp(0.0, 1.0)).round() as usize;
        faults.dropped = order[..count].to_vec();
        faults.dropped.sort_unstable();
        faults.dropped_at = now_us();
        for &i in &faults.dropped {
            let _ = senders[i].send(Cmd::Drop(None));
        }
        faults.lines.push((
            faults.dropped_at,
            format!(
                "{count} of {} connections ({:.0}%) told to drop at once (those already down stay down)",
                senders.len(),
                100.0 * config.drop_fraction
            ),
        ));
        at = Instant::now() + config.after;
        sample_until(&cluster, &mut meter, at).await;
        anyhow::Ok(())
    }
    .await;
    (cluster, faults, meter, outcome)
}

async fn sample_until(cluster: &Cluster, meter: &mut Meter, until: Instant) {
    loop {
        meter.sample(&cluster.pids());
        let now = Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(250))).await;
    }
}

/// Joins `count` participants on the instance at `join_port` and has each say `hello` at once on
/// the one at `hello_port`: how many were refused, by error code (read-your-writes across instances).
async fn join_probe(join_port: u16, hello_port: u16, code: &str, count: usize) -> Result<BTreeMap<String, u64>> {
    let mut http = crate::http::HttpClient::new(join_port);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..count {
        // The WebSocket is open before the join, so `hello` follows the join's answer at once.
        let mut conn = Conn::open(Proto::Makeroom, hello_port, Ipv4Addr::LOCALHOST).await?;
        let body = json!({"code": code, "name": format!("probe {i}"), "skills": ["testing"]});
        let (status, joined) = http.request("POST", "/api/join", None, Some(&body)).await?;
        if status != 200 {
            *outcomes.entry(format!("join: {status}")).or_default() += 1;
            continue;
        }
        let token = joined["token"].as_str().context("no token")?;
        conn.send(wire::hello(1, token)).await?;
        let outcome = loop {
            match tokio::time::timeout(wire::SETUP_TIMEOUT, conn.next()).await.context("no hello reply")?? {
                Some(Incoming::Reply(reply)) if reply.id == 1 => {
                    break reply.error_code().unwrap_or("ok").to_string();
                }
                Some(_) => {}
                None => break "closed".to_string(),
            }
        };
        conn.close().await;
        *outcomes.entry(outcome).or_default() += 1;
    }
    Ok(outcomes)
}

/// One connection of the run: its token, its channels (with presence or not), its team.
type Seat = (String, Vec<(String, bool)>, Option<usize>);

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

    let mut seats: Vec<Seat> = Vec::new();
    for p in &population.participants {
        let team = &population.teams[p.team];
        seats.push((
            p.token.clone(),
            vec![
                ("lobby".into(), false),
                ("announcements".into(), false),
                (format!("team:{team}"), true),
                (format!("board:{team}"), false),
            ],
            Some(p.team),
        ));
    }
    let organiser_seat = seats.len();
    seats.push((organiser.clone(), vec![("lobby".into(), false), ("announcements".into(), false)], None));
    for token in displays {
        let mut channels = vec![("lobby".into(), false), ("announcements".into(), false), ("roster".into(), false)];
        for team in population.teams.iter().take(40) {
            channels.push((format!("board:{team}"), false));
        }
        seats.push((token, channels, None));
    }
    let mut channels: Vec<String> = vec!["lobby".into(), "announcements".into(), "roster".into()];
    for team in &population.teams {
        channels.push(format!("team:{team}"));
        channels.push(format!("board:{team}"));
    }
    // What the channels held before the run (the demo event's own content, the roster's joins).
    let mut reader = Reader { port: proxy, token: organiser.clone(), conn: None, next_id: 0 };
    let mut baseline = HashMap::new();
    for channel in &channels {
        baseline.insert(channel.clone(), reader.top(channel).await?);
    }

    let shared = Rc::new(Shared {
        config: config.clone(),
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
    let setup_started = Instant::now();
    let gate = Rc::new(Semaphore::new(32));
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    let mut readies = Vec::new();
    for (index, (token, subscriptions, team)) in seats.iter().cloned().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let mut person = Person {
            index,
            token,
            port: proxy,
            source: source_addr(index, config.sources),
            board: team.map(|t| format!("board:{}", population.teams[t])),
            channels: subscriptions,
            shared: shared.clone(),
            rx: HashMap::new(),
            next_id: 0,
            cards: Vec::new(),
            outbox: VecDeque::new(),
            in_flight: None,
            retry_at: None,
            seq: 0,
            done: Vec::new(),
            attempt: 0,
            attempts_total: 0,
            online_since: None,
            ready: true,
            rng: Rng::new(index as u64 + 0xC0),
        };
        let gate = gate.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let conn = {
                let _permit = gate.acquire().await;
                person.connect().await
            };
            match conn {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    person.run(conn, rx).await;
                }
                Err(failed) => {
                    let _ = ready_tx.send(Err(failed.reason));
                }
            }
            person
        }));
        senders.push(tx);
        readies.push(ready_rx);
    }
    let mut failures = Vec::new();
    for ready in readies {
        match ready.await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => failures.push(reason),
            Err(_) => failures.push("task ended".into()),
        }
    }
    if !failures.is_empty() {
        bail!("{} connections could not be set up, first: {}", failures.len(), failures[0]);
    }
    let setup_secs = setup_started.elapsed().as_secs_f64();

    // The traffic, with the faults running beside it.
    let t0 = Instant::now();
    let t0_us = now_us();
    shared.calm_until_us.set(t0_us + config.warmup.as_micros() as u64);
    shared.t0_us.set(t0_us);
    let meter = Meter::start(&cluster.pids());
    let total = config.warmup + config.redis_down + config.settle * 2 + config.instance_down + config.after;
    let conductor = tokio::task::spawn_local(conduct(cluster, config.clone(), senders.clone(), t0, meter));
    let mut rng = Rng::new(0xDA7);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let k = config.intensity.max(0.0);
    let draws = |rng: &mut Rng, rate: f64| -> u64 { (rate * 0.01 + rng.unit()) as u64 };
    // Traffic stops when the conductor is done (it waits `after` past the last fault), or at a bound.
    let hard_stop = t0 + total + Duration::from_secs(60);
    while !conductor.is_finished() && Instant::now() < hard_stop {
        tick.tick().await;
        for _ in 0..draws(&mut rng, k * TEAM_CHAT_PER_PERSON * participants as f64) {
            let p = rng.below(participants as u64) as usize;
            let team = &population.teams[population.participants[p].team];
            let _ = senders[p].send(Cmd::Say(format!("team:{team}")));
        }
        for _ in 0..draws(&mut rng, k * LOBBY_CHAT) {
            let p = rng.below(participants as u64) as usize;
            let _ = senders[p].send(Cmd::Say("lobby".into()));
        }
        for _ in 0..draws(&mut rng, k * CARD_ADD_PER_TEAM * teams as f64) {
            let p = rng.below(participants as u64) as usize;
            let team = &population.teams[population.participants[p].team];
            let _ = senders[p].send(Cmd::CardAdd(format!("board:{team}")));
        }
        for _ in 0..draws(&mut rng, k * CARD_MOVE_PER_TEAM * teams as f64) {
            let p = rng.below(participants as u64) as usize;
            let team = &population.teams[population.participants[p].team];
            let _ = senders[p].send(Cmd::CardMove(format!("board:{team}")));
        }
        for _ in 0..draws(&mut rng, k * ANNOUNCEMENTS) {
            let _ = senders[organiser_seat].send(Cmd::Announce);
        }
        if config.phone_drops {
            for _ in 0..draws(&mut rng, k * DROP_PER_PERSON * participants as f64) {
                let p = rng.below(participants as u64) as usize;
                let back = Duration::from_millis(1000 + rng.below(9000));
                let _ = senders[p].send(Cmd::Drop(Some(back)));
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
            caught_up = seats.iter().enumerate().all(|(i, (_, subs, _))| {
                subs.iter().all(|(channel, _)| {
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
    let (server_cpu, generator_cpu, other_cpu, steal_cpu) = meter.finish();
    let rss: u64 = cluster.pids().into_iter().map(rss_bytes).sum();
    for tx in &senders {
        let _ = tx.send(Cmd::Stop);
    }
    let mut people = Vec::new();
    for task in tasks {
        people.push(task.await.context("a client task failed")?);
    }
    faults.lines.push((now_us(), format!("drain done after {drain_secs:.1} s (caught up: {caught_up})")));

    // The truth.
    let mut history = HashMap::new();
    for channel in &channels {
        history.insert(channel.clone(), reader.history(channel).await?);
    }
    let settled = settle(&people, &history, &baseline, t0_us);
    let events = shared.events.borrow();
    if let Some(path) = &config.events_out {
        let mut text = String::new();
        for (t, person, ev) in events.iter() {
            text.push_str(&format!("{:.3} {person} {ev:?}\n", (*t as f64 - t0_us as f64) / 1e6));
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let timeline = timeline(&faults, &events, &people, t0_us);
    let phases = phases(&faults, &events, t0_us);

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
    extra.insert("phases".into(), phases);
    extra.insert("timeline".into(), timeline);
    if let Some(probe) = probe {
        extra.insert("join_then_hello_elsewhere".into(), json!(probe));
    }
    extra.insert("reconnect_failures".into(), json!(shared.failures.borrow().clone()));
    extra.insert("refused_codes".into(), json!(settled.refused_codes));
    extra.insert("frames_sent".into(), json!(shared.sent_frames.get()));
    extra.insert("setup_s".into(), json!((setup_secs * 10.0).round() / 10.0));
    extra.insert("drain_s".into(), json!((drain_secs * 10.0).round() / 10.0));
    extra.insert("caught_up".into(), json!(caught_up));
    if let Some(error) = shared.first_error.borrow().clone() {
        extra.insert("first_error".into(), json!(error));
    }
    let secs = (faults.traffic_end.saturating_sub(t0_us)) as f64 / 1e6;
    let report = Report {
        scenario: "chaos".into(),
        target: "makeroom+redis+haproxy".into(),
        instances: cluster.instances.len(),
        connections: seats.len(),
        rooms: teams,
        rate: settled.entries as f64 / secs.max(1e-9),
        duration_s: (secs * 10.0).round() / 10.0,
        totals,
        skipped: 0,
        latency: Latency::of(&shared.delivery.borrow()),
        deliveries_per_sec: settled.delivered as f64 / secs.max(1e-9),
        server_rss_mib: mib(rss),
        server_peak_rss_mib: mib(meter.peak_rss),
        server_cpu_pct: server_cpu,
        generator_cpu_pct: generator_cpu,
        other_cpu_pct: other_cpu,
        steal_cpu_pct: steal_cpu,
        extra,
    };
    drop(cluster);
    Ok(report)
}

/// Whether a chaos report found everything exact (its `verdict`).
pub fn exact(report: &Report) -> bool {
    report.extra.get("verdict").and_then(|v| v.as_str()) == Some("exact")
}

#[derive(Debug, Default)]
struct Settled {
    entries: u64,
    acked: u64,
    acked_chat: u64,
    acked_commands: u64,
    acked_duplicate: u64,
    refused: u64,
    unresolved: u64,
    stored: u64,
    acked_lost: u64,
    doubled: u64,
    unclaimed: u64,
    resent_entries: u64,
    extra_sends: u64,
    receiver_channels: u64,
    expected: u64,
    delivered: u64,
    receiver_lost: u64,
    receiver_duplicated: u64,
    receiver_reordered: u64,
    mismatches: u64,
    not_recovered: u64,
    epoch_changes: u64,
    refused_codes: BTreeMap<String, u64>,
}

impl Settled {
    fn exact(&self) -> bool {
        self.acked_lost == 0
            && self.doubled == 0
            && self.unresolved == 0
            && self.receiver_lost == 0
            && self.receiver_duplicated == 0
            && self.receiver_reordered == 0
            && self.mismatches == 0
            && self.not_recovered == 0
            && self.epoch_changes == 0
    }
}

fn settle(
    people: &[Person],
    history: &HashMap<String, ChannelHistory>,
    baseline: &HashMap<String, u64>,
    t0: u64,
) -> Settled {
    let mut s = Settled::default();
    let mut claimed: HashSet<(String, u64)> = HashSet::new();
    let mut reported = 0;
    for person in people {
        for done in &person.done {
            s.entries += 1;
            if done.entry.sends > 1 {
                s.resent_entries += 1;
                s.extra_sends += u64::from(done.entry.sends - 1);
            }
            match &done.outcome {
                Outcome::Refused(err) => {
                    if s.refused < 10 {
                        eprintln!(
                            "refused for good: {} on {} (created at {:+.1} s, sent {} times): {err}",
                            kind_name(done.entry.kind),
                            done.entry.channel,
                            secs_since(done.entry.created_us, t0),
                            done.entry.sends
                        );
                    }
                    s.refused += 1;
                    *s.refused_codes.entry(err.split(':').next().unwrap_or_default().to_string()).or_default() += 1;
                }
                Outcome::Unresolved => s.unresolved += 1,
                Outcome::Acked { epoch, offset, duplicate, .. } => {
                    s.acked += 1;
                    if done.entry.kind == Kind::Chat {
                        s.acked_chat += 1;
                    } else {
                        s.acked_commands += 1;
                    }
                    if *duplicate {
                        s.acked_duplicate += 1;
                    }
                    let channel = &done.entry.channel;
                    let stored = history.get(channel).filter(|h| &h.epoch == epoch).and_then(|h| h.entries.get(offset));
                    let expected_identity = (person.index as u32, done.entry.seq);
                    let holds = match (stored, done.entry.kind) {
                        (Some(stored), Kind::CardMove) => stored.card_moved,
                        (Some(stored), _) => stored.identity == Some(expected_identity),
                        (None, _) => false,
                    };
                    if holds {
                        claimed.insert((channel.clone(), *offset));
                    } else {
                        s.acked_lost += 1;
                        if reported < 10 {
                            reported += 1;
                            eprintln!(
                                "acknowledged but not in history: {} on {channel} at {offset} (key {})",
                                kind_name(done.entry.kind),
                                done.entry.key
                            );
                        }
                    }
                }
            }
        }
    }
    // Everything stored during the run must be claimed by exactly one acknowledged key.
    for (channel, h) in history {
        if channel == "roster" {
            continue;
        }
        let base = baseline.get(channel).copied().unwrap_or(0);
        let mut seen: HashMap<(u32, u64), u64> = HashMap::new();
        for (&offset, stored) in h.entries.range(base + 1..) {
            s.stored += 1;
            if let Some(identity) = stored.identity {
                let count = seen.entry(identity).or_default();
                *count += 1;
                if *count > 1 {
                    s.doubled += 1;
                    eprintln!("stored twice: {identity:?} on {channel} (again at {offset})");
                    continue;
                }
            }
            if !claimed.contains(&(channel.clone(), offset)) {
                s.unclaimed += 1;
                if stored.identity.is_none() {
                    // A card move no acknowledgement names: a resend stored again.
                    s.doubled += 1;
                    eprintln!("stored but claimed by no acknowledgement: {channel} at {offset}");
                }
            }
        }
    }
    // Each connection against history.
    for person in people {
        for (channel, rx) in &person.rx {
            let Some(h) = history.get(channel) else { continue };
            s.receiver_channels += 1;
            s.receiver_duplicated += rx.duplicated;
            s.receiver_reordered += rx.reordered;
            s.not_recovered += rx.not_recovered;
            s.epoch_changes += rx.epoch_changes + u64::from(rx.epoch != h.epoch);
            let from = rx.start + 1;
            if h.top >= from {
                s.expected += h.top - from + 1;
            }
            let mut missing = 0;
            for offset in from..=h.top {
                if !rx.got.get(offset) {
                    missing += 1;
                }
            }
            s.delivered += rx.got.count();
            if missing > 0 && s.receiver_lost < 20 {
                eprintln!(
                    "connection {} missed {missing} of {channel} (start {}, last {}, top {}, history from {})",
                    person.index, rx.start, rx.last, h.top, h.first
                );
            }
            s.receiver_lost += missing;
            for (offset, print) in &rx.prints {
                if h.entries.get(offset).is_some_and(|stored| stored.print != *print) {
                    s.mismatches += 1;
                }
            }
        }
    }
    s
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Chat => "publish",
        Kind::CardAdd => "card.add",
        Kind::CardMove => "card.move",
        Kind::Announcement => "announcement.post",
    }
}

fn secs_since(t: u64, from: u64) -> f64 {
    ((t as f64 - from as f64) / 1e5).round() / 10.0
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

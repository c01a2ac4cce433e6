//! The one simulated client every scenario drives, modelled on the web client (`makeroom.js`): it
//! connects, says `hello`, subscribes to its channels (again with `since` after a drop, so it
//! recovers exactly what it missed), publishes and sends commands through an outbox whose entries
//! keep their idempotency key across resends, and reopens a lost connection after a jittered
//! backoff. What a scenario counts it learns through [`Hooks`]; the client itself counts nothing.
//!
//! It must never decide what a scenario measures, and never loop without a bound: reconnect attempts
//! and every wait are capped.

use crate::sys::{Rng, now_us};
use crate::wire::{self, Conn, Incoming, Proto, ReplyFrame, Text};
use makeroom_protocol::{Position, SubscribeResult};
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// Most reconnect attempts of one client in one run, whatever its policy (a bound; the run's
/// length bounds it first).
const MAX_ATTEMPTS: u32 = 500;
/// How long an `unavailable` or `rate_limited` refusal waits when the server names no time.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_millis(1000);

/// One channel a client subscribes to.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub channel: String,
    /// Ask for presence (the list and join/leave pushes).
    pub presence: bool,
}

impl Subscription {
    pub fn new(channel: impl Into<String>, presence: bool) -> Self {
        Subscription { channel: channel.into(), presence }
    }
}

/// Who a client is and where it connects.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub index: usize,
    pub proto: Proto,
    pub port: u16,
    pub source: Ipv4Addr,
    /// Makeroom access token (unused for Socket.IO).
    pub token: String,
    pub subscriptions: Vec<Subscription>,
    /// Seeds the client's backoff jitter.
    pub seed: u64,
}

/// The reconnect delay: random in `[0, min(cap, base * 2^attempt)]` (full jitter).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// A connection that lasted this long resets the attempt count when it ends.
    pub reset_after: Duration,
    /// Consecutive failed attempts after which the client gives up and stays down.
    pub give_up_after: u32,
}

/// How a client behaves where scenarios differ.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Outbox entries on the wire at once (1: the web client's one at a time, which keeps order
    /// through retries).
    pub window: usize,
    /// On `unavailable` or `rate_limited`: wait `retry_after_ms`, then send the same entry again (the
    /// web client), instead of settling it as refused.
    pub retry_refusals: bool,
    /// `subscribe` refusals (`unavailable`, `rate_limited`) asked again on the same connection.
    pub subscribe_retries: u32,
    /// How long each setup step (connect, `hello`, each `subscribe`) may take.
    pub setup_timeout: Duration,
    /// An outbox request unanswered this long means the connection is dead: it is reopened at once.
    pub reply_timeout: Option<Duration>,
    /// `None`: a lost connection stays down (the Socket.IO peer has no recovery to come back to).
    pub reconnect: Option<Backoff>,
}

impl Policy {
    /// Pipelined publishes, refusals settled at once, reconnect soon after a drop (the throughput
    /// scenarios).
    pub fn pipelined(proto: Proto) -> Self {
        Policy {
            window: usize::MAX,
            retry_refusals: false,
            subscribe_retries: 0,
            setup_timeout: wire::SETUP_TIMEOUT,
            reply_timeout: None,
            reconnect: (proto == Proto::Makeroom).then_some(Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_millis(3200),
                reset_after: Duration::ZERO,
                give_up_after: 12,
            }),
        }
    }
}

/// Whether an entry is a `publish` or a `command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Publish,
    Command,
}

/// What a scenario asks its client to send.
#[derive(Debug, Clone)]
pub struct Draft {
    pub op: Op,
    pub channel: String,
    /// The `data` of a publish, or the `command` of a command: the same bytes on every send.
    pub body: String,
    /// Without a key an entry cannot be resent safely: if its connection is lost while it is on
    /// the wire, it is settled as [`Outcome::LostInFlight`].
    pub key: Option<String>,
    /// The scenario's own label for the entry (what kind of action it was).
    pub tag: u8,
}

/// One entry of a client's outbox.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 1, 2, ... per client, in the order entries were made.
    pub seq: u64,
    pub draft: Draft,
    pub created_us: u64,
    /// How many times it was sent.
    pub sends: u32,
    /// What became of each earlier send (`unavailable`, the connection lost while in flight, ...).
    pub earlier: Vec<&'static str>,
    /// Request id and send time while on the wire.
    in_flight: Option<(u64, Instant)>,
}

/// How an outbox entry ended.
#[derive(Debug)]
pub enum Outcome<'a> {
    Acked(&'a RawValue),
    /// Refused for good: `code: message`.
    Refused(&'a str),
    /// On the wire when its connection was lost, and without a key to resend it safely.
    LostInFlight,
    /// Still in the outbox when the client was stopped.
    Unresolved,
}

/// What happened to the connection, for the scenario's log and counters.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The connection ended without the client asking (the server or a proxy closed it).
    Lost,
    /// The scenario dropped the connection (a phone losing the network).
    Dropped,
    /// A reconnect began.
    Attempt,
    /// A reconnect failed, and why.
    AttemptFailed(&'a str),
    /// Too many reconnects failed: the client stays down.
    GaveUp(&'a str),
    /// Connected, said hello and subscribed to every channel; `again` after a drop.
    Ready { again: bool },
    /// An outbox request got no reply in time; the connection is reopened.
    Timeout,
    /// A `subscribe` refused retryably, asked again on the same connection.
    SubscribeRetry,
    /// A `closing` push: the server is about to close the connection, and says why.
    Closing(&'a str),
    /// Any push other than `pub` and `closing` (presence, ...).
    OtherPush,
}

/// A publication as it reached the client.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The channel it came on (`None` when the frame does not say).
    pub channel: Option<&'a str>,
    pub offset: Option<u64>,
    /// The client's position on that channel before it: the offset it would resume after.
    pub after: Option<u64>,
    /// Live: the whole `pub` frame. Recovered: the publication's `data` (from a `subscribe` result).
    pub text: &'a str,
    /// A live push, or `false` when recovered in a `subscribe` result.
    pub live: bool,
}

/// Where a client stands when an order reaches it.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// The number the entry will have.
    pub seq: u64,
    /// How many entries the outbox holds already.
    pub waiting: usize,
    /// Whether the client is connected and subscribed.
    pub online: bool,
}

/// What a scenario learns from its clients, and how its orders become outbox entries.
pub trait Hooks {
    /// What the scenario tells a client to do, beyond dropping and stopping.
    type Order;

    /// Turns an order into an outbox entry, or nothing.
    fn draft(&mut self, order: Self::Order, slot: Slot) -> Option<Draft>;

    fn on_event(&mut self, _event: Event<'_>) {}

    /// A `subscribe` answered (`since` was sent, or not), after the publications it recovered.
    fn on_subscribed(&mut self, _channel: &str, _since: Option<&Position>, _result: &SubscribeResult) {}

    fn on_delivery(&mut self, _delivery: Delivery<'_>) {}

    /// An entry is about to go on the wire (`entry.sends` already counts this send).
    fn on_send(&mut self, _entry: &Entry) {}

    /// An entry was refused retryably (`code`) after waiting `waited` for the reply; it goes again.
    fn on_retry(&mut self, _entry: &Entry, _code: &str, _waited: Duration) {}

    /// An entry left the outbox.
    fn on_settled(&mut self, entry: Entry, outcome: Outcome<'_>);
}

/// What the scenario tells a client.
#[derive(Debug)]
pub enum Command<O> {
    Order(O),
    /// Drop the connection abruptly (no close handshake). `Some(d)`: offline for `d`, then come
    /// back; `None`: come back after the usual backoff.
    Drop(Option<Duration>),
    /// Close and hand the hooks back.
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

/// Where a channel's client stands: its position once subscribed.
struct Channel {
    subscription: Subscription,
    position: Option<Position>,
}

pub struct Client<H: Hooks> {
    spec: ClientSpec,
    policy: Policy,
    pub hooks: H,
    channels: Vec<Channel>,
    next_id: u64,
    seq: u64,
    /// The first `on_wire` entries are sent and unanswered; the rest wait their turn.
    outbox: VecDeque<Entry>,
    on_wire: usize,
    /// After a retryable refusal: nothing is sent before this.
    retry_at: Option<Instant>,
    /// Consecutive failed attempts (reset by a connection that lasted `reset_after`).
    attempt: u32,
    attempts_total: u32,
    online_since: Option<Instant>,
    rng: Rng,
}

impl<H: Hooks> Client<H> {
    pub fn new(spec: ClientSpec, policy: Policy, hooks: H) -> Self {
        let channels = spec
            .subscriptions
            .iter()
            .map(|subscription| Channel { subscription: subscription.clone(), position: None })
            .collect();
        let rng = Rng::new(spec.seed);
        Client {
            spec,
            policy,
            hooks,
            channels,
            next_id: 0,
            seq: 0,
            outbox: VecDeque::new(),
            on_wire: 0,
            retry_at: None,
            attempt: 0,
            attempts_total: 0,
            online_since: None,
            rng,
        }
    }

    pub fn index(&self) -> usize {
        self.spec.index
    }

    fn request_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Opens a connection, says hello and subscribes to every channel (with `since` once it has a
    /// position); publications that arrive meanwhile reach the hooks.
    async fn connect(&mut self) -> Result<Conn, Failed> {
        let proto = self.spec.proto;
        let timeout = self.policy.setup_timeout;
        let mut conn = match tokio::time::timeout(timeout, Conn::open(proto, self.spec.port, self.spec.source)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return Err(Failed::new(format!("connect: {err:#}"))),
            Err(_) => return Err(Failed::new("connect: timed out")),
        };
        if proto == Proto::Makeroom {
            let id = self.request_id();
            conn.send(wire::hello(id, &self.spec.token)).await.map_err(|e| Failed::new(format!("hello: {e:#}")))?;
            let reply = self.await_reply(&mut conn, id).await?;
            if let Err(err) = &reply.result {
                return Err(Failed {
                    reason: format!("hello: {err}"),
                    retry_after: reply.retry_after_ms.map(Duration::from_millis),
                });
            }
        }
        for index in 0..self.channels.len() {
            self.subscribe(&mut conn, index).await?;
        }
        Ok(conn)
    }

    async fn subscribe(&mut self, conn: &mut Conn, index: usize) -> Result<(), Failed> {
        let proto = self.spec.proto;
        let mut retries = 0;
        loop {
            let channel = &self.channels[index];
            let since = channel.position.clone();
            let presence = channel.subscription.presence;
            let name = channel.subscription.channel.clone();
            let id = self.request_id();
            let frame = wire::subscribe(proto, id, &name, since.clone(), presence);
            conn.send(frame).await.map_err(|e| Failed::new(format!("subscribe: {e:#}")))?;
            let reply = self.await_reply(conn, id).await?;
            let result = match (&reply.result, reply.error_code()) {
                (Ok(result), _) => result,
                (Err(_), Some("unavailable" | "rate_limited")) if retries < self.policy.subscribe_retries => {
                    // The server is busy: ask again a little later on the same connection.
                    retries += 1;
                    self.hooks.on_event(Event::SubscribeRetry);
                    let wait = reply.retry_after_ms.map(Duration::from_millis).unwrap_or(DEFAULT_RETRY_AFTER);
                    self.read_until(conn, Instant::now() + wait).await?;
                    continue;
                }
                (Err(err), _) => {
                    return Err(Failed {
                        reason: format!("subscribe {name}: {err}"),
                        retry_after: reply.retry_after_ms.map(Duration::from_millis),
                    });
                }
            };
            if proto != Proto::Makeroom {
                // The peer answers `{channel}`: no positions to keep.
                return Ok(());
            }
            let result: SubscribeResult =
                serde_json::from_str(result.get()).map_err(|e| Failed::new(format!("subscribe: {e}")))?;
            let mut offset = since.as_ref().map(|p| p.offset).unwrap_or(0).max(result.offset);
            for publication in &result.publications {
                let text = publication.data.get();
                let after = self.channels[index].position.as_ref().map(|p| p.offset);
                self.hooks.on_delivery(Delivery {
                    channel: Some(&name),
                    offset: Some(publication.offset),
                    after,
                    text,
                    live: false,
                });
                offset = offset.max(publication.offset);
                if let Some(position) = self.channels[index].position.as_mut() {
                    position.offset = position.offset.max(publication.offset);
                }
            }
            self.hooks.on_subscribed(&name, since.as_ref(), &result);
            self.channels[index].position = Some(Position { epoch: result.epoch, offset });
            return Ok(());
        }
    }

    /// Waits for the reply to request `id`; publications that arrive meanwhile reach the hooks.
    async fn await_reply(&mut self, conn: &mut Conn, id: u64) -> Result<ReplyFrame, Failed> {
        let deadline = Instant::now() + self.policy.setup_timeout;
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
                Incoming::Closing(text) => return Err(Failed::new(format!("server is closing: {text}"))),
                _ => {}
            }
        }
    }

    /// Reads pushes until `until`.
    async fn read_until(&mut self, conn: &mut Conn, until: Instant) -> Result<(), Failed> {
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

    /// A live `pub` push: found by cheap scans (channel, offset), never parsed here.
    fn on_push(&mut self, text: &Text) {
        let text: &str = text;
        let proto = self.spec.proto;
        let offset = if proto == Proto::Makeroom { wire::offset(text) } else { None };
        // With one channel there is nothing to look for.
        let (slot, channel) = if self.channels.len() == 1 {
            (Some(0), Some(self.channels[0].subscription.channel.as_str()))
        } else {
            let channel = wire::channel_of(text);
            let slot = channel.and_then(|name| self.channels.iter().position(|c| c.subscription.channel == name));
            (slot, channel)
        };
        let after = slot.and_then(|i| self.channels[i].position.as_ref()).map(|p| p.offset);
        self.hooks.on_delivery(Delivery { channel, offset, after, text, live: true });
        if let (Some(i), Some(offset)) = (slot, offset)
            && let Some(position) = self.channels[i].position.as_mut()
        {
            position.offset = position.offset.max(offset);
        }
    }

    fn enqueue(&mut self, draft: Draft) {
        self.seq += 1;
        self.outbox.push_back(Entry {
            seq: self.seq,
            draft,
            created_us: now_us(),
            sends: 0,
            earlier: Vec::new(),
            in_flight: None,
        });
    }

    /// Sends waiting entries up to the window, then flushes once. `false` if the connection failed.
    async fn send_due(&mut self, conn: &mut Conn) -> bool {
        if self.retry_at.is_some() || self.on_wire >= self.outbox.len() {
            return true;
        }
        let proto = self.spec.proto;
        let mut fed = false;
        while self.on_wire < self.outbox.len() && self.on_wire < self.policy.window {
            let id = self.request_id();
            let Some(entry) = self.outbox.get_mut(self.on_wire) else { break };
            let draft = &entry.draft;
            let frame = match draft.op {
                Op::Publish => wire::publish(proto, id, &draft.channel, draft.body.clone(), draft.key.clone()),
                Op::Command => wire::command(id, &draft.channel, draft.body.clone(), draft.key.clone()),
            };
            let Ok(frame) = frame else {
                // A body that is not JSON: the scenario's mistake, settled as refused.
                if let Some(entry) = self.outbox.remove(self.on_wire) {
                    self.hooks.on_settled(entry, Outcome::Refused("bad_request: the body is not JSON"));
                }
                continue;
            };
            entry.sends += 1;
            entry.in_flight = Some((id, Instant::now()));
            self.on_wire += 1;
            self.hooks.on_send(entry);
            if conn.feed(frame).await.is_err() {
                return false;
            }
            fed = true;
        }
        !fed || conn.flush().await.is_ok()
    }

    fn on_reply(&mut self, reply: ReplyFrame) {
        // Replies come in request order, so the entry is nearly always the first on the wire.
        let Some(at) = (0..self.on_wire).find(|&i| self.outbox[i].in_flight.is_some_and(|(id, _)| id == reply.id))
        else {
            return;
        };
        match (&reply.result, reply.error_code()) {
            (Ok(result), _) => {
                self.on_wire -= 1;
                if let Some(entry) = self.outbox.remove(at) {
                    self.hooks.on_settled(entry, Outcome::Acked(result));
                }
            }
            (Err(_), Some(code @ ("unavailable" | "rate_limited"))) if self.policy.retry_refusals => {
                self.on_wire -= 1;
                let Some(mut entry) = self.outbox.remove(at) else { return };
                let waited = entry.in_flight.take().map(|(_, sent)| sent.elapsed()).unwrap_or_default();
                entry.earlier.push(if code == "unavailable" { "`unavailable`" } else { "`rate_limited`" });
                self.hooks.on_retry(&entry, code, waited);
                // First in line again; with a window of one, order is kept.
                self.outbox.insert(self.on_wire, entry);
                let wait = reply.retry_after_ms.map(Duration::from_millis).unwrap_or(DEFAULT_RETRY_AFTER);
                self.retry_at = Some(Instant::now() + wait);
            }
            (Err(err), _) => {
                self.on_wire -= 1;
                if let Some(entry) = self.outbox.remove(at) {
                    self.hooks.on_settled(entry, Outcome::Refused(err));
                }
            }
        }
    }

    /// The connection is gone: keyed entries on the wire go again on the next one; keyless ones
    /// cannot, and are settled.
    fn went_down(&mut self) {
        let mut i = 0;
        while i < self.on_wire {
            if let Some(entry) = self.outbox.get_mut(i)
                && entry.draft.key.is_some()
            {
                entry.in_flight = None;
                entry.earlier.push("connection lost in flight");
                i += 1;
                continue;
            }
            self.on_wire -= 1;
            if let Some(entry) = self.outbox.remove(i) {
                self.hooks.on_settled(entry, Outcome::LostInFlight);
            }
        }
        self.on_wire = 0;
        self.retry_at = None;
        let lasted = self.online_since.take().map(|since| since.elapsed());
        if let Some(backoff) = self.policy.reconnect
            && lasted.is_some_and(|lasted| lasted >= backoff.reset_after)
        {
            self.attempt = 0;
        }
    }

    /// When to try again, or `None` to stay down.
    fn backoff(&mut self, at_least: Option<Duration>) -> Option<Instant> {
        let backoff = self.policy.reconnect?;
        let ceiling = backoff.base.saturating_mul(1u32 << self.attempt.min(20)).min(backoff.cap);
        let delay = self.rng.duration_below(ceiling).max(at_least.unwrap_or_default());
        self.attempt += 1;
        Some(Instant::now() + delay)
    }

    /// The oldest send still unanswered.
    fn oldest_on_wire(&self) -> Option<Instant> {
        self.outbox.iter().take(self.on_wire).filter_map(|e| e.in_flight.map(|(_, sent)| sent)).min()
    }

    /// Serves the scenario's commands until told to stop; hands the hooks back.
    pub async fn run(mut self, conn: Conn, mut commands: mpsc::UnboundedReceiver<Command<H::Order>>) -> H {
        let mut conn = Some(conn);
        self.online_since = Some(Instant::now());
        let mut back_at: Option<Instant> = None;
        loop {
            let timeout_at = self.policy.reply_timeout.and_then(|t| self.oldest_on_wire().map(|sent| sent + t));
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
            // Commands first: a connection flooded with frames must still hear `Stop` and publish
            // on time.
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(Command::Order(order)) => {
                        let slot = Slot { seq: self.seq + 1, waiting: self.outbox.len(), online: conn.is_some() };
                        if let Some(draft) = self.hooks.draft(order, slot) {
                            self.enqueue(draft);
                        }
                    }
                    Some(Command::Drop(offline)) => {
                        if let Some(c) = conn.take() {
                            c.drop_abruptly();
                            self.hooks.on_event(Event::Dropped);
                            self.went_down();
                            back_at = match offline {
                                Some(offline) if self.policy.reconnect.is_some() => Some(Instant::now() + offline),
                                _ => self.backoff(None),
                            };
                        }
                    }
                    Some(Command::Stop) | None => break,
                },
                incoming = next => match incoming {
                    Ok(Some(Incoming::Pub(text))) => self.on_push(&text),
                    Ok(Some(Incoming::Reply(reply))) => self.on_reply(reply),
                    Ok(Some(Incoming::Closing(text))) => self.hooks.on_event(Event::Closing(&text)),
                    Ok(Some(Incoming::Other)) => self.hooks.on_event(Event::OtherPush),
                    Ok(None) | Err(_) => {
                        conn = None;
                        self.hooks.on_event(Event::Lost);
                        self.went_down();
                        back_at = self.backoff(None);
                    }
                },
                _ = at(timeout_at) => {
                    // No answer in time: the connection is presumed dead; reopen it now.
                    self.hooks.on_event(Event::Timeout);
                    if let Some(c) = conn.take() {
                        c.drop_abruptly();
                    }
                    self.went_down();
                    back_at = self.policy.reconnect.map(|_| Instant::now());
                }
                _ = at(self.retry_at) => {
                    self.retry_at = None;
                }
                _ = at(back_at) => {
                    back_at = None;
                    conn = self.reconnect(&mut back_at).await;
                }
            }
            if let Some(c) = conn.as_mut()
                && !self.send_due(c).await
            {
                conn = None;
                self.hooks.on_event(Event::Lost);
                self.went_down();
                back_at = self.backoff(None);
            }
        }
        if let Some(c) = conn.take() {
            c.close().await;
        }
        while let Some(entry) = self.outbox.pop_front() {
            self.hooks.on_settled(entry, Outcome::Unresolved);
        }
        self.hooks
    }

    /// One reconnect attempt; on failure sets when to try again (or gives up).
    async fn reconnect(&mut self, back_at: &mut Option<Instant>) -> Option<Conn> {
        self.attempts_total += 1;
        let backoff = self.policy.reconnect?;
        if self.attempts_total > MAX_ATTEMPTS {
            self.hooks.on_event(Event::GaveUp("too many reconnects in one run"));
            return None;
        }
        self.hooks.on_event(Event::Attempt);
        // Bounded as a whole: a display subscribes to many channels, each retried while Redis is down.
        let bound = self.policy.setup_timeout.saturating_mul(6);
        let failure = match tokio::time::timeout(bound, self.connect()).await {
            Ok(Ok(conn)) => {
                self.online_since = Some(Instant::now());
                self.hooks.on_event(Event::Ready { again: true });
                return Some(conn);
            }
            Ok(Err(failure)) => failure,
            Err(_) => Failed::new(format!("connect: took over {} s", bound.as_secs())),
        };
        self.hooks.on_event(Event::AttemptFailed(&failure.reason));
        if self.attempt >= backoff.give_up_after {
            self.hooks.on_event(Event::GaveUp(&failure.reason));
            return None;
        }
        *back_at = self.backoff(failure.retry_after);
        None
    }
}

/// Every client of a run, set up and serving its scenario's commands.
pub struct Fleet<H: Hooks> {
    pub commands: Vec<mpsc::UnboundedSender<Command<H::Order>>>,
    pub tasks: Vec<tokio::task::JoinHandle<H>>,
    /// Each client's setup: `Ok` when it connected and subscribed, else why not.
    pub ready: Vec<Result<(), String>>,
    pub setup_secs: f64,
}

impl<H: Hooks + 'static> Fleet<H> {
    /// Starts every client (at most `parallel` setting up at once) and waits until each has
    /// connected and subscribed, or failed to.
    pub async fn start(clients: Vec<Client<H>>, parallel: usize) -> Self {
        let started = Instant::now();
        let gate = std::rc::Rc::new(Semaphore::new(parallel.max(1)));
        let mut commands = Vec::with_capacity(clients.len());
        let mut tasks = Vec::with_capacity(clients.len());
        let mut readies = Vec::with_capacity(clients.len());
        for mut client in clients {
            let (tx, rx) = mpsc::unbounded_channel();
            let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
            let gate = gate.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let bound = client.policy.setup_timeout.saturating_mul(6);
                let conn = {
                    let _permit = gate.acquire().await;
                    match tokio::time::timeout(bound, client.connect()).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(Failed::new(format!("setup took over {} s", bound.as_secs()))),
                    }
                };
                match conn {
                    Ok(conn) => {
                        client.hooks.on_event(Event::Ready { again: false });
                        let _ = ready_tx.send(Ok(()));
                        client.run(conn, rx).await
                    }
                    Err(failed) => {
                        let _ = ready_tx.send(Err(failed.reason));
                        client.hooks
                    }
                }
            }));
            commands.push(tx);
            readies.push(ready_rx);
        }
        let mut ready = Vec::with_capacity(readies.len());
        for rx in readies {
            ready.push(rx.await.unwrap_or_else(|_| Err("the client task ended".into())));
        }
        Fleet { commands, tasks, ready, setup_secs: started.elapsed().as_secs_f64() }
    }

    pub fn is_ready(&self, index: usize) -> bool {
        self.ready.get(index).is_some_and(Result::is_ok)
    }

    pub fn failures(&self) -> impl Iterator<Item = &str> {
        self.ready.iter().filter_map(|r| r.as_ref().err().map(String::as_str))
    }

    pub fn order(&self, index: usize, order: H::Order) {
        if let Some(tx) = self.commands.get(index) {
            let _ = tx.send(Command::Order(order));
        }
    }

    pub fn drop_connection(&self, index: usize, offline: Option<Duration>) {
        if let Some(tx) = self.commands.get(index) {
            let _ = tx.send(Command::Drop(offline));
        }
    }

    /// Stops every client and hands back each one's hooks, in client order (a client whose task
    /// failed is left out).
    pub async fn finish(self) -> Vec<H> {
        for tx in &self.commands {
            let _ = tx.send(Command::Stop);
        }
        let mut hooks = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            if let Ok(h) = task.await {
                hooks.push(h);
            }
        }
        hooks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records how each entry ended, by seq.
    #[derive(Default)]
    struct Record {
        settled: Vec<(u64, String)>,
        retried: Vec<u64>,
    }

    impl Hooks for Record {
        type Order = ();

        fn draft(&mut self, _: (), _slot: Slot) -> Option<Draft> {
            None
        }

        fn on_retry(&mut self, entry: &Entry, _code: &str, _waited: Duration) {
            self.retried.push(entry.seq);
        }

        fn on_settled(&mut self, entry: Entry, outcome: Outcome<'_>) {
            let how = match outcome {
                Outcome::Acked(_) => "acked".to_string(),
                Outcome::Refused(err) => format!("refused {err}"),
                Outcome::LostInFlight => "lost in flight".to_string(),
                Outcome::Unresolved => "unresolved".to_string(),
            };
            self.settled.push((entry.seq, how));
        }
    }

    fn client(policy: Policy) -> Client<Record> {
        let spec = ClientSpec {
            index: 0,
            proto: Proto::Makeroom,
            port: 1,
            source: Ipv4Addr::LOCALHOST,
            token: String::new(),
            subscriptions: vec![Subscription::new("lobby", false)],
            seed: 1,
        };
        Client::new(spec, policy, Record::default())
    }

    fn draft(key: Option<&str>) -> Draft {
        Draft { op: Op::Publish, channel: "lobby".into(), body: "{}".into(), key: key.map(str::to_string), tag: 0 }
    }

    /// Marks the first `n` entries as sent with request ids 1..=n, as `send_due` would.
    fn put_on_wire(client: &mut Client<Record>, n: usize) {
        for (i, entry) in client.outbox.iter_mut().take(n).enumerate() {
            entry.sends += 1;
            entry.in_flight = Some((i as u64 + 1, Instant::now()));
        }
        client.on_wire = n;
    }

    fn reply(id: u64, result: Result<&str, &str>, retry_after_ms: Option<u64>) -> ReplyFrame {
        let result = match result {
            Ok(json) => Ok(RawValue::from_string(json.to_string()).expect("json")),
            Err(err) => Err(err.to_string()),
        };
        ReplyFrame { id, result, retry_after_ms }
    }

    #[test]
    fn a_drop_keeps_keyed_entries_for_the_next_connection_and_settles_keyless_ones() {
        let mut client = client(Policy::pipelined(Proto::Makeroom));
        client.enqueue(draft(Some("k1")));
        client.enqueue(draft(None));
        client.enqueue(draft(Some("k3")));
        client.enqueue(draft(Some("k4")));
        put_on_wire(&mut client, 3);
        client.went_down();
        assert_eq!(client.hooks.settled, vec![(2, "lost in flight".to_string())]);
        let waiting: Vec<u64> = client.outbox.iter().map(|e| e.seq).collect();
        assert_eq!(waiting, vec![1, 3, 4], "order kept");
        assert_eq!(client.on_wire, 0);
        assert!(client.outbox.iter().all(|e| e.in_flight.is_none()));
        assert_eq!(client.outbox[0].earlier, vec!["connection lost in flight"]);
        assert!(client.outbox[2].earlier.is_empty(), "4 was never sent");
    }

    #[test]
    fn a_busy_refusal_is_retried_first_in_line_and_other_errors_settle() {
        let policy = Policy { window: 1, retry_refusals: true, ..Policy::pipelined(Proto::Makeroom) };
        let mut client = client(policy);
        client.enqueue(draft(Some("k1")));
        client.enqueue(draft(Some("k2")));
        put_on_wire(&mut client, 1);
        client.on_reply(reply(1, Err("unavailable: the store is down"), Some(250)));
        assert_eq!(client.hooks.retried, vec![1]);
        assert!(client.retry_at.is_some(), "nothing is sent before the server's wait");
        assert_eq!(client.outbox.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(client.on_wire, 0);
        // Sent again, then refused for good; the next is acknowledged.
        put_on_wire(&mut client, 1);
        client.on_reply(reply(1, Err("bad_request: no"), None));
        put_on_wire(&mut client, 1);
        client.on_reply(reply(7, Ok(r#"{"offset":1}"#), None));
        assert_eq!(client.outbox.len(), 1, "a reply to no request on the wire changes nothing");
        client.on_reply(reply(1, Ok(r#"{"offset":1}"#), None));
        let settled = &client.hooks.settled;
        assert_eq!(settled, &vec![(1, "refused bad_request: no".to_string()), (2, "acked".to_string())]);
        assert!(client.outbox.is_empty());
    }

    #[test]
    fn the_backoff_doubles_to_its_cap_and_resets_after_a_long_enough_connection() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(400),
            reset_after: Duration::ZERO,
            give_up_after: 12,
        };
        let mut client = client(Policy { reconnect: Some(backoff), ..Policy::pipelined(Proto::Makeroom) });
        let start = Instant::now();
        let ceilings = [100, 200, 400, 400, 400];
        for ceiling in ceilings {
            let at = client.backoff(None).expect("reconnects");
            assert!(at.duration_since(start) <= Duration::from_millis(ceiling) + Duration::from_millis(50));
        }
        assert_eq!(client.attempt, 5);
        let at_least = client.backoff(Some(Duration::from_secs(3))).expect("reconnects");
        assert!(at_least.duration_since(start) >= Duration::from_secs(3), "the server's wait is honoured");
        client.online_since = Some(Instant::now());
        client.went_down();
        assert_eq!(client.attempt, 0);
        let mut stays_down = client_without_reconnect();
        assert!(stays_down.backoff(None).is_none());
    }

    fn client_without_reconnect() -> Client<Record> {
        client(Policy { reconnect: None, ..Policy::pipelined(Proto::Socketio) })
    }
}

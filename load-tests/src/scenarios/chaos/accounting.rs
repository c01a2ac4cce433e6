//! What `chaos` counts and how it judges the run. Each client's [`Person`] records what it received
//! per channel (offsets, content fingerprints) and how each outbox entry ended; at the end
//! [`settle`] holds all of it against each channel's full history: every acknowledged entry must be
//! stored at its acknowledged offset, none twice, and every connection must have received every
//! offset after its first subscribe exactly once, in order, with the content history holds. It
//! only observes: it must never send anything itself.

use crate::accounting::ChannelRx;
use crate::client::{self, Delivery, Draft, Entry, Event, Hooks, Op, Slot};
use crate::history::Stored as StoredHistory;
use crate::scenarios::event_day::card_id;
use crate::sys::{Rng, now_us};
use crate::wire;
use hdrhistogram::Histogram;
use makeroom_protocol::{Position, Publication, PublishResult, SubscribeResult};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

/// What happened, as the clients saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
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

/// What an outbox entry is, kept in its [`Draft::tag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    CardAdd,
    CardMove,
    Announcement,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Chat, Kind::CardAdd, Kind::CardMove, Kind::Announcement];

    fn tag(self) -> u8 {
        self as u8
    }

    fn of(entry: &Entry) -> Kind {
        Kind::ALL.get(usize::from(entry.draft.tag)).copied().unwrap_or(Kind::Chat)
    }
}

/// What the run tells a client to do.
#[derive(Debug)]
pub enum Order {
    Say(String),
    CardAdd(String),
    CardMove(String),
    /// The organiser posts an announcement (a command on `announcements`).
    Announce,
}

/// How an outbox entry ended.
#[derive(Debug, Clone)]
pub enum Outcome {
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
pub struct Done {
    pub entry: Entry,
    pub outcome: Outcome,
}

/// One channel as one connection saw it.
#[derive(Debug, Default)]
pub struct ChanRx {
    pub epoch: String,
    pub offsets: ChannelRx,
    /// Content fingerprint of each offset received (the first time).
    pub prints: HashMap<u64, u64>,
    pub epoch_changes: u64,
    pub not_recovered: u64,
}

/// What every client of the run shares: the event log, the latency histograms, the drain's counters.
pub struct Shared {
    pub run_id: u64,
    pub events: RefCell<Vec<(u64, usize, Ev)>>,
    /// Delivery latency: the latest send of a chat message before it arrived, to its arrival at
    /// each receiver (live pushes only). What the server adds, without the time a message waited
    /// in an outbox.
    pub delivery: RefCell<Histogram<u64>>,
    /// Creation of a chat message (in an outbox) to its arrival: what a person waits, retries and
    /// time offline included.
    pub created_to_received: RefCell<Histogram<u64>>,
    /// The latest send of each chat message, by (connection, seq).
    pub last_send: RefCell<HashMap<(u32, u64), u64>>,
    /// The same for messages received before the first fault.
    pub calm_delivery: RefCell<Histogram<u64>>,
    /// Creation of a publish or command to its acknowledgement (through every retry).
    pub ack: RefCell<Histogram<u64>>,
    /// Send to reply of each `unavailable` refusal of a publish / of a command: how long a client
    /// waited to be told.
    pub refusal: RefCell<Histogram<u64>>,
    pub command_refusal: RefCell<Histogram<u64>>,
    /// Acknowledgements that said `duplicate: true`, by what became of the send before.
    pub duplicate_after: RefCell<BTreeMap<String, u64>>,
    pub calm_until_us: Cell<u64>,
    /// The start of the traffic (generator clock, µs).
    pub t0_us: Cell<u64>,
    /// Entries in every outbox, and connections not ready (for the drain).
    pub pending: Cell<u64>,
    pub not_ready: Cell<u64>,
    /// Newest offset received per (connection, channel), for the drain.
    pub positions: RefCell<Vec<HashMap<String, u64>>>,
    pub sent_frames: Cell<u64>,
    /// Why reconnects failed, by reason.
    pub failures: RefCell<BTreeMap<String, u64>>,
    pub first_error: RefCell<Option<String>>,
}

impl Shared {
    pub fn log(&self, person: usize, ev: Ev) {
        self.events.borrow_mut().push((now_us(), person, ev));
    }

    pub fn note_error(&self, error: String) {
        self.first_error.borrow_mut().get_or_insert(error);
    }
}

/// One client's record: what it received and how each of its outbox entries ended.
pub struct Person {
    pub index: usize,
    pub shared: Rc<Shared>,
    pub rx: HashMap<String, ChanRx>,
    pub done: Vec<Done>,
    board: Option<String>,
    cards: Vec<String>,
    ready: bool,
    rng: Rng,
}

impl Person {
    pub fn new(index: usize, shared: Rc<Shared>, board: Option<String>) -> Self {
        Person {
            index,
            shared,
            rx: HashMap::new(),
            done: Vec::new(),
            board,
            cards: Vec::new(),
            ready: true,
            rng: Rng::new(index as u64 + 0xC0),
        }
    }

    fn set_ready(&mut self, ready: bool) {
        if ready != self.ready {
            let n = &self.shared.not_ready;
            n.set(if ready { n.get().saturating_sub(1) } else { n.get() + 1 });
            self.ready = ready;
        }
    }

    fn record(&mut self, channel: &str, offset: u64, data: &str, live: bool) {
        let Some(rx) = self.rx.get_mut(channel) else {
            return;
        };
        if !rx.offsets.receive(offset) {
            return;
        }
        rx.prints.insert(offset, fingerprint(data));
        if let Some(map) = self.shared.positions.borrow_mut().get_mut(self.index) {
            map.insert(channel.to_string(), rx.offsets.last);
        }
        if self.board.as_deref() == Some(channel)
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

    fn resolve(&mut self, entry: Entry, outcome: Outcome) {
        self.shared.pending.set(self.shared.pending.get().saturating_sub(1));
        if let Outcome::Acked { at_us, .. } = &outcome {
            let took = at_us.saturating_sub(entry.created_us).max(1);
            let _ = self.shared.ack.borrow_mut().record(took);
        }
        self.done.push(Done { entry, outcome });
    }

    fn on_acked(&mut self, entry: Entry, result: &str) {
        let Ok(result) = serde_json::from_str::<PublishResult>(result) else {
            self.shared.note_error(format!("unreadable acknowledgement {result}"));
            self.resolve(entry, Outcome::Refused("unreadable acknowledgement".into()));
            return;
        };
        self.shared.log(self.index, if result.duplicate { Ev::AckedDuplicate } else { Ev::Acked });
        if result.duplicate {
            let mut causes = entry.earlier.clone();
            causes.sort_unstable();
            causes.dedup();
            let cause = if causes.is_empty() { "nothing (first send)".to_string() } else { causes.join(" + ") };
            let t0 = self.shared.t0_us.get();
            eprintln!(
                "duplicate: true for {} on {} at offset {} (created at {:+.1} s, acknowledged at {:+.1} s, \
                 send {}; earlier sends: {cause})",
                kind_name(Kind::of(&entry)),
                entry.draft.channel,
                result.offset,
                secs_since(entry.created_us, t0),
                secs_since(now_us(), t0),
                entry.sends
            );
            *self.shared.duplicate_after.borrow_mut().entry(format!("earlier sends: {cause}")).or_default() += 1;
        }
        let outcome =
            Outcome::Acked { epoch: result.epoch, offset: result.offset, duplicate: result.duplicate, at_us: now_us() };
        self.resolve(entry, outcome);
    }
}

impl Hooks for Person {
    type Order = Order;

    fn draft(&mut self, order: Order, slot: Slot) -> Option<Draft> {
        let (index, seq) = (self.index, slot.seq);
        let (channel, kind, op, body) = match order {
            Order::Say(channel) => (channel, Kind::Chat, Op::Publish, wire::payload(index as u32, seq, now_us())),
            Order::CardAdd(channel) => {
                let body = json!({"type": "card.add", "title": format!("card [m {index}.{seq}]")});
                (channel, Kind::CardAdd, Op::Command, body.to_string())
            }
            Order::Announce => {
                let body = json!({"type": "announcement.post", "text": format!("announcement [m {index}.{seq}]")});
                ("announcements".to_string(), Kind::Announcement, Op::Command, body.to_string())
            }
            Order::CardMove(channel) => {
                if self.cards.is_empty() {
                    return None;
                }
                let card = &self.cards[self.rng.below(self.cards.len() as u64) as usize];
                let column = ["todo", "doing", "done"][self.rng.below(3) as usize];
                let body = json!({"type": "card.move", "card": card, "column": column, "index": 0});
                (channel, Kind::CardMove, Op::Command, body.to_string())
            }
        };
        self.shared.pending.set(self.shared.pending.get() + 1);
        let key = Some(format!("{}-{index}-{seq}", self.shared.run_id));
        Some(Draft { op, channel, body, key, tag: kind.tag() })
    }

    fn on_event(&mut self, event: Event<'_>) {
        let ev = match event {
            Event::Lost => Ev::Lost,
            Event::Dropped => Ev::Dropped,
            Event::Timeout => Ev::Timeout,
            Event::Attempt => Ev::Attempt,
            Event::SubscribeRetry => Ev::SubscribeRetry,
            Event::AttemptFailed(reason) => {
                *self.shared.failures.borrow_mut().entry(reason_class(reason)).or_default() += 1;
                Ev::AttemptFailed
            }
            Event::Ready { again } => {
                self.set_ready(true);
                if !again {
                    return;
                }
                Ev::Ready
            }
            Event::GaveUp(_) => {
                self.shared.note_error(format!("connection {} gave up reconnecting", self.index));
                return;
            }
            Event::Closing(_) | Event::OtherPush => return,
        };
        if matches!(ev, Ev::Lost | Ev::Dropped | Ev::Timeout) {
            self.set_ready(false);
        }
        self.shared.log(self.index, ev);
    }

    fn on_subscribed(&mut self, channel: &str, since: Option<&Position>, result: &SubscribeResult) {
        let rx = self.rx.entry(channel.to_string()).or_default();
        match since {
            None => {
                rx.epoch = result.epoch.clone();
                rx.offsets = ChannelRx::starting_after(result.offset);
            }
            Some(since) => {
                if result.epoch != since.epoch {
                    rx.epoch_changes += 1;
                }
                if result.recovered == Some(true) {
                    rx.offsets.last = rx.offsets.last.max(result.offset);
                } else {
                    rx.not_recovered += 1;
                    self.shared.log(self.index, Ev::NotRecovered);
                }
            }
        }
    }

    fn on_delivery(&mut self, delivery: Delivery<'_>) {
        if !delivery.live {
            if let (Some(channel), Some(offset)) = (delivery.channel, delivery.offset) {
                self.record(channel, offset, delivery.text, false);
            }
            return;
        }
        // Live: the content check needs `data` exactly, so the frame is parsed in full.
        match serde_json::from_str::<Publication>(delivery.text) {
            Ok(publication) => self.record(&publication.channel, publication.offset, publication.data.get(), true),
            Err(err) => self.shared.note_error(format!("unreadable publication: {err}")),
        }
    }

    fn on_send(&mut self, entry: &Entry) {
        if Kind::of(entry) == Kind::Chat {
            self.shared.last_send.borrow_mut().insert((self.index as u32, entry.seq), now_us());
        }
        self.shared.sent_frames.set(self.shared.sent_frames.get() + 1);
    }

    fn on_retry(&mut self, entry: &Entry, code: &str, waited: Duration) {
        let unavailable = code == "unavailable";
        self.shared.log(self.index, if unavailable { Ev::Unavailable } else { Ev::RateLimited });
        if unavailable {
            let chat = Kind::of(entry) == Kind::Chat;
            let histogram = if chat { &self.shared.refusal } else { &self.shared.command_refusal };
            let _ = histogram.borrow_mut().record((waited.as_micros() as u64).max(1));
        }
    }

    fn on_settled(&mut self, entry: Entry, outcome: client::Outcome<'_>) {
        match outcome {
            client::Outcome::Acked(result) => self.on_acked(entry, result.get()),
            client::Outcome::Refused(err) => {
                self.shared.log(self.index, Ev::Refused);
                self.shared.note_error(format!("refused: {err}"));
                self.resolve(entry, Outcome::Refused(err.to_string()));
            }
            // Every entry has a key, so none is lost in flight; whatever is left was never acknowledged.
            client::Outcome::LostInFlight | client::Outcome::Unresolved => self.resolve(entry, Outcome::Unresolved),
        }
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

/// One stored entry, as the checks need it.
pub struct StoredEntry {
    print: u64,
    identity: Option<(u32, u64)>,
    card_moved: bool,
}

/// A channel's full history.
pub struct ChannelHistory {
    pub epoch: String,
    pub top: u64,
    pub first: u64,
    pub entries: BTreeMap<u64, StoredEntry>,
}

impl From<StoredHistory> for ChannelHistory {
    fn from(stored: StoredHistory) -> Self {
        let entries = stored
            .publications
            .iter()
            .map(|publication| {
                let data = publication.data.get();
                let entry = StoredEntry {
                    print: fingerprint(data),
                    identity: identity(data),
                    card_moved: data.contains("\"card_moved\""),
                };
                (publication.offset, entry)
            })
            .collect();
        ChannelHistory { epoch: stored.epoch, top: stored.top, first: stored.first, entries }
    }
}

/// The run's verdict, counted.
#[derive(Debug, Default)]
pub struct Settled {
    pub entries: u64,
    pub acked: u64,
    pub acked_chat: u64,
    pub acked_commands: u64,
    pub acked_duplicate: u64,
    pub refused: u64,
    pub unresolved: u64,
    pub stored: u64,
    pub acked_lost: u64,
    pub doubled: u64,
    pub unclaimed: u64,
    pub resent_entries: u64,
    pub extra_sends: u64,
    pub receiver_channels: u64,
    pub expected: u64,
    pub delivered: u64,
    pub receiver_lost: u64,
    pub receiver_duplicated: u64,
    pub receiver_reordered: u64,
    pub mismatches: u64,
    pub not_recovered: u64,
    pub epoch_changes: u64,
    pub refused_codes: BTreeMap<String, u64>,
}

impl Settled {
    pub fn exact(&self) -> bool {
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

/// Holds every client's record against each channel's history (`baseline`: the channels' tops
/// before the run).
pub fn settle(
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
                            kind_name(Kind::of(&done.entry)),
                            done.entry.draft.channel,
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
                    if Kind::of(&done.entry) == Kind::Chat {
                        s.acked_chat += 1;
                    } else {
                        s.acked_commands += 1;
                    }
                    if *duplicate {
                        s.acked_duplicate += 1;
                    }
                    let channel = &done.entry.draft.channel;
                    let stored = history.get(channel).filter(|h| &h.epoch == epoch).and_then(|h| h.entries.get(offset));
                    let expected_identity = (person.index as u32, done.entry.seq);
                    let holds = match (stored, Kind::of(&done.entry)) {
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
                                kind_name(Kind::of(&done.entry)),
                                done.entry.draft.key.as_deref().unwrap_or_default()
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
            let offsets = &rx.offsets;
            s.receiver_duplicated += offsets.duplicated;
            s.receiver_reordered += offsets.reordered;
            s.not_recovered += rx.not_recovered;
            s.epoch_changes += rx.epoch_changes + u64::from(rx.epoch != h.epoch);
            s.expected += offsets.expected_up_to(h.top);
            let missing = offsets.missing_up_to(h.top);
            s.delivered += offsets.got.count();
            if missing > 0 && s.receiver_lost < 20 {
                eprintln!(
                    "connection {} missed {missing} of {channel} (start {}, last {}, top {}, history from {})",
                    person.index, offsets.start, offsets.last, h.top, h.first
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

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Chat => "publish",
        Kind::CardAdd => "card.add",
        Kind::CardMove => "card.move",
        Kind::Announcement => "announcement.post",
    }
}

pub fn secs_since(t: u64, from: u64) -> f64 {
    ((t as f64 - from as f64) / 1e5).round() / 10.0
}

//! `event-day`: a weekend's realistic mix on one Makeroom instance. Teams of participants chat in
//! their rooms and the lobby and add and move cards on their boards; organisers announce to
//! everyone; projector displays show the lobby, announcements and boards; phones drop off and come
//! back (presence churn), recovering every channel with `since`.
//!
//! Accounting is by channel offset: each connection must end with every offset of each of its
//! channels after the point where it first subscribed, exactly once, in order.

use super::Targets;
use crate::accounting::{ChannelRx, Latency, Totals, latency_histogram};
use crate::client::{
    Backoff, Client, ClientSpec, Delivery, Draft, Entry, Event, Fleet, Hooks, Op, Outcome, Policy, Slot, Subscription,
};
use crate::history::Reader;
use crate::report::{Report, mib};
use crate::setup::{self, Population};
use crate::sys::{CpuMeter, Rng, now_us};
use crate::wire::{self, Proto, source_addr};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use makeroom_protocol::{Position, SubscribeResult};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct EventDayConfig {
    pub teams: usize,
    pub team_size: usize,
    pub displays: usize,
    pub duration: Duration,
    /// Multiplies every activity rate.
    pub intensity: f64,
    pub sources: u8,
}

/// Rates per second at intensity 1, for the whole event: a busy weekend afternoon.
pub(crate) const TEAM_CHAT_PER_PERSON: f64 = 1.0 / 30.0;
pub(crate) const LOBBY_CHAT: f64 = 0.5;
pub(crate) const CARD_ADD_PER_TEAM: f64 = 1.0 / 60.0;
pub(crate) const CARD_MOVE_PER_TEAM: f64 = 1.0 / 15.0;
pub(crate) const ANNOUNCEMENTS: f64 = 1.0 / 20.0;
/// Each phone sleeps or loses wifi about once every two minutes, for 1 to 10 s.
pub(crate) const DROP_PER_PERSON: f64 = 1.0 / 120.0;

/// One connection of the day: its token, its channels, its team.
#[derive(Debug, Clone)]
pub(crate) struct Seat {
    pub token: String,
    pub subscriptions: Vec<Subscription>,
    pub team: Option<usize>,
}

impl Seat {
    /// The client of this seat, the `index`th of the run, connecting to `port`.
    pub fn client_spec(&self, index: usize, port: u16, sources: u8, seed: u64) -> ClientSpec {
        ClientSpec {
            index,
            proto: Proto::Makeroom,
            port,
            source: source_addr(index, sources),
            token: self.token.clone(),
            subscriptions: self.subscriptions.clone(),
            seed,
        }
    }
}

/// Who is connected and to what: every participant (the lobby, announcements, their team's room
/// with presence, their team's board), then the organiser (the lobby and announcements), then the
/// displays (the lobby, announcements, the roster and up to 40 boards). Returns the seats and the
/// organiser's index among them.
pub(crate) fn seats(population: &Population, displays: Vec<String>) -> (Vec<Seat>, usize) {
    let mut seats = Vec::new();
    for p in &population.participants {
        let team = &population.teams[p.team];
        seats.push(Seat {
            token: p.token.clone(),
            subscriptions: vec![
                Subscription::new("lobby", false),
                Subscription::new("announcements", false),
                Subscription::new(format!("team:{team}"), true),
                Subscription::new(format!("board:{team}"), false),
            ],
            team: Some(p.team),
        });
    }
    let organiser = seats.len();
    seats.push(Seat {
        token: population.organiser_token.clone(),
        subscriptions: vec![Subscription::new("lobby", false), Subscription::new("announcements", false)],
        team: None,
    });
    for token in displays {
        let mut subscriptions = vec![
            Subscription::new("lobby", false),
            Subscription::new("announcements", false),
            Subscription::new("roster", false),
        ];
        for team in population.teams.iter().take(40) {
            subscriptions.push(Subscription::new(format!("board:{team}"), false));
        }
        seats.push(Seat { token, subscriptions, team: None });
    }
    (seats, organiser)
}

/// Every channel the day touches.
pub(crate) fn channels(population: &Population) -> Vec<String> {
    let mut channels: Vec<String> = vec!["lobby".into(), "announcements".into(), "roster".into()];
    for team in &population.teams {
        channels.push(format!("team:{team}"));
        channels.push(format!("board:{team}"));
    }
    channels
}

/// One thing someone does in the day's mix.
#[derive(Debug, Clone)]
pub(crate) enum Act {
    /// Participant `person` chats on `channel` (their team's room or the lobby).
    Chat {
        person: usize,
        channel: String,
    },
    /// Participant `person` adds a card to, or moves one on, their team's `board`.
    CardAdd {
        person: usize,
        board: String,
    },
    CardMove {
        person: usize,
        board: String,
    },
    /// The organiser posts an announcement.
    Announce,
    /// Participant `person`'s phone is offline for `back`.
    PhoneDrop {
        person: usize,
        back: Duration,
    },
}

/// The day's mix at some intensity, drawn 10 ms at a time: how many of each act is Poisson-like
/// around its rate, and who does it is uniform over the participants.
pub(crate) struct Mix<'a> {
    population: &'a Population,
    intensity: f64,
    phone_drops: bool,
    rng: Rng,
}

/// How often [`Mix::tick`] is meant to be called.
pub(crate) const TICK: Duration = Duration::from_millis(10);

impl<'a> Mix<'a> {
    pub fn new(population: &'a Population, intensity: f64, phone_drops: bool) -> Self {
        Mix { population, intensity: intensity.max(0.0), phone_drops, rng: Rng::new(0xDA7) }
    }

    fn draws(&mut self, rate: f64) -> u64 {
        (self.intensity * rate * TICK.as_secs_f64() + self.rng.unit()) as u64
    }

    fn someone(&mut self) -> (usize, &'a str) {
        let participants = &self.population.participants;
        let p = self.rng.below(participants.len() as u64) as usize;
        (p, &self.population.teams[participants[p].team])
    }

    /// The acts of one tick, in a fixed order (so a seed gives the same day).
    pub fn tick(&mut self, acts: &mut Vec<Act>) {
        let participants = self.population.participants.len() as f64;
        let teams = self.population.teams.len() as f64;
        for _ in 0..self.draws(TEAM_CHAT_PER_PERSON * participants) {
            let (person, team) = self.someone();
            acts.push(Act::Chat { person, channel: format!("team:{team}") });
        }
        for _ in 0..self.draws(LOBBY_CHAT) {
            let (person, _) = self.someone();
            acts.push(Act::Chat { person, channel: "lobby".into() });
        }
        for _ in 0..self.draws(CARD_ADD_PER_TEAM * teams) {
            let (person, team) = self.someone();
            acts.push(Act::CardAdd { person, board: format!("board:{team}") });
        }
        for _ in 0..self.draws(CARD_MOVE_PER_TEAM * teams) {
            let (person, team) = self.someone();
            acts.push(Act::CardMove { person, board: format!("board:{team}") });
        }
        for _ in 0..self.draws(ANNOUNCEMENTS) {
            acts.push(Act::Announce);
        }
        if self.phone_drops {
            for _ in 0..self.draws(DROP_PER_PERSON * participants) {
                let (person, _) = self.someone();
                let back = Duration::from_millis(1000 + self.rng.below(9000));
                acts.push(Act::PhoneDrop { person, back });
            }
        }
    }
}

/// The card a `card_added` event names.
pub(crate) fn card_id(text: &str) -> Option<String> {
    let at = text.find("\"card\":{")?;
    let rest = &text[at..];
    let id = rest.find("\"id\":\"")? + 6;
    let end = rest[id..].find('"')?;
    Some(rest[id..id + end].to_string())
}

/// The reconnect backoff of a phone in the day.
const PHONE_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(2),
    reset_after: Duration::ZERO,
    give_up_after: u32::MAX,
};

#[derive(Debug)]
enum Order {
    Say(String),
    Command(String, String),
    /// Move a card this phone has seen on `board`, if any.
    CardMove(String),
}

#[derive(Default)]
struct Counters {
    sent: Cell<u64>,
    acked: Cell<u64>,
    errors: Cell<u64>,
    /// Keyless commands on the wire when their connection was lost (never resent).
    lost_in_flight: Cell<u64>,
    presence_pushes: Cell<u64>,
    reconnects: Cell<u64>,
    not_recovered: Cell<u64>,
    recovered_messages: Cell<u64>,
    down: Cell<u64>,
    first_error: RefCell<Option<String>>,
}

fn bump(cell: &Cell<u64>) {
    cell.set(cell.get() + 1);
}

struct Shared {
    counters: Counters,
    hist: RefCell<Histogram<u64>>,
    window: Cell<(u64, u64)>,
    run_id: u64,
}

/// What one phone or screen of the day records.
struct Phone {
    index: usize,
    shared: Rc<Shared>,
    rx: HashMap<String, ChannelRx>,
    /// Card ids seen on this person's team board (to move them).
    cards: Vec<String>,
    board: Option<String>,
    rng: Rng,
}

impl Phone {
    fn record(&mut self, channel: &str, offset: u64, text: &str, live: bool) {
        if !self.rx.get_mut(channel).is_some_and(|rx| rx.receive(offset)) {
            return;
        }
        if self.board.as_deref() == Some(channel)
            && text.contains("\"card_added\"")
            && let Some(id) = card_id(text)
        {
            self.cards.push(id);
        }
        if live && let Some(marker) = wire::marker(text) {
            let (from, to) = self.shared.window.get();
            if marker.sent_us >= from && marker.sent_us < to {
                let _ = self.shared.hist.borrow_mut().record(now_us().saturating_sub(marker.sent_us).max(1));
            }
        }
    }
}

impl Hooks for Phone {
    type Order = Order;

    fn draft(&mut self, order: Order, slot: Slot) -> Option<Draft> {
        // An offline phone does nothing.
        if !slot.online {
            return None;
        }
        let draft = match order {
            Order::Say(channel) => {
                let body = wire::payload(self.index as u32, slot.seq, now_us());
                let key = Some(format!("{}-s{}", self.shared.run_id, slot.seq));
                Draft { op: Op::Publish, channel, body, key, tag: 0 }
            }
            Order::Command(channel, body) => Draft { op: Op::Command, channel, body, key: None, tag: 0 },
            Order::CardMove(channel) => {
                if self.cards.is_empty() {
                    return None;
                }
                let card = &self.cards[self.rng.below(self.cards.len() as u64) as usize];
                let column = ["todo", "doing", "done"][self.rng.below(3) as usize];
                let body = json!({"type": "card.move", "card": card, "column": column, "index": 0}).to_string();
                Draft { op: Op::Command, channel, body, key: None, tag: 0 }
            }
        };
        bump(&self.shared.counters.sent);
        Some(draft)
    }

    fn on_event(&mut self, event: Event<'_>) {
        let c = &self.shared.counters;
        match event {
            Event::OtherPush => bump(&c.presence_pushes),
            Event::Attempt => bump(&c.reconnects),
            Event::Dropped | Event::Lost => bump(&c.down),
            Event::Ready { again: true } => c.down.set(c.down.get().saturating_sub(1)),
            Event::AttemptFailed(reason) => {
                c.first_error.borrow_mut().get_or_insert(format!("reconnect: {reason}"));
            }
            _ => {}
        }
    }

    fn on_subscribed(&mut self, channel: &str, since: Option<&Position>, result: &SubscribeResult) {
        if since.is_none() {
            self.rx.insert(channel.to_string(), ChannelRx::starting_after(result.offset));
        } else if result.recovered != Some(true) {
            bump(&self.shared.counters.not_recovered);
        }
    }

    fn on_delivery(&mut self, delivery: Delivery<'_>) {
        let (Some(channel), Some(offset)) = (delivery.channel, delivery.offset) else {
            return;
        };
        if !delivery.live {
            bump(&self.shared.counters.recovered_messages);
        }
        self.record(channel, offset, delivery.text, delivery.live);
    }

    fn on_settled(&mut self, _entry: Entry, outcome: Outcome<'_>) {
        let c = &self.shared.counters;
        match outcome {
            Outcome::Acked(_) => bump(&c.acked),
            Outcome::Refused(err) => {
                bump(&c.errors);
                c.first_error.borrow_mut().get_or_insert(err.to_string());
            }
            Outcome::LostInFlight => bump(&c.lost_in_flight),
            Outcome::Unresolved => {}
        }
    }
}

pub async fn run(targets: &Targets, config: &EventDayConfig) -> Result<Report> {
    let server = targets.server().context("event-day runs against Makeroom")?;
    let teams = config.teams.max(1);
    let participants = teams * config.team_size.max(1);
    let population = setup::populate(server, teams, participants).await?;
    let organiser = population.organiser_token.clone();
    let display_tokens = setup::add_displays(server.port, &organiser, config.displays).await?;
    let (seats, organiser_seat) = seats(&population, display_tokens);
    let shared = Rc::new(Shared {
        counters: Counters::default(),
        hist: RefCell::new(latency_histogram()),
        window: Cell::new((u64::MAX, u64::MAX)),
        run_id: now_us() ^ (u64::from(std::process::id()) << 40),
    });
    let policy = Policy { reconnect: Some(PHONE_BACKOFF), ..Policy::pipelined(Proto::Makeroom) };
    let clients = seats
        .iter()
        .enumerate()
        .map(|(index, seat)| {
            let spec = seat.client_spec(index, server.port, config.sources, index as u64 + 7);
            let phone = Phone {
                index,
                shared: shared.clone(),
                rx: HashMap::new(),
                cards: Vec::new(),
                board: seat.team.map(|t| format!("board:{}", population.teams[t])),
                rng: Rng::new(index as u64 + 0xCA7D),
            };
            Client::new(spec, policy.clone(), phone)
        })
        .collect();
    let fleet = Fleet::start(clients, 64).await;
    let failures = fleet.failures().count();
    if failures > 0 {
        bail!("{failures} connections could not be set up, first: {}", fleet.failures().next().unwrap_or_default());
    }
    // The day.
    let from = now_us();
    shared.window.set((from, from + config.duration.as_micros() as u64));
    let cpu = CpuMeter::start(&targets.pids());
    let mut mix = Mix::new(&population, config.intensity, true);
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    let (mut chats, mut cards, mut announcements, mut drops) = (0u64, 0u64, 0u64, 0u64);
    let mut acts = Vec::new();
    while started.elapsed() < config.duration {
        tick.tick().await;
        acts.clear();
        mix.tick(&mut acts);
        for act in acts.drain(..) {
            match act {
                Act::Chat { person, channel } => {
                    fleet.order(person, Order::Say(channel));
                    chats += 1;
                }
                Act::CardAdd { person, board } => {
                    let add = json!({"type": "card.add", "title": format!("Task {cards}")}).to_string();
                    fleet.order(person, Order::Command(board, add));
                    cards += 1;
                }
                Act::CardMove { person, board } => {
                    fleet.order(person, Order::CardMove(board));
                    cards += 1;
                }
                Act::Announce => {
                    let post = json!({"type": "announcement.post", "text": format!("Announcement {announcements}")});
                    fleet.order(organiser_seat, Order::Command("announcements".into(), post.to_string()));
                    announcements += 1;
                }
                Act::PhoneDrop { person, back } => {
                    fleet.drop_connection(person, Some(back));
                    drops += 1;
                }
            }
        }
    }
    let cpu = cpu.stop();
    let rss = targets.rss();
    // Let every phone come back and every reply arrive (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let c = &shared.counters;
    let answered = |c: &Counters| c.acked.get() + c.errors.get() + c.lost_in_flight.get();
    while Instant::now() < deadline && (c.down.get() > 0 || answered(c) < c.sent.get()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Every channel's final offset, read by the organiser on a fresh connection (the first one has
    // been silent through the day and may have been closed for not answering heartbeats).
    let mut reader = Reader::new(server.port, &organiser);
    let mut tops: HashMap<String, u64> = HashMap::new();
    for channel in channels(&population) {
        let top = reader.top(&channel).await?;
        tops.insert(channel, top);
    }
    reader.close().await;
    let phones = fleet.finish().await;
    let mut totals = Totals::default();
    for phone in phones {
        for (channel, rx) in phone.rx {
            let top = tops.get(&channel).copied().unwrap_or(rx.last);
            totals.expected += rx.expected_up_to(top);
            totals.delivered += rx.got.count();
            totals.duplicated += rx.duplicated;
            totals.reordered += rx.reordered;
            let missing = rx.missing_up_to(top);
            if missing > 0 && totals.lost < 20 {
                let first: Vec<u64> = (rx.start + 1..=top).filter(|&o| !rx.got.get(o)).take(5).collect();
                eprintln!(
                    "lost on {channel}: {missing} missing (start {}, last seen {}, top {top}), first missing {first:?}",
                    rx.start, rx.last
                );
            }
            totals.lost += missing;
        }
    }
    totals.sent = c.sent.get();
    totals.acked = c.acked.get();
    totals.publish_errors = c.errors.get();
    let secs = config.duration.as_secs_f64();
    let mut extra = serde_json::Map::new();
    extra.insert("teams".into(), json!(teams));
    extra.insert("participants".into(), json!(participants));
    extra.insert("displays".into(), json!(config.displays));
    extra.insert("chat_messages".into(), json!(chats));
    extra.insert("card_commands".into(), json!(cards));
    extra.insert("announcements".into(), json!(announcements));
    extra.insert("phone_drops".into(), json!(drops));
    extra.insert("reconnects".into(), json!(c.reconnects.get()));
    extra.insert("not_recovered".into(), json!(c.not_recovered.get()));
    extra.insert("recovered_messages".into(), json!(c.recovered_messages.get()));
    extra.insert("presence_and_other_pushes".into(), json!(c.presence_pushes.get()));
    if c.lost_in_flight.get() > 0 {
        extra.insert("commands_lost_in_flight".into(), json!(c.lost_in_flight.get()));
    }
    if let Some(err) = c.first_error.borrow().clone() {
        extra.insert("first_error".into(), json!(err));
    }
    let hist = shared.hist.borrow();
    Ok(Report {
        scenario: "event-day".into(),
        target: targets.name(),
        instances: 1,
        connections: seats.len(),
        rooms: teams,
        rate: totals.sent as f64 / secs.max(1e-9),
        duration_s: secs,
        deliveries_per_sec: totals.delivered as f64 / secs.max(1e-9),
        totals,
        latency: Latency::of(&hist),
        server_rss_mib: mib(rss),
        server_peak_rss_mib: mib(targets.peak_rss()),
        extra,
        ..Report::default()
    }
    .with_cpu(&cpu))
}

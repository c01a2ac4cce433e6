//! `event-day`: a weekend's realistic mix on one Makeroom instance. Teams of participants chat in
//! their rooms and the lobby and add and move cards on their boards; organisers announce to
//! everyone; projector displays show the lobby, announcements and boards; phones drop off and come
//! back (presence churn), recovering every channel with `since`.
//!
//! Accounting is by channel offset: each connection must end with every offset of each of its
//! channels after the point where it first subscribed, exactly once, in order.

use super::Targets;
use crate::accounting::{Bits, Latency, Totals, latency_histogram};
use crate::report::{Report, mib};
use crate::setup;
use crate::sys::{CpuMeter, Rng, now_us};
use crate::wire::{self, Conn, Incoming, Proto, source_addr};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use makeroom_protocol::announcements::{AnnouncementCommand, Priority};
use makeroom_protocol::board::BoardCommand;
use makeroom_protocol::{DomainCommand, HistoryResult, Position, SubscribeResult};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
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

/// One connection of the day: its token, its channels (with presence or not), its team.
type Seat = (String, Vec<(String, bool)>, Option<usize>);

#[derive(Debug)]
enum Cmd {
    Say(String),
    Command(String, DomainCommand),
    /// Move one of the cards this phone has seen on the board (chosen when it is sent).
    MoveCard(String),
    Drop(Duration),
    Stop,
}

/// One channel as one connection sees it.
#[derive(Debug, Default)]
struct ChanRx {
    epoch: String,
    /// The offset the first subscription started after.
    start: u64,
    /// The newest offset seen (position for `since`).
    last: u64,
    got: Bits,
}

#[derive(Default)]
struct Counters {
    sent: Cell<u64>,
    acked: Cell<u64>,
    errors: Cell<u64>,
    duplicated: Cell<u64>,
    reordered: Cell<u64>,
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
}

struct Person {
    index: usize,
    run_id: u64,
    token: String,
    port: u16,
    source: std::net::Ipv4Addr,
    channels: Vec<(String, bool)>,
    shared: Rc<Shared>,
    rx: HashMap<String, ChanRx>,
    next_id: u64,
    /// Card ids seen on this person's team board (to move them).
    cards: Vec<String>,
    board: Option<String>,
}

impl Person {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    async fn connect(&mut self, recovering: bool) -> Result<Conn> {
        let mut conn = Conn::open(Proto::Makeroom, self.port, self.source).await?;
        let id = self.id();
        conn.call(id, wire::hello(id, &self.token), |_| {}).await?;
        for (channel, presence) in self.channels.clone() {
            let since = match (recovering, self.rx.get(&channel)) {
                (true, Some(rx)) => Some(Position { epoch: rx.epoch.clone(), offset: rx.last }),
                _ => None,
            };
            let id = self.id();
            let mut frame = wire::subscribe(Proto::Makeroom, id, &channel, since.clone());
            if presence {
                frame = frame.replacen("\"presence\":false", "\"presence\":true", 1);
            }
            conn.send(frame).await?;
            // Pushes of channels subscribed a moment ago may arrive before this reply: keep them.
            let result = loop {
                let incoming = tokio::time::timeout(wire::SETUP_TIMEOUT, conn.next())
                    .await
                    .context("no subscribe reply in time")??;
                match incoming {
                    None => bail!("closed while subscribing"),
                    Some(Incoming::Pub(text)) => {
                        if let (Some(channel), Some(offset)) = (channel_of(&text), wire::offset(&text)) {
                            self.record(&channel, offset, &text, true);
                        }
                    }
                    Some(Incoming::Reply(reply)) if reply.id == id => {
                        break reply.result.map_err(|err| anyhow::anyhow!("subscribe {channel}: {err}"))?;
                    }
                    Some(_) => {}
                }
            };
            let result: SubscribeResult = serde_json::from_str(result.get())?;
            let rx = self.rx.entry(channel.clone()).or_default();
            if since.is_none() {
                rx.epoch = result.epoch.clone();
                rx.start = result.offset;
                rx.last = result.offset;
            } else if result.recovered != Some(true) {
                bump(&self.shared.counters.not_recovered);
            }
            for publication in &result.publications {
                bump(&self.shared.counters.recovered_messages);
                self.record(&channel, publication.offset, publication.data.get(), false);
            }
        }
        Ok(conn)
    }

    fn record(&mut self, channel: &str, offset: u64, text: &str, live: bool) {
        let Some(rx) = self.rx.get_mut(channel) else {
            return;
        };
        if offset <= rx.start {
            return;
        }
        if rx.got.set(offset) {
            bump(&self.shared.counters.duplicated);
            return;
        }
        if offset < rx.last {
            bump(&self.shared.counters.reordered);
        }
        rx.last = rx.last.max(offset);
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

    async fn run(&mut self, conn: Conn, mut commands: mpsc::UnboundedReceiver<Cmd>, mut rng: Rng) {
        let mut conn = Some(conn);
        let mut back_at: Option<Instant> = None;
        let mut seq = 0u64;
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
                command = commands.recv() => {
                    let frame = match command {
                        Some(Cmd::Say(channel)) => {
                            seq += 1;
                            let id = self.id();
                            wire::publish(Proto::Makeroom, id, &channel, wire::payload(self.index as u32, seq, now_us()), Some(format!("{}-s{seq}", self.run_id))).ok()
                        }
                        Some(Cmd::Command(channel, command)) => Some(wire::command(self.id(), &channel, &command, None)),
                        Some(Cmd::MoveCard(channel)) => {
                            if self.cards.is_empty() { continue; }
                            let card = self.cards[rng.below(self.cards.len() as u64) as usize].clone();
                            let column = ["todo", "doing", "done"][rng.below(3) as usize].to_string();
                            let command = DomainCommand::Board(BoardCommand::MoveCard { card, column, index: 0 });
                            Some(wire::command(self.id(), &channel, &command, None))
                        }
                        Some(Cmd::Drop(after)) => {
                            if let Some(c) = conn.take() {
                                c.drop_abruptly();
                                bump(&self.shared.counters.down);
                                back_at = Some(Instant::now() + after);
                            }
                            None
                        }
                        Some(Cmd::Stop) | None => break,
                    };
                    if let (Some(frame), Some(c)) = (frame, conn.as_mut()) {
                        bump(&self.shared.counters.sent);
                        if c.send(frame).await.is_err() {
                            conn = None;
                            bump(&self.shared.counters.down);
                            back_at = Some(Instant::now() + Duration::from_millis(200));
                        }
                    }
                }
                incoming = next => match incoming {
                    Ok(Some(Incoming::Pub(text))) => {
                        if let (Some(channel), Some(offset)) = (channel_of(&text), wire::offset(&text)) {
                            self.record(&channel, offset, &text, true);
                        }
                    }
                    Ok(Some(Incoming::Reply(reply))) => match reply.result {
                        Ok(_) => bump(&self.shared.counters.acked),
                        Err(err) => {
                            bump(&self.shared.counters.errors);
                            self.shared.counters.first_error.borrow_mut().get_or_insert(err);
                        }
                    },
                    Ok(Some(Incoming::Other)) => bump(&self.shared.counters.presence_pushes),
                    Ok(Some(Incoming::Closing(_))) => {}
                    Ok(None) | Err(_) => {
                        conn = None;
                        bump(&self.shared.counters.down);
                        back_at = Some(Instant::now() + Duration::from_millis(200));
                    }
                },
                _ = reconnect => {
                    back_at = None;
                    bump(&self.shared.counters.reconnects);
                    match self.connect(true).await {
                        Ok(c) => {
                            conn = Some(c);
                            let down = &self.shared.counters.down;
                            down.set(down.get().saturating_sub(1));
                        }
                        Err(err) => {
                            self.shared.counters.first_error.borrow_mut().get_or_insert(format!("reconnect: {err:#}"));
                            back_at = Some(Instant::now() + rng.duration_below(Duration::from_secs(2)));
                        }
                    }
                }
            }
        }
    }
}

fn channel_of(text: &str) -> Option<String> {
    let at = text.find("\"channel\":\"")? + 11;
    let end = text[at..].find('"')?;
    Some(text[at..at + end].to_string())
}

fn card_id(text: &str) -> Option<String> {
    let at = text.find("\"card\":{")?;
    let rest = &text[at..];
    let id = rest.find("\"id\":\"")? + 6;
    let end = rest[id..].find('"')?;
    Some(rest[id..id + end].to_string())
}

pub async fn run(targets: &Targets, config: &EventDayConfig) -> Result<Report> {
    let server = targets.server().context("event-day runs against Makeroom")?;
    let teams = config.teams.max(1);
    let participants = teams * config.team_size.max(1);
    let population = setup::populate(server, teams, participants).await?;
    let organiser = population.organiser_token.clone();
    let display_tokens = setup::add_displays(server.port, &organiser, config.displays).await?;
    // Who is connected and to what.
    let mut people: Vec<Seat> = Vec::new();
    for p in &population.participants {
        let team = &population.teams[p.team];
        people.push((
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
    let organisers = people.len();
    people.push((organiser.clone(), vec![("lobby".into(), false), ("announcements".into(), false)], None));
    for token in display_tokens {
        let mut channels = vec![("lobby".into(), false), ("announcements".into(), false), ("roster".into(), false)];
        for team in population.teams.iter().take(40) {
            channels.push((format!("board:{team}"), false));
        }
        people.push((token, channels, None));
    }
    let shared = Rc::new(Shared {
        counters: Counters::default(),
        hist: RefCell::new(latency_histogram()),
        window: Cell::new((u64::MAX, u64::MAX)),
    });
    let setup = Rc::new(Semaphore::new(64));
    let from_run = now_us() ^ (u64::from(std::process::id()) << 40);
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    let mut readies = Vec::new();
    for (index, (token, channels, team)) in people.iter().cloned().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<()>>();
        let mut person = Person {
            index,
            run_id: from_run,
            token,
            port: server.port,
            source: source_addr(index, config.sources),
            board: team.map(|t| format!("board:{}", population.teams[t])),
            channels,
            shared: shared.clone(),
            rx: HashMap::new(),
            next_id: 0,
            cards: Vec::new(),
        };
        let setup = setup.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let conn = {
                let _permit = setup.acquire().await;
                person.connect(false).await
            };
            match conn {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    person.run(conn, rx, Rng::new(index as u64 + 7)).await;
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            }
            person.rx
        }));
        senders.push(tx);
        readies.push(ready_rx);
    }
    let mut failures = 0;
    for ready in readies {
        if !matches!(ready.await, Ok(Ok(()))) {
            failures += 1;
        }
    }
    if failures > 0 {
        bail!("{failures} connections could not be set up");
    }
    // The day.
    let from = now_us();
    shared.window.set((from, from + config.duration.as_micros() as u64));
    let cpu = CpuMeter::start(&targets.pids());
    let mut rng = Rng::new(0xDA7);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let k = config.intensity.max(0.0);
    let draws = |rng: &mut Rng, rate: f64| -> u64 { (rate * 0.01 + rng.unit()) as u64 };
    let (mut chats, mut cards, mut announcements, mut drops) = (0u64, 0u64, 0u64, 0u64);
    while started.elapsed() < config.duration {
        tick.tick().await;
        for _ in 0..draws(&mut rng, k * TEAM_CHAT_PER_PERSON * participants as f64) {
            let p = rng.below(participants as u64) as usize;
            let team = &population.teams[population.participants[p].team];
            let _ = senders[p].send(Cmd::Say(format!("team:{team}")));
            chats += 1;
        }
        for _ in 0..draws(&mut rng, k * LOBBY_CHAT) {
            let p = rng.below(participants as u64) as usize;
            let _ = senders[p].send(Cmd::Say("lobby".into()));
            chats += 1;
        }
        for (rate, adds) in [(CARD_ADD_PER_TEAM, true), (CARD_MOVE_PER_TEAM, false)] {
            for _ in 0..draws(&mut rng, k * rate * teams as f64) {
                let p = rng.below(participants as u64) as usize;
                let board = format!("board:{}", population.teams[population.participants[p].team]);
                let command = if adds {
                    let add = BoardCommand::AddCard {
                        column: None,
                        title: format!("Task {cards}"),
                        notes: String::new(),
                        assignee: None,
                    };
                    Cmd::Command(board, DomainCommand::Board(add))
                } else {
                    Cmd::MoveCard(board)
                };
                let _ = senders[p].send(command);
                cards += 1;
            }
        }
        for _ in 0..draws(&mut rng, k * ANNOUNCEMENTS) {
            let post = AnnouncementCommand::Post {
                text: format!("Announcement {announcements}"),
                priority: Priority::Normal,
                pinned: false,
            };
            let _ = senders[organisers].send(Cmd::Command("announcements".into(), DomainCommand::Announcement(post)));
            announcements += 1;
        }
        for _ in 0..draws(&mut rng, k * DROP_PER_PERSON * participants as f64) {
            let p = rng.below(participants as u64) as usize;
            let back = Duration::from_millis(1000 + rng.below(9000));
            let _ = senders[p].send(Cmd::Drop(back));
            drops += 1;
        }
    }
    let cpu = cpu.stop();
    let rss = targets.rss();
    // Let every phone come back and every reply arrive (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let c = &shared.counters;
    while Instant::now() < deadline && (c.down.get() > 0 || c.acked.get() + c.errors.get() < c.sent.get()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Every channel's final offset, read by the organiser on a fresh connection (the first one has
    // been silent through the day and may have been closed for not answering heartbeats).
    let mut probe = Conn::open(Proto::Makeroom, server.port, std::net::Ipv4Addr::LOCALHOST).await?;
    probe.call(1, wire::hello(1, &organiser), |_| {}).await?;
    let mut tops: HashMap<String, u64> = HashMap::new();
    let mut channels: Vec<String> = vec!["lobby".into(), "announcements".into(), "roster".into()];
    for team in &population.teams {
        channels.push(format!("team:{team}"));
        channels.push(format!("board:{team}"));
    }
    for (i, channel) in channels.iter().enumerate() {
        let id = 100 + i as u64;
        let frame = serde_json::to_string(&makeroom_protocol::ClientFrame {
            id,
            request: makeroom_protocol::Request::History(makeroom_protocol::History {
                channel: channel.clone(),
                before: None,
                limit: Some(1),
            }),
        })?;
        let result: HistoryResult = serde_json::from_str(probe.call(id, frame, |_| {}).await?.get())?;
        tops.insert(channel.clone(), result.offset);
    }
    probe.close().await;
    for tx in &senders {
        let _ = tx.send(Cmd::Stop);
    }
    let mut totals = Totals::default();
    for task in tasks {
        let Ok(rx) = task.await else { continue };
        for (channel, rx) in rx {
            let top = tops.get(&channel).copied().unwrap_or(rx.last);
            let mut expected = Bits::default();
            if top > rx.start {
                expected.set_range(rx.start + 1, top);
            }
            totals.expected += top.saturating_sub(rx.start);
            totals.delivered += rx.got.count();
            let missing = expected.missing_from(&rx.got);
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
    totals.duplicated = c.duplicated.get();
    totals.reordered = c.reordered.get();
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
    if let Some(err) = c.first_error.borrow().clone() {
        extra.insert("first_error".into(), json!(err));
    }
    let hist = shared.hist.borrow();
    Ok(Report {
        scenario: "event-day".into(),
        target: targets.name(),
        instances: 1,
        connections: people.len(),
        rooms: teams,
        rate: totals.sent as f64 / secs.max(1e-9),
        duration_s: secs,
        deliveries_per_sec: totals.delivered as f64 / secs.max(1e-9),
        totals,
        latency: Latency::of(&hist),
        server_rss_mib: mib(rss),
        server_peak_rss_mib: mib(targets.peak_rss()),
        server_cpu_pct: cpu.servers_pct,
        generator_cpu_pct: cpu.generator_pct,
        other_cpu_pct: cpu.others_pct,
        steal_cpu_pct: cpu.steal_pct,
        extra,
        ..Report::default()
    })
}

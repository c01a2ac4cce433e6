//! The application layer driven directly, in process: real sessions over the real embedded store and
//! hub, no socket and no binary. Each phone is a `Session` fed request texts and polled for frames.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::directory::{EventDirectory, EventEntry};
use super::{Close, Services, Session};
use crate::auth::{Subject, TokenKind, Tokens};
use crate::config::LimitsConfig;
use crate::domain::roster::Name;
use crate::hub::{Hub, frame};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;
use bytes::Bytes;
use clap::Parser;
use makeroom_protocol::Role;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

#[derive(Parser)]
struct Limits {
    #[command(flatten)]
    limits: LimitsConfig,
}

struct World {
    services: Arc<Services>,
    event: Arc<EventEntry>,
    _dir: tempfile::TempDir,
}

/// A fresh event on a fresh embedded store, with `flags` for the limits (say, a larger burst).
async fn world(flags: &[&str]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let hub = Arc::new(Hub::new());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), hub.clone()).unwrap());
    let events = EventDirectory::load(store.clone(), hub.clone()).await.unwrap();
    let event = events.create_event(Name::try_from("Test weekend".to_string()).unwrap()).await.unwrap();
    let limits = Limits::parse_from(std::iter::once("test").chain(flags.iter().copied())).limits;
    let tokens = Tokens::new(b"a-test-secret-a-test-secret-0123", 3600, 86_400);
    let services = Arc::new(Services::new(tokens, store, hub, events, limits, 10_000, Duration::from_secs(15)));
    World { services, event, _dir: dir }
}

impl World {
    async fn team(&self, name: &str) -> String {
        self.services.events.create_team(&self.event, name, None, vec![]).await.unwrap()
    }

    /// A phone of someone new at the event (in `team`), said hello.
    async fn phone(&self, name: &str, role: Role, team: Option<&str>) -> Phone {
        let name = Name::try_from(name.to_string()).unwrap();
        let person = self
            .services
            .events
            .add_participant(&self.event, None, name, role, vec![], team.map(str::to_string))
            .await
            .unwrap();
        let subject = Subject { participant: &person.id, event: &self.event.info.id, role, name: person.name.as_str() };
        let (token, _) = self.services.tokens.issue(&subject, TokenKind::Access).unwrap();
        let mut phone = Phone::new(&self.services);
        let hello = phone.request(json!({"op": "hello", "version": 1, "token": token})).await;
        assert!(hello.get("result").is_some(), "hello failed: {hello}");
        phone.participant = person.id;
        phone
    }
}

struct Phone {
    session: Session,
    next_id: u64,
    /// Frames received and not yet looked at.
    inbox: VecDeque<Value>,
    participant: String,
}

impl Phone {
    fn new(services: &Arc<Services>) -> Self {
        Phone {
            session: Session::new(services.clone()),
            next_id: 1,
            inbox: VecDeque::new(),
            participant: String::new(),
        }
    }

    /// Sends a request without waiting; returns its id.
    fn send(&mut self, mut request: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        self.session.accept(&request.to_string());
        id
    }

    /// Polls the session until it has produced frames (or closes); appends them to the inbox. The
    /// frames written before a close still arrive, as they would on the socket.
    async fn pump(&mut self) -> Result<(), Close> {
        let session = &mut self.session;
        let (frames, closed) = tokio::time::timeout(
            Duration::from_secs(10),
            std::future::poll_fn(|cx| {
                let closed = match session.poll(cx, true) {
                    Poll::Ready(close) => Some(close),
                    Poll::Pending => None,
                };
                let mut out: Vec<Bytes> = Vec::new();
                session.take_output(&mut out);
                if out.is_empty() && closed.is_none() { Poll::Pending } else { Poll::Ready((out, closed)) }
            }),
        )
        .await
        .expect("the session answers within 10 s");
        for bytes in frames {
            self.inbox.push_back(serde_json::from_str(frame::payload_text(&bytes)).unwrap());
        }
        match closed {
            Some(close) if self.inbox.is_empty() => Err(close),
            _ => Ok(()),
        }
    }

    async fn next_frame(&mut self) -> Value {
        while self.inbox.is_empty() {
            self.pump().await.expect("open");
        }
        self.inbox.pop_front().unwrap()
    }

    /// Sends a request and waits for its reply, keeping the frames before it in the inbox.
    async fn request(&mut self, request: Value) -> Value {
        let id = self.send(request);
        let mut seen = 0;
        loop {
            if let Some(at) = self.inbox.iter().skip(seen).position(|f| f["type"] == "reply" && f["id"] == id) {
                return self.inbox.remove(seen + at).unwrap();
            }
            seen = self.inbox.len();
            self.pump().await.expect("open");
        }
    }

    async fn subscribe(&mut self, channel: &str) -> Value {
        let reply = self.request(json!({"op": "subscribe", "channel": channel})).await;
        assert!(reply.get("result").is_some(), "subscribe {channel}: {reply}");
        reply
    }
}

fn say(channel: &str, text: &str) -> Value {
    json!({"op": "publish", "channel": channel, "data": {"text": text}})
}

/// Keeps a phone publishing `count` messages on `channel`, one at a time, answering as it goes.
async fn keep_publishing(mut phone: Phone, channel: String, count: usize) -> Phone {
    for n in 0..count {
        let reply = phone.request(say(&channel, &format!("{} {n}", phone.participant))).await;
        assert!(reply.get("result").is_some(), "{reply}");
    }
    phone
}

#[tokio::test]
async fn hello_says_who_the_phone_is_and_nothing_else_is_done_before_it() {
    let world = world(&[]).await;
    let mut stranger = Phone::new(&world.services);
    let early = stranger.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    assert_eq!(early["error"]["code"], "unauthorized");
    let time = stranger.request(json!({"op": "time"})).await;
    assert!(time["result"]["server_time"].as_i64().is_some());
    let forged = stranger.request(json!({"op": "hello", "version": 1, "token": "not-a-token"})).await;
    assert_eq!(forged["error"]["code"], "unauthorized");
    let mut ada = world.phone("Ada", Role::Participant, None).await;
    let again = ada.request(json!({"op": "hello", "version": 1, "token": "x"})).await;
    assert_eq!(again["error"]["code"], "bad_request");
    let mut old = Phone::new(&world.services);
    old.send(json!({"op": "hello", "version": 99, "token": "x"}));
    let reply = old.next_frame().await;
    assert_eq!(reply["error"]["code"], "unsupported_version");
    let closed = old.pump().await.expect_err("an unsupported version closes");
    assert_eq!(closed.code, makeroom_protocol::close::UNSUPPORTED_VERSION);
}

/// The issue's first case: a phone in its own busy room pipelines 64 publishes while three others
/// publish there. It gets every reply in order, each before its own `pub`, every push once and in
/// order, and is never closed as too slow.
#[tokio::test]
async fn a_phone_pipelining_publishes_into_its_busy_room_gets_every_push_and_reply_in_order() {
    let world =
        world(&["--request-burst", "200", "--participant-request-burst", "400", "--outbox-capacity", "32"]).await;
    let team = world.team("Busy").await;
    let room = format!("team:{team}");
    let mut ada = world.phone("Ada", Role::Participant, Some(&team)).await;
    ada.subscribe(&room).await;
    let mut others = Vec::new();
    for name in ["Bo", "Cy", "Di"] {
        let mut phone = world.phone(name, Role::Participant, Some(&team)).await;
        phone.subscribe(&room).await;
        others.push(phone);
    }
    let senders = futures_util::future::join_all(others.into_iter().map(|p| keep_publishing(p, room.clone(), 40)));
    let ids: Vec<u64> = (0..64).map(|n| ada.send(say(&room, &format!("pipelined {n}")))).collect();
    let expected_pubs = 64 + 3 * 40;
    let watch = async {
        let (mut replies, mut offsets) = (Vec::new(), Vec::new());
        while replies.len() < ids.len() || offsets.len() < expected_pubs {
            let frame = ada.next_frame().await;
            match frame["type"].as_str() {
                Some("reply") => {
                    let offset =
                        frame["result"]["offset"].as_u64().unwrap_or_else(|| panic!("a failed publish: {frame}"));
                    assert!(!offsets.contains(&offset), "the reply for {offset} came after its own pub");
                    replies.push(frame["id"].as_u64().unwrap());
                }
                Some("pub") => offsets.push(frame["offset"].as_u64().unwrap()),
                _ => {}
            }
        }
        (replies, offsets)
    };
    let ((replies, offsets), _) = tokio::join!(watch, senders);
    assert_eq!(replies, ids, "replies come in the order of the requests");
    assert_eq!(offsets, (1..=expected_pubs as u64).collect::<Vec<_>>(), "every push once, in order");
}

/// While a phone's commands wait for the store, pushes of its other channels keep coming.
#[tokio::test]
async fn pipelined_commands_on_a_board_do_not_stop_the_phones_other_pushes() {
    let world = world(&["--request-burst", "200", "--participant-request-burst", "400"]).await;
    let team = world.team("Makers").await;
    let board = format!("board:{team}");
    let mut ada = world.phone("Ada", Role::Participant, Some(&team)).await;
    ada.subscribe(&board).await;
    ada.subscribe("lobby").await;
    let added = ada
        .request(json!({"op": "command", "channel": board, "command": {"type": "card.add", "title": "Post-its"}}))
        .await;
    assert!(added.get("result").is_some(), "{added}");
    let card = loop {
        let frame = ada.next_frame().await;
        if frame["type"] == "pub" && frame["channel"] == board {
            break frame["data"]["card"]["id"].as_str().unwrap().to_string();
        }
    };
    let bo = world.phone("Bo", Role::Participant, None).await;
    let chatter = keep_publishing(bo, "lobby".into(), 30);
    let ids: Vec<u64> = (0..64)
        .map(|n| {
            let column = ["todo", "doing", "done"][n % 3];
            let command = json!({"type": "card.move", "card": card, "column": column, "index": 0});
            ada.send(json!({"op": "command", "channel": board, "command": command}))
        })
        .collect();
    let watch = async {
        let (mut replies, mut lobby) = (Vec::new(), Vec::new());
        let mut lobby_before_last_reply = 0;
        while replies.len() < ids.len() || lobby.len() < 30 {
            let frame = ada.next_frame().await;
            match (frame["type"].as_str(), frame["channel"].as_str()) {
                (Some("reply"), _) => {
                    assert!(frame.get("result").is_some(), "{frame}");
                    replies.push(frame["id"].as_u64().unwrap());
                }
                (Some("pub"), Some("lobby")) => {
                    lobby.push(frame["offset"].as_u64().unwrap());
                    if replies.len() < ids.len() {
                        lobby_before_last_reply += 1;
                    }
                }
                _ => {}
            }
        }
        (replies, lobby, lobby_before_last_reply)
    };
    let ((replies, lobby, lobby_before_last_reply), _) = tokio::join!(watch, chatter);
    assert_eq!(replies, ids);
    assert_eq!(lobby, (1..=30).collect::<Vec<_>>());
    assert!(lobby_before_last_reply > 0, "lobby pushes flowed while the commands were under way");
}

#[tokio::test]
async fn leaving_a_team_ends_its_room_for_the_phone_with_a_reason() {
    let world = world(&[]).await;
    let team = world.team("Leavers").await;
    let room = format!("team:{team}");
    let mut ada = world.phone("Ada", Role::Participant, Some(&team)).await;
    ada.subscribe(&room).await;
    let left = ada.request(json!({"op": "command", "channel": "roster", "command": {"type": "team.leave"}})).await;
    assert!(left.get("result").is_some(), "{left}");
    let notice = loop {
        let frame = ada.next_frame().await;
        if frame["type"] == "unsubscribed" {
            break frame;
        }
    };
    assert_eq!(notice["channel"], room);
    assert_eq!(notice["reason"], "you left the team");
    let refused = ada.request(json!({"op": "subscribe", "channel": room})).await;
    assert_eq!(refused["error"]["code"], "forbidden");
}

#[tokio::test]
async fn removing_someone_closes_their_phone_as_revoked() {
    let world = world(&[]).await;
    let mut host = world.phone("Host", Role::Organiser, None).await;
    let mut ada = world.phone("Ada", Role::Participant, None).await;
    let removed = host
        .request(json!({"op": "command", "channel": "roster", "command": {"type": "participant.remove", "participant": ada.participant}}))
        .await;
    assert!(removed.get("result").is_some(), "{removed}");
    let closed = loop {
        match ada.pump().await {
            Ok(()) => ada.inbox.clear(),
            Err(close) => break close,
        }
    };
    assert_eq!(closed.code, makeroom_protocol::close::REVOKED);
}

#[tokio::test]
async fn history_and_presence_read_what_is_there() {
    let world = world(&[]).await;
    let mut ada = world.phone("Ada", Role::Participant, None).await;
    let joined = ada.request(json!({"op": "subscribe", "channel": "lobby", "presence": true})).await;
    assert_eq!(joined["result"]["presence"].as_array().map(Vec::len), Some(1));
    for n in 0..3 {
        ada.request(say("lobby", &format!("hello {n}"))).await;
    }
    let history = ada.request(json!({"op": "history", "channel": "lobby", "limit": 2})).await;
    let texts: Vec<&str> = history["result"]["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello 1", "hello 2"]);
    let presence = ada.request(json!({"op": "presence", "channel": "lobby"})).await;
    assert_eq!(presence["result"]["members"][0]["name"], "Ada");
    let display = world.phone("Wall", Role::Display, None).await;
    let mut display = display;
    let team = world.team("Secret").await;
    let refused = display.request(json!({"op": "history", "channel": format!("team:{team}")})).await;
    assert_eq!(refused["error"]["code"], "forbidden");
}

#[tokio::test]
async fn a_subscribe_with_since_recovers_exactly_what_was_missed() {
    let world = world(&[]).await;
    let mut ada = world.phone("Ada", Role::Participant, None).await;
    let start = ada.subscribe("lobby").await;
    let epoch = start["result"]["epoch"].as_str().unwrap().to_string();
    let mut bo = world.phone("Bo", Role::Participant, None).await;
    for n in 0..5 {
        bo.request(say("lobby", &format!("m{n}"))).await;
    }
    let mut later = world.phone("Ada again", Role::Participant, None).await;
    let recovered =
        later.request(json!({"op": "subscribe", "channel": "lobby", "since": {"epoch": epoch, "offset": 2}})).await;
    assert_eq!(recovered["result"]["recovered"], true);
    let offsets: Vec<u64> =
        recovered["result"]["publications"].as_array().unwrap().iter().map(|p| p["offset"].as_u64().unwrap()).collect();
    assert_eq!(offsets, [3, 4, 5]);
    let stale = later
        .request(json!({"op": "subscribe", "channel": "lobby", "since": {"epoch": "another-epoch", "offset": 2}}))
        .await;
    assert_eq!(stale["result"]["recovered"], false);
}

#[tokio::test]
async fn a_phone_whose_socket_stopped_taking_pushes_is_closed_as_too_slow() {
    let world = world(&["--outbox-capacity", "4"]).await;
    let mut ada = world.phone("Ada", Role::Participant, None).await;
    ada.subscribe("lobby").await;
    // Ada's socket is full (her phone stopped reading): her connection stops taking pushes.
    let session = &mut ada.session;
    let stalled = std::future::poll_fn(|cx| Poll::Ready(session.poll(cx, false))).await;
    assert!(stalled.is_pending());
    let mut bo = world.phone("Bo", Role::Participant, None).await;
    for n in 0..8 {
        bo.request(say("lobby", &format!("m{n}"))).await;
    }
    let session = &mut ada.session;
    let closed = tokio::time::timeout(Duration::from_secs(10), std::future::poll_fn(|cx| session.poll(cx, false)))
        .await
        .expect("closed in time");
    assert_eq!(closed.code, makeroom_protocol::close::SLOW_CONSUMER);
}

/// A phone that reads, on a server too busy to take its pushes for a moment, keeps them.
#[tokio::test]
async fn a_phone_that_reads_keeps_its_pushes_while_the_server_is_behind() {
    let world = world(&["--outbox-capacity", "4"]).await;
    let mut ada = world.phone("Ada", Role::Participant, None).await;
    ada.subscribe("lobby").await;
    let mut bo = world.phone("Bo", Role::Participant, None).await;
    for n in 0..12 {
        bo.request(say("lobby", &format!("m{n}"))).await;
    }
    let mut offsets = Vec::new();
    while offsets.len() < 12 {
        let frame = ada.next_frame().await;
        if frame["type"] == "pub" {
            offsets.push(frame["offset"].as_u64().unwrap());
        }
    }
    assert_eq!(offsets, (1..=12).collect::<Vec<_>>());
}

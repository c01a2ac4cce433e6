//! Channels end to end: gap-free offsets, exact recovery, idempotent publish, presence, durability
//! across a crash, heartbeats and time sync.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, TestServer, error_code, offsets};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

async fn subscribe(client: &mut Client, channel: &str, since: Option<(&str, u64)>) -> Value {
    let mut request = json!({"op": "subscribe", "channel": channel});
    if let Some((epoch, offset)) = since {
        request["since"] = json!({"epoch": epoch, "offset": offset});
    }
    let reply = client.request(request).await;
    assert!(reply["result"].is_object(), "subscribe failed: {reply}");
    reply["result"].clone()
}

#[tokio::test]
async fn concurrent_publishers_get_gap_free_offsets_seen_in_order_by_everyone() {
    let server = TestServer::start_with(&["--request-burst", "100", "--requests-per-second", "100"]).await;
    let mut watcher = server.client(&server.organiser_token().await).await;
    subscribe(&mut watcher, "lobby", None).await;

    const PUBLISHERS: usize = 6;
    const EACH: usize = 40;
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let (mut client, _) = server.participant(&format!("Maker {p}"), None).await;
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..EACH {
                let reply = client.say("lobby", &format!("{p}-{i}"), None).await;
                acked.push(reply["result"]["offset"].as_u64().unwrap());
            }
            acked
        }));
    }
    let mut acked: Vec<u64> = Vec::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    acked.sort_unstable();
    let total = (PUBLISHERS * EACH) as u64;
    assert_eq!(acked, (1..=total).collect::<Vec<_>>(), "every acknowledged offset is distinct and gap-free");

    let seen = watcher.publications("lobby", total as usize).await;
    assert_eq!(offsets(&seen), (1..=total).collect::<Vec<_>>(), "the watcher sees every offset once, in order");
    assert!(seen.iter().all(|p| p["epoch"] == seen[0]["epoch"]));
}

#[tokio::test]
async fn publishers_in_one_room_see_each_reply_before_their_own_pub_and_every_offset_once_in_order() {
    let server = TestServer::start_with(&["--request-burst", "200", "--requests-per-second", "200"]).await;
    const PUBLISHERS: usize = 5;
    const EACH: u64 = 60;
    let mut clients = Vec::new();
    for p in 0..PUBLISHERS {
        let (mut client, _) = server.participant(&format!("Maker {p}"), None).await;
        subscribe(&mut client, "lobby", None).await;
        // A second channel: a connection that reads more than the one it publishes in goes on
        // taking pushes while its publish is under way, and must hold back those of that channel.
        subscribe(&mut client, "announcements", None).await;
        clients.push(client);
    }
    // Everyone publishes at once into the room they read, so pushes of the room arrive while their
    // own publishes wait for the store: those pushes may come before a reply, their own never does.
    let total = PUBLISHERS as u64 * EACH;
    let mut tasks = Vec::new();
    for (p, mut client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut own = Vec::new();
            for i in 0..EACH {
                let id = 1000 + i;
                let publish =
                    json!({"id": id, "op": "publish", "channel": "lobby", "data": {"text": format!("{p}-{i}")}});
                client.send_text(publish.to_string()).await;
                loop {
                    let frame = client.next_frame().await.unwrap();
                    if frame["type"] == "pub" {
                        seen.push(frame["offset"].as_u64().unwrap());
                    } else if frame["type"] == "reply" && frame["id"] == json!(id) {
                        let offset = frame["result"]["offset"].as_u64().unwrap();
                        assert!(!seen.contains(&offset), "publisher {p}: its pub {offset} came before the reply");
                        own.push(offset);
                        break;
                    }
                }
            }
            while (seen.len() as u64) < total {
                let frame = client.next_frame().await.unwrap();
                if frame["type"] == "pub" {
                    seen.push(frame["offset"].as_u64().unwrap());
                }
            }
            (seen, own)
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        let (seen, own) = task.await.unwrap();
        assert_eq!(seen, (1..=total).collect::<Vec<_>>(), "every publisher sees every offset once, in order");
        acked.extend(own);
    }
    acked.sort_unstable();
    assert_eq!(acked, (1..=total).collect::<Vec<_>>());
}

#[tokio::test]
async fn recovery_delivers_exactly_the_missed_messages_then_live_ones() {
    let server = TestServer::start().await;
    let (mut speaker, _) = server.participant("Speaker", None).await;
    let listener_token = server.join("Listener", None).await["token"].as_str().unwrap().to_string();
    let mut listener = server.client(&listener_token).await;
    let start = subscribe(&mut listener, "lobby", None).await;
    let epoch = start["epoch"].as_str().unwrap().to_string();
    assert_eq!(start["offset"], 0);

    for i in 1..=5 {
        speaker.say("lobby", &format!("before {i}"), None).await;
    }
    let seen = listener.publications("lobby", 5).await;
    assert_eq!(offsets(&seen), vec![1, 2, 3, 4, 5]);
    listener.close().await;

    for i in 6..=15 {
        speaker.say("lobby", &format!("while away {i}"), None).await;
    }
    let mut listener = server.client(&listener_token).await;
    let resumed = subscribe(&mut listener, "lobby", Some((&epoch, 5))).await;
    assert_eq!(resumed["recovered"], true);
    assert_eq!(offsets(resumed["publications"].as_array().unwrap()), (6..=15).collect::<Vec<_>>());
    assert_eq!(resumed["publications"][0]["data"]["text"], "while away 6");
    assert_eq!(resumed["offset"], 15);

    speaker.say("lobby", "back live", None).await;
    let live = listener.publications("lobby", 1).await;
    assert_eq!(offsets(&live), vec![16]);
    assert!(listener.maybe_push(Duration::from_millis(300)).await.is_none(), "nothing doubled");
}

#[tokio::test]
async fn recovery_is_exact_while_others_keep_publishing() {
    let server = TestServer::start_with(&[
        "--request-burst",
        "400",
        "--requests-per-second",
        "400",
        "--participant-request-burst",
        "400",
        "--participant-requests-per-second",
        "400",
    ])
    .await;
    let (mut speaker, _) = server.participant("Speaker", None).await;
    let listener_token = server.join("Listener", None).await["token"].as_str().unwrap().to_string();
    const TOTAL: u64 = 300;
    let epoch = {
        let mut probe = server.client(&listener_token).await;
        let history = probe.request(json!({"op": "history", "channel": "lobby"})).await;
        history["result"]["epoch"].as_str().unwrap().to_string()
    };
    let publishing = tokio::spawn(async move {
        for i in 1..=TOTAL {
            speaker.say("lobby", &format!("m{i}"), None).await;
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    });

    // Drop and resubscribe again and again while the speaker goes on; every round reads a little
    // live traffic, then disconnects without warning.
    let mut received: Vec<u64> = Vec::new();
    let mut last = 0;
    for round in 0..40 {
        let mut listener = server.client(&listener_token).await;
        let reply = subscribe(&mut listener, "lobby", Some((&epoch, last))).await;
        assert_eq!(reply["recovered"], true, "round {round}: {reply}");
        received.extend(offsets(reply["publications"].as_array().map(Vec::as_slice).unwrap_or(&[])));
        last = reply["offset"].as_u64().unwrap();
        for _ in 0..3 {
            let Some(frame) = listener.maybe_push(Duration::from_millis(200)).await else {
                break;
            };
            let offset = frame["offset"].as_u64().unwrap();
            assert_eq!(offset, last + 1, "round {round}: live pushes continue right after the reply");
            received.push(offset);
            last = offset;
        }
        drop(listener);
        if last == TOTAL {
            break;
        }
    }
    publishing.await.unwrap();
    let mut listener = server.client(&listener_token).await;
    let reply = subscribe(&mut listener, "lobby", Some((&epoch, last))).await;
    assert_eq!(reply["recovered"], true);
    received.extend(offsets(reply["publications"].as_array().map(Vec::as_slice).unwrap_or(&[])));
    assert_eq!(received, (1..=TOTAL).collect::<Vec<_>>(), "every message exactly once, in order");
}

#[tokio::test]
async fn recovery_reports_when_it_cannot_be_exact() {
    let server = TestServer::start_with(&["--history-limit", "5"]).await;
    let (mut speaker, _) = server.participant("Speaker", None).await;
    let (mut listener, _) = server.participant("Listener", None).await;
    for i in 1..=20 {
        speaker.say("lobby", &format!("m{i}"), None).await;
    }
    let epoch = subscribe(&mut listener, "lobby", None).await["epoch"].as_str().unwrap().to_string();
    listener.request(json!({"op": "unsubscribe", "channel": "lobby"})).await;

    let trimmed = subscribe(&mut listener, "lobby", Some((&epoch, 2))).await;
    assert_eq!(trimmed["recovered"], false, "history no longer holds 3..15");
    assert!(trimmed.get("publications").is_none());
    assert_eq!(trimmed["offset"], 20);

    let within = subscribe(&mut listener, "lobby", Some((&epoch, 16))).await;
    assert_eq!(within["recovered"], true);
    assert_eq!(offsets(within["publications"].as_array().unwrap()), vec![17, 18, 19, 20]);

    let other_epoch = subscribe(&mut listener, "lobby", Some(("an-old-epoch", 19))).await;
    assert_eq!(other_epoch["recovered"], false, "another epoch means the log was replaced");

    let ahead = subscribe(&mut listener, "lobby", Some((&epoch, 99))).await;
    assert_eq!(ahead["recovered"], false, "a position beyond the log cannot be trusted");

    let history = listener.request(json!({"op": "history", "channel": "lobby"})).await;
    assert_eq!(history["result"]["first"], 16);
    assert_eq!(offsets(history["result"]["publications"].as_array().unwrap()), vec![16, 17, 18, 19, 20]);
    let page = listener.request(json!({"op": "history", "channel": "lobby", "before": 19, "limit": 2})).await;
    assert_eq!(offsets(page["result"]["publications"].as_array().unwrap()), vec![17, 18]);
}

#[tokio::test]
async fn a_retried_publish_with_the_same_key_is_stored_once_even_across_a_restart() {
    let mut server = TestServer::start().await;
    let joined = server.join("Ada", None).await;
    let token = joined["token"].as_str().unwrap().to_string();
    let mut ada = server.client(&token).await;
    let mut watcher = server.client(&server.organiser_token().await).await;
    subscribe(&mut watcher, "lobby", None).await;

    let first = ada.say("lobby", "sent from the bus", Some("ada-msg-1")).await;
    let retry = ada.say("lobby", "sent from the bus", Some("ada-msg-1")).await;
    assert_eq!(first["result"]["duplicate"], false);
    assert_eq!(retry["result"]["duplicate"], true);
    assert_eq!(first["result"]["offset"], retry["result"]["offset"]);
    let next = ada.say("lobby", "another", Some("ada-msg-2")).await;
    assert_eq!(next["result"]["offset"], 2);
    // Keys belong to their sender: somebody else picking the same key is a new message.
    let (mut bo, _) = server.participant("Bo", None).await;
    let bos = bo.say("lobby", "mine", Some("ada-msg-1")).await;
    assert_eq!((bos["result"]["offset"].as_u64(), bos["result"]["duplicate"].as_bool()), (Some(3), Some(false)));
    let seen = watcher.publications("lobby", 3).await;
    assert_eq!(offsets(&seen), vec![1, 2, 3]);
    assert!(watcher.maybe_push(Duration::from_millis(300)).await.is_none(), "the retry was not fanned out");

    server.crash_and_restart().await;
    let mut ada = server.client(&token).await;
    let after_restart = ada.say("lobby", "sent from the bus", Some("ada-msg-1")).await;
    assert_eq!(after_restart["result"]["duplicate"], true);
    assert_eq!(after_restart["result"]["offset"], 1);
    assert_eq!(error_code(&ada.say("lobby", "bad key", Some("")).await), "bad_request");
}

#[tokio::test]
async fn every_acknowledged_message_survives_a_crash() {
    let mut server = TestServer::start().await;
    let teams = server.teams().await;
    let room = format!("team:{}", teams[0].0);
    let joined = server.join("Ada", Some(&teams[0].0)).await;
    let token = joined["token"].as_str().unwrap().to_string();
    let join_code = server.join_code.clone();
    let mut ada = server.client(&token).await;
    let epoch = subscribe(&mut ada, &room, None).await["epoch"].as_str().unwrap().to_string();
    for i in 1..=30 {
        let reply = ada.say(&room, &format!("note {i}"), None).await;
        assert_eq!(reply["result"]["offset"], i);
    }

    server.crash_and_restart().await;
    assert_eq!(server.join_code, join_code, "the event and its join code survive");
    let mut ada = server.client(&token).await;
    let resumed = subscribe(&mut ada, &room, Some((&epoch, 0))).await;
    assert_eq!(resumed["recovered"], true, "same epoch: the log was kept");
    let texts: Vec<&str> =
        resumed["publications"].as_array().unwrap().iter().map(|p| p["data"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts.len(), 30);
    assert_eq!(texts[29], "note 30");
    assert_eq!(resumed["publications"][0]["from"]["name"], "Ada");
    assert_eq!(ada.say(&room, "after the crash", None).await["result"]["offset"], 31);
    let hello = ada.request(json!({"op": "time"})).await;
    assert!(hello["result"].is_object());
    // Team membership survived too: Ada still talks in her team room (checked above) and not others.
    assert_eq!(error_code(&ada.say(&format!("team:{}", teams[1].0), "x", None).await), "forbidden");
}

#[tokio::test]
async fn presence_shows_who_is_here_with_join_and_leave_pushes() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let room = format!("team:{}", teams[0].0);
    let (mut ada, _) = server.participant("Ada", Some(&teams[0].0)).await;
    let reply = ada.request(json!({"op": "subscribe", "channel": room, "presence": true})).await;
    let present: Vec<&str> =
        reply["result"]["presence"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(present, vec!["Ada"]);

    let (mut bo, _) = server.participant("Bo", Some(&teams[0].0)).await;
    bo.request(json!({"op": "subscribe", "channel": room})).await;
    let join = ada.next_push().await;
    assert_eq!((join["type"].as_str(), join["action"].as_str()), (Some("presence"), Some("join")));
    assert_eq!(join["member"]["name"], "Bo");
    assert_eq!(join["member"]["role"], "participant");

    let listed = ada.request(json!({"op": "presence", "channel": room})).await;
    let names: HashSet<&str> =
        listed["result"]["members"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, HashSet::from(["Ada", "Bo"]));

    bo.close().await;
    let leave = ada.next_push().await;
    assert_eq!((leave["action"].as_str(), leave["member"]["name"].as_str()), (Some("leave"), Some("Bo")));

    let (mut outsider, _) = server.participant("Cy", Some(&teams[1].0)).await;
    assert_eq!(error_code(&outsider.request(json!({"op": "presence", "channel": room})).await), "forbidden");
}

#[tokio::test]
async fn a_connection_that_stops_answering_heartbeats_is_dropped() {
    let server = TestServer::start_with(&["--heartbeat-interval", "0.2", "--client-timeout", "1"]).await;
    let mut watcher = server.client(&server.organiser_token().await).await;
    watcher.request(json!({"op": "subscribe", "channel": "lobby", "presence": true})).await;
    let (mut silent, _) = server.participant("Sleepy phone", None).await;
    silent.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let join = watcher.next_push().await;
    assert_eq!(join["action"], "join");

    // The phone's socket stays open but nothing reads it, so it never answers a ping.
    let started = std::time::Instant::now();
    let leave = watcher.next_push().await;
    assert_eq!((leave["action"].as_str(), leave["member"]["name"].as_str()), (Some("leave"), Some("Sleepy phone")));
    assert!(started.elapsed() < Duration::from_secs(10));
    let closed = silent.closed().await;
    assert_eq!(closed.close.unwrap().code, 4010u16.into());

    // The watcher, which answers pings, is still here.
    assert!(watcher.request(json!({"op": "time"})).await["result"].is_object());
}

#[tokio::test]
async fn time_sync_answers_with_the_server_clock() {
    let server = TestServer::start().await;
    let mut client = Client::connect(server.port).await;
    let before = makeroom_server::clock::now_millis();
    let reply = client.request(json!({"op": "time"})).await;
    let after = makeroom_server::clock::now_millis();
    let server_time = reply["result"]["server_time"].as_i64().unwrap();
    // Same machine, same clock: the server's reading falls between ours.
    assert!(before <= server_time && server_time <= after, "{before} <= {server_time} <= {after}");
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    assert_eq!(server.http("GET", "/healthz", None, None).await, (200, json!({"status": "ok"})));
    assert_eq!(server.http("GET", "/readyz", None, None).await, (200, json!({"status": "ready"})));
}

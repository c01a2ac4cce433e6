//! Several instances on one real Redis: fan-out between them, shared offsets and state, and faults
//! done for real (Redis killed and restarted, an instance killed).

#![allow(clippy::unwrap_used)]

mod common;

use common::{CLUSTER_FLAGS, Client, TestRedis, TestServer, error_code, offsets};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The next presence push about someone other than `me` (in a cluster, one's own join comes back too).
async fn presence_about_others(client: &mut Client, me: &str) -> serde_json::Value {
    loop {
        let push = client.next_push().await;
        if push["type"] == "presence" && push["member"]["name"] != me {
            return push;
        }
    }
}

fn redis() -> Arc<Mutex<TestRedis>> {
    Arc::new(Mutex::new(TestRedis::start()))
}

#[tokio::test]
async fn a_message_published_on_one_instance_reaches_the_others_in_order_with_the_same_offsets() {
    let redis = redis();
    let a = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let b = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    assert_eq!(a.event_id, b.event_id, "one event, seen by both instances");

    // Someone who joined through A is known to B at once, even before B heard of it by pub/sub: a
    // proxy may send the join to one instance and the phone's next request to another.
    for n in 0..30 {
        let joined = a.join(&format!("Quick {n}"), None).await;
        let (status, body) =
            b.http("POST", "/api/token", None, Some(json!({"refresh_token": joined["refresh_token"]}))).await;
        assert_eq!(status, 200, "{body}");
        let mut phone = Client::connect(b.port).await;
        let hello = phone.request(json!({"op": "hello", "version": 1, "token": joined["token"]})).await;
        assert!(hello["result"].is_object(), "{hello}");
    }
    let joined = a.join("Ada", None).await;
    let mut ada_on_b = b.client(joined["token"].as_str().unwrap()).await;
    let mut watcher_a = a.client(&a.organiser_token().await).await;
    let mut watcher_b = b.client(&b.organiser_token().await).await;
    for watcher in [&mut watcher_a, &mut watcher_b] {
        watcher.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    }

    let mut tasks = Vec::new();
    for (server, name) in [(&a, "On A"), (&b, "On B"), (&a, "Also A")] {
        let (mut client, _) = server.participant(name, None).await;
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..40 {
                acked.push(
                    client.say("lobby", &format!("{name} {i}"), None).await["result"]["offset"].as_u64().unwrap(),
                );
            }
            acked
        }));
    }
    let mut acked: Vec<u64> = Vec::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    acked.sort_unstable();
    assert_eq!(acked, (1..=120).collect::<Vec<_>>(), "two instances never hand out one offset twice");
    let seen_a = watcher_a.publications("lobby", 120).await;
    let seen_b = watcher_b.publications("lobby", 120).await;
    assert_eq!(offsets(&seen_a), (1..=120).collect::<Vec<_>>());
    assert_eq!(offsets(&seen_b), offsets(&seen_a));
    let texts = |seen: &[serde_json::Value]| seen.iter().map(|p| p["data"]["text"].clone()).collect::<Vec<_>>();
    assert_eq!(texts(&seen_a), texts(&seen_b), "the same order everywhere");

    // Domain state too: a card added through B is on A's board.
    let teams = a.teams().await;
    let (mut maker, _) = b.participant("Maker", Some(&teams[0].0)).await;
    let reply =
        maker.command(&format!("board:{}", teams[0].0), json!({"type": "card.add", "title": "Made on B"})).await;
    assert!(reply["result"].is_object(), "{reply}");
    let snapshot = watcher_a
        .request(json!({"op": "subscribe", "channel": format!("board:{}", teams[0].0), "snapshot": true}))
        .await;
    let titles = snapshot["result"]["snapshot"]["state"]["columns"][0]["cards"].to_string();
    assert!(titles.contains("Made on B"), "{titles}");
    assert!(ada_on_b.say("lobby", "hello from B", None).await["result"].is_object());
}

#[tokio::test]
async fn while_redis_is_down_publishing_fails_retryably_and_afterwards_nothing_is_missed() {
    let redis = redis();
    let a = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let b = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let (mut speaker, _) = a.participant("Speaker", None).await;
    let mut listener = b.client(&b.organiser_token().await).await;
    let start = listener.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let epoch = start["result"]["epoch"].as_str().unwrap().to_string();
    for i in 1..=5 {
        speaker.say("lobby", &format!("before {i}"), None).await;
    }
    assert_eq!(offsets(&listener.publications("lobby", 5).await), vec![1, 2, 3, 4, 5]);

    redis.lock().unwrap().stop();
    let refused = speaker.say("lobby", "into the void", Some("k-void")).await;
    assert_eq!(error_code(&refused), "unavailable", "{refused}");
    assert!(refused["error"]["retry_after_ms"].as_u64().is_some(), "a retryable error, not a false acknowledgement");
    let (status, ready) = a.http("GET", "/readyz", None, None).await;
    assert_eq!(status, 503, "{ready}");

    redis.lock().unwrap().restart();
    // The instances reconnect by themselves; the retried message is stored once.
    let mut stored = None;
    for _ in 0..50 {
        let reply = speaker.say("lobby", "into the void", Some("k-void")).await;
        if reply["result"].is_object() {
            stored = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = stored.expect("publishing works again after Redis is back");
    assert_eq!(stored["result"]["offset"], 6);
    for i in 7..=10 {
        speaker.say("lobby", &format!("after {i}"), None).await;
    }
    // The listener on B gets everything after 5 exactly once, live or recovered from the log.
    let mut seen = offsets(&listener.publications("lobby", 5).await);
    seen.dedup();
    assert_eq!(seen, vec![6, 7, 8, 9, 10]);
    // Readiness comes from the store's background probe (every 500 ms), so it is back within a probe
    // or two of Redis answering again, not necessarily by the first publish that succeeds.
    let mut ready = 0;
    for _ in 0..30 {
        ready = a.http("GET", "/readyz", None, None).await.0;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200, "ready again once Redis answers");

    // And a client that was away the whole time recovers exactly from the same epoch (Redis kept it).
    let mut late = b.client(&b.organiser_token().await).await;
    let resumed =
        late.request(json!({"op": "subscribe", "channel": "lobby", "since": {"epoch": epoch, "offset": 5}})).await;
    assert_eq!(resumed["result"]["recovered"], true);
    assert_eq!(offsets(resumed["result"]["publications"].as_array().unwrap()), vec![6, 7, 8, 9, 10]);
}

#[tokio::test]
async fn when_an_instance_dies_its_clients_recover_exactly_on_another() {
    let redis = redis();
    let a = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let b = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let joined = a.join("Phone", None).await;
    let token = joined["token"].as_str().unwrap().to_string();
    let mut phone = a.client(&token).await;
    let start = phone.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let epoch = start["result"]["epoch"].as_str().unwrap().to_string();
    let (mut speaker, _) = b.participant("Speaker", None).await;
    for i in 1..=3 {
        speaker.say("lobby", &format!("m{i}"), None).await;
    }
    let last = *offsets(&phone.publications("lobby", 3).await).last().unwrap();

    drop(a); // SIGKILL: the instance is gone, mid-conversation.
    let closed = phone.closed().await;
    assert!(closed.close.is_none() || closed.closing.is_none(), "a crash says nothing");
    for i in 4..=8 {
        speaker.say("lobby", &format!("m{i}"), None).await;
    }
    let mut phone = Client::connect(b.port).await;
    let hello = phone.request(json!({"op": "hello", "version": 1, "token": token})).await;
    assert!(hello["result"].is_object(), "the same token works on any instance: {hello}");
    let resumed =
        phone.request(json!({"op": "subscribe", "channel": "lobby", "since": {"epoch": epoch, "offset": last}})).await;
    assert_eq!(resumed["result"]["recovered"], true);
    assert_eq!(offsets(resumed["result"]["publications"].as_array().unwrap()), vec![4, 5, 6, 7, 8]);
}

#[tokio::test]
async fn presence_spans_instances_and_a_dead_instance_people_leave_within_the_ttl() {
    let redis = redis();
    let args: Vec<&str> = CLUSTER_FLAGS.iter().copied().chain(["--presence-ttl", "1.5"]).collect();
    let a = TestServer::start_on_redis(&redis, &args).await;
    let b = TestServer::start_on_redis(&redis, &args).await;
    let c = TestServer::start_on_redis(&redis, &args).await;
    let mut watcher = a.client(&a.organiser_token().await).await;
    watcher.request(json!({"op": "subscribe", "channel": "lobby", "presence": true})).await;

    // Bo through B and then also through A: one join, and no leave until his last connection goes.
    let bo = a.join("Bo", None).await;
    let bo_token = bo["token"].as_str().unwrap();
    let mut bo_on_b = b.client(bo_token).await;
    bo_on_b.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let join = presence_about_others(&mut watcher, "Organiser").await;
    assert_eq!((join["action"].as_str(), join["member"]["name"].as_str()), (Some("join"), Some("Bo")));
    let mut bo_on_a = a.client(bo_token).await;
    bo_on_a.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    bo_on_b.close().await;
    while let Some(push) = watcher.maybe_push(Duration::from_millis(500)).await {
        assert_ne!(push["member"]["name"], "Bo", "Bo is still here through A: {push}");
    }
    let listed = watcher.request(json!({"op": "presence", "channel": "lobby"})).await;
    assert!(listed["result"]["members"].to_string().contains("Bo"), "{listed}");
    bo_on_a.close().await;
    let leave = presence_about_others(&mut watcher, "Organiser").await;
    assert_eq!((leave["action"].as_str(), leave["member"]["name"].as_str()), (Some("leave"), Some("Bo")));

    // Cy is on C when C dies: nobody says goodbye, and presence forgets Cy within the TTL.
    let (mut cy, _) = c.participant("Cy", None).await;
    cy.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let join = presence_about_others(&mut watcher, "Organiser").await;
    assert_eq!(join["member"]["name"], "Cy");
    let seen_on_b = b.client(&b.organiser_token().await).await;
    drop(c);
    let started = std::time::Instant::now();
    let leave = presence_about_others(&mut watcher, "Organiser").await;
    assert_eq!((leave["action"].as_str(), leave["member"]["name"].as_str()), (Some("leave"), Some("Cy")));
    assert!(started.elapsed() < Duration::from_secs(10));
    let listed = watcher.request(json!({"op": "presence", "channel": "lobby"})).await;
    assert!(!listed["result"]["members"].to_string().contains("Cy"), "{listed}");
    drop(seen_on_b);
}

/// HAProxy in front of the instances, configured like `deploy/haproxy.cfg` but on local ports.
struct TestProxy {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TestProxy {
    fn start(instances: &[u16]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/haproxy.cfg")).unwrap();
        let mut config: String = template
            .lines()
            .filter(|line| !line.trim_start().starts_with("server makeroom-"))
            .map(|line| line.replace("bind *:8080", &format!("bind 127.0.0.1:{port}")) + "\n")
            .collect();
        for (i, instance) in instances.iter().enumerate() {
            config.push_str(&format!("    server instance-{i} 127.0.0.1:{instance}\n"));
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = std::process::Command::new("haproxy")
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("haproxy runs (the test script installs it)");
        let deadline = std::time::Instant::now() + common::PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "haproxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        TestProxy { child, port, _dir: dir }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn through_the_proxy_clients_ride_out_an_instance_being_stopped() {
    let redis = redis();
    let a = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let b = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let proxy = TestProxy::start(&[a.port, b.port]);
    let joined = a.join("Phone", None).await;
    let token = joined["token"].as_str().unwrap().to_string();
    let speaker_token = a.join("Speaker", None).await["token"].as_str().unwrap().to_string();

    // Two phones through the proxy: leastconn puts one on each instance.
    let mut phones = Vec::new();
    for t in [&token, &speaker_token] {
        let mut phone = Client::connect(proxy.port).await;
        let hello = phone.request(json!({"op": "hello", "version": 1, "token": t})).await;
        assert!(hello["result"].is_object(), "{hello}");
        let start = phone.request(json!({"op": "subscribe", "channel": "lobby"})).await;
        assert!(start["result"].is_object());
        phones.push(phone);
    }
    let epoch = {
        let reply = phones[0].request(json!({"op": "history", "channel": "lobby"})).await;
        reply["result"]["epoch"].as_str().unwrap().to_string()
    };
    for i in 1..=3 {
        phones[1].say("lobby", &format!("m{i}"), Some(&format!("k{i}"))).await;
    }
    for phone in &mut phones {
        assert_eq!(offsets(&phone.publications("lobby", 3).await), vec![1, 2, 3]);
    }

    // Stop instance A with SIGTERM, as a rolling restart would: its phone is told to reconnect, the
    // other phone (on B) carries on.
    let pid = a.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut alive = Vec::new();
    let mut closed = Vec::new();
    for (i, mut phone) in phones.into_iter().enumerate() {
        match tokio::time::timeout(Duration::from_millis(1500), phone.next_frame()).await {
            Ok(Err(close)) => {
                assert_eq!(close.close.unwrap().code, 1001u16.into());
                closed.push(i);
            }
            Ok(Ok(frame)) => panic!("unexpected frame {frame}"),
            Err(_) => alive.push((i, phone)),
        }
    }
    assert_eq!((closed.len(), alive.len()), (1, 1), "one phone was on each instance");
    let (_, mut on_b) = alive.pop().unwrap();
    let tokens = [&token, &speaker_token];
    let moved_token = tokens[closed[0]];

    // The phone that was on A reconnects through the proxy (so lands on B) and recovers exactly.
    for i in 4..=8 {
        let reply = on_b.say("lobby", &format!("m{i}"), Some(&format!("k{i}"))).await;
        assert_eq!(reply["result"]["offset"], i, "{reply}");
    }
    let mut phone = Client::connect(proxy.port).await;
    let hello = phone.request(json!({"op": "hello", "version": 1, "token": moved_token})).await;
    assert!(hello["result"].is_object(), "{hello}");
    let resumed =
        phone.request(json!({"op": "subscribe", "channel": "lobby", "since": {"epoch": epoch, "offset": 3}})).await;
    assert_eq!(resumed["result"]["recovered"], true, "{resumed}");
    assert_eq!(offsets(resumed["result"]["publications"].as_array().unwrap()), vec![4, 5, 6, 7, 8]);
    assert_eq!(offsets(&on_b.publications("lobby", 5).await), vec![4, 5, 6, 7, 8], "the other phone never noticed");
}

/// A phone that keeps listening to `lobby` through the proxy: on any drop it reconnects and
/// resubscribes with `since`, as the web client does. Returns every offset it received, in order.
async fn listen(port: u16, token: String, until: u64) -> Vec<u64> {
    let mut received: Vec<u64> = Vec::new();
    let mut epoch: Option<String> = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while received.last().copied().unwrap_or(0) < until {
        assert!(std::time::Instant::now() < deadline, "a listener did not get everything in time: {received:?}");
        let Ok(Ok((socket, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut client = Client::from_socket(socket);
        let Some(hello) = client.try_request(json!({"op": "hello", "version": 1, "token": token})).await else {
            continue;
        };
        if !hello["result"].is_object() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if epoch.is_none() {
            let Some(history) = client.try_request(json!({"op": "history", "channel": "lobby", "limit": 1})).await
            else {
                continue;
            };
            epoch = history["result"]["epoch"].as_str().map(str::to_string);
        }
        let since = json!({"epoch": epoch, "offset": received.last().copied().unwrap_or(0)});
        let Some(reply) = client.try_request(json!({"op": "subscribe", "channel": "lobby", "since": since})).await
        else {
            continue;
        };
        let Some(result) = reply.get("result") else { continue };
        assert_eq!(result["recovered"], true, "{reply}");
        received.extend(offsets(result["publications"].as_array().map(Vec::as_slice).unwrap_or(&[])));
        while received.last().copied().unwrap_or(0) < until {
            match client.maybe_push(Duration::from_secs(5)).await {
                Some(frame) if frame["type"] == "pub" => received.push(frame["offset"].as_u64().unwrap()),
                Some(_) => {}
                None => break,
            }
        }
    }
    received
}

/// A phone that says `count` things through the proxy, retrying each with its key until acknowledged.
async fn speak(port: u16, token: String, name: &'static str, count: u64) -> Vec<u64> {
    let mut acknowledged = Vec::new();
    let mut client: Option<Client> = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut i = 1;
    while i <= count {
        assert!(std::time::Instant::now() < deadline, "{name} could not finish speaking");
        if client.is_none() {
            let Ok(Ok((socket, _))) = tokio::time::timeout(
                Duration::from_secs(2),
                tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")),
            )
            .await
            else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let mut fresh = Client::from_socket(socket);
            match fresh.try_request(json!({"op": "hello", "version": 1, "token": token})).await {
                Some(hello) if hello["result"].is_object() => client = Some(fresh),
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let Some(connected) = client.as_mut() else { continue };
        let request = json!({"op": "publish", "channel": "lobby", "data": {"text": format!("{name} {i}")}, "key": format!("{name}-{i}")});
        match connected.try_request(request).await {
            Some(reply) if reply["result"].is_object() => {
                acknowledged.push(reply["result"]["offset"].as_u64().unwrap());
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Some(reply) if error_code(&reply) == "unavailable" || error_code(&reply) == "rate_limited" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some(reply) => panic!("{name}: {reply}"),
            None => client = None,
        }
    }
    acknowledged
}

#[tokio::test]
async fn a_rolling_restart_of_every_instance_under_load_loses_and_doubles_nothing() {
    let redis = redis();
    let mut a = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let mut b = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let proxy = TestProxy::start(&[a.port, b.port]);
    const EACH: u64 = 120;
    let mut listeners = Vec::new();
    for n in 0..4 {
        let token = a.join(&format!("Listener {n}"), None).await["token"].as_str().unwrap().to_string();
        listeners.push(tokio::spawn(listen(proxy.port, token, 2 * EACH)));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut speakers = Vec::new();
    for name in ["north", "south"] {
        let token = a.join(name, None).await["token"].as_str().unwrap().to_string();
        speakers.push(tokio::spawn(speak(proxy.port, token, name, EACH)));
    }

    // Restart A, then B, while the phones talk and listen through the proxy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.graceful_restart().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    b.graceful_restart().await;

    let mut acknowledged: Vec<u64> = Vec::new();
    for speaker in speakers {
        acknowledged.extend(speaker.await.unwrap());
    }
    acknowledged.sort_unstable();
    assert_eq!(acknowledged, (1..=2 * EACH).collect::<Vec<_>>(), "every message stored once, offsets gap-free");
    for listener in listeners {
        let received = listener.await.unwrap();
        assert_eq!(
            received,
            (1..=2 * EACH).collect::<Vec<_>>(),
            "every listener got every message exactly once, in order"
        );
    }
}

#[tokio::test]
async fn a_rotated_join_code_and_closed_joining_hold_on_every_instance_and_references_differ() {
    let redis = redis();
    let a = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let b = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let old_code = a.join_code.clone();
    let organiser = a.organiser_token().await;
    let path = format!("/api/events/{}/join-code", a.event_id);
    let (status, rotated) = a.http("POST", &path, Some(&organiser), None).await;
    assert_eq!(status, 200, "{rotated}");
    let new_code = rotated["join_code"].as_str().unwrap().to_string();
    let join = |code: &str, name: &str| json!({"code": code, "name": name});

    // B hears of the change by pub/sub (or its position check): the old code soon finds nothing there.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = b.http("GET", &format!("/api/join/{old_code}"), None, None).await;
        if status == 404 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "B still takes the old code");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, joined) = b.http("POST", "/api/join", None, Some(join(&new_code, "Ada"))).await;
    assert_eq!(status, 200, "{joined}");
    let mut fresh = Client::connect(b.port).await;
    let hello = fresh.request(json!({"op": "hello", "version": 1, "token": b.organiser_token().await})).await;
    assert_eq!(hello["result"]["event"]["join_code"], new_code.as_str());

    // Closed on B, refused on A.
    let path = format!("/api/events/{}/joining", b.event_id);
    let (status, _) = b.http("POST", &path, Some(&organiser), Some(json!({"open": false}))).await;
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = a.http("POST", "/api/join", None, Some(join(&new_code, "Bo"))).await;
        if status == 403 {
            assert_eq!(error_code(&body), "forbidden");
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(std::time::Instant::now() < deadline, "A still lets people join");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The same mistake on the first request of the first connection of each instance: two references.
    let mut on_a = Client::connect(a.port).await;
    let mut on_b = Client::connect(b.port).await;
    let ask = json!({"op": "subscribe", "channel": "lobby"});
    let (ra, rb) = (on_a.request(ask.clone()).await, on_b.request(ask).await);
    let (ra, rb) = (ra["error"]["reference"].as_str().unwrap(), rb["error"]["reference"].as_str().unwrap());
    assert_ne!(ra, rb, "two instances never hand out the same reference");
}

#[tokio::test]
async fn through_haproxy_each_phone_address_has_its_own_join_budget() {
    let redis = redis();
    let trusted: Vec<&str> = CLUSTER_FLAGS.iter().copied().chain(["--trusted-proxies", "127.0.0.1"]).collect();
    let a = TestServer::start_on_redis(&redis, &trusted).await;
    let b = TestServer::start_on_redis(&redis, &trusted).await;
    let proxy = TestProxy::start(&[a.port, b.port]);
    // HAProxy (deploy/haproxy.cfg, `option forwardfor`) tells each instance who the phone is.
    let guesser = std::net::Ipv4Addr::new(127, 0, 0, 2);
    let mut refused = false;
    for n in 0..120 {
        let path = format!("/api/join/0{n:05}");
        let (status, body) = common::http_from(guesser, proxy.port, "GET", &path, None, None).await;
        if status == 429 {
            refused = true;
            break;
        }
        assert_eq!(status, 404, "{body}");
    }
    assert!(refused, "two instances, each with its own budget for the guesser, both ran out");
    let phone = std::net::Ipv4Addr::new(127, 0, 0, 3);
    let join = json!({"code": a.join_code, "name": "Ada"});
    let (status, body) = common::http_from(phone, proxy.port, "POST", "/api/join", None, Some(join)).await;
    assert_eq!(status, 200, "another phone behind the same proxy joins: {body}");
}

//! Redis failover for real: a primary and a replica (`replicaof`) started by the test, the primary
//! killed with SIGKILL, the replica promoted (`REPLICAOF NO ONE`), and the server's Redis address
//! moved to it, as a virtual address or a Sentinel-aware proxy would. The replica replicates through
//! a relay of the test's, which is cut for the writes that are to be lost (a partition between the
//! primary and its replica: the writes stay on the primary, which then dies). Also: how long `unavailable` takes
//! while Redis is down, and `/readyz` answering at once.

#![allow(clippy::unwrap_used)]

mod common;

use common::{CLUSTER_FLAGS, Client, PATIENCE, TestRedis, TestServer, error_code};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bound on `unavailable` (`REQUEST_BUDGET`, 2 s) with room for a busy 2-core machine.
const UNAVAILABLE_WITHIN: Duration = Duration::from_millis(2600);

/// One redis-server of the test's own (`common::TestRedis`), with what a failover test asks of it.
struct Node(TestRedis);

impl Node {
    fn start(replica_of: Option<u16>) -> Self {
        Node(TestRedis::start_replica_of(replica_of))
    }

    fn port(&self) -> u16 {
        self.0.port
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("redis-cli")
            .args(["-p", &self.port().to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn kill(&mut self) {
        self.0.stop();
    }

    /// Waits until this replica has everything its primary wrote.
    fn wait_caught_up(&self, primary: &Node) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let info = primary.cli(&["INFO", "replication"]);
            let field = |name: &str| {
                info.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string()).unwrap_or_default()
            };
            let written = field("master_repl_offset:");
            let replica = field("slave0:");
            let acked = replica.split(',').find_map(|p| p.strip_prefix("offset=").map(str::to_string));
            if replica.contains("state=online") && acked.as_deref() == Some(written.as_str()) {
                return;
            }
            assert!(Instant::now() < deadline, "the replica did not catch up: {info}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A TCP relay whose target can be moved (what a virtual IP or a Sentinel-aware proxy does in a
/// failover); moving it drops the connections it carried, and target 0 refuses every connection (a
/// partition). The server's one Redis address is one; the replica's link to its primary another.
struct Address {
    port: u16,
    target: Arc<AtomicU16>,
    carried: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    _accepting: tokio::task::JoinHandle<()>,
}

impl Address {
    async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(target));
        let carried: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (to, carrying) = (target.clone(), carried.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let port = to.load(Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                carrying.lock().unwrap().push(task.abort_handle());
            }
        });
        Address { port, target, carried, _accepting: accepting }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn move_to(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
        for task in self.carried.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// A primary with one replica, behind one address.
struct Pair {
    primary: Node,
    replica: Node,
    address: Address,
    replication: Address,
}

impl Pair {
    async fn start() -> Self {
        let primary = Node::start(None);
        let replication = Address::start(primary.port()).await;
        let replica = Node::start(Some(replication.port));
        primary.cli(&["SET", "warm", "1"]);
        replica.wait_caught_up(&primary);
        let address = Address::start(primary.port()).await;
        Pair { primary, replica, address, replication }
    }

    /// The replica is cut off from its primary: what the primary takes from now on it keeps alone.
    fn partition_replica(&self) {
        self.replication.move_to(0);
    }

    /// The primary dies; the replica is promoted and the address moved to it.
    fn fail_over(&mut self) {
        self.primary.kill();
        assert_eq!(self.replica.cli(&["REPLICAOF", "NO", "ONE"]), "OK");
        self.address.move_to(self.replica.port());
    }
}

async fn server_on(address: &Address, extra: &[&str]) -> TestServer {
    let url = address.url();
    let mut args: Vec<&str> = CLUSTER_FLAGS.to_vec();
    args.extend(["--redis", &url]);
    args.extend(extra);
    TestServer::start_with(&args).await
}

/// Sends `request` until it is not refused as `unavailable` (Redis coming back); returns the reply.
async fn until_available(client: &mut Client, request: Value) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = client.request(request.clone()).await;
        if error_code(&reply) != "unavailable" {
            return reply;
        }
        assert!(Instant::now() < deadline, "still unavailable: {reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn say(text: &str, key: Option<&str>) -> Value {
    let mut request = json!({"op": "publish", "channel": "lobby", "data": {"text": text}});
    if let Some(key) = key {
        request["key"] = json!(key);
    }
    request
}

fn add_card(board: &str, title: &str, key: Option<&str>) -> Value {
    let mut request = json!({"op": "command", "channel": board, "command": {"type": "card.add", "title": title}});
    if let Some(key) = key {
        request["key"] = json!(key);
    }
    request
}

/// The lobby's history as (offset, text), and its epoch.
async fn lobby(client: &mut Client) -> (String, Vec<(u64, String)>) {
    let history = until_available(client, json!({"op": "history", "channel": "lobby", "limit": 500})).await;
    let entries = history["result"]["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["offset"].as_u64().unwrap(), p["data"]["text"].as_str().unwrap().to_string()))
        .collect();
    (history["result"]["epoch"].as_str().unwrap().to_string(), entries)
}

/// The card titles on a board, as a fresh subscriber's snapshot shows them.
async fn card_titles(client: &mut Client, board: &str) -> String {
    let reply = until_available(client, json!({"op": "subscribe", "channel": board, "snapshot": true})).await;
    let titles = reply["result"]["snapshot"]["state"]["columns"].to_string();
    client.request(json!({"op": "unsubscribe", "channel": board})).await;
    titles
}

async fn wait_for_metric(server: &TestServer, sample: &str, at_least: f64) {
    let deadline = Instant::now() + PATIENCE;
    while server.metric(sample).await < at_least {
        assert!(Instant::now() < deadline, "{sample} stayed below {at_least}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Several threads: the relays forward while the test blocks on redis-cli.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_waiting_for_replicas_a_failover_loses_acknowledged_writes_but_is_detected_and_no_offset_is_reused() {
    let mut pair = Pair::start().await;
    let server = server_on(&pair.address, &[]).await;
    let team = server.teams().await[0].0.clone();
    let board = format!("board:{team}");
    let (mut maker, _) = server.participant("Maker", Some(&team)).await;
    let mut watcher = server.client(&server.organiser_token().await).await;
    let subscribed = watcher.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let old_epoch = subscribed["result"]["epoch"].as_str().unwrap().to_string();
    for i in 1..=3 {
        assert_eq!(maker.say("lobby", &format!("kept {i}"), None).await["result"]["offset"], i);
    }
    assert!(maker.request(add_card(&board, "kept card", None)).await["result"].is_object());
    pair.replica.wait_caught_up(&pair.primary);

    // The replica is cut off; these are acknowledged by the primary alone.
    pair.partition_replica();
    for i in 4..=5 {
        let reply = maker.say("lobby", &format!("lost {i}"), None).await;
        assert_eq!(
            (reply["result"]["offset"].as_u64(), reply["result"]["epoch"].as_str()),
            (Some(i), Some(&*old_epoch))
        );
    }
    assert!(maker.request(add_card(&board, "lost card", None)).await["result"].is_object());
    assert_eq!(watcher.publications("lobby", 5).await.len(), 5);

    pair.fail_over();

    // The instance notices by itself (its position check finds the lobby's top below what it delivered).
    wait_for_metric(&server, "makeroom_redis_data_losses_total", 1.0).await;

    // The next message is not given offset 4 of the old epoch, which watchers already hold as "lost 4".
    let after = until_available(&mut maker, say("after the failover", None)).await;
    let new_epoch = after["result"]["epoch"].as_str().unwrap().to_string();
    assert_ne!(new_epoch, old_epoch, "{after}");
    assert_eq!(after["result"]["offset"], 4);

    // A phone that saw offset 5 of the old epoch is told to reload rather than given offsets that now
    // mean something else.
    let mut phone = server.client(&server.organiser_token().await).await;
    let resumed = until_available(
        &mut phone,
        json!({"op": "subscribe", "channel": "lobby", "since": {"epoch": old_epoch, "offset": 5}}),
    )
    .await;
    assert_eq!(
        (resumed["result"]["recovered"].as_bool(), resumed["result"]["epoch"].as_str()),
        (Some(false), Some(&*new_epoch))
    );

    // What Redis kept is there, in the new epoch at the same offsets; the two acknowledged messages
    // the replica never got are lost (the guarantee this configuration does not give).
    let (epoch, history) = lobby(&mut phone).await;
    assert_eq!(epoch, new_epoch);
    let expected: Vec<(u64, String)> =
        [(1, "kept 1"), (2, "kept 2"), (3, "kept 3"), (4, "after the failover")].map(|(o, t)| (o, t.into())).into();
    assert_eq!(history, expected);

    // The board's state was read again: the lost card is gone from it, and commands work (a stale
    // state would expect an offset Redis no longer has and conflict for ever).
    let added = until_available(&mut maker, add_card(&board, "card after", None)).await;
    assert!(added["result"].is_object(), "{added}");
    let titles = card_titles(&mut phone, &board).await;
    assert!(titles.contains("kept card") && titles.contains("card after"), "{titles}");
    assert!(!titles.contains("lost card"), "the board shows what Redis holds: {titles}");
    let deadline = Instant::now() + PATIENCE;
    while server.http("GET", "/readyz", None, None).await.0 != 200 {
        assert!(Instant::now() < deadline, "/readyz never came back after the failover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// Several threads: the relays forward while the test blocks on redis-cli.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_one_replica_every_acknowledged_message_survives_the_failover() {
    let mut pair = Pair::start().await;
    let server = server_on(&pair.address, &["--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "1000"]).await;
    let team = server.teams().await[0].0.clone();
    let board = format!("board:{team}");
    let (mut maker, _) = server.participant("Maker", Some(&team)).await;
    let mut watcher = server.client(&server.organiser_token().await).await;
    watcher.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    for i in 1..=3 {
        assert_eq!(maker.say("lobby", &format!("acked {i}"), Some(&format!("k{i}"))).await["result"]["offset"], i);
    }
    assert!(maker.request(add_card(&board, "acked card", Some("card-1"))).await["result"].is_object());

    // With the replica cut off nothing is acknowledged: the primary may store it, but the client is
    // told `unavailable`, within the bound.
    pair.partition_replica();
    let started = Instant::now();
    let refused = maker.request(say("unconfirmed", Some("k4"))).await;
    assert_eq!(error_code(&refused), "unavailable", "{refused}");
    assert!(refused["error"]["retry_after_ms"].is_u64());
    eprintln!("publish with the replica cut off: unavailable after {:?}", started.elapsed());
    assert!(started.elapsed() < UNAVAILABLE_WITHIN, "publish refused after {:?}", started.elapsed());
    let started = Instant::now();
    let refused = maker.request(add_card(&board, "unconfirmed card", Some("card-2"))).await;
    assert_eq!(error_code(&refused), "unavailable", "{refused}");
    eprintln!("command with the replica cut off: unavailable after {:?}", started.elapsed());
    assert!(started.elapsed() < UNAVAILABLE_WITHIN, "command refused after {:?}", started.elapsed());
    assert!(server.metric("makeroom_redis_replica_waits_failed_total").await >= 2.0);

    pair.fail_over();
    // Until the new primary has a replica of its own, nothing is acknowledged.
    let refused = maker.request(say("unconfirmed", Some("k4"))).await;
    assert_eq!(error_code(&refused), "unavailable", "{refused}");
    let spare = Node::start(Some(pair.replica.port()));
    spare.wait_caught_up(&pair.replica);

    // The client retries with its keys, as it does after any `unavailable`: each is stored once.
    let retried = until_available(&mut maker, say("unconfirmed", Some("k4"))).await;
    assert!(retried["result"].is_object(), "{retried}");
    let again = until_available(&mut maker, say("unconfirmed", Some("k4"))).await;
    assert_eq!(again["result"]["duplicate"], true, "{again}");
    assert_eq!(again["result"]["offset"], retried["result"]["offset"]);
    let card = until_available(&mut maker, add_card(&board, "unconfirmed card", Some("card-2"))).await;
    assert!(card["result"].is_object(), "{card}");

    // Every acknowledged message is in history at its acknowledged offset, once.
    let (_, history) = lobby(&mut maker).await;
    let texts: Vec<&str> = history.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["acked 1", "acked 2", "acked 3", "unconfirmed"], "{history:?}");
    assert_eq!(history[..3], [(1, "acked 1".to_string()), (2, "acked 2".into()), (3, "acked 3".into())]);
    let titles = card_titles(&mut maker, &board).await;
    assert!(titles.contains("acked card"), "{titles}");
    assert_eq!(titles.matches("unconfirmed card").count(), 1, "{titles}");
}

#[tokio::test]
async fn while_redis_is_down_commands_are_refused_within_the_bound_and_readyz_answers_at_once() {
    let redis = Arc::new(Mutex::new(TestRedis::start()));
    let server = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let teams = server.teams().await;
    let (mut maker, _) = server.participant("Maker", Some(&teams[0].0)).await;
    let board = format!("board:{}", teams[0].0);
    assert!(maker.command(&board, json!({"type": "card.add", "title": "first"})).await["result"].is_object());
    let mut organiser = server.client(&server.organiser_token().await).await;
    assert_eq!(server.http("GET", "/readyz", None, None).await.0, 200);

    redis.lock().unwrap().stop();
    // A command on a loaded board, one on a board not loaded yet (several Redis operations: the
    // board's subscription, its top, its log, then the append), and a publish: each answered
    // `unavailable` within one budget.
    let other_board = format!("board:{}", teams[1].0);
    for (by_organiser, request) in [
        (false, add_card(&board, "while down", Some("down-1"))),
        (true, add_card(&other_board, "while down", Some("down-2"))),
        (false, say("while down", Some("down-3"))),
    ] {
        let client = if by_organiser { &mut organiser } else { &mut maker };
        let started = Instant::now();
        let reply = client.request(request.clone()).await;
        let took = started.elapsed();
        assert_eq!(error_code(&reply), "unavailable", "{request} -> {reply}");
        eprintln!("{} with Redis down: unavailable after {took:?}", request["channel"]);
        assert!(took < UNAVAILABLE_WITHIN, "{request} answered after {took:?}");
    }

    // Readiness turns within a probe or two, and every call answers from what is known, at once.
    let deadline = Instant::now() + PATIENCE;
    while server.http("GET", "/readyz", None, None).await.0 != 503 {
        assert!(Instant::now() < deadline, "/readyz never reported Redis down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..10 {
        let started = Instant::now();
        let (status, body) = server.http("GET", "/readyz", None, None).await;
        let took = started.elapsed();
        assert_eq!((status, body["status"].as_str()), (503, Some("not_ready")), "{body}");
        eprintln!("/readyz with Redis down: {status} after {took:?}");
        assert!(took < Duration::from_millis(500), "/readyz took {took:?} while Redis was down");
    }

    redis.lock().unwrap().restart();
    let deadline = Instant::now() + PATIENCE;
    while server.http("GET", "/readyz", None, None).await.0 != 200 {
        assert!(Instant::now() < deadline, "/readyz never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let retried = until_available(&mut maker, add_card(&board, "while down", Some("down-1"))).await;
    assert!(retried["result"].is_object(), "{retried}");
}

#[tokio::test]
async fn a_redis_that_lost_everything_is_noticed_and_the_stale_state_is_not_served() {
    let redis = Arc::new(Mutex::new(TestRedis::start()));
    let server = TestServer::start_on_redis(&redis, CLUSTER_FLAGS).await;
    let (status, _) = server.http("GET", &format!("/api/join/{}", server.join_code), None, None).await;
    assert_eq!(status, 200);
    let token = server.organiser_token().await;
    let mut phone = server.client(&token).await;
    phone.request(json!({"op": "subscribe", "channel": "lobby"})).await;

    // Everything goes (as a restart without persistence, or another Redis at the address, would do).
    let port = redis.lock().unwrap().port.to_string();
    let flushed = std::process::Command::new("redis-cli").args(["-p", &port, "FLUSHALL"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&flushed.stdout).trim(), "OK");

    // The run marker is gone: every connection is told to reconnect, and the event that Redis no
    // longer holds is no longer served from memory.
    let closed = phone.closed().await;
    assert_eq!(closed.close.map(|c| u16::from(c.code)), Some(1001));
    wait_for_metric(&server, "makeroom_redis_data_losses_total", 1.0).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = server.http("GET", &format!("/api/join/{}", server.join_code), None, None).await;
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the lost event is still served: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut again = Client::connect(server.port).await;
    let hello = again.request(json!({"op": "hello", "version": 1, "token": token})).await;
    assert_eq!(error_code(&hello), "unauthorized", "{hello}");
}

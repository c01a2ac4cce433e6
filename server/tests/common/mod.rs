//! The one test harness: starts the real `makeroom` binary on a free port with its own data folder,
//! and talks to it over real sockets (a tiny HTTP client and tokio-tungstenite WebSockets).
//! Server logs go to the test's stderr only when `TEST_LOG` is set.

#![allow(dead_code, clippy::unwrap_used)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// Every server the tests start signs with this secret, so tests can mint odd tokens themselves.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// How long a test waits for something that should happen promptly before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A real redis-server of the test's own, on a free port, with its data in a temp folder. Append-only
/// file with fsync on every write: the configuration under which Makeroom's acknowledgements are durable.
pub struct TestRedis {
    child: Option<std::process::Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// The primary's port, for a replica (`--replicaof`).
    replica_of: Option<u16>,
}

/// Request limits lifted for tests that publish in bursts, and a quick position check against Redis.
pub const CLUSTER_FLAGS: &[&str] = &[
    "--requests-per-second",
    "500",
    "--request-burst",
    "500",
    "--participant-requests-per-second",
    "500",
    "--participant-request-burst",
    "500",
    "--position-check",
    "0.5",
];

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestRedis {
    pub fn start() -> Self {
        Self::start_replica_of(None)
    }

    /// A redis-server that replicates the one on `primary` (when given) from its first start.
    pub fn start_replica_of(primary: Option<u16>) -> Self {
        let mut redis =
            TestRedis { child: None, port: free_port(), dir: tempfile::tempdir().unwrap(), replica_of: primary };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again (after `stop`) on the same port and data.
    pub fn restart(&mut self) {
        let mut command = std::process::Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            // A replica's first sync at once rather than after Redis's default 5 s wait.
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--appendfsync", "always", "--dir"])
            .arg(self.dir.path());
        if let Some(primary) = self.replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (the test script installs it)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it outright, as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the suite runs against Redis (`MAKEROOM_TEST_BACKEND=redis`) rather than the embedded store.
pub fn redis_backend() -> bool {
    std::env::var("MAKEROOM_TEST_BACKEND").is_ok_and(|b| b == "redis")
}

pub struct TestServer {
    child: Child,
    /// The server's own Redis when the suite runs against Redis.
    pub redis: Option<std::sync::Arc<std::sync::Mutex<TestRedis>>>,
    pub port: u16,
    pub data: PathBuf,
    _data_dir: Option<tempfile::TempDir>,
    pub args: Vec<String>,
    pub join_code: String,
    pub event_id: String,
    pub organiser_refresh: String,
    pub display_refresh: String,
}

fn fragment_token(link: &str) -> String {
    let fragment = link.split_once("#refresh=").map(|(_, rest)| rest).unwrap_or_default();
    fragment.split('&').next().unwrap_or_default().to_string()
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let redis = redis_backend().then(|| std::sync::Arc::new(std::sync::Mutex::new(TestRedis::start())));
        let mut server = Self::spawn(&data, &args, redis.clone()).await;
        server._data_dir = Some(dir);
        server
    }

    /// A server on an existing data folder (which the caller keeps).
    pub async fn start_in(data: &Path) -> Self {
        Self::spawn(data, &[], None).await
    }

    /// Another instance on the same Redis (cluster mode).
    pub async fn start_on_redis(redis: &std::sync::Arc<std::sync::Mutex<TestRedis>>, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut server = Self::spawn(dir.path(), &args, Some(redis.clone())).await;
        server._data_dir = Some(dir);
        server
    }

    /// Waits for the server process to exit.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().await.unwrap()
    }

    async fn spawn(data: &Path, args: &[String], redis: Option<std::sync::Arc<std::sync::Mutex<TestRedis>>>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_makeroom"));
        if let Some(redis) = &redis {
            command.env("MAKEROOM_REDIS_URL", redis.lock().unwrap().url());
        }
        command.arg("serve");
        if !args.iter().any(|a| a == "--bind") {
            command.args(["--bind", "127.0.0.1:0"]);
        }
        command
            .arg("--data")
            .arg(data)
            .args(args)
            .env("MAKEROOM_JWT_SECRET", SECRET)
            .env("MAKEROOM_LOG", std::env::var("TEST_LOG").map(|_| "debug").unwrap_or("warn"))
            .stdout(Stdio::piped())
            .stderr(if std::env::var("TEST_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the makeroom binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut port = 0;
        let (mut join_code, mut event_id, mut organiser, mut display) =
            (String::new(), String::new(), String::new(), String::new());
        let read = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.strip_prefix("Makeroom is listening on http://127.0.0.1:") {
                    port = rest.split_whitespace().next().unwrap().parse().unwrap();
                } else if line.starts_with("Event ") && event_id.is_empty() {
                    event_id = line.rsplit_once('(').unwrap().1.trim_end_matches(')').to_string();
                } else if let Some(link) = line.trim().strip_prefix("organiser: ") {
                    if organiser.is_empty() {
                        organiser = fragment_token(link);
                    }
                } else if let Some(link) = line.trim().strip_prefix("display:") {
                    if display.is_empty() {
                        display = fragment_token(link.trim());
                    }
                } else if let Some(rest) = line.trim().strip_prefix("join code: ") {
                    if join_code.is_empty() {
                        join_code = rest.split_whitespace().next().unwrap().to_string();
                    }
                } else if line.starts_with("Press Ctrl-C") {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read).await.expect("the server starts within 30 s");
        assert!(port > 0, "the server printed its port");
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        TestServer {
            child,
            redis,
            port,
            data: data.to_path_buf(),
            _data_dir: None,
            args: args.to_vec(),
            join_code,
            event_id,
            organiser_refresh: organiser,
            display_refresh: display,
        }
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and starts it again on the same data.
    pub async fn crash_and_restart(&mut self) {
        self.child.kill().await.unwrap();
        let dir = self._data_dir.take();
        let fresh = Self::spawn(&self.data, &self.args, self.redis.clone()).await;
        let old = std::mem::replace(self, fresh);
        drop(old);
        self._data_dir = dir;
    }

    /// Stops the server with SIGTERM (as a rolling restart does), waits for it to exit, and starts it
    /// again on the same port, data and Redis.
    pub async fn graceful_restart(&mut self) {
        let pid = self.pid().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        let _ = tokio::time::timeout(PATIENCE, self.child.wait()).await;
        let mut args = self.args.clone();
        if !args.iter().any(|a| a == "--bind") {
            args.extend(["--bind".to_string(), format!("127.0.0.1:{}", self.port)]);
        }
        let dir = self._data_dir.take();
        let fresh = Self::spawn(&self.data, &args, self.redis.clone()).await;
        let old = std::mem::replace(self, fresh);
        drop(old);
        self._data_dir = dir;
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    pub async fn http(&self, method: &str, path: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
        http(self.port, method, path, bearer, body).await
    }

    /// `http` from another loopback address, which the server counts as another client address.
    pub async fn http_from(
        &self,
        source: std::net::Ipv4Addr,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        http_from(source, self.port, method, path, bearer, body).await
    }

    /// The value of one sample line of `/metrics`, such as `makeroom_api_failed_lookups_total`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let (status, text) = self.http("GET", "/metrics", None, None).await;
        assert_eq!(status, 200);
        let text = text.as_str().unwrap().to_string();
        text.lines()
            .find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {sample} in /metrics:\n{text}"))
            .parse()
            .unwrap()
    }

    /// Joins the event as a new participant; returns the join response.
    pub async fn join(&self, name: &str, team: Option<&str>) -> Value {
        let (status, body) = self
            .http(
                "POST",
                "/api/join",
                None,
                Some(json!({"code": self.join_code, "name": name, "skills": ["testing"], "team": team})),
            )
            .await;
        assert_eq!(status, 200, "join failed: {body}");
        body
    }

    /// The demo event's teams as (id, name), in the order the server lists them.
    pub async fn teams(&self) -> Vec<(String, String)> {
        let (status, body) = self.http("GET", &format!("/api/join/{}", self.join_code), None, None).await;
        assert_eq!(status, 200, "{body}");
        body["teams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), t["name"].as_str().unwrap().to_string()))
            .collect()
    }

    pub async fn access_token(&self, refresh_token: &str) -> String {
        let (status, body) =
            self.http("POST", "/api/token", None, Some(json!({ "refresh_token": refresh_token }))).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn organiser_token(&self) -> String {
        self.access_token(&self.organiser_refresh).await
    }

    pub async fn display_token(&self) -> String {
        self.access_token(&self.display_refresh).await
    }

    /// A connected client that has said hello with `token`.
    pub async fn client(&self, token: &str) -> Client {
        let mut client = Client::connect(self.port).await;
        let reply = client.request(json!({"op": "hello", "version": 1, "token": token})).await;
        assert!(reply.get("result").is_some(), "hello failed: {reply}");
        client
    }

    /// A participant who joined `team` and is connected.
    pub async fn participant(&self, name: &str, team: Option<&str>) -> (Client, Value) {
        let joined = self.join(name, team).await;
        let client = self.client(joined["token"].as_str().unwrap()).await;
        (client, joined)
    }
}

/// A minimal HTTP/1.1 client: one request per connection, JSON in and out.
pub async fn http(port: u16, method: &str, path: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    http_over(stream, method, path, bearer, &[], body).await
}

/// `http` from another address of the loopback range (`127.0.0.2`, ...): the server sees another
/// client address, as it would another venue.
pub async fn http_from(
    source: std::net::Ipv4Addr,
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    http_over(stream, method, path, bearer, &[], body).await
}

/// `http_from` with more request headers (such as a proxy's `X-Forwarded-For`).
pub async fn http_from_with_headers(
    source: std::net::Ipv4Addr,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    http_over(stream, method, path, None, headers, body).await
}

async fn http_over(
    mut stream: TcpStream,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response);
    let status: u16 = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let text =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// What `http_bytes` got back: the status, the headers (names in lower case) and the body as bytes.
pub struct BytesResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl BytesResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (an error reply), or null.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 request with a body of raw bytes (a photo), and the answer's bytes as they came.
pub async fn http_bytes(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> BytesResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some((content_type, bytes)) = body {
        request.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", bytes.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    if let Some((_, body)) = body {
        bytes.extend_from_slice(body);
    }
    // The server may answer (413) before it has read the whole body, and close: that is not a failure.
    let _ = stream.write_all(&bytes).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response)).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|line| line.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    BytesResponse { status, headers, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// What ended a connection, as the client saw it.
#[derive(Debug)]
pub struct Closed {
    /// The `closing` frame the server sent before closing, if any.
    pub closing: Option<Value>,
    pub close: Option<CloseFrame>,
}

pub struct Client {
    socket: Socket,
    next_id: u64,
    /// Pushes that arrived while waiting for a reply.
    pushes: VecDeque<Value>,
}

impl Client {
    pub async fn connect(port: u16) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await.unwrap();
        Client { socket, next_id: 1, pushes: VecDeque::new() }
    }

    pub fn from_socket(socket: Socket) -> Self {
        Client { socket, next_id: 1, pushes: VecDeque::new() }
    }

    /// Like `request`, but `None` if the connection closes or stalls first (for clients that reconnect).
    pub async fn try_request(&mut self, mut request: Value) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        self.socket.send(Message::text(request.to_string())).await.ok()?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.next_frame()).await.ok()?.ok()?;
            if frame["type"] == "reply" && frame["id"] == json!(id) {
                return Some(frame);
            }
            self.pushes.push_back(frame);
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.socket.send(Message::text(text.into())).await.unwrap();
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.socket.send(Message::binary(bytes)).await.unwrap();
    }

    /// Sends a request (an `id` is added) and waits for its reply, keeping pushes for later.
    pub async fn request(&mut self, mut request: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        self.send_text(request.to_string()).await;
        self.reply_to(id).await
    }

    pub async fn reply_to(&mut self, id: u64) -> Value {
        loop {
            let frame = self
                .next_frame()
                .await
                .unwrap_or_else(|closed| panic!("closed while waiting for reply {id}: {closed:?}"));
            if frame["type"] == "reply" && frame["id"] == json!(id) {
                return frame;
            }
            self.pushes.push_back(frame);
        }
    }

    /// The next frame that is not a reply to an earlier request.
    pub async fn next_push(&mut self) -> Value {
        if let Some(frame) = self.pushes.pop_front() {
            return frame;
        }
        self.next_frame().await.unwrap_or_else(|closed| panic!("closed while waiting for a push: {closed:?}"))
    }

    /// The next push, or `None` if none comes within `wait`.
    pub async fn maybe_push(&mut self, wait: Duration) -> Option<Value> {
        if let Some(frame) = self.pushes.pop_front() {
            return Some(frame);
        }
        tokio::time::timeout(wait, self.next_frame()).await.ok().and_then(Result::ok)
    }

    /// Reads the next JSON text frame; answers pings (as browsers do) and reports a close.
    pub async fn next_frame(&mut self) -> Result<Value, Closed> {
        let mut closing = None;
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no frame within {PATIENCE:?}"));
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    if frame["type"] == "closing" {
                        closing = Some(frame);
                        continue;
                    }
                    return Ok(frame);
                }
                Some(Ok(Message::Close(close))) => return Err(Closed { closing, close }),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Err(Closed { closing, close: None });
                }
            }
        }
    }

    /// Waits until the server closes the connection, skipping other frames.
    pub async fn closed(&mut self) -> Closed {
        loop {
            if let Err(closed) = self.next_frame().await {
                return closed;
            }
        }
    }

    /// `publish` on a channel with a chat message; returns the reply.
    pub async fn say(&mut self, channel: &str, text: &str, key: Option<&str>) -> Value {
        let mut request = json!({"op": "publish", "channel": channel, "data": {"text": text}});
        if let Some(key) = key {
            request["key"] = json!(key);
        }
        self.request(request).await
    }

    /// A domain `command` on a state channel; returns the reply.
    pub async fn command(&mut self, channel: &str, command: Value) -> Value {
        self.request(json!({"op": "command", "channel": channel, "command": command})).await
    }

    /// Posts an announcement (organisers); returns the reply.
    pub async fn announce(&mut self, text: &str, priority: &str) -> Value {
        self.command("announcements", json!({"type": "announcement.post", "text": text, "priority": priority})).await
    }

    /// Collects `count` publications of `channel`, skipping other pushes.
    pub async fn publications(&mut self, channel: &str, count: usize) -> Vec<Value> {
        let mut got = Vec::new();
        while got.len() < count {
            let push = self.next_push().await;
            if push["type"] == "pub" && push["channel"] == channel {
                got.push(push);
            }
        }
        got
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The `offset` field of every frame in `frames`.
pub fn offsets(frames: &[Value]) -> Vec<u64> {
    frames.iter().map(|f| f["offset"].as_u64().unwrap()).collect()
}

/// The error code of a reply, or "" if it succeeded.
pub fn error_code(reply: &Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or("")
}

//! One load-generator connection and the two wire protocols it speaks: Makeroom's JSON protocol
//! (frames from `makeroom-protocol`) and Socket.IO v5 over Engine.IO v4's WebSocket transport, for the
//! peer. Both carry the same test payload, so the same accounting serves both.

use anyhow::{Context as _, Result, bail};
use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, StreamExt};
use makeroom_protocol::{
    ClientFrame, Command, DomainCommand, Hello, PROTOCOL_VERSION, Position, Publish, Reply, Request, Subscribe,
};
use serde_json::value::RawValue;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws = WebSocketStream<LargeReads>;

/// A received text frame: the bytes tungstenite read, shared rather than copied.
pub type Text = tokio_tungstenite::tungstenite::Utf8Bytes;

/// How long the setup steps of a connection (connect, handshake, hello, subscribe) may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How much one read from a connection's socket may take, in bytes, unless set otherwise.
pub const DEFAULT_READ_BUFFER: usize = 64 * 1024;

/// tungstenite's own read buffer. tungstenite 0.30 zero-fills this much before every read, even one
/// that finds nothing, so it stays small; it reads from [`LargeReads`]' buffer, not the socket.
const TUNGSTENITE_READ_BUFFER: usize = 4096;

/// The socket read size of every connection opened from now on.
static READ_BUFFER: AtomicUsize = AtomicUsize::new(DEFAULT_READ_BUFFER);

/// Sets the socket read size of the connections opened from now on (at least 4 KiB).
pub fn set_read_buffer(bytes: usize) {
    READ_BUFFER.store(bytes.max(4096), Ordering::Relaxed);
}

/// A socket read in large chunks into spare capacity (nothing zero-filled): whatever piled up on a
/// connection costs one `recv`, and tungstenite's small reads are served from memory.
pub struct LargeReads {
    stream: TcpStream,
    buffer: BytesMut,
    chunk: usize,
}

impl LargeReads {
    fn new(stream: TcpStream, chunk: usize) -> Self {
        LargeReads { stream, buffer: BytesMut::new(), chunk }
    }
}

impl AsyncRead for LargeReads {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buffer.is_empty() {
            // Empty: the whole allocation is free again, from its start.
            this.buffer.clear();
            this.buffer.reserve(this.chunk);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.stream), cx, &mut this.buffer) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                // End of stream: an empty read says so.
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(_)) => {}
            }
        }
        let n = this.buffer.len().min(out.remaining());
        out.put_slice(&this.buffer[..n]);
        this.buffer.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for LargeReads {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Makeroom,
    Socketio,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Makeroom => "makeroom",
            Proto::Socketio => "socketio",
        }
    }
}

/// The source address of connection `index` when spreading over `sources` loopback addresses
/// (127.0.0.1, 127.0.0.2, ...): each source address has its own ~28k ephemeral ports.
pub fn source_addr(index: usize, sources: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (index % sources.max(1) as usize) as u8)
}

/// A connected, not yet authenticated connection.
pub struct Conn {
    pub proto: Proto,
    ws: Ws,
}

/// What arrived on a connection, classified cheaply (publications are not parsed in full).
#[derive(Debug)]
pub enum Incoming {
    /// A live publication; read it with [`marker`], [`offset`] and [`channel_of`].
    Pub(Text),
    Reply(ReplyFrame),
    /// The server is closing this connection and said why (`closing` push).
    Closing(Text),
    Other,
}

#[derive(Debug)]
pub struct ReplyFrame {
    pub id: u64,
    /// The raw JSON result, or the error as `code: message`.
    pub result: Result<Box<RawValue>, String>,
    /// With an error: how long the server asks the client to wait before trying again.
    pub retry_after_ms: Option<u64>,
}

impl ReplyFrame {
    /// The error's code (`unavailable`, `rate_limited`, ...), if the reply is an error.
    pub fn error_code(&self) -> Option<&str> {
        self.result.as_ref().err().map(|err| err.split(':').next().unwrap_or_default())
    }
}

impl Conn {
    pub async fn open(proto: Proto, port: u16, source: Ipv4Addr) -> Result<Self> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = socket.connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        stream.set_nodelay(true)?;
        let path = match proto {
            Proto::Makeroom => "/ws",
            Proto::Socketio => "/socket.io/?EIO=4&transport=websocket",
        };
        let config = WebSocketConfig::default().read_buffer_size(TUNGSTENITE_READ_BUFFER);
        let stream = LargeReads::new(stream, READ_BUFFER.load(Ordering::Relaxed));
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(format!("ws://127.0.0.1:{port}{path}"), stream, Some(config))
                .await?;
        let mut conn = Conn { proto, ws };
        if proto == Proto::Socketio {
            // Engine.IO open packet ("0{...}"), then connect to the main namespace.
            let open = conn.raw_text().await?.context("closed before the open packet")?;
            if !open.starts_with('0') {
                bail!("unexpected Engine.IO open packet {open:?}");
            }
            conn.send("40".to_string()).await?;
            loop {
                let text = conn.raw_text().await?.context("closed before connect")?;
                if text.starts_with("40") {
                    break;
                }
                if text.starts_with("44") {
                    bail!("Socket.IO connect refused: {text}");
                }
            }
        }
        Ok(conn)
    }

    pub async fn send(&mut self, text: String) -> Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Queues a frame without flushing; call [`Conn::flush`] after a batch.
    pub async fn feed(&mut self, text: String) -> Result<()> {
        self.ws.feed(Message::text(text)).await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        self.ws.flush().await?;
        Ok(())
    }

    /// Drops the connection abruptly (no close handshake), as a phone losing the network would.
    pub fn drop_abruptly(self) {
        drop(self.ws);
    }

    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }

    /// The next text frame, or `None` when the connection is closed. Pings are answered by
    /// tungstenite itself (WebSocket) or here (Engine.IO's "2" -> "3").
    async fn raw_text(&mut self) -> Result<Option<Text>> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if self.proto == Proto::Socketio && text.as_str() == "2" {
                        self.send("3".to_string()).await?;
                        continue;
                    }
                    return Ok(Some(text));
                }
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Err(err.into()),
            }
        }
    }

    /// The next frame, classified; `None` when the connection is closed.
    pub async fn next(&mut self) -> Result<Option<Incoming>> {
        let Some(text) = self.raw_text().await? else {
            return Ok(None);
        };
        Ok(Some(classify(self.proto, text)))
    }

    /// Sends a request and waits for its reply; publications that arrive meanwhile go to `on_pub`.
    pub async fn call(&mut self, id: u64, frame: String, mut on_pub: impl FnMut(&str)) -> Result<Box<RawValue>> {
        self.send(frame).await?;
        let wait = async {
            loop {
                match self.next().await? {
                    None => bail!("connection closed while waiting for reply {id}"),
                    Some(Incoming::Reply(reply)) if reply.id == id => {
                        return reply.result.map_err(|err| anyhow::anyhow!("request {id} failed: {err}"));
                    }
                    Some(Incoming::Pub(text)) => on_pub(&text),
                    Some(Incoming::Closing(text)) => bail!("server is closing: {text}"),
                    Some(_) => {}
                }
            }
        };
        tokio::time::timeout(SETUP_TIMEOUT, wait).await.with_context(|| format!("no reply to request {id} in time"))?
    }
}

fn classify(proto: Proto, text: Text) -> Incoming {
    match proto {
        Proto::Makeroom => {
            if text.starts_with(r#"{"type":"pub""#) {
                return Incoming::Pub(text);
            }
            if text.starts_with(r#"{"type":"reply""#) {
                return match serde_json::from_str::<Reply>(&text) {
                    Ok(Reply { id: Some(id), result, error }) => Incoming::Reply(ReplyFrame {
                        id,
                        retry_after_ms: error.as_ref().and_then(|e| e.retry_after_ms),
                        result: match (result, error) {
                            (Some(result), None) => Ok(result),
                            (_, Some(error)) => Err(format!("{}: {}", error.code.as_str(), error.message)),
                            (None, None) => Err("empty reply".into()),
                        },
                    }),
                    _ => Incoming::Other,
                };
            }
            if text.starts_with(r#"{"type":"closing""#) {
                return Incoming::Closing(text);
            }
            Incoming::Other
        }
        Proto::Socketio => {
            if text.starts_with(r#"42["pub","#) {
                return Incoming::Pub(text);
            }
            if let Some(rest) = text.strip_prefix("43") {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let Ok(id) = rest[..digits].parse::<u64>() else {
                    return Incoming::Other;
                };
                // The ack's arguments: `[result]`.
                let args = rest[digits..].trim();
                let inner = args.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or("null");
                let result = match RawValue::from_string(inner.to_string()) {
                    Ok(raw) if inner.contains(r#""error""#) => Err(raw.get().to_string()),
                    Ok(raw) => Ok(raw),
                    Err(err) => Err(err.to_string()),
                };
                return Incoming::Reply(ReplyFrame { id, result, retry_after_ms: None });
            }
            Incoming::Other
        }
    }
}

/// The test payload: `{"text":"...","m":"STREAM.SEQ.SENT_US"}`. `m` is last so receivers find it fast.
pub fn payload(stream: u32, seq: u64, sent_us: u64) -> String {
    format!(r#"{{"text":"load test message","m":"{stream}.{seq}.{sent_us}"}}"#)
}

/// The marker of a test payload: which stream, which sequence number, when it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub stream: u32,
    pub seq: u64,
    pub sent_us: u64,
}

/// Finds the test marker in a publication frame (or a publication object) without parsing it all.
pub fn marker(text: &str) -> Option<Marker> {
    let at = text.rfind(r#""m":""#)? + 5;
    let rest = &text[at..];
    let end = rest.find('"')?;
    let mut parts = rest[..end].split('.');
    let stream = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let sent_us = parts.next()?.parse().ok()?;
    Some(Marker { stream, seq, sent_us })
}

/// The first `"channel":"NAME"` of a frame: the channel a publication came on.
pub fn channel_of(text: &str) -> Option<&str> {
    let at = text.find(r#""channel":""#)? + 11;
    let end = text[at..].find('"')?;
    Some(&text[at..at + end])
}

/// The first `"offset":N` of a frame: the publication's offset in its channel.
pub fn offset(text: &str) -> Option<u64> {
    let at = text.find(r#""offset":"#)? + 9;
    let digits = text[at..].bytes().take_while(u8::is_ascii_digit).count();
    text[at..at + digits].parse().ok()
}

fn frame(id: u64, request: Request) -> String {
    // Serializing these frames cannot fail (no maps with non-string keys, no floats).
    serde_json::to_string(&ClientFrame { id, request }).unwrap_or_default()
}

fn raw(json: String) -> Result<Box<RawValue>> {
    Ok(RawValue::from_string(json)?)
}

pub fn hello(id: u64, token: &str) -> String {
    frame(id, Request::Hello(Hello { version: PROTOCOL_VERSION, token: token.to_string(), event: None }))
}

pub fn subscribe(proto: Proto, id: u64, channel: &str, since: Option<Position>, presence: bool) -> String {
    match proto {
        Proto::Makeroom => {
            frame(id, Request::Subscribe(Subscribe { channel: channel.to_string(), since, presence, snapshot: false }))
        }
        Proto::Socketio => {
            let channel = serde_json::Value::from(channel);
            format!(r#"42{id}["subscribe",{{"channel":{channel}}}]"#)
        }
    }
}

pub fn publish(proto: Proto, id: u64, channel: &str, data: String, key: Option<String>) -> Result<String> {
    Ok(match proto {
        Proto::Makeroom => frame(id, Request::Publish(Publish { channel: channel.to_string(), data: raw(data)?, key })),
        Proto::Socketio => {
            let channel = serde_json::Value::from(channel);
            format!(r#"42{id}["publish",{{"channel":{channel},"data":{data}}}]"#)
        }
    })
}

/// A `command` frame for the command given as JSON (scenarios keep one text per command and send it
/// again as it is after a reconnect).
pub fn command(id: u64, channel: &str, command: String, key: Option<String>) -> Result<String> {
    let command: DomainCommand = serde_json::from_str(&command)?;
    Ok(frame(id, Request::Command(Command { channel: channel.to_string(), command, key })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn large_reads_hand_on_every_byte_in_order_then_the_end() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let sent: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            let expected = sent.clone();
            let writer = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.expect("accept");
                socket.write_all(&sent).await.expect("write");
            });
            let stream = TcpStream::connect(addr).await.expect("connect");
            let mut reads = LargeReads::new(stream, 8192);
            let mut got = Vec::new();
            let mut small = [0u8; 1000];
            loop {
                let n = reads.read(&mut small).await.expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&small[..n]);
            }
            writer.await.expect("writer");
            assert_eq!(got, expected);
        });
    }

    #[test]
    fn markers_and_offsets_are_found_in_both_protocols() {
        let data = payload(7, 42, 123456);
        let makeroom = format!(
            r#"{{"type":"pub","channel":"lobby","epoch":"e","offset":9,"ts":1,"from":{{"id":"p","name":"n","role":"participant"}},"data":{data}}}"#
        );
        let expected = Marker { stream: 7, seq: 42, sent_us: 123456 };
        assert_eq!(marker(&makeroom), Some(expected));
        assert_eq!(offset(&makeroom), Some(9));
        let socketio = format!(r#"42["pub",{{"channel":"r1","offset":3,"data":{data}}}]"#);
        assert_eq!(marker(&socketio), Some(expected));
        assert_eq!(offset(&socketio), Some(3));
        assert_eq!(channel_of(&makeroom), Some("lobby"));
        assert_eq!(channel_of(&socketio), Some("r1"));
        match classify(Proto::Socketio, socketio.into()) {
            Incoming::Pub(_) => {}
            other => panic!("{other:?}"),
        }
        match classify(Proto::Socketio, r#"4312[{"offset":4}]"#.into()) {
            Incoming::Reply(ReplyFrame { id: 12, result, .. }) => {
                assert_eq!(result.expect("ok").get(), r#"{"offset":4}"#)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_are_what_the_server_parses() {
        let text = publish(Proto::Makeroom, 5, "lobby", payload(1, 2, 3), Some("k".into())).expect("frame");
        let parsed = makeroom_protocol::parse_client_frame(&text).expect("parses");
        assert_eq!(parsed.id, 5);
        let text = subscribe(Proto::Makeroom, 6, "lobby", Some(Position { epoch: "e".into(), offset: 4 }), true);
        assert!(makeroom_protocol::parse_client_frame(&text).is_ok());
    }
}

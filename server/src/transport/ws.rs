//! One WebSocket connection: a pump between its socket and its `Session`.
//!
//! The HTTP server hands over the socket at the upgrade (`serve`); from then on this owns it. It
//! reads frames and hands each request to the session, polls the session (requests under way, the
//! outbox), and writes everything the session produced in one vectored write: under load, writes
//! grow (many frames each) instead of queues growing. Frames arrive already encoded (a push's bytes
//! are shared by every receiver), so nothing is encoded or copied here. It also keeps the
//! heartbeat, the token's clock, the hello deadline and the server's shutdown, and always ends by
//! saying why it closes.

use super::AppState;
use super::websocket::{FrameReader, Incoming, Next};
use crate::error::AppError;
use crate::hub::frame;
use crate::metrics::{METRICS, Metrics};
use crate::service::{Close, Session};
use actix_codec::{Framed, FramedParts};
use actix_http::body::BodySize;
use actix_http::h1::{Codec, Message};
use actix_http::{Request, Response, StatusCode};
use bytes::Bytes;
use futures_util::SinkExt;
use makeroom_protocol::{Closing, ErrorCode, ServerFrame, close};
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

/// Bytes waiting for the socket past which the connection stops taking pushes: a client that does not
/// read then fills its outbox and is closed as too slow, instead of growing this queue.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Buffers handed to one `writev`.
const MAX_SLICES: usize = 128;
/// The most read from the socket at once, into scratch space on the stack (nothing kept per connection).
const READ_CHUNK: usize = 16 * 1024;
/// How long a closing connection waits for its last frames to leave and for the client to hang up.
const LINGER: Duration = Duration::from_secs(1);

/// Takes a request the HTTP server saw as an upgrade: `/ws` becomes a WebSocket connection, anything
/// else is refused.
pub async fn serve(state: Arc<AppState>, request: Request, mut framed: Framed<TcpStream, Codec>) {
    if request.path() != "/ws" {
        let error = AppError::refused(ErrorCode::NotFound, "nothing to upgrade here; WebSockets open at /ws");
        return refuse(&mut framed, StatusCode::NOT_FOUND, &error).await;
    }
    if let Err(error) = check_origin(&request, &state) {
        return refuse(&mut framed, StatusCode::FORBIDDEN, &error).await;
    }
    let address = request.peer_addr().map(|peer| peer.ip());
    if let Some(address) = address
        && !state.connections_per_address.acquire(&address)
    {
        let error = AppError::refused(ErrorCode::RateLimited, "too many connections from this address");
        return refuse(&mut framed, StatusCode::TOO_MANY_REQUESTS, &error).await;
    }
    let accepted = match actix_http::ws::handshake(request.head()) {
        Ok(mut response) => {
            let response = response.finish().drop_body();
            framed.send(Message::Item((response, BodySize::None))).await.is_ok()
        }
        Err(err) => {
            let error = AppError::refused(ErrorCode::BadRequest, format!("not a WebSocket handshake: {err}"));
            refuse(&mut framed, StatusCode::BAD_REQUEST, &error).await;
            false
        }
    };
    if !accepted {
        if let Some(address) = address {
            state.connections_per_address.release(&address);
        }
        return;
    }
    // Only the socket and what was read past the request go on: the HTTP server's 8 KiB write
    // buffer, and the request (whose headers share the 8 KiB read buffer), are let go now, not at
    // the connection's end.
    let FramedParts { io, read_buf, .. } = framed.into_parts();
    drop(request);
    let reader = FrameReader::new(&read_buf, state.services.limits.max_frame_bytes);
    drop(read_buf);
    // A task of its own, on this worker: the HTTP connection's task (its dispatcher's whole state
    // machine, about 9 KiB) ends here instead of living as long as the WebSocket.
    state.open_sockets.fetch_add(1, Ordering::Relaxed);
    tokio::task::spawn_local(async move {
        // Counted out even if the connection's task is dropped half way (the worker stopping).
        let _open = OpenSocket { state: state.clone(), address };
        Connection::new(state, io, reader).run().await;
    });
}

/// A running WebSocket task's place in the counts: its address's connections, and the sockets a
/// shutdown waits for.
struct OpenSocket {
    state: Arc<AppState>,
    address: Option<std::net::IpAddr>,
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        if let Some(address) = &self.address {
            self.state.connections_per_address.release(address);
        }
        self.state.open_sockets.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers an upgrade with a plain HTTP error, in the API's error shape.
async fn refuse(framed: &mut Framed<TcpStream, Codec>, status: StatusCode, error: &AppError) {
    let body = Bytes::from(serde_json::json!({ "error": error.body() }).to_string());
    let mut response = Response::build(status);
    response.content_type("application/json").force_close();
    let head = response.finish().drop_body();
    let _ = framed.send(Message::Item((head, BodySize::Sized(body.len() as u64)))).await;
    let _ = framed.send(Message::Chunk(Some(body))).await;
    let _ = framed.send(Message::Chunk(None)).await;
}

/// Browsers say which page opened a WebSocket; only Makeroom's own pages (and configured origins) may,
/// so a page elsewhere cannot act with a visitor's stored token. Clients that send no Origin are not
/// browsers and carry their token themselves.
fn check_origin(request: &Request, state: &AppState) -> Result<(), AppError> {
    use actix_http::header::{HOST, ORIGIN};
    let Some(origin) = request.head().headers().get(ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
    let host = request.head().headers().get(HOST).and_then(|host| host.to_str().ok()).unwrap_or("");
    let same_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
    let allowed = same_host
        || origin == state.public_url.trim_end_matches('/')
        || state.allowed_origins.iter().any(|allowed| allowed == "*" || allowed == origin);
    if allowed {
        return Ok(());
    }
    tracing::info!(origin, "refused a WebSocket from another origin");
    Err(AppError::refused(ErrorCode::Forbidden, "this origin may not open Makeroom connections"))
}

/// What a read did: whether it took any requests, and whether it stopped because the session's
/// request queue was full (the rest waits in the reader).
struct Reading {
    any: bool,
    paused: bool,
}

/// Why the pump stopped.
enum End {
    /// The server closes, and says why.
    Server(Close),
    /// The client sent a close frame (with this code): answer it and end.
    Client(Option<u16>),
    /// The socket is gone.
    Gone,
}

struct Connection {
    state: Arc<AppState>,
    io: TcpStream,
    session: Session,
    reader: FrameReader,
    out: WriteQueue,
    /// Scratch space for what the session produced in one turn.
    produced: Vec<Bytes>,
    last_heard: Instant,
    hello_deadline: tokio::time::Instant,
    next_ping: tokio::time::Instant,
    /// One timer for the earliest of the next ping and the token's (or hello's) deadline. It is polled
    /// only when it must be armed or has fired, not on every turn.
    timer: Pin<Box<tokio::time::Sleep>>,
    timer_armed: bool,
    armed_for: tokio::time::Instant,
}

impl Connection {
    fn new(state: Arc<AppState>, io: TcpStream, reader: FrameReader) -> Self {
        let session = Session::new(state.services.clone());
        let now = tokio::time::Instant::now();
        let hello_deadline = now + state.hello_timeout;
        let next_ping = now + state.heartbeat_interval;
        Connection {
            reader,
            session,
            io,
            out: WriteQueue::default(),
            produced: Vec::new(),
            last_heard: Instant::now(),
            hello_deadline,
            next_ping,
            timer: Box::pin(tokio::time::sleep_until(next_ping.min(hello_deadline))),
            timer_armed: false,
            armed_for: next_ping.min(hello_deadline),
            state,
        }
    }

    async fn run(mut self) {
        let end = std::future::poll_fn(|cx| self.poll_turn(cx)).await;
        self.end(end).await;
    }

    /// One turn of the pump: does everything that can be done now, and is pending until more can.
    /// Each part is polled again within a turn only if another part gave it something to do: every
    /// poll that finds nothing registers the task to be woken, so a second look would cost and find
    /// nothing.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        if let Some(end) = self.poll_timers(cx) {
            return Poll::Ready(end);
        }
        let (mut read, mut serve) = (self.session.accepts_requests(), true);
        let mut took_pushes = true;
        loop {
            let mut paused = false;
            if read {
                read = false;
                match self.poll_read(cx) {
                    Poll::Ready(Ok(reading)) => {
                        serve |= reading.any;
                        paused = reading.paused;
                    }
                    Poll::Ready(Err(end)) => return Poll::Ready(end),
                    Poll::Pending => {}
                }
            }
            if serve {
                serve = false;
                took_pushes = self.out.bytes < WRITE_HIGH_WATER;
                let polled = self.session.poll(cx, took_pushes);
                self.take_produced();
                if let Poll::Ready(close) = polled {
                    return Poll::Ready(End::Server(close));
                }
            }
            if let Poll::Ready(Err(_)) = self.out.poll_write(&self.io, cx) {
                return Poll::Ready(End::Gone);
            }
            // The socket took what was waiting after the session was told to leave its outbox.
            serve |= !took_pushes && self.out.bytes < WRITE_HIGH_WATER;
            // The request queue was full and has room again: what waits in the reader goes on.
            read |= paused && self.session.accepts_requests();
            if !read && !serve {
                // A request answered this turn may have moved a deadline earlier (a `hello`, a
                // `refresh`). Otherwise the timer armed at the turn's start still covers the nearest
                // one and wakes this task when it comes: no clock read, nothing to do.
                if self.timer_covers_deadlines() {
                    return Poll::Pending;
                }
                let queued = self.out.bytes;
                if let Some(end) = self.poll_timers(cx) {
                    return Poll::Ready(end);
                }
                if self.out.bytes == queued {
                    return Poll::Pending;
                }
            }
        }
    }

    /// Moves the session's new frames to the write queue; true if there were any.
    fn take_produced(&mut self) -> bool {
        self.session.take_output(&mut self.produced);
        if self.produced.is_empty() {
            return false;
        }
        let mut produced = std::mem::take(&mut self.produced);
        for frame in produced.drain(..) {
            self.out.push(frame);
        }
        self.produced = produced;
        true
    }

    /// The timer is armed for the nearest deadline or an earlier one (which only wakes it early).
    fn timer_covers_deadlines(&self) -> bool {
        self.timer_armed && self.armed_for <= self.wake_at()
    }

    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Option<End> {
        // Covered, and that moment not come: nothing to do. (The clock is cheaper to read than the
        // timer.)
        if self.timer_covers_deadlines() && tokio::time::Instant::now() < self.armed_for {
            return None;
        }
        // A deadline met as the timer is armed is handled at once; twice over is more than enough.
        for _ in 0..2 {
            // What was due at the timer's moment is due now, however its wake was rounded.
            let now = tokio::time::Instant::now();
            let due = if self.timer_armed && self.timer.is_elapsed() { now.max(self.timer.deadline()) } else { now };
            if self.next_ping <= due {
                // A connection with requests queued does not read its socket: the silence is then ours.
                if !self.session.is_busy() && self.last_heard.elapsed() > self.state.client_timeout {
                    return Some(End::Server(Close::new(close::HEARTBEAT_TIMEOUT, "no answer to heartbeats")));
                }
                self.out.push(frame::ping(b""));
                self.next_ping = now + self.state.heartbeat_interval;
            }
            if self.token_deadline() <= due {
                if !self.session.is_authenticated() {
                    return Some(End::Server(Close::new(close::HELLO_TIMEOUT, "no hello in time")));
                }
                if let Some(close) = self.session.on_token_deadline() {
                    return Some(End::Server(close));
                }
            }
            let wake_at = self.wake_at();
            self.timer.as_mut().reset(wake_at);
            self.armed_for = wake_at;
            // Registers the waker for the next deadline.
            self.timer_armed = true;
            if self.timer.as_mut().poll(cx).is_pending() {
                return None;
            }
        }
        cx.waker().wake_by_ref();
        None
    }

    fn wake_at(&self) -> tokio::time::Instant {
        self.next_ping.min(self.token_deadline())
    }

    /// When the token next needs attention, or (before `hello`) when hello is overdue.
    fn token_deadline(&self) -> tokio::time::Instant {
        self.session.token_deadline(self.state.token_warning).unwrap_or(self.hello_deadline)
    }

    /// Reads what the socket has and hands every whole message on; true if anything was read.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Reading, End>> {
        let mut read_any = false;
        // Messages read before but not taken yet (the request queue was full) go first.
        if self.reader.has_unread() && self.handle_messages(None)? == Next::Pause {
            return Poll::Ready(Ok(Reading { any: true, paused: true }));
        }
        // Left uninitialised: the kernel fills what it reads, and clearing 16 KiB on every turn (most
        // turns are woken by pushes and read nothing) showed in the profile.
        let mut scratch = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        while self.session.accepts_requests() {
            // Tokio's read takes a read shorter than the buffer as the socket drained and clears its
            // readiness, so the next turn costs no system call that finds nothing.
            let mut buf = ReadBuf::uninit(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Err(End::Gone)),
                Poll::Ready(Ok(())) => {
                    read_any = true;
                    self.last_heard = Instant::now();
                    if self.handle_messages(Some(buf.filled_mut()))? == Next::Pause {
                        return Poll::Ready(Ok(Reading { any: true, paused: true }));
                    }
                }
                Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Err(End::Gone)),
                Poll::Pending => break,
            }
        }
        if read_any { Poll::Ready(Ok(Reading { any: true, paused: false })) } else { Poll::Pending }
    }

    /// Hands every whole message on: of `read` (just read into scratch space), or of what waits from
    /// earlier reads. Pauses when the session takes no more requests.
    fn handle_messages(&mut self, read: Option<&mut [u8]>) -> Result<Next, End> {
        let (session, out) = (&mut self.session, &mut self.out);
        let mut client_closed = None;
        let handle = |message: Incoming<'_>| {
            match message {
                Incoming::Text(text) => session.accept(text),
                Incoming::Binary => session.accept_binary(),
                Incoming::Ping(payload) => out.push(frame::pong(payload)),
                Incoming::Pong => {}
                Incoming::Close(code) => {
                    client_closed = Some(code);
                    return Next::Stop;
                }
            }
            if session.accepts_requests() { Next::More } else { Next::Pause }
        };
        let next = match read {
            Some(read) if !self.reader.has_unread() => self.reader.handle_read(read, handle),
            Some(read) => {
                self.reader.add_unread(read);
                self.reader.handle_unread(handle)
            }
            None => self.reader.handle_unread(handle),
        }
        .map_err(End::Server)?;
        match client_closed {
            Some(code) => Err(End::Client(code)),
            None => Ok(next),
        }
    }

    /// Says why the connection closes (if the server closes it), lets the last frames leave, and
    /// leaves every channel.
    async fn end(mut self, end: End) {
        match end {
            End::Server(close) => {
                tracing::debug!(connection = self.session.id(), code = close.code, reason = close.reason, "closing");
                let closing = Closing {
                    code: close.code,
                    reason: close.reason.to_string(),
                    reconnect: close::should_reconnect(close.code),
                };
                if let Some(frame) = frame::json(&ServerFrame::Closing(closing)) {
                    self.out.push(frame);
                }
                self.out.push(frame::close(close.code, close.reason));
            }
            End::Client(code) => self.out.push(frame::close(code.unwrap_or(close::NORMAL), "")),
            End::Gone => {}
        }
        // Its channels are left at once (others see the leave now), not after the socket's last goodbye.
        let lingering = !matches!(end, End::Gone);
        let Connection { session, mut io, mut out, .. } = self;
        session.finish().await;
        if lingering {
            let _ = tokio::time::timeout(LINGER, out.linger(&mut io)).await;
        }
    }
}

/// Frames on their way to the socket, oldest first, written many per system call.
#[derive(Default)]
struct WriteQueue {
    frames: VecDeque<Bytes>,
    /// Bytes of the first frame that have left already.
    written: usize,
    /// Bytes waiting in all.
    bytes: usize,
}

impl WriteQueue {
    fn push(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Writes as much as the socket takes, many frames per call; true if it wrote.
    fn poll_write(&mut self, io: &TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut wrote = false;
        while !self.frames.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (index, frame) in self.frames.iter().take(MAX_SLICES).enumerate() {
                let start = if index == 0 { self.written } else { 0 };
                slices[index] = IoSlice::new(&frame[start..]);
                count += 1;
            }
            match io.try_write_vectored(&slices[..count]) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    Metrics::count(&METRICS.write_batches);
                    self.consume(n);
                    wrote = true;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => match io.poll_write_ready(cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => return if wrote { Poll::Ready(Ok(true)) } else { Poll::Pending },
                },
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        Poll::Ready(Ok(wrote))
    }

    /// Drops the `n` bytes just written.
    fn consume(&mut self, mut n: usize) {
        self.bytes -= n;
        let mut frames = 0u64;
        while n > 0 {
            let Some(front) = self.frames.front() else { break };
            let left = front.len() - self.written;
            if n < left {
                self.written += n;
                break;
            }
            n -= left;
            self.written = 0;
            self.frames.pop_front();
            frames += 1;
        }
        METRICS.frames_written.fetch_add(frames, Ordering::Relaxed);
    }

    /// Writes what is left, shuts the sending side, and reads (and drops) whatever the client still
    /// sends until it hangs up: closing with unread data would reset the connection and could lose
    /// the frames just written.
    async fn linger(&mut self, io: &mut TcpStream) {
        let flushed = std::future::poll_fn(|cx| match self.poll_write(io, cx) {
            Poll::Ready(Err(_)) => Poll::Ready(false),
            Poll::Ready(Ok(_)) if self.frames.is_empty() => Poll::Ready(true),
            // Written some; the socket is full and will wake this when it has room again.
            Poll::Ready(Ok(_)) | Poll::Pending => Poll::Pending,
        })
        .await;
        if !flushed {
            return;
        }
        let _ = tokio::io::AsyncWriteExt::shutdown(io).await;
        let mut sink = [0u8; 1024];
        while let Ok(1..) = tokio::io::AsyncReadExt::read(io, &mut sink).await {}
    }
}

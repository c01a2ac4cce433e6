//! Makeroom's wire protocol: every frame a client sends and every frame the server sends, as types.
//!
//! This crate is data only: serde types, error codes and close codes. It must never do I/O or know
//! about the server's internals, so that clients, the server and the load generator share one truth.
//! `PROTOCOL.md` beside this crate documents every frame with examples; keep the two in step (the
//! tests read the examples of its section 8 and check them against these types).
//!
//! This file holds the frames; each state channel's commands and events, and the values inside them,
//! are in the module named after the channel (`board`, `brief`, `roster`, ...), and `chat` holds what
//! a chat message carries. `DomainCommand` gathers every channel's commands into one type.

pub mod announcements;
pub mod board;
pub mod brief;
pub mod chat;
pub mod commands;
pub mod help;
pub mod outputs;
pub mod presentations;
pub mod roster;
pub mod schedule;

#[cfg(test)]
mod documented;

pub use commands::{ChannelKind, DomainCommand};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

mod nesting;
pub use nesting::{MAX_NESTING, nests_deeper_than};

/// The protocol version this crate describes. A client names it in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request id chosen by the client; the reply carries it back.
pub type RequestId = u64;

/// Milliseconds since the Unix epoch, as measured by the server's clock.
pub type Millis = i64;

/// Where a client left a channel: the log's epoch and the last offset it has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: String,
    pub offset: u64,
}

/// One frame from a client: an id and an operation. Serialized as `{"id": 1, "op": "...", ...fields}`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientFrame {
    pub id: RequestId,
    #[serde(flatten)]
    pub request: Request,
}

/// Every operation a client may ask for. The `op` field names it; unknown fields are ignored so that
/// newer clients can talk to older servers.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Hello(Hello),
    Refresh(Refresh),
    Subscribe(Subscribe),
    Unsubscribe(Unsubscribe),
    Publish(Publish),
    History(History),
    Presence(PresenceQuery),
    Command(Command),
    Time,
}

/// First frame of every connection: the protocol version and an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    /// Missing reads as empty, which is refused as `unauthorized` like any other token that is no good.
    #[serde(default)]
    pub token: String,
    /// If set, the token must be for this event (a page opened for one event refuses another's token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// Replace the connection's token with a fresh one before it expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refresh {
    /// Missing reads as empty, refused as `unauthorized` (as in `hello`).
    #[serde(default)]
    pub token: String,
}

/// Start receiving a channel. With `since`, first receive exactly what was missed after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscribe {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Position>,
    /// Ask for the channel's presence list in the reply and for join/leave pushes.
    #[serde(default)]
    pub presence: bool,
    /// On a state channel (any channel but `lobby` and `team:{id}`): if `since` cannot be recovered (or is
    /// absent), include the channel's current state, so a late joiner need not replay the whole log.
    #[serde(default)]
    pub snapshot: bool,
}

/// Ask the event to change: a domain command (`card.move`, `brief.edit`, `team.join`, ...) on the state
/// channel it belongs to (`DomainCommand::channel_kind`); the server refuses one sent on another
/// channel with `bad_request`. Each command's fields are documented with its type and in PROTOCOL.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Command {
    pub channel: String,
    pub command: DomainCommand,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unsubscribe {
    pub channel: String,
}

/// Append a message to a channel. `key` makes a retry safe: the same key never stores twice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publish {
    pub channel: String,
    pub data: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Read stored messages, oldest first: the `limit` messages before offset `before` (or the newest).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Who is connected to a channel now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresenceQuery {
    pub channel: String,
}

impl Request {
    /// The operation's wire name, for logs and metrics.
    pub fn op_name(&self) -> &'static str {
        match self {
            Request::Hello(_) => "hello",
            Request::Refresh(_) => "refresh",
            Request::Subscribe(_) => "subscribe",
            Request::Unsubscribe(_) => "unsubscribe",
            Request::Publish(_) => "publish",
            Request::History(_) => "history",
            Request::Presence(_) => "presence",
            Request::Command(_) => "command",
            Request::Time => "time",
        }
    }
}

/// Why a text frame is not a request, with the request id if one could be read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub id: Option<RequestId>,
    pub error: ErrorBody,
}

/// The request id of a frame that will not be parsed in full (one over the size limit, say).
pub fn peek_request_id(text: &str) -> Option<RequestId> {
    #[derive(Deserialize)]
    struct JustTheId {
        id: Option<RequestId>,
    }
    serde_json::from_str::<JustTheId>(text).ok().and_then(|frame| frame.id)
}

/// Parses one client text frame. Reads `id` and `op` first, so that even a frame with bad fields gets
/// an error that names its request id, and an unknown `op` is told apart from a malformed one.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, FrameError> {
    if nests_deeper_than(text, MAX_NESTING) {
        let message = format!("the frame nests objects and arrays more than {MAX_NESTING} deep");
        return Err(FrameError { id: peek_request_id(text), error: ErrorBody::new(ErrorCode::BadRequest, message) });
    }
    #[derive(Deserialize)]
    struct Envelope<'a> {
        id: Option<RequestId>,
        #[serde(borrow)]
        op: Option<std::borrow::Cow<'a, str>>,
    }
    let envelope: Envelope = serde_json::from_str(text).map_err(|err| FrameError {
        id: None,
        error: ErrorBody::new(ErrorCode::BadRequest, format!("not a request frame: {err}")),
    })?;
    let fail = |code, message: String| FrameError { id: envelope.id, error: ErrorBody::new(code, message) };
    let Some(id) = envelope.id else {
        return Err(fail(ErrorCode::BadRequest, "missing field `id`".into()));
    };
    let Some(op) = envelope.op else {
        return Err(fail(ErrorCode::BadRequest, "missing field `op`".into()));
    };
    fn fields<T: serde::de::DeserializeOwned>(text: &str, op: &str) -> Result<T, String> {
        serde_json::from_str(text).map_err(|err| format!("bad `{op}` request: {err}"))
    }
    let parsed = match op.as_ref() {
        "hello" => fields(text, "hello").map(Request::Hello),
        "refresh" => fields(text, "refresh").map(Request::Refresh),
        "subscribe" => fields(text, "subscribe").map(Request::Subscribe),
        "unsubscribe" => fields(text, "unsubscribe").map(Request::Unsubscribe),
        "publish" => fields(text, "publish").map(Request::Publish),
        "history" => fields(text, "history").map(Request::History),
        "presence" => fields(text, "presence").map(Request::Presence),
        "command" => fields(text, "command").map(Request::Command),
        "time" => Ok(Request::Time),
        other => return Err(fail(ErrorCode::UnknownOp, format!("unknown op `{other}`"))),
    };
    parsed.map(|request| ClientFrame { id, request }).map_err(|message| fail(ErrorCode::BadRequest, message))
}

/// Stable, machine-readable error codes. Clients branch on these; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a valid request (bad JSON, missing or wrong fields).
    BadRequest,
    /// The `op` is not one this server knows.
    UnknownOp,
    /// The client named a protocol version the server does not speak.
    UnsupportedVersion,
    /// No valid token: missing, forged, expired, of the wrong kind, or `hello` not sent yet.
    Unauthorized,
    /// The token is fine but does not allow this (wrong role, wrong team, wrong event).
    Forbidden,
    /// The token has expired; get a fresh one and reconnect or `refresh`.
    TokenExpired,
    NotFound,
    /// The request conflicts with current state (a stale revision, a changed log).
    Conflict,
    /// Too many requests; `retry_after_ms` says when to try again.
    RateLimited,
    /// The frame or payload is over the documented size limit.
    TooLarge,
    /// The server cannot serve this now (store down); retrying later is safe.
    Unavailable,
    /// A bug on the server. The request id is in the logs.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// Whether the same request may succeed if simply sent again later.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::RateLimited | ErrorCode::Unavailable)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Names this error in the server's logs (`connection.request`), for reporting a problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code, message: message.into(), retry_after_ms: None, reference: None }
    }
}

/// Who sent a message, as recorded by the server from the sender's token (never from the client's say-so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Organiser,
    Participant,
    Display,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Organiser => "organiser",
            Role::Participant => "participant",
            Role::Display => "display",
        }
    }
}

/// A stored message of a channel, as pushed live and as returned from history and recovery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publication {
    pub channel: String,
    pub epoch: String,
    pub offset: u64,
    pub ts: Millis,
    pub from: Sender,
    pub data: Box<RawValue>,
}

/// One member of a channel's presence list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceAction {
    Join,
    Leave,
}

/// Every frame the server sends. The `type` field names it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The one answer to a request: exactly one of `result` or `error` is present.
    Reply(Reply),
    /// A message stored on a channel this connection subscribes to.
    Pub(Publication),
    /// Somebody's first connection joined, or their last left, a channel.
    Presence(PresenceChange),
    /// The server could not deliver part of a channel and history no longer holds it: resync the channel.
    Reset(Reset),
    /// The token runs out soon: send `refresh` with a fresh one before `expires_at`.
    TokenExpiring(TokenExpiring),
    /// Sent just before the server closes the connection.
    Closing(Closing),
    /// The server ended a subscription (the person left the team, the team was archived).
    Unsubscribed(Unsubscribed),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribed {
    pub channel: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub id: Option<RequestId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceChange {
    pub channel: String,
    pub action: PresenceAction,
    pub member: Member,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    pub channel: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenExpiring {
    pub expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    pub code: u16,
    pub reason: String,
    pub reconnect: bool,
}

/// Parses one server frame (for clients and the load generator). Dispatches on `type` first because
/// serde's tagged enums cannot hold the raw `data` payloads that the server forwards untouched.
pub fn parse_server_frame(text: &str) -> Result<ServerFrame, serde_json::Error> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, rename = "type")]
        kind: std::borrow::Cow<'a, str>,
    }
    let envelope: Envelope = serde_json::from_str(text)?;
    Ok(match envelope.kind.as_ref() {
        "reply" => ServerFrame::Reply(serde_json::from_str(text)?),
        "pub" => ServerFrame::Pub(serde_json::from_str(text)?),
        "presence" => ServerFrame::Presence(serde_json::from_str(text)?),
        "reset" => ServerFrame::Reset(serde_json::from_str(text)?),
        "token_expiring" => ServerFrame::TokenExpiring(serde_json::from_str(text)?),
        "closing" => ServerFrame::Closing(serde_json::from_str(text)?),
        "unsubscribed" => ServerFrame::Unsubscribed(serde_json::from_str(text)?),
        other => {
            return Err(serde::de::Error::unknown_variant(
                other,
                &["reply", "pub", "presence", "reset", "token_expiring", "closing", "unsubscribed"],
            ));
        }
    })
}

/// The result of `hello`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloResult {
    pub connection: u64,
    pub version: u32,
    pub participant: Member,
    pub event: EventRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub server_time: Millis,
    pub token_expires_at: Millis,
    pub heartbeat_ms: u64,
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub id: String,
    pub name: String,
    /// The participants' join code, told to organisers and displays (which show it to the room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_code: Option<String>,
}

/// Limits the server enforces, told to the client so it can stay inside them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    /// Largest request frame answered normally; larger ones get `too_large`.
    pub max_message_bytes: usize,
    pub max_data_bytes: usize,
    pub max_subscriptions: usize,
    pub requests_per_second: u32,
    pub request_burst: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshResult {
    pub token_expires_at: Millis,
}

/// The result of `subscribe`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscribeResult {
    pub channel: String,
    pub epoch: String,
    /// The channel's newest offset when the subscription started; live pushes continue after it.
    pub offset: u64,
    /// With `since`: true if `publications` holds exactly every message after it; false if the client
    /// must resync the channel from current state. Absent without `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publications: Vec<Publication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<Vec<Member>>,
    /// With `snapshot`: the state at `snapshot.offset`; `publications` then hold what came after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub offset: u64,
    pub state: Box<RawValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishResult {
    pub epoch: String,
    pub offset: u64,
    /// True if this key was already stored: nothing new was stored, `offset` is the original one.
    pub duplicate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryResult {
    pub channel: String,
    pub epoch: String,
    /// The channel's newest offset.
    pub offset: u64,
    /// The oldest offset history still holds (0 if the channel is empty).
    pub first: u64,
    pub publications: Vec<Publication>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresenceResult {
    pub channel: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimeResult {
    pub server_time: Millis,
}

/// WebSocket close codes the server uses, and whether a client should reconnect after each.
pub mod close {
    /// A normal close (the answer to a client's close without a code).
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down or restarting: reconnect (to another instance).
    pub const GOING_AWAY: u16 = 1001;
    /// A text frame that is not UTF-8 (RFC 6455 §8.1).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame over the hard frame limit; the connection cannot be read further.
    pub const TOO_BIG: u16 = 1009;
    /// `hello` named a protocol version this server does not speak. Do not reconnect as is.
    pub const UNSUPPORTED_VERSION: u16 = 4000;
    /// The token expired and was not refreshed. Get a fresh token, then reconnect.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// No `hello` arrived in time.
    pub const HELLO_TIMEOUT: u16 = 4002;
    /// The participant was removed from the event or the token revoked. Do not reconnect.
    pub const REVOKED: u16 = 4003;
    /// The client broke the WebSocket protocol itself (not ours): reconnect.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The connection could not keep up with its channels. Reconnect and recover with `since`.
    pub const SLOW_CONSUMER: u16 = 4009;
    /// The client did not answer heartbeats in time.
    pub const HEARTBEAT_TIMEOUT: u16 = 4010;

    /// Whether a client should reconnect after this close code.
    pub fn should_reconnect(code: u16) -> bool {
        !matches!(code, UNSUPPORTED_VERSION | REVOKED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_from_documented_examples() {
        let frame =
            parse_client_frame(r#"{"id":3,"op":"subscribe","channel":"team:t1","since":{"epoch":"e1","offset":41}}"#)
                .expect("subscribe parses");
        assert_eq!(frame.id, 3);
        match frame.request {
            Request::Subscribe(Subscribe { channel, since, presence, .. }) => {
                assert_eq!(channel, "team:t1");
                assert_eq!(since, Some(Position { epoch: "e1".into(), offset: 41 }));
                assert!(!presence);
            }
            other => panic!("parsed as {other:?}"),
        }
        let frame = parse_client_frame(r#"{"id":4,"op":"publish","channel":"lobby","data":{"text":"hi"},"key":"k1"}"#)
            .expect("publish parses");
        match frame.request {
            Request::Publish(Publish { data, key, .. }) => {
                assert_eq!(data.get(), r#"{"text":"hi"}"#);
                assert_eq!(key.as_deref(), Some("k1"));
            }
            other => panic!("parsed as {other:?}"),
        }
        let frame = parse_client_frame(r#"{"id":5,"op":"time"}"#).expect("time");
        assert!(matches!(frame.request, Request::Time));
    }

    #[test]
    fn client_frames_serialize_to_what_the_server_parses() {
        let frame = ClientFrame {
            id: 9,
            request: Request::Publish(Publish {
                channel: "lobby".into(),
                data: RawValue::from_string(r#"{"text":"hello"}"#.into()).expect("raw"),
                key: Some("k".into()),
            }),
        };
        let text = serde_json::to_string(&frame).expect("serializes");
        assert_eq!(text, r#"{"id":9,"op":"publish","channel":"lobby","data":{"text":"hello"},"key":"k"}"#);
        let back = parse_client_frame(&text).expect("parses back");
        assert_eq!(back.id, 9);
        let time = serde_json::to_string(&ClientFrame { id: 1, request: Request::Time }).expect("time");
        assert_eq!(time, r#"{"id":1,"op":"time"}"#);
    }

    #[test]
    fn bad_frames_get_typed_errors_with_their_id_when_readable() {
        let err = parse_client_frame("{not json").expect_err("bad json");
        assert_eq!((err.id, err.error.code), (None, ErrorCode::BadRequest));
        let err = parse_client_frame(r#"{"id":1,"op":"explode"}"#).expect_err("unknown op");
        assert_eq!((err.id, err.error.code), (Some(1), ErrorCode::UnknownOp));
        let err = parse_client_frame(r#"{"id":2,"op":"publish","channel":"lobby"}"#).expect_err("no data");
        assert_eq!((err.id, err.error.code), (Some(2), ErrorCode::BadRequest));
        assert!(err.error.message.contains("data"), "{}", err.error.message);
        let err = parse_client_frame(r#"{"op":"time"}"#).expect_err("no id");
        assert_eq!((err.id, err.error.code), (None, ErrorCode::BadRequest));
        let err = parse_client_frame(r#"{"id":"x","op":"time"}"#).expect_err("string id");
        assert_eq!(err.error.code, ErrorCode::BadRequest);
    }

    #[test]
    fn replies_and_pushes_have_their_documented_shape() {
        let reply = ServerFrame::Reply(Reply {
            id: Some(7),
            result: None,
            error: Some(ErrorBody::new(ErrorCode::Forbidden, "not your team")),
        });
        assert_eq!(
            serde_json::to_string(&reply).expect("serializes"),
            r#"{"type":"reply","id":7,"error":{"code":"forbidden","message":"not your team"}}"#
        );
        let push = ServerFrame::Pub(Publication {
            channel: "lobby".into(),
            epoch: "e1".into(),
            offset: 9,
            ts: 1,
            from: Sender { id: "p1".into(), name: "Ada".into(), role: Role::Participant },
            data: RawValue::from_string(r#"{"text":"hi"}"#.into()).expect("raw"),
        });
        assert_eq!(
            serde_json::to_string(&push).expect("serializes"),
            r#"{"type":"pub","channel":"lobby","epoch":"e1","offset":9,"ts":1,"from":{"id":"p1","name":"Ada","role":"participant"},"data":{"text":"hi"}}"#
        );
        let text = serde_json::to_string(&push).expect("serializes");
        match parse_server_frame(&text).expect("parses back") {
            ServerFrame::Pub(publication) => assert_eq!(publication.data.get(), r#"{"text":"hi"}"#),
            other => panic!("parsed as {other:?}"),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        /// A short, bounded fuzz run (the long one is `cargo fuzz run frame`, see fuzz/README.md):
        /// whatever text arrives, parsing answers a frame or a typed error, and never panics.
        #[test]
        fn any_text_parses_to_a_frame_or_a_typed_error(text in "\\PC{0,200}") {
            let _ = parse_client_frame(&text);
            let _ = peek_request_id(&text);
            let _ = parse_server_frame(&text);
        }

        /// Text that looks like a request (right shape, random values) is handled just as safely.
        #[test]
        fn request_shaped_text_never_panics(
            id in proptest::option::of(0u64..10),
            op in "(hello|publish|subscribe|command|history|presence|time|refresh|unsubscribe|x)",
            channel in "\\PC{0,20}",
            extra in "\\PC{0,40}",
        ) {
            let id = id.map(|id| id.to_string()).unwrap_or_else(|| "null".into());
            let text = format!(
                r#"{{"id":{id},"op":"{op}","channel":{channel:?},"data":{extra:?},"since":{{"epoch":"e","offset":{}}},"version":1,"token":{extra:?},"command":{{"type":{extra:?}}}}}"#,
                extra.len()
            );
            let _ = parse_client_frame(&text);
        }
    }

    #[test]
    fn only_revocation_and_version_closes_forbid_reconnecting() {
        assert!(close::should_reconnect(close::GOING_AWAY));
        assert!(close::should_reconnect(close::SLOW_CONSUMER));
        assert!(close::should_reconnect(close::TOKEN_EXPIRED));
        assert!(!close::should_reconnect(close::REVOKED));
        assert!(!close::should_reconnect(close::UNSUPPORTED_VERSION));
    }
}

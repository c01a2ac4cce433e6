//! The relay's rooms and what each request does: just enough of Makeroom's protocol (PROTOCOL.md:
//! `hello`, `subscribe`, `publish` with its reply, `pub` pushes) for the load generator to drive it
//! as it drives Makeroom. Each message is framed once and the same bytes go to every member. The
//! reply to a publish is queued before the fan-out, so it reaches the publisher before its own
//! `pub`. It stores nothing and checks no token: it must never be mistaken for a server.

use crate::frame;
use crate::outbox::Outbox;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Every publication's epoch: the relay has one life and no history.
const EPOCH: &str = "floor";

#[derive(Default)]
struct Room {
    /// Members by connection number, each with its queue.
    members: Vec<(u64, Outbox)>,
    offset: u64,
}

/// The rooms of one worker thread (the relay runs a single worker).
#[derive(Default)]
pub struct Hub {
    rooms: RefCell<HashMap<String, Room>>,
    next_connection: Cell<u64>,
    /// Receivers closed for falling behind.
    pub slow_closed: Cell<u64>,
}

#[derive(Deserialize)]
struct Request<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// One connection as the hub sees it.
pub struct Connection {
    pub number: u64,
    outbox: Outbox,
    authenticated: bool,
    channels: Vec<String>,
}

impl Hub {
    pub fn connect(&self, outbox: Outbox) -> Connection {
        let number = self.next_connection.get() + 1;
        self.next_connection.set(number);
        Connection { number, outbox, authenticated: false, channels: Vec::new() }
    }

    /// Leaves every room the connection was in.
    pub fn disconnect(&self, connection: &Connection) {
        let mut rooms = self.rooms.borrow_mut();
        for channel in &connection.channels {
            if let Some(room) = rooms.get_mut(channel) {
                room.members.retain(|(number, _)| *number != connection.number);
            }
        }
    }

    /// Handles one text frame from `connection`.
    pub fn request(&self, connection: &mut Connection, text: &[u8]) {
        let request = match serde_json::from_slice::<Request>(text) {
            Ok(request) => request,
            Err(err) => {
                let id = serde_json::from_slice::<serde_json::Value>(text).ok().and_then(|v| v["id"].as_u64());
                return error(connection, id, "bad_request", &format!("not a request frame: {err}"));
            }
        };
        match (request.op.as_ref(), connection.authenticated) {
            ("hello", false) => {
                connection.authenticated = true;
                let result = format!(r#"{{"connection":{},"version":1}}"#, connection.number);
                reply(connection, request.id, &result);
            }
            ("hello", true) => error(connection, request.id, "bad_request", "`hello` was already sent"),
            (_, false) => error(connection, request.id, "unauthorized", "send `hello` with a token first"),
            ("subscribe", true) => self.subscribe(connection, request),
            ("publish", true) => self.publish(connection, request),
            (op, true) => error(connection, request.id, "unknown_op", &format!("the floor relay does not do `{op}`")),
        }
    }

    fn subscribe(&self, connection: &mut Connection, request: Request<'_>) {
        let Some(channel) = request.channel else {
            return error(connection, request.id, "bad_request", "bad `subscribe` request: missing field `channel`");
        };
        let mut rooms = self.rooms.borrow_mut();
        let room = rooms.entry(channel.to_string()).or_default();
        if !connection.channels.iter().any(|c| *c == channel) {
            room.members.push((connection.number, connection.outbox.clone()));
            connection.channels.push(channel.to_string());
        }
        // Nothing is stored, so a `since` never recovers: the reply says so, as Makeroom would.
        let result = format!(
            r#"{{"channel":{},"epoch":"{EPOCH}","offset":{},"recovered":false}}"#,
            json_string(&channel),
            room.offset
        );
        reply(connection, request.id, &result);
    }

    fn publish(&self, connection: &mut Connection, request: Request<'_>) {
        let (Some(channel), Some(data)) = (request.channel, request.data) else {
            return error(connection, request.id, "bad_request", "bad `publish` request: missing `channel` or `data`");
        };
        let mut rooms = self.rooms.borrow_mut();
        let room = rooms.entry(channel.to_string()).or_default();
        room.offset += 1;
        let offset = room.offset;
        // The publisher's reply first: its own `pub` comes after it, as PROTOCOL.md requires.
        reply(connection, request.id, &format!(r#"{{"epoch":"{EPOCH}","offset":{offset},"duplicate":false}}"#));
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let push = format!(
            r#"{{"type":"pub","channel":{},"epoch":"{EPOCH}","offset":{offset},"ts":{ts},"from":{{"id":"c{}","name":"floor","role":"participant"}},"data":{}}}"#,
            json_string(&channel),
            connection.number,
            data.get()
        );
        // Framed once; every member gets the same bytes.
        let push = frame::text(push.as_bytes());
        room.members.retain(|(_, outbox)| {
            let kept = outbox.push(push.clone());
            if !kept && outbox.overflowed() {
                self.slow_closed.set(self.slow_closed.get() + 1);
            }
            kept
        });
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn id_json(id: Option<u64>) -> String {
    id.map_or_else(|| "null".to_string(), |id| id.to_string())
}

fn reply(connection: &Connection, id: Option<u64>, result: &str) {
    let text = format!(r#"{{"type":"reply","id":{},"result":{result}}}"#, id_json(id));
    connection.outbox.push(frame::text(text.as_bytes()));
}

fn error(connection: &Connection, id: Option<u64>, code: &str, message: &str) {
    let text = format!(
        r#"{{"type":"reply","id":{},"error":{{"code":"{code}","message":{},"reference":"{}.{}"}}}}"#,
        id_json(id),
        json_string(message),
        connection.number,
        id.map_or_else(|| "-".to_string(), |id| id.to_string())
    );
    connection.outbox.push(frame::text(text.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_codec::Decoder;
    use actix_http::ws::{Codec, Frame};
    use bytes::BytesMut;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// Every text frame queued on `outbox` so far.
    fn drain(outbox: &Outbox) -> Vec<String> {
        use actix_http::body::MessageBody;
        let mut body = outbox.body();
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let mut bytes = BytesMut::new();
        while let Poll::Ready(Some(Ok(chunk))) = Pin::new(&mut body).poll_next(&mut cx) {
            bytes.extend_from_slice(&chunk);
        }
        let mut codec = Codec::new().client_mode();
        let mut texts = Vec::new();
        while let Ok(Some(Frame::Text(text))) = codec.decode(&mut bytes) {
            texts.push(String::from_utf8(text.to_vec()).expect("utf-8"));
        }
        texts
    }

    #[test]
    fn a_publish_is_answered_before_the_publisher_hears_it_and_every_member_hears_it_once() {
        let hub = Hub::default();
        let (a_out, b_out) = (Outbox::default(), Outbox::default());
        let (mut a, mut b) = (hub.connect(a_out.clone()), hub.connect(b_out.clone()));
        for c in [&mut a, &mut b] {
            hub.request(c, br#"{"id":1,"op":"hello","version":1,"token":"t"}"#);
            hub.request(c, br#"{"id":2,"op":"subscribe","channel":"room-1"}"#);
        }
        hub.request(&mut a, br#"{"id":3,"op":"publish","channel":"room-1","data":{"text":"hi","m":"1.1.5"}}"#);
        let a_frames = drain(&a_out);
        assert!(a_frames[2].starts_with(r#"{"type":"reply","id":3,"result":{"epoch":"floor","offset":1"#));
        assert!(a_frames[3].starts_with(r#"{"type":"pub","channel":"room-1""#), "{a_frames:?}");
        let b_frames = drain(&b_out);
        assert_eq!(b_frames.len(), 3, "b's two replies and one pub: {b_frames:?}");
        assert!(b_frames[2].ends_with(r#""data":{"text":"hi","m":"1.1.5"}}"#));
    }

    #[test]
    fn requests_before_hello_and_unknown_ops_are_refused() {
        let hub = Hub::default();
        let out = Outbox::default();
        let mut c = hub.connect(out.clone());
        hub.request(&mut c, br#"{"id":1,"op":"publish","channel":"x","data":{"text":"a"}}"#);
        hub.request(&mut c, br#"{"id":2,"op":"hello","version":1,"token":"t"}"#);
        hub.request(&mut c, br#"{"id":3,"op":"history","channel":"x"}"#);
        hub.request(&mut c, b"not json");
        let frames = drain(&out);
        assert!(frames[0].contains(r#""code":"unauthorized""#), "{frames:?}");
        assert!(frames[1].contains(r#""result""#));
        assert!(frames[2].contains(r#""code":"unknown_op""#));
        assert!(frames[3].contains(r#""id":null"#) && frames[3].contains("bad_request"));
    }
}

//! The WebSocket itself (RFC 6455), as Makeroom speaks it from its own frame reader and writer: with a
//! standard client library (tokio-tungstenite) for what a well-behaved client does, and with raw
//! bytes on a plain TCP socket for what a broken one might send.

mod common;

use common::{Client, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn socket(server: &TestServer) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", server.port))
        .await
        .expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    socket
}

/// The next text frame as JSON, answering nothing by hand (the library answers pings itself).
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a frame in time");
        match message.expect("open").expect("valid") {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// A frame as a client sends it, masked or not, final or not.
fn raw_frame(opcode: u8, fin: bool, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => frame.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let mask = [0x5a, 0x13, 0xc7, 0x02];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

/// A raw TCP connection past the WebSocket handshake.
async fn raw_socket(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).await.expect("connects");
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .expect("handshake sent");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.expect("handshake answered");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455's own example key and accept value.
    assert!(head.to_ascii_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    stream
}

/// Reads server frames from a raw socket until the close frame; returns its code.
async fn close_code_of(stream: &mut TcpStream) -> u16 {
    let mut bytes = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            bytes.extend_from_slice(&buffer[..n]);
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    let mut at = 0;
    while at + 2 <= bytes.len() {
        assert_eq!(bytes[at + 1] & 0x80, 0, "server frames are never masked");
        let (opcode, short) = (bytes[at] & 0x0f, usize::from(bytes[at + 1] & 0x7f));
        let (length, start) = match short {
            126 => (usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])), at + 4),
            127 => panic!("no server frame here is that long"),
            n => (n, at + 2),
        };
        if opcode == 0x8 {
            return u16::from_be_bytes([bytes[start], bytes[start + 1]]);
        }
        at = start + length;
    }
    panic!("no close frame in {bytes:?}")
}

#[tokio::test]
async fn a_message_sent_in_fragments_around_a_ping_is_one_request() {
    let server = TestServer::start().await;
    let mut socket = socket(&server).await;
    let text = br#"{"id":7,"op":"time"}"#;
    let (first, rest) = text.split_at(6);
    let (middle, last) = rest.split_at(5);
    let frame = |opcode, fin, payload: &[u8]| {
        let header = FrameHeader { is_final: fin, opcode, ..FrameHeader::default() };
        Frame::from_payload(header, payload.to_vec().into())
    };
    socket.send(Message::Frame(frame(OpCode::Data(Data::Text), false, first))).await.expect("sent");
    socket.send(Message::Ping("between".into())).await.expect("sent");
    socket.send(Message::Frame(frame(OpCode::Data(Data::Continue), false, middle))).await.expect("sent");
    socket.send(Message::Frame(frame(OpCode::Data(Data::Continue), true, last))).await.expect("sent");
    let mut pong = false;
    let reply = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("in time") {
            Some(Ok(Message::Pong(payload))) => pong = &payload[..] == b"between",
            Some(Ok(Message::Text(text))) => break serde_json::from_str::<Value>(&text).expect("JSON"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(pong, "the ping between the fragments was answered with its payload");
    assert_eq!(reply["id"], 7);
    assert!(reply["result"]["server_time"].is_i64(), "{reply}");
}

#[tokio::test]
async fn the_server_pings_and_a_client_that_answers_stays() {
    let server = TestServer::start_with(&["--heartbeat-interval", "0.2", "--client-timeout", "1"]).await;
    let mut socket = socket(&server).await;
    // tokio-tungstenite answers pings by itself as it reads, as browsers do.
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Ping(_)))) = tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
            pings += 1;
        }
    }
    assert!(pings >= 3, "pings every 0.2 s: {pings} in 2 s");
    socket.send(Message::text(r#"{"id":1,"op":"time"}"#)).await.expect("still open");
    assert_eq!(next_json(&mut socket).await["id"], 1);
}

#[tokio::test]
async fn a_close_from_the_client_is_answered_with_its_code() {
    let server = TestServer::start().await;
    let mut socket = socket(&server).await;
    socket.close(Some(CloseFrame { code: CloseCode::Away, reason: "bye".into() })).await.expect("close sent");
    let answer = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("in time") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected the close answered, got {other:?}"),
        }
    };
    assert_eq!(answer.map(|frame| frame.code), Some(CloseCode::Away));
}

#[tokio::test]
async fn a_close_from_the_server_says_why_first() {
    let server = TestServer::start().await;
    let token = server.join("Ada", None).await["token"].as_str().unwrap_or_default().to_string();
    let mut client = Client::connect(server.port).await;
    let reply = client.request(json!({"op": "hello", "version": 2, "token": token})).await;
    assert_eq!(reply["error"]["code"], "unsupported_version");
    let closed = client.closed().await;
    assert_eq!(closed.closing.expect("a closing push first")["code"], 4000);
    assert_eq!(closed.close.expect("a close frame").code, CloseCode::Library(4000));
}

#[tokio::test]
async fn breaking_the_websocket_protocol_closes_with_the_code_it_calls_for() {
    let server = TestServer::start_with(&["--max-frame-bytes", "4096"]).await;
    let hello = json!({"id": 1, "op": "time"}).to_string();
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("an unmasked client frame", raw_frame(0x1, true, false, hello.as_bytes()), 1002),
        ("text that is not UTF-8", raw_frame(0x1, true, true, &[b'"', 0xc3, 0x28, b'"']), 1007),
        (
            "reserved bits set",
            {
                let mut f = raw_frame(0x1, true, true, hello.as_bytes());
                f[0] |= 0x40;
                f
            },
            1002,
        ),
        ("an unknown opcode", raw_frame(0x3, true, true, b"?"), 1002),
        ("a ping over 125 bytes", raw_frame(0x9, true, true, &[b'p'; 126]), 1002),
        ("a frame over the limit", raw_frame(0x1, true, true, &vec![b' '; 5000]), 1009),
    ];
    for (what, bytes, expected) in cases {
        let mut stream = raw_socket(&server).await;
        stream.write_all(&bytes).await.expect("sent");
        assert_eq!(close_code_of(&mut stream).await, expected, "{what}");
    }
    // A frame one byte over the limit is refused from its header alone: the payload is never awaited.
    let mut stream = raw_socket(&server).await;
    let announced = raw_frame(0x2, true, true, &vec![0u8; 70_000]);
    stream.write_all(&announced[..14]).await.expect("header sent");
    assert_eq!(close_code_of(&mut stream).await, 1009);
}

#[tokio::test]
async fn a_message_larger_than_one_read_arrives_whole() {
    // 60 KB of data (under the 64 KiB request limit), read by the server over many reads.
    let server = TestServer::start_with(&["--max-data-bytes", "65536"]).await;
    let (mut ada, _) = server.participant("Ada", None).await;
    let long = "a".repeat(60_000);
    let reply = ada.say("lobby", &long, None).await;
    assert_eq!(reply["error"]["code"], "bad_request", "over the chat text limit, but read whole: {reply}");
    assert!(reply["error"]["message"].as_str().unwrap_or_default().contains("2000"), "{reply}");
}

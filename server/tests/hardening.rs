//! A venue full of phones is a hostile network: slow readers, floods, pages from elsewhere, one person
//! with too many tabs. Makeroom keeps serving everyone else and loses nothing.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, TestServer, error_code, offsets, redis_backend};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_without_holding_anyone_up_and_recovers() {
    let server = TestServer::start_with(&[
        "--outbox-capacity",
        "64",
        "--requests-per-second",
        "5000",
        "--request-burst",
        "5000",
        "--participant-requests-per-second",
        "5000",
        "--participant-request-burst",
        "5000",
    ])
    .await;
    let joined = server.join("Stalled phone", None).await;
    let token = joined["token"].as_str().unwrap().to_string();

    // The stalled phone reads through a tiny receive buffer and then not at all.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], server.port).into()).await.unwrap();
    let request = format!("ws://127.0.0.1:{}/ws", server.port).into_client_request().unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    use futures_util::SinkExt;
    let hello = json!({"id": 1, "op": "hello", "version": 1, "token": token}).to_string();
    stalled.send(tokio_tungstenite::tungstenite::Message::text(hello)).await.unwrap();
    let subscribe = json!({"id": 2, "op": "subscribe", "channel": "lobby"}).to_string();
    stalled.send(tokio_tungstenite::tungstenite::Message::text(subscribe)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    const SENT: u64 = 1500;
    let mut healthy = server.client(&server.organiser_token().await).await;
    healthy.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    // A phone that keeps reading, meanwhile.
    let reading = tokio::spawn(async move { healthy.publications("lobby", SENT as usize).await });
    let (mut speaker, _) = server.participant("Speaker", None).await;
    let pad = "x".repeat(10_000);
    let publishing = tokio::spawn(async move {
        for i in 1..=SENT {
            let reply = speaker
                .request(json!({"op": "publish", "channel": "lobby", "data": {"text": format!("m{i}"), "pad": pad}}))
                .await;
            assert!(reply["result"].is_object(), "{reply}");
        }
    });
    // The stalled phone looks at its socket again as soon as the server has cut it off: the server
    // waits a moment for its goodbye to be read, not for as long as the publishing goes on.
    let cut_off = async {
        while server.metric("makeroom_slow_consumers_total").await < 1.0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), cut_off).await.expect("the stalled phone is cut off");

    // The stalled phone was told to go, with a reason and an invitation to come back.
    let mut closing = None;
    let mut last_seen = 0;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), stalled.next()).await {
        match message {
            tokio_tungstenite::tungstenite::Message::Text(text) => {
                let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "pub" {
                    last_seen = frame["offset"].as_u64().unwrap();
                }
                if frame["type"] == "closing" {
                    closing = Some(frame);
                }
            }
            tokio_tungstenite::tungstenite::Message::Close(close) => {
                assert_eq!(close.unwrap().code, 4009u16.into());
                break;
            }
            _ => {}
        }
    }
    let closing = closing.expect("a closing frame before the close");
    assert_eq!((closing["code"].as_u64(), closing["reconnect"].as_bool()), (Some(4009), Some(true)));
    assert!(last_seen < SENT, "it was cut off before the end");

    // Everyone else got everything, in order.
    publishing.await.unwrap();
    let seen = reading.await.unwrap();
    assert_eq!(offsets(&seen), (1..=SENT).collect::<Vec<_>>());

    // It comes back and recovers exactly what it missed.
    let mut back = server.client(&token).await;
    let epoch = seen[0]["epoch"].as_str().unwrap();
    let resumed = back
        .request(json!({"op": "subscribe", "channel": "lobby", "since": {"epoch": epoch, "offset": last_seen}}))
        .await;
    assert_eq!(resumed["result"]["recovered"], true);
    assert_eq!(
        offsets(resumed["result"]["publications"].as_array().unwrap()),
        ((last_seen + 1)..=SENT).collect::<Vec<_>>()
    );
    let (_, metrics) = server.http("GET", "/metrics", None, None).await;
    assert!(metrics.as_str().unwrap().contains("makeroom_slow_consumers_total 1"), "{metrics}");
}

#[tokio::test]
async fn pages_from_other_origins_may_not_open_connections() {
    let server = TestServer::start_with(&["--allowed-origins", "https://makeroom.example.org"]).await;
    let attempt = |origin: &'static str| {
        let port = server.port;
        async move {
            let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request().unwrap();
            request.headers_mut().insert("origin", origin.parse().unwrap());
            tokio_tungstenite::connect_async(request).await.map(|_| ())
        }
    };
    match attempt("https://evil.example.com").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected a 403, got {other:?}"),
    }
    assert!(attempt("https://makeroom.example.org").await.is_ok(), "a configured origin");
    let own: &'static str = Box::leak(format!("http://127.0.0.1:{}", server.port).into_boxed_str());
    assert!(attempt(own).await.is_ok(), "the server's own pages");
    // Native clients send no Origin and carry their token themselves.
    assert!(Client::connect(server.port).await.request(json!({"op": "time"})).await["result"].is_object());
}

#[tokio::test]
async fn one_person_cannot_hold_too_many_connections_or_flood_across_them() {
    let server = TestServer::start_with(&[
        "--max-connections-per-participant",
        "2",
        "--participant-requests-per-second",
        "5",
        "--participant-request-burst",
        "10",
    ])
    .await;
    let joined = server.join("Many tabs", None).await;
    let token = joined["token"].as_str().unwrap().to_string();
    let mut first = server.client(&token).await;
    let mut second = server.client(&token).await;
    let mut third = Client::connect(server.port).await;
    let refused = third.request(json!({"op": "hello", "version": 1, "token": token})).await;
    assert_eq!(error_code(&refused), "rate_limited", "{refused}");
    assert!(refused["error"]["reference"].is_string(), "errors name a reference for the logs");

    // Spread over two connections, the person's own budget still runs out.
    let mut limited = false;
    for i in 0..30 {
        let client = if i % 2 == 0 { &mut first } else { &mut second };
        let reply = client.request(json!({"op": "time"})).await;
        if error_code(&reply) == "rate_limited" {
            assert!(reply["error"]["message"].as_str().unwrap().contains("from you"));
            limited = true;
            break;
        }
    }
    assert!(limited);
    // Somebody else is not affected.
    let (mut other, _) = server.participant("Someone else", None).await;
    assert!(other.request(json!({"op": "time"})).await["result"].is_object());
    // Closing a tab frees its place.
    first.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = Client::connect(server.port).await;
    assert!(again.request(json!({"op": "hello", "version": 1, "token": token})).await["result"].is_object());
}

#[tokio::test]
async fn metrics_count_what_happens() {
    let server = TestServer::start().await;
    let (mut ada, _) = server.participant("Ada", None).await;
    ada.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    ada.say("lobby", "hello", None).await;
    ada.publications("lobby", 1).await;
    ada.request(json!({"op": "teleport"})).await;
    let (status, metrics) = server.http("GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap();
    for expected in [
        "makeroom_connections 1",
        "makeroom_subscriptions 1",
        "makeroom_deliveries_total 1",
        "makeroom_request_errors_total 1",
        "makeroom_fanout_seconds_count",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let value = |name: &str| -> u64 {
        let line = text.lines().find(|line| line.starts_with(&format!("{name} "))).unwrap_or_default();
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    // Every reply and push went out, some possibly several to a write, never a write with nothing.
    let (frames, writes) = (value("makeroom_frames_written_total"), value("makeroom_write_batches_total"));
    assert!(writes >= 1 && frames >= writes, "{frames} frames in {writes} writes");
    if !redis_backend() {
        let (commits, appends) = (value("makeroom_store_commits_total"), value("makeroom_store_appends_total"));
        assert!(commits >= 1 && appends >= commits, "{appends} appends in {commits} commits");
    }
}

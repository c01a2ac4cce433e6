//! Joining with a code, as a venue and as a script see it: hundreds of phones behind one address get
//! in; a run of guessed codes from one address is stopped; an event's roster grows only so fast; an
//! organiser closes joining and rotates the code, and both outlast a crash.

#![allow(clippy::unwrap_used)]

mod common;

use common::{TestServer, error_code};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// A code no event has (the alphabet has no `0` or `O`, so no join code can be this).
fn wrong_code(n: usize) -> String {
    format!("0{n:05}")
}

fn join_body(code: &str, name: &str) -> Value {
    json!({"code": code, "name": name, "skills": ["testing"]})
}

#[tokio::test]
async fn three_hundred_phones_behind_one_address_join_within_a_minute() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let venue = Ipv4Addr::new(127, 0, 0, 2);
    // As the join page does: look the code up, join, and (on the room page) trade the refresh token.
    let mut workers = Vec::new();
    for worker in 0..10 {
        let (port, code) = (server.port, server.join_code.clone());
        workers.push(tokio::spawn(async move {
            for n in (worker..300).step_by(10) {
                let (status, info) =
                    common::http_from(venue, port, "GET", &format!("/api/join/{code}"), None, None).await;
                assert_eq!(status, 200, "{info}");
                let body = join_body(&code, &format!("Phone {n}"));
                let (status, joined) = common::http_from(venue, port, "POST", "/api/join", None, Some(body)).await;
                assert_eq!(status, 200, "phone {n}: {joined}");
                let trade = json!({"refresh_token": joined["refresh_token"]});
                let (status, token) = common::http_from(venue, port, "POST", "/api/token", None, Some(trade)).await;
                assert_eq!(status, 200, "phone {n}: {token}");
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert_eq!(server.metric("makeroom_api_rate_limited_total{limit=\"address\"}").await, 0.0);
    assert_eq!(server.metric("makeroom_api_failed_lookups_total").await, 0.0);
    let organiser = server.organiser_token().await;
    let mut console = server.client(&organiser).await;
    let roster = console.request(json!({"op": "subscribe", "channel": "roster", "snapshot": true})).await;
    let people = roster["result"]["snapshot"]["state"]["participants"].as_object().unwrap();
    let phones = people.values().filter(|p| p["name"].as_str().unwrap().starts_with("Phone ")).count();
    assert_eq!(phones, 300);
}

#[tokio::test]
async fn guessing_join_codes_from_one_address_is_stopped_within_a_few_dozen_tries() {
    let server = TestServer::start().await;
    let guesser = Ipv4Addr::new(127, 0, 0, 3);
    let mut tries = 0;
    let refusal = loop {
        let (status, body) =
            server.http_from(guesser, "GET", &format!("/api/join/{}", wrong_code(tries)), None, None).await;
        if status == 429 {
            break body;
        }
        assert_eq!((status, error_code(&body)), (404, "not_found"), "{body}");
        tries += 1;
        assert!(tries <= 60, "still guessing after {tries} tries");
    };
    assert!((20..=48).contains(&tries), "stopped after {tries} wrong codes");
    assert_eq!(error_code(&refusal), "rate_limited", "{refusal}");
    let retry_after = refusal["error"]["retry_after_ms"].as_u64().unwrap();
    assert!(retry_after > 1000, "a guesser waits seconds, not milliseconds: {retry_after}");
    assert!(refusal["error"]["message"].as_str().unwrap().contains("try again in"), "{refusal}");

    // The right code from the same address is refused as well: a hit cannot be told from a miss
    // before the miss is paid for. Joining (a POST) is refused alike.
    let (status, _) = server.http_from(guesser, "GET", &format!("/api/join/{}", server.join_code), None, None).await;
    assert_eq!(status, 429);
    let body = join_body(&server.join_code, "Guesser");
    let (status, body) = server.http_from(guesser, "POST", "/api/join", None, Some(body)).await;
    assert_eq!((status, error_code(&body)), (429, "rate_limited"));
    // Made-up refresh tokens cost as much as made-up codes.
    let (status, _) =
        server.http_from(guesser, "POST", "/api/token", None, Some(json!({"refresh_token": "made.up.token"}))).await;
    assert_eq!(status, 429);

    // Another address (another venue) is untouched.
    let venue = Ipv4Addr::new(127, 0, 0, 4);
    let (status, joined) =
        server.http_from(venue, "POST", "/api/join", None, Some(join_body(&server.join_code, "Ada"))).await;
    assert_eq!(status, 200, "{joined}");

    assert_eq!(server.metric("makeroom_api_failed_lookups_total").await, tries as f64);
    assert!(server.metric("makeroom_api_rate_limited_total{limit=\"address\"}").await >= 4.0);
}

#[tokio::test]
async fn an_event_takes_joins_only_so_fast_from_every_address_together() {
    let server = TestServer::start_with(&["--event-join-burst", "5", "--event-joins-per-second", "1"]).await;
    let mut refused = None;
    for n in 0..8u8 {
        let address = Ipv4Addr::new(127, 0, 1, n + 1);
        let (status, body) = server
            .http_from(address, "POST", "/api/join", None, Some(join_body(&server.join_code, &format!("Bot {n}"))))
            .await;
        if status != 200 {
            refused = Some((n, status, body));
            break;
        }
    }
    let (n, status, body) = refused.expect("the event's budget ran out");
    assert!((5..=6).contains(&n), "the sixth join (or, a second later, the seventh) is refused; got {n}");
    assert_eq!((status, error_code(&body)), (429, "rate_limited"), "{body}");
    assert!(body["error"]["retry_after_ms"].as_u64().unwrap() <= 1001);
    assert!(server.metric("makeroom_api_rate_limited_total{limit=\"event\"}").await >= 1.0);
    // Looking the event up is not a join: it still works.
    let (status, _) = server.http("GET", &format!("/api/join/{}", server.join_code), None, None).await;
    assert_eq!(status, 200);
}

async fn set_joining(server: &TestServer, token: &str, open: bool) -> (u16, Value) {
    server
        .http("POST", &format!("/api/events/{}/joining", server.event_id), Some(token), Some(json!({"open": open})))
        .await
}

async fn rotate(server: &TestServer, token: &str) -> (u16, Value) {
    server.http("POST", &format!("/api/events/{}/join-code", server.event_id), Some(token), None).await
}

#[tokio::test]
async fn an_organiser_closes_joining_and_rotates_the_code_and_both_survive_a_crash() {
    let mut server = TestServer::start().await;
    let organiser = server.organiser_token().await;
    let (_, ada) = server.participant("Ada", None).await;

    // Only organisers change how people join; displays may read it, participants neither.
    let participant = ada["token"].as_str().unwrap();
    let path = format!("/api/events/{}/joining", server.event_id);
    assert_eq!(set_joining(&server, participant, false).await.0, 403);
    assert_eq!(rotate(&server, participant).await.0, 403);
    assert_eq!(server.http("GET", &path, Some(participant), None).await.0, 403);
    let display = server.display_token().await;
    let (status, shown) = server.http("GET", &path, Some(&display), None).await;
    assert_eq!((status, shown), (200, json!({"join_code": server.join_code, "open": true})));

    // Closed: joining and looking the code up answer a clear refusal; organisers still add displays.
    let (status, joining) = set_joining(&server, &organiser, false).await;
    assert_eq!((status, joining), (200, json!({"join_code": server.join_code, "open": false})));
    let (status, body) = server.http("POST", "/api/join", None, Some(join_body(&server.join_code, "Late"))).await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("joining this event is closed"), "{body}");
    let (status, body) = server.http("GET", &format!("/api/join/{}", server.join_code), None, None).await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"));
    let displays = format!("/api/events/{}/displays", server.event_id);
    let (status, _) = server.http("POST", &displays, Some(&organiser), Some(json!({"name": "Hall"}))).await;
    assert_eq!(status, 200, "organisers add displays while joining is closed");

    // Rotated: the old code finds nothing; the new one is told to organisers' connections.
    let old_code = server.join_code.clone();
    let (status, rotated) = rotate(&server, &organiser).await;
    assert_eq!(status, 200, "{rotated}");
    let new_code = rotated["join_code"].as_str().unwrap().to_string();
    assert_ne!(new_code, old_code);
    assert_eq!(new_code.len(), 6);
    assert_eq!(rotated["open"], false, "rotating leaves joining as it was");
    let (status, body) = server.http("GET", &format!("/api/join/{old_code}"), None, None).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    let mut fresh = common::Client::connect(server.port).await;
    let hello = fresh.request(json!({"op": "hello", "version": 1, "token": organiser})).await;
    assert_eq!(hello["result"]["event"]["join_code"], new_code.as_str());

    // Killed outright and started again: closed stays closed, and the old code stays dead.
    server.crash_and_restart().await;
    let (status, body) = server.http("POST", "/api/join", None, Some(join_body(&new_code, "After the crash"))).await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"), "{body}");
    let (status, _) = server.http("GET", &format!("/api/join/{old_code}"), None, None).await;
    assert_eq!(status, 404);
    let organiser = server.organiser_token().await;
    let (status, joining) = set_joining(&server, &organiser, true).await;
    assert_eq!((status, joining), (200, json!({"join_code": new_code, "open": true})));
    let (status, joined) = server.http("POST", "/api/join", None, Some(join_body(&new_code, "Bo"))).await;
    assert_eq!(status, 200, "{joined}");
    let (status, body) = server.http("POST", "/api/join", None, Some(join_body(&old_code, "Cy"))).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    // The printed links and the export carry the code in force.
    assert_eq!(server.join_code, new_code, "the restarted server prints the new code");
    let export = format!("/api/events/{}/export", server.event_id);
    let (status, exported) = server.http("GET", &export, Some(&organiser), None).await;
    assert_eq!((status, exported["event"]["join_code"].as_str()), (200, Some(new_code.as_str())));
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_nobody_else_names_one() {
    let server = TestServer::start_with(&["--trusted-proxies", "127.0.0.1,10.0.0.0/8"]).await;
    let from_proxy = |client: &'static str, n: usize| {
        let port = server.port;
        async move {
            let path = format!("/api/join/{}", wrong_code(n));
            common::http_from_with_headers(
                Ipv4Addr::LOCALHOST,
                port,
                "GET",
                &path,
                &[("X-Forwarded-For", client)],
                None,
            )
            .await
            .0
        }
    };
    // A guesser behind the proxy runs out of budget...
    let mut tries = 0;
    while from_proxy("198.51.100.7", tries).await == 404 {
        tries += 1;
        assert!(tries <= 60, "still guessing after {tries} tries");
    }
    assert_eq!(from_proxy("198.51.100.7", 0).await, 429);
    // ...while another client behind the same proxy does not.
    assert_eq!(from_proxy("203.0.113.5", 0).await, 404);
    let joined = common::http_from_with_headers(
        Ipv4Addr::LOCALHOST,
        server.port,
        "POST",
        "/api/join",
        &[("X-Forwarded-For", "203.0.113.5")],
        Some(join_body(&server.join_code, "Behind the proxy")),
    )
    .await;
    assert_eq!(joined.0, 200, "{}", joined.1);
    // An address that is not a trusted proxy cannot name a client: its header is ignored, and it is
    // charged as itself (here: a fresh budget, not the guesser's empty one).
    let path = format!("/api/join/{}", server.join_code);
    let forged = [("X-Forwarded-For", "198.51.100.7")];
    let (status, _) =
        common::http_from_with_headers(Ipv4Addr::new(127, 0, 0, 9), server.port, "GET", &path, &forged, None).await;
    assert_eq!(status, 200);
}

/// `GET path` as a browser's `<img>` asks for it (no token); the status line and headers, and the body.
async fn get_image(port: u16, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: image/*\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test]
async fn the_join_links_qr_code_is_a_cacheable_svg_that_follows_the_code() {
    let server = TestServer::start().await;
    let (head, svg) = get_image(server.port, &format!("/api/join/{}/qr.svg", server.join_code)).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: image/svg+xml"), "{head}");
    assert!(head.contains("cache-control: public, max-age=3600"), "{head}");
    assert!(svg.contains("<svg") && svg.contains("viewBox") && svg.ends_with("</svg>"), "{svg}");

    // A new code is a new picture at a new address; the old address still draws the old code's link,
    // which no longer lets anyone in (the picture only says what the code says).
    let token = server.organiser_token().await;
    let (status, rotated) = rotate(&server, &token).await;
    assert_eq!(status, 200, "{rotated}");
    let new_code = rotated["join_code"].as_str().unwrap();
    let (head, new_svg) = get_image(server.port, &format!("/api/join/{new_code}/qr.svg")).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_ne!(new_svg, svg);

    // Anything that is not shaped like a join code is refused, with the usual JSON error.
    for bad in ["0AAAAA", "abcdef", "K7M2QXX", "%3Cscript%3E"] {
        let (status, body) = server.http("GET", &format!("/api/join/{bad}/qr.svg"), None, None).await;
        assert_eq!((status, error_code(&body)), (404, "not_found"), "{bad}: {body}");
    }
}

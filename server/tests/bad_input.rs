//! Bad input gets a typed error; the connection, the server and everyone else carry on.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, TestServer, error_code};
use serde_json::json;

/// The connection still answers a request, so the bad frame did not break it.
async fn still_works(client: &mut Client) {
    let reply = client.request(json!({"op": "time"})).await;
    assert!(reply["result"]["server_time"].is_i64(), "{reply}");
}

#[tokio::test]
async fn malformed_frames_get_typed_errors_and_the_connection_carries_on() {
    let server = TestServer::start().await;
    let (mut ada, _) = server.participant("Ada", None).await;

    ada.send_text("{this is not json").await;
    let reply = ada.next_frame().await.unwrap();
    assert_eq!((reply["type"].as_str(), reply["id"].is_null()), (Some("reply"), true));
    assert_eq!(error_code(&reply), "bad_request");
    still_works(&mut ada).await;

    let reply = ada.request(json!({"op": "teleport"})).await;
    assert_eq!(error_code(&reply), "unknown_op");
    assert!(reply["error"]["message"].as_str().unwrap().contains("teleport"));

    let reply = ada.request(json!({"op": "publish", "channel": "lobby"})).await;
    assert_eq!(error_code(&reply), "bad_request", "missing data: {reply}");
    let reply = ada.request(json!({"op": "subscribe", "channel": 7})).await;
    assert_eq!(error_code(&reply), "bad_request", "wrong type: {reply}");
    ada.send_text(r#"{"op":"time"}"#).await;
    let reply = ada.next_frame().await.unwrap();
    assert_eq!(error_code(&reply), "bad_request", "no id");

    ada.send_binary(vec![0, 159, 146, 150]).await;
    let reply = ada.next_frame().await.unwrap();
    assert_eq!(error_code(&reply), "bad_request");
    assert!(reply["error"]["message"].as_str().unwrap().contains("binary"));

    let reply = ada.request(json!({"op": "publish", "channel": "lobby", "data": {"text": "   "}})).await;
    assert_eq!(error_code(&reply), "bad_request", "a blank message");
    let reply = ada.request(json!({"op": "publish", "channel": "lobby", "data": "just a string"})).await;
    assert_eq!(error_code(&reply), "bad_request");
    let reply = ada.request(json!({"op": "publish", "channel": "team:", "data": {"text": "x"}})).await;
    assert_eq!(error_code(&reply), "not_found");
    still_works(&mut ada).await;
}

#[tokio::test]
async fn oversized_frames_and_payloads_are_refused_by_size() {
    let server = TestServer::start_with(&[
        "--max-message-bytes",
        "4096",
        "--max-data-bytes",
        "1024",
        "--max-frame-bytes",
        "65536",
    ])
    .await;
    let (mut ada, _) = server.participant("Ada", None).await;
    let (mut bo, _) = server.participant("Bo", None).await;
    bo.request(json!({"op": "subscribe", "channel": "lobby"})).await;

    // Over the data limit but under the frame limit.
    let reply = ada.say("lobby", &"a".repeat(1500), None).await;
    assert_eq!(error_code(&reply), "too_large");

    // Over the message limit: refused with the request's id, connection kept.
    let big = json!({"id": 77, "op": "publish", "channel": "lobby", "data": {"text": "b".repeat(10_000)}});
    ada.send_text(big.to_string()).await;
    let reply = ada.next_frame().await.unwrap();
    assert_eq!((error_code(&reply), reply["id"].as_u64()), ("too_large", Some(77)));
    still_works(&mut ada).await;

    // Over the hard frame limit: the connection is closed with 1009 and a reason.
    ada.send_text(json!({"id": 78, "op": "time", "pad": "c".repeat(100_000)}).to_string()).await;
    let closed = ada.closed().await;
    assert_eq!(closed.close.unwrap().code, 1009u16.into());
    assert_eq!(closed.closing.unwrap()["reconnect"], true);

    // Nobody else noticed: Bo's connection and the server carry on, and nothing was stored.
    still_works(&mut bo).await;
    let history = bo.request(json!({"op": "history", "channel": "lobby"})).await;
    assert_eq!(history["result"]["publications"], json!([]));
    assert_eq!(server.http("GET", "/healthz", None, None).await.0, 200);
}

#[tokio::test]
async fn a_flood_is_rate_limited_with_a_time_to_retry() {
    let server = TestServer::start_with(&["--requests-per-second", "5", "--request-burst", "5"]).await;
    let (mut ada, _) = server.participant("Ada", None).await;
    let mut limited = None;
    for _ in 0..30 {
        let reply = ada.request(json!({"op": "time"})).await;
        if error_code(&reply) == "rate_limited" {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("a flood meets the rate limit");
    assert!(limited["error"]["retry_after_ms"].as_u64().unwrap() > 0);
    tokio::time::sleep(std::time::Duration::from_millis(limited["error"]["retry_after_ms"].as_u64().unwrap() + 50))
        .await;
    still_works(&mut ada).await;
}

#[tokio::test]
async fn a_connection_that_never_says_hello_is_closed_with_a_reason() {
    let server = TestServer::start_with(&["--hello-timeout", "0.5"]).await;
    let mut silent = Client::connect(server.port).await;
    let closed = silent.closed().await;
    assert_eq!(closed.close.unwrap().code, 4002u16.into());
    assert_eq!(closed.closing.unwrap()["reason"], "no hello in time");
}

#[tokio::test]
async fn malformed_http_bodies_get_typed_errors() {
    let server = TestServer::start().await;
    let (status, body) = server.http("POST", "/api/join", None, Some(json!({"name": "no code"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")));
    assert!(body["error"]["message"].as_str().unwrap().starts_with("the body is not what this call takes"), "{body}");
    let (status, body) = server.http("POST", "/api/token", None, Some(json!({"refresh_token": "garbage"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    let huge = "x".repeat(20_000);
    let (status, body) =
        server.http("POST", "/api/join", None, Some(json!({"code": server.join_code, "name": huge}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")));
    assert_eq!(body["error"]["message"], "request bodies are limited to 16 KiB");
    let skills: Vec<String> = (0..50).map(|i| format!("skill {i}")).collect();
    let (status, _) = server
        .http("POST", "/api/join", None, Some(json!({"code": server.join_code, "name": "Ada", "skills": skills})))
        .await;
    assert_eq!(status, 400);
}

/// `data` nested `depth` deep in arrays, as JSON text.
fn nested(depth: usize) -> String {
    format!("{}\"deep\"{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn frames_nested_deeper_than_the_limit_are_refused_and_never_stored() {
    let server = TestServer::start().await;
    let (mut ada, _) = server.participant("Ada", None).await;
    let (mut bo, _) = server.participant("Bo", None).await;
    bo.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let limit = makeroom_protocol::MAX_NESTING;

    // 8,000 deep in a publish's data, 10,000 deep in a command: both refused the same way, with their id.
    for (id, frame) in [
        (7, format!(r#"{{"id":7,"op":"publish","channel":"lobby","data":{{"text":"hi","x":{}}}}}"#, nested(8_000))),
        (8, format!(r#"{{"id":8,"op":"command","channel":"roster","command":{}}}"#, nested(10_000))),
        // One level past the limit (the frame's object and `data` are two of the levels).
        (9, format!(r#"{{"id":9,"op":"publish","channel":"lobby","data":{{"text":"hi","x":{}}}}}"#, nested(limit - 1))),
    ] {
        ada.send_text(frame).await;
        let reply = ada.next_frame().await.unwrap();
        assert_eq!((reply["id"].as_u64(), error_code(&reply)), (Some(id), "bad_request"), "{reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains(&format!("more than {limit} deep")), "{reply}");
    }
    // At the limit exactly, it is an ordinary message.
    let at_limit =
        format!(r#"{{"id":10,"op":"publish","channel":"lobby","data":{{"text":"hi","x":{}}}}}"#, nested(limit - 2));
    ada.send_text(at_limit).await;
    let reply = ada.next_frame().await.unwrap();
    assert_eq!(reply["result"]["offset"], 1, "{reply}");
    let push = bo.next_push().await;
    assert_eq!((push["type"].as_str(), push["offset"].as_u64()), (Some("pub"), Some(1)));

    // Nothing refused reached the store or anyone else.
    let history = bo.request(json!({"op": "history", "channel": "lobby"})).await;
    assert_eq!(history["result"]["publications"].as_array().unwrap().len(), 1, "{history}");
    assert!(bo.maybe_push(std::time::Duration::from_millis(200)).await.is_none());
    still_works(&mut ada).await;
}

#[tokio::test]
async fn error_references_name_their_instance_and_never_repeat_across_instances_or_restarts() {
    async fn first_error(server: &TestServer) -> (String, u64) {
        let mut client = Client::connect(server.port).await;
        let reply = client.request(json!({"op": "subscribe", "channel": "lobby"})).await;
        let reference = reply["error"]["reference"].as_str().unwrap().to_string();
        // Saying hello on the same connection tells its number: the reference's middle part.
        let organiser = server.organiser_token().await;
        let hello = client.request(json!({"op": "hello", "version": 1, "token": organiser})).await;
        (reference, hello["result"]["connection"].as_u64().unwrap())
    }
    let mut one = TestServer::start().await;
    let other = TestServer::start().await;
    let mut seen = Vec::new();
    for (reference, connection) in [first_error(&one).await, first_error(&other).await] {
        let parts: Vec<&str> = reference.split('.').collect();
        assert_eq!(parts.len(), 3, "{reference}");
        assert!(parts[0].len() == 6 && parts[0].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_eq!((parts[1], parts[2]), (connection.to_string().as_str(), "1"), "{reference}");
        seen.push(reference);
    }
    one.crash_and_restart().await;
    seen.push(first_error(&one).await.0);
    let instances: std::collections::HashSet<&str> = seen.iter().map(|r| r.split('.').next().unwrap()).collect();
    assert_eq!(instances.len(), 3, "two instances and a restarted one: three prefixes, {seen:?}");
}

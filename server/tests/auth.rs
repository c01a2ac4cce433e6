//! Tokens and access rules, over real sockets against the real binary.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, SECRET, TestServer, error_code};
use makeroom_protocol::Role;
use makeroom_server::auth::{Claims, Subject, TokenKind, Tokens};
use serde_json::json;

fn mint(claims: &Claims, secret: &str) -> String {
    Tokens::new(secret.as_bytes(), 60, 60).sign(claims).unwrap()
}

fn claims_for(server: &TestServer, participant: &str, role: Role, kind: TokenKind, exp_in: i64) -> Claims {
    let now = makeroom_server::clock::now_secs() as i64;
    Claims {
        sub: participant.into(),
        evt: server.event_id.clone(),
        role,
        name: "Someone".into(),
        typ: kind,
        iat: now as u64,
        exp: (now + exp_in) as u64,
    }
}

async fn hello(client: &mut Client, token: &str) -> serde_json::Value {
    client.request(json!({"op": "hello", "version": 1, "token": token})).await
}

#[tokio::test]
async fn hello_with_a_good_token_says_who_and_where() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let joined = server.join("Ada", Some(&teams[0].0)).await;
    let mut client = Client::connect(server.port).await;
    let reply = hello(&mut client, joined["token"].as_str().unwrap()).await;
    let result = &reply["result"];
    assert_eq!(result["participant"]["name"], "Ada");
    assert_eq!(result["participant"]["role"], "participant");
    assert_eq!(result["event"]["id"], server.event_id.as_str());
    assert_eq!(result["team"], teams[0].0.as_str());
    assert_eq!(result["version"], 1);
    assert!(result["limits"]["max_message_bytes"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn bad_tokens_are_refused_with_the_right_code_and_the_connection_stays_usable() {
    let server = TestServer::start().await;
    let joined = server.join("Ada", None).await;
    let id = joined["participant"]["id"].as_str().unwrap();
    let mut client = Client::connect(server.port).await;

    let reply = client.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    assert_eq!(error_code(&reply), "unauthorized", "requests before hello: {reply}");

    let forged =
        mint(&claims_for(&server, id, Role::Organiser, TokenKind::Access, 600), "another-secret-another-secret-000");
    assert_eq!(error_code(&hello(&mut client, &forged).await), "unauthorized");

    let expired = mint(&claims_for(&server, id, Role::Participant, TokenKind::Access, -5), SECRET);
    assert_eq!(error_code(&hello(&mut client, &expired).await), "token_expired");

    let refresh = joined["refresh_token"].as_str().unwrap();
    assert_eq!(
        error_code(&hello(&mut client, refresh).await),
        "unauthorized",
        "a refresh token is not an access token"
    );

    let nobody = mint(&claims_for(&server, "p_nobody", Role::Participant, TokenKind::Access, 600), SECRET);
    assert_eq!(error_code(&hello(&mut client, &nobody).await), "unauthorized");

    let mut other_event = claims_for(&server, id, Role::Participant, TokenKind::Access, 600);
    other_event.evt = "e_elsewhere".into();
    assert_eq!(error_code(&hello(&mut client, &mint(&other_event, SECRET)).await), "unauthorized");

    let reply = client
        .request(json!({"op": "hello", "version": 1, "token": joined["token"], "event": "e_someotherevent"}))
        .await;
    assert_eq!(error_code(&reply), "forbidden", "a page for one event refuses another's token");

    // After all that, the right token still works on the same connection.
    let reply = hello(&mut client, joined["token"].as_str().unwrap()).await;
    assert!(reply["result"].is_object(), "{reply}");
    let reply = hello(&mut client, joined["token"].as_str().unwrap()).await;
    assert_eq!(error_code(&reply), "bad_request", "hello twice");
}

#[tokio::test]
async fn an_unknown_protocol_version_is_refused_and_closed_for_good() {
    let server = TestServer::start().await;
    let token = server.organiser_token().await;
    let mut client = Client::connect(server.port).await;
    let reply = client.request(json!({"op": "hello", "version": 99, "token": token})).await;
    assert_eq!(error_code(&reply), "unsupported_version");
    let closed = client.closed().await;
    assert_eq!(closed.close.unwrap().code, 4000u16.into());
    assert_eq!(closed.closing.unwrap()["reconnect"], false);
}

#[tokio::test]
async fn channel_access_follows_role_and_team() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let (mine, theirs) = (format!("team:{}", teams[0].0), format!("team:{}", teams[1].0));
    let (mut ada, _) = server.participant("Ada", Some(&teams[0].0)).await;
    let mut organiser = server.client(&server.organiser_token().await).await;
    let mut display = server.client(&server.display_token().await).await;

    // A participant talks in the lobby and their own team, not elsewhere.
    assert!(ada.say("lobby", "hello all", None).await["result"].is_object());
    assert!(ada.say(&mine, "hello team", None).await["result"].is_object());
    assert_eq!(error_code(&ada.say(&theirs, "psst", None).await), "forbidden");
    assert_eq!(error_code(&ada.request(json!({"op": "subscribe", "channel": theirs})).await), "forbidden");
    assert_eq!(error_code(&ada.say("announcements", "I am in charge", None).await), "forbidden");
    let reply = ada.announce("I am in charge", "urgent").await;
    assert_eq!(error_code(&reply), "forbidden", "{reply}");
    assert_eq!(error_code(&ada.say("roster", "fake join", None).await), "forbidden");
    assert_eq!(error_code(&ada.request(json!({"op": "subscribe", "channel": "backstage"})).await), "not_found");

    // Organisers announce and read every team room.
    assert!(organiser.announce("Lunch is here", "normal").await["result"].is_object());
    assert!(organiser.request(json!({"op": "subscribe", "channel": theirs})).await["result"].is_object());
    let reply = organiser.request(json!({"op": "subscribe", "channel": "team:t_nosuchteam"})).await;
    assert_eq!(error_code(&reply), "not_found", "team rooms exist only for real teams");

    // A display only reads, and not team rooms.
    assert!(display.request(json!({"op": "subscribe", "channel": "announcements"})).await["result"].is_object());
    assert_eq!(error_code(&display.say("lobby", "I am a projector", None).await), "forbidden");
    assert_eq!(error_code(&display.request(json!({"op": "subscribe", "channel": mine})).await), "forbidden");
}

#[tokio::test]
async fn http_join_refresh_and_display_tokens_check_their_callers() {
    let server = TestServer::start().await;
    let (status, body) = server.http("POST", "/api/join", None, Some(json!({"code": "NOPE00", "name": "Ada"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, body) =
        server.http("POST", "/api/join", None, Some(json!({"code": server.join_code, "name": "   "}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")));
    let (status, _) = server
        .http("POST", "/api/join", None, Some(json!({"code": server.join_code, "name": "Ada", "team": "t_nope"})))
        .await;
    assert_eq!(status, 404);
    let lowercase = server.join_code.to_lowercase();
    let (status, _) = server.http("POST", "/api/join", None, Some(json!({"code": lowercase, "name": "Bo"}))).await;
    assert_eq!(status, 200, "join codes are not case-sensitive");

    let joined = server.join("Ada", None).await;
    let fresh = server.access_token(joined["refresh_token"].as_str().unwrap()).await;
    assert!(!fresh.is_empty());
    let (status, body) = server.http("POST", "/api/token", None, Some(json!({"refresh_token": joined["token"]}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "access tokens do not refresh");

    let path = format!("/api/events/{}/displays", server.event_id);
    let (status, _) = server.http("POST", &path, None, Some(json!({"name": "Hall B"}))).await;
    assert_eq!(status, 401);
    let (status, body) = server.http("POST", &path, joined["token"].as_str(), Some(json!({"name": "Hall B"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "participants cannot add displays");
    let organiser = server.organiser_token().await;
    let (status, body) = server.http("POST", "/api/events/e_other/displays", Some(&organiser), Some(json!({}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "another event's organiser");
    let (status, body) = server.http("POST", &path, Some(&organiser), Some(json!({"name": "Hall B"}))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["link"].as_str().unwrap().contains("/display#refresh="));
    let display_token = server.access_token(body["refresh_token"].as_str().unwrap()).await;
    let mut display = server.client(&display_token).await;
    assert_eq!(error_code(&display.say("lobby", "hi", None).await), "forbidden");
}

#[tokio::test]
async fn a_connection_is_warned_before_its_token_expires_then_closed_unless_it_refreshed() {
    let server = TestServer::start_with(&["--access-token-ttl", "3", "--token-warning", "2"]).await;
    let joined = server.join("Ada", None).await;
    let refresh = joined["refresh_token"].as_str().unwrap().to_string();
    let mut lapsing = server.client(joined["token"].as_str().unwrap()).await;
    let mut refreshing = server.client(&server.access_token(&refresh).await).await;

    let warning = refreshing.next_push().await;
    assert_eq!(warning["type"], "token_expiring", "{warning}");
    let reply = refreshing.request(json!({"op": "refresh", "token": server.access_token(&refresh).await})).await;
    assert!(reply["result"]["token_expires_at"].is_i64(), "{reply}");

    let warning = lapsing.next_push().await;
    assert_eq!(warning["type"], "token_expiring", "{warning}");
    let closed = lapsing.closed().await;
    assert_eq!(closed.close.unwrap().code, 4001u16.into());
    assert_eq!(closed.closing.unwrap()["reconnect"], true);

    let reply = refreshing.request(json!({"op": "time"})).await;
    assert!(reply["result"]["server_time"].is_i64(), "still connected after the first token's expiry");

    // A refresh for somebody else is refused.
    let other = server.join("Bo", None).await;
    let reply = refreshing.request(json!({"op": "refresh", "token": other["token"]})).await;
    assert_eq!(error_code(&reply), "forbidden");
}

#[tokio::test]
async fn tokens_signed_by_the_server_library_verify_over_the_wire() {
    // The token service used by the server is the one tests mint with: one truth for claims.
    let server = TestServer::start().await;
    let joined = server.join("Ada", None).await;
    let tokens = Tokens::new(SECRET.as_bytes(), 60, 60);
    let subject = Subject {
        participant: joined["participant"]["id"].as_str().unwrap(),
        event: &server.event_id,
        role: Role::Participant,
        name: "Ada",
    };
    let (token, _) = tokens.issue(&subject, TokenKind::Access).unwrap();
    let mut client = Client::connect(server.port).await;
    assert!(hello(&mut client, &token).await["result"].is_object());
}

#[tokio::test]
async fn a_hello_or_refresh_without_a_token_is_unauthorized_as_documented() {
    let server = TestServer::start().await;
    let mut client = Client::connect(server.port).await;
    let reply = client.request(json!({"op": "hello", "version": 1})).await;
    assert_eq!(error_code(&reply), "unauthorized", "{reply}");
    assert_eq!(reply["error"]["message"], "no token was given");
    let joined = server.join("Ada", None).await;
    let reply = hello(&mut client, joined["refresh_token"].as_str().unwrap()).await;
    assert_eq!(reply["error"]["message"], "this is a refresh token; an access token is needed here");
    assert!(hello(&mut client, joined["token"].as_str().unwrap()).await["result"].is_object());
    let reply = client.request(json!({"op": "refresh"})).await;
    assert_eq!(error_code(&reply), "unauthorized", "{reply}");
}

/// base64url without padding, as JWTs write their parts.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// HS256 as RFC 7515 defines it, written here without any JWT library.
fn hs256(secret: &str, signing_input: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    base64url(&mac.finalize().into_bytes())
}

#[tokio::test]
async fn tokens_are_plain_hs256_so_tokens_issued_before_keep_working() {
    let server = TestServer::start().await;
    let joined = server.join("Ada", None).await;
    // What the server signs is exactly HS256 over its header and claims.
    for token in [joined["token"].as_str().unwrap(), joined["refresh_token"].as_str().unwrap()] {
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        assert_eq!(hs256(SECRET, signing_input), signature);
    }
    // And a token signed without the server's code (as an earlier server, or another language,
    // would have) is taken: the header and claims an earlier Makeroom wrote, with this event's ids.
    let now = makeroom_server::clock::now_secs();
    let header = base64url(br#"{"typ":"JWT","alg":"HS256"}"#);
    let claims = json!({
        "sub": joined["participant"]["id"], "evt": server.event_id, "role": "participant", "name": "Ada",
        "typ": "access", "iat": now - 3600, "exp": now + 600,
    });
    let signing_input = format!("{header}.{}", base64url(claims.to_string().as_bytes()));
    let token = format!("{signing_input}.{}", hs256(SECRET, &signing_input));
    let mut client = Client::connect(server.port).await;
    let reply = hello(&mut client, &token).await;
    assert_eq!(reply["result"]["participant"]["name"], "Ada", "{reply}");
    let refresh_claims = json!({
        "sub": joined["participant"]["id"], "evt": server.event_id, "role": "participant", "name": "Ada",
        "typ": "refresh", "iat": now - 86_400, "exp": now + 86_400,
    });
    let signing_input = format!("{header}.{}", base64url(refresh_claims.to_string().as_bytes()));
    let refresh = format!("{signing_input}.{}", hs256(SECRET, &signing_input));
    let (status, body) = server.http("POST", "/api/token", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(status, 200, "{body}");
}

//! The server as an operator runs it: creating events from the command line, the data folder lock,
//! and a graceful stop that tells every connection to reconnect.

#![allow(clippy::unwrap_used)]

mod common;

use common::{SECRET, TestServer};
use serde_json::{Value, json};

fn makeroom(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_makeroom"))
        .args(args)
        .env("MAKEROOM_JWT_SECRET", SECRET)
        .env("MAKEROOM_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn an_event_created_from_the_command_line_is_served_and_its_links_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = makeroom(&["event", "create", "--name", "Co-production Wales network day", "--data", data, "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["event_name"], "Co-production Wales network day");
    let code = created["join_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);
    let organiser_refresh = created["organiser_link"]
        .as_str()
        .unwrap()
        .split_once("#refresh=")
        .unwrap()
        .1
        .split('&')
        .next()
        .unwrap()
        .to_string();

    // Serving that folder: the event is there (no demo is added to a folder that has events).
    let server = TestServer::start_in(dir.path()).await;
    assert_eq!(server.event_id, created["event_id"].as_str().unwrap());
    let (status, info) = server.http("GET", &format!("/api/join/{code}"), None, None).await;
    assert_eq!((status, info["event"]["name"].as_str()), (200, Some("Co-production Wales network day")));
    let token = server.access_token(&organiser_refresh).await;
    let mut organiser = server.client(&token).await;
    let reply = organiser.announce("Welcome to the network day", "normal").await;
    assert_eq!(reply["result"]["offset"], 1);

    // While it runs, nothing else may use the folder.
    let output = makeroom(&["event", "create", "--name", "Second", "--data", data]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("another Makeroom process"));
}

#[tokio::test]
async fn sigterm_tells_every_connection_to_reconnect_and_stops() {
    let mut server = TestServer::start().await;
    let mut organiser = server.client(&server.organiser_token().await).await;
    organiser.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let pid = server.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let closed = organiser.closed().await;
    assert_eq!(closed.close.unwrap().code, 1001u16.into());
    let closing = closed.closing.unwrap();
    assert_eq!((closing["code"].as_u64(), closing["reconnect"].as_bool()), (Some(1001), Some(true)));
    let status = tokio::time::timeout(common::PATIENCE, server.wait()).await.expect("the server exits");
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
}

/// The binary with no configured secret, so that it keeps one in the data folder.
fn makeroom_keeping_its_secret(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_makeroom"));
    command.args(args).env_remove("MAKEROOM_JWT_SECRET").env("MAKEROOM_LOG", "warn");
    command
}

#[cfg(unix)]
#[tokio::test]
async fn the_kept_signing_secret_is_private_and_a_readable_one_stops_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let created =
        makeroom_keeping_its_secret(&["event", "create", "--name", "Secret keeping", "--data", data]).output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let secret = dir.path().join("jwt-secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "made readable by its owner only");

    // Readable by others: `serve` refuses to start, and says how to fix it.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut serving = makeroom_keeping_its_secret(&["serve", "--bind", "127.0.0.1:0", "--data", data]);
    let child = serving.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let output = tokio::time::timeout(common::PATIENCE, tokio::task::spawn_blocking(move || child.wait_with_output()))
        .await
        .expect("a refused start ends at once")
        .unwrap()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("chmod 600 {}", secret.display())) && stderr.contains("0644"), "{stderr}");

    // Fixed as told, it starts again with the same secret: links made before still work.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let again = makeroom_keeping_its_secret(&["event", "create", "--name", "Second", "--data", data, "--json"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}

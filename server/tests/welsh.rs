//! Welsh and English: an event's name, a brief's title and an announcement may carry a Welsh text
//! beside the English one, over real sockets and on either backend; a restart replays them from the
//! log and the export shows both. `--demo-language cy` starts the demo event in Welsh.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, TestServer, error_code};
use serde_json::{Value, json};

async fn ok(client: &mut Client, channel: &str, command: Value) -> Value {
    let reply = client.command(channel, command.clone()).await;
    assert!(reply["result"].is_object(), "{command} failed: {reply}");
    reply["result"].clone()
}

async fn refused(client: &mut Client, channel: &str, command: Value) -> String {
    let reply = client.command(channel, command.clone()).await;
    assert!(reply["error"].is_object(), "{command} should have been refused: {reply}");
    error_code(&reply).to_string()
}

async fn state(client: &mut Client, channel: &str) -> Value {
    let reply = client.request(json!({"op": "subscribe", "channel": channel, "snapshot": true})).await;
    assert!(reply["result"]["snapshot"].is_object(), "{reply}");
    let state = reply["result"]["snapshot"]["state"].clone();
    client.request(json!({"op": "unsubscribe", "channel": channel})).await;
    state
}

#[tokio::test]
async fn the_welsh_demo_is_a_network_day_run_in_welsh_with_its_names_in_both_languages() {
    let server = TestServer::start_with(&["--demo-language", "cy"]).await;
    let (status, join) = server.http("GET", &format!("/api/join/{}", server.join_code), None, None).await;
    assert_eq!(status, 200, "{join}");
    assert_eq!(join["event"]["language"], "cy");
    assert_eq!(join["event"]["name_cy"], "Diwrnod y Rhwydwaith Cydgynhyrchu, Cas-gwent (demo)");
    assert_eq!(join["event"]["name"], "Co-production Network Day, Chepstow (demo)");
    let teams = join["teams"].as_array().unwrap();
    assert_eq!(teams.len(), 3);
    let repair = teams.iter().find(|t| t["name"] == "Caffis Trwsio").expect("the repair café team");
    assert_eq!(
        (repair["brief"].as_str(), repair["brief_cy"].as_str()),
        (Some("A repair café in every town"), Some("Caffi trwsio ym mhob tref"))
    );

    let mut host = server.client(&server.organiser_token().await).await;
    let roster = state(&mut host, "roster").await;
    assert_eq!(roster["event"]["language"], "cy");
    assert!(roster["event"].get("bilingual_order").is_none(), "left to follow the language: {roster}");
    let welcome = state(&mut host, "announcements").await["announcements"][0].clone();
    assert_eq!(welcome["pinned"], true);
    assert!(welcome["text_cy"].as_str().unwrap().starts_with("Croeso i Ddiwrnod y Rhwydwaith"), "{welcome}");
    assert!(welcome["text"].as_str().unwrap().starts_with("Welcome to the Co-production Network Day"), "{welcome}");
    let schedule = state(&mut host, "schedule").await;
    assert!(schedule["phases"].as_array().unwrap().iter().any(|p| p["title"] == "Dangos a dweud"), "{schedule}");
}

#[tokio::test]
async fn organisers_write_welsh_beside_english_every_screen_gets_both_and_a_restart_and_the_export_keep_them() {
    let mut server = TestServer::start().await;
    let mut host = server.client(&server.organiser_token().await).await;
    let (mut phone, _) = server.participant("Cerys", None).await;
    assert!(state(&mut phone, "roster").await["event"].get("language").is_none(), "English by default");

    // The event: a Welsh name, run in Welsh, English first on the projector all the same.
    ok(
        &mut host,
        "roster",
        json!({"type": "event.update", "name_cy": "Gwnaed yn Lambeth", "language": "cy", "bilingual_order": "en_first"}),
    )
    .await;
    // A brief with a Welsh title, and a bilingual announcement that a phone gets live.
    let created = ok(
        &mut host,
        "briefs",
        json!({"type": "brief.create", "title": "Repair cafés", "title_cy": "Caffis trwsio", "partner": "Torfaen"}),
    )
    .await;
    assert!(created.is_object());
    phone.request(json!({"op": "subscribe", "channel": "announcements"})).await;
    ok(
        &mut host,
        "announcements",
        json!({"type": "announcement.post", "text": "Lunch is in the hall", "text_cy": "Mae cinio yn y neuadd"}),
    )
    .await;
    let posted = phone.publications("announcements", 1).await.remove(0)["data"].clone();
    assert_eq!(
        (posted["text"].as_str(), posted["text_cy"].as_str()),
        (Some("Lunch is in the hall"), Some("Mae cinio yn y neuadd"))
    );

    // Typed refusals: the same rules as the English text, only organisers, known languages only.
    let long = "a".repeat(501);
    assert_eq!(
        refused(&mut host, "announcements", json!({"type": "announcement.post", "text": "Hi", "text_cy": long})).await,
        "bad_request"
    );
    assert_eq!(
        refused(&mut host, "roster", json!({"type": "event.update", "name_cy": "x".repeat(61)})).await,
        "bad_request"
    );
    assert_eq!(refused(&mut host, "roster", json!({"type": "event.update", "language": "fr"})).await, "bad_request");
    assert_eq!(
        refused(&mut host, "roster", json!({"type": "event.update", "bilingual_order": "both"})).await,
        "bad_request"
    );
    assert_eq!(
        refused(&mut phone, "roster", json!({"type": "event.update", "name_cy": "Fy nigwyddiad"})).await,
        "forbidden"
    );

    // A restart (a crash on the embedded store, a new process on the same Redis) replays them all.
    server.crash_and_restart().await;
    let mut host = server.client(&server.organiser_token().await).await;
    let roster = state(&mut host, "roster").await;
    assert_eq!(
        (&roster["event"]["name_cy"], &roster["event"]["language"], &roster["event"]["bilingual_order"]),
        (&json!("Gwnaed yn Lambeth"), &json!("cy"), &json!("en_first"))
    );
    let briefs = state(&mut host, "briefs").await;
    let brief = briefs["briefs"].as_object().unwrap().values().find(|b| b["title"] == "Repair cafés").unwrap().clone();
    assert_eq!(brief["title_cy"], "Caffis trwsio");
    let announcements = state(&mut host, "announcements").await;
    let lunch = announcements["announcements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["text"] == "Lunch is in the hall")
        .unwrap()
        .clone();
    assert_eq!(lunch["text_cy"], "Mae cinio yn y neuadd");

    // Removing the Welsh title is an edit like any other; the brief's history keeps the old one.
    ok(&mut host, "briefs", json!({"type": "brief.edit", "brief": brief["id"], "revision": 1, "title_cy": ""})).await;
    let briefs = state(&mut host, "briefs").await;
    assert!(briefs["briefs"][brief["id"].as_str().unwrap()]["title_cy"].is_null(), "{briefs}");

    // The export: both texts in the JSON, and side by side in the archive.
    let token = server.organiser_token().await;
    let path = format!("/api/events/{}/export", server.event_id);
    let (status, export) = server.http("GET", &format!("{path}?format=json"), Some(&token), None).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(
        (&export["event"]["name_cy"], &export["event"]["language"], &export["event"]["bilingual_order"]),
        (&json!("Gwnaed yn Lambeth"), &json!("cy"), &json!("en_first"))
    );
    let revisions = export["briefs"][brief["id"].as_str().unwrap()]["revisions"].as_array().unwrap().clone();
    assert_eq!(revisions[0]["title_cy"], "Caffis trwsio");
    assert!(revisions[1].get("title_cy").is_none(), "{revisions:?}");
    let (status, markdown) = server.http("GET", &format!("{path}?format=markdown"), Some(&token), None).await;
    assert_eq!(status, 200);
    let markdown = markdown.as_str().unwrap();
    assert!(markdown.contains("# Made in Lambeth (demo) / Gwnaed yn Lambeth"), "{markdown}");
    assert!(markdown.contains("Lunch is in the hall / Mae cinio yn y neuadd"), "{markdown}");
}

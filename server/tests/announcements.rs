//! Taking an announcement back: organisers edit and retract announcements over real sockets, every
//! phone and display gets the change live, a restart (a crash, on the embedded store; a new process
//! on the same Redis) replays it from the log, and the export keeps what it said before.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, TestServer, error_code};
use serde_json::{Value, json};

async fn ok(client: &mut Client, command: Value) -> Value {
    let reply = client.command("announcements", command.clone()).await;
    assert!(reply["result"].is_object(), "{command} failed: {reply}");
    reply["result"].clone()
}

async fn announcements(client: &mut Client) -> Vec<Value> {
    let reply = client.request(json!({"op": "subscribe", "channel": "announcements", "snapshot": true})).await;
    assert!(reply["result"]["snapshot"].is_object(), "{reply}");
    reply["result"]["snapshot"]["state"]["announcements"].as_array().unwrap().clone()
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("no announcement {id} in {list:?}"))
}

/// The next `announcements` event of type `kind` pushed to `client` (others are skipped).
async fn pushed(client: &mut Client, kind: &str) -> Value {
    loop {
        let event = client.publications("announcements", 1).await.remove(0)["data"].clone();
        if event["type"] == kind {
            return event;
        }
    }
}

#[tokio::test]
async fn organisers_edit_and_retract_announcements_everyone_follows_and_the_record_keeps_them() {
    let mut server = TestServer::start().await;
    let mut host = server.client(&server.organiser_token().await).await;
    let (mut phone, joined) = server.participant("Ada", None).await;
    let ada = joined["participant"]["id"].as_str().unwrap().to_string();
    let mut display = server.client(&server.display_token().await).await;
    announcements(&mut phone).await;
    announcements(&mut display).await;

    ok(&mut host, json!({"type": "announcement.post", "text": "Fire drill at 3pm", "priority": "urgent"})).await;
    let posted = pushed(&mut phone, "posted").await;
    pushed(&mut display, "posted").await;
    let drill = posted["id"].as_str().unwrap().to_string();
    ok(&mut phone, json!({"type": "announcement.ack", "announcement": drill})).await;

    // Pinning by edit keeps the acknowledgement; new words clear it, on every screen at once.
    ok(&mut host, json!({"type": "announcement.edit", "announcement": drill, "pinned": true})).await;
    for screen in [&mut phone, &mut display] {
        let edit = pushed(screen, "edited").await;
        assert_eq!(edit["pinned"], true);
        assert!(edit.get("clears_acknowledgements").is_none(), "{edit}");
    }
    ok(&mut host, json!({"type": "announcement.edit", "announcement": drill, "text": "Fire drill at 4pm"})).await;
    for screen in [&mut phone, &mut display] {
        let edit = pushed(screen, "edited").await;
        assert_eq!((edit["text"].as_str(), edit["priority"].as_str()), (Some("Fire drill at 4pm"), Some("urgent")));
        assert_eq!(edit["clears_acknowledgements"], true);
    }
    let now = announcements(&mut display).await;
    let shown = find(&now, &drill);
    assert_eq!(shown["acknowledged_by"], json!([]), "everyone must see the new time");
    assert!(shown["edited"]["at"].as_i64().unwrap() >= shown["at"].as_i64().unwrap());
    ok(&mut phone, json!({"type": "announcement.ack", "announcement": drill})).await;

    ok(&mut host, json!({"type": "announcement.post", "text": "Wi-Fi: makers2025"})).await;
    let wifi = pushed(&mut display, "posted").await["id"].as_str().unwrap().to_string();
    ok(&mut host, json!({"type": "announcement.retract", "announcement": wifi})).await;
    for screen in [&mut phone, &mut display] {
        assert_eq!(pushed(screen, "retracted").await, json!({"type": "retracted", "id": wifi}));
    }

    // Typed refusals: nobody but organisers, nothing more on a retracted one, no empty edits.
    let edit = |id: &str, text: &str| json!({"type": "announcement.edit", "announcement": id, "text": text});
    assert_eq!(error_code(&phone.command("announcements", edit(&drill, "Party!")).await), "forbidden");
    assert_eq!(
        error_code(
            &phone.command("announcements", json!({"type": "announcement.retract", "announcement": drill})).await
        ),
        "forbidden"
    );
    let refused = host.command("announcements", edit(&wifi, "Wi-Fi: makers2026")).await;
    assert_eq!((error_code(&refused), refused["error"]["message"].as_str()), ("conflict", Some("it was retracted")));
    assert_eq!(
        error_code(&host.command("announcements", json!({"type": "announcement.retract", "announcement": wifi})).await),
        "conflict"
    );
    let unchanged = host.command("announcements", edit(&drill, "Fire drill at 4pm")).await;
    assert_eq!(
        (error_code(&unchanged), unchanged["error"]["message"].as_str()),
        ("bad_request", Some("the edit changes nothing"))
    );
    assert_eq!(error_code(&host.command("announcements", edit("a_nope", "x")).await), "not_found");
    assert_eq!(
        error_code(
            &host
                .command(
                    "announcements",
                    json!({"type": "announcement.edit", "announcement": drill, "priority": "loud"})
                )
                .await
        ),
        "bad_request"
    );

    // The log replays the edits and the retraction after a crash (or on a new process on Redis).
    server.crash_and_restart().await;
    let mut late = server.participant("Late", None).await.0;
    let after = announcements(&mut late).await;
    let (drill_after, wifi_after) = (find(&after, &drill), find(&after, &wifi));
    assert_eq!(drill_after["text"], "Fire drill at 4pm");
    assert_eq!(drill_after["pinned"], true);
    assert_eq!(drill_after["acknowledged_by"], json!([ada]));
    assert!(wifi_after["retracted"]["at"].is_i64(), "{wifi_after}");
    assert_eq!(wifi_after["text"], "Wi-Fi: makers2025", "kept for the record");

    // The export keeps every version, who changed it and when, and the retraction.
    let token = server.organiser_token().await;
    let (status, export) =
        server.http("GET", &format!("/api/events/{}/export", server.event_id), Some(&token), None).await;
    assert_eq!(status, 200, "{export}");
    let exported = find(export["announcements"].as_array().unwrap(), &drill);
    let versions: Vec<(&str, bool)> = exported["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["text"].as_str().unwrap(), v["pinned"].as_bool().unwrap()))
        .collect();
    assert_eq!(versions, [("Fire drill at 3pm", false), ("Fire drill at 3pm", true), ("Fire drill at 4pm", true)]);
    assert_eq!(exported["versions"][2]["by"], "Organiser");
    assert!(find(export["announcements"].as_array().unwrap(), &wifi)["retracted"].is_object());
    let path = format!("/api/events/{}/export?format=markdown", server.event_id);
    let (status, markdown) = server.http("GET", &path, Some(&token), None).await;
    assert_eq!(status, 200);
    let markdown = markdown.as_str().unwrap();
    assert!(markdown.contains("Fire drill at 4pm — edited"), "{markdown}");
    assert!(markdown.contains("(it said: “Fire drill at 3pm”, urgent)"), "{markdown}");
    assert!(markdown.contains("Wi-Fi: makers2025 — retracted"), "{markdown}");
}

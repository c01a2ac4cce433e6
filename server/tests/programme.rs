//! Running the weekend end to end: announcements, schedule, presentations, help queue, outputs and the
//! export that remembers it all.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, TestServer, error_code};
use makeroom_server::domain::presentations::Presentations;
use serde_json::{Value, json};

async fn ok(client: &mut Client, channel: &str, command: Value) -> Value {
    let reply = client.command(channel, command.clone()).await;
    assert!(reply["result"].is_object(), "{command} failed: {reply}");
    reply["result"].clone()
}

async fn snapshot(client: &mut Client, channel: &str) -> Value {
    let reply = client.request(json!({"op": "subscribe", "channel": channel, "snapshot": true})).await;
    assert!(reply["result"]["snapshot"].is_object(), "{reply}");
    reply["result"]["snapshot"]["state"].clone()
}

#[tokio::test]
async fn announcements_reach_phones_and_displays_and_urgent_ones_are_acknowledged() {
    let server = TestServer::start().await;
    let mut host = server.client(&server.organiser_token().await).await;
    let (mut phone, joined) = server.participant("Ada", None).await;
    let mut display = server.client(&server.display_token().await).await;
    let start = snapshot(&mut display, "announcements").await;
    assert!(
        start["announcements"].as_array().unwrap().iter().any(|a| a["pinned"] == true),
        "the demo's welcome is pinned"
    );
    snapshot(&mut phone, "announcements").await;

    ok(
        &mut host,
        "announcements",
        json!({"type": "announcement.post", "text": "Fire drill at 3pm", "priority": "urgent"}),
    )
    .await;
    for screen in [&mut phone, &mut display] {
        let pushed = screen.publications("announcements", 1).await;
        assert_eq!(pushed[0]["data"]["type"], "posted");
        assert_eq!(pushed[0]["data"]["priority"], "urgent");
    }
    let id = snapshot(&mut host, "announcements").await["announcements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["text"] == "Fire drill at 3pm")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&mut host, "announcements", json!({"type": "announcement.pin", "announcement": id})).await;
    ok(&mut phone, "announcements", json!({"type": "announcement.ack", "announcement": id})).await;
    let (mut bo, _) = server.participant("Bo", None).await;
    ok(&mut bo, "announcements", json!({"type": "announcement.ack", "announcement": id})).await;

    // A late joiner gets the pinned ones in one reply; the organiser sees who acknowledged.
    let (mut late, _) = server.participant("Late", None).await;
    let state = snapshot(&mut late, "announcements").await;
    let drill = state["announcements"].as_array().unwrap().iter().find(|a| a["id"] == id.as_str()).unwrap().clone();
    assert_eq!(drill["pinned"], true);
    assert_eq!(drill["acknowledged_by"].as_array().unwrap().len(), 2);
    assert!(drill["acknowledged_by"].as_array().unwrap().contains(&joined["participant"]["id"]));

    assert_eq!(error_code(&phone.announce("I am in charge now", "urgent").await), "forbidden");
    assert_eq!(
        error_code(&phone.command("announcements", json!({"type": "announcement.ack", "announcement": id})).await),
        "conflict"
    );
    assert_eq!(error_code(&host.announce("   ", "normal").await), "bad_request");
    assert_eq!(
        error_code(&host.command("announcements", json!({"type": "announcement.pin", "announcement": "a_nope"})).await),
        "not_found"
    );
}

#[tokio::test]
async fn the_schedule_is_edited_live_by_organisers_only() {
    let server = TestServer::start().await;
    let mut host = server.client(&server.organiser_token().await).await;
    let (mut phone, _) = server.participant("Ada", None).await;
    let demo = snapshot(&mut phone, "schedule").await;
    assert!(demo["phases"].as_array().unwrap().iter().any(|p| p["title"] == "Show and tell"));
    ok(&mut host, "schedule", json!({"type": "phase.add", "title": "Pizza", "starts_at": 1_000, "ends_at": 2_000}))
        .await;
    let pushed = phone.publications("schedule", 1).await;
    let phase = pushed[0]["data"]["phase"]["id"].as_str().unwrap().to_string();
    ok(&mut host, "schedule", json!({"type": "phase.edit", "phase": phase, "ends_at": 3_000})).await;
    assert_eq!(phone.publications("schedule", 1).await[0]["data"]["phase"]["ends_at"], 3000);
    assert_eq!(
        error_code(
            &phone
                .command("schedule", json!({"type": "phase.add", "title": "Nap", "starts_at": 0, "ends_at": 1}))
                .await
        ),
        "forbidden"
    );
    assert_eq!(
        error_code(&host.command("schedule", json!({"type": "phase.edit", "phase": phase, "starts_at": 5_000})).await),
        "bad_request",
        "ending before it starts"
    );
}

/// The presentations state as pushed, folded with the server's own rules.
fn remaining(state: &Value, now: i64) -> Option<i64> {
    let current = &state["current"];
    if current.is_null() {
        return None;
    }
    let clock = current["paused_at"].as_i64().unwrap_or(now);
    Some(
        state["slot_ms"].as_i64()? + current["extended_ms"].as_i64()?
            - (clock - current["started_at"].as_i64()? - current["paused_ms"].as_i64()?),
    )
}

#[tokio::test]
async fn presentations_are_pushed_as_timestamped_state_that_every_screen_reads_alike() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let mut host = server.client(&server.organiser_token().await).await;
    let mut display = server.client(&server.display_token().await).await;
    let (mut phone, _) = server.participant("Ada", Some(&teams[1].0)).await;
    snapshot(&mut display, "presentations").await;

    let order: Vec<&str> = vec![&teams[1].0, &teams[0].0, &teams[2].0];
    ok(&mut host, "presentations", json!({"type": "presentations.order", "teams": order})).await;
    ok(&mut host, "presentations", json!({"type": "presentations.slot", "slot_ms": 240_000, "warning_ms": 30_000}))
        .await;
    ok(&mut host, "presentations", json!({"type": "presentations.start"})).await;
    ok(&mut host, "presentations", json!({"type": "presentations.pause"})).await;
    ok(&mut host, "presentations", json!({"type": "presentations.extend", "ms": 60_000})).await;
    ok(&mut host, "presentations", json!({"type": "presentations.resume"})).await;

    // Display and phone each get the state now, and compute the same remaining time for any instant.
    let from_display = snapshot(&mut display, "presentations").await;
    let from_phone = snapshot(&mut phone, "presentations").await;
    assert_eq!(from_display, from_phone);
    assert_eq!(from_display["current"]["team"], teams[1].0.as_str());
    let started = from_display["current"]["started_at"].as_i64().unwrap();
    let at = started + 100_000;
    let expected = 240_000 + 60_000 - (100_000 - from_display["current"]["paused_ms"].as_i64().unwrap());
    assert_eq!(remaining(&from_display, at), Some(expected));
    // The server's own rule gives the same answer as the page's arithmetic.
    let paused_ms = from_display["current"]["paused_ms"].as_i64().unwrap();
    let mut model = Presentations { slot_ms: 240_000, warning_ms: 30_000, ..Presentations::default() };
    model.current = Some(makeroom_server::domain::presentations::Slot {
        index: 0,
        team: teams[1].0.clone(),
        started_at: started,
        paused_at: None,
        paused_ms,
        extended_ms: 60_000,
    });
    assert_eq!(model.remaining_ms(at), remaining(&from_display, at));

    // A private warning to the presenting team goes to its own room.
    let room = format!("team:{}", teams[1].0);
    phone.request(json!({"op": "subscribe", "channel": room})).await;
    host.say(&room, "One minute left", None).await;
    assert_eq!(phone.publications(&room, 1).await[0]["data"]["text"], "One minute left");

    ok(&mut host, "presentations", json!({"type": "presentations.next"})).await;
    let state = snapshot(&mut host, "presentations").await;
    assert_eq!(state["current"]["team"], teams[0].0.as_str());
    assert_eq!(state["current"]["extended_ms"], 0);

    assert_eq!(
        error_code(&host.command("presentations", json!({"type": "presentations.order", "teams": ["t_nope"]})).await),
        "not_found",
        "a running order naming an unknown team"
    );
    assert_eq!(
        error_code(&host.command("presentations", json!({"type": "presentations.extend", "ms": -30_000})).await),
        "bad_request",
        "an extend with a negative time"
    );
    assert_eq!(error_code(&phone.command("presentations", json!({"type": "presentations.next"})).await), "forbidden");
}

#[tokio::test]
async fn the_help_queue_is_asked_claimed_and_resolved_live() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let mut host = server.client(&server.organiser_token().await).await;
    let (mut ada, _) = server.participant("Ada", Some(&teams[2].0)).await;
    snapshot(&mut host, "help").await;

    ok(&mut ada, "help", json!({"type": "help.ask", "topic": "Deploying the site", "location": "Room 2"})).await;
    let asked = host.publications("help", 1).await;
    let id = asked[0]["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(asked[0]["data"]["team"], teams[2].0.as_str());
    assert_eq!(error_code(&ada.command("help", json!({"type": "help.claim", "request": id})).await), "forbidden");
    ok(&mut host, "help", json!({"type": "help.claim", "request": id})).await;
    ok(&mut host, "help", json!({"type": "help.resolve", "request": id})).await;
    assert_eq!(
        error_code(&host.command("help", json!({"type": "help.claim", "request": id})).await),
        "conflict",
        "claiming a resolved request"
    );
    let queue = snapshot(&mut ada, "help").await;
    assert_eq!(queue["requests"][0]["status"], "resolved");
    let (mut teamless, _) = server.participant("Bo", None).await;
    assert_eq!(error_code(&teamless.command("help", json!({"type": "help.ask", "topic": "x"})).await), "forbidden");
}

#[tokio::test]
async fn outputs_and_the_whole_weekend_are_exported_for_organisers_only() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let team = &teams[0].0;
    let mut host = server.client(&server.organiser_token().await).await;
    let (mut ada, _) = server.participant("Ada", Some(team)).await;
    ok(
        &mut ada,
        "outputs",
        json!({"type": "output.save", "title": "A working prototype", "description": "Tasks, not departments.",
               "links": ["https://example.org/prototype"],
               "next_steps": "Test with five residents", "carried_on_by": ["Lambeth Digital"]}),
    )
    .await;
    ada.say("lobby", "We shipped it!", None).await;
    ada.say(&format!("team:{team}"), "Deploy done", None).await;
    let briefs = snapshot(&mut host, "briefs").await;
    let (brief_id, brief) =
        briefs["briefs"].as_object().unwrap().iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    ok(
        &mut host,
        "briefs",
        json!({"type": "brief.edit", "brief": brief_id, "revision": brief["revision"], "body": "Revised after Friday"}),
    )
    .await;

    let token = server.organiser_token().await;
    let path = format!("/api/events/{}/export", server.event_id);
    let (status, export) = server.http("GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["outputs"][team]["title"], "A working prototype");
    assert_eq!(export["outputs"][team]["carried_on_by"], json!(["Lambeth Digital"]));
    assert_eq!(export["briefs"][&brief_id]["revisions"].as_array().unwrap().len(), 2, "every revision");
    assert_eq!(export["briefs"][&brief_id]["revisions"][0]["body"], brief["body"]);
    assert!(export["chats"]["lobby"].as_array().unwrap().iter().any(|m| m["text"] == "We shipped it!"));
    assert!(export["chats"][&format!("team:{team}")].as_array().unwrap().iter().any(|m| m["text"] == "Deploy done"));
    for part in ["boards", "announcements", "schedule", "presentations", "help", "teams", "participants"] {
        assert!(!export[part].is_null(), "the export has {part}");
    }

    let (status, markdown) = server.http("GET", &format!("{path}?format=markdown"), Some(&token), None).await;
    assert_eq!(status, 200);
    let markdown = markdown.as_str().unwrap().to_string();
    assert!(markdown.contains("#### What it made: A working prototype"), "{markdown}");
    let (status, html) = server.http("GET", &format!("{path}?format=html"), Some(&token), None).await;
    assert_eq!(status, 200);
    assert!(html.as_str().unwrap().contains("<h1>Made in Lambeth (demo)</h1>"));

    let participant = server.join("Cy", None).await;
    let (status, _) = server.http("GET", &path, participant["token"].as_str(), None).await;
    assert_eq!(status, 403, "participants do not export");
    let (status, _) = server.http("GET", "/api/events/e_other/export", Some(&token), None).await;
    assert_eq!(status, 403);
    let (status, _) = server.http("GET", &format!("{path}?format=pdf"), Some(&token), None).await;
    assert_eq!(status, 400);
    assert_eq!(
        error_code(
            &ada.command("outputs", json!({"type": "output.save", "team": teams[1].0, "title": "Not ours"})).await
        ),
        "forbidden"
    );
}

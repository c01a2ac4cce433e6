//! The event's rules end to end over the protocol: teams and skills, removal, briefs with revisions
//! and forks, task boards, snapshots and the demo event.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, TestServer, error_code, offsets};
use makeroom_protocol::board::BoardEvent;
use makeroom_server::domain::board::Board;
use makeroom_server::domain::{Domain, Recorded};
use serde_json::{Value, json};
use std::time::Duration;

async fn command(client: &mut Client, channel: &str, command: Value) -> Value {
    client.request(json!({"op": "command", "channel": channel, "command": command})).await
}

async fn ok(client: &mut Client, channel: &str, cmd: Value) -> Value {
    let reply = command(client, channel, cmd.clone()).await;
    assert!(reply["result"].is_object(), "{cmd} failed: {reply}");
    reply["result"].clone()
}

async fn snapshot(client: &mut Client, channel: &str) -> Value {
    let reply = client.request(json!({"op": "subscribe", "channel": channel, "snapshot": true})).await;
    assert!(reply["result"]["snapshot"].is_object(), "{reply}");
    reply["result"].clone()
}

/// The roster's team called `name`.
fn team<'a>(roster: &'a Value, name: &str) -> &'a Value {
    roster["teams"].as_object().unwrap().values().find(|t| t["name"] == name).unwrap()
}

#[tokio::test]
async fn the_demo_event_is_a_living_lambeth_weekend() {
    let server = TestServer::start().await;
    let (mut ada, _) = server.participant("Ada", None).await;
    let briefs = snapshot(&mut ada, "briefs").await;
    let titles: Vec<&str> = briefs["snapshot"]["state"]["briefs"]
        .as_object()
        .unwrap()
        .values()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 3);
    for title in ["A co-operative council website", "Set up Healthwatch Lambeth", "Love Your Space"] {
        assert!(titles.contains(&title), "{titles:?}");
    }
    let teams = server.teams().await;
    assert_eq!(teams.len(), 3);
    let (status, info) = server.http("GET", &format!("/api/join/{}", server.join_code), None, None).await;
    assert_eq!(status, 200);
    let healthwatch = info["teams"].as_array().unwrap().iter().find(|t| t["name"] == "Healthwatch Lambeth").unwrap();
    assert_eq!(healthwatch["brief"], "Set up Healthwatch Lambeth");
    assert!(healthwatch["missing"].as_array().unwrap().contains(&json!("Facilitation")));
    let board = snapshot(&mut ada, &format!("board:{}", teams[0].0)).await;
    let columns = board["snapshot"]["state"]["columns"].as_array().unwrap();
    assert_eq!(columns.iter().map(|c| c["title"].as_str().unwrap()).collect::<Vec<_>>(), ["To do", "Doing", "Done"]);
    assert!(columns.iter().map(|c| c["cards"].as_array().unwrap().len()).sum::<usize>() >= 3);
    let roster = snapshot(&mut ada, "roster").await;
    assert!(
        roster["snapshot"]["state"]["event"]["ends_at"].as_i64().unwrap()
            > roster["snapshot"]["state"]["event"]["starts_at"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn people_move_between_teams_and_every_team_shows_what_it_still_needs() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let (mut ada, joined) = server.participant("Ada", None).await;
    let ada_id = joined["participant"]["id"].as_str().unwrap().to_string();
    let mut watcher = server.client(&server.organiser_token().await).await;
    let start = snapshot(&mut watcher, "roster").await;
    let healthwatch_id = team(&start["snapshot"]["state"], "Healthwatch Lambeth")["id"].as_str().unwrap().to_string();
    let before = team(&start["snapshot"]["state"], "Healthwatch Lambeth")["missing"].clone();
    assert!(before.as_array().unwrap().contains(&json!("Facilitation")));

    ok(&mut ada, "roster", json!({"type": "skills.set", "skills": ["facilitation", "Drawing"]})).await;
    ok(&mut ada, "roster", json!({"type": "team.join", "team": healthwatch_id})).await;
    // The watcher sees both changes live, in order, and the derived view follows.
    let pushes = watcher.publications("roster", 2).await;
    assert_eq!(pushes[0]["data"]["type"], "skills_changed");
    assert_eq!(pushes[1]["data"], json!({"type": "moved", "participant": ada_id, "team": healthwatch_id}));
    let now = snapshot(&mut watcher, "roster").await;
    let healthwatch = team(&now["snapshot"]["state"], "Healthwatch Lambeth");
    assert_eq!(healthwatch["members"], json!([ada_id]));
    assert!(!healthwatch["missing"].as_array().unwrap().contains(&json!("Facilitation")), "Ada brings facilitation");

    // Ada reads her team's room; when she switches, that subscription ends and the new room opens.
    let room = format!("team:{healthwatch_id}");
    assert!(ada.request(json!({"op": "subscribe", "channel": room})).await["result"].is_object());
    let other = teams.iter().find(|(id, _)| *id != healthwatch_id).unwrap().0.clone();
    ok(&mut ada, "roster", json!({"type": "team.join", "team": other})).await;
    let ended = ada.next_push().await;
    assert_eq!((ended["type"].as_str(), ended["channel"].as_str()), (Some("unsubscribed"), Some(room.as_str())));
    assert_eq!(error_code(&ada.say(&room, "still here?", None).await), "forbidden");
    assert!(ada.say(&format!("team:{other}"), "hello new team", None).await["result"].is_object());
    ok(&mut ada, "roster", json!({"type": "team.leave"})).await;
    assert_eq!(error_code(&command(&mut ada, "roster", json!({"type": "team.leave"})).await), "conflict");
    assert_eq!(
        error_code(&command(&mut ada, "roster", json!({"type": "team.join", "team": "t_nope"})).await),
        "not_found"
    );
}

#[tokio::test]
async fn organisers_run_the_teams_and_participants_cannot() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let (mut ada, _) = server.participant("Ada", Some(&teams[0].0)).await;
    let mut host = server.client(&server.organiser_token().await).await;

    let created =
        ok(&mut host, "roster", json!({"type": "team.create", "name": "Wales network", "needs": ["Welsh"]})).await;
    assert!(created["offset"].as_u64().unwrap() > 0);
    let roster = snapshot(&mut host, "roster").await;
    let wales = team(&roster["snapshot"]["state"], "Wales network")["id"].as_str().unwrap().to_string();
    ok(&mut host, "roster", json!({"type": "team.rename", "team": wales, "name": "Co-production Wales"})).await;
    assert_eq!(
        error_code(
            &command(&mut host, "roster", json!({"type": "team.rename", "team": wales, "name": "Love your space"}))
                .await
        ),
        "conflict",
        "team names are unique"
    );
    for refused in [
        json!({"type": "team.rename", "team": wales, "name": "Mine"}),
        json!({"type": "team.archive", "team": wales}),
        json!({"type": "event.update", "name": "My event"}),
    ] {
        assert_eq!(error_code(&command(&mut ada, "roster", refused.clone()).await), "forbidden", "{refused}");
    }
    assert_eq!(
        error_code(&command(&mut host, "roster", json!({"type": "team.rename", "team": wales, "name": ""})).await),
        "bad_request"
    );
    ok(&mut host, "roster", json!({"type": "event.update", "name": "Made in Lambeth 2"})).await;
    let (_, info) = server.http("GET", &format!("/api/join/{}", server.join_code), None, None).await;
    assert_eq!(info["event"]["name"], "Made in Lambeth 2", "a renamed event is renamed everywhere");

    // Archiving Ada's team frees her and closes her access to its room.
    let room = format!("team:{}", teams[0].0);
    ada.request(json!({"op": "subscribe", "channel": room})).await;
    ok(&mut host, "roster", json!({"type": "team.archive", "team": teams[0].0})).await;
    let ended = ada.next_push().await;
    assert_eq!(ended["type"], "unsubscribed");
    assert_eq!(error_code(&ada.say(&room, "hello?", None).await), "forbidden");
    assert_eq!(
        error_code(&command(&mut ada, "roster", json!({"type": "team.join", "team": teams[0].0})).await),
        "conflict"
    );
}

#[tokio::test]
async fn a_removed_participant_is_disconnected_and_their_tokens_stop_working() {
    let mut server = TestServer::start().await;
    let (mut ada, joined) = server.participant("Ada", None).await;
    let ada_id = joined["participant"]["id"].as_str().unwrap().to_string();
    let refresh = joined["refresh_token"].as_str().unwrap().to_string();
    let token = joined["token"].as_str().unwrap().to_string();
    let mut host = server.client(&server.organiser_token().await).await;
    let mut second_tab = server.client(&token).await;

    ok(&mut host, "roster", json!({"type": "participant.remove", "participant": ada_id})).await;
    for client in [&mut ada, &mut second_tab] {
        let closed = client.closed().await;
        assert_eq!(closed.close.unwrap().code, 4003u16.into());
        assert_eq!(closed.closing.unwrap()["reconnect"], false);
    }
    let (status, body) = server.http("POST", "/api/token", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    let mut again = Client::connect(server.port).await;
    let reply = again.request(json!({"op": "hello", "version": 1, "token": token})).await;
    assert_eq!(error_code(&reply), "forbidden");

    // It is a rule of the event's record, so it holds after a restart.
    server.crash_and_restart().await;
    let (status, _) = server.http("POST", "/api/token", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(status, 403);
    let mut host = server.client(&server.organiser_token().await).await;
    let roster = snapshot(&mut host, "roster").await;
    assert_eq!(roster["snapshot"]["state"]["participants"][&ada_id]["removed"], true);
}

#[tokio::test]
async fn brief_edits_name_their_revision_and_stale_ones_are_refused() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let mut host = server.client(&server.organiser_token().await).await;
    let (mut ada, _) = server.participant("Ada", Some(&teams[0].0)).await;
    let (mut bo, _) = server.participant("Bo", Some(&teams[0].0)).await;
    let first = snapshot(&mut bo, "briefs").await;

    ok(&mut host, "briefs", json!({"type": "brief.create", "title": "Digital inclusion", "partner": "Lambeth Libraries", "body": "## Why\nSome residents are offline."})).await;
    let created = bo.publications("briefs", 1).await;
    assert_eq!(created[0]["data"]["type"], "created");
    let brief = created[0]["data"]["brief"]["id"].as_str().unwrap().to_string();
    assert_eq!(created[0]["offset"].as_u64().unwrap(), first["offset"].as_u64().unwrap() + 1);

    ok(&mut host, "briefs", json!({"type": "brief.edit", "brief": brief, "revision": 1, "body": "## Why\nOne in ten residents is offline."})).await;
    let stale =
        command(&mut host, "briefs", json!({"type": "brief.edit", "brief": brief, "revision": 1, "body": "overwrite"}))
            .await;
    assert_eq!(error_code(&stale), "conflict");
    assert!(stale["error"]["message"].as_str().unwrap().contains("revision 2"), "{stale}");
    let edited = bo.publications("briefs", 1).await;
    assert_eq!((edited[0]["data"]["type"].as_str(), edited[0]["data"]["revision"].as_u64()), (Some("edited"), Some(2)));

    // History is readable: the snapshot lists each revision's offset, and history returns its text.
    let now = snapshot(&mut bo, "briefs").await;
    let state = &now["snapshot"]["state"]["briefs"][&brief];
    assert_eq!(
        (state["revision"].as_u64(), state["body"].as_str()),
        (Some(2), Some("## Why\nOne in ten residents is offline."))
    );
    let first_revision = state["history"][0]["offset"].as_u64().unwrap();
    let old = bo.request(json!({"op": "history", "channel": "briefs", "before": first_revision + 1, "limit": 1})).await;
    assert_eq!(old["result"]["publications"][0]["data"]["brief"]["body"], "## Why\nSome residents are offline.");

    // Participants do not edit a partner's brief, but a team tears it up in its own working version.
    let refused =
        command(&mut ada, "briefs", json!({"type": "brief.edit", "brief": brief, "revision": 2, "body": "mine"})).await;
    assert_eq!(error_code(&refused), "forbidden");
    ok(&mut ada, "briefs", json!({"type": "brief.fork", "brief": brief})).await;
    let fork = bo.publications("briefs", 1).await;
    assert_eq!(fork[0]["data"]["type"], "forked");
    assert_eq!(fork[0]["data"]["from"], json!({"brief": brief, "revision": 2}));
    assert_eq!(fork[0]["data"]["team"], teams[0].0.as_str());
    let fork_id = fork[0]["data"]["brief"]["id"].as_str().unwrap().to_string();
    ok(
        &mut bo,
        "briefs",
        json!({"type": "brief.edit", "brief": fork_id, "revision": 1, "title": "Get libraries online first"}),
    )
    .await;
    let (mut outsider, _) = server.participant("Cy", Some(&teams[1].0)).await;
    assert_eq!(
        error_code(
            &command(
                &mut outsider,
                "briefs",
                json!({"type": "brief.edit", "brief": fork_id, "revision": 2, "title": "x"})
            )
            .await
        ),
        "forbidden"
    );
    assert_eq!(
        error_code(
            &command(
                &mut host,
                "briefs",
                json!({"type": "brief.edit", "brief": "b_nope", "revision": 1, "title": "x"})
            )
            .await
        ),
        "not_found"
    );
    assert_eq!(
        error_code(&command(&mut host, "briefs", json!({"type": "brief.create", "title": " ", "partner": "p"})).await),
        "bad_request"
    );
}

/// Folds board pushes as a phone would, with the server's own rules.
fn fold(board: &mut Board, pushes: &[Value]) {
    for push in pushes {
        let event: BoardEvent = serde_json::from_value(push["data"].clone()).unwrap();
        board.apply(&event, Recorded { offset: push["offset"].as_u64().unwrap(), ts: 0, by: "" });
    }
}

#[tokio::test]
async fn a_board_changes_live_for_everyone_and_only_its_team_changes_it() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let channel = format!("board:{}", teams[0].0);
    let (mut ada, _) = server.participant("Ada", Some(&teams[0].0)).await;
    let (mut bo, bo_joined) = server.participant("Bo", Some(&teams[0].0)).await;
    let (mut outsider, _) = server.participant("Cy", Some(&teams[1].0)).await;
    let mut display = server.client(&server.display_token().await).await;
    let start = snapshot(&mut bo, &channel).await;
    let start_display = snapshot(&mut display, &channel).await;
    assert_eq!(start["snapshot"]["state"], start_display["snapshot"]["state"], "everyone reads every board");

    ok(
        &mut ada,
        &channel,
        json!({"type": "card.add", "column": "todo", "title": "Print the flyers", "notes": "A5, 200"}),
    )
    .await;
    let added = bo.publications(&channel, 1).await;
    let card = added[0]["data"]["card"]["id"].as_str().unwrap().to_string();
    ok(&mut ada, &channel, json!({"type": "card.move", "card": card, "column": "doing", "index": 0})).await;
    let bo_id = bo_joined["participant"]["id"].as_str().unwrap();
    ok(&mut bo, &channel, json!({"type": "card.edit", "card": card, "assignee": bo_id, "title": "Print 200 flyers"}))
        .await;
    ok(&mut bo, &channel, json!({"type": "column.add", "title": "Blocked"})).await;
    ok(&mut bo, &channel, json!({"type": "column.rename", "column": "done", "title": "Shipped"})).await;
    let seen = display.publications(&channel, 5).await;
    assert_eq!(
        seen.iter().map(|p| p["data"]["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["card_added", "card_moved", "card_edited", "column_added", "column_renamed"]
    );

    // The display's board, folded from its snapshot and the pushes, is the server's board now.
    let mut display_board: Board = board_from(&start_display["snapshot"]["state"]);
    fold(&mut display_board, &seen);
    let now = snapshot(&mut outsider, &channel).await;
    assert_eq!(serde_json::to_value(&display_board).unwrap(), now["snapshot"]["state"]);
    assert_eq!(now["offset"], seen.last().unwrap()["offset"]);

    for (who, cmd) in [
        (&mut outsider, json!({"type": "card.add", "title": "not my team"})),
        (&mut display, json!({"type": "card.add", "title": "a projector"})),
    ] {
        assert_eq!(error_code(&command(who, &channel, cmd).await), "forbidden");
    }
    assert_eq!(
        error_code(&command(&mut ada, &channel, json!({"type": "card.add", "title": "  "})).await),
        "bad_request"
    );
    assert_eq!(
        error_code(&command(&mut ada, &channel, json!({"type": "column.delete", "column": "doing"})).await),
        "conflict"
    );
    ok(&mut ada, &channel, json!({"type": "card.delete", "card": card})).await;
    assert_eq!(
        error_code(
            &command(&mut bo, &channel, json!({"type": "card.move", "card": card, "column": "todo", "index": 0})).await
        ),
        "not_found",
        "moving a deleted card"
    );
    let fly = command(&mut ada, &channel, json!({"type": "card.fly"})).await;
    assert_eq!(error_code(&fly), "bad_request");
    let message = fly["error"]["message"].as_str().unwrap();
    assert!(message.contains("unknown variant `card.fly`, expected one of `column.add`"), "{message}");
    let no_column = command(&mut ada, &channel, json!({"type": "card.move", "card": card, "index": 0})).await;
    let message = no_column["error"]["message"].as_str().unwrap();
    assert!(message.contains("bad `card.move` command: missing field `column`"), "{message}");
    assert_eq!(error_code(&command(&mut ada, "lobby", json!({"type": "card.add", "title": "x"})).await), "bad_request");
    // Each command goes on the channel its `type` belongs to, and nowhere else.
    let misplaced = command(&mut ada, "roster", json!({"type": "card.add", "title": "x"})).await;
    assert_eq!(error_code(&misplaced), "bad_request");
    assert_eq!(
        misplaced["error"]["message"],
        "`card.add` is a command for `board:{id}`; send it there, not on `roster`"
    );
    let misplaced = command(&mut ada, &channel, json!({"type": "team.leave"})).await;
    assert_eq!(
        misplaced["error"]["message"].as_str(),
        Some(format!("`team.leave` is a command for `roster`; send it there, not on `{channel}`").as_str())
    );
    assert_eq!(error_code(&ada.say(&channel, "chat on a board", None).await), "forbidden");
    assert_eq!(
        error_code(&command(&mut ada, "board:t_nope", json!({"type": "card.add", "title": "x"})).await),
        "not_found"
    );
    assert_eq!(error_code(&ada.request(json!({"op": "subscribe", "channel": "board:t_nope"})).await), "not_found");
}

fn board_from(state: &Value) -> Board {
    let mut board = Board::new(state["team"].as_str().unwrap());
    board.columns = serde_json::from_value(state["columns"].clone()).unwrap();
    board
}

#[tokio::test]
async fn concurrent_moves_from_several_phones_converge_on_every_screen() {
    let server = TestServer::start_with(&["--requests-per-second", "200", "--request-burst", "200"]).await;
    let teams = server.teams().await;
    let channel = format!("board:{}", teams[0].0);
    let mut watchers = Vec::new();
    for name in ["Watcher 1", "Watcher 2"] {
        let (mut watcher, _) = server.participant(name, None).await;
        let start = snapshot(&mut watcher, &channel).await;
        watchers.push((watcher, board_from(&start["snapshot"]["state"])));
    }
    let start = snapshot(&mut watchers[0].0, &channel).await;
    let cards: Vec<String> = start["snapshot"]["state"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["cards"].as_array().unwrap().iter().map(|card| card["id"].as_str().unwrap().to_string()))
        .collect();

    let mut phones = Vec::new();
    for p in 0..4 {
        let (mut phone, _) = server.participant(&format!("Phone {p}"), Some(&teams[0].0)).await;
        let cards = cards.clone();
        let channel = channel.clone();
        phones.push(tokio::spawn(async move {
            let mut accepted = 0;
            for i in 0..25usize {
                let card = &cards[(p * 7 + i * 3) % cards.len()];
                let column = ["todo", "doing", "done"][(p + i) % 3];
                let cmd = match i % 5 {
                    4 => json!({"type": "card.add", "column": column, "title": format!("phone {p} idea {i}")}),
                    _ => json!({"type": "card.move", "card": card, "column": column, "index": (p + i) % 4}),
                };
                if command(&mut phone, &channel, cmd).await["result"].is_object() {
                    accepted += 1;
                }
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for phone in phones {
        accepted += phone.await.unwrap();
    }
    assert_eq!(accepted, 100, "moves of existing cards and adds are all accepted");
    // The final state as a late joiner sees it. (Not from a watcher: its own subscribe again would
    // fold pushes still on their way into the snapshot, and rightly not push them after it.)
    let (mut late, _) = server.participant("Late joiner", None).await;
    let final_state = snapshot(&mut late, &channel).await;
    for (watcher, board) in &mut watchers {
        let pushes = watcher.publications(&channel, accepted).await;
        let mut sorted = offsets(&pushes);
        sorted.dedup();
        assert_eq!(sorted.len(), accepted, "no push twice");
        fold(board, &pushes);
        assert_eq!(serde_json::to_value(&*board).unwrap(), final_state["snapshot"]["state"], "this screen converged");
    }
    assert!(watchers[1].0.maybe_push(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn a_retried_command_is_recorded_once_and_answers_as_the_first_time() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let channel = format!("board:{}", teams[0].0);
    let (mut ada, _) = server.participant("Ada", Some(&teams[0].0)).await;
    let add = json!({"op": "command", "channel": channel, "command": {"type": "card.add", "title": "Book the room"}, "key": "ada-1"});
    let first = ada.request(add.clone()).await;
    let retry = ada.request(add).await;
    assert_eq!(first["result"]["offset"], retry["result"]["offset"]);
    assert_eq!(
        (first["result"]["duplicate"].as_bool(), retry["result"]["duplicate"].as_bool()),
        (Some(false), Some(true))
    );
    let board = snapshot(&mut ada, &channel).await;
    let cards: Vec<&Value> = board["snapshot"]["state"]["columns"][0]["cards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["title"] == "Book the room")
        .collect();
    assert_eq!(cards.len(), 1);
    let card = cards[0]["id"].as_str().unwrap().to_string();
    let delete =
        json!({"op": "command", "channel": channel, "command": {"type": "card.delete", "card": card}, "key": "ada-2"});
    let first = ada.request(delete.clone()).await;
    let retry = ada.request(delete).await;
    assert_eq!(retry["result"]["duplicate"], true, "a retried delete is not `not_found`: {retry}");
    assert_eq!(first["result"]["offset"], retry["result"]["offset"]);
}

#[tokio::test]
async fn a_late_joiner_gets_state_in_one_reply_and_continues_live() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let channel = format!("board:{}", teams[0].0);
    let (mut ada, _) = server.participant("Ada", Some(&teams[0].0)).await;
    for i in 0..30 {
        ok(&mut ada, &channel, json!({"type": "card.add", "title": format!("task {i}")})).await;
    }
    let (mut late, _) = server.participant("Late", None).await;
    let reply = late
        .request(
            json!({"op": "subscribe", "channel": channel, "snapshot": true, "since": {"epoch": "gone", "offset": 3}}),
        )
        .await;
    let result = &reply["result"];
    assert_eq!(result["recovered"], false);
    let todo = result["snapshot"]["state"]["columns"][0]["cards"].as_array().unwrap();
    assert!(todo.iter().any(|c| c["title"] == "task 29"));
    assert_eq!(result["offset"], result["snapshot"]["offset"]);
    ok(&mut ada, &channel, json!({"type": "card.add", "title": "after the snapshot"})).await;
    let next = late.publications(&channel, 1).await;
    assert_eq!(next[0]["offset"].as_u64(), Some(result["offset"].as_u64().unwrap() + 1));
    assert_eq!(
        error_code(&late.request(json!({"op": "subscribe", "channel": "lobby", "snapshot": true})).await),
        "bad_request"
    );
}

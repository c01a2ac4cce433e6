//! Clients that send many requests without waiting (PROTOCOL.md §1 allows it; the web client's
//! offline outbox does it when a phone comes back), in rooms where others are busy too. Through the
//! real binary, on either backend.

mod common;

use common::{Client, TestServer};
use futures_util::future::join_all;
use serde_json::{Value, json};

/// Outboxes smaller than the pushes these tests make (184 and more): a connection that stopped
/// delivering while its own requests run would be closed as too slow.
const FLAGS: &[&str] = &["--request-burst", "300", "--participant-request-burst", "600", "--outbox-capacity", "128"];

/// Sends `requests` back to back without reading; returns their ids.
async fn pipeline(client: &mut Client, requests: Vec<Value>) -> Vec<u64> {
    let mut ids = Vec::new();
    for (n, mut request) in requests.into_iter().enumerate() {
        let id = 1_000 + n as u64;
        request["id"] = json!(id);
        client.send_text(request.to_string()).await;
        ids.push(id);
    }
    ids
}

async fn publish_one_at_a_time(mut client: Client, channel: String, count: usize) -> Client {
    for n in 0..count {
        let reply = client.say(&channel, &format!("busy {n}"), None).await;
        assert!(reply.get("result").is_some(), "{reply}");
    }
    client
}

#[tokio::test]
async fn a_client_pipelining_64_publishes_into_its_busy_room_gets_every_push_and_reply_in_order() {
    let server = TestServer::start_with(FLAGS).await;
    let team = server.teams().await[0].0.clone();
    let room = format!("team:{team}");
    let (mut ada, _) = server.participant("Ada", Some(&team)).await;
    ada.request(json!({"op": "subscribe", "channel": room})).await;
    let mut others = Vec::new();
    for name in ["Bo", "Cy", "Di"] {
        let (mut client, _) = server.participant(name, Some(&team)).await;
        client.request(json!({"op": "subscribe", "channel": room})).await;
        others.push(client);
    }
    let busy: Vec<_> =
        others.into_iter().map(|client| tokio::spawn(publish_one_at_a_time(client, room.clone(), 40))).collect();
    let requests =
        (0..64).map(|n| json!({"op": "publish", "channel": room, "data": {"text": format!("queued {n}")}})).collect();
    let ids = pipeline(&mut ada, requests).await;
    let expected = 64 + 3 * 40;
    let (mut replies, mut offsets) = (Vec::new(), Vec::new());
    while replies.len() < ids.len() || offsets.len() < expected {
        let frame = ada.next_frame().await.unwrap_or_else(|closed| panic!("closed: {closed:?}"));
        match frame["type"].as_str() {
            Some("reply") => {
                let offset = frame["result"]["offset"].as_u64().unwrap_or_else(|| panic!("refused: {frame}"));
                assert!(!offsets.contains(&offset), "the reply for {offset} came after its own pub");
                replies.push(frame["id"].as_u64().unwrap_or_default());
            }
            Some("pub") => offsets.push(frame["offset"].as_u64().unwrap_or_default()),
            _ => {}
        }
    }
    assert_eq!(replies, ids, "one reply each, in the order asked");
    assert_eq!(offsets, (1..=expected as u64).collect::<Vec<_>>(), "every push once, in order");
    for task in join_all(busy).await {
        task.expect("the other publishers finished");
    }
    assert!(ada.request(json!({"op": "time"})).await["result"].is_object(), "still open");
}

#[tokio::test]
async fn a_client_pipelining_64_card_moves_while_others_move_cards_gets_every_push_and_reply() {
    let server = TestServer::start_with(FLAGS).await;
    let team = server.teams().await[0].0.clone();
    let board = format!("board:{team}");
    let (mut ada, _) = server.participant("Ada", Some(&team)).await;
    let start = ada.request(json!({"op": "subscribe", "channel": board})).await;
    let first = start["result"]["offset"].as_u64().unwrap_or_default();
    let mut cards = Vec::new();
    for title in ["Ada's card", "Bo's card"] {
        let reply = ada.command(&board, json!({"type": "card.add", "title": title})).await;
        assert!(reply.get("result").is_some(), "{reply}");
        let added = ada.publications(&board, 1).await;
        cards.push(added[0]["data"]["card"]["id"].as_str().unwrap_or_default().to_string());
    }
    let (mut bo, _) = server.participant("Bo", Some(&team)).await;
    let bos_card = cards[1].clone();
    let bo_board = board.clone();
    let bo_moves = tokio::spawn(async move {
        for n in 0..40 {
            let column = ["todo", "doing", "done"][n % 3];
            let reply = bo
                .command(&bo_board, json!({"type": "card.move", "card": bos_card, "column": column, "index": 0}))
                .await;
            assert!(reply.get("result").is_some(), "{reply}");
        }
    });
    let requests = (0..64)
        .map(|n| {
            let column = ["doing", "done", "todo"][n % 3];
            let command = json!({"type": "card.move", "card": cards[0], "column": column, "index": 0});
            json!({"op": "command", "channel": board, "command": command})
        })
        .collect();
    let ids = pipeline(&mut ada, requests).await;
    let expected = first + 2 + 64 + 40;
    let (mut replies, mut offsets) = (Vec::new(), Vec::new());
    while replies.len() < ids.len() || offsets.last().copied().unwrap_or(0) < expected {
        let frame = ada.next_frame().await.unwrap_or_else(|closed| panic!("closed: {closed:?}"));
        match frame["type"].as_str() {
            Some("reply") => {
                assert!(frame.get("result").is_some(), "refused: {frame}");
                replies.push(frame["id"].as_u64().unwrap_or_default());
            }
            Some("pub") if frame["channel"] == board => offsets.push(frame["offset"].as_u64().unwrap_or_default()),
            _ => {}
        }
    }
    assert_eq!(replies, ids);
    assert_eq!(offsets, (first + 3..=expected).collect::<Vec<_>>(), "every board event once, in order");
    bo_moves.await.expect("Bo's moves all landed");
}

/// While a client's commands are under way one after another, the pushes of its other channels keep
/// arriving between their replies instead of waiting for the last one.
#[tokio::test]
async fn pushes_of_other_channels_arrive_while_commands_are_under_way() {
    let server = TestServer::start_with(FLAGS).await;
    let team = server.teams().await[0].0.clone();
    let board = format!("board:{team}");
    let (mut ada, _) = server.participant("Ada", Some(&team)).await;
    ada.request(json!({"op": "subscribe", "channel": "lobby"})).await;
    let reply = ada.command(&board, json!({"type": "card.add", "title": "Moving"})).await;
    let card = {
        let (_, history) = (reply, ada.request(json!({"op": "history", "channel": board, "limit": 1})).await);
        history["result"]["publications"][0]["data"]["card"]["id"].as_str().unwrap_or_default().to_string()
    };
    let (bo, _) = server.participant("Bo", None).await;
    let chatter = tokio::spawn(publish_one_at_a_time(bo, "lobby".into(), 30));
    let requests = (0..64)
        .map(|n| {
            let column = ["doing", "todo"][n % 2];
            let command = json!({"type": "card.move", "card": card, "column": column, "index": 0});
            json!({"op": "command", "channel": board, "command": command})
        })
        .collect();
    let ids = pipeline(&mut ada, requests).await;
    let (mut replies, mut lobby, mut between) = (0, Vec::new(), 0);
    while replies < ids.len() || lobby.len() < 30 {
        let frame = ada.next_frame().await.unwrap_or_else(|closed| panic!("closed: {closed:?}"));
        match (frame["type"].as_str(), frame["channel"].as_str()) {
            (Some("reply"), _) => replies += 1,
            (Some("pub"), Some("lobby")) => {
                lobby.push(frame["offset"].as_u64().unwrap_or_default());
                between += usize::from(replies < ids.len());
            }
            _ => {}
        }
    }
    assert_eq!(lobby, (1..=30).collect::<Vec<_>>());
    assert!(between > 0, "no lobby push arrived until the last command was answered");
    chatter.await.expect("Bo's messages all landed");
}

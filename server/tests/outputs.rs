//! What the teams made, with photos: uploading them (type, size, rate and count limits), serving them
//! to an `<img>`, naming them in `output.save`, and the export bundle that keeps them. Runs on the
//! embedded store and, with `MAKEROOM_TEST_BACKEND=redis`, on Redis.

#![allow(clippy::unwrap_used)]

mod common;

use common::{BytesResponse, Client, TestServer, error_code, http_bytes};
use serde_json::{Value, json};

/// A real 2x1 PNG (red and blue pixels).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x7b, 0x40, 0xe8, 0xdd, 0x00, 0x00, 0x00, 0x0f, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x44, 0x0c, 0xff, 0x01, 0x07, 0xfe, 0x01, 0xfe, 0x1b,
    0x38, 0x8b, 0x40, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The start of a JPEG (its magic bytes), then something of a size.
fn jpeg(size: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00];
    bytes.resize(size, 0x42);
    bytes
}

async fn upload(server: &TestServer, token: &str, query: &str, content_type: &str, bytes: &[u8]) -> BytesResponse {
    let path = format!("/api/events/{}/photos{query}", server.event_id);
    http_bytes(server.port, "POST", &path, Some(token), Some((content_type, bytes))).await
}

async fn uploaded(server: &TestServer, token: &str, bytes: &[u8]) -> String {
    let answer = upload(server, token, "", "image/png", bytes).await;
    assert_eq!(answer.status, 201, "{}", answer.json());
    answer.json()["photo"].as_str().unwrap().to_string()
}

fn code(answer: &BytesResponse) -> String {
    answer.json()["error"]["code"].as_str().unwrap_or("").to_string()
}

async fn snapshot(client: &mut Client, channel: &str) -> Value {
    let reply = client.request(json!({"op": "subscribe", "channel": channel, "snapshot": true})).await;
    assert!(reply["result"]["snapshot"].is_object(), "{reply}");
    reply["result"]["snapshot"]["state"].clone()
}

#[tokio::test]
async fn a_team_uploads_a_photo_an_img_can_show_and_names_it_in_its_output() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let (team, other_team) = (&teams[0].0, &teams[1].0);
    let (mut ada, joined) = server.participant("Ada", Some(team)).await;
    let token = joined["token"].as_str().unwrap();
    let mut bo_phone = server.participant("Bo", Some(team)).await.0;
    snapshot(&mut bo_phone, "outputs").await;

    let answer = upload(&server, token, "", "image/png", PNG).await;
    assert_eq!(answer.status, 201, "{}", answer.json());
    assert_eq!(answer.json()["content_type"], "image/png", "the type comes from the bytes");
    assert_eq!(answer.json()["bytes"], PNG.len());
    let photo = answer.json()["photo"].as_str().unwrap().to_string();
    assert!(photo.starts_with("img_") && photo.len() == 30, "{photo}");
    let pushed = bo_phone.publications("outputs", 1).await;
    assert_eq!(
        pushed[0]["data"],
        json!({"type": "photo_added", "photo": {"id": photo, "team": team, "content_type": "image/png", "bytes": PNG.len()}})
    );

    // An <img> sends no token: the unguessable id is what lets it in.
    let shown =
        http_bytes(server.port, "GET", &format!("/api/events/{}/photos/{photo}", server.event_id), None, None).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body, PNG, "the photo comes back byte for byte");
    assert_eq!(shown.header("content-type"), Some("image/png"));
    assert_eq!(shown.header("x-content-type-options"), Some("nosniff"));
    assert!(shown.header("cache-control").unwrap().contains("max-age=31536000"));
    for (path, why) in [
        (format!("/api/events/{}/photos/img_notarealone", server.event_id), "not an id"),
        (format!("/api/events/{}/photos/img_{}", server.event_id, "a".repeat(26)), "nobody's photo"),
        (format!("/api/events/e_other/photos/{photo}"), "another event"),
        (format!("/api/events/{}/photos/..%2Fjwt-secret", server.event_id), "a path"),
    ] {
        let answer = http_bytes(server.port, "GET", &path, None, None).await;
        assert_eq!(answer.status, 404, "{why}");
    }

    let save = json!({"type": "output.save", "title": "Post-it wall", "description": "What residents told us",
                      "photos": [photo], "carried_on_by": ["Healthwatch Lambeth"], "next_steps": "Cabinet"});
    let reply = ada.command("outputs", save).await;
    assert!(reply["result"].is_object(), "{reply}");
    let pushed = bo_phone.publications("outputs", 1).await;
    assert_eq!(pushed[0]["data"]["output"]["photos"], json!([photo]), "the team's other phone sees it");

    let (mut cy, _) = server.participant("Cy", Some(other_team)).await;
    let theirs = json!({"type": "output.save", "title": "Borrowed", "photos": [photo]});
    assert_eq!(error_code(&cy.command("outputs", theirs).await), "not_found", "another team's photo");
    for bad in [json!(["img_nope"]), json!(["https://example.org/wall.jpg"]), json!([42])] {
        let reply = ada.command("outputs", json!({"type": "output.save", "title": "X", "photos": bad})).await;
        assert!(["not_found", "bad_request"].contains(&error_code(&reply)), "{bad}: {reply}");
    }
    let mut host = server.client(&server.organiser_token().await).await;
    let state = snapshot(&mut host, "outputs").await;
    assert_eq!(state["outputs"][team]["photos"], json!([photo]));
    assert_eq!(state["photos"][&photo]["team"], json!(team));
    let edit = json!({"type": "output.save", "team": team, "title": "Post-it wall, tidied", "photos": [photo]});
    assert!(host.command("outputs", edit).await["result"].is_object(), "organisers edit any team's");
}

#[tokio::test]
async fn uploads_are_checked_for_type_size_rights_rate_and_count() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let team = &teams[0].0;
    let joined = server.join("Ada", Some(team)).await;
    let token = joined["token"].as_str().unwrap().to_string();

    let gif = upload(&server, &token, "", "image/gif", b"GIF89a\x01\x00\x01\x00").await;
    assert_eq!((gif.status, code(&gif).as_str()), (400, "bad_request"));
    let svg = upload(&server, &token, "", "image/png", b"<svg onload=alert(1)></svg>").await;
    assert_eq!((svg.status, code(&svg).as_str()), (400, "bad_request"), "the type is the bytes', not the header's");
    let empty = upload(&server, &token, "", "image/jpeg", b"").await;
    assert_eq!(empty.status, 400);
    let huge = upload(&server, &token, "", "image/jpeg", &jpeg(3 * 1024 * 1024 + 1)).await;
    assert_eq!((huge.status, code(&huge).as_str()), (413, "too_large"));
    let largest = upload(&server, &token, "", "image/jpeg", &jpeg(3 * 1024 * 1024)).await;
    assert_eq!(largest.status, 201, "3 MiB is allowed: {}", largest.json());
    assert_eq!(largest.json()["content_type"], "image/jpeg");

    let no_token = http_bytes(
        server.port,
        "POST",
        &format!("/api/events/{}/photos", server.event_id),
        None,
        Some(("image/png", PNG)),
    )
    .await;
    assert_eq!(no_token.status, 401);
    let display = upload(&server, &server.display_token().await, "", "image/png", PNG).await;
    assert_eq!(display.status, 403);
    let teamless = server.join("Bo", None).await;
    let answer = upload(&server, teamless["token"].as_str().unwrap(), "", "image/png", PNG).await;
    assert_eq!((answer.status, code(&answer).as_str()), (403, "forbidden"));
    let organiser = server.organiser_token().await;
    let answer = upload(&server, &organiser, "", "image/png", PNG).await;
    assert_eq!((answer.status, code(&answer).as_str()), (400, "bad_request"), "an organiser names the team");
    let answer = upload(&server, &organiser, &format!("?team={team}"), "image/png", PNG).await;
    assert_eq!(answer.status, 201, "{}", answer.json());
    let answer = upload(&server, &token, "?team=t_someoneelse", "image/png", PNG).await;
    assert_eq!(answer.status, 403, "a participant uploads for their own team");
    let other_event =
        http_bytes(server.port, "POST", "/api/events/e_other/photos", Some(&token), Some(("image/png", PNG))).await;
    assert_eq!(other_event.status, 403);

    // A person's uploads are rate limited; a team's photos are counted (60 in all).
    let mut counted = 2; // the 3 MiB one and the organiser's
    let mut limited = None;
    for _ in 0..40 {
        let answer = upload(&server, &token, "", "image/png", PNG).await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
        assert_eq!(answer.status, 201, "{}", answer.json());
        counted += 1;
    }
    let limited = limited.expect("a burst of uploads is limited");
    assert_eq!(code(&limited), "rate_limited");
    assert!(limited.json()["error"]["retry_after_ms"].as_u64().unwrap() > 0);
    let mut refused = None;
    for n in 0..30 {
        let helper = server.join(&format!("Helper {n}"), Some(team)).await;
        let helper_token = helper["token"].as_str().unwrap();
        for _ in 0..10 {
            let answer = upload(&server, helper_token, "", "image/png", PNG).await;
            if answer.status == 409 {
                refused = Some(answer);
                break;
            }
            assert_eq!(answer.status, 201, "{}", answer.json());
            counted += 1;
        }
        if refused.is_some() {
            break;
        }
    }
    let refused = refused.expect("a team's photos are counted");
    assert_eq!(code(&refused), "conflict");
    assert_eq!(counted, 60, "exactly 60 photos per team");
}

#[tokio::test]
async fn the_export_bundle_holds_the_archive_and_the_photos_it_shows() {
    let server = TestServer::start().await;
    let teams = server.teams().await;
    let team = &teams[0].0;
    let (mut ada, joined) = server.participant("Ada", Some(team)).await;
    let photo = uploaded(&server, joined["token"].as_str().unwrap(), PNG).await;
    let unshown = uploaded(&server, joined["token"].as_str().unwrap(), PNG).await;
    let save = json!({"type": "output.save", "title": "Post-it wall", "photos": [photo]});
    assert!(ada.command("outputs", save).await["result"].is_object());
    let mut host = server.client(&server.organiser_token().await).await;
    let zone = json!({"type": "event.update", "time_zone": "America/New_York"});
    assert!(host.command("roster", zone).await["result"].is_object());
    let bad_zone = json!({"type": "event.update", "time_zone": "Mars/Olympus_Mons"});
    assert_eq!(error_code(&host.command("roster", bad_zone).await), "bad_request");
    assert_eq!(snapshot(&mut host, "roster").await["event"]["time_zone"], "America/New_York");

    let token = server.organiser_token().await;
    let path = format!("/api/events/{}/export?format=bundle", server.event_id);
    let answer = http_bytes(server.port, "GET", &path, Some(&token), None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/zip"));
    assert!(answer.header("content-disposition").unwrap().contains(".zip"));
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("export.zip");
    std::fs::write(&zip, &answer.body).unwrap();
    let unzipped = std::process::Command::new("unzip").arg("-q").arg(&zip).arg("-d").arg(dir.path()).status().unwrap();
    assert!(unzipped.success(), "unzip reads the bundle");
    let photo_file = dir.path().join(format!("photos/{photo}.png"));
    assert_eq!(std::fs::read(&photo_file).unwrap(), PNG, "the photo's bytes, as uploaded");
    assert!(!dir.path().join(format!("photos/{unshown}.png")).exists(), "only the photos an output shows");
    let html = std::fs::read_to_string(dir.path().join("export.html")).unwrap();
    assert!(html.contains(&format!("<img src=\"photos/{photo}.png\"")), "the archive shows it from beside it");
    assert!(html.contains("Times are in America/New_York."), "{html}");
    assert!(html.contains("<div class=\"brief\">"), "briefs are rendered");
    let json: Value = serde_json::from_slice(&std::fs::read(dir.path().join("export.json")).unwrap()).unwrap();
    assert_eq!(json["event"]["time_zone"], "America/New_York");
    assert_eq!(json["outputs"][team]["photos"], json!([photo]));
    assert_eq!(json["photos"][&photo]["content_type"], "image/png");
    assert!(dir.path().join("export.md").exists());

    // The single-file archives show the photo from the server.
    let html = http_bytes(server.port, "GET", &path.replace("bundle", "html"), Some(&token), None).await;
    let html = String::from_utf8(html.body).unwrap();
    assert!(html.contains(&format!("/api/events/{}/photos/{photo}\"", server.event_id)), "{html}");
}

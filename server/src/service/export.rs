//! The record of a weekend, for organisers to keep and hand to partners: everything as JSON (briefs
//! with every revision, teams, boards, chats, announcements, schedule, running order, help requests,
//! outputs), and the same as a readable Markdown or HTML archive that needs no Makeroom to read.
//!
//! The readable forms are built once as a list of blocks and rendered twice, so they cannot drift.

use super::directory::EventEntry;
use super::state_log::read_all;
use crate::domain::channel::Channel;
use crate::error::AppError;
use crate::store::Store;
use makeroom_protocol::announcements::{AnnouncementEvent, Priority};
use makeroom_protocol::brief::BriefEvent;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Serialize)]
struct Revision {
    revision: u32,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title_cy: Option<String>,
    body: String,
    at: i64,
    by: String,
}

/// What an announcement said from one time on: as posted, then after each edit.
#[derive(Serialize)]
struct AnnouncementVersion {
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text_cy: Option<String>,
    priority: Priority,
    pinned: bool,
    at: i64,
    by: String,
}

#[derive(Serialize)]
struct ChatMessage {
    offset: u64,
    at: i64,
    from: String,
    role: makeroom_protocol::Role,
    text: String,
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|err| AppError::Unexpected(err.into()))
}

/// Everything about an event as one JSON document.
pub async fn export_json(store: &dyn Store, event: &EventEntry, exported_at: i64) -> Result<Value, AppError> {
    let mut revisions: BTreeMap<String, Vec<Revision>> = BTreeMap::new();
    for publication in read_all(store, event.briefs.key(), 0).await? {
        let Ok(change) = serde_json::from_str::<BriefEvent>(publication.data.get()) else { continue };
        let (id, revision) = match change {
            BriefEvent::Created { brief } | BriefEvent::Forked { brief, .. } => (
                brief.id,
                Revision {
                    revision: 1,
                    title: brief.title,
                    title_cy: brief.title_cy,
                    body: brief.body,
                    at: 0,
                    by: String::new(),
                },
            ),
            BriefEvent::Edited { brief, revision, title, title_cy, body, .. } => {
                (brief, Revision { revision, title, title_cy, body, at: 0, by: String::new() })
            }
        };
        revisions.entry(id).or_default().push(Revision {
            at: publication.ts,
            by: publication.from.name.clone(),
            ..revision
        });
    }

    // The state holds what each announcement says now; the log, what it said before each edit.
    let mut versions: BTreeMap<String, Vec<AnnouncementVersion>> = BTreeMap::new();
    for publication in read_all(store, event.announcements.key(), 0).await? {
        let (id, text, text_cy, priority, pinned) =
            match serde_json::from_str::<AnnouncementEvent>(publication.data.get()) {
                Ok(AnnouncementEvent::Posted { id, text, text_cy, priority, pinned }) => {
                    (id, text, text_cy, priority, pinned)
                }
                Ok(AnnouncementEvent::Edited { id, text, text_cy, priority, pinned, .. }) => {
                    (id, text, text_cy, priority, pinned)
                }
                _ => continue,
            };
        let version =
            AnnouncementVersion { text, text_cy, priority, pinned, at: publication.ts, by: publication.from.name };
        versions.entry(id).or_default().push(version);
    }

    let (roster, teams): (Value, Vec<String>) = {
        let roster = event.roster();
        (to_value(&*roster)?, roster.teams.keys().cloned().collect())
    };
    let mut boards = serde_json::Map::new();
    let mut chats = serde_json::Map::new();
    let mut rooms = vec![Channel::Lobby];
    rooms.extend(teams.iter().map(|team| Channel::Team(team.clone())));
    for team in &teams {
        let board = event.board(store, team).await?;
        boards.insert(team.clone(), to_value(&*board.state())?);
    }
    for room in rooms {
        let messages: Vec<ChatMessage> = read_all(store, &event.channel_key(&room), 0)
            .await?
            .into_iter()
            .map(|p| ChatMessage {
                offset: p.offset,
                at: p.ts,
                from: p.from.name,
                role: p.from.role,
                text: serde_json::from_str::<Value>(p.data.get())
                    .ok()
                    .and_then(|data| data["text"].as_str().map(str::to_string))
                    .unwrap_or_default(),
            })
            .collect();
        chats.insert(room.to_string(), to_value(&messages)?);
    }
    let mut briefs = to_value(&*event.briefs.state())?;
    if let Some(map) = briefs["briefs"].as_object_mut() {
        for (id, brief) in map.iter_mut() {
            brief["revisions"] = to_value(&revisions.remove(id).unwrap_or_default())?;
        }
    }
    let mut announcements = to_value(&*event.announcements.state())?["announcements"].take();
    for announcement in announcements.as_array_mut().into_iter().flatten() {
        let id = text(&announcement["id"]);
        announcement["versions"] = to_value(&versions.remove(&id).unwrap_or_default())?;
    }
    Ok(json!({
        "format": "makeroom-export/1",
        "exported_at": exported_at,
        "event": {
            "id": event.info.id,
            "name": roster["event"]["name"],
            "name_cy": roster["event"]["name_cy"],
            "language": roster["event"]["language"].as_str().unwrap_or("en"),
            "bilingual_order": roster["event"]["bilingual_order"],
            "join_code": event.join_code(),
            "starts_at": roster["event"]["starts_at"],
            "ends_at": roster["event"]["ends_at"],
        },
        "participants": roster["participants"],
        "teams": roster["teams"],
        "briefs": briefs["briefs"],
        "boards": boards,
        "chats": chats,
        "announcements": announcements,
        "schedule": to_value(&*event.schedule.state())?["phases"],
        "presentations": to_value(&*event.presentations.state())?,
        "help": to_value(&*event.help.state())?["requests"],
        "outputs": to_value(&*event.outputs.state())?["outputs"],
    }))
}

/// A block of a readable archive.
enum Block {
    Heading(u8, String),
    Paragraph(String),
    /// Text kept as written (a brief's Markdown body).
    Verbatim(String),
    List(Vec<String>),
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A text with its Welsh beside it when it has one: "Repair cafés / Caffis trwsio".
fn bilingual(value: &Value, field: &str) -> String {
    let english = text(&value[field]);
    match value[format!("{field}_cy").as_str()].as_str() {
        Some(welsh) if !welsh.is_empty() => format!("{english} / {welsh}"),
        _ => english,
    }
}

fn time(ms: &Value) -> String {
    ms.as_i64().map(format_utc).unwrap_or_else(|| "—".into())
}

/// `YYYY-MM-DD HH:MM UTC` from milliseconds since the epoch (civil-from-days, no time zone database).
fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

fn archive(export: &Value) -> Vec<Block> {
    use Block::*;
    let mut doc = Vec::new();
    let event = &export["event"];
    doc.push(Heading(1, bilingual(event, "name")));
    doc.push(Paragraph(format!(
        "From {} to {}. Exported {} from Makeroom.",
        time(&event["starts_at"]),
        time(&event["ends_at"]),
        time(&export["exported_at"])
    )));
    let name_of = |id: &Value| {
        let id = text(id);
        export["participants"][&id]["name"].as_str().map(str::to_string).unwrap_or(id)
    };
    let team_name = |id: &str| export["teams"][id]["name"].as_str().unwrap_or(id).to_string();

    doc.push(Heading(2, "Briefs".into()));
    for brief in export["briefs"].as_object().into_iter().flat_map(|m| m.values()) {
        let mut title = bilingual(brief, "title");
        if let Some(team) = brief["team"].as_str() {
            title = format!("{title} (working version of {})", team_name(team));
        }
        doc.push(Heading(3, title));
        doc.push(Paragraph(format!(
            "Brought by {}. Revision {} of {}.",
            text(&brief["partner"]),
            text(&brief["revision"]),
            brief["revisions"].as_array().map(Vec::len).unwrap_or(0)
        )));
        doc.push(Verbatim(text(&brief["body"])));
    }

    doc.push(Heading(2, "Teams and what they made".into()));
    for (id, team) in export["teams"].as_object().into_iter().flat_map(|m| m.iter()) {
        doc.push(Heading(3, text(&team["name"])));
        let members: Vec<String> = team["members"].as_array().into_iter().flatten().map(name_of).collect();
        doc.push(Paragraph(format!(
            "Members: {}. Needed: {}.",
            if members.is_empty() { "nobody yet".into() } else { members.join(", ") },
            team["needs"].as_array().map(|n| n.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()
        )));
        let output = &export["outputs"][id];
        if output.is_object() {
            doc.push(Heading(4, format!("What it made: {}", text(&output["title"]))));
            doc.push(Verbatim(text(&output["description"])));
            let mut facts = Vec::new();
            for link in output["links"].as_array().into_iter().flatten() {
                facts.push(format!("Link: {}", text(link)));
            }
            for photo in output["photos"].as_array().into_iter().flatten() {
                facts.push(format!("Photo: {}", text(photo)));
            }
            if !text(&output["next_steps"]).is_empty() {
                facts.push(format!("Next steps: {}", text(&output["next_steps"])));
            }
            let carried: Vec<String> = output["carried_on_by"].as_array().into_iter().flatten().map(text).collect();
            if !carried.is_empty() {
                facts.push(format!("Carried on by: {}", carried.join(", ")));
            }
            doc.push(List(facts));
        }
        for column in export["boards"][id]["columns"].as_array().into_iter().flatten() {
            let cards: Vec<String> =
                column["cards"].as_array().into_iter().flatten().map(|c| text(&c["title"])).collect();
            if !cards.is_empty() {
                doc.push(Paragraph(format!("{}:", text(&column["title"]))));
                doc.push(List(cards));
            }
        }
    }

    doc.push(Heading(2, "Schedule".into()));
    doc.push(List(
        export["schedule"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{} – {}: {}", time(&p["starts_at"]), time(&p["ends_at"]), text(&p["title"])))
            .collect(),
    ));
    doc.push(Heading(2, "Show and tell running order".into()));
    doc.push(List(
        export["presentations"]["order"].as_array().into_iter().flatten().map(|t| team_name(&text(t))).collect(),
    ));
    doc.push(Heading(2, "Announcements".into()));
    doc.push(List(
        export["announcements"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let urgent = if a["priority"] == "urgent" { " (urgent)" } else { "" };
                let mut line = format!("{}{urgent}: {}", time(&a["at"]), bilingual(a, "text"));
                // Every version but the last (which is the text above), and who changed it when.
                let versions = a["versions"].as_array().map(Vec::as_slice).unwrap_or_default();
                for (index, version) in versions.iter().enumerate().skip(1) {
                    let earlier = &versions[index - 1];
                    line.push_str(&format!(
                        " — edited {} by {} (it said: “{}”{})",
                        time(&version["at"]),
                        text(&version["by"]),
                        bilingual(earlier, "text"),
                        if earlier["priority"] == "urgent" { ", urgent" } else { "" }
                    ));
                }
                if a["retracted"].is_object() {
                    line.push_str(&format!(
                        " — retracted {} by {}",
                        time(&a["retracted"]["at"]),
                        name_of(&a["retracted"]["by"])
                    ));
                }
                line
            })
            .collect(),
    ));
    doc.push(Heading(2, "Help requests".into()));
    doc.push(List(
        export["help"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                format!("{} asked about {} ({})", team_name(&text(&h["team"])), text(&h["topic"]), text(&h["status"]))
            })
            .collect(),
    ));
    doc.push(Heading(2, "Conversations".into()));
    for (room, messages) in export["chats"].as_object().into_iter().flat_map(|m| m.iter()) {
        let title = match room.strip_prefix("team:") {
            Some(team) => format!("{} team room", team_name(team)),
            None => "Everyone (lobby)".into(),
        };
        doc.push(Heading(3, title));
        doc.push(List(
            messages
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| format!("{} {}: {}", time(&m["at"]), text(&m["from"]), text(&m["text"])))
                .collect(),
        ));
    }
    doc
}

pub fn to_markdown(export: &Value) -> String {
    let mut out = String::new();
    for block in archive(export) {
        match block {
            Block::Heading(level, title) => {
                out.push_str(&format!("{} {}\n\n", "#".repeat(level as usize), title.replace('\n', " ")))
            }
            Block::Paragraph(text) => out.push_str(&format!("{text}\n\n")),
            Block::Verbatim(text) if text.trim().is_empty() => {}
            Block::Verbatim(text) => {
                // Quoted, so a brief's own headings stay inside it.
                for line in text.lines() {
                    out.push_str(&format!("> {line}\n"));
                }
                out.push('\n');
            }
            Block::List(items) if items.is_empty() => out.push_str("_None._\n\n"),
            Block::List(items) => {
                for item in items {
                    out.push_str(&format!("- {}\n", item.replace('\n', " ")));
                }
                out.push('\n');
            }
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn to_html(export: &Value) -> String {
    let title = escape(&text(&export["event"]["name"]));
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#111}}\
         blockquote{{white-space:pre-wrap;border-left:4px solid #ccc;margin:0;padding:0 1rem;color:#333}}</style>\n\
         </head>\n<body>\n<main>\n"
    );
    for block in archive(export) {
        match block {
            Block::Heading(level, title) => out.push_str(&format!("<h{level}>{}</h{level}>\n", escape(&title))),
            Block::Paragraph(text) => out.push_str(&format!("<p>{}</p>\n", escape(&text))),
            Block::Verbatim(text) if text.trim().is_empty() => {}
            Block::Verbatim(text) => out.push_str(&format!("<blockquote>{}</blockquote>\n", escape(&text))),
            Block::List(items) if items.is_empty() => out.push_str("<p><em>None.</em></p>\n"),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", escape(&item)));
                }
                out.push_str("</ul>\n");
            }
        }
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({
            "exported_at": 1_795_000_000_000i64,
            "event": {"name": "Made in <Lambeth>", "starts_at": 0, "ends_at": 172_800_000},
            "participants": {"p1": {"name": "Ada"}},
            "teams": {"t1": {"name": "Healthwatch", "members": ["p1"], "needs": ["Design"]}},
            "briefs": {"b1": {"title": "Set up Healthwatch", "partner": "Lambeth", "revision": 2, "revisions": [{}, {}], "body": "# Why\nVoices"}},
            "boards": {"t1": {"columns": [{"title": "To do", "cards": [{"title": "Interview residents"}]}]}},
            "outputs": {"t1": {"title": "A cabinet paper", "description": "Co-produced", "links": ["https://x.org"], "photos": [], "next_steps": "Cabinet in September", "carried_on_by": ["Adult Social Care"]}},
            "schedule": [{"title": "Making", "starts_at": 0, "ends_at": 3_600_000}],
            "presentations": {"order": ["t1"]},
            "announcements": [
                {"text": "Lunch", "priority": "urgent", "at": 0},
                {"text": "Tea at 4pm", "priority": "normal", "at": 0, "retracted": {"at": 120_000, "by": "p1"},
                 "versions": [{"text": "Tea at 3pm", "priority": "urgent", "at": 0, "by": "Ada"},
                              {"text": "Tea at 4pm", "priority": "normal", "at": 60_000, "by": "Ada"}]},
            ],
            "help": [{"team": "t1", "topic": "printer", "status": "resolved"}],
            "chats": {"lobby": [{"at": 0, "from": "Ada", "text": "hello <all>"}]},
        })
    }

    #[test]
    fn the_markdown_archive_reads_as_a_record_of_the_weekend() {
        let markdown = to_markdown(&sample());
        for expected in [
            "# Made in <Lambeth>",
            "### Set up Healthwatch",
            "> # Why",
            "Members: Ada.",
            "#### What it made: A cabinet paper",
            "- Carried on by: Adult Social Care",
            "- Interview residents",
            "- 1970-01-01 00:00 UTC (urgent): Lunch\n",
            "- 1970-01-01 00:00 UTC: Tea at 4pm — edited 1970-01-01 00:01 UTC by Ada (it said: “Tea at 3pm”, urgent) \
             — retracted 1970-01-01 00:02 UTC by Ada\n",
            "- Healthwatch asked about printer (resolved)",
            "- 1970-01-01 00:00 UTC Ada: hello <all>",
        ] {
            assert!(markdown.contains(expected), "missing {expected:?} in\n{markdown}");
        }
    }

    #[test]
    fn the_html_archive_escapes_what_people_typed() {
        let html = to_html(&sample());
        assert!(html.contains("<title>Made in &lt;Lambeth&gt;</title>"));
        assert!(html.contains("hello &lt;all&gt;"));
        assert!(!html.contains("<all>"));
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_795_451_275_000), "2026-11-23 16:27 UTC");
    }
}

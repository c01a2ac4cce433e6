//! What each team made, recorded so the work survives the weekend: a title, a description, links,
//! photos, next steps and who carries it on. It is what a brief's partner receives afterwards.
//!
//! Photos are uploaded one by one over HTTP (their bytes go to the store's photo store); each upload
//! is recorded here as `photo_added`, which is what an output may then name. The rules on what an
//! upload may be (its type, size and how many a team may have) are here too, so the HTTP handler
//! only carries them out.

use super::{Context, Domain, DomainError, Recorded, text};
pub use makeroom_protocol::outputs::{OutputCommand, OutputEvent, OutputRecord, PhotoRecord};
use makeroom_protocol::{DomainCommand, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MAX_LINKS: usize = 20;
pub const MAX_URL_CHARS: usize = 500;
/// Photos one output may show.
pub const MAX_PHOTOS_PER_OUTPUT: usize = 20;
/// Photos a team may upload over the event (removed ones count: their bytes stay in the record).
pub const MAX_PHOTOS_PER_TEAM: usize = 60;
/// The largest photo accepted. Phones resize before they upload (about 1600 px, well under 1 MiB).
pub const MAX_PHOTO_BYTES: usize = 3 * 1024 * 1024;

/// The image types a photo may be, told by their first bytes (never by what the sender claims).
pub fn photo_type(bytes: &[u8]) -> Result<&'static str, DomainError> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(DomainError::Invalid(format!("a photo holds at most {} MiB", MAX_PHOTO_BYTES / (1024 * 1024))));
    }
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Ok("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Ok("image/png"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Ok("image/webp"),
        _ => Err(DomainError::Invalid("a photo must be a JPEG, PNG or WebP image".into())),
    }
}

/// The file extension of a photo's content type, for the export bundle.
pub fn photo_extension(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/webp" => "webp",
        _ => "jpg",
    }
}

/// A photo uploaded for a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Photo {
    pub team: String,
    pub content_type: String,
    pub bytes: u64,
    pub added_at: i64,
    pub added_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    #[serde(flatten)]
    pub record: OutputRecord,
    pub updated_at: i64,
    pub updated_by: String,
}

/// Every team's output, by team id, and every photo uploaded, by photo id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outputs {
    pub outputs: BTreeMap<String, Output>,
    pub photos: BTreeMap<String, Photo>,
}

impl Outputs {
    /// How many photos `team` has uploaded.
    pub fn team_photos(&self, team: &str) -> usize {
        self.photos.values().filter(|photo| photo.team == team).count()
    }
}

/// What the outputs take: `output.save` from the wire, and the photo upload's record, which only the
/// server's HTTP handler makes (no frame can carry it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputsCommand {
    Save(OutputCommand),
    /// A photo whose bytes are stored: record it for `team` (checked like a save's team).
    AddPhoto {
        id: String,
        team: Option<String>,
        content_type: String,
        bytes: u64,
    },
}

impl TryFrom<DomainCommand> for OutputsCommand {
    type Error = DomainCommand;

    fn try_from(command: DomainCommand) -> Result<Self, DomainCommand> {
        OutputCommand::try_from(command).map(OutputsCommand::Save)
    }
}

impl<'de> Deserialize<'de> for OutputsCommand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        OutputCommand::deserialize(deserializer).map(OutputsCommand::Save)
    }
}

/// The team a command is for: a participant's own (they may name it), or the one an organiser names.
fn whose_team(team: Option<String>, context: &Context, what: &str) -> Result<String, DomainError> {
    let actor = context.actor;
    let team = match (team, actor.role) {
        (Some(team), Role::Organiser) => team,
        (None, Role::Organiser) => return Err(DomainError::Invalid(format!("name the team whose {what} this is"))),
        (requested, Role::Participant) => {
            let Some(own) = actor.team else {
                return Err(DomainError::Forbidden("join a team to record what it made".into()));
            };
            if requested.as_deref().is_some_and(|t| t != own) {
                return Err(DomainError::Forbidden(format!("a team records its own {what}")));
            }
            own.to_string()
        }
        (_, Role::Display) => return Err(DomainError::Forbidden("a display only reads".into())),
    };
    if !(context.is_team)(&team) {
        return Err(DomainError::NotFound(format!("team `{team}`")));
    }
    Ok(team)
}

fn urls(list: Vec<String>, what: &str) -> Result<Vec<String>, DomainError> {
    if list.len() > MAX_LINKS {
        return Err(DomainError::Invalid(format!("at most {MAX_LINKS} {what}")));
    }
    list.into_iter()
        .map(|url| {
            let url = text(&url, what, 1, MAX_URL_CHARS, false)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(char::is_whitespace) {
                return Err(DomainError::Invalid(format!("{what} must be http(s) addresses: `{url}`")));
            }
            Ok(url)
        })
        .collect()
}

impl Outputs {
    /// The photos an output names: ids of photos uploaded for its team, each once.
    fn photos_of(&self, team: &str, photos: Vec<String>) -> Result<Vec<String>, DomainError> {
        if photos.len() > MAX_PHOTOS_PER_OUTPUT {
            return Err(DomainError::Invalid(format!("at most {MAX_PHOTOS_PER_OUTPUT} photos")));
        }
        let mut named: Vec<String> = Vec::with_capacity(photos.len());
        for id in photos {
            match self.photos.get(&id) {
                Some(photo) if photo.team == team => {}
                _ => {
                    return Err(DomainError::NotFound(format!(
                        "photo `{}` of this team",
                        id.chars().take(40).collect::<String>()
                    )));
                }
            }
            if !named.contains(&id) {
                named.push(id);
            }
        }
        Ok(named)
    }

    fn save(&self, command: OutputCommand, context: &Context) -> Result<OutputEvent, DomainError> {
        let OutputCommand::Save { team, title, description, links, photos, next_steps, carried_on_by } = command;
        let team = whose_team(team, context, "output")?;
        if carried_on_by.len() > MAX_LINKS {
            return Err(DomainError::Invalid(format!("at most {MAX_LINKS} people carry it on")));
        }
        Ok(OutputEvent::Saved {
            output: OutputRecord {
                title: text(&title, "a title", 1, 120, false)?,
                description: text(&description, "a description", 0, 10_000, true)?,
                links: urls(links, "links")?,
                photos: self.photos_of(&team, photos)?,
                next_steps: text(&next_steps, "next steps", 0, 4_000, true)?,
                carried_on_by: carried_on_by
                    .iter()
                    .filter(|who| !who.trim().is_empty())
                    .map(|who| text(who, "a name", 1, 80, false))
                    .collect::<Result<_, _>>()?,
                team,
            },
        })
    }
}

impl Domain for Outputs {
    type Event = OutputEvent;
    type Command = OutputsCommand;

    fn decide(&self, command: OutputsCommand, context: &mut Context) -> Result<OutputEvent, DomainError> {
        match command {
            OutputsCommand::Save(save) => self.save(save, context),
            OutputsCommand::AddPhoto { id, team, content_type, bytes } => {
                let team = whose_team(team, context, "photo")?;
                if self.team_photos(&team) >= MAX_PHOTOS_PER_TEAM {
                    return Err(DomainError::Conflict(format!(
                        "this team has uploaded {MAX_PHOTOS_PER_TEAM} photos, the most a team may"
                    )));
                }
                if self.photos.contains_key(&id) {
                    return Err(DomainError::Conflict("this photo is already recorded".into()));
                }
                Ok(OutputEvent::PhotoAdded { photo: PhotoRecord { id, team, content_type, bytes } })
            }
        }
    }

    fn apply(&mut self, event: &OutputEvent, recorded: Recorded) {
        match event {
            OutputEvent::Saved { output } => {
                self.outputs.insert(
                    output.team.clone(),
                    Output { record: output.clone(), updated_at: recorded.ts, updated_by: recorded.by.to_string() },
                );
            }
            OutputEvent::PhotoAdded { photo } => {
                self.photos.insert(
                    photo.id.clone(),
                    Photo {
                        team: photo.team.clone(),
                        content_type: photo.content_type.clone(),
                        bytes: photo.bytes,
                        added_at: recorded.ts,
                        added_by: recorded.by.to_string(),
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::tests::run;

    fn save(team: Option<&str>, links: &[&str]) -> OutputsCommand {
        save_with(team, links, &[])
    }

    fn save_with(team: Option<&str>, links: &[&str], photos: &[&str]) -> OutputsCommand {
        OutputsCommand::Save(OutputCommand::Save {
            team: team.map(str::to_string),
            title: "Love Your Space campaign".into(),
            description: "A map of unloved spaces and a kit to adopt one.".into(),
            links: links.iter().map(|s| s.to_string()).collect(),
            photos: photos.iter().map(|s| s.to_string()).collect(),
            next_steps: "Launch at the country show".into(),
            carried_on_by: vec!["Public Realm".into(), " ".into()],
        })
    }

    fn add_photo(id: &str, team: Option<&str>) -> OutputsCommand {
        OutputsCommand::AddPhoto {
            id: id.into(),
            team: team.map(str::to_string),
            content_type: "image/jpeg".into(),
            bytes: 1000,
        }
    }

    #[test]
    fn an_output_names_only_its_own_teams_uploaded_photos() {
        let mut outputs = Outputs::default();
        let ada = Actor { id: "ada", role: Role::Participant, team: Some("t1") };
        let bo = Actor { id: "bo", role: Role::Participant, team: Some("t2") };
        run(&mut outputs, ada, add_photo("img_a", None)).expect("upload");
        run(&mut outputs, bo, add_photo("img_b", None)).expect("upload");
        assert!(matches!(run(&mut outputs, ada, add_photo("img_c", Some("t2"))), Err(DomainError::Forbidden(_))));
        run(&mut outputs, ada, save_with(None, &[], &["img_a", "img_a"])).expect("its own photo");
        assert_eq!(outputs.outputs["t1"].record.photos, vec!["img_a"], "each photo once");
        for other in ["img_b", "img_none", "https://example.org/tulse-hill.jpg"] {
            assert!(
                matches!(run(&mut outputs, ada, save_with(None, &[], &[other])), Err(DomainError::NotFound(_))),
                "{other}"
            );
        }
        let display = Actor { id: "d1", role: Role::Display, team: None };
        assert!(matches!(run(&mut outputs, display, add_photo("img_d", Some("t1"))), Err(DomainError::Forbidden(_))));
    }

    #[test]
    fn a_team_uploads_a_bounded_number_of_photos_of_known_types() {
        let mut outputs = Outputs::default();
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        for n in 0..MAX_PHOTOS_PER_TEAM {
            run(&mut outputs, host, add_photo(&format!("img_{n}"), Some("t3"))).expect("within the limit");
        }
        assert!(matches!(run(&mut outputs, host, add_photo("img_more", Some("t3"))), Err(DomainError::Conflict(_))));
        assert_eq!(photo_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0]), Ok("image/jpeg"));
        assert_eq!(photo_type(b"\x89PNG\r\n\x1a\n...."), Ok("image/png"));
        assert_eq!(photo_type(b"RIFF\0\0\0\0WEBPVP8 "), Ok("image/webp"));
        assert!(photo_type(b"GIF89a").is_err());
        assert!(photo_type(b"<svg onload=alert(1)>").is_err());
        assert!(photo_type(&vec![0xFF; MAX_PHOTO_BYTES + 1]).is_err());
    }

    #[test]
    fn a_team_records_its_own_output_and_organisers_any() {
        let mut outputs = Outputs::default();
        let ada = Actor { id: "ada", role: Role::Participant, team: Some("t1") };
        run(&mut outputs, ada, save(None, &["https://lys.example.org"])).expect("save");
        assert_eq!(outputs.outputs["t1"].record.carried_on_by, vec!["Public Realm"]);
        assert!(matches!(run(&mut outputs, ada, save(Some("t2"), &[])), Err(DomainError::Forbidden(_))));
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        run(&mut outputs, host, save(Some("t2"), &[])).expect("organisers help record");
        assert!(matches!(run(&mut outputs, host, save(Some("t_ghost"), &[])), Err(DomainError::NotFound(_))));
        assert!(matches!(run(&mut outputs, ada, save(None, &["javascript:alert(1)"])), Err(DomainError::Invalid(_))));
    }
}

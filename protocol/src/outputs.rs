//! The `outputs` channel's wire types: what each team made, saved whole (PROTOCOL.md §8,
//! "`outputs`").
//!
//! Data only. Who may save, and the limits on texts and links, are the server's rules.

use serde::{Deserialize, Serialize};

/// A team's output as `saved` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// The team's id.
    pub team: String,
    pub title: String,
    /// May hold newlines.
    pub description: String,
    /// `http(s)` addresses.
    pub links: Vec<String>,
    /// Photos: ids of photos uploaded for this team (`POST /api/events/{event}/photos`). Outputs
    /// saved before uploads existed may hold `http(s)` addresses instead.
    pub photos: Vec<String>,
    /// May hold newlines.
    pub next_steps: String,
    /// Who will carry the work on after the weekend, in their own words (names, organisations).
    pub carried_on_by: Vec<String>,
}

/// A photo uploaded for a team, as `photo_added` records it (its bytes are kept apart, in the
/// store's photo store, under the event and this id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRecord {
    /// `img_…`, random and unguessable: it is also what lets an `<img>` fetch the photo.
    pub id: String,
    /// The team it was uploaded for.
    pub team: String,
    /// `image/jpeg`, `image/png` or `image/webp`, as its first bytes say.
    pub content_type: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Everything recorded on the `outputs` log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputEvent {
    /// `saved`: the team's output as it now stands, replacing any earlier one; when and by whom
    /// are the record's `ts` and `from.id`.
    Saved { output: OutputRecord },
    /// `photo_added`: a photo was uploaded for a team (over HTTP, never by a command); `output.save`
    /// may name it from then on. When and by whom are the record's `ts` and `from.id`.
    PhotoAdded { photo: PhotoRecord },
}

/// What people ask of the outputs (`command` on the `outputs` channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OutputCommand {
    /// Saves a team's output whole: a field left out is saved empty. `team` defaults to the
    /// sender's team (organisers name one).
    #[serde(rename = "output.save")]
    Save {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team: Option<String>,
        title: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        description: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        links: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        photos: Vec<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        next_steps: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        carried_on_by: Vec<String>,
    },
}

impl OutputCommand {
    /// The command's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            OutputCommand::Save { .. } => "output.save",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documented;

    #[test]
    fn every_documented_output_command_and_event_round_trips() {
        let section = documented::section("outputs");
        documented::check_commands(section, crate::ChannelKind::Outputs, &["output.save"]);
        documented::check_events::<OutputEvent>(section, &["saved", "photo_added"]);
    }
}

//! The `announcements` channel's wire types: organisers post, edit, retract, pin and unpin,
//! participants acknowledge urgent ones (PROTOCOL.md §8, "`announcements`").
//!
//! Data only. Who may do what, and how long a text may be, are the server's rules.

use serde::{Deserialize, Serialize};

/// How loudly an announcement is shown. Only urgent ones are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[default]
    Normal,
    Urgent,
}

impl Priority {
    fn is_normal(&self) -> bool {
        *self == Priority::Normal
    }
}

/// Everything recorded on the `announcements` log. The events name the announcement `id`, where
/// the commands call it `announcement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnnouncementEvent {
    /// `posted`: a new announcement with a fresh `a_…` id; its time and author are the record's
    /// `ts` and `from.id`.
    /// `text_cy` is its Welsh text, when it has one (`text` is then the English).
    Posted {
        id: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text_cy: Option<String>,
        priority: Priority,
        pinned: bool,
    },
    /// `pinned`.
    Pinned { id: String },
    /// `unpinned`.
    Unpinned { id: String },
    /// `acknowledged`: `participant` (an id) has seen the urgent announcement.
    Acknowledged { id: String, participant: String },
    /// `edited`: what the announcement says now, whole (its time and editor are the record's `ts`
    /// and `from.id`). `clears_acknowledgements` when people must see it again.
    Edited {
        id: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text_cy: Option<String>,
        priority: Priority,
        pinned: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clears_acknowledgements: bool,
    },
    /// `retracted`: taken back; every screen stops showing it, the record keeps it.
    Retracted { id: String },
}

/// What people ask of the announcements (`command` on the `announcements` channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AnnouncementCommand {
    /// Posts an announcement (`"pinned": true` pins it at once).
    #[serde(rename = "announcement.post")]
    Post {
        text: String,
        /// The same announcement in Welsh (optional).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text_cy: Option<String>,
        #[serde(default, skip_serializing_if = "Priority::is_normal")]
        priority: Priority,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pinned: bool,
    },
    #[serde(rename = "announcement.pin")]
    Pin { announcement: String },
    #[serde(rename = "announcement.unpin")]
    Unpin { announcement: String },
    /// A participant has seen an urgent announcement.
    #[serde(rename = "announcement.ack")]
    Acknowledge { announcement: String },
    /// Changes what an announcement says, how loud it is or its pin; what is left out stays.
    #[serde(rename = "announcement.edit")]
    Edit {
        announcement: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// The Welsh text; `""` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text_cy: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<Priority>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pinned: Option<bool>,
    },
    /// Takes an announcement back.
    #[serde(rename = "announcement.retract")]
    Retract { announcement: String },
}

impl AnnouncementCommand {
    /// The command's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            AnnouncementCommand::Post { .. } => "announcement.post",
            AnnouncementCommand::Pin { .. } => "announcement.pin",
            AnnouncementCommand::Unpin { .. } => "announcement.unpin",
            AnnouncementCommand::Acknowledge { .. } => "announcement.ack",
            AnnouncementCommand::Edit { .. } => "announcement.edit",
            AnnouncementCommand::Retract { .. } => "announcement.retract",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documented;

    #[test]
    fn every_documented_announcement_command_and_event_round_trips() {
        let section = documented::section("announcements");
        documented::check_commands(
            section,
            crate::ChannelKind::Announcements,
            &[
                "announcement.post",
                "announcement.pin",
                "announcement.unpin",
                "announcement.ack",
                "announcement.edit",
                "announcement.retract",
            ],
        );
        documented::check_events::<AnnouncementEvent>(
            section,
            &["posted", "pinned", "unpinned", "acknowledged", "edited", "retracted"],
        );
    }

    #[test]
    fn a_priority_is_normal_or_urgent_and_nothing_else() {
        let post = |priority: &str| {
            serde_json::from_str::<AnnouncementCommand>(&format!(
                r#"{{"type":"announcement.post","text":"Tea","priority":{priority}}}"#
            ))
        };
        assert!(matches!(post(r#""urgent""#), Ok(AnnouncementCommand::Post { priority: Priority::Urgent, .. })));
        let err = post(r#""loud""#).expect_err("no such priority");
        assert!(err.to_string().contains("unknown variant `loud`"), "{err}");
    }
}

//! The `roster` channel's wire types: the commands people send about the event, its teams and
//! themselves, and the events the server records for them (PROTOCOL.md §8, "`roster`").
//!
//! Data only, like the rest of this crate. Which command is allowed, and the limits on skills and
//! needs, are the server's rules; the one rule kept here is `Name`'s, because every name inside a
//! recorded event has passed it and a reader may rely on that.

use crate::{Member, Role};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most characters a `Name` holds, after trimming.
pub const MAX_NAME_CHARS: usize = 60;

/// A person's, team's or event's name: trimmed, 1 to 60 characters, no control characters.
///
/// On the wire it is a plain JSON string. Parsing one that breaks the rule fails, so a name inside a
/// recorded event is always valid; raising `MAX_NAME_CHARS` would make older readers refuse the
/// longer names, so treat the limit as part of the protocol version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Why a text is not a `Name`. Its message is what a client is told (`bad_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    ControlCharacter,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("a name cannot be empty"),
            NameError::TooLong => write!(f, "a name holds at most {MAX_NAME_CHARS} characters"),
            NameError::ControlCharacter => f.write_str("a name cannot hold control characters"),
        }
    }
}

impl std::error::Error for NameError {}

impl TryFrom<String> for Name {
    type Error = NameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let trimmed = value.trim();
        let length = trimmed.chars().count();
        if length == 0 {
            return Err(NameError::Empty);
        }
        if length > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        // Trimming only when needed keeps the common case free of a second allocation.
        Ok(Name(if trimmed.len() == value.len() { value } else { trimmed.to_string() }))
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The language an event is run in: what its phones and displays show first, and the demo's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    En,
    Cy,
}

impl Language {
    fn is_english(&self) -> bool {
        *self == Language::En
    }
}

/// Which language comes first where a screen shows both (the projector): Welsh first is the usual
/// bilingual signage in Wales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BilingualOrder {
    CyFirst,
    EnFirst,
}

impl BilingualOrder {
    /// The order a screen uses: the one set for the event, else Welsh first when the event is in Welsh.
    pub fn for_event(set: Option<BilingualOrder>, language: Language) -> BilingualOrder {
        set.unwrap_or(match language {
            Language::Cy => BilingualOrder::CyFirst,
            Language::En => BilingualOrder::EnFirst,
        })
    }
}

/// The event's own details, as `event_updated` records them and the roster's state holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetails {
    /// The event's name; in English, or in the event's only language.
    pub name: Name,
    /// Its name in Welsh, when the organisers gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_cy: Option<Name>,
    /// The language the event is run in (`"en"` or `"cy"`, default `"en"`).
    #[serde(default, skip_serializing_if = "Language::is_english")]
    pub language: Language,
    /// The projector's order for bilingual text; `null` follows `language` (`BilingualOrder::for_event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bilingual_order: Option<BilingualOrder>,
    /// When the event starts (milliseconds since the epoch), or `null` when not set.
    #[serde(default)]
    pub starts_at: Option<i64>,
    /// When it ends, after `starts_at`; `null` when not set.
    #[serde(default)]
    pub ends_at: Option<i64>,
    /// Where it happens, as an IANA time zone name (`Europe/London`): the export writes its times
    /// in it. Events recorded before it existed read as `Europe/London`.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
}

/// The time zone of an event that names none.
pub const DEFAULT_TIME_ZONE: &str = "Europe/London";

fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_string()
}

/// Someone at the event, as `joined` records them and the roster's state lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// `p_…` for participants, `o_…` for organisers, `d_…` for displays.
    pub id: String,
    pub name: Name,
    pub role: Role,
    /// What they can do, in their own words (displays have none).
    #[serde(default)]
    pub skills: Vec<String>,
    /// The id of their team, or `null`. Only participants are ever in a team.
    #[serde(default)]
    pub team: Option<String>,
    /// True once an organiser removed them; they stay listed.
    #[serde(default)]
    pub removed: bool,
}

impl Participant {
    /// How they appear in presence lists and `hello`'s reply.
    pub fn member(&self) -> Member {
        Member { id: self.id.clone(), name: self.name.as_str().to_string(), role: self.role }
    }
}

/// A team as `team_created` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTeam {
    /// A fresh `t_…` id.
    pub id: String,
    /// Unique (ignoring ASCII case) among the teams that are not archived.
    pub name: Name,
    /// The id of the brief the team formed around, or `null`.
    #[serde(default)]
    pub brief: Option<String>,
    /// The skills the team says it needs.
    #[serde(default)]
    pub needs: Vec<String>,
}

/// Everything recorded on an event's `roster` log. `type` names the event in snake case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RosterEvent {
    /// `event_updated`: the event's details as they now stand (replace them whole).
    EventUpdated { details: EventDetails },
    /// `team_created`: a new, open team with no members.
    TeamCreated { team: NewTeam },
    /// `team_renamed`: `team` (an id) is now called `name`.
    TeamRenamed { team: String, name: Name },
    /// `team_needs`: the team's whole list of needed skills.
    TeamNeeds { team: String, needs: Vec<String> },
    /// `team_archived`: the team is closed; its members become teamless.
    TeamArchived { team: String },
    /// `joined`: someone joined the event (participants with a code; organisers and displays
    /// added by an organiser or the server).
    Joined { participant: Participant },
    /// `moved`: the participant's team is now `team` (an id, or `null` for none).
    Moved { participant: String, team: Option<String> },
    /// `skills_changed`: the participant's whole list of skills.
    SkillsChanged { participant: String, skills: Vec<String> },
    /// `removed`: the participant is no longer part of the event and is in no team.
    Removed { participant: String },
}

/// What people ask of the roster (`command` on the `roster` channel). People join the event over
/// HTTP, not with a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RosterCommand {
    /// Organisers change the event; an absent field keeps its value.
    #[serde(rename = "event.update")]
    UpdateEvent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The Welsh name; `""` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name_cy: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<Language>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bilingual_order: Option<BilingualOrder>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        starts_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<i64>,
        /// An IANA time zone name, such as `Europe/London` or `America/New_York`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_zone: Option<String>,
    },
    /// A new team; the sender does not join it.
    #[serde(rename = "team.create")]
    CreateTeam {
        name: String,
        /// The id of a brief the team forms around.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        brief: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        needs: Vec<String>,
    },
    #[serde(rename = "team.rename")]
    RenameTeam { team: String, name: String },
    /// Replaces the team's whole list of needed skills.
    #[serde(rename = "team.needs")]
    SetNeeds { team: String, needs: Vec<String> },
    #[serde(rename = "team.archive")]
    ArchiveTeam { team: String },
    /// Moves the sender into `team`, out of any other.
    #[serde(rename = "team.join")]
    JoinTeam { team: String },
    /// Moves the sender out of their team.
    #[serde(rename = "team.leave")]
    LeaveTeam {},
    /// Replaces the sender's own skills.
    #[serde(rename = "skills.set")]
    SetSkills { skills: Vec<String> },
    /// Removes someone (by id) from the event.
    #[serde(rename = "participant.remove")]
    RemoveParticipant { participant: String },
}

impl RosterCommand {
    /// The command's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            RosterCommand::UpdateEvent { .. } => "event.update",
            RosterCommand::CreateTeam { .. } => "team.create",
            RosterCommand::RenameTeam { .. } => "team.rename",
            RosterCommand::SetNeeds { .. } => "team.needs",
            RosterCommand::ArchiveTeam { .. } => "team.archive",
            RosterCommand::JoinTeam { .. } => "team.join",
            RosterCommand::LeaveTeam {} => "team.leave",
            RosterCommand::SetSkills { .. } => "skills.set",
            RosterCommand::RemoveParticipant { .. } => "participant.remove",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documented;

    #[test]
    fn every_documented_roster_command_and_event_round_trips() {
        let section = documented::section("roster");
        documented::check_commands(
            section,
            crate::ChannelKind::Roster,
            &[
                "event.update",
                "team.create",
                "team.rename",
                "team.needs",
                "team.archive",
                "team.join",
                "team.leave",
                "skills.set",
                "participant.remove",
            ],
        );
        documented::check_events::<RosterEvent>(
            section,
            &[
                "event_updated",
                "team_created",
                "team_renamed",
                "team_needs",
                "team_archived",
                "joined",
                "moved",
                "skills_changed",
                "removed",
            ],
        );
    }

    #[test]
    fn names_are_trimmed_bounded_and_refused_when_broken_even_inside_events() {
        let name = |text: &str| Name::try_from(text.to_string());
        assert_eq!(name("  Ada  ").map(String::from), Ok("Ada".to_string()));
        assert_eq!(name("   "), Err(NameError::Empty));
        assert_eq!(name(&"x".repeat(MAX_NAME_CHARS)).map(|n| n.as_str().chars().count()), Ok(MAX_NAME_CHARS));
        assert_eq!(name(&"é".repeat(MAX_NAME_CHARS + 1)), Err(NameError::TooLong));
        assert_eq!(name("a\u{7}b"), Err(NameError::ControlCharacter));
        assert_eq!(NameError::TooLong.to_string(), "a name holds at most 60 characters");
        let renamed = r#"{"type":"team_renamed","team":"t1","name":""}"#;
        let err = serde_json::from_str::<RosterEvent>(renamed).expect_err("an empty name is no name");
        assert!(err.to_string().contains("a name cannot be empty"), "{err}");
    }

    #[test]
    fn a_participant_appears_in_presence_lists_by_id_name_and_role() {
        let text = r#"{"id":"p1","name":"Ada","role":"participant"}"#;
        let ada: Participant = serde_json::from_str(text).expect("the optional fields default");
        assert_eq!((ada.skills.len(), ada.team.as_deref(), ada.removed), (0, None, false));
        assert_eq!(ada.member(), Member { id: "p1".into(), name: "Ada".into(), role: Role::Participant });
    }
}

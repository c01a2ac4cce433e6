//! The `briefs` channel's wire types: the commands that create, edit and fork briefs, and the events
//! the server records, each with the whole text, so the log is the revision history (PROTOCOL.md
//! §8, "`briefs`").
//!
//! Data only. Who may edit, and how long a text may be, are the server's rules.

use serde::{Deserialize, Serialize};

/// A brief as `created` and `forked` record it: revision 1 of its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBrief {
    /// A fresh `b_…` id.
    pub id: String,
    pub title: String,
    /// The title in Welsh, when the brief has one (`title` is then the English).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_cy: Option<String>,
    /// Markdown.
    pub body: String,
    /// Who brought it: a council service, a community group, a charity.
    pub partner: String,
    /// The id of the participant who speaks for the partner and may edit it, or `null`.
    #[serde(default)]
    pub owner: Option<String>,
}

/// Where a team's working version came from: the original brief's id and the revision copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkOrigin {
    pub brief: String,
    pub revision: u32,
}

/// Everything recorded on the `briefs` log. `type` names the event in snake case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BriefEvent {
    /// `created`: an original brief, at revision 1.
    Created { brief: NewBrief },
    /// `edited`: a new revision of `brief` (an id), with the whole text as it now stands.
    Edited {
        brief: String,
        revision: u32,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title_cy: Option<String>,
        body: String,
        owner: Option<String>,
    },
    /// `forked`: `team`'s own working version of the brief and revision in `from`, at revision 1.
    Forked { brief: NewBrief, from: ForkOrigin, team: String },
}

/// What people ask of the briefs (`command` on the `briefs` channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum BriefCommand {
    #[serde(rename = "brief.create")]
    Create {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title_cy: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        body: String,
        partner: String,
        /// The id of the brief's owner.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
    },
    /// `revision` is the revision the edit was made on; absent fields keep their value.
    #[serde(rename = "brief.edit")]
    Edit {
        brief: String,
        revision: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// The Welsh title; `""` removes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title_cy: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
    },
    /// Makes the sender's team its own working version of a brief.
    #[serde(rename = "brief.fork")]
    Fork { brief: String },
}

impl BriefCommand {
    /// The command's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            BriefCommand::Create { .. } => "brief.create",
            BriefCommand::Edit { .. } => "brief.edit",
            BriefCommand::Fork { .. } => "brief.fork",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documented;

    #[test]
    fn every_documented_brief_command_and_event_round_trips() {
        let section = documented::section("briefs");
        documented::check_commands(section, crate::ChannelKind::Briefs, &["brief.create", "brief.edit", "brief.fork"]);
        documented::check_events::<BriefEvent>(section, &["created", "edited", "forked"]);
    }
}

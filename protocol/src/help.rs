//! The `help` channel's wire types: teams ask for help, organisers claim and resolve requests
//! (PROTOCOL.md §8, "`help`").
//!
//! Data only. Who may do what, and how many requests a team may have open, are the server's rules.

use serde::{Deserialize, Serialize};

/// Everything recorded on the `help` log. `id` is the request's; its time and asker are the
/// record's `ts` and `from.id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HelpEvent {
    /// `asked`: `team` asks for help with `topic` at `location` (`""` when not given); a fresh
    /// `h_…` id.
    Asked { id: String, team: String, topic: String, location: String },
    /// `claimed`: organiser `by` (an id) is on it.
    Claimed { id: String, by: String },
    /// `released`: back to open, claimed by nobody.
    Released { id: String },
    /// `resolved`: closed, sorted.
    Resolved { id: String },
    /// `cancelled`: closed, withdrawn by the team before anyone claimed it.
    Cancelled { id: String },
}

/// What people ask of the help queue (`command` on the `help` channel). `request` is an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum HelpCommand {
    /// Asks for help for the sender's team.
    #[serde(rename = "help.ask")]
    Ask {
        topic: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        location: String,
    },
    #[serde(rename = "help.claim")]
    Claim { request: String },
    /// The claimer hands a request back to the queue.
    #[serde(rename = "help.release")]
    Release { request: String },
    #[serde(rename = "help.resolve")]
    Resolve { request: String },
    #[serde(rename = "help.cancel")]
    Cancel { request: String },
}

impl HelpCommand {
    /// The command's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            HelpCommand::Ask { .. } => "help.ask",
            HelpCommand::Claim { .. } => "help.claim",
            HelpCommand::Release { .. } => "help.release",
            HelpCommand::Resolve { .. } => "help.resolve",
            HelpCommand::Cancel { .. } => "help.cancel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documented;

    #[test]
    fn every_documented_help_command_and_event_round_trips() {
        let section = documented::section("help");
        documented::check_commands(
            section,
            crate::ChannelKind::Help,
            &["help.ask", "help.claim", "help.release", "help.resolve", "help.cancel"],
        );
        documented::check_events::<HelpEvent>(section, &["asked", "claimed", "released", "resolved", "cancelled"]);
    }
}

//! The `schedule` channel's wire types: the weekend's phases, edited live by organisers
//! (PROTOCOL.md §8, "`schedule`").
//!
//! Data only. Who may change the schedule, and what makes a phase valid, are the server's rules.

use serde::{Deserialize, Serialize};

/// One phase of the event: briefing, making, lunch, show and tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// A `ph_…` id.
    pub id: String,
    pub title: String,
    /// Milliseconds since the epoch, on the server's clock.
    pub starts_at: i64,
    /// After `starts_at`.
    pub ends_at: i64,
}

/// Everything recorded on the `schedule` log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScheduleEvent {
    /// `phase_set`: a phase added or changed, as it now stands (replace any with the same id).
    PhaseSet { phase: Phase },
    /// `phase_deleted`: `phase` is the id.
    PhaseDeleted { phase: String },
}

/// What organisers ask of the schedule (`command` on the `schedule` channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ScheduleCommand {
    #[serde(rename = "phase.add")]
    Add { title: String, starts_at: i64, ends_at: i64 },
    /// Absent fields keep their value.
    #[serde(rename = "phase.edit")]
    Edit {
        phase: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        starts_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<i64>,
    },
    #[serde(rename = "phase.delete")]
    Delete { phase: String },
}

impl ScheduleCommand {
    /// The command's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            ScheduleCommand::Add { .. } => "phase.add",
            ScheduleCommand::Edit { .. } => "phase.edit",
            ScheduleCommand::Delete { .. } => "phase.delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documented;

    #[test]
    fn every_documented_schedule_command_and_event_round_trips() {
        let section = documented::section("schedule");
        documented::check_commands(section, crate::ChannelKind::Schedule, &["phase.add", "phase.edit", "phase.delete"]);
        documented::check_events::<ScheduleEvent>(section, &["phase_set", "phase_deleted"]);
    }

    #[test]
    fn times_are_whole_milliseconds() {
        let add = r#"{"type":"phase.add","title":"Lunch","starts_at":1.5,"ends_at":2}"#;
        let err = serde_json::from_str::<ScheduleCommand>(add).expect_err("a fractional time");
        assert!(err.to_string().contains("expected i64"), "{err}");
    }
}

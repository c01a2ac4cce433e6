//! The `presentations` channel's wire types: the show and tell's running order, slot length and
//! the presenting team's timer (PROTOCOL.md §8, "`presentations`").
//!
//! Data only. No event carries a time: the time of `started`, `paused` and `resumed` is the `ts`
//! of the record that carries it, so every screen computes the same clock.

use serde::{Deserialize, Serialize};

/// Everything recorded on the `presentations` log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PresentationEvent {
    /// `order_set`: the whole running order, as team ids.
    OrderSet { teams: Vec<String> },
    /// `slot_set`: how long each team presents and how long before the end it is warned.
    SlotSet { slot_ms: i64, warning_ms: i64 },
    /// `started`: the team at `index` in the running order starts now, with a fresh clock.
    Started { index: usize },
    /// `paused`: the clock stops.
    Paused,
    /// `resumed`: the clock runs again.
    Resumed,
    /// `extended`: `ms` more for the slot in progress.
    Extended { ms: i64 },
    /// `finished`: the show is over; nobody presents.
    Finished,
}

/// What organisers ask of the presentations (`command` on the `presentations` channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PresentationCommand {
    /// Sets (or reorders) the running order.
    #[serde(rename = "presentations.order")]
    Order { teams: Vec<String> },
    /// An absent `warning_ms` keeps the current one.
    #[serde(rename = "presentations.slot")]
    Slot {
        slot_ms: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warning_ms: Option<i64>,
    },
    /// Starts the team at `index` (the first if absent).
    #[serde(rename = "presentations.start")]
    Start {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<usize>,
    },
    #[serde(rename = "presentations.pause")]
    Pause {},
    #[serde(rename = "presentations.resume")]
    Resume {},
    /// Adds `ms` to the slot in progress.
    #[serde(rename = "presentations.extend")]
    Extend { ms: i64 },
    /// The next team starts; after the last, the show is finished.
    #[serde(rename = "presentations.next")]
    Next {},
    /// Ends the show at once.
    #[serde(rename = "presentations.stop")]
    Stop {},
}

impl PresentationCommand {
    /// The command's `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            PresentationCommand::Order { .. } => "presentations.order",
            PresentationCommand::Slot { .. } => "presentations.slot",
            PresentationCommand::Start { .. } => "presentations.start",
            PresentationCommand::Pause {} => "presentations.pause",
            PresentationCommand::Resume {} => "presentations.resume",
            PresentationCommand::Extend { .. } => "presentations.extend",
            PresentationCommand::Next {} => "presentations.next",
            PresentationCommand::Stop {} => "presentations.stop",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documented;

    #[test]
    fn every_documented_presentation_command_and_event_round_trips() {
        let section = documented::section("presentations");
        documented::check_commands(
            section,
            crate::ChannelKind::Presentations,
            &[
                "presentations.order",
                "presentations.slot",
                "presentations.start",
                "presentations.pause",
                "presentations.resume",
                "presentations.extend",
                "presentations.next",
                "presentations.stop",
            ],
        );
        documented::check_events::<PresentationEvent>(
            section,
            &["order_set", "slot_set", "started", "paused", "resumed", "extended", "finished"],
        );
    }

    #[test]
    fn events_without_fields_are_just_their_type() {
        assert_eq!(serde_json::to_string(&PresentationEvent::Paused).expect("json"), r#"{"type":"paused"}"#);
        let next: PresentationCommand = serde_json::from_str(r#"{"type":"presentations.next"}"#).expect("parses");
        assert_eq!(next, PresentationCommand::Next {});
    }
}

//! Every domain command a client can send, as one type: `DomainCommand` holds the command of one
//! state channel, chosen by its `type`, and says which kind of channel it must be sent on.
//!
//! Data only. Whether the sender may do what the command asks is decided by the server.

use crate::announcements::AnnouncementCommand;
use crate::board::BoardCommand;
use crate::brief::BriefCommand;
use crate::help::HelpCommand;
use crate::outputs::OutputCommand;
use crate::presentations::PresentationCommand;
use crate::roster::RosterCommand;
use crate::schedule::ScheduleCommand;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// The kinds of state channel, each taking its own commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Roster,
    Announcements,
    Briefs,
    /// Any team's `board:{id}`.
    Board,
    Schedule,
    Presentations,
    Help,
    Outputs,
}

impl ChannelKind {
    /// The channel's name as PROTOCOL.md writes it (`board:{id}` for the boards).
    pub fn channel_name(self) -> &'static str {
        match self {
            ChannelKind::Roster => "roster",
            ChannelKind::Announcements => "announcements",
            ChannelKind::Briefs => "briefs",
            ChannelKind::Board => "board:{id}",
            ChannelKind::Schedule => "schedule",
            ChannelKind::Presentations => "presentations",
            ChannelKind::Help => "help",
            ChannelKind::Outputs => "outputs",
        }
    }

    /// The kind of channel whose commands' `type` starts with `prefix` (the part before the dot).
    fn of_prefix(prefix: &str) -> Option<ChannelKind> {
        COMMAND_PREFIXES.iter().find(|(known, _)| *known == prefix).map(|(_, kind)| *kind)
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.channel_name())
    }
}

/// Which channel each command `type` prefix belongs to. Every command of a channel shares its
/// channel's prefixes, so a typo in the part after the dot is answered with that channel's list.
const COMMAND_PREFIXES: &[(&str, ChannelKind)] = &[
    ("event", ChannelKind::Roster),
    ("team", ChannelKind::Roster),
    ("skills", ChannelKind::Roster),
    ("participant", ChannelKind::Roster),
    ("announcement", ChannelKind::Announcements),
    ("brief", ChannelKind::Briefs),
    ("column", ChannelKind::Board),
    ("card", ChannelKind::Board),
    ("phase", ChannelKind::Schedule),
    ("presentations", ChannelKind::Presentations),
    ("help", ChannelKind::Help),
    ("output", ChannelKind::Outputs),
];

/// A command for one state channel: `{"type": "card.move", ...its fields}`. It parses by looking
/// at `type`, so an unknown `type` is named in the error, and a malformed command's error names
/// both the command and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainCommand {
    Roster(RosterCommand),
    Announcement(AnnouncementCommand),
    Brief(BriefCommand),
    Board(BoardCommand),
    Schedule(ScheduleCommand),
    Presentation(PresentationCommand),
    Help(HelpCommand),
    Output(OutputCommand),
}

impl DomainCommand {
    /// The kind of channel the command must be sent on.
    pub fn channel_kind(&self) -> ChannelKind {
        match self {
            DomainCommand::Roster(_) => ChannelKind::Roster,
            DomainCommand::Announcement(_) => ChannelKind::Announcements,
            DomainCommand::Brief(_) => ChannelKind::Briefs,
            DomainCommand::Board(_) => ChannelKind::Board,
            DomainCommand::Schedule(_) => ChannelKind::Schedule,
            DomainCommand::Presentation(_) => ChannelKind::Presentations,
            DomainCommand::Help(_) => ChannelKind::Help,
            DomainCommand::Output(_) => ChannelKind::Outputs,
        }
    }

    /// The command's `type` on the wire (`card.move`).
    pub fn type_name(&self) -> &'static str {
        match self {
            DomainCommand::Roster(command) => command.type_name(),
            DomainCommand::Announcement(command) => command.type_name(),
            DomainCommand::Brief(command) => command.type_name(),
            DomainCommand::Board(command) => command.type_name(),
            DomainCommand::Schedule(command) => command.type_name(),
            DomainCommand::Presentation(command) => command.type_name(),
            DomainCommand::Help(command) => command.type_name(),
            DomainCommand::Output(command) => command.type_name(),
        }
    }
}

/// Each channel's command out of a `DomainCommand`, or the command back when it is another channel's.
macro_rules! channel_command {
    ($($variant:ident => $command:ty),* $(,)?) => {
        $(
            impl TryFrom<DomainCommand> for $command {
                type Error = DomainCommand;

                fn try_from(command: DomainCommand) -> Result<Self, DomainCommand> {
                    match command {
                        DomainCommand::$variant(command) => Ok(command),
                        other => Err(other),
                    }
                }
            }
        )*
    };
}

channel_command! {
    Roster => RosterCommand,
    Announcement => AnnouncementCommand,
    Brief => BriefCommand,
    Board => BoardCommand,
    Schedule => ScheduleCommand,
    Presentation => PresentationCommand,
    Help => HelpCommand,
    Output => OutputCommand,
}

impl Serialize for DomainCommand {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Each channel's command carries its own `type`, so the wrapper adds nothing.
        match self {
            DomainCommand::Roster(command) => command.serialize(serializer),
            DomainCommand::Announcement(command) => command.serialize(serializer),
            DomainCommand::Brief(command) => command.serialize(serializer),
            DomainCommand::Board(command) => command.serialize(serializer),
            DomainCommand::Schedule(command) => command.serialize(serializer),
            DomainCommand::Presentation(command) => command.serialize(serializer),
            DomainCommand::Help(command) => command.serialize(serializer),
            DomainCommand::Output(command) => command.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for DomainCommand {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read whole first, then parse as the one channel's command its `type` names: serde's own
        // untagged matching would only say that no variant fitted.
        let value = Value::deserialize(deserializer)?;
        let type_name = match value.get("type") {
            Some(Value::String(type_name)) => type_name.as_str(),
            Some(_) => return Err(de::Error::custom("a command's `type` is a string")),
            None if value.is_object() => return Err(de::Error::missing_field("type")),
            None => return Err(de::Error::custom("a command is an object whose `type` names it")),
        };
        let prefix = type_name.split_once('.').map_or(type_name, |(prefix, _)| prefix);
        let Some(kind) = ChannelKind::of_prefix(prefix) else {
            let known: Vec<String> = COMMAND_PREFIXES.iter().map(|(prefix, _)| format!("`{prefix}.`")).collect();
            return Err(de::Error::custom(format!(
                "unknown command `{type_name}`: a command's `type` starts with one of {}",
                known.join(", ")
            )));
        };
        let parsed = match kind {
            ChannelKind::Roster => parse(&value, type_name).map(DomainCommand::Roster),
            ChannelKind::Announcements => parse(&value, type_name).map(DomainCommand::Announcement),
            ChannelKind::Briefs => parse(&value, type_name).map(DomainCommand::Brief),
            ChannelKind::Board => parse(&value, type_name).map(DomainCommand::Board),
            ChannelKind::Schedule => parse(&value, type_name).map(DomainCommand::Schedule),
            ChannelKind::Presentations => parse(&value, type_name).map(DomainCommand::Presentation),
            ChannelKind::Help => parse(&value, type_name).map(DomainCommand::Help),
            ChannelKind::Outputs => parse(&value, type_name).map(DomainCommand::Output),
        };
        parsed.map_err(de::Error::custom)
    }
}

/// One channel's command from the object `value`, or what is wrong with it in words that name the
/// command and, where a field is at fault, the field.
fn parse<T: DeserializeOwned>(value: &Value, type_name: &str) -> Result<T, String> {
    let err = match T::deserialize(value) {
        Ok(command) => return Ok(command),
        Err(err) => err,
    };
    let alone = |fields: &[(&String, &Value)]| {
        let mut object = Map::new();
        object.insert("type".into(), Value::from(type_name));
        object.extend(fields.iter().map(|(key, value)| ((*key).clone(), (*value).clone())));
        T::deserialize(&Value::Object(object)).err()
    };
    let is_missing_field = |err: &serde_json::Error| err.to_string().starts_with("missing field");
    // With nothing but its `type`, a known command parses or lacks a field; an unknown one fails
    // otherwise, and serde's message names it and lists the channel's commands.
    if alone(&[]).is_some_and(|err| !is_missing_field(&err)) {
        return Err(err.to_string());
    }
    // Inside an internally tagged enum serde does not say which field held a wrong value: read the
    // command again with one field at a time beside its `type` (only on failure, once per field).
    let object = value.as_object().into_iter().flatten().filter(|(key, _)| *key != "type");
    let culprit =
        object.filter_map(|field| alone(&[field]).map(|err| (field.0, err))).find(|(_, err)| !is_missing_field(err));
    Err(match culprit {
        Some((field, err)) => format!("bad `{type_name}` command: `{field}`: {err}"),
        None => format!("bad `{type_name}` command: {err}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, Request, parse_client_frame};

    fn parse(text: &str) -> Result<DomainCommand, String> {
        serde_json::from_str(text).map_err(|err| err.to_string())
    }

    #[test]
    fn the_type_chooses_the_channel_and_the_command() {
        let command = parse(r#"{"type":"card.move","card":"c1","column":"done","index":0}"#).expect("parses");
        assert_eq!(
            command,
            DomainCommand::Board(BoardCommand::MoveCard { card: "c1".into(), column: "done".into(), index: 0 })
        );
        assert_eq!((command.channel_kind(), command.type_name()), (ChannelKind::Board, "card.move"));
        let cases = [
            (r#"{"type":"team.leave"}"#, ChannelKind::Roster),
            (r#"{"type":"skills.set","skills":[]}"#, ChannelKind::Roster),
            (r#"{"type":"participant.remove","participant":"p1"}"#, ChannelKind::Roster),
            (r#"{"type":"event.update"}"#, ChannelKind::Roster),
            (r#"{"type":"announcement.pin","announcement":"a1"}"#, ChannelKind::Announcements),
            (r#"{"type":"brief.fork","brief":"b1"}"#, ChannelKind::Briefs),
            (r#"{"type":"column.add","title":"Blocked"}"#, ChannelKind::Board),
            (r#"{"type":"phase.delete","phase":"ph1"}"#, ChannelKind::Schedule),
            (r#"{"type":"presentations.stop"}"#, ChannelKind::Presentations),
            (r#"{"type":"help.claim","request":"h1"}"#, ChannelKind::Help),
            (r#"{"type":"output.save","title":"A map"}"#, ChannelKind::Outputs),
        ];
        for (text, kind) in cases {
            let command = parse(text).expect(text);
            assert_eq!(command.channel_kind(), kind, "{text}");
            assert_eq!(serde_json::to_string(&command).expect("json"), text, "serializes back as it came");
        }
    }

    #[test]
    fn an_unknown_type_is_named_with_what_was_expected() {
        let err = parse(r#"{"type":"card.fly","card":"c1"}"#).expect_err("no such board command");
        assert!(err.starts_with("unknown variant `card.fly`, expected one of `column.add`, `column.rename`"), "{err}");
        let err = parse(r#"{"type":"fly.away"}"#).expect_err("no such channel");
        assert!(err.starts_with("unknown command `fly.away`: a command's `type` starts with one of `event.`"), "{err}");
        assert!(err.contains("`card.`") && err.contains("`output.`"), "{err}");
        let err = parse(r#"{"type":"card"}"#).expect_err("a prefix alone");
        assert!(err.starts_with("unknown variant `card`"), "{err}");
    }

    #[test]
    fn a_malformed_command_names_the_command_and_the_field() {
        let err = parse(r#"{"type":"card.move","card":"c1","index":0}"#).expect_err("no column");
        assert_eq!(err, "bad `card.move` command: missing field `column`");
        let err = parse(r#"{"type":"card.move","card":"c1","column":"done","index":-1}"#).expect_err("negative");
        assert_eq!(err, "bad `card.move` command: `index`: invalid value: integer `-1`, expected usize");
        let err = parse(r#"{"type":"card.move","card":"c1","column":"done","index":"first"}"#).expect_err("a word");
        assert_eq!(err, r#"bad `card.move` command: `index`: invalid type: string "first", expected usize"#);
        let err = parse(r#"{"type":"output.save","title":"A map","links":["https://a.example",7]}"#)
            .expect_err("a number among the links");
        assert_eq!(err, "bad `output.save` command: `links`: invalid type: integer `7`, expected a string");
        let err = parse(r#"{"type":"announcement.post","text":"Tea","priority":"loud"}"#).expect_err("no such");
        assert!(err.starts_with("bad `announcement.post` command: `priority`: unknown variant `loud`"), "{err}");
        // A wrong value is named even when a required field is missing too.
        let err = parse(r#"{"type":"phase.add","title":"Lunch","starts_at":"noon"}"#).expect_err("two faults");
        assert!(err.starts_with("bad `phase.add` command: `starts_at`: invalid type: string"), "{err}");
        assert_eq!(parse(r#"{"card":"c1"}"#).expect_err("no type"), "missing field `type`");
        assert_eq!(parse(r#"{"type":7}"#).expect_err("a number"), "a command's `type` is a string");
        assert_eq!(parse(r#"["card.move"]"#).expect_err("an array"), "a command is an object whose `type` names it");
    }

    #[test]
    fn command_frames_parse_typed_and_bad_ones_keep_their_request_id() {
        let frame = parse_client_frame(
            r#"{"id":9,"op":"command","channel":"roster","command":{"type":"team.join","team":"t1"},"key":"k1"}"#,
        )
        .expect("parses");
        match frame.request {
            Request::Command(command) => {
                assert_eq!(command.command, DomainCommand::Roster(RosterCommand::JoinTeam { team: "t1".into() }));
                assert_eq!((command.channel.as_str(), command.key.as_deref()), ("roster", Some("k1")));
            }
            other => panic!("parsed as {other:?}"),
        }
        let err = parse_client_frame(r#"{"id":10,"op":"command","channel":"roster","command":{"type":"team.jump"}}"#)
            .expect_err("unknown command");
        assert_eq!((err.id, err.error.code), (Some(10), ErrorCode::BadRequest));
        assert!(err.error.message.contains("unknown variant `team.jump`, expected one of"), "{}", err.error.message);
        let err = parse_client_frame(r#"{"id":11,"op":"command","channel":"roster","command":{"type":"team.join"}}"#)
            .expect_err("no team");
        assert_eq!((err.id, err.error.code), (Some(11), ErrorCode::BadRequest));
        assert!(err.error.message.contains("bad `team.join` command: missing field `team`"), "{}", err.error.message);
    }
}

//! The channels of an event. Clients name channels without the event:
//! the event comes from their token, so no one can even name another event's channel.
//!
//! Two kinds: chat channels (`lobby`, `team:{id}`), where people `publish` messages, and state
//! channels, logs of one part of the event that change only through `command`s and have snapshots.
//! A channel's name is only ever made by its `Display` and read by `parse`; who may use it is in
//! `access`.

use super::DomainError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The event-wide room: everyone reads, participants and organisers talk.
    Lobby,
    /// A team's room: its members and the organisers read and talk.
    Team(String),
    /// Who is at the event and in which team.
    Roster,
    /// Organisers' announcements to every phone and display, with pins and acknowledgements.
    Announcements,
    /// The event's briefs and their revisions.
    Briefs,
    /// A team's task board; everyone reads it, its team changes it.
    Board(String),
    /// The weekend's phases.
    Schedule,
    /// The show and tell: running order and the presenting team's timer.
    Presentations,
    /// Teams' requests for help.
    Help,
    /// What each team made.
    Outputs,
}

impl Channel {
    pub fn parse(name: &str) -> Result<Channel, DomainError> {
        let unknown = || DomainError::NotFound(format!("channel `{}`", name.chars().take(80).collect::<String>()));
        let team = |id: &str| if !id.is_empty() && id.len() <= 64 { Ok(id.to_string()) } else { Err(unknown()) };
        match name {
            "lobby" => Ok(Channel::Lobby),
            "roster" => Ok(Channel::Roster),
            "announcements" => Ok(Channel::Announcements),
            "briefs" => Ok(Channel::Briefs),
            "schedule" => Ok(Channel::Schedule),
            "presentations" => Ok(Channel::Presentations),
            "help" => Ok(Channel::Help),
            "outputs" => Ok(Channel::Outputs),
            _ => {
                if let Some(id) = name.strip_prefix("team:") {
                    team(id).map(Channel::Team)
                } else if let Some(id) = name.strip_prefix("board:") {
                    team(id).map(Channel::Board)
                } else {
                    Err(unknown())
                }
            }
        }
    }

    /// Whether messages on it are chat (kept up to the history limit) rather than a state log kept whole.
    pub fn is_chat(&self) -> bool {
        matches!(self, Channel::Lobby | Channel::Team(_))
    }

    /// Whether it is a state log changed only by commands (and so has snapshots).
    pub fn is_state(&self) -> bool {
        !self.is_chat()
    }

    /// The team whose room or board this is.
    pub fn team(&self) -> Option<&str> {
        match self {
            Channel::Team(team) | Channel::Board(team) => Some(team),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Lobby => f.write_str("lobby"),
            Channel::Team(team) => write!(f, "team:{team}"),
            Channel::Roster => f.write_str("roster"),
            Channel::Announcements => f.write_str("announcements"),
            Channel::Briefs => f.write_str("briefs"),
            Channel::Board(team) => write!(f, "board:{team}"),
            Channel::Schedule => f.write_str("schedule"),
            Channel::Presentations => f.write_str("presentations"),
            Channel::Help => f.write_str("help"),
            Channel::Outputs => f.write_str("outputs"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_not_found() {
        for name in [
            "lobby",
            "announcements",
            "roster",
            "team:t_abc",
            "briefs",
            "board:t_abc",
            "schedule",
            "presentations",
            "help",
            "outputs",
        ] {
            assert_eq!(Channel::parse(name).expect(name).to_string(), name);
        }
        for bad in ["team:", "board:", "secret", "Lobby"] {
            assert!(matches!(Channel::parse(bad), Err(DomainError::NotFound(_))), "{bad}");
        }
    }
}

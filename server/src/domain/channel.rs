//! The channels of an event and who may read and write each. Clients name channels without the event:
//! the event comes from their token, so no one can even name another event's channel.

use super::DomainError;
use makeroom_protocol::Role;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The event-wide room: everyone reads, participants and organisers talk.
    Lobby,
    /// Organisers' announcements to every phone and display.
    Announcements,
    /// Who is at the event and in which team; written by the server from join and team operations.
    Roster,
    /// A team's room: its members and the organisers read and talk.
    Team(String),
    /// The event's briefs and their revisions; changed by `brief.*` commands.
    Briefs,
    /// A team's task board; everyone reads it, its team changes it with `column.*` and `card.*`.
    Board(String),
}

impl Channel {
    pub fn parse(name: &str) -> Result<Channel, DomainError> {
        match name {
            "lobby" => Ok(Channel::Lobby),
            "announcements" => Ok(Channel::Announcements),
            "roster" => Ok(Channel::Roster),
            "briefs" => Ok(Channel::Briefs),
            _ => {
                let unknown = || {
                    DomainError::NotFound(format!(
                        "channel `{}`",
                        name.chars().take(80).collect::<String>()
                    ))
                };
                let team = |id: &str| {
                    if !id.is_empty() && id.len() <= 64 {
                        Ok(id.to_string())
                    } else {
                        Err(unknown())
                    }
                };
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
        matches!(self, Channel::Roster | Channel::Briefs | Channel::Board(_))
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
            Channel::Announcements => f.write_str("announcements"),
            Channel::Roster => f.write_str("roster"),
            Channel::Team(team) => write!(f, "team:{team}"),
            Channel::Briefs => f.write_str("briefs"),
            Channel::Board(team) => write!(f, "board:{team}"),
        }
    }
}

/// The facts about a person that access depends on.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub role: Role,
    /// The team they are in now (team changes take effect at once, not at the next token).
    pub team: Option<&'a str>,
}

pub fn may_read(reader: Reader, channel: &Channel) -> Result<(), DomainError> {
    match (channel, reader.role) {
        // Co-production: everyone at the event sees every brief and every team's board.
        (
            Channel::Lobby
            | Channel::Announcements
            | Channel::Roster
            | Channel::Briefs
            | Channel::Board(_),
            _,
        ) => Ok(()),
        (Channel::Team(_), Role::Organiser) => Ok(()),
        (Channel::Team(team), Role::Participant) if reader.team == Some(team.as_str()) => Ok(()),
        (Channel::Team(_), Role::Participant) => Err(DomainError::Forbidden(
            "only the team's members read its room".into(),
        )),
        (Channel::Team(_), Role::Display) => Err(DomainError::Forbidden(
            "displays do not show team rooms".into(),
        )),
    }
}

pub fn may_publish(writer: Reader, channel: &Channel) -> Result<(), DomainError> {
    match (channel, writer.role) {
        (_, Role::Display) => Err(DomainError::Forbidden("a display only reads".into())),
        (Channel::Roster | Channel::Briefs | Channel::Board(_), _) => Err(DomainError::Forbidden(
            format!("`{channel}` changes through `command`, not `publish`"),
        )),
        (Channel::Announcements, Role::Organiser) => Ok(()),
        (Channel::Announcements, _) => {
            Err(DomainError::Forbidden("only organisers announce".into()))
        }
        (Channel::Lobby, _) => Ok(()),
        (Channel::Team(_), _) => may_read(writer, channel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, team: Option<&str>) -> Reader<'_> {
        Reader { role, team }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_not_found() {
        for name in [
            "lobby",
            "announcements",
            "roster",
            "team:t_abc",
            "briefs",
            "board:t_abc",
        ] {
            assert_eq!(Channel::parse(name).expect(name).to_string(), name);
        }
        assert!(matches!(
            Channel::parse("team:"),
            Err(DomainError::NotFound(_))
        ));
        assert!(matches!(
            Channel::parse("board:"),
            Err(DomainError::NotFound(_))
        ));
        assert!(matches!(
            Channel::parse("secret"),
            Err(DomainError::NotFound(_))
        ));
    }

    #[test]
    fn participants_talk_in_their_own_team_and_the_lobby_only() {
        let ada = who(Role::Participant, Some("t1"));
        assert!(may_publish(ada, &Channel::Team("t1".into())).is_ok());
        assert!(may_publish(ada, &Channel::Lobby).is_ok());
        assert!(may_read(ada, &Channel::Team("t2".into())).is_err());
        assert!(may_publish(ada, &Channel::Team("t2".into())).is_err());
        assert!(may_publish(ada, &Channel::Announcements).is_err());
        assert!(may_publish(ada, &Channel::Roster).is_err());
        let teamless = who(Role::Participant, None);
        assert!(may_read(teamless, &Channel::Team("t1".into())).is_err());
    }

    #[test]
    fn organisers_announce_and_see_every_room_and_displays_only_read_public_channels() {
        let host = who(Role::Organiser, None);
        assert!(may_publish(host, &Channel::Announcements).is_ok());
        assert!(may_read(host, &Channel::Team("t9".into())).is_ok());
        let display = who(Role::Display, None);
        assert!(may_read(display, &Channel::Announcements).is_ok());
        assert!(may_read(display, &Channel::Lobby).is_ok());
        assert!(may_read(display, &Channel::Team("t1".into())).is_err());
        assert!(may_publish(display, &Channel::Lobby).is_err());
    }
}

//! Who may read, publish on and command each channel, and what a roster change takes away. Every
//! access rule of the event lives here; the service asks, and enacts what a revocation says.
//!
//! Co-production: everyone at the event reads every state channel (every brief, every board); only a
//! team's room is private to the team and the organisers. A display only reads. A command's own rules
//! (only organisers announce, only a team's members move its cards) are decided with the command, in
//! its domain, against the state it changes.

use super::DomainError;
use super::channel::Channel;
use super::roster::{Roster, RosterEvent};
use makeroom_protocol::Role;

/// The facts about a person that access depends on.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub role: Role,
    /// The team they are in now (team changes take effect at once, not at the next token).
    pub team: Option<&'a str>,
}

impl<'a> Reader<'a> {
    /// `participant` as the roster has them now (teamless if the roster does not know them).
    pub fn of(roster: &'a Roster, participant: &str, role: Role) -> Self {
        Reader { role, team: roster.team_of(participant) }
    }
}

pub fn may_read(reader: Reader, channel: &Channel) -> Result<(), DomainError> {
    match (channel, reader.role) {
        (Channel::Team(_), Role::Organiser) => Ok(()),
        (Channel::Team(team), Role::Participant) if reader.team == Some(team.as_str()) => Ok(()),
        (Channel::Team(_), Role::Participant) => {
            Err(DomainError::Forbidden("only the team's members read its room".into()))
        }
        (Channel::Team(_), Role::Display) => Err(DomainError::Forbidden("displays do not show team rooms".into())),
        _ => Ok(()),
    }
}

/// Who may `publish` (chat) on a channel. State channels change only through commands.
pub fn may_publish(writer: Reader, channel: &Channel) -> Result<(), DomainError> {
    if writer.role == Role::Display {
        return Err(DomainError::Forbidden("a display only reads".into()));
    }
    match channel {
        Channel::Lobby => Ok(()),
        Channel::Team(_) => may_read(writer, channel),
        _ => Err(DomainError::Forbidden(format!("`{channel}` changes through `command`, not `publish`"))),
    }
}

/// Who may send a `command` on a channel at all; the command's domain then decides the rest.
pub fn may_command(writer: Reader, channel: &Channel) -> Result<(), DomainError> {
    if channel.is_chat() {
        return Err(DomainError::Invalid("chat channels (lobby, team rooms) take `publish`, not commands".into()));
    }
    may_read(writer, channel)
}

/// Someone who can own a brief or be assigned a card: an active organiser or participant.
pub fn can_be_named(role: Role, removed: bool) -> bool {
    !removed && role != Role::Display
}

/// What a roster change takes away from whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Whoever may no longer read `channel` (by `may_read` on the roster after the change) leaves it.
    Recheck { channel: Channel, reason: &'static str },
    /// Every connection of `participant` closes (removed from the event).
    Close { participant: String },
}

/// What `event` revokes, judged against the roster `before` it is applied.
pub fn revoked_by(before: &Roster, event: &RosterEvent) -> Vec<Revocation> {
    match event {
        RosterEvent::Moved { participant, .. } => before
            .team_of(participant)
            .map(|old| Revocation::Recheck { channel: Channel::Team(old.to_string()), reason: "you left the team" })
            .into_iter()
            .collect(),
        RosterEvent::TeamArchived { team } => {
            vec![Revocation::Recheck { channel: Channel::Team(team.clone()), reason: "the team was archived" }]
        }
        RosterEvent::Removed { participant } => vec![Revocation::Close { participant: participant.clone() }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::roster::{Name, NewTeam, Participant};
    use crate::domain::{Domain, Recorded};

    fn who(role: Role, team: Option<&str>) -> Reader<'_> {
        Reader { role, team }
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
    fn everyone_reads_state_channels_and_nobody_publishes_on_them() {
        for role in [Role::Organiser, Role::Participant, Role::Display] {
            for channel in [Channel::Announcements, Channel::Briefs, Channel::Board("t9".into()), Channel::Schedule] {
                assert!(may_read(who(role, None), &channel).is_ok());
                assert!(may_publish(who(role, None), &channel).is_err());
            }
        }
        let host = who(Role::Organiser, None);
        assert!(may_read(host, &Channel::Team("t9".into())).is_ok());
        let display = who(Role::Display, None);
        assert!(may_read(display, &Channel::Lobby).is_ok());
        assert!(may_read(display, &Channel::Team("t1".into())).is_err());
        assert!(may_publish(display, &Channel::Lobby).is_err());
    }

    #[test]
    fn commands_go_to_state_channels_only() {
        let ada = who(Role::Participant, Some("t1"));
        assert!(may_command(ada, &Channel::Board("t1".into())).is_ok());
        assert!(matches!(may_command(ada, &Channel::Lobby), Err(DomainError::Invalid(_))));
        assert!(matches!(may_command(ada, &Channel::Team("t1".into())), Err(DomainError::Invalid(_))));
    }

    fn roster_with_ada_in_t1() -> Roster {
        let mut roster = Roster::new(Name::try_from("Weekend".to_string()).expect("name"));
        let at = |offset| Recorded { offset, ts: 0, by: "host" };
        let team = NewTeam {
            id: "t1".into(),
            name: Name::try_from("One".to_string()).expect("name"),
            brief: None,
            needs: vec![],
        };
        roster.apply(&RosterEvent::TeamCreated { team }, at(1));
        let ada = Participant {
            id: "ada".into(),
            name: Name::try_from("Ada".to_string()).expect("name"),
            role: Role::Participant,
            skills: vec![],
            team: Some("t1".into()),
            removed: false,
        };
        roster.apply(&RosterEvent::Joined { participant: ada }, at(2));
        roster
    }

    #[test]
    fn leaving_a_team_rechecks_its_room_and_removal_closes_every_connection() {
        let roster = roster_with_ada_in_t1();
        let moved = RosterEvent::Moved { participant: "ada".into(), team: None };
        assert_eq!(
            revoked_by(&roster, &moved),
            [Revocation::Recheck { channel: Channel::Team("t1".into()), reason: "you left the team" }]
        );
        let archived = RosterEvent::TeamArchived { team: "t1".into() };
        assert!(
            matches!(&revoked_by(&roster, &archived)[..], [Revocation::Recheck { channel: Channel::Team(t), .. }] if t == "t1")
        );
        let removed = RosterEvent::Removed { participant: "ada".into() };
        assert_eq!(revoked_by(&roster, &removed), [Revocation::Close { participant: "ada".into() }]);
        let mut after = roster.clone();
        after.apply(&moved, Recorded { offset: 3, ts: 0, by: "ada" });
        assert!(may_read(Reader::of(&after, "ada", Role::Participant), &Channel::Team("t1".into())).is_err());
        assert!(may_read(Reader::of(&after, "host", Role::Organiser), &Channel::Team("t1".into())).is_ok());
    }
}

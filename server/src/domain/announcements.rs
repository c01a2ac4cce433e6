//! Announcements: organisers push to every phone and display, normal or urgent, and pin what must
//! stay visible. A late joiner's snapshot holds every announcement with its pin; an urgent one can be
//! acknowledged by participants, and organisers see how many have.

use super::{Context, Domain, DomainError, Recorded, text};
use makeroom_protocol::Role;
pub use makeroom_protocol::announcements::{AnnouncementCommand, AnnouncementEvent, Priority};
use serde::Serialize;

pub const MAX_TEXT_CHARS: usize = 500;
pub const MAX_ANNOUNCEMENTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Announcement {
    pub id: String,
    pub text: String,
    pub priority: Priority,
    pub pinned: bool,
    /// Server time it was posted.
    pub at: i64,
    pub by: String,
    /// Who acknowledged it (urgent ones only).
    pub acknowledged_by: Vec<String>,
}

/// Every announcement of an event, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Announcements {
    pub announcements: Vec<Announcement>,
}

impl Announcements {
    fn get(&self, id: &str) -> Result<&Announcement, DomainError> {
        self.announcements
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| DomainError::NotFound(format!("announcement `{id}`")))
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Announcement> {
        self.announcements.iter_mut().find(|a| a.id == id)
    }
}

impl Domain for Announcements {
    type Event = AnnouncementEvent;
    type Command = AnnouncementCommand;

    fn decide(&self, command: AnnouncementCommand, context: &mut Context) -> Result<AnnouncementEvent, DomainError> {
        let actor = context.actor;
        let organisers_only = || {
            if actor.is_organiser() { Ok(()) } else { Err(DomainError::Forbidden("only organisers announce".into())) }
        };
        match command {
            AnnouncementCommand::Post { text: t, priority, pinned } => {
                organisers_only()?;
                if self.announcements.len() >= MAX_ANNOUNCEMENTS {
                    return Err(DomainError::Conflict(format!(
                        "an event holds at most {MAX_ANNOUNCEMENTS} announcements"
                    )));
                }
                Ok(AnnouncementEvent::Posted {
                    id: (context.fresh_id)("a"),
                    text: text(&t, "an announcement", 1, MAX_TEXT_CHARS, true)?,
                    priority,
                    pinned,
                })
            }
            AnnouncementCommand::Pin { announcement } => {
                organisers_only()?;
                if self.get(&announcement)?.pinned {
                    return Err(DomainError::Conflict("it is already pinned".into()));
                }
                Ok(AnnouncementEvent::Pinned { id: announcement })
            }
            AnnouncementCommand::Unpin { announcement } => {
                organisers_only()?;
                if !self.get(&announcement)?.pinned {
                    return Err(DomainError::Conflict("it is not pinned".into()));
                }
                Ok(AnnouncementEvent::Unpinned { id: announcement })
            }
            AnnouncementCommand::Acknowledge { announcement } => {
                if actor.role != Role::Participant {
                    return Err(DomainError::Forbidden("participants acknowledge announcements".into()));
                }
                let found = self.get(&announcement)?;
                if found.priority != Priority::Urgent {
                    return Err(DomainError::Invalid("only urgent announcements are acknowledged".into()));
                }
                if found.acknowledged_by.iter().any(|p| p == actor.id) {
                    return Err(DomainError::Conflict("you already acknowledged it".into()));
                }
                Ok(AnnouncementEvent::Acknowledged { id: announcement, participant: actor.id.to_string() })
            }
        }
    }

    fn apply(&mut self, event: &AnnouncementEvent, recorded: Recorded) {
        match event {
            AnnouncementEvent::Posted { id, text, priority, pinned } => self.announcements.push(Announcement {
                id: id.clone(),
                text: text.clone(),
                priority: *priority,
                pinned: *pinned,
                at: recorded.ts,
                by: recorded.by.to_string(),
                acknowledged_by: Vec::new(),
            }),
            AnnouncementEvent::Pinned { id } => {
                if let Some(a) = self.get_mut(id) {
                    a.pinned = true;
                }
            }
            AnnouncementEvent::Unpinned { id } => {
                if let Some(a) = self.get_mut(id) {
                    a.pinned = false;
                }
            }
            AnnouncementEvent::Acknowledged { id, participant } => {
                if let Some(a) = self.get_mut(id) {
                    a.acknowledged_by.push(participant.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::tests::run;

    const HOST: Actor = Actor { id: "host", role: Role::Organiser, team: None };
    const ADA: Actor = Actor { id: "ada", role: Role::Participant, team: Some("t1") };

    fn post(text: &str, priority: Priority) -> AnnouncementCommand {
        AnnouncementCommand::Post { text: text.into(), priority, pinned: false }
    }

    #[test]
    fn organisers_post_and_pin_and_nobody_else_does() {
        let mut state = Announcements::default();
        run(&mut state, HOST, post("Lunch is here", Priority::Normal)).expect("post");
        let id = state.announcements[0].id.clone();
        assert!(matches!(run(&mut state, ADA, post("free pizza", Priority::Urgent)), Err(DomainError::Forbidden(_))));
        assert!(matches!(
            run(&mut state, ADA, AnnouncementCommand::Pin { announcement: id.clone() }),
            Err(DomainError::Forbidden(_))
        ));
        run(&mut state, HOST, AnnouncementCommand::Pin { announcement: id.clone() }).expect("pin");
        assert!(state.announcements[0].pinned);
        assert!(matches!(
            run(&mut state, HOST, AnnouncementCommand::Pin { announcement: id.clone() }),
            Err(DomainError::Conflict(_))
        ));
        run(&mut state, HOST, AnnouncementCommand::Unpin { announcement: id }).expect("unpin");
        assert!(!state.announcements[0].pinned);
        assert!(matches!(run(&mut state, HOST, post("   ", Priority::Normal)), Err(DomainError::Invalid(_))));
    }

    #[test]
    fn urgent_announcements_are_acknowledged_once_per_participant() {
        let mut state = Announcements::default();
        run(&mut state, HOST, post("Fire drill at 3pm", Priority::Urgent)).expect("urgent");
        run(&mut state, HOST, post("Tea in the hall", Priority::Normal)).expect("normal");
        let (urgent, normal) = (state.announcements[0].id.clone(), state.announcements[1].id.clone());
        run(&mut state, ADA, AnnouncementCommand::Acknowledge { announcement: urgent.clone() }).expect("ack");
        assert!(matches!(
            run(&mut state, ADA, AnnouncementCommand::Acknowledge { announcement: urgent.clone() }),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            run(&mut state, ADA, AnnouncementCommand::Acknowledge { announcement: normal }),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            run(&mut state, HOST, AnnouncementCommand::Acknowledge { announcement: urgent.clone() }),
            Err(DomainError::Forbidden(_))
        ));
        assert_eq!(state.announcements[0].acknowledged_by, vec!["ada"]);
    }
}

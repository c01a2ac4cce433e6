//! Announcements: organisers push to every phone and display, normal or urgent, and pin what must
//! stay visible. A late joiner's snapshot holds every announcement with its pin; an urgent one can be
//! acknowledged by participants, and organisers see how many have. A wrong one is edited or
//! retracted: every screen follows, and the log (so the export) keeps what it said before.

use super::{Context, Domain, DomainError, Recorded, text, welsh_text};
use makeroom_protocol::Role;
pub use makeroom_protocol::announcements::{AnnouncementCommand, AnnouncementEvent, Priority};
use serde::Serialize;

pub const MAX_TEXT_CHARS: usize = 500;
pub const MAX_ANNOUNCEMENTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Announcement {
    pub id: String,
    pub text: String,
    /// The same announcement in Welsh, if it has one.
    pub text_cy: Option<String>,
    pub priority: Priority,
    pub pinned: bool,
    /// Server time it was posted.
    pub at: i64,
    pub by: String,
    /// Who acknowledged it (urgent ones only).
    pub acknowledged_by: Vec<String>,
    /// The latest edit, if any (earlier texts are on the log).
    pub edited: Option<Stamp>,
    /// When and by whom it was taken back; screens stop showing it, the record keeps it.
    pub retracted: Option<Stamp>,
}

/// When and by whom something was done to an announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stamp {
    pub at: i64,
    pub by: String,
}

impl Announcement {
    /// Refuses any change to a retracted announcement: it is part of the record, not of the room.
    fn still_shown(&self) -> Result<&Self, DomainError> {
        match self.retracted {
            Some(_) => Err(DomainError::Conflict("it was retracted".into())),
            None => Ok(self),
        }
    }
}

/// An announcement's words, in either language: 1 to 500 characters, lines allowed.
fn announcement_text(value: &str) -> Result<String, DomainError> {
    text(value, "an announcement", 1, MAX_TEXT_CHARS, true)
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
            AnnouncementCommand::Post { text: t, text_cy, priority, pinned } => {
                organisers_only()?;
                if self.announcements.len() >= MAX_ANNOUNCEMENTS {
                    return Err(DomainError::Conflict(format!(
                        "an event holds at most {MAX_ANNOUNCEMENTS} announcements"
                    )));
                }
                Ok(AnnouncementEvent::Posted {
                    id: (context.fresh_id)("a"),
                    text: announcement_text(&t)?,
                    text_cy: welsh_text(text_cy, None, announcement_text)?,
                    priority,
                    pinned,
                })
            }
            AnnouncementCommand::Pin { announcement } => {
                organisers_only()?;
                if self.get(&announcement)?.still_shown()?.pinned {
                    return Err(DomainError::Conflict("it is already pinned".into()));
                }
                Ok(AnnouncementEvent::Pinned { id: announcement })
            }
            AnnouncementCommand::Unpin { announcement } => {
                organisers_only()?;
                if !self.get(&announcement)?.still_shown()?.pinned {
                    return Err(DomainError::Conflict("it is not pinned".into()));
                }
                Ok(AnnouncementEvent::Unpinned { id: announcement })
            }
            AnnouncementCommand::Acknowledge { announcement } => {
                if actor.role != Role::Participant {
                    return Err(DomainError::Forbidden("participants acknowledge announcements".into()));
                }
                let found = self.get(&announcement)?.still_shown()?;
                if found.priority != Priority::Urgent {
                    return Err(DomainError::Invalid("only urgent announcements are acknowledged".into()));
                }
                if found.acknowledged_by.iter().any(|p| p == actor.id) {
                    return Err(DomainError::Conflict("you already acknowledged it".into()));
                }
                Ok(AnnouncementEvent::Acknowledged { id: announcement, participant: actor.id.to_string() })
            }
            AnnouncementCommand::Edit { announcement, text: new_text, text_cy, priority, pinned } => {
                organisers_only()?;
                let found = self.get(&announcement)?.still_shown()?;
                let new_text = match new_text {
                    Some(t) => announcement_text(&t)?,
                    None => found.text.clone(),
                };
                let text_cy = welsh_text(text_cy, found.text_cy.as_ref(), announcement_text)?;
                let words_changed = new_text != found.text || text_cy != found.text_cy;
                let priority = priority.unwrap_or(found.priority);
                let pinned = pinned.unwrap_or(found.pinned);
                if !words_changed && priority == found.priority && pinned == found.pinned {
                    return Err(DomainError::Invalid("the edit changes nothing".into()));
                }
                // An acknowledgement says "I have seen these words": new words, or a normal one
                // made urgent, must be seen again; a pin changed alone keeps them.
                let clears_acknowledgements =
                    !found.acknowledged_by.is_empty() && (words_changed || priority != Priority::Urgent);
                Ok(AnnouncementEvent::Edited {
                    id: announcement,
                    text: new_text,
                    text_cy,
                    priority,
                    pinned,
                    clears_acknowledgements,
                })
            }
            AnnouncementCommand::Retract { announcement } => {
                organisers_only()?;
                if self.get(&announcement)?.retracted.is_some() {
                    return Err(DomainError::Conflict("it is already retracted".into()));
                }
                Ok(AnnouncementEvent::Retracted { id: announcement })
            }
        }
    }

    fn apply(&mut self, event: &AnnouncementEvent, recorded: Recorded) {
        match event {
            AnnouncementEvent::Posted { id, text, text_cy, priority, pinned } => {
                self.announcements.push(Announcement {
                    id: id.clone(),
                    text: text.clone(),
                    text_cy: text_cy.clone(),
                    priority: *priority,
                    pinned: *pinned,
                    at: recorded.ts,
                    by: recorded.by.to_string(),
                    acknowledged_by: Vec::new(),
                    edited: None,
                    retracted: None,
                })
            }
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
            AnnouncementEvent::Edited { id, text, text_cy, priority, pinned, clears_acknowledgements } => {
                if let Some(a) = self.get_mut(id) {
                    a.text = text.clone();
                    a.text_cy = text_cy.clone();
                    a.priority = *priority;
                    a.pinned = *pinned;
                    if *clears_acknowledgements {
                        a.acknowledged_by.clear();
                    }
                    a.edited = Some(Stamp { at: recorded.ts, by: recorded.by.to_string() });
                }
            }
            AnnouncementEvent::Retracted { id } => {
                if let Some(a) = self.get_mut(id) {
                    a.retracted = Some(Stamp { at: recorded.ts, by: recorded.by.to_string() });
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
        AnnouncementCommand::Post { text: text.into(), text_cy: None, priority, pinned: false }
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

    fn edit(id: &str, text: Option<&str>, priority: Option<Priority>, pinned: Option<bool>) -> AnnouncementCommand {
        AnnouncementCommand::Edit {
            announcement: id.into(),
            text: text.map(str::to_string),
            text_cy: None,
            priority,
            pinned,
        }
    }

    #[test]
    fn organisers_edit_what_it_says_how_loud_it_is_and_its_pin() {
        let mut state = Announcements::default();
        run(&mut state, HOST, post("Lunch at 1pm", Priority::Normal)).expect("post");
        let id = state.announcements[0].id.clone();
        assert!(matches!(
            run(&mut state, ADA, edit(&id, Some("Lunch is off"), None, None)),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(run(&mut state, HOST, edit("a_nope", Some("x"), None, None)), Err(DomainError::NotFound(_))));
        assert!(matches!(run(&mut state, HOST, edit(&id, Some("  "), None, None)), Err(DomainError::Invalid(_))));
        assert!(matches!(
            run(&mut state, HOST, edit(&id, Some("Lunch at 1pm"), Some(Priority::Normal), Some(false))),
            Err(DomainError::Invalid(message)) if message == "the edit changes nothing"
        ));
        assert!(matches!(run(&mut state, HOST, edit(&id, None, None, None)), Err(DomainError::Invalid(_))));
        crate::domain::tests::run_at(
            &mut state,
            HOST,
            edit(&id, Some("Lunch at 2pm"), Some(Priority::Urgent), Some(true)),
            42,
        )
        .expect("edit");
        let edited = &state.announcements[0];
        assert_eq!((edited.text.as_str(), edited.priority, edited.pinned), ("Lunch at 2pm", Priority::Urgent, true));
        assert_eq!(edited.edited, Some(Stamp { at: 42, by: "host".into() }));
        assert_eq!(edited.at, 0, "the time it was posted stays");
        // Left out means unchanged.
        run(&mut state, HOST, edit(&id, None, None, Some(false))).expect("unpin by edit");
        assert_eq!(
            (state.announcements[0].text.as_str(), state.announcements[0].priority),
            ("Lunch at 2pm", Priority::Urgent)
        );
    }

    #[test]
    fn new_words_must_be_acknowledged_again_and_a_pin_keeps_the_acknowledgements() {
        let mut state = Announcements::default();
        run(&mut state, HOST, post("Fire drill at 3pm", Priority::Urgent)).expect("post");
        let id = state.announcements[0].id.clone();
        run(&mut state, ADA, AnnouncementCommand::Acknowledge { announcement: id.clone() }).expect("ack");
        run(&mut state, HOST, edit(&id, None, None, Some(true))).expect("pin by edit");
        assert_eq!(state.announcements[0].acknowledged_by, vec!["ada"]);
        let event = run(&mut state, HOST, edit(&id, Some("Fire drill at 4pm"), None, None)).expect("new time");
        assert!(matches!(event, AnnouncementEvent::Edited { clears_acknowledgements: true, .. }));
        assert!(state.announcements[0].acknowledged_by.is_empty());
        run(&mut state, ADA, AnnouncementCommand::Acknowledge { announcement: id.clone() }).expect("ack again");
        run(&mut state, HOST, edit(&id, None, Some(Priority::Normal), None)).expect("calm down");
        assert!(state.announcements[0].acknowledged_by.is_empty(), "normal ones hold no acknowledgements");
    }

    #[test]
    fn a_welsh_text_is_checked_like_the_english_and_new_welsh_words_are_acknowledged_again() {
        let mut state = Announcements::default();
        let bilingual = |text_cy: &str| AnnouncementCommand::Post {
            text: "Fire drill at 3pm".into(),
            text_cy: Some(text_cy.into()),
            priority: Priority::Urgent,
            pinned: false,
        };
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        assert!(matches!(run(&mut state, HOST, bilingual(&long)), Err(DomainError::Invalid(_))));
        run(&mut state, HOST, bilingual("Ymarfer tân am 3pm")).expect("post");
        let id = state.announcements[0].id.clone();
        assert_eq!(state.announcements[0].text_cy.as_deref(), Some("Ymarfer tân am 3pm"));
        run(&mut state, ADA, AnnouncementCommand::Acknowledge { announcement: id.clone() }).expect("ack");
        let welsh = |text_cy: &str| AnnouncementCommand::Edit {
            announcement: id.clone(),
            text: None,
            text_cy: Some(text_cy.into()),
            priority: None,
            pinned: None,
        };
        assert!(matches!(run(&mut state, HOST, welsh("Ymarfer tân am 3pm")), Err(DomainError::Invalid(_))));
        let event = run(&mut state, HOST, welsh("Ymarfer tân am 4pm")).expect("new Welsh words");
        assert!(matches!(event, AnnouncementEvent::Edited { clears_acknowledgements: true, .. }));
        run(&mut state, HOST, welsh(" ")).expect("blank removes the Welsh text");
        assert_eq!(
            (state.announcements[0].text_cy.as_deref(), state.announcements[0].text.as_str()),
            (None, "Fire drill at 3pm")
        );
    }

    #[test]
    fn a_retracted_announcement_is_kept_and_changes_no_more() {
        let mut state = Announcements::default();
        run(&mut state, HOST, post("Wi-Fi password: wrong", Priority::Urgent)).expect("post");
        let id = state.announcements[0].id.clone();
        let retract = || AnnouncementCommand::Retract { announcement: id.clone() };
        assert!(matches!(run(&mut state, ADA, retract()), Err(DomainError::Forbidden(_))));
        crate::domain::tests::run_at(&mut state, HOST, retract(), 7).expect("retract");
        assert_eq!(state.announcements[0].retracted, Some(Stamp { at: 7, by: "host".into() }));
        assert_eq!(state.announcements[0].text, "Wi-Fi password: wrong", "the record keeps it");
        assert!(
            matches!(run(&mut state, HOST, retract()), Err(DomainError::Conflict(m)) if m == "it is already retracted")
        );
        for refused in [
            edit(&id, Some("Wi-Fi password: right"), None, None),
            AnnouncementCommand::Pin { announcement: id.clone() },
            AnnouncementCommand::Acknowledge { announcement: id.clone() },
        ] {
            let actor = if matches!(refused, AnnouncementCommand::Acknowledge { .. }) { ADA } else { HOST };
            assert!(
                matches!(run(&mut state, actor, refused), Err(DomainError::Conflict(m)) if m == "it was retracted")
            );
        }
        assert!(matches!(
            run(&mut state, HOST, AnnouncementCommand::Retract { announcement: "a_nope".into() }),
            Err(DomainError::NotFound(_))
        ));
    }
}

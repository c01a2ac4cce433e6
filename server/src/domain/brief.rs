//! Briefs: the partners' challenge documents, living documents rather than decrees.
//!
//! Every edit names the revision it was made on; an edit on a stale revision is refused with
//! `Conflict` (never silently overwritten), so two people editing at once find out and merge by hand.
//! Each revision is one event in the `briefs` log, with the whole text: the log is the revision
//! history. A team can fork its own working version ("tear the brief up"), linked to the original.

use super::{Context, Domain, DomainError, Recorded, text, welsh_text};
pub use makeroom_protocol::brief::{BriefCommand, BriefEvent, ForkOrigin, NewBrief};
use serde::Serialize;
use std::collections::BTreeMap;

pub const MAX_TITLE_CHARS: usize = 120;
pub const MAX_BODY_CHARS: usize = 20_000;
pub const MAX_PARTNER_CHARS: usize = 80;

/// One revision in a brief's history: its text is the `briefs` log entry at `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionRef {
    pub revision: u32,
    pub offset: u64,
    pub ts: i64,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brief {
    pub id: String,
    pub title: String,
    /// The title in Welsh, if it has one.
    pub title_cy: Option<String>,
    pub body: String,
    pub partner: String,
    pub owner: Option<String>,
    /// 1 when created, +1 per edit.
    pub revision: u32,
    /// For a team's working version: the team, and the brief and revision it was forked from.
    pub team: Option<String>,
    pub forked_from: Option<ForkOrigin>,
    pub history: Vec<RevisionRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Briefs {
    pub briefs: BTreeMap<String, Brief>,
}

impl Briefs {
    pub fn get(&self, id: &str) -> Result<&Brief, DomainError> {
        self.briefs.get(id).ok_or_else(|| DomainError::NotFound(format!("brief `{id}`")))
    }
}

fn title(value: &str) -> Result<String, DomainError> {
    text(value, "a title", 1, MAX_TITLE_CHARS, false)
}

fn body(value: &str) -> Result<String, DomainError> {
    text(value, "a brief's text", 0, MAX_BODY_CHARS, true)
}

impl Domain for Briefs {
    type Event = BriefEvent;
    type Command = BriefCommand;

    fn decide(&self, command: BriefCommand, context: &mut Context) -> Result<BriefEvent, DomainError> {
        let actor = context.actor;
        match command {
            BriefCommand::Create { title: t, title_cy, body: b, partner, owner } => {
                if !actor.is_organiser() {
                    return Err(DomainError::Forbidden("only organisers add briefs".into()));
                }
                if let Some(owner) = &owner
                    && !(context.is_participant)(owner)
                {
                    return Err(DomainError::NotFound(format!("participant `{owner}`")));
                }
                Ok(BriefEvent::Created {
                    brief: NewBrief {
                        id: (context.fresh_id)("b"),
                        title: title(&t)?,
                        title_cy: welsh_text(title_cy, None, title)?,
                        body: body(&b)?,
                        partner: text(&partner, "a partner", 1, MAX_PARTNER_CHARS, false)?,
                        owner,
                    },
                })
            }
            BriefCommand::Edit { brief, revision, title: t, title_cy, body: b, owner } => {
                let current = self.get(&brief)?;
                let may_edit = actor.is_organiser()
                    || current.owner.as_deref() == Some(actor.id)
                    || (current.team.is_some() && current.team.as_deref() == actor.team);
                if !may_edit {
                    return Err(DomainError::Forbidden(
                        "organisers and the brief's owner edit a brief; a team edits its own working version".into(),
                    ));
                }
                if revision != current.revision {
                    return Err(DomainError::Conflict(format!(
                        "brief `{brief}` is at revision {}; this edit was made on revision {revision}: \
                         reload it and apply your change again",
                        current.revision
                    )));
                }
                if owner.is_some() && !actor.is_organiser() {
                    return Err(DomainError::Forbidden("only organisers change a brief's owner".into()));
                }
                if let Some(owner) = &owner
                    && !(context.is_participant)(owner)
                {
                    return Err(DomainError::NotFound(format!("participant `{owner}`")));
                }
                let title = t.as_deref().map(title).transpose()?.unwrap_or_else(|| current.title.clone());
                let title_cy = welsh_text(title_cy, current.title_cy.as_ref(), self::title)?;
                let body = b.as_deref().map(body).transpose()?.unwrap_or_else(|| current.body.clone());
                if title == current.title && title_cy == current.title_cy && body == current.body && owner.is_none() {
                    return Err(DomainError::Invalid("this edit changes nothing".into()));
                }
                Ok(BriefEvent::Edited {
                    brief,
                    revision: current.revision + 1,
                    title,
                    title_cy,
                    body,
                    owner: owner.or_else(|| current.owner.clone()),
                })
            }
            BriefCommand::Fork { brief } => {
                let original = self.get(&brief)?;
                let Some(team) = actor.team else {
                    return Err(DomainError::Forbidden("join a team to make its working version of a brief".into()));
                };
                if original.team.is_some() {
                    return Err(DomainError::Invalid("fork the original brief, not a team's version".into()));
                }
                let taken = self.briefs.values().any(|b| {
                    b.team.as_deref() == Some(team) && b.forked_from.as_ref().is_some_and(|f| f.brief == brief)
                });
                if taken {
                    return Err(DomainError::Conflict("your team already has a working version of this brief".into()));
                }
                Ok(BriefEvent::Forked {
                    brief: NewBrief {
                        id: (context.fresh_id)("b"),
                        title: original.title.clone(),
                        title_cy: original.title_cy.clone(),
                        body: original.body.clone(),
                        partner: original.partner.clone(),
                        owner: None,
                    },
                    from: ForkOrigin { brief, revision: original.revision },
                    team: team.to_string(),
                })
            }
        }
    }

    fn apply(&mut self, event: &BriefEvent, recorded: Recorded) {
        let first =
            |revision| RevisionRef { revision, offset: recorded.offset, ts: recorded.ts, by: recorded.by.to_string() };
        match event {
            BriefEvent::Created { brief } | BriefEvent::Forked { brief, .. } => {
                let (team, forked_from) = match event {
                    BriefEvent::Forked { from, team, .. } => (Some(team.clone()), Some(from.clone())),
                    _ => (None, None),
                };
                self.briefs.insert(
                    brief.id.clone(),
                    Brief {
                        id: brief.id.clone(),
                        title: brief.title.clone(),
                        title_cy: brief.title_cy.clone(),
                        body: brief.body.clone(),
                        partner: brief.partner.clone(),
                        owner: brief.owner.clone(),
                        revision: 1,
                        team,
                        forked_from,
                        history: vec![first(1)],
                    },
                );
            }
            BriefEvent::Edited { brief, revision, title, title_cy, body, owner } => {
                if let Some(current) = self.briefs.get_mut(brief) {
                    current.revision = *revision;
                    current.title = title.clone();
                    current.title_cy = title_cy.clone();
                    current.body = body.clone();
                    current.owner = owner.clone();
                    current.history.push(first(*revision));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use makeroom_protocol::Role;

    const HOST: Actor = Actor { id: "host", role: Role::Organiser, team: None };

    fn run(briefs: &mut Briefs, actor: Actor, command: BriefCommand) -> Result<BriefEvent, DomainError> {
        let mut n = briefs.briefs.len();
        let mut fresh = |prefix: &str| {
            n += 1;
            format!("{prefix}{n}")
        };
        let is_participant = |id: &str| id != "ghost";
        let is_brief = |_: &str| true;
        let mut context = Context {
            actor,
            is_participant: &is_participant,
            is_brief: &is_brief,
            is_team: &|_: &str| true,
            fresh_id: &mut fresh,
        };
        let event = briefs.decide(command, &mut context)?;
        briefs.apply(&event, Recorded { offset: 9, ts: 5, by: actor.id });
        Ok(event)
    }

    fn council_website() -> Briefs {
        let mut briefs = Briefs::default();
        run(
            &mut briefs,
            HOST,
            BriefCommand::Create {
                title: "A co-operative council website".into(),
                title_cy: None,
                body: "# Why\nResidents cannot find services.".into(),
                partner: "Lambeth Council".into(),
                owner: Some("officer".into()),
            },
        )
        .expect("created");
        briefs
    }

    fn edit(revision: u32, body: &str) -> BriefCommand {
        BriefCommand::Edit {
            brief: "b1".into(),
            revision,
            title: None,
            title_cy: None,
            body: Some(body.into()),
            owner: None,
        }
    }

    #[test]
    fn an_edit_on_a_stale_revision_is_refused_never_overwritten() {
        let mut briefs = council_website();
        let officer = Actor { id: "officer", role: Role::Participant, team: None };
        run(&mut briefs, officer, edit(1, "first edit")).expect("edit on 1");
        let stale = run(&mut briefs, HOST, edit(1, "an edit made on the old text"));
        match stale {
            Err(DomainError::Conflict(message)) => {
                assert!(message.contains("revision 2"), "{message}")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let brief = &briefs.briefs["b1"];
        assert_eq!((brief.revision, brief.body.as_str()), (2, "first edit"));
        assert_eq!(brief.history.iter().map(|r| r.revision).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn organisers_and_owners_edit_and_nobody_else() {
        let mut briefs = council_website();
        let stranger = Actor { id: "ada", role: Role::Participant, team: Some("t1") };
        assert!(matches!(run(&mut briefs, stranger, edit(1, "mine now")), Err(DomainError::Forbidden(_))));
        let display = Actor { id: "d", role: Role::Display, team: None };
        assert!(matches!(run(&mut briefs, display, edit(1, "x")), Err(DomainError::Forbidden(_))));
        assert!(matches!(
            run(
                &mut briefs,
                stranger,
                BriefCommand::Create {
                    title: "t".into(),
                    title_cy: None,
                    body: String::new(),
                    partner: "p".into(),
                    owner: None
                }
            ),
            Err(DomainError::Forbidden(_))
        ));
        run(&mut briefs, HOST, edit(1, "organiser edit")).expect("organisers edit");
        assert!(
            matches!(run(&mut briefs, HOST, edit(2, "organiser edit")), Err(DomainError::Invalid(_))),
            "no-op edit"
        );
        assert!(matches!(
            run(
                &mut briefs,
                HOST,
                BriefCommand::Edit {
                    brief: "b1".into(),
                    revision: 2,
                    title: Some(" ".into()),
                    title_cy: None,
                    body: None,
                    owner: None
                }
            ),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            run(
                &mut briefs,
                HOST,
                BriefCommand::Create {
                    title: "x".into(),
                    title_cy: None,
                    body: String::new(),
                    partner: "p".into(),
                    owner: Some("ghost".into())
                }
            ),
            Err(DomainError::NotFound(_))
        ));
    }

    #[test]
    fn a_team_tears_the_brief_up_in_its_own_linked_working_version() {
        let mut briefs = council_website();
        let ada = Actor { id: "ada", role: Role::Participant, team: Some("t1") };
        run(&mut briefs, ada, BriefCommand::Fork { brief: "b1".into() }).expect("fork");
        let fork = briefs.briefs.values().find(|b| b.team.is_some()).expect("fork exists").clone();
        assert_eq!(fork.forked_from, Some(ForkOrigin { brief: "b1".into(), revision: 1 }));
        assert_eq!(fork.team.as_deref(), Some("t1"));
        let edit_fork = BriefCommand::Edit {
            brief: fork.id.clone(),
            revision: 1,
            title: None,
            title_cy: None,
            body: Some("Start from residents' stories".into()),
            owner: None,
        };
        run(&mut briefs, ada, edit_fork.clone()).expect("the team edits its version");
        assert_eq!(briefs.briefs["b1"].revision, 1, "the original is untouched");
        let outsider = Actor { id: "bo", role: Role::Participant, team: Some("t2") };
        let outsider_edit = BriefCommand::Edit {
            brief: fork.id.clone(),
            revision: 2,
            title: None,
            title_cy: None,
            body: Some("x".into()),
            owner: None,
        };
        assert!(matches!(run(&mut briefs, outsider, outsider_edit), Err(DomainError::Forbidden(_))));
        assert!(matches!(
            run(&mut briefs, ada, BriefCommand::Fork { brief: "b1".into() }),
            Err(DomainError::Conflict(_))
        ));
        let teamless = Actor { id: "cy", role: Role::Participant, team: None };
        assert!(matches!(
            run(&mut briefs, teamless, BriefCommand::Fork { brief: "b1".into() }),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn a_welsh_title_is_kept_changed_and_removed_like_the_english_one() {
        let mut briefs = Briefs::default();
        let create = BriefCommand::Create {
            title: "Repair cafés".into(),
            title_cy: Some(" Caffis trwsio ".into()),
            body: String::new(),
            partner: "Monmouthshire".into(),
            owner: None,
        };
        run(&mut briefs, HOST, create).expect("created");
        assert_eq!(briefs.briefs["b1"].title_cy.as_deref(), Some("Caffis trwsio"));
        let edit = |title_cy: Option<&str>, revision| BriefCommand::Edit {
            brief: "b1".into(),
            revision,
            title: None,
            title_cy: title_cy.map(str::to_string),
            body: None,
            owner: None,
        };
        assert!(matches!(run(&mut briefs, HOST, edit(None, 1)), Err(DomainError::Invalid(_))), "nothing changes");
        run(&mut briefs, HOST, edit(Some("Caffi Trwsio"), 1)).expect("a new Welsh title is an edit");
        assert_eq!(briefs.briefs["b1"].title_cy.as_deref(), Some("Caffi Trwsio"));
        let long = "a".repeat(MAX_TITLE_CHARS + 1);
        assert!(matches!(run(&mut briefs, HOST, edit(Some(&long), 2)), Err(DomainError::Invalid(_))));
        run(&mut briefs, HOST, edit(Some(""), 2)).expect("blank removes it");
        assert_eq!(briefs.briefs["b1"].title_cy, None);
    }
}

//! What each team made, recorded so the work survives the weekend: a title, a description, links,
//! photos by URL, next steps and who carries it on. It is what a brief's partner receives afterwards.

use super::{Context, Domain, DomainError, Recorded, text};
use makeroom_protocol::Role;
pub use makeroom_protocol::outputs::{OutputCommand, OutputEvent, OutputRecord};
use serde::Serialize;
use std::collections::BTreeMap;

pub const MAX_LINKS: usize = 20;
pub const MAX_URL_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    #[serde(flatten)]
    pub record: OutputRecord,
    pub updated_at: i64,
    pub updated_by: String,
}

/// Every team's output, by team id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outputs {
    pub outputs: BTreeMap<String, Output>,
}

fn urls(list: Vec<String>, what: &str) -> Result<Vec<String>, DomainError> {
    if list.len() > MAX_LINKS {
        return Err(DomainError::Invalid(format!("at most {MAX_LINKS} {what}")));
    }
    list.into_iter()
        .map(|url| {
            let url = text(&url, what, 1, MAX_URL_CHARS, false)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(char::is_whitespace) {
                return Err(DomainError::Invalid(format!("{what} must be http(s) addresses: `{url}`")));
            }
            Ok(url)
        })
        .collect()
}

impl Domain for Outputs {
    type Event = OutputEvent;
    type Command = OutputCommand;

    fn decide(&self, command: OutputCommand, context: &mut Context) -> Result<OutputEvent, DomainError> {
        let actor = context.actor;
        let OutputCommand::Save { team, title, description, links, photos, next_steps, carried_on_by } = command;
        let team = match (team, actor.role) {
            (Some(team), Role::Organiser) => team,
            (None, Role::Organiser) => return Err(DomainError::Invalid("name the team whose output this is".into())),
            (requested, Role::Participant) => {
                let Some(own) = actor.team else {
                    return Err(DomainError::Forbidden("join a team to record what it made".into()));
                };
                if requested.as_deref().is_some_and(|t| t != own) {
                    return Err(DomainError::Forbidden("a team records its own output".into()));
                }
                own.to_string()
            }
            (_, Role::Display) => return Err(DomainError::Forbidden("a display only reads".into())),
        };
        if !(context.is_team)(&team) {
            return Err(DomainError::NotFound(format!("team `{team}`")));
        }
        if carried_on_by.len() > MAX_LINKS {
            return Err(DomainError::Invalid(format!("at most {MAX_LINKS} people carry it on")));
        }
        Ok(OutputEvent::Saved {
            output: OutputRecord {
                team,
                title: text(&title, "a title", 1, 120, false)?,
                description: text(&description, "a description", 0, 10_000, true)?,
                links: urls(links, "links")?,
                photos: urls(photos, "photos")?,
                next_steps: text(&next_steps, "next steps", 0, 4_000, true)?,
                carried_on_by: carried_on_by
                    .iter()
                    .filter(|who| !who.trim().is_empty())
                    .map(|who| text(who, "a name", 1, 80, false))
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    fn apply(&mut self, event: &OutputEvent, recorded: Recorded) {
        let OutputEvent::Saved { output } = event;
        self.outputs.insert(
            output.team.clone(),
            Output { record: output.clone(), updated_at: recorded.ts, updated_by: recorded.by.to_string() },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::tests::run;

    fn save(team: Option<&str>, links: &[&str]) -> OutputCommand {
        OutputCommand::Save {
            team: team.map(str::to_string),
            title: "Love Your Space campaign".into(),
            description: "A map of unloved spaces and a kit to adopt one.".into(),
            links: links.iter().map(|s| s.to_string()).collect(),
            photos: vec!["https://example.org/tulse-hill.jpg".into()],
            next_steps: "Launch at the country show".into(),
            carried_on_by: vec!["Public Realm".into(), " ".into()],
        }
    }

    #[test]
    fn a_team_records_its_own_output_and_organisers_any() {
        let mut outputs = Outputs::default();
        let ada = Actor { id: "ada", role: Role::Participant, team: Some("t1") };
        run(&mut outputs, ada, save(None, &["https://lys.example.org"])).expect("save");
        assert_eq!(outputs.outputs["t1"].record.carried_on_by, vec!["Public Realm"]);
        assert!(matches!(run(&mut outputs, ada, save(Some("t2"), &[])), Err(DomainError::Forbidden(_))));
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        run(&mut outputs, host, save(Some("t2"), &[])).expect("organisers help record");
        assert!(matches!(run(&mut outputs, host, save(Some("t_ghost"), &[])), Err(DomainError::NotFound(_))));
        assert!(matches!(run(&mut outputs, ada, save(None, &["javascript:alert(1)"])), Err(DomainError::Invalid(_))));
    }
}

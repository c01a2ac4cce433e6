//! Who is at an event: the event's own facts, its people (with role, skills and team) and its teams.
//!
//! State is a fold over recorded `RosterEvent`s; operations are `decide_*` functions that check the
//! rules against current state and return the events to record, or a `DomainError` that changes nothing.
//! The log of these events is the truth; the state is rebuilt from it at start-up.

use super::DomainError;
use makeroom_protocol::{Member, Role};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub const MAX_NAME_CHARS: usize = 60;
pub const MAX_SKILLS: usize = 12;
pub const MAX_SKILL_CHARS: usize = 30;

/// A person's or team's name: trimmed, 1 to 60 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl TryFrom<String> for Name {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(DomainError::Invalid("a name cannot be empty".into()));
        }
        if trimmed.chars().count() > MAX_NAME_CHARS {
            return Err(DomainError::Invalid(format!(
                "a name holds at most {MAX_NAME_CHARS} characters"
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(DomainError::Invalid(
                "a name cannot hold control characters".into(),
            ));
        }
        Ok(Name(trimmed.to_string()))
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a person can do, as they put it: up to 12 distinct skills of up to 30 characters.
pub fn parse_skills(raw: Vec<String>) -> Result<Vec<String>, DomainError> {
    let mut skills: Vec<String> = Vec::new();
    for skill in raw {
        let skill = skill.trim();
        if skill.is_empty() {
            continue;
        }
        if skill.chars().count() > MAX_SKILL_CHARS {
            return Err(DomainError::Invalid(format!(
                "a skill holds at most {MAX_SKILL_CHARS} characters"
            )));
        }
        if !skills.iter().any(|known| known.eq_ignore_ascii_case(skill)) {
            skills.push(skill.to_string());
        }
    }
    if skills.len() > MAX_SKILLS {
        return Err(DomainError::Invalid(format!("at most {MAX_SKILLS} skills")));
    }
    Ok(skills)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    pub id: String,
    pub name: Name,
    pub join_code: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: String,
    pub name: Name,
    pub role: Role,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub removed: bool,
}

impl Participant {
    pub fn member(&self) -> Member {
        Member {
            id: self.id.clone(),
            name: self.name.as_str().to_string(),
            role: self.role,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: Name,
}

/// Everything recorded on an event's roster log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RosterEvent {
    TeamCreated {
        team: Team,
    },
    Joined {
        participant: Participant,
    },
    Moved {
        participant: String,
        team: Option<String>,
    },
    Removed {
        participant: String,
    },
}

/// The roster of one event, as of `offset` on its log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Roster {
    pub offset: u64,
    pub participants: HashMap<String, Participant>,
    pub teams: BTreeMap<String, Team>,
}

impl Roster {
    /// Applies one recorded event. Recorded events were checked when decided, so applying never fails;
    /// an event naming someone unknown (impossible unless the log was edited) is ignored.
    pub fn apply(&mut self, event: &RosterEvent) {
        match event {
            RosterEvent::TeamCreated { team } => {
                self.teams.insert(team.id.clone(), team.clone());
            }
            RosterEvent::Joined { participant } => {
                self.participants
                    .insert(participant.id.clone(), participant.clone());
            }
            RosterEvent::Moved { participant, team } => {
                if let Some(p) = self.participants.get_mut(participant) {
                    p.team = team.clone();
                }
            }
            RosterEvent::Removed { participant } => {
                if let Some(p) = self.participants.get_mut(participant) {
                    p.removed = true;
                }
            }
        }
    }

    /// The participant behind a token, if they are still part of the event.
    pub fn active(&self, id: &str) -> Option<&Participant> {
        self.participants.get(id).filter(|p| !p.removed)
    }

    pub fn team_of(&self, id: &str) -> Option<&str> {
        self.active(id).and_then(|p| p.team.as_deref())
    }
}

pub struct NewParticipant {
    pub id: String,
    pub name: Name,
    pub role: Role,
    pub skills: Vec<String>,
    pub team: Option<String>,
}

pub fn decide_join(roster: &Roster, new: NewParticipant) -> Result<Vec<RosterEvent>, DomainError> {
    if let Some(team) = &new.team
        && !roster.teams.contains_key(team)
    {
        return Err(DomainError::NotFound(format!("team `{team}`")));
    }
    if new.role != Role::Participant && new.team.is_some() {
        return Err(DomainError::Invalid("only participants join teams".into()));
    }
    if roster.participants.contains_key(&new.id) {
        return Err(DomainError::Conflict("this participant id is taken".into()));
    }
    Ok(vec![RosterEvent::Joined {
        participant: Participant {
            id: new.id,
            name: new.name,
            role: new.role,
            skills: new.skills,
            team: new.team,
            removed: false,
        },
    }])
}

pub fn decide_create_team(
    roster: &Roster,
    id: String,
    name: Name,
) -> Result<Vec<RosterEvent>, DomainError> {
    if roster
        .teams
        .values()
        .any(|team| team.name.as_str().eq_ignore_ascii_case(name.as_str()))
    {
        return Err(DomainError::Conflict(format!(
            "a team is already called `{}`",
            name.as_str()
        )));
    }
    Ok(vec![RosterEvent::TeamCreated {
        team: Team { id, name },
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::try_from(text.to_string()).expect("valid name")
    }

    fn fold(events: &[RosterEvent]) -> Roster {
        let mut roster = Roster::default();
        for event in events {
            roster.apply(event);
        }
        roster
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("  Ada  ").as_str(), "Ada");
        assert!(Name::try_from("   ".to_string()).is_err());
        assert!(Name::try_from("x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(Name::try_from("a\u{7}b".to_string()).is_err());
        assert!(
            serde_json::from_str::<Name>(r#""""#).is_err(),
            "invalid names cannot even be parsed"
        );
    }

    #[test]
    fn skills_drop_blanks_and_duplicates() {
        let skills = parse_skills(vec![
            "Design".into(),
            " ".into(),
            "design".into(),
            "Rust".into(),
        ])
        .expect("ok");
        assert_eq!(skills, vec!["Design", "Rust"]);
        assert!(parse_skills(vec!["x".repeat(MAX_SKILL_CHARS + 1)]).is_err());
        assert!(parse_skills((0..=MAX_SKILLS).map(|i| i.to_string()).collect()).is_err());
    }

    #[test]
    fn joining_a_team_needs_the_team_to_exist() {
        let roster = fold(
            &decide_create_team(&Roster::default(), "t1".into(), name("Healthwatch"))
                .expect("team"),
        );
        let join = |team: Option<&str>| {
            decide_join(
                &roster,
                NewParticipant {
                    id: "p1".into(),
                    name: name("Ada"),
                    role: Role::Participant,
                    skills: vec![],
                    team: team.map(str::to_string),
                },
            )
        };
        assert!(matches!(join(Some("t9")), Err(DomainError::NotFound(_))));
        let roster = {
            let mut r = roster.clone();
            for event in join(Some("t1")).expect("joins") {
                r.apply(&event);
            }
            r
        };
        assert_eq!(roster.team_of("p1"), Some("t1"));
    }

    #[test]
    fn team_names_are_unique_regardless_of_case() {
        let roster = fold(
            &decide_create_team(&Roster::default(), "t1".into(), name("Love Your Space"))
                .expect("ok"),
        );
        assert!(matches!(
            decide_create_team(&roster, "t2".into(), name("love your space")),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn a_removed_participant_is_no_longer_active() {
        let roster = fold(&[
            RosterEvent::Joined {
                participant: Participant {
                    id: "p1".into(),
                    name: name("Ada"),
                    role: Role::Participant,
                    skills: vec![],
                    team: None,
                    removed: false,
                },
            },
            RosterEvent::Removed {
                participant: "p1".into(),
            },
        ]);
        assert!(roster.active("p1").is_none());
    }

    #[test]
    fn events_are_recorded_in_a_stable_json_shape() {
        let event = RosterEvent::Moved {
            participant: "p1".into(),
            team: Some("t1".into()),
        };
        let json = serde_json::to_string(&event).expect("serializes");
        assert_eq!(json, r#"{"kind":"moved","participant":"p1","team":"t1"}"#);
        assert_eq!(
            serde_json::from_str::<RosterEvent>(&json).expect("parses"),
            event
        );
    }
}

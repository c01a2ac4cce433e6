//! Who is at an event: the event's details, its people (role, skills, team) and its teams (the brief
//! they formed around, the skills they need and which of those nobody in the team has yet).
//!
//! The log of `RosterEvent`s is the truth; the `Roster` is its fold. Teams carry two derived fields,
//! `members` and `missing`, recomputed on every change: the room-wide "who is where, who is missing
//! what" view that tells a newcomer at a glance where they would be useful.

use super::{Context, Domain, DomainError, Recorded, text, welsh_text};
use makeroom_protocol::Role;
pub use makeroom_protocol::roster::{
    BilingualOrder, EventDetails, Language, MAX_NAME_CHARS, Name, NameError, NewTeam, Participant, RosterCommand,
    RosterEvent,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub const MAX_SKILLS: usize = 12;
pub const MAX_SKILL_CHARS: usize = 30;

/// A broken name is the client's mistake, told as `bad_request` with the name rule's own words.
impl From<NameError> for DomainError {
    fn from(err: NameError) -> Self {
        DomainError::Invalid(err.to_string())
    }
}

/// Skills as people put them: up to 12 distinct (ignoring case) of up to 30 characters; blanks dropped.
pub fn parse_skills(raw: Vec<String>) -> Result<Vec<String>, DomainError> {
    let mut skills: Vec<String> = Vec::new();
    for skill in raw {
        if skill.trim().is_empty() {
            continue;
        }
        let skill = text(&skill, "a skill", 1, MAX_SKILL_CHARS, false)?;
        if !skills.iter().any(|known| known.eq_ignore_ascii_case(&skill)) {
            skills.push(skill);
        }
    }
    if skills.len() > MAX_SKILLS {
        return Err(DomainError::Invalid(format!("at most {MAX_SKILLS} skills")));
    }
    Ok(skills)
}

/// An event as the server-wide registry records it: the server's own record, never sent to clients
/// as such, so it stays here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    pub id: String,
    pub name: Name,
    pub join_code: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Team {
    pub id: String,
    pub name: Name,
    pub brief: Option<String>,
    pub needs: Vec<String>,
    pub archived: bool,
    /// Derived: ids of its active members.
    pub members: Vec<String>,
    /// Derived: the needed skills no member has.
    pub missing: Vec<String>,
}

/// The roster of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Roster {
    pub event: EventDetails,
    pub participants: HashMap<String, Participant>,
    pub teams: BTreeMap<String, Team>,
}

impl Roster {
    pub fn new(name: Name) -> Self {
        Roster {
            event: EventDetails {
                name,
                name_cy: None,
                language: Default::default(),
                bilingual_order: None,
                starts_at: None,
                ends_at: None,
                time_zone: makeroom_protocol::roster::DEFAULT_TIME_ZONE.to_string(),
            },
            participants: HashMap::new(),
            teams: BTreeMap::new(),
        }
    }

    /// The participant behind a token, if they are still part of the event.
    pub fn active(&self, id: &str) -> Option<&Participant> {
        self.participants.get(id).filter(|p| !p.removed)
    }

    pub fn team_of(&self, id: &str) -> Option<&str> {
        self.active(id).and_then(|p| p.team.as_deref())
    }

    fn open_team(&self, id: &str) -> Result<&Team, DomainError> {
        match self.teams.get(id) {
            Some(team) if !team.archived => Ok(team),
            Some(_) => Err(DomainError::Conflict(format!("team `{id}` is archived"))),
            None => Err(DomainError::NotFound(format!("team `{id}`"))),
        }
    }

    fn check_team_name_free(&self, name: &Name, except: Option<&str>) -> Result<(), DomainError> {
        let taken = self.teams.values().any(|team| {
            !team.archived && Some(team.id.as_str()) != except && team.name.as_str().eq_ignore_ascii_case(name.as_str())
        });
        if taken {
            return Err(DomainError::Conflict(format!("a team is already called `{}`", name.as_str())));
        }
        Ok(())
    }
}

pub struct NewParticipant {
    pub id: String,
    pub name: Name,
    pub role: Role,
    pub skills: Vec<String>,
    pub team: Option<String>,
}

/// Someone joining the event (with a join code, or an organiser adding an organiser or a display).
pub fn decide_join(roster: &Roster, new: NewParticipant) -> Result<RosterEvent, DomainError> {
    if let Some(team) = &new.team {
        roster.open_team(team)?;
    }
    if new.role != Role::Participant && new.team.is_some() {
        return Err(DomainError::Invalid("only participants join teams".into()));
    }
    if roster.participants.contains_key(&new.id) {
        return Err(DomainError::Conflict("this participant id is taken".into()));
    }
    Ok(RosterEvent::Joined {
        participant: Participant {
            id: new.id,
            name: new.name,
            role: new.role,
            skills: new.skills,
            team: new.team,
            removed: false,
        },
    })
}

fn organisers_only(context: &Context, what: &str) -> Result<(), DomainError> {
    if context.actor.is_organiser() { Ok(()) } else { Err(DomainError::Forbidden(format!("only organisers {what}"))) }
}

impl Domain for Roster {
    type Event = RosterEvent;
    type Command = RosterCommand;

    fn decide(&self, command: RosterCommand, context: &mut Context) -> Result<RosterEvent, DomainError> {
        let actor = context.actor;
        match command {
            RosterCommand::UpdateEvent { name, name_cy, language, bilingual_order, starts_at, ends_at, time_zone } => {
                organisers_only(context, "change the event")?;
                let mut details = self.event.clone();
                if let Some(name) = name {
                    details.name = Name::try_from(name)?;
                }
                details.name_cy =
                    welsh_text(name_cy, details.name_cy.as_ref(), |v| Ok(Name::try_from(v.to_string())?))?;
                details.language = language.unwrap_or(details.language);
                details.bilingual_order = bilingual_order.or(details.bilingual_order);
                if let Some(zone) = time_zone {
                    details.time_zone = super::time_zone::parse(&zone)?.name;
                }
                details.starts_at = starts_at.or(details.starts_at);
                details.ends_at = ends_at.or(details.ends_at);
                if let (Some(start), Some(end)) = (details.starts_at, details.ends_at)
                    && end <= start
                {
                    return Err(DomainError::Invalid("the event must end after it starts".into()));
                }
                Ok(RosterEvent::EventUpdated { details })
            }
            RosterCommand::CreateTeam { name, brief, needs } => {
                if actor.role == Role::Display {
                    return Err(DomainError::Forbidden("a display only reads".into()));
                }
                let name = Name::try_from(name)?;
                self.check_team_name_free(&name, None)?;
                if let Some(brief) = &brief
                    && !(context.is_brief)(brief)
                {
                    return Err(DomainError::NotFound(format!("brief `{brief}`")));
                }
                let needs = parse_skills(needs)?;
                Ok(RosterEvent::TeamCreated { team: NewTeam { id: (context.fresh_id)("t"), name, brief, needs } })
            }
            RosterCommand::RenameTeam { team, name } => {
                organisers_only(context, "rename teams")?;
                self.open_team(&team)?;
                let name = Name::try_from(name)?;
                self.check_team_name_free(&name, Some(&team))?;
                Ok(RosterEvent::TeamRenamed { team, name })
            }
            RosterCommand::SetNeeds { team, needs } => {
                self.open_team(&team)?;
                if !actor.is_organiser() && actor.team != Some(team.as_str()) {
                    return Err(DomainError::Forbidden(
                        "only the team's members and organisers say what it needs".into(),
                    ));
                }
                Ok(RosterEvent::TeamNeeds { team, needs: parse_skills(needs)? })
            }
            RosterCommand::ArchiveTeam { team } => {
                organisers_only(context, "archive teams")?;
                self.open_team(&team)?;
                Ok(RosterEvent::TeamArchived { team })
            }
            RosterCommand::JoinTeam { team } => {
                if actor.role != Role::Participant {
                    return Err(DomainError::Forbidden("only participants join teams".into()));
                }
                self.open_team(&team)?;
                if actor.team == Some(team.as_str()) {
                    return Err(DomainError::Conflict("you are already in this team".into()));
                }
                Ok(RosterEvent::Moved { participant: actor.id.to_string(), team: Some(team) })
            }
            RosterCommand::LeaveTeam {} => {
                if actor.team.is_none() {
                    return Err(DomainError::Conflict("you are not in a team".into()));
                }
                Ok(RosterEvent::Moved { participant: actor.id.to_string(), team: None })
            }
            RosterCommand::SetSkills { skills } => {
                if actor.role == Role::Display {
                    return Err(DomainError::Forbidden("a display has no skills".into()));
                }
                Ok(RosterEvent::SkillsChanged { participant: actor.id.to_string(), skills: parse_skills(skills)? })
            }
            RosterCommand::RemoveParticipant { participant } => {
                organisers_only(context, "remove people")?;
                if participant == actor.id {
                    return Err(DomainError::Conflict("you cannot remove yourself".into()));
                }
                if self.active(&participant).is_none() {
                    return Err(DomainError::NotFound(format!("participant `{participant}`")));
                }
                Ok(RosterEvent::Removed { participant })
            }
        }
    }

    /// Recorded events were checked when decided, so applying never fails; an event naming someone
    /// unknown (impossible unless the log was edited) changes nothing.
    fn apply(&mut self, event: &RosterEvent, _recorded: Recorded) {
        // Only the teams an event touches are re-derived, so a change costs the size of a team, not
        // of the event (thousands of joins stay linear).
        let touched: Vec<String> = match event {
            RosterEvent::EventUpdated { details } => {
                self.event = details.clone();
                Vec::new()
            }
            RosterEvent::TeamCreated { team } => {
                self.teams.insert(
                    team.id.clone(),
                    Team {
                        id: team.id.clone(),
                        name: team.name.clone(),
                        brief: team.brief.clone(),
                        needs: team.needs.clone(),
                        archived: false,
                        members: Vec::new(),
                        missing: Vec::new(),
                    },
                );
                vec![team.id.clone()]
            }
            RosterEvent::TeamRenamed { team, name } => {
                if let Some(team) = self.teams.get_mut(team) {
                    team.name = name.clone();
                }
                Vec::new()
            }
            RosterEvent::TeamNeeds { team, needs } => {
                if let Some(found) = self.teams.get_mut(team) {
                    found.needs = needs.clone();
                }
                vec![team.clone()]
            }
            RosterEvent::TeamArchived { team } => {
                if let Some(archived) = self.teams.get_mut(team) {
                    archived.archived = true;
                    for member in std::mem::take(&mut archived.members) {
                        if let Some(person) = self.participants.get_mut(&member) {
                            person.team = None;
                        }
                    }
                }
                vec![team.clone()]
            }
            RosterEvent::Joined { participant } => {
                self.participants.insert(participant.id.clone(), participant.clone());
                match &participant.team {
                    Some(team) => {
                        self.add_member(team, &participant.id);
                        vec![team.clone()]
                    }
                    None => Vec::new(),
                }
            }
            RosterEvent::Moved { participant, team } => {
                let Some(person) = self.participants.get_mut(participant) else { return };
                let old = std::mem::replace(&mut person.team, team.clone());
                if let Some(old) = &old {
                    self.remove_member(old, participant);
                }
                if let Some(new) = team {
                    self.add_member(new, participant);
                }
                old.into_iter().chain(team.clone()).collect()
            }
            RosterEvent::SkillsChanged { participant, skills } => {
                let Some(person) = self.participants.get_mut(participant) else { return };
                person.skills = skills.clone();
                person.team.clone().into_iter().collect()
            }
            RosterEvent::Removed { participant } => {
                let Some(person) = self.participants.get_mut(participant) else { return };
                person.removed = true;
                let old = person.team.take();
                if let Some(old) = &old {
                    self.remove_member(old, participant);
                }
                old.into_iter().collect()
            }
        };
        for team in touched {
            self.refresh_missing(&team);
        }
    }
}

impl Roster {
    /// Members are kept sorted by id, so every replica lists them alike.
    fn add_member(&mut self, team: &str, participant: &str) {
        if let Some(team) = self.teams.get_mut(team)
            && let Err(at) = team.members.binary_search_by(|m| m.as_str().cmp(participant))
        {
            team.members.insert(at, participant.to_string());
        }
    }

    fn remove_member(&mut self, team: &str, participant: &str) {
        if let Some(team) = self.teams.get_mut(team) {
            team.members.retain(|m| m != participant);
        }
    }

    fn refresh_missing(&mut self, team: &str) {
        let Some(found) = self.teams.get(team) else { return };
        let has = |skill: &str| {
            found
                .members
                .iter()
                .filter_map(|id| self.participants.get(id))
                .any(|member| member.skills.iter().any(|s| s.eq_ignore_ascii_case(skill)))
        };
        let missing: Vec<String> = found.needs.iter().filter(|need| !has(need)).cloned().collect();
        if let Some(found) = self.teams.get_mut(team) {
            found.missing = missing;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;

    fn name(text: &str) -> Name {
        Name::try_from(text.to_string()).expect("valid name")
    }

    const AT: Recorded = Recorded { offset: 1, ts: 0, by: "x" };

    /// Runs a command as `actor` and applies its event; returns the event or the refusal.
    fn run(roster: &mut Roster, actor: Actor, command: RosterCommand) -> Result<RosterEvent, DomainError> {
        let mut counter = roster.teams.len();
        let mut fresh = |prefix: &str| {
            counter += 1;
            format!("{prefix}{counter}")
        };
        let is_participant = |_: &str| true;
        let is_brief = |id: &str| id == "b_1";
        let mut context = Context {
            actor,
            is_participant: &is_participant,
            is_brief: &is_brief,
            is_team: &|_: &str| true,
            fresh_id: &mut fresh,
        };
        let event = roster.decide(command, &mut context)?;
        roster.apply(&event, AT);
        Ok(event)
    }

    fn person(roster: &mut Roster, id: &str, role: Role, skills: &[&str]) {
        let event = decide_join(
            roster,
            NewParticipant {
                id: id.into(),
                name: name(id),
                role,
                skills: skills.iter().map(|s| s.to_string()).collect(),
                team: None,
            },
        )
        .expect("joins");
        roster.apply(&event, AT);
    }

    fn weekend() -> Roster {
        let mut roster = Roster::new(name("Made in Lambeth"));
        person(&mut roster, "host", Role::Organiser, &[]);
        person(&mut roster, "ada", Role::Participant, &["Design", "Research"]);
        person(&mut roster, "bo", Role::Participant, &["Rust"]);
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        run(
            &mut roster,
            host,
            RosterCommand::CreateTeam {
                name: "Healthwatch".into(),
                brief: None,
                needs: vec!["design".into(), "Rust".into(), "Copywriting".into()],
            },
        )
        .expect("team");
        roster
    }

    #[test]
    fn the_name_rule_is_the_rule_for_every_other_one_line_text() {
        // The protocol checks names itself (every name in a recorded event has passed); it must
        // refuse exactly what `text` refuses, in the same words.
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        for value in ["  Ada  ", "", "   ", "a\u{7}b", "tab\there", long.as_str(), &long[1..]] {
            let as_name = Name::try_from(value.to_string()).map(String::from).map_err(DomainError::from);
            assert_eq!(as_name, text(value, "a name", 1, MAX_NAME_CHARS, false), "{value:?}");
        }
    }

    #[test]
    fn skills_drop_blanks_and_duplicates() {
        let skills = parse_skills(vec!["Design".into(), " ".into(), "design".into(), "Rust".into()]).expect("ok");
        assert_eq!(skills, vec!["Design", "Rust"]);
        assert!(parse_skills(vec!["x".repeat(MAX_SKILL_CHARS + 1)]).is_err());
        assert!(parse_skills((0..=MAX_SKILLS).map(|i| i.to_string()).collect()).is_err());
    }

    #[test]
    fn a_team_shows_who_is_in_it_and_which_needed_skills_nobody_has() {
        let mut roster = weekend();
        let team = roster.teams.keys().next().expect("team").clone();
        assert_eq!(roster.teams[&team].missing, vec!["design", "Rust", "Copywriting"]);
        let ada = Actor { id: "ada", role: Role::Participant, team: None };
        run(&mut roster, ada, RosterCommand::JoinTeam { team: team.clone() }).expect("ada joins");
        assert_eq!(roster.teams[&team].members, vec!["ada"]);
        assert_eq!(roster.teams[&team].missing, vec!["Rust", "Copywriting"], "skills match regardless of case");
        let bo = Actor { id: "bo", role: Role::Participant, team: None };
        run(&mut roster, bo, RosterCommand::JoinTeam { team: team.clone() }).expect("bo joins");
        assert_eq!(roster.teams[&team].missing, vec!["Copywriting"]);
        let bo = Actor { id: "bo", role: Role::Participant, team: Some(&team) };
        run(&mut roster, bo, RosterCommand::LeaveTeam {}).expect("bo leaves");
        assert_eq!(roster.teams[&team].missing, vec!["Rust", "Copywriting"]);
    }

    #[test]
    fn people_switch_teams_freely_but_only_into_open_teams() {
        let mut roster = weekend();
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        let first = roster.teams.keys().next().expect("team").clone();
        run(
            &mut roster,
            host,
            RosterCommand::CreateTeam { name: "Love Your Space".into(), brief: None, needs: vec![] },
        )
        .expect("second team");
        let second = roster.teams.keys().find(|t| **t != first).expect("second").clone();
        let ada = Actor { id: "ada", role: Role::Participant, team: None };
        run(&mut roster, ada, RosterCommand::JoinTeam { team: first.clone() }).expect("join");
        let ada = Actor { id: "ada", role: Role::Participant, team: Some(&first) };
        run(&mut roster, ada, RosterCommand::JoinTeam { team: second.clone() }).expect("switch");
        assert_eq!(roster.team_of("ada"), Some(second.as_str()));
        run(&mut roster, host, RosterCommand::ArchiveTeam { team: second.clone() }).expect("archive");
        assert_eq!(roster.team_of("ada"), None, "archiving a team frees its members");
        let ada = Actor { id: "ada", role: Role::Participant, team: None };
        assert!(matches!(
            run(&mut roster, ada, RosterCommand::JoinTeam { team: second }),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            run(&mut roster, ada, RosterCommand::JoinTeam { team: "t_nope".into() }),
            Err(DomainError::NotFound(_))
        ));
    }

    #[test]
    fn only_organisers_rename_archive_remove_and_change_the_event() {
        let mut roster = weekend();
        let team = roster.teams.keys().next().expect("team").clone();
        let ada = Actor { id: "ada", role: Role::Participant, team: None };
        let before = roster.clone();
        for command in [
            RosterCommand::RenameTeam { team: team.clone(), name: "Mine".into() },
            RosterCommand::ArchiveTeam { team: team.clone() },
            RosterCommand::RemoveParticipant { participant: "bo".into() },
            RosterCommand::UpdateEvent {
                name: Some("Mine".into()),
                name_cy: None,
                language: None,
                bilingual_order: None,
                starts_at: None,
                ends_at: None,
                time_zone: None,
            },
            RosterCommand::SetNeeds { team: team.clone(), needs: vec![] },
        ] {
            assert!(matches!(run(&mut roster, ada, command), Err(DomainError::Forbidden(_))));
        }
        assert_eq!(roster, before, "refusals change nothing");
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        run(&mut roster, host, RosterCommand::RemoveParticipant { participant: "bo".into() }).expect("remove");
        assert!(roster.active("bo").is_none());
        assert!(matches!(
            run(&mut roster, host, RosterCommand::RemoveParticipant { participant: "host".into() }),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(run(&mut roster, host, times(Some(10), Some(5))), Err(DomainError::Invalid(_))));
    }

    fn times(starts_at: Option<i64>, ends_at: Option<i64>) -> RosterCommand {
        RosterCommand::UpdateEvent {
            name: None,
            name_cy: None,
            language: None,
            bilingual_order: None,
            starts_at,
            ends_at,
            time_zone: None,
        }
    }

    #[test]
    fn an_event_gets_a_welsh_name_a_language_and_a_bilingual_order_and_keeps_what_is_left_out() {
        let mut roster = weekend();
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        let welsh = |name_cy: &str| RosterCommand::UpdateEvent {
            name: None,
            name_cy: Some(name_cy.into()),
            language: Some(Language::Cy),
            bilingual_order: None,
            starts_at: None,
            ends_at: None,
            time_zone: None,
        };
        assert!(matches!(run(&mut roster, host, welsh(&"y".repeat(MAX_NAME_CHARS + 1))), Err(DomainError::Invalid(_))));
        run(&mut roster, host, welsh(" Diwrnod Rhwydwaith ")).expect("a Welsh name");
        assert_eq!(roster.event.name_cy.as_ref().map(Name::as_str), Some("Diwrnod Rhwydwaith"));
        assert_eq!(roster.event.language, Language::Cy);
        assert_eq!(
            BilingualOrder::for_event(roster.event.bilingual_order, roster.event.language),
            BilingualOrder::CyFirst
        );
        run(&mut roster, host, times(Some(1), None)).expect("times only");
        assert_eq!(roster.event.name_cy.as_ref().map(Name::as_str), Some("Diwrnod Rhwydwaith"), "kept");
        let english_first = RosterCommand::UpdateEvent {
            name: None,
            name_cy: Some(String::new()),
            language: None,
            bilingual_order: Some(BilingualOrder::EnFirst),
            starts_at: None,
            ends_at: None,
            time_zone: None,
        };
        run(&mut roster, host, english_first).expect("order set, Welsh name removed");
        assert_eq!(
            (roster.event.name_cy.as_ref(), roster.event.bilingual_order),
            (None, Some(BilingualOrder::EnFirst))
        );
    }

    #[test]
    fn team_names_are_unique_regardless_of_case_and_need_real_briefs() {
        let mut roster = weekend();
        let host = Actor { id: "host", role: Role::Organiser, team: None };
        assert!(matches!(
            run(
                &mut roster,
                host,
                RosterCommand::CreateTeam { name: "HEALTHWATCH".into(), brief: None, needs: vec![] }
            ),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            run(
                &mut roster,
                host,
                RosterCommand::CreateTeam { name: "X".into(), brief: Some("b_nope".into()), needs: vec![] }
            ),
            Err(DomainError::NotFound(_))
        ));
        run(
            &mut roster,
            host,
            RosterCommand::CreateTeam { name: "X".into(), brief: Some("b_1".into()), needs: vec![] },
        )
        .expect("a team around a real brief");
    }
}

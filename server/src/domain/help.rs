//! The help queue: a team asks for help (what with, where it is); organisers see the queue live, claim
//! a request and resolve it. Requests live here, not in chat, so none gets lost in the scroll.

use super::{Context, Domain, DomainError, Recorded, text};
use makeroom_protocol::Role;
pub use makeroom_protocol::help::{HelpCommand, HelpEvent};
use serde::{Deserialize, Serialize};

/// Open requests one team may have at once.
pub const MAX_OPEN_PER_TEAM: usize = 3;

/// Where a request stands, in the queue's state (no event carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HelpStatus {
    Open,
    Claimed,
    Resolved,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelpRequest {
    pub id: String,
    pub team: String,
    pub topic: String,
    pub location: String,
    pub status: HelpStatus,
    pub asked_by: String,
    pub asked_at: i64,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<i64>,
    pub closed_at: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HelpQueue {
    /// Oldest first.
    pub requests: Vec<HelpRequest>,
}

impl HelpQueue {
    fn get(&self, id: &str) -> Result<&HelpRequest, DomainError> {
        self.requests.iter().find(|r| r.id == id).ok_or_else(|| DomainError::NotFound(format!("help request `{id}`")))
    }
}

impl Domain for HelpQueue {
    type Event = HelpEvent;
    type Command = HelpCommand;

    fn decide(&self, command: HelpCommand, context: &mut Context) -> Result<HelpEvent, DomainError> {
        let actor = context.actor;
        let is_done = |r: &HelpRequest| matches!(r.status, HelpStatus::Resolved | HelpStatus::Cancelled);
        match command {
            HelpCommand::Ask { topic, location } => {
                let Some(team) = actor.team.filter(|_| actor.role == Role::Participant) else {
                    return Err(DomainError::Forbidden("a team asks for help: join one first".into()));
                };
                let open = self.requests.iter().filter(|r| r.team == team && !is_done(r)).count();
                if open >= MAX_OPEN_PER_TEAM {
                    return Err(DomainError::Conflict(format!("a team has at most {MAX_OPEN_PER_TEAM} open requests")));
                }
                Ok(HelpEvent::Asked {
                    id: (context.fresh_id)("h"),
                    team: team.to_string(),
                    topic: text(&topic, "what you need help with", 1, 200, false)?,
                    location: text(&location, "where you are", 0, 80, false)?,
                })
            }
            HelpCommand::Claim { request } => {
                if !actor.is_organiser() {
                    return Err(DomainError::Forbidden("organisers claim help requests".into()));
                }
                match self.get(&request)?.status {
                    HelpStatus::Open => Ok(HelpEvent::Claimed { id: request, by: actor.id.to_string() }),
                    HelpStatus::Claimed => Err(DomainError::Conflict("someone already claimed it".into())),
                    _ => Err(DomainError::Conflict("it is already closed".into())),
                }
            }
            HelpCommand::Release { request } => {
                let found = self.get(&request)?;
                if found.status != HelpStatus::Claimed || found.claimed_by.as_deref() != Some(actor.id) {
                    return Err(DomainError::Conflict("only its claimer releases a claimed request".into()));
                }
                Ok(HelpEvent::Released { id: request })
            }
            HelpCommand::Resolve { request } => {
                let found = self.get(&request)?;
                if !actor.is_organiser() && actor.team != Some(found.team.as_str()) {
                    return Err(DomainError::Forbidden("organisers or the asking team resolve a request".into()));
                }
                if is_done(found) {
                    return Err(DomainError::Conflict("it is already closed".into()));
                }
                Ok(HelpEvent::Resolved { id: request })
            }
            HelpCommand::Cancel { request } => {
                let found = self.get(&request)?;
                if actor.team != Some(found.team.as_str()) {
                    return Err(DomainError::Forbidden("only the asking team cancels its request".into()));
                }
                if found.status != HelpStatus::Open {
                    return Err(DomainError::Conflict("only an open request can be cancelled".into()));
                }
                Ok(HelpEvent::Cancelled { id: request })
            }
        }
    }

    fn apply(&mut self, event: &HelpEvent, recorded: Recorded) {
        match event {
            HelpEvent::Asked { id, team, topic, location } => self.requests.push(HelpRequest {
                id: id.clone(),
                team: team.clone(),
                topic: topic.clone(),
                location: location.clone(),
                status: HelpStatus::Open,
                asked_by: recorded.by.to_string(),
                asked_at: recorded.ts,
                claimed_by: None,
                claimed_at: None,
                closed_at: None,
            }),
            HelpEvent::Claimed { id, by } => {
                if let Some(r) = self.requests.iter_mut().find(|r| r.id == *id) {
                    r.status = HelpStatus::Claimed;
                    r.claimed_by = Some(by.clone());
                    r.claimed_at = Some(recorded.ts);
                }
            }
            HelpEvent::Released { id } => {
                if let Some(r) = self.requests.iter_mut().find(|r| r.id == *id) {
                    r.status = HelpStatus::Open;
                    r.claimed_by = None;
                    r.claimed_at = None;
                }
            }
            HelpEvent::Resolved { id } | HelpEvent::Cancelled { id } => {
                if let Some(r) = self.requests.iter_mut().find(|r| r.id == *id) {
                    r.status = if matches!(event, HelpEvent::Resolved { .. }) {
                        HelpStatus::Resolved
                    } else {
                        HelpStatus::Cancelled
                    };
                    r.closed_at = Some(recorded.ts);
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

    fn asked() -> (HelpQueue, String) {
        let mut queue = HelpQueue::default();
        run(
            &mut queue,
            ADA,
            HelpCommand::Ask { topic: "Our Wi-Fi printer".into(), location: "Room 2, by the window".into() },
        )
        .expect("ask");
        let id = queue.requests[0].id.clone();
        (queue, id)
    }

    #[test]
    fn a_request_is_asked_claimed_and_resolved() {
        let (mut queue, id) = asked();
        assert_eq!(queue.requests[0].team, "t1");
        run(&mut queue, HOST, HelpCommand::Claim { request: id.clone() }).expect("claim");
        assert_eq!(queue.requests[0].claimed_by.as_deref(), Some("host"));
        run(&mut queue, ADA, HelpCommand::Resolve { request: id.clone() }).expect("the team says it is sorted");
        assert_eq!(queue.requests[0].status, HelpStatus::Resolved);
        assert!(
            matches!(run(&mut queue, HOST, HelpCommand::Claim { request: id }), Err(DomainError::Conflict(_))),
            "claiming a resolved request"
        );
    }

    #[test]
    fn only_teams_ask_only_organisers_claim_and_a_claim_is_exclusive() {
        let (mut queue, id) = asked();
        let teamless = Actor { id: "bo", role: Role::Participant, team: None };
        assert!(matches!(
            run(&mut queue, teamless, HelpCommand::Ask { topic: "x".into(), location: String::new() }),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            run(&mut queue, ADA, HelpCommand::Claim { request: id.clone() }),
            Err(DomainError::Forbidden(_))
        ));
        run(&mut queue, HOST, HelpCommand::Claim { request: id.clone() }).expect("claim");
        let other_host = Actor { id: "host2", role: Role::Organiser, team: None };
        assert!(matches!(
            run(&mut queue, other_host, HelpCommand::Claim { request: id.clone() }),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            run(&mut queue, other_host, HelpCommand::Release { request: id.clone() }),
            Err(DomainError::Conflict(_))
        ));
        run(&mut queue, HOST, HelpCommand::Release { request: id.clone() }).expect("release");
        assert_eq!(queue.requests[0].status, HelpStatus::Open);
        let outsider = Actor { id: "cy", role: Role::Participant, team: Some("t2") };
        assert!(matches!(
            run(&mut queue, outsider, HelpCommand::Cancel { request: id.clone() }),
            Err(DomainError::Forbidden(_))
        ));
        run(&mut queue, ADA, HelpCommand::Cancel { request: id }).expect("cancel");
        for _ in 0..MAX_OPEN_PER_TEAM {
            run(&mut queue, ADA, HelpCommand::Ask { topic: "more".into(), location: String::new() }).expect("ask");
        }
        assert!(matches!(
            run(&mut queue, ADA, HelpCommand::Ask { topic: "too many".into(), location: String::new() }),
            Err(DomainError::Conflict(_))
        ));
    }
}

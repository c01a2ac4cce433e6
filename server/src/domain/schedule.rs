//! The weekend's schedule: phases with a start and an end (briefing, making, lunch, show and tell),
//! edited live by organisers. Displays count down to the next phase from it.

use super::{Context, Domain, DomainError, Recorded, text};
pub use makeroom_protocol::schedule::{Phase, ScheduleCommand, ScheduleEvent};
use serde::Serialize;

pub const MAX_PHASES: usize = 100;

/// Phases in start order (ties broken by id, so every replica orders them alike).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub phases: Vec<Phase>,
}

fn checked(phase: Phase) -> Result<Phase, DomainError> {
    if phase.ends_at <= phase.starts_at {
        return Err(DomainError::Invalid("a phase must end after it starts".into()));
    }
    Ok(Phase { title: text(&phase.title, "a phase's title", 1, 80, false)?, ..phase })
}

impl Domain for Schedule {
    type Event = ScheduleEvent;
    type Command = ScheduleCommand;

    fn decide(&self, command: ScheduleCommand, context: &mut Context) -> Result<ScheduleEvent, DomainError> {
        if !context.actor.is_organiser() {
            return Err(DomainError::Forbidden("only organisers change the schedule".into()));
        }
        let find = |id: &str| {
            self.phases.iter().find(|p| p.id == id).ok_or_else(|| DomainError::NotFound(format!("phase `{id}`")))
        };
        match command {
            ScheduleCommand::Add { title, starts_at, ends_at } => {
                if self.phases.len() >= MAX_PHASES {
                    return Err(DomainError::Conflict(format!("a schedule holds at most {MAX_PHASES} phases")));
                }
                let phase = checked(Phase { id: (context.fresh_id)("ph"), title, starts_at, ends_at })?;
                Ok(ScheduleEvent::PhaseSet { phase })
            }
            ScheduleCommand::Edit { phase, title, starts_at, ends_at } => {
                let current = find(&phase)?.clone();
                let phase = checked(Phase {
                    id: current.id,
                    title: title.unwrap_or(current.title),
                    starts_at: starts_at.unwrap_or(current.starts_at),
                    ends_at: ends_at.unwrap_or(current.ends_at),
                })?;
                Ok(ScheduleEvent::PhaseSet { phase })
            }
            ScheduleCommand::Delete { phase } => {
                find(&phase)?;
                Ok(ScheduleEvent::PhaseDeleted { phase })
            }
        }
    }

    fn apply(&mut self, event: &ScheduleEvent, _recorded: Recorded) {
        match event {
            ScheduleEvent::PhaseSet { phase } => {
                self.phases.retain(|p| p.id != phase.id);
                self.phases.push(phase.clone());
                self.phases.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then_with(|| a.id.cmp(&b.id)));
            }
            ScheduleEvent::PhaseDeleted { phase } => self.phases.retain(|p| p.id != *phase),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::tests::run;
    use makeroom_protocol::Role;

    const HOST: Actor = Actor { id: "host", role: Role::Organiser, team: None };

    #[test]
    fn phases_stay_in_start_order_as_they_are_edited() {
        let mut schedule = Schedule::default();
        run(&mut schedule, HOST, ScheduleCommand::Add { title: "Show and tell".into(), starts_at: 500, ends_at: 600 })
            .expect("add");
        run(&mut schedule, HOST, ScheduleCommand::Add { title: "Briefing".into(), starts_at: 0, ends_at: 100 })
            .expect("add");
        assert_eq!(schedule.phases.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(), ["Briefing", "Show and tell"]);
        let show = schedule.phases[1].id.clone();
        run(
            &mut schedule,
            HOST,
            ScheduleCommand::Edit { phase: show.clone(), title: None, starts_at: Some(-50), ends_at: None },
        )
        .expect("move earlier");
        assert_eq!(schedule.phases[0].id, show);
        run(&mut schedule, HOST, ScheduleCommand::Delete { phase: show }).expect("delete");
        assert_eq!(schedule.phases.len(), 1);
    }

    #[test]
    fn bad_phases_and_non_organisers_are_refused() {
        let mut schedule = Schedule::default();
        let ada = Actor { id: "ada", role: Role::Participant, team: None };
        assert!(matches!(
            run(&mut schedule, ada, ScheduleCommand::Add { title: "Party".into(), starts_at: 0, ends_at: 1 }),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            run(&mut schedule, HOST, ScheduleCommand::Add { title: "Backwards".into(), starts_at: 10, ends_at: 5 }),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            run(&mut schedule, HOST, ScheduleCommand::Delete { phase: "ph_x".into() }),
            Err(DomainError::NotFound(_))
        ));
    }
}

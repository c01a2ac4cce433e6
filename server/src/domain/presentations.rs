//! The final show and tell: a running order of teams, a slot length, and the presenting team's timer.
//!
//! Every change is recorded as an event and pushed as state with server timestamps (when the slot
//! started, when it was paused, how much it was extended), never as ticks. Any screen computes the
//! same remaining time from its estimate of the server's clock with `Presentations::remaining_ms`,
//! and a tab that slept shows the right time the moment it wakes.

use super::{Context, Domain, DomainError, Recorded};
pub use makeroom_protocol::presentations::{PresentationCommand, PresentationEvent};
use serde::Serialize;

pub const DEFAULT_SLOT_MS: i64 = 5 * 60 * 1000;
pub const DEFAULT_WARNING_MS: i64 = 60 * 1000;
const MAX_SLOT_MS: i64 = 60 * 60 * 1000;

/// The team presenting now and its clock, in server milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub index: usize,
    pub team: String,
    pub started_at: i64,
    /// Set while paused.
    pub paused_at: Option<i64>,
    /// Time spent paused before the current pause.
    pub paused_ms: i64,
    pub extended_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Presentations {
    pub order: Vec<String>,
    pub slot_ms: i64,
    /// How long before the end the presenting team is warned.
    pub warning_ms: i64,
    pub current: Option<Slot>,
    pub finished: bool,
}

impl Default for Presentations {
    fn default() -> Self {
        Presentations {
            order: Vec::new(),
            slot_ms: DEFAULT_SLOT_MS,
            warning_ms: DEFAULT_WARNING_MS,
            current: None,
            finished: false,
        }
    }
}

impl Presentations {
    /// Milliseconds left in the current slot at server time `now` (negative once over time).
    pub fn remaining_ms(&self, now: i64) -> Option<i64> {
        let slot = self.current.as_ref()?;
        let clock = slot.paused_at.unwrap_or(now);
        let elapsed = clock - slot.started_at - slot.paused_ms;
        Some(self.slot_ms + slot.extended_ms - elapsed)
    }
}

impl Domain for Presentations {
    type Event = PresentationEvent;
    type Command = PresentationCommand;

    fn decide(&self, command: PresentationCommand, context: &mut Context) -> Result<PresentationEvent, DomainError> {
        if !context.actor.is_organiser() {
            return Err(DomainError::Forbidden("only organisers run the presentations".into()));
        }
        let running = || self.current.as_ref().ok_or_else(|| DomainError::Conflict("no team is presenting".into()));
        match command {
            PresentationCommand::Order { teams } => {
                for team in &teams {
                    if !(context.is_team)(team) {
                        return Err(DomainError::NotFound(format!("team `{team}`")));
                    }
                }
                let mut unique = teams.clone();
                unique.sort();
                unique.dedup();
                if unique.len() != teams.len() {
                    return Err(DomainError::Invalid("a team presents once".into()));
                }
                if let Some(slot) = &self.current
                    && !teams.contains(&slot.team)
                {
                    return Err(DomainError::Conflict("the presenting team must stay in the running order".into()));
                }
                Ok(PresentationEvent::OrderSet { teams })
            }
            PresentationCommand::Slot { slot_ms, warning_ms } => {
                if !(60_000..=MAX_SLOT_MS).contains(&slot_ms) {
                    return Err(DomainError::Invalid("a slot lasts 1 to 60 minutes".into()));
                }
                let warning_ms = warning_ms.unwrap_or(self.warning_ms);
                if !(0..slot_ms).contains(&warning_ms) {
                    return Err(DomainError::Invalid("the warning comes within the slot".into()));
                }
                Ok(PresentationEvent::SlotSet { slot_ms, warning_ms })
            }
            PresentationCommand::Start { index } => {
                let index = index.unwrap_or(0);
                if index >= self.order.len() {
                    return Err(DomainError::NotFound(format!("place {index} in the running order")));
                }
                Ok(PresentationEvent::Started { index })
            }
            PresentationCommand::Pause {} => match running()?.paused_at {
                Some(_) => Err(DomainError::Conflict("already paused".into())),
                None => Ok(PresentationEvent::Paused),
            },
            PresentationCommand::Resume {} => match running()?.paused_at {
                Some(_) => Ok(PresentationEvent::Resumed),
                None => Err(DomainError::Conflict("not paused".into())),
            },
            PresentationCommand::Extend { ms } => {
                running()?;
                if !(1..=MAX_SLOT_MS).contains(&ms) {
                    return Err(DomainError::Invalid("extend by a positive time of at most an hour".into()));
                }
                Ok(PresentationEvent::Extended { ms })
            }
            PresentationCommand::Next {} => match &self.current {
                None if self.order.is_empty() => Err(DomainError::Conflict("the running order is empty".into())),
                None => Ok(PresentationEvent::Started { index: 0 }),
                Some(slot) if slot.index + 1 < self.order.len() => {
                    Ok(PresentationEvent::Started { index: slot.index + 1 })
                }
                Some(_) => Ok(PresentationEvent::Finished),
            },
            PresentationCommand::Stop {} => {
                running()?;
                Ok(PresentationEvent::Finished)
            }
        }
    }

    fn apply(&mut self, event: &PresentationEvent, recorded: Recorded) {
        let now = recorded.ts;
        match event {
            PresentationEvent::OrderSet { teams } => {
                self.order = teams.clone();
                if let Some(slot) = &mut self.current {
                    match teams.iter().position(|t| *t == slot.team) {
                        Some(index) => slot.index = index,
                        None => self.current = None,
                    }
                }
            }
            PresentationEvent::SlotSet { slot_ms, warning_ms } => {
                self.slot_ms = *slot_ms;
                self.warning_ms = *warning_ms;
            }
            PresentationEvent::Started { index } => {
                if let Some(team) = self.order.get(*index) {
                    self.current = Some(Slot {
                        index: *index,
                        team: team.clone(),
                        started_at: now,
                        paused_at: None,
                        paused_ms: 0,
                        extended_ms: 0,
                    });
                    self.finished = false;
                }
            }
            PresentationEvent::Paused => {
                if let Some(slot) = &mut self.current {
                    slot.paused_at = Some(now);
                }
            }
            PresentationEvent::Resumed => {
                if let Some(slot) = &mut self.current
                    && let Some(paused_at) = slot.paused_at.take()
                {
                    slot.paused_ms += now - paused_at;
                }
            }
            PresentationEvent::Extended { ms } => {
                if let Some(slot) = &mut self.current {
                    slot.extended_ms += ms;
                }
            }
            PresentationEvent::Finished => {
                self.current = None;
                self.finished = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use crate::domain::tests::{run, run_at};
    use makeroom_protocol::Role;

    const HOST: Actor = Actor { id: "host", role: Role::Organiser, team: None };

    fn show() -> Presentations {
        let mut show = Presentations::default();
        run(&mut show, HOST, PresentationCommand::Order { teams: vec!["t1".into(), "t2".into()] }).expect("order");
        show
    }

    #[test]
    fn the_timer_is_computed_from_server_timestamps_through_pause_resume_and_extend() {
        let mut show = show();
        run_at(&mut show, HOST, PresentationCommand::Start { index: None }, 1_000).expect("start");
        assert_eq!(show.remaining_ms(1_000 + 60_000), Some(DEFAULT_SLOT_MS - 60_000));
        run_at(&mut show, HOST, PresentationCommand::Pause {}, 61_000).expect("pause");
        assert_eq!(show.remaining_ms(500_000), Some(DEFAULT_SLOT_MS - 60_000), "a paused clock stands still");
        run_at(&mut show, HOST, PresentationCommand::Resume {}, 121_000).expect("resume");
        run_at(&mut show, HOST, PresentationCommand::Extend { ms: 30_000 }, 130_000).expect("extend");
        assert_eq!(show.remaining_ms(181_000), Some(DEFAULT_SLOT_MS + 30_000 - 120_000));
        run_at(&mut show, HOST, PresentationCommand::Next {}, 200_000).expect("next");
        assert_eq!(show.current.as_ref().map(|s| s.team.as_str()), Some("t2"));
        assert_eq!(show.remaining_ms(200_000), Some(DEFAULT_SLOT_MS));
        run_at(&mut show, HOST, PresentationCommand::Next {}, 300_000).expect("finish");
        assert!(show.finished && show.current.is_none());
    }

    #[test]
    fn bad_running_orders_and_bad_timer_commands_change_nothing() {
        let mut show = show();
        let before = show.clone();
        assert!(matches!(
            run(&mut show, HOST, PresentationCommand::Order { teams: vec!["t_ghost".into()] }),
            Err(DomainError::NotFound(_))
        ));
        assert!(matches!(
            run(&mut show, HOST, PresentationCommand::Order { teams: vec!["t1".into(), "t1".into()] }),
            Err(DomainError::Invalid(_))
        ));
        assert!(
            matches!(run(&mut show, HOST, PresentationCommand::Extend { ms: 10 }), Err(DomainError::Conflict(_))),
            "nothing running"
        );
        assert!(matches!(run(&mut show, HOST, PresentationCommand::Pause {}), Err(DomainError::Conflict(_))));
        assert!(matches!(
            run(&mut show, HOST, PresentationCommand::Start { index: Some(5) }),
            Err(DomainError::NotFound(_))
        ));
        assert!(matches!(
            run(&mut show, HOST, PresentationCommand::Slot { slot_ms: 10, warning_ms: None }),
            Err(DomainError::Invalid(_))
        ));
        let ada = Actor { id: "ada", role: Role::Participant, team: Some("t1") };
        assert!(matches!(run(&mut show, ada, PresentationCommand::Next {}), Err(DomainError::Forbidden(_))));
        assert_eq!(show, before);
        run(&mut show, HOST, PresentationCommand::Start { index: None }).expect("start");
        assert!(
            matches!(run(&mut show, HOST, PresentationCommand::Extend { ms: -60_000 }), Err(DomainError::Invalid(_))),
            "negative extend"
        );
        assert!(matches!(
            run(&mut show, HOST, PresentationCommand::Order { teams: vec!["t2".into()] }),
            Err(DomainError::Conflict(_))
        ));
        run(&mut show, HOST, PresentationCommand::Order { teams: vec!["t2".into(), "t1".into()] })
            .expect("reorder while running");
        assert_eq!(show.current.as_ref().map(|s| s.index), Some(1), "the presenting team keeps presenting");
    }
}

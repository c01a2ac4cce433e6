//! The event itself, as pure rules: channels and who may use them (`access`), chat messages, the roster (people
//! and teams), briefs and task boards. No async, no sockets, no storage: every rule is a function of
//! state and input, unit-tested alone. Transport calls these rules; stores only keep what they return.
//!
//! Each stateful part follows one pattern (`Domain`): `decide(state, command)` checks a command and
//! returns the one event to record, or a `DomainError` that changes nothing; `apply(state, event)`
//! folds a recorded event in and never fails. Every replica that applies the same log in the same
//! order holds the same state, which is what makes concurrent edits from many phones converge.
//!
//! The commands and events themselves are wire types, defined in the protocol crate (one module per
//! state channel) and re-exported by each module here; what is here is the state and the rules.

pub mod access;
pub mod announcements;
pub mod board;
pub mod brief;
pub mod channel;
pub mod chat;
pub mod help;
pub mod outputs;
pub mod presentations;
pub mod roster;
pub mod schedule;
pub mod time_zone;

use makeroom_protocol::Role;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why the domain refused an operation. Mapped to protocol error codes at the transport boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
}

/// Who is acting, as far as the rules care.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: &'a str,
    pub role: Role,
    /// Their team now.
    pub team: Option<&'a str>,
}

impl Actor<'_> {
    pub fn is_organiser(&self) -> bool {
        self.role == Role::Organiser
    }
}

/// What a decision may need besides the state itself.
pub struct Context<'a> {
    pub actor: Actor<'a>,
    /// Whether `id` is someone active at this event (for assignees and brief owners).
    pub is_participant: &'a dyn Fn(&str) -> bool,
    /// Whether `id` is a brief of this event (for teams formed around one).
    pub is_brief: &'a dyn Fn(&str) -> bool,
    /// Whether `id` is an open (not archived) team of this event.
    pub is_team: &'a dyn Fn(&str) -> bool,
    /// Makes a fresh id with a prefix, for what a command creates (random in the server).
    pub fresh_id: &'a mut dyn FnMut(&str) -> String,
}

/// Where and by whom an event was recorded.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub offset: u64,
    pub ts: i64,
    pub by: &'a str,
}

/// A stateful part of an event, kept as a log of its events.
pub trait Domain: Clone + Serialize + Send + Sync + 'static {
    type Event: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync;
    /// Its channel's commands, as they come out of the wire's `DomainCommand`.
    type Command: TryFrom<makeroom_protocol::DomainCommand, Error = makeroom_protocol::DomainCommand>
        + DeserializeOwned
        + Clone;

    fn decide(&self, command: Self::Command, context: &mut Context) -> Result<Self::Event, DomainError>;

    fn apply(&mut self, event: &Self::Event, recorded: Recorded);
}

/// A trimmed text of `min..=max` characters without control characters (newlines allowed if `multiline`).
pub fn text(value: &str, what: &str, min: usize, max: usize, multiline: bool) -> Result<String, DomainError> {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length < min {
        return Err(DomainError::Invalid(if min == 1 {
            format!("{what} cannot be empty")
        } else {
            format!("{what} needs at least {min} characters")
        }));
    }
    if length > max {
        return Err(DomainError::Invalid(format!("{what} holds at most {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r'))) {
        return Err(DomainError::Invalid(format!("{what} cannot hold control characters")));
    }
    Ok(trimmed.to_string())
}

/// The Welsh text beside an English one (an event's name, a brief's title, an announcement), as a
/// command gives it: absent keeps `current`, blank removes it, anything else must pass `check` as the
/// English text does. Every bilingual field goes through here, so they all behave alike.
pub fn welsh_text<T: Clone>(
    given: Option<String>,
    current: Option<&T>,
    check: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, DomainError> {
    match given {
        None => Ok(current.cloned()),
        Some(value) if value.trim().is_empty() => Ok(None),
        Some(value) => check(&value).map(Some),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

    /// Decides `command` as `actor` and applies the event at server time `ts`. In this little world
    /// everyone but `ghost` is a participant, briefs start with `b`, and teams are `t1`, `t2`, `t3`.
    pub fn run_at<D: Domain>(
        state: &mut D,
        actor: Actor,
        command: D::Command,
        ts: i64,
    ) -> Result<D::Event, DomainError> {
        let is_participant = |id: &str| id != "ghost";
        let is_brief = |id: &str| id.starts_with('b');
        let is_team = |id: &str| ["t1", "t2", "t3"].contains(&id);
        let mut fresh_id = |prefix: &str| format!("{prefix}{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let mut context = Context {
            actor,
            is_participant: &is_participant,
            is_brief: &is_brief,
            is_team: &is_team,
            fresh_id: &mut fresh_id,
        };
        let event = state.decide(command, &mut context)?;
        state.apply(&event, Recorded { offset: 1, ts, by: actor.id });
        Ok(event)
    }

    pub fn run<D: Domain>(state: &mut D, actor: Actor, command: D::Command) -> Result<D::Event, DomainError> {
        run_at(state, actor, command, 0)
    }

    /// Parses `text` as a command of `D` and runs it on `state` as each kind of person: a refusal
    /// must leave the state exactly as it was, and nothing may panic.
    fn poke<D: Domain + PartialEq + std::fmt::Debug>(state: &mut D, text: &str) {
        for actor in [
            Actor { id: "host", role: makeroom_protocol::Role::Organiser, team: None },
            Actor { id: "ada", role: makeroom_protocol::Role::Participant, team: Some("t1") },
            Actor { id: "d1", role: makeroom_protocol::Role::Display, team: None },
        ] {
            let Ok(command) = serde_json::from_str::<D::Command>(text) else { return };
            let before = state.clone();
            if run(state, actor, command).is_err() {
                assert_eq!(*state, before, "a refused command changed the state");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1500, ..Default::default() })]

        /// A short, bounded fuzz run of every domain's commands (the long one: `cargo fuzz run
        /// commands`): random commands of the right shape, with random fields, never panic, and a
        /// refusal never changes anything.
        #[test]
        fn random_commands_are_applied_or_refused_cleanly(
            kind in "(card|column|brief|team|event|skills|participant|announcement|phase|presentations|help|output)\\.(add|edit|move|delete|rename|create|fork|join|leave|needs|archive|update|set|remove|post|pin|unpin|ack|retract|order|slot|start|pause|resume|extend|next|stop|ask|claim|release|resolve|cancel|save)",
            id in "(c1|c2|col3|todo|done|b1|t1|t9|a1|ph1|h1|ghost|)",
            text in "\\PC{0,30}",
            number in -5i64..100_000_000,
        ) {
            let command = serde_json::json!({
                "type": kind, "card": id, "column": id, "brief": id, "team": id, "participant": id,
                "announcement": id, "phase": id, "request": id, "title": text, "name": text, "body": text,
                "text": text, "partner": text, "topic": text, "notes": text, "index": number.max(0),
                "revision": number.max(0) % 4, "ms": number, "slot_ms": number, "starts_at": number,
                "ends_at": number / 2, "priority": "urgent", "pinned": number % 2 == 0, "teams": [id, "t2"], "skills": [text],
                "needs": [text], "links": [text], "assignee": id,
            })
            .to_string();
            let mut board = board::Board::new("t1");
            poke(&mut board, r#"{"type":"card.add","title":"seed"}"#);
            poke(&mut board, &command);
            let mut briefs = brief::Briefs::default();
            poke(&mut briefs, r#"{"type":"brief.create","title":"Seed","partner":"Council"}"#);
            poke(&mut briefs, &command);
            let mut roster = roster::Roster::new(roster::Name::try_from("Weekend".to_string()).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?);
            poke(&mut roster, &command);
            poke(&mut announcements::Announcements::default(), &command);
            poke(&mut schedule::Schedule::default(), &command);
            poke(&mut presentations::Presentations::default(), &command);
            poke(&mut help::HelpQueue::default(), &command);
            poke(&mut outputs::Outputs::default(), &command);
        }
    }
}

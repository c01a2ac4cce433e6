//! The events this instance serves, each with its roster, briefs and boards, kept in memory and
//! recorded in channel logs.
//!
//! `_/events` logs every event created. Each event then has one log per stateful part: `roster`,
//! `briefs` and `board:{team}`. At start-up the logs are read back and folded, so a restart keeps
//! every event, join code, participant, brief revision and card (and a removed participant stays
//! removed). A change goes through `StateLog::record`: the domain decides against the state, the store
//! appends with compare-and-append on the log's offset, and only then does the state in memory move.
//! If another writer moved the log on meanwhile, the state catches up and the domain decides again.

use crate::clock::now_millis;
use crate::domain::announcements::Announcements;
use crate::domain::board::Board;
use crate::domain::brief::Briefs;
use crate::domain::channel::Channel;
use crate::domain::help::HelpQueue;
use crate::domain::outputs::Outputs;
use crate::domain::presentations::Presentations;
use crate::domain::roster::{self, EventInfo, Name, NewParticipant, Participant, Roster, RosterCommand};
use crate::domain::schedule::Schedule;
use crate::domain::{Actor, Context, Domain, DomainError, Recorded};
use crate::error::AppError;
use crate::ids::{new_id, new_join_code};
use crate::store::{AppendRequest, Appended, ChannelKey, Store, StoreError};
use anyhow::Context as _;
use makeroom_protocol::{Publication, Role, Sender};
use serde_json::value::to_raw_value;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, RwLock, RwLockReadGuard};

const PAGE: u64 = 1000;
/// Compare-and-append attempts before giving up on a busy log.
const ATTEMPTS: usize = 5;

/// The server-wide log of events created.
const REGISTRY: &str = "_/events";

fn registry_key() -> ChannelKey {
    ChannelKey::new("_", "events")
}

/// A state log as the hub keeps it in step and a late joiner loads it, whatever its domain.
pub trait Follow: Send + Sync {
    fn observe(&self, publication: &Publication) -> bool;
    /// The state as JSON and the offset it reflects.
    fn snapshot(&self) -> Result<(u64, Box<serde_json::value::RawValue>), serde_json::Error>;
    fn catch_up<'a>(&'a self, store: &'a dyn Store) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;
}

impl<D: Domain> Follow for StateLog<D> {
    fn observe(&self, publication: &Publication) -> bool {
        StateLog::observe(self, publication)
    }

    fn snapshot(&self) -> Result<(u64, Box<serde_json::value::RawValue>), serde_json::Error> {
        let state = self.state();
        Ok((state.offset(), to_raw_value(&*state)?))
    }

    fn catch_up<'a>(&'a self, store: &'a dyn Store) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        Box::pin(StateLog::catch_up(self, store))
    }
}

/// One of an event's state logs: a field of the event, or a board loaded on demand.
pub enum Followed<'a> {
    Field(&'a (dyn Follow + 'static)),
    Board(Arc<StateLog<Board>>),
}

impl Deref for Followed<'_> {
    type Target = dyn Follow;
    fn deref(&self) -> &(dyn Follow + 'static) {
        match self {
            Followed::Field(log) => *log,
            Followed::Board(board) => board.as_ref(),
        }
    }
}

/// The server itself, as the sender of what it records.
pub fn system_sender() -> Sender {
    Sender { id: "system".into(), name: "Makeroom".into(), role: Role::Organiser }
}

/// Every publication of `key` after `after`, read a page at a time.
pub async fn read_all(store: &dyn Store, key: &ChannelKey, after: u64) -> Result<Vec<Publication>, StoreError> {
    let mut all = Vec::new();
    let mut after = after;
    loop {
        let slice = store.read_after(key, after, PAGE).await?;
        let done = slice.publications.len() < PAGE as usize;
        if let Some(last) = slice.publications.last() {
            after = last.offset;
        }
        all.extend(slice.publications);
        if done {
            return Ok(all);
        }
    }
}

/// A state and the log offset it reflects.
pub struct Versioned<D> {
    pub state: D,
    pub offset: u64,
}

/// Read access to a log's state.
pub struct StateGuard<'a, D>(RwLockReadGuard<'a, Versioned<D>>);

impl<D> Deref for StateGuard<'_, D> {
    type Target = D;
    fn deref(&self) -> &D {
        &self.0.state
    }
}

impl<D> StateGuard<'_, D> {
    pub fn offset(&self) -> u64 {
        self.0.offset
    }
}

/// The result of recording a command.
pub struct Outcome<E> {
    pub appended: Appended,
    /// The event recorded now; `None` if the idempotency key had already been used.
    pub event: Option<E>,
}

/// One stateful part of an event and the log it is folded from.
pub struct StateLog<D: Domain> {
    key: ChannelKey,
    inner: RwLock<Versioned<D>>,
    /// Serializes this instance's writes to the log so they do not race each other's offsets.
    writing: tokio::sync::Mutex<()>,
}

impl<D: Domain> StateLog<D> {
    /// Folds the whole log of `key` into `initial`, and keeps following it: the store is asked to
    /// deliver the log's new entries (from any instance) before the log is read, so none falls between.
    pub async fn load(store: &dyn Store, key: ChannelKey, initial: D) -> anyhow::Result<Self> {
        store.watch(&key).await?;
        let log =
            StateLog { key, inner: RwLock::new(Versioned { state: initial, offset: 0 }), writing: Default::default() };
        log.catch_up(store).await?;
        Ok(log)
    }

    /// Applies a publication of this log seen on the hub (recorded here or by another instance).
    /// Returns false if it revealed a gap, which a `catch_up` must fill.
    pub fn observe(&self, publication: &Publication) -> bool {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if publication.offset <= inner.offset {
            return true;
        }
        if publication.offset > inner.offset + 1 {
            return false;
        }
        match serde_json::from_str::<D::Event>(publication.data.get()) {
            Ok(event) => {
                inner.state.apply(
                    &event,
                    Recorded { offset: publication.offset, ts: publication.ts, by: &publication.from.id },
                );
                inner.offset = publication.offset;
                true
            }
            Err(err) => {
                tracing::error!(key = %self.key, offset = publication.offset, error = %err, "an unreadable state event");
                false
            }
        }
    }

    pub fn key(&self) -> &ChannelKey {
        &self.key
    }

    pub fn state(&self) -> StateGuard<'_, D> {
        StateGuard(self.inner.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Applies whatever the log holds beyond the state.
    async fn catch_up(&self, store: &dyn Store) -> anyhow::Result<()> {
        let after = self.state().offset();
        let publications = read_all(store, &self.key, after).await?;
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for publication in publications {
            if publication.offset != inner.offset + 1 {
                continue;
            }
            let event: D::Event = serde_json::from_str(publication.data.get())
                .with_context(|| format!("{} record {} is unreadable", self.key, publication.offset))?;
            let recorded = Recorded { offset: publication.offset, ts: publication.ts, by: &publication.from.id };
            inner.state.apply(&event, recorded);
            inner.offset = publication.offset;
        }
        Ok(())
    }

    /// Decides one event against the latest state and records it. With an idempotency key that was
    /// already used on this log, records nothing and returns the original offset.
    pub async fn record(
        &self,
        store: &dyn Store,
        by: &Sender,
        idempotency_key: Option<String>,
        decide: impl Fn(&D) -> Result<D::Event, DomainError>,
    ) -> Result<Outcome<D::Event>, AppError> {
        let _writing = self.writing.lock().await;
        // A retry after a lost reply must get the original answer, not a refusal of the repeat
        // (say, deleting a card that its first try already deleted).
        if let Some(idempotency_key) = &idempotency_key
            && let Some(appended) = store.find_key(&self.key, idempotency_key).await?
        {
            return Ok(Outcome { appended, event: None });
        }
        for _ in 0..ATTEMPTS {
            let (event, expected) = {
                let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
                (decide(&inner.state)?, inner.offset)
            };
            let appended = store
                .append(AppendRequest {
                    key: self.key.clone(),
                    data: to_raw_value(&event).context("encoding an event")?,
                    from: by.clone(),
                    idempotency_key: idempotency_key.clone(),
                    expected_offset: Some(expected),
                    retain: None,
                })
                .await;
            match appended {
                Ok(appended) if appended.duplicate => {
                    return Ok(Outcome { appended, event: None });
                }
                Ok(appended) => {
                    // The hub may have applied it already (it sees every committed publication).
                    let behind = {
                        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
                        if inner.offset + 1 == appended.offset {
                            inner
                                .state
                                .apply(&event, Recorded { offset: appended.offset, ts: appended.ts, by: &by.id });
                            inner.offset = appended.offset;
                        }
                        inner.offset < appended.offset
                    };
                    if behind {
                        self.catch_up(store).await?;
                    }
                    return Ok(Outcome { appended, event: Some(event) });
                }
                Err(StoreError::Conflict { .. }) => self.catch_up(store).await?,
                Err(err) => return Err(err.into()),
            }
        }
        Err(AppError::Domain(DomainError::Conflict(format!("{} is changing too fast; try again", self.key.name()))))
    }
}

pub struct EventEntry {
    pub info: EventInfo,
    pub roster: StateLog<Roster>,
    pub announcements: StateLog<Announcements>,
    pub briefs: StateLog<Briefs>,
    pub schedule: StateLog<Schedule>,
    pub presentations: StateLog<Presentations>,
    pub help: StateLog<HelpQueue>,
    pub outputs: StateLog<Outputs>,
    /// Loaded boards. A plain lock held only to look up or insert, so the hub's observer (which must
    /// not wait) always finds a loaded board.
    boards: std::sync::Mutex<HashMap<String, Arc<StateLog<Board>>>>,
}

impl EventEntry {
    async fn load(store: &dyn Store, info: EventInfo) -> anyhow::Result<Self> {
        let key = |name: &str| ChannelKey::new(&info.id, name);
        Ok(EventEntry {
            roster: StateLog::load(store, key("roster"), Roster::new(info.name.clone())).await?,
            announcements: StateLog::load(store, key("announcements"), Announcements::default()).await?,
            briefs: StateLog::load(store, key("briefs"), Briefs::default()).await?,
            schedule: StateLog::load(store, key("schedule"), Schedule::default()).await?,
            presentations: StateLog::load(store, key("presentations"), Presentations::default()).await?,
            help: StateLog::load(store, key("help"), HelpQueue::default()).await?,
            outputs: StateLog::load(store, key("outputs"), Outputs::default()).await?,
            boards: Default::default(),
            info,
        })
    }

    /// Reads the roster's newest entries if `participant` is not in it yet: in a cluster, someone who
    /// joined through another instance a moment ago may not have reached this one by pub/sub.
    pub async fn ensure_known(&self, store: &dyn Store, participant: &str) -> Result<(), AppError> {
        if !self.roster().participants.contains_key(participant) {
            self.roster.catch_up(store).await?;
        }
        Ok(())
    }

    /// The event's name as it now stands (organisers may rename it).
    pub fn name(&self) -> String {
        self.roster().event.name.as_str().to_string()
    }

    pub fn roster(&self) -> StateGuard<'_, Roster> {
        self.roster.state()
    }

    pub fn channel_key(&self, name: &str) -> ChannelKey {
        ChannelKey::new(&self.info.id, name)
    }

    /// A team's board if it was loaded already (without waiting).
    fn loaded_board(&self, team: &str) -> Option<Arc<StateLog<Board>>> {
        self.boards.lock().unwrap_or_else(|p| p.into_inner()).get(team).cloned()
    }

    /// The state log behind `channel` on this instance (boards only once loaded), whatever its domain.
    pub fn followed(&self, channel: &Channel) -> Option<Followed<'_>> {
        let log: &(dyn Follow + 'static) = match channel {
            Channel::Roster => &self.roster,
            Channel::Announcements => &self.announcements,
            Channel::Briefs => &self.briefs,
            Channel::Schedule => &self.schedule,
            Channel::Presentations => &self.presentations,
            Channel::Help => &self.help,
            Channel::Outputs => &self.outputs,
            Channel::Board(team) => return self.loaded_board(team).map(Followed::Board),
            Channel::Lobby | Channel::Team(_) => return None,
        };
        Some(Followed::Field(log))
    }

    /// A team's board, read from its log the first time it is needed.
    pub async fn board(&self, store: &dyn Store, team: &str) -> Result<Arc<StateLog<Board>>, AppError> {
        if !self.roster().teams.contains_key(team) {
            return Err(DomainError::NotFound(format!("team `{team}`")).into());
        }
        if let Some(board) = self.loaded_board(team) {
            return Ok(board);
        }
        let key = self.channel_key(&format!("board:{team}"));
        let loaded = Arc::new(StateLog::load(store, key, Board::new(team)).await?);
        // If two requests loaded it at once, the first inserted wins (the other copy is dropped).
        let board =
            self.boards.lock().unwrap_or_else(|p| p.into_inner()).entry(team.to_string()).or_insert(loaded).clone();
        // What was published between its load and its insertion passed the observer by.
        board.catch_up(store).await?;
        Ok(board)
    }

    /// Decides and records `command` on `log` as `who`, with the facts about the event the rules need.
    pub async fn command<D: Domain>(
        &self,
        store: &dyn Store,
        log: &StateLog<D>,
        who: &Sender,
        command: D::Command,
        idempotency_key: Option<String>,
    ) -> Result<Outcome<D::Event>, AppError>
    where
        D::Command: Clone,
    {
        // The rules look people, teams and briefs up as they decide. Those lookups read the roster and
        // the briefs as they stand, except while deciding on that very log (its lock is held then):
        // for those, the facts are copied first. Copying for every command would cost the size of the
        // event each time.
        let team = self.roster().team_of(&who.id).map(str::to_string);
        let deciding_roster = std::ptr::addr_eq(log as *const StateLog<D>, &self.roster as *const StateLog<Roster>);
        let deciding_briefs = std::ptr::addr_eq(log as *const StateLog<D>, &self.briefs as *const StateLog<Briefs>);
        let roster_copy: Option<(HashSet<String>, HashSet<String>)> = deciding_roster.then(|| {
            let roster = self.roster();
            let people = roster.participants.values().filter(|p| can_be_named(p)).map(|p| p.id.clone()).collect();
            let teams = roster.teams.values().filter(|t| !t.archived).map(|t| t.id.clone()).collect();
            (people, teams)
        });
        let briefs_copy: Option<HashSet<String>> =
            deciding_briefs.then(|| self.briefs.state().briefs.keys().cloned().collect());
        let is_participant = |id: &str| match &roster_copy {
            Some((people, _)) => people.contains(id),
            None => self.roster().participants.get(id).is_some_and(can_be_named),
        };
        let is_team = |id: &str| match &roster_copy {
            Some((_, teams)) => teams.contains(id),
            None => self.roster().teams.get(id).is_some_and(|t| !t.archived),
        };
        let is_brief = |id: &str| match &briefs_copy {
            Some(briefs) => briefs.contains(id),
            None => self.briefs.state().briefs.contains_key(id),
        };
        log.record(store, who, idempotency_key, |state| {
            let actor = Actor { id: &who.id, role: who.role, team: team.as_deref() };
            let mut fresh_id = |prefix: &str| new_id(prefix);
            let mut context = Context {
                actor,
                is_participant: &is_participant,
                is_brief: &is_brief,
                is_team: &is_team,
                fresh_id: &mut fresh_id,
            };
            state.decide(command.clone(), &mut context)
        })
        .await
    }
}

/// Someone who can own a brief or be assigned a card: an active organiser or participant.
fn can_be_named(participant: &Participant) -> bool {
    !participant.removed && participant.role != Role::Display
}

pub struct EventDirectory {
    store: Arc<dyn Store>,
    events: RwLock<HashMap<String, Arc<EventEntry>>>,
    registry: tokio::sync::Mutex<u64>,
    /// Where catch-ups run when a publication reveals a gap (the hub may call from a plain thread).
    runtime: tokio::runtime::Handle,
    this: std::sync::Weak<EventDirectory>,
}

impl EventDirectory {
    /// Reads every event and its logs back from the store.
    pub async fn load(store: Arc<dyn Store>) -> anyhow::Result<Arc<Self>> {
        store.watch(&registry_key()).await?;
        let mut events = HashMap::new();
        let created = read_all(store.as_ref(), &registry_key(), 0).await.context("reading the event registry")?;
        let registry_offset = created.last().map(|p| p.offset).unwrap_or(0);
        for publication in created {
            let info: EventInfo = serde_json::from_str(publication.data.get())
                .with_context(|| format!("event record {} is unreadable", publication.offset))?;
            let entry = EventEntry::load(store.as_ref(), info).await?;
            events.insert(entry.info.id.clone(), Arc::new(entry));
        }
        Ok(Arc::new_cyclic(|this| EventDirectory {
            store,
            events: RwLock::new(events),
            registry: tokio::sync::Mutex::new(registry_offset),
            runtime: tokio::runtime::Handle::current(),
            this: this.clone(),
        }))
    }

    fn insert(&self, entry: Arc<EventEntry>) {
        self.events.write().unwrap_or_else(|p| p.into_inner()).entry(entry.info.id.clone()).or_insert(entry);
    }
}

impl EventDirectory {
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn get(&self, id: &str) -> Option<Arc<EventEntry>> {
        self.events.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    pub fn by_join_code(&self, code: &str) -> Option<Arc<EventEntry>> {
        let code = code.trim().to_ascii_uppercase();
        self.events.read().unwrap_or_else(|p| p.into_inner()).values().find(|e| e.info.join_code == code).cloned()
    }

    /// Every event, oldest first.
    pub fn list(&self) -> Vec<Arc<EventEntry>> {
        let mut all: Vec<_> = self.events.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        all.sort_by_key(|e| e.info.created_at);
        all
    }

    pub async fn create_event(&self, name: Name) -> Result<Arc<EventEntry>, AppError> {
        let mut registry = self.registry.lock().await;
        let info = EventInfo { id: new_id("e"), name, join_code: self.unused_join_code(), created_at: now_millis() };
        let appended = self
            .store
            .append(AppendRequest {
                key: registry_key(),
                data: to_raw_value(&info).context("encoding an event")?,
                from: system_sender(),
                idempotency_key: None,
                expected_offset: Some(*registry),
                retain: None,
            })
            .await?;
        *registry = appended.offset;
        let id = info.id.clone();
        self.insert(Arc::new(EventEntry::load(self.store.as_ref(), info).await?));
        self.get(&id).context("an event vanished right after it was created").map_err(Into::into)
    }

    fn unused_join_code(&self) -> String {
        loop {
            let code = new_join_code();
            if self.by_join_code(&code).is_none() {
                return code;
            }
        }
    }

    /// Adds someone to an event (`by` someone else, or `None` when they join themselves) and returns
    /// them as recorded.
    pub async fn add_participant(
        &self,
        event: &EventEntry,
        by: Option<&Sender>,
        name: Name,
        role: Role,
        skills: Vec<String>,
        team: Option<String>,
    ) -> Result<Participant, AppError> {
        let id = new_id(match role {
            Role::Organiser => "o",
            Role::Participant => "p",
            Role::Display => "d",
        });
        // Someone joining by themselves is the sender of their own join.
        let by = by.cloned().unwrap_or_else(|| Sender { id: id.clone(), name: name.as_str().to_string(), role });
        event
            .roster
            .record(self.store(), &by, None, |roster| {
                roster::decide_join(
                    roster,
                    NewParticipant {
                        id: id.clone(),
                        name: name.clone(),
                        role,
                        skills: skills.clone(),
                        team: team.clone(),
                    },
                )
            })
            .await?;
        event.roster().active(&id).cloned().context("a participant vanished right after joining").map_err(Into::into)
    }

    /// Creates a team as the server (for the demo event); returns its id.
    pub async fn create_team(
        &self,
        event: &EventEntry,
        name: &str,
        brief: Option<String>,
        needs: Vec<String>,
    ) -> Result<String, AppError> {
        let command = RosterCommand::CreateTeam { name: name.to_string(), brief, needs };
        let outcome = event.command(self.store(), &event.roster, &system_sender(), command, None).await?;
        match outcome.event {
            Some(roster::RosterEvent::TeamCreated { team }) => Ok(team.id),
            _ => Err(AppError::Unexpected(anyhow::anyhow!("creating a team recorded something else"))),
        }
    }
}

impl crate::hub::Observer for EventDirectory {
    /// Keeps the events' state in step with their logs, whoever wrote to them. The hub calls this
    /// for every committed publication before fanning it out.
    fn observe(&self, key: &ChannelKey, publication: &Publication) {
        if key.as_str() == REGISTRY {
            let Ok(info) = serde_json::from_str::<EventInfo>(publication.data.get()) else { return };
            if self.get(&info.id).is_none()
                && let Some(this) = self.this.upgrade()
            {
                // Created by another instance: load it.
                self.runtime.spawn(async move {
                    match EventEntry::load(this.store.as_ref(), info).await {
                        Ok(entry) => this.insert(Arc::new(entry)),
                        Err(err) => tracing::error!(error = format!("{err:#}"), "loading a new event failed"),
                    }
                });
            }
            return;
        }
        // Chat is most of the traffic and has no state: it leaves before any lookup.
        let Ok(channel) = Channel::parse(key.name()) else { return };
        if channel.is_chat() {
            return;
        }
        let Some(event) = self.get(key.scope()) else { return };
        let in_step = event.followed(&channel).is_none_or(|log| log.observe(publication));
        if !in_step {
            let store = self.store.clone();
            let key = key.clone();
            self.runtime.spawn(async move {
                let Some(log) = event.followed(&channel) else { return };
                if let Err(err) = log.catch_up(store.as_ref()).await {
                    tracing::warn!(%key, error = format!("{err:#}"), "catching up a state log failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_recognised_by_its_name() {
        assert_eq!(registry_key().as_str(), REGISTRY);
    }
}

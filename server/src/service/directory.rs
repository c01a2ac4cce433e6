//! The events this instance serves, each with its state logs (roster, briefs, boards, ...), kept in
//! memory and recorded in channel logs.
//!
//! `_/events` logs every event created, and changes to how people join it: its join code rotated,
//! joining closed or opened. That log is the server's own (no client can name it), so a rotated code
//! reaches no participant's screen. Each event has one log per stateful part: `roster`,
//! `announcements`, `briefs`, `schedule`, `presentations`, `help`, `outputs` and `board:{team}`. At
//! start-up the logs are read back and folded, so a restart keeps every event, join code, participant,
//! brief revision and card (and a removed participant stays removed). Afterwards one follower keeps
//! every log in step with its channel: it subscribes on the hub like any connection, so the hub never
//! calls up into the event's state.

use super::state_log::{AfterApply, OnApply, Outcome, StateGuard, StateLog, read_all};
use crate::clock::now_millis;
use crate::domain::access::{self, Reader, Revocation};
use crate::domain::announcements::Announcements;
use crate::domain::board::Board;
use crate::domain::brief::Briefs;
use crate::domain::channel::Channel;
use crate::domain::help::HelpQueue;
use crate::domain::outputs::Outputs;
use crate::domain::presentations::Presentations;
use crate::domain::roster::{self, EventInfo, Name, NewParticipant, Participant, Roster, RosterCommand};
use crate::domain::schedule::Schedule;
use crate::domain::{Actor, Context, Domain, DomainError};
use crate::error::AppError;
use crate::hub::{ConnId, Delivery, Hub, Outbox, OutboxReceiver, Outgoing};
use crate::ids::{new_id, new_join_code};
use crate::store::{AppendRequest, ChannelKey, DataLoss, Store};
use anyhow::Context as _;
use makeroom_protocol::{Role, Sender, close};
use serde_json::value::to_raw_value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// The server-wide log of events created.
fn registry_key() -> ChannelKey {
    ChannelKey::new("_", "events")
}

/// The store key of an event's channel: the one place a channel's name becomes a key.
pub fn channel_key(event: &str, channel: &Channel) -> ChannelKey {
    ChannelKey::new(event, &channel.to_string())
}

/// The server itself, as the sender of what it records.
pub fn system_sender() -> Sender {
    Sender { id: "system".into(), name: "Makeroom".into(), role: Role::Organiser }
}

/// One of an event's state logs, whatever its domain: what a state channel is backed by.
pub enum StateLogRef<'a> {
    Roster(&'a StateLog<Roster>),
    Announcements(&'a StateLog<Announcements>),
    Briefs(&'a StateLog<Briefs>),
    Schedule(&'a StateLog<Schedule>),
    Presentations(&'a StateLog<Presentations>),
    Help(&'a StateLog<HelpQueue>),
    Outputs(&'a StateLog<Outputs>),
    Board(Arc<StateLog<Board>>),
}

/// Runs `$body` with `$log` bound to the typed log behind a `StateLogRef`, whatever its domain.
macro_rules! with_log {
    ($log_ref:expr, |$log:ident| $body:expr) => {
        match $log_ref {
            $crate::service::directory::StateLogRef::Roster($log) => $body,
            $crate::service::directory::StateLogRef::Announcements($log) => $body,
            $crate::service::directory::StateLogRef::Briefs($log) => $body,
            $crate::service::directory::StateLogRef::Schedule($log) => $body,
            $crate::service::directory::StateLogRef::Presentations($log) => $body,
            $crate::service::directory::StateLogRef::Help($log) => $body,
            $crate::service::directory::StateLogRef::Outputs($log) => $body,
            $crate::service::directory::StateLogRef::Board(board) => {
                let $log = board.as_ref();
                $body
            }
        }
    };
}
pub(crate) use with_log;

/// A record of the `_/events` log: an event created, or a change to how people join one. Each change
/// carries one setting only, so two organisers changing different settings at once both win.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum RegistryRecord {
    Change(JoiningChange),
    /// Written before changes existed, so without a `type`.
    Created(EventInfo),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum JoiningChange {
    /// The event's join code is now `join_code`; the one before it finds nothing.
    JoinCode { event: String, join_code: String },
    /// Joining with the code is open (or closed); organisers still add organisers and displays.
    Joining { event: String, open: bool },
}

impl JoiningChange {
    fn event(&self) -> &str {
        match self {
            JoiningChange::JoinCode { event, .. } | JoiningChange::Joining { event, .. } => event,
        }
    }
}

/// How people join an event now: its code, and whether joining with it is open.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Joining {
    pub join_code: String,
    pub open: bool,
}

/// `Joining` with the registry offset each setting was last changed at, so that a change heard late
/// (pub/sub, a gap filled) never undoes a newer one.
#[derive(Debug)]
struct JoiningState {
    now: Joining,
    code_changed_at: u64,
    open_changed_at: u64,
}

impl JoiningState {
    fn apply(&mut self, offset: u64, change: &JoiningChange) {
        match change {
            JoiningChange::JoinCode { join_code, .. } if offset > self.code_changed_at => {
                self.now.join_code = join_code.clone();
                self.code_changed_at = offset;
            }
            JoiningChange::Joining { open, .. } if offset > self.open_changed_at => {
                self.now.open = *open;
                self.open_changed_at = offset;
            }
            _ => {}
        }
    }
}

/// The server's own subscriber on the hub, through which every state log follows its channel.
struct Follower {
    id: ConnId,
    outbox: Outbox,
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
    /// The join code and whether joining is open, as the registry's changes left them.
    joining: RwLock<JoiningState>,
    /// Loaded boards. A plain lock held only to look up or insert.
    boards: std::sync::Mutex<HashMap<String, Arc<StateLog<Board>>>>,
    hub: Arc<Hub>,
    follower: Arc<Follower>,
}

/// What a roster change revokes, enacted on this instance's connections as the change is applied,
/// whoever recorded it.
fn revoke_on_change(hub: Arc<Hub>, event: String) -> OnApply<Roster> {
    Box::new(move |before, change| {
        let revocations = access::revoked_by(before, change);
        if revocations.is_empty() {
            return None;
        }
        let (hub, event) = (hub.clone(), event.clone());
        let after: AfterApply<Roster> = Box::new(move |roster: &Roster| {
            for revocation in revocations {
                match revocation {
                    Revocation::Recheck { channel, reason } => {
                        let lost_access = |m: &makeroom_protocol::Member| {
                            access::may_read(Reader::of(roster, &m.id, m.role), &channel).is_err()
                        };
                        hub.unsubscribe_members(&channel_key(&event, &channel), lost_access, reason);
                    }
                    Revocation::Close { participant } => hub.close_participant(&participant, close::REVOKED),
                }
            }
        });
        Some(after)
    })
}

impl EventEntry {
    async fn load(store: &dyn Store, hub: Arc<Hub>, follower: Arc<Follower>, info: EventInfo) -> anyhow::Result<Self> {
        let key = |channel: Channel| channel_key(&info.id, &channel);
        let entry = EventEntry {
            roster: StateLog::new(key(Channel::Roster), {
                let name = info.name.clone();
                move || Roster::new(name.clone())
            })
            .with_on_apply(revoke_on_change(hub.clone(), info.id.clone())),
            announcements: StateLog::new(key(Channel::Announcements), Announcements::default),
            briefs: StateLog::new(key(Channel::Briefs), Briefs::default),
            schedule: StateLog::new(key(Channel::Schedule), Schedule::default),
            presentations: StateLog::new(key(Channel::Presentations), Presentations::default),
            help: StateLog::new(key(Channel::Help), HelpQueue::default),
            outputs: StateLog::new(key(Channel::Outputs), Outputs::default),
            joining: RwLock::new(JoiningState {
                now: Joining { join_code: info.join_code.clone(), open: true },
                code_changed_at: 0,
                open_changed_at: 0,
            }),
            boards: Default::default(),
            hub,
            follower,
            info,
        };
        for log in entry.fixed_logs() {
            with_log!(log, |log| entry.follow_and_load(store, log).await?);
        }
        Ok(entry)
    }

    fn fixed_logs(&self) -> [StateLogRef<'_>; 7] {
        [
            StateLogRef::Roster(&self.roster),
            StateLogRef::Announcements(&self.announcements),
            StateLogRef::Briefs(&self.briefs),
            StateLogRef::Schedule(&self.schedule),
            StateLogRef::Presentations(&self.presentations),
            StateLogRef::Help(&self.help),
            StateLogRef::Outputs(&self.outputs),
        ]
    }

    /// Folds every state log of the event again from the store (which lost entries it had applied).
    async fn reload(&self, store: &dyn Store) -> anyhow::Result<()> {
        for log in self.fixed_logs() {
            with_log!(log, |log| log.reload(store).await?);
        }
        let boards: Vec<_> = self.boards.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for board in boards {
            board.reload(store).await?;
        }
        *self.joining.write().unwrap_or_else(|p| p.into_inner()) = JoiningState {
            now: Joining { join_code: self.info.join_code.clone(), open: true },
            code_changed_at: 0,
            open_changed_at: 0,
        };
        Ok(())
    }

    /// Starts following `log`'s channel, then folds what the store holds: following first, so that
    /// no entry falls between the read and the first one delivered live.
    async fn follow_and_load<D: Domain>(&self, store: &dyn Store, log: &StateLog<D>) -> anyhow::Result<()> {
        self.hub.follow(log.key(), self.follower.id, self.follower.outbox.clone());
        store.watch(log.key()).await?;
        log.catch_up(store).await
    }

    /// Reads the roster's newest entries if `participant` is not in it yet: in a cluster, someone who
    /// joined through another instance a moment ago may not have reached this one by pub/sub.
    pub async fn ensure_known(&self, store: &dyn Store, participant: &str) -> Result<(), AppError> {
        if !self.roster().participants.contains_key(participant) {
            self.roster.catch_up(store).await?;
        }
        Ok(())
    }

    /// How people join the event now.
    pub fn joining(&self) -> Joining {
        self.joining.read().unwrap_or_else(|p| p.into_inner()).now.clone()
    }

    /// The event's join code now (organisers may rotate it).
    pub fn join_code(&self) -> String {
        self.joining.read().unwrap_or_else(|p| p.into_inner()).now.join_code.clone()
    }

    fn apply_joining(&self, offset: u64, change: &JoiningChange) {
        self.joining.write().unwrap_or_else(|p| p.into_inner()).apply(offset, change);
    }

    /// The event's name as it now stands (organisers may rename it).
    pub fn name(&self) -> String {
        self.roster().event.name.as_str().to_string()
    }

    pub fn roster(&self) -> StateGuard<'_, Roster> {
        self.roster.state()
    }

    pub fn channel_key(&self, channel: &Channel) -> ChannelKey {
        channel_key(&self.info.id, channel)
    }

    /// A team's board if it was loaded already (without waiting).
    fn loaded_board(&self, team: &str) -> Option<Arc<StateLog<Board>>> {
        self.boards.lock().unwrap_or_else(|p| p.into_inner()).get(team).cloned()
    }

    /// The state log behind `channel` on this instance, if it has one loaded (boards load on demand).
    pub fn loaded_log(&self, channel: &Channel) -> Option<StateLogRef<'_>> {
        Some(match channel {
            Channel::Roster => StateLogRef::Roster(&self.roster),
            Channel::Announcements => StateLogRef::Announcements(&self.announcements),
            Channel::Briefs => StateLogRef::Briefs(&self.briefs),
            Channel::Schedule => StateLogRef::Schedule(&self.schedule),
            Channel::Presentations => StateLogRef::Presentations(&self.presentations),
            Channel::Help => StateLogRef::Help(&self.help),
            Channel::Outputs => StateLogRef::Outputs(&self.outputs),
            Channel::Board(team) => StateLogRef::Board(self.loaded_board(team)?),
            Channel::Lobby | Channel::Team(_) => return None,
        })
    }

    /// The state log behind `channel`, loading a board the first time it is needed.
    pub async fn log(&self, store: &dyn Store, channel: &Channel) -> Result<StateLogRef<'_>, AppError> {
        match channel {
            Channel::Board(team) => Ok(StateLogRef::Board(self.board(store, team).await?)),
            Channel::Lobby | Channel::Team(_) => {
                Err(AppError::Domain(DomainError::Invalid(format!("`{channel}` is a chat channel and has no state"))))
            }
            _ => self.loaded_log(channel).ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("no log for {channel}"))),
        }
    }

    /// A team's board, read from its log the first time it is needed.
    pub async fn board(&self, store: &dyn Store, team: &str) -> Result<Arc<StateLog<Board>>, AppError> {
        if !self.roster().teams.contains_key(team) {
            return Err(DomainError::NotFound(format!("team `{team}`")).into());
        }
        if let Some(board) = self.loaded_board(team) {
            return Ok(board);
        }
        let initial = {
            let team = team.to_string();
            move || Board::new(&team)
        };
        let loaded = Arc::new(StateLog::new(self.channel_key(&Channel::Board(team.to_string())), initial));
        self.follow_and_load(store, loaded.as_ref()).await?;
        // If two requests loaded it at once, the first inserted wins (the other copy is dropped).
        let board =
            self.boards.lock().unwrap_or_else(|p| p.into_inner()).entry(team.to_string()).or_insert(loaded).clone();
        // What was published between its load and its insertion passed the follower by.
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
        let nameable = |p: &Participant| access::can_be_named(p.role, p.removed);
        let roster_copy: Option<(HashSet<String>, HashSet<String>)> = deciding_roster.then(|| {
            let roster = self.roster();
            let people = roster.participants.values().filter(|p| nameable(p)).map(|p| p.id.clone()).collect();
            let teams = roster.teams.values().filter(|t| !t.archived).map(|t| t.id.clone()).collect();
            (people, teams)
        });
        let briefs_copy: Option<HashSet<String>> =
            deciding_briefs.then(|| self.briefs.state().briefs.keys().cloned().collect());
        let is_participant = |id: &str| match &roster_copy {
            Some((people, _)) => people.contains(id),
            None => self.roster().participants.get(id).is_some_and(nameable),
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

    /// Applies a publication of one of this event's state channels (the follower's part).
    fn observe(self: &Arc<Self>, store: &Arc<dyn Store>, channel: Channel, delivery: &Delivery) {
        let Some(log) = self.loaded_log(&channel) else { return };
        if with_log!(log, |log| log.observe(&delivery.publication)) {
            return;
        }
        // A gap: pub/sub lost something, or the log was not loaded up to here yet.
        let (event, store, key) = (self.clone(), store.clone(), delivery.key.clone());
        tokio::spawn(async move {
            let Some(log) = event.loaded_log(&channel) else { return };
            if let Err(err) = with_log!(log, |log| log.catch_up(store.as_ref()).await) {
                tracing::warn!(%key, error = format!("{err:#}"), "catching up a state log failed");
            }
        });
    }
}

pub struct EventDirectory {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    follower: Arc<Follower>,
    events: RwLock<HashMap<String, Arc<EventEntry>>>,
    registry: tokio::sync::Mutex<u64>,
}

impl EventDirectory {
    /// Reads every event and its logs back from the store, and starts following them.
    pub async fn load(store: Arc<dyn Store>, hub: Arc<Hub>) -> anyhow::Result<Arc<Self>> {
        // Followers drain their outbox at once and must never be dropped as slow: what queues up
        // is bounded by what the store commits while they run.
        let (outbox, receiver) = Outbox::new(usize::MAX);
        let follower = Arc::new(Follower { id: hub.next_id(), outbox });
        // Before anything is read, so that no loss found while loading goes unheard.
        let losses = store.data_losses();
        hub.follow(&registry_key(), follower.id, follower.outbox.clone());
        store.watch(&registry_key()).await?;
        let mut events = HashMap::new();
        let created = read_all(store.as_ref(), &registry_key(), 0).await.context("reading the event registry")?;
        let registry_offset = created.last().map(|p| p.offset).unwrap_or(0);
        for publication in created {
            let record: RegistryRecord = serde_json::from_str(publication.data.get())
                .with_context(|| format!("event record {} is unreadable", publication.offset))?;
            match record {
                RegistryRecord::Created(info) => {
                    let entry = EventEntry::load(store.as_ref(), hub.clone(), follower.clone(), info).await?;
                    events.insert(entry.info.id.clone(), Arc::new(entry));
                }
                RegistryRecord::Change(change) => match events.get(change.event()) {
                    Some(event) => event.apply_joining(publication.offset, &change),
                    None => tracing::warn!(offset = publication.offset, "a joining change names no event; ignored"),
                },
            }
        }
        let directory = Arc::new(EventDirectory {
            store,
            hub,
            follower,
            events: RwLock::new(events),
            registry: tokio::sync::Mutex::new(registry_offset),
        });
        tokio::spawn(follow(Arc::downgrade(&directory), receiver));
        if let Some(losses) = losses {
            tokio::spawn(recover_from_losses(Arc::downgrade(&directory), losses));
        }
        Ok(directory)
    }

    /// Reads again what the store lost: one state log, or (the registry, or everything) every event.
    async fn reload_after(self: &Arc<Self>, loss: &DataLoss) -> anyhow::Result<()> {
        let key = match loss {
            DataLoss::Channel(key) if *key != registry_key() => key,
            _ => return self.reload_everything().await,
        };
        let Some(event) = self.get(key.scope()) else { return Ok(()) };
        let Ok(channel) = Channel::parse(key.name()) else { return Ok(()) };
        if let Some(log) = event.loaded_log(&channel) {
            with_log!(log, |log| log.reload(self.store()).await?);
        }
        Ok(())
    }

    /// Reads every event again from the store; events it no longer holds are dropped, and every
    /// connection is told to reconnect, so that each client starts again from what the store holds
    /// (its `since` names an epoch that is gone, so it reloads each channel).
    async fn reload_everything(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut registry = self.registry.lock().await;
        let records = read_all(self.store(), &registry_key(), 0).await.context("reading the event registry")?;
        *registry = records.last().map(|p| p.offset).unwrap_or(0);
        let mut kept = HashSet::new();
        let mut changes = Vec::new();
        for publication in records {
            match serde_json::from_str::<RegistryRecord>(publication.data.get()) {
                Ok(RegistryRecord::Created(info)) => {
                    kept.insert(info.id.clone());
                    match self.get(&info.id) {
                        Some(event) => event.reload(self.store()).await?,
                        None => self.insert(self.load_event(info).await?),
                    }
                }
                Ok(RegistryRecord::Change(change)) => changes.push((publication.offset, change)),
                Err(err) => tracing::warn!(offset = publication.offset, error = %err, "an unreadable registry record"),
            }
        }
        for (offset, change) in changes {
            if let Some(event) = self.get(change.event()) {
                event.apply_joining(offset, &change);
            }
        }
        self.events.write().unwrap_or_else(|p| p.into_inner()).retain(|id, _| kept.contains(id));
        drop(registry);
        tracing::warn!(
            events = kept.len(),
            "every event was read again from the store; every connection is told to reconnect"
        );
        self.hub.close_every_connection(close::GOING_AWAY);
        Ok(())
    }

    fn insert(&self, entry: Arc<EventEntry>) {
        self.events.write().unwrap_or_else(|p| p.into_inner()).entry(entry.info.id.clone()).or_insert(entry);
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn get(&self, id: &str) -> Option<Arc<EventEntry>> {
        self.events.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    /// The event whose join code is `code` now (a rotated code finds nothing).
    pub fn by_join_code(&self, code: &str) -> Option<Arc<EventEntry>> {
        let code = code.trim().to_ascii_uppercase();
        self.events.read().unwrap_or_else(|p| p.into_inner()).values().find(|e| e.join_code() == code).cloned()
    }

    /// Every event, oldest first.
    pub fn list(&self) -> Vec<Arc<EventEntry>> {
        let mut all: Vec<_> = self.events.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        all.sort_by_key(|e| e.info.created_at);
        all
    }

    async fn load_event(&self, info: EventInfo) -> anyhow::Result<Arc<EventEntry>> {
        let entry = EventEntry::load(self.store.as_ref(), self.hub.clone(), self.follower.clone(), info).await?;
        Ok(Arc::new(entry))
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
        self.insert(self.load_event(info).await?);
        self.get(&id).context("an event vanished right after it was created").map_err(Into::into)
    }

    /// Gives `event` a new join code; the old one finds nothing from then on.
    pub async fn rotate_join_code(&self, event: &EventEntry, by: &Sender) -> Result<Joining, AppError> {
        let change = JoiningChange::JoinCode { event: event.info.id.clone(), join_code: self.unused_join_code() };
        self.record_joining(event, by, change).await
    }

    /// Opens or closes joining `event` with its code.
    pub async fn set_joining_open(&self, event: &EventEntry, by: &Sender, open: bool) -> Result<Joining, AppError> {
        self.record_joining(event, by, JoiningChange::Joining { event: event.info.id.clone(), open }).await
    }

    /// Records a joining change on the registry and applies it here at once (every other instance
    /// applies it as it hears of it).
    async fn record_joining(
        &self,
        event: &EventEntry,
        by: &Sender,
        change: JoiningChange,
    ) -> Result<Joining, AppError> {
        // Held so that this instance's own event creations see the registry's newest offset.
        let mut registry = self.registry.lock().await;
        let appended = self
            .store
            .append(AppendRequest {
                key: registry_key(),
                data: to_raw_value(&RegistryRecord::Change(change.clone())).context("encoding a joining change")?,
                from: by.clone(),
                idempotency_key: None,
                expected_offset: None,
                retain: None,
            })
            .await?;
        *registry = (*registry).max(appended.offset);
        event.apply_joining(appended.offset, &change);
        Ok(event.joining())
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

    /// Keeps the events' state in step with their logs, whoever wrote to them.
    fn observe(self: &Arc<Self>, delivery: &Delivery) {
        let key = ChannelKey::parse(&delivery.key);
        let Some(key) = key else { return };
        if key.scope() == "_" {
            self.observe_registry(delivery);
            return;
        }
        let Ok(channel) = Channel::parse(key.name()) else { return };
        if let Some(event) = self.get(key.scope()) {
            event.observe(&self.store, channel, delivery);
        }
    }

    /// A record of the registry, whoever wrote it: an event created by another instance is loaded; a
    /// joining change is applied.
    fn observe_registry(self: &Arc<Self>, delivery: &Delivery) {
        let offset = delivery.publication.offset;
        let info = match serde_json::from_str::<RegistryRecord>(delivery.publication.data.get()) {
            Ok(RegistryRecord::Created(info)) => info,
            Ok(RegistryRecord::Change(change)) => {
                // An event still loading applies its changes once loaded (below).
                if let Some(event) = self.get(change.event()) {
                    event.apply_joining(offset, &change);
                }
                return;
            }
            Err(err) => {
                tracing::warn!(offset, error = %err, "an unreadable record of the event registry; ignored");
                return;
            }
        };
        if self.get(&info.id).is_some() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let id = info.id.clone();
            let loaded = async {
                this.insert(this.load_event(info).await?);
                let entry = this.get(&id).context("an event vanished right after it was loaded")?;
                // Changes recorded after its creation may have been heard while it loaded.
                for publication in read_all(this.store(), &registry_key(), offset).await? {
                    if let Ok(RegistryRecord::Change(change)) = serde_json::from_str(publication.data.get())
                        && change.event() == id
                    {
                        entry.apply_joining(publication.offset, &change);
                    }
                }
                anyhow::Ok(())
            };
            if let Err(err) = loaded.await {
                tracing::error!(error = format!("{err:#}"), "loading a new event failed");
            }
        });
    }
}

/// Reloads what the store reports lost, trying again while the store is unavailable.
async fn recover_from_losses(
    directory: std::sync::Weak<EventDirectory>,
    mut losses: tokio::sync::broadcast::Receiver<DataLoss>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let loss = match losses.recv().await {
            Ok(loss) => loss,
            // Too many at once to tell which: read everything.
            Err(RecvError::Lagged(_)) => DataLoss::Everything,
            Err(RecvError::Closed) => return,
        };
        loop {
            let Some(directory) = directory.upgrade() else { return };
            match directory.reload_after(&loss).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::error!(
                        ?loss,
                        error = format!("{err:#}"),
                        "reading state again after a data loss failed; retrying"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// The follower's task: applies every publication of a followed channel, in order, as it arrives.
async fn follow(directory: std::sync::Weak<EventDirectory>, receiver: OutboxReceiver) {
    let mut items = Vec::new();
    loop {
        let taken = std::future::poll_fn(|cx| receiver.poll_take(cx, &mut items)).await;
        let Some(directory) = directory.upgrade() else { return };
        if let Err(code) = taken {
            tracing::error!(code, "the event state's follower was closed; state now follows only its own writes");
            return;
        }
        for item in items.drain(..) {
            if let Outgoing::Publication(delivery) = item {
                directory.observe(&delivery);
            }
        }
    }
}

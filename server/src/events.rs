//! The events this instance serves and their rosters, kept in memory and recorded in channel logs.
//!
//! `_/events` logs every event created; `{event}/roster` logs who joined which team. At start-up both
//! are read back and folded, so a restart keeps every event, join code and participant (and a removed
//! participant stays removed). Changes go through `record`: the domain decides, the store appends with
//! compare-and-append on the log's offset, and only then does the in-memory roster move.

use crate::clock::now_millis;
use crate::domain::DomainError;
use crate::domain::roster::{
    self, EventInfo, Name, NewParticipant, Participant, Roster, RosterEvent,
};
use crate::error::AppError;
use crate::ids::{new_id, new_join_code};
use crate::store::{AppendRequest, ChannelKey, Store, StoreError};
use anyhow::Context;
use makeroom_protocol::{Role, Sender};
use serde_json::value::to_raw_value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

const PAGE: u64 = 1000;
/// Compare-and-append attempts before giving up on a busy log.
const ATTEMPTS: usize = 5;

fn registry_key() -> ChannelKey {
    ChannelKey::new("_", "events")
}

/// The server itself, as the sender of what it records.
pub fn system_sender() -> Sender {
    Sender {
        id: "system".into(),
        name: "Makeroom".into(),
        role: Role::Organiser,
    }
}

pub struct EventEntry {
    pub info: EventInfo,
    roster_key: ChannelKey,
    roster: RwLock<Roster>,
    /// Serializes this instance's changes to the roster so they do not race each other's offsets.
    writing: tokio::sync::Mutex<()>,
}

impl EventEntry {
    pub fn roster(&self) -> RwLockReadGuard<'_, Roster> {
        self.roster.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn channel_key(&self, name: &str) -> ChannelKey {
        ChannelKey::new(&self.info.id, name)
    }
}

pub struct EventDirectory {
    store: Arc<dyn Store>,
    events: RwLock<HashMap<String, Arc<EventEntry>>>,
    registry: tokio::sync::Mutex<u64>,
}

async fn read_all(
    store: &dyn Store,
    key: &ChannelKey,
) -> Result<Vec<makeroom_protocol::Publication>, StoreError> {
    let mut all = Vec::new();
    let mut after = 0;
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

impl EventDirectory {
    /// Reads every event and roster back from the store.
    pub async fn load(store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let mut events = HashMap::new();
        let created = read_all(store.as_ref(), &registry_key())
            .await
            .context("reading the event registry")?;
        let registry_offset = created.last().map(|p| p.offset).unwrap_or(0);
        for publication in created {
            let info: EventInfo = serde_json::from_str(publication.data.get())
                .with_context(|| format!("event record {} is unreadable", publication.offset))?;
            let roster_key = ChannelKey::new(&info.id, "roster");
            let mut roster = Roster::default();
            for entry in read_all(store.as_ref(), &roster_key)
                .await
                .context("reading a roster")?
            {
                let event: RosterEvent =
                    serde_json::from_str(entry.data.get()).with_context(|| {
                        format!("{roster_key} record {} is unreadable", entry.offset)
                    })?;
                roster.apply(&event);
                roster.offset = entry.offset;
            }
            let entry = EventEntry {
                info,
                roster_key,
                roster: RwLock::new(roster),
                writing: Default::default(),
            };
            events.insert(entry.info.id.clone(), Arc::new(entry));
        }
        Ok(EventDirectory {
            store,
            events: RwLock::new(events),
            registry: tokio::sync::Mutex::new(registry_offset),
        })
    }

    pub fn get(&self, id: &str) -> Option<Arc<EventEntry>> {
        self.events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn by_join_code(&self, code: &str) -> Option<Arc<EventEntry>> {
        let code = code.trim().to_ascii_uppercase();
        self.events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|e| e.info.join_code == code)
            .cloned()
    }

    /// Every event, oldest first.
    pub fn list(&self) -> Vec<Arc<EventEntry>> {
        let mut all: Vec<_> = self
            .events
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|e| e.info.created_at);
        all
    }

    pub async fn create_event(&self, name: Name) -> Result<Arc<EventEntry>, AppError> {
        let mut registry = self.registry.lock().await;
        let info = EventInfo {
            id: new_id("e"),
            name,
            join_code: self.unused_join_code(),
            created_at: now_millis(),
        };
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
        let entry = Arc::new(EventEntry {
            roster_key: ChannelKey::new(&info.id, "roster"),
            info,
            roster: RwLock::new(Roster::default()),
            writing: Default::default(),
        });
        self.events
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.info.id.clone(), entry.clone());
        Ok(entry)
    }

    fn unused_join_code(&self) -> String {
        loop {
            let code = new_join_code();
            if self.by_join_code(&code).is_none() {
                return code;
            }
        }
    }

    /// Decides and records a roster change. `decide` sees the latest roster; if another writer moved
    /// the log on meanwhile, the roster catches up and `decide` runs again on the new state.
    pub async fn record(
        &self,
        event: &EventEntry,
        by: &Sender,
        decide: impl Fn(&Roster) -> Result<Vec<RosterEvent>, DomainError>,
    ) -> Result<(), AppError> {
        let _writing = event.writing.lock().await;
        'attempt: for _ in 0..ATTEMPTS {
            let changes = decide(&event.roster())?;
            for change in changes {
                let expected = event.roster().offset;
                let appended = self
                    .store
                    .append(AppendRequest {
                        key: event.roster_key.clone(),
                        data: to_raw_value(&change).context("encoding a roster change")?,
                        from: by.clone(),
                        idempotency_key: None,
                        expected_offset: Some(expected),
                        retain: None,
                    })
                    .await;
                match appended {
                    Ok(appended) => {
                        let mut roster = event.roster.write().unwrap_or_else(|p| p.into_inner());
                        roster.apply(&change);
                        roster.offset = appended.offset;
                    }
                    Err(StoreError::Conflict { .. }) => {
                        self.catch_up(event).await?;
                        continue 'attempt;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            return Ok(());
        }
        Err(AppError::Domain(DomainError::Conflict(
            "the roster is changing too fast; try again".into(),
        )))
    }

    async fn catch_up(&self, event: &EventEntry) -> Result<(), AppError> {
        let after = event.roster().offset;
        let slice = self
            .store
            .read_after(&event.roster_key, after, u64::MAX >> 1)
            .await?;
        let mut roster = event.roster.write().unwrap_or_else(|p| p.into_inner());
        for publication in slice.publications {
            if publication.offset != roster.offset + 1 {
                continue;
            }
            let change: RosterEvent = serde_json::from_str(publication.data.get())
                .context("a roster record is unreadable")?;
            roster.apply(&change);
            roster.offset = publication.offset;
        }
        Ok(())
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
        let new = || NewParticipant {
            id: id.clone(),
            name: name.clone(),
            role,
            skills: skills.clone(),
            team: team.clone(),
        };
        // Someone joining by themselves is the sender of their own join.
        let by = by.cloned().unwrap_or_else(|| Sender {
            id: id.clone(),
            name: name.as_str().to_string(),
            role,
        });
        self.record(event, &by, |roster| roster::decide_join(roster, new()))
            .await?;
        event
            .roster()
            .active(&id)
            .cloned()
            .context("a participant vanished right after joining")
            .map_err(Into::into)
    }

    pub async fn create_team(
        &self,
        event: &EventEntry,
        by: &Sender,
        name: Name,
    ) -> Result<String, AppError> {
        let id = new_id("t");
        self.record(event, by, |roster| {
            roster::decide_create_team(roster, id.clone(), name.clone())
        })
        .await?;
        Ok(id)
    }
}

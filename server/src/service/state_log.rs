//! One stateful part of an event (its roster, briefs, a board, ...) and the channel log it is folded
//! from. A change goes through `StateLog::record`: the domain decides against the state, the store
//! appends with compare-and-append on the log's offset, and only then does the state in memory move.
//! If another writer moved the log on meanwhile, the state catches up and the domain decides again.
//! Whatever anyone else records reaches the log through `observe` (its follower on the hub).

use crate::domain::{Domain, DomainError, Recorded};
use crate::error::AppError;
use crate::store::{AppendRequest, Appended, ChannelKey, Store, StoreError};
use anyhow::Context as _;
use makeroom_protocol::{Publication, Sender};
use serde_json::value::{RawValue, to_raw_value};
use std::ops::Deref;
use std::sync::{RwLock, RwLockReadGuard};

const PAGE: u64 = 1000;
/// Compare-and-append attempts before giving up on a busy log.
const ATTEMPTS: usize = 5;

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

/// What must happen once an event is applied, given the state before it: returns the work to do with
/// the state after it (for the roster: the access the change revokes). Runs with the log's lock held,
/// so it must not block.
pub type OnApply<D> = Box<dyn Fn(&D, &<D as Domain>::Event) -> Option<AfterApply<D>> + Send + Sync>;
pub type AfterApply<D> = Box<dyn FnOnce(&D) + Send>;

pub struct StateLog<D: Domain> {
    key: ChannelKey,
    /// The state before the log's first entry, to fold the log again from its start.
    initial: Box<dyn Fn() -> D + Send + Sync>,
    inner: RwLock<Versioned<D>>,
    /// Serializes this instance's writes to the log so they do not race each other's offsets.
    writing: tokio::sync::Mutex<()>,
    on_apply: Option<OnApply<D>>,
}

impl<D: Domain> StateLog<D> {
    /// A log at its start (`initial` makes the state before its first entry); `catch_up` folds what
    /// the store holds.
    pub fn new(key: ChannelKey, initial: impl Fn() -> D + Send + Sync + 'static) -> Self {
        StateLog {
            key,
            inner: RwLock::new(Versioned { state: initial(), offset: 0 }),
            initial: Box::new(initial),
            writing: Default::default(),
            on_apply: None,
        }
    }

    pub fn with_on_apply(mut self, on_apply: OnApply<D>) -> Self {
        self.on_apply = Some(on_apply);
        self
    }

    pub fn key(&self) -> &ChannelKey {
        &self.key
    }

    pub fn state(&self) -> StateGuard<'_, D> {
        StateGuard(self.inner.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Versioned<D>> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `event` at `recorded.offset` if it is the next one; false if it is not.
    fn apply_next(&self, inner: &mut Versioned<D>, event: &D::Event, recorded: Recorded) -> bool {
        if recorded.offset != inner.offset + 1 {
            return false;
        }
        let after = self.on_apply.as_ref().and_then(|on_apply| on_apply(&inner.state, event));
        inner.state.apply(event, recorded);
        inner.offset = recorded.offset;
        if let Some(after) = after {
            after(&inner.state);
        }
        true
    }

    /// Applies a publication of this log (recorded here or by another instance). Returns false if it
    /// revealed a gap, which a `catch_up` must fill.
    pub fn observe(&self, publication: &Publication) -> bool {
        let mut inner = self.write();
        if publication.offset <= inner.offset {
            return true;
        }
        if publication.offset > inner.offset + 1 {
            return false;
        }
        match serde_json::from_str::<D::Event>(publication.data.get()) {
            Ok(event) => {
                let recorded = Recorded { offset: publication.offset, ts: publication.ts, by: &publication.from.id };
                self.apply_next(&mut inner, &event, recorded)
            }
            Err(err) => {
                tracing::error!(key = %self.key, offset = publication.offset, error = %err, "an unreadable state event");
                false
            }
        }
    }

    /// Applies whatever the log holds beyond the state.
    pub async fn catch_up(&self, store: &dyn Store) -> anyhow::Result<()> {
        let after = self.state().offset();
        let publications = read_all(store, &self.key, after).await?;
        let mut inner = self.write();
        for publication in publications {
            let event: D::Event = serde_json::from_str(publication.data.get())
                .with_context(|| format!("{} record {} is unreadable", self.key, publication.offset))?;
            let recorded = Recorded { offset: publication.offset, ts: publication.ts, by: &publication.from.id };
            self.apply_next(&mut inner, &event, recorded);
        }
        Ok(())
    }

    /// Folds the whole log again from its start, for when the store lost entries this state had
    /// applied (its log went backwards). Readers see the old state until the new one is complete.
    pub async fn reload(&self, store: &dyn Store) -> anyhow::Result<()> {
        let _writing = self.writing.lock().await;
        self.refold(store).await
    }

    async fn refold(&self, store: &dyn Store) -> anyhow::Result<()> {
        let publications = read_all(store, &self.key, 0).await?;
        let mut fresh = Versioned { state: (self.initial)(), offset: 0 };
        for publication in publications {
            let event: D::Event = serde_json::from_str(publication.data.get())
                .with_context(|| format!("{} record {} is unreadable", self.key, publication.offset))?;
            let recorded = Recorded { offset: publication.offset, ts: publication.ts, by: &publication.from.id };
            self.apply_next(&mut fresh, &event, recorded);
        }
        let offset = fresh.offset;
        *self.write() = fresh;
        tracing::warn!(key = %self.key, offset, "state read again from its log");
        // Whatever was appended while it was read.
        self.catch_up(store).await
    }

    /// The state as JSON and the offset it reflects (a snapshot for a late joiner).
    pub fn snapshot(&self) -> Result<(u64, Box<RawValue>), serde_json::Error> {
        let state = self.state();
        Ok((state.offset(), to_raw_value(&*state)?))
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
                    // The follower may have applied it already (it sees every committed publication).
                    let behind = {
                        let mut inner = self.write();
                        let recorded = Recorded { offset: appended.offset, ts: appended.ts, by: &by.id };
                        self.apply_next(&mut inner, &event, recorded);
                        inner.offset < appended.offset
                    };
                    if behind {
                        self.catch_up(store).await?;
                    }
                    return Ok(Outcome { appended, event: Some(event) });
                }
                // The log is behind this state: the store lost entries it had applied.
                Err(StoreError::Conflict { top }) if top < expected => self.refold(store).await?,
                Err(StoreError::Conflict { .. }) => self.catch_up(store).await?,
                Err(err) => return Err(err.into()),
            }
        }
        Err(AppError::Domain(DomainError::Conflict(format!("{} is changing too fast; try again", self.key.name()))))
    }
}

//! The backend boundary: durable, ordered channel logs and the delivery of what was committed.
//!
//! A store assigns every appended message the next offset of its channel (1, 2, 3, ... without gaps),
//! makes it durable, and only then reports it: to the appender as `Appended` and to every instance's
//! hub through the `PublicationSink`, in offset order. It knows nothing of WebSockets, tokens, teams or
//! boards, and imports nothing above it. The embedded SQLite store lives in `sqlite.rs`; a Redis store
//! plugs in behind the same trait.

mod commit_log;
mod handoff;
pub mod photos;
pub mod redis;
pub mod sqlite;

use makeroom_protocol::{Member, PresenceAction, Publication, Sender};
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A channel's name in the store: `{scope}/{name}`, where the scope is an event id (or `_` for
/// server-wide logs) and the name is what clients see (`lobby`, `team:t_x`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKey(Arc<str>);

impl ChannelKey {
    pub fn new(scope: &str, name: &str) -> Self {
        ChannelKey(format!("{scope}/{name}").into())
    }

    /// Rebuilds a key from its stored form; `None` if it has no scope.
    pub fn parse(stored: &str) -> Option<Self> {
        stored.contains('/').then(|| ChannelKey(stored.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn shared(&self) -> Arc<str> {
        self.0.clone()
    }

    /// The part clients see.
    pub fn name(&self) -> &str {
        self.0.split_once('/').map(|(_, name)| name).unwrap_or(&self.0)
    }

    pub fn scope(&self) -> &str {
        self.0.split_once('/').map(|(scope, _)| scope).unwrap_or("")
    }
}

impl std::fmt::Display for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug)]
pub struct AppendRequest {
    pub key: ChannelKey,
    pub data: Box<RawValue>,
    pub from: Sender,
    /// A client-chosen key: appending the same key to the same channel again stores nothing and
    /// returns the original offset, for as long as that message is in history.
    pub idempotency_key: Option<String>,
    /// Compare-and-append: refuse with `Conflict` unless the channel's newest offset is this.
    pub expected_offset: Option<u64>,
    /// Keep only this many newest messages of the channel; `None` keeps everything.
    pub retain: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub epoch: Arc<str>,
    pub offset: u64,
    /// When it was stored (server clock, milliseconds).
    pub ts: i64,
    /// The idempotency key was already stored; nothing new was appended.
    pub duplicate: bool,
}

/// A slice of a channel's log and where the log stands.
#[derive(Debug)]
pub struct ChannelSlice {
    pub epoch: Arc<str>,
    /// The newest offset (0 for a channel never written).
    pub top: u64,
    /// The oldest offset history still holds (`top + 1` when history holds nothing).
    pub first: u64,
    pub publications: Vec<Publication>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the channel moved on: its newest offset is {top}")]
    Conflict { top: u64 },
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// How long one request (a publish, a command, a subscribe, ...) may wait on the store in all, however
/// many operations it takes, before it is answered with the retryable `unavailable`.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(2);

tokio::task_local! {
    static REQUEST_DEADLINE: tokio::time::Instant;
}

/// Runs one request's work with `REQUEST_BUDGET` for all its store operations together: a command
/// that reads, loads a board and appends shares one budget rather than getting one each.
pub fn within_request_budget<F: Future>(work: F) -> impl Future<Output = F::Output> {
    REQUEST_DEADLINE.scope(tokio::time::Instant::now() + REQUEST_BUDGET, work)
}

/// What is left of the current request's budget (a whole budget outside a request).
pub fn request_time_left() -> Duration {
    REQUEST_DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now()))
        .unwrap_or(REQUEST_BUDGET)
}

/// The store found that it lost data this instance had already seen (a Redis failover to a replica
/// that lagged, a Redis restarted without its data, or another Redis behind the same address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataLoss {
    /// Anything may be gone: every state folded from the store must be read again.
    Everything,
    /// This channel's log went backwards; it now has a new epoch, and what is folded from it must be
    /// read again.
    Channel(ChannelKey),
}

/// One publication a store committed, on its channel. Shared, not copied, with whatever else holds
/// it (the embedded store's tail, every subscriber's delivery).
#[derive(Debug)]
pub struct Committed {
    pub key: ChannelKey,
    pub publication: Arc<Publication>,
}

/// Receives every committed publication, per channel in offset order, a commit group at a time.
/// The hub implements it.
pub trait PublicationSink: Send + Sync {
    fn deliver(&self, group: Vec<Committed>);

    /// A presence change decided across the cluster (only a cluster store calls this).
    fn deliver_presence(&self, _key: &ChannelKey, _action: PresenceAction, _member: &Member) {}
}

/// Carries presence changes between instances: in a cluster, a person's first local connection to a
/// channel is told to the relay instead of being pushed by the hub, and the relay decides (across
/// every instance) whether it is a join or leave for the whole channel, then has it pushed everywhere
/// through `PublicationSink::deliver_presence`. It must not block.
pub trait PresenceRelay: Send + Sync {
    fn changed(&self, key: &ChannelKey, action: PresenceAction, member: &Member);
}

/// Hands commit groups to the sink on a thread of its own, in commit order: the store's writer (or
/// the Redis subscriber's reader) goes on with the next group while the last one is encoded and
/// queued for its receivers. Whatever arrived meanwhile goes out as one group, so under load each
/// receiver is woken once per group instead of once per publication.
pub struct FanOut {
    arrivals: std::sync::mpsc::Sender<Arrival>,
}

/// What the fan-out thread is handed, in the order it must reach the hub.
enum Arrival {
    Group(Vec<Committed>),
    Presence { key: ChannelKey, action: PresenceAction, member: Member },
}

impl FanOut {
    pub fn start(sink: Arc<dyn PublicationSink>) -> anyhow::Result<Self> {
        let (arrivals, arriving) = std::sync::mpsc::channel::<Arrival>();
        std::thread::Builder::new()
            .name("makeroom-fanout".into())
            .spawn(move || {
                let mut held: Option<Arrival> = None;
                loop {
                    let first = match held.take() {
                        Some(arrival) => arrival,
                        None => match arriving.recv() {
                            Ok(arrival) => arrival,
                            Err(_) => return,
                        },
                    };
                    match first {
                        Arrival::Group(mut group) => {
                            // Everything committed meanwhile goes out with it, still in order; a
                            // presence change waits for the group before it.
                            while let Ok(more) = arriving.try_recv() {
                                match more {
                                    Arrival::Group(more) => group.extend(more),
                                    presence => {
                                        held = Some(presence);
                                        break;
                                    }
                                }
                            }
                            // A bug in one group's fan-out must not end live delivery for every later one.
                            let delivered =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink.deliver(group)));
                            if delivered.is_err() {
                                tracing::error!(
                                    "fanning out a commit group panicked; its pushes are recovered from history"
                                );
                            }
                        }
                        Arrival::Presence { key, action, member } => {
                            let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                sink.deliver_presence(&key, action, &member)
                            }));
                            if delivered.is_err() {
                                tracing::error!(%key, "fanning out a presence change panicked");
                            }
                        }
                    }
                }
            })
            .map_err(|err| anyhow::anyhow!("starting the fan-out thread: {err}"))?;
        Ok(FanOut { arrivals })
    }

    pub fn send(&self, group: Vec<Committed>) {
        if !group.is_empty() && self.arrivals.send(Arrival::Group(group)).is_err() {
            tracing::error!("the fan-out thread has stopped; publications are not pushed live");
        }
    }

    /// A presence change, delivered after every group sent before it.
    pub fn send_presence(&self, key: ChannelKey, action: PresenceAction, member: Member) {
        if self.arrivals.send(Arrival::Presence { key, action, member }).is_err() {
            tracing::error!("the fan-out thread has stopped; presence is not pushed live");
        }
    }
}

pub trait Store: Send + Sync {
    /// Durably appends one message and returns its offset. The sink sees it before this returns.
    fn append(&self, request: AppendRequest) -> StoreFuture<'_, Appended>;

    /// Up to `limit` messages with offsets above `after`, oldest first.
    fn read_after<'a>(&'a self, key: &'a ChannelKey, after: u64, limit: u64) -> StoreFuture<'a, ChannelSlice>;

    /// Up to `limit` messages with offsets below `before` (or the newest ones), oldest first.
    fn read_before<'a>(&'a self, key: &'a ChannelKey, before: Option<u64>, limit: u64)
    -> StoreFuture<'a, ChannelSlice>;

    /// The message stored under an idempotency key on a channel, if any.
    fn find_key<'a>(&'a self, key: &'a ChannelKey, idempotency_key: &'a str) -> StoreFuture<'a, Option<Appended>>;

    /// Starts delivering `key`'s publications from other instances to the sink; counted, so each
    /// `watch` needs one `unwatch`. A single instance's store sees every append and needs nothing.
    fn watch<'a>(&'a self, _key: &'a ChannelKey) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn unwatch<'a>(&'a self, _key: &'a ChannelKey) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Who is present on `key` across the cluster, or `None` when the hub's own list is the whole truth.
    fn presence<'a>(&'a self, _key: &'a ChannelKey) -> StoreFuture<'a, Option<Vec<Member>>> {
        Box::pin(async { Ok(None) })
    }

    /// Where this backend keeps photos' bytes (`photos.rs`).
    fn photos(&self) -> &dyn photos::PhotoStore;

    /// Whether the store can take writes now (for `/readyz`): answered at once, from what the store
    /// last knew.
    fn check_ready(&self) -> StoreFuture<'_, ()>;

    /// Tells of data the store lost after this instance saw it; `None` for a store that cannot lose
    /// acknowledged data without the process knowing (the embedded one).
    fn data_losses(&self) -> Option<tokio::sync::broadcast::Receiver<DataLoss>> {
        None
    }
}

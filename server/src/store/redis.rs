//! The cluster store: channel logs in Redis, shared by every instance, and fan-out through Redis pub/sub.
//!
//! One Lua script appends atomically: it reads or creates the channel's epoch, checks the idempotency
//! key and the expected offset, takes the next offset, `XADD`s the publication to the channel's stream
//! (trimmed to the history limit), and `PUBLISH`es the same bytes. Two instances can therefore never
//! hand out one offset twice or publish out of order. Every instance subscribes to the channels its
//! clients (and its event state) need, and hands what arrives to its hub.
//!
//! Redis pub/sub is at-most-once: a publication sent while an instance was reconnecting is lost to it.
//! So the store remembers the newest offset it delivered per watched channel and, every few seconds and
//! at once after a disconnection, compares it with each channel's top offset in Redis and delivers what
//! is missing from the stream. No client sits on a silent gap for longer than that.

use super::{
    AppendRequest, Appended, ChannelKey, ChannelSlice, Committed, DataLoss, FanOut, PresenceRelay, PublicationSink,
    REQUEST_BUDGET, Store, StoreError, StoreFuture, request_time_left,
};
use crate::clock::now_millis;
use crate::ids::new_secret_hex;
use crate::metrics::{METRICS, Metrics};
use anyhow::Context;
use makeroom_protocol::{Member, PresenceAction, Publication};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, ErrorKind, PushKind, Script, ServerErrorKind, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

// ARGV[10] and ARGV[11] are the epoch and the newest offset this instance saw of the channel. A log
// whose top is below that in the same epoch lost its newest entries (a failover to a replica that
// lagged): the offsets after its top were handed out already, so the channel starts a new epoch
// before anything is appended, and nobody is given a reused offset in the old one.
// The channel's state is read with one `HMGET` and written with one `HSET`, and `XADD` trims the
// stream itself: Redis runs every call of every append on its one thread, and logs each write to
// its append-only file.
const APPEND: &str = r#"
local meta, log, idem, topic = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local state = redis.call('HMGET', meta, 'epoch', 'top', 'first')
local epoch = state[1]
if not epoch then
  redis.call('HSET', meta, 'epoch', ARGV[1])
  epoch = ARGV[1]
end
local top = tonumber(state[2] or '0')
local rebased = '0'
if ARGV[10] ~= '' and epoch == ARGV[10] and top < tonumber(ARGV[11]) then
  redis.call('HSET', meta, 'epoch', ARGV[1])
  epoch = ARGV[1]
  rebased = '1'
end
if ARGV[9] == '1' then
  local seen = redis.call('GET', idem)
  if seen then
    -- A write of no consequence, so that a WAIT after this script also waits for the original
    -- append to reach the replicas (WAIT counts from this connection's last write).
    redis.call('HSET', meta, 'synced', ARGV[4])
    return {'duplicate', epoch, seen, rebased}
  end
end
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= top then return {'conflict', epoch, tostring(top), rebased} end
local offset = top + 1
local publication = '{"channel":' .. cjson.encode(ARGV[7]) .. ',"epoch":' .. cjson.encode(epoch)
  .. ',"offset":' .. offset .. ',"ts":' .. ARGV[4] .. ',"from":' .. ARGV[5] .. ',"data":' .. ARGV[6] .. '}'
-- Retention: the stream keeps the newest ARGV[3] entries, trimmed by the XADD itself.
local keep_from = nil
if ARGV[3] ~= '' then
  local from = offset + 1 - tonumber(ARGV[3])
  if from > tonumber(state[3] or '1') then keep_from = from end
end
if keep_from then
  redis.call('XADD', log, 'MINID', keep_from .. '-0', offset .. '-0', 'p', publication)
  redis.call('HSET', meta, 'top', offset, 'first', keep_from)
else
  redis.call('XADD', log, offset .. '-0', 'p', publication)
  redis.call('HSET', meta, 'top', offset)
end
if ARGV[9] == '1' then redis.call('SET', idem, offset .. ':' .. ARGV[4], 'EX', ARGV[8]) end
redis.call('PUBLISH', topic, publication)
return {'stored', epoch, offset .. ':' .. ARGV[4], rebased}
"#;

// ARGV[5] and ARGV[6]: what this instance saw of the channel, as for APPEND.
const READ: &str = r#"
local meta, log = KEYS[1], KEYS[2]
redis.call('HSETNX', meta, 'epoch', ARGV[1])
local epoch = redis.call('HGET', meta, 'epoch')
local top = redis.call('HGET', meta, 'top') or '0'
local rebased = '0'
if ARGV[5] ~= '' and epoch == ARGV[5] and tonumber(top) < tonumber(ARGV[6]) then
  redis.call('HSET', meta, 'epoch', ARGV[1])
  epoch = ARGV[1]
  rebased = '1'
end
local first = redis.call('HGET', meta, 'first') or '1'
local rows = {}
if tonumber(ARGV[4]) == 0 then
  rows = {}
elseif ARGV[2] == 'after' then
  rows = redis.call('XRANGE', log, '(' .. ARGV[3] .. '-0', '+', 'COUNT', ARGV[4])
else
  local upper = ARGV[3] == '' and '+' or ('(' .. ARGV[3] .. '-0')
  rows = redis.call('XREVRANGE', log, upper, '-', 'COUNT', ARGV[4])
end
local entries = {}
for i, row in ipairs(rows) do entries[i] = row[2][2] end
return {epoch, top, first, entries, rebased}
"#;

// Presence: a hash of entries `instance|participant` -> member, a sorted set of their expiry times,
// and a count of entries per participant. A join or leave is published only when a person's count
// goes 0 -> 1 or 1 -> 0, so a person connected through two instances joins once and leaves once.
// Entries of an instance that died expire and are pruned by whichever instance looks next.
const PRESENCE_JOIN: &str = r#"
local added = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if added == 1 and redis.call('HINCRBY', KEYS[3], ARGV[4], 1) == 1 then
  redis.call('PUBLISH', KEYS[4], '{"action":"join","member":' .. ARGV[2] .. '}')
end
return added
"#;

const PRESENCE_LEAVE: &str = r#"
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('PUBLISH', KEYS[4], '{"action":"leave","member":' .. member .. '}')
end
return 1
"#;

const PRESENCE_LIST: &str = r#"
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, field in ipairs(expired) do
  local member = redis.call('HGET', KEYS[1], field)
  redis.call('HDEL', KEYS[1], field)
  redis.call('ZREM', KEYS[2], field)
  local participant = string.match(field, '^[^|]*|(.*)$')
  if member and participant and redis.call('HINCRBY', KEYS[3], participant, -1) <= 0 then
    redis.call('HDEL', KEYS[3], participant)
    redis.call('PUBLISH', KEYS[4], '{"action":"leave","member":' .. member .. '}')
  end
end
return redis.call('HVALS', KEYS[1])
"#;

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
    /// Prefix of every key, so several deployments can share one Redis.
    pub prefix: String,
    /// How long an idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// How often watched channels are compared with Redis to find publications pub/sub lost.
    pub position_check: Duration,
    /// How long a presence entry lives without being refreshed: an instance that dies takes its
    /// people out of presence within this time (entries are refreshed every third of it).
    pub presence_ttl: Duration,
    /// Replicas that must confirm an append (`WAIT`) before it is acknowledged; 0: none.
    pub wait_replicas: u32,
    /// How long an append waits for them.
    pub wait_timeout: Duration,
}

/// How often the store checks that Redis answers and is still the Redis it was (its run marker):
/// `/readyz` answers from the last check at once.
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a channel stood the last time this instance looked: its epoch and the newest offset seen.
struct Position {
    epoch: String,
    top: u64,
}

/// A local presence change waiting to be told to Redis (in order, by one task).
struct PresenceChangeOp {
    key: ChannelKey,
    action: PresenceAction,
    member: Member,
}

/// A watched channel: how many parts of this instance need it, and the newest offset delivered.
struct Watch {
    key: ChannelKey,
    refs: usize,
    delivered: u64,
}

struct Shared {
    prefix: String,
    /// `{prefix}:pub:` and `{prefix}:presence:`, the topics' beginnings.
    publication_topics: String,
    presence_topics: String,
    /// The hub, fed on a thread of its own: what arrives while it fans out goes out as one group.
    fanout: FanOut,
    /// Publications parsed from the subscriber connection's current read, not yet handed on: a
    /// read brings many, and handing each on alone woke the fan-out thread once per publication.
    arriving: Mutex<Vec<Committed>>,
    /// Told when `arriving` stops being empty; its task hands the whole read on once the connection
    /// has parsed everything it read (no timer: it runs as soon as the connection's task yields).
    arrived: Arc<Notify>,
    /// By pub/sub topic.
    watched: Mutex<HashMap<String, Watch>>,
    /// Woken when the subscriber connection dropped: publications may have been lost.
    gap_suspected: Notify,
    presence: tokio::sync::mpsc::UnboundedSender<PresenceChangeOp>,
    /// Per channel, the furthest this instance saw it: a log found behind that lost entries.
    seen: Mutex<HashMap<ChannelKey, Position>>,
    losses: tokio::sync::broadcast::Sender<DataLoss>,
}

impl PresenceRelay for Shared {
    fn changed(&self, key: &ChannelKey, action: PresenceAction, member: &Member) {
        let _ = self.presence.send(PresenceChangeOp { key: key.clone(), action, member: member.clone() });
    }
}

impl Shared {
    /// Starts the fan-out thread, and the task that hands each read's publications on to it.
    fn start(
        prefix: &str,
        sink: Arc<dyn PublicationSink>,
        presence: tokio::sync::mpsc::UnboundedSender<PresenceChangeOp>,
    ) -> anyhow::Result<Arc<Self>> {
        let shared = Arc::new(Shared {
            prefix: prefix.to_string(),
            publication_topics: format!("{prefix}:pub:"),
            presence_topics: format!("{prefix}:presence:"),
            fanout: FanOut::start(sink)?,
            arriving: Mutex::new(Vec::new()),
            arrived: Arc::new(Notify::new()),
            watched: Mutex::new(HashMap::new()),
            gap_suspected: Notify::new(),
            presence,
            seen: Mutex::new(HashMap::new()),
            losses: tokio::sync::broadcast::channel(64).0,
        });
        let (arrived, arrivals) = (shared.arrived.clone(), Arc::downgrade(&shared));
        tokio::spawn(async move {
            loop {
                arrived.notified().await;
                let Some(shared) = arrivals.upgrade() else { return };
                shared.hand_on_arrivals();
            }
        });
        Ok(shared)
    }

    fn topic(&self, key: &ChannelKey) -> String {
        format!("{}{}", self.publication_topics, key)
    }

    fn watched(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watch>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<ChannelKey, Position>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch and newest offset this instance saw of `key`, for the scripts' check.
    fn seen_of(&self, key: &ChannelKey) -> (String, u64) {
        self.seen().get(key).map(|p| (p.epoch.clone(), p.top)).unwrap_or_default()
    }

    /// Notes where a channel stands in Redis. Its epoch changing under this instance (`rebased`: a
    /// script just changed it, having found the log behind what this instance saw; or another
    /// instance did, or the channel's metadata was lost and made anew) means entries it had seen are
    /// gone: what is folded from the channel must be read again.
    fn note_position(&self, key: &ChannelKey, epoch: &str, top: u64, rebased: bool) {
        let lost = {
            let mut seen = self.seen();
            match seen.get_mut(key) {
                Some(position) if !rebased && position.epoch == epoch => {
                    position.top = position.top.max(top);
                    false
                }
                Some(position) => {
                    *position = Position { epoch: epoch.to_string(), top };
                    true
                }
                None => {
                    seen.insert(key.clone(), Position { epoch: epoch.to_string(), top });
                    rebased
                }
            }
        };
        if lost {
            Metrics::count(&METRICS.redis_data_losses);
            tracing::error!(
                %key, epoch, top,
                "REDIS LOST DATA: this channel's log is behind what this instance saw (a failover to a replica \
                 that lagged, or Redis lost writes); it has a new epoch, clients resync, and its state is read again"
            );
            if let Some(watch) = self.watched().get_mut(&self.topic(key)) {
                watch.delivered = top;
            }
            let _ = self.losses.send(DataLoss::Channel(key.clone()));
        }
    }

    /// Redis is not the one this instance knew (its run marker changed or vanished): nothing seen
    /// before can be trusted.
    fn everything_lost(&self, was: &str, now: &str) {
        Metrics::count(&METRICS.redis_data_losses);
        tracing::error!(
            was,
            now,
            "REDIS LOST DATA: its run marker changed (Redis restarted without its data, was flushed, or another \
             Redis answers at this address); reloading every event and telling every client to reconnect"
        );
        self.seen().clear();
        for watch in self.watched().values_mut() {
            watch.delivered = 0;
        }
        let _ = self.losses.send(DataLoss::Everything);
    }

    /// Hands one publication to the hub, remembering how far the channel got.
    fn deliver(&self, topic: &str, publication: Publication) {
        let key = {
            let mut watched = self.watched();
            let Some(watch) = watched.get_mut(topic) else { return };
            watch.delivered = watch.delivered.max(publication.offset);
            watch.key.clone()
        };
        self.note_position(&key, &publication.epoch, publication.offset, false);
        let first = {
            let mut arriving = self.arriving();
            arriving.push(Committed { key, publication: Arc::new(publication) });
            arriving.len() == 1
        };
        if first {
            self.arrived.notify_one();
        }
    }

    fn arriving(&self) -> std::sync::MutexGuard<'_, Vec<Committed>> {
        self.arriving.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands everything parsed so far to the fan-out as one group, in the order it arrived.
    fn hand_on_arrivals(&self) {
        // Sent under the lock: two hand-ons from different threads must not pass each other.
        let mut arriving = self.arriving();
        self.fanout.send(std::mem::take(&mut *arriving));
    }

    fn on_push(&self, push: redis::PushInfo) {
        match push.kind {
            PushKind::Message => {
                // Borrowed where they lie in the reply: a push costs no copies before it is parsed.
                let [Value::BulkString(topic), Value::BulkString(payload)] = push.data.as_slice() else { return };
                let Ok(topic) = std::str::from_utf8(topic) else { return };
                if let Some(key) = topic.strip_prefix(&self.presence_topics).and_then(ChannelKey::parse) {
                    #[derive(serde::Deserialize)]
                    struct Change {
                        action: PresenceAction,
                        member: Member,
                    }
                    if let Ok(change) = serde_json::from_slice::<Change>(payload) {
                        // After the publications that came before it.
                        self.hand_on_arrivals();
                        self.fanout.send_presence(key, change.action, change.member);
                    }
                    return;
                }
                match serde_json::from_slice::<Publication>(payload) {
                    Ok(publication) => self.deliver(topic, publication),
                    Err(err) => tracing::error!(%topic, error = %err, "an unreadable publication on pub/sub"),
                }
            }
            PushKind::Disconnection => {
                Metrics::count(&METRICS.redis_disconnections);
                tracing::warn!("lost the Redis subscriber connection; will check every channel for gaps");
                self.gap_suspected.notify_one();
            }
            _ => {}
        }
    }
}

pub struct RedisStore {
    /// This process's name in presence entries.
    instance: String,
    presence_ttl: Duration,
    presence_list: Script,
    /// The people present through this instance, per channel, to refresh their entries' expiry.
    local_presence: Mutex<HashMap<ChannelKey, HashMap<String, String>>>,
    commands: ConnectionManager,
    /// Appends go here: with `wait_replicas` a connection of their own, since `WAIT` holds up every
    /// command behind it on its connection.
    appends: ConnectionManager,
    wait_replicas: u32,
    wait_timeout: Duration,
    subscriber: ConnectionManager,
    /// The random id kept in Redis under `{prefix}:run`, as this instance first read it.
    run_marker: Mutex<Option<String>>,
    /// The last probe's finding, which `/readyz` reports.
    health: Mutex<Result<(), String>>,
    shared: Arc<Shared>,
    append: Script,
    read: Script,
    idempotency_ttl_secs: u64,
    /// Serializes SUBSCRIBE/UNSUBSCRIBE with the reference counts they follow.
    subscribing: tokio::sync::Mutex<()>,
}

fn manager_config() -> ConnectionManagerConfig {
    // Keep trying for ever (capped at 2 s between tries): an outage must not leave a dead connection.
    ConnectionManagerConfig::new()
        .set_number_of_retries(usize::MAX)
        .set_max_delay(Duration::from_secs(2))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("Redis: {err}"))
}

/// Bounds one Redis operation by `limit`. While Redis is down the connection keeps reconnecting in
/// the background, and a request waiting for it would wait for ever: it gets a clear, retryable
/// `unavailable` instead, and a client retries it (with its idempotency key) when Redis is back.
async fn bounded_by<T>(
    limit: Duration,
    operation: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => result.map_err(unavailable),
        Err(_) => Err(did_not_answer()),
    }
}

fn did_not_answer() -> StoreError {
    StoreError::Unavailable("Redis did not answer in time".into())
}

fn no_script(err: &redis::RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

fn text(value: &Value) -> Option<String> {
    redis::from_redis_value_ref::<String>(value).ok()
}

fn number(value: &Value) -> u64 {
    text(value).and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// Parses `offset:ts`.
fn offset_and_ts(value: &str) -> (u64, i64) {
    let (offset, ts) = value.split_once(':').unwrap_or((value, "0"));
    (offset.parse().unwrap_or(0), ts.parse().unwrap_or(0))
}

impl RedisStore {
    /// Connects (lazily: it starts even while Redis is down, and reconnects with backoff for ever) and
    /// starts the task that finds and fills pub/sub gaps.
    pub async fn open(config: RedisConfig, sink: Arc<dyn PublicationSink>) -> anyhow::Result<Arc<Self>> {
        let (presence_tx, mut presence_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Shared::start(&config.prefix, sink, presence_tx)?;
        let client = redis::Client::open(config.url.as_str()).context("parsing the Redis URL")?;
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), manager_config())
            .context("preparing the Redis connection")?;
        let appends = if config.wait_replicas > 0 {
            ConnectionManager::new_lazy_with_config(client, manager_config())
                .context("preparing the Redis connection for appends")?
        } else {
            commands.clone()
        };
        let on_push = shared.clone();
        let subscriber_client = redis::Client::open(resp3(&config.url)).context("parsing the Redis URL")?;
        let subscriber = ConnectionManager::new_lazy_with_config(
            subscriber_client,
            manager_config().set_automatic_resubscription().set_push_sender(move |push: redis::PushInfo| {
                on_push.on_push(push);
                Ok::<(), redis::aio::SendError>(())
            }),
        )
        .context("preparing the Redis subscriber connection")?;
        let store = Arc::new(RedisStore {
            instance: new_secret_hex()[..12].to_string(),
            presence_ttl: config.presence_ttl.max(Duration::from_millis(300)),
            presence_list: Script::new(PRESENCE_LIST),
            local_presence: Mutex::new(HashMap::new()),
            commands,
            appends,
            wait_replicas: config.wait_replicas,
            // Within the request's budget, with time left to answer.
            wait_timeout: config.wait_timeout.min(REQUEST_BUDGET / 2),
            subscriber,
            run_marker: Mutex::new(None),
            health: Mutex::new(Err("not checked yet".into())),
            shared,
            append: Script::new(APPEND),
            read: Script::new(READ),
            idempotency_ttl_secs: config.idempotency_ttl.as_secs().max(1),
            subscribing: tokio::sync::Mutex::new(()),
        });
        // Learn the run marker before any state is read, so a Redis replaced later is noticed.
        store.probe().await;
        let prober = Arc::downgrade(&store);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(store) = prober.upgrade() else { return };
                store.probe().await;
            }
        });
        let checker = Arc::downgrade(&store);
        let shared = store.shared.clone();
        let every = config.position_check;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shared.gap_suspected.notified() => {
                        // Give the connection a moment to come back and resubscribe first.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                let Some(store) = checker.upgrade() else { return };
                if let Err(err) = store.fill_gaps().await {
                    tracing::debug!(error = %err, "position check failed; will retry");
                }
            }
        });
        // Presence changes go to Redis one at a time, in the order they happened here.
        let relay = Arc::downgrade(&store);
        tokio::spawn(async move {
            let (join, leave) = (Script::new(PRESENCE_JOIN), Script::new(PRESENCE_LEAVE));
            while let Some(change) = presence_rx.recv().await {
                let Some(store) = relay.upgrade() else { return };
                if let Err(err) = store.tell_presence(&join, &leave, change).await {
                    tracing::warn!(error = %err, "could not record a presence change in Redis");
                }
            }
        });
        // Keep this instance's entries alive, and prune the entries of instances that died.
        let refresher = Arc::downgrade(&store);
        let every = store.presence_ttl / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(store) = refresher.upgrade() else { return };
                if let Err(err) = store.refresh_presence().await {
                    tracing::debug!(error = %err, "refreshing presence failed; will retry");
                }
            }
        });
        Ok(store)
    }

    /// One Redis operation within what is left of its request's budget (`REQUEST_BUDGET` outside a
    /// request), so a request is answered within the budget however many operations it makes.
    async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.noted(bounded_by(request_time_left(), operation).await)
    }

    /// Like `bounded`, for an operation that may safely run twice (a read, a subscription, a script
    /// that changes nothing when repeated): when its connection turns out to be one Redis dropped
    /// (Redis restarted since it was last used, which the connection learns only by failing), it runs
    /// once more on the connection made anew, within the same budget, instead of failing a request
    /// that would succeed now.
    async fn bounded_repeatable<T, F, Fut>(&self, mut operation: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let deadline = tokio::time::Instant::now() + request_time_left();
        let outcome = match tokio::time::timeout_at(deadline, operation()).await {
            Ok(Err(err)) if err.is_connection_dropped() => {
                tracing::debug!(error = %err, "a dropped Redis connection; trying once more on a new one");
                bounded_by(deadline.saturating_duration_since(tokio::time::Instant::now()), operation()).await
            }
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(did_not_answer()),
        };
        self.noted(outcome)
    }

    /// A failure marks the store not ready until the next probe finds Redis answering.
    fn noted<T>(&self, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(err) = &outcome {
            *self.health() = Err(err.to_string());
        }
        outcome
    }

    /// Checks that Redis answers on both connections and is the Redis this instance knew, and records
    /// the finding for `/readyz`.
    async fn probe(&self) {
        let finding = async {
            let marker_key = format!("{}:run", self.shared.prefix);
            let mut pipe = redis::pipe();
            pipe.cmd("SET").arg(&marker_key).arg(new_secret_hex()).arg("NX").ignore().get(&marker_key);
            let mut connection = self.commands.clone();
            let (marker,): (String,) = bounded_by(PROBE_TIMEOUT, pipe.query_async(&mut connection)).await?;
            let mut subscriber = self.subscriber.clone();
            let _: () = bounded_by(PROBE_TIMEOUT, redis::cmd("PING").query_async(&mut subscriber)).await?;
            Ok::<_, StoreError>(marker)
        }
        .await;
        match finding {
            Ok(marker) => {
                let was = {
                    let mut known = self.run_marker.lock().unwrap_or_else(|p| p.into_inner());
                    let was = known.replace(marker.clone());
                    was.filter(|was| *was != marker)
                };
                if let Some(was) = was {
                    self.shared.everything_lost(&was, &marker);
                }
                *self.health() = Ok(());
            }
            Err(err) => *self.health() = Err(err.to_string()),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Result<(), String>> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the append script (and, with `wait_replicas`, `WAIT` right after it in one round trip on
    /// the same connection). Returns the script's reply and how many replicas confirmed.
    async fn run_append(&self, script_call: redis::Cmd) -> Result<(Value, Option<i64>), StoreError> {
        let mut connection = self.appends.clone();
        let attempt = async |connection: &mut ConnectionManager| -> redis::RedisResult<(Value, Option<i64>)> {
            if self.wait_replicas == 0 {
                return script_call.query_async(connection).await.map(|reply| (reply, None));
            }
            let mut pipe = redis::pipe();
            pipe.add_command(script_call.clone());
            pipe.cmd("WAIT").arg(self.wait_replicas).arg(self.wait_timeout.as_millis() as u64);
            let (reply, confirmed): (Value, i64) = pipe.query_async(connection).await?;
            Ok((reply, Some(confirmed)))
        };
        self.bounded(async {
            match attempt(&mut connection).await {
                // A Redis that never saw the script (restarted, or a promoted replica: loading a
                // script is not replicated).
                Err(err) if no_script(&err) => {
                    self.append.load_async(&mut connection).await?;
                    attempt(&mut connection).await
                }
                other => other,
            }
        })
        .await
    }

    /// The relay the hub hands local presence changes to.
    pub fn presence_relay(&self) -> Arc<dyn PresenceRelay> {
        self.shared.clone()
    }

    fn presence_keys(&self, key: &ChannelKey) -> [String; 4] {
        let prefix = &self.shared.prefix;
        [
            format!("{prefix}:{{{key}}}:presence"),
            format!("{prefix}:{{{key}}}:presence-expiry"),
            format!("{prefix}:{{{key}}}:presence-count"),
            format!("{prefix}:presence:{key}"),
        ]
    }

    async fn tell_presence(&self, join: &Script, leave: &Script, change: PresenceChangeOp) -> Result<(), StoreError> {
        let keys = self.presence_keys(&change.key);
        let field = format!("{}|{}", self.instance, change.member.id);
        let mut connection = self.commands.clone();
        match change.action {
            PresenceAction::Join => {
                let member = serde_json::to_string(&change.member).context("encoding a member")?;
                self.local_presence()
                    .entry(change.key.clone())
                    .or_default()
                    .insert(change.member.id.clone(), member.clone());
                let expiry = now_millis() + self.presence_ttl.as_millis() as i64;
                let mut invocation = join.prepare_invoke();
                invocation.key(&keys[0]).key(&keys[1]).key(&keys[2]).key(&keys[3]);
                invocation.arg(&field).arg(member).arg(expiry).arg(&change.member.id);
                let _: i64 = self.bounded(invocation.invoke_async(&mut connection)).await?;
            }
            PresenceAction::Leave => {
                if let Some(people) = self.local_presence().get_mut(&change.key) {
                    people.remove(&change.member.id);
                }
                let mut invocation = leave.prepare_invoke();
                invocation.key(&keys[0]).key(&keys[1]).key(&keys[2]).key(&keys[3]);
                invocation.arg(&field).arg(&change.member.id);
                let _: i64 = self.bounded(invocation.invoke_async(&mut connection)).await?;
            }
        }
        Ok(())
    }

    fn local_presence(&self) -> std::sync::MutexGuard<'_, HashMap<ChannelKey, HashMap<String, String>>> {
        self.local_presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn refresh_presence(&self) -> Result<(), StoreError> {
        let expiry = now_millis() + self.presence_ttl.as_millis() as i64;
        let entries: Vec<(ChannelKey, Vec<String>)> = {
            let mut local = self.local_presence();
            local.retain(|_, people| !people.is_empty());
            local.iter().map(|(key, people)| (key.clone(), people.keys().cloned().collect())).collect()
        };
        let mut pipe = redis::pipe();
        for (key, people) in &entries {
            let zset = &self.presence_keys(key)[1];
            for person in people {
                pipe.zadd(zset, format!("{}|{person}", self.instance), expiry).ignore();
            }
        }
        let mut connection = self.commands.clone();
        let _: () = self.bounded(pipe.query_async(&mut connection)).await?;
        // Prune (and announce the leaving of) entries whose instance stopped refreshing them.
        let watched: Vec<ChannelKey> = self.shared.watched().values().map(|w| w.key.clone()).collect();
        for key in watched {
            self.list_presence(&key).await?;
        }
        Ok(())
    }

    async fn list_presence(&self, key: &ChannelKey) -> Result<Vec<Member>, StoreError> {
        let keys = self.presence_keys(key);
        let mut connection = self.commands.clone();
        let mut invocation = self.presence_list.prepare_invoke();
        invocation.key(&keys[0]).key(&keys[1]).key(&keys[2]).key(&keys[3]).arg(now_millis());
        let entries: Vec<String> = self.bounded(invocation.invoke_async(&mut connection)).await?;
        let mut members: Vec<Member> = entries.iter().filter_map(|e| serde_json::from_str(e).ok()).collect();
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
        Ok(members)
    }

    /// The signing secret shared by every instance: the first to start creates it.
    pub async fn shared_secret(&self) -> anyhow::Result<String> {
        let key = format!("{}:jwt-secret", self.shared.prefix);
        let mut connection = self.commands.clone();
        let _: bool = self
            .bounded(connection.set_nx(&key, new_secret_hex()))
            .await
            .context("storing the signing secret in Redis")?;
        let secret: String =
            self.bounded(connection.get(&key)).await.context("reading the signing secret from Redis")?;
        Ok(secret)
    }

    fn meta(&self, key: &ChannelKey) -> String {
        format!("{}:{{{key}}}:meta", self.shared.prefix)
    }

    fn log(&self, key: &ChannelKey) -> String {
        format!("{}:{{{key}}}:log", self.shared.prefix)
    }

    fn idem(&self, key: &ChannelKey, idempotency_key: &str) -> String {
        format!("{}:{{{key}}}:idem:{idempotency_key}", self.shared.prefix)
    }

    async fn read_slice(
        &self,
        key: &ChannelKey,
        direction: &str,
        bound: Option<u64>,
        limit: u64,
    ) -> Result<ChannelSlice, StoreError> {
        let (seen_epoch, seen_top) = self.shared.seen_of(key);
        // Repeatable: the script's new epoch (for a channel with none, or one found behind what
        // this instance saw) is made once, as a second run finds the first's epoch.
        let new_epoch = new_secret_hex()[..16].to_string();
        let bound = bound.map(|b| b.to_string()).unwrap_or_default();
        let value: Value = self
            .bounded_repeatable(|| {
                let mut connection = self.commands.clone();
                let mut invocation = self.read.prepare_invoke();
                invocation
                    .key(self.meta(key))
                    .key(self.log(key))
                    .arg(&new_epoch)
                    .arg(direction)
                    .arg(&bound)
                    .arg(limit)
                    .arg(&seen_epoch)
                    .arg(seen_top);
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        let Value::Array(parts) = value else {
            return Err(StoreError::Unexpected(anyhow::anyhow!("the read script answered {value:?}")));
        };
        let [epoch, top, first, entries, rebased] = parts.as_slice() else {
            return Err(StoreError::Unexpected(anyhow::anyhow!("the read script answered {} parts", parts.len())));
        };
        let epoch = text(epoch).unwrap_or_default();
        let top = number(top);
        self.shared.note_position(key, &epoch, top, text(rebased).as_deref() == Some("1"));
        let mut publications = Vec::new();
        if let Value::Array(entries) = entries {
            for entry in entries {
                let bytes: Vec<u8> = redis::from_redis_value_ref(entry)
                    .map_err(|err| StoreError::Unexpected(anyhow::anyhow!("an unreadable log entry: {err}")))?;
                let mut publication: Publication = serde_json::from_slice(&bytes).map_err(|err| {
                    StoreError::Unexpected(anyhow::Error::new(err).context("an unreadable log entry"))
                })?;
                // Entries kept across a new epoch (after Redis lost the ones past them) belong to it,
                // at the same offsets.
                if publication.epoch != epoch {
                    publication.epoch.clone_from(&epoch);
                }
                publications.push(publication);
            }
        }
        if direction == "before" {
            publications.reverse();
        }
        Ok(ChannelSlice { epoch: epoch.into(), top, first: number(first).max(1), publications })
    }

    /// Compares every watched channel's top offset in Redis with what was delivered here, and
    /// delivers what pub/sub lost.
    async fn fill_gaps(&self) -> Result<(), StoreError> {
        let watched: Vec<(String, ChannelKey, u64)> =
            self.shared.watched().iter().map(|(topic, w)| (topic.clone(), w.key.clone(), w.delivered)).collect();
        if watched.is_empty() {
            let mut connection = self.commands.clone();
            let _: () = self.bounded(redis::cmd("PING").query_async(&mut connection)).await?;
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (_, key, _) in &watched {
            pipe.hget(self.meta(key), "top");
        }
        let tops: Vec<Option<u64>> = self
            .bounded_repeatable(|| {
                let mut connection = self.commands.clone();
                let pipe = pipe.clone();
                async move { pipe.query_async(&mut connection).await }
            })
            .await?;
        for ((topic, key, delivered), top) in watched.into_iter().zip(tops) {
            let top = top.unwrap_or(0);
            if top < delivered {
                // The log is behind what was delivered here: reading it has the script find that
                // out and give the channel a new epoch (and the state folded from it is read again).
                tracing::warn!(%key, delivered, top, "a channel's log went backwards in Redis");
                self.read_slice(&key, "after", Some(top), 0).await?;
                continue;
            }
            if top == delivered {
                continue;
            }
            tracing::info!(%key, delivered, top, "recovering publications pub/sub did not bring");
            let slice = self.read_slice(&key, "after", Some(delivered), top - delivered).await?;
            for publication in slice.publications {
                Metrics::count(&METRICS.pubsub_gaps_filled);
                self.shared.deliver(&topic, publication);
            }
        }
        Ok(())
    }
}

impl Store for RedisStore {
    fn append(&self, request: AppendRequest) -> StoreFuture<'_, Appended> {
        Box::pin(async move {
            let sender = serde_json::to_string(&request.from).context("encoding a sender")?;
            let idempotency_key = request.idempotency_key.as_deref().unwrap_or("");
            let (seen_epoch, seen_top) = self.shared.seen_of(&request.key);
            let mut script_call = redis::cmd("EVALSHA");
            script_call
                .arg(self.append.get_hash())
                .arg(4)
                .arg(self.meta(&request.key))
                .arg(self.log(&request.key))
                .arg(self.idem(&request.key, idempotency_key))
                .arg(self.shared.topic(&request.key))
                .arg(&new_secret_hex()[..16])
                .arg(request.expected_offset.map(|o| o.to_string()).unwrap_or_default())
                .arg(request.retain.map(|r| r.max(1).to_string()).unwrap_or_default())
                .arg(now_millis())
                .arg(sender)
                .arg(request.data.get())
                .arg(request.key.name())
                .arg(self.idempotency_ttl_secs)
                .arg(if request.idempotency_key.is_some() { "1" } else { "0" })
                .arg(seen_epoch)
                .arg(seen_top);
            let (reply, confirmed) = self.run_append(script_call).await?;
            let (outcome, epoch, position, rebased): (String, String, String, String) = redis::from_redis_value(reply)
                .map_err(|err| {
                    StoreError::Unexpected(anyhow::anyhow!("the append script answered something else: {err}"))
                })?;
            let rebased = rebased == "1";
            let (offset, ts) = offset_and_ts(&position);
            self.shared.note_position(&request.key, &epoch, offset, rebased);
            if outcome == "conflict" {
                return Err(StoreError::Conflict { top: offset });
            }
            if outcome != "duplicate" && outcome != "stored" {
                return Err(StoreError::Unexpected(anyhow::anyhow!("the append script answered {outcome}")));
            }
            if let Some(confirmed) = confirmed
                && confirmed < i64::from(self.wait_replicas)
            {
                Metrics::count(&METRICS.redis_replica_waits_failed);
                return Err(StoreError::Unavailable(format!(
                    "{confirmed} of {} Redis replicas confirmed the append within {} ms; it may be stored, and a \
                     retry with the same key finds it",
                    self.wait_replicas,
                    self.wait_timeout.as_millis()
                )));
            }
            Ok(Appended { epoch: epoch.into(), offset, ts, duplicate: outcome == "duplicate" })
        })
    }

    fn read_after<'a>(&'a self, key: &'a ChannelKey, after: u64, limit: u64) -> StoreFuture<'a, ChannelSlice> {
        Box::pin(self.read_slice(key, "after", Some(after), limit))
    }

    fn read_before<'a>(
        &'a self,
        key: &'a ChannelKey,
        before: Option<u64>,
        limit: u64,
    ) -> StoreFuture<'a, ChannelSlice> {
        Box::pin(self.read_slice(key, "before", before, limit))
    }

    fn find_key<'a>(&'a self, key: &'a ChannelKey, idempotency_key: &'a str) -> StoreFuture<'a, Option<Appended>> {
        Box::pin(async move {
            let mut connection = self.commands.clone();
            let mut pipe = redis::pipe();
            pipe.get(self.idem(key, idempotency_key)).hget(self.meta(key), "epoch");
            let (position, epoch): (Option<String>, Option<String>) =
                self.bounded(pipe.query_async(&mut connection)).await?;
            let Some(position) = position else { return Ok(None) };
            if self.wait_replicas > 0 {
                // The first try may have been answered `unavailable` for want of replicas: this
                // answer acknowledges it, so it too waits until they hold it (a write first, since
                // WAIT counts from its connection's last write).
                let mut appends = self.appends.clone();
                let mut pipe = redis::pipe();
                pipe.hset(self.meta(key), "synced", now_millis()).ignore();
                pipe.cmd("WAIT").arg(self.wait_replicas).arg(self.wait_timeout.as_millis() as u64);
                let (confirmed,): (i64,) = self.bounded(pipe.query_async(&mut appends)).await?;
                if confirmed < i64::from(self.wait_replicas) {
                    Metrics::count(&METRICS.redis_replica_waits_failed);
                    return Err(StoreError::Unavailable(format!(
                        "{confirmed} of {} Redis replicas confirmed the message within {} ms",
                        self.wait_replicas,
                        self.wait_timeout.as_millis()
                    )));
                }
            }
            let (offset, ts) = offset_and_ts(&position);
            Ok(Some(Appended { epoch: epoch.unwrap_or_default().into(), offset, ts, duplicate: true }))
        })
    }

    fn watch<'a>(&'a self, key: &'a ChannelKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let _subscribing = self.subscribing.lock().await;
            let topic = self.shared.topic(key);
            if let Some(watch) = self.shared.watched().get_mut(&topic) {
                watch.refs += 1;
                return Ok(());
            }
            // Subscribe first, then learn the top: anything after that top arrives by pub/sub, and the
            // caller reads anything before it from history.
            let presence_keys = self.presence_keys(key);
            let (topic_ref, presence_topic) = (&topic, &presence_keys[3]);
            let subscriber = &self.subscriber;
            self.bounded_repeatable(|| {
                let mut subscriber = subscriber.clone();
                async move { subscriber.subscribe(topic_ref).await }
            })
            .await?;
            self.bounded_repeatable(|| {
                let mut subscriber = subscriber.clone();
                async move { subscriber.subscribe(presence_topic).await }
            })
            .await?;
            let top: Option<u64> = self
                .bounded_repeatable(|| {
                    let mut connection = self.commands.clone();
                    let meta = self.meta(key);
                    async move { connection.hget(meta, "top").await }
                })
                .await?;
            self.shared.watched().insert(topic, Watch { key: key.clone(), refs: 1, delivered: top.unwrap_or(0) });
            Ok(())
        })
    }

    fn unwatch<'a>(&'a self, key: &'a ChannelKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let _subscribing = self.subscribing.lock().await;
            let topic = self.shared.topic(key);
            let last = match self.shared.watched().get_mut(&topic) {
                Some(watch) => {
                    watch.refs = watch.refs.saturating_sub(1);
                    watch.refs == 0
                }
                None => false,
            };
            if last {
                self.shared.watched().remove(&topic);
                let mut subscriber = self.subscriber.clone();
                self.bounded(subscriber.unsubscribe(&topic)).await?;
                self.bounded(subscriber.unsubscribe(&self.presence_keys(key)[3])).await?;
            }
            Ok(())
        })
    }

    fn presence<'a>(&'a self, key: &'a ChannelKey) -> StoreFuture<'a, Option<Vec<Member>>> {
        Box::pin(async move { self.list_presence(key).await.map(Some) })
    }

    fn photos(&self) -> &dyn super::photos::PhotoStore {
        self
    }

    fn check_ready(&self) -> StoreFuture<'_, ()> {
        let health = self.health().clone();
        Box::pin(async move { health.map_err(StoreError::Unavailable) })
    }

    fn data_losses(&self) -> Option<tokio::sync::broadcast::Receiver<DataLoss>> {
        Some(self.shared.losses.subscribe())
    }
}

/// Photos in Redis: one hash per photo, `{prefix}:photo:{event}:{id}`, with its `type` and `bytes`.
/// Durable as any write is (`appendfsync always`); with `--redis-wait-replicas`, only once replicas
/// hold it, like an append.
impl super::photos::PhotoStore for RedisStore {
    fn put<'a>(&'a self, event: &'a str, id: &'a str, photo: super::photos::StoredPhoto) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = self.photo_key(event, id);
            let mut pipe = redis::pipe();
            pipe.hset_multiple(&key, &[("type", photo.content_type.as_bytes()), ("bytes", photo.bytes.as_slice())])
                .ignore();
            if self.wait_replicas > 0 {
                pipe.cmd("WAIT").arg(self.wait_replicas).arg(self.wait_timeout.as_millis() as u64);
                let mut connection = self.appends.clone();
                let (confirmed,): (i64,) = self.bounded(pipe.query_async(&mut connection)).await?;
                if confirmed < i64::from(self.wait_replicas) {
                    return Err(StoreError::Unavailable(format!(
                        "the photo reached {confirmed} of {} Redis replicas in time",
                        self.wait_replicas
                    )));
                }
                return Ok(());
            }
            let mut connection = self.commands.clone();
            let () = self.bounded(pipe.query_async(&mut connection)).await?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, event: &'a str, id: &'a str) -> StoreFuture<'a, Option<super::photos::StoredPhoto>> {
        Box::pin(async move {
            let mut connection = self.commands.clone();
            let (content_type, bytes): (Option<String>, Option<Vec<u8>>) = self
                .bounded(
                    redis::cmd("HMGET")
                        .arg(self.photo_key(event, id))
                        .arg("type")
                        .arg("bytes")
                        .query_async(&mut connection),
                )
                .await?;
            Ok(content_type.zip(bytes).map(|(content_type, bytes)| super::photos::StoredPhoto { content_type, bytes }))
        })
    }

    fn remove<'a>(&'a self, event: &'a str, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut connection = self.commands.clone();
            let _: i64 = self.bounded(connection.del(self.photo_key(event, id))).await?;
            Ok(())
        })
    }
}

impl RedisStore {
    fn photo_key(&self, event: &str, id: &str) -> String {
        format!("{}:photo:{event}:{id}", self.shared.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use makeroom_protocol::{Role, Sender};
    use serde_json::value::RawValue;

    /// What reached the hub: a group's offsets, or a presence change.
    #[derive(Debug, PartialEq)]
    enum Reached {
        Group(Vec<u64>),
        Presence(String),
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Reached>>);

    impl PublicationSink for Recorder {
        fn deliver(&self, group: Vec<Committed>) {
            let offsets = group.iter().map(|c| c.publication.offset).collect();
            self.0.lock().expect("recorder").push(Reached::Group(offsets));
        }

        fn deliver_presence(&self, _key: &ChannelKey, _action: PresenceAction, member: &Member) {
            self.0.lock().expect("recorder").push(Reached::Presence(member.id.clone()));
        }
    }

    fn message(topic: &str, payload: Vec<u8>) -> redis::PushInfo {
        redis::PushInfo {
            kind: PushKind::Message,
            data: vec![Value::BulkString(topic.as_bytes().to_vec()), Value::BulkString(payload)],
        }
    }

    fn publication(offset: u64) -> Vec<u8> {
        let publication = Publication {
            channel: "lobby".into(),
            epoch: "e1".into(),
            offset,
            ts: 0,
            from: Sender { id: "p1".into(), name: "Ada".into(), role: Role::Participant },
            data: RawValue::from_string(r#"{"text":"hi"}"#.into()).expect("json"),
        };
        serde_json::to_vec(&publication).expect("encodes")
    }

    /// Waits (bounded) until the recorder holds `count` arrivals.
    fn reached(recorder: &Recorder, count: usize) -> Vec<Reached> {
        for _ in 0..200 {
            if recorder.0.lock().expect("recorder").len() >= count {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::mem::take(&mut *recorder.0.lock().expect("recorder"))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_publications_of_one_read_reach_the_hub_as_one_group_in_order_around_presence() {
        let recorder = Arc::new(Recorder::default());
        let (presence, _presence_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Shared::start("mr", recorder.clone(), presence).expect("starts");
        let key = ChannelKey::new("ev", "lobby");
        let topic = shared.topic(&key);
        shared.watched().insert(topic.clone(), Watch { key, refs: 1, delivered: 0 });
        let join = br#"{"action":"join","member":{"id":"p2","name":"Bo","role":"participant"}}"#.to_vec();
        // One read's worth, parsed without yielding, as the subscriber connection parses it.
        for offset in 1..=3 {
            shared.on_push(message(&topic, publication(offset)));
        }
        shared.on_push(message("mr:presence:ev/lobby", join));
        shared.on_push(message(&topic, publication(4)));
        shared.on_push(message(&topic, publication(5)));
        // An unknown topic is not ours: dropped.
        shared.on_push(message("mr:pub:ev/elsewhere", publication(1)));
        // The hand-on task runs once this one yields, as it does after the connection's read.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            reached(&recorder, 3),
            [Reached::Group(vec![1, 2, 3]), Reached::Presence("p2".into()), Reached::Group(vec![4, 5])]
        );
        assert_eq!(shared.watched().get(&topic).map(|w| w.delivered), Some(5));
    }
}

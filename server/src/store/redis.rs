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
    AppendRequest, Appended, ChannelKey, ChannelSlice, Committed, PresenceRelay, PublicationSink, Store, StoreError,
    StoreFuture,
};
use crate::clock::now_millis;
use crate::ids::new_secret_hex;
use crate::metrics::{METRICS, Metrics};
use anyhow::Context;
use makeroom_protocol::{Member, PresenceAction, Publication};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, PushKind, Script, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const APPEND: &str = r#"
local meta, log, idem, topic = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
redis.call('HSETNX', meta, 'epoch', ARGV[1])
local epoch = redis.call('HGET', meta, 'epoch')
if ARGV[9] == '1' then
  local seen = redis.call('GET', idem)
  if seen then return {'duplicate', epoch, seen} end
end
local top = tonumber(redis.call('HGET', meta, 'top') or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= top then return {'conflict', epoch, tostring(top)} end
local offset = top + 1
local publication = '{"channel":' .. cjson.encode(ARGV[7]) .. ',"epoch":' .. cjson.encode(epoch)
  .. ',"offset":' .. offset .. ',"ts":' .. ARGV[4] .. ',"from":' .. ARGV[5] .. ',"data":' .. ARGV[6] .. '}'
redis.call('XADD', log, offset .. '-0', 'p', publication)
redis.call('HSET', meta, 'top', offset)
if ARGV[3] ~= '' then
  local first = tonumber(redis.call('HGET', meta, 'first') or '1')
  local keep_from = offset + 1 - tonumber(ARGV[3])
  if keep_from > first then
    redis.call('XTRIM', log, 'MINID', keep_from .. '-0')
    redis.call('HSET', meta, 'first', keep_from)
  end
end
if ARGV[9] == '1' then redis.call('SET', idem, offset .. ':' .. ARGV[4], 'EX', ARGV[8]) end
redis.call('PUBLISH', topic, publication)
return {'stored', epoch, offset .. ':' .. ARGV[4]}
"#;

const READ: &str = r#"
local meta, log = KEYS[1], KEYS[2]
redis.call('HSETNX', meta, 'epoch', ARGV[1])
local epoch = redis.call('HGET', meta, 'epoch')
local top = redis.call('HGET', meta, 'top') or '0'
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
return {epoch, top, first, entries}
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
    sink: Arc<dyn PublicationSink>,
    /// By pub/sub topic.
    watched: Mutex<HashMap<String, Watch>>,
    /// Woken when the subscriber connection dropped: publications may have been lost.
    gap_suspected: Notify,
    presence: tokio::sync::mpsc::UnboundedSender<PresenceChangeOp>,
}

impl PresenceRelay for Shared {
    fn changed(&self, key: &ChannelKey, action: PresenceAction, member: &Member) {
        let _ = self.presence.send(PresenceChangeOp { key: key.clone(), action, member: member.clone() });
    }
}

impl Shared {
    fn topic(&self, key: &ChannelKey) -> String {
        format!("{}:pub:{}", self.prefix, key)
    }

    fn watched(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watch>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands one publication to the hub, remembering how far the channel got.
    fn deliver(&self, topic: &str, publication: Publication) {
        let key = {
            let mut watched = self.watched();
            let Some(watch) = watched.get_mut(topic) else { return };
            watch.delivered = watch.delivered.max(publication.offset);
            watch.key.clone()
        };
        self.sink.deliver(vec![Committed { key, publication }]);
    }

    fn on_push(&self, push: redis::PushInfo) {
        match push.kind {
            PushKind::Message => {
                let [topic, payload] = push.data.as_slice() else { return };
                let (Ok(topic), Ok(payload)) =
                    (redis::from_redis_value_ref::<String>(topic), redis::from_redis_value_ref::<Vec<u8>>(payload))
                else {
                    return;
                };
                if let Some(key) = topic.strip_prefix(&format!("{}:presence:", self.prefix)).and_then(ChannelKey::parse)
                {
                    #[derive(serde::Deserialize)]
                    struct Change {
                        action: PresenceAction,
                        member: Member,
                    }
                    if let Ok(change) = serde_json::from_slice::<Change>(&payload) {
                        self.sink.deliver_presence(&key, change.action, &change.member);
                    }
                    return;
                }
                match serde_json::from_slice::<Publication>(&payload) {
                    Ok(publication) => self.deliver(&topic, publication),
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
    subscriber: ConnectionManager,
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

/// How long one Redis operation may take. While Redis is down the connection keeps reconnecting in
/// the background, and a request waiting for it would wait for ever: it gets a clear, retryable
/// `unavailable` instead, and a client retries it (with its idempotency key) when Redis is back.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);

async fn bounded<T>(operation: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(OPERATION_TIMEOUT, operation).await {
        Ok(result) => result.map_err(unavailable),
        Err(_) => Err(StoreError::Unavailable("Redis did not answer in time".into())),
    }
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
        let shared = Arc::new(Shared {
            prefix: config.prefix.clone(),
            sink,
            watched: Mutex::new(HashMap::new()),
            gap_suspected: Notify::new(),
            presence: presence_tx,
        });
        let client = redis::Client::open(config.url.as_str()).context("parsing the Redis URL")?;
        let commands = ConnectionManager::new_lazy_with_config(client, manager_config())
            .context("preparing the Redis connection")?;
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
            subscriber,
            shared,
            append: Script::new(APPEND),
            read: Script::new(READ),
            idempotency_ttl_secs: config.idempotency_ttl.as_secs().max(1),
            subscribing: tokio::sync::Mutex::new(()),
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
                let _: i64 = bounded(invocation.invoke_async(&mut connection)).await?;
            }
            PresenceAction::Leave => {
                if let Some(people) = self.local_presence().get_mut(&change.key) {
                    people.remove(&change.member.id);
                }
                let mut invocation = leave.prepare_invoke();
                invocation.key(&keys[0]).key(&keys[1]).key(&keys[2]).key(&keys[3]);
                invocation.arg(&field).arg(&change.member.id);
                let _: i64 = bounded(invocation.invoke_async(&mut connection)).await?;
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
        let _: () = bounded(pipe.query_async(&mut connection)).await?;
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
        let entries: Vec<String> = bounded(invocation.invoke_async(&mut connection)).await?;
        let mut members: Vec<Member> = entries.iter().filter_map(|e| serde_json::from_str(e).ok()).collect();
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
        Ok(members)
    }

    /// The signing secret shared by every instance: the first to start creates it.
    pub async fn shared_secret(&self) -> anyhow::Result<String> {
        let key = format!("{}:jwt-secret", self.shared.prefix);
        let mut connection = self.commands.clone();
        let _: bool =
            bounded(connection.set_nx(&key, new_secret_hex())).await.context("storing the signing secret in Redis")?;
        let secret: String = bounded(connection.get(&key)).await.context("reading the signing secret from Redis")?;
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
        let mut connection = self.commands.clone();
        let value: Value = bounded(
            self.read
                .key(self.meta(key))
                .key(self.log(key))
                .arg(&new_secret_hex()[..16])
                .arg(direction)
                .arg(bound.map(|b| b.to_string()).unwrap_or_default())
                .arg(limit)
                .invoke_async(&mut connection),
        )
        .await?;
        let Value::Array(parts) = value else {
            return Err(StoreError::Unexpected(anyhow::anyhow!("the read script answered {value:?}")));
        };
        let [epoch, top, first, entries] = parts.as_slice() else {
            return Err(StoreError::Unexpected(anyhow::anyhow!("the read script answered {} parts", parts.len())));
        };
        let mut publications = Vec::new();
        if let Value::Array(entries) = entries {
            for entry in entries {
                let bytes: Vec<u8> = redis::from_redis_value_ref(entry)
                    .map_err(|err| StoreError::Unexpected(anyhow::anyhow!("an unreadable log entry: {err}")))?;
                let publication: Publication = serde_json::from_slice(&bytes).map_err(|err| {
                    StoreError::Unexpected(anyhow::Error::new(err).context("an unreadable log entry"))
                })?;
                publications.push(publication);
            }
        }
        if direction == "before" {
            publications.reverse();
        }
        Ok(ChannelSlice {
            epoch: text(epoch).unwrap_or_default().into(),
            top: number(top),
            first: number(first).max(1),
            publications,
        })
    }

    /// Compares every watched channel's top offset in Redis with what was delivered here, and
    /// delivers what pub/sub lost.
    async fn fill_gaps(&self) -> Result<(), StoreError> {
        let watched: Vec<(String, ChannelKey, u64)> =
            self.shared.watched().iter().map(|(topic, w)| (topic.clone(), w.key.clone(), w.delivered)).collect();
        if watched.is_empty() {
            let mut connection = self.commands.clone();
            let _: () = bounded(redis::cmd("PING").query_async(&mut connection)).await?;
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (_, key, _) in &watched {
            pipe.hget(self.meta(key), "top");
        }
        let mut connection = self.commands.clone();
        let tops: Vec<Option<u64>> = bounded(pipe.query_async(&mut connection)).await?;
        for ((topic, key, delivered), top) in watched.into_iter().zip(tops) {
            let top = top.unwrap_or(0);
            if top <= delivered {
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
            let mut connection = self.commands.clone();
            let reply: (String, String, String) = bounded(
                self.append
                    .key(self.meta(&request.key))
                    .key(self.log(&request.key))
                    .key(self.idem(&request.key, idempotency_key))
                    .key(self.shared.topic(&request.key))
                    .arg(&new_secret_hex()[..16])
                    .arg(request.expected_offset.map(|o| o.to_string()).unwrap_or_default())
                    .arg(request.retain.map(|r| r.max(1).to_string()).unwrap_or_default())
                    .arg(now_millis())
                    .arg(sender)
                    .arg(request.data.get())
                    .arg(request.key.name())
                    .arg(self.idempotency_ttl_secs)
                    .arg(if request.idempotency_key.is_some() { "1" } else { "0" })
                    .invoke_async(&mut connection),
            )
            .await?;
            let (outcome, epoch, position) = reply;
            match outcome.as_str() {
                "conflict" => Err(StoreError::Conflict { top: position.parse().unwrap_or(0) }),
                "duplicate" | "stored" => {
                    let (offset, ts) = offset_and_ts(&position);
                    Ok(Appended { epoch: epoch.into(), offset, ts, duplicate: outcome == "duplicate" })
                }
                other => Err(StoreError::Unexpected(anyhow::anyhow!("the append script answered {other}"))),
            }
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
                bounded(pipe.query_async(&mut connection)).await?;
            Ok(position.map(|position| {
                let (offset, ts) = offset_and_ts(&position);
                Appended { epoch: epoch.unwrap_or_default().into(), offset, ts, duplicate: true }
            }))
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
            let mut subscriber = self.subscriber.clone();
            bounded(subscriber.subscribe(&topic)).await?;
            bounded(subscriber.subscribe(&self.presence_keys(key)[3])).await?;
            let mut connection = self.commands.clone();
            let top: Option<u64> = bounded(connection.hget(self.meta(key), "top")).await?;
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
                bounded(subscriber.unsubscribe(&topic)).await?;
                bounded(subscriber.unsubscribe(&self.presence_keys(key)[3])).await?;
            }
            Ok(())
        })
    }

    fn presence<'a>(&'a self, key: &'a ChannelKey) -> StoreFuture<'a, Option<Vec<Member>>> {
        Box::pin(async move { self.list_presence(key).await.map(Some) })
    }

    fn check_ready(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut connection = self.commands.clone();
            let _: () = bounded(redis::cmd("PING").query_async(&mut connection)).await?;
            let mut subscriber = self.subscriber.clone();
            let _: () = bounded(redis::cmd("PING").query_async(&mut subscriber)).await?;
            Ok(())
        })
    }
}

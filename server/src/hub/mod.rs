//! The hub: which connection listens to which channel, fan-out of committed publications, presence.
//!
//! It knows nothing of briefs, boards or tokens, calls nobody above it and never awaits. A publication
//! is encoded once (`frame`) and a reference to the same bytes is queued in every subscriber's bounded
//! outbox (`outbox`); a store commit group is queued whole before anyone is woken. Channels live in
//! shards, each behind its own lock, so a reconnect storm's subscribes and unsubscribes do not queue
//! behind one global lock, and a fan-out locks only its channel's shard.

pub mod cursor;
pub mod frame;
pub mod outbox;

pub use outbox::{Delivery, Outbox, OutboxReceiver, Outgoing, PresencePush, UnsubscribedPush, Wakers};

use crate::metrics::{METRICS, Metrics};
use crate::store::{ChannelKey, Committed, PresenceRelay, PublicationSink};
use makeroom_protocol::{Member, PresenceAction, PresenceChange, Publication, ServerFrame, Unsubscribed};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

pub type ConnId = u64;

/// Enough that a storm of thousands of subscribes rarely meets on one lock.
const SHARDS: usize = 64;

struct Subscriber {
    conn: ConnId,
    /// Who it is, for presence; `None` for the server's own followers of a channel (state logs).
    member: Option<Arc<Member>>,
    outbox: Outbox,
    wants_presence: bool,
}

#[derive(Default)]
struct ChannelSubscribers {
    subscribers: Vec<Subscriber>,
    /// Participant id -> (member, number of their connections on this channel).
    present: BTreeMap<String, (Arc<Member>, u32)>,
}

impl ChannelSubscribers {
    fn push_presence(&self, key: &ChannelKey, action: PresenceAction, member: &Member, except: ConnId) {
        let wants = |s: &&Subscriber| s.wants_presence && s.conn != except;
        if !self.subscribers.iter().any(|s| wants(&s)) {
            return;
        }
        let change = PresenceChange { channel: key.name().to_string(), action, member: member.clone() };
        let Some(frame) = frame::json(&ServerFrame::Presence(change)) else { return };
        let key = key.shared();
        let about: Arc<str> = member.id.as_str().into();
        let mut wakers = Wakers::default();
        for subscriber in self.subscribers.iter().filter(wants) {
            let push = PresencePush { key: key.clone(), member: about.clone(), frame: frame.clone() };
            subscriber.outbox.push_deferred(Outgoing::Presence(Box::new(push)), &mut wakers);
        }
        wakers.wake_all();
    }

    fn members(&self) -> Vec<Member> {
        self.present.values().map(|(member, _)| (**member).clone()).collect()
    }
}

type Channels = HashMap<Arc<str>, ChannelSubscribers>;

/// A participant's connections on this instance, to close them when they are removed.
type People = HashMap<String, Vec<(ConnId, Outbox)>>;

pub struct Hub {
    channels: Box<[Mutex<Channels>]>,
    people: Box<[Mutex<People>]>,
    /// Every connection on this instance, to close them all when the server stops.
    sessions: Box<[Mutex<HashMap<ConnId, Outbox>>]>,
    stopping: AtomicBool,
    relay: OnceLock<Arc<dyn PresenceRelay>>,
    next_id: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            channels: (0..SHARDS).map(|_| Mutex::default()).collect(),
            people: (0..SHARDS).map(|_| Mutex::default()).collect(),
            sessions: (0..SHARDS).map(|_| Mutex::default()).collect(),
            stopping: AtomicBool::new(false),
            relay: OnceLock::new(),
            next_id: AtomicU64::new(1),
        }
    }
}

/// Locks ignore poisoning: a panic elsewhere must not take every room down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shard_of(name: &str) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    (hasher.finish() as usize) % SHARDS
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh id for a connection or follower of this instance.
    pub fn next_id(&self) -> ConnId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Channels> {
        lock(&self.channels[shard_of(key)])
    }

    pub fn set_presence_relay(&self, relay: Arc<dyn PresenceRelay>) {
        let _ = self.relay.set(relay);
    }

    /// Starts delivering `key` to this connection. Returns the presence list if it asked for presence.
    /// Call before reading history: whatever is committed from now on reaches the outbox.
    pub fn subscribe(
        &self,
        key: &ChannelKey,
        conn: ConnId,
        member: Arc<Member>,
        outbox: Outbox,
        wants_presence: bool,
    ) -> Option<Vec<Member>> {
        let mut channels = self.shard(key.as_str());
        let state = channels.entry(key.shared()).or_default();
        if let Some(existing) = state.subscribers.iter_mut().find(|s| s.conn == conn) {
            // Subscribing again (say, to recover) keeps the one presence count this connection holds.
            existing.outbox = outbox;
            existing.wants_presence = wants_presence;
            return wants_presence.then(|| state.members());
        }
        let entry = state.present.entry(member.id.clone()).or_insert_with(|| (member.clone(), 0));
        entry.1 += 1;
        if entry.1 == 1 {
            self.presence_changed(state, key, PresenceAction::Join, &member, conn);
        }
        state.subscribers.push(Subscriber { conn, member: Some(member), outbox, wants_presence });
        wants_presence.then(|| state.members())
    }

    /// Delivers `key` to one of the server's own followers (a state log): no presence, never listed.
    pub fn follow(&self, key: &ChannelKey, follower: ConnId, outbox: Outbox) {
        let mut channels = self.shard(key.as_str());
        let state = channels.entry(key.shared()).or_default();
        if !state.subscribers.iter().any(|s| s.conn == follower) {
            state.subscribers.push(Subscriber { conn: follower, member: None, outbox, wants_presence: false });
        }
    }

    pub fn unsubscribe(&self, key: &ChannelKey, conn: ConnId) {
        let mut channels = self.shard(key.as_str());
        let Some(state) = channels.get_mut(key.as_str()) else { return };
        self.remove(state, key, conn);
        if state.subscribers.is_empty() {
            channels.remove(key.as_str());
        }
    }

    /// Takes `conn` off a channel's list; a person's last connection leaving is a presence change.
    fn remove(&self, state: &mut ChannelSubscribers, key: &ChannelKey, conn: ConnId) -> Option<Subscriber> {
        let index = state.subscribers.iter().position(|s| s.conn == conn)?;
        let subscriber = state.subscribers.swap_remove(index);
        if let Some(member) = &subscriber.member {
            let gone = match state.present.get_mut(&member.id) {
                Some(entry) => {
                    entry.1 -= 1;
                    entry.1 == 0
                }
                None => false,
            };
            if gone {
                state.present.remove(&member.id);
                self.presence_changed(state, key, PresenceAction::Leave, member, conn);
            }
        }
        Some(subscriber)
    }

    /// A person joined or left a channel somewhere in the cluster: tell the local presence subscribers.
    pub fn broadcast_presence(&self, key: &ChannelKey, action: PresenceAction, member: &Member) {
        if let Some(state) = self.shard(key.as_str()).get(key.as_str()) {
            state.push_presence(key, action, member, 0);
        }
    }

    /// A local presence change: pushed here, or handed to the cluster's relay.
    fn presence_changed(
        &self,
        state: &ChannelSubscribers,
        key: &ChannelKey,
        action: PresenceAction,
        member: &Member,
        conn: ConnId,
    ) {
        match self.relay.get() {
            Some(relay) => relay.changed(key, action, member),
            None => state.push_presence(key, action, member, conn),
        }
    }

    fn sessions(&self, conn: ConnId) -> MutexGuard<'_, HashMap<ConnId, Outbox>> {
        lock(&self.sessions[conn as usize % SHARDS])
    }

    /// Notes a new connection, so that `close_all` reaches it; one opening while the server stops is
    /// told to go at once.
    pub fn attach(&self, conn: ConnId, outbox: &Outbox) {
        self.sessions(conn).insert(conn, outbox.clone());
        if self.stopping.load(Ordering::Acquire) {
            outbox.close(makeroom_protocol::close::GOING_AWAY);
        }
    }

    pub fn detach(&self, conn: ConnId) {
        self.sessions(conn).remove(&conn);
    }

    /// Closes every connection on this instance with `code` (the server is stopping).
    pub fn close_all(&self, code: u16) {
        self.stopping.store(true, Ordering::Release);
        self.close_every_connection(code);
    }

    /// Closes every connection with `code` but goes on taking new ones (after the store lost data,
    /// so that every client starts again from what the store now holds).
    pub fn close_every_connection(&self, code: u16) {
        for shard in self.sessions.iter() {
            for outbox in lock(shard).values() {
                outbox.close(code);
            }
        }
    }

    fn people(&self, participant: &str) -> MutexGuard<'_, People> {
        lock(&self.people[shard_of(participant)])
    }

    /// Notes a connection of `participant`, so that `close_participant` reaches it.
    pub fn register(&self, participant: &str, conn: ConnId, outbox: Outbox) {
        self.people(participant).entry(participant.to_string()).or_default().push((conn, outbox));
    }

    pub fn unregister(&self, participant: &str, conn: ConnId) {
        let mut people = self.people(participant);
        if let Some(list) = people.get_mut(participant) {
            list.retain(|(c, _)| *c != conn);
            if list.is_empty() {
                people.remove(participant);
            }
        }
    }

    /// Closes every connection of `participant` on this instance with `code`.
    pub fn close_participant(&self, participant: &str, code: u16) {
        if let Some(list) = self.people(participant).get(participant) {
            for (_, outbox) in list {
                outbox.close(code);
            }
        }
    }

    /// Ends the subscriptions to `key` of every member `which` picks (people who lost access), telling
    /// each connection why with an `unsubscribed` push.
    pub fn unsubscribe_members(&self, key: &ChannelKey, which: impl Fn(&Member) -> bool, reason: &str) {
        let mut channels = self.shard(key.as_str());
        let Some(state) = channels.get_mut(key.as_str()) else { return };
        let leaving: Vec<ConnId> =
            state.subscribers.iter().filter(|s| s.member.as_deref().is_some_and(&which)).map(|s| s.conn).collect();
        if leaving.is_empty() {
            return;
        }
        let notice = Unsubscribed { channel: key.name().to_string(), reason: reason.to_string() };
        let Some(frame) = frame::json(&ServerFrame::Unsubscribed(notice)) else { return };
        for conn in leaving {
            if let Some(subscriber) = self.remove(state, key, conn) {
                let push = UnsubscribedPush { key: key.shared(), frame: frame.clone() };
                subscriber.outbox.push(Outgoing::Unsubscribed(Box::new(push)));
            }
        }
        if state.subscribers.is_empty() {
            channels.remove(key.as_str());
        }
    }

    pub fn presence(&self, key: &ChannelKey) -> Vec<Member> {
        self.shard(key.as_str()).get(key.as_str()).map(ChannelSubscribers::members).unwrap_or_default()
    }

    /// How many connections (and followers) listen to `key` on this instance.
    pub fn subscriber_count(&self, key: &ChannelKey) -> usize {
        self.shard(key.as_str()).get(key.as_str()).map(|state| state.subscribers.len()).unwrap_or(0)
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.channels.iter().all(|shard| lock(shard).is_empty())
    }
}

/// A `pub` push as `ServerFrame::Pub` serializes it, borrowing the publication it shares.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PubPush<'a> {
    Pub(&'a Publication),
}

impl PublicationSink for Hub {
    fn deliver_presence(&self, key: &ChannelKey, action: PresenceAction, member: &Member) {
        self.broadcast_presence(key, action, member);
    }

    /// Queues a commit group for every local subscriber, then wakes each receiver once.
    fn deliver(&self, group: Vec<Committed>) {
        let started = std::time::Instant::now();
        let mut wakers = Wakers::default();
        let mut deliveries = 0u64;
        for Committed { key, publication } in group {
            Metrics::count(&METRICS.publications);
            let channels = self.shard(key.as_str());
            // A channel nobody here listens to costs no encoding.
            let Some((hubs_key, state)) = channels.get_key_value(key.as_str()) else { continue };
            let offset = publication.offset;
            let Some(frame) = frame::json(&PubPush::Pub(&publication)) else { continue };
            // The hub's own key, the same for every push of the channel: sessions match it by pointer.
            let delivery = Arc::new(Delivery { key: hubs_key.clone(), offset, frame, publication });
            for subscriber in &state.subscribers {
                subscriber.outbox.push_deferred(Outgoing::Publication(delivery.clone()), &mut wakers);
                // Deliveries to connections; the server's own followers are not counted.
                deliveries += u64::from(subscriber.member.is_some());
            }
        }
        wakers.wake_all();
        METRICS.deliveries.fetch_add(deliveries, Ordering::Relaxed);
        METRICS.observe_fanout(started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use makeroom_protocol::{Publication, Role, Sender, close};
    use serde_json::value::RawValue;
    use std::task::{Context, Poll, Waker};

    fn member(id: &str) -> Arc<Member> {
        Arc::new(Member { id: id.into(), name: id.to_uppercase(), role: Role::Participant })
    }

    fn committed(key: &ChannelKey, offset: u64) -> Committed {
        Committed {
            key: key.clone(),
            publication: Arc::new(Publication {
                channel: key.name().into(),
                epoch: "e".into(),
                offset,
                ts: 0,
                from: Sender { id: "a".into(), name: "A".into(), role: Role::Participant },
                data: RawValue::from_string("{}".into()).expect("raw"),
            }),
        }
    }

    #[test]
    fn a_shared_publication_is_pushed_exactly_as_the_protocol_frame_serializes() {
        let key = ChannelKey::new("ev1", "team:7:chat");
        let publication = committed(&key, 42).publication;
        let borrowed = serde_json::to_string(&PubPush::Pub(&publication)).expect("borrowed");
        let owned = serde_json::to_string(&ServerFrame::Pub((*publication).clone())).expect("owned");
        assert_eq!(borrowed, owned);
        assert!(borrowed.starts_with(r#"{"type":"pub","channel":"#), "{borrowed}");
    }

    fn take(receiver: &OutboxReceiver) -> Result<Vec<Outgoing>, u16> {
        let mut items = Vec::new();
        match receiver.poll_take(&mut Context::from_waker(Waker::noop()), &mut items) {
            Poll::Ready(Ok(())) | Poll::Pending => Ok(items),
            Poll::Ready(Err(code)) => Err(code),
        }
    }

    #[test]
    fn a_publication_is_encoded_once_and_shared_by_every_subscriber() {
        let hub = Hub::new();
        let key = ChannelKey::new("ev", "lobby");
        let (a, a_rx) = Outbox::new(8);
        let (b, b_rx) = Outbox::new(8);
        hub.subscribe(&key, 1, member("a"), a, false);
        hub.subscribe(&key, 2, member("b"), b, false);
        hub.deliver(vec![committed(&key, 1)]);
        let (Ok(mut x), Ok(mut y)) = (take(&a_rx), take(&b_rx)) else { panic!("both get it") };
        let (Some(Outgoing::Publication(x)), Some(Outgoing::Publication(y))) = (x.pop(), y.pop()) else {
            panic!("both subscribers get the publication")
        };
        assert!(Arc::ptr_eq(&x, &y));
        assert_eq!(x.offset, 1);
        let text = frame::payload_text(&x.frame);
        assert!(text.starts_with(r#"{"type":"pub","channel":"lobby""#), "{text}");
    }

    #[test]
    fn every_push_of_a_channel_carries_the_hubs_one_key_whoever_published_it() {
        let hub = Hub::new();
        let (outbox, receiver) = Outbox::new(8);
        hub.subscribe(&ChannelKey::new("ev", "lobby"), 1, member("a"), outbox, false);
        // Two publishers, each with its own allocation of the key.
        hub.deliver(vec![committed(&ChannelKey::new("ev", "lobby"), 1)]);
        hub.deliver(vec![committed(&ChannelKey::new("ev", "lobby"), 2)]);
        let keys: Vec<Arc<str>> = take(&receiver)
            .expect("open")
            .iter()
            .map(|item| match item {
                Outgoing::Publication(d) => d.key.clone(),
                _ => panic!("only publications"),
            })
            .collect();
        assert_eq!(keys.len(), 2);
        assert!(Arc::ptr_eq(&keys[0], &keys[1]), "one pointer for the channel");
    }

    #[test]
    fn a_commit_group_reaches_each_subscriber_as_one_batch_in_order() {
        let hub = Hub::new();
        let (lobby, room) = (ChannelKey::new("ev", "lobby"), ChannelKey::new("ev", "team:t1"));
        let (outbox, receiver) = Outbox::new(64);
        hub.subscribe(&lobby, 1, member("a"), outbox.clone(), false);
        hub.subscribe(&room, 1, member("a"), outbox, false);
        hub.deliver(vec![committed(&lobby, 1), committed(&room, 1), committed(&lobby, 2)]);
        let items = take(&receiver).expect("open");
        let order: Vec<(String, u64)> = items
            .iter()
            .map(|item| match item {
                Outgoing::Publication(d) => (d.key.to_string(), d.offset),
                _ => panic!("only publications"),
            })
            .collect();
        assert_eq!(order, [("ev/lobby".into(), 1), ("ev/team:t1".into(), 1), ("ev/lobby".into(), 2)]);
    }

    #[test]
    fn a_full_outbox_trips_overflow_without_blocking_others() {
        let hub = Hub::new();
        let key = ChannelKey::new("ev", "lobby");
        let (slow, slow_rx) = Outbox::new(1);
        // Its phone stopped reading: its socket is full.
        slow_rx.set_stalled(true);
        let (fast, fast_rx) = Outbox::new(8);
        hub.subscribe(&key, 1, member("slow"), slow, false);
        hub.subscribe(&key, 2, member("fast"), fast, false);
        for offset in 1..=3 {
            hub.deliver(vec![committed(&key, offset)]);
        }
        assert_eq!(take(&slow_rx).err(), Some(close::SLOW_CONSUMER));
        assert_eq!(take(&fast_rx).expect("fast is fine").len(), 3);
    }

    #[test]
    fn presence_counts_people_not_connections_and_followers_not_at_all() {
        let hub = Hub::new();
        let key = ChannelKey::new("ev", "team:t1");
        let (watcher, watcher_rx) = Outbox::new(8);
        hub.subscribe(&key, 1, member("w"), watcher, true);
        let (follower, _follower_rx) = Outbox::new(8);
        hub.follow(&key, 99, follower);
        let (phone, _phone_rx) = Outbox::new(8);
        let (laptop, _laptop_rx) = Outbox::new(8);
        hub.subscribe(&key, 2, member("ada"), phone, false);
        hub.subscribe(&key, 3, member("ada"), laptop, false);
        assert_eq!(take(&watcher_rx).expect("open").len(), 1, "one join for two connections of one person");
        assert_eq!(hub.presence(&key).len(), 2, "the follower is nobody");
        hub.unsubscribe(&key, 2);
        assert!(take(&watcher_rx).expect("open").is_empty(), "ada is still here on her laptop");
        hub.unsubscribe(&key, 3);
        match take(&watcher_rx).expect("open").pop() {
            Some(Outgoing::Presence(push)) => {
                let text = frame::payload_text(&push.frame);
                assert!(text.contains(r#""action":"leave""#), "{text}")
            }
            other => panic!("expected a leave, got {other:?}"),
        }
        hub.unsubscribe(&key, 1);
        hub.unsubscribe(&key, 99);
        assert_eq!(hub.subscriber_count(&key), 0);
        assert!(hub.is_empty(), "empty channels are dropped");
    }

    #[test]
    fn members_who_lose_access_are_unsubscribed_and_told_why() {
        let hub = Hub::new();
        let key = ChannelKey::new("ev", "team:t1");
        let (ada, ada_rx) = Outbox::new(8);
        let (bo, bo_rx) = Outbox::new(8);
        hub.subscribe(&key, 1, member("ada"), ada, false);
        hub.subscribe(&key, 2, member("bo"), bo, false);
        hub.unsubscribe_members(&key, |m| m.id == "ada", "you left the team");
        match take(&ada_rx).expect("open").pop() {
            Some(Outgoing::Unsubscribed(push)) => {
                assert!(frame::payload_text(&push.frame).contains("you left the team"))
            }
            other => panic!("expected unsubscribed, got {other:?}"),
        }
        assert!(take(&bo_rx).expect("open").is_empty());
        assert_eq!(hub.subscriber_count(&key), 1);
    }
}

//! The hub: which connection listens to which channel, fan-out of committed publications, presence.
//!
//! It knows nothing of briefs, boards or tokens, and never awaits: a publication is serialized once
//! and the same bytes are `try_send`-ed into every subscriber's bounded outbox. A subscriber whose
//! outbox is full is a slow consumer: it is told to go (its connection closes with a reason) and it
//! recovers from history when it comes back. So one stalled phone never holds up a room.

pub mod cursor;

use crate::metrics::{METRICS, Metrics};
use crate::store::{ChannelKey, PublicationSink};
use bytestring::ByteString;
use makeroom_protocol::{Member, PresenceAction, PresenceChange, Publication, ServerFrame, Unsubscribed, close};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{Notify, mpsc};

pub type ConnId = u64;

/// A connection and the signal that closes it.
type ConnSignal = (ConnId, Arc<Signal>);

/// One committed publication, serialized once and shared by every receiver.
#[derive(Debug)]
pub struct Delivery {
    pub key: Arc<str>,
    pub offset: u64,
    pub frame: ByteString,
}

/// What a connection's outbox carries. Every variant is one pointer: an idle outbox reserves room
/// for 32 of them, on every connection.
#[derive(Debug)]
pub enum Outgoing {
    Publication(Arc<Delivery>),
    /// A presence change (no offset: presence is not stored).
    Presence(Box<PresencePush>),
    /// The hub ended this connection's subscription to `key`; the frame says why.
    Unsubscribed(Box<UnsubscribedPush>),
}

impl Outgoing {
    /// The channel (its store key) the item is about.
    pub fn key(&self) -> &str {
        match self {
            Outgoing::Publication(delivery) => &delivery.key,
            Outgoing::Presence(push) => &push.key,
            Outgoing::Unsubscribed(push) => &push.key,
        }
    }
}

/// A presence change on the channel `key` about `member`.
#[derive(Debug)]
pub struct PresencePush {
    pub key: Arc<str>,
    pub member: Arc<str>,
    pub frame: ByteString,
}

#[derive(Debug)]
pub struct UnsubscribedPush {
    pub key: Arc<str>,
    pub frame: ByteString,
}

/// Tells a connection to close itself, with which close code: set by the hub when its outbox
/// overflows (a slow consumer) or when its participant is removed from the event.
#[derive(Debug, Default)]
pub struct Signal {
    code: AtomicU16,
    notify: Notify,
}

impl Signal {
    /// Trips the signal; true if this call tripped it (it trips once).
    pub fn trip(&self, code: u16) -> bool {
        let tripped = self.code.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if tripped {
            self.notify.notify_one();
        }
        tripped
    }

    /// Waits until tripped; returns the close code.
    pub async fn wait(&self) -> u16 {
        loop {
            let code = self.code.load(Ordering::Acquire);
            if code != 0 {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

/// The sending half of a connection's bounded outbox.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    signal: Arc<Signal>,
}

impl Outbox {
    pub fn new(capacity: usize) -> (Outbox, mpsc::Receiver<Outgoing>, Arc<Signal>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let signal = Arc::new(Signal::default());
        (Outbox { tx, signal: signal.clone() }, rx, signal)
    }

    fn push(&self, item: Outgoing) {
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.signal.trip(close::SLOW_CONSUMER) {
                    Metrics::count(&METRICS.slow_consumers);
                }
            }
            // The connection is going away; it unsubscribes itself.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

struct Subscriber {
    conn: ConnId,
    member: Member,
    outbox: Outbox,
    wants_presence: bool,
}

#[derive(Default)]
struct ChannelSubscribers {
    subscribers: Vec<Subscriber>,
    /// Participant id -> (member, number of their connections on this channel).
    present: BTreeMap<String, (Member, u32)>,
}

impl ChannelSubscribers {
    fn push_presence(&self, key: &ChannelKey, action: PresenceAction, member: &Member, except: ConnId) {
        if !self.subscribers.iter().any(|s| s.wants_presence && s.conn != except) {
            return;
        }
        let frame =
            ServerFrame::Presence(PresenceChange { channel: key.name().to_string(), action, member: member.clone() });
        let Ok(text) = serde_json::to_string(&frame) else {
            return;
        };
        let frame = ByteString::from(text);
        let key = key.shared();
        let about: Arc<str> = member.id.as_str().into();
        for subscriber in self.subscribers.iter().filter(|s| s.wants_presence && s.conn != except) {
            subscriber.outbox.push(Outgoing::Presence(Box::new(PresencePush {
                key: key.clone(),
                member: about.clone(),
                frame: frame.clone(),
            })));
        }
    }

    fn members(&self) -> Vec<Member> {
        self.present.values().map(|(member, _)| member.clone()).collect()
    }
}

/// Carries presence changes between instances: in a cluster, a person's first local connection to a
/// channel is told to the relay instead of being pushed here, and the relay decides (across every
/// instance) whether it is a join or leave for the whole channel, then pushes it everywhere through
/// `Hub::broadcast_presence`. It must not block.
pub trait PresenceRelay: Send + Sync {
    fn changed(&self, key: &ChannelKey, action: PresenceAction, member: &Member);
}

/// Sees every committed publication before it is fanned out (the event state follows its logs).
pub trait Observer: Send + Sync {
    fn observe(&self, key: &ChannelKey, publication: &Publication);
}

#[derive(Default)]
pub struct Hub {
    observer: std::sync::OnceLock<std::sync::Weak<dyn Observer>>,
    relay: std::sync::OnceLock<Arc<dyn PresenceRelay>>,
    channels: RwLock<HashMap<Arc<str>, Arc<Mutex<ChannelSubscribers>>>>,
    /// Participant id -> their connections on this instance, to close them when they are removed.
    connections: Mutex<HashMap<String, Vec<ConnSignal>>>,
}

/// Locks ignore poisoning: a panic elsewhere must not take every room down with it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts delivering `key` to this connection. Returns the presence list if it asked for presence.
    /// Call before reading history: whatever is committed from now on reaches the outbox.
    pub fn subscribe(
        &self,
        key: &ChannelKey,
        conn: ConnId,
        member: Member,
        outbox: Outbox,
        wants_presence: bool,
    ) -> Option<Vec<Member>> {
        // The map's read lock is held while adding the subscriber, so an unsubscribe that empties the
        // channel cannot drop its entry in between (which would orphan this subscriber).
        let channels = self.channels.read().unwrap_or_else(|p| p.into_inner());
        let channel = match channels.get(key.as_str()) {
            Some(channel) => channel.clone(),
            None => {
                drop(channels);
                let mut channels = self.channels.write().unwrap_or_else(|p| p.into_inner());
                let channel = channels.entry(key.shared()).or_default().clone();
                let mut state = lock(&channel);
                return self.add(&mut state, key, conn, member, outbox, wants_presence);
            }
        };
        let mut state = lock(&channel);
        self.add(&mut state, key, conn, member, outbox, wants_presence)
    }

    fn add(
        &self,
        state: &mut ChannelSubscribers,
        key: &ChannelKey,
        conn: ConnId,
        member: Member,
        outbox: Outbox,
        wants_presence: bool,
    ) -> Option<Vec<Member>> {
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
        state.subscribers.push(Subscriber { conn, member, outbox, wants_presence });
        wants_presence.then(|| state.members())
    }

    pub fn unsubscribe(&self, key: &ChannelKey, conn: ConnId) {
        let mut channels = self.channels.write().unwrap_or_else(|p| p.into_inner());
        let Some(channel) = channels.get(key.as_str()).cloned() else {
            return;
        };
        let mut state = lock(&channel);
        let Some(index) = state.subscribers.iter().position(|s| s.conn == conn) else {
            return;
        };
        let subscriber = state.subscribers.swap_remove(index);
        let id = subscriber.member.id.clone();
        let gone = match state.present.get_mut(&id) {
            Some(entry) => {
                entry.1 -= 1;
                entry.1 == 0
            }
            None => false,
        };
        if gone {
            state.present.remove(&id);
            self.presence_changed(&state, key, PresenceAction::Leave, &subscriber.member, conn);
        }
        if state.subscribers.is_empty() {
            drop(state);
            channels.remove(key.as_str());
        }
    }

    pub fn set_observer(&self, observer: std::sync::Weak<dyn Observer>) {
        let _ = self.observer.set(observer);
    }

    pub fn set_presence_relay(&self, relay: Arc<dyn PresenceRelay>) {
        let _ = self.relay.set(relay);
    }

    /// A person joined or left a channel somewhere in the cluster: tell the local presence subscribers.
    pub fn broadcast_presence(&self, key: &ChannelKey, action: PresenceAction, member: &Member) {
        let channel = self.channels.read().unwrap_or_else(|p| p.into_inner()).get(key.as_str()).cloned();
        if let Some(channel) = channel {
            lock(&channel).push_presence(key, action, member, 0);
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

    /// Notes a connection of `participant`, so that `close_participant` reaches it.
    pub fn register(&self, participant: &str, conn: ConnId, signal: Arc<Signal>) {
        lock(&self.connections).entry(participant.to_string()).or_default().push((conn, signal));
    }

    pub fn unregister(&self, participant: &str, conn: ConnId) {
        let mut connections = lock(&self.connections);
        if let Some(list) = connections.get_mut(participant) {
            list.retain(|(c, _)| *c != conn);
            if list.is_empty() {
                connections.remove(participant);
            }
        }
    }

    /// Closes every connection of `participant` on this instance with `code`.
    pub fn close_participant(&self, participant: &str, code: u16) {
        if let Some(list) = lock(&self.connections).get(participant) {
            for (_, signal) in list {
                let _ = signal.trip(code);
            }
        }
    }

    /// Ends the subscriptions to `key` of every member `which` picks (people who lost access), telling
    /// each connection why with an `unsubscribed` push.
    pub fn unsubscribe_members(&self, key: &ChannelKey, which: impl Fn(&Member) -> bool, reason: &str) {
        let conns: Vec<ConnId> = {
            let channel = self.channels.read().unwrap_or_else(|p| p.into_inner()).get(key.as_str()).cloned();
            let Some(channel) = channel else { return };
            let state = lock(&channel);
            state.subscribers.iter().filter(|s| which(&s.member)).map(|s| s.conn).collect()
        };
        if conns.is_empty() {
            return;
        }
        let frame =
            ServerFrame::Unsubscribed(Unsubscribed { channel: key.name().to_string(), reason: reason.to_string() });
        let Ok(text) = serde_json::to_string(&frame) else {
            return;
        };
        let frame = ByteString::from(text);
        for conn in conns {
            if let Some(outbox) = self.outbox_of(key, conn) {
                self.unsubscribe(key, conn);
                outbox.push(Outgoing::Unsubscribed(Box::new(UnsubscribedPush {
                    key: key.shared(),
                    frame: frame.clone(),
                })));
            }
        }
    }

    fn outbox_of(&self, key: &ChannelKey, conn: ConnId) -> Option<Outbox> {
        let channel = self.channels.read().unwrap_or_else(|p| p.into_inner()).get(key.as_str()).cloned()?;
        let state = lock(&channel);
        state.subscribers.iter().find(|s| s.conn == conn).map(|s| s.outbox.clone())
    }

    pub fn presence(&self, key: &ChannelKey) -> Vec<Member> {
        let channel = self.channels.read().unwrap_or_else(|p| p.into_inner()).get(key.as_str()).cloned();
        channel.map(|channel| lock(&channel).members()).unwrap_or_default()
    }

    /// How many connections listen to `key` on this instance.
    pub fn subscriber_count(&self, key: &ChannelKey) -> usize {
        let channel = self.channels.read().unwrap_or_else(|p| p.into_inner()).get(key.as_str()).cloned();
        channel.map(|channel| lock(&channel).subscribers.len()).unwrap_or(0)
    }
}

impl PublicationSink for Hub {
    fn deliver_presence(&self, key: &ChannelKey, action: PresenceAction, member: &Member) {
        self.broadcast_presence(key, action, member);
    }

    fn deliver(&self, key: &ChannelKey, publication: Publication) {
        let started = std::time::Instant::now();
        Metrics::count(&METRICS.publications);
        if let Some(observer) = self.observer.get().and_then(std::sync::Weak::upgrade) {
            observer.observe(key, &publication);
        }
        let channel = self.channels.read().unwrap_or_else(|p| p.into_inner()).get(key.as_str()).cloned();
        let Some(channel) = channel else { return };
        let offset = publication.offset;
        let frame = match serde_json::to_string(&ServerFrame::Pub(publication)) {
            Ok(text) => ByteString::from(text),
            Err(err) => {
                tracing::error!(%key, offset, error = %err, "could not serialize a publication");
                return;
            }
        };
        let delivery = Arc::new(Delivery { key: key.shared(), offset, frame });
        let state = lock(&channel);
        for subscriber in &state.subscribers {
            subscriber.outbox.push(Outgoing::Publication(delivery.clone()));
        }
        METRICS.deliveries.fetch_add(state.subscribers.len() as u64, Ordering::Relaxed);
        METRICS.observe_fanout(started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use makeroom_protocol::{Role, Sender};
    use serde_json::value::RawValue;

    fn member(id: &str) -> Member {
        Member { id: id.into(), name: id.to_uppercase(), role: Role::Participant }
    }

    fn publication(offset: u64) -> Publication {
        Publication {
            channel: "lobby".into(),
            epoch: "e".into(),
            offset,
            ts: 0,
            from: Sender { id: "a".into(), name: "A".into(), role: Role::Participant },
            data: RawValue::from_string("{}".into()).expect("raw"),
        }
    }

    #[test]
    fn a_publication_is_serialized_once_and_shared_by_every_subscriber() {
        let hub = Hub::new();
        let key = ChannelKey::new("ev", "lobby");
        let (a, mut a_rx, _) = Outbox::new(8);
        let (b, mut b_rx, _) = Outbox::new(8);
        hub.subscribe(&key, 1, member("a"), a, false);
        hub.subscribe(&key, 2, member("b"), b, false);
        hub.deliver(&key, publication(1));
        let (Ok(Outgoing::Publication(x)), Ok(Outgoing::Publication(y))) = (a_rx.try_recv(), b_rx.try_recv()) else {
            panic!("both subscribers get the publication")
        };
        assert!(Arc::ptr_eq(&x, &y));
        assert_eq!(x.offset, 1);
        assert!(x.frame.contains(r#""type":"pub""#));
    }

    #[test]
    fn a_full_outbox_trips_overflow_without_blocking_others() {
        let hub = Hub::new();
        let key = ChannelKey::new("ev", "lobby");
        let (slow, _slow_rx, slow_signal) = Outbox::new(1);
        let (fast, mut fast_rx, fast_signal) = Outbox::new(8);
        hub.subscribe(&key, 1, member("slow"), slow, false);
        hub.subscribe(&key, 2, member("fast"), fast, false);
        for offset in 1..=3 {
            hub.deliver(&key, publication(offset));
        }
        assert_eq!(slow_signal.code.load(Ordering::Acquire), close::SLOW_CONSUMER);
        assert_eq!(fast_signal.code.load(Ordering::Acquire), 0);
        let mut got = 0;
        while fast_rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 3);
    }

    #[test]
    fn presence_counts_people_not_connections() {
        let hub = Hub::new();
        let key = ChannelKey::new("ev", "team:t1");
        let (watcher, mut watcher_rx, _) = Outbox::new(8);
        hub.subscribe(&key, 1, member("w"), watcher, true);
        let (phone, _, _) = Outbox::new(8);
        let (laptop, _, _) = Outbox::new(8);
        hub.subscribe(&key, 2, member("ada"), phone, false);
        hub.subscribe(&key, 3, member("ada"), laptop, false);
        let joins: Vec<_> = std::iter::from_fn(|| watcher_rx.try_recv().ok()).collect();
        assert_eq!(joins.len(), 1, "one join for two connections of one person");
        assert_eq!(hub.presence(&key).len(), 2);
        hub.unsubscribe(&key, 2);
        assert!(watcher_rx.try_recv().is_err(), "ada is still here on her laptop");
        hub.unsubscribe(&key, 3);
        match watcher_rx.try_recv() {
            Ok(Outgoing::Presence(push)) => {
                assert!(push.frame.contains(r#""action":"leave""#), "{}", push.frame)
            }
            other => panic!("expected a leave, got {other:?}"),
        }
        hub.unsubscribe(&key, 1);
        assert_eq!(hub.subscriber_count(&key), 0);
        assert!(hub.channels.read().expect("lock").is_empty(), "empty channels are dropped");
    }

    #[test]
    fn an_outbox_item_is_one_pointer_wide() {
        // Each connection's outbox reserves a block of these up front.
        assert!(std::mem::size_of::<Outgoing>() <= 16);
    }
}

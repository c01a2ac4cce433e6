//! One connection's subscriptions, looked up for every push it is given.
//!
//! A connection has few (at most `max_subscriptions`), so they are a list rather than a map: finding
//! one costs no hashing and no read of the key's text. A push names its channel by the hub's own key,
//! the same `Arc` for every push of that channel; the first push found by the key's text leaves that
//! pointer with the subscription, and every push after it is matched by the pointer alone.

use crate::hub::Outgoing;
use crate::hub::cursor::Cursor;
use crate::store::ChannelKey;
use std::sync::Arc;

pub(super) struct Subscription {
    pub key: ChannelKey,
    /// How far the channel was delivered; `None` until its subscribe is answered.
    pub cursor: Option<Cursor>,
    pub holds: u8,
    pub held: Vec<Outgoing>,
    /// The key the channel's pushes arrive with (the subscription's own until the first of them).
    pushed_as: Arc<str>,
}

#[derive(Default)]
pub(super) struct Subscriptions {
    entries: Vec<Subscription>,
}

impl Subscriptions {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Subscription> {
        self.entries.iter()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|s| s.key.as_str() == key)
    }

    pub fn get(&self, key: &str) -> Option<&Subscription> {
        self.position(key).map(|at| &self.entries[at])
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Subscription> {
        self.position(key).map(|at| &mut self.entries[at])
    }

    /// The subscription a publication pushed with `key` belongs to: by pointer, or else by text
    /// (and then that pointer is kept for the next one).
    pub fn for_push(&mut self, key: &Arc<str>) -> Option<&mut Subscription> {
        if let Some(at) = self.entries.iter().position(|s| Arc::ptr_eq(&s.pushed_as, key)) {
            return Some(&mut self.entries[at]);
        }
        let at = self.position(key)?;
        let subscription = &mut self.entries[at];
        subscription.pushed_as = key.clone();
        Some(subscription)
    }

    /// The subscription to `key`, made (not yet answered, nothing held) if there is none.
    pub fn get_or_insert(&mut self, key: &ChannelKey) -> &mut Subscription {
        let at = match self.position(key.as_str()) {
            Some(at) => at,
            None => {
                self.entries.push(Subscription {
                    key: key.clone(),
                    cursor: None,
                    holds: 0,
                    held: Vec::new(),
                    pushed_as: key.shared(),
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[at]
    }

    pub fn remove(&mut self, key: &str) -> Option<Subscription> {
        self.position(key).map(|at| self.entries.swap_remove(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_is_matched_by_its_text_once_and_by_its_pointer_after() {
        let mut subscriptions = Subscriptions::default();
        let (chat, board) = (ChannelKey::new("ev", "team:1:chat"), ChannelKey::new("ev", "team:1:board"));
        subscriptions.get_or_insert(&chat).holds = 1;
        subscriptions.get_or_insert(&board);
        assert_eq!(subscriptions.get_or_insert(&chat).holds, 1, "made once");
        assert_eq!(subscriptions.len(), 2);

        // The hub's own key for the channel: equal text, another allocation.
        let hubs: Arc<str> = Arc::from(chat.as_str());
        assert!(!Arc::ptr_eq(&hubs, &chat.shared()));
        assert_eq!(subscriptions.for_push(&hubs).map(|s| s.key.name()), Some("team:1:chat"));
        let kept = subscriptions.get(chat.as_str()).map(|s| s.pushed_as.clone()).expect("kept");
        assert!(Arc::ptr_eq(&kept, &hubs), "the push's pointer is kept");
        assert_eq!(subscriptions.for_push(&hubs).map(|s| s.holds), Some(1));

        let other: Arc<str> = Arc::from("ev/team:2:chat");
        assert!(subscriptions.for_push(&other).is_none(), "a channel not subscribed to matches nothing");

        assert!(subscriptions.remove(chat.as_str()).is_some());
        assert!(subscriptions.for_push(&hubs).is_none(), "gone with its subscription");
        assert_eq!(subscriptions.iter().map(|s| s.key.name()).collect::<Vec<_>>(), ["team:1:board"]);
    }
}

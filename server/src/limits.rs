//! Limits that keep one phone, one person or one address from crowding out everyone else: token
//! buckets (per connection, keyed per participant, and keyed with costs per address or event) and
//! counters of connections per key.
//!
//! Keyed state is pruned: a participant's bucket that has refilled is forgotten, and a counter that
//! reaches zero is removed, so memory follows the people active now, not everyone ever seen.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket: `rate` requests a second sustained, `burst` at once.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket { tokens: burst, rate: f64::from(rate.max(1)), burst, last: Instant::now() }
    }

    fn refill(&mut self, now: Instant) {
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&mut self) -> Result<(), Duration> {
        self.take_n(1)
    }

    /// Takes `n` tokens at once, or says how long until that many are there (never more than the
    /// burst: a cost above it waits for a full bucket).
    pub fn take_n(&mut self, n: u32) -> Result<(), Duration> {
        self.refill(Instant::now());
        let n = f64::from(n).min(self.burst);
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((n - self.tokens) / self.rate))
        }
    }

    /// Gives back tokens taken for work that turned out to cost less.
    pub fn give_back(&mut self, n: u32) {
        self.tokens = (self.tokens + f64::from(n)).min(self.burst);
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// One token bucket per key (per participant, across all their connections).
pub struct KeyedLimiter {
    buckets: Mutex<HashMap<String, TokenBucket>>,
    rate: u32,
    burst: u32,
}

impl KeyedLimiter {
    pub fn new(rate: u32, burst: u32) -> Self {
        KeyedLimiter { buckets: Mutex::new(HashMap::new()), rate, burst }
    }

    pub fn take(&self, key: &str) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            // Forget whoever has been quiet long enough for their bucket to refill.
            let now = Instant::now();
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        match buckets.get_mut(key) {
            Some(bucket) => bucket.take(),
            None => {
                let mut bucket = TokenBucket::new(self.rate, self.burst);
                let taken = bucket.take();
                buckets.insert(key.to_string(), bucket);
                taken
            }
        }
    }
}

/// One token bucket per key (a client address, an event), where a request may cost several tokens:
/// reserve what the dearest outcome costs before the work, give back the difference after.
///
/// Memory stays bounded whoever asks: buckets that have refilled are forgotten (looked for at most
/// once a second, so a flood of new keys cannot make every request scan them all), and past
/// `MAX_KEYS` keys, new ones share one bucket until old ones are forgotten.
pub struct CostLimiter<K> {
    state: Mutex<CostBuckets<K>>,
    rate: u32,
    burst: u32,
}

struct CostBuckets<K> {
    buckets: HashMap<K, TokenBucket>,
    /// Shared by new keys while `buckets` is full.
    overflow: TokenBucket,
    last_pruned: Instant,
}

impl<K: Hash + Eq + Clone> CostLimiter<K> {
    pub const MAX_KEYS: usize = 100_000;

    pub fn new(rate: u32, burst: u32) -> Self {
        let state = CostBuckets {
            buckets: HashMap::new(),
            overflow: TokenBucket::new(rate, burst),
            last_pruned: Instant::now(),
        };
        CostLimiter { state: Mutex::new(state), rate, burst }
    }

    /// Takes `cost` tokens from `key`'s bucket, or says how long until they are there.
    pub fn reserve(&self, key: &K, cost: u32) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(state.last_pruned) >= Duration::from_secs(1) {
            state.buckets.retain(|_, bucket| !bucket.is_full(now));
            state.last_pruned = now;
        }
        if let Some(bucket) = state.buckets.get_mut(key) {
            return bucket.take_n(cost);
        }
        if state.buckets.len() >= Self::MAX_KEYS {
            return state.overflow.take_n(cost);
        }
        let mut bucket = TokenBucket::new(self.rate, self.burst);
        let taken = bucket.take_n(cost);
        state.buckets.insert(key.clone(), bucket);
        taken
    }

    /// Gives back `amount` of what `key` reserved (the work cost less than reserved).
    pub fn give_back(&self, key: &K, amount: u32) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.buckets.get_mut(key) {
            Some(bucket) => bucket.give_back(amount),
            None => state.overflow.give_back(amount),
        }
    }
}

/// Counts open connections per key and refuses beyond `max` (0 means no limit).
pub struct ConnectionCounter<K> {
    counts: Mutex<HashMap<K, usize>>,
    max: usize,
}

impl<K: Hash + Eq + Clone> ConnectionCounter<K> {
    pub fn new(max: usize) -> Self {
        ConnectionCounter { counts: Mutex::new(HashMap::new()), max }
    }

    /// Counts one more for `key`, unless that would pass the limit.
    pub fn acquire(&self, key: &K) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key.clone()).or_insert(0);
        if self.max > 0 && *count >= self.max {
            if *count == 0 {
                counts.remove(key);
            }
            return false;
        }
        *count += 1;
        true
    }

    pub fn release(&self, key: &K) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_says_when_to_retry() {
        let mut bucket = TokenBucket::new(10, 3);
        assert!((0..3).all(|_| bucket.take().is_ok()));
        let wait = bucket.take().expect_err("empty");
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO, "{wait:?}");
    }

    #[test]
    fn keyed_buckets_are_separate_per_person() {
        let limiter = KeyedLimiter::new(1, 2);
        assert!(limiter.take("ada").is_ok() && limiter.take("ada").is_ok());
        assert!(limiter.take("ada").is_err());
        assert!(limiter.take("bo").is_ok(), "Bo has his own bucket");
    }

    #[test]
    fn a_costly_request_needs_its_whole_cost_and_can_be_refunded() {
        let limiter = CostLimiter::new(10, 100);
        assert!(limiter.reserve(&"venue", 60).is_ok());
        let wait = limiter.reserve(&"venue", 60).expect_err("only 40 left");
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2), "{wait:?}");
        limiter.give_back(&"venue", 59);
        assert!(limiter.reserve(&"venue", 60).is_ok(), "what the first request did not use came back");
        assert!(limiter.reserve(&"elsewhere", 100).is_ok(), "each key has its own bucket");
        assert!(limiter.reserve(&"elsewhere", 1000).is_err(), "a cost above the burst waits for a full bucket");
    }

    #[test]
    fn new_keys_past_the_cap_share_one_bucket() {
        let limiter = CostLimiter::new(1, 2);
        {
            let mut state = limiter.state.lock().expect("lock");
            for n in 0..CostLimiter::<u32>::MAX_KEYS as u32 {
                // Emptied, so that they stay unforgotten for the test's length.
                let mut bucket = TokenBucket::new(1, 1000);
                bucket.take_n(1000).expect("full at first");
                state.buckets.insert(n, bucket);
            }
        }
        let newcomer = CostLimiter::<u32>::MAX_KEYS as u32;
        assert!(limiter.reserve(&newcomer, 2).is_ok());
        assert!(limiter.reserve(&(newcomer + 1), 1).is_err(), "the overflow bucket is shared");
        assert_eq!(limiter.state.lock().expect("lock").buckets.len(), CostLimiter::<u32>::MAX_KEYS);
    }

    #[test]
    fn counters_refuse_past_the_limit_and_forget_empty_keys() {
        let counter = ConnectionCounter::new(2);
        assert!(counter.acquire(&"p1") && counter.acquire(&"p1"));
        assert!(!counter.acquire(&"p1"));
        counter.release(&"p1");
        assert!(counter.acquire(&"p1"));
        counter.release(&"p1");
        counter.release(&"p1");
        assert!(counter.counts.lock().expect("lock").is_empty());
        let unlimited = ConnectionCounter::new(0);
        assert!((0..100).all(|_| unlimited.acquire(&"x")));
    }
}

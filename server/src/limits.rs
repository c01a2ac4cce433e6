//! Limits that keep one phone, one person or one address from crowding out everyone else: token
//! buckets (per connection, and keyed per participant) and counters of connections per key.
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
        self.refill(Instant::now());
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
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

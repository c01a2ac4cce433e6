//! Exact delivery accounting. Every test message belongs to a stream (one publisher on one channel)
//! and has a sequence number in it. Each receiver keeps one bitset per stream it should hear; each
//! publisher keeps a bitset of the sequence numbers the server acknowledged. At the end,
//! lost = acknowledged and not received, duplicated = received twice, reordered = arrived after a
//! higher number of the same stream. Latency goes into one preallocated HdrHistogram.

use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a stream id with one multiplication: a receiver looks one up for every delivery, and
/// SipHash (the default) was the largest item of the generator's own time per delivery.
#[derive(Default)]
pub struct StreamHasher(u64);

impl Hasher for StreamHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        // Fibonacci hashing: the high bits, which hashbrown uses, depend on every bit of `n`.
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Maps keyed by stream id.
pub type StreamMap<V> = HashMap<u32, V, BuildHasherDefault<StreamHasher>>;

/// A growable bitset of sequence numbers (1-based in practice, bit 0 unused).
#[derive(Debug, Clone, Default)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    pub fn with_capacity(bits: u64) -> Self {
        Bits { words: Vec::with_capacity((bits / 64 + 1) as usize) }
    }

    /// Sets `n`; returns whether it was already set.
    pub fn set(&mut self, n: u64) -> bool {
        let (word, bit) = ((n / 64) as usize, n % 64);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let was = self.words[word] & (1 << bit) != 0;
        self.words[word] |= 1 << bit;
        was
    }

    pub fn get(&self, n: u64) -> bool {
        self.words.get((n / 64) as usize).is_some_and(|w| w & (1 << (n % 64)) != 0)
    }

    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// How many of `self`'s bits are missing from `other`.
    pub fn missing_from(&self, other: &Bits) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| (w & !other.words.get(i).copied().unwrap_or(0)).count_ones() as u64)
            .sum()
    }

    /// Sets every number in `from..=to`.
    pub fn set_range(&mut self, from: u64, to: u64) {
        for n in from..=to {
            self.set(n);
        }
    }
}

/// What one receiver got of one stream.
#[derive(Debug, Clone, Default)]
pub struct StreamRx {
    pub got: Bits,
    pub max: u64,
}

/// Outcome of recording one arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    New,
    Duplicate,
}

/// What one receiver got, per stream.
#[derive(Debug, Default)]
pub struct Receiver {
    pub streams: StreamMap<StreamRx>,
    pub duplicated: u64,
    pub reordered: u64,
    pub delivered: u64,
}

impl Receiver {
    pub fn record(&mut self, stream: u32, seq: u64) -> Arrival {
        let rx = self.streams.entry(stream).or_default();
        if rx.got.set(seq) {
            self.duplicated += 1;
            return Arrival::Duplicate;
        }
        if seq < rx.max {
            self.reordered += 1;
        }
        rx.max = rx.max.max(seq);
        self.delivered += 1;
        Arrival::New
    }
}

/// One channel as one connection received it, by offset (the accounting of the scenarios whose
/// truth is each channel's history): every offset after the one its first subscription started
/// after must arrive exactly once, in order.
#[derive(Debug, Default)]
pub struct ChannelRx {
    /// The offset the first subscription started after.
    pub start: u64,
    /// The newest offset received.
    pub last: u64,
    pub got: Bits,
    pub duplicated: u64,
    pub reordered: u64,
}

impl ChannelRx {
    pub fn starting_after(offset: u64) -> Self {
        ChannelRx { start: offset, last: offset, ..ChannelRx::default() }
    }

    /// Records an arrival; `true` if it is new (after the start, and not seen before).
    pub fn receive(&mut self, offset: u64) -> bool {
        if offset <= self.start {
            return false;
        }
        if self.got.set(offset) {
            self.duplicated += 1;
            return false;
        }
        if offset < self.last {
            self.reordered += 1;
        }
        self.last = self.last.max(offset);
        true
    }

    /// How many offsets after the start, up to `top`, never arrived.
    pub fn missing_up_to(&self, top: u64) -> u64 {
        (self.start + 1..=top).filter(|&offset| !self.got.get(offset)).count() as u64
    }

    /// How many offsets after the start, up to `top`, should have arrived.
    pub fn expected_up_to(&self, top: u64) -> u64 {
        top.saturating_sub(self.start)
    }
}

/// The counters every scenario reports.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Totals {
    pub sent: u64,
    pub acked: u64,
    pub publish_errors: u64,
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Messages a receiver got from a channel it was not in (must be 0).
    pub foreign: u64,
}

/// Compares what receivers got with what publishers had acknowledged. `members(stream)` lists
/// the receivers that should have every acknowledged message of the stream.
pub fn settle<'a>(receivers: &[Receiver], acked: &HashMap<u32, Bits>, members: impl Fn(u32) -> &'a [usize]) -> Totals {
    let mut totals = Totals::default();
    let empty = Bits::default();
    for (&stream, acked_bits) in acked {
        let acked_count = acked_bits.count();
        totals.acked += acked_count;
        for &receiver in members(stream) {
            totals.expected += acked_count;
            let got = receivers.get(receiver).and_then(|r| r.streams.get(&stream)).map(|rx| &rx.got).unwrap_or(&empty);
            totals.lost += acked_bits.missing_from(got);
        }
    }
    for (index, receiver) in receivers.iter().enumerate() {
        for (&stream, rx) in &receiver.streams {
            if !members(stream).contains(&index) {
                totals.foreign += rx.got.count();
            }
        }
        totals.delivered += receiver.delivered;
        totals.duplicated += receiver.duplicated;
        totals.reordered += receiver.reordered;
    }
    totals
}

/// Latency from send to receipt, in microseconds, up to 5 minutes, 3 significant digits. All of its
/// memory is allocated here, before the run.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 300_000_000, 3).unwrap_or_else(|_| {
        // Bounds are constants that hdrhistogram accepts; this is unreachable in practice.
        Histogram::new(3).unwrap_or_else(|_| unreachable!())
    })
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub samples: u64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            samples: h.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_counts_lost_duplicated_and_reordered() {
        let mut acked = HashMap::new();
        let mut bits = Bits::default();
        bits.set_range(1, 4);
        acked.insert(0u32, bits);
        let mut a = Receiver::default();
        for seq in [1, 2, 4, 3, 3] {
            a.record(0, seq);
        }
        let mut b = Receiver::default();
        b.record(0, 1);
        let members = [0usize, 1];
        let totals = settle(&[a, b], &acked, |_| &members[..]);
        assert_eq!(totals.expected, 8);
        assert_eq!(totals.delivered, 5);
        assert_eq!(totals.lost, 3);
        assert_eq!(totals.duplicated, 1);
        assert_eq!(totals.reordered, 1);
    }

    #[test]
    fn a_channel_counts_what_came_after_its_start_once_and_in_order() {
        let mut rx = ChannelRx::starting_after(10);
        assert!(!rx.receive(9), "before the subscription started");
        assert!(rx.receive(11));
        assert!(rx.receive(13));
        assert!(rx.receive(12), "late but new");
        assert!(!rx.receive(13), "again");
        assert_eq!((rx.duplicated, rx.reordered, rx.last), (1, 1, 13));
        assert_eq!(rx.missing_up_to(15), 2);
        assert_eq!(rx.expected_up_to(15), 5);
    }
}

//! Where one subscription stands in its channel, and what to do with each publication that arrives.
//!
//! A subscriber registers with the hub first, then reads history after its `since`; pushes that
//! arrive meanwhile may repeat what history held (drop them) or, when pub/sub lost one, skip ahead
//! (fill the gap from history). Offsets make both visible, so the channel reaches the subscriber in
//! order, once, without gaps. The property test below plays random interleavings of publishing,
//! dropping connections, resubscribing and lost pushes against this rule.

/// The newest offset of a channel delivered to one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    last: u64,
}

/// What an arriving publication is, relative to the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Already delivered (history and live overlapped): drop it.
    Duplicate,
    /// The next one: deliver it.
    Next,
    /// Offsets `after + 1 ..= before - 1` are missing: fetch them first, then deliver this one.
    Gap { after: u64, before: u64 },
}

impl Cursor {
    pub fn at(last: u64) -> Self {
        Cursor { last }
    }

    pub fn last(&self) -> u64 {
        self.last
    }

    pub fn classify(&self, offset: u64) -> Arrival {
        if offset <= self.last {
            Arrival::Duplicate
        } else if offset == self.last + 1 {
            Arrival::Next
        } else {
            Arrival::Gap { after: self.last, before: offset }
        }
    }

    /// Records that everything up to `offset` was delivered (or accounted for by a reset).
    pub fn advance(&mut self, offset: u64) {
        self.last = self.last.max(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn arrivals_are_classified_by_offset() {
        let cursor = Cursor::at(5);
        assert_eq!(cursor.classify(3), Arrival::Duplicate);
        assert_eq!(cursor.classify(5), Arrival::Duplicate);
        assert_eq!(cursor.classify(6), Arrival::Next);
        assert_eq!(cursor.classify(9), Arrival::Gap { after: 5, before: 9 });
    }

    /// One phone, as the server sees it: registered with the hub or not, its outbox, its cursor.
    #[derive(Default)]
    struct Phone {
        registered: bool,
        /// Registered but history not read yet (the subscribe is in progress).
        reading: bool,
        queue: VecDeque<u64>,
        cursor: Option<Cursor>,
        /// What the phone has received, in order; survives reconnects (the page keeps it).
        received: Vec<u64>,
    }

    impl Phone {
        fn since(&self) -> u64 {
            self.received.last().copied().unwrap_or(0)
        }

        /// Delivers from the log everything after the cursor up to `up_to`.
        fn deliver_from_log(&mut self, log: u64, up_to: u64) {
            let cursor = self.cursor.get_or_insert(Cursor::at(self.since()));
            for offset in cursor.last() + 1..=up_to.min(log) {
                self.received.push(offset);
            }
            cursor.advance(up_to.min(log));
        }

        fn process_one(&mut self, log: u64) {
            let Some(offset) = self.queue.pop_front() else { return };
            let Some(cursor) = self.cursor else { return };
            match cursor.classify(offset) {
                Arrival::Duplicate => {}
                Arrival::Next => {
                    self.received.push(offset);
                    self.cursor = Some(Cursor::at(offset));
                }
                Arrival::Gap { before, .. } => {
                    self.deliver_from_log(log, before - 1);
                    self.received.push(offset);
                    self.cursor = Some(Cursor::at(offset));
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Publish,
        /// The phone's connection drops: its outbox is gone.
        Drop(usize),
        /// Subscribe, part one: register with the hub.
        Register(usize),
        /// Subscribe, part two: read history after `since` and reply.
        ReadHistory(usize),
        /// The connection task takes one item from its outbox.
        Process(usize),
        /// Pub/sub lost the newest push to this phone's instance.
        LosePush(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => Just(Step::Publish),
            1 => (0..3usize).prop_map(Step::Drop),
            2 => (0..3usize).prop_map(Step::Register),
            2 => (0..3usize).prop_map(Step::ReadHistory),
            4 => (0..3usize).prop_map(Step::Process),
            1 => (0..3usize).prop_map(Step::LosePush),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever the interleaving, every phone ends with every offset exactly once, in order.
        #[test]
        fn any_interleaving_of_publish_drop_and_resubscribe_delivers_exactly_once_in_order(
            steps in proptest::collection::vec(step(), 1..200)
        ) {
            let mut log = 0u64;
            let mut phones: Vec<Phone> = (0..3).map(|_| Phone::default()).collect();
            for step in steps {
                match step {
                    Step::Publish => {
                        log += 1;
                        for phone in phones.iter_mut().filter(|p| p.registered) {
                            phone.queue.push_back(log);
                        }
                    }
                    Step::Drop(i) => phones[i] = Phone { received: std::mem::take(&mut phones[i].received), ..Phone::default() },
                    Step::Register(i) => {
                        if !phones[i].registered {
                            phones[i].registered = true;
                            phones[i].reading = true;
                        }
                    }
                    Step::ReadHistory(i) => {
                        if phones[i].reading {
                            phones[i].reading = false;
                            phones[i].cursor = None;
                            phones[i].deliver_from_log(log, log);
                        }
                    }
                    Step::Process(i) => {
                        // The connection handles the subscribe before it reads its outbox.
                        if !phones[i].reading {
                            phones[i].process_one(log);
                        }
                    }
                    Step::LosePush(i) => {
                        phones[i].queue.pop_back();
                    }
                }
            }
            // Everyone reconnects once more and drains: nothing may be missing or doubled.
            for phone in &mut phones {
                if !phone.registered {
                    phone.registered = true;
                }
                if phone.reading || phone.cursor.is_none() {
                    phone.reading = false;
                    phone.cursor = None;
                    phone.deliver_from_log(log, log);
                }
                while !phone.queue.is_empty() {
                    phone.process_one(log);
                }
                // A lost push with nothing after it is found by the periodic position check.
                phone.deliver_from_log(log, log);
                prop_assert_eq!(&phone.received, &(1..=log).collect::<Vec<_>>());
            }
        }
    }
}

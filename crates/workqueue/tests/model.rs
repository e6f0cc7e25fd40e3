//! proptest model test: the queue against a plain `VecDeque` + two `HashSet`s (client-go's own
//! representation), checking WQ-1..WQ-15 after every step. Leases are finished by drop or by
//! `Queue::done`, borrowed or owned (`into_item`), and a lease already done is passed to `done`
//! again: the model, where each hold ends once, must still match.

use std::collections::{HashSet, VecDeque};

use proptest::prelude::*;
use workqueue::{Lease, Queue};

#[derive(Clone, Debug)]
enum Op {
    Add(u8),
    /// `try_get`; with `owned`, the lease is turned into an owned one with `into_item`.
    Get {
        owned: bool,
    },
    /// Finish the n-th held lease (modulo how many are held): by dropping it, or with
    /// `queue.done(&lease)` after which the lease is kept as a stale one.
    Done {
        n: usize,
        by_queue: bool,
    },
    /// `queue.done` again with the n-th stale lease: stray, whoever holds its item now.
    StaleDone(usize),
    /// Drop the n-th stale lease: changes nothing.
    DropStale(usize),
    /// `done` with a lease of another queue (WQ-14).
    ForeignDone(u8),
    ShutDown,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..6).prop_map(Op::Add),
        4 => any::<bool>().prop_map(|owned| Op::Get { owned }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(n, by_queue)| Op::Done { n, by_queue }),
        2 => any::<usize>().prop_map(Op::StaleDone),
        1 => any::<usize>().prop_map(Op::DropStale),
        1 => (0u8..6).prop_map(Op::ForeignDone),
        1 => Just(Op::ShutDown),
    ]
}

#[derive(Default)]
struct Model {
    queue: VecDeque<u8>,
    dirty: HashSet<u8>,
    processing: HashSet<u8>,
    shutting_down: bool,
}

impl Model {
    fn add(&mut self, k: u8) {
        if self.shutting_down || !self.dirty.insert(k) {
            return;
        }
        if !self.processing.contains(&k) {
            self.queue.push_back(k);
        }
    }

    fn get(&mut self) -> Option<u8> {
        let k = self.queue.pop_front()?;
        self.dirty.remove(&k);
        self.processing.insert(k);
        Some(k)
    }

    fn done(&mut self, k: u8) {
        self.processing.remove(&k);
        if self.dirty.contains(&k) {
            self.queue.push_back(k);
        }
    }

    fn check_invariants(&self) {
        let mut seen = HashSet::new();
        for k in &self.queue {
            assert!(
                self.dirty.contains(k) && !self.processing.contains(k),
                "WQ-1"
            );
            assert!(seen.insert(k), "WQ-2");
        }
    }
}

fn run(ops: &[Op]) {
    let queue = Queue::new();
    let other = Queue::new();
    let mut model = Model::default();
    let mut held: Vec<Lease<'_, u8>> = Vec::new();
    let mut stale: Vec<Lease<'_, u8>> = Vec::new();
    for op in ops {
        match op {
            Op::Add(k) => {
                queue.add(*k);
                model.add(*k);
            }
            Op::Get { owned } => {
                let got = queue.try_get();
                assert_eq!(got.as_deref().copied(), model.get(), "WQ-9 order");
                held.extend(got.map(|lease| if *owned { lease.into_item() } else { lease }));
            }
            Op::Done { n, by_queue } if !held.is_empty() => {
                let lease = held.swap_remove(n % held.len());
                model.done(*lease);
                if *by_queue {
                    assert!(queue.done(&lease), "the first done ends the hold");
                    stale.push(lease);
                } else {
                    drop(lease);
                }
            }
            Op::Done { .. } => {}
            Op::StaleDone(n) if !stale.is_empty() => {
                let lease = &stale[n % stale.len()];
                assert!(!queue.done(lease), "a second done is stray (WQ-14)");
            }
            Op::DropStale(n) if !stale.is_empty() => {
                drop(stale.swap_remove(n % stale.len()));
            }
            Op::StaleDone(_) | Op::DropStale(_) => {}
            Op::ForeignDone(k) => {
                other.add(*k);
                if let Some(foreign) = other.try_get() {
                    assert!(!queue.done(&foreign), "WQ-14");
                }
            }
            Op::ShutDown => {
                queue.shut_down();
                model.shutting_down = true;
            }
        }
        model.check_invariants();
        assert_eq!(queue.len(), model.queue.len(), "WQ-15");
        assert_eq!(queue.is_shutting_down(), model.shutting_down, "WQ-19");
        let mut holders: Vec<u8> = held.iter().map(|l| **l).collect();
        holders.sort_unstable();
        holders.dedup();
        assert_eq!(holders.len(), held.len(), "an item held by two workers");
    }
    drop(stale);
    for lease in held.drain(..) {
        model.done(*lease);
    }
    queue.shut_down();
    let rest: Vec<u8> = std::iter::from_fn(|| queue.try_get().map(|l| *l)).collect();
    let expected: Vec<u8> = std::iter::from_fn(|| {
        let k = model.get()?;
        model.done(k);
        Some(k)
    })
    .collect();
    assert_eq!(rest, expected);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn queue_matches_the_model(ops in prop::collection::vec(op(), 0..120)) {
        run(&ops);
    }
}

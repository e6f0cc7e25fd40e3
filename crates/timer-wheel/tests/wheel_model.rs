//! Model test: the wheel against a `BTreeMap` reference (spec: timer-wheel §4).
//!
//! Random inserts, cancels (including of stale handles), resets and advances; after every step
//! the wheel must have yielded exactly what the reference says, in the same order, never early.

use std::collections::BTreeMap;

use proptest::prelude::*;
use timer_wheel::{Handle, Wheel};

#[derive(Clone, Debug)]
enum Op {
    /// Insert at `now + delay`; `delay` spans every level, including the top.
    Insert(u64),
    /// Insert at an absolute deadline (past, now, or anywhere).
    InsertAt(u64),
    /// Cancel the handle with this index (modulo the number ever issued, stale or not).
    Cancel(usize),
    /// Reset that handle to `now + delay`.
    Reset(usize, u64),
    /// Advance by this many ticks, possibly taking only a few entries first.
    Advance(u64, Option<usize>),
    /// Try to move time backwards: must be a no-op.
    Rewind(u64),
}

fn delay() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..70,
        3 => 0u64..5_000,
        2 => 0u64..300_000,
        1 => any::<u64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => delay().prop_map(Op::Insert),
        1 => any::<u64>().prop_map(Op::InsertAt),
        3 => any::<usize>().prop_map(Op::Cancel),
        2 => (any::<usize>(), delay()).prop_map(|(i, d)| Op::Reset(i, d)),
        4 => (delay(), proptest::option::of(0usize..4)).prop_map(|(d, take)| Op::Advance(d, take)),
        1 => (0u64..100).prop_map(Op::Rewind),
    ]
}

/// The reference: pending entries keyed by (deadline, insertion sequence).
#[derive(Default)]
struct Model {
    pending: BTreeMap<(u64, u64), u32>,
    /// Per issued handle: its current key while pending.
    keys: Vec<Option<(u64, u64)>>,
    now: u64,
}

impl Model {
    fn pop_due(&mut self, now: u64) -> Option<(u64, u32)> {
        let (&key, _) = self.pending.iter().next()?;
        if key.0 > now {
            return None;
        }
        let id = self.pending.remove(&key)?;
        self.keys[id as usize] = None;
        Some((key.0, id))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn wheel_matches_btreemap(ops in proptest::collection::vec(op(), 1..200)) {
        let mut wheel: Wheel<u32> = Wheel::new();
        let mut model = Model::default();
        let mut handles: Vec<Handle> = Vec::new();

        for op in ops {
            match op {
                Op::Insert(_) | Op::InsertAt(_) => {
                    let deadline = match op {
                        Op::Insert(d) => model.now.saturating_add(d),
                        Op::InsertAt(at) => at,
                        _ => unreachable!(),
                    };
                    let id = handles.len() as u32;
                    handles.push(wheel.insert(deadline, id));
                    let key = (deadline, u64::from(id));
                    model.pending.insert(key, id);
                    model.keys.push(Some(key));
                }
                Op::Cancel(i) if !handles.is_empty() => {
                    let i = i % handles.len();
                    let expected = model.keys[i].take().and_then(|k| model.pending.remove(&k));
                    // spec: TW-1, TW-2 — only a pending entry is returned; stale handles are no-ops.
                    prop_assert_eq!(wheel.cancel(handles[i]), expected);
                }
                Op::Reset(i, d) if !handles.is_empty() => {
                    let i = i % handles.len();
                    let deadline = model.now.saturating_add(d);
                    let expected = match model.keys[i] {
                        Some(key) => {
                            let id = model.pending.remove(&key).unwrap();
                            let new_key = (deadline, key.1);
                            model.pending.insert(new_key, id);
                            model.keys[i] = Some(new_key);
                            true
                        }
                        None => false,
                    };
                    prop_assert_eq!(wheel.reset(handles[i], deadline), expected);
                }
                Op::Advance(d, take) => {
                    let now = model.now.saturating_add(d);
                    let mut got = Vec::new();
                    match take {
                        // Drop the iterator early: the rest must come with the next poll.
                        Some(n) => got.extend(wheel.advance(now).take(n)),
                        None => got.extend(wheel.advance(now)),
                    }
                    let mut want = Vec::new();
                    for _ in 0..got.len() {
                        want.extend(model.pop_due(now));
                    }
                    // spec: TW-3, TW-5 — deadline order, ties in insertion order, never early.
                    prop_assert_eq!(&got, &want);
                    for (deadline, _) in &got {
                        prop_assert!(*deadline <= now);
                    }
                    if take.is_none() {
                        prop_assert!(model.pop_due(now).is_none(), "wheel missed a due entry");
                    }
                    model.now = now;
                }
                Op::Rewind(back) => {
                    // spec: TW-3 — time never moves backward.
                    let earlier = model.now.saturating_sub(back);
                    let got: Vec<_> = wheel.advance(earlier).collect();
                    let mut want = Vec::new();
                    while let Some(x) = model.pop_due(earlier) {
                        want.push(x);
                    }
                    prop_assert_eq!(got, want);
                }
                _ => {}
            }
            prop_assert_eq!(wheel.len(), model.pending.len());
            // spec: TW-6 — next_deadline is a lower bound of the earliest pending deadline.
            if let Some((&(earliest, _), _)) = model.pending.iter().next() {
                let bound = wheel.next_deadline().unwrap();
                prop_assert!(bound <= earliest);
            } else {
                prop_assert_eq!(wheel.next_deadline(), None);
            }
        }

        // Drain everything: the far future yields every remaining entry, in order.
        let rest: Vec<_> = wheel.advance(u64::MAX).collect();
        let want: Vec<_> = std::iter::from_fn(|| model.pop_due(u64::MAX)).collect();
        prop_assert_eq!(rest, want);
        prop_assert!(wheel.is_empty());
    }
}

//! Model test: random sequences of operations against the FIFO and against a plain reference
//! written straight from the spec (a `Vec` of keys in first-queued order and a map of per-key
//! delta lists), compared after every step. The consumer keeps a known-objects store up to date
//! the way an informer does, so replace and resync see realistic stores.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use common::*;
use delta_fifo::{DeltaFifo, DeltaKind, KnownObjects};
use proptest::prelude::*;

/// One delta of the reference: its kind, the version of its object, and whether it is a
/// tombstone.
#[derive(Clone, Debug, PartialEq)]
struct RefDelta {
    kind: DeltaKind,
    rv: Option<u64>,
    tombstone: bool,
}

impl RefDelta {
    fn render(&self) -> String {
        let rv = self.rv.map_or_else(|| "-".to_owned(), |rv| rv.to_string());
        if self.tombstone {
            format!("Tomb:{rv}")
        } else {
            format!("{}:{rv}", self.kind)
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(u8),
    Update(u8),
    Delete(u8),
    Replace(Vec<u8>),
    Resync,
    Pop { requeue: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..6;
    prop_oneof![
        3 => key.clone().prop_map(Op::Add),
        3 => key.clone().prop_map(Op::Update),
        2 => key.clone().prop_map(Op::Delete),
        1 => proptest::collection::vec(key, 0..6).prop_map(Op::Replace),
        1 => Just(Op::Resync),
        3 => Just(Op::Pop { requeue: false }),
        1 => Just(Op::Pop { requeue: true }),
    ]
}

/// The reference DeltaFIFO.
#[derive(Default)]
struct Reference {
    with_store: bool,
    emit_replaced: bool,
    /// Keys in first-queued order.
    order: Vec<String>,
    items: HashMap<String, Vec<RefDelta>>,
    /// What the consumer has applied: key -> version.
    store: BTreeMap<String, u64>,
    populated: bool,
    initial: BTreeSet<String>,
    synced: bool,
}

impl Reference {
    fn push(&mut self, key: &str, delta: RefDelta) {
        let list = self.items.entry(key.to_owned()).or_insert_with(|| {
            self.order.push(key.to_owned());
            Vec::new()
        });
        if delta.kind == DeltaKind::Deleted
            && let Some(last) = list.last_mut()
            && last.kind == DeltaKind::Deleted
        {
            if last.tombstone {
                *last = delta;
            }
            return;
        }
        list.push(delta);
    }

    fn delta(kind: DeltaKind, rv: u64) -> RefDelta {
        RefDelta {
            kind,
            rv: Some(rv),
            tombstone: false,
        }
    }

    fn tombstone(rv: Option<u64>) -> RefDelta {
        RefDelta {
            kind: DeltaKind::Deleted,
            rv,
            tombstone: true,
        }
    }

    fn populate(&mut self) {
        self.populated = true;
        self.latch();
    }

    fn latch(&mut self) {
        self.synced |= self.populated && self.initial.is_empty();
    }

    fn add(&mut self, key: &str, kind: DeltaKind, rv: u64) {
        self.populate();
        self.push(key, Self::delta(kind, rv));
    }

    fn delete(&mut self, key: &str, rv: u64) {
        self.populate();
        if !self.items.contains_key(key) && (!self.with_store || !self.store.contains_key(key)) {
            return;
        }
        self.push(key, Self::delta(DeltaKind::Deleted, rv));
    }

    fn replace(&mut self, list: &[(String, u64)]) {
        let first = !self.populated;
        let kind = if self.emit_replaced {
            DeltaKind::Replaced
        } else {
            DeltaKind::Sync
        };
        let listed: BTreeSet<&String> = list.iter().map(|(k, _)| k).collect();
        for (key, rv) in list {
            self.push(key, Self::delta(kind, *rv));
        }
        let queued_missing: Vec<String> = self
            .order
            .iter()
            .filter(|k| !listed.contains(k))
            .cloned()
            .collect();
        for key in queued_missing {
            let newest = self.items[&key].last().unwrap().rv;
            self.push(&key, Self::tombstone(newest));
        }
        if self.with_store {
            let known_missing: Vec<(String, u64)> = self
                .store
                .iter()
                .filter(|(k, _)| !self.items.contains_key(*k))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            for (key, rv) in known_missing {
                self.push(&key, Self::tombstone(Some(rv)));
            }
        }
        if first {
            self.populated = true;
            self.initial = self.order.iter().cloned().collect();
            self.latch();
        }
    }

    fn resync(&mut self) {
        if !self.with_store {
            return;
        }
        let missing: Vec<(String, u64)> = self
            .store
            .iter()
            .filter(|(k, _)| !self.items.contains_key(*k))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (key, rv) in missing {
            self.push(&key, Self::delta(DeltaKind::Sync, rv));
        }
    }

    fn pop(&mut self, requeue: bool) -> Option<(String, Vec<String>, bool)> {
        if self.order.is_empty() {
            return None;
        }
        let key = self.order.remove(0);
        let list = self.items.remove(&key).unwrap();
        let initial = self.initial.contains(&key);
        let rendered = list.iter().map(RefDelta::render).collect();
        if requeue {
            self.order.push(key.clone());
            self.items.insert(key.clone(), list);
        } else {
            for delta in &list {
                if delta.kind == DeltaKind::Deleted {
                    self.store.remove(&key);
                } else {
                    self.store.insert(key.clone(), delta.rv.unwrap());
                }
            }
            self.initial.remove(&key);
            self.latch();
        }
        Some((key, rendered, initial))
    }
}

fn run(ops: Vec<Op>, with_store: bool, emit_replaced: bool) -> Result<(), TestCaseError> {
    let store = Store::with([]);
    let mut builder = DeltaFifo::<Obj>::builder().emit_replaced(emit_replaced);
    if with_store {
        builder = builder.known_objects(Arc::clone(&store) as Arc<dyn KnownObjects<Obj>>);
    }
    let fifo = builder.build();
    let mut model = Reference {
        with_store,
        emit_replaced,
        ..Reference::default()
    };
    let name = |k: u8| format!("k{k}");
    for (rv, op) in (1u64..).zip(ops) {
        match &op {
            Op::Add(k) => {
                fifo.add(o(&name(*k), rv)).unwrap();
                model.add(&name(*k), DeltaKind::Added, rv);
            }
            Op::Update(k) => {
                fifo.update(o(&name(*k), rv)).unwrap();
                model.add(&name(*k), DeltaKind::Updated, rv);
            }
            Op::Delete(k) => {
                fifo.delete(o(&name(*k), rv)).unwrap();
                model.delete(&name(*k), rv);
            }
            Op::Replace(list) => {
                let list: Vec<(String, u64)> = list.iter().map(|k| (name(*k), rv)).collect();
                fifo.replace(list.iter().map(|(k, rv)| o(k, *rv)), "")
                    .unwrap();
                model.replace(&list);
            }
            Op::Resync => {
                fifo.resync();
                model.resync();
            }
            Op::Pop { requeue } => {
                let got = fifo
                    .try_pop(|deltas, ctx| {
                        if *requeue {
                            ctx.requeue();
                        } else {
                            store.apply(deltas);
                        }
                        (
                            deltas.key().to_owned(),
                            render_all(deltas),
                            ctx.is_in_initial_list(),
                        )
                    })
                    .unwrap();
                prop_assert_eq!(got, model.pop(*requeue), "pop after {:?}", op);
            }
        }
        prop_assert_eq!(keys(&fifo), model.order.clone(), "queue after {:?}", op);
        for key in &model.order {
            let expected: Vec<String> = model.items[key].iter().map(RefDelta::render).collect();
            prop_assert_eq!(
                queued(&fifo, key),
                expected,
                "deltas of {} after {:?}",
                key,
                op
            );
        }
        prop_assert_eq!(fifo.has_synced(), model.synced, "has_synced after {:?}", op);
        prop_assert_eq!(
            store.versions(),
            model.store.clone(),
            "store after {:?}",
            op
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn fifo_matches_the_reference(
        ops in proptest::collection::vec(op(), 0..60),
        with_store in any::<bool>(),
        emit_replaced in any::<bool>(),
    ) {
        // spec: DF-1, DF-2, DF-4..DF-10, DF-12..DF-15, DF-17..DF-19, DF-21, DF-24, DF-25
        run(ops, with_store, emit_replaced)?;
    }
}

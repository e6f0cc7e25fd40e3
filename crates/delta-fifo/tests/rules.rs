//! The DeltaFIFO rules of the flywheel client-go spec (section 2), one test or more per rule,
//! plus the defined behaviour on bad input. Concurrency is in `concurrency.rs`, the randomized
//! model in `model.rs`.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use delta_fifo::{
    DeletedObject, Delta, DeltaFifo, DeltaKind, Deltas, Error, KeyError, KeyFn, KnownObjects,
    PopError,
};

#[test]
fn queue_and_items_hold_the_same_unique_keys() {
    // spec: DF-1
    let f = fifo();
    for (i, name) in ["a", "b", "a", "c", "b", "a"].into_iter().enumerate() {
        f.add(o(name, i as u64)).unwrap();
    }
    f.delete(o("c", 9)).unwrap();
    assert_eq!(keys(&f), ["a", "b", "c"]);
    assert_eq!(f.len(), 3);
    for key in keys(&f) {
        assert!(!queued(&f, &key).is_empty(), "{key} has deltas");
    }
    pop_now(&f).unwrap();
    assert_eq!(keys(&f), ["b", "c"]);
    assert!(f.get_by_key("a").is_none());
}

#[test]
fn line_jumpers_keep_their_first_place() {
    // spec: DF-2 (client-go TestDeltaFIFO_detectLineJumpers)
    let f = fifo();
    f.add(o("foo", 10)).unwrap();
    f.add(o("bar", 1)).unwrap();
    f.add(o("foo", 11)).unwrap();
    f.add(o("foo", 13)).unwrap();
    f.add(o("zab", 30)).unwrap();
    let (key, deltas, _) = pop_now(&f).unwrap();
    assert_eq!(key, "foo");
    assert_eq!(deltas, strs(&["Added:10", "Added:11", "Added:13"]));
    f.add(o("foo", 14)).unwrap();
    assert_eq!(keys(&f), ["bar", "zab", "foo"]);
}

#[test]
fn keys_of_objects_deltas_and_tombstones() {
    // spec: DF-3
    let f = fifo();
    assert_eq!(f.key_of(&nso("ns", "a", 1)).unwrap(), "ns/a");
    assert_eq!(f.key_of(&o("a", 1)).unwrap(), "a");
    let deltas = Deltas::new("ns/x", Delta::Added(Arc::new(nso("ns", "x", 1))));
    assert_eq!(deltas.key(), "ns/x");
    f.add(o("gone", 1)).unwrap();
    f.replace(Vec::<Obj>::new(), "1").unwrap();
    let deltas = f.get_by_key("gone").unwrap();
    match deltas.newest() {
        Delta::Deleted(DeletedObject::Tombstone { key, .. }) => assert_eq!(&**key, "gone"),
        other => panic!("expected a tombstone, got {other:?}"),
    }
}

#[test]
fn add_and_update_need_no_existence_and_populate() {
    // spec: DF-4
    let f = fifo();
    assert!(!f.has_synced());
    f.update(o("never-added", 1)).unwrap();
    assert!(
        f.has_synced(),
        "an update before any replace completes the sync"
    );
    assert_eq!(queued(&f, "never-added"), strs(&["Updated:1"]));
    f.add(o("never-added", 2)).unwrap();
    f.update(o("never-added", 3)).unwrap();
    assert_eq!(
        queued(&f, "never-added"),
        strs(&["Updated:1", "Added:2", "Updated:3"]),
        "nothing but deletions is merged"
    );
}

#[test]
fn an_ignored_delete_still_populates() {
    // spec: DF-5
    let f = fifo();
    f.delete(o("a", 1)).unwrap();
    assert!(f.is_empty());
    assert!(f.has_synced());
}

#[test]
fn delete_without_store_needs_queued_deltas() {
    // spec: DF-6
    let f = fifo();
    f.delete(o("a", 1)).unwrap();
    assert!(f.get_by_key("a").is_none(), "unknown key: ignored");
    f.add(o("a", 2)).unwrap();
    f.delete(o("a", 3)).unwrap();
    assert_eq!(queued(&f, "a"), strs(&["Added:2", "Deleted:3"]));
}

#[test]
fn delete_with_store_is_ignored_only_when_absent_everywhere() {
    // spec: DF-7
    let store = Store::with([o("known", 1), o("broken", 1)]);
    store.fail_lookups_of("broken");
    let f = fifo_with(&store);
    f.delete(o("unknown", 1)).unwrap();
    assert!(
        f.get_by_key("unknown").is_none(),
        "absent from queue and store"
    );
    f.delete(o("known", 2)).unwrap();
    assert_eq!(queued(&f, "known"), strs(&["Deleted:2"]));
    f.delete(o("broken", 2)).unwrap();
    assert_eq!(
        queued(&f, "broken"),
        strs(&["Deleted:2"]),
        "a lookup error means: do not skip"
    );
    // client-go TestDeltaFIFO_DeleteExistingNonPropagated: queued but not in the store.
    f.add(o("fresh", 1)).unwrap();
    f.delete(o("fresh", 2)).unwrap();
    assert_eq!(queued(&f, "fresh"), strs(&["Added:1", "Deleted:2"]));
}

#[test]
fn deletes_carry_the_given_object_and_collapse() {
    // spec: DF-8, DF-10
    let f = fifo();
    f.add(o("a", 1)).unwrap();
    f.delete(o("a", 2)).unwrap();
    f.delete(o("a", 3)).unwrap();
    assert_eq!(
        queued(&f, "a"),
        strs(&["Added:1", "Deleted:2"]),
        "older kept"
    );
    let deltas = f.get_by_key("a").unwrap();
    assert!(matches!(
        deltas.newest(),
        Delta::Deleted(DeletedObject::Known(_))
    ));
}

#[test]
fn a_real_deletion_beats_a_tombstone() {
    // spec: DF-10, DF-13
    let f = fifo();
    f.add(o("a", 1)).unwrap();
    f.delete(o("a", 2)).unwrap();
    f.replace(Vec::<Obj>::new(), "5").unwrap();
    assert_eq!(
        queued(&f, "a"),
        strs(&["Added:1", "Deleted:2"]),
        "Deleted(real) then Deleted(tombstone) keeps the real one"
    );
}

#[test]
fn transformer_runs_once_per_entering_object() {
    // spec: DF-11
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Store::with([o("cached", 1), o("gone", 1)]);
    let f = DeltaFifo::builder()
        .known_objects(store.clone())
        .transformer({
            let calls = Arc::clone(&calls);
            move |obj: Arc<Obj>| {
                calls.fetch_add(1, Ordering::SeqCst);
                let mut obj = Arc::unwrap_or_clone(obj);
                obj.rv += 1000;
                Ok(Arc::new(obj))
            }
        })
        .build();
    f.add(o("a", 1)).unwrap();
    f.update(o("a", 2)).unwrap();
    f.delete(o("a", 3)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        queued(&f, "a"),
        strs(&["Added:1001", "Updated:1002", "Deleted:1003"])
    );
    f.delete(o("nobody", 1)).unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "ignored delete: not transformed"
    );
    f.replace([o("cached", 2)], "").unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "tombstones are not transformed"
    );
    assert_eq!(queued(&f, "cached"), strs(&["Replaced:1002"]));
    assert_eq!(
        queued(&f, "gone"),
        strs(&["Tomb:1"]),
        "store object, untransformed"
    );
    while pop_now(&f).is_some() {}
    store.insert(o("cached", 7));
    assert_eq!(f.resync(), 2);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "resync objects are not transformed"
    );
    assert_eq!(queued(&f, "cached"), strs(&["Sync:7"]));
}

#[test]
fn replace_does_not_transform_the_stores_own_objects_again() {
    // spec: DF-11 (objects from the cache are already transformed), DF-12; GOALS I5
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Store::with([o("same", 1), o("changed", 1)]);
    let f = DeltaFifo::builder()
        .known_objects(store.clone())
        .transformer({
            let calls = Arc::clone(&calls);
            move |obj: Arc<Obj>| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(obj)
            }
        })
        .build();
    let cached = store.get_by_key("same").unwrap().unwrap();
    // An equal copy is not the store's object: it is transformed.
    f.replace(
        [
            Arc::clone(&cached),
            Arc::new(o("changed", 2)),
            Arc::new(o("same", 1)),
        ],
        "",
    )
    .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the copy and the changed one"
    );
    let same = f.get_by_key("same").unwrap();
    assert!(matches!(same.oldest(), Delta::Replaced(obj) if Arc::ptr_eq(obj, &cached)));
    assert_eq!(queued(&f, "changed"), strs(&["Replaced:2"]));
}

#[test]
fn transformer_errors_refuse_the_operation() {
    // spec: DF-11
    let f = DeltaFifo::builder()
        .transformer(|obj: Arc<Obj>| {
            if obj.rv == 13 {
                Err("unlucky".into())
            } else {
                Ok(obj)
            }
        })
        .build();
    let err = f.add(o("a", 13)).unwrap_err();
    assert!(
        matches!(&err, Error::Transform { key, .. } if &**key == "a"),
        "{err:?}"
    );
    assert!(f.is_empty());
    assert!(!f.has_synced(), "a refused operation changes nothing");
    let err = f.replace([o("b", 1), o("c", 13)], "").unwrap_err();
    assert!(
        matches!(&err, Error::Transform { key, .. } if &**key == "c"),
        "{err:?}"
    );
    assert!(f.is_empty(), "replace is all or nothing");
}

#[test]
fn replace_queues_replaced_or_legacy_sync() {
    // spec: DF-12
    let f = fifo();
    f.replace([o("a", 1), o("b", 1)], "10").unwrap();
    assert_eq!(keys(&f), ["a", "b"]);
    assert_eq!(queued(&f, "a"), strs(&["Replaced:1"]));
    let legacy = DeltaFifo::<Obj>::builder().emit_replaced(false).build();
    legacy.replace([o("a", 1)], "10").unwrap();
    assert_eq!(queued(&legacy, "a"), strs(&["Sync:1"]));
}

#[test]
fn replace_tombstones_queued_keys_missing_from_the_list() {
    // spec: DF-13
    let f = fifo();
    f.add(o("a", 1)).unwrap();
    f.update(o("b", 2)).unwrap();
    f.replace([o("b", 3)], "").unwrap();
    assert_eq!(queued(&f, "a"), strs(&["Added:1", "Tomb:1"]));
    assert_eq!(queued(&f, "b"), strs(&["Updated:2", "Replaced:3"]));
    // The newest object is unwrapped when it is itself a tombstone; two tombstones collapse
    // into the newer one.
    f.replace([o("b", 4)], "").unwrap();
    assert_eq!(queued(&f, "a"), strs(&["Added:1", "Tomb:1"]));
    let deltas = f.get_by_key("a").unwrap();
    match deltas.newest() {
        Delta::Deleted(DeletedObject::Tombstone { last_known, .. }) => {
            assert_eq!(last_known.as_ref().map(|o| o.rv), Some(1));
        }
        other => panic!("expected a tombstone, got {other:?}"),
    }
}

#[test]
fn replace_tombstones_known_objects_missing_from_the_list() {
    // spec: DF-14
    let store = Store::with([o("z", 1), o("listed", 1), o("m", 2), o("broken", 3)]);
    store.fail_lookups_of("broken");
    let f = fifo_with(&store);
    f.replace([o("listed", 2)], "").unwrap();
    assert_eq!(
        keys(&f),
        ["listed", "broken", "m", "z"],
        "listed first, then known tombstones in sorted key order"
    );
    assert_eq!(queued(&f, "z"), strs(&["Tomb:1"]));
    assert_eq!(queued(&f, "m"), strs(&["Tomb:2"]));
    assert_eq!(
        queued(&f, "broken"),
        strs(&["Tomb:-"]),
        "lookup error: no object"
    );
    // A known key that is also queued is handled by DF-13 only: one tombstone.
    f.update(o("q", 5)).unwrap();
    store.insert(o("q", 4));
    f.replace([o("listed", 3)], "").unwrap();
    assert_eq!(queued(&f, "q"), strs(&["Updated:5", "Tomb:5"]));
}

#[test]
fn replace_with_a_delete_already_queued() {
    // spec: DF-13 (client-go TestDeltaFIFO_replaceWithDeleteDeltaIn)
    let store = Store::with([o("foo", 1)]);
    let f = DeltaFifo::builder()
        .known_objects(store.clone())
        .emit_replaced(false)
        .build();
    f.delete(o("foo", 1)).unwrap();
    f.replace([o("foo", 2)], "0").unwrap();
    assert_eq!(keys(&f), ["foo"]);
    assert_eq!(queued(&f, "foo"), strs(&["Deleted:1", "Sync:2"]));
}

#[test]
fn first_replace_defines_the_initial_population() {
    // spec: DF-15, DF-21, DF-25
    let store = Store::with([o("gone", 1)]);
    let f = fifo_with(&store);
    f.replace([o("a", 1), o("b", 1)], "").unwrap();
    assert!(!f.has_synced());
    // A watch event for an initial key merges into it; a new key queues behind.
    f.update(o("a", 2)).unwrap();
    f.add(o("new", 1)).unwrap();
    assert!(!f.has_synced(), "a later add does not complete the sync");
    let popped: Vec<_> = std::iter::from_fn(|| pop_now(&f)).collect();
    assert_eq!(
        popped,
        [
            ("a".into(), strs(&["Replaced:1", "Updated:2"]), true),
            ("b".into(), strs(&["Replaced:1"]), true),
            ("gone".into(), strs(&["Tomb:1"]), true),
            ("new".into(), strs(&["Added:1"]), false),
        ]
    );
    assert!(f.has_synced());
    // Later replaces never reset it.
    f.replace([o("c", 1)], "").unwrap();
    assert!(f.has_synced());
    assert_eq!(pop_now(&f).map(|p| p.2), Some(false));
}

#[test]
fn tombstones_of_the_first_replace_count() {
    // spec: DF-15 (client-go TestDeltaFIFO_HasSyncedCorrectOnDeletion)
    let store = Store::with([o("a", 1), o("b", 1), o("c", 1)]);
    let f = fifo_with(&store);
    f.replace([o("a", 2)], "").unwrap();
    for _ in 0..2 {
        pop_now(&f).unwrap();
        assert!(!f.has_synced());
    }
    pop_now(&f).unwrap();
    assert!(f.has_synced());
}

#[test]
fn an_empty_first_replace_syncs_at_once() {
    // spec: DF-15, DF-25
    let f = fifo();
    f.replace(Vec::<Obj>::new(), "").unwrap();
    assert!(f.has_synced());
}

#[test]
fn resource_version_is_ignored() {
    // spec: DF-16
    let a = fifo();
    let b = fifo();
    a.replace([o("x", 1)], "").unwrap();
    b.replace([o("x", 1)], "not-a-number").unwrap();
    assert_eq!(queued(&a, "x"), queued(&b, "x"));
}

#[test]
fn without_store_popped_deletions_are_missed() {
    // spec: DF-17
    let f = fifo();
    f.add(o("a", 1)).unwrap();
    pop_now(&f).unwrap();
    f.replace(Vec::<Obj>::new(), "").unwrap();
    assert!(f.is_empty(), "nobody remembers `a`");
}

#[test]
fn resync_without_store_does_nothing() {
    // spec: DF-18
    let f = fifo();
    assert_eq!(f.resync(), 0);
    assert!(f.is_empty());
}

#[test]
fn resync_skips_queued_keys_and_failed_lookups() {
    // spec: DF-19 (client-go TestDeltaFIFO_UpdateResyncRace)
    let store = Store::with([o("a", 1), o("b", 1), o("broken", 1)]);
    store.fail_lookups_of("broken");
    let f = fifo_with(&store);
    f.update(o("a", 2)).unwrap();
    assert_eq!(f.resync(), 1);
    assert_eq!(
        queued(&f, "a"),
        strs(&["Updated:2"]),
        "older cached copy not queued"
    );
    assert_eq!(queued(&f, "b"), strs(&["Sync:1"]));
    assert!(f.get_by_key("broken").is_none());
    assert_eq!(keys(&f), ["a", "b"]);
}

#[test]
fn pop_on_a_closed_empty_fifo_returns_closed() {
    // spec: DF-20, DF-27
    let f = fifo();
    f.close();
    assert!(f.is_closed());
    assert_eq!(f.pop(|_, _| ()), Err(PopError::Closed));
    assert_eq!(f.try_pop(|_, _| ()), Err(PopError::Closed));
    assert_eq!(f.pop(|_, _| ()), Err(PopError::Closed), "and again");
}

#[test]
fn close_keeps_handing_out_queued_keys_and_accepts_producers() {
    // spec: DF-27
    let f = fifo();
    f.add(o("a", 1)).unwrap();
    f.close();
    f.add(o("b", 1)).unwrap();
    f.close();
    assert_eq!(f.pop(|d, _| d.key().to_owned()).unwrap(), "a");
    assert_eq!(f.pop(|d, _| d.key().to_owned()).unwrap(), "b");
    assert_eq!(f.pop(|_, _| ()), Err(PopError::Closed));
}

#[test]
fn has_synced_waits_for_the_last_initial_process_to_return() {
    // spec: DF-26
    let f = fifo();
    f.replace([o("a", 1)], "").unwrap();
    let during = f
        .pop(|_, ctx| {
            assert!(ctx.is_in_initial_list());
            f.has_synced()
        })
        .unwrap();
    assert!(
        !during,
        "not observable while the last initial item is processed"
    );
    assert!(f.has_synced());
}

#[test]
fn requeue_puts_deltas_back_at_the_tail() {
    // spec: DF-24
    let f = fifo();
    f.replace([o("a", 1), o("b", 1)], "").unwrap();
    let result: Result<(), &str> = f
        .pop(|deltas, ctx| {
            assert_eq!(deltas.key(), "a");
            ctx.requeue();
            Err("not now")
        })
        .unwrap();
    assert_eq!(result, Err("not now"));
    assert_eq!(keys(&f), ["b", "a"]);
    assert_eq!(queued(&f, "a"), strs(&["Replaced:1"]));
    assert_eq!(pop_now(&f).map(|p| p.2), Some(true));
    assert!(!f.has_synced(), "the requeued initial key still counts");
    assert_eq!(pop_now(&f), Some(("a".into(), strs(&["Replaced:1"]), true)));
    assert!(f.has_synced());
}

#[test]
fn add_if_not_present_only_fills_gaps() {
    // spec: DF-24 (AddIfNotPresent), DF-25
    let f = fifo();
    let deltas = Deltas::new("a", Delta::Updated(Arc::new(o("a", 1))));
    assert!(f.add_if_not_present(deltas.clone()));
    assert!(f.has_synced(), "populates");
    f.update(o("a", 2)).unwrap();
    assert!(!f.add_if_not_present(deltas));
    assert_eq!(queued(&f, "a"), strs(&["Updated:1", "Updated:2"]));
    let mut two = Deltas::new(
        "b",
        Delta::Deleted(DeletedObject::Known(Arc::new(o("b", 1)))),
    );
    two.push(Delta::Deleted(DeletedObject::Known(Arc::new(o("b", 2)))));
    assert!(f.add_if_not_present(two));
    assert_eq!(
        queued(&f, "b"),
        strs(&["Deleted:1", "Deleted:2"]),
        "taken as given"
    );
    assert_eq!(keys(&f), ["a", "b"]);
}

#[test]
fn get_returns_a_copy() {
    // spec: 2.14 read accessors
    let f = fifo();
    f.add(nso("ns", "a", 1)).unwrap();
    let mut copy = f.get(&nso("ns", "a", 99)).unwrap().unwrap();
    copy.push(Delta::Updated(Arc::new(nso("ns", "a", 2))));
    assert_eq!(copy.len(), 2);
    assert_eq!(queued(&f, "ns/a"), strs(&["Added:1"]));
    assert!(f.get(&nso("ns", "b", 1)).unwrap().is_none());
    assert_eq!(copy.oldest().kind(), DeltaKind::Added);
}

// ===== bad input =====

#[derive(Debug)]
struct Nameless(Option<&'static str>);
impl delta_fifo::Object for Nameless {
    fn name(&self) -> Option<&str> {
        self.0
    }
}

#[test]
fn a_failing_key_function_refuses_the_operation() {
    let f = DeltaFifo::<Nameless>::new();
    assert!(matches!(
        f.add(Nameless(None)),
        Err(Error::Key(KeyError::MissingName))
    ));
    assert!(matches!(f.update(Nameless(Some(""))), Err(Error::Key(_))));
    assert!(matches!(f.delete(Nameless(None)), Err(Error::Key(_))));
    assert!(matches!(f.get(&Nameless(None)), Err(Error::Key(_))));
    assert!(f.is_empty());
    assert!(!f.has_synced(), "refused operations change nothing");
    f.add(Nameless(Some("kept"))).unwrap();
    let err = f
        .replace([Nameless(Some("x")), Nameless(None)], "")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ReplaceKey {
                index: 1,
                source: KeyError::MissingName
            }
        ),
        "{err:?}"
    );
    assert_eq!(f.list_keys(), ["kept".into()], "replace is all or nothing");
    assert_eq!(
        f.get_by_key("kept").unwrap().len(),
        1,
        "no tombstone either"
    );
}

#[test]
fn custom_key_function_errors_carry_their_source() {
    let f = DeltaFifo::with_key_fn(KeyFn::new(|n: &i32| {
        if *n < 0 {
            Err(KeyError::custom(format!("negative: {n}")))
        } else {
            Ok(n.to_string())
        }
    }))
    .build();
    let err = f.add(-1).unwrap_err();
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(source.to_string(), "the key function failed");
    assert_eq!(
        std::error::Error::source(source).unwrap().to_string(),
        "negative: -1"
    );
}

#[test]
fn replace_with_duplicate_keys_keeps_every_object() {
    let f = fifo();
    f.replace([o("a", 1), o("b", 1), o("a", 2)], "").unwrap();
    assert_eq!(keys(&f), ["a", "b"]);
    assert_eq!(queued(&f, "a"), strs(&["Replaced:1", "Replaced:2"]));
    pop_now(&f).unwrap();
    assert!(!f.has_synced());
    pop_now(&f).unwrap();
    assert!(f.has_synced(), "the duplicate key counted once");
}

#[test]
fn a_panicking_process_puts_the_deltas_back() {
    let f = fifo();
    f.replace([o("a", 1), o("b", 1)], "").unwrap();
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        f.pop(|deltas, _| {
            assert_eq!(deltas.key(), "a");
            panic!("handler bug");
        })
    }));
    assert!(result.is_err());
    assert_eq!(keys(&f), ["a", "b"], "back at the head");
    assert_eq!(queued(&f, "a"), strs(&["Replaced:1"]));
    assert_eq!(pop_now(&f).map(|p| p.2), Some(true), "still initial");
    assert_eq!(pop_now(&f).map(|p| p.0), Some("b".to_owned()));
    assert!(f.has_synced());
}

#[test]
fn calling_the_fifo_from_its_own_process_panics_instead_of_deadlocking() {
    let f = fifo();
    f.add(o("a", 1)).unwrap();
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        f.pop(|_, _| {
            let _ = f.add(o("b", 1));
        })
    }));
    let message = result.unwrap_err();
    let message = message.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("inside its own pop closure"), "{message}");
    assert_eq!(keys(&f), ["a"], "restored, and the nested add did nothing");
    // Another FIFO may be used from inside the closure.
    let other = fifo();
    f.pop(|d, _| other.add(Arc::new(o(d.key(), 2))).unwrap())
        .unwrap();
    assert_eq!(keys(&other), ["a"]);
}

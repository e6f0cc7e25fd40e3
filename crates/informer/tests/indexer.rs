//! Indexer behaviour, rule by rule (spec section 4).

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::{Pod, by_node, keys_of, pod, pod_on};
use delta_fifo::{KeyFn, KnownObjects};
use informer::{IndexFn, Indexer, IndexerError, Lister, NAMESPACE_INDEX};

fn node_indexer() -> Indexer<Pod> {
    Indexer::builder().index("node", by_node()).build()
}

#[test]
fn add_update_delete_get() {
    // spec: section 4.1 (add and update are the same upsert; delete of an absent key is a no-op)
    let ix = node_indexer();
    assert!(ix.add(pod("a", "x", "1")).unwrap().is_none());
    let old = ix.update(pod("a", "x", "2")).unwrap().unwrap();
    assert_eq!(old.rv, "1");
    assert_eq!(ix.get(&pod("a", "x", "")).unwrap().unwrap().rv, "2");
    assert_eq!(ix.get_by_key("a/x").unwrap().rv, "2");
    assert_eq!(ix.len(), 1);
    assert_eq!(ix.delete(&pod("a", "x", "")).unwrap().unwrap().rv, "2");
    assert!(ix.delete(&pod("a", "x", "")).unwrap().is_none());
    assert!(ix.is_empty());
    assert!(ix.list_index_func_values(NAMESPACE_INDEX).is_empty());
}

#[test]
fn key_errors_are_typed() {
    // spec: IX-1 (no name ⇒ key error)
    let ix = node_indexer();
    assert!(matches!(
        ix.add(pod("a", "", "1")),
        Err(IndexerError::Key(_))
    ));
    assert!(matches!(
        ix.replace([pod("a", "ok", "1"), pod("a", "", "1")], "5"),
        Err(IndexerError::ReplaceKey { index: 1, .. })
    ));
    assert!(ix.is_empty(), "a failed replace changes nothing");
}

#[test]
fn cluster_scoped_keys() {
    // spec: IX-1 (cluster-scoped objects are keyed by name; namespace index value "")
    let ix = node_indexer();
    ix.add(pod("", "node-1", "1")).unwrap();
    assert!(ix.get_by_key("node-1").is_some());
    assert_eq!(
        ix.index_keys(NAMESPACE_INDEX, "").unwrap(),
        ["node-1".into()]
    );
}

#[test]
fn multi_value_index_moves_and_empty_sets_are_removed() {
    // spec: IX-4, IX-5 (value change [a] → [a, b] → [] and empty value sets deleted)
    let ix = node_indexer();
    ix.add(pod_on("ns", "p", "1", "a")).unwrap();
    assert_eq!(ix.list_index_func_values("node"), ["a"]);
    ix.update(pod_on("ns", "p", "2", "a,b")).unwrap();
    assert_eq!(ix.list_index_func_values("node"), ["a", "b"]);
    assert_eq!(ix.index_keys("node", "b").unwrap(), ["ns/p".into()]);
    ix.update(pod_on("ns", "p", "3", "")).unwrap();
    assert!(ix.list_index_func_values("node").is_empty());
    assert!(ix.by_index("node", "a").unwrap().is_empty());
    ix.update(pod_on("ns", "p", "4", "c")).unwrap();
    ix.delete_by_key("ns/p").unwrap();
    assert!(ix.list_index_func_values("node").is_empty(), "IX-6");
}

#[test]
fn index_fn_error_leaves_store_untouched() {
    // spec: IX-8 (flywheel: typed error, no partial update), section 8
    let ix = node_indexer();
    ix.add(pod_on("ns", "p", "1", "a")).unwrap();
    let err = ix.update(pod_on("ns", "p", "2", "!")).unwrap_err();
    assert!(
        matches!(&err, IndexerError::IndexFn { index, key, .. } if index == "node" && &**key == "ns/p"),
        "{err:?}"
    );
    assert_eq!(ix.get_by_key("ns/p").unwrap().rv, "1");
    assert_eq!(ix.index_keys("node", "a").unwrap(), ["ns/p".into()]);
    assert!(matches!(
        ix.add(pod_on("ns", "q", "1", "!")),
        Err(IndexerError::IndexFn { .. })
    ));
    assert!(ix.get_by_key("ns/q").is_none());
    assert!(matches!(
        ix.replace([pod_on("ns", "r", "1", "!")], "9"),
        Err(IndexerError::IndexFn { .. })
    ));
    assert_eq!(ix.list_keys(), ["ns/p".into()]);
    assert_eq!(ix.resource_version(), "");
}

#[test]
fn queries_and_unknown_indexes() {
    // spec: IX-9, IX-10, IX-11, IX-12
    let ix = node_indexer();
    ix.add(pod_on("a", "1", "1", "n1")).unwrap();
    ix.add(pod_on("a", "2", "1", "n1,n2")).unwrap();
    ix.add(pod_on("b", "3", "1", "n2")).unwrap();
    ix.add(pod_on("b", "4", "1", "n3")).unwrap();
    // IX-9: intersection, de-duplicated
    let hits = ix.index("node", &pod_on("", "probe", "", "n1,n2")).unwrap();
    assert_eq!(keys_of(&hits), ["a/1", "a/2", "b/3"]);
    // IX-10
    assert_eq!(keys_of(&ix.by_index("node", "n2").unwrap()), ["a/2", "b/3"]);
    assert!(ix.by_index("node", "nope").unwrap().is_empty());
    assert!(matches!(
        ix.by_index("nope", "x"),
        Err(IndexerError::UnknownIndex(name)) if name == "nope"
    ));
    assert!(matches!(
        ix.index("nope", &pod("a", "1", "")),
        Err(IndexerError::UnknownIndex(_))
    ));
    // IX-11: sorted
    assert_eq!(
        ix.index_keys(NAMESPACE_INDEX, "b").unwrap(),
        ["b/3".into(), "b/4".into()]
    );
    assert!(matches!(
        ix.index_keys("nope", "x"),
        Err(IndexerError::UnknownIndex(_))
    ));
    // IX-12
    assert_eq!(ix.list_index_func_values("node"), ["n1", "n2", "n3"]);
    assert!(ix.list_index_func_values("nope").is_empty());
    assert_eq!(ix.index_names(), ["namespace", "node"]);
}

#[test]
fn replace_reindexes_and_records_version() {
    // spec: IX-7
    let ix = node_indexer();
    ix.add(pod_on("a", "old", "1", "n1")).unwrap();
    ix.replace(
        [pod_on("a", "new", "2", "n2"), pod_on("b", "x", "2", "n2")],
        "42",
    )
    .unwrap();
    assert_eq!(ix.resource_version(), "42");
    assert!(ix.get_by_key("a/old").is_none());
    assert!(ix.by_index("node", "n1").unwrap().is_empty());
    assert_eq!(
        keys_of(&ix.by_index("node", "n2").unwrap()),
        ["a/new", "b/x"]
    );
    assert_eq!(ix.list_index_func_values(NAMESPACE_INDEX), ["a", "b"]);
}

#[test]
fn replace_shares_unchanged_objects() {
    // GOALS I5: an object whose resourceVersion did not change keeps the cached Arc.
    let ix = node_indexer();
    ix.add(pod("a", "same", "5")).unwrap();
    ix.add(pod("a", "changed", "5")).unwrap();
    let cached_same = ix.get_by_key("a/same").unwrap();
    let listed_same = Arc::new(pod("a", "same", "5"));
    ix.replace(
        [Arc::clone(&listed_same), Arc::new(pod("a", "changed", "6"))],
        "7",
    )
    .unwrap();
    assert!(Arc::ptr_eq(&ix.get_by_key("a/same").unwrap(), &cached_same));
    assert_eq!(
        Arc::strong_count(&listed_same),
        1,
        "the listed copy was dropped"
    );
    assert_eq!(ix.get_by_key("a/changed").unwrap().rv, "6");
}

#[test]
fn add_indexers_backfills_and_conflicts() {
    // spec: IX-13
    let ix: Indexer<Pod> = Indexer::new();
    ix.add(pod_on("a", "1", "1", "n1")).unwrap();
    ix.add(pod_on("a", "2", "1", "n2")).unwrap();
    ix.add_indexers([("node", by_node())]).unwrap();
    assert_eq!(keys_of(&ix.by_index("node", "n1").unwrap()), ["a/1"]);
    // Conflict: existing name, and a duplicate inside the batch; nothing of the batch is added.
    let err = ix
        .add_indexers([
            ("node", by_node()),
            ("other", by_node()),
            ("other", by_node()),
        ])
        .unwrap_err();
    assert!(
        matches!(&err, IndexerError::IndexConflict { names } if names == &["node", "other"]),
        "{err:?}"
    );
    assert_eq!(ix.index_names(), ["namespace", "node"]);
    // A failing function on an existing object refuses the batch.
    ix.add(pod_on("a", "3", "1", "!")).unwrap_err();
    let failing = IndexFn::new(|p: &Pod| {
        if p.name == "2" {
            Err("no")
        } else {
            Ok(vec![p.name.clone()])
        }
    });
    assert!(matches!(
        ix.add_indexers([("by-name", failing)]),
        Err(IndexerError::IndexFn { .. })
    ));
    assert_eq!(ix.index_names(), ["namespace", "node"]);
}

#[test]
fn known_objects_for_delta_fifo() {
    // spec: section 5.1 (the FIFO's known objects are the indexer)
    let ix = node_indexer();
    ix.add(pod("a", "x", "1")).unwrap();
    let known: &dyn KnownObjects<Pod> = &ix;
    assert_eq!(known.list_keys(), ["a/x".into()]);
    let mut seen = Vec::new();
    known.for_each_key(&mut |k| seen.push(k.clone()));
    assert_eq!(seen, ["a/x".into()]);
    assert_eq!(known.get_by_key("a/x").unwrap().unwrap().rv, "1");
    assert!(known.get_by_key("a/y").unwrap().is_none());
}

#[test]
fn custom_key_fn_without_indexes() {
    let ix =
        informer::IndexerBuilder::with_key_fn(KeyFn::new(|p: &Pod| Ok(p.name.clone()))).build();
    ix.add(pod("a", "x", "1")).unwrap();
    assert!(ix.get_by_key("x").is_some());
    assert!(ix.index_names().is_empty());
}

#[test]
fn lister_namespace_views() {
    // spec: IX-14, IX-15
    let ix = Arc::new(node_indexer());
    ix.add(pod("a", "1", "1")).unwrap();
    ix.add(pod("a", "2", "1")).unwrap();
    ix.add(pod("b", "1", "1")).unwrap();
    ix.add(pod("", "cluster", "1")).unwrap();
    let lister = Lister::new(Arc::clone(&ix));
    assert_eq!(lister.list().len(), 4);
    assert_eq!(keys_of(&lister.namespace("a").list()), ["a/1", "a/2"]);
    assert_eq!(
        lister.namespace("").list().len(),
        4,
        "\"\" means all namespaces"
    );
    assert!(lister.namespace("b").get("1").is_some());
    assert!(lister.namespace("b").get("2").is_none());
    assert!(lister.get("cluster").is_some());
    assert_eq!(
        lister.namespace("a").list_filtered(|p| p.name == "2").len(),
        1
    );
    assert_eq!(lister.list_filtered(|p| p.name == "1").len(), 2);

    // Without the namespace index the lister falls back to a filtered scan.
    let bare = Arc::new(Indexer::<Pod>::builder().no_indexes().build());
    bare.add(pod("a", "1", "1")).unwrap();
    bare.add(pod("b", "1", "1")).unwrap();
    assert_eq!(keys_of(&Lister::new(bare).namespace("a").list()), ["a/1"]);
}

#[test]
fn concurrent_readers_see_consistent_snapshots() {
    // spec: section 4.4 (each query a consistent snapshot); replace is atomic for readers.
    const N: usize = 200;
    let ix = Arc::new(node_indexer());
    let generation = |g: usize| -> Vec<Pod> {
        (0..N)
            .map(|i| pod_on("ns", &i.to_string(), &g.to_string(), &format!("g{g}")))
            .collect()
    };
    ix.replace(generation(0), "0").unwrap();
    let barrier = Arc::new(Barrier::new(3));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (ix, barrier) = (Arc::clone(&ix), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..300 {
                    // Every object comes from one generation, and the index agrees with it.
                    let all = ix.list();
                    assert_eq!(all.len(), N, "never a half-filled store");
                    let rv = &all[0].rv;
                    assert!(all.iter().all(|p| &p.rv == rv), "mixed generations");
                    let values = ix.list_index_func_values("node");
                    assert_eq!(values.len(), 1, "{values:?}");
                    // A later query may see a later generation (then this value is gone).
                    let n = ix.by_index("node", &values[0]).unwrap().len();
                    assert!(n == N || n == 0, "partial index: {n}");
                }
            })
        })
        .collect();
    barrier.wait();
    for g in 1..60 {
        ix.replace(generation(g), &g.to_string()).unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
}

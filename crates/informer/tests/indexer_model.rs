//! Model test: the indexer against a plain reference (a `HashMap` of objects, with every index
//! recomputed from scratch after each step).
// spec: IX-4, IX-5, IX-6, IX-7, IX-8, IX-10, IX-11, IX-12, IX-13

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{Pod, by_node, pod_on};
use informer::{Indexer, NAMESPACE_INDEX};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Upsert(Pod),
    Delete(String, String),
    Replace(Vec<Pod>),
    AddNodeIndex,
}

fn arb_pod() -> impl Strategy<Value = Pod> {
    (
        prop::sample::select(vec!["a", "b", ""]),
        prop::sample::select(vec!["p1", "p2", "p3", "p4"]),
        0usize..6,
    )
        // The node is a function of the resourceVersion: equal versions mean equal content,
        // as on a real server (the indexer's `replace` relies on it to share objects).
        .prop_map(|(ns, name, rv)| {
            let node = ["", "n1", "n2", "n1,n2", "n2,n3", "!"][rv];
            pod_on(ns, name, &rv.to_string(), node)
        })
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => arb_pod().prop_map(Op::Upsert),
        3 => (prop::sample::select(vec!["a", "b", ""]), prop::sample::select(vec!["p1", "p2", "p3", "p4"]))
            .prop_map(|(ns, name)| Op::Delete(ns.to_owned(), name.to_owned())),
        1 => prop::collection::vec(arb_pod(), 0..6).prop_map(Op::Replace),
        1 => Just(Op::AddNodeIndex),
    ]
}

fn key(p: &Pod) -> String {
    if p.ns.is_empty() {
        p.name.clone()
    } else {
        format!("{}/{}", p.ns, p.name)
    }
}

fn node_values(p: &Pod) -> Option<Vec<String>> {
    (p.node != "!").then(|| {
        p.node
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// Reference: objects by key, plus whether the node index exists.
#[derive(Default)]
struct Model {
    items: HashMap<String, Pod>,
    node_index: bool,
}

impl Model {
    fn indexes_ok(&self, p: &Pod) -> bool {
        !self.node_index || node_values(p).is_some()
    }

    fn index(&self, name: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (k, p) in &self.items {
            let values = if name == NAMESPACE_INDEX {
                vec![p.ns.clone()]
            } else {
                node_values(p).unwrap()
            };
            for v in values {
                out.entry(v).or_default().insert(k.clone());
            }
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn indexer_matches_model(ops in prop::collection::vec(arb_op(), 1..40)) {
        let ix: Indexer<Pod> = Indexer::new();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Upsert(p) => {
                    let ok = model.indexes_ok(&p)
                        && model.items.get(&key(&p)).is_none_or(|old| model.indexes_ok(old));
                    prop_assert_eq!(ix.add(p.clone()).is_ok(), ok);
                    if ok { model.items.insert(key(&p), p); }
                }
                Op::Delete(ns, name) => {
                    let k = if ns.is_empty() { name.clone() } else { format!("{ns}/{name}") };
                    let res = ix.delete_by_key(&k);
                    prop_assert!(res.is_ok());
                    prop_assert_eq!(res.unwrap().is_some(), model.items.remove(&k).is_some());
                }
                Op::Replace(list) => {
                    // Duplicate keys: the last one wins, and only it is indexed.
                    let items: HashMap<String, Pod> = list.iter().map(|p| (key(p), p.clone())).collect();
                    let ok = items.values().all(|p| model.indexes_ok(p));
                    prop_assert_eq!(ix.replace(list, "r").is_ok(), ok);
                    if ok { model.items = items; }
                }
                Op::AddNodeIndex => {
                    let ok = !model.node_index && model.items.values().all(|p| node_values(p).is_some());
                    prop_assert_eq!(ix.add_indexers([("node", by_node())]).is_ok(), ok);
                    if ok { model.node_index = true; }
                }
            }
            // Compare everything.
            let mut keys: Vec<String> = ix.list_keys().iter().map(|k| k.to_string()).collect();
            keys.sort();
            let mut want: Vec<String> = model.items.keys().cloned().collect();
            want.sort();
            prop_assert_eq!(keys, want);
            for (k, p) in &model.items {
                prop_assert_eq!(&*ix.get_by_key(k).unwrap(), p);
            }
            let mut names = vec![NAMESPACE_INDEX];
            if model.node_index { names.push("node"); }
            for name in names {
                let want = model.index(name);
                prop_assert_eq!(ix.list_index_func_values(name), want.keys().cloned().collect::<Vec<_>>());
                for (v, ks) in want {
                    let got: Vec<String> = ix.index_keys(name, &v).unwrap().iter().map(|k| k.to_string()).collect();
                    prop_assert_eq!(got, ks.iter().cloned().collect::<Vec<_>>());
                    prop_assert_eq!(ix.by_index(name, &v).unwrap().len(), ks.len());
                }
            }
        }
    }
}

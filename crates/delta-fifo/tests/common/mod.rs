//! Shared helpers of the integration tests: a test object, a known-objects store that can be
//! told to fail, and compact renderings of deltas.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use delta_fifo::{BoxError, DeletedObject, Delta, DeltaFifo, Deltas, KnownObjects, Object};
use parking_lot::{Mutex, RwLock};

/// A test object: keyed `namespace/name` (or `name`), versioned by `rv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obj {
    pub namespace: String,
    pub name: String,
    pub rv: u64,
}

impl Object for Obj {
    fn namespace(&self) -> Option<&str> {
        Some(&self.namespace)
    }
    fn name(&self) -> Option<&str> {
        Some(&self.name)
    }
}

/// A cluster-scoped object: its key is its name.
pub fn o(name: &str, rv: u64) -> Obj {
    Obj {
        namespace: String::new(),
        name: name.to_owned(),
        rv,
    }
}

/// A namespaced object.
pub fn nso(namespace: &str, name: &str, rv: u64) -> Obj {
    Obj {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        rv,
    }
}

/// A known-objects store, as an informer's indexer would be, with injectable lookup failures.
#[derive(Default)]
pub struct Store {
    map: RwLock<BTreeMap<Arc<str>, Arc<Obj>>>,
    failing: Mutex<BTreeSet<String>>,
}

impl Store {
    pub fn with(objects: impl IntoIterator<Item = Obj>) -> Arc<Self> {
        let store = Self::default();
        for obj in objects {
            store.insert(obj);
        }
        Arc::new(store)
    }

    pub fn insert(&self, obj: Obj) {
        let key = delta_fifo::meta_namespace_key(&obj).unwrap();
        self.map.write().insert(key.into(), Arc::new(obj));
    }

    pub fn remove(&self, key: &str) {
        self.map.write().remove(key);
    }

    /// Makes `get_by_key(key)` fail from now on.
    pub fn fail_lookups_of(&self, key: &str) {
        self.failing.lock().insert(key.to_owned());
    }

    /// Applies popped deltas the way an informer updates its indexer.
    pub fn apply(&self, deltas: &Deltas<Obj>) {
        for delta in deltas {
            match delta {
                Delta::Deleted(_) => self.remove(deltas.key()),
                other => {
                    let obj = other.object().unwrap();
                    self.map
                        .write()
                        .insert(deltas.key_arc().clone(), Arc::clone(obj));
                }
            }
        }
    }

    pub fn versions(&self) -> BTreeMap<String, u64> {
        self.map
            .read()
            .iter()
            .map(|(k, v)| (k.to_string(), v.rv))
            .collect()
    }
}

impl KnownObjects<Obj> for Store {
    fn list_keys(&self) -> Vec<Arc<str>> {
        self.map.read().keys().cloned().collect()
    }

    fn get_by_key(&self, key: &str) -> Result<Option<Arc<Obj>>, BoxError> {
        if self.failing.lock().contains(key) {
            return Err(format!("injected lookup failure for {key}").into());
        }
        Ok(self.map.read().get(key).cloned())
    }
}

/// A FIFO with the default key function, no store, `Replaced` deltas.
pub fn fifo() -> DeltaFifo<Obj> {
    DeltaFifo::new()
}

/// A FIFO backed by `store`.
pub fn fifo_with(store: &Arc<Store>) -> DeltaFifo<Obj> {
    DeltaFifo::builder()
        .known_objects(Arc::clone(store) as Arc<dyn KnownObjects<Obj>>)
        .build()
}

/// One delta as text: `Added:3`, `Deleted:4`, `Tomb:2` (tombstone with last known rv 2),
/// `Tomb:-` (tombstone without object).
pub fn render(delta: &Delta<Obj>) -> String {
    let rv = |obj: Option<&Arc<Obj>>| obj.map_or_else(|| "-".to_owned(), |o| o.rv.to_string());
    match delta {
        Delta::Deleted(DeletedObject::Tombstone { last_known, .. }) => {
            format!("Tomb:{}", rv(last_known.as_ref()))
        }
        other => format!("{}:{}", other.kind(), rv(other.object())),
    }
}

/// All deltas of a key as text.
pub fn render_all(deltas: &Deltas<Obj>) -> Vec<String> {
    deltas.iter().map(render).collect()
}

/// What is queued for `key`, as text (empty when nothing is).
pub fn queued(fifo: &DeltaFifo<Obj>, key: &str) -> Vec<String> {
    fifo.get_by_key(key)
        .map(|d| render_all(&d))
        .unwrap_or_default()
}

/// Pops one key without waiting: `(key, deltas as text, is_in_initial_list)`.
pub fn pop_now(fifo: &DeltaFifo<Obj>) -> Option<(String, Vec<String>, bool)> {
    fifo.try_pop(|deltas, ctx| {
        (
            deltas.key().to_owned(),
            render_all(deltas),
            ctx.is_in_initial_list(),
        )
    })
    .unwrap()
}

/// The queued keys as plain strings.
pub fn keys(fifo: &DeltaFifo<Obj>) -> Vec<String> {
    fifo.list_keys().iter().map(|k| k.to_string()).collect()
}

/// Shorthand for expected rendered deltas.
pub fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

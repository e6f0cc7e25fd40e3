//! [`Indexer`]: the informer's cache, a thread-safe map from key to `Arc<K>` with named
//! secondary indexes kept consistent on every write (client-go's `threadSafeMap` + `Indexer`,
//! spec section 4).
//!
//! # Ground rules
//!
//! * All state lives in one `RwLock<State>`. Every query takes the read lock once, so its answer
//!   is a consistent snapshot; every write takes the write lock once and leaves `items` and
//!   `indices` consistent when it releases it.
//! * Invariant: for every index `name` and value `v`, `indices[name][v]` is exactly the set of
//!   keys whose object's index function for `name` yields `v`, and is never empty (IX-4, IX-5).
//!   `indices` has one entry per name in `indexers`.
//! * A write computes everything fallible (key, old and new index values) before it mutates
//!   anything, so a failing index function leaves the store untouched (IX-8).
//! * `replace` builds the new map and indexes **outside** the lock, then swaps them in under the
//!   write lock: readers see the old store or the new one, never a half-filled one. The old map
//!   is dropped after the lock is released.
//! * User code (key and index functions) runs under the write lock during writes: it must not
//!   call back into the indexer.
//! * `items`, each index and each index value's key set are [`ShardedMap`]s: a large one grows
//!   a 256th at a time, so no single write (hence no event, on the pop thread) waits for the
//!   whole cache to be rehashed (GOALS I4; see [`crate::sharded`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use delta_fifo::{BoxError, KeyFn, KnownObjects, Object};
use hashbrown::{HashMap, HashSet};
use parking_lot::RwLock;

use crate::error::IndexerError;
use crate::index::{IndexFn, NAMESPACE_INDEX};
use crate::object::{Resource, same_object_version, same_version};
use crate::sharded::{ShardedMap, ShardedSet};

/// One index: value → keys filed under it (never empty).
type Index = ShardedMap<String, ShardedSet<Arc<str>>>;

/// Decides whether a listed object is the same version as the cached one, so `replace` can
/// keep the cached `Arc` and drop the listed copy at once.
type SameVersion<K> = Arc<dyn Fn(&K, &K) -> bool + Send + Sync>;

/// A thread-safe, indexed object cache (client-go's `Indexer` over a `ThreadSafeStore`).
///
/// Objects are held as `Arc<K>` and handed out as such: they are shared, never cloned, and
/// must be treated as read-only. The indexer is keyed by its [`KeyFn`] (normally
/// `namespace/name`) and implements [`KnownObjects`] so a [`DeltaFifo`](delta_fifo::DeltaFifo)
/// can consult it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use delta_fifo::Object;
/// use informer::{IndexFn, Indexer, NAMESPACE_INDEX, Resource};
///
/// struct Pod {
///     ns: &'static str,
///     name: &'static str,
///     node: &'static str,
/// }
/// impl Object for Pod {
///     fn namespace(&self) -> Option<&str> {
///         Some(self.ns)
///     }
///     fn name(&self) -> Option<&str> {
///         Some(self.name)
///     }
/// }
/// impl Resource for Pod {
///     fn resource_version(&self) -> Option<&str> {
///         None
///     }
/// }
///
/// let indexer = Indexer::builder()
///     .index("node", IndexFn::new(|p: &Pod| -> Result<_, std::convert::Infallible> {
///         Ok(vec![p.node.to_owned()])
///     }))
///     .build();
/// indexer.add(Pod { ns: "a", name: "web", node: "n1" })?;
/// indexer.add(Pod { ns: "b", name: "db", node: "n1" })?;
/// assert_eq!(indexer.by_index("node", "n1")?.len(), 2);
/// assert_eq!(indexer.index_keys(NAMESPACE_INDEX, "a")?, ["a/web".into()]);
/// assert_eq!(indexer.get_by_key("b/db").map(|p| p.node), Some("n1"));
/// # Ok::<(), informer::IndexerError>(())
/// ```
#[doc(alias = "ThreadSafeStore")]
pub struct Indexer<K> {
    key_fn: KeyFn<K>,
    same_version: Option<SameVersion<K>>,
    state: RwLock<State<K>>,
}

struct State<K> {
    items: ShardedMap<Arc<str>, Arc<K>>,
    /// Sorted by name, so index work happens in a deterministic order.
    indexers: BTreeMap<String, IndexFn<K>>,
    indices: HashMap<String, Index>,
    /// Bumped by `add_indexers`: lets `replace` detect that its off-lock build is stale.
    indexers_generation: u64,
    /// The last resourceVersion given to `replace` or `set_resource_version` (section 4.7).
    resource_version: String,
}

/// Builds an [`Indexer`].
pub struct IndexerBuilder<K> {
    key_fn: KeyFn<K>,
    indexers: BTreeMap<String, IndexFn<K>>,
    same_version: Option<SameVersion<K>>,
}

impl<K: Resource> Default for IndexerBuilder<K> {
    fn default() -> Self {
        Self {
            key_fn: KeyFn::meta_namespace(),
            indexers: BTreeMap::from([(NAMESPACE_INDEX.to_owned(), IndexFn::namespace())]),
            same_version: Some(Arc::new(|a: &K, b: &K| same_version(a, b))),
        }
    }
}

impl<K> IndexerBuilder<K> {
    /// A builder with `key_fn`, no index, and no version sharing in `replace`.
    pub fn with_key_fn(key_fn: KeyFn<K>) -> Self {
        Self {
            key_fn,
            indexers: BTreeMap::new(),
            same_version: None,
        }
    }

    /// Replaces the key function.
    pub fn key_fn(mut self, key_fn: KeyFn<K>) -> Self {
        self.key_fn = key_fn;
        self
    }

    /// Adds (or, for an existing name, replaces) a named index.
    pub fn index(mut self, name: impl Into<String>, f: IndexFn<K>) -> Self {
        self.indexers.insert(name.into(), f);
        self
    }

    /// Removes every index, the built-in namespace index included.
    pub fn no_indexes(mut self) -> Self {
        self.indexers.clear();
        self
    }

    /// How `replace` recognises an unchanged object (normally: equal resourceVersions), so it
    /// keeps the cached `Arc` and drops the listed copy right away.
    pub fn same_version<F>(mut self, f: F) -> Self
    where
        F: Fn(&K, &K) -> bool + Send + Sync + 'static,
    {
        self.same_version = Some(Arc::new(f));
        self
    }

    /// Creates the indexer, empty.
    pub fn build(self) -> Indexer<K> {
        let indices = self
            .indexers
            .keys()
            .map(|name| (name.clone(), Index::new()))
            .collect();
        Indexer {
            key_fn: self.key_fn,
            same_version: self.same_version,
            state: RwLock::new(State {
                items: ShardedMap::new(),
                indexers: self.indexers,
                indices,
                indexers_generation: 0,
                resource_version: String::new(),
            }),
        }
    }
}

impl<K: Resource> Indexer<K> {
    /// An empty indexer keyed by `namespace/name`, with the namespace index, sharing unchanged
    /// objects (equal resourceVersion) across `replace`.
    pub fn new() -> Self {
        IndexerBuilder::default().build()
    }

    /// A builder starting from the defaults of [`new`](Self::new).
    pub fn builder() -> IndexerBuilder<K> {
        IndexerBuilder::default()
    }
}

impl<K: Resource> Default for Indexer<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Indexer<K> {
    /// The key of `obj` under this indexer's key function.
    ///
    /// # Errors
    ///
    /// [`IndexerError::Key`] if the key function fails.
    pub fn key_of(&self, obj: &K) -> Result<String, IndexerError> {
        self.key_fn.key(obj).map_err(IndexerError::Key)
    }

    /// Inserts or replaces the object under its key (`add` and `update` are the same upsert,
    /// section 4.1), updating every index (IX-4, IX-5). Returns the object it replaced.
    ///
    /// # Errors
    ///
    /// [`IndexerError::Key`] or [`IndexerError::IndexFn`]; nothing changed then.
    #[doc(alias = "Add")]
    pub fn add(&self, obj: impl Into<Arc<K>>) -> Result<Option<Arc<K>>, IndexerError> {
        let obj = obj.into();
        let key = self.key_of(&obj)?;
        self.upsert_key(key, obj)
    }

    /// Same as [`add`](Self::add).
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    #[doc(alias = "Update")]
    pub fn update(&self, obj: impl Into<Arc<K>>) -> Result<Option<Arc<K>>, IndexerError> {
        self.add(obj)
    }

    /// Upserts `obj` under an already computed `key` (the `DeltaFifo` key of its deltas).
    pub(crate) fn upsert_key(
        &self,
        key: impl AsRef<str> + Into<Arc<str>>,
        obj: Arc<K>,
    ) -> Result<Option<Arc<K>>, IndexerError> {
        let mut guard = self.state.write();
        let state = &mut *guard;
        let key = match state.items.get_key_value(key.as_ref()) {
            Some((existing, _)) => Arc::clone(existing),
            None => key.into(),
        };
        let old = state.items.get(&key).cloned();
        let changes = state.index_changes(&key, old.as_deref(), Some(&obj))?;
        state.apply(&key, changes);
        state.items.insert(key, obj);
        drop(guard);
        Ok(old)
    }

    /// Removes the object with `obj`'s key from the map and every index (IX-6); absent ⇒ no-op.
    /// Returns the removed object.
    ///
    /// # Errors
    ///
    /// [`IndexerError::Key`], or [`IndexerError::IndexFn`] if an index function fails on the
    /// cached object; nothing changed then.
    #[doc(alias = "Delete")]
    pub fn delete(&self, obj: &K) -> Result<Option<Arc<K>>, IndexerError> {
        let key = self.key_of(obj)?;
        self.delete_by_key(&key)
    }

    /// Removes the object stored under `key` (IX-6); absent ⇒ `Ok(None)`.
    ///
    /// # Errors
    ///
    /// [`IndexerError::IndexFn`] if an index function fails on the cached object; nothing
    /// changed then.
    pub fn delete_by_key(&self, key: &str) -> Result<Option<Arc<K>>, IndexerError> {
        let mut guard = self.state.write();
        let state = &mut *guard;
        let Some((key, old)) = state
            .items
            .get_key_value(key)
            .map(|(k, v)| (Arc::clone(k), Arc::clone(v)))
        else {
            return Ok(None);
        };
        let changes = state.index_changes(&key, Some(&old), None)?;
        state.apply(&key, changes);
        let removed = state.items.remove(&key);
        drop(guard);
        Ok(removed)
    }

    /// Replaces the whole content with `list` and records `resource_version` (IX-7).
    ///
    /// Readers see the old content or the new one, never a mix: keys and indexes are computed
    /// without the lock, then swapped in under the write lock. Memory (GOALS I5): the peak is
    /// the old and the new *maps* (keys and pointers) plus the objects whose version changed;
    /// an object whose version equals the cached one (see [`IndexerBuilder::same_version`]) is
    /// replaced by the cached `Arc` at once, so unchanged objects are never held twice by the
    /// store. The old map is freed after the lock is released. A write that lands between the
    /// start of `replace` and its swap is overwritten: the store then holds exactly `list`.
    ///
    /// # Errors
    ///
    /// [`IndexerError::ReplaceKey`] or [`IndexerError::IndexFn`]; nothing changed then.
    #[doc(alias = "Replace")]
    pub fn replace<I>(&self, list: I, resource_version: &str) -> Result<(), IndexerError>
    where
        I: IntoIterator,
        I::Item: Into<Arc<K>>,
    {
        let list = list.into_iter();
        let mut keyed: Vec<(Arc<str>, Arc<K>)> = Vec::with_capacity(list.size_hint().0);
        let mut buf = String::new();
        for (index, obj) in list.enumerate() {
            let obj = obj.into();
            buf.clear();
            buf.push_str(
                &self
                    .key_fn
                    .key(&obj)
                    .map_err(|source| IndexerError::ReplaceKey { index, source })?,
            );
            keyed.push((Arc::from(buf.as_str()), obj));
        }
        // Share unchanged objects with the current cache, and take the index functions.
        let (indexers, generation) = {
            let state = self.state.read();
            if let Some(same) = &self.same_version {
                for (key, obj) in &mut keyed {
                    if let Some((cached_key, cached)) = state.items.get_key_value(&**key)
                        && same(cached, obj)
                    {
                        *obj = Arc::clone(cached);
                        *key = Arc::clone(cached_key);
                    }
                }
            }
            (state.indexers.clone(), state.indexers_generation)
        };
        let mut items = ShardedMap::with_capacity(keyed.len());
        for (key, obj) in keyed {
            items.insert(key, obj);
        }
        let mut indices = build_indices(&indexers, &items)?;
        let mut guard = self.state.write();
        if guard.indexers_generation != generation {
            // Indexes were added meanwhile (rare): build those under the lock.
            let missing: BTreeMap<_, _> = guard
                .indexers
                .iter()
                .filter(|(name, _)| !indices.contains_key(*name))
                .map(|(name, f)| (name.clone(), f.clone()))
                .collect();
            indices.extend(build_indices(&missing, &items)?);
        }
        let old_items = std::mem::replace(&mut guard.items, items);
        let old_indices = std::mem::replace(&mut guard.indices, indices);
        guard.resource_version = resource_version.to_owned();
        drop(guard);
        drop((old_items, old_indices));
        Ok(())
    }

    /// The cached object with `obj`'s key.
    ///
    /// # Errors
    ///
    /// [`IndexerError::Key`] if the key function fails.
    #[doc(alias = "Get")]
    pub fn get(&self, obj: &K) -> Result<Option<Arc<K>>, IndexerError> {
        let key = self.key_of(obj)?;
        Ok(self.get_by_key(&key))
    }

    /// The cached object under `key`.
    #[doc(alias = "GetByKey")]
    pub fn get_by_key(&self, key: &str) -> Option<Arc<K>> {
        self.state.read().items.get(key).cloned()
    }

    /// The cached object under `obj`'s key if it is `obj` unchanged: same uid and same
    /// non-empty resourceVersion. `None` if the key function fails, nothing is cached under
    /// the key, or the cached object differs.
    pub(crate) fn find_unchanged(&self, obj: &K) -> Option<Arc<K>>
    where
        K: Resource,
    {
        if self.state.read().items.is_empty() {
            // The first list: nothing to share, no key to compute.
            return None;
        }
        let key = self.key_fn.key(obj).ok()?;
        let cached = self.state.read().items.get(key.as_str()).cloned()?;
        same_object_version(&*cached, obj).then_some(cached)
    }

    /// Whether an object is cached under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.state.read().items.contains_key(key)
    }

    /// Every cached object, in no particular order.
    #[doc(alias = "List")]
    pub fn list(&self) -> Vec<Arc<K>> {
        self.state.read().items.values().cloned().collect()
    }

    /// Every cached object for which `filter` returns true, in no particular order.
    pub fn list_filtered(&self, mut filter: impl FnMut(&K) -> bool) -> Vec<Arc<K>> {
        let state = self.state.read();
        state
            .items
            .values()
            .filter(|obj| filter(obj))
            .cloned()
            .collect()
    }

    /// Every key, in no particular order.
    #[doc(alias = "ListKeys")]
    pub fn list_keys(&self) -> Vec<Arc<str>> {
        self.state.read().items.keys().cloned().collect()
    }

    /// Number of cached objects.
    pub fn len(&self) -> usize {
        self.state.read().items.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.state.read().items.is_empty()
    }

    /// Objects whose values for index `name` intersect `obj`'s values, each once (IX-9).
    ///
    /// # Errors
    ///
    /// [`IndexerError::UnknownIndex`], or [`IndexerError::IndexFn`] if the function fails on
    /// `obj`.
    #[doc(alias = "Index")]
    pub fn index(&self, name: &str, obj: &K) -> Result<Vec<Arc<K>>, IndexerError> {
        let state = self.state.read();
        let (f, index) = state.index_named(name)?;
        let values = f.values(obj).map_err(|source| IndexerError::IndexFn {
            index: name.to_owned(),
            key: self
                .key_of(obj)
                .map(Arc::from)
                .unwrap_or_else(|_| "".into()),
            source,
        })?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for value in &values {
            for key in index.get(value).into_iter().flatten() {
                if seen.insert(Arc::clone(key)) {
                    out.extend(state.items.get(key).cloned());
                }
            }
        }
        Ok(out)
    }

    /// Objects filed under `value` in index `name`; an unknown value gives an empty list
    /// (IX-10). Costs O(result), not O(cache) (GOALS I6).
    ///
    /// # Errors
    ///
    /// [`IndexerError::UnknownIndex`].
    #[doc(alias = "ByIndex")]
    pub fn by_index(&self, name: &str, value: &str) -> Result<Vec<Arc<K>>, IndexerError> {
        let state = self.state.read();
        let (_, index) = state.index_named(name)?;
        Ok(index
            .get(value)
            .into_iter()
            .flatten()
            .filter_map(|key| state.items.get(key).cloned())
            .collect())
    }

    /// The keys filed under `value` in index `name`, sorted (IX-11).
    ///
    /// # Errors
    ///
    /// [`IndexerError::UnknownIndex`].
    #[doc(alias = "IndexKeys")]
    pub fn index_keys(&self, name: &str, value: &str) -> Result<Vec<Arc<str>>, IndexerError> {
        let state = self.state.read();
        let (_, index) = state.index_named(name)?;
        let mut keys: Vec<_> = index.get(value).into_iter().flatten().cloned().collect();
        drop(state);
        keys.sort_unstable();
        Ok(keys)
    }

    /// Every value present in index `name`, sorted; an unknown index gives an empty list, not
    /// an error (IX-12).
    #[doc(alias = "ListIndexFuncValues")]
    pub fn list_index_func_values(&self, name: &str) -> Vec<String> {
        let state = self.state.read();
        let mut values: Vec<_> = state
            .indices
            .get(name)
            .map(|index| index.keys().cloned().collect())
            .unwrap_or_default();
        drop(state);
        values.sort_unstable();
        values
    }

    /// The names of the configured indexes, sorted.
    #[doc(alias = "GetIndexers")]
    pub fn index_names(&self) -> Vec<String> {
        self.state.read().indexers.keys().cloned().collect()
    }

    /// Adds indexes, populated from the objects already cached (IX-13). All or nothing: a name
    /// that exists already (or appears twice in the batch) refuses the whole batch, as does an
    /// index function failing on a cached object.
    ///
    /// # Errors
    ///
    /// [`IndexerError::IndexConflict`] naming the duplicates, or [`IndexerError::IndexFn`].
    #[doc(alias = "AddIndexers")]
    pub fn add_indexers<I, S>(&self, indexers: I) -> Result<(), IndexerError>
    where
        I: IntoIterator<Item = (S, IndexFn<K>)>,
        S: Into<String>,
    {
        let mut batch = BTreeMap::new();
        let mut conflicts = Vec::new();
        for (name, f) in indexers {
            let name = name.into();
            match batch.entry(name) {
                std::collections::btree_map::Entry::Occupied(dup) => {
                    conflicts.push(dup.key().clone())
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(f);
                }
            }
        }
        let mut guard = self.state.write();
        let state = &mut *guard;
        conflicts.extend(
            batch
                .keys()
                .filter(|name| state.indexers.contains_key(*name))
                .cloned(),
        );
        if !conflicts.is_empty() {
            conflicts.sort_unstable();
            conflicts.dedup();
            return Err(IndexerError::IndexConflict { names: conflicts });
        }
        let built = build_indices(&batch, &state.items)?;
        state.indices.extend(built);
        state.indexers.extend(batch);
        state.indexers_generation += 1;
        Ok(())
    }

    /// The resourceVersion last recorded by [`replace`](Self::replace) or
    /// [`set_resource_version`](Self::set_resource_version) (section 4.7).
    pub fn resource_version(&self) -> String {
        self.state.read().resource_version.clone()
    }

    /// Records the resourceVersion the cache is at (a bookmark or a watch event).
    #[doc(alias = "Bookmark")]
    pub fn set_resource_version(&self, resource_version: &str) {
        resource_version.clone_into(&mut self.state.write().resource_version);
    }
}

impl<K> State<K> {
    fn index_named(&self, name: &str) -> Result<(&IndexFn<K>, &Index), IndexerError> {
        match (self.indexers.get(name), self.indices.get(name)) {
            (Some(f), Some(index)) => Ok((f, index)),
            _ => Err(IndexerError::UnknownIndex(name.to_owned())),
        }
    }

    /// The index values to move for `key` going from `old` to `new`, per index; fallible, and
    /// touches nothing.
    fn index_changes(
        &self,
        key: &Arc<str>,
        old: Option<&K>,
        new: Option<&K>,
    ) -> Result<Vec<IndexChange>, IndexerError> {
        let mut changes = Vec::new();
        for (name, f) in &self.indexers {
            let values = |obj: Option<&K>| -> Result<Vec<String>, IndexerError> {
                obj.map_or(Ok(Vec::new()), |obj| {
                    f.values(obj).map_err(|source| IndexerError::IndexFn {
                        index: name.clone(),
                        key: Arc::clone(key),
                        source,
                    })
                })
            };
            let old_values = values(old)?;
            let new_values = values(new)?;
            if old_values != new_values {
                changes.push(IndexChange {
                    name: name.clone(),
                    old: old_values,
                    new: new_values,
                });
            }
        }
        Ok(changes)
    }

    /// Applies computed changes; infallible.
    fn apply(&mut self, key: &Arc<str>, changes: Vec<IndexChange>) {
        for change in changes {
            let index = self.indices.entry(change.name).or_default();
            for value in change.old.iter().filter(|v| !change.new.contains(v)) {
                if let Some(keys) = index.get_mut(value) {
                    keys.remove(key);
                    if keys.is_empty() {
                        index.remove(value); // IX-5
                    }
                }
            }
            for value in change.new.into_iter() {
                if !change.old.contains(&value) {
                    index.entry(value).or_default().insert(Arc::clone(key));
                }
            }
        }
    }
}

/// Values to move for one index.
struct IndexChange {
    name: String,
    old: Vec<String>,
    new: Vec<String>,
}

/// Builds indexes `indexers` over `items`; fallible, touches nothing shared.
fn build_indices<K>(
    indexers: &BTreeMap<String, IndexFn<K>>,
    items: &ShardedMap<Arc<str>, Arc<K>>,
) -> Result<HashMap<String, Index>, IndexerError> {
    let mut indices = HashMap::with_capacity(indexers.len());
    for (name, f) in indexers {
        let mut index = Index::new();
        for (key, obj) in items {
            let values = f.values(obj).map_err(|source| IndexerError::IndexFn {
                index: name.clone(),
                key: Arc::clone(key),
                source,
            })?;
            for value in values {
                index.entry(value).or_default().insert(Arc::clone(key));
            }
        }
        indices.insert(name.clone(), index);
    }
    Ok(indices)
}

impl<K: Send + Sync> KnownObjects<K> for Indexer<K> {
    fn list_keys(&self) -> Vec<Arc<str>> {
        Indexer::list_keys(self)
    }

    fn for_each_key(&self, f: &mut dyn FnMut(&Arc<str>)) {
        for key in self.state.read().items.keys() {
            f(key);
        }
    }

    fn get_by_key(&self, key: &str) -> Result<Option<Arc<K>>, BoxError> {
        Ok(Indexer::get_by_key(self, key))
    }
}

impl<K> fmt::Debug for Indexer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.read();
        f.debug_struct("Indexer")
            .field("len", &state.items.len())
            .field("indexes", &state.indexers.keys().collect::<Vec<_>>())
            .field("resource_version", &state.resource_version)
            .finish_non_exhaustive()
    }
}

impl<K> fmt::Debug for IndexerBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexerBuilder")
            .field("indexes", &self.indexers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Whether `obj` lives in `namespace` (`""` matching cluster-scoped objects).
pub(crate) fn in_namespace<K: Object + ?Sized>(obj: &K, namespace: &str) -> bool {
    obj.namespace().unwrap_or_default() == namespace
}

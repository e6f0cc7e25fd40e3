//! The queue itself: the state behind [`DeltaFifo`](crate::DeltaFifo)'s lock and every operation
//! on it. Nothing here locks, blocks or wakes anyone; `fifo.rs` and `pop.rs` are the faces.
//!
//! # Ground rules
//!
//! * The whole [`State`] lives in one `parking_lot::Mutex` in `DeltaFifo`; every method here is
//!   called with that lock held (the `_locked` suffix of client-go is implied for the module).
//! * **DF-1**: a key is in `queue` iff it is in `items`; `queue` has no duplicates; every entry's
//!   list of deltas is non-empty. Every method keeps this before it returns; `take_head` and
//!   `put_back_*` are the only places that remove or re-insert a key, always in both structures.
//! * **DF-2**: a key keeps the place in `queue` it got when it was first queued; later deltas
//!   only append to its entry.
//! * `initial_pending` counts the entries whose `initial` flag is set. Flags are only set by the
//!   first `replace` (DF-15) and only cleared when such an entry is consumed by a pop that did
//!   not requeue it. The FIFO's `synced` latch is set exactly when `populated` holds and this
//!   count reaches zero.
//! * `listed` is scratch for `replace`: set on the entries of the listed keys, and cleared again
//!   on every entry before `replace` returns.
//! * User code that runs here (a [`KnownObjects`] store) must not call back into the FIFO: the
//!   lock is not re-entrant. Key functions and transformers of `add`/`update`/`replace` run
//!   *before* the lock is taken.

use std::collections::VecDeque;
use std::sync::Arc;

use hashbrown::HashMap;
use hashbrown::hash_map::{Entry as MapEntry, EntryRef};

use crate::delta::{DeletedObject, Delta, DeltaList, Deltas};
use crate::known::KnownObjects;

/// The deltas queued for one key, and its bookkeeping.
#[derive(Debug)]
pub(crate) struct Entry<K> {
    /// Oldest first; never empty (DF-1).
    pub(crate) list: DeltaList<K>,
    /// Part of the first `replace` and not yet consumed (DF-15, DF-25).
    pub(crate) initial: bool,
    /// Scratch for `replace`; false outside it.
    listed: bool,
}

impl<K> Entry<K> {
    fn new(list: DeltaList<K>) -> Self {
        Self {
            list,
            initial: false,
            listed: false,
        }
    }
}

/// What the FIFO holds under its lock.
#[derive(Debug)]
pub(crate) struct State<K> {
    /// Queued deltas by key; same key set as `queue` (DF-1). Hashed with foldhash (fast,
    /// seeded per process, so crafted object names cannot degrade it predictably).
    items: HashMap<Arc<str>, Entry<K>>,
    /// Keys in the order they were first queued (DF-2); each key once, each shares its
    /// allocation with the key in `items`.
    queue: VecDeque<Arc<str>>,
    /// Something was added, updated, deleted or replaced at least once (DF-4, DF-5, DF-15).
    pub(crate) populated: bool,
    /// How many entries have `initial` set.
    initial_pending: usize,
    /// Tasks waiting in `pop_async`.
    #[cfg(feature = "async")]
    pub(crate) wakers: crate::pop::Wakers,
}

impl<K> State<K> {
    pub(crate) fn new() -> Self {
        Self {
            items: HashMap::new(),
            queue: VecDeque::new(),
            populated: false,
            initial_pending: 0,
            #[cfg(feature = "async")]
            wakers: crate::pop::Wakers::default(),
        }
    }

    /// Number of queued keys.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether `has_synced` should hold: populated and every initial entry consumed (DF-25).
    pub(crate) fn synced(&self) -> bool {
        self.populated && self.initial_pending == 0
    }

    /// Whether `key` has queued deltas.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.items.contains_key(key)
    }

    /// Queues `delta` under `key`, de-duplicating deletions (DF-9, DF-10). Returns whether the
    /// key was newly appended to the queue.
    pub(crate) fn push(&mut self, key: &str, delta: Delta<K>) -> bool {
        match self.items.entry_ref(key) {
            EntryRef::Occupied(mut occupied) => {
                occupied.get_mut().list.push_dedup(delta);
                false
            }
            EntryRef::Vacant(vacant) => {
                let key: Arc<str> = Arc::from(key);
                self.queue.push_back(Arc::clone(&key));
                vacant.insert_with_key(key, Entry::new(DeltaList::One(delta)));
                true
            }
        }
    }

    /// Appends a key that is not queued, with its deltas, at the tail.
    fn insert_new(&mut self, key: Arc<str>, list: DeltaList<K>) {
        self.queue.push_back(Arc::clone(&key));
        self.items.insert(key, Entry::new(list));
    }

    /// `add_if_not_present`: queues `deltas` at the tail unless the key has queued deltas.
    pub(crate) fn add_if_not_present(&mut self, deltas: Deltas<K>) -> bool {
        let (key, list) = deltas.into_list();
        if self.items.contains_key(&key) {
            return false;
        }
        self.insert_new(key, list);
        true
    }

    /// A copy of the deltas queued for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Deltas<K>> {
        let (key, entry) = self.items.get_key_value(key)?;
        Some(Deltas::from_parts(Arc::clone(key), entry.list.clone()))
    }

    /// Queued keys in queue order.
    pub(crate) fn keys(&self) -> Vec<Arc<str>> {
        self.queue.iter().cloned().collect()
    }

    /// Removes the head key from the queue and returns it with its entry (DF-21).
    pub(crate) fn take_head(&mut self) -> Option<(Arc<str>, Entry<K>)> {
        while let Some(key) = self.queue.pop_front() {
            match self.items.remove(&key) {
                Some(entry) => return Some((key, entry)),
                // DF-22: cannot happen while DF-1 holds; client-go logs and skips too.
                None => tracing::error!(key = &*key, "DeltaFifo: queued key has no deltas"),
            }
        }
        None
    }

    /// Puts a popped entry back at the head, as if it had never been taken (a panicking pop).
    pub(crate) fn put_back_front(&mut self, key: Arc<str>, list: DeltaList<K>, initial: bool) {
        self.put_back(key, list, initial, true);
    }

    /// Puts a popped entry back at the tail (a requeue, DF-24).
    pub(crate) fn put_back_tail(&mut self, key: Arc<str>, list: DeltaList<K>, initial: bool) {
        self.put_back(key, list, initial, false);
    }

    fn put_back(&mut self, key: Arc<str>, list: DeltaList<K>, initial: bool, front: bool) {
        match self.items.entry(key) {
            // Only reachable if someone queued the key while its deltas were out; the older
            // deltas go first, and the key keeps the place it has.
            MapEntry::Occupied(mut occupied) => {
                let entry = occupied.get_mut();
                let newer = std::mem::replace(&mut entry.list, list);
                entry.list.extend_dedup(newer);
                if initial && !entry.initial {
                    entry.initial = true;
                } else if initial {
                    self.initial_pending -= 1;
                }
            }
            MapEntry::Vacant(vacant) => {
                let key = Arc::clone(vacant.key());
                vacant.insert(Entry {
                    list,
                    initial,
                    listed: false,
                });
                if front {
                    self.queue.push_front(key);
                } else {
                    self.queue.push_back(key);
                }
            }
        }
    }

    /// Accounts for a consumed entry. Returns whether that made the FIFO synced.
    pub(crate) fn consumed(&mut self, initial: bool) -> bool {
        if initial {
            self.initial_pending -= 1;
            return self.synced();
        }
        false
    }

    /// Sets `populated` (DF-4, DF-5). Returns whether the FIFO became synced by it.
    pub(crate) fn mark_populated(&mut self) -> bool {
        if self.populated {
            return false;
        }
        self.populated = true;
        self.synced()
    }

    /// The locked part of `replace` (DF-12..DF-15), for a list whose keys and transforms are
    /// already computed. Returns how many keys were newly queued and whether the FIFO became
    /// synced.
    pub(crate) fn replace(
        &mut self,
        listed: Vec<(Arc<str>, Arc<K>)>,
        emit_replaced: bool,
        known: Option<&dyn KnownObjects<K>>,
    ) -> (usize, bool) {
        let first = !self.populated;
        let before = self.queue.len();
        self.items.reserve(listed.len());
        self.queue.reserve(listed.len());
        // DF-12: one Replaced (or legacy Sync) delta per listed object, in list order.
        for (key, obj) in listed {
            let delta = if emit_replaced {
                Delta::Replaced(obj)
            } else {
                Delta::Sync(obj)
            };
            match self.items.entry(key) {
                MapEntry::Occupied(mut occupied) => {
                    let entry = occupied.get_mut();
                    entry.list.push_dedup(delta);
                    entry.listed = true;
                }
                MapEntry::Vacant(vacant) => {
                    self.queue.push_back(Arc::clone(vacant.key()));
                    let mut entry = Entry::new(DeltaList::One(delta));
                    entry.listed = true;
                    vacant.insert(entry);
                }
            }
        }
        // DF-13: every queued key that was not listed gets a tombstone carrying its newest
        // object. Entries are visited in map order, but each only changes its own list, so the
        // result is the same in any order.
        for (key, entry) in &mut self.items {
            entry.initial |= first;
            if std::mem::take(&mut entry.listed) {
                continue;
            }
            let last_known = entry.list.newest().object().cloned();
            entry
                .list
                .push_dedup(Delta::Deleted(DeletedObject::Tombstone {
                    key: Arc::clone(key),
                    last_known,
                }));
        }
        // DF-14: known keys neither listed nor queued (every listed key is queued by now), in
        // sorted order so the result does not depend on the store's iteration order.
        if let Some(known) = known {
            let mut missing: Vec<Arc<str>> = Vec::new();
            known.for_each_key(&mut |key| {
                if !self.items.contains_key(&**key) {
                    missing.push(Arc::clone(key));
                }
            });
            missing.sort_unstable();
            missing.dedup();
            for key in missing {
                let last_known = match known.get_by_key(&key) {
                    Ok(Some(obj)) => Some(obj),
                    Ok(None) => {
                        tracing::debug!(
                            key = &*key,
                            "DeltaFifo replace: known key vanished from the store; tombstone without object"
                        );
                        None
                    }
                    Err(error) => {
                        tracing::warn!(
                            key = &*key,
                            %error,
                            "DeltaFifo replace: store lookup failed; tombstone without object"
                        );
                        None
                    }
                };
                let tombstone = Delta::Deleted(DeletedObject::Tombstone {
                    key: Arc::clone(&key),
                    last_known,
                });
                self.queue.push_back(Arc::clone(&key));
                let mut entry = Entry::new(DeltaList::One(tombstone));
                entry.initial = first;
                self.items.insert(key, entry);
            }
        }
        let mut synced_now = false;
        if first {
            // DF-15: every entry now queued is either listed or a deletion of this replace.
            self.populated = true;
            self.initial_pending = self.items.len();
            synced_now = self.synced();
        }
        (self.queue.len() - before, synced_now)
    }

    /// The locked part of `resync` (DF-19): a Sync delta for every known key with nothing
    /// queued. Returns how many keys were queued.
    pub(crate) fn resync(&mut self, known: &dyn KnownObjects<K>) -> usize {
        let before = self.queue.len();
        let mut missing: Vec<Arc<str>> = Vec::new();
        known.for_each_key(&mut |key| {
            if !self.items.contains_key(&**key) {
                missing.push(Arc::clone(key));
            }
        });
        self.items.reserve(missing.len());
        self.queue.reserve(missing.len());
        for key in missing {
            match known.get_by_key(&key) {
                Ok(Some(obj)) => self.insert_new(key, DeltaList::One(Delta::Sync(obj))),
                Ok(None) => tracing::debug!(
                    key = &*key,
                    "DeltaFifo resync: known key vanished from the store; skipped"
                ),
                Err(error) => tracing::warn!(
                    key = &*key,
                    %error,
                    "DeltaFifo resync: store lookup failed; skipped"
                ),
            }
        }
        self.queue.len() - before
    }
}

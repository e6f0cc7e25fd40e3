//! [`ShardedMap`] and [`ShardedSet`]: hash maps that grow one shard at a time, so that no
//! single insert pays for rehashing the whole cache.
//!
//! # Why
//!
//! A `HashMap` grows by moving every entry into a table twice as large, in one go. In the
//! informer that pause lands on the pop thread, under the FIFO's lock, so it delays every event
//! behind it: at 114,688 cached pods (7/8 of 2^17 buckets) the cache and its namespace index
//! both rehash about 115k keys, each a pointer to chase, and event delivery stalled for 68 ms in
//! the informer bench (GOALS I4: p99 <= 2 ms at 10k events/s). Go's maps, which client-go's
//! cache is built on, grow incrementally and have no such pause.
//!
//! # How
//!
//! A map starts as one `HashMap`. When that map is full (the next insert would grow it) and
//! holds at least [`SPLIT_AT`] entries, it is split instead into [`SHARDS`] maps, each key going
//! to the shard picked by a hash of its own (a process-wide seeded hasher, independent of the
//! shards' hashers, so keys spread evenly inside each shard too). From then on a growth rehashes
//! one shard, about 1/256 of the entries. Small maps, such as the key set of most index values,
//! stay a single `HashMap` and cost nothing extra.
//!
//! # Ground rules
//!
//! * Invariant: once split, a key lives only in shard [`shard_of`]`(key)`, so a lookup reads one
//!   shard; `Borrow`'s contract (equal hashes for a key and its borrowed form) makes lookups by
//!   `&str` find `Arc<str>` and `String` keys.
//! * A map is split at most once and never merged back.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use hashbrown::hash_map;
use hashbrown::{DefaultHashBuilder, HashMap};
use std::sync::OnceLock;

/// Number of shards of a split map: a growth then rehashes 1/256 of the entries. Measured in the
/// informer bench as the cache grew past 115k pods: with 64 shards, 74 growths (cache and
/// namespace index) paused the pop thread 0.8 ms each (median); with 256, 263 growths paused it
/// 0.26 ms each, the same total (each key rehashed is a pointer to chase), in smaller bites. The
/// shards of a split map cost 12 KiB, and only maps of thousands of entries split.
pub(crate) const SHARDS: usize = 256;
/// `log2(SHARDS)`: a shard is picked by the top bits of the selector hash.
const SHARD_BITS: u32 = SHARDS.trailing_zeros();
/// A single map is split once it is full at this size or more (its next growth would have
/// rehashed at least this many entries, about a quarter of a millisecond).
pub(crate) const SPLIT_AT: usize = 1 << 11;

/// The hash that picks a key's shard, one per process.
fn selector() -> &'static DefaultHashBuilder {
    static SELECTOR: OnceLock<DefaultHashBuilder> = OnceLock::new();
    SELECTOR.get_or_init(DefaultHashBuilder::default)
}

/// The shard of `key` in a split map.
fn shard_of<Q: Hash + ?Sized>(key: &Q) -> usize {
    // The top SHARD_BITS bits: always < SHARDS.
    #[allow(clippy::cast_possible_truncation, reason = "a value below SHARDS")]
    let shard = (selector().hash_one(key) >> (u64::BITS - SHARD_BITS)) as usize;
    shard
}

/// A `HashMap` that splits into [`SHARDS`] maps once it is large (see the module doc).
pub(crate) struct ShardedMap<K, V> {
    repr: Repr<K, V>,
}

enum Repr<K, V> {
    One(HashMap<K, V>),
    Many(Box<[HashMap<K, V>]>),
}

/// Iterator over the entries of a [`ShardedMap`].
pub(crate) type Iter<'a, K, V> = std::iter::Flatten<std::slice::Iter<'a, HashMap<K, V>>>;

impl<K, V> ShardedMap<K, V> {
    /// An empty map (one shard, no allocation).
    pub(crate) fn new() -> Self {
        Self {
            repr: Repr::One(HashMap::new()),
        }
    }

    fn shards(&self) -> &[HashMap<K, V>] {
        match &self.repr {
            Repr::One(map) => std::slice::from_ref(map),
            Repr::Many(shards) => shards,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.shards().iter().map(HashMap::len).sum()
    }

    /// Whether the map is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.shards().iter().all(HashMap::is_empty)
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        self.shards().iter().flatten()
    }

    /// Every key, in no particular order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Every value, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Whether the map has been split.
    #[cfg(test)]
    fn is_split(&self) -> bool {
        matches!(self.repr, Repr::Many(_))
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    /// An empty map with room for `capacity` entries, split from the start if that is large.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let repr = if capacity < SPLIT_AT {
            Repr::One(HashMap::with_capacity(capacity))
        } else {
            let each = capacity.div_ceil(SHARDS);
            Repr::Many((0..SHARDS).map(|_| HashMap::with_capacity(each)).collect())
        };
        Self { repr }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &HashMap<K, V> {
        match &self.repr {
            Repr::One(map) => map,
            Repr::Many(shards) => &shards[shard_of(key)],
        }
    }

    fn shard_mut<Q: Hash + ?Sized>(&mut self, key: &Q) -> &mut HashMap<K, V> {
        match &mut self.repr {
            Repr::One(map) => map,
            Repr::Many(shards) => &mut shards[shard_of(key)],
        }
    }

    /// Splits a single full map of at least [`SPLIT_AT`] entries, so the insert that follows
    /// grows one shard instead of rehashing everything later.
    fn split_if_full(&mut self) {
        let Repr::One(map) = &mut self.repr else {
            return;
        };
        if map.len() < SPLIT_AT || map.len() < map.capacity() {
            return;
        }
        let whole = std::mem::take(map);
        // Twice the mean share: the shards grow again only once the map has about doubled.
        let each = 2 * whole.len().div_ceil(SHARDS);
        let mut shards: Box<[HashMap<K, V>]> =
            (0..SHARDS).map(|_| HashMap::with_capacity(each)).collect();
        for (key, value) in whole {
            shards[shard_of(&key)].insert(key, value);
        }
        self.repr = Repr::Many(shards);
    }

    /// The value under `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).get(key)
    }

    /// The stored key and value under `key`.
    pub(crate) fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).get_key_value(key)
    }

    /// The value under `key`, mutably.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard_mut(key).get_mut(key)
    }

    /// Whether `key` is present.
    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).contains_key(key)
    }

    /// Inserts `value` under `key`; returns the value it replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.split_if_full();
        self.shard_mut(&key).insert(key, value)
    }

    /// The entry of `key`, for in-place insertion or update.
    pub(crate) fn entry(&mut self, key: K) -> hash_map::Entry<'_, K, V, DefaultHashBuilder> {
        self.split_if_full();
        self.shard_mut(&key).entry(key)
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard_mut(key).remove(key)
    }
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, K, V> IntoIterator for &'a ShardedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for ShardedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut map = Self::with_capacity(iter.size_hint().0);
        for (key, value) in iter {
            map.insert(key, value);
        }
        map
    }
}

/// A `HashSet` built on [`ShardedMap`].
#[derive(Default)]
pub(crate) struct ShardedSet<T> {
    map: ShardedMap<T, ()>,
}

/// Iterator over the members of a [`ShardedSet`].
pub(crate) type SetIter<'a, T> = std::iter::Map<Iter<'a, T, ()>, fn((&'a T, &'a ())) -> &'a T>;

impl<T> ShardedSet<T> {
    /// Whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of members.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }

    /// Every member, in no particular order.
    pub(crate) fn iter(&self) -> SetIter<'_, T> {
        self.map.iter().map(|(member, ())| member)
    }
}

impl<T: Hash + Eq> ShardedSet<T> {
    /// Adds `member`; returns whether it was new.
    pub(crate) fn insert(&mut self, member: T) -> bool {
        self.map.insert(member, ()).is_none()
    }

    /// Removes `member`; returns whether it was present.
    pub(crate) fn remove<Q>(&mut self, member: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(member).is_some()
    }
}

impl<'a, T> IntoIterator for &'a ShardedSet<T> {
    type Item = &'a T;
    type IntoIter = SetIter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_large_map_splits_instead_of_growing_and_keeps_every_entry() {
        let mut map = ShardedMap::new();
        for i in 0..4 * SPLIT_AT {
            assert_eq!(map.insert(Arc::<str>::from(format!("ns/pod-{i}")), i), None);
            if i < SPLIT_AT {
                assert!(!map.is_split(), "split early, at {i} entries");
            }
        }
        assert!(map.is_split());
        assert_eq!(map.len(), 4 * SPLIT_AT);
        for i in 0..4 * SPLIT_AT {
            assert_eq!(map.get(format!("ns/pod-{i}").as_str()), Some(&i));
        }
        // Every shard got a share, none most of it.
        let Repr::Many(shards) = &map.repr else {
            unreachable!()
        };
        assert!(
            shards
                .iter()
                .all(|s| !s.is_empty() && s.len() < SPLIT_AT / 4)
        );
    }

    #[test]
    fn with_capacity_splits_large_maps_up_front() {
        assert!(!ShardedMap::<u32, ()>::with_capacity(SPLIT_AT - 1).is_split());
        let mut map: ShardedMap<u32, ()> = ShardedMap::with_capacity(SPLIT_AT);
        assert!(map.is_split());
        map.insert(7, ());
        assert!(map.contains_key(&7));
        let collected: ShardedMap<usize, usize> = (0..3 * SPLIT_AT).map(|i| (i, i)).collect();
        assert!(collected.is_split());
        assert_eq!(
            collected.values().sum::<usize>(),
            (0..3 * SPLIT_AT).sum::<usize>()
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Entry(u16, u32),
        GetMut(u16, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Keys from a range wider than SPLIT_AT, so runs cross the split.
        let key = 0u16..6000;
        prop_oneof![
            4 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => key.clone().prop_map(Op::Remove),
            1 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Entry(k, v)),
            1 => (key, any::<u32>()).prop_map(|(k, v)| Op::GetMut(k, v)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Against a `BTreeMap` model: same answers for every operation, same content after.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec(op(), 1..12_000)) {
            let mut map: ShardedMap<String, u32> = ShardedMap::new();
            let mut set: ShardedSet<String> = ShardedSet::default();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = k.to_string();
                        prop_assert_eq!(set.insert(k.clone()), !model.contains_key(&k));
                        prop_assert_eq!(map.insert(k.clone(), v), model.insert(k, v));
                    }
                    Op::Remove(k) => {
                        let k = k.to_string();
                        prop_assert_eq!(set.remove(k.as_str()), model.contains_key(&k));
                        prop_assert_eq!(map.remove(k.as_str()), model.remove(&k));
                    }
                    Op::Entry(k, v) => {
                        let k = k.to_string();
                        set.insert(k.clone());
                        *map.entry(k.clone()).or_default() += v % 7;
                        *model.entry(k).or_default() += v % 7;
                    }
                    Op::GetMut(k, v) => {
                        let k = k.to_string();
                        if let Some(value) = map.get_mut(k.as_str()) {
                            *value = v;
                        }
                        if let Some(value) = model.get_mut(&k) {
                            *value = v;
                        }
                    }
                }
            }
            prop_assert_eq!(map.len(), model.len());
            prop_assert_eq!(set.len(), model.len());
            prop_assert_eq!(map.is_empty(), model.is_empty());
            let content: BTreeMap<String, u32> =
                map.iter().map(|(k, v)| (k.clone(), *v)).collect();
            prop_assert_eq!(&content, &model);
            let members: BTreeSet<&String> = set.iter().collect();
            prop_assert!(members.iter().copied().eq(model.keys()));
            for (k, v) in &model {
                prop_assert_eq!(map.get_key_value(k.as_str()), Some((k, v)));
                prop_assert!(map.contains_key(k.as_str()));
            }
        }
    }
}

//! Deltas: one change to one object ([`Delta`]), its [`DeltaKind`], the typed deleted state
//! ([`DeletedObject`]) and the ordered list of changes queued for one key ([`Deltas`]).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// What happened to an object (client-go's `DeltaType`).
///
/// Not `#[non_exhaustive]`: these are exactly client-go's five classic delta types, complete by
/// definition. (RealFIFO's `ReplacedAll`, `SyncAll` and `Bookmark` belong to a different queue.)
#[doc(alias = "DeltaType")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeltaKind {
    /// The object was created (a watch `ADDED` event).
    Added,
    /// The object changed (a watch `MODIFIED` event).
    Updated,
    /// The object was deleted, or a relist no longer contains it.
    Deleted,
    /// The object is part of a relist (`replace`).
    Replaced,
    /// A periodic resync re-delivers the cached object, or a relist in legacy mode
    /// (`emit_replaced(false)`).
    Sync,
}

impl DeltaKind {
    /// client-go's spelling: `"Added"`, `"Updated"`, `"Deleted"`, `"Replaced"`, `"Sync"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(delta_fifo::DeltaKind::Replaced.as_str(), "Replaced");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Added => "Added",
            Self::Updated => "Updated",
            Self::Deleted => "Deleted",
            Self::Replaced => "Replaced",
            Self::Sync => "Sync",
        }
    }
}

impl fmt::Display for DeltaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object carried by a deletion.
///
/// A watch deletion carries the object as the server last sent it ([`Known`](Self::Known)). A
/// deletion inferred by a relist (`replace` found the key missing from the list) only has what
/// the FIFO or the cache last knew, possibly nothing: that is a
/// [`Tombstone`](Self::Tombstone), client-go's `DeletedFinalStateUnknown`. Being a variant of this
/// enum, the case cannot be forgotten by a handler.
///
/// Not `#[non_exhaustive]`: an object is either known or not.
#[derive(Debug, PartialEq, Eq)]
pub enum DeletedObject<K> {
    /// The object's final state, as delivered by the deletion.
    Known(Arc<K>),
    /// The object was deleted while nobody watched; its final state is unknown.
    #[doc(alias = "DeletedFinalStateUnknown")]
    Tombstone {
        /// The object's key.
        key: Arc<str>,
        /// The last state the FIFO or the cache knew, which may be stale; `None` when the cache
        /// could not produce it.
        last_known: Option<Arc<K>>,
    },
}

impl<K> DeletedObject<K> {
    /// The deleted object: the final state if known, else the last known state, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use delta_fifo::DeletedObject;
    ///
    /// let gone: DeletedObject<u32> = DeletedObject::Tombstone { key: "a".into(), last_known: None };
    /// assert_eq!(gone.object(), None);
    /// assert_eq!(DeletedObject::Known(Arc::new(1)).object().map(|o| **o), Some(1));
    /// ```
    pub fn object(&self) -> Option<&Arc<K>> {
        match self {
            Self::Known(obj) => Some(obj),
            Self::Tombstone { last_known, .. } => last_known.as_ref(),
        }
    }

    /// Whether this deletion was inferred by a relist.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Self::Tombstone { .. })
    }
}

impl<K> Clone for DeletedObject<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Known(obj) => Self::Known(Arc::clone(obj)),
            Self::Tombstone { key, last_known } => Self::Tombstone {
                key: Arc::clone(key),
                last_known: last_known.clone(),
            },
        }
    }
}

/// One change to one object: its kind and the object's state *after* the change (for a
/// deletion, the last known state).
///
/// Not `#[non_exhaustive]`: one variant per [`DeltaKind`].
#[derive(Debug, PartialEq, Eq)]
pub enum Delta<K> {
    /// The object was created.
    Added(Arc<K>),
    /// The object changed.
    Updated(Arc<K>),
    /// The object was deleted.
    Deleted(DeletedObject<K>),
    /// The object is part of a relist.
    Replaced(Arc<K>),
    /// The cached object is re-delivered (resync, or a relist in legacy mode).
    Sync(Arc<K>),
}

impl<K> Delta<K> {
    /// The kind of change.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use delta_fifo::{Delta, DeltaKind};
    ///
    /// assert_eq!(Delta::Added(Arc::new("pod")).kind(), DeltaKind::Added);
    /// ```
    pub fn kind(&self) -> DeltaKind {
        match self {
            Self::Added(_) => DeltaKind::Added,
            Self::Updated(_) => DeltaKind::Updated,
            Self::Deleted(_) => DeltaKind::Deleted,
            Self::Replaced(_) => DeltaKind::Replaced,
            Self::Sync(_) => DeltaKind::Sync,
        }
    }

    /// The object's state after the change; `None` only for a tombstone without a last known
    /// state.
    pub fn object(&self) -> Option<&Arc<K>> {
        match self {
            Self::Added(obj) | Self::Updated(obj) | Self::Replaced(obj) | Self::Sync(obj) => {
                Some(obj)
            }
            Self::Deleted(deleted) => deleted.object(),
        }
    }

    /// Whether this is a deletion inferred by a relist.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Self::Deleted(DeletedObject::Tombstone { .. }))
    }
}

impl<K> Clone for Delta<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Added(obj) => Self::Added(Arc::clone(obj)),
            Self::Updated(obj) => Self::Updated(Arc::clone(obj)),
            Self::Deleted(deleted) => Self::Deleted(deleted.clone()),
            Self::Replaced(obj) => Self::Replaced(Arc::clone(obj)),
            Self::Sync(obj) => Self::Sync(Arc::clone(obj)),
        }
    }
}

/// The changes queued for one key, oldest first; never empty.
///
/// Dereferences to a slice of [`Delta`]s. Up to two deltas are stored inline, so the common
/// cases (one change, or an add followed by an update) allocate nothing.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use delta_fifo::{Delta, DeltaKind, Deltas};
///
/// let mut deltas = Deltas::new("default/web", Delta::Added(Arc::new(1)));
/// deltas.push(Delta::Updated(Arc::new(2)));
/// assert_eq!(deltas.key(), "default/web");
/// assert_eq!(deltas.oldest().kind(), DeltaKind::Added);
/// assert_eq!(deltas.newest().object().map(|o| **o), Some(2));
/// assert_eq!(deltas.len(), 2);
/// ```
pub struct Deltas<K> {
    key: Arc<str>,
    list: DeltaList<K>,
}

impl<K> Deltas<K> {
    /// A list holding one delta for `key`.
    pub fn new(key: impl Into<Arc<str>>, first: Delta<K>) -> Self {
        Self {
            key: key.into(),
            list: DeltaList::One(first),
        }
    }

    /// Appends `delta` as the newest change, as is: no de-duplication.
    pub fn push(&mut self, delta: Delta<K>) {
        self.list.push(delta);
    }

    /// The key all these deltas belong to.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key as the shared string the FIFO stores.
    pub fn key_arc(&self) -> &Arc<str> {
        &self.key
    }

    /// The oldest change.
    #[doc(alias = "Oldest")]
    pub fn oldest(&self) -> &Delta<K> {
        &self.list.as_slice()[0]
    }

    /// The newest change.
    #[doc(alias = "Newest")]
    pub fn newest(&self) -> &Delta<K> {
        let list = self.list.as_slice();
        &list[list.len() - 1]
    }

    /// The changes, oldest first.
    pub fn as_slice(&self) -> &[Delta<K>] {
        self.list.as_slice()
    }

    /// The key and the changes, oldest first.
    pub fn into_parts(self) -> (Arc<str>, Vec<Delta<K>>) {
        (self.key, self.list.into_vec())
    }

    pub(crate) fn from_parts(key: Arc<str>, list: DeltaList<K>) -> Self {
        Self { key, list }
    }

    pub(crate) fn into_list(self) -> (Arc<str>, DeltaList<K>) {
        (self.key, self.list)
    }
}

impl<K> Deref for Deltas<K> {
    type Target = [Delta<K>];

    fn deref(&self) -> &[Delta<K>] {
        self.list.as_slice()
    }
}

impl<'a, K> IntoIterator for &'a Deltas<K> {
    type Item = &'a Delta<K>;
    type IntoIter = std::slice::Iter<'a, Delta<K>>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.as_slice().iter()
    }
}

impl<K> Clone for Deltas<K> {
    fn clone(&self) -> Self {
        Self {
            key: Arc::clone(&self.key),
            list: self.list.clone(),
        }
    }
}

impl<K: PartialEq> PartialEq for Deltas<K> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.as_slice() == other.as_slice()
    }
}

impl<K: Eq> Eq for Deltas<K> {}

impl<K: fmt::Debug> fmt::Debug for Deltas<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deltas")
            .field("key", &self.key)
            .field("list", &self.as_slice())
            .finish()
    }
}

/// A never-empty list of deltas holding up to two inline (one `Delta` is 32 bytes; the enum
/// is 64, the size of its `Two` variant).
#[derive(Debug)]
pub(crate) enum DeltaList<K> {
    One(Delta<K>),
    Two([Delta<K>; 2]),
    Many(Vec<Delta<K>>),
}

impl<K> DeltaList<K> {
    pub(crate) fn as_slice(&self) -> &[Delta<K>] {
        match self {
            Self::One(delta) => std::slice::from_ref(delta),
            Self::Two(pair) => pair,
            Self::Many(list) => list,
        }
    }

    fn last_mut(&mut self) -> &mut Delta<K> {
        match self {
            Self::One(delta) => delta,
            Self::Two([_, second]) => second,
            Self::Many(list) => {
                let last = list.len() - 1;
                &mut list[last]
            }
        }
    }

    pub(crate) fn newest(&self) -> &Delta<K> {
        let list = self.as_slice();
        &list[list.len() - 1]
    }

    pub(crate) fn push(&mut self, delta: Delta<K>) {
        if let Self::Many(list) = self {
            list.push(delta);
            return;
        }
        *self = match std::mem::replace(self, Self::Many(Vec::new())) {
            Self::One(first) => Self::Two([first, delta]),
            Self::Two([first, second]) => Self::Many(vec![first, second, delta]),
            Self::Many(_) => unreachable!("handled above"),
        };
    }

    /// Appends the deltas of `newer`, de-duplicating as they arrive.
    pub(crate) fn extend_dedup(&mut self, newer: Self) {
        for delta in newer.into_vec() {
            self.push_dedup(delta);
        }
    }

    /// Appends `delta`, collapsing two consecutive deletions into the one that carries more
    /// information (DF-10): the older one, unless it is a tombstone.
    pub(crate) fn push_dedup(&mut self, delta: Delta<K>) {
        if let Delta::Deleted(_) = delta {
            let last = self.last_mut();
            if let Delta::Deleted(_) = last {
                if last.is_tombstone() {
                    *last = delta;
                }
                return;
            }
        }
        self.push(delta);
    }

    pub(crate) fn into_vec(self) -> Vec<Delta<K>> {
        match self {
            Self::One(delta) => vec![delta],
            Self::Two([first, second]) => vec![first, second],
            Self::Many(list) => list,
        }
    }
}

impl<K> Clone for DeltaList<K> {
    fn clone(&self) -> Self {
        match self {
            Self::One(delta) => Self::One(delta.clone()),
            Self::Two([first, second]) => Self::Two([first.clone(), second.clone()]),
            Self::Many(list) => Self::Many(list.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tomb(key: &str, last: Option<u32>) -> Delta<u32> {
        Delta::Deleted(DeletedObject::Tombstone {
            key: key.into(),
            last_known: last.map(Arc::new),
        })
    }

    #[test]
    fn only_consecutive_deletes_collapse() {
        // spec: DF-10
        let mut d = DeltaList::One(Delta::Added(Arc::new(1)));
        d.push_dedup(Delta::Updated(Arc::new(2)));
        d.push_dedup(Delta::Updated(Arc::new(3)));
        assert_eq!(d.as_slice().len(), 3);
        d.push_dedup(Delta::Deleted(DeletedObject::Known(Arc::new(4))));
        d.push_dedup(Delta::Deleted(DeletedObject::Known(Arc::new(5))));
        assert_eq!(d.as_slice().len(), 4);
        assert_eq!(d.newest().object().map(|o| **o), Some(4), "older kept");
        d.push_dedup(tomb("k", Some(9)));
        assert_eq!(
            d.newest().object().map(|o| **o),
            Some(4),
            "real beats tombstone"
        );
    }

    #[test]
    fn tombstone_is_replaced_by_newer_deletion() {
        // spec: DF-10
        let mut d = DeltaList::One(tomb("k", None));
        d.push_dedup(Delta::Deleted(DeletedObject::Known(Arc::new(4))));
        assert_eq!(d.as_slice().len(), 1);
        assert!(!d.newest().is_tombstone());
        let mut d = DeltaList::One(tomb("k", None));
        d.push_dedup(tomb("k", Some(3)));
        assert_eq!(d.newest().object().map(|o| **o), Some(3));
    }
}

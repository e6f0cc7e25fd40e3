//! [`KnownObjects`]: the consumer's view of what it has already seen, normally the informer's
//! indexer.

use std::sync::Arc;

use crate::error::BoxError;

/// The objects the consumer of the FIFO already knows (client-go's `KeyListerGetter`), normally
/// the informer's indexer, which the `pop` closure keeps up to date.
///
/// The FIFO asks it
/// * in [`delete`](crate::DeltaFifo::delete), whether a key nobody queued is known at all (DF-7);
/// * in [`replace`](crate::DeltaFifo::replace), which known keys are missing from the new list, so
///   it can queue tombstones for them (DF-14);
/// * in [`resync`](crate::DeltaFifo::resync), which objects to re-deliver (DF-19).
///
/// The FIFO calls these methods while holding its own lock; the `pop` closure, which updates
/// the store, also runs under that lock. An implementation must therefore never call back into
/// the FIFO. Keys must be the ones the FIFO's key function produces.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Arc;
/// use delta_fifo::{BoxError, KnownObjects};
/// use parking_lot::RwLock;
///
/// struct Store(RwLock<BTreeMap<Arc<str>, Arc<String>>>);
///
/// impl KnownObjects<String> for Store {
///     fn list_keys(&self) -> Vec<Arc<str>> {
///         self.0.read().keys().cloned().collect()
///     }
///     fn get_by_key(&self, key: &str) -> Result<Option<Arc<String>>, BoxError> {
///         Ok(self.0.read().get(key).cloned())
///     }
/// }
///
/// let store = Store(RwLock::new(BTreeMap::new()));
/// store.0.write().insert("a".into(), Arc::new("a".to_owned()));
/// assert_eq!(store.list_keys(), vec![Arc::<str>::from("a")]);
/// ```
#[doc(alias = "KeyListerGetter")]
pub trait KnownObjects<K>: Send + Sync {
    /// Every key the store holds, in any order. Returning the store's own `Arc<str>` keys lets
    /// the FIFO share them instead of copying.
    #[doc(alias = "ListKeys")]
    fn list_keys(&self) -> Vec<Arc<str>>;

    /// Calls `f` with every key the store holds, in any order. The FIFO uses this rather than
    /// [`list_keys`](Self::list_keys); the default collects `list_keys`, and a store can
    /// override it to visit its keys in place (no vector, no reference-count traffic). `f`
    /// does not call back into the store.
    fn for_each_key(&self, f: &mut dyn FnMut(&Arc<str>)) {
        for key in self.list_keys() {
            f(&key);
        }
    }

    /// The object stored under `key`, `Ok(None)` if there is none.
    ///
    /// # Errors
    ///
    /// Any failure of the store. The FIFO never skips a deletion because of an error, and
    /// logs it; see each operation for the details.
    #[doc(alias = "GetByKey")]
    fn get_by_key(&self, key: &str) -> Result<Option<Arc<K>>, BoxError>;
}

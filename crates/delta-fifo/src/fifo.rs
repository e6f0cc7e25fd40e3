//! [`DeltaFifo`]: the producer face (`add`, `update`, `delete`, `replace`, `resync`), the read
//! accessors and `close`. The consumer face (`pop`) is in `pop.rs`; the queue logic in
//! `state.rs`.
//!
//! # Ground rules
//!
//! * `state` holds the queue; its own module doc lists its invariants. One consumer at a time
//!   is supported (several poppers could process two versions of one object at once).
//! * `synced` and `closed` are latches: written only under the lock, never reset, read without
//!   it. `synced` is set after the `pop` closure that consumed the last initial entry returned
//!   (DF-26), never before.
//! * A blocking popper waits on `not_empty`; an async popper leaves a waker in the state. Whoever
//!   appends a key to the queue wakes one blocking popper and every async one; `close` wakes
//!   everybody.
//! * Key functions and transformers of `add`, `update` and `replace` run before the lock is
//!   taken; `delete` transforms under it (it first decides whether the delete is queued at all).
//!   The `pop` closure runs under the lock (DF-22); any call into the same FIFO from inside it
//!   panics instead of deadlocking.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::builder::{DeltaFifoBuilder, Transformer};
use crate::delta::{DeletedObject, Delta, Deltas};
use crate::error::{Error, KeyError};
use crate::key::{KeyFn, Object};
use crate::known::KnownObjects;
use crate::state::State;

/// A queue of changes to objects, grouped by key: client-go's `DeltaFIFO`.
///
/// Producers (normally a reflector) [`add`](Self::add), [`update`](Self::update) and
/// [`delete`](Self::delete) objects as watch events arrive, [`replace`](Self::replace) the whole
/// set after a list, and [`resync`](Self::resync) periodically. One consumer (normally the
/// informer) [`pop`](Self::pop)s the accumulated [`Deltas`] of one key at a time, oldest key
/// first, and keeps its store, the [`KnownObjects`], up to date.
///
/// Ordering is by key (DF-2): a key keeps the place it got when first queued, later changes are
/// appended to its deltas. Only consecutive deletions are merged (DF-10).
///
/// # Bad input and failures
///
/// * A key function that fails (for example an object without a name): the operation returns
///   [`Error::Key`] (or [`Error::ReplaceKey`]) and changes nothing.
/// * A `replace` list with duplicate keys: each object gets its own delta, in list order, under
///   one key (nothing is dropped), and the key counts once towards the initial population.
/// * `pop` on a closed FIFO: queued keys are still handed out; once empty it returns
///   [`PopError::Closed`](crate::PopError::Closed) at once.
/// * A `pop` closure that panics: the deltas are put back at the head of the queue, exactly as
///   they were, `has_synced` is not advanced, and the panic resumes in the caller of `pop`.
///   Nothing is poisoned; the next `pop` hands out the same deltas.
///
/// # Panics
///
/// Calling any method of a FIFO from inside its own `pop` closure panics (the closure runs
/// under the FIFO's lock, so the call would otherwise deadlock); the deltas being processed are
/// put back as for any panic. [`has_synced`](Self::has_synced) and
/// [`is_closed`](Self::is_closed) are lock-free and may be called there.
///
/// # Examples
///
/// ```
/// use delta_fifo::{DeltaFifo, DeltaKind, Object};
///
/// struct Pod {
///     name: String,
///     version: u32,
/// }
/// impl Object for Pod {
///     fn name(&self) -> Option<&str> {
///         Some(&self.name)
///     }
/// }
///
/// let fifo = DeltaFifo::new();
/// fifo.add(Pod { name: "a".into(), version: 1 })?;
/// fifo.add(Pod { name: "b".into(), version: 1 })?;
/// fifo.update(Pod { name: "a".into(), version: 2 })?;
/// assert_eq!(fifo.list_keys(), ["a".into(), "b".into()]);
///
/// let kinds = fifo.pop(|deltas, _| deltas.iter().map(|d| d.kind()).collect::<Vec<_>>())?;
/// assert_eq!(kinds, [DeltaKind::Added, DeltaKind::Updated]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "DeltaFIFO")]
pub struct DeltaFifo<K> {
    /// The queue; see `state.rs` for its invariants.
    pub(crate) state: Mutex<State<K>>,
    /// Blocking poppers wait here for a key or for `close`.
    pub(crate) not_empty: Condvar,
    /// Latched `has_synced` (DF-25, DF-26).
    pub(crate) synced: AtomicBool,
    /// Latched `close` (DF-27).
    pub(crate) closed: AtomicBool,
    pub(crate) config: Config<K>,
}

/// The options a FIFO was built with.
pub(crate) struct Config<K> {
    pub(crate) key_fn: KeyFn<K>,
    pub(crate) known_objects: Option<Arc<dyn KnownObjects<K>>>,
    pub(crate) transformer: Option<Arc<Transformer<K>>>,
    pub(crate) emit_replaced: bool,
}

impl<K: Object + 'static> DeltaFifo<K> {
    /// A FIFO keyed by `namespace/name`, without known objects or transformer, emitting
    /// `Replaced` deltas on `replace`.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, Object};
    ///
    /// struct Node(String);
    /// impl Object for Node {
    ///     fn name(&self) -> Option<&str> {
    ///         Some(&self.0)
    ///     }
    /// }
    ///
    /// let fifo = DeltaFifo::<Node>::new();
    /// assert!(fifo.is_empty());
    /// ```
    #[doc(alias = "NewDeltaFIFO")]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder starting from the defaults of [`new`](Self::new).
    #[doc(alias = "NewDeltaFIFOWithOptions")]
    pub fn builder() -> DeltaFifoBuilder<K> {
        DeltaFifoBuilder::new(KeyFn::meta_namespace())
    }
}

impl<K: Object + 'static> Default for DeltaFifo<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> DeltaFifo<K> {
    /// A builder for objects keyed by `key_fn` (for types that do not implement [`Object`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|n: &u64| Ok(n.to_string()))).build();
    /// fifo.add(7)?;
    /// assert_eq!(fifo.list_keys(), ["7".into()]);
    /// # Ok::<(), delta_fifo::Error>(())
    /// ```
    pub fn with_key_fn(key_fn: KeyFn<K>) -> DeltaFifoBuilder<K> {
        DeltaFifoBuilder::new(key_fn)
    }

    pub(crate) fn from_config(config: Config<K>) -> Self {
        Self {
            state: Mutex::new(State::new()),
            not_empty: Condvar::new(),
            synced: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            config,
        }
    }

    /// Queues an [`Added`](Delta::Added) delta (DF-4) and marks the FIFO populated.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] if the key function fails, [`Error::Transform`] if the transformer does;
    /// nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.add("a".to_owned())?;
    /// assert!(fifo.has_synced(), "an add before any replace completes the sync");
    /// # Ok::<(), delta_fifo::Error>(())
    /// ```
    #[doc(alias = "Add")]
    pub fn add(&self, obj: impl Into<Arc<K>>) -> Result<(), Error> {
        self.queue_action(obj.into(), Delta::Added)
    }

    /// Queues an [`Updated`](Delta::Updated) delta (DF-4) and marks the FIFO populated. The key
    /// need not be known.
    ///
    /// # Errors
    ///
    /// As for [`add`](Self::add).
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, DeltaKind, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.update("never-added".to_owned())?;
    /// assert_eq!(fifo.get_by_key("never-added").unwrap().oldest().kind(), DeltaKind::Updated);
    /// # Ok::<(), delta_fifo::Error>(())
    /// ```
    #[doc(alias = "Update")]
    pub fn update(&self, obj: impl Into<Arc<K>>) -> Result<(), Error> {
        self.queue_action(obj.into(), Delta::Updated)
    }

    /// Queues a [`Deleted`](Delta::Deleted) delta carrying `obj` as
    /// [`DeletedObject::Known`], unless nobody could care: the delete is ignored when the key has
    /// nothing queued and either there are no known objects (DF-6) or the store says it does
    /// not hold the key (DF-7; a failing lookup does not count as "absent"). Marks the FIFO
    /// populated even when the delete is ignored (DF-5). Two consecutive deletions collapse
    /// into one (DF-10).
    ///
    /// # Errors
    ///
    /// As for [`add`](Self::add).
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, DeltaKind, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.delete("unknown".to_owned())?;
    /// assert!(fifo.is_empty(), "nothing queued, no store: ignored");
    ///
    /// fifo.add("a".to_owned())?;
    /// fifo.delete("a".to_owned())?;
    /// let kinds: Vec<_> = fifo.get_by_key("a").unwrap().iter().map(|d| d.kind()).collect();
    /// assert_eq!(kinds, [DeltaKind::Added, DeltaKind::Deleted]);
    /// # Ok::<(), delta_fifo::Error>(())
    /// ```
    #[doc(alias = "Delete")]
    pub fn delete(&self, obj: impl Into<Arc<K>>) -> Result<(), Error> {
        let obj = obj.into();
        with_key_buf(|key| {
            self.config
                .key_fn
                .write_into(&obj, key)
                .map_err(Error::Key)?;
            let mut state = self.lock();
            if state.mark_populated() {
                self.synced.store(true, Ordering::Release);
            }
            if !state.contains(key) {
                let Some(known) = &self.config.known_objects else {
                    return Ok(()); // DF-6
                };
                match known.get_by_key(key) {
                    Ok(None) => return Ok(()), // DF-7
                    Ok(Some(_)) => {}
                    Err(error) => tracing::debug!(
                        key = &**key,
                        %error,
                        "DeltaFifo delete: store lookup failed; queueing the deletion anyway"
                    ),
                }
            }
            let obj = self.transform(key, obj)?;
            if state.push(key, Delta::Deleted(DeletedObject::Known(obj))) {
                self.wake_one(&mut state);
            }
            Ok(())
        })
    }

    /// Replaces the whole set of objects after a list (DF-12..DF-17), atomically:
    ///
    /// 1. each listed object gets a [`Replaced`](Delta::Replaced) delta, or
    ///    [`Sync`](Delta::Sync) with `emit_replaced(false)`, in list order;
    /// 2. each queued key missing from the list gets a [`DeletedObject::Tombstone`] carrying
    ///    its newest queued object;
    /// 3. with known objects, each known key neither listed nor queued gets a tombstone carrying
    ///    the store's object (none if the lookup fails), in sorted key order.
    ///
    /// The first `replace` (before any add, update or delete) defines the initial population:
    /// [`has_synced`](Self::has_synced) turns true once every key it queued has been popped (at
    /// once if it queued nothing). `resource_version` is ignored (DF-16).
    ///
    /// Duplicate keys in `list` each get their delta, in list order, under one key.
    ///
    /// An object that is the very `Arc` the [`KnownObjects`] hold under its key (a lister that
    /// shared an unchanged cached object instead of a fresh copy) is queued as it is, not
    /// transformed a second time.
    ///
    /// # Errors
    ///
    /// [`Error::ReplaceKey`] if the key function fails for a listed object, [`Error::Transform`]
    /// if the transformer does. Keys and transforms are computed before anything is queued, so
    /// a failed `replace` changes nothing (client-go keeps the objects before the failing one).
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeletedObject, Delta, DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.add("gone".to_owned())?;
    /// fifo.replace(["kept".to_owned()], "42")?;
    /// let gone = fifo.get_by_key("gone").unwrap();
    /// assert!(matches!(gone.newest(), Delta::Deleted(DeletedObject::Tombstone { .. })));
    /// # Ok::<(), delta_fifo::Error>(())
    /// ```
    #[doc(alias = "Replace")]
    pub fn replace<I>(&self, list: I, resource_version: &str) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Into<Arc<K>>,
    {
        let _ = resource_version; // DF-16
        let list = list.into_iter();
        let mut listed = Vec::with_capacity(list.size_hint().0);
        let mut buf = String::new();
        for (index, obj) in list.enumerate() {
            let obj = obj.into();
            self.config
                .key_fn
                .write_into(&obj, &mut buf)
                .map_err(|source| Error::ReplaceKey { index, source })?;
            let obj = if self.is_known(&buf, &obj) {
                obj
            } else {
                self.transform(&buf, obj)?
            };
            listed.push((Arc::from(buf.as_str()), obj));
        }
        let mut state = self.lock();
        let (queued, synced) = state.replace(
            listed,
            self.config.emit_replaced,
            self.config.known_objects.as_deref(),
        );
        if synced {
            self.synced.store(true, Ordering::Release);
        }
        if queued > 0 {
            self.wake_all(&mut state);
        }
        Ok(())
    }

    /// Queues a [`Sync`](Delta::Sync) delta for every known object whose key has nothing queued
    /// (DF-19; a queued key is skipped so an older cached copy never overtakes a newer change),
    /// in the store's key order, without transforming. Keys the store cannot produce are logged
    /// and skipped. Does nothing without known objects (DF-18). Returns how many keys it queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use delta_fifo::{BoxError, DeltaFifo, DeltaKind, KeyFn, KnownObjects};
    ///
    /// struct OneObject;
    /// impl KnownObjects<String> for OneObject {
    ///     fn list_keys(&self) -> Vec<Arc<str>> {
    ///         vec!["a".into()]
    ///     }
    ///     fn get_by_key(&self, key: &str) -> Result<Option<Arc<String>>, BoxError> {
    ///         Ok((key == "a").then(|| Arc::new("a".to_owned())))
    ///     }
    /// }
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone())))
    ///     .known_objects(Arc::new(OneObject))
    ///     .build();
    /// assert_eq!(fifo.resync(), 1);
    /// assert_eq!(fifo.resync(), 0, "already queued");
    /// assert_eq!(fifo.get_by_key("a").unwrap().len(), 1);
    /// assert_eq!(fifo.get_by_key("a").unwrap().oldest().kind(), DeltaKind::Sync);
    /// ```
    #[doc(alias = "Resync")]
    pub fn resync(&self) -> usize {
        let Some(known) = &self.config.known_objects else {
            return 0;
        };
        let mut state = self.lock();
        let queued = state.resync(&**known);
        if queued > 0 {
            self.wake_all(&mut state);
        }
        queued
    }

    /// Queues `deltas` at the tail unless their key already has deltas queued, without
    /// transforming or de-duplicating them, and marks the FIFO populated. Returns whether they
    /// were queued. The key used is [`Deltas::key`].
    ///
    /// This is how client-go's `ErrRequeue` put deltas back; prefer
    /// [`PopContext::requeue`](crate::PopContext::requeue), and read its caveats.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use delta_fifo::{Delta, DeltaFifo, Deltas, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// let deltas = Deltas::new("a", Delta::Added(Arc::new("a".to_owned())));
    /// assert!(fifo.add_if_not_present(deltas.clone()));
    /// assert!(!fifo.add_if_not_present(deltas), "already queued");
    /// ```
    #[doc(alias = "AddIfNotPresent")]
    pub fn add_if_not_present(&self, deltas: Deltas<K>) -> bool {
        let mut state = self.lock();
        if state.mark_populated() {
            self.synced.store(true, Ordering::Release);
        }
        let queued = state.add_if_not_present(deltas);
        if queued {
            self.wake_one(&mut state);
        }
        queued
    }

    /// A copy of the deltas queued for `obj`'s key; `Ok(None)` when nothing is queued.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] if the key function fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.add("a".to_owned())?;
    /// assert_eq!(fifo.get(&"a".to_owned())?.map(|d| d.len()), Some(1));
    /// assert!(fifo.get(&"b".to_owned())?.is_none());
    /// # Ok::<(), delta_fifo::Error>(())
    /// ```
    #[doc(alias = "Get")]
    pub fn get(&self, obj: &K) -> Result<Option<Deltas<K>>, Error> {
        with_key_buf(|key| {
            self.config
                .key_fn
                .write_into(obj, key)
                .map_err(Error::Key)?;
            Ok(self.get_by_key(key))
        })
    }

    /// A copy of the deltas queued for `key` (the caller cannot disturb the queue through it);
    /// `None` when nothing is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// assert!(fifo.get_by_key("a").is_none());
    /// ```
    #[doc(alias = "GetByKey")]
    pub fn get_by_key(&self, key: &str) -> Option<Deltas<K>> {
        self.lock().get(key)
    }

    /// The queued keys, in the order `pop` will hand them out.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.add("b".to_owned())?;
    /// fifo.add("a".to_owned())?;
    /// fifo.update("b".to_owned())?;
    /// assert_eq!(fifo.list_keys(), ["b".into(), "a".into()]);
    /// # Ok::<(), delta_fifo::Error>(())
    /// ```
    #[doc(alias = "ListKeys")]
    pub fn list_keys(&self) -> Vec<Arc<str>> {
        self.lock().keys()
    }

    /// Number of queued keys.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key the FIFO's key function gives `obj` (client-go's `KeyOf`; the key of a
    /// [`Deltas`] or of a tombstone is stored in it).
    ///
    /// # Errors
    ///
    /// Whatever the key function returns.
    #[doc(alias = "KeyOf")]
    pub fn key_of(&self, obj: &K) -> Result<String, KeyError> {
        self.config.key_fn.key(obj)
    }

    /// Whether the initial population is fully processed (DF-25): true once an `add`,
    /// `update`, `delete` or `add_if_not_present` came before any `replace`, or once the
    /// `pop` closure handling the last key queued by the first `replace` has returned (DF-26).
    /// Never turns false again. Lock-free.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// assert!(!fifo.has_synced());
    /// fifo.replace(["a".to_owned(), "b".to_owned()], "1")?;
    /// fifo.pop(|_, ctx| assert!(ctx.is_in_initial_list()))?;
    /// assert!(!fifo.has_synced());
    /// fifo.pop(|_, _| ())?;
    /// assert!(fifo.has_synced());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "HasSynced")]
    pub fn has_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Closes the FIFO and wakes every waiting popper (DF-27). Queued keys are still handed out;
    /// once the queue is empty, `pop` returns [`PopError::Closed`](crate::PopError::Closed)
    /// instead of waiting. Producers are not refused. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn, PopError};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.add("a".to_owned())?;
    /// fifo.close();
    /// assert!(fifo.pop(|d, _| d.key().to_owned()).is_ok(), "queued keys are still handed out");
    /// assert_eq!(fifo.pop(|_, _| ()), Err(PopError::Closed));
    /// # Ok::<(), delta_fifo::Error>(())
    /// ```
    #[doc(alias = "Close")]
    pub fn close(&self) {
        let mut state = self.lock();
        self.closed.store(true, Ordering::Release);
        self.wake_all(&mut state);
    }

    /// Whether [`close`](Self::close) was called. Lock-free.
    #[doc(alias = "IsClosed")]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    // ===== helpers =====

    /// Locks the state, refusing a re-entrant call from this FIFO's own `pop` closure.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<K>> {
        assert!(
            !self.in_process(),
            "DeltaFifo method called from inside its own pop closure (it would deadlock)"
        );
        self.state.lock()
    }

    /// Whether this thread is inside a `pop` closure of this FIFO.
    pub(crate) fn in_process(&self) -> bool {
        IN_PROCESS.try_with(Cell::get).unwrap_or(0) == self.addr()
    }

    pub(crate) fn addr(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    fn queue_action(&self, obj: Arc<K>, make: fn(Arc<K>) -> Delta<K>) -> Result<(), Error> {
        with_key_buf(|key| {
            self.config
                .key_fn
                .write_into(&obj, key)
                .map_err(Error::Key)?;
            let obj = self.transform(key, obj)?;
            let mut state = self.lock();
            if state.mark_populated() {
                self.synced.store(true, Ordering::Release);
            }
            if state.push(key, make(obj)) {
                self.wake_one(&mut state);
            }
            Ok(())
        })
    }

    /// Whether `obj` is the very `Arc` the known objects hold under `key`: an object that came
    /// from the store was transformed when it first entered and is not transformed again
    /// (DF-11). Only asked when there is a transformer.
    fn is_known(&self, key: &str, obj: &Arc<K>) -> bool {
        let (Some(_), Some(known)) = (&self.config.transformer, &self.config.known_objects) else {
            return false;
        };
        matches!(known.get_by_key(key), Ok(Some(cached)) if Arc::ptr_eq(&cached, obj))
    }

    fn transform(&self, key: &str, obj: Arc<K>) -> Result<Arc<K>, Error> {
        match &self.config.transformer {
            None => Ok(obj),
            Some(transform) => transform(obj).map_err(|source| Error::Transform {
                key: Arc::from(key),
                source,
            }),
        }
    }

    /// A key was appended: wake one blocking popper and every async one.
    pub(crate) fn wake_one(&self, state: &mut State<K>) {
        self.not_empty.notify_one();
        #[cfg(feature = "async")]
        state.wakers.wake_all();
        let _ = state;
    }

    /// Several keys were appended, or the FIFO closed: wake every popper.
    pub(crate) fn wake_all(&self, state: &mut State<K>) {
        self.not_empty.notify_all();
        #[cfg(feature = "async")]
        state.wakers.wake_all();
        let _ = state;
    }
}

impl<K> fmt::Debug for DeltaFifo<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("DeltaFifo");
        if let Some(state) = self.state.try_lock() {
            s.field("len", &state.len());
        }
        s.field("has_synced", &self.has_synced())
            .field("is_closed", &self.is_closed())
            .field("known_objects", &self.config.known_objects.is_some())
            .field("emit_replaced", &self.config.emit_replaced)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Address of the FIFO whose `pop` closure this thread is running, 0 if none.
    pub(crate) static IN_PROCESS: Cell<usize> = const { Cell::new(0) };

    /// Scratch buffer for keys, so computing one does not allocate.
    static KEY_BUF: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Longest key buffer kept between calls; a longer one is freed after use.
const KEY_BUF_KEEP: usize = 4096;

/// Runs `f` with this thread's key buffer, or a fresh one if that is in use (a key function or
/// transformer calling into a FIFO) or gone (thread exit).
fn with_key_buf<R>(f: impl FnOnce(&mut String) -> R) -> R {
    let mut f = Some(f);
    let result = KEY_BUF.try_with(|cell| {
        let mut buf = cell.try_borrow_mut().ok()?;
        let f = f.take()?;
        let result = f(&mut buf);
        if buf.capacity() > KEY_BUF_KEEP {
            *buf = String::new();
        }
        Some(result)
    });
    match (result, f) {
        (Ok(Some(result)), _) => result,
        (_, Some(f)) => f(&mut String::new()),
        (_, None) => unreachable!("the key closure runs at most once"),
    }
}

//! Event handlers: the [`ResourceEventHandler`] trait, a closure-based builder
//! ([`handler_fn`]), a filtering wrapper ([`FilteringHandler`], SI-26) and the
//! [`Notification`]s a listener delivers.

use std::fmt;
use std::sync::Arc;

use delta_fifo::DeletedObject;

/// Receives the changes an informer sees (client-go's `ResourceEventHandler`).
///
/// Each registered handler runs on its own listener thread and receives its notifications one
/// at a time, in the order they were distributed; it never runs under the informer's locks,
/// and a slow handler only delays itself. Every method has an empty default.
///
/// A handler should be quick: compute a key and put it on a workqueue. A panic is caught and
/// logged; that notification is skipped.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use informer::{DeletedObject, ResourceEventHandler};
///
/// struct Count(usize);
/// impl ResourceEventHandler<String> for Count {
///     fn on_add(&mut self, _obj: &Arc<String>, _is_initial_list: bool) {
///         self.0 += 1;
///     }
///     fn on_delete(&mut self, _obj: DeletedObject<String>) {
///         self.0 -= 1;
///     }
/// }
/// ```
pub trait ResourceEventHandler<K>: Send + 'static {
    /// An object appeared in the cache. `is_initial_list` is true for objects of the initial
    /// list, and for the synthetic adds a handler registered late receives (SI-7).
    #[doc(alias = "OnAdd")]
    fn on_add(&mut self, obj: &Arc<K>, is_initial_list: bool) {
        let _ = (obj, is_initial_list);
    }

    /// A cached object changed, or is re-delivered by a resync (then `old` and `new` have the
    /// same resourceVersion, and only handlers whose resync is due receive it, SI-11).
    #[doc(alias = "OnUpdate")]
    fn on_update(&mut self, old: &Arc<K>, new: &Arc<K>) {
        let _ = (old, new);
    }

    /// An object was deleted. A [`DeletedObject::Tombstone`] means the deletion was inferred
    /// by a relist and its final state is unknown.
    #[doc(alias = "OnDelete")]
    fn on_delete(&mut self, obj: DeletedObject<K>) {
        let _ = obj;
    }
}

/// One change for one handler.
#[derive(Debug)]
pub enum Notification<K> {
    /// [`ResourceEventHandler::on_add`].
    Add {
        /// The object.
        obj: Arc<K>,
        /// Whether it belongs to the initial list.
        is_initial_list: bool,
    },
    /// [`ResourceEventHandler::on_update`].
    Update {
        /// The cached object before the change.
        old: Arc<K>,
        /// The object after it.
        new: Arc<K>,
    },
    /// [`ResourceEventHandler::on_delete`].
    Delete(DeletedObject<K>),
}

impl<K> Notification<K> {
    /// Calls the matching method of `handler`.
    pub fn deliver_to<H: ResourceEventHandler<K> + ?Sized>(self, handler: &mut H) {
        match self {
            Self::Add {
                obj,
                is_initial_list,
            } => handler.on_add(&obj, is_initial_list),
            Self::Update { old, new } => handler.on_update(&old, &new),
            Self::Delete(obj) => handler.on_delete(obj),
        }
    }

    /// Whether this is an add of the initial list (counted by the handler's `has_synced`).
    pub fn is_initial_add(&self) -> bool {
        matches!(
            self,
            Self::Add {
                is_initial_list: true,
                ..
            }
        )
    }
}

impl<K> Clone for Notification<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Add {
                obj,
                is_initial_list,
            } => Self::Add {
                obj: Arc::clone(obj),
                is_initial_list: *is_initial_list,
            },
            Self::Update { old, new } => Self::Update {
                old: Arc::clone(old),
                new: Arc::clone(new),
            },
            Self::Delete(obj) => Self::Delete(obj.clone()),
        }
    }
}

type AddFn<K> = Box<dyn FnMut(&Arc<K>, bool) + Send>;
type UpdateFn<K> = Box<dyn FnMut(&Arc<K>, &Arc<K>) + Send>;
type DeleteFn<K> = Box<dyn FnMut(DeletedObject<K>) + Send>;

/// A handler made of closures, each optional (client-go's `ResourceEventHandlerFuncs`); build
/// it with [`handler_fn`]. Events without a closure are ignored.
pub struct FnHandler<K> {
    add: Option<AddFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<DeleteFn<K>>,
}

/// Starts a closure-based handler.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::mpsc;
/// use informer::{Notification, handler_fn};
///
/// let (tx, rx) = mpsc::channel();
/// let mut handler = handler_fn::<String>()
///     .on_add(move |obj, _initial| tx.send(obj.to_string()).unwrap())
///     .on_update(|_old, _new| {});
/// Notification::Add { obj: Arc::new("a".to_owned()), is_initial_list: true }.deliver_to(&mut handler);
/// assert_eq!(rx.recv().unwrap(), "a");
/// ```
#[doc(alias = "ResourceEventHandlerFuncs")]
pub fn handler_fn<K>() -> FnHandler<K> {
    FnHandler {
        add: None,
        update: None,
        delete: None,
    }
}

impl<K> FnHandler<K> {
    /// Sets the closure called for adds.
    pub fn on_add(mut self, f: impl FnMut(&Arc<K>, bool) + Send + 'static) -> Self {
        self.add = Some(Box::new(f));
        self
    }

    /// Sets the closure called for updates.
    pub fn on_update(mut self, f: impl FnMut(&Arc<K>, &Arc<K>) + Send + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }

    /// Sets the closure called for deletions.
    pub fn on_delete(mut self, f: impl FnMut(DeletedObject<K>) + Send + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K: 'static> ResourceEventHandler<K> for FnHandler<K> {
    fn on_add(&mut self, obj: &Arc<K>, is_initial_list: bool) {
        if let Some(f) = &mut self.add {
            f(obj, is_initial_list);
        }
    }
    fn on_update(&mut self, old: &Arc<K>, new: &Arc<K>) {
        if let Some(f) = &mut self.update {
            f(old, new);
        }
    }
    fn on_delete(&mut self, obj: DeletedObject<K>) {
        if let Some(f) = &mut self.delete {
            f(obj);
        }
    }
}

impl<K> fmt::Debug for FnHandler<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnHandler")
            .field("on_add", &self.add.is_some())
            .field("on_update", &self.update.is_some())
            .field("on_delete", &self.delete.is_some())
            .finish()
    }
}

/// Forwards to `inner` only what `filter` accepts (client-go's `FilteringResourceEventHandler`,
/// SI-26): an update whose new state passes but old does not becomes an add; one whose old
/// state passes but new does not becomes a delete (of the old, as a known object).
///
/// A tombstone without a last known state is forwarded (the filter cannot judge it).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use informer::{FilteringHandler, Notification, handler_fn};
///
/// let mut deleted = Vec::new();
/// let inner = handler_fn::<u32>().on_delete(move |obj| deleted.push(obj.object().map(|o| **o)));
/// let mut h = FilteringHandler::new(|n: &u32| *n < 10, inner);
/// // 5 -> 50: leaves the filtered set, delivered as a delete of 5.
/// Notification::Update { old: Arc::new(5), new: Arc::new(50) }.deliver_to(&mut h);
/// ```
#[doc(alias = "FilteringResourceEventHandler")]
pub struct FilteringHandler<K, F, H> {
    filter: F,
    inner: H,
    _marker: std::marker::PhantomData<fn(&K)>,
}

impl<K, F, H> FilteringHandler<K, F, H>
where
    F: FnMut(&K) -> bool + Send + 'static,
    H: ResourceEventHandler<K>,
{
    /// Wraps `inner` behind `filter`.
    pub fn new(filter: F, inner: H) -> Self {
        Self {
            filter,
            inner,
            _marker: std::marker::PhantomData,
        }
    }
}

impl<K, F, H> ResourceEventHandler<K> for FilteringHandler<K, F, H>
where
    K: 'static,
    F: FnMut(&K) -> bool + Send + 'static,
    H: ResourceEventHandler<K>,
{
    fn on_add(&mut self, obj: &Arc<K>, is_initial_list: bool) {
        if (self.filter)(obj) {
            self.inner.on_add(obj, is_initial_list);
        }
    }

    fn on_update(&mut self, old: &Arc<K>, new: &Arc<K>) {
        match ((self.filter)(old), (self.filter)(new)) {
            (true, true) => self.inner.on_update(old, new),
            (false, true) => self.inner.on_add(new, false),
            (true, false) => self.inner.on_delete(DeletedObject::Known(Arc::clone(old))),
            (false, false) => {}
        }
    }

    fn on_delete(&mut self, obj: DeletedObject<K>) {
        if obj.object().is_none_or(|o| (self.filter)(o)) {
            self.inner.on_delete(obj);
        }
    }
}

impl<K, F, H: fmt::Debug> fmt::Debug for FilteringHandler<K, F, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilteringHandler")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

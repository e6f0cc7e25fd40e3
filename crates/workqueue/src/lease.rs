//! [`Lease`]: a worker's hold on an item between `get` and `done`.
//!
//! # Ground rules
//! A hold (client-go's "processing" mark) is made by `get` and ended by exactly one lease: the
//! one `get` returns, or the owned lease [`Lease::into_item`] turns it into (which consumes the
//! first). A lease is not `Clone`, and it ends its hold once, at the first of
//! [`Lease::done`], [`Queue::done`](crate::Queue::done) or its drop; `ended` records that. So
//! while a lease lives its hold is the item's current one and nothing else can end it, and a
//! lease whose hold has ended never touches the item again: a second `done` cannot end the hold
//! of the next worker that got the same item.

use std::borrow::Cow;
use std::fmt;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::queue::Shared;

/// An item handed out by [`Queue::get`](crate::Queue::get): the worker holds it until the lease
/// is dropped, which marks it done.
///
/// While a lease lives, no other worker gets the same item; if the item is added again meanwhile,
/// it is queued again when the lease ends (WQ-6, WQ-12). Because `done` happens in `Drop`, it also
/// happens when the worker panics, so a panicking worker cannot leave an item stuck "in
/// processing" (which would make every later add of it a silent no-op and hang a drain).
///
/// A lease borrows its queue; [`into_item`](Lease::into_item) makes an owned one,
/// `Lease<'static, T>`, for code that outlives the borrow. A lease ends its hold once: after the
/// first `done`, later ones change nothing, even if another worker holds the same item by then.
///
/// The lease dereferences to the item.
///
/// # Examples
/// ```
/// use workqueue::Queue;
///
/// let queue = Queue::new();
/// queue.add(String::from("ns/pod"));
/// let lease = queue.get().unwrap();
/// assert_eq!(lease.as_str(), "ns/pod");
/// lease.done(); // or just let it drop
/// ```
#[must_use = "dropping a lease at once marks the item done without processing it"]
pub struct Lease<'q, T: Clone + Eq + Hash + Send + 'static> {
    /// The queue: borrowed from `get`, owned after `into_item`.
    shared: Cow<'q, Arc<Shared<T>>>,
    /// `None` only after `into_item` took it.
    item: Option<T>,
    /// Set by the first end of the hold; only the call that sets it ends the hold.
    ended: AtomicBool,
}

impl<'q, T: Clone + Eq + Hash + Send + 'static> Lease<'q, T> {
    pub(crate) fn new(shared: &'q Arc<Shared<T>>, item: T) -> Self {
        Lease {
            shared: Cow::Borrowed(shared),
            item: Some(item),
            ended: AtomicBool::new(false),
        }
    }

    /// The item.
    pub fn item(&self) -> &T {
        self.item.as_ref().expect("a live lease holds its item")
    }

    /// Marks the item done now (the same as dropping the lease) (WQ-11, WQ-12). Does nothing if
    /// [`Queue::done`](crate::Queue::done) already did.
    #[doc(alias = "Done")]
    pub fn done(self) {}

    /// The same hold as an owned lease, which does not borrow the queue: for handing the item to
    /// code that outlives the borrow (another thread, a spawned task), or for finishing it
    /// client-go style with [`Queue::done`](crate::Queue::done).
    ///
    /// The owned lease dereferences to the item and marks it done when dropped, like any lease,
    /// so `let item = lease.into_item();` then `queue.done(&item)` reads as in client-go. Unlike
    /// client-go, a second `queue.done(&item)` returns `false` and cannot end the hold of another
    /// worker that got the same item meanwhile.
    ///
    /// # Examples
    /// ```
    /// use workqueue::Queue;
    ///
    /// let queue = Queue::new();
    /// queue.add("ns/pod");
    /// let item = queue.get().unwrap().into_item();
    /// queue.add("ns/pod"); // added while processing: queued again after done
    /// assert!(queue.done(&item)); // `item` derefs to "ns/pod"
    ///
    /// let next = queue.get().unwrap(); // another worker gets it
    /// assert!(!queue.done(&item), "a second done is stray");
    /// queue.add("ns/pod");
    /// assert!(queue.try_get().is_none(), "the other worker still holds it");
    /// drop(next);
    /// assert_eq!(queue.len(), 1);
    ///
    /// // An owned lease can go to another thread; its drop there marks the item done.
    /// let item = queue.get().unwrap().into_item();
    /// std::thread::spawn(move || assert_eq!(*item, "ns/pod")).join().unwrap();
    /// assert!(queue.try_get().is_none() && queue.is_empty());
    /// ```
    pub fn into_item(mut self) -> Lease<'static, T> {
        let item = self.item.take();
        // This lease no longer holds anything; the owned one takes the hold over.
        *self.ended.get_mut() = true;
        Lease {
            shared: Cow::Owned(Arc::clone(&self.shared)),
            item,
            ended: AtomicBool::new(false),
        }
    }

    /// Whether this lease comes from the queue of `shared`.
    pub(crate) fn belongs_to(&self, shared: &Arc<Shared<T>>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    /// Ends the hold if this is the lease's first end; returns whether it was.
    pub(crate) fn end(&self) -> bool {
        if self.ended.swap(true, Ordering::AcqRel) {
            return false;
        }
        let mut state = self.shared.lock();
        self.shared.done_locked(&mut state, self.item(), T::clone)
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> Deref for Lease<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.item()
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        if *self.ended.get_mut() {
            return;
        }
        if let Some(item) = self.item.take() {
            let mut state = self.shared.lock();
            self.shared
                .done_locked(&mut state, item, std::convert::identity);
        }
    }
}

impl<T: Clone + Eq + Hash + Send + fmt::Debug + 'static> fmt::Debug for Lease<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lease").field(&self.item).finish()
    }
}

//! [`Lease`]: a worker's hold on an item between `get` and `done`.

use std::fmt;
use std::hash::Hash;
use std::ops::Deref;

use crate::queue::Shared;

/// An item handed out by [`Queue::get`](crate::Queue::get): the worker holds it until the lease
/// is dropped, which marks it done.
///
/// While a lease lives, no other worker gets the same item; if the item is added again meanwhile,
/// it is queued again when the lease ends (WQ-6, WQ-12). Because `done` happens in `Drop`, it also
/// happens when the worker panics, so a panicking worker cannot leave an item stuck "in
/// processing" (which would make every later add of it a silent no-op and hang a drain).
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
    shared: &'q Shared<T>,
    /// `None` only after `into_item` took it.
    item: Option<T>,
}

impl<'q, T: Clone + Eq + Hash + Send + 'static> Lease<'q, T> {
    pub(crate) fn new(shared: &'q Shared<T>, item: T) -> Self {
        Lease {
            shared,
            item: Some(item),
        }
    }

    /// The item.
    pub fn item(&self) -> &T {
        self.item.as_ref().expect("a live lease holds its item")
    }

    /// Marks the item done now (the same as dropping the lease) (WQ-11, WQ-12).
    #[doc(alias = "Done")]
    pub fn done(self) {}

    /// Ends the lease *without* marking the item done, and returns the item: for handing it to
    /// code that outlives the borrow of the queue. The item stays "in processing" until someone
    /// calls [`Queue::done`](crate::Queue::done) with it.
    pub fn into_item(mut self) -> T {
        self.item.take().expect("a live lease holds its item")
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

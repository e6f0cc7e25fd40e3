//! The consumer face: [`DeltaFifo::pop`], [`DeltaFifo::try_pop`] and, with the `async` feature,
//! `DeltaFifo::pop_async`. All three share [`DeltaFifo::process_head`], which runs the
//! closure under the lock and settles the popped entry: consumed, requeued, or restored after a
//! panic.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::MutexGuard;

use crate::delta::Deltas;
use crate::error::PopError;
use crate::fifo::{DeltaFifo, IN_PROCESS};
use crate::state::{Entry, State};

/// What a `pop` closure learns about, and may decide for, the deltas it is handed.
///
/// # Examples
///
/// ```
/// use delta_fifo::{DeltaFifo, KeyFn};
///
/// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
/// fifo.replace(["a".to_owned()], "1")?;
/// fifo.pop(|_, ctx| assert!(ctx.is_in_initial_list()))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PopContext {
    initial: bool,
    requeue: bool,
}

impl PopContext {
    /// Whether these deltas belong to the initial population: their key was queued by the first
    /// `replace` (as a listed object or a tombstone) and has not been consumed since. Watch
    /// events merged into such a key count as initial too; keys first queued later do not.
    pub fn is_in_initial_list(&self) -> bool {
        self.initial
    }

    /// Asks the FIFO to put these deltas back, at the **tail** of the queue, once the closure
    /// returns (client-go's `ErrRequeue`, DF-24). The key then still counts as part of the
    /// initial population, so [`has_synced`](DeltaFifo::has_synced) waits for it.
    ///
    /// Caveats, which is why client-go removed this path in 1.33 and informers must never use
    /// it: the key loses its place in the queue, so its changes are handed out after changes
    /// to other keys that arrived later; and a closure that always fails makes the FIFO spin.
    /// Retrying through a rate-limited workqueue is the better design.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.add("a".to_owned())?;
    /// fifo.add("b".to_owned())?;
    /// let result: Result<(), &str> = fifo.pop(|_, ctx| {
    ///     ctx.requeue(); // the requeue-on-error path
    ///     Err("not ready")
    /// })?;
    /// assert!(result.is_err());
    /// assert_eq!(fifo.list_keys(), ["b".into(), "a".into()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "ErrRequeue")]
    pub fn requeue(&mut self) {
        self.requeue = true;
    }

    /// Whether [`requeue`](Self::requeue) was called.
    pub fn is_requeued(&self) -> bool {
        self.requeue
    }
}

impl<K> DeltaFifo<K> {
    /// Waits until a key is queued (or the FIFO is closed and empty), removes the oldest key and
    /// calls `process` with all its [`Deltas`] (DF-20..DF-22). Returns what `process` returned.
    ///
    /// `process` runs **under the FIFO's lock**, so the consumer can update its store (the
    /// [`KnownObjects`](crate::KnownObjects)) atomically with the queue; producers wait
    /// meanwhile, so keep it short. It must not call this FIFO's other methods (that panics,
    /// see [`DeltaFifo`]). If it panics, the deltas go back to the head of the queue unchanged
    /// and the panic resumes here. Call [`PopContext::requeue`] to put them back at the tail
    /// instead of consuming them.
    ///
    /// Only one consumer is supported: two concurrent poppers could process two versions of
    /// one object at once.
    ///
    /// # Errors
    ///
    /// [`PopError::Closed`] once the FIFO is closed and nothing is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{Delta, DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// fifo.add("a".to_owned())?;
    /// fifo.delete("a".to_owned())?;
    /// let deleted = fifo.pop(|deltas, _| matches!(deltas.newest(), Delta::Deleted(_)))?;
    /// assert!(deleted);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "Pop")]
    pub fn pop<T, F>(&self, process: F) -> Result<T, PopError>
    where
        F: FnOnce(&Deltas<K>, &mut PopContext) -> T,
    {
        let mut state = self.lock();
        loop {
            if let Some(head) = state.take_head() {
                return Ok(self.process_head(state, head, process));
            }
            if self.is_closed() {
                return Err(PopError::Closed);
            }
            self.not_empty.wait(&mut state);
        }
    }

    /// [`pop`](Self::pop) without waiting: `Ok(None)` when nothing is queued and the FIFO is
    /// open.
    ///
    /// # Errors
    ///
    /// [`PopError::Closed`] once the FIFO is closed and nothing is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::{DeltaFifo, KeyFn};
    ///
    /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
    /// assert_eq!(fifo.try_pop(|_, _| ())?, None);
    /// fifo.add("a".to_owned())?;
    /// assert_eq!(fifo.try_pop(|d, _| d.key().to_owned())?.as_deref(), Some("a"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_pop<T, F>(&self, process: F) -> Result<Option<T>, PopError>
    where
        F: FnOnce(&Deltas<K>, &mut PopContext) -> T,
    {
        let mut state = self.lock();
        if let Some(head) = state.take_head() {
            return Ok(Some(self.process_head(state, head, process)));
        }
        if self.is_closed() {
            return Err(PopError::Closed);
        }
        Ok(None)
    }

    /// Runs `process` on a popped entry with the lock held, then settles the entry. The
    /// consumed deltas are dropped after the lock is released.
    fn process_head<T, F>(
        &self,
        mut state: MutexGuard<'_, State<K>>,
        (key, entry): (Arc<str>, Entry<K>),
        process: F,
    ) -> T
    where
        F: FnOnce(&Deltas<K>, &mut PopContext) -> T,
    {
        let initial = entry.initial;
        let deltas = Deltas::from_parts(key, entry.list);
        let mut ctx = PopContext {
            initial,
            requeue: false,
        };
        let outcome = {
            let _mark = InProcess::enter(self.addr());
            // Unwind safety: on a panic the popped entry is restored below before the panic
            // resumes, so no broken state is observable afterwards.
            panic::catch_unwind(AssertUnwindSafe(|| process(&deltas, &mut ctx)))
        };
        match outcome {
            Ok(value) if ctx.requeue => {
                let (key, list) = deltas.into_list();
                state.put_back_tail(key, list, initial);
                self.wake_one(&mut state);
                value
            }
            Ok(value) => {
                if state.consumed(initial) {
                    self.synced.store(true, Ordering::Release);
                }
                drop(state);
                drop(deltas);
                value
            }
            Err(payload) => {
                let (key, list) = deltas.into_list();
                tracing::warn!(
                    key = &*key,
                    "DeltaFifo pop: the process closure panicked; deltas put back at the head"
                );
                state.put_back_front(key, list, initial);
                self.wake_one(&mut state);
                drop(state);
                panic::resume_unwind(payload)
            }
        }
    }
}

/// Marks this thread as running a `pop` closure of one FIFO, restoring the previous mark (a
/// closure may pop another FIFO) when dropped.
struct InProcess {
    previous: usize,
}

impl InProcess {
    fn enter(fifo: usize) -> Self {
        Self {
            previous: IN_PROCESS.replace(fifo),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        IN_PROCESS.set(self.previous);
    }
}

#[cfg(feature = "async")]
mod async_pop {
    use std::future::poll_fn;
    use std::task::{Poll, Waker};

    use super::*;

    /// Wakers of the tasks waiting in `pop_async`, each under the id of its future.
    #[derive(Debug, Default)]
    pub(crate) struct Wakers {
        next_id: u64,
        list: Vec<(u64, Waker)>,
    }

    impl Wakers {
        /// Stores `waker` for the future `id` (a new id if `None` or no longer registered).
        fn register(&mut self, id: Option<u64>, waker: &Waker) -> u64 {
            if let Some(id) = id
                && let Some((_, stored)) = self.list.iter_mut().find(|(i, _)| *i == id)
            {
                if !stored.will_wake(waker) {
                    stored.clone_from(waker);
                }
                return id;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.list.push((id, waker.clone()));
            id
        }

        fn remove(&mut self, id: u64) {
            self.list.retain(|(i, _)| *i != id);
        }

        /// Wakes and forgets every waiting task; each registers again if it still waits.
        pub(crate) fn wake_all(&mut self) {
            for (_, waker) in self.list.drain(..) {
                waker.wake();
            }
        }
    }

    /// Removes a cancelled future's waker.
    struct Registration<'a, K> {
        fifo: &'a DeltaFifo<K>,
        id: Option<u64>,
    }

    impl<K> Drop for Registration<'_, K> {
        fn drop(&mut self) {
            if let Some(id) = self.id
                && !self.fifo.in_process()
            {
                self.fifo.state.lock().wakers.remove(id);
            }
        }
    }

    impl<K> DeltaFifo<K> {
        /// [`pop`](Self::pop) for async tasks: waits without blocking the thread, then runs
        /// `process` under the lock, synchronously, like `pop`. Works with any executor.
        ///
        /// # Errors
        ///
        /// [`PopError::Closed`] once the FIFO is closed and nothing is queued.
        ///
        /// # Cancel safety
        ///
        /// Cancel safe: `process` runs inside a single poll, so dropping the future either
        /// happens before anything was popped or after `process` returned.
        ///
        /// # Examples
        ///
        /// ```
        /// use delta_fifo::{DeltaFifo, KeyFn};
        ///
        /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
        /// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|s: &String| Ok(s.clone()))).build();
        /// fifo.add("a".to_owned())?;
        /// let key = fifo.pop_async(|deltas, _| deltas.key().to_owned()).await?;
        /// assert_eq!(key, "a");
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// # }).unwrap();
        /// ```
        pub async fn pop_async<T, F>(&self, process: F) -> Result<T, PopError>
        where
            F: FnOnce(&Deltas<K>, &mut PopContext) -> T,
        {
            let mut process = Some(process);
            let mut registration = Registration {
                fifo: self,
                id: None,
            };
            poll_fn(|cx| {
                let mut state = self.lock();
                if let Some(head) = state.take_head() {
                    if let Some(id) = registration.id.take() {
                        state.wakers.remove(id);
                    }
                    let Some(process) = process.take() else {
                        unreachable!("pop_async polled after it completed");
                    };
                    return Poll::Ready(Ok(self.process_head(state, head, process)));
                }
                if self.is_closed() {
                    if let Some(id) = registration.id.take() {
                        state.wakers.remove(id);
                    }
                    return Poll::Ready(Err(PopError::Closed));
                }
                registration.id = Some(state.wakers.register(registration.id, cx.waker()));
                Poll::Pending
            })
            .await
        }
    }
}

#[cfg(feature = "async")]
pub(crate) use async_pop::Wakers;

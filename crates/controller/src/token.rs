//! [`ShutdownToken`]: a one-way signal that stops a running controller, from any thread or task.
//!
//! # Ground rules
//! `state` holds the flag and the waiters parked on it, under one mutex. A waiter checks the
//! flag and registers itself in the same critical section; [`ShutdownToken::cancel`] sets the
//! flag and takes every waiter in one critical section, then wakes them after releasing the lock.
//! So a waiter either sees the flag or is woken. Threads park (`thread::park` tolerates an unpark
//! that comes first); tasks keep a `Waker`. Each registration has an id, so a waiter that leaves
//! (a dropped future, a thread woken by another token) removes exactly its own entry.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::{self, Thread};

use parking_lot::Mutex;

/// A signal, set once, that tells a controller to stop: pass it to
/// [`Controller::run_until`](crate::Controller::run_until), or its [`cancelled`] future to
/// `run_until_async`. Cancelling it drains the controller like
/// [`Controller::shutdown`](crate::Controller::shutdown): no new keys, every key queued or in
/// flight finished, then `run_until` returns.
///
/// Clones share one signal. It works without an async runtime: [`wait`](Self::wait) blocks a
/// thread, [`cancelled`](Self::cancelled) is a plain future.
///
/// [`cancelled`]: Self::cancelled
///
/// # Examples
/// ```
/// use controller::ShutdownToken;
///
/// let token = ShutdownToken::new();
/// let waiter = {
///     let token = token.clone();
///     std::thread::spawn(move || token.wait())
/// };
/// assert!(!token.is_cancelled());
/// token.cancel();
/// waiter.join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct ShutdownToken {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    cancelled: bool,
    next_id: u64,
    waiters: Vec<(u64, Waiter)>,
}

enum Waiter {
    Thread(Thread),
    Task(Waker),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Thread(thread) => thread.unpark(),
            Waiter::Task(waker) => waker.wake(),
        }
    }
}

impl State {
    fn register(&mut self, waiter: Waiter) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.waiters.push((id, waiter));
        id
    }

    fn unregister(&mut self, id: u64) {
        self.waiters.retain(|(own, _)| *own != id);
    }
}

impl ShutdownToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the token and wakes everything waiting on it. Idempotent.
    pub fn cancel(&self) {
        let waiters = {
            let mut state = self.inner.lock();
            state.cancelled = true;
            std::mem::take(&mut state.waiters)
        };
        for (_, waiter) in waiters {
            waiter.wake();
        }
    }

    /// Whether [`cancel`](Self::cancel) has been called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.lock().cancelled
    }

    /// Blocks the calling thread until the token is cancelled.
    pub fn wait(&self) {
        Self::wait_any(&[self]);
    }

    /// A future that completes once the token is cancelled. It owns a clone of the token, so it
    /// can be moved into a task.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping it only stops the waiting.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            token: self.clone(),
            id: None,
        }
    }

    /// Blocks until one of `tokens` is cancelled; returns the index of the first one found so.
    pub(crate) fn wait_any(tokens: &[&ShutdownToken]) -> usize {
        let me = thread::current();
        let mut ids: Vec<Option<u64>> = vec![None; tokens.len()];
        let found = loop {
            let mut found = None;
            for (index, token) in tokens.iter().enumerate() {
                let mut state = token.inner.lock();
                if state.cancelled {
                    found = Some(index);
                    break;
                }
                if ids[index].is_none() {
                    ids[index] = Some(state.register(Waiter::Thread(me.clone())));
                }
            }
            if let Some(index) = found {
                break index;
            }
            // Woken by a cancel (or spuriously): look again.
            thread::park();
        };
        for (token, id) in tokens.iter().zip(ids) {
            if let Some(id) = id {
                token.inner.lock().unregister(id);
            }
        }
        found
    }
}

/// The future of [`ShutdownToken::cancelled`].
#[must_use = "a future does nothing unless awaited"]
pub struct Cancelled {
    token: ShutdownToken,
    /// The registration of this future's waker, once it has waited.
    id: Option<u64>,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.token.inner.lock();
        if state.cancelled {
            // `cancel` took every registration, this one included.
            this.id = None;
            return Poll::Ready(());
        }
        let waker = cx.waker().clone();
        match this.id {
            Some(id) => {
                if let Some((_, waiter)) = state.waiters.iter_mut().find(|(own, _)| *own == id) {
                    *waiter = Waiter::Task(waker);
                }
            }
            None => this.id = Some(state.register(Waiter::Task(waker))),
        }
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.token.inner.lock().unregister(id);
        }
    }
}

impl fmt::Debug for ShutdownToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("ShutdownToken")
            .field("cancelled", &state.cancelled)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use super::ShutdownToken;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_future_is_woken_by_cancel_and_a_dropped_one_unregisters() {
        let token = ShutdownToken::new();
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);

        let mut first = token.cancelled();
        assert_eq!(std::pin::Pin::new(&mut first).poll(&mut cx), Poll::Pending);
        assert_eq!(std::pin::Pin::new(&mut first).poll(&mut cx), Poll::Pending);
        let mut dropped = token.cancelled();
        assert_eq!(
            std::pin::Pin::new(&mut dropped).poll(&mut cx),
            Poll::Pending
        );
        assert_eq!(token.inner.lock().waiters.len(), 2, "one entry per future");
        drop(dropped);
        assert_eq!(token.inner.lock().waiters.len(), 1);

        token.cancel();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            std::pin::Pin::new(&mut first).poll(&mut cx),
            Poll::Ready(())
        );
        // Already cancelled: ready at once, and nothing left registered.
        assert_eq!(
            std::pin::Pin::new(&mut token.cancelled()).poll(&mut cx),
            Poll::Ready(())
        );
        assert!(token.inner.lock().waiters.is_empty());
    }

    #[test]
    fn wait_any_returns_the_cancelled_one_and_leaves_no_registration() {
        let (a, b) = (ShutdownToken::new(), ShutdownToken::new());
        let waiter = {
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || ShutdownToken::wait_any(&[&a, &b]))
        };
        b.cancel();
        assert_eq!(waiter.join().unwrap(), 1);
        assert!(
            a.inner.lock().waiters.is_empty(),
            "the waiter left the other token"
        );
        assert_eq!(ShutdownToken::wait_any(&[&a, &b]), 1);
    }
}

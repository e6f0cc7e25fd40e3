//! The reconcile function in its two faces: blocking (called on a worker thread) and async (a
//! future polled on a tokio task).

use std::sync::Arc;

use crate::action::{Action, BoxError};

/// A blocking reconcile, type-erased.
pub(crate) type BlockingReconcile = Arc<dyn Fn(&str) -> Result<Action, BoxError> + Send + Sync>;

/// The future of one async reconcile.
#[cfg(feature = "async")]
pub(crate) type ReconcileFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Action, BoxError>> + Send + 'static>>;

/// An async reconcile, type-erased: it takes the key by value, so its future owns what it needs.
#[cfg(feature = "async")]
pub(crate) type AsyncReconcile = Arc<dyn Fn(String) -> ReconcileFuture + Send + Sync>;

/// The reconcile a controller was built with; its face decides which `run` can drive it.
#[derive(Clone)]
pub(crate) enum Reconciler {
    /// Driven by `run` / `run_until`, one thread per worker.
    Blocking(BlockingReconcile),
    /// Driven by `run_async` / `run_until_async`, one tokio task per worker.
    #[cfg(feature = "async")]
    Async(AsyncReconcile),
}

impl Reconciler {
    pub(crate) fn is_async(&self) -> bool {
        self.blocking().is_none()
    }

    /// The blocking reconcile, if that is the face.
    pub(crate) fn blocking(&self) -> Option<&BlockingReconcile> {
        match self {
            Reconciler::Blocking(reconcile) => Some(reconcile),
            #[cfg(feature = "async")]
            Reconciler::Async(_) => None,
        }
    }
}

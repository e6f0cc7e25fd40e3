//! Error types: why a key could not be computed, why an operation was refused, why `pop` returned
//! without deltas.

use std::sync::Arc;

/// A boxed error from user code (a transformer, a [`KnownObjects`](crate::KnownObjects) store, a
/// custom key function).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a key function could not compute an object's key (client-go's `KeyError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The object has no name (or an empty one), so the default key function has nothing to key
    /// it by.
    #[error("the object has no name")]
    MissingName,
    /// A key string could not be split into namespace and name.
    #[error("invalid key `{key}`: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A custom key function failed.
    #[error("the key function failed")]
    Custom(#[source] BoxError),
}

impl KeyError {
    /// Wraps the failure of a custom key function.
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::KeyError;
    ///
    /// let err = KeyError::custom("no uid");
    /// assert_eq!(err.to_string(), "the key function failed");
    /// ```
    pub fn custom(error: impl Into<BoxError>) -> Self {
        Self::Custom(error.into())
    }
}

/// Why an operation that queues deltas was refused. Nothing was queued when it is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key function failed for the object passed to `add`, `update`, `delete` or `get`.
    #[error("could not compute the object's key")]
    Key(#[source] KeyError),
    /// The key function failed for an object of a `replace` list; the whole replace was refused.
    #[error("could not compute the key of item {index} of the replace list")]
    ReplaceKey {
        /// Position of the offending object in the list.
        index: usize,
        /// Why its key could not be computed.
        #[source]
        source: KeyError,
    },
    /// The transformer refused an object (client-go DF-11); in `replace`, the whole replace was
    /// refused.
    #[error("the transformer failed for `{key}`")]
    Transform {
        /// The key of the refused object.
        key: Arc<str>,
        /// What the transformer said.
        #[source]
        source: BoxError,
    },
}

/// Why [`pop`](crate::DeltaFifo::pop) returned without handing out deltas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PopError {
    /// The FIFO was closed and nothing is queued any more (client-go's `ErrFIFOClosed`).
    #[doc(alias = "ErrFIFOClosed")]
    #[error("the DeltaFifo is closed and empty")]
    Closed,
}

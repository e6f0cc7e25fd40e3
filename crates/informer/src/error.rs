//! Error types: why a store write or query was refused ([`IndexerError`]), why a handler could
//! not be registered ([`HandlerError`]), and what a lister-watcher reports ([`ApiError`]).

use std::sync::Arc;

use delta_fifo::KeyError;

pub use delta_fifo::BoxError;

use crate::lister_watcher::Status;

/// Why an [`Indexer`](crate::Indexer) operation was refused. A refused write changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexerError {
    /// The key function failed for the object.
    #[error("could not compute the object's key")]
    Key(#[source] KeyError),
    /// The key function failed for an object of a `replace` list; the replace was refused.
    #[error("could not compute the key of item {index} of the replace list")]
    ReplaceKey {
        /// Position of the offending object in the list.
        index: usize,
        /// Why its key could not be computed.
        #[source]
        source: KeyError,
    },
    /// An index function failed (IX-8). client-go panics here; the write is refused instead,
    /// with every index left as it was.
    #[error("index function `{index}` failed for `{key}`")]
    IndexFn {
        /// The index whose function failed.
        index: String,
        /// The key of the object it failed on.
        key: Arc<str>,
        /// What the index function said.
        #[source]
        source: BoxError,
    },
    /// A query named an index that does not exist (IX-9, IX-10, IX-11).
    #[error("there is no index named `{0}`")]
    UnknownIndex(String),
    /// `add_indexers` named indexes that already exist (IX-13); none of the batch was added.
    #[error("indexes already exist: {}", names.join(", "))]
    IndexConflict {
        /// The names that exist already, sorted.
        names: Vec<String>,
    },
}

/// Why a handler could not be registered with a [`SharedProcessor`](crate::SharedProcessor).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The processor was stopped; it accepts no new handlers (SI-4).
    #[error("the processor is stopped and accepts no new handlers")]
    Stopped,
    /// The listener thread could not be started.
    #[error("could not start the listener thread `{name}`")]
    Spawn {
        /// The thread name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// An error answered by a [`ListerWatcher`](crate::ListerWatcher): an API `Status`, or a
/// failure to reach the server.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The server answered with a `Status` failure.
    #[error("the server answered {}: {}", .0.code, .0.message)]
    Status(Status),
    /// The connection was refused (the server is down or restarting).
    #[error("connection refused: {0}")]
    ConnectionRefused(String),
    /// Any other transport failure (reset, TLS, decode).
    #[error("transport error: {0}")]
    Transport(String),
}

impl ApiError {
    /// The status, if the server answered one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Status(status) => Some(status),
            _ => None,
        }
    }

    /// HTTP 410 Gone or reason `Expired`: the requested resourceVersion is no longer in the
    /// server's history.
    pub fn is_expired(&self) -> bool {
        self.status().is_some_and(Status::is_expired)
    }

    /// The requested resourceVersion is newer than the server's (cause
    /// `ResourceVersionTooLarge`, or an old server's "Too large resource version" timeout).
    pub fn is_too_large_resource_version(&self) -> bool {
        self.status()
            .is_some_and(Status::is_too_large_resource_version)
    }

    /// HTTP 429 Too Many Requests (priority and fairness or a rate limit).
    pub fn is_too_many_requests(&self) -> bool {
        self.status().is_some_and(|s| s.code == 429)
    }

    /// HTTP 500 Internal Server Error.
    pub fn is_internal(&self) -> bool {
        self.status().is_some_and(|s| s.code == 500)
    }

    /// The connection was refused.
    pub fn is_connection_refused(&self) -> bool {
        matches!(self, Self::ConnectionRefused(_))
    }
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        Self::Status(status)
    }
}

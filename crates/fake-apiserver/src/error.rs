//! Errors of the library API (starting the server, building its client). Errors answered to HTTP
//! clients are [`ApiError`](crate::ApiError)s instead.

use std::net::SocketAddr;

/// An error starting or controlling a [`FakeApiServer`](crate::FakeApiServer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `kube::Client` for the server could not be built.
    #[error("cannot build a kube client for {url}")]
    Client {
        /// The server URL.
        url: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// Writing a kubeconfig file failed.
    #[error("cannot write kubeconfig {path}")]
    Kubeconfig {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A client name for [`ServerHandle::named_client`](crate::ServerHandle::named_client) is
    /// not a valid HTTP header value.
    #[error("client name {0:?} is not a valid header value")]
    ClientName(String),
    /// A resource definition was refused.
    #[error("invalid resource definition: {0}")]
    InvalidResource(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

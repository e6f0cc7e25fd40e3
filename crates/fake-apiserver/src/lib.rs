//! An in-process, loopback-only, Kubernetes-compatible HTTP API server for tests, demos and
//! benches.
//!
//! It speaks the Kubernetes REST API (JSON, and protobuf request bodies) for the built-in core/v1
//! pods, configmaps, secrets, services, serviceaccounts, namespaces, nodes and events, apps/v1
//! deployments, replicasets, statefulsets and daemonsets, batch/v1 jobs and cronjobs, and
//! coordination.k8s.io/v1 leases, and for any resource registered at runtime, with the semantics informers depend on: one global, monotonically increasing
//! resourceVersion; optimistic concurrency; list pagination and resourceVersion rules; watches
//! from a resourceVersion with a bounded history (410 Gone beyond it), bookmarks, timeouts and
//! streaming lists (`sendInitialEvents`); every error a `metav1.Status`. A [`Faults`] handle
//! injects failures, latency, closed or hung watches and compaction.
//!
//! It listens on `127.0.0.1` unless told otherwise and has no authentication.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use fake_apiserver::FakeApiServer;
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::{Api, ListParams, PostParams};
//!
//! let server = FakeApiServer::builder().start().await?;
//! let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! let created = api.create(&PostParams::default(), &cm).await?;
//! assert!(created.metadata.uid.is_some());
//! assert_eq!(api.list(&ListParams::default()).await?.items.len(), 1);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! No optional features: the server needs tokio, axum and kube's client, always.
//!
//! # What is simplified
//!
//! * Server-side apply answers 415; strategic merge patch, OpenAPI and field validation follow
//!   the real schemas of the built-in kinds (derived from Kubernetes v1.32.13's API definitions),
//!   and registered resources have none (a strategic merge patch on them is 415).
//! * A pod bound to a node stays `Terminating` after its delete (no kubelet removes it) until a
//!   delete with `gracePeriodSeconds: 0`; other pods are marked, then removed, as on a real
//!   server.
//! * A deleted namespace goes `Terminating` and stays, as on a bare kube-apiserver, unless the
//!   namespace controller runs ([`Builder::namespace_controller`]): then it is emptied and
//!   removed, as in a cluster.
//! * `status` in a create body is kept (handy for seeding), unlike the real server for some types.
//! * `kubectl get` gets a two-column table (name, age) for every resource.
//! * Metadata-only requests (`as=PartialObjectMetadata[List]`) get the objects' `metadata`
//!   only; bookmarks and `ERROR` events are sent as usual.
//! * Unknown fields of registered resources are kept; objects nested deeper than 100 levels are
//!   refused.
//!
//! Every request is bounded (patch operations and copies, object depth and size, history bytes,
//! slow watchers, request heads): see the crate's guide, `docs/fake-apiserver.md`, for the table
//! of limits and the answers measured against a real kube-apiserver.
#![forbid(unsafe_code)]

mod decode;
mod defaults;
mod discovery;
mod dry_run;
mod error;
mod faults;
mod field_labels;
#[doc(hidden)]
pub mod fuzzing;
mod handle;
mod history;
mod kind_validation;
mod limits;
mod list;
mod meta;
mod partial;
mod patch;
mod resources;
mod reviews;
mod scale;
mod schema;
mod selector;
mod serve;
mod server;
mod status;
mod store;
mod table;
mod validation;
mod watch;

pub use error::{Error, Result};
pub use faults::{CLIENT_HEADER, FaultRule, Faults, Verb};
pub use handle::{
    Builder, DEFAULT_BOOKMARK_INTERVAL, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_HISTORY,
    DEFAULT_HISTORY_BYTES, DEFAULT_MAX_BODY_BYTES, DEFAULT_SLOW_WATCHER_TIMEOUT, FakeApiServer,
    ServerHandle,
};
pub use resources::{NameRule, ResourceDef, Scope};
pub use status::ApiError;

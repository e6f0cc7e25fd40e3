//! client-go's informer core for Rust, independent of any API client: the indexed cache
//! ([`Indexer`], [`Lister`]), event handlers ([`ResourceEventHandler`], [`handler_fn`]), the
//! per-handler fan-out ([`SharedProcessor`]), delta processing ([`process_deltas()`]) between a
//! [`DeltaFifo`](delta_fifo::DeltaFifo) and the handlers, the [`ListerWatcher`] interface, the
//! [`Reflector`] that lists and watches through it into the FIFO (with its [`Backoff`]), the
//! [`SharedIndexInformer`] that wires reflector, FIFO, pop loop and processor over one cache
//! (with [`wait_for_cache_sync`] over anything [`HasSynced`]), and [`MemoryListerWatcher`], an
//! in-memory API server for tests and examples. With the `kube` feature, `KubeObject` and
//! `KubeListerWatcher` plug in `kube::Api`, and `SharedInformerFactory` shares one informer
//! per type. [`metrics`] makes lists, relists, watch ends and handler backlogs visible. Rules
//! cited as `IX-n`, `SI-n`, `RF-n` are those of the flywheel client-go spec (sections 3 to 5).
//!
//! Objects are any [`Resource`] (a [`delta_fifo::Object`] with a resourceVersion), held as
//! `Arc<K>` and never cloned per handler. Another API client plugs in by implementing
//! [`Resource`] and [`ListerWatcher`].
//!
//! # Contents
//!
//! | Item | What it is |
//! |---|---|
//! | [`Indexer`], [`Lister`], [`IndexFn`] | the thread-safe indexed cache and its read views |
//! | [`ResourceEventHandler`], [`handler_fn`], [`FilteringHandler`] | event handlers |
//! | [`SharedProcessor`], [`HandlerRegistration`] | per-handler fan-out, buffers, resync, sync |
//! | [`process_deltas()`], [`pop_and_process`], [`informer_fifo`] | FIFO to cache and handlers |
//! | [`ListerWatcher`], [`MemoryListerWatcher`] | the list/watch interface, an in-memory server |
//! | [`Reflector`], [`Backoff`] | list and watch (or stream the initial list) into the FIFO |
//! | [`SharedIndexInformer`] | all of the above wired together |
//! | [`HasSynced`], [`wait_for_cache_sync`] | waiting for caches, with a timeout and a cause |
//! | [`metrics`] | lists, relists, watch ends by cause, events, pending per handler, last version |
//! | `KubeObject`, `KubeListerWatcher`, `KubeMetadataListerWatcher` | the kube adapter: typed, `DynamicObject` and metadata-only informers (feature `kube`) |
//! | `SharedInformerFactory` | one shared informer per kube type, started and stopped together (feature `kube`) |
//!
//! # Example: an informer without a reflector
//!
//! What a reflector would do (list, then watch events) is done by hand on the FIFO here.
//!
//! ```
//! use std::sync::{Arc, mpsc};
//! use std::time::Duration;
//! use delta_fifo::Object;
//! use informer::{
//!     Indexer, Lister, Resource, SharedProcessor, handler_fn, informer_fifo, pop_and_process,
//! };
//! use timer_wheel::FakeClock;
//!
//! struct Pod {
//!     ns: &'static str,
//!     name: &'static str,
//!     rv: &'static str,
//! }
//! impl Object for Pod {
//!     fn namespace(&self) -> Option<&str> {
//!         Some(self.ns)
//!     }
//!     fn name(&self) -> Option<&str> {
//!         Some(self.name)
//!     }
//! }
//! impl Resource for Pod {
//!     fn resource_version(&self) -> Option<&str> {
//!         Some(self.rv)
//!     }
//! }
//!
//! let cache = Arc::new(Indexer::new());
//! let fifo = informer_fifo(Arc::clone(&cache), None, true);
//! let processor = SharedProcessor::new(Arc::clone(&cache), Arc::new(FakeClock::new()), Duration::ZERO);
//!
//! let (tx, rx) = mpsc::channel();
//! let registration = processor
//!     .add_event_handler(
//!         handler_fn()
//!             .on_add({
//!                 let tx = tx.clone();
//!                 move |p: &Arc<Pod>, initial| tx.send(format!("add {} {initial}", p.name)).unwrap()
//!             })
//!             .on_update(move |_old, new: &Arc<Pod>| tx.send(format!("update {}", new.rv)).unwrap()),
//!     )
//!     .unwrap();
//! processor.start();
//!
//! fifo.replace([Pod { ns: "default", name: "web", rv: "1" }], "1")?;
//! fifo.update(Pod { ns: "default", name: "web", rv: "2" })?;
//! while !fifo.is_empty() {
//!     pop_and_process(&fifo, &processor).unwrap()?;
//! }
//! assert_eq!(rx.recv().unwrap(), "add web true");
//! assert_eq!(rx.recv().unwrap(), "update 2");
//! assert!(registration.synced());
//! let lister = Lister::new(cache);
//! assert_eq!(lister.namespace("default").get("web").unwrap().rv, "2");
//! processor.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `kube` (off by default): `KubeObject`, a newtype making any `kube::Resource` an
//!   informer [`Resource`], `KubeListerWatcher`, the [`ListerWatcher`] over a `kube::Api`
//!   (typed, or `DynamicObject` with `new_with`), `KubeMetadataListerWatcher` for
//!   metadata-only informers (`PartialObjectMeta`), and `SharedInformerFactory` (pulls in
//!   kube's client, k8s-openapi and serde; needs a tokio runtime). It supports streaming
//!   lists (`sendInitialEvents`).
//! * `prometheus` (off by default): `prometheus::PrometheusMetrics`, a
//!   [`MetricsProvider`](metrics::MetricsProvider) registering the informer metrics in a
//!   `prometheus::Registry`.
//!
//! # Streaming initial list
//!
//! [`ReflectorBuilder::streaming_list`] and [`SharedIndexInformerBuilder::streaming_list`]
//! (off by default, as client-go's `WatchListClient` gate was before 1.35) replace each
//! (re)list by one watch with [`WatchOptions::send_initial_events`] (KEP-3157, RF-19..RF-23):
//! its initial `Added` events are collected until the bookmark flagged
//! [`initial_events_end`](WatchEvent::Bookmark), the FIFO is replaced with them, and the same
//! stream goes on as the watch. A server that refuses it or ends the stream before that
//! bookmark gets a plain list and watch instead (the exact rules are on
//! [`ReflectorBuilder::streaming_list`]). [`MemoryListerWatcher`] serves streaming lists and
//! can refuse them ([`MemoryListerWatcher::set_streaming_lists`]).
//!
//! Without it the core stays light. Handlers run on listener threads and the informer's pop
//! loop on its own thread; [`HandlerRegistration::synced_async`], [`ListerWatcher`],
//! [`Reflector::run`] and [`SharedIndexInformer::run`] are executor-agnostic futures; the
//! reflector waits on a timer-wheel [`Driver`](timer_wheel::Driver), so tests on a fake clock
//! never sleep.
//!
//! # Deviations from client-go
//!
//! * An index function error refuses the write with a typed error, nothing changed (IX-8).
//! * An update is a "sync" only when both versions are present and equal; a transform that
//!   blanks the resourceVersion is refused ([`informer_transform`]).
//! * Per-handler pending gauge and optional bounded buffers ([`BufferPolicy`]); handler
//!   panics are caught and counted.
//! * Processing errors are reported ([`run_process_loop`],
//!   [`SharedIndexInformer::process_errors`]), not silently dropped (SI-3).
//! * [`wait_for_cache_sync`] waits without polling, for at most a timeout, and says which
//!   caches did not sync and the last list or watch error behind it.
//! * [`SharedIndexInformer::run`] a second time is an error, not a logged no-op (SI-1); on
//!   stop, entries still in the FIFO are dropped rather than drained.
//! * The informer's watch-error hook sees every end of a list or watch (the reflector's
//!   [`Termination`]), not only errors.
//! * `KubeListerWatcher` sends a list at `"0"` without a limit: kube drops
//!   `resourceVersion=0` from a request with a limit, which would make it a quorum read.
//! * A relisted object whose version equals the cached one keeps the cached `Arc`.
//! * The reflector reports every end of a list or watch (cause, version, next step) to its
//!   termination hook, not only list errors; a stop cancels an in-flight list.
//! * A watch silent (no event, no bookmark) past an idle timeout is abandoned as a hung,
//!   half-open connection and re-opened from the last synced version without a relist
//!   ([`ReflectorBuilder::watch_idle_timeout`], [`ReflectorError::WatchIdle`]); client-go
//!   waits for the connection to close.
//! * A streaming list that closes before its initial-events-end bookmark falls back to list
//!   and watch ([`ReflectorError::WatchListIncomplete`]) rather than being retried, and a
//!   second expired answer in a row backs off instead of retrying at once.
//!
//! # Not done yet (issue 7)
//!
//! * The streaming list's fallback is per attempt: against a server without streaming lists,
//!   every relist first spends one refused watch request (client-go stops asking clients
//!   that declare no support; there is no such declaration here). The optional watch-list
//!   consistency check (`KUBE_WATCHLIST_INCONSISTENCY_DETECTOR`) is not done.
//! * Restarting the pop loop after a panic (SI-3's 1 s restart): a panic in delta processing
//!   ends the pop loop (it is logged when the informer stops); handler panics are caught.
//! * `SharedInformerFactory` covers types with static type information; a factory of
//!   `DynamicObject` informers (keyed by `ApiResource`) is not done, nor a factory-wide
//!   transform.
#![forbid(unsafe_code)]

mod backoff;
mod error;
#[cfg(feature = "kube")]
mod factory;
#[cfg(feature = "kube")]
#[doc(hidden)]
pub mod fuzzing;
mod handler;
mod handler_channel;
mod index;
mod indexer;
mod informer;
#[cfg(feature = "kube")]
mod kube;
#[cfg(feature = "kube")]
mod kube_list;
#[cfg(feature = "kube")]
mod list_splitter;
mod listener;
mod lister;
mod lister_watcher;
mod memory;
pub mod metrics;
mod object;
mod process_deltas;
mod processor;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod reflector;
mod sharded;
mod sync;

pub use backoff::{BACKOFF_CAP, BACKOFF_INITIAL, BACKOFF_RESET_AFTER, Backoff};
pub use delta_fifo::DeletedObject;
pub use error::{ApiError, BoxError, HandlerError, IndexerError};
#[cfg(feature = "kube")]
pub use factory::{
    DynamicInformer, FactoryError, FactoryResource, FactoryScope, KubeInformer, MetadataInformer,
    SharedInformerFactory, SharedInformerFactoryBuilder,
};
pub use handler::{FilteringHandler, FnHandler, Notification, ResourceEventHandler, handler_fn};
pub use handler_channel::{ChannelHandler, NotificationReceiver, notification_channel};
pub use index::{IndexFn, NAMESPACE_INDEX};
pub use indexer::{Indexer, IndexerBuilder};
pub use informer::{InformerError, SharedIndexInformer, SharedIndexInformerBuilder};
#[cfg(feature = "kube")]
pub use kube::{
    KubeListerWatcher, KubeMetadataListerWatcher, KubeObject, UNDECODABLE_EVENT, UNEXPECTED_KIND,
};
pub use listener::BufferPolicy;
pub use lister::{Lister, NamespaceLister};
pub use lister_watcher::{
    CachedLookup, INITIAL_EVENTS_END_ANNOTATION, ListOptions, ListPage, ListerWatcher, Status,
    WatchEvent, WatchOptions, WatchStream,
};
pub use memory::{DEFAULT_HISTORY, MemoryListerWatcher, MemoryObject, Request};
pub use object::Resource;
pub use process_deltas::{
    Transform, informer_fifo, informer_transform, pop_and_process, process_deltas,
    run_process_loop, strip_managed_fields,
};
pub use processor::{HandlerOptions, HandlerRegistration, MIN_RESYNC_PERIOD, SharedProcessor};
pub use reflector::{
    Call, DEFAULT_PAGE_SIZE, INITIAL_EVENTS_WARNING_PERIOD, INTERNAL_ERROR_RESET,
    MIN_WATCH_TIMEOUT, Next, Reflector, ReflectorBuilder, ReflectorError, Termination,
    VERY_SHORT_WATCH, WATCH_IDLE_GRACE,
};
pub use sync::{
    CacheSyncError, HasSynced, wait_for_cache_sync, wait_for_cache_sync_async,
    wait_for_cache_sync_on,
};

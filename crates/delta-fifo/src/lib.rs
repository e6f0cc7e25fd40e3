//! client-go's `DeltaFIFO` for Rust: a queue of changes to objects, grouped by key, that sits
//! between a reflector (list + watch) and an informer's store and handlers.
//!
//! Producers [`add`](DeltaFifo::add), [`update`](DeltaFifo::update),
//! [`delete`](DeltaFifo::delete) and [`replace`](DeltaFifo::replace) objects; one consumer
//! [`pop`](DeltaFifo::pop)s every change queued for one key at once, as [`Deltas`]. A relist
//! (`replace`) turns objects that disappeared into typed tombstones
//! ([`DeletedObject::Tombstone`]), so a handler cannot mistake "deleted, final state unknown"
//! for an object. Objects are held as `Arc<K>`, never cloned. The rules cited as `DF-n` are
//! those of the flywheel client-go spec, section 2.
//!
//! # Example: a consumer loop
//!
//! The consumer applies each key's changes to its cache, which is also the FIFO's
//! [`KnownObjects`]: that is how the FIFO knows that a deletion of an object already popped
//! still matters, and which objects a relist lost.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Arc;
//! use std::thread;
//! use delta_fifo::{BoxError, Delta, DeltaFifo, KnownObjects, Object, PopError};
//! use parking_lot::RwLock;
//!
//! struct Pod {
//!     namespace: String,
//!     name: String,
//!     phase: &'static str,
//! }
//! impl Object for Pod {
//!     fn namespace(&self) -> Option<&str> {
//!         Some(&self.namespace)
//!     }
//!     fn name(&self) -> Option<&str> {
//!         Some(&self.name)
//!     }
//! }
//! let pod = |name: &str, phase| Pod { namespace: "default".into(), name: name.into(), phase };
//!
//! #[derive(Default)]
//! struct Cache(RwLock<HashMap<Arc<str>, Arc<Pod>>>);
//! impl KnownObjects<Pod> for Cache {
//!     fn list_keys(&self) -> Vec<Arc<str>> {
//!         self.0.read().keys().cloned().collect()
//!     }
//!     fn get_by_key(&self, key: &str) -> Result<Option<Arc<Pod>>, BoxError> {
//!         Ok(self.0.read().get(key).cloned())
//!     }
//! }
//!
//! let cache = Arc::new(Cache::default());
//! let fifo = Arc::new(DeltaFifo::builder().known_objects(cache.clone()).build());
//!
//! // The consumer: runs until the FIFO is closed and drained.
//! let consumer = thread::spawn({
//!     let (fifo, cache) = (Arc::clone(&fifo), Arc::clone(&cache));
//!     move || loop {
//!         let popped = fifo.pop(|deltas, _ctx| {
//!             let mut cache = cache.0.write();
//!             for delta in deltas {
//!                 match delta {
//!                     // A tombstone (`DeletedObject::Tombstone`) lands here too.
//!                     Delta::Deleted(_) => {
//!                         cache.remove(deltas.key());
//!                     }
//!                     Delta::Added(pod)
//!                     | Delta::Updated(pod)
//!                     | Delta::Replaced(pod)
//!                     | Delta::Sync(pod) => {
//!                         cache.insert(deltas.key_arc().clone(), Arc::clone(pod));
//!                     }
//!                 }
//!             }
//!         });
//!         match popped {
//!             Ok(()) => {}
//!             Err(PopError::Closed) => return,
//!             Err(other) => panic!("{other}"),
//!         }
//!     }
//! });
//!
//! // The producer: what a reflector does with a list and then watch events.
//! fifo.replace([pod("web", "Pending"), pod("db", "Running")], "100")?;
//! fifo.update(pod("web", "Running"))?;
//! fifo.delete(pod("db", "Running"))?;
//! fifo.close();
//! consumer.join().unwrap();
//!
//! assert!(fifo.has_synced());
//! let cache = cache.0.read();
//! assert_eq!(cache.len(), 1);
//! assert_eq!(cache["default/web"].phase, "Running");
//! # Ok::<(), delta_fifo::Error>(())
//! ```
//!
//! # Features
//!
//! * `async`: `DeltaFifo::pop_async`, an executor-agnostic async twin of `pop` (no runtime
//!   dependency).
//!
//! # Deviations from client-go
//!
//! Deliberate, each for a reason given where it is implemented:
//! * Tombstones for known objects are queued in sorted key order, not map order (DF-13, DF-14).
//! * `has_synced` is latched only after the `pop` closure of the last initial key returned
//!   (DF-26); initial membership is tracked per key, so a requeued initial key still counts.
//! * A `replace` whose key function or transformer fails changes nothing (client-go keeps the
//!   objects before the failing one); any refused operation leaves `has_synced` alone.
//! * `replace` emits [`DeltaKind::Replaced`] by default; `emit_replaced(false)` gives the
//!   legacy [`DeltaKind::Sync`].
//! * A panicking `pop` closure puts its deltas back; calling the FIFO from inside its own `pop`
//!   closure panics instead of deadlocking.
//! * No slow-processing trace (DF-23): this crate reads no clock.
#![forbid(unsafe_code)]

mod builder;
mod delta;
mod error;
mod fifo;
mod key;
mod known;
mod pop;
mod state;

pub use builder::DeltaFifoBuilder;
pub use delta::{DeletedObject, Delta, DeltaKind, Deltas};
pub use error::{BoxError, Error, KeyError, PopError};
pub use fifo::DeltaFifo;
pub use key::{
    KeyFn, Object, meta_namespace_key, split_meta_namespace_key, write_meta_namespace_key,
};
pub use known::KnownObjects;
pub use pop::PopContext;

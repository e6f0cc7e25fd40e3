//! [`DeltaFifoBuilder`]: client-go's `DeltaFIFOOptions`.

use std::fmt;
use std::sync::Arc;

use crate::error::BoxError;
use crate::fifo::{Config, DeltaFifo};
use crate::key::KeyFn;
use crate::known::KnownObjects;

/// A transformer: called once on every object entering the FIFO, before anyone sees it (DF-11).
pub(crate) type Transformer<K> = dyn Fn(Arc<K>) -> Result<Arc<K>, BoxError> + Send + Sync;

/// Options of a [`DeltaFifo`] (client-go's `DeltaFIFOOptions`).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use delta_fifo::{DeltaFifo, DeltaKind, KeyFn};
///
/// #[derive(Clone)]
/// struct Event {
///     id: u32,
///     payload: String,
/// }
///
/// let fifo = DeltaFifo::with_key_fn(KeyFn::new(|e: &Event| Ok(e.id.to_string())))
///     .emit_replaced(true)
///     .transformer(|e: Arc<Event>| {
///         let mut e = Arc::unwrap_or_clone(e);
///         e.payload.make_ascii_uppercase();
///         Ok(Arc::new(e))
///     })
///     .build();
/// fifo.replace([Event { id: 1, payload: "hi".into() }], "")?;
/// fifo.pop(|deltas, _| {
///     assert_eq!(deltas.oldest().kind(), DeltaKind::Replaced);
///     assert_eq!(deltas.oldest().object().unwrap().payload, "HI");
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "DeltaFIFOOptions")]
pub struct DeltaFifoBuilder<K> {
    key_fn: KeyFn<K>,
    known_objects: Option<Arc<dyn KnownObjects<K>>>,
    transformer: Option<Arc<Transformer<K>>>,
    emit_replaced: bool,
}

impl<K> DeltaFifoBuilder<K> {
    /// A builder with the given key function and the defaults: no known objects, no transformer,
    /// `emit_replaced(true)`.
    pub fn new(key_fn: KeyFn<K>) -> Self {
        Self {
            key_fn,
            known_objects: None,
            transformer: None,
            emit_replaced: true,
        }
    }

    /// Replaces the key function.
    #[doc(alias = "KeyFunction")]
    pub fn key_fn(mut self, key_fn: KeyFn<K>) -> Self {
        self.key_fn = key_fn;
        self
    }

    /// The consumer's store (normally the informer's indexer), used by `delete` (DF-7),
    /// `replace` (DF-14) and `resync` (DF-19). Without it, deletions of objects that were already
    /// popped are missed by `replace` (DF-17) and `resync` does nothing (DF-18).
    #[doc(alias = "KnownObjects")]
    pub fn known_objects(mut self, known: Arc<dyn KnownObjects<K>>) -> Self {
        self.known_objects = Some(known);
        self
    }

    /// Whether `replace` queues [`Replaced`](crate::DeltaKind::Replaced) deltas (`true`, the
    /// default here) or the legacy [`Sync`](crate::DeltaKind::Sync) ones (`false`, client-go's
    /// default, kept there for old consumers; informers always set it).
    #[doc(alias = "EmitDeltaTypeReplaced")]
    pub fn emit_replaced(mut self, emit: bool) -> Self {
        self.emit_replaced = emit;
        self
    }

    /// A function applied exactly once to every object entering the FIFO through `add`,
    /// `update`, `delete` and `replace`, before it is stored (DF-11); typically it strips fields
    /// nobody reads, to save memory. It is not applied to `resync` objects (they come from the
    /// store, already transformed), to tombstones, nor to `add_if_not_present`. It must not call
    /// back into the FIFO, and must accept its own output, since stored objects may be fed back
    /// through `replace`.
    ///
    /// An error refuses the operation: nothing is queued and
    /// [`Error::Transform`](crate::Error::Transform) is returned.
    pub fn transformer<F>(mut self, transformer: F) -> Self
    where
        F: Fn(Arc<K>) -> Result<Arc<K>, BoxError> + Send + Sync + 'static,
    {
        self.transformer = Some(Arc::new(transformer));
        self
    }

    /// Creates the FIFO.
    pub fn build(self) -> DeltaFifo<K> {
        DeltaFifo::from_config(Config {
            key_fn: self.key_fn,
            known_objects: self.known_objects,
            transformer: self.transformer,
            emit_replaced: self.emit_replaced,
        })
    }
}

impl<K> fmt::Debug for DeltaFifoBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeltaFifoBuilder")
            .field("known_objects", &self.known_objects.is_some())
            .field("transformer", &self.transformer.is_some())
            .field("emit_replaced", &self.emit_replaced)
            .finish_non_exhaustive()
    }
}

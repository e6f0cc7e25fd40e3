//! Delta processing (client-go's `processDeltas` and the informer's process loop, SI-3,
//! SI-22..SI-24), the FIFO an informer uses, and the transform hook that shapes objects before
//! they are cached.

use std::sync::Arc;

use delta_fifo::{BoxError, Delta, DeltaFifo, Deltas, PopContext, PopError};

use crate::error::IndexerError;
use crate::handler::Notification;
use crate::indexer::Indexer;
use crate::object::{Resource, same_version, version_of};
use crate::processor::SharedProcessor;

/// A transform: applied once to every object entering the informer's FIFO, before it is
/// cached or seen by a handler (client-go's `TransformFunc`).
pub type Transform<K> = Arc<dyn Fn(Arc<K>) -> Result<Arc<K>, BoxError> + Send + Sync>;

/// The default transform: drops `managedFields` (via [`Resource::without_managed_fields`]);
/// an object without them passes through untouched, without a copy.
///
/// # Errors
///
/// Never; the signature is that of a [`Transform`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use delta_fifo::Object;
/// use informer::{Resource, strip_managed_fields};
///
/// #[derive(Clone)]
/// struct Cm(Option<&'static str>);
/// impl Object for Cm {
///     fn name(&self) -> Option<&str> {
///         Some("cm")
///     }
/// }
/// impl Resource for Cm {
///     fn resource_version(&self) -> Option<&str> {
///         Some("1")
///     }
///     fn without_managed_fields(&self) -> Option<Self> {
///         self.0.map(|_| Cm(None))
///     }
/// }
/// assert!(strip_managed_fields(Arc::new(Cm(Some("big")))).unwrap().0.is_none());
/// ```
pub fn strip_managed_fields<K: Resource>(obj: Arc<K>) -> Result<Arc<K>, BoxError> {
    Ok(match obj.without_managed_fields() {
        Some(stripped) => Arc::new(stripped),
        None => obj,
    })
}

/// The transform of an informer FIFO: [`strip_managed_fields`] (unless `strip` is false), then
/// `user`, and a check that the resourceVersion survived: a transform that blanks it would make
/// every update look like a resync (SI-12, pain point 6.8), so it is refused with an error.
pub fn informer_transform<K: Resource>(user: Option<Transform<K>>, strip: bool) -> Transform<K> {
    Arc::new(move |obj: Arc<K>| {
        let had_version = version_of(&*obj).is_some();
        let obj = if strip {
            strip_managed_fields(obj)?
        } else {
            obj
        };
        let obj = match &user {
            Some(user) => user(obj)?,
            None => obj,
        };
        if had_version && version_of(&*obj).is_none() {
            return Err("the transform removed the resourceVersion".into());
        }
        Ok(obj)
    })
}

/// Builds the FIFO of an informer over its cache (SI-1): keyed by `namespace/name`, with the
/// cache as known objects, `Replaced` deltas for relists, and
/// [`informer_transform(user, strip)`](informer_transform) as transformer.
pub fn informer_fifo<K: Resource>(
    indexer: Arc<Indexer<K>>,
    user: Option<Transform<K>>,
    strip: bool,
) -> DeltaFifo<K> {
    let transform = informer_transform(user, strip);
    DeltaFifo::builder()
        .known_objects(indexer)
        .emit_replaced(true)
        .transformer(move |obj| transform(obj))
        .build()
}

/// Applies one key's deltas to the cache and notifies the handlers (SI-22..SI-24), oldest
/// first, holding the processor's "block deltas" lock.
///
/// * Added, Updated, Replaced, Sync: if the cache holds the key, update it and send
///   `on_update(cached, new)` (a sync, for handlers whose resync is due only, when both carry
///   the same resourceVersion); else add it and send `on_add(new, is_in_initial_list)`. A
///   Replaced or Sync delta whose version equals the cached one keeps the cached `Arc` (no
///   cache write; the listed copy is freed when the FIFO drops the delta: GOALS I5).
/// * Deleted: remove the key (absent ⇒ no-op) and send `on_delete`, tombstones included.
///
/// # Errors
///
/// A cache error ([`IndexerError::IndexFn`]) aborts the rest of the batch (SI-24); the handlers
/// were notified of the deltas before it.
#[doc(alias = "processDeltas")]
pub fn process_deltas<K: Resource>(
    processor: &SharedProcessor<K>,
    deltas: &Deltas<K>,
    ctx: &PopContext,
) -> Result<(), IndexerError> {
    let _blocked = processor.lock_deltas();
    let cache = processor.indexer();
    let key = deltas.key_arc();
    for delta in deltas {
        match delta {
            Delta::Deleted(obj) => {
                cache.delete_by_key(key)?;
                processor.distribute(Notification::Delete(obj.clone()), false);
            }
            Delta::Added(obj) | Delta::Updated(obj) | Delta::Replaced(obj) | Delta::Sync(obj) => {
                match cache.get_by_key(key) {
                    Some(old) => {
                        let is_sync = same_version(&*old, &**obj);
                        let relisted = matches!(delta, Delta::Replaced(_) | Delta::Sync(_));
                        let new = if is_sync && relisted {
                            Arc::clone(&old)
                        } else {
                            cache.upsert_key(Arc::clone(key), Arc::clone(obj))?;
                            Arc::clone(obj)
                        };
                        processor.distribute(Notification::Update { old, new }, is_sync);
                    }
                    None => {
                        cache.upsert_key(Arc::clone(key), Arc::clone(obj))?;
                        processor.distribute(
                            Notification::Add {
                                obj: Arc::clone(obj),
                                is_initial_list: ctx.is_in_initial_list(),
                            },
                            false,
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// Pops one key from `fifo`, processes it with [`process_deltas`], and once the FIFO reports
/// synced tells the processor (SI-15, SI-16). Blocks while the FIFO is empty. The outer
/// result is the FIFO's; the inner one the processing's (the FIFO entry is consumed either
/// way, SI-3).
///
/// # Errors
///
/// [`PopError::Closed`] once the FIFO is closed and drained.
pub fn pop_and_process<K: Resource>(
    fifo: &DeltaFifo<K>,
    processor: &SharedProcessor<K>,
) -> Result<Result<(), IndexerError>, PopError> {
    let result = fifo.pop(|deltas, ctx| process_deltas(processor, deltas, ctx))?;
    if fifo.has_synced() {
        processor.set_upstream_synced();
    }
    Ok(result)
}

/// The informer's process loop (SI-3): pops and processes until the FIFO is closed and
/// drained. Processing errors are not retried (the entry is consumed) but reported to
/// `on_error` with the key, instead of client-go's silent drop.
pub fn run_process_loop<K: Resource>(
    fifo: &DeltaFifo<K>,
    processor: &SharedProcessor<K>,
    mut on_error: impl FnMut(&IndexerError),
) {
    loop {
        match pop_and_process(fifo, processor) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "informer: processing deltas failed; entry dropped");
                on_error(&err);
            }
            Err(PopError::Closed) => return,
            Err(err) => {
                tracing::error!(error = %err, "informer: pop failed");
                return;
            }
        }
    }
}

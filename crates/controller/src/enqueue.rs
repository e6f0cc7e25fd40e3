//! [`EnqueueHandler`]: informer events to queue keys.

use std::marker::PhantomData;
use std::sync::Arc;

use delta_fifo::{DeletedObject, Object, meta_namespace_key};
use informer::ResourceEventHandler;

use crate::controller::Controller;

/// An informer event handler that adds the key (`namespace/name`, or `name` for cluster-scoped
/// objects) of every added, updated or deleted object to a controller's queue. A deletion known
/// only from a relist ([`DeletedObject::Tombstone`]) enqueues the tombstone's key, so the
/// reconcile sees that the object is gone. An object without a name is skipped with a warning
/// (it has no key).
pub struct EnqueueHandler<K> {
    controller: Controller,
    _objects: PhantomData<fn(K)>,
}

impl<K: Object> EnqueueHandler<K> {
    pub(crate) fn new(controller: Controller) -> Self {
        EnqueueHandler {
            controller,
            _objects: PhantomData,
        }
    }

    fn enqueue_object(&self, obj: &K) {
        match meta_namespace_key(obj) {
            Ok(key) => self.controller.queue().add(key),
            Err(error) => tracing::warn!(
                controller = %self.controller.name(),
                %error,
                "object without a key not enqueued"
            ),
        }
    }
}

impl<K: Object + Send + Sync + 'static> ResourceEventHandler<K> for EnqueueHandler<K> {
    fn on_add(&mut self, obj: &Arc<K>, _is_initial_list: bool) {
        self.enqueue_object(obj);
    }

    fn on_update(&mut self, _old: &Arc<K>, new: &Arc<K>) {
        self.enqueue_object(new);
    }

    fn on_delete(&mut self, obj: DeletedObject<K>) {
        match obj {
            DeletedObject::Known(obj) => self.enqueue_object(&obj),
            DeletedObject::Tombstone { key, .. } => self.controller.queue().add(key.to_string()),
        }
    }
}

impl<K> std::fmt::Debug for EnqueueHandler<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnqueueHandler")
            .field("controller", &self.controller.name())
            .finish()
    }
}

//! [`Resource`]: what the informer needs of an object beyond the key that
//! [`delta_fifo::Object`] gives: its resourceVersion, and optionally a copy without
//! `managedFields`.

use delta_fifo::Object;

/// An object the informer can cache: a [`delta_fifo::Object`] (name and namespace, hence its
/// key) that also reports its `metadata.resourceVersion`.
///
/// The resourceVersion drives three things: the reflector's position in the server's history
/// (RF-13), the "sync" classification of updates (SI-11: an update whose old and new versions
/// are equal is a resync), and the sharing of unchanged objects across a relist (GOALS I5).
/// A kube adapter implements this trait over `ObjectMeta`; this crate does not depend on kube.
///
/// # Examples
///
/// ```
/// use delta_fifo::Object;
/// use informer::Resource;
///
/// #[derive(Clone)]
/// struct ConfigMap {
///     namespace: String,
///     name: String,
///     resource_version: String,
///     managed_fields: Option<String>,
/// }
/// impl Object for ConfigMap {
///     fn namespace(&self) -> Option<&str> {
///         Some(&self.namespace)
///     }
///     fn name(&self) -> Option<&str> {
///         Some(&self.name)
///     }
/// }
/// impl Resource for ConfigMap {
///     fn resource_version(&self) -> Option<&str> {
///         Some(&self.resource_version)
///     }
///     fn without_managed_fields(&self) -> Option<Self> {
///         self.managed_fields.is_some().then(|| Self { managed_fields: None, ..self.clone() })
///     }
/// }
/// ```
pub trait Resource: Object + Send + Sync + 'static {
    /// The object's `metadata.resourceVersion`; `None` or empty when it has none.
    fn resource_version(&self) -> Option<&str>;

    /// The object's `metadata.uid`, or `None` (the default) for a type without one. With the
    /// resourceVersion it tells a listed object that is the cached one, unchanged, from a
    /// different object of the same name (see [`CachedLookup`](crate::CachedLookup)).
    fn uid(&self) -> Option<&str> {
        None
    }

    /// A copy of the object without `metadata.managedFields`, or `None` when it carries none
    /// (the default: nothing to strip). The informer's default transform
    /// ([`strip_managed_fields`](crate::strip_managed_fields)) calls it on every object entering
    /// the cache; managedFields are commonly a fifth of the cached bytes and nobody reads them
    /// from a cache.
    fn without_managed_fields(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// The resourceVersion of `obj`, with an empty string read as "none".
pub(crate) fn version_of<K: Resource>(obj: &K) -> Option<&str> {
    obj.resource_version().filter(|rv| !rv.is_empty())
}

/// Whether `old` and `new` carry the same, non-empty resourceVersion: the update is a resync
/// (SI-11). Two objects without versions are *not* the same version: an update is then
/// delivered to every handler rather than silently treated as a sync (pain point 6.8).
pub(crate) fn same_version<K: Resource>(old: &K, new: &K) -> bool {
    matches!((version_of(old), version_of(new)), (Some(a), Some(b)) if a == b)
}

/// Whether `listed` is the very object `cached` is, unchanged: the same non-empty
/// resourceVersion and the same uid (both absent counts as the same). A relist keeps the
/// cached `Arc` for such an object (GOALS I5).
pub(crate) fn same_object_version<K: Resource>(cached: &K, listed: &K) -> bool {
    same_version(cached, listed) && cached.uid() == listed.uid()
}

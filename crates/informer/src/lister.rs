//! [`Lister`] and [`NamespaceLister`]: typed, read-only views of an [`Indexer`] keyed by
//! `namespace/name` (client-go's generated listers, `ListAll`, `ListAllByNamespace`; IX-14,
//! IX-15).

use std::fmt;
use std::sync::Arc;

use delta_fifo::Object;

use crate::index::NAMESPACE_INDEX;
use crate::indexer::{Indexer, in_namespace};

/// A read-only view of an indexer whose keys are `namespace/name` (the default key function).
///
/// Absent objects are `None` rather than client-go's `NotFound` error. Label selectors are not
/// modelled here (the object abstraction carries no labels); pass a predicate to
/// [`list_filtered`](Self::list_filtered) instead.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use delta_fifo::Object;
/// use informer::{Indexer, Lister, Resource};
///
/// struct Pod(&'static str, &'static str);
/// impl Object for Pod {
///     fn namespace(&self) -> Option<&str> {
///         Some(self.0)
///     }
///     fn name(&self) -> Option<&str> {
///         Some(self.1)
///     }
/// }
/// impl Resource for Pod {
///     fn resource_version(&self) -> Option<&str> {
///         None
///     }
/// }
///
/// let indexer = Arc::new(Indexer::new());
/// indexer.add(Pod("default", "web"))?;
/// indexer.add(Pod("kube-system", "dns"))?;
/// let lister = Lister::new(indexer);
/// assert_eq!(lister.list().len(), 2);
/// assert_eq!(lister.namespace("default").list().len(), 1);
/// assert!(lister.namespace("default").get("web").is_some());
/// assert!(lister.namespace("default").get("dns").is_none());
/// # Ok::<(), informer::IndexerError>(())
/// ```
pub struct Lister<K> {
    indexer: Arc<Indexer<K>>,
}

impl<K: Object> Lister<K> {
    /// A lister over `indexer`.
    pub fn new(indexer: Arc<Indexer<K>>) -> Self {
        Self { indexer }
    }

    /// Every cached object (client-go's `List(labels.Everything())`).
    #[doc(alias = "ListAll")]
    pub fn list(&self) -> Vec<Arc<K>> {
        self.indexer.list()
    }

    /// Every cached object `filter` accepts.
    pub fn list_filtered(&self, filter: impl FnMut(&K) -> bool) -> Vec<Arc<K>> {
        self.indexer.list_filtered(filter)
    }

    /// The cluster-scoped object named `name` (key `name`).
    pub fn get(&self, name: &str) -> Option<Arc<K>> {
        self.indexer.get_by_key(name)
    }

    /// A view of one namespace; `""` means every namespace for `list` (IX-15).
    pub fn namespace(&self, namespace: impl Into<String>) -> NamespaceLister<K> {
        NamespaceLister {
            indexer: Arc::clone(&self.indexer),
            namespace: namespace.into(),
        }
    }

    /// The indexer behind this lister.
    pub fn indexer(&self) -> &Arc<Indexer<K>> {
        &self.indexer
    }
}

/// A read-only view of one namespace (client-go's `PodNamespaceLister` and friends).
pub struct NamespaceLister<K> {
    indexer: Arc<Indexer<K>>,
    namespace: String,
}

impl<K: Object> NamespaceLister<K> {
    /// Every object of the namespace; the whole cache when the namespace is `""`. Uses the
    /// namespace index (O(result)); without it, scans the cache, filtering by namespace (IX-15).
    #[doc(alias = "ListAllByNamespace")]
    pub fn list(&self) -> Vec<Arc<K>> {
        self.list_filtered(|_| true)
    }

    /// The objects of the namespace that `filter` accepts.
    pub fn list_filtered(&self, mut filter: impl FnMut(&K) -> bool) -> Vec<Arc<K>> {
        if self.namespace.is_empty() {
            return self.indexer.list_filtered(filter);
        }
        match self.indexer.by_index(NAMESPACE_INDEX, &self.namespace) {
            Ok(mut objs) => {
                objs.retain(|obj| filter(obj));
                objs
            }
            Err(_) => {
                tracing::debug!(
                    namespace = %self.namespace,
                    "lister: no namespace index; scanning the whole cache"
                );
                self.indexer
                    .list_filtered(|obj| in_namespace(obj, &self.namespace) && filter(obj))
            }
        }
    }

    /// The object `namespace/name`.
    pub fn get(&self, name: &str) -> Option<Arc<K>> {
        if self.namespace.is_empty() {
            return self.indexer.get_by_key(name);
        }
        self.indexer
            .get_by_key(&format!("{}/{}", self.namespace, name))
    }

    /// The namespace this view shows.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl<K> Clone for Lister<K> {
    fn clone(&self) -> Self {
        Self {
            indexer: Arc::clone(&self.indexer),
        }
    }
}

impl<K> fmt::Debug for Lister<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lister")
            .field("indexer", &self.indexer)
            .finish()
    }
}

impl<K> fmt::Debug for NamespaceLister<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceLister")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

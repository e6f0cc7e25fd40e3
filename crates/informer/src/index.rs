//! Index functions: how an [`Indexer`](crate::Indexer) files an object under secondary values
//! (client-go's `IndexFunc` and `Indexers`), and the built-in namespace index.

use std::fmt;
use std::sync::Arc;

use delta_fifo::Object;

use crate::error::BoxError;

/// The name of the built-in index by namespace (client-go's `NamespaceIndex`).
#[doc(alias = "NamespaceIndex")]
pub const NAMESPACE_INDEX: &str = "namespace";

type IndexFnInner<K> = dyn Fn(&K) -> Result<Vec<String>, BoxError> + Send + Sync;

/// A named index's function: the values an object is filed under (zero, one or many).
///
/// It must be pure (the same object always gives the same values) and cheap: the indexer calls
/// it under its write lock, on the old and the new object of every write. It may fail; the
/// write is then refused with [`IndexerError::IndexFn`](crate::IndexerError::IndexFn) and no
/// index changes (IX-8).
///
/// # Examples
///
/// ```
/// use informer::IndexFn;
///
/// struct Pod {
///     node: Option<String>,
/// }
/// let by_node = IndexFn::new(|p: &Pod| -> Result<_, std::convert::Infallible> {
///     Ok(p.node.iter().cloned().collect())
/// });
/// assert_eq!(by_node.values(&Pod { node: Some("n1".into()) })?, ["n1"]);
/// assert!(by_node.values(&Pod { node: None })?.is_empty());
/// # Ok::<(), informer::BoxError>(())
/// ```
#[doc(alias = "IndexFunc")]
pub struct IndexFn<K> {
    f: Arc<IndexFnInner<K>>,
}

impl<K> IndexFn<K> {
    /// Wraps a fallible index function.
    pub fn new<F, E>(f: F) -> Self
    where
        F: Fn(&K) -> Result<Vec<String>, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        Self {
            f: Arc::new(move |obj| f(obj).map_err(Into::into)),
        }
    }

    /// The values `obj` is filed under.
    ///
    /// # Errors
    ///
    /// Whatever the function returns.
    pub fn values(&self, obj: &K) -> Result<Vec<String>, BoxError> {
        (self.f)(obj)
    }
}

impl<K: Object> IndexFn<K> {
    /// The namespace index function: one value, the namespace (`""` for cluster-scoped objects).
    ///
    /// # Examples
    ///
    /// ```
    /// use delta_fifo::Object;
    /// use informer::IndexFn;
    ///
    /// struct Node;
    /// impl Object for Node {
    ///     fn name(&self) -> Option<&str> {
    ///         Some("n1")
    ///     }
    /// }
    /// assert_eq!(IndexFn::namespace().values(&Node)?, [""]);
    /// # Ok::<(), informer::BoxError>(())
    /// ```
    #[doc(alias = "MetaNamespaceIndexFunc")]
    pub fn namespace() -> Self {
        Self::new(|obj: &K| -> Result<_, std::convert::Infallible> {
            Ok(vec![obj.namespace().unwrap_or_default().to_owned()])
        })
    }
}

impl<K> Clone for IndexFn<K> {
    fn clone(&self) -> Self {
        Self {
            f: Arc::clone(&self.f),
        }
    }
}

impl<K> fmt::Debug for IndexFn<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexFn").finish_non_exhaustive()
    }
}

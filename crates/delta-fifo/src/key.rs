//! Keys: what the FIFO needs of an object ([`Object`]), the pluggable key function ([`KeyFn`]) and
//! client-go's default `namespace/name` scheme.

use std::fmt;
use std::sync::Arc;

use crate::error::KeyError;

/// What the default key function needs of an object: its name and, when namespaced, its
/// namespace.
///
/// Implement it for your own types, or give the FIFO a [`KeyFn`] instead. A crate that stores
/// `kube::Resource` objects (which this crate does not depend on) plugs them in with a
/// [`KeyFn::writer`] that reads their metadata.
///
/// # Examples
///
/// ```
/// use delta_fifo::Object;
///
/// struct Pod {
///     namespace: String,
///     name: String,
/// }
///
/// impl Object for Pod {
///     fn name(&self) -> Option<&str> {
///         Some(&self.name)
///     }
///     fn namespace(&self) -> Option<&str> {
///         Some(&self.namespace)
///     }
/// }
/// ```
pub trait Object {
    /// The object's name; `None` or an empty string when it has none.
    fn name(&self) -> Option<&str>;

    /// The object's namespace; `None` or an empty string for cluster-scoped objects.
    fn namespace(&self) -> Option<&str> {
        None
    }
}

impl<T: Object + ?Sized> Object for Arc<T> {
    fn name(&self) -> Option<&str> {
        (**self).name()
    }
    fn namespace(&self) -> Option<&str> {
        (**self).namespace()
    }
}

/// Appends `namespace/name`, or `name` for a cluster-scoped object, to `buf` (client-go's
/// `MetaNamespaceKeyFunc`, without allocating).
///
/// # Errors
///
/// [`KeyError::MissingName`] if the object has no name or an empty one; `buf` is then unchanged.
///
/// # Examples
///
/// ```
/// use delta_fifo::{Object, write_meta_namespace_key};
///
/// struct Node(&'static str);
/// impl Object for Node {
///     fn name(&self) -> Option<&str> {
///         Some(self.0)
///     }
/// }
///
/// let mut buf = String::new();
/// write_meta_namespace_key(&Node("n1"), &mut buf)?;
/// assert_eq!(buf, "n1");
/// # Ok::<(), delta_fifo::KeyError>(())
/// ```
pub fn write_meta_namespace_key<K: Object + ?Sized>(
    obj: &K,
    buf: &mut String,
) -> Result<(), KeyError> {
    let name = match obj.name() {
        Some(name) if !name.is_empty() => name,
        _ => return Err(KeyError::MissingName),
    };
    if let Some(namespace) = obj.namespace().filter(|ns| !ns.is_empty()) {
        buf.reserve(namespace.len() + 1 + name.len());
        buf.push_str(namespace);
        buf.push('/');
    }
    buf.push_str(name);
    Ok(())
}

/// Returns `namespace/name`, or `name` for a cluster-scoped object (client-go's
/// `MetaNamespaceKeyFunc`).
///
/// # Errors
///
/// [`KeyError::MissingName`] if the object has no name or an empty one.
///
/// # Examples
///
/// ```
/// use delta_fifo::{KeyError, Object, meta_namespace_key};
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
///
/// assert_eq!(meta_namespace_key(&Pod("default", "web"))?, "default/web");
/// assert!(matches!(meta_namespace_key(&Pod("default", "")), Err(KeyError::MissingName)));
/// # Ok::<(), KeyError>(())
/// ```
#[doc(alias = "MetaNamespaceKeyFunc")]
pub fn meta_namespace_key<K: Object + ?Sized>(obj: &K) -> Result<String, KeyError> {
    let mut key = String::new();
    write_meta_namespace_key(obj, &mut key)?;
    Ok(key)
}

/// Splits a key made by [`meta_namespace_key`] into its namespace (if any) and name (client-go's
/// `SplitMetaNamespaceKey`).
///
/// # Errors
///
/// [`KeyError::InvalidKey`] if the key has more than one `/` or an empty name.
///
/// # Examples
///
/// ```
/// use delta_fifo::split_meta_namespace_key;
///
/// assert_eq!(split_meta_namespace_key("default/web")?, (Some("default"), "web"));
/// assert_eq!(split_meta_namespace_key("node-1")?, (None, "node-1"));
/// assert!(split_meta_namespace_key("a/b/c").is_err());
/// # Ok::<(), delta_fifo::KeyError>(())
/// ```
#[doc(alias = "SplitMetaNamespaceKey")]
pub fn split_meta_namespace_key(key: &str) -> Result<(Option<&str>, &str), KeyError> {
    let invalid = |reason| KeyError::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    let (namespace, name) = match key.split_once('/') {
        None => (None, key),
        Some((_, rest)) if rest.contains('/') => return Err(invalid("more than one `/`")),
        Some((namespace, name)) => (Some(namespace).filter(|ns| !ns.is_empty()), name),
    };
    if name.is_empty() {
        return Err(invalid("empty name"));
    }
    Ok((namespace, name))
}

/// The signature every key function is stored as: append the key of the object to the buffer.
type WriteKey<K> = dyn Fn(&K, &mut String) -> Result<(), KeyError> + Send + Sync;

/// A pluggable key function: how the FIFO names the queue entry an object belongs to.
///
/// The FIFO calls it under its lock, once per object entering the queue, with a reused buffer,
/// so a [`writer`](Self::writer) key function costs no allocation. It must be cheap, must not
/// call back into the FIFO, and must give the same key for every version of one object.
///
/// # Examples
///
/// ```
/// use delta_fifo::{KeyError, KeyFn};
///
/// struct Event {
///     uid: u64,
/// }
///
/// // Simple form: return the key.
/// let by_uid = KeyFn::new(|e: &Event| Ok(e.uid.to_string()));
/// assert_eq!(by_uid.key(&Event { uid: 7 })?, "7");
///
/// // Allocation-free form: append the key to the buffer.
/// let by_uid = KeyFn::writer(|e: &Event, buf: &mut String| {
///     use std::fmt::Write;
///     write!(buf, "{}", e.uid).map_err(KeyError::custom)
/// });
/// assert_eq!(by_uid.key(&Event { uid: 8 })?, "8");
/// # Ok::<(), KeyError>(())
/// ```
pub struct KeyFn<K> {
    write: Arc<WriteKey<K>>,
}

impl<K> KeyFn<K> {
    /// A key function that returns the key as a `String`.
    pub fn new<F>(f: F) -> Self
    where
        F: Fn(&K) -> Result<String, KeyError> + Send + Sync + 'static,
    {
        Self::writer(move |obj, buf| {
            buf.push_str(&f(obj)?);
            Ok(())
        })
    }

    /// A key function that appends the key to a buffer it is given empty; this form does not
    /// allocate per call.
    pub fn writer<F>(f: F) -> Self
    where
        F: Fn(&K, &mut String) -> Result<(), KeyError> + Send + Sync + 'static,
    {
        Self { write: Arc::new(f) }
    }

    /// Computes the key of `obj` (client-go's `KeyOf` for a plain object).
    ///
    /// # Errors
    ///
    /// Whatever the key function returns.
    #[doc(alias = "KeyOf")]
    pub fn key(&self, obj: &K) -> Result<String, KeyError> {
        let mut buf = String::new();
        (self.write)(obj, &mut buf)?;
        Ok(buf)
    }

    /// Clears `buf` and writes the key of `obj` into it.
    pub(crate) fn write_into(&self, obj: &K, buf: &mut String) -> Result<(), KeyError> {
        buf.clear();
        (self.write)(obj, buf)
    }
}

impl<K: Object + 'static> KeyFn<K> {
    /// client-go's default: `namespace/name`, or `name` for cluster-scoped objects.
    #[doc(alias = "MetaNamespaceKeyFunc")]
    pub fn meta_namespace() -> Self {
        Self::writer(write_meta_namespace_key::<K>)
    }
}

impl<K: Object + 'static> Default for KeyFn<K> {
    fn default() -> Self {
        Self::meta_namespace()
    }
}

impl<K> Clone for KeyFn<K> {
    fn clone(&self) -> Self {
        Self {
            write: Arc::clone(&self.write),
        }
    }
}

impl<K> fmt::Debug for KeyFn<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFn").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Meta(Option<&'static str>, Option<&'static str>);
    impl Object for Meta {
        fn namespace(&self) -> Option<&str> {
            self.0
        }
        fn name(&self) -> Option<&str> {
            self.1
        }
    }

    #[test]
    fn meta_namespace_key_forms() {
        assert_eq!(
            meta_namespace_key(&Meta(Some("ns"), Some("a"))).unwrap(),
            "ns/a"
        );
        assert_eq!(meta_namespace_key(&Meta(Some(""), Some("a"))).unwrap(), "a");
        assert_eq!(meta_namespace_key(&Meta(None, Some("a"))).unwrap(), "a");
        assert!(matches!(
            meta_namespace_key(&Meta(Some("ns"), None)),
            Err(KeyError::MissingName)
        ));
        assert!(matches!(
            meta_namespace_key(&Meta(None, Some(""))),
            Err(KeyError::MissingName)
        ));
    }

    #[test]
    fn split_round_trips() {
        assert_eq!(split_meta_namespace_key("ns/a").unwrap(), (Some("ns"), "a"));
        assert_eq!(split_meta_namespace_key("/a").unwrap(), (None, "a"));
        assert!(split_meta_namespace_key("ns/").is_err());
        assert!(split_meta_namespace_key("").is_err());
    }

    #[test]
    fn writer_is_given_a_clean_buffer() {
        let f = KeyFn::<Meta>::meta_namespace();
        let mut buf = String::from("stale");
        f.write_into(&Meta(None, Some("x")), &mut buf).unwrap();
        assert_eq!(buf, "x");
    }
}

//! [`ListerWatcher`]: the two API calls a reflector needs (paginated list, watch from a
//! resourceVersion), their options and answers, independent of any HTTP client.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::stream::BoxStream;

use crate::error::ApiError;

/// A Kubernetes `Status` failure, as far as the reflector needs it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Status {
    /// HTTP status code (410, 429, 500, 504...).
    pub code: u16,
    /// Machine-readable reason (`Expired`, `Gone`, `TooManyRequests`, `Timeout`...).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The `details.causes[].reason` values (e.g. `ResourceVersionTooLarge`).
    pub causes: Vec<String>,
}

impl Status {
    /// A status with `code`, `reason` and `message` and no causes.
    pub fn new(code: u16, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// 410 Gone, reason `Expired`: the resourceVersion was compacted away.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// The server's answer to a resourceVersion in its future (504 with cause
    /// `ResourceVersionTooLarge`).
    pub fn too_large_resource_version(message: impl Into<String>) -> Self {
        Self {
            causes: vec!["ResourceVersionTooLarge".to_owned()],
            ..Self::new(504, "Timeout", message)
        }
    }

    /// HTTP 410 or reason `Expired`/`Gone`.
    pub fn is_expired(&self) -> bool {
        self.code == 410 || self.reason == "Expired" || self.reason == "Gone"
    }

    /// Cause `ResourceVersionTooLarge`, or an old server's timeout saying "Too large resource
    /// version".
    pub fn is_too_large_resource_version(&self) -> bool {
        self.causes.iter().any(|c| c == "ResourceVersionTooLarge")
            || (self.reason == "Timeout" && self.message.contains("Too large resource version"))
    }
}

/// Options of a list call.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ListOptions {
    /// `""` (most recent, quorum read), `"0"` (any, from the watch cache) or `N` (not older
    /// than N). Ignored by the server when `continue_token` is set (the token pins the version).
    pub resource_version: String,
    /// Page size; 0 disables paging.
    pub limit: u32,
    /// The token of the previous page, if this is a continuation.
    pub continue_token: Option<String>,
}

/// One page of a list answer.
///
/// Items are `Arc`s so that a lister-watcher given a [`CachedLookup`] can answer an unchanged
/// object with the cached `Arc` itself instead of a second copy (see
/// [`ListerWatcher::share_cached`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage<K> {
    /// The objects of this page.
    pub items: Vec<Arc<K>>,
    /// The resourceVersion of the list (of the whole list, for every page).
    pub resource_version: String,
    /// The token for the next page, `None` on the last one.
    pub continue_token: Option<String>,
}

/// Finds the cached copy of a listed object: given an object just read from a list, the `Arc`
/// the cache holds under its key if that is the same object at the same version (same uid and
/// resourceVersion), else `None`. Made by a
/// [`SharedIndexInformer`](crate::SharedIndexInformer) over its cache and handed to its
/// lister-watcher by [`ListerWatcher::share_cached`].
pub type CachedLookup<K> = Arc<dyn Fn(&K) -> Option<Arc<K>> + Send + Sync>;

/// Options of a watch call.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WatchOptions {
    /// Events strictly after this version; `""`/`"0"` start with synthetic `Added` events for
    /// every current object.
    pub resource_version: String,
    /// The server closes the watch normally after this many seconds.
    pub timeout_seconds: u32,
    /// Whether the server may send bookmarks.
    pub allow_watch_bookmarks: bool,
    /// A streaming list (KEP-3157, `sendInitialEvents=true`, RF-19): the server first sends an
    /// `Added` event for every current object, then a [`WatchEvent::Bookmark`] with
    /// `initial_events_end` set, then changes. It implies `resourceVersionMatch=NotOlderThan`:
    /// the initial state is at least as new as `resource_version` (`""`: the latest), which
    /// is then not a "strictly after" bound. Needs `allow_watch_bookmarks`. A server without
    /// streaming lists refuses it (Kubernetes: 422 Invalid) or ignores it.
    #[doc(alias = "sendInitialEvents")]
    pub send_initial_events: bool,
}

/// The annotation a server puts on the bookmark that ends the initial events of a streaming
/// list, with the value `"true"`.
pub const INITIAL_EVENTS_END_ANNOTATION: &str = "k8s.io/initial-events-end";

/// One event of a watch.
#[derive(Clone, PartialEq, Eq)]
pub enum WatchEvent<K> {
    /// The object was created (or, for a watch from `""`/`"0"`, exists).
    Added(K),
    /// The object changed.
    Modified(K),
    /// The object was deleted; its last state.
    Deleted(K),
    /// The server is at `resource_version`; no object changed.
    Bookmark {
        /// The version the watcher has now seen everything up to.
        resource_version: String,
        /// This bookmark ends the initial events of a streaming list (the server annotated it
        /// [`INITIAL_EVENTS_END_ANNOTATION`]` = "true"`, RF-21); `false` for a plain bookmark.
        initial_events_end: bool,
    },
    /// The watch failed; the stream ends after this.
    Error(Status),
}

impl<K> fmt::Debug for WatchEvent<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Added(_) => f.write_str("Added"),
            Self::Modified(_) => f.write_str("Modified"),
            Self::Deleted(_) => f.write_str("Deleted"),
            Self::Bookmark {
                resource_version,
                initial_events_end,
            } => {
                write!(f, "Bookmark({resource_version}")?;
                if *initial_events_end {
                    f.write_str(", initial events end")?;
                }
                f.write_str(")")
            }
            Self::Error(status) => write!(f, "Error({status:?})"),
        }
    }
}

/// The stream a watch answers: events until the server closes it.
pub type WatchStream<K> = BoxStream<'static, WatchEvent<K>>;

/// The list and watch calls of one resource type (client-go's `ListerWatcher`).
///
/// `KubeListerWatcher` (feature `kube`) maps these onto `Api::<K>::list` and
/// `Api::<K>::watch`; [`MemoryListerWatcher`](crate::MemoryListerWatcher) is an
/// in-memory one (an event log with compaction and injected errors) for tests and examples.
pub trait ListerWatcher<K>: Send + Sync {
    /// Lists one page.
    fn list(
        &self,
        options: &ListOptions,
    ) -> impl Future<Output = Result<ListPage<K>, ApiError>> + Send;

    /// Opens a watch.
    fn watch(
        &self,
        options: &WatchOptions,
    ) -> impl Future<Output = Result<WatchStream<K>, ApiError>> + Send;

    /// Told by a [`SharedIndexInformer`](crate::SharedIndexInformer) before it starts whether
    /// it strips managedFields from every object it caches (its default). A lister-watcher
    /// may then drop them as it reads a list, so a large list never holds them all at once;
    /// `KubeListerWatcher` does. The default ignores the hint: the informer strips anyway.
    fn strip_managed_fields_early(&mut self, strip: bool) {
        let _ = strip;
    }

    /// Told by a [`SharedIndexInformer`](crate::SharedIndexInformer) before it starts how to
    /// find the cached copy of a listed object. A lister-watcher may then answer every listed
    /// object that `lookup` finds with the cached `Arc` and drop its freshly read copy at
    /// once, so that a relist holds new memory only for what changed, not a second copy of
    /// the whole cache (GOALS I5); `KubeListerWatcher` does, item by item while it reads the
    /// answer, and so does [`MemoryListerWatcher`](crate::MemoryListerWatcher). The default
    /// ignores the hint: the listed copies are then dropped when the informer finds them
    /// unchanged, which is correct but holds both copies for a while.
    ///
    /// # Examples
    ///
    /// ```
    /// # use delta_fifo::Object;
    /// # use informer::{MemoryObject, Resource};
    /// # #[derive(Clone, Debug)]
    /// # struct Cm { name: String, rv: String }
    /// # impl Object for Cm { fn name(&self) -> Option<&str> { Some(&self.name) } }
    /// # impl Resource for Cm { fn resource_version(&self) -> Option<&str> { Some(&self.rv) } }
    /// # impl MemoryObject for Cm { fn set_resource_version(&mut self, rv: &str) { self.rv = rv.into(); } }
    /// # futures::executor::block_on(async {
    /// use std::sync::Arc;
    /// use informer::{ListOptions, ListerWatcher, MemoryListerWatcher};
    ///
    /// let mut server = MemoryListerWatcher::new();
    /// let a = server.create(Cm { name: "a".into(), rv: String::new() })?;
    /// server.create(Cm { name: "b".into(), rv: String::new() })?;
    /// // What a cache holds: `a` at the version the server has.
    /// let cached = Arc::new(a);
    /// let find = Arc::clone(&cached);
    /// server.share_cached(Arc::new(move |cm: &Cm| {
    ///     (cm.name == find.name && cm.rv == find.rv).then(|| Arc::clone(&find))
    /// }));
    /// let page = server.list(&ListOptions::default()).await?;
    /// assert!(Arc::ptr_eq(&page.items[0], &cached), "the cached object itself");
    /// assert_eq!(page.items[1].name, "b");
    /// # Ok::<(), informer::ApiError>(())
    /// # }).unwrap();
    /// ```
    fn share_cached(&mut self, lookup: CachedLookup<K>) {
        let _ = lookup;
    }
}

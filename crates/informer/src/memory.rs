//! [`MemoryListerWatcher`]: a small in-memory model of an API server's list and watch, for
//! tests and examples: an event log under one global resourceVersion, paginated lists with
//! continue tokens, watches from a version, compaction (410 Gone), bookmarks, injected faults,
//! and a record of every request.
//!
//! # Ground rules
//!
//! All state sits in one `Mutex<State<K>>` shared by the clones of a server. Every mutation,
//! the replay of history to a new watch and the registration of that watch happen under that
//! lock, so a watcher sees each event exactly once and in resourceVersion order: an event is
//! either in the replayed log or sent to the registered channel, never both nor neither. No
//! `.await` happens with the lock held.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use delta_fifo::meta_namespace_key;
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use parking_lot::Mutex;

use crate::error::ApiError;
use crate::lister_watcher::{
    CachedLookup, ListOptions, ListPage, ListerWatcher, Status, WatchEvent, WatchOptions,
    WatchStream,
};
use crate::object::Resource;

/// An object the [`MemoryListerWatcher`] can store: it stamps each write with a new
/// resourceVersion.
pub trait MemoryObject: Resource + Clone {
    /// Sets `metadata.resourceVersion`.
    fn set_resource_version(&mut self, resource_version: &str);
}

/// One request made to a [`MemoryListerWatcher`], as recorded by
/// [`requests`](MemoryListerWatcher::requests).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// A list call and its options.
    List(ListOptions),
    /// A watch call and its options.
    Watch(WatchOptions),
}

/// An in-memory API server for one resource type.
///
/// * Every [`create`](Self::create), [`update`](Self::update) and [`delete`](Self::delete)
///   bumps the global resourceVersion, stamps it on the object, appends an event to the log
///   and sends it to every open watch.
/// * [`list`](ListerWatcher::list): `""` and `"0"` answer the current state; `N` answers the
///   current state if `N` is at most the current version (a too-large version is a 504 with
///   cause `ResourceVersionTooLarge`) and still in the history (else 410 Expired). A `limit`
///   pages the answer; the continue token pins a snapshot, which expires (410) when the
///   history is compacted past it. With the watch cache on (the default), a list at `"0"`
///   ignores `limit`, like an API server answering from its watch cache.
/// * [`watch`](ListerWatcher::watch) from `""`/`"0"` first sends a synthetic `Added` event for
///   every object; from `N` it replays the logged events after `N`, then streams live ones.
///   `N` older than the history gets an `Error` event with 410 (or an open error, see
///   [`set_expired_watch_as_open_error`](Self::set_expired_watch_as_open_error)). The watch
///   timeout is recorded, not enforced: close watches with [`close_watches`](Self::close_watches).
///   [`hang_watches`](Self::hang_watches) opens watches that never deliver anything.
/// * A streaming list ([`WatchOptions::send_initial_events`], which needs bookmarks allowed)
///   from `""`/`"0"` or any `N` the server still has (`N` too large: 504, compacted: 410 as
///   above) sends an `Added` event for every current object, then a bookmark at the current
///   version with `initial_events_end` set, then live events. With
///   [`set_streaming_lists`](Self::set_streaming_lists)`(false)` it is refused with 422
///   Invalid, as by an API server whose `WatchList` feature is off.
/// * The history keeps at most [`with_history`](Self::with_history) events (default 1000);
///   [`compact`](Self::compact) drops it all.
///
/// Clones share the server.
///
/// # Examples
///
/// ```
/// use delta_fifo::Object;
/// use futures::StreamExt;
/// use informer::{
///     ListOptions, ListerWatcher, MemoryListerWatcher, MemoryObject, Resource, WatchEvent,
///     WatchOptions,
/// };
///
/// #[derive(Clone, Debug)]
/// struct Cm {
///     name: String,
///     rv: String,
/// }
/// impl Object for Cm {
///     fn name(&self) -> Option<&str> {
///         Some(&self.name)
///     }
/// }
/// impl Resource for Cm {
///     fn resource_version(&self) -> Option<&str> {
///         Some(&self.rv)
///     }
/// }
/// impl MemoryObject for Cm {
///     fn set_resource_version(&mut self, rv: &str) {
///         self.rv = rv.to_owned();
///     }
/// }
/// let cm = |name: &str| Cm { name: name.into(), rv: String::new() };
///
/// # futures::executor::block_on(async {
/// let server = MemoryListerWatcher::new();
/// server.create(cm("a"))?;
/// server.create(cm("b"))?;
/// let page = server.list(&ListOptions { limit: 1, ..Default::default() }).await?;
/// assert_eq!((page.items.len(), page.resource_version.as_str()), (1, "2"));
/// assert!(page.continue_token.is_some());
///
/// let mut watch = server
///     .watch(&WatchOptions { resource_version: "1".into(), ..Default::default() })
///     .await?;
/// assert!(matches!(watch.next().await, Some(WatchEvent::Added(c)) if c.name == "b"));
/// server.close_watches();
/// assert!(watch.next().await.is_none());
///
/// server.compact();
/// let err = server
///     .list(&ListOptions { resource_version: "1".into(), ..Default::default() })
///     .await
///     .unwrap_err();
/// assert!(err.is_expired());
/// # Ok::<(), informer::ApiError>(())
/// # }).unwrap();
/// ```
pub struct MemoryListerWatcher<K> {
    state: Arc<Mutex<State<K>>>,
    /// Set by [`ListerWatcher::share_cached`] on this handle only (clones share the server,
    /// not the hint).
    share: Option<CachedLookup<K>>,
}

/// The default number of events kept for watches to resume from.
pub const DEFAULT_HISTORY: usize = 1000;

struct State<K> {
    /// The last resourceVersion handed out (0: nothing written yet).
    rv: u64,
    /// Current objects by `namespace/name` key.
    objects: BTreeMap<String, K>,
    /// Events with versions in `(compacted, rv]`, oldest first.
    log: VecDeque<(u64, WatchEvent<K>)>,
    /// Watches may resume from any version `>= compacted`.
    compacted: u64,
    max_history: usize,
    /// Snapshots pinned by continue tokens, by resourceVersion; dropped on compaction.
    snapshots: BTreeMap<u64, Arc<Vec<K>>>,
    watchers: Vec<Watcher<K>>,
    list_faults: VecDeque<ApiError>,
    continue_faults: VecDeque<ApiError>,
    watch_faults: VecDeque<ApiError>,
    watch_event_faults: VecDeque<Status>,
    /// Watches still to open hung.
    hang_watches: usize,
    /// Watch calls still to leave unanswered.
    hang_watch_calls: usize,
    hang_lists: bool,
    watch_cache: bool,
    expired_watch_as_open_error: bool,
    streaming_lists: bool,
    requests: Vec<Request>,
}

struct Watcher<K> {
    tx: UnboundedSender<WatchEvent<K>>,
    bookmarks: bool,
    /// A hung watch: it gets no event and no bookmark, only a close.
    hung: bool,
}

impl<K> Clone for MemoryListerWatcher<K> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            share: self.share.clone(),
        }
    }
}

impl<K: MemoryObject> Default for MemoryListerWatcher<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: MemoryObject> MemoryListerWatcher<K> {
    /// An empty server at resourceVersion 0, keeping [`DEFAULT_HISTORY`] events.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                rv: 0,
                objects: BTreeMap::new(),
                log: VecDeque::new(),
                compacted: 0,
                max_history: DEFAULT_HISTORY,
                snapshots: BTreeMap::new(),
                watchers: Vec::new(),
                list_faults: VecDeque::new(),
                continue_faults: VecDeque::new(),
                watch_faults: VecDeque::new(),
                watch_event_faults: VecDeque::new(),
                hang_watches: 0,
                hang_watch_calls: 0,
                hang_lists: false,
                watch_cache: true,
                expired_watch_as_open_error: false,
                streaming_lists: true,
                requests: Vec::new(),
            })),
            share: None,
        }
    }

    /// Keeps at most `events` events of history (older ones are compacted away as new ones
    /// come in).
    pub fn with_history(self, events: usize) -> Self {
        self.state.lock().max_history = events;
        self
    }

    /// Whether a list at `"0"` is answered from a watch cache, ignoring `limit` (the default),
    /// or paginated like any other list (an API server with the watch cache disabled).
    pub fn with_watch_cache(self, enabled: bool) -> Self {
        self.state.lock().watch_cache = enabled;
        self
    }

    /// Answers a watch from a compacted version with an open error (`true`) rather than an
    /// `Error` event on an opened stream (`false`, the default).
    pub fn set_expired_watch_as_open_error(&self, open_error: bool) {
        self.state.lock().expired_watch_as_open_error = open_error;
    }

    /// Whether streaming lists (`sendInitialEvents`) are served (`true`, the default) or
    /// refused with 422 Invalid (`false`: an API server without the `WatchList` feature, to
    /// test a reflector's fallback to list and watch).
    pub fn set_streaming_lists(&self, supported: bool) {
        self.state.lock().streaming_lists = supported;
    }

    /// Stores a new object.
    ///
    /// # Errors
    ///
    /// 409 AlreadyExists if the key is taken; 400 if the object has no valid key.
    pub fn create(&self, obj: K) -> Result<K, ApiError> {
        self.write(obj, |exists| {
            (!exists)
                .then_some(())
                .ok_or_else(|| Status::new(409, "AlreadyExists", "exists"))
        })
        .map(|(obj, _)| obj)
    }

    /// Replaces a stored object.
    ///
    /// # Errors
    ///
    /// 404 NotFound if there is no object with that key; 400 if it has no valid key.
    pub fn update(&self, obj: K) -> Result<K, ApiError> {
        self.write(obj, |exists| {
            exists
                .then_some(())
                .ok_or_else(|| Status::new(404, "NotFound", "not found"))
        })
        .map(|(obj, _)| obj)
    }

    /// Creates or replaces an object.
    ///
    /// # Errors
    ///
    /// 400 if the object has no valid key.
    pub fn upsert(&self, obj: K) -> Result<K, ApiError> {
        self.write(obj, |_| Ok(())).map(|(obj, _)| obj)
    }

    fn write(
        &self,
        mut obj: K,
        check: impl FnOnce(bool) -> Result<(), Status>,
    ) -> Result<(K, u64), ApiError> {
        let key = key_of(&obj)?;
        let mut state = self.state.lock();
        let exists = state.objects.contains_key(&key);
        check(exists)?;
        let rv = state.rv + 1;
        obj.set_resource_version(&rv.to_string());
        state.objects.insert(key, obj.clone());
        let event = if exists {
            WatchEvent::Modified(obj.clone())
        } else {
            WatchEvent::Added(obj.clone())
        };
        state.record(rv, event);
        Ok((obj, rv))
    }

    /// Deletes the object with the key of `obj`; returns its last state, stamped with the
    /// deletion's resourceVersion.
    ///
    /// # Errors
    ///
    /// 404 NotFound if there is no such object; 400 if it has no valid key.
    pub fn delete(&self, obj: &K) -> Result<K, ApiError> {
        let key = key_of(obj)?;
        let mut state = self.state.lock();
        let Some(mut last) = state.objects.remove(&key) else {
            return Err(Status::new(404, "NotFound", format!("{key} not found")).into());
        };
        let rv = state.rv + 1;
        last.set_resource_version(&rv.to_string());
        state.record(rv, WatchEvent::Deleted(last.clone()));
        Ok(last)
    }

    /// The object stored under `key` (`namespace/name`).
    pub fn get(&self, key: &str) -> Option<K> {
        self.state.lock().objects.get(key).cloned()
    }

    /// Every stored object, by key.
    pub fn objects(&self) -> BTreeMap<String, K> {
        self.state.lock().objects.clone()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> String {
        self.state.lock().rv.to_string()
    }

    /// Bumps the global resourceVersion by `n` without changing any object of this type, as
    /// writes to other resources do on a real server (bookmarks then carry the new version).
    pub fn advance_resource_version(&self, n: u64) {
        self.state.lock().rv += n;
    }

    /// Drops the whole history: watches and lists from any version before the current one,
    /// and continue tokens of older lists, now get 410 Gone.
    pub fn compact(&self) {
        let mut state = self.state.lock();
        let rv = state.rv;
        state.compact_to(rv);
    }

    /// Sends a bookmark at the current version to every open watch that allows them.
    pub fn bookmark(&self) {
        let mut state = self.state.lock();
        let rv = state.rv.to_string();
        state.watchers.retain(|w| {
            !w.bookmarks
                || w.tx
                    .unbounded_send(WatchEvent::Bookmark {
                        resource_version: rv.clone(),
                        initial_events_end: false,
                    })
                    .is_ok()
        });
    }

    /// Closes every open watch normally (as a watch timeout or an API server restart does).
    pub fn close_watches(&self) {
        self.state.lock().watchers.clear();
    }

    /// Ends every open watch with an `Error` event carrying `status`.
    pub fn break_watches(&self, status: Status) {
        let watchers = std::mem::take(&mut self.state.lock().watchers);
        for w in watchers.iter().filter(|w| !w.hung) {
            let _ = w.tx.unbounded_send(WatchEvent::Error(status.clone()));
        }
    }

    /// Number of watches open (whose stream has not been dropped).
    pub fn open_watches(&self) -> usize {
        let mut state = self.state.lock();
        state.watchers.retain(|w| !w.tx.is_closed());
        state.watchers.len()
    }

    /// Fails the next `n` list calls with `error` (after the faults queued before).
    pub fn fail_lists(&self, n: usize, error: ApiError) {
        let mut state = self.state.lock();
        state.list_faults.extend(std::iter::repeat_n(error, n));
    }

    /// Fails the next `n` list calls that carry a continue token with `error` (a later page of
    /// a paginated list; other lists are not counted).
    pub fn fail_continues(&self, n: usize, error: ApiError) {
        let mut state = self.state.lock();
        state.continue_faults.extend(std::iter::repeat_n(error, n));
    }

    /// Fails the next `n` watch calls with `error` when opening (after the faults queued before).
    pub fn fail_watches(&self, n: usize, error: ApiError) {
        let mut state = self.state.lock();
        state.watch_faults.extend(std::iter::repeat_n(error, n));
    }

    /// Opens the next `n` watches as streams whose only event is an `Error` with `status`.
    pub fn fail_watch_streams(&self, n: usize, status: Status) {
        let mut state = self.state.lock();
        state
            .watch_event_faults
            .extend(std::iter::repeat_n(status, n));
    }

    /// Opens the next `n` watches hung, like a half-open connection: the call succeeds, then
    /// the stream delivers nothing at all (no event, no bookmark, no `Error`), until
    /// [`close_watches`](Self::close_watches) or [`break_watches`](Self::break_watches)
    /// ends it (the latter without its `Error` event) or the watcher drops it. A hung
    /// streaming list sends no initial events either. Counted by
    /// [`open_watches`](Self::open_watches).
    pub fn hang_watches(&self, n: usize) {
        self.state.lock().hang_watches += n;
    }

    /// The next `n` watch calls never answer (a connection that hangs before the response
    /// headers); each request is still recorded. Dropping the call's future is the only way
    /// out.
    pub fn hang_watch_calls(&self, n: usize) {
        self.state.lock().hang_watch_calls += n;
    }

    /// While set, list calls never answer (a hung connection); the request is still recorded.
    pub fn hang_lists(&self, hang: bool) {
        self.state.lock().hang_lists = hang;
    }

    /// Every request made so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().requests.clone()
    }

    /// The list requests made so far, oldest first.
    pub fn list_requests(&self) -> Vec<ListOptions> {
        self.state
            .lock()
            .requests
            .iter()
            .filter_map(|r| match r {
                Request::List(o) => Some(o.clone()),
                Request::Watch(_) => None,
            })
            .collect()
    }

    /// The watch requests made so far, oldest first.
    pub fn watch_requests(&self) -> Vec<WatchOptions> {
        self.state
            .lock()
            .requests
            .iter()
            .filter_map(|r| match r {
                Request::Watch(o) => Some(o.clone()),
                Request::List(_) => None,
            })
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state.lock().requests.clear();
    }

    fn list_now(&self, options: &ListOptions) -> Result<ListPage<K>, ApiError> {
        let mut state = self.state.lock();
        state.requests.push(Request::List(options.clone()));
        if let Some(error) = state.list_faults.pop_front() {
            return Err(error);
        }
        let (snapshot_rv, items, start) = match &options.continue_token {
            Some(token) => {
                if let Some(error) = state.continue_faults.pop_front() {
                    return Err(error);
                }
                let (rv, start) = parse_continue(token)?;
                let Some(items) = state.snapshots.get(&rv).filter(|_| rv >= state.compacted) else {
                    return Err(Status::expired(
                        "the provided continue parameter is too old; list again without it",
                    )
                    .into());
                };
                (rv, Arc::clone(items), start)
            }
            None => {
                let requested = &options.resource_version;
                if !requested.is_empty() && requested != "0" {
                    let n = parse_rv(requested)?;
                    if n > state.rv {
                        return Err(Status::too_large_resource_version(format!(
                            "Too large resource version: {n}, current: {}",
                            state.rv
                        ))
                        .into());
                    }
                    if n < state.compacted {
                        return Err(too_old(n, state.compacted).into());
                    }
                }
                let items: Vec<K> = state.objects.values().cloned().collect();
                (state.rv, Arc::new(items), 0)
            }
        };
        let unpaged = options.limit == 0
            || (state.watch_cache
                && options.continue_token.is_none()
                && options.resource_version == "0");
        let end = if unpaged {
            items.len()
        } else {
            (start + options.limit as usize).min(items.len())
        };
        let share = self.share.as_deref();
        let page: Vec<Arc<K>> = items
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|obj| {
                share
                    .and_then(|find| find(obj))
                    .unwrap_or_else(|| Arc::new(obj.clone()))
            })
            .collect();
        let continue_token = (end < items.len()).then(|| {
            state.snapshots.insert(snapshot_rv, Arc::clone(&items));
            format!("{snapshot_rv}:{end}")
        });
        Ok(ListPage {
            items: page,
            resource_version: snapshot_rv.to_string(),
            continue_token,
        })
    }

    fn watch_now(&self, options: &WatchOptions) -> Result<WatchStream<K>, ApiError> {
        let mut state = self.state.lock();
        state.requests.push(Request::Watch(options.clone()));
        if let Some(error) = state.watch_faults.pop_front() {
            return Err(error);
        }
        if let Some(status) = state.watch_event_faults.pop_front() {
            return Ok(futures::stream::iter([WatchEvent::Error(status)]).boxed());
        }
        if state.hang_watches > 0 {
            state.hang_watches -= 1;
            let (tx, rx) = unbounded();
            state.watchers.push(Watcher {
                tx,
                bookmarks: false,
                hung: true,
            });
            return Ok(rx.boxed());
        }
        if options.send_initial_events {
            if !state.streaming_lists {
                return Err(Status::new(
                    422,
                    "Invalid",
                    "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                )
                .into());
            }
            if !options.allow_watch_bookmarks {
                return Err(Status::new(
                    422,
                    "Invalid",
                    "allowWatchBookmarks must be true when sendInitialEvents is true",
                )
                .into());
            }
        }
        let (tx, rx) = unbounded();
        let requested = &options.resource_version;
        if options.send_initial_events {
            // NotOlderThan: any version the server still has (or "") gives the current state.
            if !(requested.is_empty() || requested == "0") {
                let n = parse_rv(requested)?;
                if let Some(refused) = state.refuse_watch_from(n)? {
                    return Ok(refused);
                }
            }
            for obj in state.objects.values() {
                let _ = tx.unbounded_send(WatchEvent::Added(obj.clone()));
            }
            let _ = tx.unbounded_send(WatchEvent::Bookmark {
                resource_version: state.rv.to_string(),
                initial_events_end: true,
            });
        } else if requested.is_empty() || requested == "0" {
            for obj in state.objects.values() {
                let _ = tx.unbounded_send(WatchEvent::Added(obj.clone()));
            }
        } else {
            let n = parse_rv(requested)?;
            if let Some(refused) = state.refuse_watch_from(n)? {
                return Ok(refused);
            }
            for (rv, event) in &state.log {
                if *rv > n {
                    let _ = tx.unbounded_send(event.clone());
                }
            }
        }
        state.watchers.push(Watcher {
            tx,
            bookmarks: options.allow_watch_bookmarks,
            hung: false,
        });
        Ok(rx.boxed())
    }
}

impl<K> State<K>
where
    K: Clone,
{
    /// Checks a watch from version `n` against the history, as both kinds of watch do: a
    /// version from the future is an error; one older than the history is a 410, either as an
    /// open error or as a stream of one `Error` event (`Ok(Some(_))`); `Ok(None)` lets it go on.
    fn refuse_watch_from(&self, n: u64) -> Result<Option<WatchStream<K>>, ApiError>
    where
        K: Send + 'static,
    {
        if n > self.rv {
            return Err(Status::too_large_resource_version(format!(
                "Too large resource version: {n}, current: {}",
                self.rv
            ))
            .into());
        }
        if n < self.compacted {
            let status = too_old(n, self.compacted);
            if self.expired_watch_as_open_error {
                return Err(status.into());
            }
            return Ok(Some(
                futures::stream::iter([WatchEvent::Error(status)]).boxed(),
            ));
        }
        Ok(None)
    }

    /// Logs the event of a write at `rv`, trims the history and sends it to the watches.
    fn record(&mut self, rv: u64, event: WatchEvent<K>) {
        self.rv = rv;
        self.watchers.retain(|w| {
            if w.hung {
                !w.tx.is_closed()
            } else {
                w.tx.unbounded_send(event.clone()).is_ok()
            }
        });
        self.log.push_back((rv, event));
        if self.log.len() > self.max_history {
            let drop = self.log.len() - self.max_history;
            let to = self.log.get(drop - 1).map_or(self.compacted, |(rv, _)| *rv);
            self.compact_to(to);
        }
    }

    fn compact_to(&mut self, rv: u64) {
        while self.log.front().is_some_and(|(v, _)| *v <= rv) {
            self.log.pop_front();
        }
        self.compacted = self.compacted.max(rv);
        let keep = self.snapshots.split_off(&self.compacted);
        self.snapshots = keep;
    }
}

impl<K: MemoryObject> ListerWatcher<K> for MemoryListerWatcher<K> {
    /// # Cancel safety
    ///
    /// Cancel safe; a hung list (see [`hang_lists`](MemoryListerWatcher::hang_lists)) is simply
    /// dropped.
    async fn list(&self, options: &ListOptions) -> Result<ListPage<K>, ApiError> {
        if self.state.lock().hang_lists {
            self.state
                .lock()
                .requests
                .push(Request::List(options.clone()));
            return futures::future::pending().await;
        }
        self.list_now(options)
    }

    /// Answers every listed object found by `lookup` with the cached `Arc`.
    fn share_cached(&mut self, lookup: CachedLookup<K>) {
        self.share = Some(lookup);
    }

    /// # Cancel safety
    ///
    /// Cancel safe: the watch is registered only when the call returns; a hung call (see
    /// [`hang_watch_calls`](MemoryListerWatcher::hang_watch_calls)) is simply dropped.
    async fn watch(&self, options: &WatchOptions) -> Result<WatchStream<K>, ApiError> {
        let hang = {
            let mut state = self.state.lock();
            let hang = state.hang_watch_calls > 0;
            if hang {
                state.hang_watch_calls -= 1;
                state.requests.push(Request::Watch(options.clone()));
            }
            hang
        };
        if hang {
            return futures::future::pending().await;
        }
        self.watch_now(options)
    }
}

fn key_of<K: Resource>(obj: &K) -> Result<String, ApiError> {
    meta_namespace_key(obj).map_err(|e| Status::new(400, "BadRequest", e.to_string()).into())
}

fn parse_rv(rv: &str) -> Result<u64, ApiError> {
    rv.parse().map_err(|_| {
        Status::new(400, "BadRequest", format!("invalid resourceVersion {rv:?}")).into()
    })
}

fn parse_continue(token: &str) -> Result<(u64, usize), ApiError> {
    let bad = || ApiError::from(Status::new(400, "BadRequest", "invalid continue token"));
    let (rv, start) = token.split_once(':').ok_or_else(bad)?;
    Ok((
        rv.parse().map_err(|_| bad())?,
        start.parse().map_err(|_| bad())?,
    ))
}

fn too_old(requested: u64, oldest: u64) -> Status {
    Status::expired(format!("too old resource version: {requested} ({oldest})"))
}

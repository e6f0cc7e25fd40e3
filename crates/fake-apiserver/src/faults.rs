//! Fault injection: the [`Faults`] control handle.
//!
//! # Ground rules
//!
//! * `rules` (a `parking_lot::Mutex`) holds the failure rules in the order they were added; a
//!   request consumes one use of the first rule that matches it.
//! * `latency` and `hang_watches` are plain atomics: they are read once per request.
//! * `closer` is a `tokio::sync::watch` channel every open watch listens to: each send is a new
//!   "epoch" that ends every watch opened before it, optionally after an `ERROR` event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::status::ApiError;
use crate::store::Store;

/// The request header that names a client for [`FaultRule::client`]; clients from
/// [`ServerHandle::named_client`](crate::ServerHandle::named_client) send it.
pub const CLIENT_HEADER: &str = "x-fake-apiserver-client";

/// A request kind, as the API server's authorizer names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
}

/// A failure rule: which requests fail, how often, and with what.
///
/// # Examples
///
/// ```
/// use fake_apiserver::{FaultRule, Verb};
///
/// // The next two list calls on pods answer 429 with `Retry-After: 1`.
/// let rule = FaultRule::status(429).verb(Verb::List).resource("pods").times(2).retry_after(1);
/// # let _ = rule;
/// ```
#[derive(Debug, Clone)]
pub struct FaultRule {
    error: ApiError,
    verb: Option<Verb>,
    resource: Option<String>,
    client: Option<String>,
    remaining: Option<u64>,
}

impl FaultRule {
    /// Fail matching requests with `code` (and the usual reason for it), once unless [`Self::times`]
    /// says otherwise.
    pub fn status(code: u16) -> Self {
        Self::error(ApiError::for_code(code, format!("injected fault: {code}")))
    }

    /// Fail matching requests with this exact error.
    pub fn error(error: ApiError) -> Self {
        Self {
            error,
            verb: None,
            resource: None,
            client: None,
            remaining: Some(1),
        }
    }

    /// Only requests with this verb.
    #[must_use]
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verb = Some(verb);
        self
    }

    /// Only requests for this resource (plural name, e.g. `pods`).
    #[must_use]
    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.to_owned());
        self
    }

    /// Only requests whose [`CLIENT_HEADER`] is `name`: the requests of one client, as when that
    /// client alone is cut off from the server (a network partition). Requests without the
    /// header never match.
    ///
    /// # Examples
    ///
    /// ```
    /// use fake_apiserver::FaultRule;
    ///
    /// // Every request of the client named "replica-a" fails with 503 until cleared.
    /// let rule = FaultRule::status(503).client("replica-a").always();
    /// # let _ = rule;
    /// ```
    #[must_use]
    pub fn client(mut self, name: &str) -> Self {
        self.client = Some(name.to_owned());
        self
    }

    /// Fail the next `n` matching requests.
    #[must_use]
    pub fn times(mut self, n: u64) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Fail every matching request until [`Faults::clear`].
    #[must_use]
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    /// Add `Retry-After` (and `details.retryAfterSeconds`) to the answer.
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        let mut details = self
            .error
            .details
            .take()
            .unwrap_or_else(|| serde_json::json!({}));
        details["retryAfterSeconds"] = serde_json::Value::from(seconds);
        self.error.details = Some(details);
        self
    }

    fn matches(&self, verb: Verb, resource: &str, client: Option<&str>) -> bool {
        self.verb.is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && self.client.as_deref().is_none_or(|c| Some(c) == client)
    }
}

/// What open watches are told when they are closed.
#[derive(Debug, Clone, Default)]
pub(crate) struct CloseSignal {
    pub(crate) epoch: u64,
    /// Sent as an `ERROR` event before closing, if set.
    pub(crate) error: Option<ApiError>,
}

#[derive(Debug)]
pub(crate) struct FaultState {
    rules: Mutex<Vec<FaultRule>>,
    latency_us: AtomicU64,
    hang_watches: AtomicU32,
    pub(crate) closer: tokio::sync::watch::Sender<CloseSignal>,
    store: Arc<Store>,
}

impl FaultState {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self {
            rules: Mutex::new(Vec::new()),
            latency_us: AtomicU64::new(0),
            hang_watches: AtomicU32::new(0),
            closer: tokio::sync::watch::channel(CloseSignal::default()).0,
            store,
        }
    }

    /// The injected error for this request, if a rule matches (consuming one use). `client` is
    /// the request's [`CLIENT_HEADER`], if any.
    pub(crate) fn check(
        &self,
        verb: Verb,
        resource: &str,
        client: Option<&str>,
    ) -> Option<ApiError> {
        let mut rules = self.rules.lock();
        let i = rules
            .iter()
            .position(|r| r.matches(verb, resource, client))?;
        let error = rules[i].error.clone();
        match &mut rules[i].remaining {
            Some(n) if *n <= 1 => {
                rules.remove(i);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(error)
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }

    /// Whether this new watch should hang (consumes one).
    pub(crate) fn take_hang(&self) -> bool {
        self.hang_watches
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn close_watches(&self, error: Option<ApiError>) {
        self.closer.send_modify(|s| {
            s.epoch += 1;
            s.error = error;
        });
    }
}

/// Control handle for fault injection; cheap to clone, usable from any thread or task.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), fake_apiserver::Error> {
/// use fake_apiserver::{FakeApiServer, FaultRule};
///
/// let server = FakeApiServer::builder().start().await?;
/// let faults = server.faults();
/// faults.fail(FaultRule::status(503).times(3));
/// faults.close_watches();
/// let rv = faults.compact();
/// assert!(rv > 0);
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) state: Arc<FaultState>,
}

impl Faults {
    /// Add a failure rule. Rules are tried in the order they were added.
    pub fn fail(&self, rule: FaultRule) {
        self.state.rules.lock().push(rule);
    }

    /// Fail the next `n` requests, whatever they are, with `code`.
    pub fn fail_next(&self, n: u64, code: u16) {
        self.fail(FaultRule::status(code).times(n));
    }

    /// Remove every failure rule, the latency and pending hangs.
    pub fn clear(&self) {
        self.state.rules.lock().clear();
        self.state.latency_us.store(0, Ordering::Relaxed);
        self.state.hang_watches.store(0, Ordering::Relaxed);
    }

    /// Delay every request by `latency` before it is served (watches: before the first byte).
    pub fn set_latency(&self, latency: Duration) {
        self.state.latency_us.store(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The next `n` watch requests get their response headers and then nothing at all (no events,
    /// no bookmarks) until they are closed by the client, [`Self::close_watches`] or shutdown.
    pub fn hang_next_watches(&self, n: u32) {
        self.state.hang_watches.fetch_add(n, Ordering::AcqRel);
    }

    /// End every open watch normally (the stream just ends), as when an API server restarts.
    pub fn close_watches(&self) {
        self.state.close_watches(None);
    }

    /// Send an `ERROR` event carrying `error` to every open watch, then end them.
    #[doc(alias = "watch_error")]
    pub fn fail_watches(&self, error: ApiError) {
        self.state.close_watches(Some(error));
    }

    /// Forget the history up to now (etcd compaction): watches and exact reads from any older
    /// resourceVersion get 410 Expired. Returns the compaction resourceVersion.
    pub fn compact(&self) -> u64 {
        self.state.store.compact()
    }

    /// As after an etcd restore: every watch is closed, the history is gone and the global
    /// resourceVersion jumps ahead by `bump`. Objects are kept. Returns the new resourceVersion.
    pub fn restart_with_new_history(&self, bump: u64) -> u64 {
        self.close_watches();
        self.state.store.restore(bump)
    }
}

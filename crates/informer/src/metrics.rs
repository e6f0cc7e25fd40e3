//! Informer metrics: the [`MetricsProvider`] trait, the six metrics of one informer
//! ([`InformerMetrics`]), the no-op default, and the recorder the reflector feeds (spec
//! section 6, pain points 1, 3 and 9: backlogs, relist storms and watch ends must be
//! visible).
//!
//! | metric | type | Prometheus name | recorded |
//! |---|---|---|---|
//! | [`lists`](InformerMetrics::lists) | counter | `informer_lists_total` | every list or streaming list that ended, failed ones included |
//! | [`relists`](InformerMetrics::relists) | counter | `informer_relists_total` | successful lists after the first (the cache was replaced again) |
//! | [`watch_restarts`](InformerMetrics::watch_restarts) | counter by `cause` | `informer_watch_restarts_total` | every end of a watch but a stop, by [`WatchEndCause`] |
//! | [`events`](InformerMetrics::events) | counter by `type` | `informer_events_total` | watch events received: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR` |
//! | [`pending`](InformerMetrics::pending) | gauge by `handler` | `informer_pending_notifications` | notifications waiting in each handler's buffer |
//! | [`last_sync_resource_version`](InformerMetrics::last_sync_resource_version) | gauge | `informer_last_sync_resource_version` | the last synced resourceVersion, when it is a number |
//!
//! Labelled metrics are families ([`CounterFamily`], [`GaugeFamily`]): the recorder asks for
//! each child once (every cause and event type when the informer is built, a handler's gauge
//! when it registers), so recording is one virtual call, with no label lookup.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::reflector::{Call, Next, ReflectorError, Termination};

/// A monotonically increasing count.
pub trait Counter: Send + Sync {
    /// Adds one.
    fn inc(&self);
}

/// A value that is set.
pub trait Gauge: Send + Sync {
    /// Sets the value.
    fn set(&self, value: f64);
}

/// Counters told apart by one label.
pub trait CounterFamily: Send + Sync {
    /// The counter whose label is `value`.
    fn with_label(&self, value: &str) -> Box<dyn Counter>;
}

/// Gauges told apart by one label.
pub trait GaugeFamily: Send + Sync {
    /// The gauge whose label is `value`.
    fn with_label(&self, value: &str) -> Box<dyn Gauge>;
}

/// The metrics of one named informer.
#[allow(missing_debug_implementations, reason = "trait objects without Debug")]
pub struct InformerMetrics {
    /// Lists and streaming lists that ended, failed ones included.
    pub lists: Box<dyn Counter>,
    /// Successful lists after the first one: how often the cache was replaced again.
    pub relists: Box<dyn Counter>,
    /// Ends of a watch (not counting a stop), labelled with [`WatchEndCause::as_str`].
    pub watch_restarts: Box<dyn CounterFamily>,
    /// Watch events received (streaming-list events included), labelled `ADDED`, `MODIFIED`,
    /// `DELETED`, `BOOKMARK` or `ERROR`.
    pub events: Box<dyn CounterFamily>,
    /// Notifications waiting in a handler's buffer, labelled with the handler's name.
    pub pending: Box<dyn GaugeFamily>,
    /// The last synced resourceVersion, when the server's versions are numbers (opaque ones
    /// leave it alone).
    pub last_sync_resource_version: Box<dyn Gauge>,
}

/// Makes the metrics of a named informer: implement it to send them anywhere.
///
/// # Examples
///
/// A provider that counts lists in an atomic:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use informer::metrics::{
///     Counter, CounterFamily, Gauge, GaugeFamily, InformerMetrics, MetricsError,
///     MetricsProvider,
/// };
///
/// #[derive(Debug, Default)]
/// struct Lists(Arc<AtomicU64>);
/// struct Count(Arc<AtomicU64>);
/// struct Nothing;
/// impl Counter for Count { fn inc(&self) { self.0.fetch_add(1, Ordering::Relaxed); } }
/// impl Counter for Nothing { fn inc(&self) {} }
/// impl Gauge for Nothing { fn set(&self, _: f64) {} }
/// impl CounterFamily for Nothing { fn with_label(&self, _: &str) -> Box<dyn Counter> { Box::new(Nothing) } }
/// impl GaugeFamily for Nothing { fn with_label(&self, _: &str) -> Box<dyn Gauge> { Box::new(Nothing) } }
///
/// impl MetricsProvider for Lists {
///     fn informer_metrics(&self, _name: &str) -> Result<Option<InformerMetrics>, MetricsError> {
///         Ok(Some(InformerMetrics {
///             lists: Box::new(Count(Arc::clone(&self.0))),
///             relists: Box::new(Nothing),
///             watch_restarts: Box::new(Nothing),
///             events: Box::new(Nothing),
///             pending: Box::new(Nothing),
///             last_sync_resource_version: Box::new(Nothing),
///         }))
///     }
/// }
/// let provider = Lists::default();
/// assert!(provider.informer_metrics("pods")?.is_some());
/// # Ok::<(), MetricsError>(())
/// ```
///
/// Give it to an informer with
/// [`SharedIndexInformerBuilder::metrics_provider`](crate::SharedIndexInformerBuilder::metrics_provider).
pub trait MetricsProvider: Send + Sync + fmt::Debug {
    /// The metrics of the informer called `name`; `Ok(None)` records nothing.
    ///
    /// # Errors
    ///
    /// Whatever stops the provider from making them, such as [`MetricsError::DuplicateName`].
    fn informer_metrics(&self, name: &str) -> Result<Option<InformerMetrics>, MetricsError>;
}

/// The default provider: records nothing, costs nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopMetricsProvider;

impl MetricsProvider for NoopMetricsProvider {
    fn informer_metrics(&self, _name: &str) -> Result<Option<InformerMetrics>, MetricsError> {
        Ok(None)
    }
}

/// Why a provider could not make an informer's metrics.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// Another informer already records under this name in the same provider: their series
    /// would mix.
    #[error("an informer named `{name}` already has metrics in this provider")]
    DuplicateName {
        /// The informer's name.
        name: String,
    },
    /// The metrics backend refused to register a metric.
    #[error("could not register the informer metrics")]
    Register {
        /// What the backend said.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

/// Why a watch ended (the `cause` label of
/// [`watch_restarts`](InformerMetrics::watch_restarts)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatchEndCause {
    /// The server closed it normally (a timeout, a restart); re-watched without a relist.
    Closed,
    /// It closed within a second without an event (RF-15).
    VeryShort,
    /// It stayed silent past the idle timeout and was abandoned as hung
    /// ([`ReflectorError::WatchIdle`]); re-watched without a relist.
    Idle,
    /// 410 Gone / `Expired`, or a too-large resourceVersion: a relist follows.
    Expired,
    /// 429 Too Many Requests: re-watched after a backoff.
    TooManyRequests,
    /// 500 Internal Server Error.
    InternalError,
    /// The connection was refused.
    ConnectionRefused,
    /// Any other error, or the FIFO refused an event batch.
    Error,
}

impl WatchEndCause {
    /// Every cause, in label order.
    pub const ALL: [Self; 8] = [
        Self::Closed,
        Self::VeryShort,
        Self::Idle,
        Self::Expired,
        Self::TooManyRequests,
        Self::InternalError,
        Self::ConnectionRefused,
        Self::Error,
    ];

    /// The label value: `closed`, `very_short`, `idle`, `expired`, `too_many_requests`,
    /// `internal_error`, `connection_refused` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::VeryShort => "very_short",
            Self::Idle => "idle",
            Self::Expired => "expired",
            Self::TooManyRequests => "too_many_requests",
            Self::InternalError => "internal_error",
            Self::ConnectionRefused => "connection_refused",
            Self::Error => "error",
        }
    }

    /// The cause of a watch that ended with `error` (`None`: a normal close).
    pub fn of(error: Option<&ReflectorError>) -> Self {
        let Some(error) = error else {
            return Self::Closed;
        };
        match error {
            ReflectorError::VeryShortWatch { .. } => return Self::VeryShort,
            ReflectorError::WatchIdle { .. } => return Self::Idle,
            _ => {}
        }
        match error.api_error() {
            Some(e) if e.is_expired() || e.is_too_large_resource_version() => Self::Expired,
            Some(e) if e.is_too_many_requests() => Self::TooManyRequests,
            Some(e) if e.is_internal() => Self::InternalError,
            Some(e) if e.is_connection_refused() => Self::ConnectionRefused,
            _ => Self::Error,
        }
    }
}

impl fmt::Display for WatchEndCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event types, in the order of [`Recorder::events`].
const EVENT_TYPES: [&str; 5] = ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"];

/// An event type's index in [`EVENT_TYPES`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum EventType {
    Added = 0,
    Modified = 1,
    Deleted = 2,
    Bookmark = 3,
    Error = 4,
}

/// The reflector's side of the metrics: every child made once, when the informer is built.
pub(crate) struct Recorder {
    lists: Box<dyn Counter>,
    relists: Box<dyn Counter>,
    restarts: Vec<Box<dyn Counter>>,
    events: Vec<Box<dyn Counter>>,
    last_sync_resource_version: Box<dyn Gauge>,
    pending: Box<dyn GaugeFamily>,
    /// Whether a list has succeeded yet (the next success is a relist).
    listed: AtomicBool,
}

impl Recorder {
    pub(crate) fn new(metrics: InformerMetrics) -> Self {
        Self {
            restarts: WatchEndCause::ALL
                .iter()
                .map(|c| metrics.watch_restarts.with_label(c.as_str()))
                .collect(),
            events: EVENT_TYPES
                .iter()
                .map(|t| metrics.events.with_label(t))
                .collect(),
            lists: metrics.lists,
            relists: metrics.relists,
            last_sync_resource_version: metrics.last_sync_resource_version,
            pending: metrics.pending,
            listed: AtomicBool::new(false),
        }
    }

    /// Counts a list's or a watch's end.
    pub(crate) fn termination(&self, end: &Termination) {
        if end.next == Next::Stop {
            return;
        }
        match end.call {
            Call::List | Call::WatchList => {
                self.lists.inc();
                if end.error.is_none() && self.listed.swap(true, Ordering::Relaxed) {
                    self.relists.inc();
                }
            }
            Call::Watch => {
                let cause = WatchEndCause::of(end.error.as_ref());
                let i = WatchEndCause::ALL
                    .iter()
                    .position(|c| *c == cause)
                    .unwrap_or(WatchEndCause::ALL.len() - 1);
                self.restarts[i].inc();
            }
        }
    }

    pub(crate) fn event(&self, kind: EventType) {
        self.events[kind as usize].inc();
    }

    pub(crate) fn last_sync_resource_version(&self, rv: &str) {
        if let Ok(n) = rv.parse::<u64>() {
            // Exact up to 2^53, far beyond any real resourceVersion.
            #[allow(clippy::cast_precision_loss, reason = "a gauge is an f64")]
            self.last_sync_resource_version.set(n as f64);
        }
    }

    /// The pending gauge of the handler called `name`.
    pub(crate) fn pending_gauge(&self, name: &str) -> Box<dyn Gauge> {
        self.pending.with_label(name)
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

/// The recorder for the informer called `name`, if `provider` makes metrics for it.
pub(crate) fn resolve(
    provider: &dyn MetricsProvider,
    name: &str,
) -> Result<Option<Arc<Recorder>>, MetricsError> {
    Ok(provider
        .informer_metrics(name)?
        .map(|m| Arc::new(Recorder::new(m))))
}

//! [`Reflector`]: lists and watches through a [`ListerWatcher`] and feeds a
//! [`DeltaFifo`] (spec section 3, RF-1..RF-23): the run loop with backoff, the choice of list
//! version and page size, re-watching without relisting, error classification, the resync
//! timer, cancellation, and the optional streaming initial list (`sendInitialEvents`).
//!
//! # Ground rules
//!
//! The run loop owns its working state (backoff, retry budget, "version unavailable" and
//! "paginated" marks) in a local [`RunState`]; nothing else touches it. The only state shared
//! with other threads is the last synced resourceVersion (a `Mutex<String>`, written by the
//! run loop only, read by [`Reflector::last_sync_resource_version`]; it is not synchronised
//! with the FIFO's content) and the `running` flag, which makes a second concurrent
//! [`run`](Reflector::run) fail instead of interleaving with the first.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use delta_fifo::DeltaFifo;
use futures::StreamExt;
use futures::future::{Either, select};
use parking_lot::Mutex;
use timer_wheel::{Driver, SharedClock, Timer};
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::error::ApiError;
use crate::lister_watcher::{
    CachedLookup, ListOptions, ListerWatcher, WatchEvent, WatchOptions, WatchStream,
};
use crate::metrics::{EventType, InformerMetrics, Recorder, WatchEndCause};
use crate::object::{Resource, version_of};

/// Page size of a paginated list (client-go's pager default).
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Shortest watch timeout asked for: a watch lives 5 to 10 minutes, so that reconnects of many
/// clients spread out instead of arriving together (RF-11).
pub const MIN_WATCH_TIMEOUT: Duration = Duration::from_secs(300);
/// A watch that closes sooner than this without delivering an event is an error (RF-15): the
/// server is likely refusing it, and re-opening at once would spin.
pub const VERY_SHORT_WATCH: Duration = Duration::from_secs(1);
/// A gap this long between two internal errors (500) restarts the retry budget (RF-16).
pub const INTERNAL_ERROR_RESET: Duration = Duration::from_secs(60);
/// While a streaming list waits for its initial-events-end bookmark, a warning saying how long
/// since the last event is logged this often (RF-23).
pub const INITIAL_EVENTS_WARNING_PERIOD: Duration = Duration::from_secs(10);
/// What the default watch idle timeout adds to the watch's own `timeoutSeconds` (see
/// [`ReflectorBuilder::watch_idle_timeout`]): room for the server's close to arrive late.
pub const WATCH_IDLE_GRACE: Duration = Duration::from_secs(30);

/// Why a list or watch ended badly.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReflectorError {
    /// A list call failed.
    #[error("{name}: list at resourceVersion {resource_version:?} failed")]
    List {
        /// The reflector's name.
        name: String,
        /// The version the list asked for.
        resource_version: String,
        /// The server's answer.
        #[source]
        source: ApiError,
    },
    /// Opening a watch failed.
    #[error("{name}: opening a watch at resourceVersion {resource_version:?} failed")]
    WatchOpen {
        /// The reflector's name.
        name: String,
        /// The version the watch asked for.
        resource_version: String,
        /// The server's answer.
        #[source]
        source: ApiError,
    },
    /// An open watch ended with an `Error` event.
    #[error("{name}: the watch ended with an error at resourceVersion {resource_version:?}")]
    WatchStream {
        /// The reflector's name.
        name: String,
        /// The last synced version when it ended.
        resource_version: String,
        /// The status of the `Error` event.
        #[source]
        source: ApiError,
    },
    /// The watch closed within [`VERY_SHORT_WATCH`] without any event (RF-15).
    #[error(
        "{name}: very short watch at resourceVersion {resource_version:?}: closed after {lasted:?} with no event"
    )]
    VeryShortWatch {
        /// The reflector's name.
        name: String,
        /// The version the watch was opened at.
        resource_version: String,
        /// How long it lasted.
        lasted: Duration,
    },
    /// No event and no bookmark arrived on an open watch for the idle timeout (see
    /// [`ReflectorBuilder::watch_idle_timeout`]): the connection is taken for half-open and
    /// the watch is abandoned. A watch is re-opened at once from the last synced version,
    /// without a relist; a streaming list falls back to list and watch.
    #[error(
        "{name}: no event or bookmark for {idle:?} on the watch at resourceVersion {resource_version:?} (after {events} events): abandoned as hung"
    )]
    WatchIdle {
        /// The reflector's name.
        name: String,
        /// The last synced version when it was abandoned (for a streaming list, the version
        /// it asked for).
        resource_version: String,
        /// How long it stayed silent.
        idle: Duration,
        /// How many events it had delivered.
        events: u64,
    },
    /// A streaming list's watch closed before its initial-events-end bookmark (RF-21); the
    /// reflector falls back to list and watch (RF-3).
    #[error(
        "{name}: the streaming list at resourceVersion {resource_version:?} closed after {events} events without the initial-events-end bookmark"
    )]
    WatchListIncomplete {
        /// The reflector's name.
        name: String,
        /// The version the streaming list asked for.
        resource_version: String,
        /// How many events it delivered.
        events: u64,
    },
    /// The FIFO refused a listed batch (`replace`).
    #[error("{name}: the FIFO refused the list at resourceVersion {resource_version:?}")]
    Store {
        /// The reflector's name.
        name: String,
        /// The version of the list.
        resource_version: String,
        /// What the FIFO said.
        #[source]
        source: Arc<delta_fifo::Error>,
    },
    /// [`run`](Reflector::run) was called while another run of the same reflector is going on.
    #[error("{name}: the reflector is already running")]
    AlreadyRunning {
        /// The reflector's name.
        name: String,
    },
    /// The timer driver shut down; the reflector cannot wait any more and stops.
    #[error("{name}: the timer driver shut down")]
    DriverShutdown {
        /// The reflector's name.
        name: String,
    },
}

impl ReflectorError {
    /// The API error behind this one, if any.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::List { source, .. }
            | Self::WatchOpen { source, .. }
            | Self::WatchStream { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Which call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// A (possibly paginated) list.
    List,
    /// A watch: opening it or streaming from it.
    Watch,
    /// A streaming list (RF-19..RF-22): a watch with `sendInitialEvents`, until the FIFO holds
    /// its initial events. The same stream then goes on as a [`Call::Watch`].
    WatchList,
}

/// What the reflector does after a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// The list succeeded: watch from its version. After a streaming list, the watch goes on
    /// on the same stream (RF-21).
    Watch,
    /// Re-open the watch from the last synced version at once (RF-15, RF-16 internal error
    /// within budget).
    Rewatch,
    /// Wait one backoff step, then re-open the watch from the same version (RF-12, RF-16 429).
    RewatchAfterBackoff,
    /// List again at once with version `""` (RF-9).
    RelistAtLatest,
    /// Wait one backoff step, then list again (RF-1; with streaming lists on, a streaming
    /// list again, RF-22).
    RelistAfterBackoff,
    /// A streaming list failed in a way that is not worth retrying: do a plain list at once
    /// (RF-3, RF-22).
    FallBackToList,
    /// The reflector was stopped (RF-17).
    Stop,
}

/// One end of a list or watch, as reported to the hook set with
/// [`ReflectorBuilder::on_termination`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Termination {
    /// The call that ended.
    pub call: Call,
    /// For a list or a streaming list, the version asked for; for a watch, the last synced
    /// version when it ended.
    pub resource_version: String,
    /// Why it ended badly; `None` for a successful list, a normal watch close or a stop.
    pub error: Option<ReflectorError>,
    /// What the reflector does next.
    pub next: Next,
}

impl Termination {
    /// For the end of a watch ([`Call::Watch`], not a stop), why it ended: the `cause` label
    /// of the [`watch_restarts`](crate::metrics::InformerMetrics::watch_restarts) metric.
    pub fn watch_end_cause(&self) -> Option<WatchEndCause> {
        (self.call == Call::Watch && self.next != Next::Stop)
            .then(|| WatchEndCause::of(self.error.as_ref()))
    }
}

type Hook = Arc<dyn Fn(&Termination) + Send + Sync>;
type ShouldResync = Arc<dyn Fn() -> bool + Send + Sync>;

/// Configures a [`Reflector`]; made by [`Reflector::builder`].
pub struct ReflectorBuilder<K, L> {
    lister_watcher: L,
    fifo: Arc<DeltaFifo<K>>,
    driver: Driver,
    name: String,
    page_size: Option<u32>,
    resync_period: Duration,
    should_resync: Option<ShouldResync>,
    max_internal_error_retry: Duration,
    hook: Option<Hook>,
    seed: Option<u64>,
    streaming_list: bool,
    idle_timeout: Option<Duration>,
    metrics: Option<Arc<Recorder>>,
    share: Option<CachedLookup<K>>,
}

impl<K, L> ReflectorBuilder<K, L> {
    /// The name used in errors and logs (default `"reflector"`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Always lists with this page size (client-go's `WatchListPageSize`); otherwise RF-7
    /// decides.
    #[doc(alias = "WatchListPageSize")]
    pub fn page_size(mut self, limit: u32) -> Self {
        self.page_size = Some(limit);
        self
    }

    /// Every `period` (zero: never), while watching, calls `should_resync` and, if it returns
    /// true, [`DeltaFifo::resync`] (RF-18). An informer passes its processor's
    /// [`should_resync`](crate::SharedProcessor::should_resync) and
    /// [`resync_check_period`](crate::SharedProcessor::resync_check_period).
    pub fn resync(
        mut self,
        period: Duration,
        should_resync: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        self.resync_period = period;
        self.should_resync = Some(Arc::new(should_resync));
        self
    }

    /// How long internal errors (500) ending a watch are answered by re-watching at once,
    /// counted from the first of a burst (RF-16; client-go's `MaxInternalErrorRetryDuration`).
    /// Zero, the default, relists on the first one.
    #[doc(alias = "MaxInternalErrorRetryDuration")]
    pub fn max_internal_error_retry_duration(mut self, budget: Duration) -> Self {
        self.max_internal_error_retry = budget;
        self
    }

    /// Calls `hook` at every end of a list or watch (RF-1; flywheel reports every end, not only
    /// list errors). It runs on the reflector's task: keep it short.
    #[doc(alias = "WatchErrorHandler")]
    pub fn on_termination(mut self, hook: impl Fn(&Termination) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Seeds the random backoff jitter and watch timeouts (for tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Whether each (re)list is first tried as a streaming list (client-go's `WatchListClient`
    /// gate, KEP-3157; default off, as in client-go before 1.35).
    ///
    /// When on, instead of a list the reflector opens one watch with `sendInitialEvents=true`,
    /// `resourceVersionMatch=NotOlderThan` and bookmarks, from the last synced version (`""`
    /// at first or after an expired/too-large answer) (RF-19). Its events go into a temporary
    /// map (RF-20) until the bookmark flagged `initial_events_end`; then the FIFO is replaced
    /// with them at the bookmark's version and the same stream goes on as the watch (RF-21).
    ///
    /// What ends a streaming list before that bookmark decides what follows (RF-22), each
    /// reported to the [termination hook](Self::on_termination) as a [`Call::WatchList`]:
    ///
    /// * connection refused or 429 (opening or as an `Error` event): back off, then try the
    ///   streaming list again ([`Next::RelistAfterBackoff`]);
    /// * expired (410) or too-large version: retry at once from `""`
    ///   ([`Next::RelistAtLatest`]); a second one in a row backs off instead;
    /// * anything else falls back to a plain list and watch at once
    ///   ([`Next::FallBackToList`]): any other open error (a server without streaming lists
    ///   answers 422 Invalid, an older one 400), any other `Error` event, or the stream
    ///   closing before the bookmark ([`ReflectorError::WatchListIncomplete`], which covers a
    ///   server ignoring `sendInitialEvents`). The fallback is per attempt: the next relist
    ///   tries streaming again.
    ///
    /// While waiting for the bookmark, a warning is logged every
    /// [`INITIAL_EVENTS_WARNING_PERIOD`] (RF-23). The resync timer starts once the initial
    /// events are in the FIFO.
    #[doc(alias = "WatchListClient")]
    #[doc(alias = "sendInitialEvents")]
    pub fn streaming_list(mut self, enabled: bool) -> Self {
        self.streaming_list = enabled;
        self
    }

    /// How long an open watch may stay silent (no event, no bookmark) before it is taken for a
    /// hung, half-open connection and abandoned ([`ReflectorError::WatchIdle`], metric cause
    /// [`idle`](WatchEndCause::Idle)); then the watch is re-opened at once from the last
    /// synced version, without a relist. A streaming list silent that long before its
    /// initial-events-end bookmark falls back to list and watch (RF-22's "any other" error).
    /// `Duration::ZERO` turns the check off. The silence is measured on the driver's clock,
    /// from the watch request, so a call that never answers is caught the same way.
    ///
    /// Default: the watch's own `timeoutSeconds` (random in 5 to 10 minutes, RF-11) plus
    /// [`WATCH_IDLE_GRACE`]. A healthy server ends every watch by its `timeoutSeconds` even
    /// when the resource is quiet and it sends no bookmarks at all (etcd without the watch
    /// cache sends none; the watch cache sends one about every minute, older servers only
    /// just before the timeout), so the default never abandons a healthy watch, and a hung
    /// one is noticed within 5.5 to 10.5 minutes of its last event. Against a server known to
    /// send bookmarks every minute, a fixed value a little above that interval (say 90 s)
    /// notices a hang sooner.
    ///
    /// # Examples
    ///
    /// A watch that hangs is abandoned after 90 s of silence on a fake clock, and re-opened
    /// from the same version:
    ///
    /// ```
    /// # use delta_fifo::Object;
    /// # use informer::{MemoryObject, Resource};
    /// # #[derive(Clone, Debug)]
    /// # struct Cm { name: String, rv: String }
    /// # impl Object for Cm { fn name(&self) -> Option<&str> { Some(&self.name) } }
    /// # impl Resource for Cm { fn resource_version(&self) -> Option<&str> { Some(&self.rv) } }
    /// # impl MemoryObject for Cm { fn set_resource_version(&mut self, rv: &str) { self.rv = rv.into(); } }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use delta_fifo::DeltaFifo;
    /// use informer::{MemoryListerWatcher, Reflector, ReflectorError, Termination};
    /// use timer_wheel::{Driver, FakeClock};
    ///
    /// let server = MemoryListerWatcher::new();
    /// server.create(Cm { name: "a".into(), rv: String::new() })?;
    /// server.hang_watches(1);
    /// let clock = FakeClock::new();
    /// let driver = Driver::builder().clock(clock.clone()).manual()?;
    /// let idle = Arc::new(Mutex::new(Vec::new()));
    /// let seen = Arc::clone(&idle);
    /// let fifo = Arc::new(DeltaFifo::new());
    /// let reflector = Reflector::builder(server.clone(), fifo, driver.clone())
    ///     .watch_idle_timeout(Duration::from_secs(90))
    ///     .on_termination(move |end: &Termination| {
    ///         if matches!(end.error, Some(ReflectorError::WatchIdle { .. })) {
    ///             seen.lock().unwrap().push(end.resource_version.clone());
    ///         }
    ///     })
    ///     .build();
    /// reflector
    ///     .run(async {
    ///         // Let the reflector list and open the hung watch, then move time past the limit.
    ///         for _ in 0..100 {
    ///             tokio::task::yield_now().await;
    ///         }
    ///         clock.advance(Duration::from_secs(91));
    ///         driver.turn();
    ///         for _ in 0..100 {
    ///             tokio::task::yield_now().await;
    ///         }
    ///     })
    ///     .await?;
    /// assert_eq!(*idle.lock().unwrap(), ["1"]);
    /// assert_eq!(server.watch_requests().len(), 2, "re-opened");
    /// # Ok(())
    /// # }
    /// ```
    #[doc(alias = "idle_timeout")]
    pub fn watch_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Records lists, relists, watch ends by cause, events by type and the last synced
    /// version into `metrics` (see [`metrics`](crate::metrics); its `pending` family is
    /// unused here: handlers belong to an informer).
    pub fn metrics(mut self, metrics: InformerMetrics) -> Self {
        self.metrics = Some(Arc::new(Recorder::new(metrics)));
        self
    }

    /// As [`metrics`](Self::metrics), sharing the informer's recorder.
    pub(crate) fn recorder(mut self, recorder: Option<Arc<Recorder>>) -> Self {
        self.metrics = recorder;
        self
    }

    /// How a streaming list finds the cached copy of an initial event's object, to keep that
    /// instead of the decoded one (GOALS I5); the informer passes what it gives its
    /// lister-watcher ([`ListerWatcher::share_cached`]).
    pub(crate) fn share_cached(mut self, lookup: CachedLookup<K>) -> Self {
        self.share = Some(lookup);
        self
    }

    /// The reflector.
    pub fn build(self) -> Reflector<K, L> {
        Reflector {
            lister_watcher: self.lister_watcher,
            fifo: self.fifo,
            clock: Arc::clone(self.driver.clock()),
            driver: self.driver,
            name: self.name,
            page_size: self.page_size,
            resync_period: self.resync_period,
            should_resync: self.should_resync,
            max_internal_error_retry: self.max_internal_error_retry,
            hook: self.hook,
            seed: self.seed,
            streaming_list: self.streaming_list,
            idle_timeout: self.idle_timeout,
            metrics: self.metrics,
            share: self.share,
            last_sync_rv: Mutex::new(String::new()),
            running: AtomicBool::new(false),
            runs: AtomicU64::new(0),
        }
    }
}

/// client-go's `Reflector`: keeps a [`DeltaFifo`] in step with the server through a
/// [`ListerWatcher`].
///
/// [`run`](Self::run) lists (first at version `"0"`, then at the last synced version, `""`
/// only after an expired or too-large answer to a list), replaces the FIFO's content with the
/// result, then watches from the list's version, queueing an add, update or delete per event;
/// bookmarks move the version. A watch that closes normally is re-opened from the last
/// version without relisting; errors are classified as in the spec's table (section 3.6).
/// Waits go through a timer-wheel [`Driver`], so a test on a [`FakeClock`](timer_wheel::FakeClock)
/// and a manual driver moves time itself.
///
/// A watch silent past its idle timeout (no event, no bookmark: a half-open connection) is
/// abandoned and re-opened from the last synced version without a relist
/// ([`ReflectorBuilder::watch_idle_timeout`]).
///
/// # Bad input
///
/// * A watch event (or a streaming list's initial event) whose object the FIFO cannot key
///   (no name) or transform is logged and skipped; the watch goes on (RF-13). The stream is
///   typed, so there are no wrong-type events to skip.
/// * A list holding such an object is refused as a whole, as client-go's `DeltaFIFO.Replace`
///   does: [`ReflectorError::Store`] (naming the item and why) goes to the termination hook
///   and the reflector relists after a backoff, until the server answers a sound list.
/// * An informer's transform that removes the resourceVersion is refused
///   ([`informer_transform`](crate::informer_transform)): every list fails as above and the
///   informer never syncs, saying why, rather than caching objects whose updates would all
///   look like resyncs.
/// * What the server sends that the client cannot decode is the lister-watcher's
///   [`ApiError`]: a failed list, or an `Error` event ending the watch (the kube adapter's
///   `UNDECODABLE_EVENT`), both followed by a relist after a backoff.
/// * An API error (403 Forbidden, ...) keeps its status; the kube adapter prefixes its
///   message with the verb and resource (`"watch pods: ..."`).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use delta_fifo::{DeltaFifo, Object};
/// use informer::{MemoryListerWatcher, MemoryObject, Next, Reflector, Resource, Termination};
/// use timer_wheel::{Driver, FakeClock};
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
///
/// let server = MemoryListerWatcher::new();
/// server.create(Cm { name: "a".into(), rv: String::new() })?;
/// let fifo = Arc::new(DeltaFifo::new());
/// let driver = Driver::builder().clock(FakeClock::new()).manual()?;
///
/// // Stop once the first list is in the FIFO.
/// let (listed_tx, listed_rx) = futures::channel::oneshot::channel();
/// let listed_tx = Mutex::new(Some(listed_tx));
/// let reflector = Reflector::builder(server.clone(), Arc::clone(&fifo), driver)
///     .name("configmaps")
///     .on_termination(move |end: &Termination| {
///         if end.next == Next::Watch {
///             if let Some(tx) = listed_tx.lock().unwrap().take() {
///                 let _ = tx.send(());
///             }
///         }
///     })
///     .build();
/// futures::executor::block_on(reflector.run(async {
///     let _ = listed_rx.await;
/// }))?;
/// assert_eq!(reflector.last_sync_resource_version(), "1");
/// assert_eq!(fifo.list_keys().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reflector<K, L> {
    lister_watcher: L,
    fifo: Arc<DeltaFifo<K>>,
    driver: Driver,
    clock: SharedClock,
    name: String,
    page_size: Option<u32>,
    resync_period: Duration,
    should_resync: Option<ShouldResync>,
    max_internal_error_retry: Duration,
    hook: Option<Hook>,
    seed: Option<u64>,
    streaming_list: bool,
    /// `None`: the watch's timeout plus [`WATCH_IDLE_GRACE`]; zero: off.
    idle_timeout: Option<Duration>,
    metrics: Option<Arc<Recorder>>,
    /// Finds the cached copy of a streaming list's object (see `ReflectorBuilder::share_cached`).
    share: Option<CachedLookup<K>>,
    /// The version of the last list or watch event applied to the FIFO; `""` before any.
    last_sync_rv: Mutex<String>,
    /// Set while a `run` is in progress.
    running: AtomicBool,
    /// How many runs were started (varies the seed between runs).
    runs: AtomicU64,
}

/// A watch a streaming list leaves open once its initial events are in the FIFO (RF-21).
struct Resumed<K> {
    stream: WatchStream<K>,
    started: Instant,
    events: u64,
    /// The stream's idle check, and when its last event arrived.
    idle: Option<Idle>,
    last_event: Instant,
}

/// The idle check of one open watch: a timer on the driver and the silence it allows.
struct Idle {
    timer: Timer,
    limit: Duration,
}

/// What waiting on a watch stream came to.
enum Awaited<K> {
    /// The next event.
    Event(WatchEvent<K>),
    /// The stream ended.
    Closed,
    /// Nothing arrived for this long, at least the idle timeout.
    Idle(Duration),
}

/// What a streaming list came to.
enum WatchListOutcome<K> {
    /// The FIFO holds the initial state; watching goes on on this stream.
    Synced(Resumed<K>),
    /// Do a plain list now (RF-3, RF-22).
    FallBack,
    /// End this attempt; the run loop backs off and tries again (RF-22).
    Retry,
}

/// The run loop's own state (see the module's ground rules).
struct RunState {
    backoff: Backoff,
    rng: fastrand::Rng,
    /// The last list failed with expired or too-large: the next list asks for `""` (RF-6).
    rv_unavailable: bool,
    /// A list at `"0"` came back paginated: the watch cache is off, keep paging (RF-7).
    paginated: bool,
    /// First and latest internal error of the current burst (RF-16).
    internal_errors: Option<(Instant, Instant)>,
    /// The call in progress, reported as stopped if the run is cancelled.
    in_flight: Call,
}

impl<K: Resource, L: ListerWatcher<K>> Reflector<K, L> {
    /// A builder for a reflector listing and watching through `lister_watcher` into `fifo`,
    /// waiting on `driver` (and reading time from its clock).
    pub fn builder(
        lister_watcher: L,
        fifo: Arc<DeltaFifo<K>>,
        driver: Driver,
    ) -> ReflectorBuilder<K, L> {
        ReflectorBuilder {
            lister_watcher,
            fifo,
            driver,
            name: "reflector".to_owned(),
            page_size: None,
            resync_period: Duration::ZERO,
            should_resync: None,
            max_internal_error_retry: Duration::ZERO,
            hook: None,
            seed: None,
            streaming_list: false,
            idle_timeout: None,
            metrics: None,
            share: None,
        }
    }

    /// The reflector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version of the last list or watch event applied to the FIFO, `""` before the
    /// first list. Readable at any time; not synchronised with the FIFO's content.
    #[doc(alias = "LastSyncResourceVersion")]
    pub fn last_sync_resource_version(&self) -> String {
        self.last_sync_rv.lock().clone()
    }

    /// Lists and watches until `stop` completes (RF-1): list, watch, and after every failure
    /// one backoff step on the driver before listing again. Every end of a list or watch goes
    /// to the termination hook.
    ///
    /// # Errors
    ///
    /// [`ReflectorError::AlreadyRunning`] if another `run` of this reflector is in progress;
    /// [`ReflectorError::DriverShutdown`] if the timer driver shut down. A stop is `Ok(())`
    /// (RF-17).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops the reflector like `stop` does (an in-flight
    /// list or watch is dropped, hence cancelled), except that no `Stop` is reported. The
    /// FIFO holds whatever was queued before; a later `run` relists from the last synced
    /// version.
    pub async fn run(&self, stop: impl Future<Output = ()>) -> Result<(), ReflectorError> {
        if self.running.swap(true, Ordering::AcqRel) {
            return Err(ReflectorError::AlreadyRunning {
                name: self.name.clone(),
            });
        }
        let _running = RunningGuard(&self.running);
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let (backoff, rng) = match self.seed {
            Some(seed) => (
                Backoff::new(Arc::clone(&self.clock)).with_seed(seed.wrapping_add(run)),
                fastrand::Rng::with_seed(seed.wrapping_add(run).wrapping_mul(31)),
            ),
            None => (Backoff::new(Arc::clone(&self.clock)), fastrand::Rng::new()),
        };
        let mut state = RunState {
            backoff,
            rng,
            rv_unavailable: false,
            paginated: false,
            internal_errors: None,
            in_flight: Call::List,
        };
        let result = {
            let work = pin!(self.run_loop(&mut state));
            match select(work, pin!(stop)).await {
                Either::Left((result, _)) => Some(result),
                Either::Right(((), _)) => None,
            }
        };
        match result {
            Some(result) => result,
            None => {
                tracing::debug!(reflector = %self.name, "reflector stopped");
                self.report(
                    state.in_flight,
                    self.last_sync_resource_version(),
                    None,
                    Next::Stop,
                );
                Ok(())
            }
        }
    }

    async fn run_loop(&self, state: &mut RunState) -> Result<(), ReflectorError> {
        loop {
            self.list_and_watch(state).await?;
            let delay = state.backoff.next_delay();
            self.sleep(delay, None).await?;
        }
    }

    /// One list (streaming if enabled, RF-3), then watches until one ends in a way that calls
    /// for a relist (RF-3..RF-5).
    async fn list_and_watch(&self, state: &mut RunState) -> Result<(), ReflectorError> {
        let mut resumed = None;
        if self.streaming_list {
            state.in_flight = Call::WatchList;
            match self.watch_list(state).await {
                WatchListOutcome::Synced(stream) => resumed = Some(stream),
                WatchListOutcome::Retry => return Ok(()),
                WatchListOutcome::FallBack => {}
            }
        }
        if resumed.is_none() {
            state.in_flight = Call::List;
            if !self.list(state).await {
                return Ok(());
            }
        }
        state.in_flight = Call::Watch;
        let resync = (!self.resync_period.is_zero()).then(|| self.driver.timer(self.resync_period));
        self.watch(state, resync.as_ref(), resumed).await
    }

    /// RF-19..RF-22: one streaming list, retried at once from `""` after an expired or
    /// too-large answer.
    async fn watch_list(&self, state: &mut RunState) -> WatchListOutcome<K> {
        let mut retried_at_latest = false;
        loop {
            let rv = if state.rv_unavailable {
                String::new()
            } else {
                self.last_sync_resource_version()
            };
            let options = WatchOptions {
                resource_version: rv.clone(),
                timeout_seconds: state.rng.u32(300..600),
                allow_watch_bookmarks: true,
                send_initial_events: true,
            };
            let started = self.clock.now();
            let span =
                tracing::debug_span!("watch_list", reflector = %self.name, resource_version = %rv);
            // The silence is measured from the request: an answer that never comes is a hang
            // too.
            let idle = self.idle_check(options.timeout_seconds);
            let mut last_event = started;
            let opened = self
                .until_idle(self.lister_watcher.watch(&options), idle.as_ref(), started)
                .instrument(span.clone())
                .await;
            let error = match opened {
                Err(quiet) => ReflectorError::WatchIdle {
                    name: self.name.clone(),
                    resource_version: rv.clone(),
                    idle: quiet,
                    events: 0,
                },
                Ok(Err(source)) => ReflectorError::WatchOpen {
                    name: self.name.clone(),
                    resource_version: rv.clone(),
                    source,
                },
                Ok(Ok(mut stream)) => {
                    let initial = self
                        .initial_events(&mut stream, &rv, idle.as_ref(), &mut last_event)
                        .instrument(span)
                        .await;
                    match initial {
                        Ok((items, list_rv, events)) => {
                            state.rv_unavailable = false;
                            if let Err(source) = self.fifo.replace(items, &list_rv) {
                                let error = ReflectorError::Store {
                                    name: self.name.clone(),
                                    resource_version: list_rv,
                                    source: Arc::new(source),
                                };
                                tracing::warn!(reflector = %self.name, %error, "replace failed");
                                self.report(
                                    Call::WatchList,
                                    rv,
                                    Some(error),
                                    Next::RelistAfterBackoff,
                                );
                                return WatchListOutcome::Retry;
                            }
                            self.set_last_sync_rv(&list_rv);
                            self.report(Call::WatchList, rv, None, Next::Watch);
                            return WatchListOutcome::Synced(Resumed {
                                stream,
                                started,
                                events,
                                idle,
                                last_event,
                            });
                        }
                        // The stream is dropped (stopped) before anything else happens (RF-22).
                        Err(error) => error,
                    }
                }
            };
            let unavailable = error
                .api_error()
                .is_some_and(|e| e.is_expired() || e.is_too_large_resource_version());
            let next = match error.api_error() {
                Some(e) if e.is_connection_refused() || e.is_too_many_requests() => {
                    Next::RelistAfterBackoff
                }
                Some(_) if unavailable => {
                    state.rv_unavailable = true;
                    if retried_at_latest {
                        Next::RelistAfterBackoff
                    } else {
                        retried_at_latest = true;
                        Next::RelistAtLatest
                    }
                }
                _ => Next::FallBackToList,
            };
            if next == Next::FallBackToList {
                tracing::warn!(reflector = %self.name, %error, "streaming list failed; falling back to list and watch");
            } else {
                tracing::debug!(reflector = %self.name, %error, ?next, "streaming list failed");
            }
            self.report(Call::WatchList, rv, Some(error), next);
            match next {
                Next::RelistAtLatest => {}
                Next::FallBackToList => return WatchListOutcome::FallBack,
                _ => return WatchListOutcome::Retry,
            }
        }
    }

    /// RF-20, RF-21, RF-23: collects the initial events of a streaming list until the
    /// initial-events-end bookmark; returns them, the bookmark's version and the number of
    /// events. `last_event` is when the last event arrived (for the idle check).
    async fn initial_events(
        &self,
        stream: &mut WatchStream<K>,
        rv: &str,
        idle: Option<&Idle>,
        last_event: &mut Instant,
    ) -> Result<(Vec<Arc<K>>, String, u64), ReflectorError> {
        // A temporary store (RF-20): by key, so that a repeated object keeps its last state.
        // The FIFO's transformer applies when it is replaced. An object the cache holds
        // unchanged is kept as the cached `Arc` (GOALS I5).
        let mut temp: BTreeMap<String, Arc<K>> = BTreeMap::new();
        let mut events = 0_u64;
        let warning = self.driver.timer(INITIAL_EVENTS_WARNING_PERIOD);
        let mut warnings = true;
        loop {
            let since = *last_event;
            let next = {
                let mut next = pin!(self.next_event(stream, idle, since));
                loop {
                    if !warnings {
                        break next.as_mut().await;
                    }
                    match select(next.as_mut(), pin!(warning.recv_async())).await {
                        Either::Left((event, _)) => break event,
                        Either::Right((Ok(_), _)) => {
                            let since = self.clock.now().saturating_duration_since(since);
                            tracing::warn!(
                                reflector = %self.name,
                                events,
                                ?since,
                                "streaming list: still waiting for the initial-events-end bookmark"
                            );
                            warning.reset(INITIAL_EVENTS_WARNING_PERIOD);
                        }
                        // The driver is gone: no more warnings.
                        Either::Right((Err(_), _)) => warnings = false,
                    }
                }
            };
            let event = match next {
                Awaited::Event(event) => event,
                Awaited::Closed => {
                    return Err(ReflectorError::WatchListIncomplete {
                        name: self.name.clone(),
                        resource_version: rv.to_owned(),
                        events,
                    });
                }
                Awaited::Idle(idle) => {
                    return Err(ReflectorError::WatchIdle {
                        name: self.name.clone(),
                        resource_version: rv.to_owned(),
                        idle,
                        events,
                    });
                }
            };
            events += 1;
            *last_event = self.clock.now();
            self.count(&event);
            match event {
                WatchEvent::Added(obj) | WatchEvent::Modified(obj) => {
                    match self.fifo.key_of(&obj) {
                        Ok(key) => {
                            let cached = self.share.as_ref().and_then(|find| find(&obj));
                            temp.insert(key, cached.unwrap_or_else(|| Arc::new(obj)));
                        }
                        Err(error) => {
                            tracing::warn!(reflector = %self.name, %error, "skipping an initial event without a key");
                        }
                    }
                }
                WatchEvent::Deleted(obj) => {
                    if let Ok(key) = self.fifo.key_of(&obj) {
                        temp.remove(&key);
                    }
                }
                WatchEvent::Bookmark {
                    resource_version,
                    initial_events_end: true,
                } => return Ok((temp.into_values().collect(), resource_version, events)),
                WatchEvent::Bookmark { .. } => {}
                WatchEvent::Error(status) => {
                    return Err(ReflectorError::WatchStream {
                        name: self.name.clone(),
                        resource_version: rv.to_owned(),
                        source: ApiError::Status(status),
                    });
                }
            }
        }
    }

    /// RF-6..RF-10. Returns whether the FIFO now holds a fresh list.
    async fn list(&self, state: &mut RunState) -> bool {
        let rv = self.relist_resource_version(state);
        let first = match self.list_at(state, &rv).await {
            Ok(listed) => Ok(listed),
            Err(source) if source.is_expired() || source.is_too_large_resource_version() => {
                // RF-9: ask for the latest state once, as a quorum read.
                state.rv_unavailable = true;
                self.report(
                    Call::List,
                    rv.clone(),
                    Some(self.list_error(&rv, source)),
                    Next::RelistAtLatest,
                );
                let latest = self.relist_resource_version(state);
                self.list_at(state, &latest).await.map_err(|e| (latest, e))
            }
            Err(source) => Err((rv.clone(), source)),
        };
        let (items, list_rv) = match first {
            Ok(listed) => listed,
            Err((rv, source)) => {
                let error = self.list_error(&rv, source);
                tracing::warn!(reflector = %self.name, %error, "list failed");
                self.report(Call::List, rv, Some(error), Next::RelistAfterBackoff);
                return false;
            }
        };
        state.rv_unavailable = false;
        if let Err(source) = self.fifo.replace(items, &list_rv) {
            let error = ReflectorError::Store {
                name: self.name.clone(),
                resource_version: list_rv.clone(),
                source: Arc::new(source),
            };
            tracing::warn!(reflector = %self.name, %error, "replace failed");
            self.report(Call::List, rv, Some(error), Next::RelistAfterBackoff);
            return false;
        }
        self.set_last_sync_rv(&list_rv);
        self.report(Call::List, rv, None, Next::Watch);
        true
    }

    /// RF-6: `""` after an expired or too-large list, `"0"` before the first sync, else the
    /// last synced version.
    fn relist_resource_version(&self, state: &RunState) -> String {
        if state.rv_unavailable {
            return String::new();
        }
        let last = self.last_sync_resource_version();
        if last.is_empty() {
            "0".to_owned()
        } else {
            last
        }
    }

    /// One paginated list at `rv` (RF-7, RF-8); returns the items and the list's version.
    async fn list_at(
        &self,
        state: &mut RunState,
        rv: &str,
    ) -> Result<(Vec<Arc<K>>, String), ApiError> {
        let span = tracing::debug_span!("list", reflector = %self.name, resource_version = %rv);
        self.list_pages(state, rv).instrument(span).await
    }

    /// The pages of [`list_at`](Self::list_at).
    async fn list_pages(
        &self,
        state: &mut RunState,
        rv: &str,
    ) -> Result<(Vec<Arc<K>>, String), ApiError> {
        let limit = match self.page_size {
            Some(limit) => limit,
            None if state.paginated => DEFAULT_PAGE_SIZE,
            None if !rv.is_empty() && rv != "0" => 0,
            None => DEFAULT_PAGE_SIZE,
        };
        let lw = &self.lister_watcher;
        let first = lw
            .list(&ListOptions {
                resource_version: rv.to_owned(),
                limit,
                continue_token: None,
            })
            .await?;
        let list_rv = first.resource_version;
        let mut items = first.items;
        let mut token = first.continue_token;
        let paginated = token.is_some();
        while let Some(continue_token) = token.take() {
            let page = lw
                .list(&ListOptions {
                    resource_version: String::new(),
                    limit,
                    continue_token: Some(continue_token),
                })
                .await;
            match page {
                Ok(page) => {
                    items.extend(page.items);
                    token = page.continue_token;
                }
                Err(error) if error.is_expired() => {
                    // RF-8: the snapshot is gone; one unpaginated list at the original version.
                    tracing::debug!(reflector = %self.name, %error, "continue expired; listing in full");
                    let full = lw
                        .list(&ListOptions {
                            resource_version: rv.to_owned(),
                            limit: 0,
                            continue_token: None,
                        })
                        .await?;
                    return Ok((full.items, full.resource_version));
                }
                Err(error) => return Err(error),
            }
        }
        // RF-10: only a paginated answer to "0" says the watch cache is off.
        if rv == "0" && paginated {
            state.paginated = true;
        }
        Ok((items, list_rv))
    }

    /// Watches from the last synced version until a relist is due (RF-11..RF-16, RF-18),
    /// first on `resumed` if a streaming list left one (RF-21); returns `Ok` for a relist
    /// after backoff.
    async fn watch(
        &self,
        state: &mut RunState,
        resync: Option<&Timer>,
        mut resumed: Option<Resumed<K>>,
    ) -> Result<(), ReflectorError> {
        loop {
            let rv = self.last_sync_resource_version();
            if let Some(resumed) = resumed.take() {
                // The version is the bookmark's: events after it are trusted (RF-20).
                if self.consume(state, resync, resumed, true).await? {
                    continue;
                }
                return Ok(());
            }
            let options = WatchOptions {
                resource_version: rv.clone(),
                timeout_seconds: state.rng.u32(300..600),
                allow_watch_bookmarks: true,
                send_initial_events: false,
            };
            let started = self.clock.now();
            let span =
                tracing::debug_span!("watch", reflector = %self.name, resource_version = %rv);
            // The silence is measured from the request: an answer that never comes is a hang
            // too.
            let idle = self.idle_check(options.timeout_seconds);
            let opened = self
                .with_resync(
                    self.until_idle(self.lister_watcher.watch(&options), idle.as_ref(), started),
                    resync,
                )
                .instrument(span.clone())
                .await;
            let stream = match opened {
                Ok(Ok(stream)) => stream,
                Err(quiet) => {
                    let error = ReflectorError::WatchIdle {
                        name: self.name.clone(),
                        resource_version: rv.clone(),
                        idle: quiet,
                        events: 0,
                    };
                    tracing::warn!(reflector = %self.name, %error, "watch open idle; re-watching");
                    self.report(Call::Watch, rv, Some(error), Next::Rewatch);
                    continue;
                }
                Ok(Err(source)) => {
                    let retry = source.is_connection_refused() || source.is_too_many_requests();
                    let error = ReflectorError::WatchOpen {
                        name: self.name.clone(),
                        resource_version: rv.clone(),
                        source,
                    };
                    tracing::warn!(reflector = %self.name, %error, "watch open failed");
                    if retry {
                        // RF-12: same version, after a backoff step.
                        self.report(Call::Watch, rv, Some(error), Next::RewatchAfterBackoff);
                        let delay = state.backoff.next_delay();
                        self.sleep(delay, resync).await?;
                        continue;
                    }
                    self.report(Call::Watch, rv, Some(error), Next::RelistAfterBackoff);
                    return Ok(());
                }
            };
            // RF-14: after a watch from "" or "0", Added events come in any version order.
            let trust_added = !(rv.is_empty() || rv == "0");
            let open = Resumed {
                stream,
                started,
                events: 0,
                idle,
                last_event: started,
            };
            if !self
                .consume(state, resync, open, trust_added)
                .instrument(span)
                .await?
            {
                return Ok(());
            }
        }
    }

    /// Applies the events of one open watch to the FIFO until it ends (RF-13..RF-16) or
    /// stays silent too long; returns whether to re-watch (`false`: relist after backoff).
    async fn consume(
        &self,
        state: &mut RunState,
        resync: Option<&Timer>,
        open: Resumed<K>,
        mut trust_added: bool,
    ) -> Result<bool, ReflectorError> {
        let Resumed {
            mut stream,
            started,
            mut events,
            idle,
            mut last_event,
        } = open;
        let status = loop {
            let next = self
                .with_resync(
                    self.next_event(&mut stream, idle.as_ref(), last_event),
                    resync,
                )
                .await;
            let event = match next {
                Awaited::Event(event) => event,
                Awaited::Closed => break None,
                Awaited::Idle(quiet) => break Some(Err(quiet)),
            };
            last_event = self.clock.now();
            events += 1;
            self.count(&event);
            let (obj_rv, applied) = match event {
                WatchEvent::Added(obj) => {
                    let rv = version_of(&obj).map(str::to_owned);
                    (rv.filter(|_| trust_added), self.fifo.add(obj))
                }
                WatchEvent::Modified(obj) => {
                    trust_added = true;
                    (version_of(&obj).map(str::to_owned), self.fifo.update(obj))
                }
                WatchEvent::Deleted(obj) => {
                    trust_added = true;
                    (version_of(&obj).map(str::to_owned), self.fifo.delete(obj))
                }
                WatchEvent::Bookmark {
                    resource_version, ..
                } => {
                    trust_added = true;
                    (Some(resource_version).filter(|rv| !rv.is_empty()), Ok(()))
                }
                WatchEvent::Error(status) => break Some(Ok(status)),
            };
            if let Err(error) = applied {
                tracing::warn!(reflector = %self.name, %error, "the FIFO refused a watch event");
            }
            if let Some(obj_rv) = obj_rv {
                self.set_last_sync_rv(&obj_rv);
            }
        };
        drop(stream);
        drop(idle);
        let rv = self.last_sync_resource_version();
        let status = match status {
            Some(Ok(status)) => Some(status),
            Some(Err(quiet)) => {
                // A half-open connection: abandon it, re-watch from the last version at once.
                let error = ReflectorError::WatchIdle {
                    name: self.name.clone(),
                    resource_version: rv.clone(),
                    idle: quiet,
                    events,
                };
                tracing::warn!(reflector = %self.name, %error, "watch idle; re-watching");
                self.report(Call::Watch, rv, Some(error), Next::Rewatch);
                return Ok(true);
            }
            None => None,
        };
        let Some(status) = status else {
            let lasted = self.clock.now().saturating_duration_since(started);
            if events == 0 && lasted < VERY_SHORT_WATCH {
                let error = ReflectorError::VeryShortWatch {
                    name: self.name.clone(),
                    resource_version: rv.clone(),
                    lasted,
                };
                tracing::warn!(reflector = %self.name, %error, "very short watch");
                self.report(Call::Watch, rv, Some(error), Next::RelistAfterBackoff);
                return Ok(false);
            }
            // RF-15: a normal timeout; re-watch, no relist.
            self.report(Call::Watch, rv, None, Next::Rewatch);
            return Ok(true);
        };
        let source = ApiError::Status(status);
        let next = if source.is_expired() {
            Next::RelistAfterBackoff
        } else if source.is_too_many_requests() {
            Next::RewatchAfterBackoff
        } else if source.is_internal() && self.internal_retry_allowed(state) {
            Next::Rewatch
        } else {
            Next::RelistAfterBackoff
        };
        let error = ReflectorError::WatchStream {
            name: self.name.clone(),
            resource_version: rv.clone(),
            source,
        };
        if next == Next::RelistAfterBackoff && error.api_error().is_some_and(ApiError::is_expired) {
            tracing::debug!(reflector = %self.name, %error, "watch expired");
        } else {
            tracing::warn!(reflector = %self.name, %error, "watch ended");
        }
        self.report(Call::Watch, rv, Some(error), next);
        match next {
            Next::Rewatch => Ok(true),
            Next::RewatchAfterBackoff => {
                let delay = state.backoff.next_delay();
                self.sleep(delay, resync).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The idle check of a watch opened with `timeout_seconds`, or `None` when it is off.
    fn idle_check(&self, timeout_seconds: u32) -> Option<Idle> {
        let limit = match self.idle_timeout {
            None => Duration::from_secs(timeout_seconds.into()) + WATCH_IDLE_GRACE,
            Some(limit) if limit.is_zero() => return None,
            Some(limit) => limit,
        };
        Some(Idle {
            timer: self.driver.timer(limit),
            limit,
        })
    }

    /// The next event of `stream`, or [`Awaited::Idle`] once nothing has arrived for the
    /// idle check's limit since `last_event`.
    async fn next_event(
        &self,
        stream: &mut WatchStream<K>,
        idle: Option<&Idle>,
        last_event: Instant,
    ) -> Awaited<K> {
        match self.until_idle(stream.next(), idle, last_event).await {
            Ok(Some(event)) => Awaited::Event(event),
            Ok(None) => Awaited::Closed,
            Err(quiet) => Awaited::Idle(quiet),
        }
    }

    /// Awaits `work`, or gives up with how long it has been quiet once the idle check's
    /// limit has passed since `since`. The timer is not re-armed per event: when it fires
    /// early (events came meanwhile), it is re-armed for the rest of the limit.
    async fn until_idle<T>(
        &self,
        work: impl Future<Output = T>,
        idle: Option<&Idle>,
        since: Instant,
    ) -> Result<T, Duration> {
        let mut work = pin!(work);
        let Some(idle) = idle else {
            return Ok(work.await);
        };
        loop {
            match select(work.as_mut(), pin!(idle.timer.recv_async())).await {
                Either::Left((out, _)) => return Ok(out),
                Either::Right((Ok(_), _)) => {
                    let quiet = self.clock.now().saturating_duration_since(since);
                    if quiet >= idle.limit {
                        return Err(quiet);
                    }
                    idle.timer.reset(idle.limit - quiet);
                }
                // The driver is gone: no more idle checks; the run loop notices at its next
                // wait.
                Either::Right((Err(_), _)) => return Ok(work.await),
            }
        }
    }

    /// RF-16: records an internal error and says whether the budget allows re-watching.
    fn internal_retry_allowed(&self, state: &mut RunState) -> bool {
        let now = self.clock.now();
        let (first, _) = match state.internal_errors {
            Some((first, last)) if now.saturating_duration_since(last) < INTERNAL_ERROR_RESET => {
                (first, last)
            }
            _ => (now, now),
        };
        state.internal_errors = Some((first, now));
        !self.max_internal_error_retry.is_zero()
            && now.saturating_duration_since(first) <= self.max_internal_error_retry
    }

    /// Waits `delay` on the driver, serving the resync timer meanwhile.
    async fn sleep(&self, delay: Duration, resync: Option<&Timer>) -> Result<(), ReflectorError> {
        let timer = self.driver.timer(delay);
        self.with_resync(timer.recv_async(), resync)
            .await
            .map(drop)
            .map_err(|_| ReflectorError::DriverShutdown {
                name: self.name.clone(),
            })
    }

    /// Awaits `work`; whenever the resync timer fires meanwhile, resyncs the FIFO if
    /// `should_resync` says so and re-arms the timer (RF-18).
    async fn with_resync<T>(&self, work: impl Future<Output = T>, resync: Option<&Timer>) -> T {
        let mut work = pin!(work);
        let Some(timer) = resync else {
            return work.await;
        };
        loop {
            match select(work.as_mut(), pin!(timer.recv_async())).await {
                Either::Left((out, _)) => return out,
                Either::Right((Ok(_), _)) => {
                    if self.should_resync.as_ref().is_none_or(|should| should()) {
                        let queued = self.fifo.resync();
                        tracing::trace!(reflector = %self.name, queued, "resync");
                    }
                    timer.reset(self.resync_period);
                }
                // The driver is gone: no more resyncs; the work itself notices.
                Either::Right((Err(_), _)) => return work.await,
            }
        }
    }

    fn list_error(&self, rv: &str, source: ApiError) -> ReflectorError {
        ReflectorError::List {
            name: self.name.clone(),
            resource_version: rv.to_owned(),
            source,
        }
    }

    fn set_last_sync_rv(&self, rv: &str) {
        let mut last = self.last_sync_rv.lock();
        last.clear();
        last.push_str(rv);
        if let Some(metrics) = &self.metrics {
            metrics.last_sync_resource_version(rv);
        }
    }

    /// Counts a watch event by type.
    fn count(&self, event: &WatchEvent<K>) {
        if let Some(metrics) = &self.metrics {
            metrics.event(match event {
                WatchEvent::Added(_) => EventType::Added,
                WatchEvent::Modified(_) => EventType::Modified,
                WatchEvent::Deleted(_) => EventType::Deleted,
                WatchEvent::Bookmark { .. } => EventType::Bookmark,
                WatchEvent::Error(_) => EventType::Error,
            });
        }
    }

    fn report(
        &self,
        call: Call,
        resource_version: String,
        error: Option<ReflectorError>,
        next: Next,
    ) {
        if self.hook.is_none() && self.metrics.is_none() {
            return;
        }
        let end = Termination {
            call,
            resource_version,
            error,
            next,
        };
        if let Some(metrics) = &self.metrics {
            metrics.termination(&end);
        }
        if let Some(hook) = &self.hook {
            hook(&end);
        }
    }
}

impl<K, L> fmt::Debug for Reflector<K, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reflector")
            .field("name", &self.name)
            .field("last_sync_resource_version", &*self.last_sync_rv.lock())
            .field("resync_period", &self.resync_period)
            .finish_non_exhaustive()
    }
}

/// Clears the `running` flag when a run ends or is dropped.
struct RunningGuard<'a>(&'a AtomicBool);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

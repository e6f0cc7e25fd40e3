//! [`SharedIndexInformer`]: one cache ([`Indexer`]) kept in step with the server by a
//! [`Reflector`] feeding a [`DeltaFifo`], whose pop loop updates the cache and fans the changes
//! out to handlers through a [`SharedProcessor`] (spec section 5, SI-1..SI-3, SI-15, SI-20).
//!
//! # Ground rules
//!
//! * `setup` (a `Mutex`) holds what is consumed or frozen at start: the lister-watcher (moved
//!   into the reflector), the transform and the watch-error hook, and the `started` flag.
//!   [`run`](SharedIndexInformer::run) takes it once; the setters refuse once it is set (SI-20).
//! * `running` (a `OnceLock`) holds the FIFO and the reflector built at start; it is written
//!   once, by `run`, and read lock-free afterwards.
//! * `status` holds what the reflector's hook and the pop thread report to readers: the sync
//!   state (a `tokio::sync::watch`, so waiters never poll), the last list or watch error and
//!   the count of processing errors. Each is written by one side and only read by the others.
//! * The pop loop runs on its own thread, since [`DeltaFifo::pop`] blocks. `run` owns its
//!   join handle and joins it before returning (or when its future is dropped).

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use delta_fifo::{BoxError, DeltaFifo, PopError};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use timer_wheel::Driver;
use tokio::sync::watch;

use crate::error::HandlerError;
use crate::handler::ResourceEventHandler;
use crate::indexer::Indexer;
use crate::lister::Lister;
use crate::lister_watcher::{CachedLookup, ListerWatcher};
use crate::metrics::{self, MetricsError, MetricsProvider, Recorder};
use crate::object::Resource;
use crate::process_deltas::{Transform, informer_fifo, pop_and_process};
use crate::processor::{HandlerOptions, HandlerRegistration, SharedProcessor};
use crate::reflector::{Next, Reflector, ReflectorError, Termination};
use crate::sync::HasSynced;

type Hook = Arc<dyn Fn(&Termination) + Send + Sync>;

/// Why an informer call was refused or its run ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InformerError {
    /// An option that must be set before start was set after (SI-20).
    #[error("{name}: `{option}` must be set before the informer starts")]
    AlreadyStarted {
        /// The informer's name.
        name: String,
        /// The option.
        option: &'static str,
    },
    /// [`run`](SharedIndexInformer::run) was called a second time; an informer runs once.
    #[error("{name}: the informer was already started")]
    AlreadyRunning {
        /// The informer's name.
        name: String,
    },
    /// A handler could not be registered.
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// The pop-loop thread could not be started.
    #[error("{name}: could not start the pop-loop thread")]
    Spawn {
        /// The informer's name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The reflector stopped on its own (its timer driver shut down).
    #[error(transparent)]
    Reflector(Box<ReflectorError>),
    /// The metrics provider refused to make this informer's metrics; the informer does not
    /// run without the metrics it was asked to record.
    #[error("{name}: no metrics")]
    Metrics {
        /// The informer's name.
        name: String,
        /// What the provider said.
        #[source]
        source: MetricsError,
    },
}

impl From<ReflectorError> for InformerError {
    fn from(error: ReflectorError) -> Self {
        Self::Reflector(Box::new(error))
    }
}

/// Configures a [`SharedIndexInformer`]; made by [`SharedIndexInformer::builder`].
pub struct SharedIndexInformerBuilder<K, L> {
    lister_watcher: L,
    driver: Driver,
    name: String,
    resync_period: Duration,
    transform: Option<Transform<K>>,
    watch_error_handler: Option<Hook>,
    page_size: Option<u32>,
    streaming_list: bool,
    indexer: Option<Indexer<K>>,
    strip_managed_fields: bool,
    max_internal_error_retry: Duration,
    watch_idle_timeout: Option<Duration>,
    seed: Option<u64>,
    metrics_provider: Option<Arc<dyn MetricsProvider>>,
}

impl<K: Resource, L: ListerWatcher<K> + 'static> SharedIndexInformerBuilder<K, L> {
    /// The name used in errors, logs and thread names (default `"informer"`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The default resync period of handlers and how often the reflector checks for due
    /// resyncs (SI-5); zero (the default) never resyncs.
    pub fn resync_period(mut self, period: Duration) -> Self {
        self.resync_period = period;
        self
    }

    /// A transform applied to every object before it is cached (after managedFields are
    /// stripped); as [`SharedIndexInformer::set_transform`].
    #[doc(alias = "SetTransform")]
    pub fn transform(
        mut self,
        f: impl Fn(Arc<K>) -> Result<Arc<K>, BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.transform = Some(Arc::new(f));
        self
    }

    /// Called at every end of a list or watch; as
    /// [`SharedIndexInformer::set_watch_error_handler`].
    #[doc(alias = "SetWatchErrorHandler")]
    pub fn watch_error_handler(
        mut self,
        hook: impl Fn(&Termination) + Send + Sync + 'static,
    ) -> Self {
        self.watch_error_handler = Some(Arc::new(hook));
        self
    }

    /// The list page size ([`ReflectorBuilder::page_size`](crate::ReflectorBuilder::page_size)).
    pub fn page_size(mut self, limit: u32) -> Self {
        self.page_size = Some(limit);
        self
    }

    /// Whether the reflector first tries each (re)list as a streaming list (`sendInitialEvents`,
    /// KEP-3157), falling back to list and watch when the server does not support it; default
    /// off. See [`ReflectorBuilder::streaming_list`](crate::ReflectorBuilder::streaming_list).
    #[doc(alias = "WatchListClient")]
    pub fn streaming_list(mut self, enabled: bool) -> Self {
        self.streaming_list = enabled;
        self
    }

    /// The cache, with its indexes (default: [`Indexer::new`], indexed by namespace).
    pub fn indexer(mut self, indexer: Indexer<K>) -> Self {
        self.indexer = Some(indexer);
        self
    }

    /// Whether managedFields are dropped before caching (default: yes).
    pub fn strip_managed_fields(mut self, strip: bool) -> Self {
        self.strip_managed_fields = strip;
        self
    }

    /// The reflector's budget for re-watching after internal errors (RF-16).
    pub fn max_internal_error_retry_duration(mut self, budget: Duration) -> Self {
        self.max_internal_error_retry = budget;
        self
    }

    /// How long a watch may stay silent before it is abandoned as hung and re-opened
    /// (default: its `timeoutSeconds` plus
    /// [`WATCH_IDLE_GRACE`](crate::WATCH_IDLE_GRACE); zero: never); see
    /// [`ReflectorBuilder::watch_idle_timeout`](crate::ReflectorBuilder::watch_idle_timeout).
    pub fn watch_idle_timeout(mut self, timeout: Duration) -> Self {
        self.watch_idle_timeout = Some(timeout);
        self
    }

    /// Seeds the reflector's random jitter (for tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Records the informer's [`metrics`] (lists, relists, watch ends by
    /// cause, events by type, pending notifications per handler, last synced version) through
    /// `provider`, under the informer's name. Default: none recorded
    /// ([`NoopMetricsProvider`](crate::metrics::NoopMetricsProvider)).
    ///
    /// If the provider refuses (say, a second informer with the same name),
    /// [`run`](SharedIndexInformer::run) fails with [`InformerError::Metrics`].
    pub fn metrics_provider(mut self, provider: Arc<dyn MetricsProvider>) -> Self {
        self.metrics_provider = Some(provider);
        self
    }

    /// The informer.
    pub fn build(self) -> SharedIndexInformer<K, L> {
        let indexer = Arc::new(self.indexer.unwrap_or_default());
        let (recorder, metrics_error) = match &self.metrics_provider {
            None => (None, None),
            Some(provider) => match metrics::resolve(&**provider, &self.name) {
                Ok(recorder) => (recorder, None),
                Err(error) => (None, Some(error)),
            },
        };
        let processor = Arc::new(
            SharedProcessor::new(
                Arc::clone(&indexer),
                Arc::clone(self.driver.clock()),
                self.resync_period,
            )
            .with_metrics(recorder.clone()),
        );
        SharedIndexInformer {
            name: self.name,
            indexer,
            processor,
            driver: self.driver,
            page_size: self.page_size,
            streaming_list: self.streaming_list,
            strip_managed_fields: self.strip_managed_fields,
            max_internal_error_retry: self.max_internal_error_retry,
            watch_idle_timeout: self.watch_idle_timeout,
            seed: self.seed,
            recorder,
            setup: Mutex::new(Setup {
                lister_watcher: Some(self.lister_watcher),
                transform: self.transform,
                watch_error_handler: self.watch_error_handler,
                metrics_error,
                started: false,
            }),
            running: OnceLock::new(),
            status: Arc::new(Status::new()),
        }
    }
}

/// client-go's `SharedIndexInformer`: a cache of one resource type kept in step with the server,
/// and handlers told of every change.
///
/// [`run`](Self::run) builds the FIFO (with the transform), starts the processor, then the
/// pop loop on a thread and the reflector on the calling task (SI-1, SI-2). Handlers can be
/// added before or after start: a late one first gets the cache as initial adds (SI-7). On
/// stop, the reflector ends, the FIFO is closed, the pop thread is joined, and then the
/// processor (and every handler thread) is stopped and joined.
///
/// An informer runs once: its FIFO and processor are not restarted after a stop.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, mpsc};
/// use delta_fifo::Object;
/// use informer::{
///     MemoryListerWatcher, MemoryObject, Resource, SharedIndexInformer, handler_fn,
/// };
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
/// let driver = Driver::builder().clock(FakeClock::new()).manual()?;
/// let informer = Arc::new(SharedIndexInformer::builder(server.clone(), driver).name("cms").build());
///
/// let (tx, rx) = mpsc::channel();
/// informer.add_event_handler(handler_fn().on_add(move |cm: &Arc<Cm>, initial| {
///     tx.send((cm.name.clone(), initial)).unwrap();
/// }))?;
///
/// let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
/// let runner = std::thread::spawn({
///     let informer = Arc::clone(&informer);
///     move || futures::executor::block_on(informer.run(async { let _ = stop_rx.await; }))
/// });
/// assert_eq!(rx.recv()?, ("a".to_owned(), true));
/// server.create(Cm { name: "b".into(), rv: String::new() })?;
/// assert_eq!(rx.recv()?, ("b".to_owned(), false));
/// assert!(informer.has_synced());
/// assert_eq!(informer.lister().get("b").unwrap().rv, "2");
///
/// stop_tx.send(()).unwrap();
/// runner.join().unwrap()?;
/// assert!(informer.is_stopped());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedIndexInformer<K, L> {
    name: String,
    indexer: Arc<Indexer<K>>,
    processor: Arc<SharedProcessor<K>>,
    driver: Driver,
    page_size: Option<u32>,
    streaming_list: bool,
    strip_managed_fields: bool,
    max_internal_error_retry: Duration,
    watch_idle_timeout: Option<Duration>,
    seed: Option<u64>,
    recorder: Option<Arc<Recorder>>,
    setup: Mutex<Setup<K, L>>,
    running: OnceLock<Running<K, L>>,
    status: Arc<Status>,
}

/// What start consumes or freezes (see the module's ground rules).
struct Setup<K, L> {
    lister_watcher: Option<L>,
    transform: Option<Transform<K>>,
    watch_error_handler: Option<Hook>,
    /// The metrics provider's refusal, returned by every `run`.
    metrics_error: Option<MetricsError>,
    started: bool,
}

/// What start builds.
struct Running<K, L> {
    fifo: Arc<DeltaFifo<K>>,
    reflector: Reflector<K, L>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncState {
    Pending,
    Synced,
    Stopped,
}

/// What the hook and the pop thread report (see the module's ground rules).
struct Status {
    sync: watch::Sender<SyncState>,
    last_error: Mutex<Option<ReflectorError>>,
    process_errors: AtomicU64,
    stopped: AtomicBool,
}

impl Status {
    fn new() -> Self {
        Self {
            sync: watch::channel(SyncState::Pending).0,
            last_error: Mutex::new(None),
            process_errors: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        }
    }

    /// Once the FIFO has synced, tells the processor and the waiters (idempotent).
    fn check_synced<K: Resource>(&self, fifo: &DeltaFifo<K>, processor: &SharedProcessor<K>) {
        if *self.sync.borrow() == SyncState::Pending && fifo.has_synced() {
            processor.set_upstream_synced();
            self.sync.send_if_modified(|state| {
                let pending = *state == SyncState::Pending;
                if pending {
                    *state = SyncState::Synced;
                }
                pending
            });
        }
    }
}

impl<K: Resource, L: ListerWatcher<K> + 'static> SharedIndexInformer<K, L> {
    /// An informer with the defaults (no resync, managedFields stripped, namespace index),
    /// listing and watching through `lister_watcher` and timing on `driver`.
    pub fn new(lister_watcher: L, driver: Driver) -> Self {
        Self::builder(lister_watcher, driver).build()
    }

    /// A builder for an informer over `lister_watcher`, timing on `driver` (its clock also
    /// drives handler resyncs).
    pub fn builder(lister_watcher: L, driver: Driver) -> SharedIndexInformerBuilder<K, L> {
        SharedIndexInformerBuilder {
            lister_watcher,
            driver,
            name: "informer".to_owned(),
            resync_period: Duration::ZERO,
            transform: None,
            watch_error_handler: None,
            page_size: None,
            streaming_list: false,
            indexer: None,
            strip_managed_fields: true,
            max_internal_error_retry: Duration::ZERO,
            watch_idle_timeout: None,
            seed: None,
            metrics_provider: None,
        }
    }

    /// The informer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers `handler` with the default options (SI-4); see
    /// [`SharedProcessor::add_event_handler_with_options`].
    ///
    /// # Errors
    ///
    /// [`HandlerError::Stopped`] once the informer stopped; [`HandlerError::Spawn`].
    #[doc(alias = "AddEventHandler")]
    pub fn add_event_handler(
        &self,
        handler: impl ResourceEventHandler<K>,
    ) -> Result<HandlerRegistration<K>, HandlerError> {
        self.processor.add_event_handler(handler)
    }

    /// Registers `handler` with `options` (SI-4..SI-7).
    ///
    /// # Errors
    ///
    /// As [`add_event_handler`](Self::add_event_handler).
    #[doc(alias = "AddEventHandlerWithOptions")]
    pub fn add_event_handler_with_options(
        &self,
        handler: impl ResourceEventHandler<K>,
        options: HandlerOptions,
    ) -> Result<HandlerRegistration<K>, HandlerError> {
        self.processor
            .add_event_handler_with_options(handler, options)
    }

    /// Removes a handler, dropping what is buffered for it, and joins its thread (SI-18).
    /// Idempotent.
    #[doc(alias = "RemoveEventHandler")]
    pub fn remove_event_handler(&self, registration: &HandlerRegistration<K>) {
        self.processor.remove_event_handler(registration);
    }

    /// Sets the transform (SI-20); the last call before start wins.
    ///
    /// # Errors
    ///
    /// [`InformerError::AlreadyStarted`] once [`run`](Self::run) was called.
    #[doc(alias = "SetTransform")]
    pub fn set_transform(
        &self,
        f: impl Fn(Arc<K>) -> Result<Arc<K>, BoxError> + Send + Sync + 'static,
    ) -> Result<(), InformerError> {
        let mut setup = self.setup_before_start("transform")?;
        setup.transform = Some(Arc::new(f));
        Ok(())
    }

    /// Sets the hook called at every end of a list or watch, with its cause and what the
    /// reflector does next (SI-20); informational only. The last call before start wins.
    ///
    /// # Errors
    ///
    /// [`InformerError::AlreadyStarted`] once [`run`](Self::run) was called.
    #[doc(alias = "SetWatchErrorHandler")]
    pub fn set_watch_error_handler(
        &self,
        hook: impl Fn(&Termination) + Send + Sync + 'static,
    ) -> Result<(), InformerError> {
        let mut setup = self.setup_before_start("watch_error_handler")?;
        setup.watch_error_handler = Some(Arc::new(hook));
        Ok(())
    }

    fn setup_before_start(
        &self,
        option: &'static str,
    ) -> Result<parking_lot::MutexGuard<'_, Setup<K, L>>, InformerError> {
        let setup = self.setup.lock();
        if setup.started {
            return Err(InformerError::AlreadyStarted {
                name: self.name.clone(),
                option,
            });
        }
        Ok(setup)
    }

    /// The cache. Read it freely; writing to it directly corrupts notifications (SI-21).
    #[doc(alias = "GetIndexer")]
    pub fn indexer(&self) -> &Arc<Indexer<K>> {
        &self.indexer
    }

    /// A lister over the cache.
    pub fn lister(&self) -> Lister<K> {
        Lister::new(Arc::clone(&self.indexer))
    }

    /// Whether the initial list has been fully popped into the cache (SI-15); false before
    /// start. Does not say that handlers ran: ask their registrations.
    #[doc(alias = "HasSynced")]
    pub fn has_synced(&self) -> bool {
        self.running.get().is_some_and(|r| r.fifo.has_synced())
    }

    /// The version of the last list or watch event applied, `""` before start.
    #[doc(alias = "LastSyncResourceVersion")]
    pub fn last_sync_resource_version(&self) -> String {
        self.running
            .get()
            .map(|r| r.reflector.last_sync_resource_version())
            .unwrap_or_default()
    }

    /// The error of the last list or watch that ended badly, cleared by a successful list.
    pub fn last_watch_error(&self) -> Option<ReflectorError> {
        self.status.last_error.lock().clone()
    }

    /// How many FIFO entries failed to process (an index function error) and were dropped
    /// (SI-3; client-go drops them silently).
    pub fn process_errors(&self) -> u64 {
        self.status.process_errors.load(Ordering::Relaxed)
    }

    /// Whether [`run`](Self::run) was called.
    pub fn is_started(&self) -> bool {
        self.setup.lock().started
    }

    /// Whether the informer ran and stopped; it accepts no handlers any more.
    #[doc(alias = "IsStopped")]
    pub fn is_stopped(&self) -> bool {
        self.status.stopped.load(Ordering::Acquire)
    }

    /// Runs the informer until `stop` completes (SI-1, SI-2): builds the FIFO and the reflector,
    /// starts the processor, the pop loop (on a thread named after the informer) and the
    /// reflector (on this task). When `stop` completes the reflector stops, the FIFO is closed,
    /// the pop thread is joined (entries still queued are dropped), then every handler is
    /// stopped and joined. Joining blocks the calling thread briefly; a handler that never
    /// returns makes it block forever.
    ///
    /// # Errors
    ///
    /// [`InformerError::AlreadyRunning`] on a second call; [`InformerError::Spawn`] if the pop
    /// thread cannot start; [`InformerError::Reflector`] if the reflector stopped on its own
    /// (its timer driver shut down). A stop is `Ok(())`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the informer as `stop` does (everything started is stopped
    /// and joined in the drop), except that the reflector reports no `Stop`.
    pub async fn run(&self, stop: impl Future<Output = ()>) -> Result<(), InformerError> {
        let running = self.start()?;
        let pop = self.spawn_pop_loop(running)?;
        let _shutdown = Shutdown {
            informer: self,
            fifo: &running.fifo,
            pop: Some(pop),
        };
        running.reflector.run(stop).await?;
        Ok(())
    }

    /// SI-1: under the setup lock, freeze the options and build the FIFO and the reflector.
    fn start(&self) -> Result<&Running<K, L>, InformerError> {
        let mut setup = self.setup.lock();
        if let Some(source) = &setup.metrics_error {
            return Err(InformerError::Metrics {
                name: self.name.clone(),
                source: source.clone(),
            });
        }
        let Some(mut lister_watcher) = setup.lister_watcher.take() else {
            return Err(InformerError::AlreadyRunning {
                name: self.name.clone(),
            });
        };
        lister_watcher.strip_managed_fields_early(self.strip_managed_fields);
        // GOALS I5: a relist answers unchanged objects with the cached `Arc`s.
        let cache = Arc::clone(&self.indexer);
        let share: CachedLookup<K> = Arc::new(move |obj: &K| cache.find_unchanged(obj));
        lister_watcher.share_cached(Arc::clone(&share));
        setup.started = true;
        let fifo = Arc::new(informer_fifo(
            Arc::clone(&self.indexer),
            setup.transform.clone(),
            self.strip_managed_fields,
        ));
        let hook = {
            let user = setup.watch_error_handler.clone();
            let status = Arc::clone(&self.status);
            let fifo = Arc::clone(&fifo);
            let processor = Arc::clone(&self.processor);
            move |end: &Termination| {
                match &end.error {
                    Some(error) => *status.last_error.lock() = Some(error.clone()),
                    None if end.next == Next::Watch => {
                        *status.last_error.lock() = None;
                        // An empty initial list syncs the FIFO without any pop.
                        status.check_synced(&fifo, &processor);
                    }
                    None => {}
                }
                if let Some(user) = &user {
                    user(end);
                }
            }
        };
        let should_resync = {
            let processor = Arc::clone(&self.processor);
            move || processor.should_resync()
        };
        let mut builder =
            Reflector::builder(lister_watcher, Arc::clone(&fifo), self.driver.clone())
                .name(self.name.clone())
                .resync(self.processor.resync_check_period(), should_resync)
                .max_internal_error_retry_duration(self.max_internal_error_retry)
                .streaming_list(self.streaming_list)
                .recorder(self.recorder.clone())
                .share_cached(share)
                .on_termination(hook);
        if let Some(limit) = self.page_size {
            builder = builder.page_size(limit);
        }
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        if let Some(timeout) = self.watch_idle_timeout {
            builder = builder.watch_idle_timeout(timeout);
        }
        let running = Running {
            fifo,
            reflector: builder.build(),
        };
        if self.running.set(running).is_err() {
            // Unreachable: the lister-watcher was taken above, under the same lock.
            return Err(InformerError::AlreadyRunning {
                name: self.name.clone(),
            });
        }
        // SI-2: the processor starts before the controller.
        self.processor.start();
        drop(setup);
        Ok(self.running.get().expect("set just above"))
    }

    fn spawn_pop_loop(&self, running: &Running<K, L>) -> Result<JoinHandle<()>, InformerError> {
        let fifo = Arc::clone(&running.fifo);
        let processor = Arc::clone(&self.processor);
        let status = Arc::clone(&self.status);
        let name = self.name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-pop", self.name))
            .spawn(move || {
                while !status.stopped.load(Ordering::Acquire) {
                    match pop_and_process(&fifo, &processor) {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => {
                            tracing::warn!(informer = %name, %error, "processing deltas failed; entry dropped");
                            status.process_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(PopError::Closed) => break,
                        Err(error) => {
                            tracing::error!(informer = %name, %error, "pop failed; the pop loop ends");
                            break;
                        }
                    }
                    status.check_synced(&fifo, &processor);
                }
            });
        spawned.map_err(|source| {
            // Nothing runs yet: leave the informer stopped.
            running.fifo.close();
            self.finish();
            InformerError::Spawn {
                name: self.name.clone(),
                source,
            }
        })
    }

    /// SI-2, the end: no new handlers, every listener stopped, waiters told.
    fn finish(&self) {
        self.status.stopped.store(true, Ordering::Release);
        self.processor.stop();
        self.status.sync.send_if_modified(|state| {
            let pending = *state == SyncState::Pending;
            if pending {
                *state = SyncState::Stopped;
            }
            pending
        });
    }
}

/// Stops what `run` started, when `run` returns or its future is dropped.
struct Shutdown<'a, K: Resource, L: ListerWatcher<K> + 'static> {
    informer: &'a SharedIndexInformer<K, L>,
    fifo: &'a DeltaFifo<K>,
    pop: Option<JoinHandle<()>>,
}

impl<K: Resource, L: ListerWatcher<K> + 'static> Drop for Shutdown<'_, K, L> {
    fn drop(&mut self) {
        // The pop loop checks the flag between entries; closing wakes it if it waits.
        self.informer.status.stopped.store(true, Ordering::Release);
        self.fifo.close();
        if let Some(pop) = self.pop.take()
            && pop.join().is_err()
        {
            tracing::error!(informer = %self.informer.name, "the pop loop panicked");
        }
        self.informer.finish();
        tracing::debug!(informer = %self.informer.name, "informer stopped");
    }
}

impl<K: Resource, L: ListerWatcher<K> + 'static> HasSynced for SharedIndexInformer<K, L> {
    fn has_synced(&self) -> bool {
        SharedIndexInformer::has_synced(self)
    }

    fn wait_synced(&self) -> BoxFuture<'static, bool> {
        let mut rx = self.status.sync.subscribe();
        Box::pin(async move {
            match rx.wait_for(|s| *s != SyncState::Pending).await {
                Ok(state) => *state == SyncState::Synced,
                Err(_) => false,
            }
        })
    }

    fn sync_name(&self) -> String {
        format!("informer {}", self.name)
    }

    fn last_sync_error(&self) -> Option<ReflectorError> {
        self.last_watch_error()
    }
}

impl<K, L> fmt::Debug for SharedIndexInformer<K, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedIndexInformer")
            .field("name", &self.name)
            .field("started", &self.setup.lock().started)
            .field("stopped", &self.status.stopped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

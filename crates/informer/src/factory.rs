//! [`SharedInformerFactory`] (feature `kube`): one shared informer per resource over one
//! `kube::Client`, started, waited for and shut down together (spec section 5.13, client-go's
//! `informers.SharedInformerFactory`, and its `dynamicinformer` and `metadatainformer`
//! counterparts for resources known only at run time and for metadata-only caches).
//!
//! # Ground rules
//!
//! * `state` (a `parking_lot::Mutex`) holds the informers by [`Key`], which of them were started,
//!   the tasks running them, and the `shut_down` flag. It is held only to read or change
//!   those: never across an await, never while an informer runs user code.
//! * Each informer is stored twice behind the same `Arc`: as `Arc<dyn Any>` to hand it back
//!   typed from [`informer`](SharedInformerFactory::informer), and as an `Arc<dyn Erased>` to
//!   start it, wait for it and name it without knowing its type.
//! * `stop` is a `tokio::sync::watch` flag: every informer task's stop future waits for it.
//!   Once set (by [`shutdown`](SharedInformerFactory::shutdown)) it is never cleared, and
//!   [`start`](SharedInformerFactory::start) starts nothing more.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use timer_wheel::Driver;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use kube::core::{ApiResource, DynamicObject, PartialObjectMeta};
use kube::discovery::Scope;

use crate::informer::{InformerError, SharedIndexInformer, SharedIndexInformerBuilder};
use crate::kube::{KubeListerWatcher, KubeMetadataListerWatcher, KubeObject};
use crate::lister_watcher::ListerWatcher;
use crate::metrics::MetricsProvider;
use crate::sync::{CacheSyncError, HasSynced, wait_for_cache_sync_async};

/// The informer a [`SharedInformerFactory`] makes for the kube type `K`.
pub type KubeInformer<K> = SharedIndexInformer<KubeObject<K>, KubeListerWatcher<K>>;

/// The informer a [`SharedInformerFactory`] makes for a resource known at run time
/// ([`dynamic_informer`](SharedInformerFactory::dynamic_informer)).
pub type DynamicInformer = KubeInformer<DynamicObject>;

/// The metadata-only informer a [`SharedInformerFactory`] makes for the kube type `K`
/// ([`metadata_informer`](SharedInformerFactory::metadata_informer)).
pub type MetadataInformer<K> =
    SharedIndexInformer<KubeObject<PartialObjectMeta<K>>, KubeMetadataListerWatcher<K>>;

/// What a factory asks of a kube type: what [`KubeListerWatcher`] lists and watches, with a
/// static scope (every `k8s-openapi` type and every `CustomResource` has one).
pub trait FactoryResource:
    kube::Resource<DynamicType = (), Scope: FactoryScope>
    + Clone
    + DeserializeOwned
    + fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> FactoryResource for K where
    K: kube::Resource<DynamicType = (), Scope: FactoryScope>
        + Clone
        + DeserializeOwned
        + fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// How a factory makes the `kube::Api` of a type of this scope: a namespaced type within the
/// factory's namespace, if it has one; a cluster-scoped type always cluster-wide. Implemented
/// for kube's two static scopes.
pub trait FactoryScope {
    /// The `Api` of `K`, in `namespace` where the scope has namespaces.
    fn api<K: kube::Resource<Scope = Self, DynamicType = ()>>(
        client: kube::Client,
        namespace: Option<&str>,
    ) -> kube::Api<K>;
}

impl FactoryScope for kube::core::NamespaceResourceScope {
    fn api<K: kube::Resource<Scope = Self, DynamicType = ()>>(
        client: kube::Client,
        namespace: Option<&str>,
    ) -> kube::Api<K> {
        match namespace {
            Some(ns) => kube::Api::namespaced(client, ns),
            None => kube::Api::all(client),
        }
    }
}

impl FactoryScope for kube::core::ClusterResourceScope {
    fn api<K: kube::Resource<Scope = Self, DynamicType = ()>>(
        client: kube::Client,
        _namespace: Option<&str>,
    ) -> kube::Api<K> {
        kube::Api::all(client)
    }
}

/// Why a factory call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FactoryError {
    /// [`start`](SharedInformerFactory::start) was called outside a tokio runtime: the
    /// informers run as tokio tasks (kube's client needs tokio anyway).
    #[error("start needs a tokio runtime to spawn the informers on")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
    /// Some informers ended with an error (reported by
    /// [`shutdown`](SharedInformerFactory::shutdown)).
    #[error("informers failed: {}", failures.iter().map(|(n, e)| format!("{n}: {e}")).collect::<Vec<_>>().join("; "))]
    Informers {
        /// Each failed informer's name and error.
        failures: Vec<(String, InformerError)>,
    },
}

/// Configures a [`SharedInformerFactory`]; made by [`SharedInformerFactory::builder`].
pub struct SharedInformerFactoryBuilder {
    client: kube::Client,
    driver: Driver,
    namespace: Option<String>,
    label_selector: Option<String>,
    field_selector: Option<String>,
    default_resync: Duration,
    resync: HashMap<TypeId, Duration>,
    resource_resync: HashMap<String, Duration>,
    streaming_list: bool,
    watch_idle_timeout: Option<Duration>,
    metrics_provider: Option<Arc<dyn MetricsProvider>>,
}

impl SharedInformerFactoryBuilder {
    /// Only objects of this namespace (client-go's `WithNamespace`); default: all namespaces.
    /// Cluster-scoped types ignore it.
    #[doc(alias = "WithNamespace")]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Only objects whose labels match `selector`, for every type (client-go's
    /// `WithTweakListOptions` setting `LabelSelector`).
    #[doc(alias = "WithTweakListOptions")]
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Only objects whose fields match `selector`, for every type.
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    /// The resync period of every informer (default zero: never; SI-5).
    pub fn default_resync(mut self, period: Duration) -> Self {
        self.default_resync = period;
        self
    }

    /// The resync period of the informer of `K` (client-go's `WithCustomResyncConfig`).
    #[doc(alias = "WithCustomResyncConfig")]
    pub fn resync_for<K: 'static>(mut self, period: Duration) -> Self {
        self.resync.insert(TypeId::of::<K>(), period);
        self
    }

    /// The resync period of the [dynamic informer](SharedInformerFactory::dynamic_informer)
    /// of `resource`; dynamic informers of other resources use the
    /// [default](Self::default_resync).
    pub fn resync_for_resource(mut self, resource: &ApiResource, period: Duration) -> Self {
        self.resource_resync.insert(resource_name(resource), period);
        self
    }

    /// The client-side watch idle timeout of every informer (see
    /// [`SharedIndexInformerBuilder::watch_idle_timeout`]; default: the watch's own
    /// `timeoutSeconds` plus a grace, so a healthy watch is never cut).
    pub fn watch_idle_timeout(mut self, timeout: Duration) -> Self {
        self.watch_idle_timeout = Some(timeout);
        self
    }

    /// Whether the informers try streaming lists first (see
    /// [`SharedIndexInformerBuilder::streaming_list`](crate::SharedIndexInformerBuilder::streaming_list)).
    pub fn streaming_list(mut self, enabled: bool) -> Self {
        self.streaming_list = enabled;
        self
    }

    /// Records every informer's [`metrics`](crate::metrics) through `provider`, each under
    /// its resource name (`pods`, `deployments.apps`).
    pub fn metrics_provider(mut self, provider: Arc<dyn MetricsProvider>) -> Self {
        self.metrics_provider = Some(provider);
        self
    }

    /// The factory.
    pub fn build(self) -> SharedInformerFactory {
        SharedInformerFactory {
            options: self,
            state: Mutex::new(State::default()),
            stop: watch::channel(false).0,
        }
    }
}

/// client-go's `SharedInformerFactory`: one [`KubeInformer`] per resource type, shared by
/// everyone who asks for that type, started and stopped together.
///
/// * [`informer::<K>()`](Self::informer) makes the informer of `K` on first use and returns
///   the same one afterwards (so handlers and listers of several controllers share one watch
///   and one cache);
/// * [`start`](Self::start) runs every informer not yet started, each in a tokio task; an
///   informer asked for later starts at the next `start`;
/// * [`wait_for_cache_sync`](Self::wait_for_cache_sync) waits for the started ones;
/// * [`shutdown`](Self::shutdown) stops them all and waits for their tasks; `start` is a
///   no-op afterwards.
///
/// Namespace, selectors, resync periods, streaming lists and metrics are factory options.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use informer::SharedInformerFactory;
/// use k8s_openapi::api::core::v1::Pod;
/// use timer_wheel::Driver;
///
/// let factory = SharedInformerFactory::builder(client, Driver::global().clone())
///     .namespace("default")
///     .build();
/// let pods = factory.informer::<Pod>();
/// assert!(std::sync::Arc::ptr_eq(&pods, &factory.informer::<Pod>()));
/// factory.start()?;
/// factory.wait_for_cache_sync(Duration::from_secs(30)).await?;
/// println!("{} pods", pods.indexer().list().len());
/// factory.shutdown().await?;
/// # Ok(())
/// # }
/// ```
pub struct SharedInformerFactory {
    options: SharedInformerFactoryBuilder,
    state: Mutex<State>,
    stop: watch::Sender<bool>,
}

/// What the factory keeps one informer of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A typed informer of this type.
    Typed(TypeId),
    /// A metadata-only informer of this type.
    Metadata(TypeId),
    /// A dynamic informer of this resource (`plural.group/version`).
    Dynamic(String),
}

#[derive(Default)]
struct State {
    informers: HashMap<Key, Entry>,
    tasks: Vec<(String, JoinHandle<Result<(), InformerError>>)>,
    shut_down: bool,
}

struct Entry {
    typed: Arc<dyn Any + Send + Sync>,
    erased: Arc<dyn Erased>,
    started: bool,
}

/// What the factory does with an informer without knowing its type.
trait Erased: HasSynced {
    fn run(
        self: Arc<Self>,
        stop: BoxFuture<'static, ()>,
    ) -> BoxFuture<'static, Result<(), InformerError>>;
    fn informer_name(&self) -> &str;
}

impl<K, L> Erased for SharedIndexInformer<KubeObject<K>, L>
where
    K: kube::Resource + Clone + DeserializeOwned + fmt::Debug + Send + Sync + 'static,
    L: ListerWatcher<KubeObject<K>> + 'static,
{
    fn run(
        self: Arc<Self>,
        stop: BoxFuture<'static, ()>,
    ) -> BoxFuture<'static, Result<(), InformerError>> {
        Box::pin(async move { SharedIndexInformer::run(&self, stop).await })
    }

    fn informer_name(&self) -> &str {
        self.name()
    }
}

impl SharedInformerFactory {
    /// A builder for a factory listing and watching through `client`, the informers' timers
    /// running on `driver`.
    pub fn builder(client: kube::Client, driver: Driver) -> SharedInformerFactoryBuilder {
        SharedInformerFactoryBuilder {
            client,
            driver,
            namespace: None,
            label_selector: None,
            field_selector: None,
            default_resync: Duration::ZERO,
            resync: HashMap::new(),
            resource_resync: HashMap::new(),
            streaming_list: false,
            watch_idle_timeout: None,
            metrics_provider: None,
        }
    }

    /// The shared informer of `K`, made on first use (client-go's `InformerFor`). Add
    /// handlers and indexes to it; it starts at the next [`start`](Self::start).
    #[doc(alias = "InformerFor")]
    pub fn informer<K: FactoryResource>(&self) -> Arc<KubeInformer<K>> {
        self.get_or_make(Key::Typed(TypeId::of::<K>()), || {
            let api = self.api::<K>();
            let resync = self.resync_of::<K>();
            let lister_watcher = self.filtered(KubeListerWatcher::new(api));
            let name = lister_watcher.resource().to_owned();
            self.make(lister_watcher, name, resync)
        })
    }

    /// The shared informer of a resource known only at run time, its objects as
    /// `DynamicObject` (client-go's `dynamicinformer.ForResource`). One per resource
    /// (group, version and plural); `scope` says whether the factory's namespace applies.
    /// Its name (in [`synced`](Self::synced), logs and metrics) is `plural.group/version`,
    /// so it is told apart from the typed informer of the same resource.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(factory: &informer::SharedInformerFactory) {
    /// use kube::core::{ApiResource, GroupVersionKind};
    /// use kube::discovery::Scope;
    ///
    /// let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    /// let widgets = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    /// let informer = factory.dynamic_informer(&widgets, Scope::Namespaced);
    /// assert_eq!(informer.name(), "widgets.example.com/v1");
    /// # }
    /// ```
    #[doc(alias = "ForResource")]
    pub fn dynamic_informer(&self, resource: &ApiResource, scope: Scope) -> Arc<DynamicInformer> {
        let name = resource_name(resource);
        let resync = self
            .options
            .resource_resync
            .get(&name)
            .copied()
            .unwrap_or(self.options.default_resync);
        self.get_or_make(Key::Dynamic(name.clone()), || {
            let o = &self.options;
            let api = match (scope, o.namespace.as_deref()) {
                (Scope::Namespaced, Some(ns)) => {
                    kube::Api::namespaced_with(o.client.clone(), ns, resource)
                }
                _ => kube::Api::all_with(o.client.clone(), resource),
            };
            let lister_watcher = self.filtered(KubeListerWatcher::new_with(api, resource));
            self.make(lister_watcher, name, resync)
        })
    }

    /// The shared metadata-only informer of `K`: its cache holds each object's type and
    /// metadata, without spec or status (client-go's `metadatainformer`). It is a different
    /// informer from [`informer::<K>()`](Self::informer), with its own watch, named
    /// `RESOURCE (metadata only)`.
    pub fn metadata_informer<K: FactoryResource>(&self) -> Arc<MetadataInformer<K>> {
        self.get_or_make(Key::Metadata(TypeId::of::<K>()), || {
            let api = self.api::<K>();
            let resync = self.resync_of::<K>();
            let lister_watcher = self.filtered(KubeListerWatcher::new(api));
            let name = format!("{} (metadata only)", lister_watcher.resource());
            self.make(lister_watcher.metadata_only(), name, resync)
        })
    }

    /// The entry under `key`, made by `make` when missing, as the informer type `I`.
    fn get_or_make<I, F>(&self, key: Key, make: F) -> Arc<I>
    where
        I: Erased + Send + Sync + 'static,
        F: FnOnce() -> I,
    {
        let mut state = self.state.lock();
        let entry = state.informers.entry(key).or_insert_with(|| {
            let informer = Arc::new(make());
            Entry {
                typed: Arc::clone(&informer) as Arc<dyn Any + Send + Sync>,
                erased: informer,
                started: false,
            }
        });
        Arc::clone(&entry.typed)
            .downcast::<I>()
            .unwrap_or_else(|_| unreachable!("each key holds one informer type"))
    }

    fn api<K: FactoryResource>(&self) -> kube::Api<K> {
        let o = &self.options;
        <K::Scope as FactoryScope>::api::<K>(o.client.clone(), o.namespace.as_deref())
    }

    fn resync_of<K: 'static>(&self) -> Duration {
        let o = &self.options;
        o.resync
            .get(&TypeId::of::<K>())
            .copied()
            .unwrap_or(o.default_resync)
    }

    /// `lister_watcher` with the factory's selectors.
    fn filtered<K: kube::Resource>(
        &self,
        mut lister_watcher: KubeListerWatcher<K>,
    ) -> KubeListerWatcher<K> {
        let o = &self.options;
        if let Some(selector) = &o.label_selector {
            lister_watcher = lister_watcher.labels(selector.clone());
        }
        if let Some(selector) = &o.field_selector {
            lister_watcher = lister_watcher.fields(selector.clone());
        }
        lister_watcher
    }

    fn make<K, L>(
        &self,
        lister_watcher: L,
        name: String,
        resync: Duration,
    ) -> SharedIndexInformer<KubeObject<K>, L>
    where
        K: kube::Resource + Clone + DeserializeOwned + fmt::Debug + Send + Sync + 'static,
        L: ListerWatcher<KubeObject<K>> + 'static,
    {
        let o = &self.options;
        let mut builder: SharedIndexInformerBuilder<KubeObject<K>, L> =
            SharedIndexInformer::builder(lister_watcher, o.driver.clone())
                .name(name)
                .resync_period(resync)
                .streaming_list(o.streaming_list);
        if let Some(timeout) = o.watch_idle_timeout {
            builder = builder.watch_idle_timeout(timeout);
        }
        if let Some(provider) = &o.metrics_provider {
            builder = builder.metrics_provider(Arc::clone(provider));
        }
        builder.build()
    }

    /// Starts every informer not started yet, each in a task on the current tokio runtime
    /// (client-go's `Start`). Idempotent; after [`shutdown`](Self::shutdown), a no-op.
    ///
    /// # Errors
    ///
    /// [`FactoryError::NoRuntime`] outside a tokio runtime (nothing is started).
    #[doc(alias = "Start")]
    pub fn start(&self) -> Result<(), FactoryError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(FactoryError::NoRuntime)?;
        let mut state = self.state.lock();
        if state.shut_down {
            return Ok(());
        }
        let mut spawned = Vec::new();
        for entry in state.informers.values_mut().filter(|e| !e.started) {
            entry.started = true;
            let mut stop = self.stop.subscribe();
            let stop: BoxFuture<'static, ()> = Box::pin(async move {
                // An error means the factory is gone: stop too.
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            let name = entry.erased.informer_name().to_owned();
            let task = runtime.spawn(Arc::clone(&entry.erased).run(stop));
            spawned.push((name, task));
        }
        state.tasks.extend(spawned);
        Ok(())
    }

    /// Waits until every started informer has synced, for at most `timeout` on the real clock
    /// (client-go's `WaitForCacheSync`, which returns a map: see [`synced`](Self::synced)).
    ///
    /// # Errors
    ///
    /// As [`wait_for_cache_sync`](crate::wait_for_cache_sync): a timeout naming the informers
    /// that had not synced, with the last list or watch error as its cause, or one that
    /// stopped first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    #[doc(alias = "WaitForCacheSync")]
    pub async fn wait_for_cache_sync(&self, timeout: Duration) -> Result<(), CacheSyncError> {
        let started: Vec<Arc<dyn Erased>> = {
            let state = self.state.lock();
            state
                .informers
                .values()
                .filter(|e| e.started)
                .map(|e| Arc::clone(&e.erased))
                .collect()
        };
        let checks: Vec<&dyn HasSynced> = started.iter().map(|e| &**e as &dyn HasSynced).collect();
        wait_for_cache_sync_async(timeout, &checks).await
    }

    /// Whether each started informer has synced, by resource name.
    pub fn synced(&self) -> BTreeMap<String, bool> {
        let state = self.state.lock();
        state
            .informers
            .values()
            .filter(|e| e.started)
            .map(|e| (e.erased.informer_name().to_owned(), e.erased.has_synced()))
            .collect()
    }

    /// Stops every informer and waits for their tasks (client-go's `Shutdown`); afterwards
    /// [`start`](Self::start) starts nothing. Idempotent.
    ///
    /// # Errors
    ///
    /// [`FactoryError::Informers`] with every informer whose run ended with an error. A task
    /// that panicked is logged.
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the informers still stop (the flag is set first), but the tasks not yet
    /// awaited are no longer waited for.
    #[doc(alias = "Shutdown")]
    pub async fn shutdown(&self) -> Result<(), FactoryError> {
        let tasks = {
            let mut state = self.state.lock();
            state.shut_down = true;
            std::mem::take(&mut state.tasks)
        };
        self.stop.send_replace(true);
        let mut failures = Vec::new();
        for (name, task) in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => failures.push((name, error)),
                Err(error) => tracing::error!(informer = %name, %error, "informer task panicked"),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(FactoryError::Informers { failures })
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.state.lock().shut_down
    }
}

/// How the factory keys a dynamic resource: `plural.group/version` (`widgets.example.com/v1`,
/// `configmaps/v1`).
fn resource_name(resource: &ApiResource) -> String {
    if resource.group.is_empty() {
        format!("{}/{}", resource.plural, resource.version)
    } else {
        format!(
            "{}.{}/{}",
            resource.plural, resource.group, resource.version
        )
    }
}

impl fmt::Debug for SharedInformerFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        let names: Vec<&str> = state
            .informers
            .values()
            .map(|e| e.erased.informer_name())
            .collect();
        f.debug_struct("SharedInformerFactory")
            .field("informers", &names)
            .field("namespace", &self.options.namespace)
            .field("shut_down", &state.shut_down)
            .finish_non_exhaustive()
    }
}

//! Starting a server ([`Builder`]) and controlling it ([`ServerHandle`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use parking_lot::RwLock;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::faults::{CLIENT_HEADER, FaultState, Faults};
use crate::resources::{Registry, ResourceDef, ResourceKey};
use crate::serve;
use crate::server::{self, Shared};
use crate::status::ApiError;
use crate::store::Store;

/// Events kept for watches by default: a watch may start up to this many writes in the past.
pub const DEFAULT_HISTORY: usize = 100_000;
/// Bytes of objects the kept events may hold by default (each event counts the object it
/// carries): past this, the oldest events go first, whatever their number.
pub const DEFAULT_HISTORY_BYTES: usize = 64 * 1024 * 1024;
/// Bookmark period by default: a minute, as kube-apiserver's watch cache sends them. A test
/// that wants to see bookmarks soon sets a shorter one ([`Builder::bookmark_interval`]).
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);
/// How long a watch may wait for its client to read before it is closed, by default.
pub const DEFAULT_SLOW_WATCHER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may take to send a request head by default (kube-apiserver's
/// `ReadHeaderTimeout` is 32 s).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);
/// Largest request body by default (the real server's limit is 3 MiB too).
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Namespaces that exist from the start, as in a fresh cluster.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Entry point: `FakeApiServer::builder()`.
#[derive(Debug)]
#[non_exhaustive]
pub struct FakeApiServer;

impl FakeApiServer {
    /// A builder with the defaults: `127.0.0.1:0`, built-in resources, initial namespaces.
    pub fn builder() -> Builder {
        Builder {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            history: DEFAULT_HISTORY,
            history_bytes: DEFAULT_HISTORY_BYTES,
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
            slow_watcher_timeout: DEFAULT_SLOW_WATCHER_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            namespace_controller: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            resources: ResourceDef::builtins(),
            namespaces: true,
        }
    }
}

/// Configures and starts a server.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), fake_apiserver::Error> {
/// use std::time::Duration;
/// use fake_apiserver::FakeApiServer;
///
/// let server = FakeApiServer::builder()
///     .history(1_000)
///     .bookmark_interval(Duration::from_millis(200))
///     .start()
///     .await?;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    addr: SocketAddr,
    history: usize,
    history_bytes: usize,
    bookmark_interval: Duration,
    slow_watcher_timeout: Duration,
    header_read_timeout: Duration,
    namespace_controller: bool,
    max_body_bytes: usize,
    resources: Vec<ResourceDef>,
    namespaces: bool,
}

impl Builder {
    /// Listen on `addr` instead of `127.0.0.1:0`. Only loopback is used unless you ask here:
    /// the server has no authentication at all.
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Listen on this port of 127.0.0.1 (0: any free port).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self
    }

    /// Number of events kept for watches (at least 1).
    #[must_use]
    pub fn history(mut self, events: usize) -> Self {
        self.history = events.max(1);
        self
    }

    /// Bytes of objects the kept events may hold (default [`DEFAULT_HISTORY_BYTES`]); the newest
    /// event is kept whatever its size.
    #[must_use]
    pub fn history_bytes(mut self, bytes: usize) -> Self {
        self.history_bytes = bytes;
        self
    }

    /// Period of BOOKMARK events on watches that allow them (default
    /// [`DEFAULT_BOOKMARK_INTERVAL`], a minute, as on a real server).
    #[must_use]
    pub fn bookmark_interval(mut self, period: Duration) -> Self {
        self.bookmark_interval = period.max(Duration::from_millis(1));
        self
    }

    /// How long a watch waits for a client that has stopped reading before closing it (default
    /// [`DEFAULT_SLOW_WATCHER_TIMEOUT`]); the client resumes from its last resourceVersion.
    #[must_use]
    pub fn slow_watcher_timeout(mut self, timeout: Duration) -> Self {
        self.slow_watcher_timeout = timeout;
        self
    }

    /// How long a connection may take to send a complete request head before it is closed
    /// (default [`DEFAULT_HEADER_READ_TIMEOUT`]).
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Run the namespace controller (default: no): a deleted namespace is emptied and then
    /// removed, as in a cluster with kube-controller-manager. Without it a deleted namespace
    /// stays `Terminating` with its contents, as on a bare kube-apiserver.
    #[must_use]
    pub fn namespace_controller(mut self, yes: bool) -> Self {
        self.namespace_controller = yes;
        self
    }

    /// Largest accepted request body (and stored object); larger ones get 413.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Serve one more resource from the start.
    #[must_use]
    pub fn resource(mut self, def: ResourceDef) -> Self {
        self.resources.push(def);
        self
    }

    /// Whether `default`, `kube-system`, `kube-public` and `kube-node-lease` exist at start
    /// (default: yes).
    #[must_use]
    pub fn initial_namespaces(mut self, yes: bool) -> Self {
        self.namespaces = yes;
        self
    }

    /// Bind, spawn the server on the current tokio runtime and build a client for it.
    ///
    /// # Errors
    ///
    /// [`Error::Bind`] when the address cannot be bound, [`Error::Client`] when the client
    /// cannot be built, [`Error::InvalidResource`] for a bad resource definition.
    ///
    /// # Cancel safety
    ///
    /// Cancelling drops the listener; nothing keeps running.
    pub async fn start(self) -> Result<ServerHandle> {
        for def in &self.resources {
            check_def(def)?;
        }
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: self.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.addr,
            source,
        })?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "fake-apiserver listens on a non-loopback address: it has no authentication");
        }
        let store = Arc::new(Store::new(
            self.history,
            self.history_bytes,
            0,
            self.max_body_bytes,
        ));
        let faults = Arc::new(FaultState::new(Arc::clone(&store)));
        let shared = Arc::new(Shared {
            store: Arc::clone(&store),
            registry: RwLock::new(Registry::with(self.resources)),
            faults: Arc::clone(&faults),
            bookmark_interval: self.bookmark_interval,
            slow_watcher_timeout: self.slow_watcher_timeout,
            max_body_bytes: self.max_body_bytes,
            address: addr.to_string(),
        });
        if self.namespaces {
            let ns_def = ResourceDef::builtins()
                .into_iter()
                .find(|d| d.plural == "namespaces");
            for name in INITIAL_NAMESPACES {
                if let Some(def) = &ns_def {
                    let _ =
                        store.create(def, "", serde_json::json!({ "metadata": { "name": name } }));
                }
            }
        }
        let url = format!("http://{addr}");
        let client = build_client(&url, None)?;

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let router = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&shared));
        if self.namespace_controller {
            tokio::spawn(namespace_controller(
                Arc::downgrade(&store),
                stop_rx.clone(),
            ));
        }
        let task = tokio::spawn(serve::serve(
            listener,
            router,
            self.header_read_timeout,
            stop_rx,
        ));
        tracing::info!(%url, "fake-apiserver listening");
        Ok(ServerHandle {
            url,
            addr,
            client,
            shared,
            faults: Faults { state: faults },
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// A client for `url` without kube's own retries, sending [`CLIENT_HEADER`] when `name` is set.
fn build_client(url: &str, name: Option<&str>) -> Result<kube::Client> {
    let client_error = |source| Error::Client {
        url: url.to_owned(),
        source,
    };
    let mut config = kube::Config::new(
        url.parse()
            .map_err(|_| Error::InvalidResource(format!("bad url {url}")))?,
    );
    // kube retries 429/503/504 by itself (up to 15 times, backing off to minutes): tests must
    // see injected faults as they are, so this client does not.
    config.default_retry = false;
    if let Some(name) = name {
        let value = HeaderValue::from_str(name).map_err(|_| Error::ClientName(name.to_owned()))?;
        config
            .headers
            .push((HeaderName::from_static(CLIENT_HEADER), value));
    }
    kube::Client::try_from(config).map_err(client_error)
}

fn check_def(def: &ResourceDef) -> Result<()> {
    let ok = |s: &str| crate::meta::validate_label(s).is_ok();
    if !ok(&def.plural)
        || !ok(&def.version)
        || def.kind.is_empty()
        || !(def.group.is_empty() || crate::meta::validate_subdomain(&def.group).is_ok())
    {
        return Err(Error::InvalidResource(format!(
            "{}/{} {}: group must be empty or a DNS subdomain, version and plural DNS labels, kind non-empty",
            def.group, def.version, def.plural
        )));
    }
    Ok(())
}

/// A running server. Dropping it stops the server too (without waiting); prefer
/// [`ServerHandle::shutdown`].
pub struct ServerHandle {
    url: String,
    addr: SocketAddr,
    client: kube::Client,
    shared: Arc<Shared>,
    faults: Faults,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `kube::Client` for this server (clones share one connection pool).
    ///
    /// Its built-in retry of 429/503/504 is off, so callers see every injected fault; build a
    /// client from [`Self::url`] to get kube's defaults.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A new `kube::Client` for this server that names itself `name` in every request (the
    /// [`CLIENT_HEADER`] header), so [`FaultRule::client`](crate::FaultRule::client) can fail its
    /// requests alone: one replica cut off from the server while the others carry on. Like
    /// [`Self::client`], it does not retry by itself. It has its own connection pool.
    ///
    /// # Errors
    ///
    /// [`Error::ClientName`] if `name` is not a valid header value (control characters);
    /// [`Error::Client`] if kube cannot build the client.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use fake_apiserver::{FakeApiServer, FaultRule};
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// use kube::Api;
    ///
    /// let server = FakeApiServer::builder().start().await?;
    /// server.faults().fail(FaultRule::status(503).client("cut-off").always());
    /// let cut_off: Api<ConfigMap> = Api::namespaced(server.named_client("cut-off")?, "default");
    /// let fine: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    /// assert!(cut_off.get_opt("x").await.is_err());
    /// assert!(fine.get_opt("x").await?.is_none());
    /// server.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn named_client(&self, name: &str) -> Result<kube::Client> {
        build_client(&self.url, Some(name))
    }

    /// The fault-injection control handle.
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.current_rv()
    }

    /// The oldest resourceVersion a watch may start from.
    pub fn history_floor(&self) -> u64 {
        self.shared.store.floor()
    }

    /// Number of events kept for watches.
    pub fn history_len(&self) -> usize {
        self.shared.store.history_len()
    }

    /// Bytes of objects the kept events hold.
    pub fn history_bytes(&self) -> usize {
        self.shared.store.history_bytes()
    }

    /// Number of stored objects of all resources.
    pub fn object_count(&self) -> usize {
        self.shared.store.len()
    }

    /// Serve one more resource (or replace the definition with the same group, version and
    /// plural). Objects already stored for it are kept.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidResource`] when names are not valid DNS labels/subdomains.
    pub fn register(&self, def: ResourceDef) -> Result<()> {
        check_def(&def)?;
        self.shared.registry.write().insert(def);
        Ok(())
    }

    /// Stop serving a resource (its objects stay stored, unreachable). Returns whether it existed.
    pub fn unregister(&self, group: &str, version: &str, plural: &str) -> bool {
        let key = ResourceKey {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
        };
        self.shared.registry.write().remove(&key).is_some()
    }

    /// Create an object directly, without HTTP: the same checks and server-set fields as a POST
    /// (seeding large fixtures is much faster this way). `namespace` is ignored for
    /// cluster-scoped resources.
    ///
    /// # Errors
    ///
    /// The [`ApiError`] a POST would have answered (unknown resource: 404).
    pub fn create(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: &str,
        object: Value,
    ) -> Result<Value, ApiError> {
        let def = self
            .shared
            .registry
            .read()
            .find(group, version, plural)
            .cloned()
            .ok_or_else(|| ApiError::no_route(plural))?;
        let ns = if def.namespaced() { namespace } else { "" };
        Ok(self.shared.store.create(&def, ns, object)?.value())
    }

    /// Delete an object directly, without HTTP, as a DELETE without preconditions would: gone
    /// at once (watchers get a `DELETED` event), or only marked with a `deletionTimestamp`
    /// while it has finalizers. Returns the object as the DELETE would.
    ///
    /// # Errors
    ///
    /// The [`ApiError`] a DELETE would have answered (no such object or resource: 404).
    pub fn delete(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let def = self
            .shared
            .registry
            .read()
            .find(group, version, plural)
            .cloned()
            .ok_or_else(|| ApiError::no_route(plural))?;
        let ns = if def.namespaced() { namespace } else { "" };
        let pre = crate::store::Preconditions::default();
        Ok(self.shared.store.delete(&def, ns, name, &pre)?.value())
    }

    /// The state every request shares.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A kubeconfig (YAML) pointing at this server, context `fake-apiserver`, no credentials.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake-apiserver\n  cluster:\n    server: {url}\n\
             contexts:\n- name: fake-apiserver\n  context:\n    cluster: fake-apiserver\n    user: fake-apiserver\n    namespace: default\n\
             current-context: fake-apiserver\nusers:\n- name: fake-apiserver\n  user: {{}}\npreferences: {{}}\n",
            url = self.url
        )
    }

    /// Write [`Self::kubeconfig`] to `path`, safely: the file is readable by its owner only
    /// (mode 0600) and appears whole or not at all. It is written to a new file beside `path`,
    /// created exclusively (so a planted file or symlink is never opened or followed), then
    /// renamed over `path` (a symlink at `path` is replaced, not followed).
    ///
    /// # Errors
    ///
    /// [`Error::Kubeconfig`] when the file cannot be written.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        write_private(path, self.kubeconfig().as_bytes()).map_err(|source| Error::Kubeconfig {
            path: path.to_owned(),
            source,
        })
    }

    /// Close every watch, stop accepting connections and wait for the server task to end.
    ///
    /// # Cancel safety
    ///
    /// The server is told to stop before the first await; cancelling only skips the wait.
    pub async fn shutdown(mut self) {
        self.shared.faults.close_watches(None);
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shared.faults.close_watches(None);
        let _ = self.stop.send(true);
    }
}

/// Writes `contents` to `path` through an exclusively created 0600 file beside it, renamed into
/// place.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        crate::meta::unix_nanos()
    ));
    let temp = path.with_file_name(temp_name);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The namespace controller's loop: a pass after every change, until the server stops.
async fn namespace_controller(
    store: std::sync::Weak<Store>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(mut changes) = store.upgrade().map(|s| s.subscribe()) else {
        return;
    };
    loop {
        match store.upgrade() {
            Some(store) => {
                store.namespace_controller_pass();
            }
            None => return,
        }
        tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
    }
}

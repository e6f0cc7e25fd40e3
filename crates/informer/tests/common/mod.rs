//! Shared test fixtures: a small pod-like object.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

#[cfg(feature = "kube")]
pub mod versions;

use std::sync::Arc;

use delta_fifo::Object;
use informer::{IndexFn, Resource};

/// A pod-like object: namespace, name, resourceVersion, a node, and optional managed fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub ns: String,
    pub name: String,
    pub rv: String,
    pub node: String,
    pub managed: Option<String>,
}

impl Object for Pod {
    fn namespace(&self) -> Option<&str> {
        Some(&self.ns)
    }
    fn name(&self) -> Option<&str> {
        Some(&self.name)
    }
}

impl Resource for Pod {
    fn resource_version(&self) -> Option<&str> {
        Some(&self.rv)
    }
    fn without_managed_fields(&self) -> Option<Self> {
        self.managed.as_ref().map(|_| Self {
            managed: None,
            ..self.clone()
        })
    }
}

pub fn pod(ns: &str, name: &str, rv: &str) -> Pod {
    Pod {
        ns: ns.into(),
        name: name.into(),
        rv: rv.into(),
        node: String::new(),
        managed: None,
    }
}

pub fn pod_on(ns: &str, name: &str, rv: &str, node: &str) -> Pod {
    Pod {
        node: node.into(),
        ..pod(ns, name, rv)
    }
}

/// Index by node; `""` node ⇒ no value; `"a,b"` ⇒ two values; `"!"` ⇒ the index fn fails.
pub fn by_node() -> IndexFn<Pod> {
    IndexFn::new(|p: &Pod| {
        if p.node == "!" {
            return Err("bad node".to_owned());
        }
        Ok(p.node
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    })
}

pub fn keys_of(objs: &[Arc<Pod>]) -> Vec<String> {
    let mut keys: Vec<_> = objs
        .iter()
        .map(|p| format!("{}/{}", p.ns, p.name))
        .collect();
    keys.sort();
    keys
}

impl informer::MemoryObject for Pod {
    fn set_resource_version(&mut self, rv: &str) {
        self.rv = rv.to_owned();
    }
}

/// An informer over the in-memory server running on a thread of its own under
/// `futures::executor::block_on`; stopped and joined by [`Running::stop`] or on drop.
pub struct Running {
    stop: Option<futures::channel::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), informer::InformerError>>>,
}

impl Running {
    /// Stops the informer and returns what its `run` returned.
    pub fn stop(mut self) -> Result<(), informer::InformerError> {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts `informer` on its own thread.
pub fn run(
    informer: &Arc<informer::SharedIndexInformer<Pod, informer::MemoryListerWatcher<Pod>>>,
) -> Running {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let informer = Arc::clone(informer);
    let thread = std::thread::spawn(move || {
        futures::executor::block_on(informer.run(async {
            let _ = rx.await;
        }))
    });
    Running {
        stop: Some(tx),
        thread: Some(thread),
    }
}

/// Waits until `cond` holds, polling for at most about ten seconds (a passing test waits
/// far less); panics naming `what` otherwise. For state another thread sets just after the
/// event a test observed.
#[allow(
    clippy::disallowed_methods,
    reason = "a bounded poll of state set by another thread"
)]
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(cond(), "gave up waiting for {what}");
}

/// What [`spawn_informer`] returns: the stop signal (send or drop it) and the task.
pub type Spawned = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), informer::InformerError>>,
);

/// Runs `informer` in a tokio task until the returned sender fires or is dropped.
pub fn spawn_informer<K, L>(informer: &Arc<informer::SharedIndexInformer<K, L>>) -> Spawned
where
    K: Resource,
    L: informer::ListerWatcher<K> + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let informer = Arc::clone(informer);
    let task = tokio::spawn(async move {
        informer
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    (stop, task)
}

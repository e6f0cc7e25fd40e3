//! A shared informer with two handlers and an index, over the in-memory API server model (no
//! cluster, no HTTP): one handler logs every event, the other counts pods per node; the index
//! answers "which pods run on node-a?" from the cache.
//!
//! Run: `cargo run --example informer`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use delta_fifo::Object;
use informer::{
    IndexFn, Indexer, MemoryListerWatcher, MemoryObject, Resource, SharedIndexInformer, handler_fn,
    wait_for_cache_sync_async,
};
use timer_wheel::Driver;

#[derive(Clone, Debug)]
struct Pod {
    namespace: String,
    name: String,
    node: String,
    resource_version: String,
}

impl Object for Pod {
    fn namespace(&self) -> Option<&str> {
        Some(&self.namespace)
    }
    fn name(&self) -> Option<&str> {
        Some(&self.name)
    }
}

impl Resource for Pod {
    fn resource_version(&self) -> Option<&str> {
        Some(&self.resource_version)
    }
}

impl MemoryObject for Pod {
    fn set_resource_version(&mut self, resource_version: &str) {
        self.resource_version = resource_version.to_owned();
    }
}

fn pod(name: &str, node: &str) -> Pod {
    Pod {
        namespace: "default".into(),
        name: name.into(),
        node: node.into(),
        resource_version: String::new(),
    }
}

#[allow(clippy::print_stdout, reason = "an example prints what it does")]
async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let server = MemoryListerWatcher::<Pod>::new();
    server.create(pod("web-1", "node-a"))?;
    server.create(pod("web-2", "node-b"))?;

    let by_node = IndexFn::new(|p: &Pod| Ok::<_, String>(vec![p.node.clone()]));
    let informer = Arc::new(
        SharedIndexInformer::builder(server.clone(), Driver::global().clone())
            .name("pods")
            .indexer(Indexer::builder().index("by-node", by_node).build())
            .build(),
    );

    // Handler 1: log every event.
    let log = informer.add_event_handler(
        handler_fn()
            .on_add(|p: &Arc<Pod>, initial| {
                println!("add    {} on {} (initial list: {initial})", p.name, p.node);
            })
            .on_update(|old: &Arc<Pod>, new: &Arc<Pod>| {
                println!("update {}: {} -> {}", new.name, old.node, new.node);
            })
            .on_delete(|gone: delta_fifo::DeletedObject<Pod>| match gone.object() {
                Some(p) => println!("delete {} (tombstone: {})", p.name, gone.is_tombstone()),
                None => println!("delete of an object whose last state is unknown"),
            }),
    )?;
    // Handler 2: pods per node, from the events alone.
    let per_node: Arc<Mutex<BTreeMap<String, i32>>> = Arc::default();
    let counts = Arc::clone(&per_node);
    let (add, update, delete) = (Arc::clone(&counts), Arc::clone(&counts), counts);
    let count = informer.add_event_handler(
        handler_fn()
            .on_add(move |p: &Arc<Pod>, _| {
                *add.lock().unwrap().entry(p.node.clone()).or_default() += 1
            })
            .on_update(move |old: &Arc<Pod>, new: &Arc<Pod>| {
                let mut c = update.lock().unwrap();
                *c.entry(old.node.clone()).or_default() -= 1;
                *c.entry(new.node.clone()).or_default() += 1;
            })
            .on_delete(move |gone| {
                if let Some(p) = gone.object() {
                    *delete.lock().unwrap().entry(p.node.clone()).or_default() -= 1;
                }
            }),
    )?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = Arc::clone(&informer);
    let running = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stop_rx.await;
            })
            .await
    });
    wait_for_cache_sync_async(Duration::from_secs(10), &[informer.as_ref(), &log, &count]).await?;

    server.create(pod("web-3", "node-a"))?;
    server.update(pod("web-2", "node-a"))?;
    server.delete(&pod("web-1", "node-a"))?;
    // Wait until the cache has seen all three changes: node-a then runs web-2 and web-3.
    let on_a = loop {
        let mut on_a: Vec<String> = informer
            .indexer()
            .by_index("by-node", "node-a")?
            .iter()
            .map(|p| p.name.clone())
            .collect();
        on_a.sort();
        if on_a == ["web-2", "web-3"] {
            break on_a;
        }
        tokio::task::yield_now().await;
    };
    println!("index by-node[node-a] = {on_a:?}");
    let _ = stop_tx.send(());
    running.await??; // joins the handlers: their counts are final
    println!(
        "pods per node, counted by handler 2: {:?}",
        per_node.lock().unwrap()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("informer example: {e}");
        std::process::exit(1);
    }
}

//! A DeltaFIFO consumer loop: a producer adds, updates and deletes objects and then relists; one
//! consumer pops every key's accumulated deltas at once and keeps a cache. The relist turns an
//! object that vanished into a typed tombstone.
//!
//! Run: `cargo run --example delta-fifo`

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;

use delta_fifo::{BoxError, DeletedObject, Delta, DeltaFifo, KnownObjects, Object};
use parking_lot::RwLock;

#[derive(Debug)]
struct ConfigMap {
    name: &'static str,
    data: &'static str,
}

impl Object for ConfigMap {
    fn namespace(&self) -> Option<&str> {
        Some("default")
    }
    fn name(&self) -> Option<&str> {
        Some(self.name)
    }
}

/// The consumer's cache; the FIFO asks it which objects it knows (for deletes and relists).
#[derive(Default)]
struct Cache(RwLock<HashMap<Arc<str>, Arc<ConfigMap>>>);

impl KnownObjects<ConfigMap> for Cache {
    fn list_keys(&self) -> Vec<Arc<str>> {
        self.0.read().keys().cloned().collect()
    }
    fn get_by_key(&self, key: &str) -> Result<Option<Arc<ConfigMap>>, BoxError> {
        Ok(self.0.read().get(key).cloned())
    }
}

#[allow(clippy::print_stdout, reason = "an example prints what it does")]
fn main() -> Result<(), delta_fifo::Error> {
    let cache = Arc::new(Cache::default());
    let fifo = Arc::new(DeltaFifo::builder().known_objects(cache.clone()).build());

    // The producer runs first here, so the consumer sees deltas accumulated per key.
    fifo.add(ConfigMap {
        name: "a",
        data: "v1",
    })?;
    fifo.add(ConfigMap {
        name: "b",
        data: "v1",
    })?;
    fifo.update(ConfigMap {
        name: "a",
        data: "v2",
    })?;
    fifo.add(ConfigMap {
        name: "c",
        data: "v1",
    })?;

    let consumer = thread::spawn({
        let (fifo, cache) = (Arc::clone(&fifo), Arc::clone(&cache));
        move || {
            // Pops until the FIFO is closed and drained.
            while let Ok(()) = fifo.pop(|deltas, _ctx| {
                let kinds: Vec<_> = deltas.iter().map(Delta::kind).collect();
                println!("{}: {kinds:?}", deltas.key());
                let mut cache = cache.0.write();
                for delta in deltas {
                    match delta {
                        Delta::Deleted(DeletedObject::Tombstone { key, last_known }) => {
                            println!(
                                "  {key} vanished while we were not watching (last known: {:?})",
                                last_known.as_ref().map(|c| c.data)
                            );
                            cache.remove(&**key);
                        }
                        Delta::Deleted(DeletedObject::Known(_)) => {
                            cache.remove(deltas.key());
                        }
                        other => {
                            if let Some(obj) = other.object() {
                                cache.insert(deltas.key().into(), Arc::clone(obj));
                            }
                        }
                    }
                }
            }) {}
        }
    });

    // Wait until the first three keys are consumed, then relist without "b".
    while !fifo.is_empty() {
        thread::yield_now();
    }
    fifo.replace(
        [
            ConfigMap {
                name: "a",
                data: "v2",
            },
            ConfigMap {
                name: "c",
                data: "v2",
            },
        ],
        "42",
    )?;
    fifo.close();
    consumer.join().expect("consumer thread");
    let mut names: Vec<String> = cache.0.read().keys().map(|k| k.to_string()).collect();
    names.sort();
    println!(
        "cache after the relist: {names:?}; synced: {}",
        fifo.has_synced()
    );
    Ok(())
}

//! 50 writers and 50 watchers for a bounded time: every watcher sees every event, in
//! resourceVersion order, none missing.
// spec: 3.9 (WATCH RV=N: events strictly after N), issue 6 point 5.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

const WRITERS: usize = 50;
const WATCHERS: usize = 50;
const WRITES_EACH: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_writers_fifty_watchers() {
    let server = server().await;
    let start = server.resource_version();
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let api = pods(&server, "default");
        let stream = api
            .watch(&WatchParams::default().timeout(60), &start.to_string())
            .await
            .unwrap();
        watchers.push(tokio::spawn(async move {
            let mut stream = stream.boxed();
            let mut seen: Vec<(u64, String)> = Vec::new();
            // (each writer's delete is two events: marked, then removed)
            let total = WRITERS * (WRITES_EACH + 1);
            while seen.len() < total {
                let event = stream
                    .try_next()
                    .await
                    .expect("stream ok")
                    .expect("stream open");
                let (kind, pod) = match event {
                    WatchEvent::Added(p) => ("ADDED", p),
                    WatchEvent::Modified(p) => ("MODIFIED", p),
                    WatchEvent::Deleted(p) => ("DELETED", p),
                    WatchEvent::Bookmark(_) => continue,
                    WatchEvent::Error(s) => panic!("error event {s:?}"),
                };
                let rv = pod.metadata.resource_version.unwrap().parse().unwrap();
                seen.push((rv, format!("{kind} {}", pod.metadata.name.unwrap())));
            }
            seen
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let api = pods(&server, "default");
        writers.push(tokio::spawn(async move {
            let name = format!("w{w}");
            let mut log = Vec::new();
            for i in 0..WRITES_EACH {
                let (rv, kind) = match i {
                    0 => (
                        api.create(&PostParams::default(), &pod(&name, &[]))
                            .await
                            .unwrap()
                            .metadata
                            .resource_version,
                        "ADDED",
                    ),
                    i if i == WRITES_EACH - 1 => {
                        // A pod is deleted in two steps, as on the real server (marked:
                        // MODIFIED, then removed: DELETED); the answer is the pod as
                        // removed, at the DELETED event's resourceVersion.
                        let gone = api
                            .delete(&name, &Default::default())
                            .await
                            .unwrap()
                            .left()
                            .expect("the deleted pod");
                        (gone.metadata.resource_version, "DELETED")
                    }
                    i => {
                        let patch = Patch::Merge(
                            json!({ "metadata": { "labels": { "i": i.to_string() } } }),
                        );
                        (
                            api.patch(&name, &PatchParams::default(), &patch)
                                .await
                                .unwrap()
                                .metadata
                                .resource_version,
                            "MODIFIED",
                        )
                    }
                };
                log.push((
                    rv.map(|rv| rv.parse::<u64>().unwrap()),
                    format!("{kind} {name}"),
                ));
            }
            log
        }));
    }
    let work = async {
        let mut written = Vec::new();
        for w in writers {
            written.push(w.await.unwrap());
        }
        let mut views = Vec::new();
        for w in watchers {
            views.push(w.await.unwrap());
        }
        (written, views)
    };
    let (written, views) = tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .expect("bounded time");
    // Every watcher sees the same events, in resourceVersion order...
    let first = &views[0];
    // (each writer's delete is two events)
    assert_eq!(first.len(), WRITERS * (WRITES_EACH + 1));
    assert!(first.windows(2).all(|w| w[0].0 < w[1].0), "in order");
    for view in &views {
        assert_eq!(view, first, "every watcher sees every event");
    }
    // ...and each writer's writes are in it, at the resourceVersions the writes returned, with
    // the delete after every other write of that writer.
    let at: BTreeMap<&str, Vec<u64>> = first.iter().fold(BTreeMap::new(), |mut m, (rv, e)| {
        m.entry(e.as_str()).or_default().push(*rv);
        m
    });
    for log in &written {
        let mut last = 0;
        for (rv, event) in log {
            let rvs = &at[event.as_str()];
            match rv {
                Some(rv) => assert!(rvs.contains(rv), "{event} at {rv}"),
                None => assert!(
                    rvs.iter().all(|r| *r > last),
                    "{event} after the writer's others"
                ),
            }
            last = last.max(rv.unwrap_or(0));
        }
    }
    server.shutdown().await;
}

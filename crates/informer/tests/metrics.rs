//! Informer metrics after a scripted run against the in-memory server: lists and relists,
//! watch ends by cause, events by type, pending notifications per handler and the last synced
//! version (spec section 6, pain points 1, 3, 9). The informer runs on its own thread; its
//! reflector waits on a manual driver over a fake clock that only the test moves. Every wait
//! is bounded and names what it waited for.

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use common::{Pod, pod, run};
use informer::metrics::{
    Counter, CounterFamily, Gauge, GaugeFamily, InformerMetrics, MetricsError, MetricsProvider,
    WatchEndCause,
};
use informer::{
    ApiError, HandlerOptions, InformerError, MemoryListerWatcher, SharedIndexInformer, Status,
    handler_fn,
};
use parking_lot::{Condvar, Mutex};
use timer_wheel::{Driver, FakeClock};

type Server = MemoryListerWatcher<Pod>;
#[cfg(feature = "prometheus")]
type Informer = SharedIndexInformer<Pod, Server>;

/// A bound on every wait (a passing test never waits this long).
const WAIT: Duration = Duration::from_secs(10);

/// Every metric as `name{label}` -> value, with a condvar signalled on each change.
#[derive(Debug, Default)]
struct Values {
    map: Mutex<BTreeMap<String, f64>>,
    changed: Condvar,
}

impl Values {
    fn add(&self, key: &str, delta: f64) {
        *self.map.lock().entry(key.to_owned()).or_default() += delta;
        self.changed.notify_all();
    }

    fn set(&self, key: &str, value: f64) {
        self.map.lock().insert(key.to_owned(), value);
        self.changed.notify_all();
    }

    fn get(&self, key: &str) -> f64 {
        self.map.lock().get(key).copied().unwrap_or(0.0)
    }

    /// Waits until `cond` holds on the values; bounded.
    fn wait(&self, what: &str, cond: impl Fn(&BTreeMap<String, f64>) -> bool) {
        let mut map = self.map.lock();
        // Each wake re-checks; a change is announced after it is made.
        for _ in 0..1_000 {
            if cond(&map) {
                return;
            }
            if self.changed.wait_for(&mut map, WAIT).timed_out() {
                break;
            }
        }
        panic!("gave up waiting for {what}; metrics: {:?}", *map);
    }

    /// Moves the fake clock past any backoff until `cond` holds; bounded.
    fn pump(
        &self,
        clock: &FakeClock,
        driver: &Driver,
        what: &str,
        cond: impl Fn(&BTreeMap<String, f64>) -> bool,
    ) {
        for _ in 0..1_000 {
            let mut map = self.map.lock();
            if cond(&map) {
                return;
            }
            drop(map);
            clock.advance(Duration::from_secs(61));
            driver.turn();
            map = self.map.lock();
            let _ = self.changed.wait_for(&mut map, Duration::from_millis(5));
        }
        panic!(
            "gave up waiting for {what}; metrics: {:?}",
            *self.map.lock()
        );
    }
}

/// A provider writing into [`Values`].
#[derive(Debug, Default)]
struct Recording {
    values: Arc<Values>,
}

struct Key(Arc<Values>, String);

impl Counter for Key {
    fn inc(&self) {
        self.0.add(&self.1, 1.0);
    }
}

impl Gauge for Key {
    fn set(&self, value: f64) {
        self.0.set(&self.1, value);
    }
}

struct Family(Arc<Values>, &'static str);

impl CounterFamily for Family {
    fn with_label(&self, value: &str) -> Box<dyn Counter> {
        Box::new(Key(Arc::clone(&self.0), format!("{}{{{value}}}", self.1)))
    }
}

impl GaugeFamily for Family {
    fn with_label(&self, value: &str) -> Box<dyn Gauge> {
        Box::new(Key(Arc::clone(&self.0), format!("{}{{{value}}}", self.1)))
    }
}

impl MetricsProvider for Recording {
    fn informer_metrics(&self, name: &str) -> Result<Option<InformerMetrics>, MetricsError> {
        assert_eq!(name, "pods");
        let v = &self.values;
        let key = |k: &str| Box::new(Key(Arc::clone(v), k.to_owned()));
        Ok(Some(InformerMetrics {
            lists: key("lists"),
            relists: key("relists"),
            watch_restarts: Box::new(Family(Arc::clone(v), "restarts")),
            events: Box::new(Family(Arc::clone(v), "events")),
            pending: Box::new(Family(Arc::clone(v), "pending")),
            last_sync_resource_version: key("rv"),
        }))
    }
}

fn restarts(cause: WatchEndCause) -> String {
    format!("restarts{{{cause}}}")
}

#[test]
fn a_scripted_run_moves_every_metric() {
    // spec: section 6 items 1, 3, 9 (pending gauge, relist and watch-end metrics); RF-13,
    // RF-15, RF-16 (what ends a watch), SI-8 (per-handler buffers)
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    server.create(pod("ns", "b", "")).unwrap();
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let provider = Recording::default();
    let values = Arc::clone(&provider.values);
    let informer = Arc::new(
        SharedIndexInformer::builder(server.clone(), driver.clone())
            .name("pods")
            .seed(5)
            .metrics_provider(Arc::new(provider))
            .build(),
    );
    // A handler that sees everything, and one stuck on its first notification until released.
    let (seen_tx, seen) = mpsc::channel::<String>();
    let (add, update) = (seen_tx.clone(), seen_tx.clone());
    informer
        .add_event_handler_with_options(
            handler_fn()
                .on_add(move |p: &Arc<Pod>, _| add.send(format!("add {}", p.name)).unwrap())
                .on_update(move |_, p: &Arc<Pod>| {
                    update.send(format!("update {}", p.name)).unwrap();
                })
                .on_delete(move |_| seen_tx.send("delete".to_owned()).unwrap()),
            HandlerOptions::default().name("fast"),
        )
        .unwrap();
    let (release, released) = mpsc::channel::<()>();
    let released = StdMutex::new(released);
    let stuck = informer
        .add_event_handler_with_options(
            handler_fn().on_add(move |_: &Arc<Pod>, _| {
                let _ = released.lock().unwrap().recv_timeout(WAIT);
            }),
            HandlerOptions::default().name("stuck"),
        )
        .unwrap();
    let running = run(&informer);
    let next = || seen.recv_timeout(WAIT).expect("a handler event");

    // The initial list: one list, no relist, the version of the list.
    let mut initial = vec![next(), next()];
    initial.sort();
    assert_eq!(initial, ["add a", "add b"]);
    values.wait("the list counted", |m| m.get("lists") == Some(&1.0));
    assert_eq!(values.get("relists"), 0.0);
    assert_eq!(values.get("rv"), 2.0);

    // Watch events, by type.
    server.create(pod("ns", "c", "")).unwrap();
    assert_eq!(next(), "add c");
    server.update(pod("ns", "a", "")).unwrap();
    assert_eq!(next(), "update a");
    server.delete(&pod("ns", "b", "")).unwrap();
    assert_eq!(next(), "delete");
    server.advance_resource_version(10);
    server.bookmark();
    values.wait("the bookmark's version", |m| {
        m.get("events{BOOKMARK}") == Some(&1.0) && m.get("rv") == Some(&15.0)
    });
    assert_eq!(values.get("events{ADDED}"), 1.0);
    assert_eq!(values.get("events{MODIFIED}"), 1.0);
    assert_eq!(values.get("events{DELETED}"), 1.0);

    // The stuck handler holds its first add; everything after waits in its buffer, and the
    // gauge says how much.
    assert!(stuck.pending() > 0);
    assert_eq!(values.get("pending{stuck}"), stuck.pending() as f64);
    assert_eq!(values.get("pending{fast}"), 0.0);

    // 410 on the stream: an ERROR event, an expired watch end, a relist after a backoff.
    server.break_watches(Status::expired("too old resource version"));
    values.wait("the expired watch", |m| {
        m.get(&restarts(WatchEndCause::Expired)) == Some(&1.0)
    });
    assert_eq!(values.get("events{ERROR}"), 1.0);
    values.pump(&clock, &driver, "the relist", |m| {
        m.get("lists") == Some(&2.0) && m.get("relists") == Some(&1.0)
    });

    // A normal close after 2 s on the fake clock, then a 429 on re-opening.
    for _ in 0..1_000 {
        if server.open_watches() == 1 {
            break;
        }
        let _ = seen.recv_timeout(Duration::from_millis(5));
    }
    assert_eq!(server.open_watches(), 1, "the watch after the relist");
    clock.advance(Duration::from_secs(2));
    server.fail_watches(
        1,
        ApiError::Status(Status::new(429, "TooManyRequests", "slow down")),
    );
    server.close_watches();
    values.wait("the close and the 429", |m| {
        m.get(&restarts(WatchEndCause::Closed)) == Some(&1.0)
            && m.get(&restarts(WatchEndCause::TooManyRequests)) == Some(&1.0)
    });
    assert_eq!(values.get("lists"), 2.0, "no relist after a close or a 429");

    // Released, the stuck handler drains its buffer: the gauge goes back to zero.
    for _ in 0..100 {
        let _ = release.send(());
    }
    values.wait("the stuck handler drained", |m| {
        m.get("pending{stuck}") == Some(&0.0)
    });
    running.stop().unwrap();
}

#[test]
fn the_default_provider_records_nothing_and_a_refusing_one_stops_run() {
    // A provider that refuses: run fails with the cause, and keeps failing.
    #[derive(Debug)]
    struct Refuses;
    impl MetricsProvider for Refuses {
        fn informer_metrics(&self, name: &str) -> Result<Option<InformerMetrics>, MetricsError> {
            Err(MetricsError::DuplicateName {
                name: name.to_owned(),
            })
        }
    }
    let server = Server::new();
    let driver = Driver::builder().clock(FakeClock::new()).manual().unwrap();
    let informer = SharedIndexInformer::builder(server.clone(), driver)
        .name("pods")
        .metrics_provider(Arc::new(Refuses))
        .build();
    for _ in 0..2 {
        let err = futures::executor::block_on(informer.run(async {})).unwrap_err();
        assert!(
            matches!(&err, InformerError::Metrics { name, source: MetricsError::DuplicateName { .. } } if name == "pods"),
            "{err:?}"
        );
    }
    assert!(server.requests().is_empty(), "nothing was listed");
    assert!(
        informer::metrics::NoopMetricsProvider
            .informer_metrics("pods")
            .unwrap()
            .is_none()
    );
}

#[cfg(feature = "prometheus")]
#[test]
fn prometheus_families_follow_the_informer() {
    use informer::prometheus::PrometheusMetrics;

    let registry = prometheus::Registry::new();
    let provider = Arc::new(PrometheusMetrics::new(&registry).unwrap());
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    let driver = Driver::builder().clock(FakeClock::new()).manual().unwrap();
    let informer = Arc::new(
        SharedIndexInformer::builder(server.clone(), driver.clone())
            .name("pods")
            .metrics_provider(provider.clone())
            .build(),
    );
    let (tx, rx) = mpsc::channel();
    informer
        .add_event_handler_with_options(
            handler_fn().on_add(move |p: &Arc<Pod>, _| tx.send(p.name.clone()).unwrap()),
            HandlerOptions::default().name("h"),
        )
        .unwrap();
    let running = run(&informer);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "a");
    server.create(pod("ns", "b", "")).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "b");

    let value = |family: &str, labels: &[(&str, &str)]| -> f64 {
        let families = registry.gather();
        let Some(f) = families.iter().find(|f| f.name() == family) else {
            return 0.0;
        };
        f.get_metric()
            .iter()
            .find(|m| {
                labels.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                })
            })
            .map_or(0.0, |m| {
                if f.name().ends_with("_total") {
                    m.get_counter().get_value()
                } else {
                    m.get_gauge().get_value()
                }
            })
    };
    // The version is recorded just after the event is queued: wait for it, bounded.
    for _ in 0..1_000 {
        if value("informer_last_sync_resource_version", &[("name", "pods")]) == 2.0 {
            break;
        }
        let _ = rx.recv_timeout(Duration::from_millis(5));
    }
    assert_eq!(value("informer_lists_total", &[("name", "pods")]), 1.0);
    assert_eq!(value("informer_relists_total", &[("name", "pods")]), 0.0);
    assert_eq!(
        value(
            "informer_events_total",
            &[("name", "pods"), ("type", "ADDED")]
        ),
        1.0
    );
    assert_eq!(
        value("informer_last_sync_resource_version", &[("name", "pods")]),
        2.0
    );
    assert_eq!(
        value(
            "informer_pending_notifications",
            &[("name", "pods"), ("handler", "h")]
        ),
        0.0
    );
    running.stop().unwrap();

    // A second informer under the same name is refused until the name is released.
    let twin: Informer = SharedIndexInformer::builder(server.clone(), driver.clone())
        .name("pods")
        .metrics_provider(provider.clone())
        .build();
    let err = futures::executor::block_on(twin.run(async {})).unwrap_err();
    assert!(matches!(err, InformerError::Metrics { .. }), "{err:?}");
    assert!(provider.release("pods"));
    let again: Informer = SharedIndexInformer::builder(server, driver)
        .name("pods")
        .metrics_provider(provider)
        .build();
    futures::executor::block_on(again.run(async {})).unwrap();
}

#[test]
fn a_hung_watch_is_counted_as_idle_and_rewatched() {
    // spec: section 6 item 9 (half-open watches); issue 7 (every termination reported to a
    // hook and a metric, with its cause)
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    server.hang_watches(1);
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let provider = Recording::default();
    let values = Arc::clone(&provider.values);
    let informer = Arc::new(
        SharedIndexInformer::builder(server.clone(), driver.clone())
            .name("pods")
            .seed(5)
            .watch_idle_timeout(Duration::from_secs(90))
            .metrics_provider(Arc::new(provider))
            .build(),
    );
    let running = run(&informer);
    values.wait("the list", |m| m.get("lists") == Some(&1.0));
    // The first watch hangs: a write is not seen until it is abandoned.
    server.create(pod("ns", "b", "")).unwrap();
    values.pump(&clock, &driver, "the idle end and the re-watch", |m| {
        m.get(&restarts(WatchEndCause::Idle)) == Some(&1.0) && m.get("rv") == Some(&2.0)
    });
    assert_eq!(values.get("lists"), 1.0, "re-watched, not relisted");
    assert_eq!(values.get("events{ADDED}"), 1.0);
    let rvs: Vec<String> = server
        .watch_requests()
        .into_iter()
        .map(|w| w.resource_version)
        .collect();
    assert_eq!(
        rvs,
        ["1", "1"],
        "the second watch resumes from the last version"
    );
    running.stop().unwrap();
}

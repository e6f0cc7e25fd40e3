//! Queue metrics (spec §1.12) with a fake clock and a recording provider.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{manual, step};
use workqueue::metrics::{Counter, Gauge, Histogram, MetricsProvider, QueueMetrics};
use workqueue::{DelayingQueue, Error, Queue, QueueConfig};

/// Everything the queue reported, by metric name.
#[derive(Debug, Default)]
struct Log(Mutex<Vec<(&'static str, f64)>>);

impl Log {
    fn values(&self, name: &str) -> Vec<f64> {
        let log = self.0.lock().unwrap();
        log.iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .collect()
    }
    fn sum(&self, name: &str) -> f64 {
        self.values(name).iter().sum()
    }
    fn last(&self, name: &str) -> Option<f64> {
        self.values(name).last().copied()
    }
}

struct Sink(&'static str, Arc<Log>);

impl Counter for Sink {
    fn inc(&self) {
        self.1.0.lock().unwrap().push((self.0, 1.0));
    }
}
impl Gauge for Sink {
    fn inc(&self) {
        self.1.0.lock().unwrap().push((self.0, 1.0));
    }
    fn dec(&self) {
        self.1.0.lock().unwrap().push((self.0, -1.0));
    }
    fn set(&self, value: f64) {
        self.1.0.lock().unwrap().push((self.0, value));
    }
}
impl Histogram for Sink {
    fn observe(&self, seconds: f64) {
        self.1.0.lock().unwrap().push((self.0, seconds));
    }
}

#[derive(Debug, Default)]
struct Recording(Arc<Log>);

impl MetricsProvider for Recording {
    fn queue_metrics(&self, _name: &str) -> Result<Option<QueueMetrics>, Error> {
        let sink = |name| Box::new(Sink(name, self.0.clone()));
        Ok(Some(QueueMetrics {
            depth: sink("depth"),
            adds: sink("adds"),
            queue_duration: sink("latency"),
            work_duration: sink("work"),
            unfinished_work: sink("unfinished"),
            longest_running_processor: sink("longest"),
            retries: sink("retries"),
        }))
    }
}

#[test]
fn every_metric_follows_the_clock() {
    // spec: WQ-21..WQ-27
    let (clock, driver) = manual();
    let provider = Recording::default();
    let log = provider.0.clone();
    let config = QueueConfig::new()
        .name("test")
        .driver(driver.clone())
        .metrics_provider(Arc::new(provider));
    let queue = DelayingQueue::with_config(config).unwrap();

    queue.add("a");
    queue.add("a"); // de-duplicated: no metric (WQ-5)
    queue.add("b");
    assert_eq!(log.sum("adds"), 2.0);
    assert_eq!(log.sum("depth"), 2.0);

    step(&clock, &driver, Duration::from_millis(200));
    let a = queue.get().unwrap();
    assert_eq!(log.sum("depth"), 1.0);
    assert_eq!(log.values("latency"), [0.2]);

    step(&clock, &driver, Duration::from_millis(300)); // 500 ms: the refresh runs
    assert_eq!(log.last("unfinished"), Some(0.3));
    assert_eq!(log.last("longest"), Some(0.3));
    let b = queue.get().unwrap();
    step(&clock, &driver, Duration::from_millis(500)); // 1 s
    assert_eq!(log.last("unfinished"), Some(0.8 + 0.5));
    assert_eq!(log.last("longest"), Some(0.8));
    drop(a);
    assert_eq!(log.values("work"), [0.8]);
    drop(b);
    step(&clock, &driver, Duration::from_millis(500));
    assert_eq!(log.last("longest"), Some(0.0), "idle");

    queue.add_after("c", Duration::ZERO); // DL-2: counted even for zero delay
    queue.add_after("d", Duration::from_secs(1));
    assert_eq!(log.sum("retries"), 2.0);

    queue.shut_down();
    queue.add_after("e", Duration::ZERO); // DL-1: no metric
    assert_eq!(log.sum("retries"), 2.0);
}

#[test]
fn unnamed_queue_records_nothing() {
    // spec: WQ-22
    let provider = Recording::default();
    let log = provider.0.clone();
    let queue =
        Queue::with_config(QueueConfig::new().metrics_provider(Arc::new(provider))).unwrap();
    queue.add(1);
    drop(queue.get());
    assert!(log.0.lock().unwrap().is_empty());
}

#[test]
fn add_while_processing_counts_as_an_add() {
    // spec: WQ-23, WQ-25 (depth counts dirty items, so it can exceed len)
    let (_clock, driver) = manual();
    let provider = Recording::default();
    let log = provider.0.clone();
    let config = QueueConfig::new()
        .name("q")
        .driver(driver)
        .metrics_provider(Arc::new(provider));
    let queue = Queue::with_config(config).unwrap();
    queue.add(1);
    let lease = queue.get().unwrap();
    queue.add(1);
    assert_eq!(log.sum("adds"), 2.0);
    assert_eq!(log.sum("depth"), 1.0);
    assert_eq!(queue.len(), 0);
    drop(lease);
    drop(queue.get());
    assert_eq!(log.sum("depth"), 0.0);
}

#[cfg(feature = "prometheus")]
#[test]
fn prometheus_names_and_duplicates() {
    // spec: §1.12 names, WQ-22 duplicate names rejected per registry
    use workqueue::prometheus::PrometheusMetrics;
    let registry = prometheus::Registry::new();
    let provider = Arc::new(PrometheusMetrics::new(&registry).unwrap());
    let config = QueueConfig::new()
        .name("pods")
        .metrics_provider(provider.clone());
    let queue = Queue::with_config(config.clone()).unwrap();
    assert!(matches!(
        Queue::<u8>::with_config(config.clone()),
        Err(Error::DuplicateName { .. })
    ));
    assert!(provider.release("pods"));
    let _again = Queue::<u8>::with_config(config).unwrap();
    queue.add(1);
    drop(queue.get());
    let mut names: Vec<_> = registry
        .gather()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "workqueue_adds_total",
            "workqueue_depth",
            "workqueue_longest_running_processor_seconds",
            "workqueue_queue_duration_seconds",
            "workqueue_retries_total",
            "workqueue_unfinished_work_seconds",
            "workqueue_work_duration_seconds",
        ]
    );
    assert!(
        PrometheusMetrics::new(&registry).is_err(),
        "already registered"
    );
}

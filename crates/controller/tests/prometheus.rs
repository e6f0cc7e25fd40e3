//! The controller's and the queue's metrics in one Prometheus registry, in the text format a
//! scrape returns, after a few reconciles of each outcome.
#![cfg(feature = "prometheus")]

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use controller::{Action, BoxError, Controller, Error};

mod common;
use common::{PATIENCE, fake};

#[test]
fn the_registry_has_the_controller_and_queue_series_after_a_few_reconciles() {
    let registry = prometheus::Registry::new();
    let provider = Arc::new(controller::prometheus::PrometheusMetrics::new(&registry).unwrap());
    let queue_provider =
        Arc::new(workqueue::prometheus::PrometheusMetrics::new(&registry).unwrap());
    let (_clock, driver) = fake();
    let (tx, rx) = mpsc::channel();
    let controller = Controller::builder("pods")
        .driver(driver.clone())
        .max_retries(0)
        .metrics_provider(provider.clone())
        .queue_metrics_provider(queue_provider)
        .reconcile(move |key: &str| {
            tx.send(key.to_owned()).unwrap();
            match key {
                "ns/cron" => Ok(Action::RequeueAfter(Duration::from_secs(60))),
                "ns/bad" => Err(BoxError::from("broken")),
                _ => Ok(Action::Done),
            }
        })
        .build()
        .unwrap();
    let run = {
        let controller = controller.clone();
        thread::spawn(move || controller.run())
    };
    for key in ["ns/a", "ns/b", "ns/cron", "ns/bad"] {
        controller.queue().add(key.to_owned());
    }
    for _ in 0..4 {
        rx.recv_timeout(PATIENCE).unwrap();
    }
    // The requeue-after is scheduled after its reconcile returned; shutdown would refuse it.
    while controller.queue().waiting_len() == 0 {
        thread::yield_now();
    }
    controller.shutdown();
    run.join().unwrap().unwrap();

    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    for series in [
        r#"controller_reconcile_total{controller="pods"} 4"#,
        r#"controller_reconcile_errors_total{controller="pods"} 1"#,
        r#"controller_reconcile_panics_total{controller="pods"} 0"#,
        r#"controller_reconcile_timeouts_total{controller="pods"} 0"#,
        r#"controller_reconcile_gave_up_total{controller="pods"} 1"#,
        r#"controller_reconcile_requeue_after_total{controller="pods"} 1"#,
        r#"controller_reconcile_time_seconds_count{controller="pods"} 4"#,
        r#"controller_active_workers{controller="pods"} 0"#,
        r#"workqueue_adds_total{name="pods"} 4"#,
        r#"workqueue_retries_total{name="pods"} 1"#,
        r#"workqueue_depth{name="pods"} 0"#,
        r#"workqueue_work_duration_seconds_count{name="pods"} 4"#,
    ] {
        assert!(
            text.lines().any(|line| line == series),
            "missing `{series}` in:\n{text}"
        );
    }

    // One name, one set of series: a second controller called "pods" is refused.
    let error = Controller::builder("pods")
        .driver(driver.clone())
        .metrics_provider(provider.clone())
        .reconcile(|_: &str| Ok::<_, BoxError>(Action::Done))
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::DuplicateName { ref name } if name == "pods"));
    assert!(provider.release("pods"));
}

#[test]
fn registering_twice_in_one_registry_is_a_typed_error() {
    let registry = prometheus::Registry::new();
    controller::prometheus::PrometheusMetrics::new(&registry).unwrap();
    assert!(matches!(
        controller::prometheus::PrometheusMetrics::new(&registry),
        Err(Error::Metrics { .. })
    ));
}

//! Every re-exported path resolves to the crate it names (with the features that enable it).

#[cfg(feature = "timer-wheel")]
#[test]
fn timer_wheel_path() {
    let mut wheel = flywheel::timer_wheel::Wheel::new();
    wheel.insert(1, ());
    assert_eq!(wheel.advance(1).count(), 1);
}

#[cfg(feature = "workqueue")]
#[test]
fn workqueue_path() {
    let queue = flywheel::workqueue::Queue::new();
    queue.add(7);
    assert_eq!(*queue.get().unwrap(), 7);
}

#[cfg(feature = "delta-fifo")]
#[test]
fn delta_fifo_path() {
    let name = std::any::type_name::<flywheel::delta_fifo::DeltaFifo<String>>();
    assert!(name.starts_with("delta_fifo::"), "{name}");
}

#[cfg(feature = "informer")]
#[test]
fn informer_path() {
    let name = std::any::type_name::<flywheel::informer::IndexerError>();
    assert!(name.starts_with("informer::"), "{name}");
}

#[cfg(feature = "controller")]
#[test]
fn controller_path() {
    let name = std::any::type_name::<flywheel::controller::Controller>();
    assert!(name.starts_with("controller::"), "{name}");
}

#[cfg(feature = "controller")]
#[test]
fn prelude_has_the_controller_and_its_token() {
    use flywheel::prelude::*;
    let token = ShutdownToken::new();
    token.cancel();
    assert!(token.is_cancelled());
    let name = std::any::type_name::<Controller>();
    assert!(name.starts_with("controller::"), "{name}");
    let _: fn(&str) -> Result<Action, BoxError> = |_| Ok(Action::Done);
}

#[cfg(all(feature = "controller", feature = "async"))]
#[test]
fn async_reaches_the_controller() {
    let built = flywheel::controller::Controller::builder("umbrella")
        .reconcile_async(|_key: String| async {
            Ok::<_, flywheel::controller::BoxError>(flywheel::controller::Action::Done)
        })
        .build();
    assert!(built.is_ok());
}

#[cfg(all(feature = "controller", feature = "prometheus"))]
#[test]
fn prometheus_reaches_the_controller() {
    let name = std::any::type_name::<flywheel::controller::prometheus::PrometheusMetrics>();
    assert!(name.starts_with("controller::"), "{name}");
}

#[cfg(feature = "leader-election")]
#[test]
fn leader_election_path() {
    let name = std::any::type_name::<flywheel::leader_election::LeaderElector>();
    assert!(name.starts_with("leader_election::"), "{name}");
    assert_eq!(flywheel::leader_election::shard_of("default/web-0", 1), 0);
}

#[cfg(all(feature = "informer", feature = "prometheus"))]
#[test]
fn prometheus_reaches_the_informer() {
    let name = std::any::type_name::<flywheel::informer::prometheus::PrometheusMetrics>();
    assert!(name.starts_with("informer::"), "{name}");
}

#[cfg(feature = "tuntap")]
#[test]
fn tuntap_path() {
    let name = std::any::type_name::<flywheel::tuntap::Device>();
    assert!(name.starts_with("tuntap::"), "{name}");
}

#[cfg(feature = "workqueue")]
#[test]
fn prelude_has_the_controller_pattern() {
    use flywheel::prelude::*;
    let queue: Queue<u32> = Queue::new();
    queue.add(1);
    assert_eq!(queue.len(), 1);
    let name = std::any::type_name::<RateLimitingQueue<u32>>();
    assert!(name.starts_with("workqueue::"), "{name}");
}

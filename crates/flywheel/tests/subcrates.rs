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

#[cfg(feature = "leader-election")]
#[test]
fn leader_election_path() {
    let name = std::any::type_name::<flywheel::leader_election::LeaderElector>();
    assert!(name.starts_with("leader_election::"), "{name}");
    assert_eq!(flywheel::leader_election::shard_of("default/web-0", 1), 0);
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

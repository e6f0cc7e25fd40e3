//! The run loop, driven by a driver on a fake clock: the test moves virtual time from one
//! wake-up to the next (see `common::step`) and checks, at every step, that no two replicas lead.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_apiserver::FaultRule;
use leader_election::{CancellationToken, DEFAULT_LEASE_DURATION, LeaderElector};
use timer_wheel::{Clock, FakeClock};

const LD: Duration = DEFAULT_LEASE_DURATION;

struct Replica {
    elector: LeaderElector,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<leader_election::Result<()>>,
}

fn start(elector: LeaderElector) -> Replica {
    let shutdown = CancellationToken::new();
    let running = elector.clone();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move { running.run(stop).await });
    Replica {
        elector,
        shutdown,
        task,
    }
}

/// Runs the clock until `replica`, running alone, leads (bounded by one lease duration).
async fn until_leading(clock: &FakeClock, replica: &Replica) {
    let alone = [&replica.elector];
    run_until(clock, &alone, &alone, LD, || replica.elector.is_leader()).await;
}

/// Steps until `done` or `max` virtual time passes; asserts at each step that at most one of
/// `watched` leads. Returns the virtual time of the step where `done` held.
async fn run_until(
    clock: &FakeClock,
    running: &[&LeaderElector],
    watched: &[&LeaderElector],
    max: Duration,
    done: impl Fn() -> bool,
) -> Instant {
    let start = clock.now();
    settle(clock, running).await;
    while !done() {
        assert!(
            clock.now() - start < max,
            "not done after {max:?} of virtual time"
        );
        step(clock, running).await;
        let leaders = watched.iter().filter(|e| e.is_leader()).count();
        assert!(
            leaders <= 1,
            "{leaders} leaders at {:?}",
            clock.now() - start
        );
    }
    clock.now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_elects_one_then_hands_over_on_shutdown() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let log = Log::default();
    let a = start(log.elector(&server, "ctrl", "a", &driver));
    let b = start(log.elector(&server, "ctrl", "b", &driver));
    let both = [&a.elector, &b.elector];
    run_until(&clock, &both, &both, LD, || {
        a.elector.is_leader() || b.elector.is_leader()
    })
    .await;
    // Renewals keep the same leader for a long time.
    let (first, second) = if a.elector.is_leader() {
        (a, b)
    } else {
        (b, a)
    };
    let both = [&first.elector, &second.elector];
    let t = clock.now();
    run_until(&clock, &both, &both, 4 * LD, || clock.now() - t > 3 * LD).await;
    assert!(first.elector.is_leader());
    assert_eq!(
        second.elector.leader().as_deref(),
        Some(first.elector.identity())
    );

    // Graceful shutdown of the leader: it stops, releases, and the other takes over without
    // waiting for the lease to expire.
    first.shutdown.cancel();
    first.task.await.unwrap().unwrap();
    assert!(!first.elector.is_leader());
    let released = clock.now();
    let took = run_until(&clock, &[&second.elector], &both, LD, || {
        second.elector.is_leader()
    })
    .await;
    assert!(
        took - released < LD,
        "took over after {:?}",
        took - released
    );
    let stopped = format!("{} stopped", first.elector.identity());
    let started = format!("{} started", second.elector.identity());
    assert!(log.position(&stopped).unwrap() < log.position(&started).unwrap());
    second.shutdown.cancel();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_takes_over_after_a_crash_once_the_lease_expires() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let a = start(builder(&server, "ctrl", "a", &driver).build().unwrap());
    until_leading(&clock, &a).await;
    let b = start(builder(&server, "ctrl", "b", &driver).build().unwrap());
    settle(&clock, &[&a.elector, &b.elector]).await;
    // Crash: the task is gone without a release; its last renewal was at most one retry ago.
    a.task.abort();
    let crashed = clock.now();
    let both = [&a.elector, &b.elector];
    let took = run_until(&clock, &[&b.elector], &both, 3 * LD, || {
        b.elector.is_leader()
    })
    .await;
    assert!(
        took - crashed >= LD - a.elector.timings().retry_period,
        "b took over {:?} after the crash",
        took - crashed
    );
    b.shutdown.cancel();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_a_partitioned_leader_stops_before_the_successor_starts() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let log = Log::default();
    let a = start(log.elector(&server, "ctrl", "a", &driver));
    until_leading(&clock, &a).await;
    let token = a.elector.leading_token().unwrap();
    let b = start(log.elector(&server, "ctrl", "b", &driver));
    let both = [&a.elector, &b.elector];
    settle(&clock, &both).await;

    server
        .faults()
        .fail(FaultRule::status(503).client("a").always());
    run_until(&clock, &both, &both, 3 * LD, || b.elector.is_leader()).await;
    assert!(token.is_cancelled());
    assert!(log.position("a stopped").unwrap() < log.position("b started").unwrap());
    assert!(a.elector.subscribe().borrow().errors > 0);

    // Healed, a follows b.
    server.faults().clear();
    let t = clock.now();
    run_until(&clock, &both, &both, LD, || clock.now() - t > LD / 2).await;
    assert!(b.elector.is_leader() && !a.elector.is_leader());
    assert_eq!(a.elector.leader().as_deref(), Some("b"));
    a.shutdown.cancel();
    b.shutdown.cancel();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_ends_the_term_at_the_deadline_while_a_renewal_hangs() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let a = start(builder(&server, "ctrl", "a", &driver).build().unwrap());
    until_leading(&clock, &a).await;
    let token = a.elector.leading_token().unwrap();
    let deadline_in = {
        let timings = a.elector.timings();
        timings.renew_deadline
    };

    // Every request now takes 3 s of real time: the next renewal is in flight while the test
    // moves virtual time past the deadline.
    server.faults().set_latency(Duration::from_secs(3));
    let mut status = a.elector.subscribe();
    let wake = status.borrow().next_wake.unwrap();
    clock.set(wake + Duration::from_millis(1));
    tokio::time::timeout(LIMIT, status.wait_for(|s| s.next_wake.is_none()))
        .await
        .unwrap()
        .unwrap();
    let attempts = a.elector.subscribe().borrow().attempts;
    clock.advance(deadline_in);
    tokio::time::timeout(LIMIT, token.cancelled())
        .await
        .expect("the term did not end at its deadline");
    // It ended while the read was still on its way: not because an answer came back late.
    assert_eq!(a.elector.subscribe().borrow().attempts, attempts);
    assert!(!a.elector.is_leader());
    assert!(!a.elector.subscribe().borrow().leading);

    // The server answers again: nobody else wrote, so a renews its own lease and leads again.
    server.faults().clear();
    until_leading(&clock, &a).await;
    a.shutdown.cancel();
    a.task.await.unwrap().unwrap();
    server.shutdown().await;
}

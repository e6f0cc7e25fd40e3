//! Single attempts of electors against fake-apiserver with the real kube client, on a fake
//! clock: every step and every assertion happens at an exact virtual time.
//!
//! client-go facts these tests rely on (behaviour, not code): expiry is measured from the
//! candidate's own observation of a change (`observedTime`), not from the lease's timestamps;
//! updates carry the resourceVersion that was read; a release clears the holder and writes a
//! one-second duration; the transition count goes up when the holder changes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use fake_apiserver::{FaultRule, ServerHandle};
use kube::api::{DeleteParams, PostParams};
use leader_election::{
    DEFAULT_LEASE_DURATION, DEFAULT_RENEW_DEADLINE, DEFAULT_RETRY_PERIOD, Error, LeaderElector,
    LeaseLock, LockError,
};
use timer_wheel::{Clock, Driver, FakeClock};

const LD: Duration = DEFAULT_LEASE_DURATION;
const RD: Duration = DEFAULT_RENEW_DEADLINE;
const RP: Duration = DEFAULT_RETRY_PERIOD;
const MS: Duration = Duration::from_millis(1);

fn holder(lease: &k8s_openapi::api::coordination::v1::Lease) -> Option<String> {
    lease.spec.as_ref()?.holder_identity.clone()
}

/// Candidates a and b for lease "ctrl".
fn pair(server: &ServerHandle, driver: &Driver) -> (LeaderElector, LeaderElector) {
    let elector = |who| builder(server, "ctrl", who, driver).build().unwrap();
    (elector("a"), elector("b"))
}

/// A server where a has just acquired lease "ctrl" and b has seen it and waits.
async fn a_leads_b_waits() -> (ServerHandle, FakeClock, LeaderElector, LeaderElector) {
    let server = server().await;
    let (clock, driver) = fake_time();
    let (a, b) = pair(&server, &driver);
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    (server, clock, a, b)
}

#[tokio::test]
async fn acquire_then_renew_then_others_wait() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let (a, b) = pair(&server, &driver);

    assert!(!a.is_leader());
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(a.is_leader());
    assert!(a.leading_token().is_some());
    let lease = leases(&server).get("ctrl").await.unwrap();
    let spec = lease.spec.clone().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("a"));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.lease_transitions, Some(0));
    assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());

    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert_eq!(b.leader().as_deref(), Some("a"));

    clock.advance(RP);
    assert!(a.try_acquire_or_renew().await.unwrap());
    let renewed = leases(&server).get("ctrl").await.unwrap();
    assert_ne!(
        renewed.metadata.resource_version,
        lease.metadata.resource_version
    );
    assert_eq!(renewed.spec.unwrap().acquire_time, spec.acquire_time);

    // b keeps seeing renewals, so however long it waits in total, it never takes over.
    for _ in 0..20 {
        clock.advance(RP);
        assert!(a.try_acquire_or_renew().await.unwrap());
        assert!(!b.try_acquire_or_renew().await.unwrap());
    }
    assert!(a.is_leader() && !b.is_leader());
    server.shutdown().await;
}

#[tokio::test]
async fn two_candidates_racing_for_one_version_exactly_one_wins() {
    let server = server().await;
    let (_clock, driver) = fake_time();
    for round in 0..20 {
        let name = format!("race-{round}");
        let a = builder(&server, &name, "a", &driver).build().unwrap();
        let b = builder(&server, &name, "b", &driver).build().unwrap();
        let (ra, rb) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
        assert!(ra.unwrap() ^ rb.unwrap(), "round {round}: exactly one wins");
        assert!(a.is_leader() ^ b.is_leader());
    }
    // The same race at the lock level, made certain: both write against one version.
    let lock_a = LeaseLock::new(server.client(), NS, "race-0");
    let seen = lock_a.get().await.unwrap().unwrap();
    let mut record = seen.record.clone();
    record.holder_identity = "x".into();
    let (wa, wb) = tokio::join!(lock_a.update(&seen, &record), lock_a.update(&seen, &record));
    let lost = [&wa, &wb]
        .iter()
        .filter(|r| matches!(r, Err(LockError::Lost)))
        .count();
    assert_eq!(lost, 1, "{wa:?} {wb:?}");
    assert!(wa.is_ok() || wb.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn graceful_release_hands_over_at_once() {
    let server = server().await;
    let (_clock, driver) = fake_time();
    let log = Log::default();
    let a = log.elector(&server, "ctrl", "a", &driver);
    let b = log.elector(&server, "ctrl", "b", &driver);
    assert!(a.try_acquire_or_renew().await.unwrap());
    let token = a.leading_token().unwrap();
    assert!(!b.try_acquire_or_renew().await.unwrap());

    assert!(a.release().await.unwrap());
    assert!(token.is_cancelled());
    assert!(!a.is_leader());
    let lease = leases(&server).get("ctrl").await.unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(""));
    assert_eq!(spec.lease_duration_seconds, Some(1));

    // No time passes: the successor takes over on its next attempt.
    assert!(b.try_acquire_or_renew().await.unwrap());
    assert_eq!(
        leases(&server)
            .get("ctrl")
            .await
            .unwrap()
            .spec
            .unwrap()
            .lease_transitions,
        Some(1)
    );
    // A second release has nothing to release.
    assert!(!a.release().await.unwrap());
    let entries = log.entries();
    assert_eq!(
        entries,
        [
            "a sees a",
            "a started",
            "b sees a",
            "a stopped",
            "b sees b",
            "b started"
        ],
        "{entries:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_crashed_leader_is_replaced_after_the_lease_expires() {
    // b sees a's record now: it may take over LD from now, not before.
    let (server, clock, a, b) = a_leads_b_waits().await;
    let seen = clock.now();
    drop(a); // crash: no release

    clock.set(seen + LD - MS);
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(!b.is_leader());
    clock.set(seen + LD);
    assert!(b.try_acquire_or_renew().await.unwrap());
    assert_eq!(
        holder(&leases(&server).get("ctrl").await.unwrap()).as_deref(),
        Some("b")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_partitioned_leader_stops_before_a_successor_starts() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let log = Log::default();
    let a = log.elector(&server, "ctrl", "a", &driver);
    let b = log.elector(&server, "ctrl", "b", &driver);
    let t0 = clock.now();
    assert!(a.try_acquire_or_renew().await.unwrap());
    let token = a.leading_token().unwrap();
    assert!(!b.try_acquire_or_renew().await.unwrap());

    // Cut a off from the server: every request of client "a" fails.
    server
        .faults()
        .fail(FaultRule::status(503).client("a").always());
    let mut t = t0;
    let mut a_stopped_at = None;
    let mut b_started_at = None;
    // Both keep trying every 100 ms of virtual time for 20 s.
    while t < t0 + Duration::from_secs(20) {
        t += Duration::from_millis(100);
        clock.set(t);
        match a.try_acquire_or_renew().await {
            Err(Error::Api { op: "get", .. }) => {}
            other => panic!("a partitioned replica got {other:?}"),
        }
        if b.try_acquire_or_renew().await.unwrap() && b_started_at.is_none() {
            b_started_at = Some(t);
        }
        if !a.is_leader() && a_stopped_at.is_none() {
            a_stopped_at = Some(t);
            assert!(token.is_cancelled(), "the token ends with the term");
        }
        // Never two at once, at any instant checked.
        assert!(
            !(a.is_leader() && b.is_leader()),
            "two leaders at {:?}",
            t - t0
        );
    }
    let a_stopped_at = a_stopped_at.unwrap() - t0;
    let b_started_at = b_started_at.unwrap() - t0;
    assert_eq!(a_stopped_at, RD, "a stops at its renew deadline");
    assert!(b_started_at >= LD, "b waits a full lease duration");
    assert!(a_stopped_at < b_started_at);
    assert!(log.position("a stopped").unwrap() < log.position("b started").unwrap());

    // The partition heals: a sees b and stays a follower.
    server.faults().clear();
    assert!(!a.try_acquire_or_renew().await.unwrap());
    assert_eq!(a.leader().as_deref(), Some("b"));
    assert!(log.entries().contains(&"a sees b".to_owned()));
    server.shutdown().await;
}

#[tokio::test]
async fn api_errors_during_renewal_keep_the_term_until_its_deadline() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let a = builder(&server, "ctrl", "a", &driver).build().unwrap();
    let t0 = clock.now();
    assert!(a.try_acquire_or_renew().await.unwrap());
    server.faults().fail(
        FaultRule::status(500)
            .client("a")
            .verb(fake_apiserver::Verb::Update)
            .times(3),
    );
    for i in 1..=3u32 {
        clock.set(t0 + RP * i);
        assert!(matches!(
            a.try_acquire_or_renew().await,
            Err(Error::Api { op: "update", .. })
        ));
        assert!(a.is_leader(), "still inside the renew deadline");
    }
    // A successful renewal starts a new term: the deadline moves on.
    clock.set(t0 + RD - MS);
    assert!(a.try_acquire_or_renew().await.unwrap());
    clock.set(t0 + RD + RD - 2 * MS);
    assert!(a.is_leader());
    clock.set(t0 + RD + RD - MS);
    assert!(!a.is_leader());
    server.shutdown().await;
}

#[tokio::test]
async fn a_hand_edited_holder_stops_the_leader_and_is_waited_out() {
    let (server, clock, a, b) = a_leads_b_waits().await;

    // Somebody names b the holder by hand while a leads.
    let api = leases(&server);
    let mut lease = api.get("ctrl").await.unwrap();
    lease.spec.as_mut().unwrap().holder_identity = Some("b".into());
    api.replace("ctrl", &PostParams::default(), &lease)
        .await
        .unwrap();

    // b did not write that: it waits it out like anyone else's lease.
    assert!(!b.try_acquire_or_renew().await.unwrap());
    let b_saw = clock.now();
    // a stops at its next attempt.
    assert!(!a.try_acquire_or_renew().await.unwrap());
    assert!(!a.is_leader());
    clock.set(b_saw + LD - MS);
    assert!(!b.try_acquire_or_renew().await.unwrap());
    clock.set(b_saw + LD);
    assert!(b.try_acquire_or_renew().await.unwrap());
    server.shutdown().await;
}

#[tokio::test]
async fn a_hand_shortened_duration_does_not_shorten_the_wait() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let (a, b) = pair(&server, &driver);
    assert!(a.try_acquire_or_renew().await.unwrap());
    let api = leases(&server);
    let mut lease = api.get("ctrl").await.unwrap();
    lease.spec.as_mut().unwrap().lease_duration_seconds = Some(1);
    api.replace("ctrl", &PostParams::default(), &lease)
        .await
        .unwrap();
    assert!(!b.try_acquire_or_renew().await.unwrap());
    let b_saw = clock.now();
    clock.set(b_saw + Duration::from_secs(2));
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "1 s is not enough"
    );
    // a still holds it (its identity, it leads) and renews, writing its own duration back.
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert_eq!(
        api.get("ctrl")
            .await
            .unwrap()
            .spec
            .unwrap()
            .lease_duration_seconds,
        Some(15)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_deleted_lease_stops_the_leader_and_is_recreated_after_a_lease_duration() {
    let (server, clock, a, b) = a_leads_b_waits().await;
    leases(&server)
        .delete("ctrl", &DeleteParams::default())
        .await
        .unwrap();

    assert!(!a.try_acquire_or_renew().await.unwrap());
    assert!(!a.is_leader(), "the leader stops when its lease is gone");
    assert!(!b.try_acquire_or_renew().await.unwrap());
    let b_saw = clock.now();
    assert!(leases(&server).get_opt("ctrl").await.unwrap().is_none());
    clock.set(b_saw + LD - MS);
    assert!(!b.try_acquire_or_renew().await.unwrap());
    clock.set(b_saw + LD);
    assert!(b.try_acquire_or_renew().await.unwrap());
    assert!(!a.try_acquire_or_renew().await.unwrap());
    assert_eq!(a.leader().as_deref(), Some("b"));
    server.shutdown().await;
}

#[tokio::test]
async fn the_same_identity_in_a_new_process_waits_for_its_old_lease() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let old = builder(&server, "ctrl", "a", &driver).build().unwrap();
    assert!(old.try_acquire_or_renew().await.unwrap());
    drop(old);
    // A restart with the same identity did not write the current record: it waits it out.
    let new = builder(&server, "ctrl", "a", &driver).build().unwrap();
    assert!(!new.try_acquire_or_renew().await.unwrap());
    let saw = clock.now();
    clock.set(saw + LD);
    assert!(new.try_acquire_or_renew().await.unwrap());
    server.shutdown().await;
}

#[tokio::test]
async fn bad_configuration_is_a_typed_error() {
    let server = server().await;
    let client = server.client();
    let b = || LeaderElector::builder(client.clone(), NS, "ctrl");
    assert!(matches!(b().build(), Err(Error::EmptyIdentity)));
    assert!(matches!(
        LeaderElector::builder(client.clone(), NS, "Bad_Name")
            .identity("a")
            .build(),
        Err(Error::InvalidName { what: "name", .. })
    ));
    assert!(matches!(
        LeaderElector::builder(client.clone(), "", "ctrl")
            .identity("a")
            .build(),
        Err(Error::InvalidName {
            what: "namespace",
            ..
        })
    ));
    assert!(matches!(
        b().identity("a").renew_deadline(LD).build(),
        Err(Error::RenewDeadlineNotBelowLeaseDuration { .. })
    ));
    assert!(matches!(
        b().identity("a")
            .retry_period(Duration::from_secs(9))
            .build(),
        Err(Error::RetryPeriodTooLong { .. })
    ));
    assert!(matches!(
        b().identity("a").retry_period(Duration::ZERO).build(),
        Err(Error::ZeroDuration {
            what: "retry_period"
        })
    ));
    let stops = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&stops);
    let ok = b()
        .identity("a")
        .on_stopped_leading(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    assert!(ok.is_ok());
    assert_eq!(stops.load(Ordering::SeqCst), 0);
    server.shutdown().await;
}

/// The documented skew bound: a follower whose clock runs up to `lease_duration /
/// renew_deadline` (1.5x) as fast as the leader's never overlaps with it; beyond, it can. Wall
/// clocks play no part (each replica has its own fake clock, started at unrelated instants).
#[tokio::test]
async fn clock_rates_within_the_documented_bound_never_overlap() {
    for (rate, overlap_expected) in [(1.0, false), (1.4, false), (1.6, true)] {
        let server = server().await;
        let (clock_a, driver_a) = fake_time();
        let (clock_b, driver_b) = fake_time();
        clock_b.advance(Duration::from_secs(3600)); // an hour apart: does not matter
        let a = builder(&server, "ctrl", "a", &driver_a).build().unwrap();
        let b = builder(&server, "ctrl", "b", &driver_b).build().unwrap();
        assert!(a.try_acquire_or_renew().await.unwrap());
        assert!(!b.try_acquire_or_renew().await.unwrap());
        server
            .faults()
            .fail(FaultRule::status(503).client("a").always());
        let step = Duration::from_millis(100);
        let mut overlap = false;
        for _ in 0..200 {
            clock_a.advance(step);
            clock_b.advance(step.mul_f64(rate));
            assert!(a.try_acquire_or_renew().await.is_err());
            let _ = b.try_acquire_or_renew().await.unwrap();
            overlap |= a.is_leader() && b.is_leader();
        }
        assert!(b.is_leader(), "rate {rate}: b took over in the end");
        assert_eq!(overlap, overlap_expected, "rate {rate}");
        server.shutdown().await;
    }
}

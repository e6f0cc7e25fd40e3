//! Sharding: 3 replicas split 1000 keys over 6 shard leases; one replica dies and the survivors
//! take its shards after they expire. At every step of virtual time, no key has two owners.

mod common;

use std::time::Duration;

use common::*;
use leader_election::{CancellationToken, DEFAULT_LEASE_DURATION, Error, LeaderElector, Shards};
use timer_wheel::Clock;

const SHARDS: usize = 6;
const REPLICAS: usize = 3;
const KEYS: usize = 1000;

/// For each key, how many of `replicas` own it.
fn owners(replicas: &[&Shards], keys: &[String]) -> Vec<usize> {
    keys.iter()
        .map(|k| replicas.iter().filter(|r| r.owns(k)).count())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_a_thousand_keys_kill_one_and_rebalance() {
    let server = server().await;
    let (clock, driver) = fake_time();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("default/pod-{i}")).collect();
    let names = ["r0", "r1", "r2"];
    let replicas: Vec<Shards> = names
        .iter()
        .map(|id| {
            Shards::builder(server.named_client(id).unwrap(), NS, "pods")
                .identity(*id)
                .shards(SHARDS)
                .replicas(REPLICAS)
                .driver(driver.clone())
                .build()
                .unwrap()
        })
        .collect();
    let shutdown: Vec<CancellationToken> = names.iter().map(|_| CancellationToken::new()).collect();
    let mut tasks: Vec<_> = replicas
        .iter()
        .zip(&shutdown)
        .map(|(r, s)| {
            let (r, s) = (r.clone(), s.clone());
            tokio::spawn(async move { r.run(s).await })
        })
        .collect();
    let all: Vec<&Shards> = replicas.iter().collect();
    let electors = |rs: &[&Shards]| -> Vec<LeaderElector> {
        rs.iter()
            .flat_map(|r| r.electors().iter().cloned())
            .collect()
    };
    let running_owned = electors(&all);
    let mut running: Vec<&LeaderElector> = running_owned.iter().collect();

    // Start: every key gets exactly one owner, and each replica holds its fair share (2 of 6).
    settle(&clock, &running).await;
    let t0 = clock.now();
    while owners(&all, &keys).iter().any(|n| *n != 1) {
        assert!(
            clock.now() - t0 < DEFAULT_LEASE_DURATION * 4,
            "no full cover"
        );
        step(&clock, &running).await;
        assert!(
            owners(&all, &keys).iter().all(|n| *n <= 1),
            "a key has two owners"
        );
    }
    for r in &replicas {
        assert_eq!(
            r.owned_shards().len(),
            SHARDS / REPLICAS,
            "{:?}",
            r.owned_shards()
        );
    }

    // Kill r2: no release, its task is gone.
    tasks.pop().unwrap().abort();
    let dead_shards = replicas[2].owned_shards();
    let killed = clock.now();
    let live: Vec<&Shards> = replicas[..2].iter().collect();
    let live_electors = electors(&live);
    running = live_electors.iter().collect();
    settle(&clock, &running).await;
    let covered = |rs: &[&Shards]| owners(rs, &keys).iter().all(|n| *n == 1);
    while !covered(&live) {
        assert!(
            clock.now() - killed < DEFAULT_LEASE_DURATION * 6,
            "no re-balance"
        );
        step(&clock, &running).await;
        // The dead replica counts here too: its shards' terms run out (on the clock) before any
        // survivor takes them over.
        assert!(
            owners(&all, &keys).iter().all(|n| *n <= 1),
            "a key has two owners"
        );
    }
    // Its shards expired first (a lease duration), then waited out the grace period.
    assert!(clock.now() - killed >= DEFAULT_LEASE_DURATION);
    assert!(replicas[2].owned_shards().is_empty());
    let mut survivors: Vec<usize> = live.iter().flat_map(|r| r.owned_shards()).collect();
    survivors.sort_unstable();
    assert_eq!(survivors, (0..SHARDS).collect::<Vec<_>>());
    for shard in dead_shards {
        assert!(live.iter().any(|r| r.owned_shards().contains(&shard)));
    }
    // Every key is reconciled by exactly one live replica: each "reconciles" the keys it owns.
    let mut reconciled = vec![0usize; KEYS];
    for r in &live {
        for (i, k) in keys.iter().enumerate() {
            if r.owns(k) {
                reconciled[i] += 1;
            }
        }
    }
    assert!(reconciled.iter().all(|n| *n == 1));

    for s in &shutdown[..2] {
        s.cancel();
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Graceful shutdown released everything.
    for i in 0..SHARDS {
        let lease = leases(&server)
            .get(&format!("pods-shard-{i}"))
            .await
            .unwrap();
        assert_eq!(
            lease.spec.unwrap().holder_identity.as_deref(),
            Some(""),
            "shard {i}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bad_shard_counts_are_typed_errors() {
    let server = server().await;
    let b = || Shards::builder(server.client(), NS, "pods").identity("a");
    assert!(matches!(
        b().shards(0).build(),
        Err(Error::ZeroCount { what: "shards" })
    ));
    assert!(matches!(
        b().replicas(0).build(),
        Err(Error::ZeroCount { what: "replicas" })
    ));
    assert!(matches!(
        Shards::builder(server.client(), NS, "Pods")
            .identity("a")
            .build(),
        Err(Error::InvalidName { .. })
    ));
    let shards = b().shards(3).build().unwrap();
    assert_eq!(shards.count(), 3);
    assert_eq!(shards.electors()[2].lease(), "default/pods-shard-2");
    let _ = Duration::ZERO;
    server.shutdown().await;
}

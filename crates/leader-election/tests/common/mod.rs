//! Helpers shared by the integration tests: a server, electors on one fake clock, and a small
//! discrete-event loop that moves the fake clock from one wake-up to the next.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset"
)]

use std::sync::Arc;
use std::time::Duration;

use fake_apiserver::{FakeApiServer, ServerHandle};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use leader_election::{LeaderElector, LeaderElectorBuilder};
use parking_lot::Mutex;
use timer_wheel::{Clock, Driver, FakeClock};

/// A hang guard only: every wait in these tests is for an event, never for an amount of time.
pub const LIMIT: Duration = Duration::from_secs(30);

pub const NS: &str = "default";

pub async fn server() -> ServerHandle {
    FakeApiServer::builder().start().await.expect("start")
}

pub fn leases(server: &ServerHandle) -> Api<Lease> {
    Api::namespaced(server.client(), NS)
}

/// A fake clock and a threaded driver on it (timers fire when the clock is moved).
pub fn fake_time() -> (FakeClock, Driver) {
    let clock = FakeClock::new();
    let driver = Driver::builder()
        .clock(clock.clone())
        .spawn()
        .expect("driver");
    (clock, driver)
}

/// A builder for `identity` on lease `name`, talking through a client named `identity` (so
/// faults can cut it off alone), on `driver`.
pub fn builder(
    server: &ServerHandle,
    name: &str,
    identity: &str,
    driver: &Driver,
) -> LeaderElectorBuilder {
    LeaderElector::builder(server.named_client(identity).expect("client"), NS, name)
        .identity(identity)
        .driver(driver.clone())
}

/// An event log shared by callbacks: `"<who> started"`, `"<who> stopped"`, `"<who> sees <id>"`.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, s: String) {
        self.0.lock().push(s);
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().clone()
    }

    pub fn position(&self, entry: &str) -> Option<usize> {
        self.0.lock().iter().position(|e| e == entry)
    }

    /// Callbacks that log for `who`.
    pub fn wire(&self, who: &str, b: LeaderElectorBuilder) -> LeaderElectorBuilder {
        let (l1, l2, l3) = (self.clone(), self.clone(), self.clone());
        let (w1, w2, w3) = (who.to_owned(), who.to_owned(), who.to_owned());
        b.on_started_leading(move |_| l1.push(format!("{w1} started")))
            .on_stopped_leading(move || l2.push(format!("{w2} stopped")))
            .on_new_leader(move |id| l3.push(format!("{w3} sees {id}")))
    }

    /// The elector `who` of lease `name` with the default timings, its callbacks logged here.
    pub fn elector(
        &self,
        server: &ServerHandle,
        name: &str,
        who: &str,
        driver: &Driver,
    ) -> LeaderElector {
        self.wire(who, builder(server, name, who, driver))
            .build()
            .expect("valid elector")
    }
}

/// Waits until every elector in `running` has finished its work and sleeps until a time still
/// ahead on `clock`.
pub async fn settle(clock: &FakeClock, running: &[&LeaderElector]) {
    for elector in running {
        let mut rx = elector.subscribe();
        let clock = clock.clone();
        let settled = tokio::time::timeout(
            LIMIT,
            rx.wait_for(|s| s.next_wake.is_some_and(|w| w > clock.now())),
        )
        .await;
        assert!(
            settled.is_ok(),
            "{} ({}) never settled: {:?}, now {:?}",
            elector.identity(),
            elector.lease(),
            elector.subscribe().borrow().clone(),
            clock.now()
        );
    }
}

/// Moves the clock to just after the earliest wake-up of `running` (they must be settled), and
/// settles again. Returns the time moved.
pub async fn step(clock: &FakeClock, running: &[&LeaderElector]) -> Duration {
    let before = clock.now();
    let mut wakes: Vec<_> = running
        .iter()
        .filter_map(|e| e.subscribe().borrow().next_wake)
        .collect();
    wakes.sort();
    let next = *wakes.first().expect("nobody is waiting");
    // A timer fires on the first driver tick at or after its deadline: step a hair (one
    // tick) past it. A wake-up that the new time passes by less than a tick may not fire, and
    // then nobody would move on: go a hair past that one too.
    let hair = Duration::from_millis(1);
    let mut to = next + hair;
    for wake in wakes {
        if wake < to {
            to = to.max(wake + hair);
        }
    }
    clock.set(to);
    settle(clock, running).await;
    clock.now() - before
}

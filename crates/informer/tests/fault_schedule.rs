//! The informer's reliability goal, through the real `kube::Client` against `fake-apiserver`:
//! under a random schedule of faults (dropped watches, 410 on the watch stream, compaction,
//! restarts with a new history, 429 and 500 bursts on list and watch, latency, hung watches
//! that deliver nothing until the reflector's idle timeout abandons them, and "blackouts"
//! during which no watch is open) while a writer creates, updates and deletes
//! ConfigMaps, the informer must end with
//!
//! * its cache equal to the server's state (key -> resourceVersion);
//! * every handler's view (replayed from its events) equal to it too, and each handler having
//!   seen each object's resourceVersions in increasing order (equal only for a relist's
//!   same-version update, or for a tombstone carrying the last known state);
//! * a [`DeletedObject::Tombstone`] (never a known delete) for every cached object deleted
//!   during a blackout.
//!
//! Half the schedules use streaming lists (`sendInitialEvents`), half plain lists.
//!
//! A seed fixes the schedule (which faults, which writes, how far the fake clock moves); the
//! interleaving with the server and the handlers, which run in real time, varies from run to
//! run. The reflector's timers run on a manual driver over a fake clock, so backoffs take no
//! real time, and every wait is bounded and fails naming the seed.
//!
//! `FLYWHEEL_FAULT_SEEDS` sets how many schedules run (default [`DEFAULT_SEEDS`]; `cargo xtask
//! soak` runs 1,000), `FLYWHEEL_FAULT_SEED` the first seed (replay a failure with it and
//! `FLYWHEEL_FAULT_SEEDS=1`).
#![cfg(feature = "kube")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use delta_fifo::DeletedObject;
use fake_apiserver::{ApiError, FakeApiServer, FaultRule, ServerHandle, Verb};
use futures::StreamExt;
use informer::{
    KubeListerWatcher, KubeObject, ListOptions, ListPage, ListerWatcher, Next, ReflectorError,
    Resource, SharedIndexInformer, Termination, WatchOptions, WatchStream, handler_fn,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, ResourceExt};
use serde_json::json;
use timer_wheel::{Driver, FakeClock};
use tokio::sync::oneshot;

use common::spawn_informer;
use common::versions::{served_versions, versions};

/// Schedules run by default (CI): about 0.3 s each in debug on two busy cores.
const DEFAULT_SEEDS: u64 = 48;
/// Fault steps per schedule.
const STEPS: usize = 24;
/// Objects present before the informer starts.
const INITIAL_OBJECTS: usize = 8;
/// Rounds of a bounded wait, 5 ms apart (a passing run needs a few).
const ROUNDS: usize = 3_000;
const NS: &str = "default";

type Cm = KubeObject<ConfigMap>;
type Informer = SharedIndexInformer<Cm, Tap>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_and_handlers_converge_under_random_fault_schedules() {
    // spec: GOALS "Reliability / Informer"; 5.14 (tombstones, convergence under 410s,
    // disconnects and restarts); RF-9, RF-12, RF-15, RF-16; SI-7 (a late handler)
    let first = env_u64("FLYWHEEL_FAULT_SEED", 0);
    let seeds = env_u64("FLYWHEEL_FAULT_SEEDS", DEFAULT_SEEDS);
    let (mut tombstones, mut idle_ends) = (0, 0);
    for seed in first..first + seeds {
        let (t, i) = run_schedule(seed).await;
        tombstones += t;
        idle_ends += i;
    }
    eprintln!(
        "{seeds} schedules: {tombstones} blackout deletes checked, {idle_ends} hung watches abandoned on the idle timeout"
    );
    // Every schedule has a blackout; most delete cached objects in it.
    assert!(tombstones > 0, "no blackout deleted a cached object");
    // Hung watches are in every schedule; over many schedules, some outlive their idle
    // timeout (a single replayed one may see its hung watch closed by a blackout first).
    if seeds >= DEFAULT_SEEDS {
        assert!(
            idle_ends > 0,
            "no hung watch was abandoned on its idle timeout"
        );
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// One schedule; returns how many blackout deletes were checked for tombstones and how many
/// watches were abandoned as idle.
async fn run_schedule(seed: u64) -> (usize, usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = FakeApiServer::builder()
        // A short history sometimes expires a watch that falls behind the writer.
        .history(rng.usize(40..400))
        .bookmark_interval(Duration::from_millis(rng.u64(20..500)))
        .start()
        .await
        .unwrap();
    let live = Arc::new(Mutex::new(BTreeSet::new()));
    let next_name = Arc::new(AtomicU64::new(0));
    for _ in 0..INITIAL_OBJECTS {
        let name = format!("cm-{}", next_name.fetch_add(1, Ordering::Relaxed));
        server
            .create("", "v1", "configmaps", NS, cm(&name, 0))
            .unwrap();
        live.lock().unwrap().insert(name);
    }
    // Half the schedules sync through streaming lists (sendInitialEvents), the rest list.
    let mut r = Rig::start(seed, server, rng.bool()).await;
    r.pump("the initial sync", |r| r.informer.has_synced())
        .await;
    // SI-7: a handler added after the start first gets the cache as adds.
    let late = Recorder::default();
    r.informer.add_event_handler(late.handler()).unwrap();
    r.recorders.push(late);

    let writing = Arc::new(AtomicBool::new(true));
    let writer = tokio::spawn(write(
        r.server.client(),
        rng.u64(..),
        Arc::clone(&live),
        Arc::clone(&next_name),
        Arc::clone(&writing),
    ));
    let mut blackout_deletes = BTreeSet::new();
    let blackout_step = rng.usize(..STEPS);
    let hang_step = rng.usize(..STEPS);
    for step in 0..STEPS {
        if step == hang_step {
            r.hang(&mut rng);
        } else if step == blackout_step || rng.u8(..10) == 0 {
            blackout_deletes.extend(r.blackout(&mut rng, &live).await);
        } else {
            r.fault(&mut rng).await;
        }
        r.clock.advance(Duration::from_millis(rng.u64(0..70_000)));
        r.driver.turn();
        tokio::time::sleep(Duration::from_millis(rng.u64(1..8))).await;
    }
    // The writer finishes its write in flight and stops: the server's state is final.
    writing.store(false, Ordering::Release);
    tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: the writer did not stop"))
        .unwrap();

    // Heal: no faults; let backoffs expire until the cache and every handler converge.
    r.server.faults().clear();
    let served = r.served().await;
    r.pump_until_converged(&served).await;

    for (i, recorder) in r.recorders.iter().enumerate() {
        if let Err(e) = recorder.check_order() {
            panic!("seed {seed}, handler {i}: {e}");
        }
        for key in &blackout_deletes {
            match recorder.last(key) {
                Some(Event::Tombstone(_)) => {}
                other => panic!(
                    "seed {seed}, handler {i}: {key} was deleted during a blackout, its last event is {other:?}; ends: {:?}",
                    r.nexts()
                ),
            }
            if recorder.known_deletes(key) > 0 {
                panic!("seed {seed}, handler {i}: a known delete for {key}, deleted unseen");
            }
        }
    }
    let idle_ends = r.idle_ends();
    r.stop().await;
    (blackout_deletes.len(), idle_ends)
}

/// A ConfigMap called `name` whose data says `generation`.
fn cm(name: &str, generation: u64) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name, "namespace": NS },
        "data": { "generation": generation.to_string() }
    })
}

/// The writer: random creates, updates and deletes until `writing` is cleared. Writes are never the target
/// of a fault rule (those name list and watch), but they see the latency.
async fn write(
    client: kube::Client,
    seed: u64,
    live: Arc<Mutex<BTreeSet<String>>>,
    next_name: Arc<AtomicU64>,
    writing: Arc<AtomicBool>,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let api = Api::<ConfigMap>::namespaced(client, NS);
    let mut generation = 0;
    while writing.load(Ordering::Acquire) {
        generation += 1;
        let pick = {
            let live = live.lock().unwrap();
            let n = live.len();
            (n > 0).then(|| live.iter().nth(rng.usize(..n)).cloned().unwrap())
        };
        match (rng.u8(..10), pick) {
            (0..=3, _) | (_, None) => {
                let name = format!("cm-{}", next_name.fetch_add(1, Ordering::Relaxed));
                let obj: ConfigMap = serde_json::from_value(cm(&name, generation)).unwrap();
                api.create(&Default::default(), &obj).await.unwrap();
                live.lock().unwrap().insert(name);
            }
            (4..=7, Some(name)) => {
                let patch = json!({ "data": { "generation": generation.to_string() } });
                // 404: deleted by a blackout meanwhile.
                let _ = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await;
            }
            (_, Some(name)) => {
                if live.lock().unwrap().remove(&name) {
                    api.delete(&name, &DeleteParams::default()).await.unwrap();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(0..4))).await;
    }
}

/// The ListerWatcher under test, with a count of calls in flight and watch streams open, so
/// that a blackout knows when no watch can see a change any more.
struct Tap {
    inner: KubeListerWatcher<ConfigMap>,
    active: Arc<AtomicI64>,
}

/// Decrements the active count when a call ends or a stream is dropped.
struct Active(Arc<AtomicI64>);

impl Active {
    fn new(count: &Arc<AtomicI64>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(count))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ListerWatcher<Cm> for Tap {
    async fn list(&self, options: &ListOptions) -> Result<ListPage<Cm>, informer::ApiError> {
        let _active = Active::new(&self.active);
        self.inner.list(options).await
    }

    async fn watch(&self, options: &WatchOptions) -> Result<WatchStream<Cm>, informer::ApiError> {
        let active = Active::new(&self.active);
        let stream = self.inner.watch(options).await?;
        // The stream holds the count until the reflector drops it.
        Ok(stream
            .map(move |event| {
                let _ = &active;
                event
            })
            .boxed())
    }
}

/// What a handler was told about one key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Add(u64),
    Update(u64, u64),
    Delete(u64),
    /// The last known version, if the tombstone carries one.
    Tombstone(Option<u64>),
}

/// A handler that records every event, by key, in order.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<BTreeMap<String, Vec<Event>>>>,
}

impl Recorder {
    fn handler(&self) -> impl informer::ResourceEventHandler<Cm> {
        let (add, update, delete) = (self.clone(), self.clone(), self.clone());
        handler_fn()
            .on_add(move |c: &Arc<Cm>, _| add.push(key(c), Event::Add(rv(c))))
            .on_update(move |old: &Arc<Cm>, new: &Arc<Cm>| {
                update.push(key(new), Event::Update(rv(old), rv(new)));
            })
            .on_delete(move |d: DeletedObject<Cm>| match d {
                DeletedObject::Known(c) => delete.push(key(&c), Event::Delete(rv(&c))),
                DeletedObject::Tombstone { key, last_known } => delete.push(
                    key.to_string(),
                    Event::Tombstone(last_known.as_deref().map(rv)),
                ),
            })
    }

    fn push(&self, key: String, event: Event) {
        self.events
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push(event);
    }

    /// The objects this handler believes exist, as key -> resourceVersion.
    fn view(&self) -> BTreeMap<String, String> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter_map(|(key, events)| match events.last()? {
                Event::Add(rv) | Event::Update(_, rv) => Some((key.clone(), rv.to_string())),
                Event::Delete(_) | Event::Tombstone(_) => None,
            })
            .collect()
    }

    fn last(&self, key: &str) -> Option<Event> {
        self.events.lock().unwrap().get(key)?.last().cloned()
    }

    fn known_deletes(&self, key: &str) -> usize {
        self.events.lock().unwrap().get(key).map_or(0, |events| {
            events
                .iter()
                .filter(|e| matches!(e, Event::Delete(_)))
                .count()
        })
    }

    /// Per key: add, then updates, then one delete (names are never reused); versions never
    /// go back, and stay equal only for a same-version update (a relist) or a tombstone.
    fn check_order(&self) -> Result<(), String> {
        for (key, events) in self.events.lock().unwrap().iter() {
            let mut last: Option<u64> = None;
            let mut present = false;
            for event in events {
                let ok = match *event {
                    Event::Add(rv) => !present && last.is_none_or(|l| rv > l),
                    Event::Update(old, new) => present && Some(old) == last && new >= old,
                    Event::Delete(rv) => present && last.is_some_and(|l| rv >= l),
                    Event::Tombstone(rv) => {
                        present && rv.is_none_or(|rv| last.is_some_and(|l| rv >= l))
                    }
                };
                if !ok {
                    return Err(format!("{key}: {event:?} out of order in {events:?}"));
                }
                match *event {
                    Event::Add(rv) | Event::Update(_, rv) => {
                        present = true;
                        last = Some(rv);
                    }
                    Event::Delete(_) | Event::Tombstone(_) => present = false,
                }
            }
        }
        Ok(())
    }
}

/// What differs between `got` and `want`, as `key: got != want` lines.
fn diff(got: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> String {
    let keys: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
    let lines: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| format!("{k}: {:?} != {:?}", got.get(k), want.get(k)))
        .collect();
    if lines.is_empty() {
        "equal".to_owned()
    } else {
        lines.join(", ")
    }
}

fn key(c: &Cm) -> String {
    format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any())
}

fn rv(c: &Cm) -> u64 {
    c.resource_version()
        .and_then(|rv| rv.parse().ok())
        .expect("fake-apiserver versions are numbers")
}

struct Rig {
    seed: u64,
    server: ServerHandle,
    clock: FakeClock,
    driver: Driver,
    informer: Arc<Informer>,
    active: Arc<AtomicI64>,
    ends: Arc<Mutex<Vec<Termination>>>,
    recorders: Vec<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), informer::InformerError>>>,
}

impl Rig {
    async fn start(seed: u64, server: ServerHandle, streaming_list: bool) -> Self {
        let clock = FakeClock::new();
        let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
        let active = Arc::new(AtomicI64::new(0));
        let ends = Arc::new(Mutex::new(Vec::new()));
        let tap = Tap {
            inner: KubeListerWatcher::new(Api::<ConfigMap>::all(server.client())),
            active: Arc::clone(&active),
        };
        let informer = Arc::new(
            SharedIndexInformer::builder(tap, driver.clone())
                .name(format!("configmaps-{seed}"))
                .seed(seed)
                .streaming_list(streaming_list)
                .watch_error_handler({
                    let ends = Arc::clone(&ends);
                    move |t: &Termination| ends.lock().unwrap().push(t.clone())
                })
                .build(),
        );
        let early = Recorder::default();
        informer.add_event_handler(early.handler()).unwrap();
        let (stop, task) = spawn_informer(&informer);
        Rig {
            seed,
            server,
            clock,
            driver,
            informer,
            active,
            ends,
            recorders: vec![early],
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The next one or two watches hang (a half-open connection: headers, then nothing, not
    /// even bookmarks); the open one is closed so that a new watch opens. Only the
    /// reflector's idle timeout (the default: the watch's timeoutSeconds + a grace, on the
    /// fake clock), a blackout's close or the end of the schedule's faults ends them.
    fn hang(&self, rng: &mut fastrand::Rng) {
        let faults = self.server.faults();
        faults.hang_next_watches(rng.u32(1..3));
        self.clock.advance(Duration::from_secs(2));
        faults.close_watches();
    }

    /// How many watches were abandoned on the idle timeout.
    fn idle_ends(&self) -> usize {
        self.ends
            .lock()
            .unwrap()
            .iter()
            .filter(|t| matches!(t.error, Some(ReflectorError::WatchIdle { .. })))
            .count()
    }

    /// One random fault (or none).
    async fn fault(&self, rng: &mut fastrand::Rng) {
        let faults = self.server.faults();
        let verb = if rng.bool() { Verb::List } else { Verb::Watch };
        match rng.u8(..10) {
            // A dropped watch; after 0..3 s on the fake clock, so sometimes a very short one.
            0 => {
                self.clock.advance(Duration::from_millis(rng.u64(0..3_000)));
                faults.close_watches();
            }
            // 410 on the watch stream.
            1 => faults.fail_watches(ApiError::expired("injected: too old resource version")),
            // Compaction: re-watching from an older version gets 410.
            2 => {
                faults.compact();
                faults.close_watches();
            }
            // A restore: new history, versions jump ahead.
            3 => {
                faults.restart_with_new_history(rng.u64(1..1_000));
            }
            4 => faults.fail(
                FaultRule::status(429)
                    .verb(verb)
                    .resource("configmaps")
                    .times(rng.u64(1..5)),
            ),
            5 => faults.fail(
                FaultRule::status(500)
                    .verb(verb)
                    .resource("configmaps")
                    .times(rng.u64(1..5)),
            ),
            6 => faults.set_latency(Duration::from_millis(rng.u64(0..15))),
            7 => self.hang(rng),
            // Nothing: the writer goes on.
            _ => {}
        }
    }

    /// A blackout: every watch open fails (500, so the informer relists after a backoff) and
    /// the watches are dropped; once nothing is in flight and no stream is open, deletes cached
    /// objects, then compacts so that no re-watch can see the deletes. Returns the deleted keys.
    async fn blackout(
        &self,
        rng: &mut fastrand::Rng,
        live: &Mutex<BTreeSet<String>>,
    ) -> Vec<String> {
        let faults = self.server.faults();
        faults.fail(
            FaultRule::status(500)
                .verb(Verb::Watch)
                .resource("configmaps")
                .always(),
        );
        let mut down = false;
        for _ in 0..ROUNDS {
            faults.close_watches();
            tokio::time::sleep(Duration::from_millis(5)).await;
            if self.active.load(Ordering::Acquire) == 0 {
                down = true;
                break;
            }
        }
        assert!(
            down,
            "seed {}: a watch stayed open during a blackout; ends: {:?}",
            self.seed,
            self.nexts()
        );
        // From here on no watch sees a change: a new watch fails, and a list (a relist) sees
        // the deletes as missing objects.
        let cached = self.cached();
        let victims: Vec<String> = {
            let mut live = live.lock().unwrap();
            let candidates: Vec<String> = live
                .iter()
                .filter(|name| cached.contains_key(&format!("{NS}/{name}")))
                .cloned()
                .collect();
            let n = candidates.len().min(rng.usize(1..4));
            let picked: Vec<String> = (0..n)
                .map(|_| candidates[rng.usize(..candidates.len())].clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for name in &picked {
                live.remove(name);
            }
            picked
        };
        let api = Api::<ConfigMap>::namespaced(self.server.client(), NS);
        for name in &victims {
            api.delete(name, &DeleteParams::default()).await.unwrap();
        }
        faults.compact();
        faults.clear();
        victims.iter().map(|name| format!("{NS}/{name}")).collect()
    }

    fn nexts(&self) -> Vec<Next> {
        self.ends.lock().unwrap().iter().map(|t| t.next).collect()
    }

    /// Moves the fake clock past any backoff until `cond` holds; bounded.
    async fn pump(&self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
        for _ in 0..ROUNDS {
            if cond(self) {
                return;
            }
            self.clock.advance(Duration::from_secs(61));
            self.driver.turn();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "seed {}: gave up waiting for {what}; cache {:?}, ends: {:?}",
            self.seed,
            self.cached(),
            self.nexts()
        );
    }

    /// Moves the fake clock until the cache and every handler's view equal `served`;
    /// bounded, and on failure says what differs.
    async fn pump_until_converged(&self, served: &BTreeMap<String, String>) {
        for _ in 0..ROUNDS {
            if self.cached() == *served && self.recorders.iter().all(|h| h.view() == *served) {
                return;
            }
            self.clock.advance(Duration::from_secs(61));
            self.driver.turn();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let views: Vec<String> = self
            .recorders
            .iter()
            .map(|h| diff(&h.view(), served))
            .collect();
        panic!(
            "seed {}: no convergence; cache vs server: {}; handlers vs server: {views:?}; last synced {:?}, server at {}; ends: {:?}",
            self.seed,
            diff(&self.cached(), served),
            self.informer.last_sync_resource_version(),
            self.server.resource_version(),
            self.ends.lock().unwrap()
        );
    }

    /// The cache as `namespace/name -> resourceVersion`.
    fn cached(&self) -> BTreeMap<String, String> {
        versions(self.informer.indexer().list().iter().map(|o| &***o))
    }

    /// The server's objects, the same way.
    async fn served(&self) -> BTreeMap<String, String> {
        served_versions::<ConfigMap>(self.server.client()).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let result = tokio::time::timeout(Duration::from_secs(10), self.task.take().unwrap())
            .await
            .unwrap_or_else(|_| panic!("seed {}: the informer did not stop", self.seed))
            .unwrap();
        assert!(result.is_ok(), "seed {}: {result:?}", self.seed);
        self.server.shutdown().await;
    }
}

//! Handlers, listeners, the shared processor and delta processing (spec section 5).

mod common;

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{Pod, by_node, pod, pod_on};
use delta_fifo::{DeletedObject, DeltaFifo};
use informer::{
    BufferPolicy, FilteringHandler, HandlerOptions, HandlerRegistration, Indexer, IndexerError,
    Notification, ResourceEventHandler, SharedProcessor, handler_fn, informer_fifo,
    informer_transform, pop_and_process, run_process_loop,
};
use timer_wheel::FakeClock;

const WAIT: Duration = Duration::from_secs(10);

/// An informer without a reflector: cache, FIFO, processor, on a fake clock.
struct Rig {
    clock: FakeClock,
    indexer: Arc<Indexer<Pod>>,
    fifo: DeltaFifo<Pod>,
    processor: SharedProcessor<Pod>,
}

fn rig(resync: Duration) -> Rig {
    let clock = FakeClock::new();
    let indexer = Arc::new(Indexer::builder().index("node", by_node()).build());
    let fifo = informer_fifo(Arc::clone(&indexer), None, true);
    let processor = SharedProcessor::new(Arc::clone(&indexer), Arc::new(clock.clone()), resync);
    Rig {
        clock,
        indexer,
        fifo,
        processor,
    }
}

impl Rig {
    /// Processes everything queued, on this thread.
    fn drain(&self) {
        while !self.fifo.is_empty() {
            pop_and_process(&self.fifo, &self.processor)
                .unwrap()
                .unwrap();
        }
    }
}

/// A handler that reports every event as a line on a channel.
fn recorder() -> (impl ResourceEventHandler<Pod>, Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    (recorder_to(tx), rx)
}

fn recorder_to(tx: Sender<String>) -> impl ResourceEventHandler<Pod> {
    let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
    handler_fn()
        .on_add(move |p: &Arc<Pod>, initial| {
            let _ = t1.send(format!(
                "add {} {}{}",
                p.name,
                p.rv,
                if initial { " initial" } else { "" }
            ));
        })
        .on_update(move |old: &Arc<Pod>, new: &Arc<Pod>| {
            let _ = t2.send(format!("update {} {}->{}", new.name, old.rv, new.rv));
        })
        .on_delete(move |d: DeletedObject<Pod>| {
            let what = match &d {
                DeletedObject::Known(p) => format!("delete {} {}", p.name, p.rv),
                DeletedObject::Tombstone { key, .. } => format!("tombstone {key}"),
            };
            let _ = t3.send(what);
        })
}

fn take(rx: &Receiver<String>, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| rx.recv_timeout(WAIT).expect("event"))
        .collect()
}

fn wait_synced(reg: &HandlerRegistration<Pod>) {
    let (tx, rx) = mpsc::channel();
    let fut = reg.synced_async();
    thread::spawn(move || tx.send(futures::executor::block_on(fut)));
    assert!(rx.recv_timeout(WAIT).unwrap(), "handler synced");
}

#[test]
fn handler_before_start_gets_initial_adds_and_syncs_after_handling_them() {
    // spec: SI-6, SI-15, SI-16, SI-22
    let rig = rig(Duration::ZERO);
    let gate = Arc::new(Barrier::new(2));
    let (tx, rx) = mpsc::channel();
    let g = Arc::clone(&gate);
    let reg = rig
        .processor
        .add_event_handler(handler_fn().on_add(move |p: &Arc<Pod>, initial| {
            if p.name == "a" {
                g.wait(); // hold the first initial add until the test looked
            }
            tx.send((p.name.clone(), initial)).unwrap();
        }))
        .unwrap();
    rig.processor.start();
    rig.fifo
        .replace([pod("ns", "a", "1"), pod("ns", "b", "1")], "1")
        .unwrap();
    rig.drain();
    assert!(rig.fifo.has_synced());
    assert!(
        !reg.has_synced(),
        "informer synced but the handler has not handled its adds"
    );
    gate.wait();
    let mut got = vec![
        rx.recv_timeout(WAIT).unwrap(),
        rx.recv_timeout(WAIT).unwrap(),
    ];
    got.sort();
    assert_eq!(got, [("a".into(), true), ("b".into(), true)]);
    wait_synced(&reg);
    assert!(reg.has_synced());
    // A later add is not initial.
    rig.fifo.add(pod("ns", "c", "2")).unwrap();
    rig.drain();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), ("c".into(), false));
    rig.processor.stop();
}

#[test]
fn late_handler_gets_cache_then_live_events_without_gap() {
    // spec: SI-7
    let rig = rig(Duration::ZERO);
    rig.processor.start();
    rig.fifo
        .replace([pod("ns", "a", "1"), pod("ns", "b", "1")], "1")
        .unwrap();
    rig.drain();
    let (handler, rx) = recorder();
    let reg = rig.processor.add_event_handler(handler).unwrap();
    let mut initial = take(&rx, 2);
    initial.sort();
    assert_eq!(initial, ["add a 1 initial", "add b 1 initial"]);
    wait_synced(&reg);
    rig.fifo.update(pod("ns", "a", "2")).unwrap();
    rig.fifo.delete(pod("ns", "b", "3")).unwrap();
    rig.drain();
    assert_eq!(take(&rx, 2), ["update a 1->2", "delete b 3"]);
    assert!(rx.try_recv().is_err(), "no duplicate");
    rig.processor.stop();
}

#[test]
fn late_handler_during_concurrent_processing_sees_each_object_once() {
    // spec: SI-7, SI-13 (registration and distribution are serialised by the deltas lock)
    let rig = Arc::new(rig(Duration::ZERO));
    rig.processor.start();
    let producer = {
        let rig = Arc::clone(&rig);
        thread::spawn(move || {
            for i in 0..300 {
                rig.fifo.add(pod("ns", &format!("p{i}"), "1")).unwrap();
                rig.drain();
            }
        })
    };
    let (handler, rx) = recorder();
    let _reg = rig.processor.add_event_handler(handler).unwrap();
    producer.join().unwrap();
    let mut names: Vec<String> = take(&rx, 300)
        .into_iter()
        .map(|line| line.split(' ').nth(1).unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 300, "every object exactly once");
    assert!(rx.try_recv().is_err());
    rig.processor.stop();
}

#[test]
fn same_version_update_reaches_every_handler_when_resync_is_off() {
    // spec: SI-11, SI-12 (resync disabled: all syncing flags stay true)
    let rig = rig(Duration::ZERO);
    let (h1, rx1) = recorder();
    let (h2, rx2) = recorder();
    rig.processor.add_event_handler(h1).unwrap();
    rig.processor.add_event_handler(h2).unwrap();
    rig.processor.start();
    rig.fifo.replace([pod("ns", "a", "1")], "1").unwrap();
    rig.drain();
    rig.fifo.replace([pod("ns", "a", "1")], "1").unwrap(); // relist, unchanged
    rig.drain();
    assert_eq!(take(&rx1, 2), ["add a 1 initial", "update a 1->1"]);
    assert_eq!(take(&rx2, 2), ["add a 1 initial", "update a 1->1"]);
    rig.processor.stop();
}

#[test]
fn resync_goes_only_to_due_handlers() {
    // spec: SI-5, SI-11, SI-12, SI-14
    let rig = rig(Duration::from_secs(10));
    let (fast, rx_fast) = recorder();
    let (slow, rx_slow) = recorder();
    let reg_fast = rig.processor.add_event_handler(fast).unwrap();
    let reg_slow = rig
        .processor
        .add_event_handler_with_options(
            slow,
            HandlerOptions::default().resync_period(Duration::from_secs(60)),
        )
        .unwrap();
    assert_eq!(reg_fast.resync_period(), Duration::from_secs(10));
    assert_eq!(reg_slow.resync_period(), Duration::from_secs(60));
    rig.processor.start();
    rig.fifo.replace([pod("ns", "a", "1")], "1").unwrap();
    rig.drain();
    take(&rx_fast, 1);
    take(&rx_slow, 1);

    assert!(!rig.processor.should_resync(), "nothing due yet");
    rig.clock.advance(Duration::from_secs(10));
    assert!(rig.processor.should_resync());
    assert_eq!(rig.fifo.resync(), 1);
    rig.drain();
    assert_eq!(take(&rx_fast, 1), ["update a 1->1"]);
    // A real change still reaches both.
    rig.fifo.update(pod("ns", "a", "2")).unwrap();
    rig.drain();
    assert_eq!(take(&rx_fast, 1), ["update a 1->2"]);
    assert_eq!(
        take(&rx_slow, 1),
        ["update a 1->2"],
        "the resync was not delivered to slow"
    );

    rig.clock.advance(Duration::from_secs(50));
    assert!(rig.processor.should_resync(), "both due at 60 s");
    rig.fifo.resync();
    rig.drain();
    assert_eq!(take(&rx_fast, 1), ["update a 2->2"]);
    assert_eq!(take(&rx_slow, 1), ["update a 2->2"]);
    rig.processor.stop();
}

#[test]
fn resync_period_normalisation() {
    // spec: SI-5
    let rig = rig(Duration::from_secs(30));
    let noop = || handler_fn::<Pod>();
    let a = rig.processor.add_event_handler(noop()).unwrap();
    // Before start: a shorter period lowers the check period (floor 1 s) and recomputes `a`.
    let b = rig
        .processor
        .add_event_handler_with_options(
            noop(),
            HandlerOptions::default().resync_period(Duration::from_millis(200)),
        )
        .unwrap();
    assert_eq!(b.resync_period(), Duration::from_secs(1));
    assert_eq!(rig.processor.resync_check_period(), Duration::from_secs(1));
    assert_eq!(a.resync_period(), Duration::from_secs(30));
    rig.processor.start();
    // After start: a period below the check period is raised to it.
    let c = rig
        .processor
        .add_event_handler_with_options(
            noop(),
            HandlerOptions::default().resync_period(Duration::from_millis(1)),
        )
        .unwrap();
    assert_eq!(c.resync_period(), Duration::from_secs(1));
    let off = rig
        .processor
        .add_event_handler_with_options(
            noop(),
            HandlerOptions::default().resync_period(Duration::ZERO),
        )
        .unwrap();
    assert_eq!(off.resync_period(), Duration::ZERO);
    rig.processor.stop();

    // An informer that never resyncs: handlers cannot switch it on.
    let rig = rig_no_resync();
    let h = rig
        .processor
        .add_event_handler_with_options(
            handler_fn::<Pod>(),
            HandlerOptions::default().resync_period(Duration::from_secs(5)),
        )
        .unwrap();
    assert_eq!(h.resync_period(), Duration::ZERO);
    rig.processor.stop();
}

fn rig_no_resync() -> Rig {
    rig(Duration::ZERO)
}

#[test]
fn removal_drops_buffered_notifications_joins_and_is_idempotent() {
    // spec: SI-18, SI-19
    let rig = rig(Duration::ZERO);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let reg = rig
        .processor
        .add_event_handler(handler_fn().on_add(move |p: &Arc<Pod>, _| {
            tx.send(p.name.clone()).unwrap();
            let _ = release_rx.recv();
        }))
        .unwrap();
    rig.processor.start();
    for i in 0..5 {
        rig.fifo.add(pod("ns", &format!("p{i}"), "1")).unwrap();
    }
    rig.drain();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "p0");
    assert_eq!(reg.pending(), 4, "pending gauge");
    thread::scope(|s| {
        let remover = s.spawn(|| rig.processor.remove_event_handler(&reg));
        while !reg.is_removed() {
            thread::yield_now();
        }
        release_tx.send(()).unwrap();
        remover.join().unwrap();
    });
    assert_eq!(reg.pending(), 0);
    assert!(
        rx.try_recv().is_err(),
        "buffered notifications were dropped"
    );
    rig.processor.remove_event_handler(&reg); // idempotent
    assert_eq!(rig.processor.handler_count(), 0);
    assert!(reg.synced(), "it had synced before removal (latched)");
    rig.processor.stop();
    // Removed before syncing: waiting for sync ends, with false.
    let rig = rig_no_resync();
    let unsynced = rig
        .processor
        .add_event_handler(handler_fn::<Pod>())
        .unwrap();
    rig.processor.remove_event_handler(&unsynced);
    assert!(
        !unsynced.synced(),
        "a handler removed before syncing never syncs"
    );
    rig.processor.stop();
    assert!(
        rig.processor
            .add_event_handler(handler_fn::<Pod>())
            .is_err()
    );
}

#[test]
fn slow_handler_does_not_delay_others_and_panics_are_isolated() {
    // spec: SI-8, SI-9
    let rig = rig(Duration::ZERO);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let stuck = rig
        .processor
        .add_event_handler(handler_fn().on_add(move |_: &Arc<Pod>, _| {
            let _ = release_rx.recv();
        }))
        .unwrap();
    let (ok_tx, ok_rx) = mpsc::channel();
    let panicky = rig
        .processor
        .add_event_handler(handler_fn().on_add(move |p: &Arc<Pod>, _| {
            assert!(p.name != "p1", "handler bug");
            ok_tx.send(()).unwrap();
        }))
        .unwrap();
    let (fast, rx) = recorder();
    rig.processor.add_event_handler(fast).unwrap();
    rig.processor.start();
    for i in 0..50 {
        rig.fifo.add(pod("ns", &format!("p{i}"), "1")).unwrap();
    }
    rig.drain();
    assert_eq!(take(&rx, 50).len(), 50, "the fast handler got everything");
    assert!(stuck.pending() >= 49);
    for _ in 0..49 {
        ok_rx
            .recv_timeout(WAIT)
            .expect("the panicking handler goes on");
    }
    assert_eq!(panicky.panics(), 1);
    drop(release_tx);
    rig.processor.stop();
}

#[test]
fn drop_newest_policy_counts_drops_but_keeps_initial_adds() {
    // spec: section 6.1 (optional bound with an explicit policy)
    let rig = rig(Duration::ZERO);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let reg = rig
        .processor
        .add_event_handler_with_options(
            handler_fn().on_add(move |p: &Arc<Pod>, _| {
                let _ = release_rx.recv();
                tx.send(p.name.clone()).unwrap();
            }),
            HandlerOptions::default().buffer(BufferPolicy::DropNewest { capacity: 2 }),
        )
        .unwrap();
    rig.processor.start();
    rig.fifo
        .replace((0..4).map(|i| pod("ns", &format!("i{i}"), "1")), "1")
        .unwrap();
    rig.drain();
    for i in 0..4 {
        rig.fifo.add(pod("ns", &format!("p{i}"), "1")).unwrap();
    }
    rig.drain();
    assert!(reg.dropped() >= 3, "dropped {}", reg.dropped());
    for _ in 0..8 {
        let _ = release_tx.send(());
    }
    let mut initial: Vec<String> = (0..4).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    initial.sort();
    assert_eq!(initial, ["i0", "i1", "i2", "i3"]);
    wait_synced(&reg);
    rig.processor.stop();
}

#[test]
fn block_policy_loses_nothing() {
    // spec: section 6.1 (bounded buffer, blocking policy)
    let rig = rig(Duration::ZERO);
    let (tx, rx) = mpsc::channel();
    let reg = rig
        .processor
        .add_event_handler_with_options(
            handler_fn().on_add(move |p: &Arc<Pod>, _| tx.send(p.name.clone()).unwrap()),
            HandlerOptions::default().buffer(BufferPolicy::Block { capacity: 1 }),
        )
        .unwrap();
    rig.processor.start();
    for i in 0..200 {
        rig.fifo.add(pod("ns", &format!("p{i}"), "1")).unwrap();
    }
    rig.drain();
    let got: Vec<String> = (0..200).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(
        got,
        (0..200).map(|i| format!("p{i}")).collect::<Vec<_>>(),
        "in order"
    );
    assert_eq!(reg.dropped(), 0);
    rig.processor.stop();
}

#[test]
fn tombstone_reaches_on_delete_after_missed_delete_and_relist() {
    // spec: SI-23, DF-14
    let rig = rig(Duration::ZERO);
    let (h, rx) = recorder();
    rig.processor.add_event_handler(h).unwrap();
    rig.processor.start();
    rig.fifo
        .replace([pod("ns", "a", "1"), pod("ns", "b", "1")], "1")
        .unwrap();
    rig.drain();
    take(&rx, 2);
    rig.fifo.replace([pod("ns", "a", "1")], "5").unwrap(); // b was deleted while disconnected
    rig.drain();
    let mut got = take(&rx, 2);
    got.sort();
    assert_eq!(got, ["tombstone ns/b", "update a 1->1"]);
    assert!(rig.indexer.get_by_key("ns/b").is_none());
    rig.processor.stop();
}

#[test]
fn relist_of_unchanged_object_keeps_cached_arc() {
    // GOALS I5 through the informer path: a Replaced delta with the cached version is not
    // written to the cache; the handler gets the cached object as both old and new.
    let rig = rig(Duration::ZERO);
    let (tx, rx) = mpsc::channel();
    rig.processor
        .add_event_handler(
            handler_fn().on_update(move |old: &Arc<Pod>, new: &Arc<Pod>| {
                tx.send(Arc::ptr_eq(old, new)).unwrap();
            }),
        )
        .unwrap();
    rig.processor.start();
    rig.fifo.replace([pod("ns", "a", "1")], "1").unwrap();
    rig.drain();
    let cached = rig.indexer.get_by_key("ns/a").unwrap();
    rig.fifo.replace([pod("ns", "a", "1")], "2").unwrap();
    rig.drain();
    assert!(rx.recv_timeout(WAIT).unwrap());
    assert!(Arc::ptr_eq(
        &cached,
        &rig.indexer.get_by_key("ns/a").unwrap()
    ));
    rig.processor.stop();
}

#[test]
fn index_error_aborts_the_batch_and_is_reported() {
    // spec: SI-3, SI-24 (flywheel: the error is surfaced, not dropped silently)
    let rig = rig(Duration::ZERO);
    let (h, rx) = recorder();
    rig.processor.add_event_handler(h).unwrap();
    rig.processor.start();
    rig.fifo.add(pod_on("ns", "a", "1", "n1")).unwrap();
    rig.fifo.update(pod_on("ns", "a", "2", "!")).unwrap(); // same key: one batch
    rig.fifo.add(pod_on("ns", "b", "1", "n1")).unwrap();
    rig.fifo.close();
    let mut errors = Vec::new();
    run_process_loop(&rig.fifo, &rig.processor, |e| errors.push(e.to_string()));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("`node`"), "{errors:?}");
    assert_eq!(take(&rx, 2), ["add a 1", "add b 1"]);
    assert_eq!(rig.indexer.get_by_key("ns/a").unwrap().rv, "1");
    rig.processor.stop();
}

#[test]
fn transform_strips_managed_fields_and_refuses_blanking_the_version() {
    // spec: section 6.2 (strip managedFields by default), 6.8 (keep the resourceVersion)
    let rig = rig(Duration::ZERO);
    let mut p = pod("ns", "a", "1");
    p.managed = Some("x".repeat(1000));
    rig.fifo.add(p.clone()).unwrap();
    rig.drain();
    assert_eq!(rig.indexer.get_by_key("ns/a").unwrap().managed, None);

    let keep = informer_transform::<Pod>(None, false);
    assert!(keep(Arc::new(p.clone())).unwrap().managed.is_some());
    let blank = informer_transform::<Pod>(
        Some(Arc::new(|p: Arc<Pod>| {
            let mut p = (*p).clone();
            p.rv.clear();
            Ok(Arc::new(p))
        })),
        true,
    );
    assert!(blank(Arc::new(p)).is_err());
}

#[test]
fn filtering_handler_turns_updates_into_adds_and_deletes() {
    // spec: SI-26
    let (tx, rx) = mpsc::channel();
    let mut h = FilteringHandler::new(|p: &Pod| p.node == "keep", recorder_to(tx));
    let keep = Arc::new(pod_on("ns", "a", "1", "keep"));
    let drop_ = Arc::new(pod_on("ns", "a", "2", "other"));
    Notification::Add {
        obj: Arc::clone(&drop_),
        is_initial_list: false,
    }
    .deliver_to(&mut h);
    Notification::Update {
        old: Arc::clone(&drop_),
        new: Arc::clone(&keep),
    }
    .deliver_to(&mut h);
    Notification::Update {
        old: Arc::clone(&keep),
        new: Arc::clone(&keep),
    }
    .deliver_to(&mut h);
    Notification::Update {
        old: Arc::clone(&keep),
        new: Arc::clone(&drop_),
    }
    .deliver_to(&mut h);
    Notification::Delete(DeletedObject::Known(drop_)).deliver_to(&mut h);
    Notification::Delete(DeletedObject::Tombstone {
        key: "ns/a".into(),
        last_known: None,
    })
    .deliver_to(&mut h);
    drop(h);
    let got: Vec<String> = rx.iter().collect();
    assert_eq!(
        got,
        ["add a 1", "update a 1->1", "delete a 1", "tombstone ns/a"]
    );
}

#[test]
fn index_errors_are_typed_for_process_deltas() {
    let err = IndexerError::UnknownIndex("x".into());
    assert_eq!(err.to_string(), "there is no index named `x`");
}

//! The async-friendly handler: an informer's notifications read by a tokio task through
//! `notification_channel`, in order, and the stream ending when the informer stops.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Pod, pod};
use futures::StreamExt;
use informer::{
    DeletedObject, MemoryListerWatcher, Notification, SharedIndexInformer, notification_channel,
};
use timer_wheel::{Driver, FakeClock};

type Server = MemoryListerWatcher<Pod>;

fn describe(n: &Notification<Pod>) -> String {
    match n {
        Notification::Add {
            obj,
            is_initial_list,
        } => format!("add {} {is_initial_list}", obj.name),
        Notification::Update { old, new } => format!("update {} {}->{}", new.name, old.rv, new.rv),
        Notification::Delete(DeletedObject::Known(p)) => format!("delete {}", p.name),
        Notification::Delete(DeletedObject::Tombstone { key, .. }) => format!("tombstone {key}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_reads_every_notification_in_order_until_the_informer_stops() {
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    let driver = Driver::builder().clock(FakeClock::new()).manual().unwrap();
    let informer = Arc::new(
        SharedIndexInformer::builder(server.clone(), driver)
            .name("pods")
            .build(),
    );
    // Room for one notification only: the handler waits on its own thread, nothing is lost.
    let (handler, mut events) = notification_channel::<Pod>(1);
    let registration = informer.add_event_handler(handler).unwrap();
    let (stop, stopped) = futures::channel::oneshot::channel::<()>();
    let running = {
        let informer = Arc::clone(&informer);
        std::thread::spawn(move || {
            futures::executor::block_on(informer.run(async {
                let _ = stopped.await;
            }))
        })
    };
    let mut next = async || {
        let n = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("a notification within the bound")
            .expect("the channel is open");
        describe(&n)
    };
    assert_eq!(next().await, "add a true");
    server.create(pod("ns", "b", "")).unwrap();
    server.create(pod("ns", "c", "")).unwrap();
    server.update(pod("ns", "a", "")).unwrap();
    let b = server.get("ns/b").unwrap();
    server.delete(&b).unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next().await);
    }
    // The FIFO keeps each object's changes in order (not the order across objects).
    let of = |name: &str| -> Vec<&str> {
        seen.iter()
            .map(String::as_str)
            .filter(|line| line.split(' ').nth(1) == Some(name))
            .collect()
    };
    assert_eq!(of("a"), ["update a 1->4"]);
    assert_eq!(of("b"), ["add b false", "delete b"]);
    assert_eq!(of("c"), ["add c false"]);
    assert!(registration.synced());

    let _ = stop.send(());
    running.join().unwrap().unwrap();
    // The handler was dropped with its listener: the stream ends.
    let end = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the end within the bound");
    assert!(end.is_none());
}

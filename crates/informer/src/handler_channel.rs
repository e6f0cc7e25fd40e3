//! The async-friendly handler: notifications into a bounded channel that a task reads.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use delta_fifo::DeletedObject;
use tokio::sync::mpsc;

use crate::handler::{Notification, ResourceEventHandler};

/// A [`ResourceEventHandler`] that sends every notification into a bounded channel, for code
/// that handles events in an async task. Made by [`notification_channel`].
///
/// The handler runs on its listener thread and waits there while the channel is full, so a
/// slow task holds back only this handler's buffer (its [`BufferPolicy`](crate::BufferPolicy)
/// applies as for any handler). Once the receiver is dropped, notifications are discarded.
/// The handler counts as synced when the initial list has been *sent* into the channel, not
/// when the task has read it.
pub struct ChannelHandler<K> {
    sender: mpsc::Sender<Notification<K>>,
}

/// The receiving end of a [`notification_channel`]: `recv().await`, or a
/// [`Stream`](futures::Stream) of notifications. Ends (`None`) when the handler is removed
/// and every sent notification was read.
pub struct NotificationReceiver<K> {
    receiver: mpsc::Receiver<Notification<K>>,
}

/// A handler and the receiver of its notifications, with room for `capacity` of them in
/// between (at least 1).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use informer::{Notification, ResourceEventHandler, notification_channel};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (mut handler, mut events) = notification_channel::<String>(16);
/// // The informer calls the handler on its listener thread; here we call it by hand.
/// std::thread::spawn(move || handler.on_add(&Arc::new("pod-a".to_owned()), true));
/// match events.recv().await {
///     Some(Notification::Add { obj, is_initial_list }) => {
///         assert_eq!(*obj, "pod-a");
///         assert!(is_initial_list);
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # }
/// ```
pub fn notification_channel<K>(capacity: usize) -> (ChannelHandler<K>, NotificationReceiver<K>) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    (ChannelHandler { sender }, NotificationReceiver { receiver })
}

impl<K> ChannelHandler<K> {
    fn send(&self, notification: Notification<K>) {
        // An error means the receiver is gone: nobody wants the notification any more.
        let _ = self.sender.blocking_send(notification);
    }
}

impl<K: Send + Sync + 'static> ResourceEventHandler<K> for ChannelHandler<K> {
    fn on_add(&mut self, obj: &Arc<K>, is_initial_list: bool) {
        self.send(Notification::Add {
            obj: Arc::clone(obj),
            is_initial_list,
        });
    }

    fn on_update(&mut self, old: &Arc<K>, new: &Arc<K>) {
        self.send(Notification::Update {
            old: Arc::clone(old),
            new: Arc::clone(new),
        });
    }

    fn on_delete(&mut self, obj: DeletedObject<K>) {
        self.send(Notification::Delete(obj));
    }
}

impl<K> NotificationReceiver<K> {
    /// The next notification; `None` once the handler is gone and the channel is empty.
    pub async fn recv(&mut self) -> Option<Notification<K>> {
        self.receiver.recv().await
    }

    /// The next notification if one is waiting.
    pub fn try_recv(&mut self) -> Option<Notification<K>> {
        self.receiver.try_recv().ok()
    }
}

impl<K> futures::Stream for NotificationReceiver<K> {
    type Item = Notification<K>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

impl<K> std::fmt::Debug for ChannelHandler<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelHandler")
            .field("capacity", &self.sender.max_capacity())
            .finish()
    }
}

impl<K> std::fmt::Debug for NotificationReceiver<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationReceiver")
            .field("waiting", &self.receiver.len())
            .finish()
    }
}

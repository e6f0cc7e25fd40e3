//! The bounded window of past changes that watches replay from.
//!
//! Every write appends one [`Event`] with the resourceVersion it created. The window keeps the
//! newest `capacity` events, and fewer when they hold more than `max_bytes` of objects (an event
//! counts its object; the previous state it keeps is another kept event's object, but for the
//! oldest event of each object); a watch (or an exact read) from a
//! resourceVersion older than the window's `floor` cannot be served and gets `410 Expired`,
//! exactly as a real server does once etcd compacted the revision. The newest event is always
//! kept, however large.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::resources::ResourceKey;
use crate::store::Obj;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// One change, immutable once recorded.
#[derive(Debug)]
pub(crate) struct Event {
    /// The resourceVersion this change created.
    pub(crate) rv: u64,
    /// The resource the object belongs to (shared with its store table).
    pub(crate) resource: Arc<ResourceKey>,
    pub(crate) kind: EventKind,
    /// The object after the change; for `Deleted`, the last state with the deletion's RV.
    pub(crate) object: Arc<Obj>,
    /// The object before the change (`None` for `Added`).
    pub(crate) prev: Option<Arc<Obj>>,
}

impl Event {
    /// The bytes this event counts: its object. The state before it is, in all but the oldest
    /// event of each object, the object of an earlier kept event (one shared allocation), or the
    /// stored object: counting it too would count most bodies twice.
    fn bytes(&self) -> usize {
        self.object.json.len()
    }
}

/// Ring of recent events.
///
/// Invariants: events are in strictly increasing `rv` order; every event has `rv > floor`; every
/// change with `rv > floor` is in the ring. So a reader positioned at `rv >= floor` can see
/// everything after its position, and one at `rv < floor` has missed something.
#[derive(Debug)]
pub(crate) struct History {
    events: VecDeque<Arc<Event>>,
    capacity: usize,
    max_bytes: usize,
    /// What the kept events hold ([`Event::bytes`] summed).
    bytes: usize,
    floor: u64,
}

impl History {
    pub(crate) fn new(capacity: usize, max_bytes: usize, floor: u64) -> Self {
        Self {
            events: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            floor,
        }
    }

    /// Append an event; drops the oldest while over the count or the bytes, raising the floor to
    /// the newest dropped RV.
    pub(crate) fn push(&mut self, event: Arc<Event>) {
        self.bytes += event.bytes();
        self.events.push_back(event);
        while self.events.len() > self.capacity
            || (self.bytes > self.max_bytes && self.events.len() > 1)
        {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some(old) = self.events.pop_front() {
            self.bytes -= old.bytes();
            self.floor = self.floor.max(old.rv);
        }
    }

    /// What the kept events hold, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The oldest resourceVersion a reader may start from.
    pub(crate) fn floor(&self) -> u64 {
        self.floor
    }

    /// Forget everything up to and including `rv`.
    pub(crate) fn compact(&mut self, rv: u64) {
        while self.events.front().is_some_and(|e| e.rv <= rv) {
            self.pop_oldest();
        }
        self.floor = self.floor.max(rv);
    }

    /// Up to `max` events with `rv > after`, or `None` when `after` is older than the floor.
    pub(crate) fn after(&self, after: u64, max: usize, out: &mut Vec<Arc<Event>>) -> Option<()> {
        if after < self.floor {
            return None;
        }
        let start = self.events.partition_point(|e| e.rv <= after);
        out.extend(self.events.range(start..).take(max).cloned());
        Some(())
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

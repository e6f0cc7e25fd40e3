//! The timer implementations the timer-wheel benches compare, behind one trait, so every group
//! runs the same code path against each of them.
//!
//! Deadlines are in milliseconds from "now" of the structure.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hierarchical_hash_wheel_timer::wheels::Skip;
use hierarchical_hash_wheel_timer::wheels::cancellable::{
    CancellableTimerEntry, QuadWheelWithOverflow,
};
use timer_wheel::{Handle, Wheel};
use tokio::runtime::Runtime;
use tokio::time::Sleep;
use tokio_util::time::{DelayQueue, delay_queue};

/// One timer implementation.
pub(crate) trait Timers {
    /// Name in the report; flywheel's starts with `flywheel`.
    const NAME: &'static str;
    type Handle: Clone;
    fn new() -> Self;
    fn schedule(&mut self, ms: u64) -> Self::Handle;
    fn cancel(&mut self, handle: Self::Handle);
    fn reset(&mut self, handle: Self::Handle, ms: u64) -> Self::Handle;
    /// Moves time past every deadline and takes every expired timer; returns how many.
    fn fire_all(&mut self) -> usize;
}

/// Beyond every deadline the benches use (1 ms ..= 60 s).
const PAST_ALL: u64 = 60_001;

// ===== flywheel =====

pub(crate) struct Flywheel {
    wheel: Wheel<u32>,
    now: u64,
    next_id: u32,
}

impl Timers for Flywheel {
    const NAME: &'static str = "flywheel";
    type Handle = Handle;
    fn new() -> Self {
        Flywheel {
            wheel: Wheel::new(),
            now: 0,
            next_id: 0,
        }
    }
    fn schedule(&mut self, ms: u64) -> Handle {
        self.next_id = self.next_id.wrapping_add(1);
        self.wheel.insert(self.now + ms, self.next_id)
    }
    fn cancel(&mut self, handle: Handle) {
        self.wheel.cancel(handle);
    }
    fn reset(&mut self, handle: Handle, ms: u64) -> Handle {
        self.wheel.reset(handle, self.now + ms);
        handle
    }
    fn fire_all(&mut self) -> usize {
        self.now += PAST_ALL;
        self.wheel.advance(self.now).count()
    }
}

// ===== BinaryHeap with lazy cancel =====

pub(crate) struct Heap {
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    cancelled: Vec<bool>,
    now: u64,
}

impl Timers for Heap {
    const NAME: &'static str = "binary_heap";
    type Handle = u32;
    fn new() -> Self {
        Heap {
            heap: BinaryHeap::new(),
            cancelled: Vec::new(),
            now: 0,
        }
    }
    fn schedule(&mut self, ms: u64) -> u32 {
        let id = self.cancelled.len() as u32;
        self.cancelled.push(false);
        self.heap.push(Reverse((self.now + ms, id)));
        id
    }
    fn cancel(&mut self, handle: u32) {
        self.cancelled[handle as usize] = true;
    }
    fn reset(&mut self, handle: u32, ms: u64) -> u32 {
        self.cancel(handle);
        self.schedule(ms)
    }
    fn fire_all(&mut self) -> usize {
        self.now += PAST_ALL;
        let mut fired = 0;
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if deadline > self.now {
                break;
            }
            self.heap.pop();
            if !self.cancelled[id as usize] {
                fired += 1;
            }
        }
        fired
    }
}

// ===== hierarchical_hash_wheel_timer (cancellable quad wheel) =====

#[derive(Debug)]
pub(crate) struct HhwtEntry {
    id: u64,
}

impl CancellableTimerEntry for HhwtEntry {
    type Id = u64;
    fn id(&self) -> &u64 {
        &self.id
    }
}

pub(crate) struct Hhwt {
    wheel: QuadWheelWithOverflow<HhwtEntry>,
    next_id: u64,
}

impl Timers for Hhwt {
    const NAME: &'static str = "hierarchical_hash_wheel_timer";
    type Handle = u64;
    fn new() -> Self {
        Hhwt {
            wheel: QuadWheelWithOverflow::new(),
            next_id: 0,
        }
    }
    fn schedule(&mut self, ms: u64) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let _ = self
            .wheel
            .insert_ref_with_delay(Rc::new(HhwtEntry { id }), Duration::from_millis(ms));
        id
    }
    fn cancel(&mut self, handle: u64) {
        let _ = self.wheel.cancel(&handle);
    }
    fn reset(&mut self, handle: u64, ms: u64) -> u64 {
        self.cancel(handle);
        self.schedule(ms)
    }
    fn fire_all(&mut self) -> usize {
        let mut fired = 0;
        loop {
            match self.wheel.can_skip() {
                Skip::Empty => return fired,
                Skip::Millis(n) => self.wheel.skip(n),
                Skip::None => fired += self.wheel.tick().len(),
            }
        }
    }
}

// ===== tokio (paused clock) =====

/// A current-thread runtime with a paused clock, entered by the bench thread once.
pub(crate) fn tokio_runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio runtime")
    })
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// `tokio::time::sleep` futures, each polled once so it is registered with the driver.
pub(crate) struct TokioSleep {
    sleeps: Vec<Option<Pin<Box<Sleep>>>>,
}

impl Timers for TokioSleep {
    const NAME: &'static str = "tokio_sleep";
    type Handle = usize;
    fn new() -> Self {
        TokioSleep { sleeps: Vec::new() }
    }
    fn schedule(&mut self, ms: u64) -> usize {
        let mut sleep = Box::pin(tokio::time::sleep(Duration::from_millis(ms)));
        let _ = poll_once(sleep.as_mut());
        self.sleeps.push(Some(sleep));
        self.sleeps.len() - 1
    }
    fn cancel(&mut self, handle: usize) {
        self.sleeps[handle] = None;
    }
    fn reset(&mut self, handle: usize, ms: u64) -> usize {
        if let Some(sleep) = self.sleeps[handle].as_mut() {
            sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + Duration::from_millis(ms));
            let _ = poll_once(sleep.as_mut());
        }
        handle
    }
    fn fire_all(&mut self) -> usize {
        tokio_runtime().block_on(tokio::time::advance(Duration::from_millis(PAST_ALL)));
        let mut fired = 0;
        for sleep in self.sleeps.iter_mut().flatten() {
            if poll_once(sleep.as_mut()).is_ready() {
                fired += 1;
            }
        }
        fired
    }
}

/// tokio-util's `DelayQueue`.
pub(crate) struct TokioDelayQueue {
    queue: DelayQueue<u32>,
}

impl Timers for TokioDelayQueue {
    const NAME: &'static str = "tokio_delay_queue";
    type Handle = delay_queue::Key;
    fn new() -> Self {
        TokioDelayQueue {
            queue: DelayQueue::new(),
        }
    }
    fn schedule(&mut self, ms: u64) -> delay_queue::Key {
        self.queue.insert(0, Duration::from_millis(ms))
    }
    fn cancel(&mut self, handle: delay_queue::Key) {
        self.queue.remove(&handle);
    }
    fn reset(&mut self, handle: delay_queue::Key, ms: u64) -> delay_queue::Key {
        self.queue.reset(&handle, Duration::from_millis(ms));
        handle
    }
    fn fire_all(&mut self) -> usize {
        tokio_runtime().block_on(tokio::time::advance(Duration::from_millis(PAST_ALL)));
        let mut fired = 0;
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(Some(_)) = self.queue.poll_expired(&mut cx) {
            fired += 1;
        }
        fired
    }
}

/// Random deadlines in 1 ms ..= 60 s, the same for every implementation.
pub(crate) fn deadlines(n: usize, seed: u64) -> Vec<u64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.u64(1..=60_000)).collect()
}

/// A shuffled order of `0..n`.
pub(crate) fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut order);
    order
}

/// Whether the bench binary runs in criterion's test mode (`--test`): smallest inputs only.
pub(crate) fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

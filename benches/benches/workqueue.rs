//! workqueue (GOALS Q1..Q7) against a `crossbeam-channel` (the floor) and a `Mutex<VecDeque> +
//! HashSet` queue written the obvious way, in the same run.
//!
//! kube-runtime's `scheduler` is not a peer here: it pulls kube-runtime and its HTTP stack into
//! the bench build. The delaying peer is the obvious `BinaryHeap` + `HashMap` instead.
//!
//! client-go cannot be built here; its figures (GOALS, this machine kind) are the reference:
//! add->get->done 142-154 ns, 1 producer + 2 workers 354-435 ns/item, duplicate add 22-25 ns,
//! AddAfter 470 ns and 97 B per waiting item, AddRateLimited+Forget 669 ns, 57-63 B per queued
//! item.
//!
//! Two parts: a summary table (medians of interleaved rounds, bytes from a counting allocator),
//! printed and written to `target/bench-extra/workqueue.md`; then the criterion groups
//! `workqueue/*`. With `--test` both run once on small sizes.
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a bench reads the real clock and prints its table"
)]

use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use timer_wheel::{Driver, FakeClock};
use workqueue::limiter::default_controller;
use workqueue::{DelayingQueue, Queue, QueueConfig, RateLimitingQueue};

#[allow(dead_code, reason = "shared by the memory benches; each uses a part")]
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

// ===== peers =====

/// FIFO, dirty set, processing set, shutting down.
type MutexQueueState = (VecDeque<u64>, HashSet<u64>, HashSet<u64>, bool);

/// The obvious queue: one mutex over a FIFO and client-go's two sets, std hashing.
#[derive(Default)]
struct MutexQueue {
    state: Mutex<MutexQueueState>,
    ready: Condvar,
}

impl MutexQueue {
    fn add(&self, item: u64) {
        let mut s = self.state.lock().unwrap();
        if s.3 || !s.1.insert(item) {
            return;
        }
        if !s.2.contains(&item) {
            s.0.push_back(item);
            self.ready.notify_one();
        }
    }
    fn get(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(item) = s.0.pop_front() {
                s.1.remove(&item);
                s.2.insert(item);
                return Some(item);
            }
            if s.3 {
                return None;
            }
            s = self.ready.wait(s).unwrap();
        }
    }
    fn done(&self, item: u64) {
        let mut s = self.state.lock().unwrap();
        s.2.remove(&item);
        if s.1.contains(&item) {
            s.0.push_back(item);
            self.ready.notify_one();
        }
    }
    fn shut_down(&self) {
        self.state.lock().unwrap().3 = true;
        self.ready.notify_all();
    }
}

/// A min-heap of (deadline, item) and each item's earliest deadline.
type HeapDelaysState = (
    BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
    HashMap<u64, Instant>,
);

/// The obvious delaying queue: a heap of (deadline, item) plus a map for earliest-wins.
#[derive(Default)]
struct HeapDelays {
    state: Mutex<HeapDelaysState>,
}

impl HeapDelays {
    fn add_after(&self, now: Instant, item: u64, delay: Duration) {
        let at = now + delay;
        let mut s = self.state.lock().unwrap();
        match s.1.get(&item) {
            Some(old) if *old <= at => {}
            _ => {
                s.1.insert(item, at);
                s.0.push(std::cmp::Reverse((at, item)));
            }
        }
    }
    fn drain(&self, now: Instant) -> usize {
        let mut s = self.state.lock().unwrap();
        let mut n = 0;
        while let Some(std::cmp::Reverse((at, item))) = s.0.peek().copied() {
            if at > now {
                break;
            }
            s.0.pop();
            if s.1.get(&item) == Some(&at) {
                s.1.remove(&item);
                n += 1;
            }
        }
        n
    }
}

// ===== scenarios (each returns seconds for `n` operations) =====

fn q1_ours(n: u64) -> f64 {
    let queue = Queue::new();
    let start = Instant::now();
    for i in 0..n {
        queue.add(i);
    }
    while let Some(lease) = queue.try_get() {
        black_box(*lease);
    }
    start.elapsed().as_secs_f64()
}

fn q1_mutex(n: u64) -> f64 {
    let queue = MutexQueue::default();
    let start = Instant::now();
    for i in 0..n {
        queue.add(i);
    }
    for _ in 0..n {
        let item = queue.get().unwrap();
        queue.done(black_box(item));
    }
    start.elapsed().as_secs_f64()
}

fn q1_channel(n: u64) -> f64 {
    let (tx, rx) = crossbeam_channel::unbounded();
    let start = Instant::now();
    for i in 0..n {
        tx.send(i).unwrap();
    }
    for _ in 0..n {
        black_box(rx.recv().unwrap());
    }
    start.elapsed().as_secs_f64()
}

fn q2_ours(n: u64) -> f64 {
    let queue = Queue::new();
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(lease) = queue.get() {
                    black_box(*lease);
                }
            });
        }
        for i in 0..n {
            queue.add(i);
        }
        queue.shut_down_with_drain();
    });
    start.elapsed().as_secs_f64()
}

fn q2_ours_async(n: u64) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let queue = Queue::new();
    let start = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let queue = queue.clone();
            runtime.spawn(async move {
                while let Some(lease) = queue.get_async().await {
                    black_box(*lease);
                }
            })
        })
        .collect();
    for i in 0..n {
        queue.add(i);
    }
    queue.shut_down_with_drain();
    for worker in workers {
        runtime.block_on(worker).unwrap();
    }
    start.elapsed().as_secs_f64()
}

fn q2_mutex(n: u64) -> f64 {
    let queue = MutexQueue::default();
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(item) = queue.get() {
                    queue.done(black_box(item));
                }
            });
        }
        for i in 0..n {
            queue.add(i);
        }
        queue.shut_down();
    });
    start.elapsed().as_secs_f64()
}

fn q2_channel(n: u64) -> f64 {
    let (tx, rx) = crossbeam_channel::unbounded();
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..2 {
            let rx = rx.clone();
            s.spawn(move || {
                while let Ok(item) = rx.recv() {
                    black_box(item);
                }
            });
        }
        for i in 0..n {
            tx.send(i).unwrap();
        }
        drop(tx);
    });
    start.elapsed().as_secs_f64()
}

/// 1000 keys added `n / 1000` times each; seconds per add.
fn q3_ours(n: u64) -> f64 {
    let queue = Queue::new();
    for k in 0..1000 {
        queue.add(k);
    }
    let start = Instant::now();
    for i in 0..n {
        queue.add(black_box(i % 1000));
    }
    start.elapsed().as_secs_f64()
}

fn q3_mutex(n: u64) -> f64 {
    let queue = MutexQueue::default();
    for k in 0..1000 {
        queue.add(k);
    }
    let start = Instant::now();
    for i in 0..n {
        queue.add(black_box(i % 1000));
    }
    start.elapsed().as_secs_f64()
}

fn delays(n: u64) -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..n)
        .map(|_| Duration::from_micros(rng.u64(1..1_000_000)))
        .collect()
}

/// `n` add_after with delays in 0..1 s on a fake clock, then all drained: (seconds for the
/// add_afters, bytes per waiting item, items drained).
fn q4_ours(n: u64) -> (f64, f64, usize) {
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let queue = DelayingQueue::with_config(QueueConfig::new().driver(driver.clone())).unwrap();
    let delays = delays(n);
    let before = counting_alloc::live_bytes();
    let start = Instant::now();
    for (i, delay) in delays.iter().enumerate() {
        queue.add_after(i as u64, *delay);
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = counting_alloc::live_bytes().saturating_sub(before) as f64 / n as f64;
    clock.advance(Duration::from_secs(1));
    driver.turn();
    let drained = queue.len();
    (secs, bytes, drained)
}

fn q4_heap(n: u64) -> (f64, f64, usize) {
    let heap = HeapDelays::default();
    let delays = delays(n);
    let now = Instant::now();
    let before = counting_alloc::live_bytes();
    let start = Instant::now();
    for (i, delay) in delays.iter().enumerate() {
        heap.add_after(now, i as u64, *delay);
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = counting_alloc::live_bytes().saturating_sub(before) as f64 / n as f64;
    let drained = heap.drain(now + Duration::from_secs(1));
    (secs, bytes, drained)
}

/// `n` distinct keys through add_rate_limited + forget with the default controller limiter.
fn q5_ours(n: u64) -> f64 {
    let clock = FakeClock::new();
    let driver = Driver::builder().clock(clock.clone()).manual().unwrap();
    let limiter = default_controller(driver.clock().clone());
    let queue = RateLimitingQueue::with_config(QueueConfig::new().driver(driver), limiter).unwrap();
    let start = Instant::now();
    for i in 0..n {
        queue.add_rate_limited(i);
        queue.forget(&i);
    }
    start.elapsed().as_secs_f64()
}

/// Live bytes per queued `u64` item, beyond the 8 bytes of the item itself.
fn q7_ours(n: u64) -> f64 {
    let before = counting_alloc::live_bytes();
    let queue = Queue::new();
    for i in 0..n {
        queue.add(i);
    }
    let bytes = counting_alloc::live_bytes().saturating_sub(before) as f64 / n as f64;
    drop(black_box(queue));
    bytes - 8.0
}

fn q7_mutex(n: u64) -> f64 {
    let before = counting_alloc::live_bytes();
    let queue = MutexQueue::default();
    for i in 0..n {
        queue.add(i);
    }
    let bytes = counting_alloc::live_bytes().saturating_sub(before) as f64 / n as f64;
    drop(black_box(queue));
    bytes - 8.0
}

// ===== summary =====

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Runs each closure `rounds` times, interleaved; returns (median, min, max) ns per op.
fn rounds(rounds: usize, n: u64, runs: &[&dyn Fn(u64) -> f64]) -> Vec<(f64, f64, f64)> {
    let mut samples = vec![Vec::new(); runs.len()];
    for _ in 0..rounds {
        for (run, out) in runs.iter().zip(samples.iter_mut()) {
            out.push(run(n) * 1e9 / n as f64);
        }
    }
    samples.into_iter().map(median).collect()
}

fn summary(test: bool) {
    let (r, scale) = if test { (1, 1_000) } else { (7, 1) };
    let mut out = String::new();
    let cell = |(m, lo, hi): (f64, f64, f64)| format!("{m:.1} ({lo:.1}-{hi:.1})");
    writeln!(out, "| id | case | flywheel ns/op (min-max) | peer | peer ns/op | ratio vs peer | ratio vs client-go |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|").unwrap();
    for n in [1_000u64, 100_000, 1_000_000] {
        let n = (n / scale).max(100);
        let m = rounds(r, n, &[&q1_ours, &q1_channel, &q1_mutex]);
        for (peer, p) in [("crossbeam send+recv", m[1]), ("Mutex+HashSet", m[2])] {
            writeln!(
                out,
                "| Q1 | add->get->done, {n} keys | {} | {peer} | {} | {:.2}x | {:.2}x of 148 |",
                cell(m[0]),
                cell(p),
                m[0].0 / p.0,
                m[0].0 / 148.0
            )
            .unwrap();
        }
    }
    let n = 200_000 / scale;
    let m = rounds(r, n, &[&q2_ours, &q2_ours_async, &q2_channel, &q2_mutex]);
    for (peer, p) in [("crossbeam 2 receivers", m[2]), ("Mutex+HashSet", m[3])] {
        writeln!(out, "| Q2 | 1 producer + 2 workers (blocking), {n} | {} | {peer} | {} | {:.2}x throughput | {:.2}x throughput of 395 |", cell(m[0]), cell(p), p.0 / m[0].0, 395.0 / m[0].0).unwrap();
    }
    writeln!(
        out,
        "| Q6 | 1 producer + 2 async workers, {n} | {} | our blocking | {} | {:.2}x throughput | |",
        cell(m[1]),
        cell(m[0]),
        m[0].0 / m[1].0
    )
    .unwrap();
    let n = 1_000_000 / scale;
    let m = rounds(r, n, &[&q3_ours, &q3_mutex]);
    writeln!(
        out,
        "| Q3 | duplicate add, 1000 keys | {} | Mutex+HashSet | {} | {:.2}x | {:.2}x of 23.5 |",
        cell(m[0]),
        cell(m[1]),
        m[0].0 / m[1].0,
        m[0].0 / 23.5
    )
    .unwrap();
    let n = 100_000 / scale;
    let (mut ours, mut heap) = (Vec::new(), Vec::new());
    let (mut ours_b, mut heap_b) = (0.0, 0.0);
    for _ in 0..r {
        let (s, b, d) = q4_ours(n);
        assert_eq!(d as u64, n, "every delayed item drained");
        ours.push(s * 1e9 / n as f64);
        ours_b = b;
        let (s, b, d) = q4_heap(n);
        assert_eq!(d as u64, n);
        heap.push(s * 1e9 / n as f64);
        heap_b = b;
    }
    let (o, h) = (median(ours), median(heap));
    writeln!(out, "| Q4 | add_after, {n} items, 0..1 s | {} | BinaryHeap+HashMap | {} | {:.2}x | {:.2}x of 470 |", cell(o), cell(h), o.0 / h.0, o.0 / 470.0).unwrap();
    writeln!(out, "| Q4 | bytes per waiting item | {ours_b:.1} B | BinaryHeap+HashMap | {heap_b:.1} B | {:.2}x | {:.2}x of 97 B |", ours_b / heap_b, ours_b / 97.0).unwrap();
    let m = rounds(r, 100_000 / scale, &[&q5_ours]);
    writeln!(
        out,
        "| Q5 | add_rate_limited+forget, default limiter | {} | | | | {:.2}x of 669 |",
        cell(m[0]),
        m[0].0 / 669.0
    )
    .unwrap();
    let n = 100_000 / scale;
    let (o, p) = (q7_ours(n), q7_mutex(n));
    writeln!(out, "| Q7 | live bytes per queued u64 beyond the item, {n} | {o:.1} B | Mutex+HashSet | {p:.1} B | {:.2}x | {:.2}x of 60 B |", o / p, o / 60.0).unwrap();
    println!("{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-extra");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("workqueue.md"), &out);
    }
}

// ===== criterion groups =====

fn groups(c: &mut Criterion, test: bool) {
    let sizes: &[u64] = if test { &[1_000] } else { &[1_000, 100_000] };
    let mut g = c.benchmark_group("workqueue/add_get_done");
    g.sample_size(10);
    for &n in sizes {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("flywheel", n), &n, |b, &n| {
            b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| q1_ours(n)).sum()))
        });
        g.bench_with_input(BenchmarkId::new("crossbeam", n), &n, |b, &n| {
            b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| q1_channel(n)).sum()))
        });
        g.bench_with_input(BenchmarkId::new("mutex_hashset", n), &n, |b, &n| {
            b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| q1_mutex(n)).sum()))
        });
    }
    g.finish();
    let n = if test { 1_000 } else { 100_000 };
    let mut g = c.benchmark_group("workqueue/one_producer_two_workers");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    type Case = (&'static str, fn(u64) -> f64);
    let cases: [Case; 4] = [
        ("flywheel", q2_ours),
        ("flywheel_async", q2_ours_async),
        ("crossbeam", q2_channel),
        ("mutex_hashset", q2_mutex),
    ];
    for (name, run) in cases {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| run(n)).sum()))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("workqueue/duplicate_add");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("flywheel", |b| {
        b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| q3_ours(n)).sum()))
    });
    g.bench_function("mutex_hashset", |b| {
        b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| q3_mutex(n)).sum()))
    });
    g.finish();
    let mut g = c.benchmark_group("workqueue/add_after");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("flywheel", |b| {
        b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| q4_ours(n).0).sum()))
    });
    g.bench_function("binary_heap", |b| {
        b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| q4_heap(n).0).sum()))
    });
    g.finish();
    let mut g = c.benchmark_group("workqueue/add_rate_limited_forget");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("flywheel", |b| {
        b.iter_custom(|iters| Duration::from_secs_f64((0..iters).map(|_| q5_ours(n)).sum()))
    });
    g.finish();
}

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    summary(test);
    let mut c = Criterion::default().configure_from_args();
    groups(&mut c, test);
    c.final_summary();
}

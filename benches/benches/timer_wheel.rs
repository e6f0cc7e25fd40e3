//! timer-wheel against tokio `sleep` (paused clock), tokio-util `DelayQueue`, a `BinaryHeap`
//! with lazy cancel and `hierarchical_hash_wheel_timer`, in the same run (GOALS T1..T4, T6, T7).
//! Memory, allocations and real-clock accuracy (T5, T8, T9) are in `timer_wheel_memory`.

#[path = "common/timers.rs"]
mod timers;

use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use timers::{Flywheel, Heap, Hhwt, Timers, TokioDelayQueue, TokioSleep};

fn sizes() -> &'static [usize] {
    if timers::test_mode() {
        &[10_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    }
}

fn schedule<T: Timers>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    let deadlines = timers::deadlines(n, 1);
    c.bench_with_input(BenchmarkId::new(T::NAME, n), &n, |b, _| {
        b.iter_batched(
            T::new,
            |mut t| {
                for &d in &deadlines {
                    std::hint::black_box(t.schedule(d));
                }
                t
            },
            BatchSize::PerIteration,
        );
    });
}

fn scheduled<T: Timers>(n: usize) -> (T, Vec<T::Handle>) {
    let mut t = T::new();
    let handles: Vec<T::Handle> = timers::deadlines(n, 1)
        .into_iter()
        .map(|d| t.schedule(d))
        .collect();
    let order = timers::shuffled(n, 2);
    (t, order.into_iter().map(|i| handles[i].clone()).collect())
}

fn cancel<T: Timers>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    c.bench_with_input(BenchmarkId::new(T::NAME, n), &n, |b, &n| {
        b.iter_batched(
            || scheduled::<T>(n),
            |(mut t, handles)| {
                for h in handles {
                    t.cancel(h);
                }
                t
            },
            BatchSize::PerIteration,
        );
    });
}

fn reset<T: Timers>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    let new_deadlines = timers::deadlines(n, 3);
    c.bench_with_input(BenchmarkId::new(T::NAME, n), &n, |b, &n| {
        b.iter_batched(
            || scheduled::<T>(n),
            |(mut t, handles)| {
                for (h, &d) in handles.into_iter().zip(&new_deadlines) {
                    std::hint::black_box(t.reset(h, d));
                }
                t
            },
            BatchSize::PerIteration,
        );
    });
}

fn schedule_fire<T: Timers>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    let deadlines = timers::deadlines(n, 1);
    c.bench_with_input(BenchmarkId::new(T::NAME, n), &n, |b, &n| {
        b.iter_batched(
            T::new,
            |mut t| {
                for &d in &deadlines {
                    t.schedule(d);
                }
                assert_eq!(t.fire_all(), n);
                t
            },
            BatchSize::PerIteration,
        );
    });
}

macro_rules! each_impl {
    ($group:expr, $f:ident, $n:expr) => {{
        // Interleaved: every implementation at this size before the next size.
        $f::<Flywheel>($group, $n);
        $f::<Heap>($group, $n);
        $f::<TokioSleep>($group, $n);
        $f::<TokioDelayQueue>($group, $n);
        $f::<Hhwt>($group, $n);
    }};
}

fn wheel_ops(c: &mut Criterion) {
    let _rt = timers::tokio_runtime().enter();
    for (name, run) in [
        ("timer_wheel/schedule", 0),
        ("timer_wheel/cancel_shuffled", 1),
        ("timer_wheel/reset", 2),
        ("timer_wheel/schedule_fire_all", 3),
    ] {
        let mut group = c.benchmark_group(name);
        group.sample_size(10);
        for &n in sizes() {
            group.throughput(Throughput::Elements(n as u64));
            match run {
                0 => each_impl!(&mut group, schedule, n),
                1 => each_impl!(&mut group, cancel, n),
                2 => each_impl!(&mut group, reset, n),
                _ => each_impl!(&mut group, schedule_fire, n),
            }
        }
        group.finish();
    }
}

/// T7: schedule+cancel pairs of runtime timers from 1 and 2 threads.
fn pairs(c: &mut Criterion) {
    const PAIRS: u64 = 20_000;
    let mut group = c.benchmark_group("timer_wheel/schedule_cancel_pairs");
    group.sample_size(10);
    let tokio_mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    for threads in [1u64, 2] {
        group.throughput(Throughput::Elements(PAIRS * threads));
        group.bench_function(
            BenchmarkId::new("flywheel", format!("{threads}-threads")),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += std::thread::scope(|s| {
                            let handles: Vec<_> = (0..threads)
                                .map(|_| {
                                    s.spawn(|| {
                                        #[allow(
                                            clippy::disallowed_methods,
                                            reason = "bench timing"
                                        )]
                                        let start = Instant::now();
                                        for i in 0..PAIRS {
                                            // The global driver, as `Timer::new` users get.
                                            let timer = timer_wheel::Timer::new(
                                                Duration::from_millis(1_000 + i % 1000),
                                            );
                                            drop(timer); // stops it
                                        }
                                        start.elapsed()
                                    })
                                })
                                .collect();
                            handles
                                .into_iter()
                                .map(|h| h.join().unwrap())
                                .max()
                                .unwrap()
                        });
                    }
                    total
                });
            },
        );
        group.bench_function(
            BenchmarkId::new("tokio_sleep", format!("{threads}-threads")),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += tokio_mt.block_on(async {
                            let tasks: Vec<_> = (0..threads)
                                .map(|_| {
                                    tokio::spawn(async {
                                        #[allow(
                                            clippy::disallowed_methods,
                                            reason = "bench timing"
                                        )]
                                        let start = Instant::now();
                                        for i in 0..PAIRS {
                                            let mut sleep = Box::pin(tokio::time::sleep(
                                                Duration::from_millis(1_000 + i % 1000),
                                            ));
                                            let _ = std::future::Future::poll(
                                                sleep.as_mut(),
                                                &mut std::task::Context::from_waker(
                                                    std::task::Waker::noop(),
                                                ),
                                            );
                                        }
                                        start.elapsed()
                                    })
                                })
                                .collect();
                            let mut longest = Duration::ZERO;
                            for t in tasks {
                                longest = longest.max(t.await.unwrap());
                            }
                            longest
                        });
                    }
                    total
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, wheel_ops, pairs);
criterion_main!(benches);

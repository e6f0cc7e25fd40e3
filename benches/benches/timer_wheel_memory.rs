//! timer-wheel: memory per pending timer (T5), allocations per operation in steady state (T9),
//! real-clock accuracy of a 1 ms timer and never-early on the fake clock (T8), side by side with
//! the peers. Not a criterion bench: it counts bytes and allocations with a counting allocator and
//! writes a table to `target/bench-extra/timer_wheel_memory.md`, which `cargo xtask bench` adds
//! to its report.

#[allow(dead_code, reason = "shared by two bench binaries; each uses a part")]
#[path = "common/timers.rs"]
mod timers;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use timer_wheel::{Clock, Driver, FakeClock};
use timers::{Flywheel, Heap, Hhwt, Timers, TokioDelayQueue, TokioSleep};

#[allow(dead_code, reason = "shared by the memory benches; each uses a part")]
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Bytes per pending timer: heap growth while scheduling `n`, plus the handle the caller keeps.
fn bytes_per_timer<T: Timers>(n: usize) -> f64 {
    let deadlines = timers::deadlines(n, 1);
    let mut handles = Vec::with_capacity(n);
    let before = counting_alloc::live_bytes();
    let mut t = T::new();
    for &d in &deadlines {
        handles.push(t.schedule(d));
    }
    let grown = counting_alloc::live_bytes().saturating_sub(before);
    let bytes = (grown as f64 + (n * std::mem::size_of::<T::Handle>()) as f64) / n as f64;
    drop(t);
    bytes
}

/// Allocations per operation once warm: schedule, cancel, reset and fire `n` timers, twice to
/// warm up, then count blocks allocated over a third round.
fn allocs_per_op<T: Timers>(n: usize) -> f64 {
    let deadlines = timers::deadlines(n, 1);
    let mut t = T::new();
    let round = |t: &mut T| {
        let handles: Vec<T::Handle> = deadlines.iter().map(|&d| t.schedule(d)).collect();
        for (i, h) in handles.iter().enumerate() {
            if i % 2 == 0 {
                t.cancel(h.clone());
            } else {
                t.reset(h.clone(), deadlines[(i + 1) % n]);
            }
        }
        t.fire_all();
        handles
    };
    drop(round(&mut t));
    drop(round(&mut t));
    let before = counting_alloc::blocks();
    let handles = round(&mut t);
    let blocks = counting_alloc::blocks() - before;
    drop(handles); // the handle vector itself is one allocation: not the timer's
    (blocks.saturating_sub(1)) as f64 / (3 * n) as f64
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[allow(
    clippy::disallowed_methods,
    reason = "measures the real clock's accuracy"
)]
fn accuracy(samples: usize) -> [(String, Duration, Duration, Duration); 2] {
    let driver = Driver::builder().name("accuracy").spawn().expect("driver");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut ours = Vec::with_capacity(samples);
    let mut tokio = Vec::with_capacity(samples);
    for _ in 0..samples {
        // Interleaved, so both see the same machine.
        let start = Instant::now();
        let timer = driver.timer(Duration::from_millis(1));
        timer.recv().expect("timer fired");
        ours.push(start.elapsed());
        let start = Instant::now();
        // Created inside block_on, so it belongs to this runtime and not the paused one.
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(1)).await });
        tokio.push(start.elapsed());
    }
    driver.shutdown();
    ours.sort();
    tokio.sort();
    let row = |name: &str, v: &[Duration]| {
        (
            name.to_owned(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            v[0],
        )
    };
    [row("flywheel Timer", &ours), row("tokio sleep", &tokio)]
}

/// Fires `n` random timers on a manual driver over a fake clock moved in random steps, and
/// counts any delivered before its deadline (must be 0).
fn early_on_fake_clock(n: usize) -> usize {
    let clock = FakeClock::new();
    let driver = Driver::builder()
        .clock(clock.clone())
        .manual()
        .expect("driver");
    let mut rng = fastrand::Rng::with_seed(7);
    let mut pending: Vec<(Instant, timer_wheel::Timer)> = Vec::new();
    let mut early = 0;
    let mut created = 0;
    while created < n || !pending.is_empty() {
        for _ in 0..rng.usize(0..64).min(n - created) {
            let delay = Duration::from_micros(rng.u64(0..50_000));
            pending.push((clock.now() + delay, driver.timer(delay)));
            created += 1;
        }
        clock.advance(Duration::from_micros(rng.u64(0..700)));
        driver.turn();
        pending.retain(|(deadline, timer)| match timer.try_recv() {
            Ok(fired_at) => {
                if fired_at < *deadline {
                    early += 1;
                }
                false
            }
            Err(_) => true,
        });
    }
    early
}

#[allow(clippy::print_stdout, reason = "the bench prints its table")]
fn main() {
    let test = timers::test_mode();
    let sizes: &[usize] = if test {
        &[10_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    let _rt = timers::tokio_runtime().enter();
    let mut out = String::from(
        "\n## timer_wheel/memory (T5, T9)\n\n| input | implementation | bytes per pending timer (handle included) | allocations per op, warm |\n|---|---|---|---|\n",
    );
    for &n in sizes {
        macro_rules! row {
            ($t:ty) => {{
                let bytes = bytes_per_timer::<$t>(n);
                let allocs = allocs_per_op::<$t>(n.min(100_000));
                let _ = writeln!(out, "| {n} | {} | {bytes:.1} | {allocs:.3} |", <$t>::NAME);
            }};
        }
        row!(Flywheel);
        row!(Heap);
        row!(TokioSleep);
        row!(TokioDelayQueue);
        row!(Hhwt);
    }
    // Runtime timers with their channel.
    {
        let clock = FakeClock::new();
        let driver = Driver::builder().clock(clock).manual().expect("driver");
        let n = 10_000;
        let before = counting_alloc::live_bytes();
        let timers: Vec<_> = (0..n)
            .map(|i| driver.timer(Duration::from_millis(1 + i % 1000)))
            .collect();
        let bytes = counting_alloc::live_bytes().saturating_sub(before) as f64 / n as f64;
        let _ = writeln!(
            out,
            "| {n} | flywheel Timer (runtime, with its channel) | {bytes:.1} | — |"
        );
        drop(timers);
    }

    let samples = if test { 20 } else { 2_000 };
    let _ = writeln!(
        out,
        "\n## timer_wheel/accuracy_1ms (T8), real clock, {samples} samples\n\n| implementation | p50 | p99 | min |\n|---|---|---|---|"
    );
    for (name, p50, p99, min) in accuracy(samples) {
        let _ = writeln!(out, "| {name} | {p50:?} | {p99:?} | {min:?} |");
    }
    let n = if test { 10_000 } else { 1_000_000 };
    let early = early_on_fake_clock(n);
    let _ = writeln!(
        out,
        "\nnever early on the fake clock: {early} early of {n} timers\n"
    );
    assert_eq!(early, 0, "a timer fired early");

    println!("{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("timer_wheel_memory.md"), out);
}

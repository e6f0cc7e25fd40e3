//! delta-fifo (GOALS D1): add, update, delete and pop 100k objects, and `replace` of 100k objects
//! over a store that knows 100k, with ns/op, allocations per op and peak heap.
//!
//! client-go cannot be built here, so the reference is the figures measured on this machine
//! kind (GOALS D1): add 537 ns, update 249 ns, delete 387 ns, pop 661-676 ns with 9 allocations,
//! replace 100k over 100k known 86 ms, peak 47-91 MB. The goal is <= 0.3x on every op and
//! <= 0.5x peak memory.
//!
//! Two parts: a summary table (medians of several rounds, allocation counts and peak heap from a
//! counting allocator), printed and written to
//! `target/bench-extra/delta_fifo.md`; then the criterion groups `delta_fifo/*`.
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a bench reads the real clock and prints its table"
)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;

use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use delta_fifo::{BoxError, DeltaFifo, KnownObjects, Object};
use std::sync::RwLock;

#[allow(dead_code, reason = "shared by the memory benches; each uses a part")]
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::counted;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

// ===== objects and store =====

/// A small pod-like object keyed `namespace/name`.
struct Pod {
    namespace: String,
    name: String,
    rv: u64,
}

impl Object for Pod {
    fn namespace(&self) -> Option<&str> {
        Some(&self.namespace)
    }
    fn name(&self) -> Option<&str> {
        Some(&self.name)
    }
}

fn pods(n: usize, rv: u64) -> Vec<Arc<Pod>> {
    (0..n)
        .map(|i| {
            Arc::new(Pod {
                namespace: format!("ns-{}", i % 100),
                name: format!("pod-{i:08}"),
                rv,
            })
        })
        .collect()
}

/// An indexer stand-in: what the informer's store gives the FIFO.
#[derive(Default)]
struct Store(RwLock<HashMap<Arc<str>, Arc<Pod>>>);

impl Store {
    fn with(objects: &[Arc<Pod>]) -> Arc<Self> {
        let map = objects
            .iter()
            .map(|p| {
                (
                    Arc::from(format!("{}/{}", p.namespace, p.name)),
                    Arc::clone(p),
                )
            })
            .collect();
        Arc::new(Self(RwLock::new(map)))
    }
}

impl KnownObjects<Pod> for Store {
    fn list_keys(&self) -> Vec<Arc<str>> {
        self.0.read().unwrap().keys().cloned().collect()
    }
    fn for_each_key(&self, f: &mut dyn FnMut(&Arc<str>)) {
        self.0.read().unwrap().keys().for_each(f);
    }
    fn get_by_key(&self, key: &str) -> Result<Option<Arc<Pod>>, BoxError> {
        Ok(self.0.read().unwrap().get(key).cloned())
    }
}

// ===== scenarios =====

fn add_all(fifo: &DeltaFifo<Pod>, objects: &[Arc<Pod>]) {
    for p in objects {
        fifo.add(Arc::clone(p)).unwrap();
    }
}

fn update_all(fifo: &DeltaFifo<Pod>, objects: &[Arc<Pod>]) {
    for p in objects {
        fifo.update(Arc::clone(p)).unwrap();
    }
}

fn delete_all(fifo: &DeltaFifo<Pod>, objects: &[Arc<Pod>]) {
    for p in objects {
        fifo.delete(Arc::clone(p)).unwrap();
    }
}

fn pop_all(fifo: &DeltaFifo<Pod>, n: usize) {
    for _ in 0..n {
        fifo.pop(|deltas, _| {
            black_box(deltas.newest().object().map(|p| p.rv));
        })
        .unwrap();
    }
}

fn queued(objects: &[Arc<Pod>]) -> DeltaFifo<Pod> {
    let fifo = DeltaFifo::new();
    add_all(&fifo, objects);
    fifo
}

fn over_known(known: &[Arc<Pod>]) -> DeltaFifo<Pod> {
    DeltaFifo::builder()
        .known_objects(Store::with(known))
        .build()
}

fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// 100k objects (1k in test mode); `DELTA_FIFO_BENCH_N` overrides it, to see how much of the
/// cost is cache misses.
fn size() -> usize {
    let default = if test_mode() { 1_000 } else { 100_000 };
    std::env::var("DELTA_FIFO_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

// ===== summary table =====

/// client-go's figures (ns per op; replace in ns for the whole 100k).
const GO_NS: [(&str, f64); 5] = [
    ("add", 537.0),
    ("update", 249.0),
    ("delete", 387.0),
    ("pop", 661.0),
    ("replace 100k over 100k known", 86_000_000.0),
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `run` on a fresh `setup()` for `rounds` rounds; returns the median.
fn time<S>(rounds: usize, mut setup: impl FnMut() -> S, mut run: impl FnMut(&S)) -> Duration {
    let times = (0..rounds)
        .map(|_| {
            let s = setup();
            let start = Instant::now();
            run(&s);
            let elapsed = start.elapsed();
            drop(s);
            elapsed
        })
        .collect();
    median(times)
}

fn summary() -> String {
    let n = size();
    let rounds = if test_mode() { 1 } else { 7 };
    let v1 = pods(n, 1);
    let v2 = pods(n, 2);
    let per_op = |d: Duration| d.as_nanos() as f64 / n as f64;

    let add = time(rounds, DeltaFifo::<Pod>::new, |f| add_all(f, &v1));
    let update = time(rounds, || queued(&v1), |f| update_all(f, &v2));
    let delete = time(rounds, || queued(&v1), |f| delete_all(f, &v2));
    let pop = time(rounds, || queued(&v1), |f| pop_all(f, n));
    let replace = time(
        rounds,
        || over_known(&v1),
        |f| f.replace(v2.iter().cloned(), "2").unwrap(),
    );

    // Allocations per op and heap, counted on one more round each.
    let fifo = DeltaFifo::<Pod>::new();
    let ((), add_blocks, _) = counted(|| add_all(&fifo, &v1));
    let ((), update_blocks, _) = counted(|| update_all(&fifo, &v2));
    let ((), pop_blocks, _) = counted(|| pop_all(&fifo, n));
    let fifo = queued(&v1);
    let ((), delete_blocks, _) = counted(|| delete_all(&fifo, &v2));
    drop(fifo);
    // Peak heap of the whole add -> update -> delete -> pop cycle, FIFO only (the objects are
    // built before counting starts, as the caller owns them).
    let ((), _, cycle_peak) = counted(|| {
        let fifo = DeltaFifo::<Pod>::new();
        add_all(&fifo, &v1);
        update_all(&fifo, &v2);
        delete_all(&fifo, &v2);
        pop_all(&fifo, n);
    });
    let store_fifo = over_known(&v1);
    let ((), replace_blocks, replace_peak) =
        counted(|| store_fifo.replace(v2.iter().cloned(), "2").unwrap());
    drop(store_fifo);
    let objects_bytes = {
        let ((), _, peak) = counted(|| drop(black_box(pods(n, 3))));
        peak
    };

    let ours = [
        ("add", per_op(add), add_blocks as f64 / n as f64),
        ("update", per_op(update), update_blocks as f64 / n as f64),
        ("delete", per_op(delete), delete_blocks as f64 / n as f64),
        ("pop", per_op(pop), pop_blocks as f64 / n as f64),
        (
            "replace 100k over 100k known",
            replace.as_nanos() as f64,
            replace_blocks as f64 / n as f64,
        ),
    ];
    let mut out = format!(
        "\n## delta_fifo (D1), {n} objects, median of {rounds} rounds\n\n\
         | op | flywheel | client-go | ratio (goal <= 0.3) | allocations per op |\n|---|---|---|---|---|\n"
    );
    for ((name, ns, allocs), (_, go)) in ours.iter().zip(GO_NS) {
        let (shown, go_shown) = if *ns > 1e6 {
            (format!("{:.2} ms", ns / 1e6), format!("{:.0} ms", go / 1e6))
        } else {
            (format!("{ns:.0} ns"), format!("{go:.0} ns"))
        };
        let _ = writeln!(
            out,
            "| {name} | {shown} | {go_shown} | {:.2} | {allocs:.2} |",
            ns / go
        );
    }
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    let _ = writeln!(
        out,
        "\npeak heap of the FIFO (objects excluded: {:.1} MiB for {n} of them):\n\
         add -> update -> delete -> pop cycle {:.1} MiB ({:.0} B per key); \
         replace over known {:.1} MiB ({:.0} B per key)\n",
        mib(objects_bytes),
        mib(cycle_peak),
        cycle_peak as f64 / n as f64,
        mib(replace_peak),
        replace_peak as f64 / n as f64,
    );
    out
}

// ===== criterion groups =====

fn criterion_groups(c: &mut Criterion) {
    let n = size();
    let v1 = pods(n, 1);
    let v2 = pods(n, 2);
    let mut group = c.benchmark_group("delta_fifo");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_with_input(BenchmarkId::new("add", n), &n, |b, _| {
        b.iter_batched(
            DeltaFifo::<Pod>::new,
            |f| {
                add_all(&f, &v1);
                f
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_with_input(BenchmarkId::new("update", n), &n, |b, _| {
        b.iter_batched(
            || queued(&v1),
            |f| {
                update_all(&f, &v2);
                f
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_with_input(BenchmarkId::new("delete", n), &n, |b, _| {
        b.iter_batched(
            || queued(&v1),
            |f| {
                delete_all(&f, &v2);
                f
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_with_input(BenchmarkId::new("pop", n), &n, |b, &n| {
        b.iter_batched(
            || queued(&v1),
            |f| {
                pop_all(&f, n);
                f
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_with_input(BenchmarkId::new("replace_over_known", n), &n, |b, _| {
        b.iter_batched(
            || over_known(&v1),
            |f| {
                f.replace(v2.iter().cloned(), "2").unwrap();
                f
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn main() {
    let table = summary();
    println!("{table}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("delta_fifo.md"), &table);

    let mut criterion = Criterion::default().configure_from_args();
    criterion_groups(&mut criterion);
    criterion.final_summary();
}

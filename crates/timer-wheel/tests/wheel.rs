//! The wheel's rules, one test each (spec: timer-wheel §1).

use timer_wheel::Wheel;

#[test]
fn insert_cancel_reset_are_by_handle() {
    // spec: TW-1
    let mut wheel = Wheel::new();
    let a = wheel.insert(100, 'a');
    let b = wheel.insert(200, 'b');
    assert!(wheel.reset(b, 50));
    assert_eq!(wheel.deadline(b), Some(50));
    assert_eq!(wheel.cancel(a), Some('a'));
    assert_eq!(wheel.cancel(a), None);
    assert_eq!(wheel.advance(1000).collect::<Vec<_>>(), vec![(50, 'b')]);
}

#[test]
fn stale_handles_never_touch_a_reused_slot() {
    // spec: TW-2
    let mut wheel = Wheel::new();
    let old = wheel.insert(10, 1);
    assert_eq!(wheel.cancel(old), Some(1));
    let new = wheel.insert(10, 2); // reuses the slab cell
    assert_ne!(old, new);
    assert_eq!(wheel.cancel(old), None);
    assert!(!wheel.reset(old, 99));
    assert!(!wheel.contains(old));
    assert_eq!(wheel.get(new), Some(&2));
    assert_eq!(wheel.advance(10).collect::<Vec<_>>(), vec![(10, 2)]);
}

#[test]
fn foreign_handles_do_not_corrupt() {
    // spec: TW-2 — a handle from another wheel is at worst a no-op here.
    let mut big = Wheel::new();
    let foreign = (0..100).map(|i| big.insert(i, i)).last().unwrap();
    let mut small = Wheel::new();
    small.insert(5, 5u64);
    assert_eq!(small.cancel(foreign), None);
    assert!(!small.reset(foreign, 1));
    assert_eq!(small.advance(10).collect::<Vec<_>>(), vec![(5, 5)]);
}

#[test]
fn ties_fire_in_insertion_order_across_levels() {
    // spec: TW-3 — one entry filed long ago at a high level, one filed late at level 0.
    let mut wheel = Wheel::new();
    wheel.insert(10_000, "first");
    assert_eq!(wheel.advance(9_990).count(), 0);
    wheel.insert(10_000, "second");
    wheel.insert(9_999, "earlier");
    let fired: Vec<_> = wheel.advance(10_000).map(|(_, v)| v).collect();
    assert_eq!(fired, vec!["earlier", "first", "second"]);
}

#[test]
fn time_never_goes_back() {
    // spec: TW-3
    let mut wheel = Wheel::new();
    assert_eq!(wheel.advance(500).count(), 0);
    wheel.insert(400, "past");
    assert_eq!(
        wheel.advance(100).count(),
        0,
        "an earlier time moves nothing"
    );
    assert_eq!(wheel.now(), 500);
    assert_eq!(wheel.advance(500).collect::<Vec<_>>(), vec![(400, "past")]);
}

#[test]
fn past_and_far_deadlines_are_neither_dropped_nor_early() {
    // spec: TW-4, TW-5
    let mut wheel = Wheel::starting_at(1_000);
    wheel.insert(3, "past");
    wheel.insert(1_000, "now");
    wheel.insert(u64::MAX, "end of time");
    wheel.insert(1 << 40, "far");
    assert_eq!(
        wheel.advance(1_000).map(|(_, v)| v).collect::<Vec<_>>(),
        vec!["past", "now"]
    );
    assert_eq!(wheel.advance((1 << 40) - 1).count(), 0);
    assert_eq!(
        wheel.advance(1 << 40).collect::<Vec<_>>(),
        vec![(1 << 40, "far")]
    );
    assert_eq!(wheel.advance(u64::MAX - 1).count(), 0);
    assert_eq!(
        wheel.advance(u64::MAX).collect::<Vec<_>>(),
        vec![(u64::MAX, "end of time")]
    );
}

#[test]
fn every_entry_fires_exactly_on_its_tick() {
    // spec: TW-5 — the lateness bound is zero ticks when advanced tick by tick.
    let mut wheel = Wheel::new();
    let deadlines: Vec<u64> = (0..2_000u64).map(|i| (i * 7919) % 300_000 + 1).collect();
    for &d in &deadlines {
        wheel.insert(d, d);
    }
    let mut now = 0;
    let mut fired = 0;
    while let Some(next) = wheel.next_deadline() {
        assert!(next >= now);
        now = next;
        for (deadline, value) in wheel.advance(now) {
            assert_eq!(deadline, value);
            assert_eq!(deadline, now, "fired late or early");
            fired += 1;
        }
    }
    assert_eq!(fired, deadlines.len());
}

#[test]
fn next_deadline_is_exact_near_and_a_bound_far() {
    // spec: TW-6
    let mut wheel = Wheel::new();
    assert_eq!(wheel.next_deadline(), None);
    let far = wheel.insert(100_000, ());
    let bound = wheel.next_deadline().unwrap();
    assert!(bound <= 100_000);
    wheel.insert(17, ());
    assert_eq!(wheel.next_deadline(), Some(17));
    wheel.cancel(far);
    assert_eq!(wheel.next_deadline(), Some(17));
}

#[test]
fn cancelled_cells_are_reused_without_growth() {
    // spec: TW-7 — memory proportional to live entries, no growth in steady state.
    let mut wheel = Wheel::with_capacity(1_000);
    let handles: Vec<_> = (0..1_000u64).map(|i| wheel.insert(i * 13 + 1, i)).collect();
    let mut bytes = wheel.heap_bytes();
    for round in 0..50u64 {
        if round == 1 {
            bytes = wheel.heap_bytes(); // after warm-up
        }
        for &h in &handles[..500] {
            wheel.cancel(h);
        }
        let fresh: Vec<_> = (0..500u64).map(|i| wheel.insert(i + round, i)).collect();
        for h in fresh {
            wheel.cancel(h);
        }
    }
    assert_eq!(wheel.heap_bytes(), bytes);
}

#[test]
fn len_clear_and_iter() {
    // spec: TW-8
    let mut wheel = Wheel::new();
    let a = wheel.insert(5, 'a');
    wheel.insert(500, 'b');
    assert_eq!(wheel.len(), 2);
    let mut seen: Vec<_> = wheel.iter().map(|(_, d, v)| (d, *v)).collect();
    seen.sort();
    assert_eq!(seen, vec![(5, 'a'), (500, 'b')]);
    wheel.clear();
    assert!(wheel.is_empty());
    assert_eq!(wheel.cancel(a), None);
    assert_eq!(wheel.advance(u64::MAX).count(), 0);
}

#[test]
fn cancel_and_reset_of_due_entries_not_yet_taken() {
    // An entry already due but not yet yielded can still be cancelled or moved.
    let mut wheel = Wheel::new();
    let a = wheel.insert(10, 'a');
    let b = wheel.insert(10, 'b');
    let c = wheel.insert(10, 'c');
    // Take one and let the iterator go: the rest stay due.
    assert_eq!(wheel.advance(10).next(), Some((10, 'a')));
    assert_eq!(wheel.cancel(b), Some('b'));
    assert!(wheel.reset(c, 20));
    assert_eq!(wheel.cancel(a), None);
    assert_eq!(wheel.advance(19).count(), 0);
    assert_eq!(wheel.advance(20).collect::<Vec<_>>(), vec![(20, 'c')]);
}

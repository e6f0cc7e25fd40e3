//! The reflector's backoff on a fake clock (RF-2).

use std::sync::Arc;
use std::time::Duration;

use informer::{BACKOFF_CAP, BACKOFF_INITIAL, Backoff};
use timer_wheel::FakeClock;

#[test]
fn sequence_doubles_with_jitter_and_caps() {
    // spec: RF-2
    for seed in 0..50 {
        let clock = FakeClock::new();
        let mut backoff = Backoff::new(Arc::new(clock.clone())).with_seed(seed);
        let mut base = BACKOFF_INITIAL;
        for _ in 0..12 {
            let d = backoff.next_delay();
            assert!(
                d >= base && d < base * 2,
                "seed {seed}: {d:?} not in [{base:?}, 2x)"
            );
            base = (base * 2).min(BACKOFF_CAP);
            clock.advance(Duration::from_secs(5)); // 60 s in total: no reset
        }
        assert_eq!(base, BACKOFF_CAP);
        let d = backoff.next_delay();
        assert!(d >= Duration::from_secs(30) && d < Duration::from_secs(60));
    }
}

#[test]
fn resets_after_two_minutes_since_last_reset() {
    // spec: RF-2 (HEAD: measured from the last reset, not the last step)
    let clock = FakeClock::new();
    let mut backoff = Backoff::new(Arc::new(clock.clone())).with_seed(1);
    for _ in 0..6 {
        backoff.next_delay();
    }
    clock.advance(Duration::from_secs(120));
    assert!(
        backoff.next_delay() >= Duration::from_secs(25),
        "exactly 2 min: no reset yet"
    );
    clock.advance(Duration::from_millis(1));
    let d = backoff.next_delay();
    assert!(d >= BACKOFF_INITIAL && d < BACKOFF_INITIAL * 2, "{d:?}");
    // The reset point moved: 1 min later, the delay keeps growing.
    clock.advance(Duration::from_secs(60));
    assert!(backoff.next_delay() >= BACKOFF_INITIAL * 2);
}

#[test]
fn seeded_sequences_are_deterministic() {
    let clock = Arc::new(FakeClock::new());
    let a: Vec<_> = {
        let mut b = Backoff::new(clock.clone()).with_seed(9);
        (0..5).map(|_| b.next_delay()).collect()
    };
    let mut b = Backoff::new(clock).with_seed(9);
    assert_eq!(a, (0..5).map(|_| b.next_delay()).collect::<Vec<_>>());
}

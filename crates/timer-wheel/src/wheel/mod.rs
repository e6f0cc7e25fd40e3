//! [`Wheel`]: the hierarchical hashed timing wheel, a pure data structure over virtual time.
//!
//! # Implementation
//! Entries live in a slab (`entries`) addressed by 32-bit indices; each occupied cell sits in a
//! doubly linked list, one list per slot, 64 slots per level, 11 levels (see [`level`]). A `u64`
//! occupancy mask per level makes "the next slot that can expire" a `trailing_zeros`, so empty
//! slots cost nothing and time can jump any distance in one step.
//!
//! An entry is filed at the level of the highest bit in which its deadline differs from the
//! wheel's time. When that slot's time comes, its entries are re-filed one or more levels lower
//! (a *cascade*), until they reach level 0, where a slot is exactly one tick. So an entry is
//! yielded at exactly its deadline tick — the lateness bound is zero ticks — after at most one
//! re-filing per level it started above level 0 (a 60 s timer at 1 ms ticks: at most two).
//!
//! Due entries move to a `ready` queue, sorted by deadline and then insertion order, from which
//! [`poll`](Wheel::poll) hands them out one by one. The slab, the ready queue and the heads are
//! reused: after warm-up no operation allocates (TW-7).
//!
//! # Ground rules
//! * A cell is vacant iff `slot == FREE` iff `value.is_none()`; vacant cells form the free list.
//! * `slot == READY` iff the index is in `ready[ready_pos..]`.
//! * Otherwise the cell is in the list of `slot`, whose occupancy bit is set iff the list is
//!   non-empty, and its deadline is strictly after `elapsed`.
//! * Every deadline in `ready` is at or before `elapsed`; `ready` is empty whenever a slot is
//!   processed.

mod entry;
mod handle;
mod level;

use std::fmt;

use entry::{Entry, FREE, NIL, READY};
pub use handle::Handle;
pub(crate) use handle::NO_HANDLE;
use level::{LEVELS, SLOTS, level_for, slot_for, slot_id, slot_start};

/// A hierarchical timing wheel over virtual time measured in ticks.
///
/// The wheel knows nothing of real time: deadlines and `now` are tick counts (`u64`) chosen by
/// the caller — the runtime [`Driver`](crate::Driver) maps its [`Clock`](crate::Clock) to ticks.
///
/// | operation | cost |
/// |---|---|
/// | [`insert`](Wheel::insert), [`cancel`](Wheel::cancel), [`reset`](Wheel::reset) | O(1) |
/// | [`poll`](Wheel::poll) / [`advance`](Wheel::advance) | O(1) per occupied slot passed, plus at most one re-filing per level for each entry |
/// | memory | 24 bytes + `size_of::<T>()` per entry (high-water mark), 3 KiB fixed |
///
/// Entries are yielded in deadline order, ties in insertion order, never before their deadline
/// and never after it either: lateness is zero ticks (TW-3, TW-5).
///
/// # Examples
/// ```
/// use timer_wheel::Wheel;
///
/// let mut wheel = Wheel::new();
/// let a = wheel.insert(30, "a");
/// let _b = wheel.insert(10, "b");
/// let c = wheel.insert(20, "c");
/// assert_eq!(wheel.cancel(c), Some("c"));
/// assert!(wheel.reset(a, 5));
///
/// let fired: Vec<_> = wheel.advance(25).collect();
/// assert_eq!(fired, vec![(5, "a"), (10, "b")]);
/// assert_eq!(wheel.cancel(a), None); // fired: the handle is stale now
/// assert!(wheel.is_empty());
/// ```
pub struct Wheel<T> {
    /// The slab.
    entries: Vec<Entry<T>>,
    /// Head of the free list of vacant cells.
    free_head: u32,
    /// First entry of each slot's list, indexed by [`slot_id`].
    heads: Box<[u32]>,
    /// Bit `s` of `occupied[l]` is set iff slot `s` of level `l` has entries.
    occupied: [u64; LEVELS],
    /// The wheel's time: every entry due at or before it is in `ready` or gone.
    elapsed: u64,
    /// Due entries not yet yielded, sorted by (deadline, insertion order), from `ready_pos` on.
    ready: Vec<u32>,
    ready_pos: usize,
    /// Pending entries (filed or ready).
    len: usize,
    /// The generation the next insert gets.
    next_generation: u32,
}

impl<T> Wheel<T> {
    /// An empty wheel whose time is tick 0.
    pub fn new() -> Self {
        Self::starting_at(0)
    }

    /// An empty wheel whose time is `now`.
    pub fn starting_at(now: u64) -> Self {
        Wheel {
            entries: Vec::new(),
            free_head: NIL,
            heads: vec![NIL; LEVELS * SLOTS].into_boxed_slice(),
            occupied: [0; LEVELS],
            elapsed: now,
            ready: Vec::new(),
            ready_pos: 0,
            len: 0,
            next_generation: 0,
        }
    }

    /// An empty wheel with room for `capacity` entries before the slab grows.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut wheel = Self::new();
        wheel.entries.reserve(capacity);
        wheel
    }

    /// The wheel's current time: the latest `now` passed to [`poll`](Wheel::poll) or
    /// [`advance`](Wheel::advance) that had nothing more to yield.
    pub fn now(&self) -> u64 {
        self.elapsed
    }

    /// Number of pending entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `value` for tick `deadline` and returns its handle. A deadline at or before
    /// [`now`](Wheel::now) is due at the next `poll` (TW-4).
    ///
    /// # Panics
    /// If `u32::MAX - 1` entries are already pending (about 100 GiB of entries).
    pub fn insert(&mut self, deadline: u64, value: T) -> Handle {
        let generation = self.next_generation;
        self.next_generation = generation.wrapping_add(1);
        let entry = Entry {
            deadline,
            next: NIL,
            prev: NIL,
            generation,
            slot: FREE,
            value: Some(value),
        };
        let index = if self.free_head != NIL {
            let index = self.free_head;
            self.free_head = self.entries[index as usize].next;
            self.entries[index as usize] = entry;
            index
        } else {
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("timer wheel is full: u32::MAX - 1 pending entries");
            self.entries.push(entry);
            index
        };
        self.len += 1;
        self.file(index, true);
        Handle { index, generation }
    }

    /// Cancels a pending entry and returns its value; `None` if the handle is stale (the entry
    /// fired, was cancelled, or the handle is from another wheel) (TW-1, TW-2).
    pub fn cancel(&mut self, handle: Handle) -> Option<T> {
        let index = self.validate(handle)?;
        self.detach(index);
        Some(self.release(index))
    }

    /// Moves a pending entry to `deadline`; `false` (and nothing changes) if the handle is stale.
    /// The entry keeps its handle and its place among ties.
    pub fn reset(&mut self, handle: Handle, deadline: u64) -> bool {
        let Some(index) = self.validate(handle) else {
            return false;
        };
        self.detach(index);
        self.entries[index as usize].deadline = deadline;
        self.file(index, true);
        true
    }

    /// The deadline of a pending entry.
    pub fn deadline(&self, handle: Handle) -> Option<u64> {
        self.validate(handle)
            .map(|i| self.entries[i as usize].deadline)
    }

    /// The value of a pending entry.
    pub fn get(&self, handle: Handle) -> Option<&T> {
        self.validate(handle)
            .and_then(|i| self.entries[i as usize].value.as_ref())
    }

    /// Whether the handle names a pending entry.
    pub fn contains(&self, handle: Handle) -> bool {
        self.validate(handle).is_some()
    }

    /// A lower bound of the earliest pending deadline, `None` when empty (TW-6).
    ///
    /// Exact when that entry sits at level 0 (within 64 ticks of [`now`](Wheel::now)) or is
    /// already due; otherwise the first tick of its slot, where the wheel must look again. A
    /// driver that sleeps until this tick and polls never oversleeps a deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        if let Some(&index) = self.ready.get(self.ready_pos) {
            return Some(self.entries[index as usize].deadline);
        }
        self.next_expiration().map(|(_, _, start)| start)
    }

    /// Moves time to `now` (never backwards: an earlier `now` moves nothing and yields only
    /// entries due by that earlier time) and returns the next entry due at or before it, as `(deadline, value)` (TW-3).
    ///
    /// Call it until it returns `None`; entries come in deadline order, ties in insertion order.
    pub fn poll(&mut self, now: u64) -> Option<(u64, T)> {
        loop {
            if let Some(&index) = self.ready.get(self.ready_pos) {
                // The ready queue is sorted and holds the earliest deadlines of all.
                if self.entries[index as usize].deadline > now {
                    return None;
                }
                self.ready_pos += 1;
                if self.ready_pos == self.ready.len() {
                    self.ready.clear();
                    self.ready_pos = 0;
                }
                let deadline = self.entries[index as usize].deadline;
                return Some((deadline, self.release(index)));
            }
            if now <= self.elapsed {
                return None;
            }
            match self.next_expiration() {
                Some((level, slot, start)) if start <= now => {
                    self.elapsed = start;
                    self.process_slot(level, slot);
                }
                _ => {
                    self.elapsed = now;
                    return None;
                }
            }
        }
    }

    /// Moves time to `now` and iterates over every entry due by then, in deadline order.
    ///
    /// Entries the iterator has not yielded when it is dropped stay due and come first from the
    /// next `poll` or `advance`: nothing is lost.
    pub fn advance(&mut self, now: u64) -> Advance<'_, T> {
        Advance { wheel: self, now }
    }

    /// Removes every entry. Handles to them become stale; the wheel's time is kept.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.free_head = NIL;
        self.heads.fill(NIL);
        self.occupied = [0; LEVELS];
        self.ready.clear();
        self.ready_pos = 0;
        self.len = 0;
    }

    /// Iterates over the pending entries as `(handle, deadline, &value)`, in slab order (for
    /// diagnostics) (TW-8).
    pub fn iter(&self) -> impl Iterator<Item = (Handle, u64, &T)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let value = entry.value.as_ref()?;
                let handle = Handle {
                    index: index as u32,
                    generation: entry.generation,
                };
                Some((handle, entry.deadline, value))
            })
    }

    /// Bytes the wheel holds on the heap (slab, ready queue, slot heads), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry<T>>()
            + self.ready.capacity() * std::mem::size_of::<u32>()
            + self.heads.len() * std::mem::size_of::<u32>()
    }

    // ===== internals =====

    fn validate(&self, handle: Handle) -> Option<u32> {
        let entry = self.entries.get(handle.index as usize)?;
        (entry.generation == handle.generation && entry.slot != FREE).then_some(handle.index)
    }

    /// The earliest occupied slot: the lowest set bit of the lowest non-empty level (lower levels
    /// always expire first, see [`level`]).
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let slot = self.occupied[level].trailing_zeros() as usize;
        Some((level, slot, slot_start(self.elapsed, level, slot)))
    }

    /// Files an unlinked entry: into the ready queue if due, else into its slot.
    /// `sorted`: keep the ready queue sorted (off while a slot is processed; it sorts after).
    fn file(&mut self, index: u32, sorted: bool) {
        let deadline = self.entries[index as usize].deadline;
        if deadline <= self.elapsed {
            self.entries[index as usize].slot = READY;
            if sorted {
                let key = self.order_key(index);
                let pending = &self.ready[self.ready_pos..];
                let at = self.ready_pos + pending.partition_point(|&i| self.order_key(i) <= key);
                self.ready.insert(at, index);
            } else {
                self.ready.push(index);
            }
            return;
        }
        let level = level_for(self.elapsed, deadline);
        let id = slot_id(level, slot_for(deadline, level));
        let head = self.heads[id];
        let entry = &mut self.entries[index as usize];
        entry.slot = id as u16;
        entry.prev = NIL;
        entry.next = head;
        if head == NIL {
            self.occupied[level] |= 1 << (id % SLOTS);
        } else {
            self.entries[head as usize].prev = index;
        }
        self.heads[id] = index;
    }

    /// Takes a pending entry out of its list or the ready queue, leaving it occupied.
    fn detach(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let (slot, prev, next) = (entry.slot, entry.prev, entry.next);
        if slot == READY {
            if let Some(at) = self.ready[self.ready_pos..]
                .iter()
                .position(|&i| i == index)
            {
                self.ready.remove(self.ready_pos + at);
            }
            if self.ready_pos == self.ready.len() {
                self.ready.clear();
                self.ready_pos = 0;
            }
            return;
        }
        let id = slot as usize;
        if prev == NIL {
            self.heads[id] = next;
            if next == NIL {
                self.occupied[id / SLOTS] &= !(1 << (id % SLOTS));
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    /// Vacates a detached cell and returns its value.
    fn release(&mut self, index: u32) -> T {
        let entry = &mut self.entries[index as usize];
        entry.slot = FREE;
        entry.next = self.free_head;
        self.free_head = index;
        self.len -= 1;
        entry
            .value
            .take()
            .expect("ground rule: an occupied cell holds a value")
    }

    /// Empties slot `slot` of `level` at time `elapsed` = its start: level 0 entries are due;
    /// higher-level entries are re-filed (cascaded) closer to the ground, or are due.
    fn process_slot(&mut self, level: usize, slot: usize) {
        let id = slot_id(level, slot);
        let first_new = self.ready.len();
        let mut index = std::mem::replace(&mut self.heads[id], NIL);
        self.occupied[level] &= !(1 << slot);
        while index != NIL {
            let next = self.entries[index as usize].next;
            self.file(index, false);
            index = next;
        }
        // Everything just made ready is due at exactly `elapsed`: order it by insertion.
        if self.ready.len() - first_new > 1 {
            let mut ready = std::mem::take(&mut self.ready);
            ready[first_new..].sort_unstable_by_key(|&i| self.order_key(i));
            self.ready = ready;
        }
    }

    /// Sort key of a due entry: deadline, then age (older first), ages measured from the next
    /// generation so the order is total even when the counter wraps.
    fn order_key(&self, index: u32) -> (u64, u32) {
        let entry = &self.entries[index as usize];
        let age = self.next_generation.wrapping_sub(entry.generation);
        (entry.deadline, u32::MAX - age)
    }
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("now", &self.elapsed)
            .field("len", &self.len)
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}

/// The iterator of [`Wheel::advance`]: yields `(deadline, value)` of each due entry.
#[derive(Debug)]
pub struct Advance<'a, T> {
    wheel: &'a mut Wheel<T>,
    now: u64,
}

impl<T> Iterator for Advance<'_, T> {
    type Item = (u64, T);

    fn next(&mut self) -> Option<(u64, T)> {
        self.wheel.poll(self.now)
    }
}

//! One slab cell of the wheel: an entry's links, deadline and value.

/// "No entry" in a link or list head.
pub(crate) const NIL: u32 = u32::MAX;

/// `Entry::slot` of a vacant cell (on the free list).
pub(crate) const FREE: u16 = u16::MAX;

/// `Entry::slot` of an entry that is due and waits in the ready queue to be yielded.
pub(crate) const READY: u16 = u16::MAX - 1;

/// A slab cell. Occupied cells sit in exactly one slot list (or the ready queue); vacant cells
/// chain the free list through `next`.
///
/// Layout: 22 bytes of bookkeeping plus the value, 24 bytes in all for a `Wheel<()>`.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    /// Deadline in ticks.
    pub(crate) deadline: u64,
    /// Next entry in the slot list, or the next vacant cell.
    pub(crate) next: u32,
    /// Previous entry in the slot list.
    pub(crate) prev: u32,
    /// The insert counter at insertion: checks handles and orders ties.
    pub(crate) generation: u32,
    /// Flat slot id (`level * 64 + slot`), `READY`, or `FREE`.
    pub(crate) slot: u16,
    /// The payload; `None` exactly when the cell is vacant.
    pub(crate) value: Option<T>,
}

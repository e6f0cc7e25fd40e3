//! [`Handle`]: the small `Copy` key of a wheel entry.

/// Identifies one entry of a [`Wheel`](crate::Wheel): its slab index and the generation it was
/// inserted with.
///
/// A handle outlives its entry harmlessly: once the entry fired or was cancelled, and even after
/// its slab slot is reused by a later insert, the generation no longer matches and every
/// operation with the handle is a no-op (TW-2). Generations count inserts modulo 2^32, so a handle
/// kept across four billion inserts that all land on its slot could alias; nothing short of that
/// can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// The packed form of "no handle" (index `NIL` is never a valid slab index).
pub(crate) const NO_HANDLE: u64 = u64::MAX;

impl Handle {
    /// Packs the handle into one word, for storage in an atomic.
    pub(crate) fn pack(self) -> u64 {
        (u64::from(self.index) << 32) | u64::from(self.generation)
    }

    /// Unpacks a word made by [`pack`](Handle::pack); `None` for [`NO_HANDLE`].
    pub(crate) fn unpack(word: u64) -> Option<Handle> {
        (word != NO_HANDLE).then_some(Handle {
            index: (word >> 32) as u32,
            generation: word as u32,
        })
    }
}

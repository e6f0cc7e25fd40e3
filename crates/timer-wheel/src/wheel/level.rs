//! The arithmetic of levels and slots.
//!
//! A deadline is a `u64` tick count. Level `L` splits time into slots of `64^L` ticks, 64 slots a
//! level, so level `L` covers bits `6L .. 6L+6` of a deadline. An entry is filed at the level of
//! the highest bit in which its deadline differs from the wheel's current time: everything filed at
//! level `L` shares every digit above `L` with the current time and has a larger digit at `L`.
//! Eleven levels cover all 64 bits, so no deadline is ever out of range (TW-4) and the earliest
//! occupied slot is always the lowest set bit of the lowest non-empty level.

/// Bits of a deadline one level consumes: 64 slots per level, so a level's occupancy is one `u64`
/// and "first occupied slot" is a single `trailing_zeros`.
pub(crate) const SLOT_BITS: u32 = 6;

/// Slots per level.
pub(crate) const SLOTS: usize = 1 << SLOT_BITS;

/// Levels needed to cover every `u64` deadline: `ceil(64 / 6)`. Level 10 uses the top 4 bits.
pub(crate) const LEVELS: usize = 11;

/// Mask of the slot digit within a level.
const SLOT_MASK: u64 = SLOTS as u64 - 1;

/// The level an entry due at `deadline` is filed at while the wheel stands at `elapsed`
/// (`deadline > elapsed`).
#[inline]
pub(crate) fn level_for(elapsed: u64, deadline: u64) -> usize {
    let masked = (elapsed ^ deadline) | SLOT_MASK;
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

/// The slot of `deadline` within `level`.
#[inline]
pub(crate) fn slot_for(deadline: u64, level: usize) -> usize {
    ((deadline >> (level as u32 * SLOT_BITS)) & SLOT_MASK) as usize
}

/// The first tick of `slot` at `level`, in the level's block that contains `elapsed`.
#[inline]
pub(crate) fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let shift = level as u32 * SLOT_BITS;
    let block_shift = shift + SLOT_BITS;
    let block_base = if block_shift >= u64::BITS {
        0
    } else {
        elapsed & (u64::MAX << block_shift)
    };
    block_base | ((slot as u64) << shift)
}

/// Index of a slot in the flat array of list heads.
#[inline]
pub(crate) fn slot_id(level: usize, slot: usize) -> usize {
    level * SLOTS + slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_grows_with_distance() {
        assert_eq!(level_for(0, 1), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        assert_eq!(level_for(0, u64::MAX), LEVELS - 1);
        // Same block of 64 as `elapsed`: level 0 even when far from zero.
        assert_eq!(level_for(64 * 1000 + 3, 64 * 1000 + 60), 0);
    }

    #[test]
    fn slot_start_is_within_the_block_of_elapsed() {
        assert_eq!(slot_start(5, 0, 9), 9);
        assert_eq!(slot_start(64 * 7 + 5, 0, 9), 64 * 7 + 9);
        assert_eq!(slot_start(100, 1, 3), 3 * 64);
        assert_eq!(slot_start(u64::MAX - 5, LEVELS - 1, 15), 15 << 60);
        assert_eq!(slot_for(u64::MAX, LEVELS - 1), 15);
    }
}

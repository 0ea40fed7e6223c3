//! A ring's block of DMA memory, as both ring layouts read and write it:
//! little-endian fields (virtio 1.x is little-endian whatever the CPU),
//! accessed with volatile loads and stores because the device reads and
//! writes the same bytes concurrently, at offsets the ring computed from its
//! own layout. The ordering between those accesses is the rings' business
//! (their barriers); this type only keeps each access inside the block.

use ferrite_hugepages::DmaRegion;

/// `bytes` bytes of a DMA region that one ring owns.
pub struct RingBlock {
    base: *mut u8,
    bytes: usize,
}

impl RingBlock {
    /// The `bytes` at `offset` in `mem`, zeroed. Panics if they do not lie
    /// inside the region or do not start 64-byte aligned (every field of
    /// both layouts is then at its natural alignment).
    pub fn carve(mem: &DmaRegion, offset: usize, bytes: usize) -> RingBlock {
        assert!(offset.is_multiple_of(64) && offset + bytes <= mem.len(), "virtqueue outside its region");
        // SAFETY: offset + bytes is inside the region (asserted above).
        let base = unsafe { mem.as_ptr().add(offset) };
        // SAFETY: the block is the caller's and nobody (no device either: it
        // is told the addresses only after this) uses it yet.
        unsafe { std::ptr::write_bytes(base, 0, bytes) };
        RingBlock { base, bytes }
    }

    /// The field at `off`, checked to lie inside the block and be aligned
    /// (a real check, not a debug one: these accessors are safe, so an
    /// offset a ring got wrong must stop here rather than write into a
    /// neighbour's ring; one well-predicted branch per field).
    #[inline(always)]
    fn ptr<T>(&self, off: usize) -> *mut T {
        let fits = off <= self.bytes.saturating_sub(std::mem::size_of::<T>());
        assert!(fits && off.is_multiple_of(std::mem::align_of::<T>()), "ring field at {off} outside its block");
        // SAFETY: `off + size_of::<T>() <= bytes` and `off` is aligned for
        // T (asserted above; the block starts 64-byte aligned), and the
        // block lies inside the region (`carve`).
        unsafe { self.base.add(off).cast::<T>() }
    }

    /// Stores a le16 field.
    #[inline(always)]
    pub fn write16(&self, off: usize, v: u16) {
        // SAFETY: `ptr` checked the bounds; aligned (offsets at natural
        // alignment in a 64-byte aligned block, see `carve`).
        unsafe { self.ptr::<u16>(off).write_volatile(v.to_le()) }
    }

    /// Stores a le32 field.
    #[inline(always)]
    pub fn write32(&self, off: usize, v: u32) {
        // SAFETY: `ptr` checked the bounds; aligned (offsets at natural
        // alignment in a 64-byte aligned block, see `carve`).
        unsafe { self.ptr::<u32>(off).write_volatile(v.to_le()) }
    }

    /// Stores a le64 field.
    #[inline(always)]
    pub fn write64(&self, off: usize, v: u64) {
        // SAFETY: `ptr` checked the bounds; aligned (offsets at natural
        // alignment in a 64-byte aligned block, see `carve`).
        unsafe { self.ptr::<u64>(off).write_volatile(v.to_le()) }
    }

    /// Loads a le16 field.
    #[inline(always)]
    pub fn read16(&self, off: usize) -> u16 {
        // SAFETY: `ptr` checked the bounds; aligned (offsets at natural
        // alignment in a 64-byte aligned block, see `carve`).
        u16::from_le(unsafe { self.ptr::<u16>(off).read_volatile() })
    }

    /// Loads a le32 field (one access: both halves from the same write).
    #[inline(always)]
    pub fn read32(&self, off: usize) -> u32 {
        // SAFETY: `ptr` checked the bounds; aligned (offsets at natural
        // alignment in a 64-byte aligned block, see `carve`).
        u32::from_le(unsafe { self.ptr::<u32>(off).read_volatile() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_hugepages::{DmaOptions, Fallback};

    fn region() -> DmaRegion {
        let opts = DmaOptions { fallback: Fallback::SmallPages, ..DmaOptions::default() };
        DmaRegion::allocate(4096, &opts).unwrap()
    }

    #[test]
    fn fields_round_trip_little_endian_inside_the_block() {
        let mem = region();
        let b = RingBlock::carve(&mem, 64, 128);
        b.write64(0, 0x0102_0304_0506_0708);
        b.write32(8, 0x1122_3344);
        b.write16(126, 0xBEEF);
        assert_eq!((b.read32(0), b.read32(4), b.read16(8), b.read16(126)), (0x0506_0708, 0x0102_0304, 0x3344, 0xBEEF));
        // SAFETY: reading back bytes of our own region, nothing else uses it.
        let first = unsafe { *mem.as_ptr().add(64) };
        assert_eq!(first, 0x08, "little-endian in memory");
    }

    #[test]
    #[should_panic(expected = "outside its block")]
    fn a_field_past_the_end_is_refused() {
        let mem = region();
        RingBlock::carve(&mem, 64, 128).write16(127, 1);
    }

    #[test]
    #[should_panic(expected = "outside its block")]
    fn a_misaligned_field_is_refused() {
        let mem = region();
        RingBlock::carve(&mem, 64, 128).write32(2, 1);
    }

    #[test]
    #[should_panic(expected = "outside its region")]
    fn a_block_outside_the_region_is_refused() {
        let mem = region();
        RingBlock::carve(&mem, mem.len() - 64, 128);
    }
}

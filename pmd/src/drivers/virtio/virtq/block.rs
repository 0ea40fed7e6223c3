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

    #[inline(always)]
    fn ptr<T>(&self, off: usize) -> *mut T {
        debug_assert!(off + std::mem::size_of::<T>() <= self.bytes && off.is_multiple_of(std::mem::align_of::<T>()));
        // SAFETY: the rings' offsets are computed from their own layout of
        // this block (slots and ids below n), so they stay inside it.
        unsafe { self.base.add(off).cast::<T>() }
    }

    /// Stores a le16 field.
    #[inline(always)]
    pub fn write16(&self, off: usize, v: u16) {
        // SAFETY: in the block and aligned (see `ptr` and `carve`).
        unsafe { self.ptr::<u16>(off).write_volatile(v.to_le()) }
    }

    /// Stores a le32 field.
    #[inline(always)]
    pub fn write32(&self, off: usize, v: u32) {
        // SAFETY: in the block and aligned (see `ptr` and `carve`).
        unsafe { self.ptr::<u32>(off).write_volatile(v.to_le()) }
    }

    /// Stores a le64 field.
    #[inline(always)]
    pub fn write64(&self, off: usize, v: u64) {
        // SAFETY: in the block and aligned (see `ptr` and `carve`).
        unsafe { self.ptr::<u64>(off).write_volatile(v.to_le()) }
    }

    /// Loads a le16 field.
    #[inline(always)]
    pub fn read16(&self, off: usize) -> u16 {
        // SAFETY: in the block and aligned (see `ptr` and `carve`).
        u16::from_le(unsafe { self.ptr::<u16>(off).read_volatile() })
    }

    /// Loads a le32 field (one access: both halves from the same write).
    #[inline(always)]
    pub fn read32(&self, off: usize) -> u32 {
        // SAFETY: in the block and aligned (see `ptr` and `carve`).
        u32::from_le(unsafe { self.ptr::<u32>(off).read_volatile() })
    }
}

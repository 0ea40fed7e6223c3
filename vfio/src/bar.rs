//! A memory-mapped PCI BAR (device registers).

use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::device::VfioDevice;

/// A BAR mapped into this process with `mmap` on the VFIO device fd.
///
/// Keeps the device open (through an `Arc`) so the mapping can never outlive
/// the device fd's claim on the hardware; unmapped on drop.
pub struct Bar {
    ptr: NonNull<u8>,
    len: usize,
    index: u32,
    _device: Arc<VfioDevice>,
}

// SAFETY: the mapping is MMIO owned by this value. All access goes through
// aligned volatile 8-, 16- and 32-bit loads and stores, which the device
// serialises; no Rust
// references into the mapping are ever created, so sharing or moving the
// handle across threads cannot create a data race in the Rust sense.
unsafe impl Send for Bar {}
// SAFETY: as above; `&Bar` exposes only volatile register accesses.
unsafe impl Sync for Bar {}

impl Bar {
    /// # Safety
    /// `ptr`/`len` must be a live `mmap` of BAR `index` of `device` that this
    /// value will own (and `munmap` on drop).
    pub(crate) unsafe fn from_raw(ptr: NonNull<u8>, len: usize, index: u32, device: Arc<VfioDevice>) -> Bar {
        Bar { ptr, len, index, _device: device }
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: empty BARs are refused by `map_bar`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The BAR number (0-5).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The first byte of the mapping (for drivers that build their own
    /// register accessors).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    #[inline]
    fn reg(&self, offset: usize) -> *mut u32 {
        assert!(
            offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.len),
            "BAR{} register offset {offset:#x} is misaligned or outside the {:#x}-byte BAR",
            self.index,
            self.len
        );
        // SAFETY: the assert keeps `offset + 4 <= len`, so the result stays
        // inside the mapping.
        unsafe { self.ptr.as_ptr().add(offset).cast::<u32>() }
    }

    /// Volatile 32-bit register read.
    ///
    /// # Panics
    /// If `offset` is not a multiple of 4 or the register lies beyond the
    /// BAR: register offsets are constants, so that is a programming error.
    #[inline]
    pub fn read32(&self, offset: usize) -> u32 {
        let p = self.reg(offset);
        // SAFETY: `p` is 4-byte aligned (mmap is page aligned, offset % 4 ==
        // 0) and inside the live mapping; MMIO must be read volatile.
        unsafe { p.read_volatile() }
    }

    /// Volatile 32-bit register write.
    ///
    /// # Panics
    /// Like [`Bar::read32`], only for misaligned or out-of-range offsets.
    #[inline]
    pub fn write32(&self, offset: usize, value: u32) {
        let p = self.reg(offset);
        // SAFETY: as in `read32`; MMIO must be written volatile.
        unsafe { p.write_volatile(value) }
    }
}

/// 8- and 16-bit registers, for devices whose register layout has them
/// (virtio's common configuration mixes 8-, 16- and 32-bit fields, and its
/// spec requires each to be accessed at its own width).
impl Bar {
    #[inline]
    fn reg_n<T>(&self, offset: usize) -> *mut T {
        let n = std::mem::size_of::<T>();
        assert!(
            offset.is_multiple_of(n) && offset.checked_add(n).is_some_and(|end| end <= self.len),
            "BAR{} {n}-byte register offset {offset:#x} is misaligned or outside the {:#x}-byte BAR",
            self.index,
            self.len
        );
        // SAFETY: the assert keeps `offset + n <= len`, so the result stays
        // inside the mapping.
        unsafe { self.ptr.as_ptr().add(offset).cast::<T>() }
    }

    /// Volatile 8-bit register read.
    ///
    /// # Panics
    /// If the register lies beyond the BAR (a programming error, as for
    /// [`Bar::read32`]).
    #[inline]
    pub fn read8(&self, offset: usize) -> u8 {
        let p = self.reg_n::<u8>(offset);
        // SAFETY: inside the live mapping (checked); MMIO is read volatile.
        unsafe { p.read_volatile() }
    }

    /// Volatile 8-bit register write.
    ///
    /// # Panics
    /// Like [`Bar::read8`].
    #[inline]
    pub fn write8(&self, offset: usize, value: u8) {
        let p = self.reg_n::<u8>(offset);
        // SAFETY: as in `read8`; MMIO is written volatile.
        unsafe { p.write_volatile(value) }
    }

    /// Volatile little-endian 16-bit register read.
    ///
    /// # Panics
    /// If `offset` is odd or the register lies beyond the BAR.
    #[inline]
    pub fn read16(&self, offset: usize) -> u16 {
        let p = self.reg_n::<u16>(offset);
        // SAFETY: 2-byte aligned (page-aligned mapping, even offset) and
        // inside the live mapping; MMIO is read volatile.
        u16::from_le(unsafe { p.read_volatile() })
    }

    /// Volatile little-endian 16-bit register write.
    ///
    /// # Panics
    /// Like [`Bar::read16`].
    #[inline]
    pub fn write16(&self, offset: usize, value: u16) {
        let p = self.reg_n::<u16>(offset);
        // SAFETY: as in `read16`; MMIO is written volatile.
        unsafe { p.write_volatile(value.to_le()) }
    }
}

impl Bar {
    /// Gives the BAR back without invalidating this handle: the device
    /// mapping is replaced, in place and at once, by ordinary zeroed memory
    /// (`mmap` with `MAP_FIXED`). Other threads that still read or write
    /// registers through this handle touch that memory instead of the
    /// device, and the mapping's hold on the device file is dropped, so the
    /// kernel can finish removing the device once its fd is closed too
    /// ([`VfioDevice::revoke`]). Reads afterwards return 0.
    pub fn revoke(&self) -> std::io::Result<()> {
        // SAFETY: the range is exactly the mapping this value owns. MAP_FIXED
        // swaps its pages for anonymous ones without a gap, so every address
        // another thread may use through `reg` stays mapped and writable.
        let p = unsafe {
            libc::mmap(
                self.ptr.as_ptr().cast(),
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the mapping made by `map_bar`, owned by
        // this value; nothing references it after drop.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

impl fmt::Debug for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bar").field("index", &self.index).field("len", &self.len).finish()
    }
}

//! UMEM: the memory an AF_XDP socket shares with the kernel, here the DMA
//! region of a ferrite mempool, so received frames are mbufs and mbufs of
//! that pool are sent without a copy.
//!
//! The region is registered in unaligned-chunk mode: a fill address may be
//! any offset, so each one is an mbuf's buffer start (its header stays
//! outside the chunk). The kernel puts a frame `XDP_PACKET_HEADROOM` (256)
//! bytes into the chunk, so a received mbuf's data starts 256 bytes into
//! its buffer (its 128-byte headroom and 128 more), and the largest frame
//! is the buffer length less 256. The chunk size is the buffer length
//! (headroom + data room), which must be at least the kernel's 2048.
//!
//! A region is registered once, by the first socket on it; every later
//! socket on the same pool (another queue, another port) binds with
//! `XDP_SHARED_UMEM` naming that socket and gets fill and completion rings
//! of its own. The registry maps a region to its first socket's
//! descriptor, weakly: when every socket on it has closed, the next one
//! registers it anew.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, Weak};

use super::sys::{XDP_PACKET_HEADROOM, XDP_UMEM_MIN_CHUNK_SIZE};
use crate::mem::mbuf::HEADER_SIZE;
use crate::mem::Mempool;
use crate::port::PortError;

/// The UMEM view of a pool: where its region lies and how chunks are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UmemLayout {
    /// The region's first byte (UMEM address 0).
    pub base: usize,
    /// The region's length.
    pub len: usize,
    /// The chunk size registered: an mbuf's buffer length.
    pub chunk: u32,
    /// On huge pages. A zero-copy driver maps the UMEM page by page and
    /// refuses a chunk that spans two 4 KiB pages that are not physically
    /// contiguous, which most chunks of a small-page pool do; such a pool
    /// binds in copy mode.
    pub hugepage: bool,
}

impl UmemLayout {
    /// The layout of `pool`'s region; refused when its buffers are too
    /// small for a UMEM chunk.
    pub fn of(pool: &Mempool) -> Result<UmemLayout, PortError> {
        let chunk = crate::mem::HEADROOM + pool.data_room();
        if chunk < XDP_UMEM_MIN_CHUNK_SIZE {
            return Err(PortError::InvalidConfig(format!(
                "mempool '{}': AF_XDP needs buffers of at least {} B (headroom {} + data room), this pool's are \
                 {chunk} B: give --mbuf-size {} or more",
                pool.name(),
                XDP_UMEM_MIN_CHUNK_SIZE,
                crate::mem::HEADROOM,
                XDP_UMEM_MIN_CHUNK_SIZE - crate::mem::HEADROOM
            )));
        }
        let region = pool.region();
        Ok(UmemLayout {
            base: region.as_ptr() as usize,
            len: region.len(),
            chunk: chunk as u32,
            hugepage: region.is_hugepage(),
        })
    }

    /// The largest frame the kernel puts into a chunk.
    pub fn max_frame(&self) -> usize {
        self.chunk as usize - XDP_PACKET_HEADROOM
    }

    /// The UMEM address of the buffer of the mbuf whose header is at `hdr`.
    #[inline(always)]
    pub fn chunk_of_header(&self, hdr: usize) -> u64 {
        (hdr + HEADER_SIZE - self.base) as u64
    }

    /// The mbuf header of the chunk at UMEM address `chunk`.
    #[inline(always)]
    pub fn header_of_chunk(&self, chunk: u64) -> usize {
        self.base + chunk as usize - HEADER_SIZE
    }

    /// Whether `addr` lies in the region.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base) < self.len
    }
}

/// Regions registered so far, each with the socket that registered it.
static REGISTERED: Mutex<Vec<(usize, Weak<OwnedFd>)>> = Mutex::new(Vec::new());

/// The socket already holding the UMEM of the region at `base`, if any
/// is still open.
pub fn owner_of(base: usize) -> Option<Arc<OwnedFd>> {
    let mut list = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|(_, w)| w.strong_count() > 0);
    list.iter().find(|(b, _)| *b == base).and_then(|(_, w)| w.upgrade())
}

/// Records that `fd` registered the region at `base`.
pub fn record_owner(base: usize, fd: &Arc<OwnedFd>) {
    let mut list = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|(b, w)| w.strong_count() > 0 && *b != base);
    list.push((base, Arc::downgrade(fd)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MempoolConfig;

    #[test]
    fn chunk_addresses_are_buffer_starts_and_small_buffers_are_refused() {
        let small = |name, data_room| {
            let mut cfg = MempoolConfig::new(name, 64);
            cfg.data_room = data_room;
            cfg.dma.fallback = ferrite_hugepages::Fallback::SmallPages;
            Mempool::new(&cfg).unwrap()
        };
        let pool = small("umem-t", crate::mem::DEFAULT_DATA_ROOM);
        let l = UmemLayout::of(&pool).unwrap();
        assert_eq!(l.chunk as usize, 128 + pool.data_room());
        assert_eq!(l.max_frame(), l.chunk as usize - 256);
        let m = pool.alloc().unwrap();
        let hdr = m.into_raw().as_ptr() as usize;
        let c = l.chunk_of_header(hdr);
        assert_eq!(l.header_of_chunk(c), hdr);
        assert!(l.contains(hdr) && !l.contains(l.base + l.len) && !l.contains(l.base.wrapping_sub(1)));
        // SAFETY: `hdr` came from into_raw above and is owned here alone.
        drop(unsafe { crate::mem::Mbuf::from_raw(std::ptr::NonNull::new(hdr as *mut _).unwrap()) });
        let e = UmemLayout::of(&small("umem-small", 1024)).unwrap_err().to_string();
        assert!(e.contains("--mbuf-size 1920"), "{e}");
    }
}

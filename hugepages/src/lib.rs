#![deny(missing_docs)]
//! DMA memory for user-space drivers: pinned regions made of 2 MiB (or 1 GiB)
//! hugepages that know, for every byte, both the virtual address the CPU uses
//! and the I/O virtual address (IOVA) a device must be given.
//!
//! # Why not `hugepage-rs` or `memmap2`
//!
//! We evaluated `hugepage-rs` 0.1.2 for this crate and did not keep it: it is a
//! single `mmap(MAP_HUGETLB)` of the *default* huge page size with no
//! `MAP_POPULATE` (pages fault in on first touch, possibly inside the datapath),
//! no choice of 1 GiB pages, and no notion of physical or IO-virtual addresses,
//! which is the whole point of DMA memory. `memmap2` maps huge pages well, but
//! hands out `&mut [u8]` views and has no `MAP_LOCKED`; a DMA region is shared
//! with a device, so we keep it behind raw pointers. A direct
//! `libc::mmap(MAP_HUGETLB | MAP_HUGE_2MB | MAP_POPULATE | MAP_LOCKED)` does
//! exactly what DMA needs in a few lines, so that is what [`DmaRegion`] uses.
//!
//! # IOVA modes
//!
//! * [`IovaMode::Va`]: the device sees the same addresses as the CPU. This is
//!   the mode to use behind an IOMMU: the region is later mapped through VFIO
//!   with IOVA = VA, so it is contiguous for the device however scattered the
//!   physical pages are.
//! * [`IovaMode::Pa`]: no IOMMU; the device sees physical addresses, read per
//!   page from `/proc/self/pagemap` (needs `CAP_SYS_ADMIN`). Physical pages are
//!   never contiguous across huge pages, so callers must not let a DMA buffer
//!   cross a page boundary ([`DmaRegion::page_size`] tells the boundary).
//!   Nothing pins the pages for the device, so they must not move on their
//!   own: hugetlb pages are never swapped out, and every region is kept out
//!   of forked children (`MADV_DONTFORK`), whose copy-on-write sharing would
//!   move the parent to new pages at its next write.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// 2 MiB: the huge page size every x86-64 Linux offers.
pub const HUGE_2M: usize = 2 << 20;
/// 1 GiB: offered when the CPU has `pdpe1gb` and pages were reserved.
pub const HUGE_1G: usize = 1 << 30;
/// The ordinary page size, used by the fallback for virtual ports.
pub const SMALL_4K: usize = 4096;

/// How a device addresses the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IovaMode {
    /// IOVA equals the virtual address (mapped through an IOMMU).
    Va,
    /// IOVA is the physical address (no IOMMU; read from pagemap).
    Pa,
}

/// Which pages back the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// 2 MiB huge pages.
    Huge2M,
    /// 1 GiB huge pages.
    Huge1G,
}

impl PageSize {
    /// The page size in bytes.
    pub fn bytes(self) -> usize {
        match self {
            PageSize::Huge2M => HUGE_2M,
            PageSize::Huge1G => HUGE_1G,
        }
    }

    fn mmap_flag(self) -> libc::c_int {
        match self {
            PageSize::Huge2M => libc::MAP_HUGE_2MB,
            PageSize::Huge1G => libc::MAP_HUGE_1GB,
        }
    }

    fn sysfs_dir(self) -> String {
        sysfs_dir_of(self.bytes())
    }
}

/// What to do when no huge pages can be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Fail with [`DmaError::NoHugepages`] (hardware ports: a NIC must not DMA
    /// into swappable 4 KiB pages).
    Refuse,
    /// Use locked 4 KiB pages and print one warning per process (virtual ports,
    /// which never hand memory to a device).
    SmallPages,
}

/// Something that makes memory reachable by a device: an IOMMU container
/// (the VFIO layer implements this). A region allocated with a mapper is
/// mapped right after allocation and unmapped before it is freed, so a
/// device can never DMA into memory that went back to the kernel.
pub trait DmaMapper: Send + Sync {
    /// Maps `[va, va + len)` for device access and returns the IOVA the
    /// device must use for `va` (often `va` itself).
    fn map(&self, va: usize, len: usize) -> Result<u64, DmaError>;
    /// Undoes `map`.
    fn unmap(&self, iova: u64, len: usize);
}

/// How to allocate a [`DmaRegion`].
#[derive(Clone)]
pub struct DmaOptions {
    /// Huge page size to ask for.
    pub page_size: PageSize,
    /// Address mode the device uses.
    pub iova_mode: IovaMode,
    /// Behaviour when huge pages are missing.
    pub fallback: Fallback,
    /// IOMMU to map the region into (VA mode); `None` for virtual ports and
    /// for PA mode, where the device sees physical addresses.
    pub mapper: Option<Arc<dyn DmaMapper>>,
}

impl fmt::Debug for DmaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaOptions")
            .field("page_size", &self.page_size)
            .field("iova_mode", &self.iova_mode)
            .field("fallback", &self.fallback)
            .field("mapped", &self.mapper.is_some())
            .finish()
    }
}

impl Default for DmaOptions {
    fn default() -> Self {
        DmaOptions { page_size: PageSize::Huge2M, iova_mode: IovaMode::Va, fallback: Fallback::Refuse, mapper: None }
    }
}

/// Errors from allocating DMA memory. Each says what to run to fix it.
#[derive(Debug)]
pub enum DmaError {
    /// Too few free huge pages of the asked size.
    NoHugepages {
        /// The page size asked for, in bytes.
        page_size: usize,
        /// Pages this allocation needed.
        needed: usize,
        /// Pages of that size free when it failed.
        free: usize,
        /// Pages of that size reserved in all (free or in use).
        reserved: usize,
    },
    /// The locked mapping would pass the process's locked-memory limit
    /// (`RLIMIT_MEMLOCK`, `ulimit -l`; root and `CAP_IPC_LOCK` are exempt).
    /// Sizes in bytes; `limit` is `None` when unlimited or unreadable.
    LockedMemoryLimit {
        /// Bytes the mapping needed locked.
        needed: usize,
        /// The soft limit, if there is one and it could be read.
        limit: Option<u64>,
        /// Bytes the process had locked already (`VmLck`).
        locked: u64,
    },
    /// `mmap` failed for another reason.
    Map(io::Error),
    /// Physical addresses could not be read (PA mode).
    Pagemap(io::Error),
    /// pagemap answered zero: the process lacks `CAP_SYS_ADMIN`.
    PagemapDenied,
    /// PA mode on small pages cannot give DMA-safe buffers.
    PaNeedsHugepages,
    /// A zero-length region was asked for.
    Empty,
    /// The IOMMU mapping failed (the mapper says why and what to do).
    Mapper(String),
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DmaError::NoHugepages { page_size, needed, free, reserved } => {
                let kib = page_size / 1024;
                let want = reserved + needed.saturating_sub(*free);
                write!(
                    f,
                    "not enough {kib} kB hugepages: need {needed}, {free} free of {reserved} reserved; reserve \
                     {want} in all with `{}`",
                    reserve_command(*page_size, want)
                )?;
                if *page_size == HUGE_1G {
                    // The kernel rarely finds 1 GiB of contiguous memory
                    // once it has run for a while.
                    write!(f, " (1 GiB pages are best reserved at boot: `hugepagesz=1G hugepages={want}`)")?;
                }
                Ok(())
            }
            DmaError::LockedMemoryLimit { needed, limit, locked } => {
                let kib = |b: u64| b.div_ceil(1024);
                let limit = limit.map_or("unlimited".to_string(), |l| format!("{} KiB", kib(l)));
                write!(
                    f,
                    "the locked-memory limit is too small: this pool needs {} KiB of locked memory, and \
                     RLIMIT_MEMLOCK (`ulimit -l`) is {limit} with {} KiB already locked. Run as root (or give \
                     the program CAP_IPC_LOCK), raise the limit (`ulimit -l unlimited` in a root shell before \
                     dropping privileges, `memlock` in /etc/security/limits.conf, LimitMEMLOCK= for a systemd \
                     service), or ask for a smaller pool (testpmd: a smaller --total-num-mbufs)",
                    kib(*needed as u64),
                    kib(*locked)
                )
            }
            DmaError::Map(e) => write!(f, "mapping DMA memory failed: {e}"),
            DmaError::Pagemap(e) => write!(f, "reading /proc/self/pagemap failed: {e}"),
            DmaError::PagemapDenied => write!(
                f,
                "/proc/self/pagemap hides physical addresses from this process; IOVA mode 'pa' \
                 needs root (CAP_SYS_ADMIN), or use an IOMMU with --iova-mode va"
            ),
            DmaError::PaNeedsHugepages => write!(
                f,
                "IOVA mode 'pa' needs hugepages (4 KiB pages are not physically contiguous); \
                 reserve them with `echo 512 | sudo tee /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages`"
            ),
            DmaError::Empty => write!(f, "a DMA region cannot be empty"),
            DmaError::Mapper(s) => write!(f, "mapping DMA memory for the device failed: {s}"),
        }
    }
}

impl std::error::Error for DmaError {}

/// A pinned, populated, page-aligned memory region usable for DMA.
///
/// The region is unmapped on drop. Whoever maps it into an IOMMU must unmap
/// it from there first (the VFIO layer keeps that order).
pub struct DmaRegion {
    base: NonNull<u8>,
    len: usize,
    page_size: usize,
    huge: bool,
    iova_mode: IovaMode,
    /// Physical address of every page (PA mode only; empty otherwise).
    phys_pages: Vec<u64>,
    /// The IOMMU mapping, if any: (mapper, IOVA of the first byte).
    mapping: Option<(Arc<dyn DmaMapper>, u64)>,
}

// SAFETY: the region is plain memory owned by this value; moving the owner to
// another thread does not change who may access it.
unsafe impl Send for DmaRegion {}
// SAFETY: `&DmaRegion` only exposes addresses, never references into the
// memory, so sharing it between threads cannot create a data race by itself.
unsafe impl Sync for DmaRegion {}

static SMALL_PAGE_WARNING: AtomicBool = AtomicBool::new(false);

impl DmaRegion {
    /// Maps at least `len` bytes (rounded up to whole pages).
    pub fn allocate(len: usize, opts: &DmaOptions) -> Result<DmaRegion, DmaError> {
        if len == 0 {
            return Err(DmaError::Empty);
        }
        let page = opts.page_size.bytes();
        let len_huge = len.div_ceil(page) * page;
        let huge_flags = libc::MAP_HUGETLB | opts.page_size.mmap_flag();
        match map_anonymous(len_huge, huge_flags) {
            Ok(base) => {
                let mut region = DmaRegion {
                    base,
                    len: len_huge,
                    page_size: page,
                    huge: true,
                    iova_mode: opts.iova_mode,
                    phys_pages: Vec::new(),
                    mapping: None,
                };
                match (&opts.mapper, opts.iova_mode) {
                    (_, IovaMode::Pa) => region.phys_pages = read_phys_pages(base, len_huge, page)?,
                    (Some(mapper), IovaMode::Va) => {
                        let iova = mapper.map(base.as_ptr() as usize, len_huge)?;
                        region.mapping = Some((Arc::clone(mapper), iova));
                    }
                    (None, IovaMode::Va) => {}
                }
                Ok(region)
            }
            Err(e) if is_out_of_hugepages(&e) => {
                let needed = len_huge / page;
                if opts.fallback == Fallback::Refuse || opts.mapper.is_some() {
                    return Err(DmaError::NoHugepages {
                        page_size: page,
                        needed,
                        free: free_hugepages(opts.page_size),
                        reserved: reserved_hugepages(opts.page_size),
                    });
                }
                if opts.iova_mode == IovaMode::Pa {
                    return Err(DmaError::PaNeedsHugepages);
                }
                Self::allocate_small(len, opts.iova_mode, opts.page_size, needed)
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Err(locked_memory_limit(len_huge)),
            Err(e) => Err(DmaError::Map(e)),
        }
    }

    fn allocate_small(len: usize, iova_mode: IovaMode, asked: PageSize, needed: usize) -> Result<DmaRegion, DmaError> {
        if !SMALL_PAGE_WARNING.swap(true, Ordering::Relaxed) {
            let kib = asked.bytes() / 1024;
            let want = reserved_hugepages(asked) + needed.saturating_sub(free_hugepages(asked));
            log::warn!(
                "ferrite: warning: not enough free {kib} kB hugepages ({needed} needed); virtual ports \
                 fall back to 4 KiB pages, which costs throughput (TLB misses). Reserve hugepages \
                 with `{}`.",
                reserve_command(asked.bytes(), want)
            );
        }
        let len = len.div_ceil(SMALL_4K) * SMALL_4K;
        let base = map_anonymous(len, 0).map_err(DmaError::Map)?;
        Ok(DmaRegion { base, len, page_size: SMALL_4K, huge: false, iova_mode, phys_pages: Vec::new(), mapping: None })
    }

    /// First byte of the region.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Length in bytes (whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: regions are never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Size of the pages backing the region: no DMA buffer may cross a
    /// multiple of this in PA mode.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Whether the region sits on huge pages (false: the 4 KiB fallback).
    pub fn is_hugepage(&self) -> bool {
        self.huge
    }

    /// The address mode the region was allocated for.
    pub fn iova_mode(&self) -> IovaMode {
        self.iova_mode
    }

    /// The IOVA of the byte at `offset`.
    ///
    /// # Panics
    /// If `offset` is outside the region (a caller bug, never data-driven).
    pub fn iova(&self, offset: usize) -> u64 {
        assert!(offset < self.len, "offset {offset} outside DMA region of {} bytes", self.len);
        match self.iova_mode {
            IovaMode::Va => match &self.mapping {
                Some((_, iova)) => iova + offset as u64,
                None => self.base.as_ptr() as u64 + offset as u64,
            },
            IovaMode::Pa => {
                if self.phys_pages.is_empty() {
                    // Small pages in PA mode are refused at allocation.
                    unreachable!("PA region without a page table");
                }
                let page = offset / self.page_size;
                self.phys_pages[page] + (offset % self.page_size) as u64
            }
        }
    }

    /// Whether `[offset, offset + len)` lies inside one page.
    pub fn within_one_page(&self, offset: usize, len: usize) -> bool {
        len != 0 && offset / self.page_size == (offset + len - 1) / self.page_size
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        // The device loses access before the memory goes back to the kernel.
        if let Some((mapper, iova)) = self.mapping.take() {
            mapper.unmap(iova, self.len);
        }
        // SAFETY: base/len describe exactly the mapping made in `allocate`,
        // and no reference into it outlives the region (we hand out only raw
        // addresses, whose users are tied to the region's owner).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

impl fmt::Debug for DmaRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaRegion")
            .field("base", &self.base)
            .field("len", &self.len)
            .field("page_size", &self.page_size)
            .field("iova_mode", &self.iova_mode)
            .finish()
    }
}

fn map_anonymous(len: usize, extra_flags: libc::c_int) -> io::Result<NonNull<u8>> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE | libc::MAP_LOCKED | extra_flags;
    // SAFETY: an anonymous mapping at a kernel-chosen address touches no
    // existing memory; the result is checked before use.
    let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
    if ptr == libc::MAP_FAILED {
        let err = io::Error::last_os_error();
        // MAP_LOCKED can fail under a small RLIMIT_MEMLOCK for 4 KiB pages;
        // hugetlb pages are never swapped, and small pages serve only
        // virtual ports, so retry unlocked rather than fail.
        if extra_flags & libc::MAP_HUGETLB == 0 && err.raw_os_error() == Some(libc::EAGAIN) {
            // SAFETY: as above, a fresh anonymous mapping.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                    -1,
                    0,
                )
            };
            if ptr != libc::MAP_FAILED {
                return keep_from_children(ptr, len);
            }
        }
        return Err(err);
    }
    keep_from_children(ptr, len)
}

/// Keeps the fresh mapping `[ptr, ptr + len)` out of child processes
/// (`MADV_DONTFORK`), or unmaps it and fails.
///
/// Why: the region is private memory. A child forked while it exists would
/// share its pages copy-on-write, and the parent's next write to a page
/// would then move the parent to a new physical page. In IOVA mode 'pa' the
/// device keeps the physical address it was given and DMAs into the old
/// page, which the process no longer sees (packets lost, or written into
/// memory that may be someone else's once the child exits; seen on this
/// project's host, see the test `pa_region_keeps_its_physical_page_across_fork`).
/// Behind an IOMMU, VFIO's pin makes fork copy every pinned page for the
/// child instead, which costs a free hugepage per page or fails the fork.
/// No child needs DMA memory, so none gets it (rdma-core's `ibv_fork_init`
/// does the same for registered memory).
fn keep_from_children(ptr: *mut libc::c_void, len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: `ptr`/`len` describe a mapping this module just made and
    // nobody else knows of; madvise only changes how fork treats it.
    if unsafe { libc::madvise(ptr, len, libc::MADV_DONTFORK) } != 0 {
        let err = io::Error::last_os_error();
        // SAFETY: as above; the mapping is released and never handed out.
        unsafe { libc::munmap(ptr, len) };
        return Err(err);
    }
    Ok(NonNull::new(ptr.cast()).expect("mmap returned null"))
}

/// What a locked mapping of `needed` bytes ran into: `mmap` with
/// `MAP_LOCKED` answers EAGAIN exactly when the process's locked pages
/// plus the new ones would pass `RLIMIT_MEMLOCK` without `CAP_IPC_LOCK`
/// (a hugetlb mapping short of pages answers ENOMEM instead).
fn locked_memory_limit(needed: usize) -> DmaError {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the live `lim`.
    let limit =
        if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0 && lim.rlim_cur != libc::RLIM_INFINITY {
            Some(lim.rlim_cur)
        } else {
            None
        };
    DmaError::LockedMemoryLimit { needed, limit, locked: locked_now() }
}

/// Bytes this process has locked now (`VmLck` of /proc/self/status).
fn locked_now() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmLck:").map(|v| v.trim().trim_end_matches(" kB").to_string()))
        })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |k| k * 1024)
}

/// The sysfs directory of the hugepages of `bytes` each.
fn sysfs_dir_of(bytes: usize) -> String {
    format!("/sys/kernel/mm/hugepages/hugepages-{}kB", bytes / 1024)
}

/// The command that reserves `want` hugepages of `bytes` each in all.
fn reserve_command(bytes: usize, want: usize) -> String {
    format!("echo {want} | sudo tee {}/nr_hugepages", sysfs_dir_of(bytes))
}

fn is_out_of_hugepages(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOMEM) | Some(libc::EINVAL))
}

/// Free huge pages of `size` right now (0 if the size is unsupported).
pub fn free_hugepages(size: PageSize) -> usize {
    read_usize(&format!("{}/free_hugepages", size.sysfs_dir())).unwrap_or(0)
}

/// Huge pages of `size` reserved in total.
pub fn reserved_hugepages(size: PageSize) -> usize {
    read_usize(&format!("{}/nr_hugepages", size.sysfs_dir())).unwrap_or(0)
}

fn read_usize(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads the physical address of each page of the mapping from pagemap.
fn read_phys_pages(base: NonNull<u8>, len: usize, page: usize) -> Result<Vec<u64>, DmaError> {
    let file = File::open("/proc/self/pagemap").map_err(DmaError::Pagemap)?;
    let mut phys = Vec::with_capacity(len / page);
    for offset in (0..len).step_by(page) {
        let va = base.as_ptr() as usize + offset;
        phys.push(virt_to_phys(&file, va)?);
    }
    Ok(phys)
}

/// One pagemap entry: bit 63 "present", bits 0..55 the page frame number.
fn virt_to_phys(pagemap: &File, va: usize) -> Result<u64, DmaError> {
    const PRESENT: u64 = 1 << 63;
    const PFN_MASK: u64 = (1 << 55) - 1;
    let mut entry = [0u8; 8];
    let index = (va / SMALL_4K) as u64 * 8;
    pagemap.read_exact_at(&mut entry, index).map_err(DmaError::Pagemap)?;
    let entry = u64::from_ne_bytes(entry);
    let pfn = entry & PFN_MASK;
    if entry & PRESENT == 0 || pfn == 0 {
        return Err(DmaError::PagemapDenied);
    }
    Ok(pfn * SMALL_4K as u64 + (va % SMALL_4K) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_ok() -> DmaOptions {
        DmaOptions { fallback: Fallback::SmallPages, ..DmaOptions::default() }
    }

    #[test]
    fn va_mode_iova_equals_virtual_address() {
        let r = DmaRegion::allocate(10_000, &small_ok()).unwrap();
        assert!(r.len() >= 10_000);
        assert_eq!(r.len() % r.page_size(), 0);
        assert_eq!(r.iova(0), r.as_ptr() as u64);
        assert_eq!(r.iova(1234), r.as_ptr() as u64 + 1234);
    }

    #[test]
    fn region_is_writable_and_page_aligned() {
        let r = DmaRegion::allocate(3 * SMALL_4K, &small_ok()).unwrap();
        assert_eq!(r.as_ptr() as usize % r.page_size(), 0);
        // SAFETY: the region is ours, len bytes long, and nobody else maps it.
        let bytes = unsafe { std::slice::from_raw_parts_mut(r.as_ptr(), r.len()) };
        bytes.fill(0xa5);
        assert!(bytes.iter().all(|&b| b == 0xa5));
    }

    struct FakeIommu {
        log: std::sync::Mutex<Vec<String>>,
    }

    impl DmaMapper for FakeIommu {
        fn map(&self, va: usize, len: usize) -> Result<u64, DmaError> {
            self.log.lock().unwrap().push(format!("map {len}"));
            let _ = va;
            Ok(0x1000_0000)
        }
        fn unmap(&self, iova: u64, len: usize) {
            self.log.lock().unwrap().push(format!("unmap {iova:#x} {len}"));
        }
    }

    /// Options asking for more 1 GiB pages than are reserved, so the huge
    /// mmap fails on any machine (gigantic pages are never overcommitted)
    /// and nothing of that size is ever touched. Without CAP_IPC_LOCK the
    /// kernel refuses the locked mapping first (EAGAIN, RLIMIT_MEMLOCK), so
    /// the tests using this need root.
    #[test]
    fn the_locked_memory_refusal_says_the_limit_the_need_and_what_to_run() {
        let e = DmaError::LockedMemoryLimit { needed: 64 << 20, limit: Some(8 << 20), locked: 4096 }.to_string();
        for want in ["65536 KiB", "`ulimit -l`) is 8192 KiB", "4 KiB already locked", "root", "--total-num-mbufs"] {
            assert!(e.contains(want), "'{want}' missing from: {e}");
        }
        let e = DmaError::LockedMemoryLimit { needed: 1, limit: None, locked: 0 }.to_string();
        assert!(e.contains("is unlimited"), "{e}");
    }

    #[test]
    fn this_process_locked_memory_is_read() {
        // A locked 64 KiB mapping shows in VmLck (it fits any user's
        // limit). Other tests lock and unlock in parallel, so only a lower
        // bound holds: at least this mapping is locked while it exists.
        let len = 16 * SMALL_4K;
        let p = map_anonymous(len, 0).unwrap();
        let during = locked_now();
        // SAFETY: the mapping made just above, not used after this.
        unsafe { libc::munmap(p.as_ptr().cast(), len) };
        assert!(during >= len as u64, "VmLck {during} B while {len} B are locked");
    }

    fn unreservable_1g() -> (usize, DmaOptions) {
        let len = (reserved_hugepages(PageSize::Huge1G) + 1) * HUGE_1G;
        (len, DmaOptions { page_size: PageSize::Huge1G, ..DmaOptions::default() })
    }

    /// Unwraps a hugepage allocation; the error says how to reserve pages.
    fn huge(len: usize, opts: &DmaOptions) -> DmaRegion {
        DmaRegion::allocate(len, opts).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    #[ignore = "needs 1 free 2 MiB hugepage: run scripts/test as root (it reserves 64)"]
    fn mapper_sets_iova_and_unmaps_on_drop() {
        let iommu = Arc::new(FakeIommu { log: Default::default() });
        let opts = DmaOptions { mapper: Some(iommu.clone()), ..DmaOptions::default() };
        let r = huge(100, &opts);
        assert_eq!(r.iova(0x40), 0x1000_0040);
        drop(r);
        assert_eq!(*iommu.log.lock().unwrap(), vec![format!("map {HUGE_2M}"), format!("unmap 0x10000000 {HUGE_2M}")]);
    }

    #[test]
    #[ignore = "needs root (CAP_IPC_LOCK: a 1 GiB locked mapping exceeds a user's RLIMIT_MEMLOCK): run scripts/test as root"]
    fn mapped_regions_refuse_small_pages() {
        let iommu = Arc::new(FakeIommu { log: Default::default() });
        let (len, opts) = unreservable_1g();
        let opts = DmaOptions { fallback: Fallback::SmallPages, mapper: Some(iommu.clone()), ..opts };
        let r = DmaRegion::allocate(len, &opts);
        assert!(matches!(r, Err(DmaError::NoHugepages { .. })), "{r:?}");
        assert!(iommu.log.lock().unwrap().is_empty(), "nothing was mapped");
    }

    #[test]
    #[ignore = "needs root (CAP_IPC_LOCK: a 1 GiB locked mapping exceeds a user's RLIMIT_MEMLOCK): run scripts/test as root"]
    fn pa_mode_refuses_small_pages() {
        let (len, opts) = unreservable_1g();
        let opts = DmaOptions { fallback: Fallback::SmallPages, iova_mode: IovaMode::Pa, ..opts };
        let r = DmaRegion::allocate(len, &opts);
        assert!(matches!(r, Err(DmaError::PaNeedsHugepages)), "{r:?}");
    }

    #[test]
    fn empty_region_is_an_error() {
        assert!(matches!(DmaRegion::allocate(0, &small_ok()), Err(DmaError::Empty)));
    }

    #[test]
    fn page_boundary_check() {
        let r = DmaRegion::allocate(2 * SMALL_4K, &small_ok()).unwrap();
        let p = r.page_size();
        assert!(r.within_one_page(0, p));
        assert!(!r.within_one_page(p - 1, 2));
        assert!(!r.within_one_page(0, 0));
    }

    #[test]
    fn the_missing_hugepages_message_reserves_what_is_missing_of_the_size_asked() {
        let e = DmaError::NoHugepages { page_size: HUGE_2M, needed: 4, free: 2, reserved: 8 };
        let msg = e.to_string();
        assert!(msg.contains("echo 10 | sudo tee /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "{msg}");
        assert!(!msg.contains("scripts/"), "no path that exists only in ferrite's repository: {msg}");
        let e = DmaError::NoHugepages { page_size: HUGE_1G, needed: 1, free: 0, reserved: 0 };
        let msg = e.to_string();
        assert!(msg.contains("echo 1 | sudo tee /sys/kernel/mm/hugepages/hugepages-1048576kB/"), "{msg}");
        assert!(msg.contains("hugepagesz=1G hugepages=1"), "{msg}");
    }

    #[test]
    #[ignore = "needs root (CAP_IPC_LOCK: a 1 GiB locked mapping exceeds a user's RLIMIT_MEMLOCK): run scripts/test as root"]
    fn refuse_mode_explains_how_to_reserve() {
        let (len, opts) = unreservable_1g();
        let err = DmaRegion::allocate(len, &opts).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DmaError::NoHugepages { page_size: HUGE_1G, .. }), "{msg}");
        assert!(msg.contains("1048576 kB hugepages"), "{msg}");
        let want = reserved_hugepages(PageSize::Huge1G) + len.div_ceil(HUGE_1G) - free_hugepages(PageSize::Huge1G);
        let cmd = format!("echo {want} | sudo tee /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages");
        assert!(msg.contains(&cmd), "the command reserves pages of the size asked for: {msg}");
    }

    #[test]
    #[ignore = "needs 2 free 2 MiB hugepages: run scripts/test as root (it reserves 64)"]
    fn huge_pages_when_reserved() {
        let r = huge(HUGE_2M + 1, &DmaOptions::default());
        assert!(r.is_hugepage());
        assert_eq!(r.page_size(), HUGE_2M);
        assert_eq!(r.len(), 2 * HUGE_2M);
        assert_eq!(r.as_ptr() as usize % HUGE_2M, 0);
    }

    #[test]
    #[ignore = "needs root (CAP_SYS_ADMIN, to read physical addresses from /proc/self/pagemap) and 1 free \
                2 MiB hugepage: run scripts/test as root (it reserves 64)"]
    fn pa_mode_reads_physical_addresses() {
        let opts = DmaOptions { iova_mode: IovaMode::Pa, ..DmaOptions::default() };
        let r = huge(HUGE_2M, &opts);
        assert_ne!(r.iova(0), 0);
        assert_eq!(r.iova(0) % HUGE_2M as u64, 0, "huge pages are physically 2 MiB aligned");
        assert_eq!(r.iova(0x3005), r.iova(0) + 0x3005);
    }

    /// The physical address of the byte at `va`, read now.
    fn phys_now(va: *const u8) -> Result<u64, DmaError> {
        let pagemap = File::open("/proc/self/pagemap").map_err(DmaError::Pagemap)?;
        virt_to_phys(&pagemap, va as usize)
    }

    #[test]
    #[ignore = "needs root (CAP_SYS_ADMIN, to read physical addresses from /proc/self/pagemap) and 1 free \
                2 MiB hugepage: run scripts/test as root (it reserves 64)"]
    fn pa_region_keeps_its_physical_page_across_fork() {
        let opts = DmaOptions { iova_mode: IovaMode::Pa, ..DmaOptions::default() };
        let r = huge(HUGE_2M, &opts);
        // SAFETY: the region is ours and at least one byte long.
        unsafe { r.as_ptr().write_volatile(1) };
        let given_to_device = r.iova(0);
        assert_eq!(phys_now(r.as_ptr()).unwrap_or_else(|e| panic!("{e}")), given_to_device);
        // A child that lives while the parent writes: a region the child
        // shares copy-on-write would move the parent to a new physical page
        // on that write, and a device would go on using the old one.
        let mut pipe = [0 as libc::c_int; 2];
        // SAFETY: `pipe` is a live array of two ints, as pipe(2) wants.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        // SAFETY: the child only calls async-signal-safe functions (read,
        // _exit) before it ends, as a child of a multi-threaded process must.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed: {}", io::Error::last_os_error());
        if pid == 0 {
            let mut byte = 0u8;
            // SAFETY: closes the child's copy of the write end, then blocks
            // until the parent closes its own (EOF); `byte` is a live
            // one-byte buffer. Then the child ends without unwinding.
            unsafe {
                libc::close(pipe[1]);
                libc::read(pipe[0], (&mut byte as *mut u8).cast(), 1);
                libc::_exit(0);
            }
        }
        // SAFETY: as above, and the child is still alive (it waits on the pipe).
        unsafe { r.as_ptr().write_volatile(2) };
        let after_write = phys_now(r.as_ptr());
        // SAFETY: closing our pipe ends (the child then exits) and reaping
        // our own child.
        unsafe {
            libc::close(pipe[0]);
            libc::close(pipe[1]);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        let after_write = after_write.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after_write, given_to_device, "the region moved to another physical page after a fork");
    }
}

//! The process-wide VFIO container (`/dev/vfio/vfio`) and DMA mapping.
//!
//! There is exactly one container per process and every device's group is
//! attached to it. All groups of a container share one IOMMU address space,
//! so a buffer mapped once is reachable by every NIC (port 0 receives into
//! it, port 1 transmits from it). When a later group attaches, VFIO type1
//! replays the existing mappings into that group's IOMMU domain.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io;
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ferrite_hugepages::{DmaError, DmaMapper};
use vfio_bindings::bindings::vfio::{
    vfio_iommu_type1_dma_map, vfio_iommu_type1_dma_unmap, vfio_iommu_type1_info, VFIO_TYPE1v2_IOMMU, VFIO_API_VERSION,
    VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
    VFIO_NOIOMMU_IOMMU, VFIO_TYPE1_IOMMU,
};

use crate::error::VfioError;
use crate::group::Group;
use crate::ioctl::*;
use crate::sysfs::Paths;
use crate::IommuMode;

/// Alignment of IOVAs the allocator hands out (one 2 MiB huge page, so the
/// IOMMU can use large page-table entries).
pub(crate) const IOVA_ALIGN: u64 = 2 << 20;

#[derive(Default)]
struct State {
    /// Groups attached to the container, by number.
    groups: HashMap<u32, Weak<Group>>,
    /// Whether SET_IOMMU has been done (needs at least one group).
    iommu_set: bool,
    /// Valid IOVA ranges reported by the kernel (type1 only).
    ranges: Vec<RangeInclusive<u64>>,
    /// Live DMA mappings: IOVA -> (VA, length).
    mappings: BTreeMap<u64, (u64, u64)>,
}

/// The one VFIO container of this process. See the module docs.
pub struct Container {
    fd: OwnedFd,
    mode: IommuMode,
    /// `VFIO_TYPE1v2_IOMMU`, `VFIO_TYPE1_IOMMU` or `VFIO_NOIOMMU_IOMMU`.
    iommu_type: u32,
    state: Mutex<State>,
}

static GLOBAL: Mutex<Weak<Container>> = Mutex::new(Weak::new());

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container").field("mode", &self.mode).field("iommu_type", &self.iommu_type).finish()
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave `State` half-updated in a
    // way that matters more than losing the process, so ignore poisoning.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Container {
    /// The process-wide container, opened on first use: opens
    /// `/dev/vfio/vfio`, checks the API version and that the IOMMU backend
    /// `mode` needs is available. Later calls return the same container;
    /// asking for the other mode is [`VfioError::ModeMismatch`].
    pub fn global(mode: IommuMode) -> Result<Arc<Container>, VfioError> {
        Self::global_in(&Paths::default(), mode)
    }

    pub(crate) fn global_in(paths: &Paths, mode: IommuMode) -> Result<Arc<Container>, VfioError> {
        let mut global = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = global.upgrade() {
            if c.mode != mode {
                return Err(VfioError::ModeMismatch { have: c.mode, wanted: mode });
            }
            return Ok(c);
        }
        let c = Arc::new(Container::open(paths, mode)?);
        *global = Arc::downgrade(&c);
        Ok(c)
    }

    fn open(paths: &Paths, mode: IommuMode) -> Result<Container, VfioError> {
        let node = paths.container_node();
        let path = node.display().to_string();
        let file =
            OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(&node).map_err(|e| match e
                .raw_os_error()
            {
                Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => VfioError::NoVfio { path: path.clone() },
                Some(libc::EACCES) | Some(libc::EPERM) => VfioError::PermissionDenied { path: path.clone() },
                _ => VfioError::Io { what: format!("opening {path}"), source: e },
            })?;
        let fd = OwnedFd::from(file);
        // SAFETY: GET_API_VERSION takes no argument and only returns a value.
        let version = unsafe { libc::ioctl(fd.as_raw_fd(), VFIO_GET_API_VERSION) };
        if version < 0 {
            return Err(VfioError::ioctl("VFIO_GET_API_VERSION", path, io::Error::last_os_error()));
        }
        if version != VFIO_API_VERSION as i32 {
            return Err(VfioError::ApiVersion { got: version });
        }
        let has = |ext: u32| {
            // SAFETY: CHECK_EXTENSION takes an integer by value and returns
            // whether it is supported; no memory is passed.
            unsafe { libc::ioctl(fd.as_raw_fd(), VFIO_CHECK_EXTENSION, ext as libc::c_ulong) > 0 }
        };
        let iommu_type = match mode {
            IommuMode::Type1 if has(VFIO_TYPE1v2_IOMMU) => VFIO_TYPE1v2_IOMMU,
            IommuMode::Type1 if has(VFIO_TYPE1_IOMMU) => VFIO_TYPE1_IOMMU,
            IommuMode::NoIommu if has(VFIO_NOIOMMU_IOMMU) => VFIO_NOIOMMU_IOMMU,
            _ => return Err(VfioError::IommuUnsupported { mode }),
        };
        Ok(Container { fd, mode, iommu_type, state: Mutex::new(State::default()) })
    }

    /// The IOMMU mode the container was opened in.
    pub fn mode(&self) -> IommuMode {
        self.mode
    }

    /// The IOVA ranges the IOMMU accepts (from `VFIO_IOMMU_GET_INFO`'s
    /// IOVA-range capability). Empty before the first device is opened, in
    /// no-IOMMU mode, and on kernels that do not report ranges.
    pub fn iova_ranges(&self) -> Vec<RangeInclusive<u64>> {
        lock(&self.state).ranges.clone()
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Returns the group `number` of `addr`, opening it, attaching it and
    /// setting the IOMMU if this is the first group.
    pub(crate) fn attach_group(
        self: &Arc<Self>,
        paths: &Paths,
        addr: &str,
        number: u32,
    ) -> Result<Arc<Group>, VfioError> {
        let mut st = lock(&self.state);
        if let Some(g) = st.groups.get(&number).and_then(Weak::upgrade) {
            return Ok(g);
        }
        let group = Arc::new(Group::open(paths, self, addr, number)?);
        if !st.iommu_set {
            // SAFETY: SET_IOMMU takes the IOMMU type by value; the container
            // has a group (just attached), as the kernel requires.
            let ret = unsafe { libc::ioctl(self.fd.as_raw_fd(), VFIO_SET_IOMMU, self.iommu_type as libc::c_ulong) };
            if ret < 0 {
                let e = io::Error::last_os_error();
                drop(st);
                drop(group);
                if e.raw_os_error() == Some(libc::EPERM) && self.mode == IommuMode::Type1 {
                    return Err(VfioError::NoInterruptRemapping);
                }
                return Err(VfioError::ioctl("VFIO_SET_IOMMU", "/dev/vfio/vfio", e));
            }
            st.iommu_set = true;
            if self.mode == IommuMode::NoIommu {
                noiommu_warning();
            }
        }
        if self.mode == IommuMode::Type1 {
            // Every attached group can narrow the valid ranges; refresh.
            st.ranges = self.query_iova_ranges().unwrap_or_default();
        }
        st.groups.insert(number, Arc::downgrade(&group));
        Ok(group)
    }

    /// Called by a group's drop after its node was closed.
    pub(crate) fn group_closed(&self, number: u32) {
        let mut st = lock(&self.state);
        if st.groups.get(&number).is_some_and(|w| w.strong_count() == 0) {
            st.groups.remove(&number);
        }
        if st.groups.is_empty() {
            // The kernel drops the IOMMU (and every mapping) with the last group.
            st.iommu_set = false;
            st.ranges.clear();
            st.mappings.clear();
        }
    }

    fn query_iova_ranges(&self) -> io::Result<Vec<RangeInclusive<u64>>> {
        const BASE: usize = size_of::<vfio_iommu_type1_info>();
        let mut info = vfio_iommu_type1_info { argsz: BASE as u32, ..Default::default() };
        // SAFETY: GET_INFO writes at most `argsz` bytes into `info`, a live
        // struct of exactly that size.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), VFIO_IOMMU_GET_INFO, &mut info) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if info.flags & VFIO_IOMMU_INFO_CAPS == 0 || (info.argsz as usize) <= BASE {
            return Ok(Vec::new());
        }
        // Second call with room for the capability chain, 8-byte aligned.
        let want = info.argsz as usize;
        let mut buf = vec![0u64; want.div_ceil(8)];
        let head = vfio_iommu_type1_info { argsz: want as u32, ..Default::default() };
        // SAFETY: `buf` is at least `BASE` bytes and 8-byte aligned, as
        // `vfio_iommu_type1_info` requires; we write one struct into it.
        unsafe { std::ptr::write(buf.as_mut_ptr().cast::<vfio_iommu_type1_info>(), head) };
        // SAFETY: the kernel writes at most `argsz` = `want` bytes, and `buf`
        // holds at least that many.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), VFIO_IOMMU_GET_INFO, buf.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let cap_offset = u32::from_ne_bytes(bytes[16..20].try_into().unwrap_or_default());
        Ok(parse_iova_ranges(&bytes[..want.min(bytes.len())], cap_offset))
    }
}

/// Prints the no-IOMMU warning once per process.
fn noiommu_warning() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "\n*** ferrite: WARNING: VFIO NO-IOMMU MODE ***\n\
             *** Devices DMA to physical addresses with NO isolation: a buggy or malicious device or\n\
             *** driver can overwrite any memory of this machine. The kernel is now tainted.\n\
             *** Use this only for testing, only because --iova-mode pa was asked for.\n"
        );
    }
}

/// Walks a VFIO capability chain in `info` (the whole GET_INFO buffer)
/// starting at `cap_offset` and returns the IOVA ranges of the
/// `VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE` capability. Bad offsets end the
/// walk instead of panicking.
pub(crate) fn parse_iova_ranges(info: &[u8], mut cap_offset: u32) -> Vec<RangeInclusive<u64>> {
    let u16_at = |o: usize| info.get(o..o + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let u32_at = |o: usize| info.get(o..o + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |o: usize| info.get(o..o + 8).map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()));
    let mut out = Vec::new();
    let mut hops = 0;
    while cap_offset != 0 && hops < 64 {
        hops += 1;
        let o = cap_offset as usize;
        let (Some(id), Some(next)) = (u16_at(o), u32_at(o + 4)) else { break };
        if id as u32 == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE {
            // header (8) | nr_iovas u32 | reserved u32 | { start u64, end u64 } * nr
            let nr = u32_at(o + 8).unwrap_or(0) as usize;
            for i in 0..nr.min(4096) {
                let at = o + 16 + i * 16;
                match (u64_at(at), u64_at(at + 8)) {
                    (Some(s), Some(e)) if s <= e => out.push(s..=e),
                    (Some(_), Some(_)) => {}
                    _ => break,
                }
            }
        }
        if next as usize <= o {
            break; // the chain only moves forward
        }
        cap_offset = next;
    }
    out
}

fn align_up(x: u64, align: u64) -> Option<u64> {
    Some(x.checked_add(align - 1)? & !(align - 1))
}

/// Picks the IOVA for mapping `[va, va + len)`: `va` itself when it lies in
/// a valid range and overlaps no live mapping (the common case, which keeps
/// IOVA = VA), otherwise the lowest [`IOVA_ALIGN`]-aligned free window of a
/// valid range, never below `IOVA_ALIGN` (IOVA 0 means "no buffer" to many
/// NICs). `used` holds live mappings as `(iova, len)`. `None` if nothing fits.
///
/// This is why the fallback exists: an emulated VT-d may offer only 39 bits
/// of IOVA (QEMU's `intel-iommu` before `aw-bits=48`), while user-space
/// virtual addresses reach 47 bits.
pub(crate) fn pick_iova(va: u64, len: u64, ranges: &[RangeInclusive<u64>], used: &[(u64, u64)]) -> Option<u64> {
    if len == 0 {
        return None;
    }
    let overlapping = |start: u64, end: u64| {
        used.iter().filter(move |&&(s, l)| l > 0 && start <= s.saturating_add(l - 1) && s <= end).copied()
    };
    let in_range = |start: u64, end: u64| ranges.iter().any(|r| *r.start() <= start && end <= *r.end());
    if let Some(end) = va.checked_add(len - 1) {
        if in_range(va, end) && overlapping(va, end).next().is_none() {
            return Some(va);
        }
    }
    let mut sorted: Vec<&RangeInclusive<u64>> = ranges.iter().collect();
    sorted.sort_by_key(|r| *r.start());
    for r in sorted {
        let mut next = align_up((*r.start()).max(IOVA_ALIGN), IOVA_ALIGN);
        while let Some(cand) = next {
            match cand.checked_add(len - 1) {
                Some(end) if end <= *r.end() => {
                    // Skip past the highest mapping in the way, or take it.
                    match overlapping(cand, end).map(|(s, l)| s.saturating_add(l)).max() {
                        Some(past) => next = align_up(past, IOVA_ALIGN),
                        None => return Some(cand),
                    }
                }
                _ => break,
            }
        }
    }
    None
}

impl DmaMapper for Container {
    /// `VFIO_IOMMU_MAP_DMA` read+write. Returns `va` as the IOVA when the
    /// IOMMU accepts it, else an IOVA from `pick_iova`.
    fn map(&self, va: usize, len: usize) -> Result<u64, DmaError> {
        if self.mode == IommuMode::NoIommu {
            return Err(DmaError::Mapper(
                "VFIO is in no-IOMMU mode, so there is no IOMMU to map into: devices see physical addresses; \
                 allocate DMA memory with IOVA mode pa (`--iova-mode pa`) and without a mapper"
                    .into(),
            ));
        }
        let mut st = lock(&self.state);
        if !st.iommu_set {
            return Err(DmaError::Mapper(
                "the VFIO container has no IOMMU yet: open a device (VfioDevice::open) before mapping DMA memory"
                    .into(),
            ));
        }
        let (va, len) = (va as u64, len as u64);
        // Kernels without the IOVA-range capability accept any 64-bit IOVA
        // the IOMMU can address; try IOVA = VA and let MAP_DMA judge.
        let ranges = if st.ranges.is_empty() { vec![0..=u64::MAX] } else { st.ranges.clone() };
        let used: Vec<(u64, u64)> = st.mappings.iter().map(|(&iova, &(_, l))| (iova, l)).collect();
        let Some(iova) = pick_iova(va, len, &ranges, &used) else {
            return Err(DmaError::Mapper(format!(
                "no free IOVA window of {len:#x} bytes in the IOMMU's valid ranges {}: map less memory, or give \
                 the IOMMU more address bits (QEMU: `-device intel-iommu,aw-bits=48`)",
                fmt_ranges(&ranges)
            )));
        };
        let map = vfio_iommu_type1_dma_map {
            argsz: size_of::<vfio_iommu_type1_dma_map>() as u32,
            flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            vaddr: va,
            iova,
            size: len,
        };
        // SAFETY: MAP_DMA reads the struct (a live local of `argsz` bytes).
        // The kernel pins the pages of [va, va + len) itself and fails if they
        // are not mapped in this process; no Rust memory is aliased.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), VFIO_IOMMU_MAP_DMA, &map) } < 0 {
            let e = io::Error::last_os_error();
            let hint = match e.raw_os_error() {
                Some(libc::ENOMEM) => {
                    "the locked-memory limit is too small: run as root or raise it (`ulimit -l unlimited`)"
                }
                Some(libc::EEXIST) => "the IOVA overlaps an existing mapping (a driver bug)",
                Some(libc::EINVAL) => "the IOMMU rejected the IOVA or size (unaligned, or outside its ranges)",
                Some(libc::ENOSPC) => "the IOMMU's mapping limit is reached (`vfio_iommu_type1 dma_entry_limit`)",
                _ => "check `sudo dmesg | tail`",
            };
            return Err(DmaError::Mapper(format!(
                "VFIO_IOMMU_MAP_DMA of va {va:#x} len {len:#x} at iova {iova:#x} failed: {e}: {hint}"
            )));
        }
        st.mappings.insert(iova, (va, len));
        Ok(iova)
    }

    fn unmap(&self, iova: u64, len: usize) {
        let mut st = lock(&self.state);
        if st.mappings.remove(&iova).is_none() {
            return; // never mapped, or dropped with the last group
        }
        let unmap = vfio_iommu_type1_dma_unmap {
            argsz: size_of::<vfio_iommu_type1_dma_unmap>() as u32,
            iova,
            size: len as u64,
            ..Default::default()
        };
        // SAFETY: UNMAP_DMA reads and writes back (`size`) the struct, a live
        // local of `argsz` bytes.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), VFIO_IOMMU_UNMAP_DMA, &unmap) } < 0 {
            log::warn!(
                "ferrite: warning: VFIO_IOMMU_UNMAP_DMA iova {iova:#x} len {len:#x} failed: {}",
                io::Error::last_os_error()
            );
        }
    }
}

fn fmt_ranges(r: &[RangeInclusive<u64>]) -> String {
    let v: Vec<String> = r.iter().map(|r| format!("{:#x}-{:#x}", r.start(), r.end())).collect();
    format!("[{}]", v.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB2: u64 = 2 << 20;
    /// A 39-bit VT-d with the x86 MSI window carved out.
    fn ranges39() -> Vec<RangeInclusive<u64>> {
        vec![0..=0xfedf_ffff, 0xfef0_0000..=(1 << 39) - 1]
    }

    #[test]
    fn iova_is_va_when_it_fits() {
        let r = vec![0..=0xfedf_ffff, 0xfef0_0000..=(1 << 48) - 1];
        assert_eq!(pick_iova(0x7f12_3440_0000, MB2, &r, &[]), Some(0x7f12_3440_0000));
    }

    #[test]
    fn high_va_on_39_bit_iommu_gets_an_allocated_iova() {
        let va = 0x7f12_3440_0000;
        assert_eq!(pick_iova(va, MB2, &ranges39(), &[]), Some(MB2));
        assert_eq!(pick_iova(va, MB2, &ranges39(), &[(MB2, MB2)]), Some(2 * MB2));
        // Unaligned lengths still get aligned starts.
        assert_eq!(pick_iova(va, 4096, &ranges39(), &[(MB2, 4096)]), Some(2 * MB2));
        // A hole left by an unmap is reused.
        assert_eq!(pick_iova(va, MB2, &ranges39(), &[(MB2, MB2), (3 * MB2, MB2)]), Some(2 * MB2));
    }

    #[test]
    fn allocation_skips_reserved_windows_and_overlaps() {
        // Only a window above the MSI hole is free.
        let r = vec![0xfef0_0000..=0xffff_ffff];
        assert_eq!(pick_iova(1 << 46, MB2, &r, &[]), Some(0xff00_0000));
        // VA collides with a live mapping -> allocate elsewhere.
        let r = vec![0..=(1 << 48) - 1];
        let va = 0x4000_0000;
        assert_eq!(pick_iova(va, MB2, &r, &[(va, MB2)]), Some(MB2));
    }

    #[test]
    fn nothing_fits() {
        assert_eq!(pick_iova(1 << 46, 1 << 40, &ranges39(), &[]), None);
        assert_eq!(pick_iova(0, 0, &ranges39(), &[]), None);
        assert_eq!(pick_iova(u64::MAX - 10, MB2, &[0..=u64::MAX], &[]), Some(MB2));
        assert_eq!(pick_iova(5, MB2, &[], &[]), None);
        // A range whose aligned start overflows is skipped, not fatal.
        let r = vec![u64::MAX - 5..=u64::MAX, 0..=(1 << 30) - 1];
        assert_eq!(pick_iova(1 << 46, MB2, &r, &[]), Some(MB2));
    }

    fn cap_buf(ranges: &[(u64, u64)], next: u32) -> Vec<u8> {
        let mut b = vec![0u8; 24]; // vfio_iommu_type1_info
        b.extend_from_slice(&(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE as u16).to_ne_bytes());
        b.extend_from_slice(&1u16.to_ne_bytes());
        b.extend_from_slice(&next.to_ne_bytes());
        b.extend_from_slice(&(ranges.len() as u32).to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        for (s, e) in ranges {
            b.extend_from_slice(&s.to_ne_bytes());
            b.extend_from_slice(&e.to_ne_bytes());
        }
        b
    }

    #[test]
    fn cap_chain_parsing() {
        let b = cap_buf(&[(0, 0xfedf_ffff), (0xfef0_0000, 0xffff_ffff_ffff)], 0);
        assert_eq!(parse_iova_ranges(&b, 24), vec![0..=0xfedf_ffff, 0xfef0_0000..=0xffff_ffff_ffff]);
        // Truncated, looping or out-of-bounds chains end quietly.
        assert_eq!(parse_iova_ranges(&b[..40], 24), Vec::<RangeInclusive<u64>>::new());
        let looped = cap_buf(&[(0, 1)], 24);
        assert_eq!(parse_iova_ranges(&looped, 24), vec![0..=1]);
        assert!(parse_iova_ranges(&b, 4000).is_empty());
        assert!(parse_iova_ranges(&b, 0).is_empty());
    }
}

//! The packet buffer: Linux's `sk_buff`, DPDK's `rte_mbuf`.
//!
//! Each mbuf is a fixed slot carved from a pool's DMA region:
//!
//! ```text
//! | MbufHeader (64 B) | headroom (128 B) | data room (2048 B by default) |
//!                     ^ buffer start (buf_iova)
//! ```
//!
//! The header holds the metadata (lengths, port/queue, RSS hash, VLAN tag,
//! offload flags) and lives in the same memory as the data, so a burst of
//! mbufs is a burst of pointers and nothing is allocated per packet. An
//! [`Mbuf`] owns its slot; dropping it returns the slot to its pool, on
//! whichever core drops it.

use std::fmt;
use std::ptr::NonNull;

use super::mempool::PoolShared;

/// Bytes reserved in front of the data, for encapsulation (`prepend`).
pub const HEADROOM: usize = 128;

/// Offload and status flags carried by an mbuf (`ol_flags`).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadFlags(pub u64);

impl OffloadFlags {
    /// `rss_hash` holds the RSS hash the device computed.
    pub const RX_RSS_HASH: OffloadFlags = OffloadFlags(1 << 0);
    /// The VLAN tag was stripped into `vlan_tci`.
    pub const RX_VLAN_STRIPPED: OffloadFlags = OffloadFlags(1 << 1);
    /// The IPv4 header checksum was checked and is good.
    pub const RX_IP_CKSUM_GOOD: OffloadFlags = OffloadFlags(1 << 2);
    /// The IPv4 header checksum is bad.
    pub const RX_IP_CKSUM_BAD: OffloadFlags = OffloadFlags(1 << 3);
    /// The TCP/UDP (or SCTP) checksum was checked and is good. Neither
    /// this nor `RX_L4_CKSUM_BAD`: not checked (unknown protocol, fragment,
    /// offload off), as DPDK's `RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN`.
    pub const RX_L4_CKSUM_GOOD: OffloadFlags = OffloadFlags(1 << 4);
    /// The TCP/UDP (or SCTP) checksum is bad.
    pub const RX_L4_CKSUM_BAD: OffloadFlags = OffloadFlags(1 << 5);
    /// The frame carried a VLAN tag (stripped or not); `vlan_tci` holds it
    /// when `RX_VLAN_STRIPPED` is set too.
    pub const RX_VLAN: OffloadFlags = OffloadFlags(1 << 6);
    /// Both tags of a double-tagged frame were stripped: the outer into
    /// `vlan_tci_outer`, the inner into `vlan_tci`.
    pub const RX_QINQ_STRIPPED: OffloadFlags = OffloadFlags(1 << 7);

    /// Insert `vlan_tci` as a VLAN tag on transmit.
    pub const TX_VLAN_INSERT: OffloadFlags = OffloadFlags(1 << 32);
    /// Compute the IPv4 header checksum (needs `TX_IPV4`, `l2_len`, `l3_len`).
    pub const TX_IP_CKSUM: OffloadFlags = OffloadFlags(1 << 33);
    /// Compute the TCP checksum (needs `TX_IPV4` or `TX_IPV6`, `l2_len`,
    /// `l3_len`).
    pub const TX_TCP_CKSUM: OffloadFlags = OffloadFlags(1 << 34);
    /// Compute the UDP checksum (as `TX_TCP_CKSUM`).
    pub const TX_UDP_CKSUM: OffloadFlags = OffloadFlags(1 << 35);
    /// Compute the SCTP checksum (CRC32c; as `TX_TCP_CKSUM`).
    pub const TX_SCTP_CKSUM: OffloadFlags = OffloadFlags(1 << 36);
    /// Segment this TCP frame (TSO) into `tso_segsz`-byte payloads (needs
    /// `TX_TCP_CKSUM`'s lengths plus `l4_len`; implies the TCP checksum).
    pub const TX_TCP_SEG: OffloadFlags = OffloadFlags(1 << 37);
    /// The frame is IPv4 (for the checksum and TSO offloads).
    pub const TX_IPV4: OffloadFlags = OffloadFlags(1 << 38);
    /// The frame is IPv6 (for the checksum and TSO offloads).
    pub const TX_IPV6: OffloadFlags = OffloadFlags(1 << 39);
    /// Insert `vlan_tci_outer` as an outer (service) tag too (QinQ).
    pub const TX_QINQ_INSERT: OffloadFlags = OffloadFlags(1 << 40);

    /// Every transmit request bit: a driver with none of them set in a
    /// frame's flags takes its plain path.
    pub const TX_ANY: OffloadFlags = OffloadFlags(0x1ff << 32);

    /// Whether all bits of `other` are set.
    pub fn contains(self, other: OffloadFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub fn intersects(self, other: OffloadFlags) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for OffloadFlags {
    type Output = OffloadFlags;
    fn bitor(self, rhs: OffloadFlags) -> OffloadFlags {
        OffloadFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for OffloadFlags {
    fn bitor_assign(&mut self, rhs: OffloadFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for OffloadFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OffloadFlags({:#x})", self.0)
    }
}

/// The metadata at the start of every slot: two cache lines, like
/// `rte_mbuf`. The first holds what every received, sent or freed packet
/// touches; the second what only offload requests and applications read, so
/// the per-packet path stays on one line.
#[repr(C, align(64))]
pub struct MbufHeader {
    /// IOVA of the buffer start (headroom included).
    buf_iova: u64,
    /// The pool this slot belongs to.
    pub(super) pool: *const PoolShared,
    ol_flags: u64,
    /// The next segment of the packet, owned by this one; null on the last
    /// segment and on every slot in a pool's free store (the invariant that
    /// lets `from_raw` trust it).
    pub(super) next: *mut MbufHeader,
    rss_hash: u32,
    /// Bytes in the whole packet (all segments). Meaningful on the first
    /// segment only.
    pub(super) pkt_len: u32,
    /// Offset of the first data byte from the buffer start.
    data_off: u16,
    /// Bytes of data in this segment.
    pub(super) data_len: u16,
    /// Headroom + data room.
    buf_len: u16,
    port: u16,
    queue: u16,
    vlan_tci: u16,
    /// Segments in the packet. Meaningful on the first segment only.
    pub(super) nb_segs: u16,
    _hot_spare: [u8; 10],
    // -- second cache line: read only when asked for --
    tx: TxOffload,
    /// Outer VLAN tag of a double-tagged (QinQ) frame.
    vlan_tci_outer: u16,
    _cold_spare: [u8; 6],
    /// Free for applications (sequence numbers, timestamps).
    user: u64,
}

/// What a transmit offload needs to know about the headers
/// (`rte_mbuf`'s `l2_len`, `l3_len`, `l4_len`, `tso_segsz`). Set by the
/// application with the matching `TX_*` flags; drivers read it only then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TxOffload {
    /// Ethernet header bytes, VLAN tags included.
    pub l2_len: u8,
    /// TCP header bytes (with options), for TSO.
    pub l4_len: u8,
    /// IP header bytes (with options or extension headers).
    pub l3_len: u16,
    /// TCP payload bytes per segment, for TSO.
    pub tso_segsz: u16,
}

impl MbufHeader {
    /// Metadata of a fresh allocation: empty, full headroom, no flags, one
    /// segment. `next` is already null (the free-store invariant). The
    /// second cache line (`tx` lengths, `vlan_tci_outer`) is left as it was,
    /// so an allocation touches one line: those fields mean something only
    /// under a flag that says so (`TX_*`, `RX_QINQ_STRIPPED`), and no flag
    /// survives this reset.
    #[inline(always)]
    pub(super) fn reset(&mut self) {
        self.data_off = HEADROOM as u16;
        self.data_len = 0;
        self.pkt_len = 0;
        self.nb_segs = 1;
        self.ol_flags = 0;
        self.rss_hash = 0;
        self.vlan_tci = 0;
        self.port = u16::MAX;
        self.queue = u16::MAX;
    }
}

/// Size of the header in front of each buffer.
pub const HEADER_SIZE: usize = std::mem::size_of::<MbufHeader>();
const _: () = assert!(HEADER_SIZE == 128, "the mbuf header is two cache lines");
const _: () = assert!(std::mem::offset_of!(MbufHeader, tx) == 64, "the hot fields fit the first cache line");

impl MbufHeader {
    /// Initialises a fresh slot (pool creation only).
    pub(super) fn init(&mut self, pool: *const PoolShared, buf_iova: u64, buf_len: u16) {
        *self = MbufHeader {
            buf_iova,
            pool,
            ol_flags: 0,
            next: std::ptr::null_mut(),
            rss_hash: 0,
            pkt_len: 0,
            data_off: HEADROOM as u16,
            data_len: 0,
            buf_len,
            port: u16::MAX,
            queue: u16::MAX,
            vlan_tci: 0,
            nb_segs: 1,
            _hot_spare: [0; 10],
            tx: TxOffload::default(),
            vlan_tci_outer: 0,
            _cold_spare: [0; 6],
            user: 0,
        };
    }
}

/// An owned packet buffer. Dropping it returns it to its pool.
#[repr(transparent)]
pub struct Mbuf {
    hdr: NonNull<MbufHeader>,
}

// SAFETY: an Mbuf is the unique owner of its slot (like Box), and its pool
// accepts returns from any thread.
unsafe impl Send for Mbuf {}
// SAFETY: `&Mbuf` gives only shared reads of the slot.
unsafe impl Sync for Mbuf {}

impl Mbuf {
    /// Takes ownership of a slot.
    ///
    /// # Safety
    /// `hdr` must be a slot of a live pool that nobody else owns (it came
    /// from [`Mbuf::into_raw`] or from the pool's free store).
    #[inline(always)]
    pub unsafe fn from_raw(hdr: NonNull<MbufHeader>) -> Mbuf {
        Mbuf { hdr }
    }

    /// Gives up ownership without returning the slot to its pool (drivers
    /// park mbufs in descriptor rings this way).
    #[inline(always)]
    pub fn into_raw(self) -> NonNull<MbufHeader> {
        let hdr = self.hdr;
        std::mem::forget(self);
        hdr
    }

    /// Leaves the mbufs parked in `slots` (by [`Mbuf::into_raw`]) to a
    /// device that may still write them: each slot is emptied and its mbuf
    /// neither freed nor used again. Returns how many pool buffers that
    /// keeps out (every segment of a chain counts). For a driver whose
    /// device would not confirm a stop.
    ///
    /// # Safety
    /// Every `Some` slot must hold a pointer from [`Mbuf::into_raw`] that
    /// only this slot owns.
    #[cold]
    pub(crate) unsafe fn leak_parked(slots: &mut [Option<NonNull<MbufHeader>>]) -> u64 {
        slots
            .iter_mut()
            .filter_map(Option::take)
            .map(|raw| {
                // SAFETY: the caller vouches `raw` came from `into_raw` and
                // is owned by its slot only, which no longer holds it;
                // `into_raw` right after gives ownership up again, so
                // nothing is freed. The header is only read.
                let m = unsafe { Mbuf::from_raw(raw) };
                let segs = m.nb_segs() as u64;
                let _ = m.into_raw();
                segs
            })
            .sum()
    }

    #[inline(always)]
    pub(super) fn h(&self) -> &MbufHeader {
        // SAFETY: we own a live slot; the header is initialised at pool creation.
        unsafe { self.hdr.as_ref() }
    }

    #[inline(always)]
    pub(super) fn hm(&mut self) -> &mut MbufHeader {
        // SAFETY: as above, and `&mut self` makes the access unique.
        unsafe { self.hdr.as_mut() }
    }

    /// The slot pointer (the whole slot's provenance: header and buffer).
    #[inline(always)]
    pub(super) fn slot(&self) -> NonNull<MbufHeader> {
        self.hdr
    }

    #[inline(always)]
    fn buf_ptr(&self) -> *mut u8 {
        // SAFETY: the buffer follows the header inside the same slot.
        unsafe { self.hdr.as_ptr().cast::<u8>().add(HEADER_SIZE) }
    }

    /// Resets metadata as a fresh allocation has it (empty, full headroom,
    /// one segment): any further segments go back to their pools.
    #[inline(always)]
    pub fn reset(&mut self) {
        if !self.h().next.is_null() {
            self.free_tail();
        }
        self.hm().reset();
    }

    /// The slot's address (identity for the pool's free store).
    #[inline(always)]
    pub(super) fn addr(&self) -> usize {
        self.hdr.as_ptr() as usize
    }

    /// Bytes in the whole packet, all segments (`rte_pktmbuf_pkt_len`).
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.h().pkt_len as usize
    }

    /// Whether the packet has no data.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in the first segment (`rte_pktmbuf_data_len`): all of
    /// [`Mbuf::len`] unless the packet is chained.
    #[inline(always)]
    pub fn data_len(&self) -> usize {
        self.h().data_len as usize
    }

    /// The first segment's data: the whole packet unless it is chained (see
    /// [`Mbuf::segments`] and [`Mbuf::read`] for the rest).
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let h = self.h();
        // SAFETY: data_off + data_len <= buf_len is kept by every setter.
        unsafe { std::slice::from_raw_parts(self.buf_ptr().add(h.data_off as usize), h.data_len as usize) }
    }

    /// The first segment's data, writable.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (off, len) = (self.h().data_off as usize, self.h().data_len as usize);
        // SAFETY: as in `data`; `&mut self` makes the view unique.
        unsafe { std::slice::from_raw_parts_mut(self.buf_ptr().add(off), len) }
    }

    /// Bytes before the data (in the first segment, where `prepend` writes).
    #[inline(always)]
    pub fn headroom(&self) -> usize {
        self.h().data_off as usize
    }

    /// Bytes after the data (in the last segment, where `append` writes).
    #[inline(always)]
    pub fn tailroom(&self) -> usize {
        // SAFETY: the last segment is part of the chain we own.
        let h = unsafe { self.last_segment().as_ref() };
        h.buf_len as usize - h.data_off as usize - h.data_len as usize
    }

    /// Largest `len` that `set_len` accepts with the current headroom.
    #[inline(always)]
    pub fn capacity(&self) -> usize {
        let h = self.h();
        h.buf_len as usize - h.data_off as usize
    }

    /// Sets the length of a one-segment packet; returns false (and changes
    /// nothing) if it does not fit the buffer or the packet is chained (use
    /// `append`/`trim` there).
    #[inline(always)]
    pub fn set_len(&mut self, len: usize) -> bool {
        if len > self.capacity() || !self.h().next.is_null() {
            return false;
        }
        let h = self.hm();
        h.data_len = len as u16;
        h.pkt_len = len as u32;
        true
    }

    /// Places a one-segment packet of `len` bytes at `data_off` bytes into
    /// the buffer (for a driver whose device chose where the frame went,
    /// as AF_XDP's kernel does); false, changing nothing, if it does not
    /// fit or the packet is chained.
    #[inline(always)]
    pub fn set_data_window(&mut self, data_off: usize, len: usize) -> bool {
        let h = self.hm();
        if data_off + len > h.buf_len as usize || !h.next.is_null() {
            return false;
        }
        h.data_off = data_off as u16;
        h.data_len = len as u16;
        h.pkt_len = len as u32;
        true
    }

    /// Grows the data at the end of the last segment by `n` bytes and
    /// returns them (`rte_pktmbuf_append`).
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        self.hm().pkt_len += n as u32;
        // SAFETY: the last segment is ours and distinct from any borrow;
        // `tailroom` checked that `n` more bytes fit its buffer.
        unsafe {
            let last = self.last_segment();
            let old = (*last.as_ptr()).data_len as usize;
            (*last.as_ptr()).data_len += n as u16;
            Some(&mut segment_data_mut(last)[old..])
        }
    }

    /// Grows the data at the front by `n` bytes (into the headroom) and
    /// returns them.
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.headroom() {
            return None;
        }
        let h = self.hm();
        h.data_off -= n as u16;
        h.data_len += n as u16;
        h.pkt_len += n as u32;
        Some(&mut self.data_mut()[..n])
    }

    /// Removes `n` bytes from the front of the first segment
    /// (`rte_pktmbuf_adj`); false if the first segment has fewer.
    pub fn adj(&mut self, n: usize) -> bool {
        if n > self.data_len() {
            return false;
        }
        let h = self.hm();
        h.data_off += n as u16;
        h.data_len -= n as u16;
        h.pkt_len -= n as u32;
        true
    }

    /// Removes `n` bytes from the end of the last segment
    /// (`rte_pktmbuf_trim`); false if the last segment has fewer.
    pub fn trim(&mut self, n: usize) -> bool {
        // SAFETY: the last segment is ours (`&mut self`: no other view of
        // it is live), reached through slot pointers (see `last_segment`).
        let last = unsafe { &mut *self.last_segment().as_ptr() };
        if n > last.data_len as usize {
            return false;
        }
        last.data_len -= n as u16;
        self.hm().pkt_len -= n as u32;
        true
    }

    /// IOVA of the first data byte: what a device is given.
    #[inline(always)]
    pub fn data_iova(&self) -> u64 {
        self.h().buf_iova + self.h().data_off as u64
    }

    /// IOVA of the buffer start (headroom included).
    #[inline(always)]
    pub fn buf_iova(&self) -> u64 {
        self.h().buf_iova
    }

    /// Receiving (or destination) port; `u16::MAX` if unset.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.h().port
    }

    /// Sets the port.
    #[inline(always)]
    pub fn set_port(&mut self, port: u16) {
        self.hm().port = port;
    }

    /// Receiving queue; `u16::MAX` if unset.
    #[inline(always)]
    pub fn queue(&self) -> u16 {
        self.h().queue
    }

    /// Sets the queue.
    #[inline(always)]
    pub fn set_queue(&mut self, queue: u16) {
        self.hm().queue = queue;
    }

    /// RSS hash (valid when `RX_RSS_HASH` is set).
    #[inline(always)]
    pub fn rss_hash(&self) -> u32 {
        self.h().rss_hash
    }

    /// Sets the RSS hash and its flag.
    #[inline(always)]
    pub fn set_rss_hash(&mut self, hash: u32) {
        let h = self.hm();
        h.rss_hash = hash;
        h.ol_flags |= OffloadFlags::RX_RSS_HASH.0;
    }

    /// VLAN tag control information.
    #[inline(always)]
    pub fn vlan_tci(&self) -> u16 {
        self.h().vlan_tci
    }

    /// Sets the VLAN TCI.
    #[inline(always)]
    pub fn set_vlan_tci(&mut self, tci: u16) {
        self.hm().vlan_tci = tci;
    }

    /// Outer VLAN TCI of a double-tagged frame (`vlan_tci_outer`).
    #[inline(always)]
    pub fn vlan_tci_outer(&self) -> u16 {
        self.h().vlan_tci_outer
    }

    /// Sets the outer VLAN TCI.
    #[inline(always)]
    pub fn set_vlan_tci_outer(&mut self, tci: u16) {
        self.hm().vlan_tci_outer = tci;
    }

    /// Header lengths and MSS for transmit offloads.
    #[inline(always)]
    pub fn tx_offload(&self) -> TxOffload {
        self.h().tx
    }

    /// Sets the header lengths and MSS that the `TX_*` offload flags use.
    #[inline(always)]
    pub fn set_tx_offload(&mut self, tx: TxOffload) {
        self.hm().tx = tx;
    }

    /// Offload flags.
    #[inline(always)]
    pub fn ol_flags(&self) -> OffloadFlags {
        OffloadFlags(self.h().ol_flags)
    }

    /// Replaces the offload flags.
    #[inline(always)]
    pub fn set_ol_flags(&mut self, flags: OffloadFlags) {
        self.hm().ol_flags = flags.0;
    }

    /// Application scratch value.
    #[inline(always)]
    pub fn user(&self) -> u64 {
        self.h().user
    }

    /// Sets the application scratch value.
    #[inline(always)]
    pub fn set_user(&mut self, v: u64) {
        self.hm().user = v;
    }

    /// The pool this mbuf returns to (identity only, for grouping frees).
    #[inline(always)]
    pub(super) fn pool_ptr(&self) -> *const PoolShared {
        self.h().pool
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        if !self.h().next.is_null() {
            self.free_tail();
        }
        // SAFETY: a pool stays alive while any of its buffers is out (see
        // `PoolOwner`'s drop), and this slot goes back exactly once.
        unsafe { PoolShared::put_one(self.pool_ptr(), self.hdr) }
    }
}

/// The data of one segment, writable, for as long as the caller says.
///
/// Takes the slot pointer, not a reference to the header: the buffer lies
/// beyond the header, so the slice must be derived from a pointer that
/// covers the whole slot (the pool's, or a `next` link made from one), not
/// from a reference that covers only the header's 128 bytes.
///
/// # Safety
/// `seg` must be a live segment the caller owns for `'a`, with no other
/// view of its data during `'a`.
#[inline(always)]
pub(super) unsafe fn segment_data_mut<'a>(seg: NonNull<MbufHeader>) -> &'a mut [u8] {
    let p = seg.as_ptr();
    // SAFETY: the caller owns the live slot; reading two header fields
    // through the slot pointer; data_off + data_len <= buf_len is kept by
    // every setter, so the slice stays inside the slot's buffer.
    unsafe {
        let (off, len) = ((*p).data_off as usize, (*p).data_len as usize);
        std::slice::from_raw_parts_mut(p.cast::<u8>().add(HEADER_SIZE + off), len)
    }
}

/// The data of one segment, read-only, for as long as the caller says.
///
/// # Safety
/// `seg` must be a live segment the caller holds (shared) for `'a`, whose
/// data nobody writes during `'a`.
#[inline(always)]
pub(super) unsafe fn segment_data<'a>(seg: NonNull<MbufHeader>) -> &'a [u8] {
    let p = seg.as_ptr();
    // SAFETY: as in `segment_data_mut`, shared.
    unsafe {
        let (off, len) = ((*p).data_off as usize, (*p).data_len as usize);
        std::slice::from_raw_parts(p.cast::<u8>().add(HEADER_SIZE + off).cast_const(), len)
    }
}

/// IOVA of a segment's first data byte.
#[inline(always)]
pub(super) fn segment_iova(h: &MbufHeader) -> u64 {
    h.buf_iova + h.data_off as u64
}

impl fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("nb_segs", &self.h().nb_segs)
            .field("headroom", &self.headroom())
            .field("port", &self.port())
            .field("queue", &self.queue())
            .field("iova", &format_args!("{:#x}", self.data_iova()))
            .finish()
    }
}

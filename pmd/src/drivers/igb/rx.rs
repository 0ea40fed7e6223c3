//! The receive queue: a ring of advanced descriptors, each holding one
//! mbuf from the port's pool.
//!
//! Ring bookkeeping (n descriptors):
//!
//! ```text
//!   every slot holds an mbuf except the "holes" [refill, next)
//!   the device owns [RDH, RDT); RDT = next - 1 after each refill
//!   rx_burst reads from `next` while DD is set, leaving holes behind
//!   refill fills the holes in one bulk allocation and moves RDT once
//! ```
//!
//! Slot `next - 1` always holds a fresh buffer the device does not own yet,
//! which keeps "head == tail" meaning "empty" (the datasheet's rule).
//!
//! Scattered receive (the `scatter` offload): a frame longer than one
//! buffer fills consecutive descriptors, only the last with EOP, and the
//! device writes the frame's status, errors and RSS hash into that last one.
//! The queue links the buffers into one mbuf chain as they come
//! (`pending`), across `rx_burst` calls and the ring's wrap, and delivers it
//! at EOP. Without the offload the buffers are sized for a whole frame, and
//! a frame that spans descriptors anyway is dropped.
//!
//! # Receive offloads
//!
//! [`program_offloads`] sets the device-wide switches from the configured
//! offloads at open; per frame the queue only translates descriptor bits:
//!
//! * **checksums**: RXCSUM enables only the checks asked for, and a flag is
//!   set only where the descriptor says the device checked (IPCS for the
//!   IPv4 header, L4CS or UDPCS for TCP, UDP or SCTP): good unless IPE or
//!   L4E (TCPE) is set, else neither flag ("not checked"). This is DPDK's
//!   behaviour (its igb programs RXCSUM from the offloads and reports what
//!   the descriptor says); TCP and UDP share RXCSUM.TUOFLD, so asking for
//!   either reports both. SCTP (CRC32c) is reported through L4CS/L4E too:
//!   the 82576 checks it with RXCSUM.CRCOFL, QEMU whenever TUOFLD is set.
//!   The 82576 may set L4E wrongly on 60-byte SCTP frames (an erratum Linux
//!   works around); such a frame reads "not checked" instead of bad.
//! * **VLAN strip** (`vlan_strip`, CTRL.VME): the device removes the tag,
//!   writes its TCI into the descriptor's VLAN field and sets VP; the frame
//!   gets `RX_VLAN | RX_VLAN_STRIPPED` and `vlan_tci`. Without strip a
//!   tagged frame keeps its tag; a descriptor with VP then gives `RX_VLAN`
//!   alone (a real 82576 may report VP without stripping; QEMU sets VP
//!   only when it stripped).
//! * **double VLAN** (`vlan_extend`, CTRL_EXT.EXT_VLAN): a frame counts as
//!   VLAN-tagged only with an outer tag of ethertype VET_EXT followed by an
//!   inner one of VET (both 0x8100 after reset; `vlan_tpid_set` changes
//!   them, e.g. 0x88a8 outer for 802.1ad). Strip and the VLAN filter then act on the *inner* tag, which becomes `vlan_tci`;
//!   the outer tag stays in the frame. The 82576 and QEMU (since its
//!   "strip the second VLAN tag for extended VLAN" change) agree, and so
//!   does DPDK's igb. Stripping both tags (`qinq_strip`, `RX_QINQ_STRIPPED`)
//!   is beyond the 82576, so it is not offered.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use super::desc::{DescRing, RXD_ERR_FRAME, RXD_ERR_IPE, RXD_ERR_TCPE, RXD_STAT_DD, RXD_STAT_EOP};
use super::desc::{RXD_STAT_IPCS, RXD_STAT_L4CS, RXD_STAT_UDPCS, RXD_STAT_VP};
use super::link::RxIrq;
use super::mac::Hw;
use super::regs::{rdt, rxdctl, EICR, EIMC, EIMS, RXD_PKTTYPE_SCTP};
use super::regs::{CTRL, CTRL_EXT, CTRL_EXT_EXT_VLAN, CTRL_VME, RXCSUM, RXCSUM_CRCOFL, RXCSUM_IPOFLD, RXCSUM_TUOFLD};
use crate::mem::{Mbuf, MbufBatch, MbufHeader, Mempool, OffloadFlags, MAX_BURST};
use crate::port::{Counter, QueueCounters, RxOffloads, RxQueue};

/// Refill once this many descriptors are empty (capped by ring size / 4).
const REFILL_THRESH: u16 = 32;

/// Length (CRC stripped) of the SCTP frames whose L4E the 82576 may set
/// wrongly (Linux `igb_rx_checksum`).
const SCTP_L4E_ERRATUM_LEN: usize = 60;

/// RXCSUM's check enables for the configured offloads: the device checks,
/// and reports, only what was asked for (DPDK's igb does the same).
pub fn rxcsum_bits(rx: RxOffloads) -> u32 {
    let mut bits = 0;
    if rx.contains(RxOffloads::IPV4_CKSUM) {
        bits |= RXCSUM_IPOFLD;
    }
    // QEMU checks SCTP under TUOFLD (it ignores CRCOFL), the 82576 under
    // CRCOFL: SCTP asks for both.
    if rx.intersects(RxOffloads::TCP_CKSUM | RxOffloads::UDP_CKSUM | RxOffloads::SCTP_CKSUM) {
        bits |= RXCSUM_TUOFLD;
    }
    if rx.contains(RxOffloads::SCTP_CKSUM) {
        bits |= RXCSUM_CRCOFL;
    }
    bits
}

/// Sets the device-wide receive offload switches at open: VLAN strip
/// (CTRL.VME, which governs outside VMDq mode; VMOLR.STRVLAN would inside),
/// double VLAN (CTRL_EXT.EXT_VLAN) and the checksum checks (RXCSUM, leaving
/// its other bits, PCSD included, to `rss::program`). The VLAN filter enable
/// is RCTL.VFE, in the port's RCTL value.
pub fn program_offloads(hw: &Hw, rx: RxOffloads) {
    let switch = |reg: u32, bit: u32, on: bool| {
        if on {
            hw.set_bits(reg, bit);
        } else {
            hw.clear_bits(reg, bit);
        }
    };
    switch(CTRL, CTRL_VME, rx.contains(RxOffloads::VLAN_STRIP));
    switch(CTRL_EXT, CTRL_EXT_EXT_VLAN, rx.contains(RxOffloads::VLAN_EXTEND));
    let keep = hw.read(RXCSUM) & !(RXCSUM_IPOFLD | RXCSUM_TUOFLD | RXCSUM_CRCOFL);
    hw.write(RXCSUM, keep | rxcsum_bits(rx));
}

/// Checksum flags from a written-back status word: a result only where the
/// device says it checked, good unless the matching error bit is set.
#[inline(always)]
pub fn cksum_flags(status: u32) -> OffloadFlags {
    let mut flags = OffloadFlags::default();
    if status & RXD_STAT_IPCS != 0 {
        flags |= if status & RXD_ERR_IPE != 0 { OffloadFlags::RX_IP_CKSUM_BAD } else { OffloadFlags::RX_IP_CKSUM_GOOD };
    }
    // UDP sets UDPCS (QEMU sets L4CS with it; Linux accepts either).
    if status & (RXD_STAT_L4CS | RXD_STAT_UDPCS) != 0 {
        flags |=
            if status & RXD_ERR_TCPE != 0 { OffloadFlags::RX_L4_CKSUM_BAD } else { OffloadFlags::RX_L4_CKSUM_GOOD };
    }
    flags
}

/// One receive queue of an igb port.
pub struct IgbRxQueue {
    hw: Arc<Hw>,
    qid: u16,
    ring: DescRing,
    /// The mbuf parked in each slot (None for holes).
    bufs: Box<[Option<NonNull<MbufHeader>>]>,
    /// Next descriptor to look at.
    next: u16,
    /// First hole to refill.
    refill: u16,
    /// Number of holes.
    holes: u16,
    refill_thresh: u16,
    /// Bytes each buffer holds (SRRCTL.BSIZEPKT in bytes).
    buf_size: u16,
    /// Frames longer than one buffer are received as chains.
    scatter: bool,
    /// The `vlan_strip` offload: the descriptor's VLAN field holds the tag.
    strip_vlan: bool,
    /// Flags a frame whose descriptor has VP gets: `RX_VLAN`, and
    /// `RX_VLAN_STRIPPED` with strip.
    vlan_flags: OffloadFlags,
    /// Scatter only: the frame under assembly (its first segment owns the
    /// rest), until its EOP descriptor arrives.
    pending: Option<Mbuf>,
    /// Inside a frame being dropped, up to its EOP. Without scatter: a frame
    /// that spans descriptors (buffers are sized for a whole frame, so only
    /// on misconfiguration), counted at its EOP. With scatter: a frame
    /// already counted as dropped (error or over the MTU).
    discarding: bool,
    pool: Mempool,
    staging: Box<MbufBatch>,
    counters: Arc<QueueCounters>,
    alloc_failed: Arc<Counter>,
    /// Frames the device found a bad IP or L4 checksum in (`csum_err`).
    csum_err: Arc<Counter>,
    /// Frames over the MTU, dropped here.
    oversize: Arc<Counter>,
    /// Buffers left to a device that would not stop (see `Drop`).
    abandoned: Arc<Counter>,
    /// Longest frame accepted (MTU + Ethernet header), set by the port.
    max_len: Arc<AtomicU32>,
    /// Cleared by the port's stop: the queue then never touches the device.
    live: Arc<AtomicBool>,
    /// The queue's MSI-X vector, when the port has interrupts.
    irq: Option<RxIrq>,
}

// SAFETY: the parked mbuf pointers are owned by this queue (like a
// Vec<Mbuf>), and everything else is Send.
unsafe impl Send for IgbRxQueue {}

/// What the port hands to a new queue.
pub(crate) struct RxSetup {
    pub hw: Arc<Hw>,
    pub qid: u16,
    pub ring: DescRing,
    pub buf_size: u16,
    /// The `scatter` receive offload was asked for.
    pub scatter: bool,
    /// The port's receive offloads (VLAN strip decides the VLAN flags).
    pub offloads: RxOffloads,
    pub pool: Mempool,
    pub counters: Arc<QueueCounters>,
    pub alloc_failed: Arc<Counter>,
    pub csum_err: Arc<Counter>,
    pub oversize: Arc<Counter>,
    pub abandoned: Arc<Counter>,
    pub max_len: Arc<AtomicU32>,
    pub live: Arc<AtomicBool>,
    pub irq: Option<RxIrq>,
}

impl IgbRxQueue {
    /// A queue whose every descriptor holds a fresh buffer; the device is
    /// told nothing yet (the port programs the registers).
    pub(crate) fn new(s: RxSetup) -> Result<IgbRxQueue, crate::port::PortError> {
        let n = s.ring.count();
        let strip_vlan = s.offloads.contains(RxOffloads::VLAN_STRIP);
        let vlan_flags =
            if strip_vlan { OffloadFlags::RX_VLAN | OffloadFlags::RX_VLAN_STRIPPED } else { OffloadFlags::RX_VLAN };
        let mut q = IgbRxQueue {
            hw: s.hw,
            qid: s.qid,
            ring: s.ring,
            bufs: vec![None; n as usize].into_boxed_slice(),
            next: 0,
            refill: 0,
            holes: n,
            refill_thresh: REFILL_THRESH.min(n / 4).max(1),
            buf_size: s.buf_size,
            scatter: s.scatter,
            strip_vlan,
            vlan_flags,
            pending: None,
            discarding: false,
            pool: s.pool,
            staging: Box::new(MbufBatch::new()),
            counters: s.counters,
            alloc_failed: s.alloc_failed,
            csum_err: s.csum_err,
            oversize: s.oversize,
            abandoned: s.abandoned,
            max_len: s.max_len,
            live: s.live,
            irq: s.irq,
        };
        q.fill_holes();
        if q.holes != 0 {
            return Err(crate::port::PortError::NoMemory(format!(
                "mempool '{}' has too few free buffers to fill a {n}-descriptor receive ring \
                 ({} free); make the pool bigger (testpmd --total-num-mbufs)",
                q.pool.name(),
                q.pool.available()
            )));
        }
        Ok(q)
    }

    /// The tail value that hands the device every filled slot.
    pub fn initial_tail(&self) -> u32 {
        (self.ring.count() - 1) as u32
    }

    /// Fills holes from `refill` on, in bulk; returns how many were filled.
    fn fill_holes(&mut self) -> u16 {
        let n = self.ring.count();
        let mut filled = 0u16;
        while self.holes > 0 {
            let want = (self.holes as usize).min(MAX_BURST);
            let got = self.pool.alloc_up_to(&mut self.staging, want);
            for m in self.staging.drain_front(got) {
                let slot = self.refill;
                self.ring.rx_arm(slot, m.data_iova());
                self.bufs[slot as usize] = Some(m.into_raw());
                self.refill = if slot + 1 == n { 0 } else { slot + 1 };
            }
            self.holes -= got as u16;
            filled += got as u16;
            if got < want {
                self.alloc_failed.add(1);
                break;
            }
        }
        filled
    }

    /// Frees one parked mbuf.
    #[inline]
    fn drop_slot(raw: NonNull<MbufHeader>) {
        // SAFETY: the pointer came from `Mbuf::into_raw` and was parked in
        // exactly one slot, which the caller just emptied.
        drop(unsafe { Mbuf::from_raw(raw) });
    }
}

/// What one `rx_burst` saw, added to the counters once at its end.
#[derive(Default)]
struct Tally {
    got: usize,
    bytes: u64,
    dropped: u64,
    errors: u64,
    oversize: u64,
}

impl Tally {
    /// One frame dropped: a drop and an error, plus an over-MTU drop.
    #[inline(always)]
    fn drop_frame(&mut self, why: Refused) {
        self.dropped += 1;
        self.errors += 1;
        if why == Refused::Oversize {
            self.oversize += 1;
        }
    }
}

/// Why a frame is dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// A receive error, a length the device cannot have written, or a
    /// chain the mbuf cannot hold.
    Error,
    /// Longer than the MTU allows.
    Oversize,
}

/// A descriptor the device wrote back, and the buffer it filled (ours now).
struct Done {
    slot: u16,
    status: u32,
    len: u16,
    buf: Mbuf,
}

impl IgbRxQueue {
    /// Takes the next written-back descriptor and its buffer, leaving a
    /// hole; `None` if the device has not written it yet, or (a device
    /// error, counted) wrote back a slot we never armed: we stop there
    /// rather than walk into slots we do not own.
    #[inline(always)]
    fn take_done(&mut self, t: &mut Tally) -> Option<Done> {
        let i = self.next;
        let status = self.ring.rx_status(i);
        if status & RXD_STAT_DD == 0 {
            return None;
        }
        DescRing::after_dd();
        let len = self.ring.rx_length(i);
        let Some(raw) = self.bufs[i as usize].take() else {
            t.errors += 1;
            return None;
        };
        self.next = if i + 1 == self.ring.count() { 0 } else { i + 1 };
        self.holes += 1;
        // SAFETY: see `drop_slot`; the slot was just emptied, so ownership
        // moves here.
        let buf = unsafe { Mbuf::from_raw(raw) };
        Some(Done { slot: i, status, len, buf })
    }

    /// Without scatter: every frame must fit one buffer.
    #[inline(always)]
    fn receive_single(&mut self, batch: &mut MbufBatch, max: usize, max_len: u32, t: &mut Tally) {
        while t.got < max {
            let Some(Done { slot, status, len, buf }) = self.take_done(t) else { break };
            if status & RXD_STAT_EOP == 0 {
                // Part of a frame larger than one buffer: drop all of it.
                self.discarding = true;
                drop(buf);
                continue;
            }
            if self.discarding || status & RXD_ERR_FRAME != 0 || len == 0 || len > self.buf_size {
                self.discarding = false;
                drop(buf);
                t.drop_frame(Refused::Error);
                continue;
            }
            if len as u32 > max_len {
                // Longer than the MTU allows (RLPML only bounds the buffer).
                drop(buf);
                t.drop_frame(Refused::Oversize);
                continue;
            }
            let mut m = buf;
            if !m.set_len(len as usize) {
                drop(m);
                t.drop_frame(Refused::Error);
                continue;
            }
            self.set_metadata(&mut m, slot, status);
            t.bytes += len as u64;
            t.got += 1;
            // Room was checked: `max` never exceeds the batch's room.
            let _ = batch.push(m);
        }
    }

    /// With scatter: buffers are linked into the frame under assembly until
    /// its EOP descriptor, which completes it.
    fn receive_chains(&mut self, batch: &mut MbufBatch, max: usize, max_len: u32, t: &mut Tally) {
        while t.got < max {
            let Some(Done { slot, status, len, buf }) = self.take_done(t) else { break };
            let eop = status & RXD_STAT_EOP != 0;
            if self.discarding {
                // The rest of a frame already dropped and counted.
                drop(buf);
                self.discarding = !eop;
                continue;
            }
            if let Err(why) = self.add_segment(buf, status, len, eop, max_len) {
                // The whole frame goes: every buffer so far back to the pool,
                // the rest as it arrives; counted once, here.
                self.pending = None;
                t.drop_frame(why);
                self.discarding = !eop;
                continue;
            }
            if !eop {
                continue;
            }
            // `add_segment` succeeded, so a frame is under way.
            let Some(mut m) = self.pending.take() else { continue };
            // The device writes status, errors and hash into the last one.
            self.set_metadata(&mut m, slot, status);
            t.bytes += m.len() as u64;
            t.got += 1;
            // Room was checked: `max` never exceeds the batch's room.
            let _ = batch.push(m);
        }
    }

    /// Appends one filled buffer to the frame under assembly (or starts
    /// one). On error the buffer is freed; the caller drops the rest.
    #[inline(always)]
    fn add_segment(&mut self, mut seg: Mbuf, status: u32, len: u16, eop: bool, max_len: u32) -> Result<(), Refused> {
        if status & RXD_ERR_FRAME != 0 || len > self.buf_size {
            return Err(Refused::Error);
        }
        if len == 0 {
            // An empty last buffer adds nothing to a frame under way (the
            // CRC alone would land there if it were not stripped); any
            // other empty buffer is a device error.
            return if eop && self.pending.is_some() { Ok(()) } else { Err(Refused::Error) };
        }
        let so_far = self.pending.as_ref().map_or(0, Mbuf::len);
        if so_far + len as usize > max_len as usize {
            // Checked as the frame grows, so a runaway frame (no EOP in
            // sight) never holds more than an MTU's worth of buffers.
            return Err(Refused::Oversize);
        }
        if !seg.set_len(len as usize) {
            return Err(Refused::Error);
        }
        match &mut self.pending {
            None => self.pending = Some(seg),
            Some(head) => head.chain(seg).map_err(|_| Refused::Error)?,
        }
        Ok(())
    }

    /// Queue, checksum and VLAN flags, VLAN tag and RSS hash from
    /// written-back descriptor `i` (descriptor reads only: no allocation).
    #[inline(always)]
    fn set_metadata(&self, m: &mut Mbuf, i: u16, status: u32) {
        m.set_queue(self.qid);
        let mut flags = cksum_flags(status);
        if flags.contains(OffloadFlags::RX_L4_CKSUM_BAD) && self.sctp_l4e_erratum(i, m.len()) {
            flags = OffloadFlags(flags.0 & !OffloadFlags::RX_L4_CKSUM_BAD.0);
        }
        if flags.intersects(OffloadFlags::RX_IP_CKSUM_BAD | OffloadFlags::RX_L4_CKSUM_BAD) {
            // Linux igb's per-queue csum_err: the frame is still delivered,
            // flagged; only the rare bad frame pays for the count.
            self.csum_err.add(1);
        }
        if status & RXD_STAT_VP != 0 {
            flags |= self.vlan_flags;
            if self.strip_vlan {
                m.set_vlan_tci(self.ring.rx_vlan(i));
            }
        }
        m.set_ol_flags(flags);
        if self.ring.rx_rss_type(i) != 0 {
            m.set_rss_hash(self.ring.rx_rss(i));
        }
    }

    /// Whether an L4 error may be the 82576's SCTP erratum: a 60-byte SCTP
    /// frame. Its checksum then counts as not checked (Linux leaves such a
    /// frame to the stack to verify).
    #[cold]
    #[inline(never)]
    fn sctp_l4e_erratum(&self, i: u16, len: usize) -> bool {
        len == SCTP_L4E_ERRATUM_LEN && self.ring.rx_pkt_info(i) & RXD_PKTTYPE_SCTP != 0
    }

    /// Re-arms the holes once there are enough of them, and tells the device.
    #[inline(always)]
    fn refill(&mut self) {
        if self.holes >= self.refill_thresh && self.fill_holes() > 0 {
            DescRing::before_doorbell();
            // The last filled slot becomes the tail (the device owns up to
            // the one before it). With no holes left, refill == next.
            let tail = if self.refill == 0 { self.ring.count() - 1 } else { self.refill - 1 };
            self.hw.write(rdt(self.qid as u32), tail as u32);
        }
    }

    /// Adds a burst's tally to the counters.
    #[inline(always)]
    fn count(&self, t: &Tally) {
        if t.got > 0 {
            self.counters.add(t.got as u64, t.bytes);
        }
        if t.dropped > 0 {
            self.counters.add_drops(t.dropped);
        }
        if t.errors > 0 {
            self.counters.add_errors(t.errors);
        }
        if t.oversize > 0 {
            self.oversize.add(t.oversize);
        }
    }
}

impl RxQueue for IgbRxQueue {
    fn rx_burst(&mut self, batch: &mut MbufBatch, budget: usize) -> usize {
        if !self.live.load(Ordering::Relaxed) {
            return 0;
        }
        // Frames, not descriptors: a chain takes one place in the batch.
        let max = budget.min(batch.room());
        let max_len = self.max_len.load(Ordering::Relaxed);
        let mut t = Tally::default();
        if self.scatter {
            self.receive_chains(batch, max, max_len, &mut t);
        } else {
            self.receive_single(batch, max, max_len, &mut t);
        }
        self.refill();
        self.count(&t);
        t.got
    }

    fn queue_id(&self) -> u16 {
        self.qid
    }

    /// Clears the vector's stale cause (set by every frame received while
    /// masked), unmasks it, then signals the eventfd itself if a frame is
    /// already waiting, so arming never misses one.
    fn enable_interrupt(&mut self) -> Result<(), crate::port::PortError> {
        let Some(irq) = &self.irq else { return Err(crate::port::PortError::NotSupported("rx interrupts (no MSI-X)")) };
        if !self.live.load(Ordering::Relaxed) {
            return Err(crate::port::PortError::InvalidState("the port was stopped".into()));
        }
        self.hw.write(EICR, irq.bit);
        self.hw.write(EIMS, irq.bit);
        if self.ring.rx_status(self.next) & RXD_STAT_DD != 0 {
            let _ = irq.efd.write(1);
        }
        Ok(())
    }

    fn disable_interrupt(&mut self) {
        if let Some(irq) = &self.irq {
            if self.live.load(Ordering::Relaxed) {
                self.hw.write(EIMC, irq.bit);
            }
            let _ = irq.efd.read();
        }
    }

    fn interrupt_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.irq.as_ref().map(|i| i.efd.as_raw_fd())
    }
}

impl Drop for IgbRxQueue {
    fn drop(&mut self) {
        // A frame under assembly was written back (DD) before it was taken:
        // the device is done with its buffers whatever happens below.
        self.pending = None;
        // Quiet the queue before its buffers and ring memory go away. After
        // the port's stop (live == false) the port already did this, and the
        // hardware queue may belong to a newer open: hands off.
        if self.live.load(Ordering::Acquire) {
            if let Err(e) = self.hw.disable_queue(rxdctl(self.qid as u32)) {
                // Still running: it may write into any armed buffer.
                let n = super::desc::abandon_to_device(&self.ring, &mut self.bufs);
                self.abandoned.add(n);
                log::warn!(
                    "ferrite igb: rx queue {}: {e}; its {n} buffers and ring stay with the device, never \
                     reused (mbufs_left_to_device)",
                    self.qid
                );
                return;
            }
        }
        for slot in self.bufs.iter_mut() {
            if let Some(raw) = slot.take() {
                Self::drop_slot(raw);
            }
        }
    }
}

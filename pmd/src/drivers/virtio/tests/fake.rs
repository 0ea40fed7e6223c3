//! A virtio-net device in software: a common-configuration register file
//! that plays the status handshake and queue setup as the spec (and QEMU)
//! do, a device configuration, a notification area that counts doorbells,
//! and a datapath that works the rings from the device's side in the
//! driver's DMA memory (IOVA = VA in tests, no IOMMU): split rings (§2.7)
//! or, when the driver accepted VIRTIO_F_RING_PACKED, packed rings (§2.8),
//! with the notification rules of both, VIRTIO_F_EVENT_IDX included (it
//! counts the used-buffer notifications it would send, and can ask the
//! driver for a doorbell at a given index).
//!
//! It is written from the spec's layouts, with its own constants, finding
//! each area at the address the driver programmed, not with the driver's
//! ring code, so a driver that lays rings out wrongly fails here.

use std::collections::HashMap;
use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, Mutex};

use crate::drivers::virtio::regs::*;
use crate::drivers::virtio::transport::{Transport, Window};

/// Doorbell spacing the fake advertises (QEMU's is 4).
pub const NOTIFY_MULT: u32 = 4;
/// The fake's MAC address.
pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// One virtqueue's registers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Queue {
    pub max: u16,
    pub size: u16,
    pub enable: u16,
    pub msix: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
}

/// The device's state, shared by its three windows and the test.
#[derive(Debug)]
pub struct Dev {
    pub offered: u64,
    dfselect: u32,
    gfselect: u32,
    /// What the driver accepted.
    pub driver: u64,
    pub status: u8,
    /// Every status value written, in order (resets included).
    pub status_log: Vec<u8>,
    /// Clear FEATURES_OK when the driver sets it (refuse the subset).
    pub refuse_features_ok: bool,
    /// Ignore resets (the status never reads back 0).
    pub stuck_reset: bool,
    q_select: u16,
    pub queues: Vec<Queue>,
    /// `virtio_net_config`.
    pub cfg: [u8; 24],
    pub generation: u8,
    /// Doorbells rung, per queue.
    pub notifies: Vec<u32>,
    /// Doorbell writes at an offset that is not queue × multiplier.
    pub bad_notifies: u32,
    /// Device side of each ring.
    pub rings: Vec<DevRing>,
    /// MSI-X table entries: a vector at or beyond this is refused (reads
    /// back NO_VECTOR), as QEMU refuses one beyond its `vectors=`.
    pub msix_vectors: u16,
    /// `msix_config`.
    pub config_msix: u16,
    /// Reads of the device configuration (any width).
    pub cfg_reads: u32,
    /// How the control queue answers.
    pub ctrl_reply: CtrlReply,
    /// Every control command served: class, command, data.
    pub commands: Vec<(u8, u8, Vec<u8>)>,
}

/// How the fake's control queue answers a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlReply {
    /// Ack 0 (VIRTIO_NET_OK).
    Ack,
    /// Ack 1 (VIRTIO_NET_ERR).
    Nak,
    /// Never takes the command: the driver's wait must end on its own.
    Silent,
}

/// The device's side of one ring.
#[derive(Clone, Debug)]
pub struct DevRing {
    /// Split: the next `avail.idx` entry to take (free-running). Packed:
    /// the next slot to read, and the wrap counter it is expected in.
    pub next_avail: u16,
    pub avail_wrap: bool,
    /// Split: the next `used.idx`. Packed: the next slot to write a used
    /// descriptor to, and the device's wrap counter.
    pub next_used: u16,
    pub used_wrap: bool,
    /// Packed: descriptors in each buffer taken and not yet used, by id.
    pub chain_len: HashMap<u16, u16>,
    /// Used-buffer notifications the driver's settings let through.
    pub interrupts: u32,
}

impl Default for DevRing {
    fn default() -> DevRing {
        DevRing {
            next_avail: 0,
            avail_wrap: true,
            next_used: 0,
            used_wrap: true,
            chain_len: HashMap::new(),
            interrupts: 0,
        }
    }
}

/// Features QEMU 10's `virtio-net-pci,disable-legacy=on,iommu_platform=on`
/// offers (a representative subset: offloads, control queue, event index).
pub fn qemu_features() -> u64 {
    [
        NET_F_CSUM,
        NET_F_GUEST_CSUM,
        NET_F_MAC,
        7,
        11,
        NET_F_MRG_RXBUF,
        NET_F_STATUS,
        NET_F_CTRL_VQ,
        18,
        19,
        21,
        NET_F_CTRL_MAC_ADDR,
        F_RING_INDIRECT_DESC,
        F_RING_EVENT_IDX,
        F_VERSION_1,
        F_ACCESS_PLATFORM,
    ]
    .iter()
    .fold(0, |f, b| f | bit(*b))
}

impl Dev {
    /// A device offering `offered`, with receive and transmit queues of at
    /// most `qmax` entries (and a control queue).
    pub fn new(offered: u64, qmax: u16) -> Arc<Mutex<Dev>> {
        Dev::with_pairs(offered, qmax, 1)
    }

    /// As [`Dev::new`] with `pairs` queue pairs (`max_virtqueue_pairs`,
    /// meaningful with MQ offered), the control queue last.
    pub fn with_pairs(offered: u64, qmax: u16, pairs: u16) -> Arc<Mutex<Dev>> {
        let mut cfg = [0u8; 24];
        cfg[NET_CFG_MAX_QUEUE_PAIRS as usize..][..2].copy_from_slice(&pairs.to_le_bytes());
        let mut queues = vec![Queue { max: qmax, ..Queue::default() }; 2 * pairs as usize];
        queues.push(Queue { max: 64, ..Queue::default() });
        let n = queues.len();
        cfg[..6].copy_from_slice(&MAC);
        cfg[NET_CFG_STATUS as usize] = NET_S_LINK_UP as u8;
        cfg[NET_CFG_MTU as usize..][..2].copy_from_slice(&1500u16.to_le_bytes());
        Arc::new(Mutex::new(Dev {
            offered,
            dfselect: 0,
            gfselect: 0,
            driver: 0,
            status: 0,
            status_log: Vec::new(),
            refuse_features_ok: false,
            stuck_reset: false,
            q_select: 0,
            queues,
            cfg,
            generation: 0,
            notifies: vec![0; n],
            bad_notifies: 0,
            rings: vec![DevRing::default(); n],
            ctrl_reply: CtrlReply::Ack,
            commands: Vec::new(),
            msix_vectors: 3,
            config_msix: VIRTIO_MSI_NO_VECTOR,
            cfg_reads: 0,
        }))
    }

    fn reset(&mut self) {
        self.status = 0;
        self.driver = 0;
        for q in &mut self.queues {
            *q = Queue { max: q.max, msix: VIRTIO_MSI_NO_VECTOR, ..Queue::default() };
        }
        self.config_msix = VIRTIO_MSI_NO_VECTOR;
        self.rings.iter_mut().for_each(|r| *r = DevRing::default());
    }

    fn q(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(self.q_select as usize)
    }

    fn count_cfg_read(&mut self, kind: Kind) {
        if matches!(kind, Kind::Device) {
            self.cfg_reads += 1;
        }
    }

    /// The vector a write of `v` leaves (§4.1.5.1.2: NO_VECTOR if refused).
    fn vector(&self, v: u16) -> u16 {
        if v < self.msix_vectors {
            v
        } else {
            VIRTIO_MSI_NO_VECTOR
        }
    }
}

/// Which structure a window shows.
#[derive(Clone, Copy)]
enum Kind {
    Common,
    Device,
    Notify,
}

struct FakeWindow(Arc<Mutex<Dev>>, Kind);

impl FakeWindow {
    fn dev(&self) -> std::sync::MutexGuard<'_, Dev> {
        // A failed assertion may poison the lock; the port's drop still
        // resets the device through it, so a failure reports cleanly.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Window for FakeWindow {
    fn read8(&self, off: u32) -> u8 {
        let mut d = self.dev();
        d.count_cfg_read(self.1);
        match (self.1, off) {
            (Kind::Common, COMMON_STATUS) => d.status,
            (Kind::Common, COMMON_CFGGENERATION) => d.generation,
            (Kind::Device, o) => d.cfg[o as usize],
            _ => panic!("8-bit read of {off:#x}: the spec wants another width"),
        }
    }
    fn read16(&self, off: u32) -> u16 {
        let mut d = self.dev();
        d.count_cfg_read(self.1);
        match (self.1, off) {
            (Kind::Common, COMMON_NUMQ) => d.queues.len() as u16,
            (Kind::Common, COMMON_Q_SELECT) => d.q_select,
            (Kind::Common, COMMON_Q_SIZE) => d.q().map_or(0, |q| if q.size != 0 { q.size } else { q.max }),
            (Kind::Common, COMMON_Q_ENABLE) => d.q().map_or(0, |q| q.enable),
            (Kind::Common, COMMON_Q_MSIX) => d.q().map_or(0, |q| q.msix),
            (Kind::Common, COMMON_MSIX) => d.config_msix,
            // QEMU gives queue q notify offset q.
            (Kind::Common, COMMON_Q_NOFF) => d.q_select,
            (Kind::Device, o) => u16::from_le_bytes([d.cfg[o as usize], d.cfg[o as usize + 1]]),
            _ => panic!("16-bit read of {off:#x}: the spec wants another width"),
        }
    }
    fn read32(&self, off: u32) -> u32 {
        let mut d = self.dev();
        d.count_cfg_read(self.1);
        match (self.1, off) {
            (Kind::Common, COMMON_DF) => (d.offered >> (32 * d.dfselect.min(1))) as u32 * u32::from(d.dfselect < 2),
            (Kind::Device, o) => u32::from_le_bytes(d.cfg[o as usize..o as usize + 4].try_into().unwrap()),
            _ => panic!("32-bit read of {off:#x}: the spec wants another width"),
        }
    }
    fn write8(&self, off: u32, v: u8) {
        let mut d = self.dev();
        match (self.1, off) {
            (Kind::Common, COMMON_STATUS) => {
                d.status_log.push(v);
                if v == 0 {
                    if !d.stuck_reset {
                        d.reset();
                    }
                    return;
                }
                let newly_ok = v & STATUS_FEATURES_OK != 0 && d.status & STATUS_FEATURES_OK == 0;
                d.status = if newly_ok && d.refuse_features_ok { v & !STATUS_FEATURES_OK } else { v };
            }
            _ => panic!("8-bit write of {off:#x}"),
        }
    }
    fn write16(&self, off: u32, v: u16) {
        let mut d = self.dev();
        match (self.1, off) {
            (Kind::Common, COMMON_Q_SELECT) => d.q_select = v,
            (Kind::Common, COMMON_Q_SIZE) => {
                if let Some(q) = d.q() {
                    q.size = v;
                }
            }
            (Kind::Common, COMMON_Q_MSIX) => {
                let v = d.vector(v);
                if let Some(q) = d.q() {
                    q.msix = v;
                }
            }
            (Kind::Common, COMMON_Q_ENABLE) => {
                if let Some(q) = d.q() {
                    q.enable = v;
                }
            }
            (Kind::Common, COMMON_MSIX) => d.config_msix = d.vector(v),
            (Kind::Notify, o) => {
                if o != v as u32 * NOTIFY_MULT {
                    d.bad_notifies += 1;
                }
                if let Some(n) = d.notifies.get_mut(v as usize) {
                    *n += 1;
                }
                if v as usize == d.queues.len() - 1 && d.driver & bit(NET_F_CTRL_VQ) != 0 {
                    d.serve_ctrl();
                }
            }
            _ => panic!("16-bit write of {off:#x}"),
        }
    }
    fn write32(&self, off: u32, v: u32) {
        let mut d = self.dev();
        let set_half = |x: &mut u64, hi: bool| {
            *x = if hi { (*x & 0xFFFF_FFFF) | (v as u64) << 32 } else { (*x & !0xFFFF_FFFF) | v as u64 }
        };
        match (self.1, off) {
            (Kind::Common, COMMON_DFSELECT) => d.dfselect = v,
            (Kind::Common, COMMON_GFSELECT) => d.gfselect = v,
            (Kind::Common, COMMON_GF) => {
                let hi = d.gfselect == 1;
                let mut f = d.driver;
                set_half(&mut f, hi);
                d.driver = f;
            }
            (Kind::Common, o @ COMMON_Q_DESCLO..=COMMON_Q_USEDHI) => {
                let hi = (o - COMMON_Q_DESCLO) % 8 == 4;
                let which = (o - COMMON_Q_DESCLO) / 8;
                if let Some(q) = d.q() {
                    let field = match which {
                        0 => &mut q.desc,
                        1 => &mut q.avail,
                        _ => &mut q.used,
                    };
                    set_half(field, hi);
                }
            }
            _ => panic!("32-bit write of {off:#x}"),
        }
    }
}

/// A transport over the fake device.
pub fn transport(dev: &Arc<Mutex<Dev>>) -> Transport {
    let w = |k| Box::new(FakeWindow(Arc::clone(dev), k)) as Box<dyn Window>;
    Transport::new("fake", w(Kind::Common), w(Kind::Device), 24, w(Kind::Notify), 0x1000, NOTIFY_MULT)
}

// ----- the device's side of the rings -----

/// Reads a little-endian integer of `N` bytes at guest address `a`.
fn rd<const N: usize>(a: u64) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().take(N).enumerate() {
        // SAFETY: `a` is an address inside a ring or buffer the driver
        // gave the device (IOVA = VA in tests); the fake runs on the test
        // thread between driver calls, so nothing else writes it now.
        *x = unsafe { ((a + i as u64) as *const u8).read_volatile() };
    }
    u64::from_le_bytes(b)
}

/// Writes the low `N` bytes of `v` little-endian at guest address `a`.
fn wr<const N: usize>(a: u64, v: u64) {
    for (i, x) in v.to_le_bytes().iter().take(N).enumerate() {
        // SAFETY: as in `rd`.
        unsafe { ((a + i as u64) as *mut u8).write_volatile(*x) };
    }
}

// The spec's ring numbers, written out here rather than taken from the
// driver.
const F_NEXT: u16 = 1;
const F_WRITE: u16 = 2;
const F_AVAIL: u16 = 1 << 7;
const F_USED: u16 = 1 << 15;
const EVENT_ENABLE: u16 = 0;
const EVENT_DISABLE: u16 = 1;
const EVENT_DESC: u16 = 2;

/// The spec's `vring_need_event`, written out for the device.
fn crosses(event: u16, new: u16, old: u16) -> bool {
    (new.wrapping_sub(event).wrapping_sub(1)) < new.wrapping_sub(old)
}

/// One descriptor as the device reads it.
#[derive(Clone, Copy, Debug)]
pub struct Desc {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
    /// Split: `next`. Packed: the buffer id.
    pub next_or_id: u16,
}

impl Dev {
    /// Whether the driver accepted packed rings (the device then runs them).
    pub fn packed(&self) -> bool {
        self.driver & bit(F_RING_PACKED) != 0
    }

    /// Whether the driver accepted VIRTIO_F_EVENT_IDX.
    pub fn event_idx(&self) -> bool {
        self.driver & bit(F_RING_EVENT_IDX) != 0
    }

    fn read_desc(&self, q: usize, slot: u16) -> Desc {
        let qq = &self.queues[q];
        assert!(slot < qq.size, "descriptor {slot} beyond the {}-entry queue", qq.size);
        let a = qq.desc + 16 * slot as u64;
        // Split: flags, then next; packed: id, then flags.
        let (flags, next_or_id) = if self.packed() { (a + 14, a + 12) } else { (a + 12, a + 14) };
        Desc {
            addr: rd::<8>(a),
            len: rd::<4>(a + 8) as u32,
            flags: rd::<2>(flags) as u16,
            next_or_id: rd::<2>(next_or_id) as u16,
        }
    }

    // ----- split rings (§2.7): desc table, avail at `avail`, used at `used` -----

    /// Driver's `avail.idx` and `avail.flags` of split queue `q`.
    pub fn avail_idx(&self, q: usize) -> u16 {
        rd::<2>(self.queues[q].avail + 2) as u16
    }
    pub fn avail_flags(&self, q: usize) -> u16 {
        rd::<2>(self.queues[q].avail) as u16
    }
    /// `used_event`, after the available ring (split, EVENT_IDX).
    pub fn used_event(&self, q: usize) -> u16 {
        rd::<2>(self.queues[q].avail + 4 + 2 * self.queues[q].size as u64) as u16
    }
    fn avail_event_addr(&self, q: usize) -> u64 {
        self.queues[q].used + 4 + 8 * self.queues[q].size as u64
    }

    fn split_pop(&mut self, q: usize) -> Option<(u16, Vec<Desc>)> {
        let qq = self.queues[q];
        let r = &mut self.rings[q];
        if r.next_avail == rd::<2>(qq.avail + 2) as u16 {
            return None;
        }
        fence(Ordering::Acquire);
        let slot = r.next_avail % qq.size;
        let head = rd::<2>(qq.avail + 4 + 2 * slot as u64) as u16;
        r.next_avail = r.next_avail.wrapping_add(1);
        let mut chain = vec![self.read_desc(q, head)];
        while chain.last().unwrap().flags & F_NEXT != 0 {
            assert!(chain.len() <= qq.size as usize, "a descriptor loop");
            chain.push(self.read_desc(q, chain.last().unwrap().next_or_id));
        }
        Some((head, chain))
    }

    fn split_push(&mut self, q: usize, entries: &[(u32, u32)]) {
        let qq = self.queues[q];
        let old = self.rings[q].next_used;
        for &(id, len) in entries {
            let slot = self.rings[q].next_used % qq.size;
            let at = qq.used + 4 + 8 * slot as u64;
            wr::<4>(at, id as u64);
            wr::<4>(at + 4, len as u64);
            self.rings[q].next_used = self.rings[q].next_used.wrapping_add(1);
        }
        let new = self.rings[q].next_used;
        fence(Ordering::Release);
        wr::<2>(qq.used + 2, new as u64);
        fence(Ordering::SeqCst);
        let notify =
            if self.event_idx() { crosses(self.used_event(q), new, old) } else { self.avail_flags(q) & 1 == 0 };
        self.rings[q].interrupts += u32::from(notify);
    }

    // ----- packed rings (§2.8): one descriptor ring, event suppression at
    // the driver area (`avail`) and the device area (`used`) -----

    /// The driver event suppression structure: (off_wrap, flags).
    pub fn driver_event(&self, q: usize) -> (u16, u16) {
        let a = self.queues[q].avail;
        (rd::<2>(a) as u16, rd::<2>(a + 2) as u16)
    }

    /// Whether `flags` mark a descriptor available in the lap `wrap`.
    fn is_avail(flags: u16, wrap: bool) -> bool {
        (flags & F_AVAIL != 0) == wrap && (flags & F_USED != 0) != wrap
    }

    fn packed_pop(&mut self, q: usize) -> Option<(u16, Vec<Desc>)> {
        let size = self.queues[q].size;
        let (mut slot, mut wrap) = (self.rings[q].next_avail, self.rings[q].avail_wrap);
        if !Self::is_avail(self.read_desc(q, slot).flags, wrap) {
            return None;
        }
        fence(Ordering::Acquire);
        let mut chain = Vec::new();
        loop {
            let d = self.read_desc(q, slot);
            assert!(Self::is_avail(d.flags, wrap), "chain element at slot {slot} not available: {d:?}");
            chain.push(d);
            assert!(chain.len() <= size as usize, "a chain longer than the ring");
            slot += 1;
            if slot == size {
                slot = 0;
                wrap = !wrap;
            }
            if d.flags & F_NEXT == 0 {
                break;
            }
        }
        // The buffer id is in the chain's last descriptor.
        let id = chain.last().unwrap().next_or_id;
        let r = &mut self.rings[q];
        (r.next_avail, r.avail_wrap) = (slot, wrap);
        assert!(r.chain_len.insert(id, chain.len() as u16).is_none(), "buffer id {id} made available twice");
        Some((id, chain))
    }

    /// Writes one used descriptor per entry, in order; the flags of all of
    /// them last, the first entry's very last (as a device that merges
    /// buffers does: §2.8, "Multi-buffer requests"). Slots skipped per the chain length of each
    /// id (1 for an id the device never took).
    fn packed_push(&mut self, q: usize, entries: &[(u32, u32)]) {
        let (size, base) = (self.queues[q].size, self.queues[q].desc);
        let mut marks = Vec::new();
        let mut covered = Vec::new();
        for &(id, len) in entries {
            let r = &mut self.rings[q];
            let (slot, wrap) = (r.next_used, r.used_wrap);
            let skip = r.chain_len.remove(&(id as u16)).unwrap_or(1);
            let a = base + 16 * slot as u64;
            wr::<4>(a + 8, len as u64);
            wr::<2>(a + 12, id as u64);
            let both = if wrap { F_AVAIL | F_USED } else { 0 };
            marks.push((a + 14, both | if len > 0 { F_WRITE } else { 0 }));
            for _ in 0..skip {
                covered.push((r.next_used, r.used_wrap));
                r.next_used += 1;
                if r.next_used == size {
                    r.next_used = 0;
                    r.used_wrap = !r.used_wrap;
                }
            }
        }
        fence(Ordering::Release);
        for &(a, flags) in marks.iter().rev() {
            wr::<2>(a, flags as u64);
        }
        fence(Ordering::SeqCst);
        let (off_wrap, flags) = self.driver_event(q);
        let notify = match flags {
            EVENT_DISABLE => false,
            EVENT_DESC if self.event_idx() => {
                covered.iter().any(|&(s, w)| s == off_wrap & 0x7fff && w == (off_wrap >> 15 != 0))
            }
            _ => true,
        };
        self.rings[q].interrupts += u32::from(notify);
    }

    // ----- either layout -----

    /// Takes the next available chain of queue `q`, if any: its buffer id
    /// (split: the head descriptor) and descriptors in chain order.
    pub fn pop_avail(&mut self, q: usize) -> Option<(u16, Vec<Desc>)> {
        let qq = self.queues[q];
        assert!(qq.enable == 1 && self.status & STATUS_DRIVER_OK != 0, "queue {q} used before DRIVER_OK");
        if self.packed() {
            self.packed_pop(q)
        } else {
            self.split_pop(q)
        }
    }

    /// Reports buffers `(id, len)` of queue `q` used, in that order, and
    /// counts the notification the driver's settings would let through.
    pub fn push_used(&mut self, q: usize, entries: &[(u32, u32)]) {
        if self.packed() {
            self.packed_push(q, entries)
        } else {
            self.split_push(q, entries)
        }
    }

    /// A misreported completion: the device takes the next available
    /// buffer and reports it under `id` (one the driver may not know, or
    /// one already back with it); the real buffer stays with the device.
    pub fn bogus_used(&mut self, q: usize, id: u32, len: u32) {
        let (real, _) = self.pop_avail(q).expect("a buffer to misreport");
        self.rings[q].chain_len.remove(&real);
        self.push_used(q, &[(id, len)]);
    }

    /// How many descriptors the driver made available that the device has
    /// not taken yet (split: chains, one descriptor each on receive).
    pub fn avail_count(&self, q: usize) -> u16 {
        if !self.packed() {
            return self.avail_idx(q).wrapping_sub(self.rings[q].next_avail);
        }
        let size = self.queues[q].size;
        let (mut slot, mut wrap) = (self.rings[q].next_avail, self.rings[q].avail_wrap);
        let mut n = 0;
        while n < size && Self::is_avail(self.read_desc(q, slot).flags, wrap) {
            n += 1;
            slot += 1;
            if slot == size {
                slot = 0;
                wrap = !wrap;
            }
        }
        n
    }

    /// The device says it needs no doorbells (`on`) or needs every one:
    /// split `used.flags` NO_NOTIFY, packed device event flags.
    pub fn set_no_notify(&self, q: usize, on: bool) {
        if self.packed() {
            wr::<2>(self.queues[q].used + 2, if on { EVENT_DISABLE } else { EVENT_ENABLE } as u64);
        } else {
            wr::<2>(self.queues[q].used, u64::from(on));
        }
    }

    /// EVENT_IDX: the device asks for a doorbell when the driver makes
    /// available its `k`-th descriptor since setup (0-based): split
    /// `avail_event` = k mod 2^16; packed, slot k mod n in lap k / n.
    pub fn ask_kick_at(&self, q: usize, k: u64) {
        if self.packed() {
            let n = self.queues[q].size as u64;
            let wrap = u64::from((k / n).is_multiple_of(2)) << 15;
            wr::<2>(self.queues[q].used, (k % n) | wrap);
            wr::<2>(self.queues[q].used + 2, EVENT_DESC as u64);
        } else {
            wr::<2>(self.avail_event_addr(q), k);
        }
    }

    /// Used-buffer notifications the device would have sent on queue `q`.
    pub fn interrupts(&self, q: usize) -> u32 {
        self.rings[q].interrupts
    }

    /// Transmits everything queued on the transmit queue: per frame, the
    /// 12-byte header and the frame bytes, gathered across descriptors.
    pub fn tx_all(&mut self) -> Vec<([u8; NET_HDR_LEN], Vec<u8>)> {
        let mut out = Vec::new();
        let mut used = Vec::new();
        while let Some((head, chain)) = self.pop_avail(TX_QUEUE_0 as usize) {
            let mut bytes = Vec::new();
            for d in &chain {
                assert_eq!(d.flags & F_WRITE, 0, "a transmit descriptor marked device-writable");
                assert!(d.len > 0, "a zero-length transmit descriptor");
                bytes.extend((0..d.len as u64).map(|i| rd::<1>(d.addr + i) as u8));
            }
            assert!(bytes.len() >= NET_HDR_LEN, "a chain shorter than the header");
            let frame = bytes.split_off(NET_HDR_LEN);
            out.push((bytes.try_into().unwrap(), frame));
            used.push((head as u32, 0));
        }
        if !used.is_empty() {
            self.push_used(TX_QUEUE_0 as usize, &used);
        }
        out
    }

    /// Receives `frame` into as many receive buffers as it needs
    /// (`num_buffers` in the first header); false, and nothing consumed,
    /// if there are not enough or (without `mergeable`) it needs two.
    pub fn rx_frame(&mut self, frame: &[u8], mergeable: bool) -> bool {
        self.rx_frame_with(frame, mergeable, [0; NET_HDR_NUM_BUFFERS])
    }

    /// As [`Dev::rx_frame`], with the header's first bytes (flags,
    /// gso_type, hdr_len, gso_size, csum_start, csum_offset) as `hdr`.
    pub fn rx_frame_with(&mut self, frame: &[u8], mergeable: bool, hdr: [u8; NET_HDR_NUM_BUFFERS]) -> bool {
        let q = RX_QUEUE_0 as usize;
        let saved = self.rings[q].clone();
        let mut bufs = Vec::new();
        let mut need = NET_HDR_LEN + frame.len();
        while need > 0 {
            let Some((head, chain)) = self.pop_avail(q) else {
                self.rings[q] = saved;
                return false;
            };
            assert_eq!(chain.len(), 1, "receive buffers are one descriptor each");
            assert_ne!(chain[0].flags & F_WRITE, 0, "a receive descriptor not device-writable");
            need = need.saturating_sub(chain[0].len as usize);
            bufs.push((head, chain[0]));
            if need > 0 && !mergeable {
                self.rings[q] = saved;
                return false;
            }
        }
        let mut full = [0u8; NET_HDR_LEN];
        full[..NET_HDR_NUM_BUFFERS].copy_from_slice(&hdr);
        full[NET_HDR_NUM_BUFFERS..].copy_from_slice(&(bufs.len() as u16).to_le_bytes());
        let stream: Vec<u8> = full.iter().chain(frame).copied().collect();
        let mut at = 0;
        let mut used = Vec::new();
        for (head, d) in bufs {
            let n = (d.len as usize).min(stream.len() - at);
            for (i, b) in stream[at..at + n].iter().enumerate() {
                wr::<1>(d.addr + i as u64, *b as u64);
            }
            at += n;
            used.push((head as u32, n as u32));
        }
        self.push_used(q, &used);
        true
    }

    /// Takes one receive buffer, writes `bytes` at its start and reports
    /// `used_len` for it (which may lie): for malformed completions.
    pub fn rx_raw(&mut self, bytes: &[u8], used_len: u32) -> u16 {
        let (head, chain) = self.pop_avail(RX_QUEUE_0 as usize).expect("a receive buffer");
        for (i, b) in bytes.iter().enumerate() {
            wr::<1>(chain[0].addr + i as u64, *b as u64);
        }
        self.push_used(RX_QUEUE_0 as usize, &[(head as u32, used_len)]);
        head
    }

    /// A header with `num_buffers` = `n`, then `frame`.
    pub fn with_hdr(n: u16, frame: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; NET_HDR_LEN];
        v[NET_HDR_NUM_BUFFERS..].copy_from_slice(&n.to_le_bytes());
        v.extend_from_slice(frame);
        v
    }
}

// ----- the control queue (§5.1.6.5) -----

impl Dev {
    /// Serves every command on the control queue (the last one), as QEMU
    /// does when its doorbell rings: the device-readable buffers gathered
    /// as header (class, command) and data, the ack written into the
    /// one device-writable byte after them.
    fn serve_ctrl(&mut self) {
        let q = self.queues.len() - 1;
        if self.ctrl_reply == CtrlReply::Silent {
            return;
        }
        while let Some((id, chain)) = self.pop_avail(q) {
            let (ack, out) = chain.split_last().expect("an empty control chain");
            assert!(out.iter().all(|d| d.flags & F_WRITE == 0), "a device-writable buffer before the ack: {chain:?}");
            assert!(ack.flags & F_WRITE != 0 && ack.len == 1, "the last buffer is not a 1-byte ack: {ack:?}");
            let bytes: Vec<u8> =
                out.iter().flat_map(|d| (0..d.len as u64).map(move |i| rd::<1>(d.addr + i) as u8)).collect();
            assert!(bytes.len() >= 2, "a control command without its 2-byte header");
            self.commands.push((bytes[0], bytes[1], bytes[2..].to_vec()));
            wr::<1>(ack.addr, u64::from(self.ctrl_reply == CtrlReply::Nak));
            self.push_used(q, &[(id as u32, 1)]);
        }
    }
}

//! Fuzz target `rx_writeback`: the igb receive path against whatever a
//! device writes back into its descriptors.
//!
//! A register file in memory plays the 82576 just well enough for probe,
//! configure and open (reset self-clears, EEPROM and PHY reads complete at
//! once, queue enables are confirmed). The receive ring then lives in
//! ordinary memory, where the input plays the device: it writes any words
//! into any descriptor (armed or not, DD or not, any length, error, VLAN and
//! RSS fields, frames spread over descriptors without EOP) and calls
//! `rx_burst` with any budget, and changes the MTU now and then. The first
//! input byte picks one of two ports: one receiving each frame into one
//! buffer, one with the `scatter` offload, assembling frames that span
//! descriptors into mbuf chains (so a chain may be half built when the
//! port stops).
//!
//! Checks, besides "no panic, hang or runaway memory":
//! * every frame delivered is at least one byte, its bytes readable, and
//!   not longer than the MTU allows ([`ferrite_pmd::ether::max_frame_len`]);
//!   without scatter it is one segment of at most one buffer; with scatter
//!   its segments are at most a buffer each, none empty, as many as
//!   `nb_segs` says, and their lengths add up to the frame's;
//! * the queue counters agree with what was delivered;
//! * after the port stops, every mbuf is back in the pool (nothing leaked,
//!   nothing freed twice).
//!
//! Input: steps until the bytes run out, each an op byte then its fields
//! (`Input` reads zeros past the end): 0..=5 write back one descriptor,
//! 6 `rx_burst`, 7 `change_mtu`.

#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrite_fuzz::{assert_pool_full, pool, Input};
use ferrite_hugepages::IovaMode;
use ferrite_pmd::drivers::igb::mac::{Hw, Media, RegisterIo};
use ferrite_pmd::drivers::igb::regs::*;
use ferrite_pmd::drivers::igb::IgbPort;
use ferrite_pmd::ether::max_frame_len;
use ferrite_pmd::port::{NetDevice, PortConfig, RxOffloads};
use ferrite_pmd::MbufBatch;
use libfuzzer_sys::fuzz_target;

/// Descriptors in the receive ring.
const RING: usize = 64;

/// Registers as a map, answering the way the 82576 does for the control
/// path the driver walks through (the same rules as the driver's unit
/// tests' register file).
struct Registers(Arc<Mutex<HashMap<u32, u32>>>);

impl RegisterIo for Registers {
    fn read32(&self, off: u32) -> u32 {
        *self.0.lock().unwrap().get(&off).unwrap_or(&0)
    }
    fn write32(&self, off: u32, val: u32) {
        let val = match off {
            CTRL => val & !CTRL_RST,
            MDIC => (val & !MDIC_DATA_MASK) | MDIC_READY | if val & MDIC_OP_READ != 0 { 0x1140 } else { 0 },
            EERD => EERD_DONE | (0x2010 << EERD_DATA_SHIFT),
            _ => val,
        };
        self.0.lock().unwrap().insert(off, val);
    }
}

/// The 16-byte write-back descriptor `slot` of the ring whose address the
/// driver programmed (IOVA = VA: no IOMMU mapper, ordinary pages).
fn descriptor(regs: &Mutex<HashMap<u32, u32>>, slot: usize) -> *mut u32 {
    let m = regs.lock().unwrap();
    let base = u64::from(m[&rdbal(0)]) | u64::from(m[&rdbah(0)]) << 32;
    (base as usize + 16 * (slot % RING)) as *mut u32
}

/// A port and the register file that plays its device.
type Device = (IgbPort, Arc<Mutex<HashMap<u32, u32>>>);

/// The two ports (plain, scatter), probed and configured once (probe's
/// reset waits ~12 ms); every input opens one, plays the device, and stops
/// it.
static PORTS: Mutex<Option<[Device; 2]>> = Mutex::new(None);

fn probe(rx_offloads: RxOffloads) -> Device {
    let regs = Arc::new(Mutex::new(HashMap::from([
        (STATUS, STATUS_LU | STATUS_FD | (2 << STATUS_SPEED_SHIFT)),
        (ral(0), 0x0000_5452),
        (rah(0), RAH_AV | 0x001b),
        (EECD, EECD_AUTO_RD),
    ])));
    let hw = Hw::new(Box::new(Registers(Arc::clone(&regs))), Media::Copper);
    let mut port = IgbPort::probe("fuzz", hw, 0x10C9, IovaMode::Va, None).expect("probe on the register file");
    let conf = PortConfig { rx_ring_size: RING as u16, tx_ring_size: 64, rx_offloads, ..PortConfig::default() };
    port.configure(&conf, pool()).expect("configure");
    (port, regs)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mut guard = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let ports = guard.get_or_insert_with(|| [probe(RxOffloads::empty()), probe(RxOffloads::SCATTER)]);
    let scatter = input.u8() & 1 == 1;
    let (port, regs) = &mut ports[usize::from(scatter)];
    port.change_mtu(1500).expect("MTU 1500");
    // The port keeps its counters across stop and open: compare deltas.
    let before = port.stats64().rx_queues[0];
    let mut queues = port.open().expect("open");
    let rx = &mut queues.rx[0];
    let buf = ferrite_fuzz::DATA_ROOM;

    let mut batch = MbufBatch::new();
    let (mut delivered, mut bytes) = (0u64, 0u64);
    let mut steps = 0;
    while !input.is_empty() && steps < 4096 {
        steps += 1;
        match input.u8() % 8 {
            0..=5 => {
                let d = descriptor(regs, input.u8() as usize);
                // Little-endian, as the device writes them.
                let words: [u32; 4] = std::array::from_fn(|_| u32::from_le_bytes(input.array()));
                for (i, w) in words.into_iter().enumerate() {
                    // SAFETY: `d` is a descriptor inside the live receive
                    // ring (slot taken mod its length), memory the driver
                    // shares with "the device" and only reads volatile;
                    // this is the device's write-back.
                    unsafe { d.add(i).write_volatile(w) };
                }
            }
            6 => {
                let budget = input.u8() as usize % 48 + 1;
                let got = rx.rx_burst(&mut batch, budget);
                assert!(got <= budget, "rx_burst returned {got} frames for a budget of {budget}");
                assert_eq!(got, batch.len(), "rx_burst's count is what it appended");
                let limit = max_frame_len(port.mtu());
                for m in batch.iter() {
                    let len = m.len();
                    assert!(len >= 1, "an empty frame");
                    assert!(len <= limit, "a {len}-byte frame passed MTU {} (limit {limit})", port.mtu());
                    if !scatter {
                        assert!(len <= buf, "a frame of {len} bytes from {buf}-byte buffers");
                        assert_eq!(m.nb_segs(), 1, "a chain without the scatter offload");
                    }
                    let (mut segs, mut sum) = (0u16, 0usize);
                    for seg in m.segments() {
                        assert!((1..=buf).contains(&seg.len()), "a {}-byte segment of a {len}-byte frame", seg.len());
                        // Every byte must be readable.
                        std::hint::black_box(seg.data().iter().fold(0u8, |a, b| a ^ b));
                        segs += 1;
                        sum += seg.len();
                    }
                    assert_eq!(segs, m.nb_segs(), "segments walked vs nb_segs");
                    assert_eq!(sum, len, "segment lengths vs the frame's length");
                    bytes += len as u64;
                }
                delivered += got as u64;
                batch.clear();
            }
            _ => {
                // Mostly valid MTUs, some not (refused, changes nothing).
                let _ = port.change_mtu(input.u16() % 9200);
            }
        }
    }
    let q = port.stats64().rx_queues[0];
    let counted = (q.packets - before.packets, q.bytes - before.bytes);
    assert_eq!(counted, (delivered, bytes), "queue counters vs frames delivered");
    drop(queues);
    port.stop().expect("stop");
    assert_pool_full("rx_writeback");
});

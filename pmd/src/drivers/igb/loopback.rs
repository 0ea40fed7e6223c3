//! The self-test's loopback row: frames sent through the port with the MAC
//! looping them back (RCTL.LBM = 01, §3.5.6.1 of the datasheet) must come
//! back on receive queue 0 byte for byte.
//!
//! It runs the real datapath (configure, open, `tx_burst`, `rx_burst`,
//! stop) on a pool of its own, then puts the port's configuration back, so
//! it needs a stopped port. QEMU's 82576 loops frames back in this mode
//! instead of putting them on the wire. Codes: 1 the test could not set the
//! port up, 2 fewer frames came back than were sent, 3 a frame came back
//! changed, 4 the link did not come up (the transmit path drops frames
//! while it is down).

use std::time::{Duration, Instant};

use super::regs::*;
use super::IgbPort;
use crate::ether::EthernetFrame;
use crate::mem::{MbufBatch, Mempool, MempoolConfig};
use crate::port::{MacAddr, NetDevice, PortConfig, PortError, Queues, TestResult};

/// Frames sent; fewer than a ring holds, so none can be dropped for room.
const FRAMES: usize = 32;
/// Each frame's length (no FCS): long enough to carry a pattern.
const FRAME_LEN: usize = 128;
/// A local experimental EtherType (IEEE 802), so no stack would take them.
const ETHERTYPE: u16 = 0x88B5;
/// How long the receive queue is polled for the frames.
const RX_WAIT: Duration = Duration::from_secs(2);

/// Frame `i`: to and from the port's own address, then a pattern that
/// differs per frame and per byte, so a reordered or corrupted frame shows.
fn frame(mac: [u8; 6], i: usize) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    // FRAME_LEN holds the header: the view always exists.
    if let Ok(mut eth) = EthernetFrame::new_checked(&mut f[..]) {
        eth.set_dst(MacAddr(mac));
        eth.set_src(MacAddr(mac));
        eth.set_ethertype(ETHERTYPE);
        for (j, b) in eth.payload_mut().iter_mut().enumerate() {
            *b = (i * 7 + j) as u8;
        }
    }
    f
}

impl IgbPort {
    /// Runs the loopback row and puts the port's configuration back.
    pub(super) fn loopback_test(&mut self) -> TestResult {
        let saved = self.configured.then(|| (self.conf.clone(), self.pool.clone()));
        let result = match self.loop_pool() {
            Ok(pool) => self.loop_frames(&pool),
            // No memory for frames says nothing about the device.
            Err(e) => TestResult::NotRun(format!("no buffer pool for the frames: {e}")),
        };
        match saved {
            Some((conf, Some(pool))) => {
                let _ = self.configure(&conf, &pool);
            }
            _ => {
                self.configured = false;
                self.pool = None;
            }
        }
        result
    }

    /// A pool for the test's frames and receive ring, mapped for this device.
    fn loop_pool(&self) -> Result<Mempool, PortError> {
        let conf = PortConfig::default();
        let mut cfg = MempoolConfig::new("igb-loopback", usize::from(conf.rx_ring_size) + 2 * FRAMES + 64);
        cfg.cache_size = 0;
        cfg.dma = self.dma_options();
        Mempool::new(&cfg)
    }

    /// Opens the port in MAC loopback, sends, receives, compares, stops.
    fn loop_frames(&mut self, pool: &Mempool) -> TestResult {
        if self.configure(&PortConfig::default(), pool).is_err() {
            return TestResult::Fail(1);
        }
        let Ok(mut queues) = self.open() else { return TestResult::Fail(1) };
        // The transmit path drops frames while the carrier is down (counted
        // in tx_link_down_drops), so the link must be up before sending,
        // even though the MAC loops frames back before the PHY.
        if !self.link_update(true).up {
            drop(queues);
            let _ = self.stop();
            return TestResult::Fail(4);
        }
        self.hw.write(RCTL, (self.hw.read(RCTL) & !RCTL_LBM_MASK) | RCTL_LBM_MAC);
        self.hw.flush();
        let result = send_and_compare(&mut queues, pool, self.mac.0);
        self.hw.clear_bits(RCTL, RCTL_LBM_MASK);
        drop(queues);
        let _ = self.stop();
        result
    }
}

/// Sends [`FRAMES`] frames on queue 0 and checks they come back on receive
/// queue 0 in order and unchanged.
fn send_and_compare(queues: &mut Queues, pool: &Mempool, mac: [u8; 6]) -> TestResult {
    let (Some(rx), Some(tx)) = (queues.rx.first_mut(), queues.tx.first_mut()) else {
        return TestResult::Fail(1);
    };
    let mut out = MbufBatch::default();
    for i in 0..FRAMES {
        let Some(mut m) = pool.alloc() else { return TestResult::Fail(1) };
        match m.append(FRAME_LEN) {
            Some(data) => data.copy_from_slice(&frame(mac, i)),
            None => return TestResult::Fail(1),
        }
        if out.push(m).is_err() {
            return TestResult::Fail(1);
        }
    }
    let deadline = Instant::now() + RX_WAIT;
    while !out.is_empty() && Instant::now() < deadline {
        tx.tx_burst(&mut out);
    }
    let mut back = MbufBatch::default();
    let mut got = 0;
    while got < FRAMES && Instant::now() < deadline {
        got += rx.rx_burst(&mut back, FRAMES - got);
        tx.tx_done_cleanup();
    }
    if got < FRAMES {
        return TestResult::Fail(2);
    }
    let same = back.iter().enumerate().all(|(i, m)| m.data() == frame(mac, i));
    if same {
        TestResult::Pass
    } else {
        TestResult::Fail(3)
    }
}

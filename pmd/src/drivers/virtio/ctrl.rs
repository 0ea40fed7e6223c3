//! The control virtqueue (VIRTIO_NET_F_CTRL_VQ, virtio 1.2 §5.1.6.5): how
//! the driver asks the device for receive filtering, VLAN filtering, its
//! MAC address and the number of queue pairs.
//!
//! A command is one descriptor chain of three buffers, on a ring of the
//! layout the data queues use (split or packed):
//!
//! ```text
//! class u8 | command u8        device-readable   (virtio_net_ctrl_hdr)
//! data (command-specific)      device-readable   (left out when empty)
//! ack u8                       device-writable   (0 OK, anything else refused)
//! ```
//!
//! Commands are rare and come from the control path (configure, open, the
//! port's filter operations), never from a burst, so this queue is
//! synchronous: one command at a time, written into a small block of the
//! port's queue memory, one doorbell, then a bounded wait for the device
//! to hand the chain back. A device that never does leaves the chain (and
//! its memory) with the device: the queue is marked stuck, refuses every
//! later command with the reason, and its memory waits for the device
//! reset of the port's stop like every other queue's (see `session`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_hugepages::DmaRegion;

use super::regs::*;
use super::session::{Release, Session};
use super::transport::Doorbell;
use super::virtq::{Virtqueue, DESC_F_WRITE};
use crate::port::PortError;

/// How long a command may take. QEMU answers as soon as it handles the
/// doorbell; a TCG guest on a loaded host can take milliseconds; the
/// spec sets no bound. Two seconds tells a dead device from a slow one.
pub const CTRL_TIMEOUT: Duration = Duration::from_secs(2);

/// Bytes of queue memory a control queue needs for its command block.
pub const CTRL_BLOCK_BYTES: usize = 1024;
/// Offsets in the command block: header, ack, data.
const HDR_OFF: usize = 0;
const ACK_OFF: usize = 8;
const DATA_OFF: usize = 64;
/// Longest command data (a full MAC table is 776 bytes).
pub const CTRL_DATA_MAX: usize = CTRL_BLOCK_BYTES - DATA_OFF;
/// What the ack byte holds until the device writes it (neither 0 nor
/// the spec's VIRTIO_NET_ERR, 1).
const ACK_UNWRITTEN: u8 = 0xA5;
/// Pause between two looks at the used ring while waiting.
const POLL_GAP: Duration = Duration::from_micros(20);

/// What the port needs of its control queue, whichever the ring layout.
pub trait Control: Send {
    /// Sends command `cmd` of `class` with `data` and waits for the ack:
    /// Ok when the device acknowledged it, an error naming the command when
    /// it refused it, did not answer within the timeout, or the queue is
    /// unusable.
    fn command(&mut self, class: u8, cmd: u8, data: &[u8]) -> Result<(), PortError>;

    /// Changes the bound on a command's wait (tests use a short one).
    fn set_timeout(&mut self, timeout: Duration);
}

/// The spec's name of a command, for messages.
pub fn command_name(class: u8, cmd: u8) -> String {
    let name = match (class, cmd) {
        (CTRL_CLASS_RX, CTRL_RX_PROMISC) => "VIRTIO_NET_CTRL_RX_PROMISC",
        (CTRL_CLASS_RX, CTRL_RX_ALLMULTI) => "VIRTIO_NET_CTRL_RX_ALLMULTI",
        (CTRL_CLASS_MAC, CTRL_MAC_TABLE_SET) => "VIRTIO_NET_CTRL_MAC_TABLE_SET",
        (CTRL_CLASS_MAC, CTRL_MAC_ADDR_SET) => "VIRTIO_NET_CTRL_MAC_ADDR_SET",
        (CTRL_CLASS_VLAN, CTRL_VLAN_ADD) => "VIRTIO_NET_CTRL_VLAN_ADD",
        (CTRL_CLASS_VLAN, CTRL_VLAN_DEL) => "VIRTIO_NET_CTRL_VLAN_DEL",
        (CTRL_CLASS_MQ, CTRL_MQ_VQ_PAIRS_SET) => "VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET",
        _ => return format!("control command class {class} command {cmd}"),
    };
    name.to_string()
}

/// What the port hands to a new control queue.
pub struct CtrlSetup<R: Virtqueue> {
    /// The open it belongs to.
    pub session: Arc<Session>,
    /// Where to kick the device.
    pub doorbell: Doorbell,
    /// The virtqueue (at least 4 entries).
    pub ring: R,
    /// The command block: [`CTRL_BLOCK_BYTES`] at this offset of the
    /// ring's region, the queue's alone.
    pub block: usize,
}

/// The control queue of one open, on a ring of layout `R`.
pub struct CtrlQueue<R: Virtqueue> {
    ring: R,
    doorbell: Doorbell,
    session: Arc<Session>,
    /// Offset of the command block in the ring's region.
    block: usize,
    timeout: Duration,
    /// A command never came back: the device still owns its chain.
    stuck: bool,
}

/// The one chain's descriptor ids (split: 0 → 1 → 2; packed: buffer id 0).
const LINKS: [u16; 3] = [1, 2, 0];

impl<R: Virtqueue> CtrlQueue<R> {
    /// A control queue on `s.ring`.
    pub fn new(s: CtrlSetup<R>) -> CtrlQueue<R> {
        assert!(s.ring.size() >= 4, "a control queue needs room for one 3-descriptor command");
        assert!(s.block + CTRL_BLOCK_BYTES <= s.ring.region().len(), "control block outside its region");
        CtrlQueue {
            ring: s.ring,
            doorbell: s.doorbell,
            session: s.session,
            block: s.block,
            timeout: CTRL_TIMEOUT,
            stuck: false,
        }
    }

    fn region(&self) -> &DmaRegion {
        self.ring.region()
    }

    /// Writes `bytes` at `off` of the command block.
    fn write_block(&self, off: usize, bytes: &[u8]) {
        assert!(off + bytes.len() <= CTRL_BLOCK_BYTES);
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: inside the command block (asserted above; `new`
            // checked the block lies in the region), which only this queue
            // uses, and the device reads it only after the ring hands it
            // over (the ring's release fence orders these stores first).
            unsafe { self.region().as_ptr().add(self.block + off + i).write_volatile(*b) };
        }
    }

    /// The ack byte, after the device handed the chain back.
    fn read_ack(&self) -> u8 {
        // SAFETY: inside the command block (see `write_block`); the ring's
        // acquire fence in `poll_used`/`peek_used` orders this read after
        // the device's write.
        unsafe { self.region().as_ptr().add(self.block + ACK_OFF).read_volatile() }
    }

    /// Hands the command in the block to the device and rings its doorbell.
    fn post(&mut self, data_len: usize) {
        let iova = self.region().iova(self.block);
        let hdr = (iova + HDR_OFF as u64, CTRL_HDR_LEN as u32, 0);
        let data = (iova + DATA_OFF as u64, data_len as u32, 0);
        let ack = (iova + ACK_OFF as u64, 1, DESC_F_WRITE);
        let bufs = std::iter::once(hdr).chain((data_len > 0).then_some(data)).chain(std::iter::once(ack));
        self.ring.add_flagged_chain(0, &LINKS, bufs);
        // Always kicked: a command is rare, and a spare doorbell is cheaper
        // than reasoning about a device that asked for none.
        self.ring.publish();
        self.session.transport.notify(self.doorbell);
    }

    /// Waits for the chain to come back; `ndesc` descriptors long.
    fn wait(&mut self, ndesc: u16, what: &str) -> Result<(), PortError> {
        let who = self.session.transport.who().to_string();
        let start = Instant::now();
        loop {
            self.ring.poll_used();
            if let Some((id, _)) = self.ring.peek_used() {
                self.ring.pop_used(ndesc);
                if id != 0 {
                    self.stuck = true;
                    return Err(PortError::Device(format!(
                        "{who}: the device completed {what} as buffer {id}, which the driver never gave it; the \
                         control queue is unusable until the port is stopped and opened again"
                    )));
                }
                return Ok(());
            }
            if start.elapsed() >= self.timeout {
                self.stuck = true;
                return Err(PortError::Timeout(format!(
                    "{who}: the device did not complete {what} within {:?}; the control queue is unusable until \
                     the port is stopped and opened again",
                    self.timeout
                )));
            }
            std::thread::sleep(POLL_GAP);
        }
    }
}

impl<R: Virtqueue> Control for CtrlQueue<R> {
    fn command(&mut self, class: u8, cmd: u8, data: &[u8]) -> Result<(), PortError> {
        let what = command_name(class, cmd);
        let who = self.session.transport.who().to_string();
        if self.stuck {
            return Err(PortError::Device(format!(
                "{who}: cannot send {what}: an earlier control command never completed; stop and open the port again"
            )));
        }
        if !self.session.live() {
            return Err(PortError::InvalidState(format!("{who}: cannot send {what}: the device was reset")));
        }
        if data.len() > CTRL_DATA_MAX {
            return Err(PortError::InvalidConfig(format!(
                "{who}: {what} with {} data bytes; a command carries at most {CTRL_DATA_MAX}",
                data.len()
            )));
        }
        self.write_block(HDR_OFF, &[class, cmd]);
        self.write_block(ACK_OFF, &[ACK_UNWRITTEN]);
        self.write_block(DATA_OFF, data);
        self.post(data.len());
        self.wait(if data.is_empty() { 2 } else { 3 }, &what)?;
        match self.read_ack() {
            CTRL_ACK_OK => Ok(()),
            ACK_UNWRITTEN => Err(PortError::Device(format!(
                "{who}: the device completed {what} without writing its ack byte; taken as refused"
            ))),
            ack => Err(PortError::Device(format!("{who}: the device refused {what} (ack {ack})"))),
        }
    }

    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

impl<R: Virtqueue> Drop for CtrlQueue<R> {
    /// The ring and block go with the port's queue memory, once the device
    /// is reset; if it never confirms the reset, they stay with it.
    fn drop(&mut self) {
        if self.session.release_for("control queue") == Release::Abandon {
            std::mem::forget(Arc::clone(self.ring.region()));
        }
    }
}

#![deny(missing_docs)]
//! ferrite: a poll-mode NIC driver framework in the manner of DPDK and ixy,
//! with the Linux driver model's vocabulary.
//!
//! # Writing an application
//!
//! An application does what a DPDK one does, in the same order:
//!
//! 1. **Open ports** by name with [`open_ports`]: `null0`, `pair0`,
//!    `loop0`, `af_xdp0,iface=eth0`, or a PCI address such as
//!    `0000:03:00.0` for a NIC bound to vfio-pci. The code after this step
//!    is the same whatever the driver.
//! 2. **Make a pool** of packet buffers ([`Mempool`]) with
//!    [`MempoolConfig::for_ports`]: on 2 MiB hugepages, falling back to
//!    ordinary 4 KiB pages (with one warning) when none are reserved and
//!    no port is hardware. Hardware ports need hugepages; the error says
//!    which command reserves them.
//! 3. **Configure** each port ([`NetDevice::configure`] with a
//!    [`PortConfig`]: queue counts, ring sizes, offloads) and **open** it
//!    ([`NetDevice::open`]), which hands out its queues as owned values
//!    ([`Queues`]). Give each polling thread its own queues: no locks are
//!    needed on the datapath.
//! 4. **Poll and send**: [`RxQueue::rx_burst`] appends received frames to an
//!    [`MbufBatch`]; [`TxQueue::tx_burst`] takes frames from the front of
//!    one and returns how many it took. Frames it did not take stay in the
//!    batch (the ring is full): retry them later or drop them (dropping an
//!    [`Mbuf`] returns it to its pool) and count the drop. Read and write
//!    headers through [`ether::EthernetFrame`].
//! 5. **Stop**: drop the queue handles, then [`NetDevice::stop`]. Every
//!    buffer still in a ring goes back to its pool, and frames that were
//!    on their way in are counted ([`port::PortStats::rx_missed`]), so
//!    sent = received + dropped + missed always adds up.
//!
//! Polling threads should call [`lcore::register`] once (see there): it
//! gives the thread a private cache in every pool, which makes allocation
//! and free a copy into thread-local memory. Threads that do not register
//! still work, through the pool's shared ring.
//!
//! The whole round trip on two virtual ports wired to each other:
//!
//! ```
//! use ferrite_pmd::ether::{EthernetFrame, ETHERTYPE_IPV4};
//! use ferrite_pmd::port::MacAddr;
//! use ferrite_pmd::{lcore, open_ports, Mempool, MempoolConfig, MbufBatch, OpenOptions, PortConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let _lcore = lcore::register()?; // this thread polls: give it pool caches
//! let mut ports = open_ports(&["pair0", "pair1"], &OpenOptions::default())?;
//! let pool = Mempool::new(&MempoolConfig::for_ports("pool", 1024, &ports))?;
//! let mut queues = Vec::new();
//! for port in ports.iter_mut() {
//!     port.configure(&PortConfig::default(), &pool)?; // one rx and one tx queue
//!     queues.push(port.open()?);
//! }
//!
//! // Build 8 frames and send them out of pair0.
//! let mut batch = MbufBatch::new();
//! for _ in 0..8 {
//!     let mut m = pool.alloc().ok_or("pool empty")?;
//!     m.append(60).ok_or("frame does not fit")?;
//!     let mut eth = EthernetFrame::new_checked(m.data_mut())?;
//!     eth.set_dst(ports[1].mac_address());
//!     eth.set_src(ports[0].mac_address());
//!     eth.set_ethertype(ETHERTYPE_IPV4);
//!     batch.push(m).map_err(|_| "batch full")?;
//! }
//! let sent = queues[0].tx[0].tx_burst(&mut batch);
//! batch.clear(); // frames not taken (none here) go back to the pool
//!
//! // pair1 receives them, stamped with its port id (its place in open_ports).
//! let mut got = MbufBatch::new();
//! queues[1].rx[0].rx_burst(&mut got, 32);
//! assert_eq!((sent, got.len()), (8, 8));
//! for m in got.iter() {
//!     assert_eq!(m.port(), 1);
//!     assert_eq!(EthernetFrame::new_checked(m.data())?.src(), ports[0].mac_address());
//! }
//! got.clear();
//!
//! // Stop: drop the queues first, then the ports; every buffer is back.
//! drop(queues);
//! for port in ports.iter_mut() {
//!     port.stop()?;
//! }
//! let (tx, rx) = (ports[0].stats64(), ports[1].stats64());
//! assert_eq!(tx.tx_total().packets, rx.rx_total().packets + rx.rx_total().drops + rx.rx_missed);
//! pool.flush_local_cache();
//! assert_eq!(pool.available(), pool.capacity());
//! # let _ = MacAddr::BROADCAST;
//! # Ok(())
//! # }
//! ```
//!
//! Complete programs in DPDK's style are in `pmd/examples/`: `skeleton`
//! (basic forwarding), `l2fwd` (per-core queues, MAC rewrite, statistics,
//! Ctrl-C) and `ethtool` (a port's driver, link, rings, channels and
//! counters).
//!
//! # Modules
//!
//! * [`mem`]: DMA-backed packet buffers ([`Mbuf`]) from pools with per-core
//!   caches ([`Mempool`]), moved in bursts ([`MbufBatch`]).
//! * [`port`]: the driver API — [`NetDevice`] (after `net_device_ops`),
//!   [`EthtoolOps`] (after `ethtool_ops`), owned per-core [`RxQueue`] /
//!   [`TxQueue`] handles.
//! * [`rss`]: receive-side scaling (Toeplitz hash, key, redirection table).
//! * [`ether`]: Ethernet framing sizes and the [`ether::EthernetFrame`]
//!   header view.
//! * [`checksum`]: the Internet checksum (RFC 1071) over pieces and mbuf
//!   chains, and the TCP/UDP pseudo-headers.
//! * [`drivers`]: the virtual ports (`loop`, `pair`, `null`) and hardware
//!   drivers, each also reachable through [`open_ports`].
//! * [`logging`]: warnings go through the `log` facade (nothing is printed
//!   unless the application installs a logger; [`logging::log_to_stderr`]
//!   is a ready one).

#[cfg(test)]
mod alloc_count;
pub mod checksum;
pub mod drivers;
pub mod ether;
pub mod logging;
pub mod mem;
mod open;
pub mod port;
pub mod rss;
#[cfg(test)]
mod test_frames;

pub use mem::lcore;
pub use mem::{Mbuf, MbufBatch, Mempool, MempoolConfig, MAX_BURST};
pub use open::{open_port, open_ports, OpenOptions};
pub use port::{EthtoolOps, NetDevice, PortConfig, PortError, Queues, RxQueue, TxQueue};

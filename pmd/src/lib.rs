#![deny(missing_docs)]
//! ferrite: a poll-mode NIC driver framework in the manner of DPDK and ixy,
//! with the Linux driver model's vocabulary.
//!
//! * [`mem`]: DMA-backed packet buffers ([`Mbuf`]) from pools with per-core
//!   caches ([`Mempool`]), moved in bursts ([`MbufBatch`]).
//! * [`port`]: the driver API — [`NetDevice`] (after `net_device_ops`),
//!   [`EthtoolOps`] (after `ethtool_ops`), owned per-core [`RxQueue`] /
//!   [`TxQueue`] handles.
//! * [`rss`]: receive-side scaling (Toeplitz hash, key, redirection table).
//! * [`ether`]: Ethernet framing sizes (header, VLAN tags, the MTU's limit).
//! * [`checksum`]: the Internet checksum (RFC 1071) over pieces and mbuf
//!   chains, and the TCP/UDP pseudo-headers.
//! * [`drivers`]: the virtual ports (`loop`, `pair`, `null`) and hardware
//!   drivers.

#[cfg(test)]
mod alloc_count;
pub mod checksum;
pub mod drivers;
pub mod ether;
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

//! Packet memory: rings, pools, buffers, bursts, and the lcore registry
//! that gives each polling thread its private pool cache.

pub mod batch;
pub mod chain;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod ring;

pub use batch::{DrainFront, MbufBatch, MAX_BURST};
pub use chain::{Segment, Segments, SegmentsMut, MAX_SEGMENTS};
pub use mbuf::{Mbuf, MbufHeader, OffloadFlags, TxOffload, HEADROOM};
pub use mempool::{Mempool, MempoolConfig, DEFAULT_CACHE_SIZE, DEFAULT_DATA_ROOM, MAX_CACHE_SIZE};
pub use ring::BulkRing;

/// The memory options of [`MempoolConfig::dma`], re-exported so that an
/// application needs no direct dependency on `ferrite-hugepages`.
pub use ferrite_hugepages::{DmaError, DmaMapper, DmaOptions, Fallback, IovaMode, PageSize};

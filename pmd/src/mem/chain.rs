//! Multi-segment packets: one packet spread over a chain of mbufs.
//!
//! A frame larger than one buffer (a 9000-byte jumbo frame in 2 KiB buffers,
//! a TSO super-frame, a header prepended in its own buffer) is a chain: the
//! first mbuf holds the packet's metadata (`pkt_len`, `nb_segs`, flags) and
//! owns the rest through `next` pointers inside the headers, as `rte_mbuf`
//! does. Nothing is allocated to build or walk a chain, and dropping the
//! first mbuf returns every segment to its own pool.
//!
//! Ownership is what keeps it sound: a segment in a chain is reachable only
//! through the mbuf that owns the chain, and a slot in a pool's free store
//! always has a null `next`, so a slot taken from a pool never claims
//! segments it does not own.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::mbuf::{segment_data, segment_data_mut, segment_iova, Mbuf, MbufHeader};
use super::mempool::PoolShared;

/// Most segments a packet may have (`nb_segs` is 16 bits).
pub const MAX_SEGMENTS: usize = u16::MAX as usize;

// Segments are reached through raw slot pointers (`Mbuf`'s own, then the
// `next` links, which were made from such pointers), never through a
// reference to a header: a segment's data lies beyond its header, and a
// pointer derived from `&MbufHeader` may not reach past the header's bytes.

/// One segment of a packet, read-only.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    seg: NonNull<MbufHeader>,
    _packet: PhantomData<&'a Mbuf>,
}

impl<'a> Segment<'a> {
    #[inline(always)]
    fn hdr(&self) -> &'a MbufHeader {
        // SAFETY: a live segment of the packet borrowed for 'a, which
        // nobody can change while it is borrowed.
        unsafe { self.seg.as_ref() }
    }

    /// This segment's bytes.
    #[inline(always)]
    pub fn data(&self) -> &'a [u8] {
        // SAFETY: as in `hdr`: the packet is borrowed shared for 'a.
        unsafe { segment_data(self.seg) }
    }

    /// IOVA of this segment's first byte (for a descriptor).
    #[inline(always)]
    pub fn data_iova(&self) -> u64 {
        segment_iova(self.hdr())
    }

    /// Bytes in this segment.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.hdr().data_len as usize
    }

    /// Whether this segment holds no bytes.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Iterator over a packet's segments, first to last ([`Mbuf::segments`]).
pub struct Segments<'a> {
    next: Option<NonNull<MbufHeader>>,
    _packet: PhantomData<&'a Mbuf>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Segment<'a>> {
        let seg = self.next?;
        // SAFETY: `next` links are owned by the chain, which the `&Mbuf` this
        // iterator borrows keeps alive and unchanged.
        self.next = NonNull::new(unsafe { (*seg.as_ptr()).next });
        Some(Segment { seg, _packet: PhantomData })
    }
}

/// Iterator over a packet's segments' bytes, writable ([`Mbuf::segments_mut`]).
pub struct SegmentsMut<'a> {
    next: Option<NonNull<MbufHeader>>,
    _packet: PhantomData<&'a mut Mbuf>,
}

impl<'a> Iterator for SegmentsMut<'a> {
    type Item = &'a mut [u8];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a mut [u8]> {
        let seg = self.next?;
        // SAFETY: the chain is borrowed mutably for 'a, so its links do not
        // change; each segment is a different slot, yielded once, so the
        // slices never overlap and nothing else views them during 'a.
        unsafe {
            self.next = NonNull::new((*seg.as_ptr()).next);
            Some(segment_data_mut(seg))
        }
    }
}

impl Mbuf {
    /// Segments in the packet (1 unless chained).
    #[inline(always)]
    pub fn nb_segs(&self) -> u16 {
        self.h().nb_segs
    }

    /// Whether the whole packet is in this one buffer.
    #[inline(always)]
    pub fn is_contiguous(&self) -> bool {
        self.h().next.is_null()
    }

    /// The packet's segments, first to last.
    #[inline(always)]
    pub fn segments(&self) -> Segments<'_> {
        Segments { next: Some(self.slot()), _packet: PhantomData }
    }

    /// The packet's segments' bytes, writable, first to last.
    #[inline(always)]
    pub fn segments_mut(&mut self) -> SegmentsMut<'_> {
        SegmentsMut { next: Some(self.slot()), _packet: PhantomData }
    }

    /// The last segment (this mbuf when not chained), as a slot pointer a
    /// caller holding `&mut self` may write through.
    #[inline(always)]
    pub(super) fn last_segment(&self) -> NonNull<MbufHeader> {
        let mut seg = self.slot();
        // SAFETY: `next` links are owned by this chain (see module docs);
        // reading one through the slot pointer keeps its provenance.
        while let Some(n) = NonNull::new(unsafe { (*seg.as_ptr()).next }) {
            seg = n;
        }
        seg
    }

    /// Appends `tail` (itself possibly a chain) after the last segment
    /// (`rte_pktmbuf_chain`). Gives `tail` back if the packet would exceed
    /// [`MAX_SEGMENTS`] segments or 4 GiB.
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        let segs = self.nb_segs() as usize + tail.nb_segs() as usize;
        let len = self.len() as u64 + tail.len() as u64;
        if segs > MAX_SEGMENTS || len > u32::MAX as u64 {
            return Err(tail);
        }
        let last = self.last_segment();
        // SAFETY: `last` is the end of our chain (its `next` is null) and
        // `tail` hands its whole chain over to it.
        unsafe { (*last.as_ptr()).next = tail.into_raw().as_ptr() };
        let h = self.hm();
        h.nb_segs = segs as u16;
        h.pkt_len = len as u32;
        Ok(())
    }

    /// Detaches every segment after the first and returns them as a packet
    /// of their own; this mbuf keeps its first segment only.
    pub fn split_first(&mut self) -> Option<Mbuf> {
        let rest = NonNull::new(std::mem::replace(&mut self.hm().next, std::ptr::null_mut()))?;
        let h = self.hm();
        h.nb_segs = 1;
        h.pkt_len = h.data_len as u32;
        // SAFETY: the rest of the chain was owned through our `next`, which
        // no longer points at it: ownership moves to the new mbuf.
        let mut rest = unsafe { Mbuf::from_raw(rest) };
        let (segs, len) = rest.segments().fold((0u16, 0u32), |(n, l), s| (n + 1, l + s.len() as u32));
        let h = rest.hm();
        h.nb_segs = segs;
        h.pkt_len = len;
        Some(rest)
    }

    /// Copies packet bytes from `offset` on into `out`, across segments
    /// (`rte_pktmbuf_read`); returns how many were copied (fewer than
    /// `out.len()` only at the end of the packet).
    pub fn read(&self, mut offset: usize, out: &mut [u8]) -> usize {
        let mut done = 0;
        for seg in self.segments() {
            let data = seg.data();
            if offset >= data.len() {
                offset -= data.len();
                continue;
            }
            let n = (data.len() - offset).min(out.len() - done);
            out[done..done + n].copy_from_slice(&data[offset..offset + n]);
            done += n;
            offset = 0;
            if done == out.len() {
                break;
            }
        }
        done
    }

    /// Keeps the packet's first `len` bytes, across segments: segments
    /// wholly past `len` go back to their pools, the one `len` ends in is
    /// shortened (so no segment is left empty unless `len` is 0). False, and
    /// nothing changes, if the packet is shorter than `len`.
    pub fn truncate(&mut self, len: usize) -> bool {
        if len > self.len() {
            return false;
        }
        let (mut seg, mut before, mut segs) = (self.slot(), 0usize, 1u16);
        // SAFETY: the segments are this chain's (`&mut self`: no other view
        // of them), reached through slot pointers; the detached rest is
        // owned by nobody else and goes back to its pools.
        unsafe {
            loop {
                let h = &mut *seg.as_ptr();
                let end = before + h.data_len as usize;
                let next = NonNull::new(h.next);
                if len <= end || next.is_none() {
                    h.data_len = (len - before) as u16;
                    free_segments(std::mem::replace(&mut h.next, std::ptr::null_mut()));
                    break;
                }
                (before, segs, seg) = (end, segs + 1, next.unwrap_or(seg));
            }
        }
        let h = self.hm();
        h.nb_segs = segs;
        h.pkt_len = len as u32;
        true
    }

    /// Returns every segment after the first to its pool. Kept out of line:
    /// most packets have one segment.
    #[cold]
    #[inline(never)]
    pub(super) fn free_tail(&mut self) {
        let rest = std::mem::replace(&mut self.hm().next, std::ptr::null_mut());
        let h = self.hm();
        h.nb_segs = 1;
        h.pkt_len = h.data_len as u32;
        // SAFETY: the chain owned the rest, which `next` no longer reaches.
        unsafe { free_segments(rest) };
    }
}

/// Returns the segments from `seg` on to their pools.
///
/// # Safety
/// The caller owns those segments and no longer reaches them otherwise.
#[cold]
unsafe fn free_segments(mut seg: *mut MbufHeader) {
    while let Some(s) = NonNull::new(seg) {
        // SAFETY: we own `s`; we read its link and clear it (a free slot's
        // `next` must be null) before giving it back, and its pool is alive
        // while it is out.
        unsafe {
            let hdr = &mut *s.as_ptr();
            seg = std::mem::replace(&mut hdr.next, std::ptr::null_mut());
            PoolShared::put_one(hdr.pool, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::mempool::tests::pool;

    /// A packet of `lens.len()` segments, segment `i` filled with `i + 1`.
    fn chained(p: &crate::Mempool, lens: &[usize]) -> Mbuf {
        let mut head = p.alloc().unwrap();
        assert!(head.set_len(lens[0]));
        head.data_mut().fill(1);
        for (i, &l) in lens.iter().enumerate().skip(1) {
            let mut seg = p.alloc().unwrap();
            assert!(seg.set_len(l));
            seg.data_mut().fill(i as u8 + 1);
            head.chain(seg).unwrap();
        }
        head
    }

    #[test]
    fn truncate_cuts_across_segments_and_frees_what_it_cuts() {
        let p = pool(16);
        let lens = |m: &Mbuf| m.segments().map(|s| s.len()).collect::<Vec<_>>();
        // Inside the second segment: the third goes home.
        let mut m = chained(&p, &[2048, 2048, 900]);
        assert!(m.truncate(2100));
        assert_eq!((m.len(), m.nb_segs(), lens(&m), p.in_use()), (2100, 2, vec![2048, 52], 2));
        drop(m);
        // Exactly at a boundary: no empty segment is left behind.
        let mut m = chained(&p, &[100, 200, 300]);
        assert!(m.truncate(300));
        assert_eq!((m.len(), m.nb_segs(), lens(&m)), (300, 2, vec![100, 200]));
        // Longer than the packet: refused, unchanged.
        assert!(!m.truncate(301));
        assert_eq!((m.len(), m.nb_segs()), (300, 2));
        // The whole packet, and down to nothing.
        assert!(m.truncate(300) && m.truncate(0));
        assert_eq!((m.len(), m.nb_segs(), lens(&m)), (0, 1, vec![0]));
        let mut bytes = chained(&p, &[10, 20]);
        assert!(bytes.truncate(15));
        let mut out = [0u8; 15];
        assert_eq!(bytes.read(0, &mut out), 15);
        assert_eq!(out, [[1u8; 10].as_slice(), &[2u8; 5]].concat()[..]);
        drop((m, bytes));
        assert_eq!(p.in_use(), 0);
    }

    #[test]
    fn a_chain_keeps_lengths_and_frees_every_segment() {
        let p = pool(16);
        let m = chained(&p, &[2048, 2048, 818]);
        assert_eq!((m.len(), m.data_len(), m.nb_segs()), (4914, 2048, 3));
        assert!(!m.is_contiguous());
        let lens: Vec<usize> = m.segments().map(|s| s.len()).collect();
        assert_eq!(lens, [2048, 2048, 818]);
        assert_eq!(p.in_use(), 3);
        drop(m);
        assert_eq!(p.in_use(), 0, "dropping the first segment frees the chain");
    }

    #[test]
    fn freed_segments_come_back_unchained() {
        // A slot from the free store must not claim its old chain: take every
        // slot back raw, wrap it, and drop it; a stale `next` would free a
        // segment twice and the pool would count more than it holds.
        let p = pool(4);
        drop(chained(&p, &[100, 100, 100, 100]));
        let all: Vec<Mbuf> = (0..4).map(|_| p.alloc().unwrap()).collect();
        assert!(all.iter().all(|m| m.is_contiguous() && m.nb_segs() == 1));
        drop(all);
        assert_eq!(p.available(), 4);
    }

    #[test]
    fn read_copies_across_segment_boundaries() {
        let p = pool(8);
        let m = chained(&p, &[3, 2, 4]);
        let mut all = [0u8; 9];
        assert_eq!(m.read(0, &mut all), 9);
        assert_eq!(all, [1, 1, 1, 2, 2, 3, 3, 3, 3]);
        let mut mid = [0u8; 4];
        assert_eq!(m.read(2, &mut mid), 4);
        assert_eq!(mid, [1, 2, 2, 3]);
        let mut past = [0u8; 4];
        assert_eq!(m.read(7, &mut past), 2, "only two bytes after offset 7");
        assert_eq!(m.read(9, &mut past), 0);
    }

    #[test]
    fn split_first_gives_the_rest_its_own_lengths() {
        let p = pool(8);
        let mut m = chained(&p, &[10, 20, 30]);
        let rest = m.split_first().unwrap();
        assert_eq!((m.len(), m.nb_segs()), (10, 1));
        assert_eq!((rest.len(), rest.nb_segs()), (50, 2));
        assert!(m.split_first().is_none());
        drop((m, rest));
        assert_eq!(p.in_use(), 0);
    }

    #[test]
    fn append_and_trim_work_on_the_last_segment() {
        let p = pool(8);
        let mut m = chained(&p, &[100, 2000]);
        let room = m.tailroom();
        assert_eq!(room, crate::mem::DEFAULT_DATA_ROOM - 2000);
        m.append(10).unwrap().fill(9);
        assert_eq!((m.len(), m.data_len()), (2110, 100));
        assert_eq!(m.segments().last().unwrap().data()[2000..], [9; 10]);
        assert!(m.trim(2010));
        assert_eq!(m.len(), 100);
        assert!(!m.trim(1), "the last segment is empty now");
        assert!(!m.set_len(50), "set_len refuses a chain");
        assert!(m.adj(100) && m.is_empty());
    }

    #[test]
    fn segments_mut_writes_each_segment() {
        let p = pool(8);
        let mut m = chained(&p, &[4, 4]);
        for (i, s) in m.segments_mut().enumerate() {
            s.fill(0x10 + i as u8);
        }
        let mut out = [0u8; 8];
        m.read(0, &mut out);
        assert_eq!(out, [0x10, 0x10, 0x10, 0x10, 0x11, 0x11, 0x11, 0x11]);
    }

    #[test]
    fn segments_from_two_pools_go_home() {
        let (a, b) = (pool(4), pool(4));
        let mut m = a.alloc().unwrap();
        m.set_len(10);
        let mut s = b.alloc().unwrap();
        s.set_len(10);
        m.chain(s).unwrap();
        assert_eq!((a.in_use(), b.in_use()), (1, 1));
        let mut batch = crate::MbufBatch::new();
        batch.push(m).unwrap();
        drop(batch);
        assert_eq!((a.in_use(), b.in_use()), (0, 0), "a batch frees chains too");
    }

    #[test]
    fn reset_frees_the_tail() {
        let p = pool(8);
        let mut m = chained(&p, &[10, 10, 10]);
        m.reset();
        assert_eq!((m.len(), m.nb_segs(), p.in_use()), (0, 1, 1));
    }
}

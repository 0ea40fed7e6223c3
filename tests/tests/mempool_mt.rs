//! One pool, two registered lcores: one thread allocates (bulk and single),
//! the other frees what it is sent through a channel. About a million
//! buffers cross; no buffer is ever handed out twice while in flight, and
//! the pool is full at the end.

use std::sync::mpsc;

use ferrite_pmd::{lcore, Mbuf, MbufBatch};
use ferrite_tests::pool;

const TOTAL: u64 = 1_000_000;
const CAPACITY: usize = 4096;

enum Msg {
    Batch(Box<MbufBatch>),
    Singles(Vec<Mbuf>),
}

#[test]
fn alloc_on_one_lcore_free_on_another() {
    let p = pool("mt_pool", CAPACITY);
    let (to_free, freeing) = mpsc::sync_channel::<(u64, Msg)>(16);
    let (back, recycled) = mpsc::channel::<Box<MbufBatch>>();
    let alloc_pool = p.clone();
    let allocator = std::thread::spawn(move || {
        let _lc = lcore::register().expect("lcore");
        let mut sent = 0u64;
        let mut tag = 0u64;
        let mut spare: Vec<Box<MbufBatch>> = (0..24).map(|_| Box::new(MbufBatch::new())).collect();
        let mut round = 0u64;
        while sent < TOTAL {
            round += 1;
            spare.extend(recycled.try_iter());
            let first = tag;
            let msg = if round & 3 == 0 {
                // Singles.
                let mut v = Vec::with_capacity(7);
                for _ in 0..7 {
                    match alloc_pool.alloc() {
                        Some(mut m) => {
                            m.set_user(tag);
                            tag += 1;
                            v.push(m);
                        }
                        None => break,
                    }
                }
                if v.is_empty() {
                    std::thread::yield_now();
                    continue;
                }
                Msg::Singles(v)
            } else {
                let Some(mut b) = spare.pop() else {
                    std::thread::yield_now();
                    continue;
                };
                let n = 1 + (round as usize * 13) % 64;
                if !alloc_pool.alloc_bulk(&mut b, n) {
                    spare.push(b);
                    std::thread::yield_now();
                    continue;
                }
                for m in b.iter_mut() {
                    m.set_user(tag);
                    assert!(m.set_len(64));
                    m.data_mut()[..8].copy_from_slice(&tag.to_le_bytes());
                    tag += 1;
                }
                Msg::Batch(b)
            };
            sent += tag - first;
            to_free.send((first, msg)).expect("freeing thread gone");
        }
        alloc_pool.flush_local_cache();
        sent
    });
    let free_pool = p.clone();
    let freer = std::thread::spawn(move || {
        let _lc = lcore::register().expect("lcore");
        let mut freed = 0u64;
        for (first, msg) in freeing {
            match msg {
                Msg::Batch(mut b) => {
                    for (i, m) in b.iter().enumerate() {
                        let tag = first + i as u64;
                        assert_eq!(m.user(), tag, "buffer reused while in flight");
                        assert_eq!(m.data()[..8], tag.to_le_bytes(), "buffer data overwritten while in flight");
                    }
                    freed += b.len() as u64;
                    b.clear();
                    let _ = back.send(b);
                }
                Msg::Singles(v) => {
                    for (i, m) in v.iter().enumerate() {
                        assert_eq!(m.user(), first + i as u64, "buffer reused while in flight");
                    }
                    freed += v.len() as u64;
                    drop(v);
                }
            }
        }
        free_pool.flush_local_cache();
        freed
    });
    let sent = allocator.join().expect("allocator panicked");
    let freed = freer.join().expect("freeing thread panicked");
    assert!(sent >= TOTAL);
    assert_eq!(sent, freed);
    assert_eq!(p.available(), CAPACITY, "pool full at the end");
}

//! Longest-prefix match over IPv4 routes: which output port a destination
//! address goes to. Two structures, both built from the same route list,
//! so `examples/lpm_bench.rs` can measure them side by side:
//!
//! * [`Dir24`]: DIR-24-8 (Gupta, Lin and McKeown, 1998; the layout of
//!   DPDK's `rte_lpm`). A table of 2^24 entries indexed by the address's
//!   top 24 bits answers every route of /24 or shorter in one read; an
//!   entry covering longer routes points at a group of 256 entries indexed
//!   by the last byte, so every lookup is one or two reads. The cost is
//!   memory: 64 MiB for the first table (4-byte entries), whatever the route count.
//! * [`PrefixHash`]: one hash map per prefix length in use, probed from the
//!   longest length down. Small, but a lookup costs a hash and a probe per
//!   length tried (up to 33).
//!
//! l3fwd uses `Dir24`: measured 20 to 50 times faster on every table tried
//! (docs/BENCHMARKS.md, "LPM lookup"), and l3fwd's budget is per packet.

use std::collections::HashMap;

/// An IPv4 route: `addr/len` goes to port `port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub addr: u32,
    pub len: u8,
    pub port: u16,
}

impl Route {
    /// The route's network: `addr` with the host bits cleared.
    pub fn network(&self) -> u32 {
        self.addr & mask(self.len)
    }
}

/// The netmask of a /`len` prefix (`len` 0..=32).
pub fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// An entry of either DIR-24-8 table, in 4 bytes as DPDK's: empty (0), a
/// port, or (first table only) the index of a group of 256.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry(u32);

impl Entry {
    const EMPTY: Entry = Entry(0);
    const PORT: u32 = 1 << 30;
    const GROUP: u32 = 1 << 31;

    fn port(port: u16) -> Entry {
        Entry(Entry::PORT | u32::from(port))
    }

    fn group(index: usize) -> Entry {
        Entry(Entry::GROUP | index as u32)
    }

    /// The group index, when this entry points at one.
    #[inline(always)]
    fn as_group(self) -> Option<usize> {
        (self.0 & Entry::GROUP != 0).then_some((self.0 & !Entry::GROUP) as usize)
    }

    /// The port, when a route set this entry.
    #[inline(always)]
    fn as_port(self) -> Option<u16> {
        (self.0 & Entry::PORT != 0).then_some(self.0 as u16)
    }
}

/// DIR-24-8: see the module docs.
pub struct Dir24 {
    top: Vec<Entry>,
    groups: Vec<[Entry; 256]>,
}

impl Dir24 {
    /// The table of `routes`; where two have the same network and length,
    /// the later one wins.
    pub fn new(routes: &[Route]) -> Dir24 {
        let mut t = Dir24 { top: vec![Entry::EMPTY; 1 << 24], groups: Vec::new() };
        // Shortest prefixes first: each route then overwrites what it
        // covers, as every route set before it is shorter or its equal, and
        // a new group starts as copies of the entry it splits.
        let mut sorted = routes.to_vec();
        sorted.sort_by_key(|r| r.len);
        for r in &sorted {
            t.insert(r);
        }
        t
    }

    fn insert(&mut self, r: &Route) {
        let net = r.network();
        let set = Entry::port(r.port);
        if r.len <= 24 {
            let first = (net >> 8) as usize;
            for i in first..first + (1usize << (24 - r.len)) {
                match self.top[i].as_group() {
                    Some(g) => self.groups[g].fill(set),
                    None => self.top[i] = set,
                }
            }
            return;
        }
        let i = (net >> 8) as usize;
        let g = match self.top[i].as_group() {
            Some(g) => g,
            None => {
                self.groups.push([self.top[i]; 256]);
                self.top[i] = Entry::group(self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let first = (net & 0xff) as usize;
        self.groups[g][first..first + (1usize << (32 - r.len))].fill(set);
    }

    /// The port for `addr`, `None` when no route covers it.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<u16> {
        let e = self.top[(addr >> 8) as usize];
        match e.as_group() {
            Some(g) => self.groups[g][(addr & 0xff) as usize].as_port(),
            None => e.as_port(),
        }
    }
}

/// One hash map per prefix length: see the module docs.
pub struct PrefixHash {
    /// (length, network -> port), longest length first.
    by_len: Vec<(u8, HashMap<u32, u16>)>,
}

impl PrefixHash {
    /// The table of `routes`; the later of two equal routes wins.
    pub fn new(routes: &[Route]) -> PrefixHash {
        let mut maps: Vec<(u8, HashMap<u32, u16>)> = Vec::new();
        for r in routes {
            let i = match maps.iter().position(|(l, _)| *l == r.len) {
                Some(i) => i,
                None => {
                    maps.push((r.len, HashMap::new()));
                    maps.len() - 1
                }
            };
            maps[i].1.insert(r.network(), r.port);
        }
        maps.sort_by_key(|m| std::cmp::Reverse(m.0));
        PrefixHash { by_len: maps }
    }

    /// The port for `addr`, `None` when no route covers it.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<u16> {
        self.by_len.iter().find_map(|(len, map)| map.get(&(addr & mask(*len))).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer by definition: the longest route covering `addr`, the
    /// later of equals.
    fn brute_force(routes: &[Route], addr: u32) -> Option<u16> {
        let mut best: Option<&Route> = None;
        for r in routes {
            if addr & mask(r.len) == r.network() && best.is_none_or(|b| r.len >= b.len) {
                best = Some(r);
            }
        }
        best.map(|r| r.port)
    }

    /// xorshift64: a fixed sequence, so a failure reproduces.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn both_tables_agree_with_the_definition_on_nested_random_routes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut routes = vec![Route { addr: 0, len: 0, port: 99 }];
        // Nested prefixes of one base address, and scattered ones.
        let base = 0x0a01_0203;
        for len in [8, 12, 16, 20, 23, 24, 25, 28, 30, 32] {
            routes.push(Route { addr: base, len, port: u16::from(len) });
        }
        for _ in 0..300 {
            let v = rng(&mut seed);
            routes.push(Route { addr: v as u32, len: (v >> 32) as u8 % 33, port: (v >> 40) as u16 % 8 });
        }
        let (dir, hash) = (Dir24::new(&routes), PrefixHash::new(&routes));
        let mut probes: Vec<u32> =
            routes.iter().flat_map(|r| [r.addr, r.network(), r.network() | !mask(r.len)]).collect();
        probes.extend((0..20_000).map(|_| rng(&mut seed) as u32));
        probes.extend([base, base ^ 1, base ^ 0x100, base ^ 0x10000, 0, u32::MAX]);
        for a in probes {
            let want = brute_force(&routes, a);
            assert_eq!(dir.lookup(a), want, "Dir24 for {a:#010x}");
            assert_eq!(hash.lookup(a), want, "PrefixHash for {a:#010x}");
        }
    }

    #[test]
    fn no_route_is_none_and_a_shorter_route_added_last_keeps_the_longer() {
        let routes = [Route { addr: 0x0a00_0000, len: 24, port: 1 }, Route { addr: 0x0a00_0000, len: 8, port: 2 }];
        let dir = Dir24::new(&routes);
        assert_eq!(dir.lookup(0x0a00_0005), Some(1));
        assert_eq!(dir.lookup(0x0a01_0005), Some(2));
        assert_eq!(dir.lookup(0x0b00_0000), None);
        assert_eq!(PrefixHash::new(&routes).lookup(0x0b00_0000), None);
    }
}

//! The Toeplitz hash against Microsoft's published RSS verification suite
//! ("Verifying the RSS Hash Calculation"): IPv4, IPv4/TCP, IPv6, IPv6/TCP,
//! with the well-known key; and the frame parser feeding it the same bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferrite_pmd::rss::{toeplitz_hash, RssHashTypes, Toeplitz, MS_RSS_KEY};

/// (destination, dst port, source, src port, IPv4 hash, IPv4/TCP hash)
const V4: [(&str, u16, &str, u16, u32, u32); 5] = [
    ("161.142.100.80", 1766, "66.9.149.187", 2794, 0x323e8fc2, 0x51ccc178),
    ("65.69.140.83", 4739, "199.92.111.2", 14230, 0xd718262a, 0xc626b0ea),
    ("12.22.207.184", 38024, "24.19.198.95", 12898, 0xd2d0a5de, 0x5c2b394a),
    ("209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xafc7327f),
    ("202.188.127.2", 1303, "153.39.163.191", 44251, 0x5d1809c5, 0x10e828a2),
];

/// (destination, dst port, source, src port, IPv6 hash, IPv6/TCP hash)
const V6: [(&str, u16, &str, u16, u32, u32); 3] = [
    ("3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc18cd5, 0x40207d3d),
    ("ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c461c, 0xdde51bbf),
    ("fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x4b61e985, 0x02d1feef),
];

fn tcp_frame(l3: &[u8], v6: bool, sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    f.extend_from_slice(l3);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0u8; 16]);
    f
}

#[test]
fn ipv4_and_ipv4_tcp_vectors() {
    let t = Toeplitz::new(&MS_RSS_KEY);
    for (dst, dport, src, sport, ip_hash, tcp_hash) in V4 {
        let (d, s) = (dst.parse::<Ipv4Addr>().unwrap().octets(), src.parse::<Ipv4Addr>().unwrap().octets());
        let mut input = [s, d].concat();
        assert_eq!(toeplitz_hash(&MS_RSS_KEY, &input), ip_hash, "IPv4 {src} -> {dst}");
        assert_eq!(t.hash(&input), ip_hash, "table, IPv4 {src} -> {dst}");
        input.extend_from_slice(&sport.to_be_bytes());
        input.extend_from_slice(&dport.to_be_bytes());
        assert_eq!(toeplitz_hash(&MS_RSS_KEY, &input), tcp_hash, "IPv4/TCP {src}:{sport} -> {dst}:{dport}");
        assert_eq!(t.hash(&input), tcp_hash);

        // The same through the frame parser.
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&s);
        ip.extend_from_slice(&d);
        let f = tcp_frame(&ip, false, sport, dport);
        assert_eq!(t.hash_frame(&f, RssHashTypes::ALL), Some(tcp_hash));
        assert_eq!(t.hash_frame(&f, RssHashTypes::IP), Some(ip_hash), "TCP off: addresses only");
        assert_eq!(t.hash_frame(&f, RssHashTypes::IPV6), None, "IPv4 off: not hashed");
    }
}

#[test]
fn ipv6_and_ipv6_tcp_vectors() {
    let t = Toeplitz::new(&MS_RSS_KEY);
    for (dst, dport, src, sport, ip_hash, tcp_hash) in V6 {
        let (d, s) = (dst.parse::<Ipv6Addr>().unwrap().octets(), src.parse::<Ipv6Addr>().unwrap().octets());
        let mut input = [s, d].concat();
        assert_eq!(toeplitz_hash(&MS_RSS_KEY, &input), ip_hash, "IPv6 {src} -> {dst}");
        assert_eq!(t.hash(&input), ip_hash);
        input.extend_from_slice(&sport.to_be_bytes());
        input.extend_from_slice(&dport.to_be_bytes());
        assert_eq!(toeplitz_hash(&MS_RSS_KEY, &input), tcp_hash, "IPv6/TCP {src}.{sport} -> {dst}.{dport}");
        assert_eq!(t.hash(&input), tcp_hash);

        let mut ip = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        ip.extend_from_slice(&s);
        ip.extend_from_slice(&d);
        let f = tcp_frame(&ip, true, sport, dport);
        assert_eq!(t.hash_frame(&f, RssHashTypes::ALL), Some(tcp_hash));
        assert_eq!(t.hash_frame(&f, RssHashTypes::IP), Some(ip_hash));
    }
}

#[test]
fn vlan_tagged_and_fragmented_frames() {
    let t = Toeplitz::new(&MS_RSS_KEY);
    let (dst, dport, src, sport, ip_hash, tcp_hash) = V4[0];
    let (d, s) = (dst.parse::<Ipv4Addr>().unwrap().octets(), src.parse::<Ipv4Addr>().unwrap().octets());
    let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&s);
    ip.extend_from_slice(&d);
    let f = tcp_frame(&ip, false, sport, dport);
    let mut tagged = f[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    tagged.extend_from_slice(&f[12..]);
    assert_eq!(t.hash_frame(&tagged, RssHashTypes::ALL), Some(tcp_hash), "one VLAN tag is skipped");
    let mut frag = f.clone();
    frag[14 + 6] = 0x20; // more fragments
    assert_eq!(t.hash_frame(&frag, RssHashTypes::ALL), Some(ip_hash), "a fragment hashes on addresses only");
    assert_eq!(t.hash_frame(&f[..20], RssHashTypes::ALL), None, "truncated");
}

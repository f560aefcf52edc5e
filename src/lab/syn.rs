//! Hand-built TCP SYN segments with spoofed sources, sent through a raw socket whose
//! packets carry their own IP header (IPv4 `IPPROTO_RAW` implies `IP_HDRINCL`; an IPv6
//! `IPPROTO_RAW` socket includes the header too).

use std::net::{IpAddr, SocketAddr};

use socket2::{SockAddr, Socket};

use super::LabError;

const TCP_HEADER_LEN: usize = 20;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
const PROTO_TCP: u8 = 6;
const FLAG_SYN: u8 = 0x02;

/// A complete IP packet holding one SYN from `src` to `dst` (both of one family).
pub(crate) fn syn_packet(src: SocketAddr, dst: SocketAddr, seq: u32) -> Vec<u8> {
    let mut tcp = [0u8; TCP_HEADER_LEN];
    tcp[0..2].copy_from_slice(&src.port().to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = ((TCP_HEADER_LEN / 4) as u8) << 4;
    tcp[13] = FLAG_SYN;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let mut pseudo = Vec::with_capacity(40);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, PROTO_TCP]);
            pseudo.extend_from_slice(&(TCP_HEADER_LEN as u16).to_be_bytes());
        }
        (s, d) => {
            pseudo.extend_from_slice(&v6_octets(s));
            pseudo.extend_from_slice(&v6_octets(d));
            pseudo.extend_from_slice(&(TCP_HEADER_LEN as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, PROTO_TCP]);
        }
    }
    pseudo.extend_from_slice(&tcp);
    let sum = checksum(&pseudo);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());

    let mut packet = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip = [0u8; IPV4_HEADER_LEN];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((IPV4_HEADER_LEN + TCP_HEADER_LEN) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64;
            ip[9] = PROTO_TCP;
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&d.octets());
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            ip.to_vec()
        }
        (s, d) => {
            let mut ip = [0u8; IPV6_HEADER_LEN];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(TCP_HEADER_LEN as u16).to_be_bytes());
            ip[6] = PROTO_TCP;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&v6_octets(s));
            ip[24..40].copy_from_slice(&v6_octets(d));
            ip.to_vec()
        }
    };
    packet.extend_from_slice(&tcp);
    packet
}

fn v6_octets(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// The Internet checksum (RFC 1071) of `data`.
pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Send one SYN from each source to `dst` through `raw` (a raw socket in the peer
/// namespace).
pub(crate) fn send_syns(
    raw: &Socket,
    sources: &[SocketAddr],
    dst: SocketAddr,
) -> Result<(), LabError> {
    // The port of a raw socket's destination must be 0: it would name a protocol.
    let to = SockAddr::from(SocketAddr::new(dst.ip(), 0));
    for (i, src) in sources.iter().enumerate() {
        let packet = syn_packet(*src, dst, 0x1000_0000 + i as u32 * 0x1_0000);
        raw.send_to(&packet, &to)
            .map_err(|source| LabError::Socket {
                what: format!("sending a spoofed SYN {src} -> {dst}"),
                error: source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is ddf2, its complement 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn ipv4_syn_verifies() {
        let src: SocketAddr = "198.18.0.1:1024".parse().unwrap_or_else(|_| unreachable!());
        let dst: SocketAddr = "192.0.2.1:80".parse().unwrap_or_else(|_| unreachable!());
        let p = syn_packet(src, dst, 7);
        assert_eq!(p.len(), 40);
        assert_eq!(checksum(&p[..20]), 0, "IPv4 header checksum");
        let mut pseudo = vec![198, 18, 0, 1, 192, 0, 2, 1, 0, 6, 0, 20];
        pseudo.extend_from_slice(&p[20..]);
        assert_eq!(checksum(&pseudo), 0, "TCP checksum");
        assert_eq!(p[33], FLAG_SYN);
    }

    #[test]
    fn ipv6_syn_verifies() {
        let src: SocketAddr = "[2001:db8:0:5::1]:1024"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let dst: SocketAddr = "[2001:db8::1:1]:80"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let p = syn_packet(src, dst, 7);
        assert_eq!(p.len(), 60);
        assert_eq!(p[0] >> 4, 6);
        let mut pseudo = p[8..40].to_vec();
        pseudo.extend_from_slice(&[0, 0, 0, 20, 0, 0, 0, 6]);
        pseudo.extend_from_slice(&p[40..]);
        assert_eq!(checksum(&pseudo), 0, "TCP checksum");
    }
}

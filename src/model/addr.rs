//! Socket addresses: the compact form a socket record keeps, and the one way every output
//! writes them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A socket address in 19 bytes (a `SocketAddr` takes 32): the two of every socket are
/// most of its record, and a million records are held at once.
///
/// It orders, compares and prints like the `SocketAddr` it was made from (IPv4 before
/// IPv6, then address, then port).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    v6: bool,
    /// An IPv4 address in the first four bytes, the rest zero.
    octets: [u8; 16],
    /// Big-endian, so that it orders as the number does; bytes keep the record 19 bytes
    /// long (a `u16` would align it to 20, and the socket record to 88 instead of 80).
    port: [u8; 2],
}

impl Addr {
    /// The address `addr` (an IPv6 flow label and scope id are not kept: sock_diag's are 0).
    pub fn new(addr: SocketAddr) -> Addr {
        let mut octets = [0; 16];
        let v6 = match addr.ip() {
            IpAddr::V4(ip) => {
                octets[..4].copy_from_slice(&ip.octets());
                false
            }
            IpAddr::V6(ip) => {
                octets = ip.octets();
                true
            }
        };
        Addr {
            v6,
            octets,
            port: addr.port().to_be_bytes(),
        }
    }

    /// The IP address.
    pub fn ip(self) -> IpAddr {
        if self.v6 {
            IpAddr::from(self.octets)
        } else {
            let [a, b, c, d, ..] = self.octets;
            IpAddr::from([a, b, c, d])
        }
    }

    /// The port.
    pub fn port(self) -> u16 {
        u16::from_be_bytes(self.port)
    }

    /// Whether it is an IPv4 address.
    pub fn is_ipv4(self) -> bool {
        !self.v6
    }

    /// As a `SocketAddr`.
    pub fn get(self) -> SocketAddr {
        SocketAddr::new(self.ip(), self.port())
    }
}

impl From<SocketAddr> for Addr {
    fn from(addr: SocketAddr) -> Addr {
        Addr::new(addr)
    }
}

impl From<Addr> for SocketAddr {
    fn from(addr: Addr) -> SocketAddr {
        addr.get()
    }
}

impl PartialEq<SocketAddr> for Addr {
    fn eq(&self, other: &SocketAddr) -> bool {
        self.get() == *other
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

/// An endpoint as every output writes it: numeric, IPv6 in brackets (`[2001:db8::1]:443`,
/// IPv4-mapped as `[::ffff:192.0.2.1]:80`), port 0 as `*` (an unconnected socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint(pub SocketAddr);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.ip() {
            IpAddr::V4(ip) => write!(f, "{ip}")?,
            IpAddr::V6(ip) => write!(f, "[{ip}]")?,
        }
        match self.0.port() {
            0 => f.write_str(":*"),
            port => write!(f, ":{port}"),
        }
    }
}

impl Endpoint {
    /// Append exactly what `Display` writes, without going through `core::fmt` for IPv4
    /// and IPv4-mapped addresses: the text report writes a million of these.
    pub fn write_bytes(self, out: &mut Vec<u8>) {
        match self.0.ip() {
            IpAddr::V4(ip) => push_ipv4(out, ip),
            IpAddr::V6(ip) => {
                out.push(b'[');
                match ip.to_ipv4_mapped() {
                    Some(v4) => {
                        out.extend_from_slice(b"::ffff:");
                        push_ipv4(out, v4);
                    }
                    None => {
                        use std::io::Write as _;
                        // Writing into a Vec cannot fail.
                        let _ = write!(out, "{ip}");
                    }
                }
                out.push(b']');
            }
        }
        out.push(b':');
        match self.0.port() {
            0 => out.push(b'*'),
            port => push_decimal(out, u64::from(port)),
        }
    }
}

/// Append `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// How many characters `n` takes in decimal.
pub fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn push_ipv4(out: &mut Vec<u8>, ip: Ipv4Addr) {
    let [a, b, c, d] = ip.octets();
    push_decimal(out, u64::from(a));
    out.push(b'.');
    push_decimal(out, u64::from(b));
    out.push(b'.');
    push_decimal(out, u64::from(c));
    out.push(b'.');
    push_decimal(out, u64::from(d));
}

/// [`Endpoint`] as a `String`.
pub fn endpoint(addr: &SocketAddr) -> String {
    Endpoint(*addr).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn addr_round_trips_and_orders_like_socket_addr(
            a in (proptest::prelude::any::<bool>(), proptest::prelude::any::<[u8; 16]>(), proptest::prelude::any::<u16>()),
            b in (proptest::prelude::any::<bool>(), proptest::prelude::any::<[u8; 16]>(), proptest::prelude::any::<u16>()),
        ) {
            let make = |(v6, raw, port): (bool, [u8; 16], u16)| {
                let ip = if v6 {
                    IpAddr::from(raw)
                } else {
                    IpAddr::from([raw[0], raw[1], raw[2], raw[3]])
                };
                SocketAddr::new(ip, port)
            };
            let (a, b) = (make(a), make(b));
            proptest::prop_assert_eq!(Addr::new(a).get(), a);
            proptest::prop_assert_eq!(Addr::new(a).cmp(&Addr::new(b)), a.cmp(&b));
            proptest::prop_assert_eq!(Addr::new(a) == Addr::new(b), a == b);
            proptest::prop_assert_eq!(Addr::new(a).to_string(), a.to_string());
            proptest::prop_assert_eq!(Addr::new(a).is_ipv4(), a.is_ipv4());
        }

        #[test]
        fn endpoint_bytes_are_what_display_writes(
            v4 in proptest::prelude::any::<[u8; 4]>(),
            v6 in proptest::prelude::any::<[u16; 8]>(),
            kind in 0..3u8,
            port in proptest::prop_oneof![proptest::prelude::Just(0u16), proptest::prelude::any::<u16>()],
        ) {
            let ip = match kind {
                0 => IpAddr::from(v4),
                1 => IpAddr::from(Ipv4Addr::from(v4).to_ipv6_mapped()),
                _ => IpAddr::from(v6),
            };
            let addr = SocketAddr::new(ip, port);
            let mut bytes = Vec::new();
            Endpoint(addr).write_bytes(&mut bytes);
            proptest::prop_assert_eq!(String::from_utf8(bytes).unwrap(), endpoint(&addr));
        }

        #[test]
        fn decimal_digits_and_length_agree_with_display(n in proptest::prelude::any::<u64>()) {
            let mut bytes = Vec::new();
            push_decimal(&mut bytes, n);
            proptest::prop_assert_eq!(bytes.len(), decimal_len(n));
            proptest::prop_assert_eq!(String::from_utf8(bytes).unwrap(), n.to_string());
        }
    }

    #[test]
    fn endpoints_bracket_ipv6() {
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(endpoint(&v6), "[2001:db8::1]:443");
        let v4: SocketAddr = "192.0.2.1:80".parse().unwrap();
        assert_eq!(endpoint(&v4), "192.0.2.1:80");
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:80".parse().unwrap();
        assert_eq!(endpoint(&mapped), "[::ffff:192.0.2.1]:80");
        let unconnected: SocketAddr = "[::]:0".parse().unwrap();
        assert_eq!(endpoint(&unconnected), "[::]:*");
    }
}

use super::*;
use crate::collect::testutil::{TestNetns, require_root};

/// Copied from this machine (Linux 6.18): `cat /proc/net/netstat` etc.
const NETSTAT: &str = include_str!("netstat.txt");
const SNMP: &str = include_str!("snmp.txt");
const SOCKSTAT: &str = include_str!("sockstat.txt");

fn value<T: Copy>(pairs: &[(String, T)], name: &str) -> Option<T> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

#[test]
fn tcp_ext_section_pairs_every_name_with_its_value() {
    let pairs = parse_netstat_section(NETSTAT, "TcpExt");
    assert_eq!(pairs.len(), 135);
    assert_eq!(pairs[0], ("SyncookiesSent".to_owned(), 0));
    assert_eq!(pairs[134], ("TCPAODroppedIcmps".to_owned(), 0));
    assert_eq!(value(&pairs, "TW"), Some(12));
    assert_eq!(value(&pairs, "TCPAbortOnClose"), Some(33));
    assert_eq!(value(&pairs, "TCPHPHits"), Some(91));
    // IpExt and MPTcpExt names stay out.
    assert_eq!(value(&pairs, "InOctets"), None);
    assert_eq!(value(&pairs, "MPCapableSYNRX"), None);
}

#[test]
fn other_sections_are_found_by_exact_name() {
    let ip_ext = parse_netstat_section(NETSTAT, "IpExt");
    assert_eq!(value(&ip_ext, "InNoRoutes"), Some(0));
    assert_eq!(ip_ext.len(), 18);
    assert!(parse_netstat_section(NETSTAT, "Tcp").is_empty());
    assert!(parse_netstat_section(NETSTAT, "Ext").is_empty());
}

#[test]
fn snmp_tcp_section_keeps_max_conn_negative() {
    let pairs = parse_snmp_section(SNMP, "Tcp");
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "RtoAlgorithm",
            "RtoMin",
            "RtoMax",
            "MaxConn",
            "ActiveOpens",
            "PassiveOpens",
            "AttemptFails",
            "EstabResets",
            "CurrEstab",
            "InSegs",
            "OutSegs",
            "RetransSegs",
            "InErrs",
            "OutRsts",
            "InCsumErrors"
        ]
    );
    assert_eq!(value(&pairs, "MaxConn"), Some(-1));
    assert_eq!(value(&pairs, "ActiveOpens"), Some(56));
    assert_eq!(value(&pairs, "CurrEstab"), Some(4));
    assert_eq!(value(&pairs, "OutRsts"), Some(60));
}

#[test]
fn sockstat_tcp_line_becomes_pairs() {
    let pairs = parse_sockstat_line(SOCKSTAT, "TCP");
    let expected: Vec<(String, u64)> = [
        ("inuse", 5),
        ("orphan", 0),
        ("tw", 4),
        ("alloc", 8),
        ("mem", 257),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();
    assert_eq!(pairs, expected);
    // "UDPLITE: inuse 0" must not match "UDP".
    assert_eq!(
        parse_sockstat_line(SOCKSTAT, "UDP"),
        vec![("inuse".to_owned(), 0), ("mem".to_owned(), 0)]
    );
}

#[test]
fn mismatched_column_counts_keep_the_shared_prefix() {
    let short_values = "TcpExt: A B C\nTcpExt: 1 2\n";
    assert_eq!(
        parse_netstat_section(short_values, "TcpExt"),
        vec![("A".to_owned(), 1), ("B".to_owned(), 2)]
    );
    let short_names = "TcpExt: A\nTcpExt: 1 2 3\n";
    assert_eq!(
        parse_netstat_section(short_names, "TcpExt"),
        vec![("A".to_owned(), 1)]
    );
}

#[test]
fn non_numeric_values_drop_only_their_own_pair() {
    let text = "TcpExt: A B C D\nTcpExt: 1 x -3 4\n";
    assert_eq!(
        parse_netstat_section(text, "TcpExt"),
        vec![("A".to_owned(), 1), ("D".to_owned(), 4)]
    );
    assert_eq!(
        parse_snmp_section("Tcp: A B\nTcp: -1 1.5\n", "Tcp"),
        vec![("A".to_owned(), -1)]
    );
    assert_eq!(
        parse_sockstat_line("TCP: inuse 5 orphan x tw", "TCP"),
        vec![("inuse".to_owned(), 5)]
    );
}

#[test]
fn missing_or_garbled_input_gives_empty_lists() {
    for text in [
        "",
        "\n\n",
        "TcpExt: A B\n",
        "garbage without colons\n",
        "TcpExt:",
    ] {
        assert!(parse_netstat_section(text, "TcpExt").is_empty(), "{text:?}");
        assert!(parse_snmp_section(text, "Tcp").is_empty(), "{text:?}");
        assert!(parse_sockstat_line(text, "TCP").is_empty(), "{text:?}");
    }
}

#[test]
fn sysctl_values_parse_or_stay_absent() {
    assert_eq!(parse_single(b"131072\n"), Some(131_072));
    assert_eq!(parse_single(b"-1\n"), None);
    assert_eq!(parse_single(b""), None);
    assert_eq!(parse_port_range(b"32768\t60999\n"), Some((32768, 60999)));
    assert_eq!(parse_port_range(b"32768\n"), None);
    assert_eq!(parse_port_range(b"1 2 3\n"), None);
    assert_eq!(parse_port_range(b"1 70000\n"), None);
}

#[test]
fn files_under_fixture_dirs_fill_counters_and_limits_and_missing_ones_stay_absent() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let sys = dir.path().join("sys");
    std::fs::create_dir_all(&net).unwrap();
    std::fs::create_dir_all(sys.join("ipv4")).unwrap();
    std::fs::write(net.join("netstat"), NETSTAT).unwrap();
    std::fs::write(net.join("sockstat"), SOCKSTAT).unwrap();
    std::fs::write(sys.join("ipv4/tcp_max_tw_buckets"), "5000\n").unwrap();
    std::fs::write(sys.join("ipv4/ip_local_port_range"), "1024\t2048\n").unwrap();
    std::fs::write(sys.join("ipv4/tcp_fin_timeout"), "not a number\n").unwrap();

    let files = KernelFiles::open_at(&net, &sys);
    let counters = files.counters();
    assert_eq!(counters.tcp_ext("TW"), Some(12));
    assert!(counters.tcp.is_empty());
    assert_eq!(counters.sockstat("tw"), Some(4));
    assert_eq!(
        files.limits(),
        Limits {
            ip_local_port_range: Some((1024, 2048)),
            tcp_max_tw_buckets: Some(5000),
            ..Limits::default()
        }
    );
}

#[test]
fn limits_and_counters_follow_the_namespace_the_files_were_opened_in() {
    if !require_root("limits_and_counters_follow_the_namespace_the_files_were_opened_in") {
        return;
    }
    let netns = TestNetns::new("kernel");
    netns.exec(&[
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.tcp_max_tw_buckets=1234",
        "net.ipv4.ip_local_port_range=40000 40100",
        // Each limit its own value, so a file read for another's shows.
        "net.core.somaxconn=321",
        "net.ipv4.tcp_max_syn_backlog=654",
        "net.ipv4.tcp_syncookies=2",
        "net.ipv4.tcp_fin_timeout=42",
    ]);
    let inside = netns.enter(KernelFiles::open);
    let host = KernelFiles::open();
    for _ in 0..2 {
        let limits = inside.limits();
        assert_eq!(limits.tcp_max_tw_buckets, Some(1234));
        assert_eq!(limits.ip_local_port_range, Some((40000, 40100)));
        assert_eq!(limits.somaxconn, Some(321));
        assert_eq!(limits.tcp_max_syn_backlog, Some(654));
        assert_eq!(limits.tcp_syncookies, Some(2));
        assert_eq!(limits.tcp_fin_timeout, Some(42));
        // A host-wide sysctl: only the initial namespace has the file.
        assert_eq!(limits.tcp_max_orphans, None);
        let counters = inside.counters();
        // A fresh namespace: nothing opened, no sockets.
        assert_eq!(counters.tcp("ActiveOpens"), Some(0));
        assert_eq!(counters.tcp("MaxConn"), Some(-1));
        assert_eq!(counters.sockstat("inuse"), Some(0));
        assert!(counters.tcp_ext("ListenOverflows").is_some());
    }
    let host_limits = host.limits();
    assert_ne!(host_limits.tcp_max_tw_buckets, Some(1234));
    assert_ne!(host_limits.ip_local_port_range, Some((40000, 40100)));
    assert!(host_limits.tcp_max_tw_buckets.is_some());
    assert!(host_limits.tcp_max_orphans.is_some());
    // The collector borrows the host's value for the watched namespace.
    let borrowed = netns.enter(KernelFiles::open).with_host_max_orphans();
    assert_eq!(
        borrowed.limits().tcp_max_orphans,
        host_limits.tcp_max_orphans
    );
}

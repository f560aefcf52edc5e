//! The kernel counters and limits the exporter publishes, one metric each: which file a
//! counter comes from, its name there, its family and `HELP`.

/// Which kernel file a counter is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterFile {
    /// `/proc/net/netstat`, the `TcpExt:` lines.
    TcpExt,
    /// `/proc/net/snmp`, the `Tcp:` lines.
    Tcp,
}

/// A kernel counter exported as a metric of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelCounter {
    /// Where the kernel keeps it.
    pub file: CounterFile,
    /// Its name there (`ListenOverflows`).
    pub kernel: &'static str,
    /// Its family, without `_total` (`sockscope_tcp_listen_overflows`).
    pub metric: &'static str,
    /// The family's `HELP`.
    pub help: &'static str,
}

const fn counter(
    file: CounterFile,
    kernel: &'static str,
    metric: &'static str,
    help: &'static str,
) -> KernelCounter {
    KernelCounter {
        file,
        kernel,
        metric,
        help,
    }
}

/// The kernel counters exported, one metric each (with a `netns` label): those the rules
/// read and those the dashboard draws (retransmits, resets, opens, aborts).
pub const KERNEL_COUNTERS: [KernelCounter; 13] = [
    counter(
        CounterFile::TcpExt,
        "ListenOverflows",
        "sockscope_tcp_listen_overflows",
        "Connections a listener dropped because its accept queue was full (TcpExt ListenOverflows).",
    ),
    counter(
        CounterFile::TcpExt,
        "ListenDrops",
        "sockscope_tcp_listen_drops",
        "Connections a listener dropped for any reason, overflows included (TcpExt ListenDrops).",
    ),
    counter(
        CounterFile::TcpExt,
        "SyncookiesSent",
        "sockscope_tcp_syncookies_sent",
        "SYN cookies sent: a SYN queue overflowed (TcpExt SyncookiesSent).",
    ),
    counter(
        CounterFile::TcpExt,
        "TCPReqQFullDoCookies",
        "sockscope_tcp_request_queue_full_cookies",
        "SYNs answered with a cookie because the SYN queue was full (TcpExt TCPReqQFullDoCookies).",
    ),
    counter(
        CounterFile::TcpExt,
        "TCPReqQFullDrop",
        "sockscope_tcp_request_queue_full_drops",
        "SYNs dropped because the SYN queue was full and cookies were off (TcpExt TCPReqQFullDrop).",
    ),
    counter(
        CounterFile::TcpExt,
        "TCPTimeWaitOverflow",
        "sockscope_tcp_time_wait_overflows",
        "Sockets that skipped TIME_WAIT because tcp_max_tw_buckets was reached (TcpExt TCPTimeWaitOverflow).",
    ),
    counter(
        CounterFile::TcpExt,
        "TCPAbortOnTimeout",
        "sockscope_tcp_aborts_on_timeout",
        "Connections aborted after too many retransmissions or keepalive probes (TcpExt TCPAbortOnTimeout).",
    ),
    counter(
        CounterFile::Tcp,
        "ActiveOpens",
        "sockscope_tcp_active_opens",
        "Connections opened by connect() (Tcp ActiveOpens).",
    ),
    counter(
        CounterFile::Tcp,
        "PassiveOpens",
        "sockscope_tcp_passive_opens",
        "Connections accepted by a listener (Tcp PassiveOpens).",
    ),
    counter(
        CounterFile::Tcp,
        "AttemptFails",
        "sockscope_tcp_attempt_fails",
        "Connection attempts that failed: SYN_SENT or SYN_RECV back to CLOSED or LISTEN (Tcp AttemptFails).",
    ),
    counter(
        CounterFile::Tcp,
        "EstabResets",
        "sockscope_tcp_established_resets",
        "Connections reset from ESTABLISHED or CLOSE_WAIT (Tcp EstabResets).",
    ),
    counter(
        CounterFile::Tcp,
        "RetransSegs",
        "sockscope_tcp_retransmitted_segments",
        "Segments retransmitted (Tcp RetransSegs).",
    ),
    counter(
        CounterFile::Tcp,
        "OutRsts",
        "sockscope_tcp_resets_sent",
        "Segments sent with the RST flag (Tcp OutRsts).",
    ),
];

/// The kernel limits exported, one metric each, in the order they are written: the
/// family and its `HELP`.
pub const LIMITS: [(&str, &str); 8] = [
    (
        "sockscope_tcp_max_tw_buckets",
        "net.ipv4.tcp_max_tw_buckets: the most TIME_WAIT sockets the namespace keeps.",
    ),
    (
        "sockscope_tcp_max_orphans",
        "net.ipv4.tcp_max_orphans: the most orphaned sockets before the kernel resets them.",
    ),
    (
        "sockscope_tcp_max_syn_backlog",
        "net.ipv4.tcp_max_syn_backlog: the most half-open handshakes a listener keeps.",
    ),
    (
        "sockscope_somaxconn",
        "net.core.somaxconn: the cap on a listener's accept backlog.",
    ),
    (
        "sockscope_tcp_syncookies_mode",
        "net.ipv4.tcp_syncookies: 0 never, 1 when a SYN queue overflows, 2 always.",
    ),
    (
        "sockscope_tcp_fin_timeout_seconds",
        "net.ipv4.tcp_fin_timeout: how long an orphaned socket stays in FIN_WAIT2.",
    ),
    (
        "sockscope_local_port_range_first",
        "The first ephemeral port (net.ipv4.ip_local_port_range).",
    ),
    (
        "sockscope_local_port_range_last",
        "The last ephemeral port (net.ipv4.ip_local_port_range).",
    ),
];

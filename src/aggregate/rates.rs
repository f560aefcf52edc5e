//! Rates of the kernel's monotonic TCP counters between the last two snapshots.

use std::time::SystemTime;

use crate::model::Counters;

/// Which file a counter comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CounterGroup {
    /// `/proc/net/netstat`, TcpExt line.
    TcpExt,
    /// `/proc/net/snmp`, Tcp line.
    Tcp,
}

impl CounterGroup {
    /// `"TcpExt"` or `"Tcp"`, as the kernel file spells it.
    pub fn name(self) -> &'static str {
        match self {
            CounterGroup::TcpExt => "TcpExt",
            CounterGroup::Tcp => "Tcp",
        }
    }
}

/// How much one counter rose between the last two snapshots.
#[derive(Clone, Debug, PartialEq)]
pub struct CounterRate {
    /// The file it comes from.
    pub group: CounterGroup,
    /// The kernel's name (`ListenDrops`).
    pub name: String,
    /// The rise between the two snapshots.
    pub delta: u64,
    /// The rise per second; `None` when either snapshot has no time or no time passed.
    pub per_second: Option<f64>,
}

/// Tcp (snmp) values that are gauges or constants, not counters.
const TCP_GAUGES: [&str; 5] = ["RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn", "CurrEstab"];

/// Every counter present in both snapshots that did not decrease (a decrease means a reset
/// or another namespace: no rate), in file order, TcpExt first.
pub(crate) fn counter_rates(
    previous: &Counters,
    previous_at: Option<SystemTime>,
    current: &Counters,
    current_at: Option<SystemTime>,
) -> Vec<CounterRate> {
    let seconds = match (previous_at, current_at) {
        (Some(p), Some(c)) => c
            .duration_since(p)
            .ok()
            .map(|d| d.as_secs_f64())
            .filter(|s| *s > 0.0),
        _ => None,
    };
    let mut rates = Vec::with_capacity(current.tcp_ext.len() + current.tcp.len());
    let ext = pairs(&previous.tcp_ext, &current.tcp_ext, |v| Some(*v));
    let tcp = pairs(&previous.tcp, &current.tcp, |v| u64::try_from(*v).ok())
        .filter(|(name, _, _)| !TCP_GAUGES.contains(name));
    let tagged = ext
        .map(|p| (CounterGroup::TcpExt, p))
        .chain(tcp.map(|p| (CounterGroup::Tcp, p)));
    for (group, (name, before, after)) in tagged {
        if let Some(delta) = after.checked_sub(before) {
            rates.push(CounterRate {
                group,
                name: name.to_owned(),
                delta,
                per_second: seconds.map(|s| delta as f64 / s),
            });
        }
    }
    rates
}

/// `(name, previous, current)` for every name in `current` also in `previous`. The files
/// keep their order between polls, so the same index is tried before a search.
fn pairs<'a, T>(
    previous: &'a [(String, T)],
    current: &'a [(String, T)],
    value: impl Fn(&T) -> Option<u64> + 'a,
) -> impl Iterator<Item = (&'a str, u64, u64)> + 'a {
    current
        .iter()
        .enumerate()
        .filter_map(move |(i, (name, now))| {
            let before = match previous.get(i) {
                Some((n, v)) if n == name => v,
                _ => &previous.iter().find(|(n, _)| n == name)?.1,
            };
            Some((name.as_str(), value(before)?, value(now)?))
        })
}

/// The rise of `name` (either group) in `rates`.
pub(crate) fn rise(rates: &[CounterRate], name: &str) -> Option<u64> {
    rates.iter().find(|r| r.name == name).map(|r| r.delta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn counters(drops: u64, estab: i64) -> Counters {
        Counters {
            tcp_ext: vec![("ListenDrops".to_owned(), drops)],
            tcp: vec![
                ("ActiveOpens".to_owned(), 10 + estab),
                ("CurrEstab".to_owned(), estab),
            ],
            sockstat: Vec::new(),
            read_at: None,
        }
    }

    #[test]
    fn rate_is_delta_over_elapsed_seconds() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let t1 = t0 + Duration::from_secs(2);
        let rates = counter_rates(&counters(10, 5), Some(t0), &counters(30, 9), Some(t1));
        assert_eq!(
            rates,
            vec![
                CounterRate {
                    group: CounterGroup::TcpExt,
                    name: "ListenDrops".to_owned(),
                    delta: 20,
                    per_second: Some(10.0),
                },
                CounterRate {
                    group: CounterGroup::Tcp,
                    name: "ActiveOpens".to_owned(),
                    delta: 4,
                    per_second: Some(2.0),
                },
            ]
        );
    }

    #[test]
    fn decreased_counter_has_no_rate() {
        let t0 = SystemTime::UNIX_EPOCH;
        let t1 = t0 + Duration::from_secs(1);
        let rates = counter_rates(&counters(30, 5), Some(t0), &counters(10, 5), Some(t1));
        assert_eq!(rise(&rates, "ListenDrops"), None);
        assert_eq!(rise(&rates, "ActiveOpens"), Some(0));
    }

    #[test]
    fn snapshots_without_time_give_rises_but_no_per_second_rate() {
        let rates = counter_rates(&counters(1, 0), None, &counters(4, 0), None);
        assert_eq!(rates[0].delta, 3);
        assert_eq!(rates[0].per_second, None);
    }

    #[test]
    fn counters_in_another_order_are_paired_by_name_not_position() {
        let before = Counters {
            tcp_ext: vec![
                ("ListenDrops".to_owned(), 1),
                ("ListenOverflows".to_owned(), 2),
            ],
            ..Counters::default()
        };
        let after = Counters {
            tcp_ext: vec![
                ("ListenOverflows".to_owned(), 7),
                ("ListenDrops".to_owned(), 4),
            ],
            ..Counters::default()
        };
        let rates = counter_rates(&before, None, &after, None);
        assert_eq!(rise(&rates, "ListenOverflows"), Some(5));
        assert_eq!(rise(&rates, "ListenDrops"), Some(3));
        let names: Vec<&str> = rates.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ListenOverflows", "ListenDrops"]);
    }

    #[test]
    fn a_counter_missing_from_the_previous_reading_has_no_rate() {
        let before = Counters {
            tcp_ext: vec![("ListenDrops".to_owned(), 1)],
            ..Counters::default()
        };
        let after = Counters {
            tcp_ext: vec![
                ("ListenDrops".to_owned(), 1),
                ("TCPTimeWaitOverflow".to_owned(), 9),
            ],
            ..Counters::default()
        };
        let rates = counter_rates(&before, None, &after, None);
        assert_eq!(rise(&rates, "ListenDrops"), Some(0));
        assert_eq!(rise(&rates, "TCPTimeWaitOverflow"), None);
        assert_eq!(rates.len(), 1);
    }

    #[test]
    fn no_time_between_two_readings_gives_no_per_second_rate() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let rates = counter_rates(&counters(1, 0), Some(t0), &counters(4, 0), Some(t0));
        assert_eq!(rates[0].delta, 3);
        assert_eq!(rates[0].per_second, None);
        let earlier = t0 - Duration::from_secs(1);
        let backwards = counter_rates(&counters(1, 0), Some(t0), &counters(4, 0), Some(earlier));
        assert_eq!(backwards[0].per_second, None);
    }

    #[test]
    fn a_negative_snmp_value_is_no_counter() {
        let rates = counter_rates(&counters(0, 0), None, &counters(0, 0), None);
        assert_eq!(rise(&rates, "ActiveOpens"), Some(0));
        let before = Counters {
            tcp: vec![("ActiveOpens".to_owned(), -1)],
            ..Counters::default()
        };
        let rates = counter_rates(&before, None, &counters(0, 0), None);
        assert_eq!(rise(&rates, "ActiveOpens"), None);
    }

    #[test]
    fn each_group_is_named_as_its_kernel_file_spells_it() {
        assert_eq!(CounterGroup::TcpExt.name(), "TcpExt");
        assert_eq!(CounterGroup::Tcp.name(), "Tcp");
    }
}

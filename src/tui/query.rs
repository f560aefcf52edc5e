//! The `/` filter: the command line's filter vocabulary typed as one line.
//!
//! `close-wait port=443 10.0.0.0/8 nginx` keeps CLOSE_WAIT sockets on port 443 with an end
//! in 10/8 held by nginx. Words are `key=value` (or `key:value`, or `--key value` pasted
//! from a command line) with the keys `state`, `sport`, `dport`, `port`, `src`, `dst`,
//! `addr`, `process` (`proc`, `pid`), or `-4` / `-6`; a bare word is a state if it names
//! one, a port if it is a number or range, an address if it is one, else a process name.
//! Values of one key are alternatives (comma-separated or repeated); keys combine with AND.

use std::str::FromStr;

use crate::filter::{AddrBlock, Filter, PortRange, ProcessSpec, StateSpec};
use crate::model::Family;

/// One-line reminder of the syntax, for the input line.
pub const SYNTAX: &str =
    "e.g. close-wait  port=443  dst=10.0.0.0/8  nginx  -4  (Enter applies, empty clears)";

/// Parse a filter line. The error quotes the offending word.
pub fn parse(text: &str) -> Result<Filter, String> {
    let mut filter = Filter::default();
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        match word {
            "-4" | "ipv4" => filter.family = Some(Family::Inet),
            "-6" | "ipv6" => filter.family = Some(Family::Inet6),
            _ => {}
        }
        if matches!(word, "-4" | "ipv4" | "-6" | "ipv6") {
            continue;
        }
        let split = word
            .strip_prefix("--")
            .map(|flag| match flag.split_once('=') {
                Some((k, v)) => Ok((k, v)),
                None => words
                    .next()
                    .map(|v| (flag, v))
                    .ok_or_else(|| format!("--{flag} needs a value")),
            })
            .transpose()?
            .or_else(|| word.split_once(['=', ':']).filter(|(k, _)| is_key(k)));
        match split {
            Some((key, value)) => keyed(&mut filter, key, value)?,
            None => bare(&mut filter, word),
        }
    }
    Ok(filter)
}

/// `filter` written in this syntax, for the header (`state=CLOSE_WAIT port=443`).
pub fn text(filter: &Filter) -> String {
    fn join<T>(out: &mut Vec<String>, key: &str, list: &[T], show: impl Fn(&T) -> String) {
        if !list.is_empty() {
            out.push(format!(
                "{key}={}",
                list.iter().map(show).collect::<Vec<_>>().join(",")
            ));
        }
    }
    let mut words = Vec::new();
    let states: Vec<&'static str> = filter
        .states
        .iter()
        .flat_map(|s| s.0.iter())
        .map(crate::model::TcpState::name)
        .collect();
    join(&mut words, "state", &states, |s| (*s).to_owned());
    let port = |r: &PortRange| {
        if r.first == r.last {
            r.first.to_string()
        } else {
            format!("{}-{}", r.first, r.last)
        }
    };
    let block = |b: &AddrBlock| {
        let full = if b.addr.is_ipv4() { 32 } else { 128 };
        if b.prefix == full {
            b.addr.to_string()
        } else {
            format!("{}/{}", b.addr, b.prefix)
        }
    };
    join(&mut words, "sport", &filter.sports, port);
    join(&mut words, "dport", &filter.dports, port);
    join(&mut words, "port", &filter.ports, port);
    join(&mut words, "src", &filter.src, block);
    join(&mut words, "dst", &filter.dst, block);
    join(&mut words, "addr", &filter.addrs, block);
    join(
        &mut words,
        "process",
        &filter.processes,
        ToString::to_string,
    );
    match filter.family {
        Some(Family::Inet) => words.push("-4".to_owned()),
        Some(Family::Inet6) => words.push("-6".to_owned()),
        None => {}
    }
    words.join(" ")
}

fn is_key(key: &str) -> bool {
    matches!(
        key,
        "state" | "sport" | "dport" | "port" | "src" | "dst" | "addr" | "process" | "proc" | "pid"
    )
}

fn values<T: FromStr<Err = String>>(value: &str, into: &mut Vec<T>) -> Result<(), String> {
    if value.is_empty() {
        return Err("a key needs a value after '='".to_owned());
    }
    for v in value.split(',').filter(|v| !v.is_empty()) {
        into.push(v.parse()?);
    }
    Ok(())
}

fn keyed(filter: &mut Filter, key: &str, value: &str) -> Result<(), String> {
    match key {
        "state" => values(value, &mut filter.states),
        "sport" => values(value, &mut filter.sports),
        "dport" => values(value, &mut filter.dports),
        "port" => values(value, &mut filter.ports),
        "src" => values(value, &mut filter.src),
        "dst" => values(value, &mut filter.dst),
        "addr" => values(value, &mut filter.addrs),
        "process" | "proc" | "pid" => values(value, &mut filter.processes),
        other => Err(format!(
            "unknown key {other:?}: use state, sport, dport, port, src, dst, addr or process"
        )),
    }
}

fn bare(filter: &mut Filter, word: &str) {
    if word.contains(',') {
        for piece in word.split(',').filter(|p| !p.is_empty()) {
            bare(filter, piece);
        }
    } else if let Ok(state) = word.parse::<StateSpec>() {
        filter.states.push(state);
    } else if let Ok(port) = word.parse::<PortRange>() {
        filter.ports.push(port);
    } else if let Ok(block) = word.parse::<AddrBlock>() {
        filter.addrs.push(block);
    } else {
        filter.processes.push(ProcessSpec::Name(word.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StateSet, TcpState};

    #[test]
    fn bare_words_are_states_ports_addresses_then_processes() {
        let f = parse("close-wait 443 10.0.0.0/8 nginx").unwrap();
        assert_eq!(f.state_set(), StateSet::EMPTY.with(TcpState::CloseWait));
        assert_eq!(
            f.ports,
            vec![PortRange {
                first: 443,
                last: 443
            }]
        );
        assert_eq!(f.addrs, vec!["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(f.processes, vec![ProcessSpec::Name("nginx".to_owned())]);
    }

    #[test]
    fn keys_and_pasted_flags_mean_the_same() {
        let a = parse("state=TIME_WAIT,syn-recv dport=80 src:127.0.0.1 pid=42 -6").unwrap();
        let b = parse("--state TIME_WAIT,syn-recv --dport=80 --src 127.0.0.1 --process 42 ipv6")
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.processes, vec![ProcessSpec::Pid(42)]);
        assert_eq!(a.family, Some(Family::Inet6));
    }

    #[test]
    fn text_parses_back_to_the_same_filter() {
        let f =
            parse("close-wait,syn-recv sport=80-90 dst=10.0.0.0/8 addr=::1 nginx 42 -4").unwrap();
        let written = text(&f);
        assert_eq!(
            written,
            "state=CLOSE_WAIT,SYN_RECV sport=80-90 port=42 dst=10.0.0.0/8 addr=::1 process=nginx -4"
        );
        let again = parse(&written).unwrap();
        assert_eq!(again.state_set(), f.state_set());
        assert_eq!(text(&again), written);
    }

    #[test]
    fn empty_text_is_no_filter() {
        assert!(parse("   ").unwrap().is_empty());
    }

    #[test]
    fn bad_values_quote_the_word() {
        let err = parse("port=99999").unwrap_err();
        assert!(err.contains("\"99999\""), "{err}");
        assert_eq!(
            parse("colour=red").unwrap(),
            Filter {
                processes: vec![ProcessSpec::Name("colour=red".to_owned())],
                ..Filter::default()
            }
        );
        assert_eq!(parse("--state").unwrap_err(), "--state needs a value");
        assert!(
            parse("--bogus=1")
                .unwrap_err()
                .starts_with("unknown key \"bogus\"")
        );
    }
}

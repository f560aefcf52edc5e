//! The `/` line: the filter vocabulary typed as one line, read by `FromStr` and written by
//! `Display` (what `Display` writes reads back to the same filter).
//!
//! `close-wait port=443 10.0.0.0/8 nginx` keeps CLOSE_WAIT sockets on port 443 with an end
//! in 10/8 held by nginx. Words are `key=value` (or `key:value`, or `--key value` pasted
//! from a command line) with the keys of [`KEYS`] and their aliases, or a switch alone
//! (`-4`, `ipv4`, `--ipv4`); a bare word is a state if it names one, a port if it is a
//! number or range, an address if it is one, else a process name. Values of one key are
//! alternatives (comma-separated or repeated); keys combine with AND. A value with a space,
//! a comma or a quote is written in double quotes: `process="tmux: server"`.

use std::fmt;
use std::str::FromStr;

use super::keys::{self, KEYS, Key, Takes};
use super::{Filter, FilterError, quote};

impl FromStr for Filter {
    type Err = FilterError;

    /// Read a `/` line. The error quotes the offending word.
    fn from_str(text: &str) -> Result<Filter, FilterError> {
        let mut filter = Filter::default();
        let mut words = quote::words(text)?.into_iter();
        while let Some(word) = words.next() {
            if let Some(key) = switch(word) {
                key.add(&mut filter, "")?;
            } else if let Some(flag) = word.strip_prefix("--") {
                let (name, value) = match flag.split_once('=') {
                    Some((name, value)) => (name, Some(value)),
                    None => (flag, None),
                };
                let key = keys::find(name).ok_or_else(|| FilterError::UnknownKey {
                    key: name.to_owned(),
                })?;
                match (key.takes, value) {
                    (Takes::Switch { short }, Some(value)) => {
                        return Err(FilterError::SwitchWithValue {
                            key: key.name,
                            value: value.to_owned(),
                            word: format!("-{short}"),
                        });
                    }
                    (Takes::Switch { .. }, None) => key.add(&mut filter, "")?,
                    (Takes::Values(_), Some(value)) => values(&mut filter, key, name, value)?,
                    (Takes::Values(_), None) => {
                        let value = words.next().ok_or_else(|| FilterError::MissingValue {
                            flag: flag.to_owned(),
                        })?;
                        values(&mut filter, key, name, value)?;
                    }
                }
            } else if let Some((name, key, value)) = keyed(word) {
                values(&mut filter, key, name, value)?;
            } else {
                bare(&mut filter, word);
            }
        }
        Ok(filter)
    }
}

/// The filter in `/` syntax, keys in [`KEYS`] order: `state=CLOSE_WAIT port=443 -4`.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for key in KEYS.iter().filter(|k| k.is_set(self)) {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            key.write(self, f)?;
        }
        Ok(())
    }
}

/// The switch `word` turns on: `-4`, `ipv4` or `--ipv4`.
fn switch(word: &str) -> Option<&'static Key> {
    KEYS.iter().copied().find(|k| match k.takes {
        Takes::Switch { short } => {
            word.strip_prefix("--").unwrap_or(word) == k.name
                || word
                    .strip_prefix('-')
                    .is_some_and(|w| w.len() == 1 && w.starts_with(short))
        }
        Takes::Values(_) => false,
    })
}

/// `key=value` or `key:value` with a key that takes values; anything else is a bare word.
fn keyed(word: &str) -> Option<(&str, &'static Key, &str)> {
    let (name, value) = word.split_once(['=', ':'])?;
    let key = keys::find(name).filter(|k| matches!(k.takes, Takes::Values(_)))?;
    Some((name, key, value))
}

/// The comma-separated values of `key` (typed as `name`).
fn values(filter: &mut Filter, key: &Key, name: &str, value: &str) -> Result<(), FilterError> {
    if value.is_empty() {
        return Err(FilterError::EmptyValue {
            key: name.to_owned(),
            value: match key.takes {
                Takes::Values(what) => what,
                Takes::Switch { .. } => "",
            },
        });
    }
    for v in quote::values(value) {
        key.add(filter, &v)?;
    }
    Ok(())
}

/// A word without a key: the first guessed key that reads it (every piece of a
/// comma-separated word on its own).
fn bare(filter: &mut Filter, word: &str) {
    for piece in quote::values(word) {
        let _taken = KEYS.iter().any(|k| k.guess(filter, &piece));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{PortRange, ProcessSpec, StateSpec};
    use crate::model::{Family, StateSet, TcpState};

    /// The line read as a filter; errors as the text the dashboard shows.
    fn parse(text: &str) -> Result<Filter, String> {
        text.parse::<Filter>().map_err(|e| e.to_string())
    }

    fn text(filter: &Filter) -> String {
        filter.to_string()
    }

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

    #[test]
    fn every_printed_filter_reads_back_equal() {
        for line in [
            "bucket",
            "state=all",
            "listen,close-wait port=443,8000-8100 sport:22 dport=5432",
            "src=192.0.2.0/24 dst=2001:db8::/32,::ffff:10.0.0.1 addr=::1",
            "pid=7 proc=nginx,my-long-service-name 70000",
            "-4 -6",
            "--ipv4 connected",
            "process=\"tmux: server\",nginx \"Web Content\" \"a,b\"",
            "",
        ] {
            let filter: Filter = line.parse().unwrap();
            let written = filter.to_string();
            assert_eq!(
                written.parse::<Filter>(),
                Ok(filter.clone()),
                "{line:?} → {written:?}"
            );
            assert_eq!(
                written.parse::<Filter>().map(|f| f.to_string()),
                Ok(written.clone())
            );
        }
    }

    #[test]
    fn names_with_spaces_commas_or_quotes_print_quoted_and_read_back() {
        let names = ["tmux: server", "a,b", "say \"hi\"", "back\\slash", "plain"];
        let filter = Filter {
            processes: names
                .iter()
                .map(|n| ProcessSpec::Name((*n).to_owned()))
                .collect(),
            ..Filter::default()
        };
        let written = filter.to_string();
        assert_eq!(
            written,
            r#"process="tmux: server","a,b","say \"hi\"",back\slash,plain"#
        );
        assert_eq!(written.parse::<Filter>(), Ok(filter));
        assert_eq!(
            err_text("process=\"tmux"),
            "unclosed quote in process=\"tmux: end the value with a second \""
        );
    }

    fn err_text(line: &str) -> String {
        line.parse::<Filter>().unwrap_err().to_string()
    }

    #[test]
    fn a_group_prints_as_its_states() {
        let f: Filter = "bucket".parse().unwrap();
        assert_eq!(f.to_string(), "state=SYN_RECV,TIME_WAIT");
        assert_eq!(
            f.states,
            vec![
                StateSpec(StateSet::EMPTY.with(TcpState::SynRecv)),
                StateSpec(StateSet::EMPTY.with(TcpState::TimeWait))
            ]
        );
    }

    #[test]
    fn errors_are_typed_and_name_what_to_write() {
        let err = |line: &str| line.parse::<Filter>().unwrap_err();
        assert_eq!(
            err("port=99999"),
            FilterError::NotAPort {
                text: "99999".to_owned()
            }
        );
        assert_eq!(
            err("sport=90-80"),
            FilterError::BackwardsRange {
                text: "90-80".to_owned(),
                first: 90,
                last: 80
            }
        );
        assert_eq!(
            err("--state"),
            FilterError::MissingValue {
                flag: "state".to_owned()
            }
        );
        assert_eq!(
            err("--bogus x").to_string(),
            "unknown key \"bogus\": use state, sport, dport, port, src, dst, addr, process, container, cgroup or netns"
        );
        assert_eq!(
            err("port=").to_string(),
            "\"port=\" needs a value after '=': write port=PORT"
        );
        assert_eq!(
            err("--ipv6=yes").to_string(),
            "--ipv6=yes gives a value to a switch: write -6 alone"
        );
        assert_eq!(
            err("state=closed-wait"),
            FilterError::UnknownState {
                text: "closed-wait".to_owned()
            }
        );
        assert_eq!(
            err("dst=10.0.0.0/33"),
            FilterError::NotAnAddress {
                text: "10.0.0.0/33".to_owned()
            }
        );
    }

    #[test]
    fn a_bare_number_that_is_no_port_is_a_pid() {
        let f: Filter = "70000 ipv4=yes".parse().unwrap();
        assert_eq!(
            f.processes,
            vec![
                ProcessSpec::Pid(70000),
                ProcessSpec::Name("ipv4=yes".to_owned())
            ]
        );
    }
}

//! The one error of the filter vocabulary: each variant quotes the offending value and says
//! what to write instead.

use super::keys;
use super::spec::STATE_SPELLINGS;

/// Why a filter value, a `/` line or a key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A state that is neither an ss nor a netstat spelling nor an ss group.
    #[error("unknown state {text:?}; use one of: {STATE_SPELLINGS}")]
    UnknownState {
        /// The word as given.
        text: String,
    },
    /// A port that is not a number 0-65535 (or a range of two).
    #[error("{text:?} is not a port: use a number 0-65535 or a range like 8000-8100")]
    NotAPort {
        /// The port or range as given, without a leading `:`.
        text: String,
    },
    /// A range whose first port is above its last.
    #[error("port range {text:?} is backwards: write {last}-{first}")]
    BackwardsRange {
        /// The range as given.
        text: String,
        /// Its first port.
        first: u16,
        /// Its last port.
        last: u16,
    },
    /// Neither an address nor a CIDR block (or a prefix longer than the address).
    #[error(
        "{text:?} is not an address or CIDR block: use e.g. 192.0.2.7, 10.0.0.0/8, 2001:db8::/32"
    )]
    NotAnAddress {
        /// The address or block as given.
        text: String,
    },
    /// An empty process value.
    #[error("empty process: give a pid or a process name")]
    EmptyProcess,
    /// An empty container value.
    #[error("empty container: give a container id (or its start), a container name or a pod name")]
    EmptyContainer,
    /// An empty `--netns-match` value.
    #[error("empty namespace: give its name (as `snapshot -A` prints it) or its inode")]
    EmptyNetns,
    /// A cgroup prefix that is not an absolute path.
    #[error("{text:?} is not a cgroup path: start it with '/', e.g. /system.slice or /kubepods")]
    NotACgroupPath {
        /// The value as given.
        text: String,
    },
    /// `--key` pasted as the last word of a `/` line, with no value after it.
    #[error("--{flag} needs a value")]
    MissingValue {
        /// The flag without its dashes.
        flag: String,
    },
    /// `key=` with nothing after the `=`.
    #[error("\"{key}=\" needs a value after '=': write {key}={value}")]
    EmptyValue {
        /// The key as typed.
        key: String,
        /// What its value is (`PORT`).
        value: &'static str,
    },
    /// A `--key` that names no key of the vocabulary.
    #[error("unknown key {key:?}: use {}", keys::value_key_list())]
    UnknownKey {
        /// The key as typed.
        key: String,
    },
    /// A double quote on the `/` line with no closing one.
    #[error("unclosed quote in {text}: end the value with a second \"")]
    UnclosedQuote {
        /// The line from the word with the quote on.
        text: String,
    },
    /// A switch (`--ipv4`) given a value.
    #[error("--{key}={value} gives a value to a switch: write {word} alone")]
    SwitchWithValue {
        /// The switch's name.
        key: &'static str,
        /// The value given.
        value: String,
        /// How to write the switch (`-4`).
        word: String,
    },
}

//! `--container`, `--cgroup` and `--netns-match` values.

use std::fmt;
use std::str::FromStr;

use crate::filter::FilterError;
use crate::model::{Cgroup, Container, Snapshot, Socket};

/// A `--container` value: a prefix of a container id, a container name or a pod name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSpec(pub String);

impl ContainerSpec {
    /// Whether it names `container` (see [`Container::is_named`]).
    pub fn matches(&self, container: &Container) -> bool {
        container.is_named(&self.0)
    }
}

impl FromStr for ContainerSpec {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(FilterError::EmptyContainer);
        }
        Ok(ContainerSpec(text.to_owned()))
    }
}

impl fmt::Display for ContainerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `--cgroup` value: the start of a cgroup path (`/system.slice`, `/kubepods`), matched
/// as text, so `/kubepods` also keeps `/kubepods.slice/…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupPrefix(pub String);

impl CgroupPrefix {
    /// Whether `cgroup`'s path starts with it.
    pub fn matches(&self, cgroup: &Cgroup) -> bool {
        cgroup
            .path
            .as_deref()
            .is_some_and(|p| p.starts_with(&self.0))
    }
}

impl FromStr for CgroupPrefix {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if !text.starts_with('/') {
            return Err(FilterError::NotACgroupPath {
                text: text.to_owned(),
            });
        }
        Ok(CgroupPrefix(text.to_owned()))
    }
}

impl fmt::Display for CgroupPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `--netns-match` value: one namespace among those `--all-netns` watches, by its name
/// or its inode (`4026532841`, also written `net:[4026532841]` as `readlink` shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetnsSpec(pub String);

impl NetnsSpec {
    /// Whether `snapshot` is of the namespace it names.
    pub fn matches(&self, snapshot: &Snapshot) -> bool {
        snapshot.netns == self.0
            || snapshot
                .netns_inode
                .is_some_and(|inode| self.0.parse() == Ok(inode))
    }

    /// Whether it names the namespace called `name` with nsfs inode `inode`.
    pub fn names(&self, name: &str, inode: u64) -> bool {
        name == self.0 || self.0.parse() == Ok(inode)
    }

    /// Whether `socket` of `snapshot` is in the namespace it names: the snapshot's own, or,
    /// in a snapshot that merges several (the dashboard with `-A`), the socket's.
    pub fn matches_socket(&self, snapshot: &Snapshot, socket: &Socket) -> bool {
        if snapshot.namespaces.is_empty() {
            return self.matches(snapshot);
        }
        snapshot
            .namespaces
            .of(socket.cookie)
            .is_some_and(|l| self.names(&l.name, l.inode))
    }
}

impl FromStr for NetnsSpec {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let text = text
            .strip_prefix("net:[")
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if text.is_empty() {
            return Err(FilterError::EmptyNetns);
        }
        Ok(NetnsSpec(text.to_owned()))
    }
}

impl fmt::Display for NetnsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_prefixes_start_with_a_slash_and_match_as_text() {
        assert_eq!(
            "system.slice".parse::<CgroupPrefix>(),
            Err(FilterError::NotACgroupPath {
                text: "system.slice".into()
            })
        );
        assert_eq!(
            "".parse::<ContainerSpec>(),
            Err(FilterError::EmptyContainer)
        );
        let prefix: CgroupPrefix = "/kubepods".parse().unwrap();
        let cgroup = |path: Option<&str>| Cgroup {
            id: 1,
            path: path.map(Into::into),
            container: None,
        };
        assert!(prefix.matches(&cgroup(Some("/kubepods.slice/x.scope"))));
        assert!(!prefix.matches(&cgroup(Some("/system.slice"))));
        assert!(!prefix.matches(&cgroup(None)));
    }

    #[test]
    fn a_namespace_is_matched_by_name_or_inode() {
        let snapshot = Snapshot {
            netns: "lab-3".into(),
            netns_inode: Some(4_026_532_841),
            ..Snapshot::default()
        };
        for text in ["lab-3", "4026532841", " net:[4026532841] "] {
            let spec: NetnsSpec = text.parse().unwrap();
            assert!(spec.matches(&snapshot), "{text}");
        }
        for text in ["lab", "4026532842"] {
            let spec: NetnsSpec = text.parse().unwrap();
            assert!(!spec.matches(&snapshot), "{text}");
        }
        assert_eq!("".parse::<NetnsSpec>(), Err(FilterError::EmptyNetns));
        assert_eq!(
            FilterError::EmptyNetns.to_string(),
            "empty namespace: give its name (as `snapshot -A` prints it) or its inode"
        );
    }
}

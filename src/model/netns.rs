//! The namespaces of a snapshot that merges several (the dashboard with `-A`): which
//! namespace each socket is in, by cookie, beside the sockets like their cgroups.

use crate::hash::FastMap;

/// One namespace of a merged snapshot, as discovery named it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NetnsLabel {
    /// Its name: the `ip netns` name, else its container, else `comm[pid]`; `host` for
    /// sockscope's own.
    pub name: String,
    /// Its nsfs inode.
    pub inode: u64,
    /// The container its first process is in (its label), when there is one.
    pub container: Option<String>,
}

/// The namespace of each socket of a merged snapshot; empty in the snapshot of one
/// namespace (its namespace is the snapshot's own `netns`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Namespaces {
    labels: Vec<NetnsLabel>,
    by_cookie: FastMap<u64, u32>,
}

impl Namespaces {
    /// Add a namespace; its sockets are then recorded with [`Namespaces::insert`] under
    /// the position returned.
    pub fn push(&mut self, label: NetnsLabel) -> u32 {
        self.labels.push(label);
        u32::try_from(self.labels.len() - 1).unwrap_or(u32::MAX)
    }

    /// Record that the socket with `cookie` (0: none, not recorded) is in namespace `at`.
    pub fn insert(&mut self, cookie: u64, at: u32) {
        if cookie != 0 {
            self.by_cookie.insert(cookie, at);
        }
    }

    /// The namespace of the socket with `cookie`.
    pub fn of(&self, cookie: u64) -> Option<&NetnsLabel> {
        let at = *self.by_cookie.get(&cookie)?;
        self.labels.get(at as usize)
    }

    /// Every namespace merged, in the order they were added.
    pub fn labels(&self) -> &[NetnsLabel] {
        &self.labels
    }

    /// How many namespaces were merged.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether this is the snapshot of one namespace.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_socket_is_found_in_the_namespace_it_was_recorded_in() {
        let mut namespaces = Namespaces::default();
        let host = namespaces.push(NetnsLabel {
            name: "host".to_owned(),
            inode: 1,
            container: None,
        });
        let web = namespaces.push(NetnsLabel {
            name: "web".to_owned(),
            inode: 2,
            container: None,
        });
        namespaces.insert(10, host);
        namespaces.insert(11, web);
        namespaces.insert(0, web);
        assert_eq!(namespaces.of(10).map(|l| l.name.as_str()), Some("host"));
        assert_eq!(namespaces.of(11).map(|l| l.inode), Some(2));
        assert_eq!(namespaces.of(0), None);
        assert_eq!(namespaces.len(), 2);
    }
}

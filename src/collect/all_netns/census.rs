//! The dashboard's hint without `-A`: how many other namespaces hold TCP sockets, and how
//! many sockets, so that the header can say `+37 namespaces, 4,312 sockets: press A`.
//! Cheap: no dump; each namespace's `/proc/net/sockstat` (`inuse` + `tw`) is read through
//! a handle opened inside it once and kept — one descriptor a namespace, not the 13 of a
//! watched one, and at most [`MAX_HANDLES`] of them.

use std::fs::File;

use super::super::NetnsId;
use super::super::cgroup::ContainerRoots;
use super::super::kernel::parse_sockstat_line;
use super::super::netns::discover::{Namespace, discover};
use super::super::netns::run_in_handle;
use super::super::procfile::read_whole;
use crate::hash::FastMap;

/// The most sockstat handles kept open (namespaces past it are not counted).
pub const MAX_HANDLES: usize = 4_096;

/// The other namespaces that hold TCP sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Others {
    /// Namespaces other than sockscope's own with at least one TCP socket.
    pub namespaces: usize,
    /// Their TCP sockets (`inuse` + `tw` of each one's sockstat).
    pub sockets: u64,
}

/// The sockstat handle of every other namespace, kept between counts.
#[derive(Debug, Default)]
pub struct Census {
    handles: FastMap<NetnsId, Option<File>>,
}

impl Census {
    /// Discover the namespaces now and count the other ones' sockets. Namespaces that
    /// vanished are let go; one whose handle cannot be opened counts as empty.
    pub fn count(&mut self, roots: &ContainerRoots) -> Others {
        let found = discover(roots);
        self.handles
            .retain(|id, _| found.iter().any(|n| n.id == *id));
        let mut others = Others::default();
        let mut buf = Vec::new();
        for namespace in found.iter().filter(|n| !n.is_own()) {
            if !self.handles.contains_key(&namespace.id) {
                if self.handles.len() >= MAX_HANDLES {
                    continue;
                }
                self.handles.insert(namespace.id, open_sockstat(namespace));
            }
            let Some(Some(file)) = self.handles.get(&namespace.id) else {
                continue;
            };
            if read_whole(file, &mut buf).is_err() {
                continue;
            }
            let line = parse_sockstat_line(&String::from_utf8_lossy(&buf), "TCP");
            let value = |name: &str| line.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
            let sockets = value("inuse") + value("tw");
            if sockets > 0 {
                others.namespaces += 1;
                others.sockets += sockets;
            }
        }
        others
    }
}

/// `/proc/net/sockstat` opened inside `namespace`, through the first of its handles that
/// still leads to it.
fn open_sockstat(namespace: &Namespace) -> Option<File> {
    namespace.handles.iter().find_map(|path| {
        let handle = crate::untrusted::open_handle(path).ok()?;
        if handle.metadata().ok().map(|m| NetnsId::of(&m)) != Some(namespace.id) {
            return None;
        }
        let opened = run_in_handle(&handle, path, || {
            File::open("/proc/thread-self/net/sockstat").ok()
        });
        opened.ok().and_then(|(file, _)| file)
    })
}

//! Whether a target still leads to the namespace a collector entered.
//!
//! A collector opens its handles inside the namespace once; its netlink socket then keeps
//! that namespace alive, so polls go on succeeding against it after `ip netns del NAME`,
//! after `ip netns del NAME; ip netns add NAME` (the name now leads to a new, empty one),
//! or after the watched process exits or moves. [`EnteredNetns::check`] tells, with one
//! `stat` of the target's handle, whether that happened.

use std::io;
use std::os::unix::fs::MetadataExt as _;

use super::NetnsTarget;

/// A network namespace's identity: the device and inode of its nsfs file, the inode being
/// the number `readlink /proc/PID/ns/net` shows as `net:[INODE]` and `stat -L
/// /run/netns/NAME` as its inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetnsId {
    /// The nsfs device: one for every namespace of the host.
    pub dev: u64,
    /// The namespace's inode number.
    pub inode: u64,
}

impl NetnsId {
    /// The identity of the namespace file `metadata` was read from.
    pub(crate) fn of(metadata: &std::fs::Metadata) -> NetnsId {
        NetnsId {
            dev: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// What a target leads to now, when it is no longer the watched namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetnsChange {
    /// Nothing: the name was deleted (or holds something that is not a namespace), or the
    /// process has exited.
    Gone,
    /// Another namespace: the name was deleted and made again, or the process moved
    /// (`setns`, `unshare`).
    Replaced(NetnsId),
}

/// The collector's target no longer leads to the namespace it watches. The collector goes
/// on polling the one it opened, which its own netlink socket keeps alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetnsDrift {
    /// What the user asked to watch.
    pub target: NetnsTarget,
    /// The namespace the collector opened and still polls.
    pub watched: NetnsId,
    /// What the target leads to now.
    pub change: NetnsChange,
}

impl NetnsDrift {
    /// The namespace that following the target would open, if there is one.
    pub fn followable(&self) -> Option<NetnsId> {
        match self.change {
            NetnsChange::Replaced(now) => Some(now),
            NetnsChange::Gone => None,
        }
    }
}

/// What a collector remembers of the namespace it entered, to tell at each poll whether
/// its target still leads there.
#[derive(Clone, Debug)]
pub struct EnteredNetns {
    target: NetnsTarget,
    /// The namespace entered: `None` for sockscope's own (which cannot drift).
    opened: Option<NetnsId>,
    /// For a pid: the process's start time when it was entered, to tell a process that
    /// moved from a pid that another process now has.
    start_time: Option<u64>,
}

impl EnteredNetns {
    /// Sockscope's own namespace: nothing to watch.
    pub(super) fn own() -> EnteredNetns {
        EnteredNetns {
            target: NetnsTarget::Own,
            opened: None,
            start_time: None,
        }
    }

    /// A namespace entered through a handle of its own (`--all-netns`): the handle is the
    /// target, so it never leads elsewhere and [`EnteredNetns::check`] says nothing.
    pub(super) fn pinned(opened: Option<NetnsId>) -> EnteredNetns {
        EnteredNetns {
            target: NetnsTarget::Own,
            opened,
            start_time: None,
        }
    }

    /// The namespace `target` led to when its handle was opened.
    pub(super) fn entered(target: &NetnsTarget, opened: Option<NetnsId>) -> EnteredNetns {
        let start_time = match target {
            NetnsTarget::Pid(pid) => start_time(*pid),
            NetnsTarget::Own | NetnsTarget::Named(_) => None,
        };
        EnteredNetns {
            target: target.clone(),
            opened,
            start_time,
        }
    }

    /// The namespace entered (`None` for sockscope's own).
    pub fn opened(&self) -> Option<NetnsId> {
        self.opened
    }

    /// Whether the target still leads to the namespace entered: `None` when it does (or
    /// when that cannot be told), else what it leads to now. One `stat` of
    /// `/run/netns/NAME` or `/proc/PID/ns/net`; for a pid whose namespace differs, one more
    /// read of `/proc/PID/stat`.
    pub fn check(&self) -> Option<NetnsDrift> {
        let watched = self.opened?;
        let path = self.target.handle_path()?;
        let now = std::fs::metadata(path).map(|m| NetnsId::of(&m));
        let mut change = compare(watched, now)?;
        if let (NetnsChange::Replaced(_), NetnsTarget::Pid(pid)) = (change, &self.target)
            && start_time(*pid) != self.start_time
        {
            // The pid is another process's now: the one watched has exited.
            change = NetnsChange::Gone;
        }
        Some(NetnsDrift {
            target: self.target.clone(),
            watched,
            change,
        })
    }
}

/// What the target leads to, `now`, against the namespace `watched`; `None` when it is the
/// same, or when the stat failed for another reason than a missing file.
pub(super) fn compare(watched: NetnsId, now: io::Result<NetnsId>) -> Option<NetnsChange> {
    match now {
        Ok(now) if now == watched => None,
        // Not on nsfs: a plain file where the name was, as `ip netns add` leaves it for a
        // moment before it binds the new namespace there.
        Ok(now) if now.dev != watched.dev => Some(NetnsChange::Gone),
        Ok(now) => Some(NetnsChange::Replaced(now)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(NetnsChange::Gone),
        Err(_) => None,
    }
}

/// When `pid` started (clock ticks after boot); `None` when it is gone.
fn start_time(pid: u32) -> Option<u64> {
    let pid = i32::try_from(pid).ok()?;
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some(stat.starttime)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WATCHED: NetnsId = NetnsId {
        dev: 4,
        inode: 4_026_532_841,
    };

    #[test]
    fn the_same_namespace_is_no_change() {
        assert_eq!(compare(WATCHED, Ok(WATCHED)), None);
    }

    #[test]
    fn another_namespace_on_nsfs_replaced_the_watched_one() {
        let now = NetnsId {
            dev: 4,
            inode: 4_026_533_012,
        };
        assert_eq!(compare(WATCHED, Ok(now)), Some(NetnsChange::Replaced(now)));
    }

    #[test]
    fn a_missing_handle_or_a_plain_file_means_gone() {
        let missing = Err(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(compare(WATCHED, missing), Some(NetnsChange::Gone));
        let plain = NetnsId {
            dev: 27,
            inode: 812,
        };
        assert_eq!(compare(WATCHED, Ok(plain)), Some(NetnsChange::Gone));
    }

    #[test]
    fn a_handle_that_cannot_be_read_says_nothing() {
        let denied = Err(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(compare(WATCHED, denied), None);
    }

    #[test]
    fn sockscope_s_own_namespace_never_drifts() {
        assert_eq!(EnteredNetns::own().check(), None);
    }
}

//! The words for a target that no longer leads to the namespace polled: the header's
//! notice, long and short, and the notices of `F`. An on-call engineer reads them, so
//! they say what happened to the name or the process, and what is on screen instead.

use crate::collect::{NetnsChange, NetnsDrift, NetnsTarget};

/// What the user asked to watch, in words: `netns web`, `the netns of process 4242`.
pub fn subject(target: &NetnsTarget) -> String {
    match target {
        NetnsTarget::Own => "sockscope's own netns".to_owned(),
        NetnsTarget::Named(name) => format!("netns {name}"),
        NetnsTarget::Pid(pid) => format!("the netns of process {pid}"),
    }
}

/// What became of a target that leads nowhere now: `netns web was deleted`, `process 4242
/// has exited`.
pub fn gone(target: &NetnsTarget) -> String {
    match target {
        NetnsTarget::Pid(pid) => format!("process {pid} has exited"),
        NetnsTarget::Own | NetnsTarget::Named(_) => format!("{} was deleted", subject(target)),
    }
}

/// The header's notice for `drift`, long and short (for narrow terminals); `failed` is why
/// the last `F` could not follow, while it applies.
pub fn notice(drift: &NetnsDrift, failed: Option<&str>) -> (String, String) {
    let old = drift.watched.inode;
    let target = &drift.target;
    match drift.change {
        NetnsChange::Gone => {
            let (long, short) = match target {
                NetnsTarget::Pid(_) => ("its netns", "its old netns"),
                NetnsTarget::Own | NetnsTarget::Named(_) => ("the old one", "the old one"),
            };
            (
                format!(
                    "{}: still showing {long} ({old}), kept alive by sockscope's own socket",
                    gone(target)
                ),
                format!("{}: showing {short} ({old})", gone(target)),
            )
        }
        NetnsChange::Replaced(now) => {
            let (long, short) = match target {
                NetnsTarget::Pid(pid) => (
                    format!("process {pid} moved to another netns"),
                    format!("process {pid} changed netns"),
                ),
                NetnsTarget::Own | NetnsTarget::Named(_) => (
                    format!("{} was deleted and re-created", subject(target)),
                    format!("{} re-created", subject(target)),
                ),
            };
            let inodes = format!("({old} → {})", now.inode);
            match failed {
                None => (
                    format!("{long} {inodes}: showing the old one — press F to follow"),
                    format!("{short} {inodes}: showing the old one, F follows"),
                ),
                Some(why) => (
                    format!(
                        "{long} {inodes}: showing the old one — following failed: {why}; F retries"
                    ),
                    format!("{short} {inodes}: following failed, F retries"),
                ),
            }
        }
    }
}

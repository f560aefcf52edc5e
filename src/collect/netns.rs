//! Entering a network namespace: on a dedicated thread, `setns(CLONE_NEWNET)`, then run a
//! closure there. Sockets and files opened inside keep pointing at that namespace wherever
//! they are used afterwards, so the rest of sockscope never changes namespace itself.
//! [`EnteredNetns`] (in `netns/watch.rs`) tells later whether the target still leads there.

pub(crate) mod discover;
mod watch;

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};

pub use watch::{EnteredNetns, NetnsChange, NetnsDrift, NetnsId};

/// The directory `ip netns add` creates its handles in.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Which network namespace to watch.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum NetnsTarget {
    /// The namespace sockscope itself runs in.
    #[default]
    Own,
    /// A named namespace under `/run/netns` (`ip netns add NAME`).
    Named(String),
    /// The namespace of a process (the container case).
    Pid(u32),
}

impl NetnsTarget {
    /// The label reports show: `host`, the name, or `pid:N`.
    pub fn label(&self) -> String {
        match self {
            NetnsTarget::Own => "host".to_owned(),
            NetnsTarget::Named(name) => name.clone(),
            NetnsTarget::Pid(pid) => format!("pid:{pid}"),
        }
    }

    fn handle_path(&self) -> Option<PathBuf> {
        match self {
            NetnsTarget::Own => None,
            NetnsTarget::Named(name) => Some(Path::new(NETNS_RUN_DIR).join(name)),
            NetnsTarget::Pid(pid) => Some(PathBuf::from(format!("/proc/{pid}/ns/net"))),
        }
    }

    fn flag(&self) -> String {
        match self {
            NetnsTarget::Own => "(own namespace)".to_owned(),
            NetnsTarget::Named(name) => format!("--netns {name}"),
            NetnsTarget::Pid(pid) => format!("--netns-pid {pid}"),
        }
    }
}

impl fmt::Display for NetnsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Why a namespace could not be entered; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// No such named namespace.
    #[error("{flag}: no {path}; {existing}")]
    NotFound {
        /// The flag as the user wrote it.
        flag: String,
        /// The handle that is missing.
        path: String,
        /// The names that do exist, already phrased.
        existing: String,
    },
    /// No such process.
    #[error("{flag}: no process {pid} (is it still running? `ps -p {pid}`)")]
    NoProcess {
        /// The flag as the user wrote it.
        flag: String,
        /// The pid.
        pid: u32,
    },
    /// The process exists but has exited: a zombie keeps its pid, not its namespaces.
    #[error(
        "{flag}: process {pid} has exited (a zombie waiting for its parent to reap it) and has no network namespace any more; give the pid of a running process"
    )]
    Exited {
        /// The flag as the user wrote it.
        flag: String,
        /// The pid.
        pid: u32,
    },
    /// The handle is a file, but not a network namespace (`setns` says EINVAL).
    #[error(
        "{flag}: {path} is not a network namespace (a plain file left there?); `ip netns list` shows the namespaces, `ip netns add NAME` makes one"
    )]
    NotANamespace {
        /// The flag as the user wrote it.
        flag: String,
        /// The handle.
        path: String,
    },
    /// Not allowed to open or enter it.
    #[error(
        "{flag}: permission denied entering the namespace; run sockscope as root (it needs CAP_SYS_ADMIN for setns)"
    )]
    Permission {
        /// The flag as the user wrote it.
        flag: String,
    },
    /// A name that could escape /run/netns.
    #[error("--netns {0:?}: not a namespace name (names have no '/' and are not '.' or '..')")]
    BadName(String),
    /// Anything else from open or setns.
    #[error("{flag}: cannot enter {path}: {errno}")]
    Other {
        /// The flag as the user wrote it.
        flag: String,
        /// The handle.
        path: String,
        /// What the kernel said.
        errno: String,
    },
}

/// The network namespace this process is in (`/proc/self/ns/net`), `None` when it cannot
/// be read.
pub fn own() -> Option<NetnsId> {
    std::fs::metadata("/proc/self/ns/net")
        .ok()
        .map(|m| NetnsId::of(&m))
}

/// The names under /run/netns, sorted.
pub fn list_named() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(NETNS_RUN_DIR)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn open_handle(target: &NetnsTarget) -> Result<Option<File>, NetnsError> {
    let Some(path) = target.handle_path() else {
        return Ok(None);
    };
    if let NetnsTarget::Named(name) = target
        && (name.is_empty() || name.contains('/') || name == "." || name == "..")
    {
        return Err(NetnsError::BadName(name.clone()));
    }
    let flag = target.flag();
    // Without blocking: a FIFO planted under /run/netns must not hang us.
    crate::untrusted::open_handle(&path)
        .map(Some)
        .map_err(|e| match (e.kind(), target) {
            (std::io::ErrorKind::NotFound, NetnsTarget::Pid(pid)) => {
                // A zombie's /proc entry stays while its namespace links are gone.
                if Path::new(&format!("/proc/{pid}")).exists() {
                    NetnsError::Exited { flag, pid: *pid }
                } else {
                    NetnsError::NoProcess { flag, pid: *pid }
                }
            }
            (std::io::ErrorKind::NotFound, _) => {
                let names = list_named();
                let existing = if names.is_empty() {
                    format!("there are no named namespaces under {NETNS_RUN_DIR} (`ip netns list`)")
                } else {
                    format!("names under {NETNS_RUN_DIR}: {}", names.join(", "))
                };
                NetnsError::NotFound {
                    flag,
                    path: path.display().to_string(),
                    existing,
                }
            }
            (std::io::ErrorKind::PermissionDenied, _) => NetnsError::Permission { flag },
            _ => NetnsError::Other {
                flag,
                path: path.display().to_string(),
                errno: e.to_string(),
            },
        })
}

/// Run `f` inside the target namespace and return what it returns.
///
/// For [`NetnsTarget::Own`] `f` runs on the calling thread. Otherwise a fresh thread enters
/// the namespace, runs `f` and ends, so the caller's namespace never changes.
pub fn run_in<T: Send>(
    target: &NetnsTarget,
    f: impl FnOnce() -> T + Send,
) -> Result<T, NetnsError> {
    run_watched(target, f).map(|(value, _)| value)
}

/// [`run_in`], and the [`EnteredNetns`] that tells later whether `target` still leads to
/// the namespace `f` ran in (the identity comes from the handle entered, not from a second
/// lookup of the name).
pub fn run_watched<T: Send>(
    target: &NetnsTarget,
    f: impl FnOnce() -> T + Send,
) -> Result<(T, EnteredNetns), NetnsError> {
    let Some(handle) = open_handle(target)? else {
        return Ok((f(), EnteredNetns::own()));
    };
    let watch = EnteredNetns::entered(target, handle.metadata().ok().map(|m| NetnsId::of(&m)));
    let path = target
        .handle_path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    enter(&handle, target.flag(), path, f).map(|value| (value, watch))
}

/// Run `f` inside the namespace `handle` (an open nsfs file, e.g. one that
/// discovery (`netns/discover.rs`) found) leads to, on a fresh thread, as [`run_in`]
/// does; `path` names the handle in errors. Returns what `f` returns and the
/// [`EnteredNetns`] of that namespace, which never drifts: the handle is the target.
pub fn run_in_handle<T: Send>(
    handle: &File,
    path: &Path,
    f: impl FnOnce() -> T + Send,
) -> Result<(T, EnteredNetns), NetnsError> {
    let watch = EnteredNetns::pinned(handle.metadata().ok().map(|m| NetnsId::of(&m)));
    let path = path.display().to_string();
    enter(handle, "--all-netns".to_owned(), path, f).map(|value| (value, watch))
}

/// `setns` into `handle` on a fresh thread, run `f` there and return what it returns.
fn enter<T: Send>(
    handle: &File,
    flag: String,
    path: String,
    f: impl FnOnce() -> T + Send,
) -> Result<T, NetnsError> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                setns(handle, CloneFlags::CLONE_NEWNET).map_err(|errno| match errno {
                    Errno::EPERM | Errno::EACCES => NetnsError::Permission { flag },
                    Errno::EINVAL => NetnsError::NotANamespace { flag, path },
                    other => NetnsError::Other {
                        flag,
                        path,
                        errno: other.desc().to_owned(),
                    },
                })?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_runs_inline() {
        assert_eq!(run_in(&NetnsTarget::Own, || 7).ok(), Some(7));
    }

    #[test]
    fn unknown_name_lists_what_exists() {
        let err = run_in(&NetnsTarget::Named("sockscope-no-such-ns".into()), || ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("--netns sockscope-no-such-ns: no /run/netns/sockscope-no-such-ns; "),
            "{err}"
        );
    }

    #[test]
    fn names_with_slashes_are_refused() {
        let err = run_in(&NetnsTarget::Named("../etc".into()), || ()).err();
        assert!(matches!(err, Some(NetnsError::BadName(_))));
    }

    #[test]
    fn a_zombie_has_exited_and_says_so() {
        // `sh` execs into `sleep`, which never reaps the `sleep 0` sh started: a zombie.
        let mut parent = std::process::Command::new("sh")
            .args(["-c", "sleep 0 & exec sleep 30"])
            .spawn()
            .unwrap();
        let children = format!("/proc/{0}/task/{0}/children", parent.id());
        let zombie = (0..200)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(10));
                let pid: u32 = std::fs::read_to_string(&children)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                stat.rsplit_once(") ")?.1.starts_with('Z').then_some(pid)
            })
            .expect("a zombie child within 2 s");
        let err = run_in(&NetnsTarget::Pid(zombie), || ())
            .err()
            .map(|e| e.to_string());
        let _ = parent.kill();
        let _ = parent.wait();
        assert_eq!(
            err.as_deref(),
            Some(
                format!(
                    "--netns-pid {zombie}: process {zombie} has exited (a zombie waiting for its parent to reap it) and has no network namespace any more; give the pid of a running process"
                )
                .as_str()
            )
        );
    }

    #[test]
    fn a_plain_file_under_run_netns_is_not_a_namespace() {
        if !crate::collect::testutil::require_root(
            "a_plain_file_under_run_netns_is_not_a_namespace",
        ) {
            return;
        }
        let name = format!("sockscope-test-plain-{}", std::process::id());
        let path = Path::new(NETNS_RUN_DIR).join(&name);
        std::fs::create_dir_all(NETNS_RUN_DIR).unwrap();
        std::fs::write(&path, b"").unwrap();
        let err = run_in(&NetnsTarget::Named(name.clone()), || ())
            .err()
            .map(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            err.as_deref(),
            Some(
                format!(
                    "--netns {name}: {} is not a network namespace (a plain file left there?); `ip netns list` shows the namespaces, `ip netns add NAME` makes one",
                    path.display()
                )
                .as_str()
            )
        );
    }

    #[test]
    fn missing_pid_says_so() {
        let err = run_in(&NetnsTarget::Pid(u32::MAX - 1), || ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            format!(
                "--netns-pid {0}: no process {0} (is it still running? `ps -p {0}`)",
                u32::MAX - 1
            )
        );
    }
}

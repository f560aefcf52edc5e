//! Test helpers for the kernel-facing tests: a root check, a throwaway network namespace,
//! and a child process for a test that changes or reads what the whole process shares.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::NetnsTarget;

pub(crate) mod child;

pub(crate) use child::in_child;

/// Whether the test can run as root. When not root: with `CI=true` this panics (CI must
/// run every test), otherwise it prints a loud SKIPPED line and returns `false`.
pub(crate) fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: needs root, and CI=true forbids skipping"
    );
    eprintln!("SKIPPED {test}: needs root");
    false
}

/// Run a command and panic with its output when it fails.
pub(crate) fn run(args: &[&str]) {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A named network namespace with loopback up, deleted on drop (also when the test fails).
pub(crate) struct TestNetns {
    name: String,
}

impl TestNetns {
    /// Create `sockscope-test-<tag>-<pid>-<n>` and bring its loopback up.
    pub(crate) fn new(tag: &str) -> TestNetns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("sockscope-test-{tag}-{}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        // From here on, Drop deletes the namespace even if the next command fails.
        let netns = TestNetns { name };
        netns.exec(&["ip", "link", "set", "lo", "up"]);
        netns
    }

    /// Its name under /run/netns.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The collector target for this namespace.
    pub(crate) fn target(&self) -> NetnsTarget {
        NetnsTarget::Named(self.name.clone())
    }

    /// Run a command inside the namespace (`ip netns exec NAME ...`).
    pub(crate) fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full);
    }

    /// Run `f` on a thread inside the namespace (sockets it creates live there).
    pub(crate) fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        super::netns::run_in(&self.target(), f).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::child::CHILD_VAR;
    use super::in_child;
    use nix::sys::resource::{Resource, getrlimit, setrlimit};

    #[test]
    fn a_body_run_in_a_child_changes_the_childs_limit_and_not_this_process() {
        let before = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let in_parent = in_child(|| {
            assert_eq!(
                std::env::var(CHILD_VAR).as_deref(),
                Ok(
                    "collect::testutil::tests::a_body_run_in_a_child_changes_the_childs_limit_and_not_this_process"
                )
            );
            let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
            setrlimit(Resource::RLIMIT_NOFILE, soft - 1, hard - 1).unwrap();
            assert_eq!(
                getrlimit(Resource::RLIMIT_NOFILE).unwrap(),
                (soft - 1, hard - 1)
            );
        });
        if in_parent {
            assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), before);
            assert_eq!(std::env::var_os(CHILD_VAR), None);
        }
    }
}

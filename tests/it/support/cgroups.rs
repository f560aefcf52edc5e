//! Cgroup v2 directories a test makes under `<mount>/sockscope-test-<pid>/`, named as
//! container runtimes name theirs, and this test process moving in and out of them so that
//! the sockets it creates meanwhile belong to them (a socket's cgroup is its creator's).
//! On drop: this process moves back home, then every directory is removed, deepest first
//! (the lab, dropped before, has stopped the holder processes placed in them).
//! Moving the process is a change to the whole process: a test that does it runs its body
//! in a child process (`support::child::in_child`), or the other tests' sockets and
//! holders created meanwhile (`cargo test` runs them as threads of one process) land in
//! its cgroups.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sockscope::collect::cgroup::cgroup2_mount;

/// The test's cgroups (see the module notes).
pub struct TestCgroups {
    mount: PathBuf,
    /// This process's own cgroup, below the mount, to return to.
    home: PathBuf,
    /// `/sockscope-test-<pid>`, below the mount.
    pub top: String,
    made: Vec<PathBuf>,
}

impl TestCgroups {
    /// Under the host's cgroup v2 mount; `None` when it has none.
    pub fn new() -> Option<TestCgroups> {
        let mount = cgroup2_mount(&std::fs::read("/proc/self/mountinfo").ok()?)?.mount_point;
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let home = own.lines().find_map(|l| l.strip_prefix("0::"))?;
        let mut cgroups = TestCgroups {
            mount,
            home: PathBuf::from(home.trim_start_matches('/')),
            top: format!("/sockscope-test-{}", std::process::id()),
            made: Vec::new(),
        };
        let top = cgroups.top.clone();
        cgroups.make(&top);
        Some(cgroups)
    }

    /// Make `path` (below the mount, every missing parent too); returns it below the mount.
    pub fn make(&mut self, path: &str) -> String {
        let mut at = self.mount.clone();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push(part);
            if !at.exists() {
                std::fs::create_dir(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display()));
                self.made.push(at.clone());
            }
        }
        path.to_owned()
    }

    /// Move process `pid` into `path` (below the mount).
    pub fn put(&self, path: &str, pid: u32) {
        let procs = self
            .mount
            .join(path.trim_start_matches('/'))
            .join("cgroup.procs");
        std::fs::write(&procs, pid.to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", procs.display()));
    }

    /// Run `create` with this process in `path`: what it creates is in that cgroup.
    pub fn inside<T>(&self, path: &str, create: impl FnOnce() -> T) -> T {
        self.put(path, std::process::id());
        let made = create();
        self.go_home();
        made
    }

    fn go_home(&self) {
        let procs = self.mount.join(&self.home).join("cgroup.procs");
        let _ = std::fs::write(procs, std::process::id().to_string());
    }
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        self.go_home();
        for dir in self.made.iter().rev() {
            remove(dir);
        }
    }
}

/// Remove a cgroup directory, waiting up to 5 s for its last process to be reaped.
fn remove(dir: &Path) {
    let started = Instant::now();
    while std::fs::remove_dir(dir).is_err() && dir.exists() {
        if started.elapsed() > Duration::from_secs(5) {
            eprintln!("could not remove cgroup {}", dir.display());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

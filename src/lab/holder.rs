//! Holder processes: the sockscope binary run as `sockscope __lab-hold COMM PARENT_PID NETNS`
//! holds the socket descriptors it inherited (from fd 3 on) under the process name `COMM`,
//! inside the monitored namespace `NETNS` (as a containerised server would be), so tests can
//! check process attribution and `--netns-pid` against a process that is not the test itself.
//!
//! A holder sets its comm, reports `ready` on stdout, then blocks reading stdin and exits
//! when stdin reaches EOF: when the lab drops it, and also when the lab's process dies
//! without dropping it. `PR_SET_PDEATHSIG` kills it too when the thread that spawned it
//! ends.
//!
//! Commands, one line on its stdin, one answer on its stdout. Every build takes those of
//! the churning client the demo stages (`churn_child.rs`): `churn-serve ADDR` makes it the
//! server (answer `serving ADDR`), `churn ADDR RATE HOLD_MS` the client (answer
//! `churning`), `churn-tally` reports what the client did (`made N failed M`). With the
//! `lab` feature (the binary the tests run), a line `close N` also makes it close its N
//! highest-numbered socket descriptors (as a server that finally closes its connections)
//! and answer `closed`; a line `lockstep ADDR RETIRED HOLD_MS` makes it a lock-step server
//! (`lockstep.rs`) and answer `serving ADDR`.

use std::ffi::CString;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use command_fds::{CommandFdExt as _, FdMapping};
use nix::sys::prctl;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::LabError;

/// The first argument that turns the sockscope binary into a holder.
pub const HOLD_ARG: &str = "__lab-hold";
/// The first descriptor number a holder's sockets get.
const FIRST_FD: i32 = 3;

/// If this process was started as a holder (`argv[1] == "__lab-hold"`), hold and return
/// the exit code; otherwise `None`. Call it first thing in `main`.
pub fn run_from_args() -> Option<i32> {
    // Arguments are bytes: any other command line (a path, a process name) may not be
    // UTF-8, and is not this one's to judge.
    if std::env::args_os().nth(1).as_deref() != Some(std::ffi::OsStr::new(HOLD_ARG)) {
        return None;
    }
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    Some(match hold(&args[1..]) {
        Ok(()) => 0,
        Err(message) => {
            crate::stderr_line!("sockscope {HOLD_ARG}: {message}");
            2
        }
    })
}

fn hold(args: &[String]) -> Result<(), String> {
    let [comm, parent, netns] = args else {
        return Err(format!("expected COMM PARENT_PID NETNS, got {args:?}"));
    };
    let handle = std::path::Path::new(crate::collect::netns::NETNS_RUN_DIR).join(netns);
    let handle = std::fs::File::open(&handle).map_err(|e| format!("{}: {e}", handle.display()))?;
    nix::sched::setns(&handle, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns {netns}: {e}"))?;
    // Hold only the inherited sockets (and stdio): a test counts the descriptors.
    drop(handle);
    let parent: i32 = parent
        .parse()
        .map_err(|e| format!("parent pid {parent:?}: {e}"))?;
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("PR_SET_PDEATHSIG: {e}"))?;
    if nix::unistd::getppid().as_raw() != parent {
        // The parent died before PR_SET_PDEATHSIG took effect: nothing to hold for.
        return Ok(());
    }
    let name = CString::new(comm.as_str()).map_err(|e| format!("comm {comm:?}: {e}"))?;
    prctl::set_name(&name).map_err(|e| format!("PR_SET_NAME {comm:?}: {e}"))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("reporting ready: {e}"))?;
    // Hold the inherited descriptors until the lab closes our stdin, answering its
    // commands meanwhile.
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        let answer = obey(&line)?;
        writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("answering {line:?} with {answer:?}: {e}"))?;
    }
    Ok(())
}

/// Carry out one command line from the lab and return the answer (the commands are listed
/// in the module notes).
fn obey(line: &str) -> Result<String, String> {
    super::churn_child::obey(line).unwrap_or_else(|| obey_test_command(line))
}

/// The test lab's commands: `close N` closes the `N` highest-numbered socket descriptors
/// and answers `closed`; `lockstep ADDR RETIRED HOLD_MS` starts a lock-step server and
/// answers `serving ADDR`.
#[cfg(feature = "lab")]
fn obey_test_command(line: &str) -> Result<String, String> {
    if let Some(spec) = line.strip_prefix("lockstep ") {
        let listener = super::lockstep_child::start(spec)?;
        return Ok(format!("serving {listener}"));
    }
    let Some(count) = line.strip_prefix("close ") else {
        return Err(format!("unknown command {line:?}"));
    };
    let count: usize = count.parse().map_err(|e| format!("close {count:?}: {e}"))?;
    close_highest_sockets(count)?;
    Ok("closed".to_owned())
}

/// Without the test lab (feature `lab`) a holder takes only the churning client's commands,
/// which is all `sockscope demo` asks of it.
#[cfg(not(feature = "lab"))]
fn obey_test_command(line: &str) -> Result<String, String> {
    Err(format!(
        "unknown command {line:?}: this sockscope was built without the test lab (feature `lab`)"
    ))
}

/// Close this process's `count` highest-numbered socket descriptors.
#[cfg(feature = "lab")]
fn close_highest_sockets(count: usize) -> Result<(), String> {
    let fds = procfs::process::Process::myself()
        .and_then(|me| me.fd())
        .map_err(|e| format!("listing /proc/self/fd: {e}"))?;
    let mut sockets: Vec<std::os::fd::RawFd> = fds
        .filter_map(Result::ok)
        .filter(|fd| matches!(fd.target, procfs::process::FDTarget::Socket(_)))
        .map(|fd| fd.fd)
        .collect();
    sockets.sort_unstable();
    if sockets.len() < count {
        return Err(format!(
            "asked to close {count} sockets, holding {}",
            sockets.len()
        ));
    }
    for fd in sockets.split_off(sockets.len() - count) {
        nix::unistd::close(fd).map_err(|e| format!("close({fd}): {e}"))?;
    }
    Ok(())
}

/// Refuse names `/proc/PID/comm` would not show as given.
pub(crate) fn check_comm(comm: &str) -> Result<(), LabError> {
    if comm.is_empty() || comm.len() > 15 || comm.contains(['/', '\0', '\n']) {
        return Err(LabError::BadComm(comm.to_owned()));
    }
    Ok(())
}

/// A running holder process.
#[derive(Debug)]
pub(crate) struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    /// Its name, for the errors of its commands.
    comm: String,
    stopped: bool,
}

impl Holder {
    /// Start a holder named `comm` holding `fds` (as its fds 3, 4, …). This process's
    /// copies of `fds` are closed once the holder has started; returns when its comm is set.
    pub(crate) fn spawn(
        exe: &Path,
        comm: &str,
        netns: &str,
        fds: Vec<OwnedFd>,
    ) -> Result<Holder, LabError> {
        let fail = |detail: String| LabError::Holder {
            comm: comm.to_owned(),
            exe: exe.display().to_string(),
            detail,
        };
        let count = fds.len();
        // When the holder exits, its sockets must be aborted (RST), not closed into orphans
        // that outlive the lab: a zero linger, set now, takes effect at that last close.
        for fd in &fds {
            let _ = socket2::SockRef::from(fd).set_linger(Some(std::time::Duration::ZERO));
        }
        let mappings = fds
            .into_iter()
            .zip(FIRST_FD..)
            .map(|(parent_fd, child_fd)| FdMapping {
                parent_fd,
                child_fd,
            })
            .collect();
        let mut child = {
            // The command owns the descriptors; dropping it at the end of this block closes
            // this process's copies.
            let mut command = Command::new(exe);
            command
                .args([HOLD_ARG, comm, &std::process::id().to_string(), netns])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            command
                .fd_mappings(mappings)
                .map_err(|e| fail(e.to_string()))?;
            command
                .spawn()
                .map_err(|e| fail(format!("cannot start it with {count} descriptors: {e}")))?
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(BufReader::new);
        let mut holder = Holder {
            child,
            stdin,
            stdout,
            comm: comm.to_owned(),
            stopped: false,
        };
        let mut line = String::new();
        let read = holder.stdout.as_mut().map(|out| out.read_line(&mut line));
        if line.trim_end() != "ready" {
            holder.stop();
            return Err(fail(format!(
                "did not report ready (read {line:?}, {read:?}); is `main` calling \
                 sockscope::lab::holder::run_from_args() first?"
            )));
        }
        Ok(holder)
    }

    /// The holder's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send it one command line and return its answer without `prefix`; an answer that
    /// does not start with `prefix` (or none: it exited) is an error quoting it.
    pub(crate) fn ask(&mut self, command: &str, prefix: &str) -> Result<String, LabError> {
        let fail = |detail: String| LabError::Holder {
            comm: self.comm.clone(),
            exe: format!("pid {}", self.child.id()),
            detail,
        };
        let (Some(stdin), Some(stdout)) = (self.stdin.as_mut(), self.stdout.as_mut()) else {
            return Err(fail("it was stopped".to_owned()));
        };
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|e| fail(format!("sending {command:?}: {e}")))?;
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        match line.trim_end().strip_prefix(prefix) {
            Some(rest) => Ok(rest.to_owned()),
            None => Err(fail(format!(
                "did not answer {command:?} with {prefix:?} (read {line:?}, {read:?})"
            ))),
        }
    }

    /// Make it close its `count` highest-numbered socket descriptors; returns once it has.
    #[cfg(feature = "lab")]
    pub(crate) fn close_sockets(&mut self, count: usize) -> Result<(), LabError> {
        self.ask(&format!("close {count}"), "closed").map(drop)
    }

    /// Make it serve in lock-step on `listen` (see [`super::lockstep`]); returns the
    /// listener's address once it listens.
    #[cfg(feature = "lab")]
    pub(crate) fn serve_lockstep(
        &mut self,
        listen: std::net::SocketAddr,
        retired: usize,
        hold: std::time::Duration,
    ) -> Result<std::net::SocketAddr, LabError> {
        let command = format!("lockstep {listen} {retired} {}", hold.as_millis());
        let addr = self.ask(&command, "serving ")?;
        addr.parse().map_err(|e| LabError::Holder {
            comm: self.comm.clone(),
            exe: format!("pid {}", self.child.id()),
            detail: format!("answered {command:?} with the address {addr:?}: {e}"),
        })
    }

    /// Close its stdin, kill it by pid and reap it (idempotent).
    pub(crate) fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        drop(self.stdin.take());
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // ESRCH (already gone) is the only expected failure, and harmless.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stop();
    }
}

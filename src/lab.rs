//! The network-namespace lab: builds and holds TCP sockets in every state on demand, for
//! the integration tests and the demo.
//!
//! A [`Lab`] owns two fresh network namespaces joined by a veth pair: the *monitored* one,
//! which holds every counted socket, and the *peer* one, which plays the other end of each
//! connection. [`Lab::stage`] builds `count` sockets of one state and family in the
//! monitored namespace, waits until the kernel shows them in that state, and keeps them
//! there until the lab drops; [`Lab::expected`] is the exact count the monitored namespace
//! holds, per family and state, at any moment between stages.
//!
//! ```no_run
//! # use sockscope::lab::Lab;
//! # use sockscope::model::{Family, TcpState};
//! # fn demo() -> Result<(), sockscope::lab::LabError> {
//! let mut lab = Lab::new(std::path::Path::new("/usr/bin/sockscope"))?;
//! lab.stage(Family::Inet, TcpState::CloseWait, 5, Some("leaky-app"))?;
//! // `sockscope --netns <lab.monitored()>` now sees 5 `CLOSE_WAIT` sockets held by `leaky-app`.
//! # Ok(()) }
//! ```
//!
//! How each state is made (the monitored side is the client unless said otherwise; every
//! stage gets its own monitored and peer address, so cutting one stage's wire never
//! touches another's):
//!
//! | state | technique |
//! |---|---|
//! | `ESTABLISHED` | connect to a peer listener, which accepts |
//! | `SYN_SENT` | connect to a peer address whose neighbour entry is pinned to a MAC nobody owns |
//! | `SYN_RECV` | a monitored listener (counted under LISTEN) gets raw SYNs from spoofed sources, which the monitored namespace routes to an IFB device (SYN-ACKs vanish, and never fail to send) |
//! | `FIN_WAIT1` | connect, cut the wire toward the peer, `shutdown(SHUT_WR)` |
//! | `FIN_WAIT2` | connect, `shutdown(SHUT_WR)`; the peer never closes |
//! | `TIME_WAIT` | connect, `shutdown(SHUT_WR)`, the peer closes on EOF; the descriptor is then closed |
//! | `CLOSE` | bind, never listen nor connect (`TCP_BOUND_INACTIVE`: `sock_diag` reports it as CLOSE; `ss` and `/proc/net/tcp` do not show it) |
//! | `CLOSE_WAIT` | connect, the peer half-closes, never close |
//! | `LAST_ACK` | from `CLOSE_WAIT`, cut the wire toward the peer, `shutdown(SHUT_WR)` |
//! | `LISTEN` | bind and listen |
//! | `CLOSING` | connect, cut both ways, both sides half-close, mend the peer-to-monitored direction |
//!
//! Besides the held states, [`Lab::churning_client`] starts connections that never stop
//! coming and going: a client process opening and closing a fixed number a second toward a
//! server in the monitored namespace, until the lab drops (see `lab/churn.rs`). Its sockets
//! are in no count of [`Lab::expected`].
//!
//! Half-closed sockets keep their descriptors (never orphans), and the namespaces' sysctls
//! (`tcp_syncookies=0`, `tcp_rfc1337=1`, retry limits raised so that retransmitting sockets
//! live for hours, a long `tcp_fin_timeout`)
//! keep every state exact for hours — except `TIME_WAIT`, which the kernel always expires
//! after 60 s (`TCP_TIMEWAIT_LEN`, not tunable): [`Staged::expires_at`] says when.
//!
//! Ownership: with `owner: Some(comm)` the monitored-side descriptors of a stage move to a
//! holder process (this same executable, run as `__lab-hold`, see [`holder`]) whose
//! `/proc/PID/comm` is `comm`. Holders exit when the lab drops, when the process that
//! created the lab dies (their stdin reaches EOF), and when the thread that called
//! [`Lab::stage`] ends (`PR_SET_PDEATHSIG`): call it from a thread that outlives the lab.
//!
//! Descriptors: this process may hold 20,000. A stage keeps both ends of each connection
//! here (2 × count descriptors) unless it has an owner, which takes the monitored half;
//! `TIME_WAIT` and `SYN_RECV` sockets hold none.
//!
//! Dropping the lab — also while a test panics — kills every holder by pid, closes every
//! socket and deletes both namespaces. Namespaces of a lab whose process was killed are
//! deleted by the next lab created on the machine. After a stage fails, [`Lab::expected`]
//! no longer describes the namespace: drop the lab.
//!
//! What the release binary carries is what `sockscope demo` needs: the namespaces, every
//! state, the five scenarios and holders that hold or churn. The test-only parts exist only
//! with the `lab` feature, which every test, bench and example turns on (the crate is its
//! own dev-dependency with it): the lock-step server (`Lab::lockstep_server`,
//! `LockstepClient`), `Lab::close_leaked`, `Lab::churn_tally` and the holder commands behind
//! them, `Lab::peer`, and the loud skips `require_root` and `skip`.

mod churn;
mod churn_child;
pub mod holder;
#[cfg(feature = "lab")]
mod lockstep;
#[cfg(feature = "lab")]
mod lockstep_child;
mod net;
mod observe;
mod scenarios;
mod states;
mod syn;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::collect::netns::NetnsError;
use crate::model::{Family, TcpState};

pub use churn::{CHURN_HOLD, CHURN_SERVER, ChurnTally, ChurningClient};
#[cfg(feature = "lab")]
pub use lockstep::{LockstepClient, LockstepServer};
pub use scenarios::{CloseWaitLeak, ListenerNeverAccepting, SynFlood, TimeWaitStorm};

/// Counts per family and state, as [`Lab::expected`] returns them.
pub type StateTally = BTreeMap<(Family, TcpState), u64>;

/// How long a stage may take to reach its state before it fails.
const STAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// `TIME_WAIT` lifetime (`TCP_TIMEWAIT_LEN` in the kernel; not tunable).
const TIME_WAIT_LEN: Duration = Duration::from_secs(60);

/// Why the lab could not be built or a stage could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The flag given to [`Lab::stop_when`] was raised (the demo caught a signal).
    #[error("stopped while staging")]
    Stopped,
    /// An `ip` (or other) command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A program could not be started at all.
    #[error("cannot run `{program}`: {error} (is it installed and on PATH?)")]
    Spawn {
        /// The program.
        program: String,
        /// Why (not a `source`: the message quotes it once already).
        error: std::io::Error,
    },
    /// A lab namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A per-namespace sysctl could not be written.
    #[error("netns {netns}: cannot write {value:?} to {path}: {error}")]
    Sysctl {
        /// The namespace.
        netns: String,
        /// The file under /proc/sys.
        path: String,
        /// The value.
        value: String,
        /// Why.
        /// (Not a `source`: the message quotes it once already.)
        error: std::io::Error,
    },
    /// A socket operation failed.
    #[error("{what}: {error}")]
    Socket {
        /// What was attempted, with its addresses.
        what: String,
        /// What the kernel said.
        /// (Not a `source`: the message quotes it once already.)
        error: std::io::Error,
    },
    /// The sockets did not reach the state in time.
    #[error(
        "staging {count} {family} {state}: after {waited:?} the monitored namespace {netns} \
         holds [{seen}], expected [{wanted}] (CLOSE not checked: /proc/net/tcp does not show it)"
    )]
    StateNotReached {
        /// The namespace.
        netns: String,
        /// The family staged.
        family: &'static str,
        /// The state staged.
        state: TcpState,
        /// How many.
        count: usize,
        /// How long the lab waited.
        waited: Duration,
        /// The counts expected, `STATE family count, …`.
        wanted: String,
        /// The counts seen last.
        seen: String,
    },
    /// Every address slot of the lab is used.
    #[error("the lab has no address left for stage {0}: at most 126 stages per lab")]
    OutOfAddresses(u32),
    /// A churn rate [`Lab::churning_client`] does not make.
    #[error(
        "churn rate {0}/s: from 1 to 400 connections a second (TIME_WAIT keeps each one's \
         local port 60 s: 400/s holds 24,000 of the default 28,232 ephemeral ports)"
    )]
    ChurnRate(u32),
    /// A process name that `/proc/PID/comm` cannot hold.
    #[error(
        "holder name {0:?}: a comm is 1 to 15 bytes without '/', NUL or newline (the kernel truncates longer ones)"
    )]
    BadComm(String),
    /// A holder process failed to start or to report ready.
    #[error("holder {comm:?} ({exe}): {detail}")]
    Holder {
        /// Its comm.
        comm: String,
        /// The executable run.
        exe: String,
        /// What went wrong.
        detail: String,
    },
}

/// What one [`Lab::stage`] call built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staged {
    /// The family staged.
    pub family: Family,
    /// The state staged.
    pub state: TcpState,
    /// How many sockets are in `state`.
    pub count: usize,
    /// The holder process that owns the stage's descriptors, if one was asked for.
    pub holder: Option<u32>,
    /// The monitored-side local endpoint of each counted socket (for `SYN_RECV`, the
    /// listener's address, once per request socket).
    pub local: Vec<SocketAddr>,
    /// The remote endpoint of each counted socket (empty for LISTEN and CLOSE; spoofed
    /// sources for `SYN_RECV`).
    pub remote: Vec<SocketAddr>,
    /// The monitored listener the stage created besides the counted sockets (`SYN_RECV`).
    pub listener: Option<SocketAddr>,
    /// The monitored-side address this stage used.
    pub monitored_addr: IpAddr,
    /// The peer-side address this stage used.
    pub peer_addr: IpAddr,
    /// When the counted sockets leave their state by themselves (`TIME_WAIT` only).
    pub expires_at: Option<Instant>,
}

/// Two network namespaces joined by a veth pair, and every socket and process the lab
/// started in them. See the [module documentation](self).
#[derive(Debug)]
pub struct Lab {
    net: net::LabNet,
    holder_exe: PathBuf,
    sockets: Vec<Socket>,
    holders: Vec<holder::Holder>,
    expected: StateTally,
    /// The destinations of the churning clients: staging ignores every socket on or toward
    /// them.
    churning: Vec<SocketAddr>,
    /// Stop staging once it holds anything but 0 (see [`Lab::stop_when`]).
    stop: Option<Arc<AtomicUsize>>,
}

impl Lab {
    /// Create both namespaces, the veth pair and the sysctls.
    ///
    /// `holder_exe` is the sockscope binary, run as holder process for owned stages (tests
    /// pass `env!("CARGO_BIN_EXE_sockscope")`). Needs root.
    pub fn new(holder_exe: &Path) -> Result<Lab, LabError> {
        Ok(Lab {
            net: net::LabNet::create()?,
            holder_exe: holder_exe.to_path_buf(),
            sockets: Vec::new(),
            holders: Vec::new(),
            expected: StateTally::new(),
            churning: Vec::new(),
            stop: None,
        })
    }

    /// Stop any staging, with [`LabError::Stopped`], as soon as `flag` holds anything but 0
    /// (a signal number, for the demo): it is read between sockets and while waiting for
    /// the kernel, so a Ctrl-C is obeyed within milliseconds, not at the end of a step that
    /// makes thousands of connections.
    pub fn stop_when(&mut self, flag: Arc<AtomicUsize>) {
        self.stop = Some(flag);
    }

    /// [`LabError::Stopped`] once the flag of [`Lab::stop_when`] is raised.
    fn go_on(&self) -> Result<(), LabError> {
        match &self.stop {
            Some(flag) if flag.load(Ordering::SeqCst) != 0 => Err(LabError::Stopped),
            _ => Ok(()),
        }
    }

    /// Both namespaces' names: the monitored one, then the peer.
    pub fn namespaces(&self) -> [&str; 2] {
        [self.net.monitored(), self.net.peer()]
    }

    /// The monitored namespace's name, to pass to `sockscope --netns`.
    pub fn monitored(&self) -> &str {
        self.net.monitored()
    }

    /// The peer namespace's name.
    #[cfg(feature = "lab")]
    pub fn peer(&self) -> &str {
        self.net.peer()
    }

    /// Build `count` sockets in `state` for `family` in the monitored namespace, and hold
    /// them until the lab drops. Returns once the kernel shows them in that state.
    ///
    /// `owner: Some(comm)` hands every monitored-side descriptor of the stage to a new
    /// holder process named `comm`; `None` keeps them in this process. `TIME_WAIT` and
    /// `SYN_RECV` sockets hold no descriptor: a `TIME_WAIT` holder holds nothing, a `SYN_RECV`
    /// holder holds the listener.
    pub fn stage(
        &mut self,
        family: Family,
        state: TcpState,
        count: usize,
        owner: Option<&str>,
    ) -> Result<Staged, LabError> {
        if let Some(comm) = owner {
            holder::check_comm(comm)?;
        }
        let built = self.build(family, state, count, 0)?;
        self.settle(family, state, count)?;
        self.keep(built, owner)
    }

    /// Exact counts the monitored namespace holds now, per family and state, including
    /// the listeners the lab created. `TIME_WAIT` counts hold until [`Staged::expires_at`].
    /// A churning client's sockets (on or toward [`ChurningClient::destination`]) come
    /// and go, and are not counted.
    pub fn expected(&self) -> StateTally {
        self.expected.clone()
    }

    fn add_expected(&mut self, family: Family, state: TcpState, count: usize) {
        if count > 0 {
            *self.expected.entry((family, state)).or_default() += count as u64;
        }
    }

    /// Wait until the monitored namespace shows exactly [`Lab::expected`] (CLOSE and the
    /// churning clients' sockets aside).
    fn settle(&self, family: Family, state: TcpState, count: usize) -> Result<(), LabError> {
        let mut wanted = self.expected.clone();
        wanted.retain(|(_, s), n| *s != TcpState::Close && *n > 0);
        let started = Instant::now();
        loop {
            self.go_on()?;
            let seen = observe::counts(self.monitored(), &self.churning)?;
            if seen == wanted {
                return Ok(());
            }
            if started.elapsed() > STAGE_TIMEOUT {
                return Err(LabError::StateNotReached {
                    netns: self.monitored().to_owned(),
                    family: family.name(),
                    state,
                    count,
                    waited: started.elapsed(),
                    wanted: describe(&wanted),
                    seen: describe(&seen),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Hand a built stage's monitored descriptors to their owner and keep the rest.
    fn keep(&mut self, built: states::Built, owner: Option<&str>) -> Result<Staged, LabError> {
        let states::Built {
            mut staged,
            monitored,
            peer,
        } = built;
        self.sockets.extend(peer);
        match owner {
            Some(comm) => {
                let fds = monitored
                    .into_iter()
                    .map(std::os::fd::OwnedFd::from)
                    .collect();
                let holder =
                    holder::Holder::spawn(&self.holder_exe, comm, self.net.monitored(), fds)?;
                staged.holder = Some(holder.pid());
                self.holders.push(holder);
            }
            None => self.sockets.extend(monitored),
        }
        Ok(staged)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for holder in &mut self.holders {
            holder.stop();
        }
        self.holders.clear();
        // Abort rather than close: a closed socket with unacknowledged data or FIN would
        // linger as an orphan; a zero linger sends RST and frees it at once.
        for socket in self.sockets.drain(..) {
            let _ = socket.set_linger(Some(Duration::ZERO));
        }
        self.net.delete();
    }
}

/// `STATE family count, …` for error messages.
fn describe(tally: &StateTally) -> String {
    let mut out = String::new();
    for ((family, state), n) in tally {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "{state} {} {n}", family.name());
    }
    out
}

/// Whether a lab test may run here: `true` as root. Otherwise prints a loud
/// `SKIPPED <test>: …` line and returns `false` — or panics when `CI=true`, because CI must
/// never pass by skipping.
#[cfg(feature = "lab")]
pub fn require_root(test_name: &str) -> bool {
    nix::unistd::geteuid().is_root() || skip(test_name, "needs root and network namespaces")
}

/// Skip a test loudly: prints `SKIPPED <test>: <why>` and returns `false`; panics instead
/// under `CI=true`, because CI must never pass by skipping.
#[cfg(feature = "lab")]
pub fn skip(test_name: &str, why: &str) -> bool {
    let message = format!("SKIPPED {test_name}: {why}");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{message} (CI=true: a CI run must never pass by skipping)"
    );
    crate::stderr_line!("{message}");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_cannot_start_is_named_with_its_cause_once() {
        let err = anyhow::Error::from(LabError::Spawn {
            program: "ip".to_owned(),
            error: std::io::Error::from_raw_os_error(libc::ENOENT),
        });
        assert_eq!(
            format!("{err:#}"),
            "cannot run `ip`: No such file or directory (os error 2) (is it installed and on PATH?)"
        );
    }
}

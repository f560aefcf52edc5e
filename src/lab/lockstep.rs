//! A server that replaces one connection with the next in lock-step, its descriptor count
//! constant: the churn of an nginx worker under keep-alive clients, which process
//! attribution must follow although neither the server's start time nor its descriptor
//! count ever changes.
//!
//! The server runs in a holder process ([`super::holder`], the line `lockstep ADDR RETIRED
//! HOLD_MS` on its stdin; its side there is `lockstep_child.rs`) and its client in the test ([`LockstepClient`], in the peer
//! namespace). One round:
//!
//! 1. the client connects anew, then closes its previous connection (after its first
//!    `RETIRED` rounds, it first waits a pause: the connection stays ESTABLISHED that long);
//! 2. the server reads that end-of-file: the previous connection is retired (now
//!    CLOSE_WAIT, still held);
//! 3. once it holds `RETIRED` retired connections, it closes the oldest — but never one
//!    retired less than `HOLD_MS` ago — and at once accepts the new connection, which the
//!    kernel gives the descriptor number just freed, and writes one byte on it;
//! 4. the client reads that byte and starts the next round.
//!
//! So at any moment the server holds one ESTABLISHED connection (two for an instant) and
//! closes only connections that left ESTABLISHED at least `HOLD_MS` earlier: a poll that
//! sees one of its connections ESTABLISHED and reads its descriptors less than `HOLD_MS`
//! later finds the server still holding it. Connections waiting in the accept queue are
//! ESTABLISHED too, with inode 0: no process holds them yet.

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Lab, LabError, holder};
use crate::collect::NetnsTarget;
use crate::collect::netns::run_in;
use crate::model::Family;

/// What [`Lab::lockstep_server`] started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockstepServer {
    /// The server's listener in the monitored namespace.
    pub listener: SocketAddr,
    /// The holder process serving it (named as asked).
    pub pid: u32,
    /// The peer address its client connects from.
    pub client_ip: std::net::IpAddr,
    /// How many retired connections the server keeps before it closes the oldest.
    pub retired: usize,
}

impl Lab {
    /// Start a lock-step server (see the notes atop `lab/lockstep.rs`) in a holder process
    /// named `comm`, listening on a fresh monitored address; it keeps `retired` retired
    /// connections and closes none retired less than `hold` ago. Drive it with
    /// [`LockstepClient::start`].
    pub fn lockstep_server(
        &mut self,
        family: Family,
        comm: &str,
        retired: usize,
        hold: Duration,
    ) -> Result<LockstepServer, LabError> {
        holder::check_comm(comm)?;
        let pair = self.net.alloc(family)?;
        let mut server =
            holder::Holder::spawn(&self.holder_exe, comm, self.net.monitored(), Vec::new())?;
        let listener = server.serve_lockstep(SocketAddr::new(pair.monitored, 0), retired, hold);
        let pid = server.pid();
        self.holders.push(server);
        Ok(LockstepServer {
            listener: listener?,
            pid,
            client_ip: pair.peer,
            retired,
        })
    }
}

/// The client of a [`LockstepServer`], on a thread of its own in the peer namespace:
/// connects anew round after round until dropped.
#[derive(Debug)]
pub struct LockstepClient {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<(), LabError>>>,
}

impl LockstepClient {
    /// Start the client of `server` in `lab`'s peer namespace. Its first rounds (as many
    /// as the server keeps retired connections) go as fast as they can, then each waits
    /// `pause` before it replaces the connection.
    pub fn start(lab: &Lab, server: &LockstepServer, pause: Duration) -> LockstepClient {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let peer = NetnsTarget::Named(lab.peer().to_owned());
        let pace = Pace {
            listener: server.listener,
            from: SocketAddr::new(server.client_ip, 0),
            fast_rounds: server.retired as u64,
            pause,
        };
        let thread = {
            let (stop, rounds) = (Arc::clone(&stop), Arc::clone(&rounds));
            std::thread::spawn(move || run_in(&peer, move || client(&pace, &stop, &rounds))?)
        };
        LockstepClient {
            stop,
            rounds,
            thread: Some(thread),
        }
    }

    /// Rounds completed so far (connections the server accepted after the first).
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Stop after the current round; returns why the client stopped early, if it did.
    pub fn stop(mut self) -> Result<(), LabError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), LabError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(LabError::Socket {
                what: "the lock-step client".to_owned(),
                error: std::io::Error::other("its thread panicked"),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for LockstepClient {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Where and how fast the client goes.
struct Pace {
    listener: SocketAddr,
    from: SocketAddr,
    fast_rounds: u64,
    pause: Duration,
}

/// The client's rounds, inside the peer namespace.
fn client(pace: &Pace, stop: &AtomicBool, rounds: &AtomicU64) -> Result<(), LabError> {
    let Pace { listener, from, .. } = *pace;
    let fail = |what: &str, error: std::io::Error| LabError::Socket {
        what: format!("lock-step client {from} → {listener}: {what}"),
        error,
    };
    let connect = || -> Result<TcpStream, LabError> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(listener),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .map_err(|e| fail("socket", e))?;
        socket
            .bind(&from.into())
            .and_then(|()| socket.connect(&listener.into()))
            .and_then(|()| socket.set_read_timeout(Some(Duration::from_secs(10))))
            .map_err(|e| fail("connecting", e))?;
        Ok(socket.into())
    };
    let accepted = |stream: &mut TcpStream| {
        let mut byte = [0u8; 1];
        stream
            .read_exact(&mut byte)
            .map_err(|e| fail("waiting to be accepted", e))
    };
    let mut current = connect()?;
    accepted(&mut current)?;
    while !stop.load(Ordering::Relaxed) {
        if rounds.load(Ordering::Relaxed) >= pace.fast_rounds {
            std::thread::sleep(pace.pause);
        }
        let mut next = connect()?;
        drop(current);
        accepted(&mut next)?;
        current = next;
        rounds.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

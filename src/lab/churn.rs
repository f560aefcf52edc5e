//! A churning client: a process in the monitored namespace that opens a new connection for
//! every request toward one server, a fixed number a second, for as long as the lab lives —
//! what the `connection_churn` rule and the dashboard's Churn view are about.
//!
//! Two holder processes (their side is `churn_child.rs`): the server, named
//! [`CHURN_SERVER`], listens on a fresh monitored address; the client, named as asked,
//! connects to it from the same namespace (over loopback), writes a few bytes, reads the
//! answer, holds the connection [`CHURN_HOLD`] and closes it. Holding it lets the
//! dashboard's polls see some of the connections (about rate × hold are open at any
//! moment), so a share of the closes is attributed to the client by poll.
//!
//! Ports: the client closes first, so each connection leaves a `TIME_WAIT` socket that
//! keeps its local port for 60 s: at 120 connections a second, 7,200 ports toward the one
//! destination, a quarter of the default ephemeral range (28,232). The rate is capped
//! at 400 a second (24,000 ports).
//!
//! The churn never stops by itself, so its sockets are not in [`Lab::expected`]: staging
//! ignores every socket on or toward its destination.

use std::net::SocketAddr;
use std::time::Duration;

use super::churn_child::MAX_RATE;
use super::{Lab, LabError, holder};
use crate::model::Family;

/// The process name of the server a churning client connects to.
pub const CHURN_SERVER: &str = "churn-server";
/// How long the client holds each connection open before it closes it.
pub const CHURN_HOLD: Duration = Duration::from_millis(100);

/// What [`Lab::churning_client`] started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChurningClient {
    /// The server's listener in the monitored namespace: every connection goes there.
    pub destination: SocketAddr,
    /// The client process (named as asked).
    pub client: u32,
    /// The server process ([`CHURN_SERVER`]).
    pub server: u32,
    /// The connections a second the client makes.
    pub rate_per_second: u32,
}

/// What a churning client has done so far, as `Lab::churn_tally` (test lab) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChurnTally {
    /// Connections made: connected, asked, answered (each closed after [`CHURN_HOLD`]).
    pub made: u64,
    /// Connections that failed (refused, timed out, a wrong answer).
    pub failed: u64,
}

impl Lab {
    /// Start a client named `comm` that makes `rate_per_second` connections a second
    /// (1 to 400) toward a server on `port` (0: any) in the monitored namespace, until the
    /// lab drops. Returns once the client has made its first connection.
    pub fn churning_client(
        &mut self,
        family: Family,
        port: u16,
        rate_per_second: u32,
        comm: &str,
    ) -> Result<ChurningClient, LabError> {
        let hold = CHURN_HOLD.as_millis();
        self.client_toward(family, port, rate_per_second, comm, |destination| {
            (
                format!("churn {destination} {rate_per_second} {hold}"),
                "churning",
            )
        })
    }

    /// Start a client named `comm` that makes the same `rate_per_second` requests a second
    /// as a churning client, toward a server of its own on `port`, but over `pool` (1 to
    /// 64) connections it keeps open: connection reuse, which closes nothing while it runs.
    /// Returns once its connections are open. Its [`ChurnTally::made`] counts requests.
    pub fn pooled_client(
        &mut self,
        family: Family,
        port: u16,
        rate_per_second: u32,
        pool: u32,
        comm: &str,
    ) -> Result<ChurningClient, LabError> {
        self.client_toward(family, port, rate_per_second, comm, |destination| {
            (
                format!("pooled {destination} {rate_per_second} {pool}"),
                "pooling",
            )
        })
    }

    /// Start a server on `port` and a client named `comm`, told `command(server)` (the
    /// command and the start of its answer).
    fn client_toward(
        &mut self,
        family: Family,
        port: u16,
        rate_per_second: u32,
        comm: &str,
        command: impl FnOnce(SocketAddr) -> (String, &'static str),
    ) -> Result<ChurningClient, LabError> {
        holder::check_comm(comm)?;
        if rate_per_second == 0 || rate_per_second > MAX_RATE {
            return Err(LabError::ChurnRate(rate_per_second));
        }
        self.go_on()?;
        let pair = self.net.alloc(family)?;
        let mut server = holder::Holder::spawn(
            &self.holder_exe,
            CHURN_SERVER,
            self.net.monitored(),
            Vec::new(),
        )?;
        let server_pid = server.pid();
        let listen = SocketAddr::new(pair.monitored, port);
        let answer = server.ask(&format!("churn-serve {listen}"), "serving ");
        // Kept before any error: dropping the lab kills it either way.
        self.holders.push(server);
        let answer = answer?;
        let destination: SocketAddr = answer.parse().map_err(|e| LabError::Holder {
            comm: CHURN_SERVER.to_owned(),
            exe: format!("pid {server_pid}"),
            detail: format!("answered with the address {answer:?}: {e}"),
        })?;
        // From now on staging ignores the churn's sockets, which come and go.
        self.churning.push(destination);
        self.go_on()?;
        let mut client =
            holder::Holder::spawn(&self.holder_exe, comm, self.net.monitored(), Vec::new())?;
        let client_pid = client.pid();
        let (command, answer) = command(destination);
        let started = client.ask(&command, answer);
        self.holders.push(client);
        started?;
        Ok(ChurningClient {
            destination,
            client: client_pid,
            server: server_pid,
            rate_per_second,
        })
    }

    /// What the client of `churn` has done so far.
    #[cfg(feature = "lab")]
    pub fn churn_tally(&mut self, churn: &ChurningClient) -> Result<ChurnTally, LabError> {
        let holder = self
            .holders
            .iter_mut()
            .find(|h| h.pid() == churn.client)
            .ok_or_else(|| LabError::Holder {
                comm: String::new(),
                exe: format!("pid {}", churn.client),
                detail: "no holder of this lab has that pid".to_owned(),
            })?;
        let answer = holder.ask("churn-tally", "made ")?;
        let tally = answer.split_once(" failed ").and_then(|(made, failed)| {
            Some(ChurnTally {
                made: made.parse().ok()?,
                failed: failed.parse().ok()?,
            })
        });
        tally.ok_or_else(|| LabError::Holder {
            comm: String::new(),
            exe: format!("pid {}", churn.client),
            detail: format!("answered churn-tally with {answer:?}"),
        })
    }
}

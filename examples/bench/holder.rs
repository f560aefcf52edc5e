//! Holder processes: the bench executable run as `bench __bench-hold INDEX PAIRS PARENT`
//! connects PAIRS loopback connections to a listener of its own, keeps both ends open, says
//! `ready` on stdout and holds them until its stdin closes. It inherits the namespace of the
//! thread that started it, and dies with its parent (`PR_SET_PDEATHSIG`).
//!
//! Holder INDEX listens on 127.2.0.(INDEX+1):5000 and connects from 127.1.0.(INDEX+1), so
//! every holder's 4-tuples are its own and no port range runs out.

use std::ffi::CString;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use nix::sys::prctl;
use nix::sys::signal::Signal;
use socket2::{Domain, SockAddr, Socket, Type};

/// The first argument that turns the bench executable into a holder.
pub const HOLD_ARG: &str = "__bench-hold";
/// The first argument that turns it into a CLOSE_WAIT leak: `bench __bench-leak COUNT
/// PARENT` makes COUNT connections to a listener of its own, closes their client ends and
/// never closes the server ends (COUNT CLOSE_WAIT sockets), says `ready` and holds them
/// until its stdin closes.
pub const LEAK_ARG: &str = "__bench-leak";
/// The leak's name in `/proc/PID/comm`: what the dashboard's anomaly names.
pub const LEAK_COMM: &str = "bench-leak";
/// The name holders show in `/proc/PID/comm` (and so in every tool's process column).
pub const COMM: &str = "bench-hold";
/// The port every holder listens on (each on its own address).
const LISTEN_PORT: u16 = 5000;

/// The address holder `index` uses on loopback network `net` (1: clients, 2: listener).
pub fn address(net: u8, index: u32) -> Ipv4Addr {
    let host = index + 1;
    Ipv4Addr::new(127, net, (host >> 8) as u8, (host & 0xff) as u8)
}

/// If this process was started as a holder, hold and return the exit code.
pub fn run_from_args() -> Option<u8> {
    // Arguments are bytes: any other command line (a path, a process name) may not be
    // UTF-8, and is not this one's to judge.
    let first = std::env::args_os().nth(1);
    let leak = first.as_deref() == Some(std::ffi::OsStr::new(LEAK_ARG));
    if !leak && first.as_deref() != Some(std::ffi::OsStr::new(HOLD_ARG)) {
        return None;
    }
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let result = if leak {
        leak_close_wait(&args[1..])
    } else {
        hold(&args[1..])
    };
    Some(match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("bench {}: {message}", args[0]);
            2
        }
    })
}

fn number(text: &str, what: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|e| format!("{what} {text:?} is not a number: {e}"))
}

fn hold(args: &[String]) -> Result<(), String> {
    let [index, pairs, parent] = args else {
        return Err(format!("expected INDEX PAIRS PARENT_PID, got {args:?}"));
    };
    let index = number(index, "INDEX")?;
    let pairs = number(pairs, "PAIRS")?;
    let parent = number(parent, "PARENT_PID")?;
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("PR_SET_PDEATHSIG: {e}"))?;
    if nix::unistd::getppid().as_raw() as u32 != parent {
        // The parent died before PR_SET_PDEATHSIG took effect: nothing to hold for.
        return Ok(());
    }
    let name = CString::new(COMM).map_err(|e| e.to_string())?;
    prctl::set_name(&name).map_err(|e| format!("PR_SET_NAME: {e}"))?;

    let target = SockAddr::from(SocketAddr::from((address(2, index), LISTEN_PORT)));
    let source = SockAddr::from(SocketAddr::from((address(1, index), 0)));
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)
        .and_then(|s| {
            s.set_reuse_address(true)?;
            s.bind(&target)?;
            s.listen(4096)?;
            Ok(s)
        })
        .map_err(|e| format!("listening on {:?}: {e}", target.as_socket()))?;
    let mut held = Vec::with_capacity(pairs as usize * 2);
    for made in 0..pairs {
        let pair = Socket::new(Domain::IPV4, Type::STREAM, None).and_then(|client| {
            client.bind(&source)?;
            client.connect(&target)?;
            let (server, _) = listener.accept()?;
            // Killed holders reset their connections instead of leaving FIN_WAIT and
            // TIME_WAIT sockets behind in a namespace about to be deleted.
            client.set_linger(Some(Duration::ZERO))?;
            server.set_linger(Some(Duration::ZERO))?;
            Ok((client, server))
        });
        let (client, server) = pair.map_err(|e| {
            format!(
                "connection {made} of {pairs} to {:?}: {e}",
                target.as_socket()
            )
        })?;
        held.push(client);
        held.push(server);
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("reporting ready: {e}"))?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(held);
    Ok(())
}

fn leak_close_wait(args: &[String]) -> Result<(), String> {
    let [count, parent] = args else {
        return Err(format!("expected COUNT PARENT_PID, got {args:?}"));
    };
    let count = number(count, "COUNT")?;
    let parent = number(parent, "PARENT_PID")?;
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("PR_SET_PDEATHSIG: {e}"))?;
    if nix::unistd::getppid().as_raw() as u32 != parent {
        return Ok(());
    }
    let name = CString::new(LEAK_COMM).map_err(|e| e.to_string())?;
    prctl::set_name(&name).map_err(|e| format!("PR_SET_NAME: {e}"))?;
    let target = SockAddr::from(SocketAddr::from(([127, 5, 0, 1], LISTEN_PORT)));
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)
        .and_then(|s| {
            s.set_reuse_address(true)?;
            s.bind(&target)?;
            s.listen(4096)?;
            Ok(s)
        })
        .map_err(|e| format!("listening on {:?}: {e}", target.as_socket()))?;
    let mut leaked = Vec::with_capacity(count as usize);
    for made in 0..count {
        let server = Socket::new(Domain::IPV4, Type::STREAM, None)
            .and_then(|client| {
                client.connect(&target)?;
                let (server, _) = listener.accept()?;
                // The client's FIN puts the server end in CLOSE_WAIT; nobody closes it.
                drop(client);
                server.set_linger(Some(Duration::ZERO))?;
                Ok(server)
            })
            .map_err(|e| format!("connection {made} of {count}: {e}"))?;
        leaked.push(server);
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("reporting ready: {e}"))?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(leaked);
    Ok(())
}

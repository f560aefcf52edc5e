//! The lock-step server's side in the holder process (see `lockstep.rs` for the rounds):
//! the holder's `lockstep ADDR RETIRED HOLD_MS` line starts it. Apart from `lockstep.rs`,
//! which spawns the holder, so that the two sides do not import each other.

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// In the holder: `ADDR RETIRED HOLD_MS` — listen on `ADDR`, serve on a thread of its
/// own, and return the listener's address.
pub(super) fn start(spec: &str) -> Result<SocketAddr, String> {
    let [addr, retired, hold_ms] = spec.split(' ').collect::<Vec<_>>()[..] else {
        return Err(format!(
            "expected `lockstep ADDR RETIRED HOLD_MS`, got {spec:?}"
        ));
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    let retired: usize = retired
        .parse()
        .map_err(|e| format!("retired {retired:?}: {e}"))?;
    let hold = Duration::from_millis(
        hold_ms
            .parse()
            .map_err(|e| format!("hold {hold_ms:?}: {e}"))?,
    );
    // The retired connections are descriptors: make room for them.
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("getrlimit: {e}"))?;
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard)
        .map_err(|e| format!("setrlimit: {e}"))?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("listening on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))?;
    std::thread::spawn(move || {
        if let Err(e) = serve(&listener, retired, hold) {
            crate::stderr_line!("lock-step server on {local}: {e}");
        }
    });
    Ok(local)
}

/// The server's rounds (see the module notes); returns when a client misbehaves.
fn serve(listener: &TcpListener, max_retired: usize, hold: Duration) -> std::io::Result<()> {
    let mut retired: VecDeque<(Instant, TcpStream)> = VecDeque::with_capacity(max_retired + 1);
    let (mut current, _) = listener.accept()?;
    current.write_all(b"x")?;
    loop {
        let mut byte = [0u8; 1];
        if current.read(&mut byte)? != 0 {
            return Err(std::io::Error::other("the client sent data"));
        }
        retired.push_back((Instant::now(), current));
        if retired.len() > max_retired
            && let Some((since, oldest)) = retired.pop_front()
        {
            std::thread::sleep(hold.saturating_sub(since.elapsed()));
            drop(oldest);
        }
        // The next connection is queued already (the client connected it before closing
        // the last one): it takes the descriptor number just freed.
        (current, _) = listener.accept()?;
        current.write_all(b"x")?;
    }
}

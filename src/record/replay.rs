//! A recording's namespaces as of one poll: a key frame's sockets, with the deltas after
//! it applied one by one, turned back into the [`Round`] the watcher handed out live.

use std::sync::Arc;
use std::time::SystemTime;

use crate::hash::FastMap;
use crate::watch::merge::merge;
use crate::watch::{NamespaceRound, Round};

use super::convert::{label_of, snapshot_of};
use super::wire::{NamespaceFrame, PollFrame, SocketsFrame, WireSocket};

/// One namespace as of the poll applied last.
#[derive(Clone, Debug)]
struct NamespaceState {
    /// Its last frame, its sockets taken out.
    frame: NamespaceFrame,
    /// Every socket, in order.
    sockets: Vec<WireSocket>,
    /// Where each cookie is in `sockets`.
    at: FastMap<u64, usize>,
}

impl NamespaceState {
    fn index(&mut self) {
        self.at.clear();
        for (i, s) in self.sockets.iter().enumerate() {
            self.at.insert(s.cookie, i);
        }
    }
}

/// Every namespace of a recording as of one poll.
#[derive(Clone, Debug, Default)]
pub struct ReplayState {
    /// When the poll applied last was taken.
    taken_at: Option<SystemTime>,
    /// Whether every namespace is recorded.
    every: bool,
    /// The namespaces, in the poll's order.
    namespaces: Vec<NamespaceState>,
}

impl ReplayState {
    /// The state after `poll` (a key frame's, or a delta's on top of this state), or why
    /// the poll cannot follow it.
    pub fn apply(&mut self, poll: PollFrame) -> Result<(), String> {
        let mut previous: FastMap<u64, NamespaceState> = std::mem::take(&mut self.namespaces)
            .into_iter()
            .map(|n| (n.frame.key, n))
            .collect();
        let mut next = Vec::with_capacity(poll.namespaces.len());
        for mut frame in poll.namespaces {
            let sockets = std::mem::replace(&mut frame.sockets, SocketsFrame::Every(Vec::new()));
            let mut state = match sockets {
                SocketsFrame::Every(sockets) => NamespaceState {
                    frame,
                    sockets,
                    at: FastMap::default(),
                },
                SocketsFrame::Changed { changed, removed } => {
                    let Some(mut state) = previous.remove(&frame.key) else {
                        return Err(format!(
                            "a delta for namespace {} follows no frame that holds it",
                            frame.label.name
                        ));
                    };
                    state.frame = frame;
                    // A socket a delta does not write changed nothing but its timer's
                    // remaining time, which the writer leaves out: count it down.
                    let elapsed = self.taken_at.map_or(0, |before| {
                        poll.taken_at
                            .time()
                            .duration_since(before)
                            .map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX))
                    });
                    if elapsed > 0 {
                        for socket in &mut state.sockets {
                            if socket.timer.0 != 0 {
                                socket.timer.1 = socket.timer.1.saturating_sub(elapsed);
                            }
                        }
                    }
                    // Each removal moves the last socket into its place: no re-index of
                    // every socket per delta (at 100,000 sockets and 300 deltas since the
                    // key frame, re-indexing was most of a seek).
                    for cookie in removed {
                        let Some(i) = state.at.remove(&cookie) else {
                            continue;
                        };
                        state.sockets.swap_remove(i);
                        if let Some(moved) = state.sockets.get(i) {
                            state.at.insert(moved.cookie, i);
                        }
                    }
                    for socket in changed {
                        match state.at.get(&socket.cookie) {
                            Some(&i) => state.sockets[i] = socket,
                            None => {
                                state.at.insert(socket.cookie, state.sockets.len());
                                state.sockets.push(socket);
                            }
                        }
                    }
                    next.push(state);
                    continue;
                }
            };
            state.index();
            next.push(state);
        }
        self.namespaces = next;
        self.taken_at = Some(poll.taken_at.time());
        self.every = poll.every;
        Ok(())
    }

    /// The round the watcher handed out at this poll: every namespace dumped, the merged
    /// view the one namespace's snapshot or, with every namespace, their merge.
    pub fn round(&self) -> Result<Round, String> {
        let taken_at = self.taken_at.unwrap_or(SystemTime::UNIX_EPOCH);
        let mut round = Round::empty(taken_at, self.every);
        for state in &self.namespaces {
            let snapshot = snapshot_of(&state.frame, &state.sockets)
                .map_err(|why| format!("namespace {}: {why}", state.frame.label.name))?;
            round.namespaces.push(NamespaceRound::polled(
                state.frame.key,
                label_of(&state.frame),
                Ok(Arc::new(snapshot)),
            ));
        }
        round.dumped = round.namespaces.len();
        round.merged = if self.every {
            Some(Arc::new(merge(&round.namespaces)))
        } else {
            round.namespaces.first().and_then(|n| n.snapshot.clone())
        };
        Ok(round)
    }

    /// The names of the namespaces, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.namespaces.iter().map(|n| n.frame.label.name.as_str())
    }
}

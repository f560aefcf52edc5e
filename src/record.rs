//! Recordings: a versioned file of polls (key frames with every socket, deltas keyed by
//! socket cookie between them, each frame compressed and checksummed), its writer and its
//! reader. `docs/recording.md` is the format's contract.
//!
//! - [`Recorder`] appends a [`crate::watch::Round`] per poll to a file (`sockscope
//!   record`), a key frame every `key_every` and whenever a namespace appears, rotating at
//!   a size cap;
//! - [`Recording`] opens a file someone hands us (hostile: every length capped, a cut-off
//!   tail or a corrupt frame reported, never a panic), indexes its polls, and hands each
//!   out as the watcher did live ([`RecordedPolls`]).

mod convert;
mod frame;
mod reader;
mod replay;
mod wire;
mod writer;

#[cfg(test)]
mod tests;

use std::io;

pub use frame::{MAJOR, MINOR};
pub use reader::{Recording, RecordingInfo};
pub use writer::{Recorder, RecorderSettings};

/// What a replay steps through: the polls of a recording, by index.
pub trait RecordedPolls: Send {
    /// How many polls.
    fn len(&self) -> usize;

    /// Whether there is no poll at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When poll `i` was taken.
    fn taken_at(&self, i: usize) -> std::time::SystemTime;

    /// Whether the recording watched every namespace (`-A`).
    fn every(&self) -> bool;

    /// Poll `i` as the watcher handed it out live: a [`crate::watch::Round`] (each
    /// namespace's key, label, snapshot with `freshness` Dumped; `merged` the one
    /// namespace's snapshot, or for `-A` the merge of them all, as `watch::merge` makes
    /// it), or why it cannot be read.
    fn round(&mut self, i: usize) -> Result<crate::watch::Round, String>;
}

/// Why a recording could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A file could not be opened, created or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: io::Error,
    },
    /// Writing a frame failed (a full disk): recording stops, the file stays readable up
    /// to its last whole frame.
    #[error(
        "writing {path}: {source}; recording stopped, {path} is readable up to its last whole frame"
    )]
    Write {
        /// The file.
        path: String,
        /// What failed.
        source: io::Error,
    },
    /// The path is not a file a recording may be written to or read from.
    #[error("{path}: {why}")]
    Refused {
        /// The file.
        path: String,
        /// Why (a symbolic link, a directory, …) and what to do.
        why: String,
    },
    /// The file does not start as a recording does.
    #[error("{0}: not a sockscope recording (it does not start with the recording's magic bytes)")]
    NotARecording(String),
    /// The file was written by a newer major version of the format.
    #[error("{path} was written by format {major}.x; this sockscope reads {reads}.x: upgrade sockscope", reads = MAJOR)]
    NewerMajor {
        /// The file.
        path: String,
        /// Its major version.
        major: u16,
        /// Its minor version.
        minor: u16,
    },
    /// The file's header is damaged.
    #[error("{0}")]
    Corrupt(String),
    /// A frame could not be encoded.
    #[error("encoding a frame: {0}")]
    Encode(String),
}

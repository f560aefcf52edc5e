//! Recordings of what sockscope saw: the polls a replay steps through. The file format,
//! its reader and writer are written elsewhere; this is what the dashboard's replay needs
//! of them.

// A recording replayed holds at least one poll: `is_empty` would always be false.
#![allow(clippy::len_without_is_empty)]

/// What a replay steps through: the polls of a recording, by index.
pub trait RecordedPolls: Send {
    /// How many polls.
    fn len(&self) -> usize;
    /// When poll `i` was taken.
    fn taken_at(&self, i: usize) -> std::time::SystemTime;
    /// Whether the recording watched every namespace (`-A`).
    fn every(&self) -> bool;
    /// Poll `i` as the watcher handed it out live: a `crate::watch::Round` (each namespace's key, label, snapshot with `freshness` Dumped; `merged` the one namespace's snapshot, or for `-A` the merge), or why it cannot be read.
    fn round(&mut self, i: usize) -> Result<crate::watch::Round, String>;
}

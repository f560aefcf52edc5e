//! Recordings: a versioned file of polls (key frames with every socket, deltas keyed by
//! socket cookie between them, each frame compressed and checksummed), its writer and its
//! reader. `docs/recording.md` is the format's contract.

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

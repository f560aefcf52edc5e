//! Where a replay stands in its recording: the poll on screen, when each end was taken,
//! whether it plays, and what the rules made of each poll (its [`Mark`]), as the timeline
//! along the bottom of a replay draws them. Data only: the replay fills it in
//! (`tui::replay`), drawing reads it.

use std::time::SystemTime;

/// What the rules made of one poll, as far as the replay has looked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// Not looked at yet (the replay goes through the polls while it waits for keys).
    Unseen,
    /// No anomaly raised.
    Quiet,
    /// Anomalies raised at an earlier poll still stand.
    Standing,
    /// The poll could not be read.
    Unreadable,
    /// An anomaly was raised at this poll (it was not raised at the one before).
    Raised,
}

/// One cell of the timeline: what it shows, for the polls it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// The poll on screen is among its polls.
    Position,
    /// The strongest mark among its polls.
    Marked(Mark),
}

/// A replay's place in its recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    marks: Vec<Mark>,
    position: usize,
    shown_at: SystemTime,
    first_at: SystemTime,
    last_at: SystemTime,
    playing: bool,
}

impl Timeline {
    /// A recording of `polls` polls (at least one) from `first_at` to `last_at`, at its
    /// first poll, nothing looked at yet.
    pub fn new(polls: usize, first_at: SystemTime, last_at: SystemTime) -> Timeline {
        Timeline {
            marks: vec![Mark::Unseen; polls.max(1)],
            position: 0,
            shown_at: first_at,
            first_at,
            last_at,
            playing: false,
        }
    }

    /// How many polls the recording holds.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// Always false: a recording replayed holds at least one poll.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// The poll on screen, from 0.
    pub fn position(&self) -> usize {
        self.position
    }

    /// When the poll on screen was taken.
    pub fn shown_at(&self) -> SystemTime {
        self.shown_at
    }

    /// When the first and the last poll were taken.
    pub fn span(&self) -> (SystemTime, SystemTime) {
        (self.first_at, self.last_at)
    }

    /// Whether it plays forward, a poll per interval.
    pub fn playing(&self) -> bool {
        self.playing
    }

    /// Play, or stop playing.
    pub fn set_playing(&mut self, playing: bool) {
        self.playing = playing;
    }

    /// Poll `position`, taken at `at`, is on screen.
    pub fn moved_to(&mut self, position: usize, at: SystemTime) {
        self.position = position.min(self.len() - 1);
        self.shown_at = at;
    }

    /// What the rules made of poll `i`.
    pub fn mark(&self, i: usize) -> Mark {
        self.marks.get(i).copied().unwrap_or(Mark::Unseen)
    }

    /// Poll `i` is marked `mark`.
    pub fn set_mark(&mut self, i: usize, mark: Mark) {
        if let Some(m) = self.marks.get_mut(i) {
            *m = mark;
        }
    }

    /// The first poll after `i` marked [`Mark::Raised`], among those looked at.
    pub fn raised_after(&self, i: usize) -> Option<usize> {
        let from = i.checked_add(1)?;
        (from..self.len()).find(|&j| self.marks[j] == Mark::Raised)
    }

    /// The timeline in `width` cells: cell `k` stands for the polls from `k * len / width`
    /// up to the next cell's (a cell for each poll when there are fewer polls than cells,
    /// the rest of the line left out), the one holding the poll on screen drawn as the
    /// position, the others with their strongest mark.
    pub fn cells(&self, width: usize) -> Vec<Cell> {
        let len = self.len();
        let width = width.min(len);
        (0..width)
            .map(|k| {
                let from = k * len / width;
                let to = ((k + 1) * len / width).max(from + 1);
                if (from..to).contains(&self.position) {
                    Cell::Position
                } else {
                    Cell::Marked(
                        self.marks[from..to]
                            .iter()
                            .copied()
                            .max()
                            .unwrap_or(Mark::Unseen),
                    )
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn timeline(polls: usize) -> Timeline {
        let first = SystemTime::UNIX_EPOCH;
        Timeline::new(polls, first, first + Duration::from_secs(polls as u64))
    }

    #[test]
    fn each_cell_holds_its_share_of_the_polls_and_the_strongest_mark() {
        let mut t = timeline(10);
        t.set_mark(3, Mark::Raised);
        t.set_mark(4, Mark::Standing);
        t.set_mark(9, Mark::Quiet);
        t.moved_to(7, SystemTime::UNIX_EPOCH);
        assert_eq!(
            t.cells(5),
            [
                Cell::Marked(Mark::Unseen),
                Cell::Marked(Mark::Raised),
                Cell::Marked(Mark::Standing),
                Cell::Position,
                Cell::Marked(Mark::Quiet),
            ]
        );
        assert_eq!(t.cells(40).len(), 10);
        assert_eq!(t.cells(0), []);
        assert_eq!(t.cells(1), [Cell::Position]);
    }

    #[test]
    fn the_next_raised_poll_is_found_after_the_one_given() {
        let mut t = timeline(10);
        t.set_mark(3, Mark::Raised);
        t.set_mark(8, Mark::Raised);
        assert_eq!(t.raised_after(0), Some(3));
        assert_eq!(t.raised_after(3), Some(8));
        assert_eq!(t.raised_after(8), None);
        assert_eq!(t.raised_after(usize::MAX), None);
    }
}

//! The detail pane (Enter): what it shows for the selected row, where it goes on a screen
//! and which of its rows fit. The keys read it to scroll within bounds and the drawing reads
//! it to draw, so it depends on neither ([`App`](super::App) builds a [`Detail`] for its
//! selected row).
//!
//! Heights are counted in rows once wrapped to the pane's inside width, with ratatui's own
//! word wrapper (`Paragraph::line_count`), so the count is the one drawing gets: a long
//! command line or sentence takes the rows it takes on screen and pushes nothing out unseen.

mod lines;

use std::fmt::Write as _;

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::action::Motion;
use super::layout::centred;
use super::on_screen::OnScreen;
use super::rows::Target;
use super::theme::Theme;
use crate::aggregate::Aggregator;
use crate::format::grouped;
use crate::model::{Socket, endpoint};

/// The row a detail pane is about.
#[derive(Clone, Copy, Debug)]
pub enum DetailedRow<'a> {
    /// A socket of the shown snapshot.
    Socket(&'a Socket),
    /// A group row: its first cell (the pane's title) and what it groups.
    Group {
        /// The row's first cell.
        title: &'a str,
        /// What the row is about.
        target: &'a Target,
    },
}

/// What the detail pane shows: a title for its border and its lines, unwrapped.
#[derive(Clone, Debug)]
pub struct Detail {
    /// The top border's title.
    pub title: String,
    /// Every line, in order; none is left out for want of room.
    pub lines: Vec<Line<'static>>,
}

impl Detail {
    /// The pane for `subject` of the poll `shown`; `aggregator` knows the sockets' ages.
    pub fn of(
        theme: Theme,
        aggregator: &Aggregator,
        shown: &OnScreen,
        subject: DetailedRow,
    ) -> Detail {
        match subject {
            DetailedRow::Socket(socket) => Detail {
                title: format!(
                    " {} {} → {} ",
                    socket.state.name(),
                    endpoint(&socket.local.get()),
                    endpoint(&socket.remote.get())
                ),
                lines: lines::socket_lines(theme, aggregator, &shown.snapshot, socket),
            },
            DetailedRow::Group { title, target } => Detail {
                title: format!(" {} ", crate::format::printable(title)),
                lines: lines::group_lines(theme, shown, target),
            },
        }
    }
}

/// The detail pane on one screen: its box and how its wrapped rows fit in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pane {
    /// The box, borders included, centred on the screen.
    pub rect: Rect,
    /// Rows each line takes, wrapped to the inside width.
    heights: Vec<usize>,
    /// Rows of the whole content.
    pub total: usize,
    /// Rows inside the borders.
    pub visible: usize,
}

impl Pane {
    /// The pane of `detail` on a screen of `area`: 8 columns narrower than the screen (at
    /// least 20), as tall as its wrapped rows and its borders, at most the screen less two rows.
    pub fn of(area: Rect, detail: &Detail) -> Pane {
        let width = area.width.saturating_sub(8).max(20).min(area.width);
        let inside = width.saturating_sub(2);
        let heights: Vec<usize> = detail
            .lines
            .iter()
            .map(|line| {
                Paragraph::new(line.clone())
                    .wrap(Wrap { trim: false })
                    .line_count(inside)
            })
            .collect();
        let total = heights.iter().sum();
        let height = u16::try_from(total + 2)
            .unwrap_or(u16::MAX)
            .min(area.height.saturating_sub(2));
        let rect = centred(area, width, height);
        Pane {
            rect,
            heights,
            total,
            visible: usize::from(rect.height.saturating_sub(2)),
        }
    }

    /// The largest offset: the one that shows the last row at the bottom.
    pub fn last_offset(&self) -> usize {
        self.total.saturating_sub(self.visible.max(1))
    }

    /// `offset` brought within the content.
    pub fn clamp(&self, offset: usize) -> usize {
        offset.min(self.last_offset())
    }

    /// The offset after `motion` from `offset`: a row, a paneful, the top or the bottom.
    pub fn scrolled(&self, offset: usize, motion: Motion) -> usize {
        let offset = self.clamp(offset);
        let page = self.visible.max(1);
        self.clamp(match motion {
            Motion::Up => offset.saturating_sub(1),
            Motion::Down => offset.saturating_add(1),
            Motion::PageUp => offset.saturating_sub(page),
            Motion::PageDown => offset.saturating_add(page),
            Motion::Home => 0,
            Motion::End => usize::MAX,
        })
    }

    /// Where drawing starts at `offset`: the first line with a row on screen, and how many
    /// of its rows are above the pane.
    pub fn start(&self, offset: usize) -> (usize, usize) {
        let mut above = self.clamp(offset);
        for (index, &height) in self.heights.iter().enumerate() {
            if above < height {
                return (index, above);
            }
            above -= height;
        }
        (self.heights.len(), 0)
    }

    /// What the bottom border says at `offset` when not every row fits: which rows show,
    /// of how many, and how many are above and below. `None` when everything fits.
    pub fn position(&self, offset: usize) -> Option<String> {
        if self.total <= self.visible {
            return None;
        }
        if self.visible == 0 {
            return Some(format!(" {} lines, no room ", grouped(self.total as u64)));
        }
        let first = self.clamp(offset);
        let last = (first + self.visible).min(self.total);
        let mut text = format!(
            " lines {}–{} of {}",
            grouped(first as u64 + 1),
            grouped(last as u64),
            grouped(self.total as u64)
        );
        if first > 0 {
            let _ = write!(text, " · ↑ {} above", grouped(first as u64));
        }
        if last < self.total {
            let _ = write!(text, " · ↓ {} more", grouped((self.total - last) as u64));
        }
        text.push(' ');
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(lines: &[&str]) -> Detail {
        Detail {
            title: " t ".to_owned(),
            lines: lines.iter().map(|l| Line::raw((*l).to_owned())).collect(),
        }
    }

    #[test]
    fn rows_are_counted_wrapped_like_the_drawing_wraps_them() {
        // A 30-column screen: the pane is 22 wide, 20 inside. The sentence takes four rows
        // ("a sentence long", "enough to wrap onto", "a second and a third", "row").
        let text = "a sentence long enough to wrap onto a second and a third row";
        let d = detail(&[text, "one", "two"]);
        let pane = Pane::of(Rect::new(0, 0, 30, 40), &d);
        assert_eq!(pane.rect, Rect::new(4, 16, 22, 8));
        let whole = Paragraph::new(d.lines.clone())
            .wrap(Wrap { trim: false })
            .line_count(20);
        assert_eq!((pane.total, pane.visible, whole), (6, 6, 6));
        assert_eq!(pane.position(0), None);
    }

    #[test]
    fn the_offset_stays_within_the_rows_and_the_border_counts_them() {
        let lines: Vec<String> = (1..=57).map(|n| format!("line {n}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let pane = Pane::of(Rect::new(0, 0, 80, 22), &detail(&refs));
        assert_eq!((pane.total, pane.visible), (57, 18));
        assert_eq!(
            pane.position(0).as_deref(),
            Some(" lines 1–18 of 57 · ↓ 39 more ")
        );
        assert_eq!(pane.scrolled(0, Motion::End), 39);
        assert_eq!(pane.scrolled(39, Motion::Down), 39);
        assert_eq!(pane.scrolled(1_000, Motion::Up), 38);
        assert_eq!(pane.scrolled(30, Motion::PageDown), 39);
        assert_eq!(pane.scrolled(30, Motion::PageUp), 12);
        assert_eq!(pane.scrolled(3, Motion::PageUp), 0);
        assert_eq!(
            pane.position(12).as_deref(),
            Some(" lines 13–30 of 57 · ↑ 12 above · ↓ 27 more ")
        );
        assert_eq!(
            pane.position(99).as_deref(),
            Some(" lines 40–57 of 57 · ↑ 39 above ")
        );
        assert_eq!(pane.start(12), (12, 0));
    }

    #[test]
    fn drawing_starts_inside_a_wrapped_line_when_the_offset_falls_in_it() {
        // 12 columns: 10 inside; "aaaa bbbb cccc" wraps onto two rows.
        let d = detail(&["first", "aaaa bbbb cccc", "last"]);
        let pane = Pane::of(Rect::new(0, 0, 12, 5), &d);
        assert_eq!((pane.total, pane.visible), (4, 1));
        assert_eq!(pane.start(0), (0, 0));
        assert_eq!(pane.start(1), (1, 0));
        assert_eq!(pane.start(2), (1, 1));
        assert_eq!(pane.start(3), (2, 0));
        assert_eq!(pane.last_offset(), 3);
    }

    #[test]
    fn a_screen_with_no_room_inside_the_borders_says_so() {
        let pane = Pane::of(Rect::new(0, 0, 10, 4), &detail(&["one", "two"]));
        assert_eq!((pane.total, pane.visible), (2, 0));
        assert_eq!(pane.clamp(5), 1);
        assert_eq!(pane.position(0).as_deref(), Some(" 2 lines, no room "));
        let empty = Pane::of(Rect::new(0, 0, 0, 0), &detail(&["one"]));
        assert_eq!((empty.total, empty.visible, empty.clamp(3)), (0, 0, 0));
    }
}

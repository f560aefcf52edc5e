//! A replay's timeline, the row above the footer: the whole recording from its first poll
//! to its last, the poll on screen (`●`), where anomalies were raised (`!`) and where they
//! stood (`━`), the polls not looked at yet (`·`), with the two ends' times when the row
//! has room for them.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::format::clock;
use crate::tui::theme::Theme;
use crate::tui::timeline::{Cell, Mark, Timeline};

/// The narrowest row that shows the ends' times beside the cells.
const WITH_TIMES: usize = 40;

pub(super) fn draw(frame: &mut Frame, area: Rect, timeline: &Timeline, theme: Theme) {
    frame.render_widget(Paragraph::new(line(timeline, area.width, theme)), area);
}

/// The timeline in `width` columns.
fn line(timeline: &Timeline, width: u16, theme: Theme) -> Line<'static> {
    let width = usize::from(width);
    let (first, last) = timeline.span();
    let ends = (width >= WITH_TIMES).then(|| {
        let time = |at| clock(at).trim_end_matches(" UTC").to_owned();
        (format!("{} ", time(first)), format!(" {}", time(last)))
    });
    let cells = width.saturating_sub(ends.as_ref().map_or(0, |(a, b)| a.len() + b.len()));
    let mut spans = Vec::new();
    if let Some((start, _)) = &ends {
        spans.push(Span::styled(start.clone(), theme.quiet()));
    }
    for cell in timeline.cells(cells) {
        let (symbol, style) = symbol(cell, theme);
        spans.push(Span::styled(symbol, style));
    }
    if let Some((_, end)) = ends {
        spans.push(Span::styled(end, theme.quiet()));
    }
    Line::from(spans)
}

/// How a cell reads, and its style.
fn symbol(cell: Cell, theme: Theme) -> (&'static str, Style) {
    match cell {
        Cell::Position => ("●", theme.accent()),
        Cell::Marked(Mark::Raised) => ("!", theme.alert()),
        Cell::Marked(Mark::Unreadable) => ("×", theme.alert()),
        Cell::Marked(Mark::Standing) => ("━", theme.heading()),
        Cell::Marked(Mark::Quiet) => ("─", theme.quiet()),
        Cell::Marked(Mark::Unseen) => ("·", theme.quiet()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn the_timeline_shows_its_ends_marks_and_position_in_any_width() {
        let first = SystemTime::UNIX_EPOCH + Duration::from_secs(3 * 3600);
        let mut t = Timeline::new(30, first, first + Duration::from_secs(29));
        for i in 0..20 {
            t.set_mark(i, Mark::Quiet);
        }
        t.set_mark(5, Mark::Raised);
        t.set_mark(6, Mark::Standing);
        t.moved_to(10, first + Duration::from_secs(10));
        assert_eq!(
            text(&line(&t, 50, Theme::MONO)),
            "03:00:00 ─────!━───●─────────·········· 03:00:29"
        );
        assert_eq!(text(&line(&t, 10, Theme::MONO)), "─!━●───···");
        assert_eq!(text(&line(&t, 1, Theme::MONO)), "●");
        assert_eq!(text(&line(&t, 0, Theme::MONO)), "");
    }
}

//! The Churn view: a title saying the grouping and the last minute's closes, their
//! sparkline, then the table ([`table::draw`]); or, when destroy events are not listened
//! to, why.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{fit, spark, table};
use crate::format::{grouped, printable};
use crate::tui::app::App;
use crate::tui::layout::Areas;
use crate::tui::rows::rate_text;
use crate::tui::view::View;

/// Why the Churn view has nothing to show: the round's own reason when subscribing
/// failed, else what the dashboard knows.
fn not_listening(app: &App) -> String {
    match app.events_error() {
        Some(why) => format!("destroy events are not listened to: {why}"),
        None if app.events_counted() => {
            "destroy events are counted (the header's closes/s) but not grouped yet".to_owned()
        }
        // Joining the groups needs no privilege in sockscope's own namespace: only a
        // round can say why it failed.
        None => "destroy events are not listened to (needs a subscription; none reported yet)"
            .to_owned(),
    }
}

/// `Churn by process · last 60 s · 1,234 closes · 20.6/s` (the grouping alone when
/// nothing is listened to), and `b: by local port` at the right when there is room.
fn title(app: &App, width: usize) -> Line<'static> {
    let theme = app.theme;
    let grouping = app.churn_grouping();
    let mut left = format!("Churn by {}", grouping.name());
    if let Some(churn) = app.shown().map(|s| &s.summary.churn)
        && churn.listening
    {
        let _ = write!(
            left,
            " · last {} s · {} · {}/s",
            churn.span.as_secs_f64().round(),
            match churn.total.closes {
                1 => "1 close".to_owned(),
                n => format!("{} closes", grouped(n)),
            },
            rate_text(churn.per_second_total())
        );
    }
    let left = fit(&left, width);
    let right = format!("b: by {}", grouping.next().name());
    let room = width - left.chars().count();
    let mut spans = vec![Span::styled(left, theme.heading())];
    if room > right.chars().count() + 1 {
        spans.push(Span::raw(" ".repeat(room - right.chars().count())));
        spans.push(Span::styled(right, theme.quiet()));
    }
    Line::from(spans)
}

/// The last minute's closes per second, newest at the right, and the busiest second.
fn sparkline(app: &App, width: usize) -> Line<'static> {
    let Some(churn) = app.shown().map(|s| &s.summary.churn) else {
        return Line::raw("");
    };
    let peak = churn.per_second.iter().copied().max().unwrap_or(0);
    let label = format!(" peak {}/s", grouped(peak));
    let cells = churn
        .per_second
        .len()
        .min(width.saturating_sub(label.chars().count()));
    let mut line = vec![Span::styled(
        spark(&churn.per_second, cells),
        app.theme.accent(),
    )];
    if cells > 0 {
        line.push(Span::styled(label, app.theme.quiet()));
    }
    Line::from(line)
}

pub(super) fn draw(frame: &mut Frame, areas: &Areas, app: &App) {
    let area = areas.table;
    let Some(shown) = app.shown() else {
        return;
    };
    let width = usize::from(area.width);
    let mut lines = vec![title(app, width)];
    if !shown.summary.churn.listening {
        lines.push(Line::styled(
            printable(&not_listening(app)).into_owned(),
            app.theme.quiet(),
        ));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
        return;
    }
    lines.push(sparkline(app, width));
    let table = areas.table_of(View::Churn);
    let above = Rect {
        height: table.y - area.y,
        ..area
    };
    frame.render_widget(Paragraph::new(lines), above);
    table::draw(frame, table, app);
}

#[cfg(test)]
mod tests;

//! Drawing: a pure function of [`App`]. Nothing here changes state or talks to the kernel.

mod churn;
mod detail;
mod header;
mod panels;
mod table;
mod timeline;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::action::{InputMode, help as keys_help};
use super::app::App;
use super::layout::{Areas, MIN_SIZE, centred};
use super::view::View;
use crate::format::printable;

/// One-line reminder of the `/` syntax, for the input line.
const FILTER_SYNTAX: &str =
    "e.g. close-wait  port=443  dst=10.0.0.0/8  nginx  -4  (Enter applies, empty clears)";

/// One-line reminder of what a replay's `t` takes.
const TIME_SYNTAX: &str =
    "e.g. 03:12  03:12:04  2026-12-07T03:12:04Z (UTC)  -10m from the end  +5m from the start";

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let Some(mut areas) = Areas::of(area.width, area.height) else {
        too_small(frame, area);
        // The detail pane needs no layout: an open one stays readable over the message.
        if app.mode == InputMode::Detail {
            detail::draw(frame, area, app);
        }
        return;
    };
    if let Some(timeline) = app.timeline() {
        areas = areas.with_timeline();
        if let Some(rect) = areas.timeline {
            timeline::draw(frame, rect, timeline, app.theme);
        }
    }
    header::draw(frame, areas.header, app);
    panels::states(frame, areas.states, app);
    panels::anomalies(frame, areas.anomalies, app);
    table::tabs(frame, areas.tabs, app);
    if app.view == View::Churn {
        churn::draw(frame, &areas, app);
    } else {
        table::draw(frame, areas.table, app);
    }
    footer(frame, areas.footer, app);
    match app.mode {
        InputMode::Help => help(frame, area, app),
        InputMode::Detail => detail::draw(frame, area, app),
        InputMode::Normal | InputMode::Filter | InputMode::Time => {}
    }
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "sockscope needs {}×{}; this terminal is {}×{}. Enlarge it, or press q to quit.",
        MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
    );
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}

/// The fewest characters of the typed filter the line keeps when a reason needs the room.
const INPUT_KEPT: usize = 12;

/// The typed filter and what follows the cursor (`  why` or `  e.g. …`), escaped and fitted
/// to `width` with the `/ ` and the cursor: a reason why the filter was refused is shown
/// before the start of the input (its end, where the cursor is, stays), so a filter longer
/// than the terminal no longer pushes its error off the screen; the syntax reminder only
/// takes the room left.
fn filter_line(input: &str, why: Option<&str>, width: usize, syntax: &str) -> (String, String) {
    let input = printable(input);
    let room = width.saturating_sub(3);
    let typed = input.chars().count();
    let after = match why {
        Some(why) => format!("  {}", printable(why)),
        None => format!("  {syntax}"),
    };
    let kept = match why {
        Some(_) => typed.min(
            room.saturating_sub(after.chars().count())
                .max(INPUT_KEPT.min(room)),
        ),
        None => typed.min(room),
    };
    let input = if kept < typed {
        let tail: String = input.chars().skip(typed - kept + 1).collect();
        format!("…{tail}")
    } else {
        input.into_owned()
    };
    (input, fit(&after, room - kept))
}

/// Keys, the filter line, a notice, the collector's failure or why `F` could not follow.
fn footer(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let line = if matches!(app.mode, InputMode::Filter | InputMode::Time) {
        // A filter (or a time) that was refused says why here, where the user is typing,
        // until the next key; otherwise the line reminds of the syntax.
        let (prompt, syntax) = if app.mode == InputMode::Time {
            ("t ", TIME_SYNTAX)
        } else {
            ("/ ", FILTER_SYNTAX)
        };
        let (input, after) = filter_line(
            &app.input,
            app.notice.as_deref(),
            usize::from(area.width),
            syntax,
        );
        let after_style = if app.notice.is_some() {
            theme.alert()
        } else {
            theme.quiet()
        };
        Line::from(vec![
            Span::styled(prompt, theme.accent()),
            Span::raw(input),
            Span::styled("▏", theme.accent()),
            Span::styled(after, after_style),
        ])
    } else if let Some(failure) = &app.failure {
        Line::from(Span::styled(
            printable(&format!(
                "poll failed ×{}: {} (showing the last good poll; retrying)",
                failure.count, failure.message
            ))
            .into_owned(),
            theme.alert(),
        ))
    } else if let Some(notice) = &app.notice {
        Line::from(Span::styled(
            printable(notice).into_owned(),
            theme.heading(),
        ))
    } else if let Some(why) = &app.follow_failed {
        Line::from(Span::styled(
            printable(&format!(
                "could not follow: {why} (still showing the old one; F retries)"
            ))
            .into_owned(),
            theme.alert(),
        ))
    } else {
        let mut spans = Vec::new();
        // The view's own key comes before the general ones the line may cut.
        let own = (app.view == View::Churn).then_some(("b", "group by"));
        let keys: &[(&str, &str)] = if app.timeline().is_some() {
            &[
                ("←/→", "poll"),
                ("[/]", "minute"),
                ("a", "next raised"),
                ("t", "time"),
                ("Space", "play"),
                ("q", "quit"),
                ("?", "help"),
                ("/", "filter"),
                ("Tab", "view"),
            ]
        } else {
            &[
                ("q", "quit"),
                ("?", "help"),
                ("/", "filter"),
                ("Tab", "view"),
                ("s", "sort"),
                ("Enter", "detail"),
                ("p", "pause"),
                ("+/-", "interval"),
                ("n", "next anomaly"),
            ]
        };
        for &(key, what) in own.iter().chain(keys) {
            spans.push(Span::styled(key, theme.accent()));
            spans.push(Span::raw(format!(" {what}  ")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A centred box `width` × `height` (clipped to `area`), cleared.
fn overlay(frame: &mut Frame, area: Rect, width: u16, height: u16) -> Rect {
    let rect = centred(area, width, height);
    frame.render_widget(Clear, rect);
    rect
}

fn help(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let replay = app.timeline().is_some();
    let key_width = keys_help(replay)
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = keys_help(replay)
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<key_width$}  "), theme.accent()),
                Span::raw(what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        " States and anomalies count every socket; / narrows the table.",
        theme.quiet(),
    ));
    let width = lines.iter().map(Line::width).max().unwrap_or(0) as u16 + 3;
    let rect = overlay(frame, area, width, lines.len() as u16 + 2);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Keys (Esc closes) ")),
        rect,
    );
}

/// A sparkline of `values` in `width` cells, newest at the right, scaled to their maximum.
pub fn spark(values: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0);
    let mut out = String::with_capacity(width * 3);
    for _ in tail.len()..width {
        out.push(' ');
    }
    for &v in tail {
        out.push(if max == 0 {
            ' '
        } else if v == 0 {
            '▁'
        } else {
            BARS[((v * 7 + max / 2) / max).clamp(1, 7) as usize]
        });
    }
    out
}

/// `text` cut to `width` characters, with `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_its_maximum_and_pads_on_the_left() {
        assert_eq!(spark(&[0, 1, 7, 14], 6), "  ▁▂▅█");
        assert_eq!(spark(&[0, 0], 3), "   ");
        assert_eq!(spark(&[5, 5, 5, 9, 1, 2], 3), "█▂▃");
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit("leaky-app[4242]", 8), "leaky-a…");
        assert_eq!(fit("short", 8), "short");
        assert_eq!(fit("x", 0), "");
    }
}

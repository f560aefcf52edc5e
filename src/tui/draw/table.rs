//! The tab bar and the table. Only the rows on screen are formatted: a million sockets
//! cost one screenful of strings per frame.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{fit, spark};
use crate::format::{grouped, printable};
use crate::model::{Snapshot, Socket};
use crate::tui::app::App;
use crate::tui::columns::{Column, SocketColumn, ViewColumn, Width, short_label};
use crate::tui::on_screen::OnScreen;
use crate::tui::rows::Target;
use crate::tui::view::View;

/// Whether `view`'s table follows the `/` filter: the counters and the closes are not
/// sockets.
fn filtered(view: View) -> bool {
    !matches!(view, View::Counters | View::Churn)
}

pub(super) fn tabs(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let rows = app.row_count();
    let mut right = String::new();
    if !app.filter.is_empty() && filtered(app.view) {
        let _ = write!(right, "filter: {} · ", app.filter_text);
    }
    if rows > 0 {
        let selected = app.cursor(app.view).selected.min(rows - 1) + 1;
        let _ = write!(
            right,
            "{}/{}",
            grouped(selected as u64),
            grouped(rows as u64)
        );
        if app.view == View::Sockets && !app.filter.is_empty() {
            let total = app.shown.as_ref().map_or(0, |s| s.snapshot.sockets.len());
            let _ = write!(right, " of {}", grouped(total as u64));
        }
    }
    // ` 1 Sockets  2 Processes `, or ` 1 Sockets 2 Processes` when that leaves the right
    // part no room.
    let label = |i: usize, view: View, tight: bool| {
        if tight {
            format!(" {} {}", i + 1, view.title())
        } else {
            format!(" {} {} ", i + 1, view.title())
        }
    };
    let wide: usize = View::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| label(i, *v, false).chars().count())
        .sum();
    let tight = wide + 1 + right.chars().count() > usize::from(area.width);
    let mut spans = Vec::new();
    for (i, view) in View::ALL.iter().enumerate() {
        let label = label(i, *view, tight);
        spans.push(if *view == app.view {
            Span::styled(label, theme.accent().patch(theme.selected()))
        } else {
            Span::raw(label)
        });
    }
    let used: usize = spans.iter().map(Span::width).sum();
    let room = usize::from(area.width).saturating_sub(used + 1);
    let right = fit(&right, room);
    spans.push(Span::raw(" ".repeat(room - right.chars().count() + 1)));
    spans.push(Span::styled(right, theme.heading()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Cells of one socket row, in [`SocketColumn`] order.
fn socket_cells(app: &App, snapshot: &Snapshot, socket: &Socket) -> Vec<String> {
    SocketColumn::ALL
        .iter()
        .map(|c| c.cell(app.aggregator(), snapshot, socket))
        .collect()
}

/// Which columns to show: those of `priority` (the columns present, in priority order)
/// while they fit `width`, the flexible last column taking what is left.
fn choose_columns(widths: &[usize], priority: &[usize], width: usize) -> Vec<bool> {
    let mut keep = vec![false; widths.len()];
    let mut used = 0;
    let last = priority.iter().max().copied();
    for &column in priority {
        let need = widths[column].min(if Some(column) == last { 12 } else { usize::MAX });
        if used + need < width || used == 0 {
            keep[column] = true;
            used += need + 1;
        }
    }
    keep
}

/// The cells of the rows on screen, and what each group row stands for.
fn visible_cells(
    app: &App,
    shown: &OnScreen,
    offset: usize,
    height: usize,
) -> (Vec<Vec<String>>, Vec<Option<Target>>) {
    if app.view == View::Sockets {
        let snapshot = &shown.snapshot;
        app.order
            .iter()
            .skip(offset)
            .take(height)
            .map(|&i| {
                let socket = &snapshot.sockets[i as usize];
                (escaped(socket_cells(app, snapshot, socket)), None)
            })
            .unzip()
    } else {
        app.rows
            .iter()
            .skip(offset)
            .take(height)
            .map(|r| (escaped(r.cells.clone()), Some(r.target.clone())))
            .unzip()
    }
}

/// The cells of a row as the screen shows them: names as read, escaped here, where they
/// are written and before they are measured (ratatui would drop a control character
/// silently: `\e[31mEVIL` showed as `[31mEVIL` in one view and `\x1b[31mEVIL` in another).
fn escaped(mut cells: Vec<String>) -> Vec<String> {
    for cell in &mut cells {
        if let std::borrow::Cow::Owned(text) = printable(cell) {
            *cell = text;
        }
    }
    cells
}

/// Which columns a table shows and how wide.
struct Layout {
    /// Each column's width (of those not kept, whatever).
    widths: Vec<usize>,
    /// Whether each column is drawn.
    keep: Vec<bool>,
    /// The last column drawn.
    last_kept: usize,
}

/// The layout of `columns` with `headings` over the rows on screen, `cells`, in `total`
/// terminal columns; `containers`: whether the poll on screen has containers.
fn layout(
    columns: &[Column],
    headings: &[String],
    cells: &[Vec<String>],
    containers: bool,
    total: usize,
) -> Layout {
    let mut widths: Vec<usize> = headings.iter().map(|h| h.chars().count()).collect();
    for row in cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for (w, column) in widths.iter_mut().zip(columns) {
        if let Width::Sparkline(n) = column.width {
            *w = n;
        }
    }
    // Label columns are chosen at the width of their short forms, and get their full
    // width back below if what is left allows.
    let full = widths.clone();
    for (i, column) in columns.iter().enumerate() {
        if column.width == Width::Label {
            widths[i] = cells
                .iter()
                .filter_map(|row| row.get(i))
                .map(|cell| short_label(cell).chars().count())
                .fold(headings[i].chars().count(), usize::max);
        }
    }
    let mut priority: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i].is_present(containers))
        .collect();
    priority.sort_by_key(|&i| columns[i].priority);
    let keep = choose_columns(&widths, &priority, total);
    let last_kept = keep.iter().rposition(|k| *k).unwrap_or(0);
    let used: usize = (0..=last_kept)
        .filter(|&i| keep[i])
        .map(|i| widths[i] + 1)
        .sum();
    let mut room = total.saturating_sub(used.saturating_sub(1));
    for i in (0..last_kept).filter(|&i| keep[i] && columns[i].width == Width::Label) {
        let grow = full[i].saturating_sub(widths[i]);
        if grow <= room {
            widths[i] = full[i];
            room -= grow;
        }
    }
    let fixed: usize = (0..last_kept)
        .filter(|&i| keep[i])
        .map(|i| widths[i] + 1)
        .sum();
    if !columns[last_kept].numeric() {
        widths[last_kept] = total.saturating_sub(fixed).max(1);
    }

    Layout {
        widths,
        keep,
        last_kept,
    }
}

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let Some(shown) = &app.shown else {
        return;
    };
    let view = app.view;
    let columns = app.columns(view);
    let sort = app.sort(view);
    let height = usize::from(area.height.saturating_sub(1));
    let cursor = app.cursor(view);
    let offset = cursor.scrolled(height);

    let (cells, targets) = visible_cells(app, shown, offset, height);

    let headings: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == sort.column {
                format!("{}{}", c.name, sort.arrow())
            } else {
                c.name.to_owned()
            }
        })
        .collect();
    let containers = shown.has_containers();
    let Layout {
        widths,
        keep,
        last_kept,
    } = layout(
        &columns,
        &headings,
        &cells,
        containers,
        usize::from(area.width),
    );

    let line_of = |texts: &[String], style: Style| {
        let mut spans = Vec::new();
        for (i, text) in texts.iter().enumerate().filter(|(i, _)| keep[*i]) {
            let w = widths[i];
            let text = if columns[i].width == Width::Label && text.chars().count() > w {
                fit(short_label(text), w)
            } else {
                fit(text, w)
            };
            let cell = if columns[i].numeric() {
                format!("{text:>w$}")
            } else {
                format!("{text:<w$}")
            };
            spans.push(Span::raw(cell));
            if i != last_kept {
                spans.push(Span::raw(" "));
            }
        }
        Line::from(spans).style(style)
    };

    let mut lines = Vec::with_capacity(height + 1);
    lines.push(line_of(&headings, theme.heading()));
    let history = &shown.summary.history;
    for (n, (mut row, target)) in cells.into_iter().zip(targets).enumerate() {
        if let Some(Target::Counter(name)) = &target {
            for (i, column) in columns.iter().enumerate() {
                if let Width::Sparkline(_) = column.width {
                    let values: Vec<u64> = history
                        .rate_series(name)
                        .map(|s| s.map(|r| r.unwrap_or(0.0).round() as u64).collect())
                        .unwrap_or_default();
                    row[i] = spark(&values, widths[i]);
                }
            }
        }
        let style = if offset + n == cursor.selected {
            theme.selected()
        } else {
            Style::new()
        };
        lines.push(line_of(&row, style));
    }
    if lines.len() == 1 {
        let empty = if view == View::Churn {
            "no connection closed in the last minute"
        } else if app.filter.is_empty() || !filtered(view) {
            "nothing here in this namespace"
        } else {
            "nothing matches the filter (/ to change it)"
        };
        lines.push(Line::styled(empty, theme.quiet()));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

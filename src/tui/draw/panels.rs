//! The two top panels: states (count, change, sparkline) and anomalies (one line each, the
//! selected one's detail and hint below).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::{fit, spark};
use crate::aggregate::{Anomaly, AnomalyKind, Severity, Subject};
use crate::format::age;
use crate::format::{grouped, printable, process};
use crate::model::{TcpState, endpoint};
use crate::tui::app::App;

/// The worst severity raised about `state`.
fn severity_of(anomalies: &[Anomaly], state: TcpState) -> Option<Severity> {
    anomalies
        .iter()
        .filter(|a| a.kind.about().state == Some(state))
        .map(|a| a.severity)
        .max()
}

pub(super) fn states(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let block = Block::bordered().title(" States  count  change  history ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(shown) = &app.shown else {
        frame.render_widget(
            Paragraph::new(Line::styled("waiting for the first poll…", theme.quiet())),
            inner,
        );
        return;
    };
    let summary = &shown.summary;
    let spark_width = usize::from(inner.width).saturating_sub(11 + 1 + 9 + 1 + 7 + 1);
    let mut series = Vec::with_capacity(summary.history.len());
    let lines: Vec<Line> = TcpState::LIFECYCLE
        .iter()
        .map(|&state| {
            let count = summary.counts.get(state);
            let style =
                severity_of(shown.anomalies(), state).map_or(Style::new(), |s| theme.severity(s));
            let change = match summary.change(state) {
                Some(0) | None => String::new(),
                Some(c) => format!("{c:+}"),
            };
            series.clear();
            series.extend(summary.history.state_series(state));
            let count_style = if count == 0 { theme.quiet() } else { style };
            Line::from(vec![
                Span::styled(format!("{:<11} ", state.name()), style),
                Span::styled(format!("{:>9} ", grouped(count)), count_style),
                Span::raw(format!("{change:>7} ")),
                Span::styled(spark(&series, spark_width), theme.spark()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The line that stands in for an empty anomaly list: every rule that is watching.
fn rules_line() -> String {
    let titles: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.about().title).collect();
    format!("rules: {}", titles.join(", "))
}

/// The subject without the words the kind already says.
fn subject_label(subject: &Subject) -> String {
    match subject {
        Subject::Process { pid, comm } => process(comm, *pid),
        Subject::Listener(addr) | Subject::Destination(addr) => endpoint(addr),
        Subject::LocalPort(port) => format!("port {port}"),
        Subject::Namespace => "namespace".to_owned(),
    }
}

fn trend_arrow(trend: Option<f64>) -> &'static str {
    match trend {
        Some(t) if t > 0.5 => "↑",
        Some(t) if t < -0.5 => "↓",
        Some(_) => "→",
        None => " ",
    }
}

pub(super) fn anomalies(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    let Some(shown) = &app.shown else {
        frame.render_widget(Block::bordered().title(" Anomalies "), area);
        return;
    };
    let list = shown.anomalies();
    let block = Block::bordered().title(if list.is_empty() {
        " Anomalies ".to_owned()
    } else {
        format!(" Anomalies ({})  n: next ", list.len())
    });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if list.is_empty() {
        let lines = vec![
            Line::styled("✓ nothing abnormal", theme.good()),
            Line::styled(rules_line(), theme.quiet()),
        ];
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    // With `-A` a quiet namespace's anomaly was last judged at its last dump: its age
    // runs to the poll.
    let now = shown.polled_at();
    let height = usize::from(inner.height);
    let rows = list.len().min((height / 2).max(3)).min(height);
    let selected = app.anomaly.min(list.len() - 1);
    let first = selected.saturating_sub(rows.saturating_sub(1));
    let width = usize::from(inner.width);
    let lines: Vec<Line> = list
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, a)| {
            let tag = match a.severity {
                Severity::Critical => "CRIT",
                Severity::Warning => "WARN",
            };
            let right = format!(
                " {}/{} {}{}",
                grouped(a.count),
                grouped(a.threshold),
                trend_arrow(a.trend),
                age(Some(a.first_seen), now)
            );
            let marker = if i == selected { "›" } else { " " };
            let left = format!(" {:<10} ", a.kind.about().label);
            let room = width.saturating_sub(5 + left.chars().count() + right.chars().count());
            let subject = match &a.netns {
                Some(netns) => format!("{netns}: {}", subject_label(&a.subject)),
                None => subject_label(&a.subject),
            };
            let subject = fit(&printable(&subject), room);
            let tag_style = if i == selected {
                theme.severity(a.severity).patch(theme.selected())
            } else {
                theme.severity(a.severity)
            };
            Line::from(vec![
                Span::styled(marker, theme.accent()),
                Span::styled(tag, tag_style),
                Span::raw(left),
                Span::styled(format!("{subject:<room$}"), theme.heading()),
                Span::raw(right),
            ])
        })
        .collect();
    // The rows unwrapped (a wrapping paragraph would trim the unselected rows' leading
    // space and shift them left of the selected one); the hint and the full line wrap below.
    let [list_area, hint_area] = Layout::vertical([
        Constraint::Length(u16::try_from(lines.len()).unwrap_or(inner.height)),
        Constraint::Fill(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(lines), list_area);
    let a = &list[selected];
    let detail = vec![
        Line::from(vec![
            Span::styled("hint: ", theme.accent()),
            Span::raw(a.hint),
        ]),
        Line::styled(
            printable(&crate::format::anomaly::line(
                a,
                now.unwrap_or(a.first_seen),
            ))
            .into_owned(),
            theme.quiet(),
        ),
    ];
    frame.render_widget(Paragraph::new(detail).wrap(Wrap { trim: true }), hint_area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_line_names_every_kind_in_report_order() {
        assert_eq!(
            rules_line(),
            "rules: CLOSE_WAIT backlog, SYN_RECV flood, SYN cookies, TIME_WAIT excess, connection churn, \
             accept queue overflow, FIN_WAIT2 pile-up, orphans, open-file limit"
        );
        let line = rules_line();
        let mut rest = line.strip_prefix("rules: ").unwrap_or_default();
        for kind in AnomalyKind::ALL {
            let title = kind.about().title;
            let at = rest
                .find(title)
                .unwrap_or_else(|| panic!("{kind:?} missing: {line}"));
            rest = &rest[at + title.len()..];
        }
    }
}

//! The detail pane of a Churn view row: what the group's closes were, in words.

use ratatui::text::Line;

use crate::format::{bytes, grouped, process};
use crate::tui::on_screen::OnScreen;
use crate::tui::rows::{ChurnKey, lifetime_text, rate_text};
use crate::tui::theme::Theme;

use super::field;

/// `part` of `whole`: `12 (40.0%)`.
fn share(part: u64, whole: u64) -> String {
    let percent = if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    };
    format!("{} ({percent:.1}%)", grouped(part))
}

/// The breakdown of the group `key` of the last minute's closes.
pub(in crate::tui::detail) fn churn_lines(
    theme: Theme,
    shown: &OnScreen,
    key: &ChurnKey,
) -> Vec<Line<'static>> {
    let churn = &shown.summary.churn;
    let mut lines = Vec::new();
    match key {
        ChurnKey::Maker(Some(maker)) => {
            lines.push(field(theme, "process", process(&maker.comm, maker.pid)));
            if let Some(p) = shown.snapshot.processes.iter().find(|p| p.pid == maker.pid) {
                lines.push(field(theme, "command line", p.cmdline.clone()));
            }
        }
        ChurnKey::Maker(None) => lines.push(Line::raw(
            "No poll saw a process hold these connections and no listener has their address: most opened and closed between two polls (- polls more often); without root, other users' processes are not seen either.",
        )),
        ChurnKey::LocalPort(None) => lines.push(Line::raw(
            "The connections this side opened (from ephemeral ports), not accepted.",
        )),
        ChurnKey::LocalPort(Some(port)) => {
            lines.push(field(theme, "local port", format!("{port} (accepted)")));
        }
        ChurnKey::RemoteHost(ip) => lines.push(field(theme, "remote host", ip.to_string())),
        ChurnKey::Container(label) => lines.push(field(
            theme,
            "container",
            label.clone().unwrap_or_else(|| "none known".to_owned()),
        )),
    }
    let Some((stats, per_second)) = key.stats(churn) else {
        lines.push(Line::styled(
            "none of its connections closed in the last minute any more",
            theme.quiet(),
        ));
        return lines;
    };
    lines.push(field(
        theme,
        "closes",
        format!(
            "{} in the last {} s ({}/s)",
            grouped(stats.closes),
            churn.span.as_secs_f64().round(),
            rate_text(per_second)
        ),
    ));
    lines.push(field(
        theme,
        "short-lived",
        format!(
            "{}: lived under [connection_churn] short_lived, or no poll saw them",
            share(stats.short_lived, stats.closes)
        ),
    ));
    lines.push(field(
        theme,
        "not seen by a poll",
        format!(
            "{}: opened and closed between two polls",
            share(stats.unseen, stats.closes)
        ),
    ));
    let median = stats.median_lifetime();
    lines.push(field(
        theme,
        "median lifetime",
        match median {
            Some(_) => format!("{} (of those a poll saw born)", lifetime_text(median)),
            None => "— (no poll saw one born)".to_owned(),
        },
    ));
    lines.push(field(
        theme,
        "bytes/connection",
        match stats.bytes_per_connection() {
            Some(n) => format!(
                "{} sent and received (over the {} closes with tcp_info)",
                bytes(n),
                grouped(stats.with_bytes)
            ),
            None => "— (no close carried tcp_info)".to_owned(),
        },
    ));
    lines
}

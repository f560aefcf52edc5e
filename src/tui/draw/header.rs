//! The header line: where, how often, how many, when, whether the display is live, and
//! whether the namespace shown is still the one `--netns` names.

use std::borrow::Cow;
use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::format::{age, clock, count_of, date_time, grouped, interval, printable};
use crate::model::{Attribution, SourceKind};
use crate::tui::app::App;
use crate::tui::drift;
use crate::tui::namespaces::NamespacesOnScreen;
use crate::tui::timeline::Timeline;

/// How long an item of the header stays when the line is too long: the lowest goes first
/// (ties: the first in the line). Declared from the first to go to the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Priority {
    /// The kernel's version (`Linux 6.18`).
    Kernel,
    /// The program's name (`sockscope`).
    Program,
    /// What the poll could not see: unreadable owners, the `/proc/net/tcp` fallback.
    Caveat,
    /// When the sockets on screen were polled (`-A`).
    PollTime,
    /// How often it polls (`every 1s`, `ESTABLISHED every 5s`).
    Pace,
    /// The namespace watched, or with `-A` how many and how old their data is.
    Namespace,
    /// The host's name, and the other namespaces' `press A`.
    Host,
    /// How many sockets (or that the first poll has not come).
    Sockets,
    /// The screen may mislead: another namespace than the name says, namespaces not
    /// watched.
    Warning,
    /// The display does not move: paused, or the poll failing.
    Stalled,
}

/// Connections opened and sockets destroyed per second (the kernel's counters, the destroy
/// events), and events lost, when the watcher counts them.
fn churn_parts(app: &App, parts: &mut Vec<(String, Style, Priority)>) {
    if let Some(closes) = app.closes_per_second {
        let mut churn = String::new();
        if let Some(opens) = app.opens_per_second() {
            let _ = write!(churn, "opens {}/s · ", per_second(opens));
        }
        let _ = write!(churn, "closes {}/s", per_second(closes));
        parts.push((churn, Style::new(), Priority::Pace));
    }
    if app.events_lost > 0 {
        parts.push((
            format!("events lost: {}", grouped(app.events_lost)),
            app.theme.alert(),
            Priority::Warning,
        ));
    }
}

/// A rate for the header: `0.5`, `12`, `3,400`.
fn per_second(rate: f64) -> String {
    if rate < 10.0 {
        format!("{rate:.1}")
    } else {
        grouped(rate.round() as u64)
    }
}

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = app.theme;
    // (text, style, priority): the lowest priority goes first when the line is too long.
    let mut parts: Vec<(String, Style, Priority)> =
        vec![("sockscope".to_owned(), theme.accent(), Priority::Program)];
    if let Some(shown) = &app.shown {
        let s = &shown.snapshot;
        parts.push((s.host.clone(), theme.heading(), Priority::Host));
        namespace_or_netns(app, shown, &mut parts);
    }
    match app.timeline() {
        Some(timeline) => replay_parts(app, timeline, &mut parts),
        None => live_parts(app, &mut parts),
    }
    churn_parts(app, &mut parts);
    if let Some(shown) = &app.shown {
        parts.push((
            count_of(shown.summary.counts.total(), "socket"),
            theme.heading(),
            Priority::Sockets,
        ));
        // With `-A` the sockets on screen may be older than the last poll: its time shows
        // (a replay says it already).
        if let Some(at) = shown.polled_at().filter(|_| app.timeline().is_none()) {
            parts.push((clock(at), Style::new(), Priority::PollTime));
        }
        if let Attribution::Partial { unreadable } = shown.snapshot.attribution {
            parts.push((
                format!("owners of {unreadable} process(es) unreadable: '?'"),
                theme.quiet(),
                Priority::Caveat,
            ));
        }
        if shown.snapshot.source == SourceKind::ProcNet {
            parts.push((
                "from /proc/net/tcp".to_owned(),
                theme.quiet(),
                Priority::Caveat,
            ));
        }
    } else {
        parts.push((
            "waiting for the first poll…".to_owned(),
            theme.quiet(),
            Priority::Sockets,
        ));
    }
    stalled_parts(app, &mut parts);
    let width = usize::from(area.width);
    escape(&mut parts);
    if let Some(drift) = &app.netns {
        // Above everything but a pause or a failing poll: the screen shows another
        // namespace than the name says. Its short form, where the long one cannot fit.
        let (long, short) = drift::notice(drift, app.follow_failed.as_deref());
        let (long, short) = (
            printable(&long).into_owned(),
            printable(&short).into_owned(),
        );
        let mut with_long = parts.clone();
        with_long.push((long, theme.alert(), Priority::Warning));
        let with_long = fitted(with_long, width);
        parts = if len(&with_long) <= width + 3 {
            with_long
        } else {
            parts.push((short, theme.alert(), Priority::Warning));
            fitted(parts, width)
        };
    } else {
        parts = fitted(parts, width);
    }
    let mut spans = Vec::with_capacity(parts.len() * 2);
    for (i, (text, style, _)) in parts.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.quiet()));
        }
        spans.push(Span::styled(text, style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The live dashboard's kernel and pace: `Linux 6.18`, `every 1s`, the ESTABLISHED tier's.
fn live_parts(app: &App, parts: &mut Vec<(String, Style, Priority)>) {
    parts.push((
        format!("Linux {}", app.kernel),
        Style::new(),
        Priority::Kernel,
    ));
    let mut every = format!("every {}", interval(app.effective_interval()));
    if let Some((auto, cost)) = app.auto_interval()
        && auto > app.interval()
    {
        let _ = write!(every, " (slowed: a poll takes {})", interval(cost));
    }
    parts.push((every, Style::new(), Priority::Pace));
    if let Some(tier) = app.shown.as_ref().and_then(|s| s.snapshot.established_tier)
        && tier.every > app.effective_interval()
    {
        parts.push((
            format!("ESTABLISHED every {}", interval(tier.every)),
            Style::new(),
            Priority::Pace,
        ));
    }
}

/// A replay's place instead of the kernel (the laptop's is not the recording's) and the
/// pace: `REPLAY 2026-12-07 03:12:04 UTC`, `poll 812/3600`, and `playing` while it plays.
/// They never give way: a replay must not pass for the live dashboard.
fn replay_parts(app: &App, timeline: &Timeline, parts: &mut Vec<(String, Style, Priority)>) {
    parts.push((
        format!("REPLAY {}", date_time(timeline.shown_at())),
        app.theme.selected(),
        Priority::Stalled,
    ));
    parts.push((
        format!(
            "poll {}/{}",
            grouped(timeline.position() as u64 + 1),
            grouped(timeline.len() as u64)
        ),
        Style::new(),
        Priority::Stalled,
    ));
    if timeline.playing() {
        parts.push((
            format!("playing, every {}", interval(app.effective_interval())),
            Style::new(),
            Priority::Pace,
        ));
    }
}

/// Whether the display is stalled: paused, or the poll failing.
fn stalled_parts(app: &App, parts: &mut Vec<(String, Style, Priority)>) {
    let theme = app.theme;
    if app.paused() {
        parts.push((
            format!(
                "PAUSED ({} new {})",
                app.polls_while_paused,
                if app.polls_while_paused == 1 {
                    "poll"
                } else {
                    "polls"
                }
            ),
            theme.selected(),
            Priority::Stalled,
        ));
    }
    if let Some(failure) = &app.failure {
        parts.push((
            format!(
                "POLL FAILING for {}",
                age(Some(failure.since), Some(failure.last))
            ),
            theme.alert(),
            Priority::Stalled,
        ));
    }
}

/// The namespace watched (`netns web`), or with `-A` every namespace's part.
fn namespace_or_netns(
    app: &App,
    shown: &crate::tui::on_screen::OnScreen,
    parts: &mut Vec<(String, Style, Priority)>,
) {
    let theme = app.theme;
    match &shown.namespaces {
        Some(namespaces) => namespace_parts(namespaces, shown.polled_at(), theme, parts),
        None => parts.push((
            format!("netns {}", shown.snapshot.netns),
            Style::new(),
            Priority::Namespace,
        )),
    }
    if let Some(others) = app.others.filter(|o| o.namespaces > 0 && !app.all_netns()) {
        parts.push((
            format!(
                "+{}, {}: press A",
                count_of(others.namespaces as u64, "namespace"),
                count_of(others.sockets, "socket")
            ),
            theme.accent(),
            Priority::Host,
        ));
    }
}

/// With `-A`: how many namespaces, how old the oldest one's data is, and how many could
/// not be watched.
fn namespace_parts(
    namespaces: &NamespacesOnScreen,
    now: Option<std::time::SystemTime>,
    theme: crate::tui::Theme,
    parts: &mut Vec<(String, Style, Priority)>,
) {
    parts.push((
        count_of(namespaces.rows.len() as u64, "namespace"),
        Style::new(),
        Priority::Namespace,
    ));
    if let Some(oldest) = now.and_then(|now| namespaces.oldest(now)) {
        let oldest = if oldest == std::time::Duration::MAX {
            "some not dumped yet".to_owned()
        } else {
            format!(
                "oldest data {}",
                interval(std::time::Duration::from_secs(oldest.as_secs()))
            )
        };
        parts.push((oldest, Style::new(), Priority::Namespace));
    }
    if namespaces.over_limit > 0 {
        parts.push((
            format!(
                "{} more not watched: out of descriptors",
                namespaces.over_limit
            ),
            theme.alert(),
            Priority::Warning,
        ));
    }
}

/// Host and namespace names as read, escaped here, where they are written and measured.
fn escape(parts: &mut [(String, Style, Priority)]) {
    for (text, _, _) in parts {
        if let Cow::Owned(escaped) = printable(text) {
            *text = escaped;
        }
    }
}

/// The width `parts` take, separators included (one too many, for the first).
fn len(parts: &[(String, Style, Priority)]) -> usize {
    parts.iter().map(|p| p.0.chars().count() + 3).sum()
}

/// `parts` without the lowest-priority ones that do not fit in `width` columns.
fn fitted(
    mut parts: Vec<(String, Style, Priority)>,
    width: usize,
) -> Vec<(String, Style, Priority)> {
    while len(&parts) > width + 3 && parts.len() > 1 {
        let lowest = parts
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| p.2)
            .map_or(0, |(i, _)| i);
        parts.remove(lowest);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(text: &str, priority: Priority) -> (String, Style, Priority) {
        (text.to_owned(), Style::new(), priority)
    }

    #[test]
    fn a_narrow_header_drops_the_kernel_first_and_a_pause_last() {
        let parts = vec![
            part("sockscope", Priority::Program),
            part("web-1", Priority::Host),
            part("Linux 6.18", Priority::Kernel),
            part("every 1s", Priority::Pace),
            part("12 sockets", Priority::Sockets),
            part("PAUSED (2 new polls)", Priority::Stalled),
        ];
        let texts = |width: usize| -> Vec<String> {
            fitted(parts.clone(), width)
                .into_iter()
                .map(|p| p.0)
                .collect()
        };
        assert_eq!(len(&parts), 80);
        assert_eq!(texts(77).len(), 6);
        assert_eq!(
            texts(76),
            [
                "sockscope",
                "web-1",
                "every 1s",
                "12 sockets",
                "PAUSED (2 new polls)"
            ]
        );
        assert_eq!(
            texts(52),
            ["web-1", "every 1s", "12 sockets", "PAUSED (2 new polls)"]
        );
        assert_eq!(texts(51), ["web-1", "12 sockets", "PAUSED (2 new polls)"]);
        assert_eq!(texts(10), ["PAUSED (2 new polls)"]);
    }

    #[test]
    fn header_priorities_rank_as_named() {
        let ranked = [
            Priority::Kernel,
            Priority::Program,
            Priority::Caveat,
            Priority::PollTime,
            Priority::Pace,
            Priority::Namespace,
            Priority::Host,
            Priority::Sockets,
            Priority::Warning,
            Priority::Stalled,
        ];
        assert!(ranked.windows(2).all(|w| w[0] < w[1]), "{ranked:?}");
    }
}

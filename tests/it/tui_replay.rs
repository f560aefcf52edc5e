//! The replay dashboard (`sockscope replay FILE`) on an in-memory recording of synthetic
//! polls: a CLOSE_WAIT leak appears at poll 5 of 90 polls ten seconds apart, from
//! 2026-12-07 03:00:00 UTC. Drawn into ratatui's TestBackend.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::support::dashboard::render;
use crate::support::synthetic::Synth;
use sockscope::config::Config;
use sockscope::filter::Filter;
use sockscope::model::{NetnsLabel, Snapshot, TcpState};
use sockscope::record::RecordedPolls;
use sockscope::tui::replay::Replay;
use sockscope::tui::{Action, InputMode, Settings, Theme};
use sockscope::watch::{NamespaceRound, Round};

/// 2026-12-07 03:00:00 UTC.
const START: u64 = 1_796_612_400;

/// Polls in the recording.
const POLLS: usize = 90;

/// Polls recorded in memory; `unreadable` ones answer an error.
struct Polls {
    snapshots: Vec<Arc<Snapshot>>,
    unreadable: Vec<usize>,
}

impl RecordedPolls for Polls {
    fn len(&self) -> usize {
        self.snapshots.len()
    }

    fn taken_at(&self, i: usize) -> SystemTime {
        self.snapshots[i].taken_at.unwrap()
    }

    fn every(&self) -> bool {
        false
    }

    fn round(&mut self, i: usize) -> Result<Round, String> {
        if self.unreadable.contains(&i) {
            return Err(format!("frame {i}: checksum mismatch"));
        }
        let snapshot = Arc::clone(&self.snapshots[i]);
        let label = NetnsLabel {
            name: snapshot.netns.clone(),
            inode: 0,
            container: None,
        };
        Ok(Round {
            merged: Some(Arc::clone(&snapshot)),
            namespaces: vec![NamespaceRound::polled(0, label, Ok(snapshot))],
            dumped: 1,
            ..Round::empty(self.taken_at(i), false)
        })
    }
}

/// Poll `i` (from 0): nginx[1200] serves 30 clients; from the fifth poll (`i` = 4) on,
/// leaky-app[4242] holds 25 CLOSE_WAIT sockets, one more every poll.
fn poll(i: usize) -> Snapshot {
    let mut s = Synth::at(START + 10 * i as u64);
    let nginx = s.process(1200, "nginx");
    let leaky = s.process(4242, "leaky-app");
    s.listener("0.0.0.0:80", 0, 128, &[nginx]);
    for c in 0..30u64 {
        s.socket_with_cookie(
            100 + c,
            TcpState::Established,
            "10.0.0.5:80",
            &format!("203.0.113.9:{}", 20000 + c),
            &[nginx],
        );
    }
    s.listener("0.0.0.0:8080", 0, 128, &[leaky]);
    if i >= 4 {
        for c in 0..(25 + i as u64 - 4) {
            s.socket_with_cookie(
                500 + c,
                TcpState::CloseWait,
                "10.0.0.5:8080",
                &format!("10.0.0.77:{}", 30000 + c),
                &[leaky],
            );
        }
    }
    s.build()
}

fn replay_sized(columns: u16, rows: u16, unreadable: Vec<usize>) -> Replay {
    let polls = Polls {
        snapshots: (0..POLLS).map(|i| Arc::new(poll(i))).collect(),
        unreadable,
    };
    Replay::new(
        Box::new(polls),
        Settings {
            kernel: String::new(),
            config: Config::default(),
            filter: Filter::default(),
            filter_text: String::new(),
            theme: Theme::MONO,
            size: (columns, rows),
        },
    )
    .unwrap()
}

fn replay() -> Replay {
    replay_sized(120, 30, Vec::new())
}

fn line(replay: &Replay, row: usize) -> String {
    render(replay.app())
        .lines()
        .nth(row)
        .unwrap()
        .trim_end()
        .to_owned()
}

fn header(replay: &Replay) -> String {
    line(replay, 0)
}

/// The anomalies panel's first line (the right of row 2).
fn first_anomaly(replay: &Replay) -> String {
    line(replay, 2).chars().skip(54).collect()
}

/// The timeline: the row above the footer.
fn timeline(replay: &Replay) -> String {
    let (_, rows) = replay.app().size();
    line(replay, usize::from(rows) - 2)
}

fn type_time(replay: &mut Replay, text: &str) {
    replay.apply(Action::AskTime);
    for c in text.chars() {
        replay.apply(Action::TimeType(c));
    }
    replay.apply(Action::TimeApply);
}

#[test]
fn the_header_says_replay_and_when_the_poll_on_screen_was_taken() {
    let replay = replay();
    assert_eq!(
        header(&replay),
        "sockscope · web1 · netns host · REPLAY 2026-12-07 03:00:00 UTC · poll 1/90 · 32 sockets"
    );
    assert_eq!(
        line(&replay, 29),
        "←/→ poll  [/] minute  a next raised  t time  Space play  q quit  ? help  / filter  Tab view"
    );
}

#[test]
fn stepping_forward_shows_the_leak_appearing_at_poll_5() {
    let mut replay = replay();
    for poll in 2..=4 {
        replay.apply(Action::StepPolls(1));
        assert!(header(&replay).contains(&format!(" · poll {poll}/90 · ")));
        assert_eq!(
            first_anomaly(&replay),
            "│✓ nothing abnormal                                              │"
        );
    }
    replay.apply(Action::StepPolls(1));
    assert_eq!(
        header(&replay),
        "sockscope · web1 · netns host · REPLAY 2026-12-07 03:00:40 UTC · poll 5/90 · 57 sockets"
    );
    assert_eq!(
        first_anomaly(&replay),
        "│›WARN CLOSE_WAIT leaky-app[4242]                       25/20  0s│"
    );
    // And back: the aggregators start again before poll 4, and the leak is gone.
    replay.apply(Action::StepPolls(-1));
    assert!(header(&replay).contains(" · poll 4/90 · 32 sockets"));
    assert_eq!(
        first_anomaly(&replay),
        "│✓ nothing abnormal                                              │"
    );
}

#[test]
fn a_jump_takes_in_the_polls_before_it_so_changes_and_ages_mean_what_they_mean_live() {
    let mut replay = replay();
    type_time(&mut replay, "03:05");
    // Poll 31 (03:05:00): 51 CLOSE_WAIT, one more than the poll before (+1, not +51), the
    // leak raised and its oldest sockets seen ten polls before: the polls taken in first.
    assert_eq!(
        header(&replay),
        "sockscope · web1 · netns host · REPLAY 2026-12-07 03:05:00 UTC · poll 31/90 · 83 sockets"
    );
    assert_eq!(
        line(&replay, 10).chars().take(54).collect::<String>(),
        "│CLOSE_WAIT         51      +1            ▇▇▇▇▇▇▇████│"
    );
    assert_eq!(
        first_anomaly(&replay),
        "│›WARN CLOSE_WAIT leaky-app[4242]                    51/20 ↑1m40s│"
    );
}

#[test]
fn a_jumps_to_the_poll_where_the_leak_was_raised_and_then_says_there_is_no_other() {
    let mut replay = replay();
    replay.apply(Action::NextRaised);
    assert!(
        header(&replay).contains(" · poll 5/90 · "),
        "{}",
        header(&replay)
    );
    assert_eq!(
        line(&replay, 29),
        "an anomaly was raised at poll 5: a finds the next"
    );
    replay.apply(Action::NextRaised);
    assert!(header(&replay).contains(" · poll 5/90 · "));
    assert_eq!(line(&replay, 29), "no anomaly was raised after this poll");
}

#[test]
fn brackets_move_by_a_minute_and_stop_at_the_ends() {
    let mut replay = replay();
    replay.apply(Action::StepMinutes(1));
    assert!(header(&replay).contains("REPLAY 2026-12-07 03:01:00 UTC · poll 7/90 · "));
    replay.apply(Action::StepMinutes(1));
    assert!(header(&replay).contains("REPLAY 2026-12-07 03:02:00 UTC · poll 13/90 · "));
    replay.apply(Action::StepMinutes(-1));
    assert!(header(&replay).contains("REPLAY 2026-12-07 03:01:00 UTC · poll 7/90 · "));
    replay.apply(Action::StepMinutes(-1));
    replay.apply(Action::StepMinutes(-1));
    assert!(header(&replay).contains(" · poll 1/90 · "));
    assert_eq!(line(&replay, 29), "this is the recording's first poll");
}

#[test]
fn t_goes_to_a_time_relative_to_the_end_and_refuses_what_is_not_a_time() {
    let mut replay = replay();
    type_time(&mut replay, "-10m");
    // The last poll is 03:14:50; ten minutes before is 03:04:50, poll 30.
    assert!(header(&replay).contains("REPLAY 2026-12-07 03:04:50 UTC · poll 30/90 · "));
    assert_eq!(replay.app().mode(), InputMode::Normal);
    type_time(&mut replay, "soon");
    assert_eq!(replay.app().mode(), InputMode::Time);
    assert_eq!(
        line(&replay, 29),
        "t soon▏  \"soon\" is not a time: write 03:12 (UTC), 2026-12-07T03:12:04Z, -10m (before the end) or +5m (after the start)"
    );
    assert!(header(&replay).contains(" · poll 30/90 · "));
}

#[test]
fn the_timeline_marks_where_the_leak_was_raised_and_where_it_stood() {
    let mut replay = replay();
    assert_eq!(
        timeline(&replay),
        format!("03:00:00 ●{} 03:14:50", "·".repeat(POLLS - 1))
    );
    replay.mark_for(Duration::from_secs(60));
    assert!(!replay.marking());
    assert_eq!(
        timeline(&replay),
        format!("03:00:00 ●───!{} 03:14:50", "━".repeat(POLLS - 5))
    );
}

#[test]
fn an_unreadable_poll_is_said_and_the_replay_goes_on() {
    let mut replay = replay_sized(120, 30, vec![2]);
    replay.apply(Action::StepPolls(1));
    replay.apply(Action::StepPolls(1));
    assert!(header(&replay).contains("REPLAY 2026-12-07 03:00:20 UTC · poll 3/90 · "));
    assert_eq!(
        line(&replay, 29),
        "poll 3 cannot be read: frame 2: checksum mismatch; the screen shows poll 2"
    );
    replay.apply(Action::StepPolls(1));
    assert!(header(&replay).contains(" · poll 4/90 · "));
    replay.mark_for(Duration::from_secs(60));
    assert!(
        timeline(&replay).starts_with("03:00:00 ──×●!━━"),
        "{}",
        timeline(&replay)
    );
}

#[test]
fn a_tiny_terminal_draws_no_timeline_and_does_not_panic() {
    let mut replay = replay_sized(10, 5, Vec::new());
    for action in [
        Action::StepPolls(1),
        Action::NextRaised,
        Action::StepMinutes(1),
        Action::ToggleHelp,
        Action::ToggleHelp,
        Action::OpenDetail,
    ] {
        replay.apply(action);
        render(replay.app());
    }
    replay.mark_for(Duration::from_secs(60));
    replay.resize(64, 20);
    replay.resize(10, 5);
    assert_eq!(render(replay.app()).lines().count(), 5);
}

#[test]
fn space_plays_a_poll_at_a_time_and_stops_at_the_end() {
    let mut replay = replay();
    replay.apply(Action::StepPolls(1_000));
    assert!(header(&replay).contains(" · poll 90/90 · "));
    replay.apply(Action::StepPolls(-1));
    replay.apply(Action::TogglePause);
    assert!(header(&replay).contains(" · poll 89/90 · playing, every 1s · "));
    replay.play_on();
    assert!(header(&replay).contains(" · poll 90/90 · playing, every 1s · "));
    replay.play_on();
    assert_eq!(
        header(&replay),
        "sockscope · web1 · netns host · REPLAY 2026-12-07 03:14:50 UTC · poll 90/90 · 142 sockets"
    );
    assert_eq!(line(&replay, 29), "the end of the recording: stopped");
}

#[test]
fn the_replay_help_lists_the_replay_keys_in_24_rows() {
    let mut replay = replay_sized(80, 24, Vec::new());
    replay.apply(Action::ToggleHelp);
    let screen = render(replay.app());
    for (keys, what) in sockscope::tui::action::help(true) {
        assert!(
            screen.contains(&format!("{keys}  ")),
            "help lacks {keys:?}:\n{screen}"
        );
        assert!(screen.contains(what), "help lacks {what:?}:\n{screen}");
    }
    assert!(!screen.contains("poll less often"), "{screen}");
    assert!(screen.contains("└"), "{screen}");
}

//! Keys to actions: one enum, one `match`, and the help table listing every binding.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::view::View;

/// A cursor movement in the table, or a scroll of the open detail pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Motion {
    /// One row up.
    Up,
    /// One row down.
    Down,
    /// One screen up.
    PageUp,
    /// One screen down.
    PageDown,
    /// First row.
    Home,
    /// Last row.
    End,
}

/// Everything a key can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the dashboard.
    Quit,
    /// Stop the process and give the terminal back to the shell (Ctrl-Z; `fg` resumes).
    Suspend,
    /// Open or close the key list.
    ToggleHelp,
    /// Close the help, the detail pane or the filter line.
    CloseOverlay,
    /// Start typing a filter.
    OpenFilter,
    /// Type a character into the filter line.
    FilterType(char),
    /// Delete the character before the cursor in the filter line.
    FilterBackspace,
    /// Empty the filter line.
    FilterErase,
    /// Apply the filter line.
    FilterApply,
    /// Move the table cursor.
    Move(Motion),
    /// Next view in the tab bar.
    NextView,
    /// Previous view in the tab bar.
    PrevView,
    /// Jump to a view.
    ShowView(View),
    /// Sort by the next column.
    CycleSort,
    /// Reverse the sort order.
    ReverseSort,
    /// Group the Churn view's table by the next grouping (process, local port, remote
    /// host, container).
    CycleChurnGrouping,
    /// Open the detail pane of the selected row.
    OpenDetail,
    /// Scroll the open detail pane (the motion keys while it is open).
    ScrollDetail(Motion),
    /// Freeze or unfreeze the display (polling goes on).
    TogglePause,
    /// Poll less often.
    SlowerPolls,
    /// Poll more often.
    FasterPolls,
    /// Select the next anomaly (its hint shows under the list).
    NextAnomaly,
    /// Select the previous anomaly.
    PrevAnomaly,
    /// Follow `--netns NAME` (or `--netns-pid PID`) to the namespace it leads to now.
    FollowNetns,
    /// Watch every namespace of the host from now on (as `-A`).
    AllNetns,
    /// Write the polls the flight recorder keeps to a file (the live dashboard's `w`).
    WriteRecording,
    /// Replay: show the poll this many polls later (earlier when negative).
    StepPolls(i32),
    /// Replay: show the poll this many minutes later (earlier when negative).
    StepMinutes(i32),
    /// Replay: show the next poll where an anomaly was raised.
    NextRaised,
    /// Replay: start typing a time to go to.
    AskTime,
    /// Type a character into the time line.
    TimeType(char),
    /// Delete the character before the cursor in the time line.
    TimeBackspace,
    /// Go to the time typed.
    TimeApply,
}

/// What keys currently go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    /// The dashboard itself.
    Normal,
    /// The help overlay is open.
    Help,
    /// The detail pane is open.
    Detail,
    /// The filter line takes text.
    Filter,
    /// The time line of a replay (`t`) takes text.
    Time,
}

/// Which dashboard a key of the help is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysOf {
    /// The live dashboard and a replay.
    Both,
    /// The live dashboard only.
    Live,
    /// A replay only (`sockscope replay FILE`).
    Replay,
}

/// Every binding as the help shows it: keys, what they do, and in which dashboard.
pub const HELP: &[(&str, &str, KeysOf)] = &[
    (
        "q  Ctrl-C  Ctrl-Z",
        "quit / suspend to the shell (fg resumes)",
        KeysOf::Both,
    ),
    ("?", "this help", KeysOf::Both),
    (
        "Esc",
        "close help, detail pane or filter line",
        KeysOf::Both,
    ),
    ("Tab  Shift-Tab", "next / previous view", KeysOf::Both),
    // The views by number, on two lines so that the help fits 80 columns.
    (
        "1 2 3 4",
        "sockets, processes, peers, listeners",
        KeysOf::Both,
    ),
    ("5 6 7", "counters, namespaces, churn", KeysOf::Both),
    (
        "↑ ↓  k j",
        "move one row (detail pane: scroll one line)",
        KeysOf::Both,
    ),
    (
        "PgUp PgDn",
        "move one screen (detail pane: one paneful)",
        KeysOf::Both,
    ),
    (
        "Home End  g G",
        "first / last row (detail pane: top / bottom)",
        KeysOf::Both,
    ),
    ("s", "sort by the next column", KeysOf::Both),
    ("r", "reverse the sort", KeysOf::Both),
    (
        "b",
        "churn: group by process / port / host / container",
        KeysOf::Both,
    ),
    (
        "Enter",
        "details of the row (namespaces: only that one)",
        KeysOf::Both,
    ),
    (
        "/",
        "filter: close-wait port=443 10.0.0.0/8 nginx …",
        KeysOf::Both,
    ),
    (
        "p  Space",
        "pause the display (polling goes on)",
        KeysOf::Live,
    ),
    ("+  -", "poll less often / more often", KeysOf::Live),
    (
        "← →  [ ]",
        "one poll / one minute back, forward",
        KeysOf::Replay,
    ),
    ("a", "the next poll that raised an anomaly", KeysOf::Replay),
    (
        "t",
        "go to a time: 03:12 (UTC), -10m (from the end)",
        KeysOf::Replay,
    ),
    (
        "p  Space",
        "play / stop, one poll per interval",
        KeysOf::Replay,
    ),
    ("+  -", "play slower / faster", KeysOf::Replay),
    (
        "n  N",
        "next / previous anomaly (shows its hint)",
        KeysOf::Both,
    ),
    (
        "F",
        "follow --netns[-pid] to its new namespace",
        KeysOf::Live,
    ),
    ("A", "watch every namespace, as -A (root)", KeysOf::Live),
    (
        "w",
        "write the last minutes to a file (sockscope replay)",
        KeysOf::Live,
    ),
];

/// The help of the live dashboard (`replay` false) or of a replay: keys, then what they do.
pub fn help(replay: bool) -> impl Iterator<Item = (&'static str, &'static str)> {
    HELP.iter()
        .filter(move |(_, _, of)| match of {
            KeysOf::Both => true,
            KeysOf::Live => !replay,
            KeysOf::Replay => replay,
        })
        .map(|&(keys, what, _)| (keys, what))
}

/// The action `key` means in `mode`, if any. Key releases (sent by some terminals) are
/// ignored; Ctrl-C quits and Ctrl-Z suspends in every mode.
pub fn action_for(mode: InputMode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if ctrl && key.code == KeyCode::Char('z') {
        return Some(Action::Suspend);
    }
    if mode == InputMode::Time {
        return match key.code {
            KeyCode::Enter => Some(Action::TimeApply),
            KeyCode::Esc => Some(Action::CloseOverlay),
            KeyCode::Backspace => Some(Action::TimeBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::TimeType(c)),
            _ => None,
        };
    }
    if mode == InputMode::Filter {
        return match key.code {
            KeyCode::Enter => Some(Action::FilterApply),
            KeyCode::Esc => Some(Action::CloseOverlay),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char('u') if ctrl => Some(Action::FilterErase),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterType(c)),
            _ => None,
        };
    }
    // The motion keys scroll the detail pane while it is open, and move the cursor otherwise.
    let motion = |m| {
        if mode == InputMode::Detail {
            Action::ScrollDetail(m)
        } else {
            Action::Move(m)
        }
    };
    let action = match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Esc => Action::CloseOverlay,
        KeyCode::Char('/') => Action::OpenFilter,
        KeyCode::Tab => Action::NextView,
        KeyCode::BackTab => Action::PrevView,
        KeyCode::Char(c @ '1'..='9') => {
            let n = c.to_digit(10).map_or(0, |d| d as usize);
            Action::ShowView(*View::ALL.get(n - 1)?)
        }
        KeyCode::Up | KeyCode::Char('k') => motion(Motion::Up),
        KeyCode::Down | KeyCode::Char('j') => motion(Motion::Down),
        KeyCode::PageUp => motion(Motion::PageUp),
        KeyCode::PageDown => motion(Motion::PageDown),
        KeyCode::Home | KeyCode::Char('g') => motion(Motion::Home),
        KeyCode::End | KeyCode::Char('G') => motion(Motion::End),
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('r') => Action::ReverseSort,
        KeyCode::Char('b') => Action::CycleChurnGrouping,
        KeyCode::Enter if mode == InputMode::Detail => Action::CloseOverlay,
        KeyCode::Enter => Action::OpenDetail,
        KeyCode::Char('p' | ' ') => Action::TogglePause,
        KeyCode::Char('+' | '=') => Action::SlowerPolls,
        KeyCode::Char('-' | '_') => Action::FasterPolls,
        KeyCode::Char('n') => Action::NextAnomaly,
        KeyCode::Char('N') => Action::PrevAnomaly,
        KeyCode::Char('F') => Action::FollowNetns,
        KeyCode::Char('A') => Action::AllNetns,
        KeyCode::Char('w') => Action::WriteRecording,
        KeyCode::Left => Action::StepPolls(-1),
        KeyCode::Right => Action::StepPolls(1),
        KeyCode::Char('[') => Action::StepMinutes(-1),
        KeyCode::Char(']') => Action::StepMinutes(1),
        KeyCode::Char('a') => Action::NextRaised,
        KeyCode::Char('t') => Action::AskTime,
        _ => return None,
    };
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit(c: char) -> Option<Action> {
        action_for(InputMode::Normal, KeyEvent::from(KeyCode::Char(c)))
    }

    #[test]
    fn ctrl_z_suspends_in_every_mode_and_a_plain_z_does_not() {
        let ctrl_z = KeyEvent::new(KeyCode::Char('z'), KeyModifiers::CONTROL);
        for mode in [
            InputMode::Normal,
            InputMode::Help,
            InputMode::Detail,
            InputMode::Filter,
        ] {
            assert_eq!(action_for(mode, ctrl_z), Some(Action::Suspend), "{mode:?}");
        }
        let z = KeyEvent::from(KeyCode::Char('z'));
        assert_eq!(
            action_for(InputMode::Filter, z),
            Some(Action::FilterType('z'))
        );
        assert_eq!(action_for(InputMode::Normal, z), None);
    }

    #[test]
    fn a_digit_picks_each_view_and_no_more() {
        for (n, view) in View::ALL.iter().enumerate() {
            let c = char::from_digit(n as u32 + 1, 10).unwrap();
            assert_eq!(digit(c), Some(Action::ShowView(*view)));
        }
        let past = char::from_digit(View::COUNT as u32 + 1, 10).unwrap();
        assert_eq!(digit(past), None);
        assert_eq!(digit('0'), None);
    }

    #[test]
    fn the_help_names_a_digit_for_every_view() {
        let digits: Vec<String> = (1..=View::COUNT).map(|n| n.to_string()).collect();
        let titles: Vec<String> = View::ALL.iter().map(|v| v.title().to_lowercase()).collect();
        let (keys, whats): (Vec<&str>, Vec<&str>) = help(false)
            .filter(|(k, _)| k.starts_with(|c: char| c.is_ascii_digit()))
            .unzip();
        assert_eq!(keys.join(" "), digits.join(" "));
        assert_eq!(whats.join(", "), titles.join(", "));
    }

    #[test]
    fn b_steps_the_churn_views_grouping_and_the_help_says_so() {
        let b = KeyEvent::from(KeyCode::Char('b'));
        assert_eq!(
            action_for(InputMode::Normal, b),
            Some(Action::CycleChurnGrouping)
        );
        assert!(help(false).any(|(k, _)| k == "b"));
        assert!(help(true).any(|(k, _)| k == "b"));
    }

    #[test]
    fn the_replay_keys_are_in_the_replay_help_and_not_the_live_one() {
        for key in ["← →  [ ]", "a", "t"] {
            assert!(help(true).any(|(k, _)| k == key), "{key}");
            assert!(!help(false).any(|(k, _)| k == key), "{key}");
        }
        assert!(help(false).any(|(k, _)| k == "w"));
        assert!(!help(true).any(|(k, _)| k == "w"));
        // Each help fits a 24-row terminal: its rows, a blank line, the note, the borders.
        assert_eq!(help(false).count(), 20);
        assert_eq!(help(true).count(), 20);
    }

    #[test]
    fn replay_keys_map_to_their_actions_and_the_time_line_takes_text() {
        let key = |code| action_for(InputMode::Normal, KeyEvent::from(code));
        assert_eq!(key(KeyCode::Left), Some(Action::StepPolls(-1)));
        assert_eq!(key(KeyCode::Right), Some(Action::StepPolls(1)));
        assert_eq!(key(KeyCode::Char('[')), Some(Action::StepMinutes(-1)));
        assert_eq!(key(KeyCode::Char(']')), Some(Action::StepMinutes(1)));
        assert_eq!(key(KeyCode::Char('a')), Some(Action::NextRaised));
        assert_eq!(key(KeyCode::Char('t')), Some(Action::AskTime));
        assert_eq!(key(KeyCode::Char('w')), Some(Action::WriteRecording));
        let typed = |code| action_for(InputMode::Time, KeyEvent::from(code));
        assert_eq!(typed(KeyCode::Char('a')), Some(Action::TimeType('a')));
        assert_eq!(typed(KeyCode::Enter), Some(Action::TimeApply));
        assert_eq!(typed(KeyCode::Backspace), Some(Action::TimeBackspace));
        assert_eq!(typed(KeyCode::Esc), Some(Action::CloseOverlay));
    }

    #[test]
    fn the_help_fits_80_columns_without_wrapping() {
        let key_width = HELP
            .iter()
            .map(|(k, _, _)| k.chars().count())
            .max()
            .unwrap();
        for (keys, what, _) in HELP {
            // ` keys  what` inside the box's borders and its one column of margin.
            let width = 1 + key_width + 2 + what.chars().count() + 3;
            assert!(width <= 80, "{keys}: {width} columns");
        }
    }
}

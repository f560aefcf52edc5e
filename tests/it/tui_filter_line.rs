//! The `/` line when what is typed does not fit or is refused: the reason stays on screen
//! whatever the input's length, and leaving with Esc says that the edit was dropped.

#![allow(clippy::unwrap_used)]

use crate::support::dashboard::{self, busy_app, render};

use sockscope::tui::{Action, App};

fn footer(app: &App) -> String {
    render(app).lines().last().unwrap().trim_end().to_owned()
}

#[test]
fn a_refused_filter_longer_than_the_terminal_keeps_its_reason_on_screen() {
    let mut app = busy_app(80, 24, 2);
    let typed = format!("{}port=abc", "state=established ".repeat(6));
    dashboard::type_filter(&mut app, &typed);
    // While typing, the end of the input (where the cursor is) shows.
    assert_eq!(
        footer(&app),
        "/ …e=established state=established state=established state=established port=abc▏"
    );
    app.apply(Action::FilterApply);
    assert_eq!(
        footer(&app),
        "/ …ed port=abc▏  filter not applied: \"abc\" is not a port: use a number 0-65535 …"
    );
    // With room, the whole input and the whole reason.
    app.resize(220, 24);
    assert_eq!(
        footer(&app),
        format!(
            "/ {typed}▏  filter not applied: \"abc\" is not a port: use a number 0-65535 or a range like 8000-8100"
        )
    );
}

#[test]
fn esc_on_the_filter_line_says_when_it_drops_an_edit() {
    let mut app = busy_app(120, 24, 2);
    dashboard::type_filter(&mut app, "port=8080");
    app.apply(Action::FilterApply);
    assert_eq!(app.filter_text(), "port=8080");
    // A refused edit, then Esc: the filter in force stays, and the footer says so.
    app.apply(Action::OpenFilter);
    app.apply(Action::FilterErase);
    for c in "port=abc".chars() {
        app.apply(Action::FilterType(c));
    }
    app.apply(Action::FilterApply);
    app.apply(Action::CloseOverlay);
    assert_eq!(app.filter_text(), "port=8080");
    assert_eq!(
        footer(&app),
        "filter not applied: the edit was dropped, still filtering on port=8080"
    );
    // Opened and closed unchanged: nothing to say.
    app.apply(Action::OpenFilter);
    app.apply(Action::CloseOverlay);
    assert_eq!(app.notice(), None);
    // With no filter in force.
    let mut app = busy_app(120, 24, 2);
    dashboard::type_filter(&mut app, "nginx");
    app.apply(Action::CloseOverlay);
    assert_eq!(
        footer(&app),
        "filter not applied: the edit was dropped, no filter in force"
    );
}

//! Styles: colour when the terminal may have it, bold/reverse/underline only under
//! `NO_COLOR`. Only foreground colours that read on dark and light backgrounds are used;
//! the selection is reverse video, never a fixed background.

use ratatui::style::{Color, Modifier, Style};

use crate::aggregate::Severity;

/// The dashboard's styles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value (<https://no-color.org>) or the
    /// terminal says it has none (`TERM=dumb`).
    pub fn from_env() -> Theme {
        Theme::for_env(std::env::var_os("NO_COLOR"), std::env::var_os("TERM"))
    }

    /// The theme for these values of `NO_COLOR` and `TERM`.
    pub fn for_env(
        no_color: Option<std::ffi::OsString>,
        term: Option<std::ffi::OsString>,
    ) -> Theme {
        Theme {
            color: no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb"),
        }
    }

    /// With colour.
    pub const COLOR: Theme = Theme { color: true };
    /// Without colour: emphasis by bold, reverse and underline only.
    pub const MONO: Theme = Theme { color: false };

    /// Whether colours are used.
    pub fn has_color(self) -> bool {
        self.color
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// A raised anomaly, or a state it concerns.
    pub fn severity(self, severity: Severity) -> Style {
        match severity {
            Severity::Critical => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Severity::Warning if self.color => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Severity::Warning => Style::new().add_modifier(Modifier::UNDERLINED),
        }
    }

    /// All is well.
    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }

    /// Titles, column headings.
    pub fn heading(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Less important text.
    pub fn quiet(self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// The active tab and key names.
    pub fn accent(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected row.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A failure the user must see: collector errors, a rejected filter.
    pub fn alert(self) -> Style {
        self.fg(Color::Red)
            .add_modifier(Modifier::BOLD)
            .add_modifier(if self.color {
                Modifier::empty()
            } else {
                Modifier::REVERSED
            })
    }

    /// Sparkline bars.
    pub fn spark(self) -> Style {
        self.fg(Color::Cyan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn no_color_and_a_dumb_terminal_turn_colour_off() {
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(Theme::for_env(None, some("xterm-256color")), Theme::COLOR);
        assert_eq!(Theme::for_env(some(""), some("xterm")), Theme::COLOR);
        assert_eq!(Theme::for_env(some("1"), some("xterm")), Theme::MONO);
        assert_eq!(Theme::for_env(None, some("dumb")), Theme::MONO);
        assert_eq!(Theme::for_env(None, None), Theme::COLOR);
    }
}

//! Where each part of the screen goes, for a terminal size. Pure arithmetic, shared by
//! drawing and by the cursor (which needs to know how many rows a page has).

use ratatui::layout::Rect;

use super::view::View;

/// The smallest terminal the dashboard draws in; below it, a message asks for more room.
pub const MIN_SIZE: (u16, u16) = (64, 20);

/// Lines the Churn view draws above its table: its title and the last minute's sparkline.
pub const CHURN_LINES: u16 = 2;

/// Height of the states and anomalies panels: 11 states and two borders.
const PANEL_HEIGHT: u16 = 13;

/// The screen's parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    /// Host, namespace, interval, totals, time, paused/failing.
    pub header: Rect,
    /// Counts, changes and sparklines per state.
    pub states: Rect,
    /// Raised anomalies and the selected one's hint.
    pub anomalies: Rect,
    /// View tabs, filter and sort.
    pub tabs: Rect,
    /// The table, heading included.
    pub table: Rect,
    /// Keys, notices, collector errors.
    pub footer: Rect,
    /// A replay's timeline, the row above the footer (`None`: the live dashboard).
    pub timeline: Option<Rect>,
}

impl Areas {
    /// The parts for a `columns` × `rows` terminal; `None` when it is too small.
    pub fn of(columns: u16, rows: u16) -> Option<Areas> {
        if columns < MIN_SIZE.0 || rows < MIN_SIZE.1 {
            return None;
        }
        let states_width = (columns * 9 / 20).clamp(40, 64);
        let below = 1 + PANEL_HEIGHT;
        Some(Areas {
            header: Rect::new(0, 0, columns, 1),
            states: Rect::new(0, 1, states_width, PANEL_HEIGHT),
            anomalies: Rect::new(states_width, 1, columns - states_width, PANEL_HEIGHT),
            tabs: Rect::new(0, below, columns, 1),
            table: Rect::new(0, below + 1, columns, rows - below - 2),
            footer: Rect::new(0, rows - 1, columns, 1),
            timeline: None,
        })
    }

    /// The same parts with a replay's timeline: the table's last row becomes it.
    #[must_use]
    pub fn with_timeline(self) -> Areas {
        let table = Rect {
            height: self.table.height.saturating_sub(1),
            ..self.table
        };
        Areas {
            table,
            timeline: Some(Rect::new(0, table.y + table.height, self.footer.width, 1)),
            ..self
        }
    }

    /// Where `view`'s table goes, heading included: below the Churn view's own lines.
    pub fn table_of(&self, view: View) -> Rect {
        let above = if view == View::Churn {
            CHURN_LINES.min(self.table.height)
        } else {
            0
        };
        Rect {
            y: self.table.y + above,
            height: self.table.height - above,
            ..self.table
        }
    }

    /// Rows of `view`'s table below its heading.
    pub fn table_body_height(&self, view: View) -> usize {
        usize::from(self.table_of(view).height.saturating_sub(1))
    }
}

/// A box `width` × `height` centred in `area`, clipped to it (the help and the detail pane).
pub fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

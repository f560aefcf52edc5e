//! The detail pane (Enter): the selected row's [`Detail`] from the app's scroll offset, with
//! the rows that do not fit counted on the bottom border.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::tui::app::App;
use crate::tui::detail::Pane;

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(mut detail) = app.detail() else {
        return;
    };
    let pane = Pane::of(area, &detail);
    // The app keeps its offset within bounds; this only guards what is drawn.
    let offset = pane.clamp(app.detail_scroll());
    let mut block = Block::bordered().title(format!("{}(Esc closes) ", detail.title));
    if let Some(position) = pane.position(offset) {
        block = block.title_bottom(Line::styled(position, app.theme.accent()));
    }
    // Lines wholly above the pane are left out, so the scroll left is within one line.
    let (first, above) = pane.start(offset);
    let lines = detail.lines.split_off(first.min(detail.lines.len()));
    frame.render_widget(Clear, pane.rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(above).unwrap_or(u16::MAX), 0))
            .block(block),
        pane.rect,
    );
}

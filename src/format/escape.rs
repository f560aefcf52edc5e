//! The one escaper of text written for a person to read: the text report, the check's
//! plugin output, the dashboard and every line on stderr. Names that reach those outputs
//! (process names and command lines, cgroup paths, container, pod and namespace names) are
//! chosen by other users, possibly hostile: printed raw, `\e]0;OWNED\a\e[2J` retitles and
//! clears the terminal of whoever reads the report, and a newline splits one line in two.
//!
//! The rule (DESIGN.md, "Input we do not control"): text is kept as it was read everywhere
//! it is built, compared, sorted and serialized (JSON escapes for itself, the exposition
//! format has its own escaper in `serve::exposition`), and escaped here where it is written.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (C0 including newline and tab, DEL, and C1: escape
/// sequences, bells, line breaks) written as `\xNN`; anything else, backslashes included,
/// as it is. Escaping twice gives what escaping once gives, so a write site never has to
/// know whether a piece of its line was escaped before.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_as_escapes() {
        assert!(matches!(printable("nginx: worker"), Cow::Borrowed(_)));
        assert_eq!(
            printable("\u{1b}[31mEVIL\u{1b}]2;X\u{7}"),
            "\\x1b[31mEVIL\\x1b]2;X\\x07"
        );
        assert_eq!(printable("a\nb\tc\u{7f}\u{9b}"), "a\\x0ab\\x09c\\x7f\\x9b");
        assert_eq!(printable("\u{fffd}\u{fffd}bad"), "\u{fffd}\u{fffd}bad");
    }

    #[test]
    fn escaping_twice_is_escaping_once() {
        let hostile = "\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}[Hfake.service\r\n";
        let once = printable(hostile).into_owned();
        assert_eq!(
            once,
            "\\x1b]0;OWNED\\x07\\x1b[2J\\x1b[Hfake.service\\x0d\\x0a"
        );
        assert_eq!(printable(&once), once);
    }
}

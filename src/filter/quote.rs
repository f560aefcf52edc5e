//! Words and values on the `/` line, and double quotes for a value that holds a space, a
//! comma or a quote (`process="tmux: server"`), so that a process name given on the
//! command line prints as a line that reads back to it. Inside quotes `\"` is a quote and
//! `\\` a backslash; outside them every character is itself.

use std::fmt::{self, Write as _};

use super::FilterError;

/// The words of `line`: split at whitespace outside double quotes, quotes kept.
pub(super) fn words(line: &str) -> Result<Vec<&str>, FilterError> {
    let mut words = Vec::new();
    let mut start = None;
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in line.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
        } else if c.is_whitespace() {
            if let Some(from) = start.take() {
                words.push(&line[from..at]);
            }
        } else {
            start.get_or_insert(at);
            quoted = c == '"';
        }
    }
    if let Some(from) = start {
        if quoted {
            return Err(FilterError::UnclosedQuote {
                text: line[from..].to_owned(),
            });
        }
        words.push(&line[from..]);
    }
    Ok(words)
}

/// The comma-separated values of `raw` (one word, its quotes balanced), unquoted; empty
/// ones (`443,,80`) are skipped, a quoted empty one (`""`) is kept.
pub(super) fn values(raw: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut value = String::new();
    let mut written = false;
    let mut quoted = false;
    let mut escaped = false;
    for c in raw.chars() {
        if quoted {
            match c {
                _ if escaped => {
                    value.push(c);
                    escaped = false;
                }
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => value.push(c),
            }
        } else if c == ',' {
            if written {
                values.push(std::mem::take(&mut value));
            }
            written = false;
        } else {
            written = true;
            if c == '"' {
                quoted = true;
            } else {
                value.push(c);
            }
        }
    }
    if written {
        values.push(value);
    }
    values
}

/// Write `value` as [`values`] reads it back: in quotes when it is empty or holds
/// whitespace, a comma or a quote.
pub(super) fn write_value(out: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    if !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == ',' || c == '"') {
        return out.write_str(value);
    }
    out.write_char('"')?;
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.write_char('\\')?;
        }
        out.write_char(c)?;
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_at_whitespace_outside_quotes() {
        assert_eq!(
            words("  port=443 process=\"tmux: server\",nginx  \"a b\" ").unwrap(),
            ["port=443", "process=\"tmux: server\",nginx", "\"a b\""]
        );
        assert_eq!(words("x=\"a \\\" b\" y").unwrap(), ["x=\"a \\\" b\"", "y"]);
        assert_eq!(
            words("port=80 process=\"tmux").unwrap_err(),
            FilterError::UnclosedQuote {
                text: "process=\"tmux".to_owned()
            }
        );
    }

    #[test]
    fn values_split_at_commas_outside_quotes_and_lose_their_quotes() {
        assert_eq!(values("443,,8000-8100,"), ["443", "8000-8100"]);
        assert_eq!(
            values("\"tmux: server\",nginx,\"a,b\",\"\""),
            ["tmux: server", "nginx", "a,b", ""]
        );
        assert_eq!(values("\"say \\\"hi\\\" \\\\\""), ["say \"hi\" \\"]);
        assert_eq!(values("back\\slash"), ["back\\slash"]);
    }
}

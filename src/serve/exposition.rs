//! The two text formats Prometheus scrapes: the classic text format 0.0.4 and OpenMetrics
//! 1.0. They differ in three places only: a counter's family is named without its `_total`
//! in OpenMetrics (its samples keep it), an info metric is its own type there (a gauge
//! named `…_info` in 0.0.4), and OpenMetrics ends with `# EOF`. [`Exposition`] writes
//! either from the same calls, so every metric is defined once.

use std::fmt::Write as _;

/// Which format a scrape gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4, the default.
    Text,
    /// OpenMetrics 1.0.0, when the scraper's `Accept` header asks for it.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` (Prometheus sends it first, with a higher `q`, when
    /// it can read it), the text format otherwise.
    pub fn for_accept(accept: Option<&str>) -> Format {
        let asks = accept.is_some_and(|header| {
            header.split(',').any(|range| {
                let mut params = range.split(';').map(str::trim);
                let media = params.next().unwrap_or_default();
                // A weight that is not one (`q=nan`) refuses the range as `q=0` does.
                let refused = params.any(|p| {
                    p.strip_prefix("q=")
                        .is_some_and(|q| qvalue(q).is_none_or(|q| q == 0))
                });
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if asks {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// What a metric family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A value that only rises (until a restart); samples end in `_total`.
    Counter,
    /// Constant labels with the value 1; the sample ends in `_info`.
    Info,
}

/// A value of a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// An exact integer.
    Int(u64),
    /// A measurement (seconds).
    Float(f64),
}

/// An exposition being written: families one after another, each with its samples.
#[derive(Debug)]
pub struct Exposition {
    format: Format,
    out: String,
    /// The name the current family's samples carry.
    sample_name: String,
}

impl Exposition {
    /// An empty exposition in `format`.
    pub fn new(format: Format) -> Exposition {
        Exposition {
            format,
            out: String::with_capacity(16 * 1024),
            sample_name: String::new(),
        }
    }

    /// Start the family `name` (without `_total` or `_info`): its `HELP` and `TYPE` lines.
    /// The samples written next belong to it.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let suffix = match kind {
            Kind::Gauge => "",
            Kind::Counter => "_total",
            Kind::Info => "_info",
        };
        self.sample_name = format!("{name}{suffix}");
        let (family, kind) = match (self.format, kind) {
            (Format::Text, Kind::Gauge | Kind::Info) => (self.sample_name.as_str(), "gauge"),
            (Format::Text, Kind::Counter) => (self.sample_name.as_str(), "counter"),
            (Format::OpenMetrics, Kind::Gauge) => (name, "gauge"),
            (Format::OpenMetrics, Kind::Counter) => (name, "counter"),
            (Format::OpenMetrics, Kind::Info) => (name, "info"),
        };
        let _ = write!(self.out, "# HELP {family} ");
        escape_help(&mut self.out, help, self.format);
        let _ = writeln!(self.out, "\n# TYPE {family} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: Value) {
        self.out.push_str(&self.sample_name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(name);
                self.out.push_str("=\"");
                escape_label_value(&mut self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = match value {
            Value::Int(v) => writeln!(self.out, " {v}"),
            Value::Float(v) if v.is_finite() => writeln!(self.out, " {v}"),
            Value::Float(v) if v.is_nan() => writeln!(self.out, " NaN"),
            Value::Float(v) if v > 0.0 => writeln!(self.out, " +Inf"),
            Value::Float(_) => writeln!(self.out, " -Inf"),
        };
    }

    /// The finished text (OpenMetrics ends with `# EOF`).
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// A label value as both formats want it, and as it is safe to show: backslash and double
/// quote escaped, and no control character left. The formats know only the `\\`, `\"` and
/// `\n` escapes, and a label value read back from them may still carry any character, so a
/// process or container name with ESC or BEL would reach Grafana's legends and the terminals
/// of whoever reads the page: each control character is written in a visible form instead.
/// C0 controls (line feed and tab included) become their Unicode Control Pictures
/// (U+2400–U+241F: ESC `␛`, BEL `␇`, LF `␊`), DEL becomes `␡`, and C1 controls (U+0080–U+009F),
/// which have no picture, become `\x9b` as the text reports write them. This is the one
/// place label values are escaped: names are kept raw until they are written here.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{0}'..='\u{1f}' => out.push(control_picture(c)),
            '\u{7f}' => out.push('\u{2421}'),
            '\u{80}'..='\u{9f}' => {
                let _ = write!(out, "\\\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// The Control Picture of a C0 control character (`\u{1b}` → `␛`).
fn control_picture(c: char) -> char {
    char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}')
}

/// A `HELP` text: backslash and line feed escaped, and the double quote too in OpenMetrics.
fn escape_help(out: &mut String, help: &str, format: Format) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A weight (`q=…`) as RFC 9110 writes it, in thousandths: `0`, `0.5`, `1`, `1.000`;
/// anything else (`nan`, `inf`, `1e3`, `2`, `-1`, `0.0001`) is `None`.
pub fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(format: Format) -> String {
        let mut e = Exposition::new(format);
        e.family("demo_polls", Kind::Counter, "Polls \"done\"\\ so far.");
        e.sample(&[], Value::Int(3));
        e.family("demo_build", Kind::Info, "Build.");
        e.sample(&[("version", "1.0")], Value::Int(1));
        e.family("demo_seconds", Kind::Gauge, "Time.");
        e.sample(&[("a", "x"), ("b", "y")], Value::Float(0.25));
        e.finish()
    }

    #[test]
    fn text_format_names_counter_and_info_families_as_their_samples() {
        assert_eq!(
            written(Format::Text),
            "# HELP demo_polls_total Polls \"done\"\\\\ so far.\n\
             # TYPE demo_polls_total counter\n\
             demo_polls_total 3\n\
             # HELP demo_build_info Build.\n\
             # TYPE demo_build_info gauge\n\
             demo_build_info{version=\"1.0\"} 1\n\
             # HELP demo_seconds Time.\n\
             # TYPE demo_seconds gauge\n\
             demo_seconds{a=\"x\",b=\"y\"} 0.25\n"
        );
    }

    #[test]
    fn openmetrics_names_families_without_suffix_and_ends_with_eof() {
        assert_eq!(
            written(Format::OpenMetrics),
            "# HELP demo_polls Polls \\\"done\\\"\\\\ so far.\n\
             # TYPE demo_polls counter\n\
             demo_polls_total 3\n\
             # HELP demo_build Build.\n\
             # TYPE demo_build info\n\
             demo_build_info{version=\"1.0\"} 1\n\
             # HELP demo_seconds Time.\n\
             # TYPE demo_seconds gauge\n\
             demo_seconds{a=\"x\",b=\"y\"} 0.25\n\
             # EOF\n"
        );
    }

    #[test]
    fn hostile_label_values_are_escaped_and_stay_on_one_line() {
        let mut e = Exposition::new(Format::Text);
        e.family("demo", Kind::Gauge, "x");
        e.sample(&[("comm", "a\"b\\c\nd}{,=é\u{fffd}")], Value::Int(1));
        let text = e.finish();
        assert_eq!(
            text.lines().last(),
            Some("demo{comm=\"a\\\"b\\\\c\u{240a}d}{,=é\u{fffd}\"} 1")
        );
    }

    #[test]
    fn label_values_carry_no_control_character_but_their_visible_pictures() {
        let mut value = String::new();
        escape_label_value(
            &mut value,
            "\u{1b}]2;pwned\u{7}\t\r\u{0}x\u{7f}\u{9b}31m\u{85}",
        );
        assert_eq!(
            value,
            "\u{241b}]2;pwned\u{2407}\u{2409}\u{240d}\u{2400}x\u{2421}\\\\x9b31m\\\\x85"
        );
        assert_eq!(value, "␛]2;pwned␇␉␍␀x␡\\\\x9b31m\\\\x85");
        for c in (0..=0x9f_u32).filter_map(char::from_u32) {
            let mut out = String::new();
            escape_label_value(&mut out, &c.to_string());
            assert!(!out.chars().any(char::is_control), "{c:?} wrote {out:?}");
        }
    }

    #[test]
    fn openmetrics_is_chosen_only_when_the_accept_header_names_it() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::for_accept(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::for_accept(Some("text/plain")), Format::Text);
        assert_eq!(Format::for_accept(Some("*/*")), Format::Text);
        assert_eq!(Format::for_accept(None), Format::Text);
        assert_eq!(
            Format::for_accept(Some("application/openmetrics-text; q=0")),
            Format::Text
        );
    }
}

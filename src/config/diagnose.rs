//! Turning TOML and range errors into one line that names the file, the line, the section
//! and the key: `config error in /etc/sockscope/config.toml line 3: unknown key
//! 'per_proces' in [close_wait]; expected one of: enabled, per_process, …`.

use std::path::Path;

use super::ConfigError;
use crate::aggregate::InvalidSetting;

/// A TOML syntax or shape error, located and reworded.
pub(super) fn toml_error(error: &toml::de::Error, text: &str, path: &Path) -> ConfigError {
    let raw = error.message().trim();
    let at = error.span().map(|span| span.start.min(text.len()));
    let (line, column) = at.map_or((None, None), |offset| {
        let (line, column) = line_column(text, offset);
        (Some(line), Some(column))
    });
    let section = at.and_then(|offset| section_at(text, offset));
    let line_text = at.map(|offset| line_of(text, offset)).unwrap_or_default();
    let message = if let Some(rest) = raw.strip_prefix("unknown field ") {
        unknown_key(rest, section, line_text)
    } else if let Some(rest) = raw
        .strip_prefix("invalid type: ")
        .or_else(|| raw.strip_prefix("invalid value: "))
    {
        wrong_type(rest, section, line_text)
    } else if raw.starts_with("duplicate key") {
        duplicate(section, line_text)
    } else if raw.starts_with("invalid duration") {
        match key_of(line_text) {
            Some(key) => format!("'{key}' in [{}]: {raw}", section.unwrap_or("general")),
            None => raw.to_owned(),
        }
    } else {
        raw.to_owned()
    };
    ConfigError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// A value out of range, located at its key when the file has it.
pub(super) fn invalid_setting(error: &InvalidSetting, text: &str, path: &Path) -> ConfigError {
    let line = find_key(text, error.section, error.key);
    ConfigError::Invalid {
        path: path.to_owned(),
        line,
        column: line.map(|_| 1),
        message: error.to_string(),
    }
}

/// `` `per_proces`, expected one of `enabled`, `per_process` `` → the sentence.
fn unknown_key(rest: &str, section: Option<&str>, line_text: &str) -> String {
    let mut names = backticked(rest);
    let key = if names.is_empty() {
        String::new()
    } else {
        names.remove(0)
    };
    let expected = if names.is_empty() {
        "no keys here".to_owned()
    } else {
        format!("expected one of: {}", names.join(", "))
    };
    if line_text.trim_start().starts_with('[') {
        format!("unknown section [{key}]; {expected}")
    } else if section.is_none() {
        // A key above every section header: the file's top level holds sections only.
        format!(
            "unknown key '{key}' at the top of the file, outside any section; keys go under a section header: {}",
            expected.replacen("expected one of: ", "", 1)
        )
    } else {
        format!(
            "unknown key '{key}' in [{}]; {expected}",
            section.unwrap_or_default()
        )
    }
}

/// `` string "abc", expected u64 `` → `'per_process' in [close_wait] must be a whole
/// number, not string "abc"`.
fn wrong_type(rest: &str, section: Option<&str>, line_text: &str) -> String {
    let (got, expected) = rest
        .split_once(", expected ")
        .unwrap_or((rest, "another type"));
    let expected = match expected.trim() {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        other => other,
    };
    // serde reads an integer too large for its type as i128: say it is too large.
    let got = got.replace('`', "");
    let got = match got.strip_suffix(" as i128") {
        Some(number) => format!("{number}, which is too large"),
        None => got,
    };
    if let (true, Some(key)) = (expected.starts_with("struct "), key_of(line_text)) {
        // A section's name given a value: `close_wait = 5` for the [close_wait] table.
        return format!(
            "'{key}' is a section, not a key: write a [{key}] header and put its keys under it, found {got}"
        );
    }
    match (key_of(line_text), section) {
        (Some(key), Some(section)) => {
            format!("wrong type for '{key}' in [{section}]: expected {expected}, found {got}")
        }
        (Some(key), None) => format!("wrong type for '{key}': expected {expected}, found {got}"),
        _ => format!("wrong type: expected {expected}, found {got}"),
    }
}

/// A key or a section given twice, named.
fn duplicate(section: Option<&str>, line_text: &str) -> String {
    if let Some(name) = header(line_text) {
        return format!(
            "section [{name}] appears twice: put all its keys under one [{name}] header"
        );
    }
    match (key_of(line_text), section) {
        (Some(key), Some(section)) => {
            format!("'{key}' is set twice in [{section}]: keep one")
        }
        (Some(key), None) => format!("'{key}' is set twice: keep one"),
        _ => "a key is set twice: keep one".to_owned(),
    }
}

/// The words between backticks.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The whole line holding a byte offset.
fn line_of(text: &str, offset: usize) -> &str {
    let before = text.get(..offset).unwrap_or(text);
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let end = text
        .get(offset..)
        .and_then(|rest| rest.find('\n'))
        .map_or(text.len(), |i| offset + i);
    text.get(start..end).unwrap_or_default()
}

/// The key of a `key = value` line.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then_some(key)
}

/// The name of a `[section]` header line.
fn header(line: &str) -> Option<&str> {
    let line = line.trim();
    let inner = line.strip_prefix('[')?.split_once(']')?.0;
    (!inner.starts_with('[')).then(|| inner.trim())
}

/// The section in force at a byte offset (`None`: top level).
fn section_at(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset).unwrap_or(text);
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    text.get(..start)
        .unwrap_or_default()
        .lines()
        .rev()
        .find_map(header)
}

/// The 1-based line where `key` is set inside `[section]`.
fn find_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current: Option<&str> = None;
    for (number, line) in text.lines().enumerate() {
        if let Some(name) = header(line) {
            current = Some(name);
        } else if current == Some(section) && key_of(line) == Some(key) {
            return Some(number + 1);
        }
    }
    None
}

//! The boundaries ARCHITECTURE.md states, checked on the source: every `crate::…` path
//! (in `use` lines and in code, `$crate::…` in macros, `super::…` that climbs to another
//! module) in `src/**/*.rs` against the layer table below, the same table as
//! ARCHITECTURE.md's "Boundaries"; no cycle between the children of any module; no
//! re-export of a whole top-level module; no terminal or command-line crate below the
//! outputs; `/proc` and `/sys` paths only in `collect` and the lab; no `app.FIELD = …`
//! outside the dashboard's `App`, and no `pub` field in it; no type name declared twice.
//! Comments and doc links are not dependencies and are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the top-level modules it may name. A new module needs its row:
/// the test fails on a module it does not know. Keep ARCHITECTURE.md's table the same.
const LAYERS: &[(&str, &[&str])] = &[
    ("hash", &[]),
    ("untrusted", &[]),
    ("model", &["hash"]),
    ("collect", &["model", "hash", "untrusted"]),
    ("aggregate", &["model", "hash"]),
    ("filter", &["model", "hash"]),
    ("config", &["model", "aggregate", "untrusted"]),
    ("format", &["model", "aggregate"]),
    (
        "watch",
        &[
            "model",
            "hash",
            "collect",
            "aggregate",
            "filter",
            "config",
            "untrusted",
        ],
    ),
    (
        "record",
        &["model", "hash", "watch", "aggregate", "collect"],
    ),
    (
        "report",
        &["model", "hash", "aggregate", "filter", "format"],
    ),
    (
        "tui",
        &[
            "model",
            "hash",
            "collect",
            "aggregate",
            "filter",
            "config",
            "format",
            "watch",
            "record",
        ],
    ),
    (
        "serve",
        &[
            "model",
            "collect",
            "aggregate",
            "filter",
            "config",
            "format",
            "untrusted",
            "watch",
        ],
    ),
    ("cli", &["model", "collect", "filter", "config"]),
    ("record", &["model", "hash", "untrusted", "watch"]),
    ("lab", &["model", "collect", "format"]),
    ("demo", &["model", "collect", "lab", "tui", "format"]),
    (
        "app",
        &[
            "model",
            "collect",
            "aggregate",
            "filter",
            "config",
            "format",
            "report",
            "tui",
            "serve",
            "cli",
            "demo",
            "watch",
            "record",
        ],
    ),
];

/// Items of the crate root that stand for a module: `stderr_line!` expands to
/// `$crate::format::printable`.
const ROOT_ITEMS: &[(&str, &str)] = &[("stderr_line", "format")];

/// Crossings that exist and are to be removed, as `(from, to, why it is still here and what
/// removes it)`: `from` and `to` two top-level modules (`"tui"`, `"report"`), or two children
/// of one module for the cycle check (`"collect::kernel"`, `"collect::all_netns"`). An entry
/// that no longer occurs fails the test, so the list only shrinks. Empty since issue 19.
const KNOWN_CROSSINGS: &[(&str, &str, &str)] = &[];

/// Top-level modules that must not name clap, ratatui or crossterm.
const NO_TERMINAL: &[&str] = &[
    "hash",
    "untrusted",
    "model",
    "collect",
    "aggregate",
    "filter",
    "config",
    "format",
];

/// Top-level modules that may write a `/proc` or `/sys` path (tests excepted: a unit test
/// may read `/proc/self` as a fixture).
const KERNEL_FILES: &[&str] = &["collect", "lab"];

/// Type names still declared twice, as `(name, which one is to be renamed and what holds it
/// back)`. A name that is no longer declared twice fails the test, so the list only
/// shrinks. Today it is empty.
const ALLOWED_UNTIL_RENAMED: &[(&str, &str)] = &[];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    PathSep,
    Punct(char),
}

/// The tokens of Rust source, without comments; string contents kept (for the `/proc`
/// check), char literals and lifetimes dropped.
fn tokens(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            i = after_block_comment(&chars, i);
        } else if let Some((text, next)) = raw_string(&chars, i) {
            out.push(Token::Str(text));
            i = next;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            let mut j = i + usize::from(c == 'b') + 1;
            let mut text = String::new();
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' {
                    j += 1;
                }
                text.push(at(j));
                j += 1;
            }
            out.push(Token::Str(text));
            i = j + 1;
        } else if c == '\'' {
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric()
                || at(i) == '_'
                || at(i) == '.' && at(i + 1).is_ascii_digit()
            {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token::PathSep);
            i += 2;
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// The index after the (nested) block comment that starts at `i`.
fn after_block_comment(chars: &[char], mut i: usize) -> usize {
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut depth = 0;
    while i < chars.len() {
        if chars[i] == '/' && at(i + 1) == '*' {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && at(i + 1) == '/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// The raw string (`r"…"`, `r#"…"#`, `br"…"`) that starts at `i`, and the index after it.
fn raw_string(chars: &[char], i: usize) -> Option<(String, usize)> {
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut j = match (at(i), at(i + 1)) {
        ('r', _) => i + 1,
        ('b', 'r') => i + 2,
        _ => return None,
    };
    if i > 0 && (at(i - 1).is_alphanumeric() || at(i - 1) == '_') {
        return None;
    }
    let mut hashes = 0;
    while at(j) == '#' {
        hashes += 1;
        j += 1;
    }
    if at(j) != '"' {
        return None;
    }
    j += 1;
    let start = j;
    while j < chars.len() && !(chars[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#')) {
        j += 1;
    }
    let text = chars[start..j.min(chars.len())].iter().collect();
    Some((text, j + 1 + hashes))
}

fn ident(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i) {
        Some(Token::Ident(s)) => Some(s),
        _ => None,
    }
}

/// The paths of a use tree or a path expression starting at `tokens[i]` (just after a
/// `::`): `a::b`, `{a::b, c}`, `a::{b, c::d}`. Each path is its leading identifiers.
fn path_tails(tokens: &[Token], i: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    tree(tokens, i, Vec::new(), &mut out);
    out
}

/// Parses one use tree at `i`, appending its paths to `out`; returns the index after it.
fn tree(
    tokens: &[Token],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tokens.get(i) {
            Some(Token::Ident(s)) => {
                prefix.push(s.clone());
                i += 1;
                if tokens.get(i) == Some(&Token::PathSep) {
                    i += 1;
                } else {
                    out.push(prefix);
                    return i;
                }
            }
            Some(Token::Punct('{')) => {
                i += 1;
                loop {
                    i = tree(tokens, i, prefix.clone(), out);
                    match tokens.get(i) {
                        Some(Token::Punct(',')) => i += 1,
                        Some(Token::Punct('}')) => return i + 1,
                        _ => return i,
                    }
                    if tokens.get(i) == Some(&Token::Punct('}')) {
                        return i + 1;
                    }
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.push(prefix);
                }
                return i;
            }
        }
    }
}

/// One file's module path, `src/collect/procs/cache.rs` → `collect::procs::cache`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
    }
    parts
}

/// What the source says about its dependencies.
#[derive(Default)]
struct Facts {
    /// `(from module path, to module path, file)` for every absolute or climbing path.
    edges: Vec<(Vec<String>, Vec<String>, String)>,
    /// `(module path, crate name, file)` for clap, ratatui and crossterm.
    terminal: Vec<(Vec<String>, String, String)>,
    /// `(module path, literal, file)` for `/proc` and `/sys` literals.
    kernel_files: Vec<(Vec<String>, String, String)>,
    /// `(module path, re-exported module, file)` for `pub use crate::hash;` and the like.
    reexports: Vec<(Vec<String>, String, String)>,
    /// `(module path, field, file)` for `app.FIELD = …` (and `+=` and the like).
    app_writes: Vec<(Vec<String>, String, String)>,
    /// Every module: each file's and each inline `mod name {`.
    modules: BTreeSet<Vec<String>>,
}

/// The field in `app.FIELD = …` (`+=`, `-=`, … too, not `==`) at `tokens[i]` (`app`).
fn assigned_field(tokens: &[Token], i: usize) -> Option<&str> {
    if tokens.get(i + 1) != Some(&Token::Punct('.')) {
        return None;
    }
    let field = ident(tokens, i + 2)?;
    let op = match tokens.get(i + 3)? {
        Token::Punct('=') => i + 3,
        Token::Punct('+' | '-' | '*' | '/' | '|' | '&') => i + 4,
        _ => return None,
    };
    let is_eq = |k: usize| tokens.get(k) == Some(&Token::Punct('='));
    (is_eq(op) && !is_eq(op + 1) && (op == i + 3 || is_eq(op))).then_some(field)
}

/// Records `pub use crate::MODULE;` (any `pub(…)`) at the `use` token `tokens[i]`.
fn note_reexports(facts: &mut Facts, tokens: &[Token], i: usize, module: &[String], file: &str) {
    let public = i > 0
        && (tokens[i - 1] == Token::Ident("pub".to_owned()) || tokens[i - 1] == Token::Punct(')'));
    if !public || ident(tokens, i + 1) != Some("crate") {
        return;
    }
    for tail in path_tails(tokens, i + 3) {
        if let [whole] = tail.as_slice() {
            facts
                .reexports
                .push((module.to_vec(), whole.clone(), file.to_owned()));
        }
    }
}

fn scan_file(facts: &mut Facts, rel: &Path, src: &str) {
    let file = rel.display().to_string();
    let base = module_of(rel);
    facts.modules.insert(base.clone());
    let tokens = tokens(src);
    // Inline modules: (their path, the brace depth their body closes at).
    let mut stack: Vec<(Vec<String>, usize)> = vec![(base, 0)];
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        let module = stack.last().map(|(m, _)| m.clone()).unwrap_or_default();
        match token {
            Token::Punct('{') => {
                depth += 1;
                if i >= 2
                    && ident(&tokens, i - 2) == Some("mod")
                    && let Some(name) = ident(&tokens, i - 1)
                {
                    let mut inner = module.clone();
                    inner.push(name.to_owned());
                    facts.modules.insert(inner.clone());
                    stack.push((inner, depth));
                }
            }
            Token::Punct('}') => {
                if stack.len() > 1 && stack.last().map(|(_, d)| *d) == Some(depth) {
                    stack.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Str(text)
                if (text.starts_with("/proc") || text.starts_with("/sys/"))
                    && !module.iter().any(|m| m == "tests") =>
            {
                facts
                    .kernel_files
                    .push((module.clone(), text.clone(), file.clone()));
            }
            Token::Ident(name) => {
                let after_sep = i > 0 && tokens[i - 1] == Token::PathSep;
                let starts_path = tokens.get(i + 1) == Some(&Token::PathSep);
                if name == "app"
                    && !(i > 0 && tokens[i - 1] == Token::Punct('.'))
                    && let Some(field) = assigned_field(&tokens, i)
                {
                    facts
                        .app_writes
                        .push((module.clone(), field.to_owned(), file.clone()));
                }
                if name == "use" {
                    note_reexports(facts, &tokens, i, &module, &file);
                }
                if ["clap", "ratatui", "crossterm"].contains(&name.as_str())
                    && starts_path
                    && !after_sep
                {
                    facts
                        .terminal
                        .push((module.clone(), name.clone(), file.clone()));
                }
                if let Some((_, to)) = ROOT_ITEMS.iter().find(|(item, _)| item == name)
                    && tokens.get(i + 1) == Some(&Token::Punct('!'))
                    && !after_sep
                {
                    facts
                        .edges
                        .push((module.clone(), vec![(*to).to_owned()], file.clone()));
                }
                if after_sep || !starts_path {
                    continue;
                }
                let (root, from) = match name.as_str() {
                    "crate" => (Vec::new(), i + 2),
                    "super" => {
                        let mut up = module.clone();
                        let mut j = i;
                        while ident(&tokens, j) == Some("super")
                            && tokens.get(j + 1) == Some(&Token::PathSep)
                        {
                            up.pop();
                            j += 2;
                        }
                        (up, j)
                    }
                    _ => continue,
                };
                for tail in path_tails(&tokens, from) {
                    let mut to = root.clone();
                    to.extend(tail.into_iter().filter(|s| s != "self"));
                    if let Some(first) = to.first()
                        && let Some((_, module)) = ROOT_ITEMS.iter().find(|(item, _)| item == first)
                    {
                        to = vec![(*module).to_owned()];
                    }
                    if !to.is_empty() {
                        facts.edges.push((module.clone(), to, file.clone()));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The types `src` declares (`struct`, `enum`, `trait`, `type`), by name, at any depth:
/// inside functions and `mod tests` too. An associated type (`type Err = …;` in an `impl`,
/// `type Output;` in a `trait`) belongs to its trait and is left out.
fn declared_types(src: &str) -> Vec<String> {
    let tokens = tokens(src);
    // For each open brace, whether it opened an `impl` or `trait` body.
    let mut bodies: Vec<bool> = Vec::new();
    // An `impl` or `trait` header has begun and its body's brace is still to come.
    let mut header = false;
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct('{') => {
                bodies.push(header);
                header = false;
            }
            Token::Punct('}') => {
                bodies.pop();
            }
            Token::Punct(';') => header = false,
            Token::Ident(word) => {
                let item_start = i == 0
                    || matches!(tokens[i - 1], Token::Punct('{' | '}' | ';' | ']'))
                    || ident(&tokens, i - 1) == Some("unsafe");
                if word == "impl" && item_start || word == "trait" {
                    header = true;
                }
                let associated = word == "type" && bodies.last() == Some(&true);
                if ["struct", "enum", "trait", "type"].contains(&word.as_str())
                    && !associated
                    && let Some(name) = ident(&tokens, i + 1)
                {
                    out.push(name.to_owned());
                }
            }
            _ => {}
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library's sources (`main.rs` is the binary, `lib.rs` the root that declares them).
fn library_facts() -> Facts {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut facts = Facts::default();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap();
        if rel == Path::new("main.rs") || rel == Path::new("lib.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        scan_file(&mut facts, rel, &text);
    }
    facts
}

/// Every edge between two children of one module (top-level modules are the children of
/// the crate root): `(parent, from child, to child)` with the files that make it. Without
/// `tests`, the edges of test code (a module named `tests`) are left out.
fn child_edges(facts: &Facts, tests: bool) -> BTreeMap<(String, String, String), BTreeSet<String>> {
    let mut out: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for (from, to, file) in &facts.edges {
        if !tests && from.iter().any(|m| m == "tests") {
            continue;
        }
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common >= from.len() || common >= to.len() {
            continue;
        }
        let target = to[..=common].to_vec();
        if !facts.modules.contains(&target) {
            continue; // an item of the common parent (a re-export), not a child module
        }
        let key = (
            from[..common].join("::"),
            from[common].clone(),
            to[common].clone(),
        );
        out.entry(key).or_default().insert(file.clone());
    }
    out
}

fn qualified(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}::{child}")
    }
}

/// The crossings `facts` shows that the layer table does not allow, as
/// `from -> to (files)`, known ones left out.
fn layer_violations(facts: &Facts) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut out = Vec::new();
    for ((parent, from, to), files) in child_edges(facts, true) {
        if !parent.is_empty() || is_known(&from, &to) {
            continue;
        }
        match allowed.get(from.as_str()) {
            None => out.push(format!(
                "module {from} is not in LAYERS: give it a row (and one in ARCHITECTURE.md)"
            )),
            Some(may) if !may.contains(&to.as_str()) => out.push(format!(
                "{from} -> {to} (in {})",
                files.into_iter().collect::<Vec<_>>().join(", ")
            )),
            Some(_) => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

fn is_known(from: &str, to: &str) -> bool {
    KNOWN_CROSSINGS
        .iter()
        .any(|(f, t, _)| *f == from && *t == to)
}

/// Every cycle between the children of one module, each as `a -> b -> a`, known edges
/// left out. Test code is left out: a module's tests may use the module's test helpers,
/// which use the module.
fn cycles(facts: &Facts) -> Vec<String> {
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (parent, from, to) in child_edges(facts, false).into_keys() {
        if is_known(&qualified(&parent, &from), &qualified(&parent, &to)) {
            continue;
        }
        graphs
            .entry(parent)
            .or_default()
            .entry(from)
            .or_default()
            .insert(to);
    }
    let mut out = Vec::new();
    for (parent, graph) in &graphs {
        for start in graph.keys() {
            // The shortest way back to `start`, breadth first.
            let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start.as_str()]);
            while let Some(node) = queue.pop_front() {
                for next in graph.get(node).into_iter().flatten() {
                    if next == start {
                        let mut way = vec![qualified(parent, node)];
                        let mut at = node;
                        while at != start {
                            at = seen[at];
                            way.push(qualified(parent, at));
                        }
                        way.reverse();
                        way.push(qualified(parent, start));
                        let mut cycle = way.clone();
                        // One name per cycle: start it at its smallest member.
                        cycle.pop();
                        let min = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap_or(0);
                        cycle.rotate_left(min);
                        cycle.push(cycle[0].clone());
                        out.push(cycle.join(" -> "));
                        queue.clear();
                        break;
                    }
                    if !seen.contains_key(next.as_str()) {
                        seen.insert(next, node);
                        queue.push_back(next);
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_top_level_module_names_only_the_layers_architecture_md_allows() {
    let facts = library_facts();
    assert!(
        facts.edges.len() > 100,
        "too few paths found: the scan is broken"
    );
    assert_eq!(layer_violations(&facts), Vec::<String>::new());
}

#[test]
fn no_cycle_between_the_children_of_any_module() {
    assert_eq!(cycles(&library_facts()), Vec::<String>::new());
}

#[test]
fn every_known_crossing_still_occurs() {
    let facts = library_facts();
    let edges: BTreeSet<(String, String)> = child_edges(&facts, true)
        .into_keys()
        .map(|(parent, from, to)| (qualified(&parent, &from), qualified(&parent, &to)))
        .collect();
    let gone: Vec<String> = KNOWN_CROSSINGS
        .iter()
        .filter(|(from, to, _)| !edges.contains(&((*from).to_owned(), (*to).to_owned())))
        .map(|(from, to, _)| format!("{from} -> {to}"))
        .collect();
    assert_eq!(
        gone,
        Vec::<String>::new(),
        "remove these from KNOWN_CROSSINGS"
    );
}

#[test]
fn no_module_re_exports_another_top_level_module() {
    let facts = library_facts();
    let found: Vec<String> = facts
        .reexports
        .iter()
        .filter(|(_, whole, _)| LAYERS.iter().any(|(name, _)| name == whole))
        .map(|(_, whole, file)| format!("crate::{whole} re-exported in {file}"))
        .collect();
    assert_eq!(
        found,
        Vec::<String>::new(),
        "import the module where it is used, not through another layer"
    );
}

#[test]
fn only_the_dashboard_s_app_assigns_its_own_fields() {
    let facts = library_facts();
    let found: Vec<String> = facts
        .app_writes
        .iter()
        .filter(|(module, _, _)| {
            !module.starts_with(&["tui".to_owned(), "app".to_owned()])
                && !module.iter().any(|m| m == "tests")
        })
        .map(|(_, field, file)| format!("app.{field} assigned in {file}"))
        .collect();
    assert_eq!(
        found,
        Vec::<String>::new(),
        "change the dashboard's state through a named App method"
    );
}

#[test]
fn the_dashboard_s_app_has_no_public_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui/app.rs");
    let tokens = tokens(&std::fs::read_to_string(path).unwrap());
    let start = (0..tokens.len())
        .find(|&i| ident(&tokens, i) == Some("struct") && ident(&tokens, i + 1) == Some("App"))
        .expect("struct App in src/tui/app.rs");
    let mut public = Vec::new();
    let mut depth = 0;
    for i in start.. {
        match &tokens[i] {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') if depth == 1 => break,
            Token::Punct('}') => depth -= 1,
            Token::Ident(pub_) if pub_ == "pub" && depth == 1 => {
                if tokens[i + 1] != Token::Punct('(')
                    && let Some(field) = ident(&tokens, i + 1)
                {
                    public.push(field.to_owned());
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        public,
        Vec::<String>::new(),
        "App's state is read through methods and changed through named ones"
    );
}

#[test]
fn the_core_never_names_a_terminal_or_command_line_crate() {
    let facts = library_facts();
    let found: Vec<String> = facts
        .terminal
        .iter()
        .filter(|(module, _, _)| NO_TERMINAL.contains(&module[0].as_str()))
        .map(|(_, name, file)| format!("{name} in {file}"))
        .collect();
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn only_collect_and_the_lab_name_proc_and_sys_files() {
    let facts = library_facts();
    let found: Vec<String> = facts
        .kernel_files
        .iter()
        .filter(|(module, _, _)| !KERNEL_FILES.contains(&module[0].as_str()))
        .map(|(_, text, file)| format!("{text:?} in {file}"))
        .collect();
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_scan_sees_grouped_climbing_and_macro_paths() {
    let mut facts = Facts::default();
    let src = r#"
        use crate::{model::Snapshot, report::{text, json}};
        // use crate::tui;  (a comment is no dependency)
        /// [`crate::serve`] is a doc link, no dependency either.
        fn f() { let _ = "crate::cli"; crate::stderr_line!("x"); super::super::lab::run(); }
        mod tests { use super::super::config::Config; }
    "#;
    scan_file(&mut facts, Path::new("aggregate/anomaly.rs"), src);
    let edges: Vec<String> = facts
        .edges
        .iter()
        .map(|(from, to, _)| format!("{} -> {}", from.join("::"), to.join("::")))
        .collect();
    assert_eq!(
        edges,
        [
            "aggregate::anomaly -> model::Snapshot",
            "aggregate::anomaly -> report::text",
            "aggregate::anomaly -> report::json",
            "aggregate::anomaly -> format",
            "aggregate::anomaly -> lab::run",
            "aggregate::anomaly::tests -> aggregate::config::Config",
        ]
    );
}

#[test]
fn the_type_scan_leaves_out_associated_types() {
    let src = r#"
        pub(crate) struct Wide<'a>(&'a str);
        enum Shape { Round }
        trait Draw { type Output; fn draw(&self) -> impl Iterator<Item = u8> { std::iter::empty() } }
        #[cfg(test)]
        impl std::str::FromStr for Wide<'_> { type Err = (); fn from_str(_: &str) -> Result<Self, ()> { Err(()) } }
        unsafe impl Send for Shape {}
        fn f(x: impl Draw) { struct Local; type Alias = u8; let _ = "struct Quoted"; }
        // struct Commented;
        mod tests { type Pair = (u8, u8); }
        pub type Id = u64;
    "#;
    assert_eq!(
        declared_types(src),
        ["Wide", "Shape", "Draw", "Local", "Alias", "Pair", "Id"]
    );
}

#[test]
fn every_type_name_is_used_once_in_the_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut places: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap().display().to_string();
        for name in declared_types(&std::fs::read_to_string(&path).unwrap()) {
            places.entry(name).or_default().push(rel.clone());
        }
    }
    assert!(
        places.len() > 200,
        "too few types found: the scan is broken"
    );
    let allowed = |name: &str| ALLOWED_UNTIL_RENAMED.iter().any(|(n, _)| *n == name);
    let twice: Vec<String> = places
        .iter()
        .filter(|(name, files)| files.len() > 1 && !allowed(name))
        .map(|(name, files)| format!("{name}: {}", files.join(", ")))
        .collect();
    assert_eq!(
        twice,
        Vec::<String>::new(),
        "rename all but one, each to a noun that says what it holds"
    );
    let renamed: Vec<&str> = ALLOWED_UNTIL_RENAMED
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| places.get(*name).is_none_or(|files| files.len() < 2))
        .collect();
    assert_eq!(
        renamed,
        Vec::<&str>::new(),
        "declared once now: remove these from ALLOWED_UNTIL_RENAMED"
    );
}

//! Embeds the git commit sockscope is built from as `SOCKSCOPE_REVISION`, for the
//! exporter's `sockscope_build_info{revision=…}`: `git rev-parse HEAD` when this crate is
//! the top of a git work tree, else the commit cargo recorded when it packaged the crate
//! (`.cargo_vcs_info.json`), else `unknown`. Never fails the build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let revision = from_git(&dir)
        .or_else(|| from_cargo_vcs_info(&dir))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SOCKSCOPE_REVISION={revision}");
    println!("cargo:rerun-if-changed=build.rs");
}

/// `git` run in `dir`, its output trimmed; `None` when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The commit checked out, if `dir` is the top of a git work tree (not a crate unpacked
/// somewhere inside another repository). Asks cargo to run this again when HEAD moves.
fn from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), dir) {
        return None;
    }
    let revision = git(dir, &["rev-parse", "HEAD"])?;
    if !is_commit(&revision) {
        return None;
    }
    // HEAD names the branch; the branch's ref file (or packed-refs) names the commit. A
    // branch only in packed-refs gets a ref file at its next commit: its directory is
    // watched then. A path that does not exist would make cargo run this at every build.
    let path = |name: &str| git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p));
    let mut watched = vec![path("HEAD"), path("packed-refs")];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(path(&branch).and_then(|file| {
            if file.exists() {
                Some(file)
            } else {
                file.parent().map(Path::to_path_buf)
            }
        }));
    }
    for path in watched.into_iter().flatten().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(revision)
}

/// The commit `cargo package` recorded: `{"git": {"sha1": "…"}, …}`.
fn from_cargo_vcs_info(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let start = after.find('"')? + 1;
    let revision: String = after[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    is_commit(&revision).then_some(revision)
}

fn is_commit(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.chars().all(|c| c.is_ascii_hexdigit())
}

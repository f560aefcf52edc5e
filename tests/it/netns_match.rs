//! `--netns-match` through the real binary: it picks among the namespaces `-A` watches, so
//! without `-A` it is refused, and with `-A` a value that names no namespace is UNKNOWN
//! (check) or an error (snapshot, serve), never an OK about nothing.

use std::os::unix::fs::MetadataExt as _;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

/// A namespace name no test or host uses.
const NOWHERE: &str = "sockscope-test-no-such-netns";

fn sockscope(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn netns_match_without_all_netns_is_refused_in_every_mode() {
    const REFUSED: &str = "--netns-match picks among the namespaces -A watches, and without -A only one is watched: add -A (`sockscope check -A --netns-match NAME`), or watch that namespace alone with --netns NAME";
    for mode in ["snapshot", "serve", "top"] {
        let out = sockscope(&[mode, "--netns-match", "hs2-a"]);
        assert_eq!(out.status.code(), Some(2), "{mode}: {out:?}");
        assert_eq!(text(&out.stdout), "", "{mode}");
        assert_eq!(
            text(&out.stderr),
            format!("sockscope: {REFUSED} (see sockscope --help)\n"),
            "{mode}"
        );
    }
    let out = sockscope(&["check", "--netns-match", "hs2-a"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        format!("SOCKSCOPE UNKNOWN - {REFUSED} (see sockscope --help)\n")
    );
}

#[test]
fn netns_match_naming_no_namespace_is_unknown_to_check_and_an_error_elsewhere() {
    if !sockscope::lab::require_root(
        "netns_match_naming_no_namespace_is_unknown_to_check_and_an_error_elsewhere",
    ) {
        return;
    }
    let host = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let nothing = format!(
        "--netns-match {NOWHERE}: no namespace has that name or inode; the namespaces here are "
    );
    let out = sockscope(&["check", "-A", "--window", "0s", "--netns-match", NOWHERE]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("SOCKSCOPE UNKNOWN - {nothing}")),
        "{stdout}"
    );
    // The host's namespace is always among those listed, with its inode.
    assert!(stdout.contains(&format!(" ({host})")), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    for args in [
        &["snapshot", "-A", "--netns-match", NOWHERE][..],
        &[
            "serve",
            "-A",
            "--listen",
            "127.0.0.1:0",
            "--netns-match",
            NOWHERE,
        ],
    ] {
        let out = sockscope(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!("sockscope: {nothing}")),
            "{args:?}: {stderr}"
        );
    }
    // Naming the host's namespace by its inode judges it.
    let out = sockscope(&[
        "check",
        "-A",
        "--window",
        "0s",
        "--netns-match",
        &host.to_string(),
    ]);
    let stdout = text(&out.stdout);
    assert!(!stdout.starts_with("SOCKSCOPE UNKNOWN"), "{stdout}");
    assert!(matches!(out.status.code(), Some(0..=2)), "{out:?}");
}

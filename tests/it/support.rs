//! Helpers the test modules share.

pub mod cgroups;
// One file shared with the library's unit tests (see its notes).
#[path = "../../src/collect/testutil/child.rs"]
pub mod child;
pub mod dashboard;
pub mod netns;
pub mod synthetic;
pub mod tmux;

/// The JSON document a run of the binary printed, after checking that it exited 0 (its
/// stderr is the failure message otherwise).
pub fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the output is one JSON document")
}

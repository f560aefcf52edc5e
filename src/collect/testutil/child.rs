//! Running a test's body in a child process of its own.
//!
//! `cargo test` runs every test of a binary as a thread of one process; `cargo nextest run`
//! gives each its own process. A test that changes what belongs to the whole process (its
//! resource limits, its namespaces or cgroup, its working directory, its environment) or
//! that reads what every thread shares (its descriptor table, its open-file budget) would
//! change or see the other tests under `cargo test`. Such a test calls [`in_child`]: the
//! test binary runs again with only that test selected (`NAME --exact`) and a variable that
//! tells the copy to run the body, and the test passes when that copy ran it and passed.
//!
//! One file for both test binaries: the library's unit tests (`collect::testutil`) and the
//! integration tests (`tests/it/support.rs` includes it by path). It uses std only.

use std::process::Command;

/// The variable that tells the re-run test binary it is the child for that test (its value
/// is the test's name).
pub const CHILD_VAR: &str = "SOCKSCOPE_TEST_CHILD";

/// Run `body` in a child process: the test binary again, running only the calling test.
///
/// Call it from the test function itself (libtest names the test's thread after the test,
/// which is how the child is told what to run). In the child, `body` runs in place and this
/// returns `false`; in the parent, this waits for the child, passes on what it printed,
/// panics with its output unless it ran exactly this one test and that test passed, and
/// returns `true`. What the test does after the call runs in both: put it under the `true`.
pub fn in_child(body: impl FnOnce()) -> bool {
    let thread = std::thread::current();
    let test = thread
        .name()
        .filter(|name| *name != "main")
        .unwrap_or_else(|| {
            panic!(
                "in_child: call it from a #[test] function's own thread (it has the test's name)"
            )
        })
        .to_owned();
    if std::env::var_os(CHILD_VAR).is_some_and(|v| v == test.as_str()) {
        body();
        return false;
    }
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("in_child {test}: finding the test binary: {e}"));
    let output = Command::new(&exe)
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, &test)
        .output()
        .unwrap_or_else(|e| panic!("in_child {test}: running {}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // What the child's test printed (a SKIPPED line, say) is the test's own output.
    eprint!("{stderr}");
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed;"),
        "in_child {test}: the child ({}) did not run this one test and pass: {}\n\
         --- its stdout ---\n{stdout}--- its stderr ---\n{stderr}",
        exe.display(),
        output.status,
    );
    true
}

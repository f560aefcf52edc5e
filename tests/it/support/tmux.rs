//! The dashboard in a real terminal: a private tmux server runs a command in one window,
//! the test reads the screen with `capture-pane`, types keys with `send-keys`, and reads
//! the exit status and `stty -a` after the program exits. Needs tmux (`.ci/run` installs
//! it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sockscope::lab::skip;

/// One private tmux server with one window; killed on drop.
pub struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Start `command` in a `columns` × `rows` window. Its exit status goes to `exit`, and
    /// `stty -a` of the terminal after it exits to `stty`, in [`Tmux::file`].
    pub fn start(name: &str, command: &str, columns: u16, rows: u16) -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        let socket = format!("sockscope-{name}-{}", std::process::id());
        let script = format!(
            "{command}; echo $? > {exit}; stty -a > {stty}; sleep 600",
            exit = dir.path().join("exit").display(),
            stty = dir.path().join("stty").display(),
        );
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &columns.to_string(), "-y", &rows.to_string()])
            .args(["sh", "-c", &script])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket, dir }
    }

    /// Run `tmux ARGS` on this server; its stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The window's screen now (`capture-pane -p`).
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Press `keys` (tmux key names: `q`, `Right`, `Escape`, `C-z`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Type `text` literally.
    pub fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
    }

    /// The pid of the program the window's shell runs.
    pub fn program_pid(&self) -> u32 {
        let shell: u32 = self
            .tmux(&["display-message", "-p", "#{pane_pid}"])
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("pgrep")
                .args(["-P", &shell.to_string()])
                .output()
                .unwrap();
            if let Some(pid) = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
            {
                return pid.parse().unwrap();
            }
            assert!(Instant::now() < deadline, "no program under the tmux shell");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the screen satisfies `ok`; panics with the screen after `timeout`, or as
    /// soon as the program has exited.
    pub fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            let exit = std::fs::read_to_string(self.file("exit")).unwrap_or_default();
            assert!(
                exit.is_empty(),
                "the program exited with status {} before {what}; the screen shows:\n{screen}",
                exit.trim()
            );
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the pane shows the alternate screen now.
    pub fn alternate_on(&self) -> bool {
        self.tmux(&["display-message", "-p", "#{alternate_on}"])
            .trim()
            == "1"
    }

    /// `stty -a` of the pane's terminal, read from outside while the program runs.
    pub fn stty_now(&self) -> String {
        let tty = self.tmux(&["display-message", "-p", "#{pane_tty}"]);
        let out = Command::new("stty")
            .args(["-a", "-F", tty.trim()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A file in the server's own temporary directory (`exit`, `stty`).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Wait for the program to exit; returns its status and `stty -a` after it.
    pub fn exit(&self, timeout: Duration) -> (String, String) {
        let deadline = Instant::now() + timeout;
        while !self.file("stty").exists()
            || std::fs::metadata(self.file("stty")).unwrap().len() == 0
        {
            assert!(
                Instant::now() < deadline,
                "the program did not exit; the screen shows:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap().trim().to_owned();
        (read(&self.file("exit")), read(&self.file("stty")))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Whether tmux is installed; says the skip (failing under CI=true) when not.
pub fn have_tmux(test: &str) -> bool {
    Command::new("tmux").arg("-V").output().is_ok()
        || skip(test, "tmux is not installed (apt-get install tmux)")
}

/// Cooked mode: line editing and echo on (`stty -a` prints `icanon` and `echo`, not
/// `-icanon` and `-echo`).
pub fn assert_cooked(stty: &str) {
    let flags: Vec<&str> = stty.split_whitespace().collect();
    for flag in ["icanon", "echo", "isig"] {
        assert!(
            flags.contains(&flag),
            "terminal left without {flag}: {stty}"
        );
    }
}

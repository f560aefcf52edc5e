//! Opening and reading files that sockscope reads but does not own: a container runtime's
//! metadata, namespace handles under `/run`, `/proc` entries of other users' processes, the
//! config files it is pointed at. Someone else chose what is at those paths, so:
//!
//! - the open never blocks (`O_NONBLOCK`: a FIFO planted at the path would otherwise hang
//!   the open until a writer comes) and never makes a terminal ours (`O_NOCTTY`);
//! - a file to be read must be a regular file (a device such as `/dev/zero` or
//!   `/dev/urandom` never ends), checked on the open descriptor, not on the path;
//! - at most a cap is read, also when the file grows while it is read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// It could not be opened or read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// It is not a regular file: what it is ("a directory", "a device", "a named pipe"…).
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    /// It is larger than the cap.
    #[error("it is {size} bytes, over the {max} bytes read at most")]
    TooBig {
        /// Its size (or how much was read before the cap was passed).
        size: u64,
        /// The cap.
        max: u64,
    },
}

impl Refusal {
    /// The refusal of a settings file the user named (`role`: "a config file"; `format`:
    /// "TOML"), saying what to give instead; an I/O error as it is.
    pub(crate) fn of_settings_file(&self, role: &str, format: &str) -> String {
        match self {
            Refusal::Io(e) => e.to_string(),
            Refusal::NotRegular(what) => {
                format!("it is {what}, not a regular file: give the path of a {format} file")
            }
            Refusal::TooBig { size, max } => {
                format!("it is {size} bytes; {role} may be at most {max} bytes (1 MiB)")
            }
        }
    }
}

/// Open `path` for reading without blocking, whatever it is (a namespace handle, which is
/// opened only to be passed to `setns`, needs no more).
pub(crate) fn open_handle(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Open `path` for reading without blocking, and refuse it unless it is a regular file.
pub(crate) fn open_regular(path: &Path) -> Result<File, Refusal> {
    let file = open_handle(path)?;
    let kind = file.metadata()?.file_type();
    let what = if kind.is_file() {
        return Ok(file);
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    };
    Err(Refusal::NotRegular(what))
}

/// The bytes of the regular file at `path`, at most `max` of them. (Files under `/proc` say
/// they are empty and are read up to the cap like any other.)
pub(crate) fn read(path: &Path, max: u64) -> Result<Vec<u8>, Refusal> {
    let file = open_regular(path)?;
    let size = file.metadata()?.len();
    if size > max {
        return Err(Refusal::TooBig { size, max });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(Refusal::TooBig {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

/// The text of the regular file at `path`, at most `max` bytes of it, which must be UTF-8.
pub(crate) fn read_to_string(path: &Path, max: u64) -> Result<String, Refusal> {
    String::from_utf8(read(path, max)?)
        .map_err(|_| Refusal::Io(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Run `read` on a thread and give up on it after 5 s: a hang is a failure, not a
    /// test that never ends.
    fn read_within_5s(path: &Path, max: u64) -> Result<Vec<u8>, String> {
        let (tx, rx) = mpsc::channel();
        let path = path.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(read(&path, max).map_err(|e| e.to_string()));
        });
        rx.recv_timeout(Duration::from_secs(5))
            .expect("reading hung for 5 s")
    }

    #[test]
    fn a_fifo_devices_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(
            read_within_5s(&fifo, 100),
            Err("it is a named pipe, not a regular file".to_owned())
        );
        for device in ["/dev/zero", "/dev/urandom"] {
            assert_eq!(
                read_within_5s(Path::new(device), 100),
                Err("it is a device, not a regular file".to_owned())
            );
        }
        assert_eq!(
            read_within_5s(dir.path(), 100),
            Err("it is a directory, not a regular file".to_owned())
        );
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_one_at_the_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [b'x'; 101]).unwrap();
        assert_eq!(
            read_within_5s(&path, 100),
            Err("it is 101 bytes, over the 100 bytes read at most".to_owned())
        );
        assert_eq!(read_within_5s(&path, 101), Ok(vec![b'x'; 101]));
    }

    #[test]
    fn proc_files_that_say_they_are_empty_are_read_whole() {
        let text = read_to_string(Path::new("/proc/self/comm"), 64).unwrap();
        assert!(text.ends_with('\n') && text.len() > 1, "{text:?}");
    }
}

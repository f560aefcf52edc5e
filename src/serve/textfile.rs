//! `--textfile PATH`: the exposition written for node_exporter's textfile collector. The
//! collector may read the file at any moment, so it is never seen half written: the text
//! goes to a temporary file in the same directory (same file system), is synced, and is
//! renamed over `PATH` in one step.
//!
//! The directory may be writable by others (a shared textfile directory, `/tmp`), and we run
//! as root: the temporary file has an unpredictable name and is created with
//! `O_CREAT|O_EXCL` (which never follows a link planted at that name), and a target that is
//! anything but a regular file (a link, a device such as `/dev/full`, a FIFO, a directory)
//! is refused rather than replaced.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Why the textfile could not be written: the file and the cause.
#[derive(Debug, thiserror::Error)]
#[error("--textfile {}: {what}: {cause}; {advice}", path.display())]
pub struct TextfileError {
    /// The file asked for.
    pub path: PathBuf,
    /// What failed.
    pub what: &'static str,
    /// The cause (in the message, not a `source`: the message says it once).
    pub cause: io::Error,
    /// What to do about it.
    pub advice: &'static str,
}

const CHECK_DIRECTORY: &str = "check that the directory exists and is writable";
const GIVE_A_FILE: &str =
    "give the path of a regular file (or of none yet) in node_exporter's textfile directory";

/// Check, before the first poll, that `path` can be a textfile: its directory exists, and
/// the path names a regular file or nothing yet.
pub fn check_target(path: &Path) -> Result<(), TextfileError> {
    let fail = |what, source, advice| TextfileError {
        path: path.to_owned(),
        what,
        cause: source,
        advice,
    };
    path.file_name().ok_or_else(|| {
        fail(
            "not a file name",
            io::Error::from(io::ErrorKind::InvalidInput),
            GIVE_A_FILE,
        )
    })?;
    let dir = directory_of(path);
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(fail(
                "its directory is not a directory",
                io::Error::from(io::ErrorKind::NotADirectory),
                CHECK_DIRECTORY,
            ));
        }
        Err(e) => return Err(fail("reading its directory", e, CHECK_DIRECTORY)),
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(meta) => Err(fail(
            kind_of(meta.file_type()),
            io::Error::other("refusing to replace it"),
            GIVE_A_FILE,
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail("reading it", e, CHECK_DIRECTORY)),
    }
}

/// Replace `path` with `contents` atomically (an unpredictable temporary file + rename).
/// The file is left readable by all (mode 0644), as node_exporter needs.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), TextfileError> {
    check_target(path)?;
    let fail = |what, source| TextfileError {
        path: path.to_owned(),
        what,
        cause: source,
        advice: CHECK_DIRECTORY,
    };
    let mut prefix = OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    // Hidden and without the .prom suffix: the collector never reads it. tempfile picks a
    // random name and opens it with O_CREAT|O_EXCL|O_CLOEXEC, retrying on a clash.
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o644))
        .tempfile_in(directory_of(path))
        .map_err(|e| fail("creating the temporary file", e))?;
    temp.write_all(contents)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| fail("writing the temporary file", e))?;
    // On failure the temporary file is removed when `temp` drops.
    temp.persist(path)
        .map_err(|e| fail("renaming it into place", e.error))?;
    Ok(())
}

/// The directory `path` is in (`.` for a bare name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// What a file that is not a regular file is, for the error.
fn kind_of(kind: fs::FileType) -> &'static str {
    if kind.is_symlink() {
        "it is a symbolic link"
    } else if kind.is_dir() {
        "it is a directory"
    } else if kind.is_char_device() {
        "it is a character device"
    } else if kind.is_block_device() {
        "it is a block device"
    } else if kind.is_fifo() {
        "it is a FIFO"
    } else if kind.is_socket() {
        "it is a socket"
    } else {
        "it is not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names_in(dir: &Path) -> Vec<OsString> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sockscope.prom");
        write_atomically(&path, b"a 1\n").unwrap();
        write_atomically(&path, b"a 2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a 2\n");
        assert_eq!(names_in(dir.path()), ["sockscope.prom"]);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "node_exporter must be able to read it");
    }

    #[test]
    fn a_link_planted_at_the_old_predictable_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "root's secret\n").unwrap();
        let planted = dir
            .path()
            .join(format!(".s.prom.tmp.{}", std::process::id()));
        symlink(&victim, &planted).unwrap();
        let path = dir.path().join("s.prom");
        write_atomically(&path, b"a 1\n").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "root's secret\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "a 1\n");
        assert!(fs::symlink_metadata(&planted).unwrap().is_symlink());
    }

    #[test]
    fn a_target_that_is_not_a_regular_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep\n").unwrap();
        let link = dir.path().join("link.prom");
        symlink(&victim, &link).unwrap();
        let fifo = dir.path().join("fifo.prom");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let sub = dir.path().join("dir.prom");
        fs::create_dir(&sub).unwrap();
        for (path, kind) in [
            (link.as_path(), "it is a symbolic link"),
            (fifo.as_path(), "it is a FIFO"),
            (sub.as_path(), "it is a directory"),
            (Path::new("/dev/full"), "it is a character device"),
        ] {
            let err = write_atomically(path, b"a 1\n").unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "--textfile {}: {kind}: refusing to replace it; {GIVE_A_FILE}",
                    path.display()
                )
            );
        }
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep\n");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(
            fs::symlink_metadata("/dev/full")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        assert_eq!(
            names_in(dir.path()),
            ["dir.prom", "fifo.prom", "link.prom", "victim"]
        );
    }

    #[test]
    fn a_missing_directory_is_named_with_what_to_do() {
        let err = write_atomically(Path::new("/nonexistent-srv/x.prom"), b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--textfile /nonexistent-srv/x.prom: reading its directory: No such file or directory (os error 2); check that the directory exists and is writable"
        );
    }
}

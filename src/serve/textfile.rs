//! `--textfile PATH`: the exposition written for node_exporter's textfile collector. The
//! collector may read the file at any moment, so it is never seen half written: the text
//! goes to a hidden temporary file in the same directory (same file system), is synced,
//! and is renamed over `PATH` in one step.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Why the textfile could not be written: the file and the cause.
#[derive(Debug, thiserror::Error)]
#[error("--textfile {}: {what}: {source}; check that the directory exists and is writable", path.display())]
pub struct TextfileError {
    /// The file asked for.
    pub path: PathBuf,
    /// What failed.
    pub what: &'static str,
    /// The cause.
    pub source: io::Error,
}

/// Replace `path` with `contents` atomically (temporary file + rename).
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), TextfileError> {
    let fail = |what, source| TextfileError {
        path: path.to_owned(),
        what,
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        fail(
            "not a file name",
            io::Error::from(io::ErrorKind::InvalidInput),
        )
    })?;
    // Hidden and without the .prom suffix: the collector never reads it.
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp.{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = File::create(&temp)
        .map_err(|e| fail("creating the temporary file", e))
        .and_then(|mut file| {
            file.write_all(contents)
                .and_then(|()| file.sync_all())
                .map_err(|e| fail("writing the temporary file", e))
        })
        .and_then(|()| fs::rename(&temp, path).map_err(|e| fail("renaming it into place", e)));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sockscope.prom");
        write_atomically(&path, b"a 1\n").unwrap();
        write_atomically(&path, b"a 2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a 2\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["sockscope.prom"]);
    }

    #[test]
    fn a_missing_directory_is_named_with_what_to_do() {
        let err = write_atomically(Path::new("/nonexistent-srv/x.prom"), b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--textfile /nonexistent-srv/x.prom: creating the temporary file: No such file or directory (os error 2); check that the directory exists and is writable"
        );
    }
}

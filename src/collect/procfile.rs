//! Reading /proc files through handles opened once, inside the watched namespace.
//!
//! Every read is positional and starts at offset 0 (`pread`), so one handle serves every
//! poll, from any thread, without re-opening a path (a path would resolve in the reading
//! thread's namespace, not the watched one).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes asked for per `pread`; seq_file hands out at most about this much per call anyway.
const CHUNK: usize = 64 * 1024;

/// Replace `buf`'s contents with the whole file, read from offset 0.
pub(crate) fn read_whole(file: &File, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let mut offset = 0u64;
    loop {
        if buf.capacity() - buf.len() < CHUNK / 16 {
            buf.reserve(CHUNK);
        }
        let start = buf.len();
        buf.resize(buf.capacity(), 0);
        let read = file.read_at(&mut buf[start..], offset);
        let n = match read {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                buf.truncate(start);
                continue;
            }
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        };
        buf.truncate(start + n);
        if n == 0 {
            return Ok(());
        }
        offset += n as u64;
    }
}

/// Read the file from offset 0 and call `on_line` with each line (without its newline),
/// holding at most one chunk plus one line in memory: /proc/net/tcp with a million
/// sockets is 150 MB of text.
pub(crate) fn for_each_line(file: &File, mut on_line: impl FnMut(&[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0usize;
    let mut offset = 0u64;
    loop {
        if filled == buf.len() {
            // One line longer than the buffer: make room rather than split it.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match file.read_at(&mut buf[filled..], offset) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if filled > 0 {
                on_line(&buf[..filled]);
            }
            return Ok(());
        }
        offset += n as u64;
        let end = filled + n;
        let mut start = 0;
        while let Some(newline) = buf[start..end].iter().position(|b| *b == b'\n') {
            on_line(&buf[start..start + newline]);
            start += newline + 1;
        }
        buf.copy_within(start..end, 0);
        filled = end - start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(contents: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(contents).unwrap();
        file
    }

    #[test]
    fn whole_file_is_read_again_from_the_start() {
        let file = file_with(b"one\ntwo\n");
        let mut buf = Vec::new();
        read_whole(&file, &mut buf).unwrap();
        read_whole(&file, &mut buf).unwrap();
        assert_eq!(buf, b"one\ntwo\n");
    }

    #[test]
    fn lines_split_across_chunks_and_a_last_line_without_newline_arrive_whole() {
        let mut text = Vec::new();
        for i in 0..20_000 {
            writeln!(text, "line {i}").unwrap();
        }
        text.resize(text.len() + CHUNK * 3, b'x');
        let file = file_with(&text);
        let mut lines = Vec::new();
        for_each_line(&file, |l| lines.push(l.to_vec())).unwrap();
        assert_eq!(lines.len(), 20_001);
        assert_eq!(lines[12_345], b"line 12345");
        assert_eq!(lines[20_000].len(), CHUNK * 3);
    }
}

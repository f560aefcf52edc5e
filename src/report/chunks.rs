//! Writing a million formatted items on two threads: the items are cut into chunks, this
//! thread formats the even chunks and a helper the odd ones, and the chunks are written in
//! order. Both the text table and the JSON socket list go through here.

use std::io::{self, Write};
use std::sync::mpsc;

/// Items per chunk: large enough that handing a buffer over costs nothing next to filling
/// it, small enough that the two threads finish together.
pub(crate) const CHUNK_ITEMS: usize = 4096;

/// Format `items` with `format` (which appends one chunk's bytes to a buffer, given the
/// index of the chunk's first item and per-thread scratch state `S`) and write the chunks to `out` in order. Up to two chunks
/// of the helper wait formatted at any time, so memory stays a few chunks whatever the
/// number of items.
pub(crate) fn write_in_order<T, S, F>(items: &[T], format: F, out: &mut dyn Write) -> io::Result<()>
where
    T: Sync,
    S: Default,
    F: Fn(usize, &[T], &mut Vec<u8>, &mut S) + Sync,
{
    let mut mine = Vec::new();
    let mut scratch = S::default();
    if items.len() <= CHUNK_ITEMS {
        format(0, items, &mut mine, &mut scratch);
        return out.write_all(&mine);
    }
    std::thread::scope(|scope| {
        let (full, formatted) = mpsc::sync_channel::<Vec<u8>>(2);
        let (spent, empty) = mpsc::channel::<Vec<u8>>();
        let format = &format;
        scope.spawn(move || {
            let mut scratch = S::default();
            for (n, chunk) in items.chunks(CHUNK_ITEMS).enumerate().skip(1).step_by(2) {
                let mut buf = empty.try_recv().unwrap_or_default();
                buf.clear();
                format(n * CHUNK_ITEMS, chunk, &mut buf, &mut scratch);
                if full.send(buf).is_err() {
                    return;
                }
            }
        });
        for (n, chunk) in items.chunks(CHUNK_ITEMS).enumerate() {
            if n % 2 == 0 {
                mine.clear();
                format(n * CHUNK_ITEMS, chunk, &mut mine, &mut scratch);
                out.write_all(&mine)?;
            } else {
                let buf = formatted
                    .recv()
                    .map_err(|_| io::Error::other("the formatting thread stopped"))?;
                out.write_all(&buf)?;
                let _ = spent.send(buf);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(start: usize, items: &[u32], buf: &mut Vec<u8>, calls: &mut usize) {
        *calls += 1;
        assert_eq!(
            items.first().map(|&n| n as usize),
            (!items.is_empty()).then_some(start)
        );
        for n in items {
            buf.extend_from_slice(n.to_string().as_bytes());
            buf.push(b'\n');
        }
    }

    #[test]
    fn chunks_formatted_on_two_threads_come_out_in_order() {
        for len in [0, 1, CHUNK_ITEMS, CHUNK_ITEMS + 1, 5 * CHUNK_ITEMS + 17] {
            let items: Vec<u32> = (0..len as u32).collect();
            let mut out = Vec::new();
            write_in_order(&items, numbers, &mut out).unwrap();
            let expected: String = items.iter().map(|n| n.to_string() + "\n").collect();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{len} items");
        }
    }

    #[test]
    fn a_failing_writer_stops_the_helper_and_says_why() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let items: Vec<u32> = (0..10 * CHUNK_ITEMS as u32).collect();
        let err = write_in_order(&items, numbers, &mut Full).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}

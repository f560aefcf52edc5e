//! Reading a recording: the header checked, the frames walked once (headers and CRCs;
//! a cut-off tail ends it, a corrupt frame is skipped and so are the deltas that needed
//! it), then each poll rebuilt on demand from its key frame and the deltas up to it.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::frame::{
    self, FILE_HEADER_FIXED, FRAME_HEADER, FRAME_MAGIC, FileHead, FrameHeader, FrameKind,
    MAX_PAYLOAD,
};
use super::replay::ReplayState;
use super::{RecordError, RecordedPolls};
use crate::watch::Round;

/// One readable poll of a recording: where its frame is.
#[derive(Clone, Copy, Debug)]
struct PollEntry {
    /// Where its frame starts.
    offset: u64,
    /// Its frame header.
    header: FrameHeader,
    /// The index (among the polls) of the key frame it is rebuilt from.
    key: usize,
}

/// What a recording holds and what of it was lost, as `record --info` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The file.
    pub path: PathBuf,
    /// The format version it was written in.
    pub version: (u16, u16),
    /// The host recorded.
    pub host: String,
    /// When the file was started.
    pub created_at: SystemTime,
    /// Whether every namespace was recorded (`-A`).
    pub every: bool,
    /// The interval asked for.
    pub interval: Duration,
    /// Its size in bytes.
    pub size: u64,
    /// Readable polls.
    pub polls: usize,
    /// Of those, key frames (the seek points).
    pub key_frames: usize,
    /// The first and last readable poll's time.
    pub span: Option<(SystemTime, SystemTime)>,
    /// Bytes at the end that hold no whole frame (a write cut off by power loss or
    /// SIGKILL): lost.
    pub lost_bytes: u64,
    /// What was skipped in the middle and why, one line each (a corrupt frame, the deltas
    /// that needed it, bytes that are no frame).
    pub skipped: Vec<String>,
}

/// A recording opened for reading: its polls indexed, one rebuilt at a time.
#[derive(Debug)]
pub struct Recording {
    file: File,
    info: RecordingInfo,
    polls: Vec<PollEntry>,
    /// The poll rebuilt last, and the state after it (stepping forward applies one delta).
    cache: Option<(usize, ReplayState)>,
}

impl Recording {
    /// Open the recording at `path`: check its header (a newer major version is refused
    /// with one line), walk its frames and index the readable polls.
    pub fn open(path: &Path) -> Result<Recording, RecordError> {
        let shown = path.display().to_string();
        let file =
            crate::untrusted::open_regular(path).map_err(|refusal| RecordError::Refused {
                path: shown.clone(),
                why: refusal.to_string(),
            })?;
        let io = |source| RecordError::Io {
            path: shown.clone(),
            source,
        };
        let size = file.metadata().map_err(io)?.len();
        let mut fixed = [0; FILE_HEADER_FIXED];
        if size < FILE_HEADER_FIXED as u64 {
            return Err(RecordError::NotARecording(shown));
        }
        file.read_exact_at(&mut fixed, 0).map_err(io)?;
        let (major, minor, body_len, body_crc) = frame::read_file_header_fixed(&fixed, &shown)?;
        let body_end = FILE_HEADER_FIXED as u64 + u64::from(body_len);
        if body_end > size {
            return Err(RecordError::Corrupt(format!(
                "{shown}: its header is cut off ({size} bytes): nothing was recorded in it"
            )));
        }
        let mut body = vec![0; body_len as usize];
        file.read_exact_at(&mut body, FILE_HEADER_FIXED as u64)
            .map_err(io)?;
        if crc32fast::hash(&body) != body_crc {
            return Err(RecordError::Corrupt(format!(
                "{shown}: its header fails its checksum: the file is damaged"
            )));
        }
        let head: FileHead = postcard::from_bytes(&body).map_err(|e| {
            RecordError::Corrupt(format!("{shown}: its header does not decode: {e}"))
        })?;
        let mut info = RecordingInfo {
            path: path.to_owned(),
            version: (major, minor),
            host: head.host,
            created_at: head.created_at.time(),
            every: head.every,
            interval: Duration::from_millis(head.interval_ms),
            size,
            polls: 0,
            key_frames: 0,
            span: None,
            lost_bytes: 0,
            skipped: Vec::new(),
        };
        let polls = walk(&file, body_end, &mut info).map_err(io)?;
        info.polls = polls.len();
        info.key_frames = polls
            .iter()
            .filter(|p| p.header.kind == Some(FrameKind::Key))
            .count();
        info.span = match (polls.first(), polls.last()) {
            (Some(first), Some(last)) => {
                Some((time_of(first.header.poll_ms), time_of(last.header.poll_ms)))
            }
            _ => None,
        };
        Ok(Recording {
            file,
            info,
            polls,
            cache: None,
        })
    }

    /// What it holds and what was lost.
    pub fn info(&self) -> &RecordingInfo {
        &self.info
    }

    /// Whether poll `i` is a key frame (a seek point: it is read without the polls before
    /// it).
    pub fn is_key_frame(&self, i: usize) -> bool {
        self.polls
            .get(i)
            .is_some_and(|p| p.header.kind == Some(FrameKind::Key))
    }

    /// Where poll `i`'s frame starts in the file.
    #[cfg(test)]
    pub(super) fn frame_offset(&self, i: usize) -> u64 {
        self.polls[i].offset
    }

    /// The last poll taken at or before `time` (`None`: every poll is later).
    pub fn poll_at(&self, time: SystemTime) -> Option<usize> {
        let ms = ms_of(time);
        self.polls
            .partition_point(|p| p.header.poll_ms <= ms)
            .checked_sub(1)
    }

    /// The names of every namespace the recording holds, in the order first seen (each
    /// namespace appears in a key frame: those are read).
    pub fn namespace_names(&mut self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = Vec::new();
        for i in 0..self.polls.len() {
            if self.polls[i].header.kind != Some(FrameKind::Key) {
                continue;
            }
            let mut state = ReplayState::default();
            state.apply(self.read_poll(i)?)?;
            for name in state.names() {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    /// The payload of poll `i`'s frame, decoded.
    fn read_poll(&self, i: usize) -> Result<super::wire::PollFrame, String> {
        let entry = self.polls.get(i).ok_or_else(|| format!("no poll {i}"))?;
        let mut payload = vec![0; entry.header.len as usize];
        self.file
            .read_exact_at(&mut payload, entry.offset + FRAME_HEADER as u64)
            .map_err(|e| format!("reading poll {i}: {e}"))?;
        frame::decode_payload(&entry.header, &payload).map_err(|why| {
            format!(
                "the frame at byte {} passes its checksum but {why}",
                entry.offset
            )
        })
    }

    /// The state after poll `i`: from the cache when it is on the way, else from its key
    /// frame.
    fn state_at(&mut self, i: usize) -> Result<&ReplayState, String> {
        let entry = *self.polls.get(i).ok_or_else(|| {
            format!(
                "there is no poll {i}: the recording holds {}",
                self.polls.len()
            )
        })?;
        let start = match &self.cache {
            Some((at, _)) if *at <= i && *at >= entry.key => *at + 1,
            _ => {
                self.cache = None;
                entry.key
            }
        };
        let mut state = match self.cache.take() {
            Some((_, state)) => state,
            None => ReplayState::default(),
        };
        for j in start..=i {
            state.apply(self.read_poll(j)?)?;
        }
        Ok(&self.cache.insert((i, state)).1)
    }
}

impl RecordedPolls for Recording {
    fn len(&self) -> usize {
        self.polls.len()
    }

    fn taken_at(&self, i: usize) -> SystemTime {
        self.polls
            .get(i)
            .map_or(UNIX_EPOCH, |p| time_of(p.header.poll_ms))
    }

    fn every(&self) -> bool {
        self.info.every
    }

    fn round(&mut self, i: usize) -> Result<Round, String> {
        self.state_at(i)?.round()
    }
}

fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

fn ms_of(time: SystemTime) -> u64 {
    u64::try_from(
        time.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// A frame that checks out at `at`: its header and whether its CRC matches (`None`: no
/// frame magic, a length past the caps or past the end of the file).
fn frame_at(file: &File, at: u64, size: u64) -> std::io::Result<Option<(FrameHeader, bool)>> {
    if size.saturating_sub(at) < FRAME_HEADER as u64 {
        return Ok(None);
    }
    let mut bytes = [0; FRAME_HEADER];
    file.read_exact_at(&mut bytes, at)?;
    let Some(header) = frame::read_frame_header(&bytes) else {
        return Ok(None);
    };
    if header.len > MAX_PAYLOAD || at + FRAME_HEADER as u64 + u64::from(header.len) > size {
        return Ok(None);
    }
    let mut payload = vec![0; header.len as usize];
    file.read_exact_at(&mut payload, at + FRAME_HEADER as u64)?;
    let ok = frame::frame_crc(&bytes[4..FRAME_HEADER - 4], &payload) == header.crc;
    Ok(Some((header, ok)))
}

/// The next offset from `from` where a whole frame with a good CRC starts.
fn resync(file: &File, from: u64, size: u64) -> std::io::Result<Option<u64>> {
    const CHUNK: usize = 1 << 16;
    let mut at = from;
    let mut buf = vec![0; CHUNK + FRAME_MAGIC.len()];
    while at < size {
        let n = usize::try_from((size - at).min(buf.len() as u64)).unwrap_or(CHUNK);
        file.read_exact_at(&mut buf[..n], at)?;
        for i in 0..n.saturating_sub(FRAME_MAGIC.len() - 1) {
            if buf[i..i + FRAME_MAGIC.len()] == FRAME_MAGIC
                && let Some((_, true)) = frame_at(file, at + i as u64, size)?
            {
                return Ok(Some(at + i as u64));
            }
        }
        at += CHUNK as u64;
    }
    Ok(None)
}

/// Walk the frames from `at`: the readable polls; what was lost goes into `info`.
fn walk(file: &File, mut at: u64, info: &mut RecordingInfo) -> std::io::Result<Vec<PollEntry>> {
    let size = info.size;
    let mut polls: Vec<PollEntry> = Vec::new();
    // The key frame the deltas build on (`None`: none yet, or a frame was lost since).
    let mut key: Option<usize> = None;
    let mut unusable = 0_usize;
    let note_unusable = |unusable: &mut usize, skipped: &mut Vec<String>| {
        if *unusable > 0 {
            skipped.push(format!(
                "{unusable} delta frame(s) after it skipped: they build on it (the next key frame reads again)"
            ));
            *unusable = 0;
        }
    };
    while at < size {
        match frame_at(file, at, size)? {
            Some((header, true)) => {
                let next = at + FRAME_HEADER as u64 + u64::from(header.len);
                match header.kind {
                    Some(FrameKind::Key) => {
                        note_unusable(&mut unusable, &mut info.skipped);
                        key = Some(polls.len());
                        polls.push(PollEntry {
                            offset: at,
                            header,
                            key: polls.len(),
                        });
                    }
                    Some(FrameKind::Delta) => match key {
                        Some(k) => polls.push(PollEntry {
                            offset: at,
                            header,
                            key: k,
                        }),
                        None => unusable += 1,
                    },
                    None => {
                        info.skipped.push(format!(
                            "the frame at byte {at} is of a kind this sockscope does not know: skipped"
                        ));
                        key = None;
                    }
                }
                at = next;
            }
            Some((header, false)) => {
                note_unusable(&mut unusable, &mut info.skipped);
                info.skipped.push(format!(
                    "the frame at byte {at} (poll at {}) fails its checksum: skipped",
                    humantime::format_rfc3339_millis(time_of(header.poll_ms))
                ));
                key = None;
                let next = at + FRAME_HEADER as u64 + u64::from(header.len);
                at = match frame_at(file, next, size)? {
                    Some(_) => next,
                    None if next >= size => next,
                    None => match resync(file, at + 1, size)? {
                        Some(found) => found,
                        None => {
                            info.lost_bytes = size - next;
                            break;
                        }
                    },
                };
            }
            None => match resync(file, at + 1, size)? {
                Some(found) => {
                    note_unusable(&mut unusable, &mut info.skipped);
                    info.skipped
                        .push(format!("bytes {at}..{found} hold no frame: skipped"));
                    key = None;
                    at = found;
                }
                None => {
                    // A frame cut off at the end: lost, and nothing after it.
                    info.lost_bytes = size - at;
                    break;
                }
            },
        }
    }
    note_unusable(&mut unusable, &mut info.skipped);
    Ok(polls)
}

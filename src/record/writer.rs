//! Writing a recording: each round becomes one frame (a key frame every `key_every` and
//! whenever a namespace appears, a delta otherwise), built whole in memory and written
//! with one `write`, so that a crash leaves at most the last frame cut off. At a size cap
//! the file is rotated to `FILE.1` and a new one starts with a key frame.

use std::fs::{File, OpenOptions};
use std::hash::BuildHasher as _;
use std::io::{Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::hash::{FastMap, FastSet, KeyedState};
use crate::watch::Round;

use super::convert::{namespace_frame, wire_sockets};
use super::frame::{self, FileHead, FrameKind};
use super::wire::{PollFrame, SocketsFrame, WireSocket, WireTime};
use super::{RecordError, Recording};

/// How a recorder writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderSettings {
    /// The host recorded (the file header says it).
    pub host: String,
    /// Whether every namespace is recorded (`-A`).
    pub every: bool,
    /// The poll interval (the file header says it).
    pub interval: Duration,
    /// A key frame at least this often.
    pub key_every: Duration,
    /// Rotate when the file would pass this size (`None`: never).
    pub max_size: Option<u64>,
}

impl RecorderSettings {
    /// The defaults: a key frame every 5 minutes (a key frame of a million sockets is about
    /// 12 MB; seeking decodes one and the deltas after it), no size cap.
    pub fn new(host: String, every: bool, interval: Duration) -> RecorderSettings {
        RecorderSettings {
            host,
            every,
            interval,
            key_every: Duration::from_secs(300),
            max_size: None,
        }
    }
}

/// Appends rounds to a recording.
#[derive(Debug)]
pub struct Recorder {
    settings: RecorderSettings,
    path: PathBuf,
    file: File,
    /// Bytes in the file.
    written: u64,
    /// When the last key frame's poll was taken (`None`: the next frame is a key frame).
    last_key: Option<SystemTime>,
    /// Per namespace key, a fingerprint of each socket of the last frame, by cookie.
    previous: FastMap<u64, FastMap<u64, u64>>,
    fingerprints: KeyedState,
    /// Frames written, and of those key frames.
    frames: (u64, u64),
}

impl Recorder {
    /// Start a new recording at `path`: created, never opened through a symbolic link nor
    /// over an existing file (`O_CREAT|O_EXCL|O_NOFOLLOW`).
    pub fn create(path: &Path, settings: RecorderSettings) -> Result<Recorder, RecordError> {
        let file = create_new(path)?;
        let mut recorder = Recorder {
            settings,
            path: path.to_owned(),
            file,
            written: 0,
            last_key: None,
            previous: FastMap::default(),
            fingerprints: KeyedState::default(),
            frames: (0, 0),
        };
        recorder.write_header()?;
        Ok(recorder)
    }

    /// Go on with the recording at `path`: it must be a regular file (not a symbolic link)
    /// holding a recording of this major version; a frame cut off at its end is cut away
    /// first, and the next frame is a key frame.
    pub fn append(path: &Path, settings: RecorderSettings) -> Result<Recorder, RecordError> {
        let shown = path.display().to_string();
        let mut file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|source| refused_or_io(&shown, source))?;
        let meta = file.metadata().map_err(|source| RecordError::Io {
            path: shown.clone(),
            source,
        })?;
        if !meta.file_type().is_file() {
            return Err(RecordError::Refused {
                path: shown,
                why: "it is not a regular file: give the path of a recording".to_owned(),
            });
        }
        let recording = Recording::open(path)?;
        let keep = recording.info().size - recording.info().lost_bytes;
        file.set_len(keep).map_err(|source| RecordError::Write {
            path: shown.clone(),
            source,
        })?;
        file.seek(std::io::SeekFrom::Start(keep))
            .map_err(|source| RecordError::Write {
                path: shown.clone(),
                source,
            })?;
        Ok(Recorder {
            settings,
            path: path.to_owned(),
            file,
            written: keep,
            last_key: None,
            previous: FastMap::default(),
            fingerprints: KeyedState::default(),
            frames: (0, 0),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the file now.
    pub fn size(&self) -> u64 {
        self.written
    }

    /// Frames written, and of those key frames.
    pub fn frames(&self) -> (u64, u64) {
        self.frames
    }

    /// Append `round` as one frame (a round that polled nothing writes nothing). At the
    /// size cap the file is rotated first. A write error stops recording: the file stays
    /// readable up to its last whole frame.
    pub fn record(&mut self, round: &Round) -> Result<(), RecordError> {
        if round.namespaces.iter().all(|n| n.snapshot.is_none()) {
            return Ok(());
        }
        let key_due = self.last_key.is_none_or(|last| {
            round.taken_at.duration_since(last).unwrap_or_default() >= self.settings.key_every
        }) || round
            .namespaces
            .iter()
            .any(|n| n.snapshot.is_some() && !self.previous.contains_key(&n.key));
        let (mut kind, mut bytes, mut seen) = self.frame(round, key_due)?;
        if let Some(max) = self.settings.max_size
            && self.written + bytes.len() as u64 > max
            && self.frames.0 > 0
        {
            self.rotate()?;
            (kind, bytes, seen) = self.frame(round, true)?;
        }
        self.file
            .write_all(&bytes)
            .map_err(|source| RecordError::Write {
                path: self.path.display().to_string(),
                source,
            })?;
        self.written += bytes.len() as u64;
        self.frames.0 += 1;
        if kind == FrameKind::Key {
            self.frames.1 += 1;
            self.last_key = Some(round.taken_at);
        }
        self.previous = std::mem::take(&mut seen);
        Ok(())
    }

    /// The frame of `round` (a key frame when `key`), and the fingerprints it leaves.
    #[allow(clippy::type_complexity)]
    fn frame(
        &self,
        round: &Round,
        key: bool,
    ) -> Result<(FrameKind, Vec<u8>, FastMap<u64, FastMap<u64, u64>>), RecordError> {
        let mut namespaces = Vec::with_capacity(round.namespaces.len());
        let mut seen = FastMap::default();
        for namespace in &round.namespaces {
            let Some(snapshot) = &namespace.snapshot else {
                continue;
            };
            let sockets = wire_sockets(snapshot);
            let mut prints: FastMap<u64, u64> = FastMap::default();
            let mut unique = true;
            for s in &sockets {
                if s.cookie == 0
                    || prints
                        .insert(s.cookie, self.fingerprints.hash_one(unchanged_by_time(s)))
                        .is_some()
                {
                    unique = false;
                }
            }
            let frame_sockets = match self.previous.get(&namespace.key) {
                Some(before) if !key && unique => {
                    let changed = sockets
                        .into_iter()
                        .filter(|s| before.get(&s.cookie) != prints.get(&s.cookie))
                        .collect();
                    let now: FastSet<u64> = prints.keys().copied().collect();
                    let mut removed: Vec<u64> = before
                        .keys()
                        .filter(|c| !now.contains(c))
                        .copied()
                        .collect();
                    removed.sort_unstable();
                    SocketsFrame::Changed { changed, removed }
                }
                _ => SocketsFrame::Every(sockets),
            };
            if !unique {
                // Told apart by no cookie: the next frame holds them all again.
                prints.clear();
            }
            seen.insert(namespace.key, prints);
            namespaces.push(namespace_frame(
                namespace.key,
                &namespace.label,
                snapshot,
                frame_sockets,
            ));
        }
        let kind = if key {
            FrameKind::Key
        } else {
            FrameKind::Delta
        };
        let poll = PollFrame {
            taken_at: WireTime::of(round.taken_at),
            every: round.every,
            namespaces,
        };
        Ok((kind, frame::encode_frame(kind, &poll)?, seen))
    }

    /// `FILE` becomes `FILE.1` (replacing an older one) and a new `FILE` starts.
    fn rotate(&mut self) -> Result<(), RecordError> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        let shown = self.path.display().to_string();
        std::fs::rename(&self.path, &old).map_err(|source| RecordError::Write {
            path: shown.clone(),
            source,
        })?;
        self.file = create_new(&self.path)?;
        self.written = 0;
        self.last_key = None;
        self.previous.clear();
        self.write_header()
    }

    fn write_header(&mut self) -> Result<(), RecordError> {
        let head = FileHead {
            host: self.settings.host.clone(),
            created_at: WireTime::of(SystemTime::now()),
            every: self.settings.every,
            interval_ms: u64::try_from(self.settings.interval.as_millis()).unwrap_or(u64::MAX),
        };
        let bytes = frame::file_header(&head)?;
        self.file
            .write_all(&bytes)
            .map_err(|source| RecordError::Write {
                path: self.path.display().to_string(),
                source,
            })?;
        self.written = bytes.len() as u64;
        Ok(())
    }
}

/// Create `path` anew for writing, mode 0640.
fn create_new(path: &Path) -> Result<File, RecordError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| refused_or_io(&path.display().to_string(), source))
}

fn refused_or_io(path: &str, source: std::io::Error) -> RecordError {
    match source.raw_os_error() {
        Some(libc::ELOOP) => RecordError::Refused {
            path: path.to_owned(),
            why:
                "it is a symbolic link: a recording is never written through one; give another path"
                    .to_owned(),
        },
        Some(libc::EEXIST) => RecordError::Refused {
            path: path.to_owned(),
            why: "it exists already: give a new path".to_owned(),
        },
        _ => RecordError::Io {
            path: path.to_owned(),
            source,
        },
    }
}

/// What of a socket tells whether it changed between two polls: every field but its
/// timer's remaining time, which counts down by itself (every TIME_WAIT socket's, every
/// poll). The reader counts it down from the frame that last wrote the socket.
impl std::hash::Hash for WireSocketButTimer<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let s = self.0;
        (s.cookie, s.family, s.state, s.local, s.remote).hash(state);
        (s.recv_q, s.send_q, s.timer.0, s.timer.2, s.uid, s.inode).hash(state);
        (&s.owners, s.cgroup, s.tcp_info).hash(state);
    }
}

/// A socket as [`unchanged_by_time`] hashes it.
struct WireSocketButTimer<'a>(&'a WireSocket);

/// `s` without its timer's remaining time, to hash.
fn unchanged_by_time(s: &WireSocket) -> WireSocketButTimer<'_> {
    WireSocketButTimer(s)
}

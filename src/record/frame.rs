//! The bytes of a recording: the file header, each frame's fixed header, and its payload
//! (a [`PollFrame`] in postcard, compressed with zstd, checked with CRC-32). Every length
//! read from a file is capped before anything is allocated for it.

use serde::{Deserialize, Serialize};

use super::RecordError;
use super::wire::{PollFrame, WireTime};

/// The first eight bytes of every recording.
pub const FILE_MAGIC: [u8; 8] = *b"SSREC\r\n\x1a";
/// The format's major version: a reader refuses a newer one.
pub const MAJOR: u16 = 1;
/// The format's minor version: fields added at the end of types; a reader of the same
/// major version reads any minor one.
pub const MINOR: u16 = 0;
/// The file header's fixed part: magic, major, minor, body length, body CRC-32.
pub const FILE_HEADER_FIXED: usize = 8 + 2 + 2 + 4 + 4;
/// The largest file header body a reader accepts.
pub const MAX_FILE_HEADER_BODY: u32 = 64 * 1024;

/// The first four bytes of every frame.
pub const FRAME_MAGIC: [u8; 4] = *b"SSFR";
/// A frame header: magic, kind, 3 reserved bytes, poll time (ms since the epoch),
/// payload length, uncompressed length, CRC-32.
pub const FRAME_HEADER: usize = 4 + 1 + 3 + 8 + 4 + 4 + 4;
/// The largest compressed payload a reader accepts: more is corruption.
pub const MAX_PAYLOAD: u32 = 256 * 1024 * 1024;
/// The largest uncompressed payload a reader accepts.
pub const MAX_RAW: u32 = 1024 * 1024 * 1024;
/// The zstd level frames are written at (fast; the payload is mostly varints).
const ZSTD_LEVEL: i32 = 3;

/// What the file header's body holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FileHead {
    /// The host recorded.
    pub host: String,
    /// When the file was started.
    pub created_at: WireTime,
    /// Whether every namespace is recorded (`-A`).
    pub every: bool,
    /// The interval asked for, ms.
    pub interval_ms: u64,
}

/// Whether a frame holds every socket or what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// Every socket of every namespace: a seek point.
    Key,
    /// What changed since the previous frame.
    Delta,
}

impl FrameKind {
    fn byte(self) -> u8 {
        match self {
            FrameKind::Key => 1,
            FrameKind::Delta => 2,
        }
    }
}

/// A frame header as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Key or delta (`None`: an unknown kind, from a newer minor version or corruption).
    pub kind: Option<FrameKind>,
    /// The poll's time, ms since the epoch.
    pub poll_ms: u64,
    /// Compressed payload length.
    pub len: u32,
    /// Uncompressed payload length.
    pub raw_len: u32,
    /// CRC-32 of the header fields after the magic (but the CRC) and the payload.
    pub crc: u32,
}

/// The file header's bytes for `head`.
pub fn file_header(head: &FileHead) -> Result<Vec<u8>, RecordError> {
    let body = postcard::to_stdvec(head).map_err(|e| RecordError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(FILE_HEADER_FIXED + body.len());
    out.extend_from_slice(&FILE_MAGIC);
    out.extend_from_slice(&MAJOR.to_le_bytes());
    out.extend_from_slice(&MINOR.to_le_bytes());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The file header's fixed part read: major, minor, body length, CRC; or why `bytes`
/// starts no recording.
pub fn read_file_header_fixed(
    bytes: &[u8; FILE_HEADER_FIXED],
    path: &str,
) -> Result<(u16, u16, u32, u32), RecordError> {
    if bytes[..8] != FILE_MAGIC {
        return Err(RecordError::NotARecording(path.to_owned()));
    }
    let major = u16::from_le_bytes([bytes[8], bytes[9]]);
    let minor = u16::from_le_bytes([bytes[10], bytes[11]]);
    if major > MAJOR {
        return Err(RecordError::NewerMajor {
            path: path.to_owned(),
            major,
            minor,
        });
    }
    if major == 0 {
        return Err(RecordError::NotARecording(path.to_owned()));
    }
    let len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let crc = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    if len > MAX_FILE_HEADER_BODY {
        return Err(RecordError::Corrupt(format!(
            "{path}: its header says {len} bytes follow, more than any header holds"
        )));
    }
    Ok((major, minor, len, crc))
}

/// A whole frame, header and payload, for `poll` (its kind `kind`): one buffer, written
/// with one write.
pub fn encode_frame(kind: FrameKind, poll: &PollFrame) -> Result<Vec<u8>, RecordError> {
    let raw = postcard::to_stdvec(poll).map_err(|e| RecordError::Encode(e.to_string()))?;
    let payload = zstd::bulk::compress(&raw, ZSTD_LEVEL)
        .map_err(|e| RecordError::Encode(format!("compressing a frame: {e}")))?;
    let too_big = || RecordError::Encode(format!("a frame of {} bytes is too large", raw.len()));
    let len = u32::try_from(payload.len()).map_err(|_| too_big())?;
    let raw_len = u32::try_from(raw.len()).map_err(|_| too_big())?;
    if len > MAX_PAYLOAD || raw_len > MAX_RAW {
        return Err(too_big());
    }
    let poll_ms = u64::try_from(
        poll.taken_at
            .time()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    let mut out = Vec::with_capacity(FRAME_HEADER + payload.len());
    out.extend_from_slice(&FRAME_MAGIC);
    out.extend_from_slice(&[kind.byte(), 0, 0, 0]);
    out.extend_from_slice(&poll_ms.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&raw_len.to_le_bytes());
    let crc = frame_crc(&out[4..], &payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The CRC-32 of a frame: its header after the magic up to the CRC, then its payload.
pub fn frame_crc(header_fields: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header_fields);
    hasher.update(payload);
    hasher.finalize()
}

/// A frame header read from `bytes`, or `None` when they do not start with the magic.
pub fn read_frame_header(bytes: &[u8; FRAME_HEADER]) -> Option<FrameHeader> {
    if bytes[..4] != FRAME_MAGIC {
        return None;
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let mut ms = [0; 8];
    ms.copy_from_slice(&bytes[8..16]);
    Some(FrameHeader {
        kind: match bytes[4] {
            1 => Some(FrameKind::Key),
            2 => Some(FrameKind::Delta),
            _ => None,
        },
        poll_ms: u64::from_le_bytes(ms),
        len: u32_at(16),
        raw_len: u32_at(20),
        crc: u32_at(24),
    })
}

/// The poll a frame's payload holds (its CRC already checked), or why it cannot be read.
pub fn decode_payload(header: &FrameHeader, payload: &[u8]) -> Result<PollFrame, String> {
    if header.raw_len > MAX_RAW {
        return Err(format!(
            "it says it holds {} bytes uncompressed, more than any frame",
            header.raw_len
        ));
    }
    let raw = zstd::bulk::decompress(payload, header.raw_len as usize)
        .map_err(|e| format!("it does not decompress: {e}"))?;
    postcard::from_bytes(&raw).map_err(|e| format!("it does not decode: {e}"))
}

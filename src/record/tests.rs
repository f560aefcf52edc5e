use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::convert::{namespace_frame, snapshot_of, wire_sockets};
use super::frame::FILE_HEADER_FIXED;
use super::wire::SocketsFrame;
use super::*;
use crate::model::fixture::socket;
use crate::model::{
    Attribution, Cgroup, Container, EstablishedTier, NetnsLabel, Owners, Pod, Process, Runtime,
    Snapshot, SourceKind, TcpInfo, TcpState, Timer, TimerKind,
};
use crate::watch::{NamespaceRound, Round};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

/// A snapshot with a bit of everything the reports read: owners laid out as the collector
/// lays them, cgroups with containers and pods, tcp_info, counters, limits, a partial
/// attribution, an ESTABLISHED tier. `extra` more ESTABLISHED sockets, cookies from 100.
fn rich(secs: u64, extra: u64) -> Snapshot {
    let mut s = Snapshot {
        taken_at: Some(at(secs)),
        host: "db-1".into(),
        netns: "web".into(),
        netns_inode: Some(4_026_532_000),
        netns_container: Some("docker:abc (web)".into()),
        source: SourceKind::Netlink,
        attribution: Attribution::Partial { unreadable: 2 },
        established_tier: Some(EstablishedTier {
            read_at: at(secs) - Duration::from_millis(1500),
            every: Duration::from_secs(5),
        }),
        ..Snapshot::default()
    };
    s.processes = vec![
        Process {
            pid: 10,
            comm: "nginx".into(),
            cmdline: "nginx: worker".into(),
            descriptors: Some(12),
            fd_limit: Some(1024),
        },
        Process {
            pid: 77,
            comm: "leaky\u{1b}[31m".into(),
            cmdline: String::new(),
            descriptors: None,
            fd_limit: None,
        },
    ];
    let mut sockets = vec![
        socket(TcpState::Listen)
            .local("0.0.0.0:80")
            .inode(7)
            .cookie(1),
        socket(TcpState::CloseWait)
            .local("[2001:db8::1]:80")
            .inode(8)
            .cookie(2),
        socket(TcpState::TimeWait).cookie(3),
        socket(TcpState::SynRecv).cookie(4),
        socket(TcpState::Established).cookie(5).inode(9),
    ];
    sockets[0].send_q = 511;
    sockets[0].recv_q = 3;
    sockets[1].uid = 1000;
    sockets[2].timer = Timer {
        kind: TimerKind::TimeWait,
        expires_ms: 41_000 - u32::try_from(secs).unwrap() * 1000,
        retransmits: 0,
    };
    sockets[4].timer = Timer {
        kind: TimerKind::Retransmit,
        // Counting down, as a backed-off retransmit timer does between two polls.
        expires_ms: 60_000 - u32::try_from(secs).unwrap() * 1000,
        retransmits: 3,
    };
    for i in 0..extra {
        sockets.push(socket(TcpState::Established).cookie(100 + i).inode(1000));
    }
    // Owners as the collector lays them: in socket order, none for a socket held by none.
    let mut owner_index = Vec::new();
    for (i, s) in sockets.iter_mut().enumerate() {
        let held: &[u32] = match i {
            0 => &[0, 1],
            1 => &[1],
            2 | 3 => &[],
            _ => &[0],
        };
        if !held.is_empty() {
            s.owners = Owners {
                start: owner_index.len() as u32,
                len: held.len() as u32,
            };
            owner_index.extend_from_slice(held);
        }
    }
    s.owner_index = owner_index;
    for (i, sock) in sockets.iter().enumerate() {
        s.tcp_infos.push(
            sock.cookie,
            (i == 4).then_some(TcpInfo {
                rtt_us: 211,
                bytes_acked: 9,
                ..TcpInfo::default()
            }),
        );
        s.cgroups.record(sock, if i == 1 { 600 } else { 500 });
    }
    s.cgroups.insert(3, 600);
    s.cgroups.insert(999, 500);
    s.cgroups.set_known(known_cgroups());
    s.sockets = sockets;
    s.counters.tcp_ext = vec![("ListenOverflows".into(), 4 + secs)];
    s.counters.tcp = vec![("MaxConn".into(), -1), ("CurrEstab".into(), 3)];
    s.counters.sockstat = vec![("tw".into(), 1)];
    s.counters.read_at = Some(at(secs) + Duration::from_millis(3));
    s.limits.ip_local_port_range = Some((32768, 60999));
    s.limits.somaxconn = Some(4096);
    s.limits.tcp_syncookies = Some(1);
    s
}

/// A systemd unit's cgroup (500) and a pod's container (600).
fn known_cgroups() -> Vec<Cgroup> {
    vec![
        Cgroup {
            id: 500,
            path: Some("/system.slice/nginx.service".into()),
            container: Some(Arc::new(Container {
                id: "nginx.service".into(),
                name: None,
                runtime: Runtime::Systemd,
                pod: None,
            })),
        },
        Cgroup {
            id: 600,
            path: None,
            container: Some(Arc::new(Container {
                id: "5c1f".repeat(16),
                name: Some("cart".into()),
                runtime: Runtime::Containerd,
                pod: Some(Pod {
                    namespace: Some("shop".into()),
                    name: Some("cart-7d9f".into()),
                    uid: "0b9e-11".into(),
                }),
            })),
        },
    ]
}

fn label() -> NetnsLabel {
    NetnsLabel {
        name: "web".into(),
        inode: 4_026_532_000,
        container: Some("docker:abc (web)".into()),
    }
}

fn round_of(secs: u64, snapshot: Snapshot) -> Round {
    let mut round = Round::empty(at(secs), false);
    round
        .namespaces
        .push(NamespaceRound::polled(0, label(), Ok(Arc::new(snapshot))));
    round.merged = round.namespaces[0].snapshot.clone();
    round.dumped = 1;
    round
}

#[test]
fn a_snapshot_comes_back_from_its_frame_exactly() {
    let snapshot = rich(0, 3);
    let frame = namespace_frame(
        0,
        &label(),
        &snapshot,
        SocketsFrame::Every(wire_sockets(&snapshot)),
    );
    let back = snapshot_of(&frame, &wire_sockets(&snapshot)).unwrap();
    assert_eq!(back, snapshot);
    assert_eq!(
        back.container(&back.sockets[1]).map(Container::label),
        Some(format!("containerd:{} (cart)", &"5c1f".repeat(3)))
    );
}

fn settings() -> RecorderSettings {
    RecorderSettings {
        key_every: Duration::from_secs(4),
        ..RecorderSettings::new("db-1".into(), false, Duration::from_secs(1))
    }
}

/// Ten polls, one a second: sockets come (one more each poll), timers move; a key frame
/// every 4 s.
fn record_ten(path: &Path) -> Vec<Snapshot> {
    let mut recorder = Recorder::create(path, settings()).unwrap();
    let mut written = Vec::new();
    for secs in 0..10 {
        let snapshot = rich(secs, secs);
        recorder.record(&round_of(secs, snapshot.clone())).unwrap();
        written.push(snapshot);
    }
    assert_eq!(recorder.frames(), (10, 3));
    written
}

fn snapshot_at(recording: &mut Recording, i: usize) -> Snapshot {
    let round = recording.round(i).unwrap();
    assert_eq!(round.namespaces.len(), 1);
    assert_eq!(round.namespaces[0].label, label());
    Snapshot::clone(round.merged.as_ref().unwrap())
}

#[test]
fn every_poll_comes_back_exactly_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.ssrec");
    let written = record_ten(&path);
    let mut recording = Recording::open(&path).unwrap();
    assert_eq!(recording.len(), 10);
    assert_eq!(recording.info().key_frames, 3);
    assert_eq!(recording.info().lost_bytes, 0);
    assert!(recording.info().skipped.is_empty());
    for i in [0, 1, 2, 9, 5, 3, 4, 8, 7, 6] {
        assert_eq!(snapshot_at(&mut recording, i), written[i], "poll {i}");
        assert_eq!(recording.taken_at(i), at(i as u64));
    }
    assert_eq!(
        recording.poll_at(at(5) + Duration::from_millis(999)),
        Some(5)
    );
    assert_eq!(recording.poll_at(at(0) - Duration::from_millis(1)), None);
    assert_eq!(recording.namespace_names().unwrap(), vec!["web".to_owned()]);
}

#[test]
fn a_file_cut_anywhere_in_its_last_frame_reads_up_to_the_frame_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.ssrec");
    let written = record_ten(&path);
    let whole = std::fs::read(&path).unwrap();
    let recording = Recording::open(&path).unwrap();
    let last = recording.frame_offset(9) as usize;
    let cut_path = dir.path().join("cut.ssrec");
    for cut in last..whole.len() {
        std::fs::write(&cut_path, &whole[..cut]).unwrap();
        let mut cut_recording = Recording::open(&cut_path).unwrap();
        assert_eq!(cut_recording.len(), 9, "cut at {cut}");
        assert_eq!(cut_recording.info().lost_bytes, (cut - last) as u64);
        assert!(cut_recording.info().skipped.is_empty(), "cut at {cut}");
        assert_eq!(snapshot_at(&mut cut_recording, 8), written[8]);
    }
}

#[test]
fn a_flipped_byte_skips_its_frame_and_the_deltas_on_it_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.ssrec");
    let written = record_ten(&path);
    let recording = Recording::open(&path).unwrap();
    // Poll 5 is a delta after the key frame at 4; 6 and 7 build on it; 8 is a key frame.
    let offset = recording.frame_offset(5) as usize;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offset + 40] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let mut recording = Recording::open(&path).unwrap();
    assert_eq!(recording.len(), 7);
    let times: Vec<SystemTime> = (0..7).map(|i| recording.taken_at(i)).collect();
    assert_eq!(
        times,
        [0, 1, 2, 3, 4, 8, 9].map(at).to_vec(),
        "5 corrupt, 6 and 7 unusable"
    );
    assert_eq!(
        recording.info().skipped,
        vec![
            format!(
                "the frame at byte {offset} (poll at 2027-01-15T08:00:05.000Z) fails its checksum: skipped"
            ),
            "2 delta frame(s) after it skipped: they build on it (the next key frame reads again)"
                .to_owned(),
        ]
    );
    assert_eq!(snapshot_at(&mut recording, 6), written[9]);
    assert_eq!(snapshot_at(&mut recording, 4), written[4]);
}

#[test]
fn a_newer_major_version_is_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.ssrec");
    record_ten(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    bytes[10..12].copy_from_slice(&3u16.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Recording::open(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{} was written by format 2.x; this sockscope reads 1.x: upgrade sockscope",
            path.display()
        )
    );
}

#[test]
fn garbage_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    for garbage in [&b""[..], b"hello", &[0xff; 4096][..]] {
        std::fs::write(&path, garbage).unwrap();
        let err = Recording::open(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "not a sockscope recording (it does not start with the recording's magic bytes)"
            ),
            "{err}"
        );
    }
    // A good magic and a header that claims 4 GiB.
    let mut bytes = super::frame::FILE_MAGIC.to_vec();
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    assert_eq!(bytes.len(), FILE_HEADER_FIXED);
    std::fs::write(&path, &bytes).unwrap();
    let err = Recording::open(&path).unwrap_err().to_string();
    assert!(err.contains("more than any header holds"), "{err}");
    // A good header and then random bytes: no poll, every byte skipped, no panic.
    record_ten(&dir.path().join("ok"));
    let mut bytes = std::fs::read(dir.path().join("ok")).unwrap();
    let header = FILE_HEADER_FIXED + usize::from(bytes[12]);
    bytes.truncate(header);
    bytes.extend((0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&path, &bytes).unwrap();
    let recording = Recording::open(&path).unwrap();
    assert_eq!(recording.len(), 0);
    assert_eq!(recording.info().lost_bytes, 100_000);
}

#[test]
fn a_recording_is_never_written_through_a_link_nor_over_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, b"keep").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for path in [&link, &target] {
        let err = Recorder::create(path, settings()).unwrap_err();
        assert!(matches!(err, RecordError::Refused { .. }), "{err}");
    }
    let err = Recorder::append(&link, settings()).unwrap_err();
    assert!(matches!(err, RecordError::Refused { .. }), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}

#[test]
fn appending_cuts_a_lost_tail_and_goes_on_with_a_key_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.ssrec");
    let written = record_ten(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 5).unwrap();
    let mut recorder = Recorder::append(&path, settings()).unwrap();
    recorder.record(&round_of(10, rich(10, 10))).unwrap();
    assert_eq!(recorder.frames(), (1, 1));
    let mut recording = Recording::open(&path).unwrap();
    assert_eq!(recording.len(), 10);
    assert_eq!(recording.info().lost_bytes, 0);
    assert_eq!(snapshot_at(&mut recording, 8), written[8]);
    assert_eq!(snapshot_at(&mut recording, 9), rich(10, 10));
}

#[test]
fn past_the_size_cap_the_file_rotates_and_starts_with_a_key_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.ssrec");
    let mut recorder = Recorder::create(
        &path,
        RecorderSettings {
            max_size: Some(6000),
            ..settings()
        },
    )
    .unwrap();
    for secs in 0..30 {
        recorder.record(&round_of(secs, rich(secs, secs))).unwrap();
        assert!(recorder.size() <= 6000);
    }
    let mut older = path.clone().into_os_string();
    older.push(".1");
    let mut newer = Recording::open(&path).unwrap();
    let older = Recording::open(Path::new(&older)).unwrap();
    assert!(newer.len() > 1 && older.len() > 1);
    assert!(newer.is_key_frame(0));
    assert_eq!(newer.taken_at(newer.len() - 1), at(29));
    assert_eq!(older.taken_at(older.len() - 1), at(29 - newer.len() as u64));
    let last = newer.len() - 1;
    assert_eq!(snapshot_at(&mut newer, last), rich(29, 29));
}

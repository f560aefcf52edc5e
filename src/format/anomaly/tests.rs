use std::time::{Duration, SystemTime};

use super::*;
use crate::aggregate::{AnomalyKind, Evidence, Maker, PeerCount, Severity, Subject};

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

fn maker(pid: u32, comm: &str, closes: u64) -> MakerCount {
    MakerCount {
        maker: Some(Maker {
            pid,
            comm: comm.to_owned(),
        }),
        closes,
    }
}

fn unattributed(closes: u64) -> MakerCount {
    MakerCount {
        maker: None,
        closes,
    }
}

/// 800 connections closed over 10 s toward `subject`, 700 of them between polls, the
/// rest seen living under 64 ms.
fn churn(subject: Subject, evidence: Evidence) -> Anomaly {
    Anomaly {
        kind: AnomalyKind::ConnectionChurn,
        severity: Severity::Warning,
        subject,
        count: 80,
        threshold: 50,
        critical_threshold: 300,
        first_seen: at(0),
        trend: None,
        hint: "a hint",
        evidence: Evidence {
            churn: Some(ChurnEvidence {
                closes: 800,
                short_lived: 799,
                unseen: 700,
                span: Duration::from_secs(10),
                median_lifetime: Some(Duration::from_millis(64)),
                bytes_per_connection: Some(1_229),
            }),
            ..evidence
        },
        container: None,
        netns: None,
    }
}

#[test]
fn a_churn_destination_says_its_rate_shares_lifetime_bytes_and_makers() {
    let anomaly = churn(
        Subject::Destination("10.0.0.2:5432".parse().unwrap()),
        Evidence {
            makers: vec![unattributed(700), maker(77, "client", 100)],
            ..Evidence::default()
        },
    );
    assert_eq!(
        line(&anomaly, at(5)),
        "WARNING connection_churn destination 10.0.0.2:5432: 80 short-lived connections closed \
         per second (warning 50, critical 300), 80.0 closes/s over 10s, 99% short-lived, 87% \
         closed between polls, median lifetime ≤64ms, 1.2 KiB/connection, made by client[77] \
         ×100, not attributed ×700, raised 5.0s ago"
    );
}

#[test]
fn a_churning_process_lists_its_destinations() {
    let mut anomaly = churn(
        Subject::Process {
            pid: 77,
            comm: "client".to_owned(),
        },
        Evidence {
            peers: vec![
                PeerCount {
                    peer: "10.0.0.2:5432".parse().unwrap(),
                    count: 600,
                },
                PeerCount {
                    peer: "[2001:db8::7]:443".parse().unwrap(),
                    count: 200,
                },
            ],
            ..Evidence::default()
        },
    );
    let churn = anomaly.evidence.churn.as_mut().unwrap();
    churn.span = Duration::from_millis(1_500);
    churn.median_lifetime = None;
    churn.bytes_per_connection = None;
    churn.short_lived = 800;
    assert_eq!(
        line(&anomaly, at(0)),
        "WARNING connection_churn client[77]: 80 short-lived connections closed per second \
         (warning 50, critical 300), 533.3 closes/s over 1.5s, 100% short-lived, 87% closed \
         between polls, destinations 10.0.0.2:5432 ×600, [2001:db8::7]:443 ×200"
    );
}

#[test]
fn a_time_wait_destination_names_the_makers_of_its_connections() {
    let anomaly = Anomaly {
        kind: AnomalyKind::TimeWaitExcess,
        severity: Severity::Critical,
        subject: Subject::Destination("192.0.2.9:443".parse().unwrap()),
        count: 21_000,
        threshold: 5_000,
        critical_threshold: 20_000,
        first_seen: at(0),
        trend: Some(120.0),
        hint: "a hint",
        evidence: Evidence {
            makers: vec![maker(4242, "api\u{1b}[2J", 9_000), unattributed(300)],
            ..Evidence::default()
        },
        container: None,
        netns: None,
    };
    let text = line(&anomaly, at(0));
    assert_eq!(
        text,
        "CRITICAL time_wait_excess destination 192.0.2.9:443: 21000 TIME_WAIT sockets (warning \
         5000, critical 20000), made by api\u{1b}[2J[4242] ×9000, not attributed ×300, trend \
         +120/min"
    );
    assert_eq!(
        crate::format::printable(&text),
        text.replace('\u{1b}', "\\x1b"),
        "the outputs escape the maker's name where they write the line"
    );
    let without = Anomaly {
        evidence: Evidence::default(),
        ..anomaly
    };
    assert!(!line(&without, at(0)).contains("made by"));
}

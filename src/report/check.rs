//! `sockscope check`: a monitoring plugin in the Nagios convention (also read by Icinga,
//! Zabbix and Sensu). One status line with performance data, one line per anomaly after it,
//! and the exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::SystemTime;

use serde::Serialize;

use super::json::{AnomalyDoc, StatesDoc};
use crate::aggregate::{Anomaly, Severity, StateLevels};
use crate::format::{anomaly::line, count_of, printable};
use crate::model::{StateCounts, TcpState};

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Nothing raised.
    Ok,
    /// At least one warning, no critical.
    Warning,
    /// At least one critical anomaly.
    Critical,
    /// The check could not run (poll failed, bad config).
    Unknown,
}

impl Status {
    /// The status of a set of anomalies: the worst severity among them.
    pub fn of(anomalies: &[Anomaly]) -> Status {
        match anomalies.iter().map(|a| a.severity).max() {
            None => Status::Ok,
            Some(Severity::Warning) => Status::Warning,
            Some(Severity::Critical) => Status::Critical,
        }
    }

    /// The plugin exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// What a check saw.
#[derive(Clone, Copy, Debug)]
pub struct CheckOutcome<'a> {
    /// Counts per state of the sockets checked.
    pub counts: &'a StateCounts,
    /// Anomalies raised, most severe first.
    pub anomalies: &'a [Anomaly],
    /// With `--all-netns`, the namespace each anomaly was raised in (its name and inode),
    /// one per anomaly; empty for one namespace. The summary and the lines after the status
    /// line then start each anomaly with `NAME: `, and its JSON object has `netns`.
    pub netns: &'a [(String, u64)],
    /// When the poll was taken.
    pub taken_at: SystemTime,
    /// The levels the rules judge the namespace's counts per state with, given as the
    /// perfdata's warn and crit fields; none with `--all-netns`, whose perfdata sums
    /// namespaces that each have their own limits.
    pub levels: StateLevels,
}

impl CheckOutcome<'_> {
    /// The status.
    pub fn status(&self) -> Status {
        Status::of(self.anomalies)
    }

    /// The one-line summary (what comes after `SOCKSCOPE STATUS - `): each anomaly as
    /// `kind subject count>=level`, a rate with its unit (`80/s>=50/s`).
    pub fn summary(&self) -> String {
        let total = self.counts.total();
        if self.anomalies.is_empty() {
            return format!("{}, no anomalies", count_of(total, "TCP socket"));
        }
        let mut text = String::new();
        for (i, a) in self.anomalies.iter().enumerate() {
            if i > 0 {
                text.push_str("; ");
            }
            let level = match a.severity {
                Severity::Critical => a.critical_threshold,
                Severity::Warning => a.threshold,
            };
            if let Some((name, _)) = self.netns.get(i) {
                let _ = write!(text, "{name}: ");
            }
            let per = if a.kind.about().per_second { "/s" } else { "" };
            let _ = write!(
                text,
                "{} {} {}{per}>={level}{per}",
                a.kind.name(),
                a.subject_label(),
                a.count
            );
        }
        text
    }

    /// Performance data: the total, each state and the number of anomalies, as
    /// `label=value;warn;crit;min`. A state whose namespace-wide count a rule judges
    /// (TIME_WAIT, FIN_WAIT2: see [`StateLevels`]) has its levels as warn and crit, in the
    /// plugin guidelines' range form: a bare `N` alerts above `N`, and a rule raises at its
    /// level, so the field is the level less one (`fin_wait2=0;1999;9999;0` for the default
    /// 2000 and 10000). The others leave them empty.
    pub fn perfdata(&self) -> String {
        let mut data = format!("total={};;;0", self.counts.total());
        for state in TcpState::LIFECYCLE {
            let _ = write!(
                data,
                " {}={};",
                state.name().to_ascii_lowercase(),
                self.counts.get(state)
            );
            if let Some((warning, critical)) = self.levels.of(state) {
                let _ = write!(
                    data,
                    "{};{}",
                    warning.saturating_sub(1),
                    critical.saturating_sub(1)
                );
            } else {
                data.push(';');
            }
            data.push_str(";0");
        }
        let _ = write!(data, " anomalies={};;;0", self.anomalies.len());
        data
    }

    /// Write the plugin text: status line, then one line per anomaly with its hint.
    pub fn render_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "SOCKSCOPE {} - {} | {}",
            self.status().name(),
            plugin_text(&self.summary()),
            self.perfdata()
        )?;
        for (i, a) in self.anomalies.iter().enumerate() {
            let mut text = line(a, self.taken_at);
            if let Some((name, _)) = self.netns.get(i) {
                text = format!("{name}: {text}");
            }
            writeln!(out, "{}", plugin_text(&text))?;
            writeln!(out, "  hint: {}", a.hint)?;
        }
        Ok(())
    }

    /// Write the JSON form: `{status, exit_code, summary, total, states, anomalies}`.
    pub fn render_json(&self, out: &mut dyn Write) -> io::Result<()> {
        #[derive(Serialize)]
        struct Doc<'a> {
            schema_version: u32,
            status: &'static str,
            exit_code: u8,
            summary: String,
            taken_at: String,
            total: u64,
            states: StatesDoc,
            anomalies: Vec<AnomalyDoc<'a>>,
        }
        let status = self.status();
        let doc = Doc {
            schema_version: super::json::SCHEMA_VERSION,
            status: status.name(),
            exit_code: status.exit_code(),
            summary: self.summary(),
            taken_at: humantime::format_rfc3339_millis(self.taken_at).to_string(),
            total: self.counts.total(),
            states: StatesDoc(*self.counts),
            anomalies: self
                .anomalies
                .iter()
                .enumerate()
                .map(|(i, a)| AnomalyDoc(a, self.netns.get(i).map(|(_, inode)| *inode)))
                .collect(),
        };
        serde_json::to_writer(&mut *out, &doc)?;
        writeln!(out)
    }
}

/// Write the UNKNOWN result for a check that could not run.
pub fn render_unknown(message: &str, json: bool, out: &mut dyn Write) -> io::Result<()> {
    if json {
        let doc = serde_json::json!({
            "schema_version": super::json::SCHEMA_VERSION,
            "status": Status::Unknown.name(),
            "exit_code": Status::Unknown.exit_code(),
            "summary": message,
        });
        serde_json::to_writer(&mut *out, &doc)?;
        writeln!(out)
    } else {
        writeln!(out, "SOCKSCOPE UNKNOWN - {}", plugin_text(message))
    }
}

/// `text` safe inside a plugin's output: control characters escaped (see
/// [`printable`]) and `|` written `\x7c`, since Nagios, Icinga and Sensu split a line at its
/// first `|` into text and performance data. Names and paths come from users.
fn plugin_text(text: &str) -> String {
    printable(text).replace('|', "\\x7c")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{AnomalyKind, Evidence, Subject};

    fn leak(comm: &str) -> Anomaly {
        Anomaly {
            kind: AnomalyKind::CloseWaitBacklog,
            severity: Severity::Warning,
            subject: Subject::Process {
                pid: 4242,
                comm: comm.to_owned(),
            },
            count: 25,
            threshold: 20,
            critical_threshold: 100,
            first_seen: SystemTime::UNIX_EPOCH,
            trend: None,
            hint: "a hint",
            evidence: Evidence::default(),
            container: None,
            netns: None,
        }
    }

    fn text(anomalies: &[Anomaly]) -> String {
        let counts = StateCounts::default();
        let outcome = CheckOutcome {
            netns: &[],
            counts: &counts,
            anomalies,
            taken_at: SystemTime::UNIX_EPOCH,
            levels: StateLevels::default(),
        };
        let mut out = Vec::new();
        outcome.render_text(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_worst_severity_sets_the_status_and_the_exit_code() {
        let mut critical = leak("app");
        critical.severity = Severity::Critical;
        for (anomalies, status, code, line) in [
            (
                vec![],
                Status::Ok,
                0,
                "SOCKSCOPE OK - 0 TCP sockets, no anomalies | ",
            ),
            (
                vec![leak("app")],
                Status::Warning,
                1,
                "SOCKSCOPE WARNING - ",
            ),
            (
                vec![leak("app"), critical.clone()],
                Status::Critical,
                2,
                "SOCKSCOPE CRITICAL - ",
            ),
        ] {
            assert_eq!(Status::of(&anomalies), status);
            assert_eq!(status.exit_code(), code);
            assert!(text(&anomalies).starts_with(line), "{}", text(&anomalies));
        }
        assert_eq!(Status::Unknown.exit_code(), 3);
        let mut out = Vec::new();
        render_unknown("no such namespace", false, &mut out).unwrap();
        assert_eq!(out, b"SOCKSCOPE UNKNOWN - no such namespace\n");
    }

    #[test]
    fn a_pipe_or_newline_in_a_process_name_cannot_split_the_plugin_output() {
        let out = text(&[leak("app|bogus=9;;;\nOK")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(
            lines[0],
            "SOCKSCOPE WARNING - close_wait_backlog app\\x7cbogus=9;;;\\x0aOK[4242] 25>=20 | \
             total=0;;;0 listen=0;;;0 syn_sent=0;;;0 syn_recv=0;;;0 established=0;;;0 \
             fin_wait1=0;;;0 fin_wait2=0;;;0 closing=0;;;0 time_wait=0;;;0 close_wait=0;;;0 \
             last_ack=0;;;0 close=0;;;0 anomalies=1;;;0"
        );
        assert_eq!(lines[1].matches('|').count(), 0, "{}", lines[1]);
        assert!(
            lines[1].starts_with("WARNING close_wait_backlog app\\x7cbogus=9;;;\\x0aOK[4242]: 25")
        );
    }

    #[test]
    fn perfdata_gives_the_levels_the_rules_judge_a_state_count_with() {
        let mut counts = StateCounts::default();
        for _ in 0..3 {
            counts.add(TcpState::TimeWait);
        }
        counts.add(TcpState::FinWait2);
        let mut rules = crate::aggregate::RuleConfig::default();
        let limits = crate::model::Limits {
            tcp_max_tw_buckets: Some(262_144),
            ..crate::model::Limits::default()
        };
        let perfdata = |rules: &crate::aggregate::RuleConfig, limits| {
            CheckOutcome {
                netns: &[],
                counts: &counts,
                anomalies: &[],
                taken_at: SystemTime::UNIX_EPOCH,
                levels: rules.state_levels(limits),
            }
            .perfdata()
        };
        // Raised at 80 % (209,716) and 95 % (249,037) of tcp_max_tw_buckets, and at 2,000
        // and 10,000 FIN_WAIT2: a bare N alerts above N.
        assert_eq!(
            perfdata(&rules, &limits),
            "total=4;;;0 listen=0;;;0 syn_sent=0;;;0 syn_recv=0;;;0 established=0;;;0 \
             fin_wait1=0;;;0 fin_wait2=1;1999;9999;0 closing=0;;;0 time_wait=3;209715;249036;0 \
             close_wait=0;;;0 last_ack=0;;;0 close=0;;;0 anomalies=0;;;0"
        );
        rules.fin_wait2.total = 50;
        rules.fin_wait2.total_critical = 60;
        rules.time_wait.enabled = false;
        let data = perfdata(&rules, &limits);
        assert!(data.contains(" fin_wait2=1;49;59;0 "), "{data}");
        assert!(data.contains(" time_wait=3;;;0 "), "{data}");
        // Without the limit the TIME_WAIT levels are unknown; a rule turned off has none.
        rules.time_wait.enabled = true;
        rules.fin_wait2.enabled = false;
        let data = perfdata(&rules, &crate::model::Limits::default());
        assert!(data.contains(" fin_wait2=1;;;0 "), "{data}");
        assert!(data.contains(" time_wait=3;;;0 "), "{data}");
    }

    #[test]
    fn an_unknown_result_cannot_carry_perfdata_in_its_message() {
        let mut out = Vec::new();
        render_unknown("config /tmp/a|b=1 not found", false, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SOCKSCOPE UNKNOWN - config /tmp/a\\x7cb=1 not found\n"
        );
    }

    #[test]
    fn two_anomalies_are_summed_up_in_one_line_apart_by_semicolons() {
        let mut critical = leak("db");
        critical.severity = Severity::Critical;
        critical.count = 150;
        let out = text(&[critical, leak("app")]);
        assert!(
            out.starts_with(
                "SOCKSCOPE CRITICAL - close_wait_backlog db[4242] 150>=100; close_wait_backlog app[4242] 25>=20 | total=0;;;0 "
            ),
            "{out}"
        );
    }

    #[test]
    fn the_json_result_carries_status_exit_code_counts_and_anomalies() {
        let mut counts = StateCounts::default();
        for _ in 0..25 {
            counts.add(crate::model::TcpState::CloseWait);
        }
        counts.add(crate::model::TcpState::Listen);
        let anomalies = [leak("app")];
        let outcome = CheckOutcome {
            counts: &counts,
            anomalies: &anomalies,
            netns: &[],
            taken_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_790_000_000_250),
            levels: StateLevels::default(),
        };
        let mut out = Vec::new();
        outcome.render_json(&mut out).unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["status"], "WARNING");
        assert_eq!(doc["exit_code"], 1);
        assert_eq!(doc["summary"], "close_wait_backlog app[4242] 25>=20");
        assert_eq!(doc["taken_at"], "2026-09-21T14:13:20.250Z");
        assert_eq!(doc["total"], 26);
        assert_eq!(doc["states"]["CLOSE_WAIT"], 25);
        assert_eq!(doc["states"]["LISTEN"], 1);
        assert_eq!(doc["states"]["TIME_WAIT"], 0);
        assert_eq!(doc["anomalies"][0]["kind"], "close_wait_backlog");
        assert_eq!(doc["anomalies"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn a_churn_anomaly_reads_as_a_rate_and_counts_once_in_the_perfdata() {
        let (_, anomalies) = crate::report::churning("cli|ent");
        let out = text(&anomalies);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "SOCKSCOPE WARNING - connection_churn destination 10.0.0.2:5432 80/s>=50/s | \
                 total=0;;;0 listen=0;;;0 syn_sent=0;;;0 syn_recv=0;;;0 established=0;;;0 \
                 fin_wait1=0;;;0 fin_wait2=0;;;0 closing=0;;;0 time_wait=0;;;0 close_wait=0;;;0 \
                 last_ack=0;;;0 close=0;;;0 anomalies=1;;;0",
                "WARNING connection_churn destination 10.0.0.2:5432: 80 short-lived connections \
                 closed per second (warning 50, critical 300), 80.0 closes/s over 10s, 100% \
                 short-lived, 87% closed between polls, median lifetime ≤64ms, 1.2 KiB/connection, \
                 made by cli\\x7cent[77] ×100, not attributed ×700",
                "  hint: connections are opened and closed again within seconds instead of reused: \
                 keep-alive or a connection pool is missing; each one leaves a TIME_WAIT socket \
                 holding a local port for 60 s and costs a handshake; makers are named where a poll \
                 saw their connections (most close between polls, unattributed)",
            ]
        );
        let counts = StateCounts::default();
        let outcome = CheckOutcome {
            netns: &[],
            counts: &counts,
            anomalies: &anomalies,
            taken_at: SystemTime::UNIX_EPOCH,
            levels: StateLevels::default(),
        };
        let mut out = Vec::new();
        outcome.render_json(&mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            doc["summary"],
            "connection_churn destination 10.0.0.2:5432 80/s>=50/s"
        );
        assert_eq!(doc["anomalies"][0]["churn"]["per_second"], 80.0);
        assert_eq!(doc["anomalies"][0]["makers"][1]["comm"], "cli|ent");
        let mut critical = anomalies[0].clone();
        critical.severity = Severity::Critical;
        critical.count = 412;
        critical.subject = Subject::Process {
            pid: 77,
            comm: "client".into(),
        };
        assert_eq!(
            text(&[critical, leak("app")])
                .lines()
                .next()
                .and_then(|l| l.split(" | ").next()),
            Some(
                "SOCKSCOPE CRITICAL - connection_churn client[77] 412/s>=300/s; \
                 close_wait_backlog app[4242] 25>=20"
            )
        );
    }

    #[test]
    fn with_every_namespace_each_anomaly_starts_with_its_namespace() {
        let mut critical = leak("db");
        critical.severity = Severity::Critical;
        let anomalies = [critical, leak("leaky-app")];
        let netns = [
            ("lab-2".to_owned(), 4_026_532_900),
            ("lab-7".to_owned(), 4_026_532_977),
        ];
        let mut counts = StateCounts::default();
        counts.add(TcpState::CloseWait);
        let outcome = CheckOutcome {
            counts: &counts,
            anomalies: &anomalies,
            netns: &netns,
            taken_at: SystemTime::UNIX_EPOCH,
            levels: StateLevels::default(),
        };
        assert_eq!(outcome.status(), Status::Critical);
        let mut out = Vec::new();
        outcome.render_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split(" | ").next(),
            Some(
                "SOCKSCOPE CRITICAL - lab-2: close_wait_backlog db[4242] 25>=100; lab-7: close_wait_backlog leaky-app[4242] 25>=20"
            )
        );
        assert!(lines[0].contains("| total=1;;;0 "), "{}", lines[0]);
        assert!(
            lines[1].starts_with("lab-2: CRITICAL close_wait_backlog db[4242]"),
            "{}",
            lines[1]
        );
        assert!(
            lines[3].starts_with("lab-7: WARNING close_wait_backlog leaky-app[4242]"),
            "{}",
            lines[3]
        );
        let mut out = Vec::new();
        outcome.render_json(&mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["anomalies"][0]["netns"], 4_026_532_900_u64);
        assert_eq!(doc["anomalies"][1]["netns"], 4_026_532_977_u64);
    }
}

//! The exporter with real components: a real Prometheus (Debian's package, unpacked by
//! `.ci/run` into /opt/prometheus, or where `SOCKSCOPE_PROMETHEUS_BIN` points) scrapes
//! `sockscope serve` watching a lab namespace with a staged CLOSE_WAIT leak, and its HTTP
//! API must show the staged count, the anomaly with the leaking process's name, and the
//! shipped alert rule firing. `promtool` checks the exposition, the rules and their unit
//! tests; the Grafana dashboard's queries name only metrics the exposition has. Without
//! root (the lab) or the Prometheus binaries these skip loudly, and fail under CI=true.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sockscope::aggregate::AnomalyKind;
use sockscope::config::Config;
use sockscope::lab::{Lab, require_root, skip};
use sockscope::model::{Family, TcpState};
use sockscope::serve::Format;
use sockscope::serve::metrics::{NamespaceMetrics, SelfMetrics, TopLimits, render};

use crate::support::synthetic::Synth;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");
const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");

/// Where `prometheus` and `promtool` are: `$SOCKSCOPE_PROMETHEUS_BIN`, else where
/// `.ci/run` unpacks them, else on PATH.
fn prometheus_bin(tool: &str) -> Option<PathBuf> {
    let dirs = [
        std::env::var_os("SOCKSCOPE_PROMETHEUS_BIN").map(PathBuf::from),
        Some(PathBuf::from("/opt/prometheus/usr/bin")),
    ];
    dirs.into_iter()
        .flatten()
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join(tool))
                    .find(|p| p.is_file())
            })
        })
}

fn require_tool(test: &str, tool: &str) -> Option<PathBuf> {
    let found = prometheus_bin(tool);
    if found.is_none() {
        skip(
            test,
            &format!(
                "no {tool}: run .ci/run, or `apt-get download prometheus && dpkg -x prometheus_*.deb /opt/prometheus`, or set SOCKSCOPE_PROMETHEUS_BIN"
            ),
        );
    }
    found
}

/// A child process killed (and reaped) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on `addr`: the body of a 200, or `None`.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_owned()))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of an instant query.
fn query(prometheus: SocketAddr, promql: &str) -> Vec<Value> {
    let body = http_get(
        prometheus,
        &format!("/api/v1/query?query={}", percent_encode(promql)),
    )
    .unwrap_or_default();
    serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
}

/// Ask `promql` until `done` holds of its result, for at most `within`.
fn wait_for(
    prometheus: SocketAddr,
    promql: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let result = query(prometheus, promql);
        if done(&result) || Instant::now() > deadline {
            return result;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A sample's value as Prometheus's API writes it (`"25"`).
fn value_of(sample: &Value) -> &str {
    sample["value"][1].as_str().unwrap_or_default()
}

/// The shipped rules with `for:` cut to zero, so that a firing alert is seen in seconds;
/// the expressions are the shipped ones.
fn rules_without_for(dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(Path::new(ASSETS).join("prometheus/alerts.yml")).unwrap();
    let quick: String = shipped
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for: ") {
                format!("{}for: 0s", &l[..l.len() - l.trim_start().len()])
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join("alerts.yml");
    std::fs::write(&path, quick).unwrap();
    path
}

#[test]
fn serve_real_prometheus_sees_a_staged_close_wait_leak_and_its_alert_fires() {
    let name = "serve_real_prometheus_sees_a_staged_close_wait_leak_and_its_alert_fires";
    if !require_root(name) {
        return;
    }
    let Some(prometheus_exe) = require_tool(name, "prometheus") else {
        return;
    };
    let mut lab = Lab::new(Path::new(BIN)).unwrap();
    lab.close_wait_leak(Family::Inet, "leaky-app", 25).unwrap();

    let serve_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _serve = Killed(
        Command::new(BIN)
            .args(["serve", "--netns", lab.monitored(), "--interval", "1s"])
            .args(["--listen", &serve_addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_without_for(dir.path());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: tcp-monitor\n    static_configs:\n      - targets: ['{serve_addr}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let prometheus_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _prometheus = Killed(
        Command::new(prometheus_exe)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prometheus_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let within = Duration::from_secs(60);
    let close_wait = wait_for(
        prometheus_addr,
        "sockscope_tcp_sockets{state=\"close_wait\"}",
        within,
        |r| r.len() == 1 && value_of(&r[0]) == "25",
    );
    assert_eq!(close_wait.len(), 1, "{close_wait:?}");
    assert_eq!(value_of(&close_wait[0]), "25");
    assert_eq!(close_wait[0]["metric"]["netns"], lab.monitored());

    let anomaly = wait_for(
        prometheus_addr,
        "sockscope_anomaly{kind=\"close_wait_backlog\"}",
        within,
        |r| !r.is_empty(),
    );
    assert_eq!(anomaly.len(), 1, "{anomaly:?}");
    assert_eq!(value_of(&anomaly[0]), "1");
    assert_eq!(anomaly[0]["metric"]["subject"], "leaky-app");
    assert_eq!(anomaly[0]["metric"]["severity"], "warning");

    let alert = wait_for(
        prometheus_addr,
        "ALERTS{alertname=\"SockscopeCloseWaitBacklog\",alertstate=\"firing\"}",
        within,
        |r| !r.is_empty(),
    );
    assert_eq!(alert.len(), 1, "{alert:?}");
    assert_eq!(alert[0]["metric"]["subject"], "leaky-app");
    assert_eq!(alert[0]["metric"]["netns"], lab.monitored());

    let process = query(
        prometheus_addr,
        "sockscope_process_tcp_sockets{comm=\"leaky-app\",state=\"close_wait\"}",
    );
    assert_eq!(process.len(), 1, "{process:?}");
    assert_eq!(value_of(&process[0]), "25");
    scrapes_are_kept_alive_and_gzipped(serve_addr);
    exporter_is_itself_in_order(name, prometheus_addr, serve_addr, dir.path());
    let healthy = http_get(serve_addr, "/healthz");
    assert_eq!(healthy.as_deref(), Some("ok\n"));
}

/// What the real Prometheus of `test` sees of the exporter itself, under a job that is not
/// called `sockscope`: none of the exporter's alerts, its build info with the revision, its
/// process metrics; and promtool lints the real page without a word.
fn exporter_is_itself_in_order(
    name: &str,
    prometheus_addr: SocketAddr,
    serve_addr: SocketAddr,
    dir: &Path,
) {
    // The exporter's own rules name no job: under job "tcp-monitor" none of them fires
    // (SockscopeAbsent, whose `for` is cut to zero here, may fire at the first evaluation,
    // before the first scrape; it must clear once the target is scraped).
    let exporter_alerts = wait_for(
        prometheus_addr,
        "ALERTS{alertname=~\"SockscopeDown|SockscopeAbsent|SockscopePollsFailing|SockscopePollsStale\"}",
        Duration::from_secs(10),
        <[Value]>::is_empty,
    );
    assert_eq!(exporter_alerts, Vec::<Value>::new());
    let build = query(prometheus_addr, "sockscope_build_info");
    assert_eq!(build.len(), 1, "{build:?}");
    assert_eq!(
        build[0]["metric"]["revision"],
        sockscope::serve::metrics::REVISION
    );
    assert_eq!(build[0]["metric"]["job"], "tcp-monitor");
    let fds = query(
        prometheus_addr,
        "process_open_fds > 0 and process_max_fds > 0",
    );
    assert_eq!(fds.len(), 1, "{fds:?}");
    // The real page passes promtool's lint too.
    let page = http_get(serve_addr, "/metrics").unwrap();
    let (code, out) = promtool(name, &["check", "metrics"], Some(&page), dir).unwrap();
    assert_eq!((code, out.as_str()), (0, ""), "{page}");
}

/// `ss -Htn state STATE` of the sockets whose local port is `port`: one line each.
fn ss_lines(state: &str, port: u16) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-Htn", "state", state, &format!("( sport = :{port} )")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Prometheus, scraping every second, keeps one connection to the exporter (the same
/// one three seconds apart) and leaves no TIME_WAIT on the exporter's host; a scrape
/// asking for gzip as Prometheus does (`curl --compressed` sends `Accept-Encoding`) gets
/// `Content-Encoding: gzip`, which decodes to the same page.
fn scrapes_are_kept_alive_and_gzipped(serve_addr: SocketAddr) {
    let port = serve_addr.port();
    let before = ss_lines("established", port);
    std::thread::sleep(Duration::from_secs(3));
    let after = ss_lines("established", port);
    assert_eq!(
        before.len(),
        1,
        "Prometheus's scrape connection: {before:?}"
    );
    assert_eq!(before, after, "Prometheus reuses its connection");
    assert_eq!(ss_lines("time-wait", port), Vec::<String>::new());

    let url = format!("http://{serve_addr}/metrics");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5", "-D", "-"])
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {args:?}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), body.to_owned())
    };
    let (gzip_head, gzip_body) = curl(&["--compressed"]);
    let (plain_head, plain_body) = curl(&[]);
    assert!(
        gzip_head.contains("\r\nContent-Encoding: gzip\r\n"),
        "{gzip_head}"
    );
    assert!(!plain_head.contains("Content-Encoding"), "{plain_head}");
    let length = |head: &str| -> usize {
        head.lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        length(&gzip_head) * 3 < length(&plain_head),
        "{gzip_head}\n{plain_head}"
    );
    // The page may change between the two scrapes (a poll a second): compare the lines
    // that do not move.
    let stable = |body: &str| -> Vec<String> {
        body.lines()
            .filter(|l| l.starts_with("# ") || l.starts_with("sockscope_tcp_sockets{"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(stable(&gzip_body), stable(&plain_body));
    assert!(
        gzip_body.contains("state=\"close_wait\"} 25\n"),
        "{gzip_body}"
    );
}

/// An exposition with a sample in every family: the leak of the other tests, a listener,
/// TIME_WAIT, every kernel counter and limit, processes in a Docker container and in a
/// Kubernetes pod, names with terminal escapes, and the exporter's own metrics.
fn full_exposition(format: Format) -> String {
    use sockscope::collect::own_process::OwnProcess;
    use sockscope::model::{Container, Runtime};
    use sockscope::serve::metrics::CounterFile;
    use sockscope::serve::metrics::KERNEL_COUNTERS;
    let mut s = Synth::at(100);
    let nginx = s.process(1234, "nginx");
    s.listener("10.0.0.1:80", 3, 128, &[nginx]);
    s.many(
        25,
        TcpState::CloseWait,
        "10.0.0.1:80",
        "192.0.2.7",
        &[nginx],
    );
    let evil = s.process(66, "\u{1b}]2;pwned\u{7}\n\"x\\");
    s.many(20, TcpState::CloseWait, "10.0.0.3:81", "192.0.2.9", &[evil]);
    let cart = s.process(20, "cart");
    s.many(
        2,
        TcpState::Established,
        "10.0.0.2:8080",
        "192.0.2.8",
        &[cart],
    );
    s.cgroup(
        10,
        "/system.slice/docker-3f2a.scope",
        Some(Container {
            id: "3f2a1c9e0b7d5a6b".to_owned(),
            name: Some("web\u{1b}[31m\u{7f}\u{9b}".to_owned()),
            runtime: Runtime::Docker,
            pod: None,
        }),
    );
    s.cart_pod(20, Some("cart"));
    s.in_cgroup(evil, 10);
    s.in_cgroup(cart, 20);
    s.many_to(3, TcpState::TimeWait, "10.0.0.1", "192.0.2.9:443", &[]);
    s.sockstat("orphan", 2);
    for (i, c) in KERNEL_COUNTERS.iter().enumerate() {
        if c.file == CounterFile::TcpExt {
            s.tcp_ext(c.kernel, i as u64);
        }
    }
    let mut snapshot = s.build();
    snapshot.counters.tcp = KERNEL_COUNTERS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.file == CounterFile::Tcp)
        .map(|(i, c)| (c.kernel.to_owned(), i as i64))
        .collect();
    snapshot.netns_inode = Some(4_026_531_840);
    let l = &mut snapshot.limits;
    l.ip_local_port_range = Some((32768, 60999));
    l.tcp_max_tw_buckets = Some(262_144);
    l.tcp_max_orphans = Some(65_536);
    l.tcp_max_syn_backlog = Some(4096);
    l.somaxconn = Some(4096);
    l.tcp_syncookies = Some(1);
    l.tcp_fin_timeout = Some(60);
    let mut aggregator = Config::default().aggregator();
    let summary = aggregator.ingest(&snapshot);
    let ns = NamespaceMetrics::of(summary, &summary.anomalies, &snapshot, TopLimits::default());
    let me = SelfMetrics {
        poll_duration: Some(Duration::from_millis(3)),
        polls: 1,
        last_success: snapshot.taken_at,
        last_poll_ok: true,
        process: Some(OwnProcess::read()),
        ..SelfMetrics::default()
    };
    render(&[&ns], &me, format)
}

fn promtool(test: &str, args: &[&str], stdin: Option<&str>, dir: &Path) -> Option<(i32, String)> {
    let exe = require_tool(test, "promtool")?;
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code().unwrap_or(-1), text))
}

#[test]
fn serve_promtool_check_metrics_accepts_the_exposition() {
    let name = "serve_promtool_check_metrics_accepts_the_exposition";
    let text = full_exposition(Format::Text);
    let Some((code, out)) = promtool(name, &["check", "metrics"], Some(&text), Path::new(ASSETS))
    else {
        return;
    };
    assert_eq!((code, out.as_str()), (0, ""), "{text}");
    // Every family has a sample: the page checked is the whole page.
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for family in &families {
        assert!(
            text.lines()
                .any(|l| !l.starts_with('#') && l.split(['{', ' ']).next() == Some(*family)),
            "no sample of {family} in:\n{text}"
        );
    }
    assert_eq!(families.len(), 44, "{families:?}");
    for label in [
        "namespace=\"shop\",pod=\"cart-0\"",
        "comm=\"␛]2;pwned␇␊\\\"x\\\\\"",
    ] {
        assert!(text.contains(label), "{label} missing from:\n{text}");
    }
}

#[test]
fn serve_promtool_check_and_test_rules_pass_on_the_shipped_rules() {
    let name = "serve_promtool_check_and_test_rules_pass_on_the_shipped_rules";
    let dir = Path::new(ASSETS).join("prometheus");
    let Some((code, out)) = promtool(name, &["check", "rules", "alerts.yml"], None, &dir) else {
        return;
    };
    assert_eq!(code, 0, "{out}");
    // One rule per anomaly kind and four for the exporter itself.
    let found = format!("SUCCESS: {} rules found", AnomalyKind::ALL.len() + 4);
    assert!(out.contains(&found), "{out}");
    let (code, out) = promtool(name, &["test", "rules", "alerts_test.yml"], None, &dir).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

/// The CamelCase alert name of a kind: `close_wait_backlog` → `SockscopeCloseWaitBacklog`.
fn alert_name(kind: AnomalyKind) -> String {
    let camel: String = kind
        .name()
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("Sockscope{camel}")
}

#[test]
fn serve_every_anomaly_kind_has_its_alert_rule() {
    let text = std::fs::read_to_string(Path::new(ASSETS).join("prometheus/alerts.yml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let rules: Vec<(String, String)> = doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
        .map(|r| {
            (
                r["alert"].as_str().unwrap().to_owned(),
                r["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for &kind in AnomalyKind::ALL {
        let expected = (
            alert_name(kind),
            format!("sockscope_anomaly{{kind=\"{}\"}} == 1", kind.name()),
        );
        assert!(
            rules.contains(&expected),
            "no rule {expected:?} in alerts.yml"
        );
    }
    let names: Vec<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    for exporter in [
        "SockscopeDown",
        "SockscopePollsFailing",
        "SockscopePollsStale",
    ] {
        assert!(names.contains(&exporter), "{exporter}");
    }
    assert_eq!(rules.len(), AnomalyKind::ALL.len() + 4);
}

#[test]
fn serve_every_metric_the_grafana_dashboard_queries_is_in_the_exposition() {
    let text = std::fs::read_to_string(Path::new(ASSETS).join("grafana/sockscope.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = variable["definition"].as_str() {
            exprs.push(q.to_owned());
        }
    }
    let exposition = full_exposition(Format::Text);
    let samples: Vec<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    let mut queried = Vec::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("sockscope_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            queried.push(name);
        }
    }
    queried.sort();
    queried.dedup();
    assert!(queried.len() >= 8, "{queried:?}");
    for name in &queried {
        assert!(
            samples.contains(&name.as_str()),
            "the dashboard queries {name}, which the exposition lacks"
        );
    }
}

#[test]
fn serve_all_netns_textfile_holds_the_lab_namespace_with_its_leak() {
    let name = "serve_all_netns_textfile_holds_the_lab_namespace_with_its_leak";
    if !require_root(name) {
        return;
    }
    let mut lab = Lab::new(Path::new(BIN)).unwrap();
    lab.close_wait_leak(Family::Inet, "leaky-app", 25).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sockscope.prom");
    let _serve = Killed(
        Command::new(BIN)
            .args(["serve", "-A", "--interval", "1s", "--textfile"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let netns = lab.monitored();
    let close_wait =
        format!("sockscope_tcp_sockets{{netns=\"{netns}\",state=\"close_wait\"}} 25\n");
    let anomaly = format!(
        "sockscope_anomaly{{netns=\"{netns}\",kind=\"close_wait_backlog\",severity=\"warning\",subject=\"leaky-app\"}} 1\n"
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains(&close_wait) && text.contains(&anomaly) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(text.contains(&close_wait), "{text}");
    assert!(text.contains(&anomaly), "{text}");
    assert!(text.contains("sockscope_tcp_sockets{netns=\"host\",state=\"listen\"}"));
}

/// `GET path`: status and body, whatever the status.
fn http_status(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn wait_status(addr: SocketAddr, path: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = http_status(addr, path).unwrap_or((0, String::new()));
        if done(got.0, &got.1) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_follows_a_named_namespace_that_is_deleted_and_made_again() {
    let name = "serve_follows_a_named_namespace_that_is_deleted_and_made_again";
    if !require_root(name) {
        return;
    }
    let netns = crate::support::netns::NamedNetns::add("serve-follow");
    let first = netns.id().inode;
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _serve = Killed(
        Command::new(BIN)
            .args(["serve", "--netns", &netns.name, "--interval", "1s"])
            .args(["--listen", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert_eq!(
        wait_status(addr, "/healthz", |s, _| s == 200),
        (200, "ok\n".to_owned())
    );

    netns.delete();
    let (status, body) = wait_status(addr, "/healthz", |s, _| s == 503);
    assert_eq!(status, 503);
    assert_eq!(
        body,
        format!(
            "the latest poll failed: netns {}: {} leads to no namespace any more (deleted, or its process exited): the last values stay until it is back\n",
            netns.name, netns.name
        )
    );
    let metrics = http_get(addr, "/metrics").unwrap();
    assert!(metrics.contains(&format!(
        "sockscope_netns_info{{netns=\"{}\",inode=\"{first}\"}} 1\n",
        netns.name
    )));
    assert!(metrics.contains("sockscope_last_poll_success 0\n"));

    netns.create();
    let second = netns.id().inode;
    assert_ne!(first, second);
    assert_eq!(
        wait_status(addr, "/healthz", |s, _| s == 200),
        (200, "ok\n".to_owned())
    );
    let metrics = http_get(addr, "/metrics").unwrap();
    assert!(
        metrics.contains(&format!(
            "sockscope_netns_info{{netns=\"{}\",inode=\"{second}\"}} 1\n",
            netns.name
        )),
        "{metrics}"
    );
}

/// Where the shipped rules' runbooks live: the README, section by section.
const RUNBOOKS: &str = "https://github.com/sockscope/sockscope/blob/main/README.md";

/// The anchors GitHub gives the README's headings: lower case, punctuation dropped,
/// spaces as hyphens (`### \`sockscope serve\` — Prometheus exporter` →
/// `sockscope-serve--prometheus-exporter`).
fn readme_anchors() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

fn shipped_rules() -> Vec<serde_norway::Value> {
    let text = std::fs::read_to_string(Path::new(ASSETS).join("prometheus/alerts.yml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
        .collect()
}

#[test]
fn serve_every_alert_links_its_runbook_in_a_readme_section() {
    let anchors = readme_anchors();
    let mut linked = Vec::new();
    for rule in shipped_rules() {
        let name = rule["alert"].as_str().unwrap();
        let url = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_default();
        let anchor = url
            .strip_prefix(RUNBOOKS)
            .and_then(|rest| rest.strip_prefix('#'))
            .unwrap_or_else(|| panic!("{name}: runbook_url {url:?} is not {RUNBOOKS}#SECTION"));
        assert!(
            anchors.iter().any(|a| a == anchor),
            "{name}: the README has no section #{anchor}"
        );
        linked.push((name.to_owned(), anchor.to_owned()));
    }
    assert_eq!(linked.len(), AnomalyKind::ALL.len() + 4);
    let exporter: Vec<&str> = linked
        .iter()
        .filter(|(_, a)| a == "sockscope-serve--prometheus-exporter")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        exporter,
        [
            "SockscopeDown",
            "SockscopeAbsent",
            "SockscopePollsFailing",
            "SockscopePollsStale"
        ]
    );
}

#[test]
fn serve_no_alert_rule_assumes_a_job_name() {
    for rule in shipped_rules() {
        let expr = rule["expr"].as_str().unwrap();
        assert!(
            !expr.contains("job=") && !expr.contains("job!"),
            "{}: {expr}",
            rule["alert"].as_str().unwrap()
        );
    }
}

#[test]
fn serve_grafana_dashboard_filters_by_job_instance_and_netns_over_the_rate_interval() {
    let text = std::fs::read_to_string(Path::new(ASSETS).join("grafana/sockscope.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "job", "instance", "netns"]);
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(exprs.len(), 20);
    for expr in &exprs {
        // Every range is Grafana's rate interval (at least four scrapes), never a fixed one.
        let ranges: Vec<&str> = expr
            .match_indices('[')
            .map(|(at, _)| &expr[at..=at + expr[at..].find(']').unwrap()])
            .collect();
        assert!(ranges.iter().all(|r| *r == "[$__rate_interval]"), "{expr}");
        // Every selector follows the job and instance variables; the namespace's metrics
        // the netns variable.
        for selector in expr.split('{').skip(1) {
            let selector = &selector[..selector.find('}').unwrap()];
            assert!(
                selector.starts_with("job=~\"$job\", instance=~\"$instance\""),
                "{expr}"
            );
        }
        let exporter_own = ["sockscope_poll_", "(process_", "process_resident"]
            .iter()
            .any(|m| expr.contains(m));
        assert_eq!(expr.contains("netns=~\"$netns\""), !exporter_own, "{expr}");
    }
    assert!(
        exprs
            .iter()
            .any(|e| e.contains("sockscope_tcp_retransmitted_segments_total"))
    );
    assert!(
        exprs
            .iter()
            .any(|e| e.contains("sockscope_tcp_resets_sent_total"))
    );
}

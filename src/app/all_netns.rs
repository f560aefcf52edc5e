//! `snapshot --all-netns` and `check --all-netns`: every network namespace of the host,
//! each dumped once by its own collector and judged by its own aggregator (kernel limits
//! and counters are per namespace), one /proc walk for all of them.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use crate::cli::{Cli, OneShotArgs};
use crate::collect::all_netns::DESCRIPTORS_PER_NAMESPACE;
use crate::filter::Filter;
use crate::model::{NetnsLabel, Snapshot, StateCounts};
use crate::report::check::{CheckOutcome, Status};
use crate::report::{self, NamespaceReport};
use crate::watch::{Collectors, Judges, Policy, Watcher};

use super::one_shot::{self, Mode};
use super::{
    collect_options, finish_output, load_config, stdout_is_open, warn_attribution, write_check,
};

/// `-A` runs as root only: it says why and what to do.
pub(super) fn require_root() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "-A needs root: entering the other network namespaces takes CAP_SYS_ADMIN, and reading their sockets' owners takes reading every process's descriptors; run it with sudo"
        );
    }
    Ok(())
}

/// The collectors of a mode that watches the namespace the flags name, or with `-A` every
/// one (root required; `--netns-match` must name one; the ones past the descriptor limit
/// said), polled without `tcp_info`: `sockscope events` and `sockscope record`.
pub(super) fn open_watched(
    cli: &Cli,
    filter: &Filter,
    policy: Policy,
) -> anyhow::Result<(Collectors, crate::collect::CollectOptions)> {
    let every = cli.target.all_netns;
    if every {
        require_root()?;
    }
    let mut options = super::collect_options(cli);
    options.tcp_info = false;
    let collectors = Collectors::open(&options, every, policy)?;
    if every {
        warn_over_limit(&collectors);
        require_netns_match(filter, &collectors)?;
    }
    Ok((collectors, options))
}

/// One line on stderr when the open-file limit left namespaces out.
pub(super) fn warn_over_limit(collectors: &Collectors) {
    if collectors.over_limit() > 0 {
        crate::stderr_line!(
            "sockscope: the open-file limit leaves room for {} namespaces ({DESCRIPTORS_PER_NAMESPACE} descriptors each): skipped {} more; raise it (`ulimit -n`) to see them",
            collectors.labels().len(),
            collectors.over_limit()
        );
    }
}

/// With `--netns-match`, an error unless it names one of the namespaces `collectors`
/// opened: a name that matches nothing would otherwise judge nothing and say OK (check),
/// or list nothing and look like a quiet host (snapshot, serve). The message lists the
/// names.
pub(super) fn require_netns_match(filter: &Filter, collectors: &Collectors) -> anyhow::Result<()> {
    /// How many namespaces the message names before `and N more`.
    const LISTED: usize = 20;
    if filter.netns.is_empty() {
        return Ok(());
    }
    let labels = collectors.labels();
    let named = |l: &NetnsLabel| filter.netns.iter().any(|n| n.names(&l.name, l.inode));
    if labels.iter().any(named) {
        return Ok(());
    }
    let asked: Vec<String> = filter.netns.iter().map(ToString::to_string).collect();
    let mut known: Vec<String> = labels
        .iter()
        .take(LISTED)
        .map(|l| format!("{} ({})", l.name, l.inode))
        .collect();
    if labels.len() > LISTED {
        known.push(format!("and {} more", labels.len() - LISTED));
    }
    anyhow::bail!(
        "--netns-match {}: no namespace has that name or inode; the namespaces here are {} (names as `sockscope snapshot -A` prints them, or inodes)",
        asked.join(","),
        known.join(", ")
    )
}

/// Each namespace's key and one-shot snapshot, the host's first.
pub(super) type DumpedEach = Vec<(u64, Arc<Snapshot>)>;

/// Every namespace dumped once (the host's first), each with its key, and the watcher
/// whose judges are to judge them (with `keep`, on the sockets it keeps). A namespace
/// whose dump fails is left out with one line on stderr.
fn dump_all(
    cli: &Cli,
    args: &OneShotArgs,
    mode: Mode,
    tcp_info: bool,
    keep: Option<&Filter>,
) -> anyhow::Result<(DumpedEach, Judges)> {
    let config = load_config(cli)?;
    let mut options = collect_options(cli);
    options.tcp_info = tcp_info;
    require_root()?;
    let collectors = Collectors::open(&options, true, Policy::one_shot())?;
    warn_over_limit(&collectors);
    require_netns_match(&cli.filters.filter(), &collectors)?;
    let window = mode.counter_window(args.window);
    let mut watcher = Watcher::new(collectors, one_shot::judges(&config, keep));
    if one_shot::listens(&config, window) {
        watcher = watcher.with_destroyed(&options, true);
    }
    let round = watcher.dump_once(window);
    one_shot::warn_unheard(&round);
    if let Some(why) = &round.failure {
        anyhow::bail!("{why}");
    }
    let mut polled = Vec::with_capacity(round.namespaces.len());
    for namespace in round.namespaces {
        match namespace.fresh_snapshot() {
            Some(snapshot) => polled.push((namespace.key, Arc::clone(snapshot))),
            None => crate::stderr_line!(
                "sockscope: netns {} (inode {}) left out: {}",
                namespace.label.name,
                namespace.label.inode,
                namespace.error.as_deref().unwrap_or("not dumped")
            ),
        }
    }
    if let Some((_, snapshot)) = polled.first() {
        warn_attribution(&snapshot.attribution);
    }
    // The collectors (13 descriptors and buffers a namespace) go before the report.
    Ok((polled, watcher.into_judges()))
}

/// `sockscope snapshot -A`.
pub(super) fn snapshot(cli: &Cli, args: &OneShotArgs) -> anyhow::Result<u8> {
    stdout_is_open()?;
    let (polled, judges) = dump_all(cli, args, Mode::Snapshot, args.json, None)?;
    write_snapshot(cli, args, polled, judges)
}

/// Write the report of every namespace's snapshot (live or recorded), judged by `judges`.
pub(super) fn write_snapshot(
    cli: &Cli,
    args: &OneShotArgs,
    polled: DumpedEach,
    mut judges: Judges,
) -> anyhow::Result<u8> {
    let namespaces: Vec<NamespaceReport> = polled
        .into_iter()
        .map(|(key, snapshot)| NamespaceReport {
            anomalies: one_shot::judge(&mut judges, key, &snapshot),
            snapshot,
        })
        .collect();
    let filter = cli.filters.filter();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let written = if args.json {
        report::json::render_all(&namespaces, &filter, &mut out)
    } else {
        report::text::render_all(&namespaces, &filter, &mut out)
    };
    finish_output(written.and_then(|()| out.flush()))?;
    Ok(0)
}

/// `sockscope check -A`: the worst status over every namespace, perfdata of the totals,
/// each anomaly prefixed with its namespace. With `--netns-match`, only the namespaces it
/// names are judged. Anything that stops it is UNKNOWN (3).
pub(super) fn check(cli: &Cli, args: &OneShotArgs) -> u8 {
    if let Err(e) = stdout_is_open() {
        crate::stderr_line!("sockscope: {e:#}");
        return Status::Unknown.exit_code();
    }
    let filter = cli.filters.filter();
    check_of(
        dump_all(cli, args, Mode::Check, false, Some(&filter)),
        args.json,
    )
}

/// The check over every namespace's snapshot (live or recorded), or UNKNOWN for why there
/// are none.
pub(super) fn check_of(dumped: anyhow::Result<(DumpedEach, Judges)>, json: bool) -> u8 {
    match dumped {
        Ok((polled, mut judges)) => {
            let mut counts = StateCounts::default();
            let mut raised = Vec::new();
            let taken_at = polled.first().and_then(|(_, s)| s.taken_at);
            for (key, snapshot) in polled {
                for socket in &snapshot.sockets {
                    counts.add(socket.state);
                }
                let netns = (
                    snapshot.netns.clone(),
                    snapshot.netns_inode.unwrap_or_default(),
                );
                for anomaly in one_shot::judge(&mut judges, key, &snapshot) {
                    raised.push((anomaly, netns.clone()));
                }
            }
            // Most severe first over every namespace; namespace order within a severity.
            raised.sort_by_key(|(a, _)| std::cmp::Reverse(a.severity));
            let (anomalies, netns): (Vec<_>, Vec<_>) = raised.into_iter().unzip();
            let outcome = CheckOutcome {
                // Each namespace has its own limits: no level applies to the sums.
                levels: crate::aggregate::StateLevels::default(),
                counts: &counts,
                anomalies: &anomalies,
                netns: &netns,
                taken_at: taken_at.unwrap_or_else(std::time::SystemTime::now),
            };
            write_check(Ok(&outcome), json)
        }
        Err(err) => write_check(Err(err), json),
    }
}

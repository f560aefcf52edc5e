//! `snapshot --all-netns` and `check --all-netns`: every network namespace of the host,
//! each dumped once by its own collector and judged by its own aggregator (kernel limits
//! and counters are per namespace), one /proc walk for all of them.

use std::io::{self, BufWriter, Write};

use crate::aggregate::Aggregator;
use crate::cli::{Cli, OneShotArgs};
use crate::collect::CollectOptions;
use crate::collect::all_netns::{AllNetns, DESCRIPTORS_PER_NAMESPACE};
use crate::filter::Filter;
use crate::model::{Snapshot, StateCounts};
use crate::report::check::{CheckOutcome, Status};
use crate::report::{self, NamespaceReport};

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

/// Every namespace of the host opened for polling (root only), with one line on stderr
/// when the open-file limit leaves some out.
pub(super) fn open(options: &CollectOptions) -> anyhow::Result<AllNetns> {
    require_root()?;
    let all = AllNetns::open(options)?;
    if all.over_limit() > 0 {
        crate::stderr_line!(
            "sockscope: the open-file limit leaves room for {} namespaces ({DESCRIPTORS_PER_NAMESPACE} descriptors each): skipped {} more; raise it (`ulimit -n`) to see them",
            all.len(),
            all.over_limit()
        );
    }
    Ok(all)
}

/// With `--netns-match`, an error unless it names one of the namespaces `all` opened: a
/// name that matches nothing would otherwise judge nothing and say OK (check), or list
/// nothing and look like a quiet host (snapshot, serve). The message lists the names.
pub(super) fn require_netns_match(filter: &Filter, all: &AllNetns) -> anyhow::Result<()> {
    /// How many namespaces the message names before `and N more`.
    const LISTED: usize = 20;
    if filter.netns.is_empty() {
        return Ok(());
    }
    let members = all.members();
    let named = |m: &crate::collect::all_netns::Member| {
        filter
            .netns
            .iter()
            .any(|n| n.names(&m.namespace.name, m.namespace.id.inode))
    };
    if members.iter().any(named) {
        return Ok(());
    }
    let asked: Vec<String> = filter.netns.iter().map(ToString::to_string).collect();
    let mut known: Vec<String> = members
        .iter()
        .take(LISTED)
        .map(|m| format!("{} ({})", m.namespace.name, m.namespace.id.inode))
        .collect();
    if members.len() > LISTED {
        known.push(format!("and {} more", members.len() - LISTED));
    }
    anyhow::bail!(
        "--netns-match {}: no namespace has that name or inode; the namespaces here are {} (names as `sockscope snapshot -A` prints them, or inodes)",
        asked.join(","),
        known.join(", ")
    )
}

/// Every namespace dumped once, and each one's aggregator, in the same order (the host's
/// first). A namespace whose dump fails is left out with one line on stderr.
fn dump_all(
    cli: &Cli,
    args: &OneShotArgs,
    mode: Mode,
    tcp_info: bool,
) -> anyhow::Result<Vec<(Snapshot, Aggregator)>> {
    let config = load_config(cli)?;
    let mut options = collect_options(cli);
    options.tcp_info = tcp_info;
    let mut all = open(&options)?;
    require_netns_match(&cli.filters.filter(), &all)?;
    let mut aggregators: Vec<Aggregator> = (0..all.len())
        .map(|_| config.aggregator().without_ages())
        .collect();
    let window = mode.counter_window(args.window);
    let results = one_shot::dump_each(&mut all, &mut aggregators, window);
    let mut polled = Vec::with_capacity(results.len());
    for ((result, aggregator), member) in results.into_iter().zip(aggregators).zip(all.members()) {
        match result {
            Ok(snapshot) => polled.push((snapshot, aggregator)),
            Err(e) => crate::stderr_line!(
                "sockscope: netns {} (inode {}) left out: {e}",
                member.namespace.name,
                member.namespace.id.inode
            ),
        }
    }
    if let Some((snapshot, _)) = polled.first() {
        warn_attribution(&snapshot.attribution);
    }
    Ok(polled)
}

/// `sockscope snapshot -A`.
pub(super) fn snapshot(cli: &Cli, args: &OneShotArgs) -> anyhow::Result<u8> {
    stdout_is_open()?;
    let polled = dump_all(cli, args, Mode::Snapshot, args.json)?;
    let namespaces: Vec<NamespaceReport> = polled
        .into_iter()
        .map(|(snapshot, mut aggregator)| {
            let anomalies = one_shot::judge(&mut aggregator, &snapshot, None);
            NamespaceReport {
                snapshot,
                anomalies,
            }
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
    match dump_all(cli, args, Mode::Check, false) {
        Ok(polled) => {
            let mut counts = StateCounts::default();
            let mut raised = Vec::new();
            let taken_at = polled.first().and_then(|(s, _)| s.taken_at);
            for (snapshot, mut aggregator) in polled {
                for socket in &snapshot.sockets {
                    counts.add(socket.state);
                }
                if !filter.netns.is_empty() && !filter.netns.iter().any(|n| n.matches(&snapshot)) {
                    continue;
                }
                let netns = (
                    snapshot.netns.clone(),
                    snapshot.netns_inode.unwrap_or_default(),
                );
                for anomaly in one_shot::judge(&mut aggregator, &snapshot, Some(&filter)) {
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
            write_check(Ok(&outcome), args.json)
        }
        Err(err) => write_check(Err(err), args.json),
    }
}

//! `sockscope serve`: the exporter's settings from the command line, the sources it polls
//! (one namespace, or every one with `-A`), and the HTTP server or the textfile loop.

use std::sync::mpsc;

use anyhow::Context as _;

use crate::cli::{Cli, ServeArgs};
use crate::collect::Collector;
use crate::serve::all_netns::EveryNamespace;
use crate::serve::follow::Following;
use crate::serve::metrics::TopLimits;
use crate::serve::web_config::WebConfig;
use crate::serve::{Limits, Namespaces, PollSettings, Poller, Published, Server};

use super::{EXIT_FAILURE, all_netns, collect_options, load_config, warn_attribution};

/// Run the exporter until it fails (it runs until killed otherwise).
pub(super) fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<u8> {
    let settings = PollSettings {
        config: load_config(cli)?,
        interval: args.interval,
        filter: cli.filters.filter(),
        top: TopLimits {
            processes: usize::from(args.top_processes),
            listeners: usize::from(args.top_listeners),
        },
        textfile: args.textfile.clone(),
        on_first_snapshot: Some(|snapshot| warn_attribution(&snapshot.attribution)),
    };
    let web = args
        .web_config
        .as_deref()
        .map(WebConfig::load)
        .transpose()?;
    let scheme = if web.as_ref().is_some_and(WebConfig::tls) {
        "https"
    } else {
        "http"
    };
    if let Some(path) = &args.textfile {
        crate::serve::textfile::check_target(path)?;
    }
    let published = Published::new();
    // Listen before the first poll: a port in use fails at once, not after a dump.
    let server = match &args.textfile {
        Some(_) => None,
        None => {
            let mut server = Server::bind(args.listen, Limits::default(), published.clone())?;
            if let Some(web) = web {
                server = web.apply(server);
            }
            Some((server, scheme))
        }
    };
    let mut options = collect_options(cli);
    // No metric shows tcp_info, and asking for it costs the kernel a third more per dump.
    options.tcp_info = false;
    if cli.target.all_netns {
        all_netns::require_root()?;
        let every = EveryNamespace::open(options)?;
        if let Some(all) = every.all() {
            all_netns::require_netns_match(&settings.filter, all)?;
        }
        run(Poller::new(every, settings, published), server)
    } else {
        let name = options.netns.label();
        let collector = Collector::open(options)?;
        if let Some(reason) = collector.fallback_reason() {
            crate::stderr_line!(
                "sockscope: reading /proc/net/tcp instead of sock_diag ({reason}); no bound-only sockets"
            );
        }
        run(
            Poller::new(Following::new(collector, name), settings, published),
            server,
        )
    }
}

/// Poll on this thread (textfile) or on a thread of its own while this one serves.
fn run<S: Namespaces + 'static>(
    poller: Poller<S>,
    server: Option<(Server, &str)>,
) -> anyhow::Result<u8> {
    match server {
        None => {
            let (_keep, never) = mpsc::channel();
            poller.run(&never);
            Ok(0)
        }
        Some((server, scheme)) => {
            let addr = server
                .local_addr()
                .context("reading the listening address")?;
            crate::stderr_line!("sockscope: serving {scheme}://{addr}/metrics");
            poller
                .spawn()
                .context("starting the poller thread")?
                .detach();
            server.run().context("accepting connections")?;
            Ok(EXIT_FAILURE)
        }
    }
}

//! `sockscope serve`: the exporter's settings from the command line, the sources it polls
//! (one namespace, or every one with `-A`), and the HTTP server or the textfile loop.

use anyhow::Context as _;

use crate::cli::{Cli, ServeArgs};
use crate::serve::metrics::TopLimits;
use crate::serve::web_config::WebConfig;
use crate::serve::{ConnectionLimits, PollSettings, Poller, Published, Server};
use crate::watch::{Collectors, Policy, RoundSource};

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
            let mut server =
                Server::bind(args.listen, ConnectionLimits::default(), published.clone())?;
            if let Some(web) = web {
                server = web.apply(server);
            }
            Some((server, scheme))
        }
    };
    let mut options = collect_options(cli);
    // No metric shows tcp_info, and asking for it costs the kernel a third more per dump.
    options.tcp_info = false;
    let every = cli.target.all_netns;
    if every {
        all_netns::require_root()?;
    }
    let collectors = Collectors::open(&options, every, Policy::exporter())?;
    if every {
        all_netns::require_netns_match(&settings.filter, &collectors)?;
    } else if let Some(reason) = collectors.fallback_reason() {
        crate::stderr_line!(
            "sockscope: reading /proc/net/tcp instead of sock_diag ({reason}); no bound-only sockets"
        );
    }
    // The sockets each namespace destroys are counted and judged from the kernel's
    // destroy events.
    run(
        Poller::new(collectors, settings, published).with_destroyed(&options, every),
        server,
    )
}

/// Poll on this thread (textfile) or on a thread of its own while this one serves.
fn run<S: RoundSource + 'static>(
    poller: Poller<S>,
    server: Option<(Server, &str)>,
) -> anyhow::Result<u8> {
    match server {
        None => {
            poller.run();
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

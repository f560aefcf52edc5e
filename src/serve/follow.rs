//! One namespace named on the command line (`--netns NAME`, `--netns-pid PID`), followed
//! as the dashboard's `F` follows it, but by itself: an exporter runs for months, and
//! `ip netns del` and `add` again, or a container restarted under a new pid namespace
//! handle, must not leave it polling the old namespace (which its open socket would keep
//! alive) for good. Before each poll one `stat` tells whether the target still leads
//! there; when it leads to another namespace the collector is opened anew there, and when
//! it leads nowhere the poll fails with the reason, the last good values staying exported,
//! until it leads somewhere again.

use crate::collect::{Collector, SocketSource};

use super::poller::{Namespaces, Polled, error_line};

/// A collector that follows its target.
#[derive(Debug)]
pub struct Following {
    collector: Collector,
    name: String,
}

impl Following {
    /// Follow `collector`'s target, called `name` (as `NetnsTarget::label` prints it).
    pub fn new(collector: Collector, name: impl Into<String>) -> Following {
        Following {
            collector,
            name: name.into(),
        }
    }

    fn poll(&mut self) -> Result<crate::model::Snapshot, String> {
        if let Some(drift) = self.collector.netns_drift() {
            if drift.followable().is_none() {
                return Err(format!(
                    "{} leads to no namespace any more (deleted, or its process exited): the last values stay until it is back",
                    drift.target.label()
                ));
            }
            self.collector = self.collector.reopen().map_err(error_line)?;
        }
        let mut snapshot = self.collector.poll().map_err(error_line)?;
        if snapshot.netns_inode.is_none() {
            // The namespace entered, or (sockscope's own) the one this process is in.
            snapshot.netns_inode = self
                .collector
                .netns_id()
                .or_else(crate::collect::netns::own)
                .map(|id| id.inode);
        }
        Ok(snapshot)
    }
}

impl Namespaces for Following {
    fn poll_all(&mut self) -> Vec<Polled> {
        let result = self.poll();
        if let Ok(snapshot) = &result {
            self.name.clone_from(&snapshot.netns);
        }
        vec![Polled {
            key: 0,
            name: self.name.clone(),
            result,
        }]
    }
}

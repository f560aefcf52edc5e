//! A named network namespace a test can delete and make again under the same name, as an
//! operator would with `ip netns del NAME; ip netns add NAME`; deleted on drop.

use std::os::unix::fs::MetadataExt as _;
use std::process::Command;

use sockscope::collect::{NetnsId, NetnsTarget};

/// `/run/netns/sockscope-<tag>-<pid>`, while it exists.
pub struct NamedNetns {
    /// The name under /run/netns.
    pub name: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NamedNetns {
    /// Make `sockscope-<tag>-<pid>`.
    pub fn add(tag: &str) -> NamedNetns {
        let netns = NamedNetns {
            name: format!("sockscope-{tag}-{}", std::process::id()),
        };
        netns.create();
        netns
    }

    /// `ip netns add NAME`.
    pub fn create(&self) {
        ip(&["netns", "add", &self.name]);
    }

    /// `ip netns del NAME`.
    pub fn delete(&self) {
        ip(&["netns", "del", &self.name]);
    }

    /// The collector target for the name.
    pub fn target(&self) -> NetnsTarget {
        NetnsTarget::Named(self.name.clone())
    }

    /// The namespace the name leads to now.
    pub fn id(&self) -> NetnsId {
        let m = std::fs::metadata(format!("/run/netns/{}", self.name)).unwrap();
        NetnsId {
            dev: m.dev(),
            inode: m.ino(),
        }
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

//! A collector whose target comes to lead to another namespace, against real namespaces:
//! after `ip netns del NAME; ip netns add NAME` it says replaced, with both namespaces'
//! identities, and goes on polling the old one; reopened, it polls the new one and says
//! nothing; after `ip netns del NAME` it says gone. A `--netns-pid` target says replaced
//! when its process moves to another namespace, and gone when the process exits.
//! Needs root; skips loudly without it (and fails under CI=true).

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sockscope::collect::netns::run_in;
use sockscope::collect::{
    CollectOptions, Collector, NetnsChange, NetnsDrift, NetnsId, NetnsTarget, SocketSource,
};
use sockscope::lab::require_root;
use sockscope::model::TcpState;

use crate::support::netns::NamedNetns;

fn open(target: NetnsTarget) -> Collector {
    Collector::open(CollectOptions {
        netns: target,
        processes: false,
        ..CollectOptions::default()
    })
    .unwrap()
}

/// The ports listened on in the namespace `collector` polls.
fn listening(collector: &mut Collector) -> Vec<u16> {
    let mut ports: Vec<u16> = collector
        .poll()
        .unwrap()
        .sockets
        .iter()
        .filter(|s| s.state == TcpState::Listen)
        .map(|s| s.local.port())
        .collect();
    ports.sort_unstable();
    ports
}

fn listen_in(target: &NetnsTarget, port: u16) -> TcpListener {
    run_in(target, || TcpListener::bind(("0.0.0.0", port)).unwrap()).unwrap()
}

#[test]
fn a_recreated_netns_is_replaced_until_followed_and_gone_once_deleted() {
    let test = "a_recreated_netns_is_replaced_until_followed_and_gone_once_deleted";
    if !require_root(test) {
        return;
    }
    let netns = NamedNetns::add("follow");
    let target = netns.target();
    let _old_listener = listen_in(&target, 40_001);
    let mut collector = open(target.clone());
    let old = netns.id();
    assert_eq!(collector.netns_id(), Some(old));
    assert_eq!(collector.netns_drift(), None);

    netns.delete();
    netns.create();
    let new = netns.id();
    assert_ne!(new, old);
    assert_eq!(
        collector.netns_drift(),
        Some(NetnsDrift {
            target: target.clone(),
            watched: old,
            change: NetnsChange::Replaced(new),
        })
    );
    // Its socket keeps the old namespace alive: the polls go on there.
    assert_eq!(listening(&mut collector), vec![40_001]);

    let _new_listener = listen_in(&target, 40_002);
    let mut followed = collector.reopen().unwrap();
    drop(collector);
    assert_eq!(followed.netns_id(), Some(new));
    assert_eq!(followed.netns_drift(), None);
    assert_eq!(listening(&mut followed), vec![40_002]);

    netns.delete();
    assert_eq!(
        followed.netns_drift(),
        Some(NetnsDrift {
            target,
            watched: new,
            change: NetnsChange::Gone,
        })
    );
    assert_eq!(listening(&mut followed), vec![40_002]);
}

/// The namespace `pid` is in now.
fn netns_of(pid: u32) -> NetnsId {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(format!("/proc/{pid}/ns/net")).unwrap();
    NetnsId {
        dev: m.dev(),
        inode: m.ino(),
    }
}

#[test]
fn a_watched_process_that_moves_is_replaced_and_once_it_exits_gone() {
    let test = "a_watched_process_that_moves_is_replaced_and_once_it_exits_gone";
    if !require_root(test) {
        return;
    }
    let netns = NamedNetns::add("follow-pid");
    // The same process all along: `ip netns exec` and `unshare` exec, they do not fork.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &netns.name, "sh", "-c"])
        .arg("read line; exec unshare --net sleep 30")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while netns_of(pid) != netns.id() {
        assert!(
            Instant::now() < deadline,
            "the child never entered the netns"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let collector = open(NetnsTarget::Pid(pid));
    let old = netns.id();
    assert_eq!(collector.netns_id(), Some(old));
    assert_eq!(collector.netns_drift(), None);

    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    while netns_of(pid) == old {
        assert!(Instant::now() < deadline, "the child never left the netns");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        collector.netns_drift(),
        Some(NetnsDrift {
            target: NetnsTarget::Pid(pid),
            watched: old,
            change: NetnsChange::Replaced(netns_of(pid)),
        })
    );

    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        collector.netns_drift(),
        Some(NetnsDrift {
            target: NetnsTarget::Pid(pid),
            watched: old,
            change: NetnsChange::Gone,
        })
    );
}

//! Builds synthetic snapshots for the aggregator tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sockscope::model::{
    Cgroup, Container, Owners, Pod, Process, Runtime, Snapshot, Socket, TcpState,
};

/// An address from a literal.
pub fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// `secs` seconds after the Unix epoch.
pub fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// A snapshot under construction.
pub struct Synth {
    pub snapshot: Snapshot,
    next_cookie: u64,
    cgroups: Vec<Cgroup>,
}

impl Synth {
    /// An empty snapshot taken at `secs`.
    pub fn at(secs: u64) -> Synth {
        Synth {
            snapshot: Snapshot {
                taken_at: Some(at(secs)),
                host: "web1".to_owned(),
                netns: "host".to_owned(),
                ..Snapshot::default()
            },
            next_cookie: 1_000_000,
            cgroups: Vec::new(),
        }
    }

    /// Add a process; returns its index for `owners`.
    pub fn process(&mut self, pid: u32, comm: &str) -> u32 {
        self.snapshot.processes.push(Process {
            pid,
            comm: comm.to_owned(),
            cmdline: comm.to_owned(),
            ..Process::default()
        });
        (self.snapshot.processes.len() - 1) as u32
    }

    /// Give process `index` its open descriptors and soft open-file limit.
    pub fn descriptors(&mut self, index: u32, open: Option<u64>, limit: Option<u64>) {
        let process = &mut self.snapshot.processes[index as usize];
        process.descriptors = open;
        process.fd_limit = limit;
    }

    /// Add a socket with a fresh cookie, held by `owners` (process indices).
    pub fn socket(
        &mut self,
        state: TcpState,
        local: &str,
        remote: &str,
        owners: &[u32],
    ) -> &mut Socket {
        self.next_cookie += 1;
        let cookie = self.next_cookie;
        self.socket_with_cookie(cookie, state, local, remote, owners)
    }

    /// Add a socket with a given cookie (identity across polls).
    pub fn socket_with_cookie(
        &mut self,
        cookie: u64,
        state: TcpState,
        local: &str,
        remote: &str,
        owners: &[u32],
    ) -> &mut Socket {
        let mut socket = Socket::new(state, addr(local), addr(remote));
        socket.cookie = cookie;
        socket.owners = Owners {
            start: self.snapshot.owner_index.len() as u32,
            len: owners.len() as u32,
        };
        self.snapshot.owner_index.extend_from_slice(owners);
        self.snapshot.sockets.push(socket);
        self.snapshot.sockets.last_mut().unwrap()
    }

    /// Add `n` sockets in `state` from `local` to `remote_host` on ports from 10000 up.
    pub fn many(
        &mut self,
        n: u32,
        state: TcpState,
        local: &str,
        remote_host: &str,
        owners: &[u32],
    ) {
        for i in 0..n {
            let remote = format!("{remote_host}:{}", 10000 + i);
            self.socket(state, local, &remote, owners);
        }
    }

    /// Add `n` sockets in `state` from ephemeral ports of `local_host` toward `remote`.
    pub fn many_to(
        &mut self,
        n: u32,
        state: TcpState,
        local_host: &str,
        remote: &str,
        owners: &[u32],
    ) {
        for i in 0..n {
            let local = format!("{local_host}:{}", 32768 + i);
            self.socket(state, &local, remote, owners);
        }
    }

    /// Add a LISTEN socket with accept queue `recv_q` and backlog `send_q`.
    pub fn listener(&mut self, local: &str, recv_q: u32, send_q: u32, owners: &[u32]) {
        let remote = if addr(local).is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = self.socket(TcpState::Listen, local, remote, owners);
        socket.recv_q = recv_q;
        socket.send_q = send_q;
    }

    /// Set a TcpExt counter.
    pub fn tcp_ext(&mut self, name: &str, value: u64) -> &mut Synth {
        let ext = &mut self.snapshot.counters.tcp_ext;
        match ext.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => ext.push((name.to_owned(), value)),
        }
        self
    }

    /// Set a sockstat TCP value.
    pub fn sockstat(&mut self, name: &str, value: u64) -> &mut Synth {
        self.snapshot
            .counters
            .sockstat
            .push((name.to_owned(), value));
        self
    }

    /// Declare cgroup `id` at `path`, naming `container`.
    pub fn cgroup(&mut self, id: u64, path: &str, container: Option<Container>) {
        self.cgroups.push(Cgroup {
            id,
            path: Some(path.into()),
            container: container.map(Arc::new),
        });
    }

    /// Cgroup `id`: the CRI-O container `5c1f00aa11bb22cc` (named `name`, if the host keeps
    /// one) of the pod `shop/cart-0`, as the exporter's tests stage it.
    pub fn cart_pod(&mut self, id: u64, name: Option<&str>) {
        self.cgroup(
            id,
            "/kubepods/pod0b9e/crio-5c1f.scope",
            Some(Container {
                id: "5c1f00aa11bb22cc".to_owned(),
                name: name.map(str::to_owned),
                runtime: Runtime::Crio,
                pod: Some(Pod {
                    namespace: Some("shop".to_owned()),
                    name: Some("cart-0".to_owned()),
                    uid: "0b9e".to_owned(),
                }),
            }),
        );
    }

    /// Put every socket added so far that process `owner` (an index) holds in cgroup `id`.
    pub fn in_cgroup(&mut self, owner: u32, id: u64) {
        let snapshot = &mut self.snapshot;
        for socket in &snapshot.sockets {
            let start = socket.owners.start as usize;
            let owners = &snapshot.owner_index[start..start + socket.owners.len as usize];
            if owners.contains(&owner) {
                snapshot.cgroups.insert(socket.cookie, id);
            }
        }
    }

    /// The snapshot.
    pub fn build(mut self) -> Snapshot {
        if !self.cgroups.is_empty() {
            self.snapshot.cgroups.set_known(self.cgroups);
        }
        self.snapshot
    }
}

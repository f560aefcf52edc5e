use super::*;
use crate::model::fixture::socket;

const HYBRID: &str = "\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[test]
fn the_cgroup2_mount_is_found_on_hybrid_and_pure_v2_hosts() {
    assert_eq!(
        cgroup2_mount(HYBRID.as_bytes()),
        Some(Cgroup2Mount {
            mount_point: "/sys/fs/cgroup/unified".into(),
            root: "/".into()
        })
    );
    let pure = "26 1 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
    assert_eq!(
        cgroup2_mount(pure.as_bytes()).map(|m| m.mount_point),
        Some("/sys/fs/cgroup".into())
    );
    let nested = "\
50 40 0:30 /kubepods.slice/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw
51 40 0:30 / /host/cgroup rw - cgroup2 cgroup2 rw
";
    assert_eq!(
        cgroup2_mount(nested.as_bytes()).map(|m| m.mount_point),
        Some("/host/cgroup".into()),
        "the mount showing the whole hierarchy is preferred"
    );
    assert_eq!(
        cgroup2_mount(HYBRID.lines().next().unwrap().as_bytes()),
        None
    );
    assert_eq!(cgroup2_mount(b"garbage\n"), None);
}

/// A full socket with `cookie`.
fn full(cookie: u64) -> Socket {
    socket(TcpState::Established)
        .local("10.0.0.1:80")
        .cookie(cookie)
}

#[test]
fn time_wait_and_request_sockets_take_their_listeners_cgroup_when_unambiguous() {
    let sockets = [
        socket(TcpState::Listen).local("0.0.0.0:80").cookie(1),
        socket(TcpState::TimeWait).local("10.0.0.1:80").cookie(2),
        socket(TcpState::SynRecv).local("10.0.0.1:80").cookie(3),
        // Two listeners in different cgroups on 443 (SO_REUSEPORT): ambiguous.
        socket(TcpState::Listen).local("10.0.0.1:443").cookie(4),
        socket(TcpState::Listen).local("0.0.0.0:443").cookie(5),
        socket(TcpState::TimeWait).local("10.0.0.1:443").cookie(6),
        // Only the listener on its own address matches: not ambiguous.
        socket(TcpState::TimeWait).local("10.0.0.2:443").cookie(7),
        // A client's TIME_WAIT on a port nobody listens on.
        socket(TcpState::TimeWait).local("10.0.0.1:40000").cookie(8),
        // IPv6 TIME_WAIT on 80: the IPv4 listener is not its listener.
        socket(TcpState::TimeWait)
            .local("[2001:db8::1]:80")
            .cookie(9),
        // A full socket keeps its own.
        socket(TcpState::Established)
            .local("10.0.0.1:80")
            .cookie(10),
    ];
    let mut cgroups = Cgroups::default();
    for s in &sockets {
        let id = [(1, 100), (4, 200), (5, 300), (10, 400)]
            .into_iter()
            .find_map(|(cookie, id)| (cookie == s.cookie).then_some(id));
        cgroups.record(s, id.unwrap_or(0));
    }
    inherit_from_listeners(&sockets, &mut cgroups);
    let ids: Vec<Option<u64>> = sockets.iter().map(|s| cgroups.id_of(s)).collect();
    assert_eq!(
        ids,
        [
            Some(100),
            Some(100),
            Some(100),
            Some(200),
            Some(300),
            None,
            Some(300),
            None,
            None,
            Some(400)
        ]
    );
}

#[test]
fn sockets_no_listener_explains_take_the_namespaces_cgroup_when_every_full_socket_is_in_it() {
    let sockets = [
        socket(TcpState::Listen).local("0.0.0.0:80").cookie(1),
        socket(TcpState::Established)
            .local("10.0.0.1:40001")
            .cookie(2),
        // A client's TIME_WAIT and a SYN_RECV on a port nobody listens on any more.
        socket(TcpState::TimeWait).local("10.0.0.1:40000").cookie(3),
        socket(TcpState::SynRecv).local("10.0.0.1:8080").cookie(4),
        // Explained by its listener, as before.
        socket(TcpState::TimeWait).local("10.0.0.1:80").cookie(5),
    ];
    let ids_with = |cgroup_of_2: u64| {
        let mut cgroups = Cgroups::default();
        for s in &sockets {
            let id = match s.cookie {
                1 => 100,
                2 => cgroup_of_2,
                _ => 0,
            };
            cgroups.record(s, id);
        }
        inherit_from_listeners(&sockets, &mut cgroups);
        sockets
            .iter()
            .map(|s| cgroups.id_of(s))
            .collect::<Vec<Option<u64>>>()
    };
    // Every full socket in cgroup 100 (a container's own namespace): unambiguous.
    assert_eq!(ids_with(100), [Some(100); 5]);
    // Two cgroups in the namespace: only the listener's TIME_WAIT is explained.
    assert_eq!(ids_with(200), [Some(100), Some(200), None, None, Some(100)]);
    // A full socket the kernel told no cgroup of: not known to be in the one either.
    assert_eq!(ids_with(0), [Some(100), None, None, None, Some(100)]);
}

#[test]
fn ids_resolve_to_paths_and_containers_and_unknown_ids_walk_once_per_poll() {
    let dir = tempfile::tempdir().unwrap();
    let id = "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    let scope = dir
        .path()
        .join("system.slice")
        .join(format!("docker-{id}.scope"));
    std::fs::create_dir_all(&scope).unwrap();
    let ino = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).unwrap().ino()
    };
    let mut resolver = Resolver::with_mount(
        Some(Cgroup2Mount {
            mount_point: dir.path().to_owned(),
            root: "/".into(),
        }),
        ContainerRoots {
            docker: dir.path().join("none"),
            pods: dir.path().join("none"),
        },
    );
    let mut cgroups = Cgroups::default();
    cgroups.insert(1, ino(&scope));
    cgroups.insert(2, ino(dir.path()));
    cgroups.insert(3, 987_654_321);
    resolver.resolve(&mut cgroups);
    assert_eq!(resolver.walks(), 1);
    let docker = cgroups.of(&full(1)).unwrap();
    assert_eq!(
        docker.path.as_deref(),
        Some(format!("/system.slice/docker-{id}.scope").as_str())
    );
    assert_eq!(docker.container.as_ref().unwrap().id, id);
    assert_eq!(cgroups.of(&full(2)).unwrap().path.as_deref(), Some("/"));
    assert_eq!(cgroups.of(&full(2)).unwrap().container, None);
    assert_eq!(
        cgroups.of(&full(3)).unwrap().path,
        None,
        "an unknown id is no error"
    );
    // The next poll: the unknown id walks again (once), the known ones do not.
    let service = dir.path().join("system.slice/nginx.service");
    std::fs::create_dir(&service).unwrap();
    let mut next = Cgroups::default();
    next.insert(1, ino(&scope));
    next.insert(4, ino(&service));
    resolver.resolve(&mut next);
    assert_eq!(resolver.walks(), 2);
    assert_eq!(
        next.of(&full(4)).unwrap().container.as_ref().unwrap().id,
        "nginx.service"
    );
    resolver.resolve(&mut next);
    assert_eq!(resolver.walks(), 2, "nothing new: no walk");
    // A cgroup removed after the walk keeps the path it had.
    std::fs::remove_dir(&service).unwrap();
    resolver.resolve(&mut next);
    assert!(next.of(&full(4)).unwrap().path.is_some());
}

#[test]
fn without_a_cgroup2_mount_every_id_is_unknown() {
    let mut resolver = Resolver::with_mount(None, ContainerRoots::default());
    let mut cgroups = Cgroups::default();
    cgroups.insert(1, 77);
    resolver.resolve(&mut cgroups);
    assert_eq!(cgroups.of(&full(1)).unwrap().path, None);
    assert_eq!(resolver.walks(), 0);
}

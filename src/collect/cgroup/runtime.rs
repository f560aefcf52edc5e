//! Which container a cgroup path names: a pure function of the path.
//!
//! Each runtime names its cgroups its own way, under systemd (`…/docker-<id>.scope`) or
//! the cgroupfs driver (`/docker/<id>`). The deepest component that names a container
//! wins (Docker in Docker names the inner one); a path naming none falls back to its
//! deepest systemd service (`nginx.service`).

use crate::model::{Container, Pod, Runtime};

/// The container `path` (below the cgroup v2 root) names, without the names only the
/// host's files know (`name`, the pod's namespace and name are `None`).
///
/// A Kubernetes container under the cgroupfs driver (`/kubepods/burstable/pod<uid>/<id>`)
/// does not say its runtime: it is taken as containerd, the runtime most clusters use.
pub fn container_of(path: &str) -> Option<Container> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let pod = pod_of(&parts);
    for (at, part) in parts.iter().enumerate().rev() {
        let parent = at.checked_sub(1).map(|p| parts[p]);
        if let Some((runtime, id)) = named_container(part, parent, pod.is_some()) {
            return Some(Container {
                id: id.to_owned(),
                name: None,
                runtime,
                pod,
            });
        }
    }
    let unit = parts.iter().rev().find(|p| is_service(p))?;
    Some(Container {
        id: (*unit).to_owned(),
        name: None,
        runtime: Runtime::Systemd,
        pod: None,
    })
}

/// The runtime and id one path component names, if it names a container. `parent` is the
/// component above it; `in_pod` says a Kubernetes pod component is on the path.
fn named_container<'a>(
    part: &'a str,
    parent: Option<&str>,
    in_pod: bool,
) -> Option<(Runtime, &'a str)> {
    const SCOPES: [(&str, Runtime); 4] = [
        ("docker-", Runtime::Docker),
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::Crio),
        ("libpod-", Runtime::Podman),
    ];
    let unscoped = part.strip_suffix(".scope").unwrap_or(part);
    for (prefix, runtime) in SCOPES {
        if let Some(id) = unscoped.strip_prefix(prefix)
            && is_container_id(id)
        {
            return Some((runtime, id));
        }
    }
    if is_container_id(part) {
        match parent {
            Some("docker") => return Some((Runtime::Docker, part)),
            _ if in_pod => return Some((Runtime::Containerd, part)),
            _ => {}
        }
    }
    None
}

/// The pod a path's `kubepods` components name: `kubepods-burstable-pod<uid>.slice`
/// (systemd, underscores for dashes) or `pod<uid>` below `kubepods` (cgroupfs).
fn pod_of(parts: &[&str]) -> Option<Pod> {
    let under_kubepods = parts.iter().position(|p| p.starts_with("kubepods"))?;
    parts[under_kubepods..].iter().rev().find_map(|part| {
        let raw = match part.strip_suffix(".slice") {
            Some(slice) => slice.rsplit_once("-pod")?.1,
            None => part.strip_prefix("pod")?,
        };
        let uid = raw.replace('_', "-");
        is_pod_uid(&uid).then_some(Pod {
            namespace: None,
            name: None,
            uid,
        })
    })
}

/// Lower-case hex, at least 12 digits (Docker, containerd, CRI-O and Podman ids are 64).
fn is_container_id(text: &str) -> bool {
    text.len() >= 12
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A UUID as Kubernetes writes pod uids: 8-4-4-4-12 hex digits.
fn is_pod_uid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A systemd service unit (`nginx.service`, `getty@tty1.service`), not a template alone.
fn is_service(part: &str) -> bool {
    part.strip_suffix(".service")
        .is_some_and(|name| !name.is_empty() && !name.ends_with('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    const UID: &str = "0b9e8c2a-1d3f-4e5a-9b7c-6d5e4f3a2b1c";

    fn of(path: &str) -> Option<(Runtime, String, Option<String>)> {
        container_of(path).map(|c| (c.runtime, c.id, c.pod.map(|p| p.uid)))
    }

    #[test]
    fn docker_under_systemd_and_cgroupfs() {
        let want = Some((Runtime::Docker, ID.to_owned(), None));
        assert_eq!(of(&format!("/system.slice/docker-{ID}.scope")), want);
        assert_eq!(of(&format!("/docker/{ID}")), want);
        assert_eq!(of(&format!("/docker/{ID}/")), want);
    }

    #[test]
    fn the_deepest_container_wins_in_docker_in_docker() {
        let inner = "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999";
        assert_eq!(
            of(&format!("/docker/{ID}/docker/{inner}")),
            Some((Runtime::Docker, inner.to_owned(), None))
        );
    }

    #[test]
    fn containerd_crio_and_podman_scopes() {
        assert_eq!(
            of(&format!("/system.slice/cri-containerd-{ID}.scope")),
            Some((Runtime::Containerd, ID.to_owned(), None))
        );
        assert_eq!(
            of(&format!("/machine.slice/libpod-{ID}.scope")),
            Some((Runtime::Podman, ID.to_owned(), None))
        );
        assert_eq!(
            of(&format!("/machine.slice/libpod-{ID}.scope/container")),
            Some((Runtime::Podman, ID.to_owned(), None)),
            "podman's nested container cgroup"
        );
        assert_eq!(
            of(&format!("/crio-{ID}.scope")),
            Some((Runtime::Crio, ID.to_owned(), None))
        );
    }

    #[test]
    fn kubernetes_pods_under_systemd_and_cgroupfs() {
        let systemd_uid = UID.replace('-', "_");
        let want = |runtime| Some((runtime, ID.to_owned(), Some(UID.to_owned())));
        assert_eq!(
            of(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_uid}.slice/cri-containerd-{ID}.scope"
            )),
            want(Runtime::Containerd)
        );
        assert_eq!(
            of(&format!(
                "/kubepods.slice/kubepods-pod{systemd_uid}.slice/crio-{ID}.scope"
            )),
            want(Runtime::Crio),
            "a guaranteed pod has no QoS slice"
        );
        assert_eq!(
            of(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{systemd_uid}.slice/docker-{ID}.scope"
            )),
            want(Runtime::Docker)
        );
        assert_eq!(
            of(&format!("/kubepods/burstable/pod{UID}/{ID}")),
            want(Runtime::Containerd)
        );
        assert_eq!(
            of(&format!("/kubepods/pod{UID}/{ID}")),
            want(Runtime::Containerd)
        );
    }

    #[test]
    fn a_pod_slice_without_a_container_names_none() {
        let systemd_uid = UID.replace('-', "_");
        assert_eq!(
            of(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_uid}.slice"
            )),
            None
        );
    }

    #[test]
    fn systemd_services_are_named_by_their_unit() {
        let unit = |u: &str| Some((Runtime::Systemd, u.to_owned(), None));
        assert_eq!(of("/system.slice/nginx.service"), unit("nginx.service"));
        assert_eq!(
            of("/system.slice/getty.slice/getty@tty1.service"),
            unit("getty@tty1.service")
        );
        assert_eq!(
            of("/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service"),
            unit("dbus.service")
        );
        assert_eq!(of("/system.slice/docker.service"), unit("docker.service"));
        assert_eq!(
            of(&format!("/system.slice/docker-{ID}.scope/init.service")),
            Some((Runtime::Docker, ID.to_owned(), None)),
            "a container outranks a service inside it"
        );
    }

    #[test]
    fn junk_names_no_container() {
        for path in [
            "",
            "/",
            "/init.scope",
            "/user.slice/user-1000.slice/session-3.scope",
            "/system.slice",
            "/docker",
            "/docker/not-hex",
            "/docker/3f2a1c9e",
            &format!("/docker/{}", ID.to_uppercase()),
            &format!("/system.slice/docker-{ID}.scope.bak/x"),
            &format!("/system.slice/crio-conmon-{ID}.scope"),
            &format!("/{ID}"),
            "/system.slice/.service",
            "/system.slice/getty@.service",
            "/kubepods/burstable/podnot-a-uid/x",
        ] {
            assert_eq!(of(path), None, "{path:?}");
        }
    }
}

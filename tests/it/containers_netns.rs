//! The container behind each socket, against real cgroups: sockets created in cgroup v2
//! directories named as Docker, containerd, CRI-O and a Kubernetes pod name theirs, with
//! Docker-style and `/var/log/pods`-style names under a temporary root, reported by the
//! real binary. Needs root; skips loudly without it (and fails under CI=true).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use sockscope::lab::{CloseWaitLeak, Lab, require_root};
use sockscope::model::{Family, TcpState};

use super::support::cgroups::TestCgroups;
use super::support::child::in_child;
use super::support::json_of;

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");
const DOCKER: &str = "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
const CONTAINERD: &str = "5c1f00aa11bb22cc33dd44ee55ff66007711882299aa33bb44cc55dd66ee77ff";
const CRIO: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d";
const POD_CONTAINER: &str = "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b";
const POD_UID: &str = "0b9e8c2a-1d3f-4e5a-9b7c-6d5e4f3a2b1c";

/// The sockets of `doc` in `state` on local endpoint `local`.
fn sockets_at<'a>(doc: &'a Value, state: &str, local: &str) -> Vec<&'a Value> {
    doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == state && s["local"] == local)
        .collect()
}

/// What [`stage`] built: each container's cgroup path (below the mount), the listener
/// of each of the first three, and the leak in the pod.
struct Staging {
    docker: String,
    containerd: String,
    crio: String,
    pod: String,
    listeners: Vec<String>,
    leak: CloseWaitLeak,
}

/// Make the containers' cgroups and names, and their sockets: a listener each in the
/// Docker, containerd and CRI-O ones, a 25-socket CLOSE_WAIT leak in the pod's, and one
/// listener of this process outside any.
fn stage(cgroups: &mut TestCgroups, lab: &mut Lab, names: &Path) -> Staging {
    let top = cgroups.top.clone();
    let docker = cgroups.make(&format!("{top}/system.slice/docker-{DOCKER}.scope"));
    let containerd = cgroups.make(&format!(
        "{top}/system.slice/cri-containerd-{CONTAINERD}.scope"
    ));
    let crio = cgroups.make(&format!("{top}/machine.slice/crio-{CRIO}.scope"));
    let systemd_uid = POD_UID.replace('-', "_");
    let pod = cgroups.make(&format!(
        "{top}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_uid}.slice/cri-containerd-{POD_CONTAINER}.scope"
    ));
    // Names as the host keeps them: Docker's config.v2.json, the kubelet's pod log dirs.
    let config = names.join("docker/containers").join(DOCKER);
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.v2.json"),
        r#"{"ID":"3f2a","Name":"/web-1","Config":{"Image":"nginx"}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(names.join(format!("pods/shop_cart-7d9f_{POD_UID}/app"))).unwrap();

    // Each listener is created with this process in the container's cgroup, then held
    // by a process placed there too.
    let mut listeners = Vec::new();
    for (path, comm) in [
        (&docker, "docker-app"),
        (&containerd, "containerd-app"),
        (&crio, "crio-app"),
    ] {
        let staged = cgroups
            .inside(path, || {
                lab.stage(Family::Inet, TcpState::Listen, 1, Some(comm))
            })
            .unwrap();
        cgroups.put(path, staged.holder.unwrap());
        listeners.push(staged.local[0].to_string());
    }
    let leak = cgroups
        .inside(&pod, || lab.close_wait_leak(Family::Inet, "leaky-app", 25))
        .unwrap();
    lab.stage(Family::Inet, TcpState::Listen, 1, None).unwrap();
    Staging {
        docker,
        containerd,
        crio,
        pod,
        listeners,
        leak,
    }
}

/// `sockscope snapshot --netns <lab> ARGS` with the names under `names`.
fn snapshot(lab: &Lab, names: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["snapshot", "--netns", lab.monitored()])
        .args(args)
        .env("SOCKSCOPE_DOCKER_ROOT", names.join("docker"))
        .env("SOCKSCOPE_PODS_ROOT", names.join("pods"))
        .output()
        .unwrap()
}

#[test]
fn each_socket_names_its_container_and_a_leak_names_its_pod() {
    if !require_root("each_socket_names_its_container_and_a_leak_names_its_pod") {
        return;
    }
    // It moves its own process between cgroups (what it creates meanwhile is theirs): in a
    // child, so that no other test's sockets or holders land in them.
    in_child(|| {
        // Dropped in reverse: the lab (holders stopped) before the cgroups are removed.
        let Some(mut cgroups) = TestCgroups::new() else {
            panic!("no cgroup v2 mount in /proc/self/mountinfo");
        };
        let names = tempfile::tempdir().unwrap();
        let mut lab = Lab::new(Path::new(BIN)).unwrap();
        let staging = stage(&mut cgroups, &mut lab, names.path());
        let doc = json_of(&snapshot(&lab, names.path(), &["--json"]));

        let expect = [
            (
                &staging.listeners[0],
                &staging.docker,
                json!({"id": DOCKER, "name": "web-1", "runtime": "docker", "pod": null}),
            ),
            (
                &staging.listeners[1],
                &staging.containerd,
                json!({"id": CONTAINERD, "name": null, "runtime": "containerd", "pod": null}),
            ),
            (
                &staging.listeners[2],
                &staging.crio,
                json!({"id": CRIO, "name": null, "runtime": "crio", "pod": null}),
            ),
        ];
        for (local, path, container) in &expect {
            let found = sockets_at(&doc, "LISTEN", local);
            assert_eq!(found.len(), 1, "{local}");
            assert_eq!(found[0]["cgroup"], json!(path), "{local}");
            assert_eq!(found[0]["container"], *container, "{local}");
        }
        let pod_container = json!({
            "id": POD_CONTAINER,
            "name": null,
            "runtime": "containerd",
            "pod": {"namespace": "shop", "name": "cart-7d9f", "uid": POD_UID},
        });
        let leak = &staging.leak;
        let leaked = sockets_at(&doc, "CLOSE_WAIT", &leak.listener.to_string());
        assert_eq!(leaked.len(), 25);
        for s in &leaked {
            assert_eq!(s["container"], pod_container);
            assert_eq!(s["cgroup"], json!(staging.pod));
            assert_eq!(
                s["processes"],
                json!([{"pid": leak.pid, "comm": "leaky-app"}])
            );
        }
        let outside = doc["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "LISTEN" && s["container"].is_null())
            .count();
        assert_eq!(
            outside, 1,
            "only the listener of this process has no container"
        );

        let anomaly = doc["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "close_wait_backlog")
            .unwrap();
        assert_eq!(
            anomaly["subject"],
            format!(
                "leaky-app[{}] in containerd:{} (shop/cart-7d9f)",
                leak.pid,
                &POD_CONTAINER[..12]
            )
        );
        assert_eq!(anomaly["container"], pod_container);

        filters_and_text_select_by_container(&lab, names.path(), &cgroups.top);
        all_netns_names_the_same_containers(&lab, names.path(), &doc);
        drop(lab);
        drop(cgroups);
    });
}

/// The filters (container name, pod name, id prefix, cgroup prefix) and the text
/// report's Container column, on the staging of [`stage`].
fn filters_and_text_select_by_container(lab: &Lab, names: &Path, top: &str) {
    let count = |filter: &[&str]| {
        let mut args = vec!["--json"];
        args.extend_from_slice(filter);
        json_of(&snapshot(lab, names, &args))["sockets"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&["--container", "web-1"]), 1);
    assert_eq!(count(&["--container", &CRIO[..8]]), 1);
    assert_eq!(
        count(&["--container", "cart-7d9f"]),
        26,
        "the leak and its listener"
    );
    let system_slice = format!("{top}/system.slice");
    assert_eq!(count(&["--cgroup", &system_slice]), 2);

    let out = snapshot(lab, names, &["--container", "web-1"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with("LISTEN ") && l.contains("192.0.2."))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains(&format!("docker:{} (web-1)", &DOCKER[..12])),
        "{text}"
    );
}

/// `snapshot -A` (one cgroup walk for every namespace) names each socket of the lab's
/// namespace's container as `--netns` does, and names the namespace after its lowest-pid
/// process's container: every process in it is in one of the staged containers.
fn all_netns_names_the_same_containers(lab: &Lab, names: &Path, single: &Value) {
    let out = Command::new(BIN)
        .args(["snapshot", "-A", "--json", "--netns-match", lab.monitored()])
        .env("SOCKSCOPE_DOCKER_ROOT", names.join("docker"))
        .env("SOCKSCOPE_PODS_ROOT", names.join("pods"))
        .output()
        .unwrap();
    let all = json_of(&out);
    let containers = |doc: &Value| -> std::collections::BTreeMap<String, Value> {
        doc["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    format!("{} {} {}", s["state"], s["local"], s["remote"]),
                    s["container"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(containers(&all), containers(single));
    let entry = all["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == lab.monitored())
        .unwrap();
    let label = entry["container"].as_str().unwrap_or_default();
    assert!(
        ["docker:", "containerd:", "crio:"]
            .iter()
            .any(|runtime| label.starts_with(runtime)),
        "{entry}"
    );
}

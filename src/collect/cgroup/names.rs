//! Names the host keeps for containers and pods: Docker's `config.v2.json` and the
//! directories of `/var/log/pods`. Missing, unreadable or garbled files leave a name
//! unknown; nothing here fails.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::model::{Container, Runtime};

/// Where the host keeps container metadata (configurable for tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRoots {
    /// Docker's data root: names come from `<docker>/containers/<id>/config.v2.json`.
    pub docker: PathBuf,
    /// The kubelet's pod log directory: `<pods>/<namespace>_<name>_<uid>/`.
    pub pods: PathBuf,
}

impl Default for ContainerRoots {
    fn default() -> Self {
        ContainerRoots {
            docker: PathBuf::from("/var/lib/docker"),
            pods: PathBuf::from("/var/log/pods"),
        }
    }
}

/// The largest `config.v2.json` read (they are a few kilobytes).
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Looks names up under [`ContainerRoots`], remembering pods by uid.
#[derive(Debug, Default)]
pub struct Names {
    roots: ContainerRoots,
    /// Pod uid → (namespace, name), from the last read of the pods directory.
    pods: HashMap<String, (String, String)>,
}

impl Names {
    /// Look names up under `roots`.
    pub fn new(roots: ContainerRoots) -> Names {
        Names {
            roots,
            pods: HashMap::new(),
        }
    }

    /// Fill in `container`'s name and its pod's namespace and name where the host has them.
    pub fn name(&mut self, container: &mut Container) {
        if container.runtime == Runtime::Docker {
            container.name = self.docker_name(&container.id);
        }
        if let Some(pod) = container.pod.as_mut() {
            if !self.pods.contains_key(&pod.uid) {
                self.read_pods();
            }
            if let Some((namespace, name)) = self.pods.get(&pod.uid) {
                pod.namespace = Some(namespace.clone());
                pod.name = Some(name.clone());
            }
        }
    }

    /// `Name` of `<docker>/containers/<id>/config.v2.json`, without its leading `/`.
    fn docker_name(&self, id: &str) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct DockerConfig {
            #[serde(rename = "Name")]
            name: Option<String>,
        }
        let path = self
            .roots
            .docker
            .join("containers")
            .join(id)
            .join("config.v2.json");
        // Opened without blocking and read only if it is a regular file under the cap: a
        // FIFO or a device planted here must not hang or flood the poll.
        let text = crate::untrusted::read_to_string(&path, MAX_CONFIG_BYTES).ok()?;
        let config: DockerConfig = serde_json::from_str(&text).ok()?;
        let name = config.name?;
        let name = name.strip_prefix('/').unwrap_or(&name);
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// Read the pods directory again: every `<namespace>_<name>_<uid>` entry.
    fn read_pods(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.roots.pods) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(text) = file_name.to_str() else {
                continue;
            };
            if let Some((namespace, name, uid)) = pod_dir(text) {
                self.pods
                    .insert(uid.to_owned(), (namespace.to_owned(), name.to_owned()));
            }
        }
    }
}

/// `<namespace>_<name>_<uid>`: Kubernetes names cannot hold `_`, so there are exactly three.
fn pod_dir(text: &str) -> Option<(&str, &str, &str)> {
    let mut parts = text.split('_');
    let (namespace, name, uid) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && !namespace.is_empty() && !name.is_empty() && !uid.is_empty())
        .then_some((namespace, name, uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pod;

    const ID: &str = "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    const UID: &str = "0b9e8c2a-1d3f-4e5a-9b7c-6d5e4f3a2b1c";

    fn docker(id: &str) -> Container {
        Container {
            id: id.to_owned(),
            name: None,
            runtime: Runtime::Docker,
            pod: None,
        }
    }

    fn roots(dir: &tempfile::TempDir) -> ContainerRoots {
        ContainerRoots {
            docker: dir.path().join("docker"),
            pods: dir.path().join("pods"),
        }
    }

    fn write_config(dir: &tempfile::TempDir, id: &str, text: &str) {
        let at = dir.path().join("docker/containers").join(id);
        std::fs::create_dir_all(&at).unwrap();
        std::fs::write(at.join("config.v2.json"), text).unwrap();
    }

    #[test]
    fn a_docker_name_comes_from_config_v2_json_without_its_slash() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            &dir,
            ID,
            r#"{"ID":"x","Name":"/web-1","State":{"Running":true},"Config":{"Env":[]}}"#,
        );
        let mut names = Names::new(roots(&dir));
        let mut c = docker(ID);
        names.name(&mut c);
        assert_eq!(c.name.as_deref(), Some("web-1"));
    }

    #[test]
    fn a_fifo_or_a_device_at_config_v2_json_leaves_the_name_unknown_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo_id = "ddddeeeeffff0000111122223333444455556666777788889999000011112222";
        let zero_id = "eeeeffff00001111222233334444555566667777888899990000111122223333";
        for id in [fifo_id, zero_id] {
            std::fs::create_dir_all(dir.path().join("docker/containers").join(id)).unwrap();
        }
        let config = |id: &str| {
            dir.path()
                .join("docker/containers")
                .join(id)
                .join("config.v2.json")
        };
        nix::unistd::mkfifo(
            &config(fifo_id),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink("/dev/zero", config(zero_id)).unwrap();
        let roots = roots(&dir);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut names = Names::new(roots);
            let named: Vec<_> = [fifo_id, zero_id]
                .iter()
                .map(|id| {
                    let mut c = docker(id);
                    names.name(&mut c);
                    c.name
                })
                .collect();
            let _ = tx.send(named);
        });
        let named = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("naming hung on a FIFO for 5 s");
        assert_eq!(named, [None, None]);
    }

    #[test]
    fn missing_garbled_or_nameless_configs_leave_the_name_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let garbled = "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999";
        let nameless = "bbbbccccddddeeeeffff00001111222233334444555566667777888899990000";
        let empty = "ccccddddeeeeffff000011112222333344445555666677778888999900001111";
        write_config(&dir, garbled, "{\"Name\": \"/half");
        write_config(&dir, nameless, "{\"ID\": \"x\"}");
        write_config(&dir, empty, "{\"Name\": \"/\"}");
        let mut names = Names::new(roots(&dir));
        for id in [ID, garbled, nameless, empty] {
            let mut c = docker(id);
            names.name(&mut c);
            assert_eq!(c.name, None, "{id}");
        }
        let mut nowhere = Names::new(ContainerRoots {
            docker: "/nonexistent/sockscope".into(),
            pods: "/nonexistent/sockscope".into(),
        });
        let mut c = docker(ID);
        c.pod = Some(Pod {
            namespace: None,
            name: None,
            uid: UID.into(),
        });
        nowhere.name(&mut c);
        assert_eq!((c.name, c.pod.unwrap().name), (None, None));
    }

    #[test]
    fn a_pod_is_named_from_its_log_directory_and_one_read_serves_later_pods() {
        let dir = tempfile::tempdir().unwrap();
        let other = "11111111-2222-3333-4444-555555555555";
        for d in [
            format!("shop_cart-7d9f_{UID}"),
            format!("kube-system_coredns-5d78_{other}"),
            "garbage".to_owned(),
            "a_b_c_d".to_owned(),
        ] {
            std::fs::create_dir_all(dir.path().join("pods").join(d)).unwrap();
        }
        let mut names = Names::new(roots(&dir));
        let pod = |uid: &str| Container {
            id: ID.to_owned(),
            name: None,
            runtime: Runtime::Containerd,
            pod: Some(Pod {
                namespace: None,
                name: None,
                uid: uid.to_owned(),
            }),
        };
        let mut c = pod(UID);
        names.name(&mut c);
        let p = c.pod.unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.name.as_deref()),
            (Some("shop"), Some("cart-7d9f"))
        );
        std::fs::remove_dir_all(dir.path().join("pods")).unwrap();
        let mut c = pod(other);
        names.name(&mut c);
        let p = c.pod.unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.name.as_deref()),
            (Some("kube-system"), Some("coredns-5d78"))
        );
        assert_eq!(names.pods.len(), 2, "garbage entries are skipped");
        assert_eq!(c.name, None, "containerd keeps no name sockscope reads");
    }
}

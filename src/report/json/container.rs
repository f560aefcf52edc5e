//! The `"container"` object of a socket and of an anomaly.

use serde::Serialize;

use crate::model::{Container, Pod};

/// A container: `{"id", "name", "runtime", "pod"}`; `name` and `pod` are `null` when
/// unknown.
#[derive(Serialize)]
pub struct ContainerDoc<'a> {
    /// The full container id, or the unit name for systemd.
    pub id: &'a str,
    /// Its name, where the host keeps one.
    pub name: Option<&'a str>,
    /// `docker`, `containerd`, `crio`, `podman` or `systemd`.
    pub runtime: &'static str,
    /// Its Kubernetes pod.
    pub pod: Option<PodDoc<'a>>,
}

/// A pod: `{"namespace", "name", "uid"}`; `namespace` and `name` are `null` when unknown.
#[derive(Serialize)]
pub struct PodDoc<'a> {
    /// Kubernetes namespace.
    pub namespace: Option<&'a str>,
    /// Pod name.
    pub name: Option<&'a str>,
    /// Pod uid.
    pub uid: &'a str,
}

impl<'a> ContainerDoc<'a> {
    /// The document for `container`.
    pub fn new(container: &'a Container) -> ContainerDoc<'a> {
        ContainerDoc {
            id: &container.id,
            name: container.name.as_deref(),
            runtime: container.runtime.name(),
            pod: container.pod.as_ref().map(|p: &'a Pod| PodDoc {
                namespace: p.namespace.as_deref(),
                name: p.name.as_deref(),
                uid: &p.uid,
            }),
        }
    }
}

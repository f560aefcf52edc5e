//! TLS for the exporter: the certificate chain, its key and, for mutual TLS, the CA that
//! client certificates must chain to, re-read when any of them changes on disk.
//!
//! exporter-toolkit re-reads its files at every handshake, so a renewed certificate is
//! served without a restart. Here each new connection asks [`Tls::server_config`], which
//! compares one `stat` per file (device, inode, size, change and modification times) with
//! the files it last built from, and reads and parses them again only when one changed.
//! Measured (release build): the check costs 7–10 µs a connection; reading, parsing and
//! building again 85 µs, and 1.3 ms with a 220 KB CA bundle as `client_ca_file`, which
//! re-reading per handshake would add to every one. A change that cannot be used (a key
//! that does not match the certificate yet, a file half written) is said once on stderr
//! and the previous certificate is served meanwhile; the next change is tried again.

use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::serve::http::{Stream, Wrap};

/// `client_auth_type`'s values, as exporter-toolkit spells them.
const CLIENT_AUTH_TYPES: &str = "NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert";

/// Which clients may connect.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ClientAuth {
    /// Any client (`NoClientCert`, the default).
    Anyone,
    /// A client with no certificate, or one that chains to the CA
    /// (`VerifyClientCertIfGiven`).
    VerifyIfGiven(PathBuf),
    /// Only a client whose certificate chains to the CA (`RequireAndVerifyClientCert`).
    Require(PathBuf),
}

/// The files of `tls_server_config`, their paths resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TlsSettings {
    cert: PathBuf,
    key: PathBuf,
    client: ClientAuth,
}

impl TlsSettings {
    /// Resolve the paths against `dir` and check `client_auth_type` with `client_ca_file`.
    /// The error is the key to find its line, and the reason.
    pub(super) fn new(
        dir: &Path,
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
        client_auth_type: Option<&str>,
    ) -> Result<TlsSettings, (&'static str, String)> {
        let ca = client_ca.map(|ca| dir.join(ca));
        let refuse = |reason: String| Err(("client_auth_type", reason));
        let client = match (client_auth_type.unwrap_or("NoClientCert"), ca) {
            ("NoClientCert", None) => ClientAuth::Anyone,
            ("NoClientCert", Some(_)) => {
                return Err((
                    "client_ca_file",
                    "tls_server_config.client_ca_file is set but client_auth_type is not: say which clients to let in, client_auth_type: RequireAndVerifyClientCert (only those with a certificate from that CA) or VerifyClientCertIfGiven".to_owned(),
                ));
            }
            ("VerifyClientCertIfGiven", Some(ca)) => ClientAuth::VerifyIfGiven(ca),
            ("RequireAndVerifyClientCert", Some(ca)) => ClientAuth::Require(ca),
            (kind @ ("VerifyClientCertIfGiven" | "RequireAndVerifyClientCert"), None) => {
                return refuse(format!(
                    "tls_server_config.client_auth_type {kind:?} needs client_ca_file: the CA (PEM) that client certificates must be signed by"
                ));
            }
            (kind @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert"), _) => {
                return refuse(format!(
                    "tls_server_config.client_auth_type {kind:?} takes a client certificate without checking it, which proves nothing: sockscope supports NoClientCert, VerifyClientCertIfGiven and RequireAndVerifyClientCert (with client_ca_file)"
                ));
            }
            (other, _) => {
                return refuse(format!(
                    "tls_server_config.client_auth_type {other:?} is not one of {CLIENT_AUTH_TYPES}"
                ));
            }
        };
        Ok(TlsSettings {
            cert: dir.join(cert),
            key: dir.join(key),
            client,
        })
    }

    fn ca(&self) -> Option<&Path> {
        match &self.client {
            ClientAuth::Anyone => None,
            ClientAuth::VerifyIfGiven(ca) | ClientAuth::Require(ca) => Some(ca),
        }
    }

    /// The files to watch: certificate, key, CA.
    fn files(&self) -> impl Iterator<Item = &Path> {
        [self.cert.as_path(), self.key.as_path()]
            .into_iter()
            .chain(self.ca())
    }

    fn stamps(&self) -> Vec<Option<Stamp>> {
        self.files().map(Stamp::of).collect()
    }

    /// Read the files and build the TLS server config.
    fn build(&self) -> Result<rustls::ServerConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&read("cert_file", &self.cert)?)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    format!(
                        "tls_server_config.cert_file {}: {e}; give a PEM certificate chain",
                        self.cert.display()
                    )
                })?;
        if certs.is_empty() {
            return Err(format!(
                "tls_server_config.cert_file {}: no certificate in it; give a PEM certificate chain",
                self.cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&read("key_file", &self.key)?).map_err(|e| {
            format!(
                "tls_server_config.key_file {}: {e}; give a PEM private key",
                self.key.display()
            )
        })?;
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls_server_config: no TLS version to offer: {e}"))?;
        let builder = match &self.client {
            ClientAuth::Anyone => builder.with_no_client_auth(),
            ClientAuth::VerifyIfGiven(ca) | ClientAuth::Require(ca) => {
                let roots = client_roots(ca)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let verifier = if matches!(self.client, ClientAuth::VerifyIfGiven(_)) {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier.build().map_err(|e| {
                    format!(
                        "tls_server_config.client_ca_file {}: {e}; give the PEM certificate of the CA that signs client certificates",
                        ca.display()
                    )
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        builder.with_single_cert(certs, key).map_err(|e| {
            let why = match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the key is not the certificate's (give the key the certificate was made for; a renewal replaces both)".to_owned()
                }
                other => other.to_string(),
            };
            format!(
                "tls_server_config: the certificate {} and the key {} do not make a TLS server: {why}",
                self.cert.display(),
                self.key.display()
            )
        })
    }
}

/// Read one of the TLS files with the web config's limits.
fn read(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    super::read_limited(path, "a certificate, key or CA file", "PEM").map_err(|e| {
        format!(
            "tls_server_config.{key} {}: cannot read it: {e}",
            path.display()
        )
    })
}

/// The CA certificates client certificates must chain to.
fn client_roots(ca: &Path) -> Result<Arc<RootCertStore>, String> {
    let fail = |why: String| {
        format!(
            "tls_server_config.client_ca_file {}: {why}; give the PEM certificate of the CA that signs client certificates",
            ca.display()
        )
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read("client_ca_file", ca)?) {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("a certificate in it is not a CA: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("no certificate in it".to_owned()));
    }
    Ok(Arc::new(roots))
}

/// What tells that a file changed: where it is, its size, when it changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    /// The file's stamp, following links (a Kubernetes secret is a link swapped at once);
    /// `None` when it cannot be read (gone between a rename and the next).
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// TLS over each accepted connection, with the files' latest certificate.
pub struct Tls {
    /// The web config, for messages.
    path: PathBuf,
    settings: TlsSettings,
    current: Mutex<Current>,
}

/// The config in use and the files it came from.
struct Current {
    stamps: Vec<Option<Stamp>>,
    config: Arc<rustls::ServerConfig>,
    /// The files as they were when they last failed to load: not tried again until they
    /// change again.
    refused: Option<Vec<Option<Stamp>>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("path", &self.path)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Read the files once: at start a file that cannot be used is an error.
    pub(super) fn load(path: &Path, settings: TlsSettings) -> Result<Tls, String> {
        let stamps = settings.stamps();
        let config = Arc::new(settings.build()?);
        Ok(Tls {
            path: path.to_owned(),
            settings,
            current: Mutex::new(Current {
                stamps,
                config,
                refused: None,
            }),
        })
    }

    /// The TLS config for a new connection: the files' current certificate, key and CA,
    /// read again if one changed on disk since the last connection.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let stamps = self.settings.stamps();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if stamps == current.stamps || current.refused.as_ref() == Some(&stamps) {
            return Arc::clone(&current.config);
        }
        // The stamps are taken before the files are read: a change made while they are read
        // shows as a change at the next connection, never as one missed.
        match self.settings.build() {
            Ok(config) => {
                current.config = Arc::new(config);
                current.stamps = stamps;
                current.refused = None;
            }
            Err(reason) => {
                // stderr closed or full is no reason to stop serving.
                let _ = writeln!(
                    std::io::stderr(),
                    "sockscope: --web-config {}: the TLS files changed but cannot be used ({reason}); still serving the previous certificate",
                    self.path.display()
                );
                current.refused = Some(stamps);
            }
        }
        Arc::clone(&current.config)
    }
}

impl Wrap for Tls {
    fn wrap(&self, stream: TcpStream) -> Option<Box<dyn Stream>> {
        let connection = rustls::ServerConnection::new(self.server_config()).ok()?;
        Some(Box::new(rustls::StreamOwned::new(connection, stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ca: Option<&str>, kind: Option<&str>) -> Result<TlsSettings, String> {
        TlsSettings::new(
            Path::new("/etc/sockscope"),
            Path::new("server.crt"),
            Path::new("/tls/server.key"),
            ca.map(Path::new),
            kind,
        )
        .map_err(|(key, reason)| format!("{key}: {reason}"))
    }

    #[test]
    fn paths_are_read_from_the_web_configs_directory_unless_absolute() {
        let s = settings(Some("ca.crt"), Some("RequireAndVerifyClientCert")).unwrap();
        assert_eq!(
            s.files().collect::<Vec<_>>(),
            [
                Path::new("/etc/sockscope/server.crt"),
                Path::new("/tls/server.key"),
                Path::new("/etc/sockscope/ca.crt")
            ]
        );
        assert_eq!(settings(None, None).unwrap().client, ClientAuth::Anyone);
        assert_eq!(
            settings(None, Some("NoClientCert")).unwrap().client,
            ClientAuth::Anyone
        );
        assert_eq!(
            settings(Some("ca.crt"), Some("VerifyClientCertIfGiven"))
                .unwrap()
                .client,
            ClientAuth::VerifyIfGiven(PathBuf::from("/etc/sockscope/ca.crt"))
        );
    }

    #[test]
    fn an_unknown_client_auth_type_is_refused_with_the_known_ones() {
        assert_eq!(
            settings(Some("ca.crt"), Some("requireandverifyclientcert")).unwrap_err(),
            "client_auth_type: tls_server_config.client_auth_type \"requireandverifyclientcert\" is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
        );
    }

    #[test]
    fn client_auth_types_that_check_nothing_are_refused_with_the_ones_that_do() {
        for kind in ["RequestClientCert", "RequireAnyClientCert"] {
            assert_eq!(
                settings(Some("ca.crt"), Some(kind)).unwrap_err(),
                format!(
                    "client_auth_type: tls_server_config.client_auth_type {kind:?} takes a client certificate without checking it, which proves nothing: sockscope supports NoClientCert, VerifyClientCertIfGiven and RequireAndVerifyClientCert (with client_ca_file)"
                )
            );
        }
    }

    #[test]
    fn a_ca_without_a_policy_or_a_policy_without_a_ca_is_refused() {
        assert_eq!(
            settings(Some("ca.crt"), None).unwrap_err(),
            "client_ca_file: tls_server_config.client_ca_file is set but client_auth_type is not: say which clients to let in, client_auth_type: RequireAndVerifyClientCert (only those with a certificate from that CA) or VerifyClientCertIfGiven"
        );
        assert_eq!(
            settings(None, Some("RequireAndVerifyClientCert")).unwrap_err(),
            "client_auth_type: tls_server_config.client_auth_type \"RequireAndVerifyClientCert\" needs client_ca_file: the CA (PEM) that client certificates must be signed by"
        );
    }

    #[test]
    fn a_stamp_changes_with_the_content_and_with_a_rename_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "one").unwrap();
        let first = Stamp::of(&path).unwrap();
        assert_eq!(Stamp::of(&path), Some(first));
        std::fs::write(dir.path().join("g"), "one").unwrap();
        std::fs::rename(dir.path().join("g"), &path).unwrap();
        let renamed = Stamp::of(&path).unwrap();
        assert_ne!(renamed.inode, first.inode);
        std::fs::write(&path, "two").unwrap();
        assert_ne!(Stamp::of(&path), Some(renamed));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(Stamp::of(&path), None);
    }
}

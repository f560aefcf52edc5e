//! `--web-config FILE`: TLS and basic auth in the web configuration format Prometheus
//! exporters share (prometheus/exporter-toolkit):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt   # relative paths are read from the file's directory
//!   key_file: server.key
//!   client_ca_file: ca.crt  # mutual TLS, with client_auth_type
//!   client_auth_type: RequireAndVerifyClientCert
//! basic_auth_users:
//!   prometheus: $2y$10$…    # a bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! Only these keys are read; any other (the toolkit's cipher lists, HTTP headers) is
//! refused by name rather than silently ignored. Every error names the file, the line when
//! it has one, and what to do. The file, the certificates, the key and the CA are read as
//! files someone else may have planted (`crate::untrusted`, as `--config` is: a regular file of at
//! most 1 MiB). Basic auth lives in `web_config/auth.rs` (hashes checked at start,
//! verified credentials cached, bcrypt one at a time), TLS in `web_config/tls.rs`
//! (certificates re-read when they change on disk, client certificates).

mod auth;
mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::http::Server;
use crate::untrusted;

pub use tls::Tls;

/// Why the web config cannot be used: the file, the line when known, the reason.
#[derive(Debug, thiserror::Error)]
#[error("--web-config {}{}: {reason}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct WebConfigError {
    /// The file.
    pub path: PathBuf,
    /// The line the problem is on, when known.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub reason: String,
}

/// The largest web config, certificate, key or CA file read: the same cap as `--config`.
pub const MAX_FILE_BYTES: u64 = crate::config::MAX_CONFIG_BYTES;

/// Read a file we do not own (the web config, a certificate, a key, a CA) with the limits of
/// `--config`: a regular file of at most [`MAX_FILE_BYTES`], opened without blocking. The
/// refusal says what the file is and what to give instead; `role` and `format` name it.
fn read_limited(path: &Path, role: &str, format: &str) -> Result<Vec<u8>, String> {
    untrusted::read(path, MAX_FILE_BYTES).map_err(|refusal| refusal.of_settings_file(role, format))
}

/// The most `[` and `{` a web config may hold. The YAML parser takes time quadratic in
/// how deep they nest (100,000 nested `[` after a key: 25 s); a web config needs none.
const MAX_FLOW_OPENERS: usize = 256;

/// The keys read, for the message of an unknown one.
const KEYS: &str = "tls_server_config.cert_file, .key_file, .client_ca_file, .client_auth_type and basic_auth_users";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    tls_server_config: Option<TlsFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
}

/// A loaded web config: TLS ready to accept, users with their hashes checked.
pub struct WebConfig {
    tls: Option<Arc<Tls>>,
    users: Option<Arc<auth::BasicAuth>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.as_ref().map(|u| u.len()))
            .finish()
    }
}

impl WebConfig {
    /// Read `path`, its certificate, key and client CA.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let fail = |line: Option<usize>, reason: String| WebConfigError {
            path: path.to_owned(),
            line,
            reason,
        };
        let text = read_limited(path, "a web config file", "YAML")
            .and_then(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| "it is not UTF-8 text: a web config file is YAML".to_owned())
            })
            .map_err(|e| fail(None, format!("cannot read it: {e}")))?;
        if let Some(line) = too_many_flow_openers(&text) {
            return Err(fail(
                Some(line),
                format!(
                    "more than {MAX_FLOW_OPENERS} '[' or '{{' in the file: a web config needs none, and nested by the thousand they take the YAML parser minutes; is this the web config you meant?"
                ),
            ));
        }
        let file: WebConfigFile = if text.trim().is_empty() {
            WebConfigFile {
                tls_server_config: None,
                basic_auth_users: BTreeMap::new(),
            }
        } else {
            serde_norway::from_str(&text).map_err(|e| {
                let line = e.location().map(|l| l.line());
                let message = e.to_string();
                // The parser appends " at line N column M": the line is said once, before.
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                fail(line, format!("{message} (sockscope reads {KEYS})"))
            })?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = file
            .tls_server_config
            .map(|tls| {
                let settings = tls::TlsSettings::new(
                    dir,
                    &tls.cert_file,
                    &tls.key_file,
                    tls.client_ca_file.as_deref(),
                    tls.client_auth_type.as_deref(),
                )
                .map_err(|(key, reason)| fail(line_of(&text, key), reason))?;
                Tls::load(path, settings)
                    .map_err(|reason| fail(line_of(&text, "tls_server_config"), reason))
            })
            .transpose()?;
        let users = if file.basic_auth_users.is_empty() {
            None
        } else {
            let users = auth::BasicAuth::new(file.basic_auth_users)
                .map_err(|(user, reason)| fail(line_of(&text, &user), reason))?;
            Some(Arc::new(users))
        };
        Ok(WebConfig {
            tls: tls.map(Arc::new),
            users,
        })
    }

    /// Whether connections are TLS.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `server` with this config's TLS and basic auth.
    pub fn apply(self, mut server: Server) -> Server {
        if let Some(tls) = self.tls {
            server = server.with_wrap(tls);
        }
        if let Some(users) = self.users {
            server = server.with_auth(users);
        }
        server
    }
}

/// The line of the first `[` or `{` past [`MAX_FLOW_OPENERS`], if there is one. Every
/// such character counts, quoted or not: a count cannot be fooled by quotes the way a
/// depth would be (`[ "]" [ "]" …`), and a web config holds none anyway.
fn too_many_flow_openers(text: &str) -> Option<usize> {
    let (at, _) = text.match_indices(['[', '{']).nth(MAX_FLOW_OPENERS)?;
    Some(text[..at].bytes().filter(|&b| b == b'\n').count() + 1)
}

/// The first line that starts (after indentation) with `key:`.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches(['"', '\'']);
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start_matches(['"', '\'']).starts_with(':'))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn load(text: &str) -> Result<WebConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        fs::write(&path, text).unwrap();
        WebConfig::load(&path).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err = load("basic_auth_users:\n  a: $2y$04$abcdefghijklmnopqrstuu5Uq8V5uYQlYV.Xv9k8b6Ie1Q9XUjVxG\nhttp_server_config:\n  http2: false\n").unwrap_err();
        assert_eq!(
            err,
            "--web-config DIR/web.yml, line 3: unknown field `http_server_config`, expected `tls_server_config` or `basic_auth_users` (sockscope reads tls_server_config.cert_file, .key_file, .client_ca_file, .client_auth_type and basic_auth_users)"
        );
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line_by_the_yaml_parser() {
        let err = load("basic_auth_users:\n  - alice\n").unwrap_err();
        assert_eq!(
            err,
            "--web-config DIR/web.yml, line 2: basic_auth_users: invalid type: sequence, expected a map (sockscope reads tls_server_config.cert_file, .key_file, .client_ca_file, .client_auth_type and basic_auth_users)"
        );
    }

    #[test]
    fn a_missing_certificate_names_the_file() {
        let err =
            load("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n").unwrap_err();
        assert_eq!(
            err,
            "--web-config DIR/web.yml, line 1: tls_server_config.cert_file DIR/nope.crt: cannot read it: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn an_empty_file_asks_for_nothing() {
        let config = load("\n# nothing yet\n").unwrap();
        assert_eq!(
            format!("{config:?}"),
            "WebConfig { tls: false, users: None }"
        );
    }

    #[test]
    fn thousands_of_nested_brackets_are_refused_before_parsing_with_their_line() {
        let started = std::time::Instant::now();
        let err = load(&format!("basic_auth_users:\n  a: {}", "[".repeat(100_000))).unwrap_err();
        assert_eq!(
            err,
            "--web-config DIR/web.yml, line 2: more than 256 '[' or '{' in the file: a web config needs none, and nested by the thousand they take the YAML parser minutes; is this the web config you meant?"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // 256 are still parsed (and refused by the parser, for what they are).
        let err = load(&format!("basic_auth_users: {}", "{".repeat(256))).unwrap_err();
        assert!(
            err.starts_with("--web-config DIR/web.yml, line 1: "),
            "{err}"
        );
        assert!(!err.contains("more than 256"), "{err}");
    }

    #[test]
    fn devices_and_pipes_are_refused_as_the_web_config() {
        let err = WebConfig::load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--web-config /dev/zero: cannot read it: it is a device, not a regular file: give the path of a YAML file"
        );
    }
}

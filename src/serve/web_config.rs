//! The exporter-toolkit web config file (`--web.config.file`): TLS and basic auth for our endpoint.
//!
//! The format is the one every Prometheus exporter reads (exporter-toolkit
//! `docs/web-configuration.md`), so operators can reuse their files. Parsing is strict about
//! values (a typo in `client_auth_type` must not silently disable client auth) but lenient about
//! unknown keys, which are reported as warnings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a web config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("cannot read web config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse web config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("invalid web config: {0}")]
    Invalid(String),
    #[error("cannot read TLS file {path}: {source}")]
    TlsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid TLS material: {0}")]
    TlsMaterial(String),
    #[error("cannot build TLS server config: {0}")]
    Tls(#[from] rustls::Error),
}

/// Unrecognised keys, kept so they can be reported instead of silently dropped.
type Extra = BTreeMap<String, serde_yaml::Value>;

/// Who must present a client certificate (Go `tls.ClientAuthType` names, as in the toolkit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    /// A certificate is optional, but verified against `client_ca_file` when given.
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
    /// Accepted by the toolkit but not verifying; rejected by [`WebConfig::validate`].
    RequestClientCert,
    /// Accepted by the toolkit but not verifying; rejected by [`WebConfig::validate`].
    RequireAnyClientCert,
}

/// TLS protocol versions as the toolkit spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// `tls_server_config`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct TlsServerConfig {
    /// PEM certificate chain file (relative paths are relative to the config file).
    pub cert_file: Option<PathBuf>,
    /// PEM private key file.
    pub key_file: Option<PathBuf>,
    /// Inline PEM certificate chain, alternative to `cert_file`.
    pub cert: Option<String>,
    /// Inline PEM private key, alternative to `key_file`.
    pub key: Option<String>,
    pub client_auth_type: ClientAuthType,
    /// CA bundle that client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
    /// Not supported: rejected so a configured restriction is never silently ignored.
    pub client_allowed_sans: Vec<String>,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// Go names of TLS 1.2 cipher suites; TLS 1.3 suites are not configurable (as in Go).
    pub cipher_suites: Vec<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    /// Go names: `CurveP256`, `CurveP384`, `X25519`.
    pub curve_preferences: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `http_server_config`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HttpServerConfig {
    /// Offer HTTP/2 (default true).
    pub http2: bool,
    /// Security headers added to every response.
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            http2: true,
            headers: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

/// The headers the toolkit allows in `http_server_config.headers`.
const ALLOWED_HEADERS: &[&str] = &[
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// A parsed and validated web config file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct WebConfig {
    pub tls_server_config: Option<TlsServerConfig>,
    pub http_server_config: HttpServerConfig,
    /// User name to bcrypt hash.
    pub basic_auth_users: BTreeMap<String, String>,
    /// Not implemented; reported as a warning.
    pub rate_limit: Option<serde_yaml::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl WebConfig {
    /// Reads, parses and validates the file, logging a warning for each ignored key.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let text = std::fs::read(path).map_err(|source| WebConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let cfg = Self::parse(&text, path)?;
        for w in cfg.warnings() {
            tracing::warn!(file = %path.display(), "web config: {w}");
        }
        Ok(cfg)
    }

    /// Parses and validates `text`; relative TLS paths are resolved against `path`'s directory
    /// (toolkit semantics), so the config works regardless of the daemon's working directory.
    pub fn parse(text: &[u8], path: &Path) -> Result<Self, WebConfigError> {
        // An empty file is a valid "no TLS, no auth" config; serde_yaml would call it a unit.
        let mut cfg: WebConfig = if text.iter().all(|b| b.is_ascii_whitespace()) {
            WebConfig::default()
        } else {
            serde_yaml::from_slice(text).map_err(|source| WebConfigError::Parse {
                path: path.to_owned(),
                source,
            })?
        };
        if let Some(dir) = path.parent() {
            cfg.resolve_paths(dir);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve_paths(&mut self, dir: &Path) {
        if let Some(tls) = &mut self.tls_server_config {
            for p in [
                &mut tls.cert_file,
                &mut tls.key_file,
                &mut tls.client_ca_file,
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
    }

    /// Rejects settings that would otherwise be silently weaker than what the operator asked for.
    fn validate(&self) -> Result<(), WebConfigError> {
        let invalid = |m: &str| Err(WebConfigError::Invalid(m.to_owned()));
        for (user, hash) in &self.basic_auth_users {
            if user.contains(':') {
                return Err(WebConfigError::Invalid(format!(
                    "basic_auth_users: user name {user:?} contains ':'"
                )));
            }
            if !looks_like_bcrypt(hash) {
                return Err(WebConfigError::Invalid(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash \
                     (generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
                )));
            }
        }
        for name in self.http_server_config.headers.keys() {
            if !ALLOWED_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                return Err(WebConfigError::Invalid(format!(
                    "http_server_config.headers: {name:?} is not one of {ALLOWED_HEADERS:?}"
                )));
            }
        }
        let Some(tls) = &self.tls_server_config else {
            return Ok(());
        };
        if tls.cert_file.is_none() && tls.cert.is_none() {
            return invalid("tls_server_config: missing cert_file (or cert)");
        }
        if tls.key_file.is_none() && tls.key.is_none() {
            return invalid("tls_server_config: missing key_file (or key)");
        }
        if tls.cert_file.is_some() && tls.cert.is_some() {
            return invalid("tls_server_config: cert_file and cert are mutually exclusive");
        }
        if tls.key_file.is_some() && tls.key.is_some() {
            return invalid("tls_server_config: key_file and key are mutually exclusive");
        }
        match tls.client_auth_type {
            ClientAuthType::NoClientCert => {
                if tls.client_ca_file.is_some() {
                    return invalid(
                        "tls_server_config: client_ca_file is set but client_auth_type is NoClientCert",
                    );
                }
            }
            ClientAuthType::VerifyClientCertIfGiven
            | ClientAuthType::RequireAndVerifyClientCert => {
                if tls.client_ca_file.is_none() {
                    return invalid(
                        "tls_server_config: client_auth_type verifies client certificates but client_ca_file is not set",
                    );
                }
            }
            ClientAuthType::RequestClientCert | ClientAuthType::RequireAnyClientCert => {
                return invalid(
                    "tls_server_config: client_auth_type RequestClientCert/RequireAnyClientCert (unverified client \
                     certificates) is not supported; use RequireAndVerifyClientCert or VerifyClientCertIfGiven",
                );
            }
        }
        if !tls.client_allowed_sans.is_empty() {
            return invalid(
                "tls_server_config: client_allowed_sans is not supported by this exporter",
            );
        }
        if let (Some(min), Some(max)) = (tls.min_version, tls.max_version) {
            if min > max {
                return invalid("tls_server_config: min_version is above max_version");
            }
        }
        if tls.max_version.is_some_and(|v| v < TlsVersion::TLS12) {
            return invalid("tls_server_config: max_version below TLS12 is not supported");
        }
        Ok(())
    }

    /// Keys and settings that are accepted but have no effect, for logging.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .extra
            .keys()
            .map(|k| format!("unknown key {k:?} ignored"))
            .collect();
        out.extend(
            self.http_server_config
                .extra
                .keys()
                .map(|k| format!("unknown key http_server_config.{k} ignored")),
        );
        if self.rate_limit.is_some() {
            out.push("rate_limit is not supported by this exporter and is ignored".into());
        }
        if let Some(tls) = &self.tls_server_config {
            out.extend(
                tls.extra
                    .keys()
                    .map(|k| format!("unknown key tls_server_config.{k} ignored")),
            );
            if tls.min_version.is_some_and(|v| v < TlsVersion::TLS12) {
                out.push("min_version below TLS12 is not supported; TLS12 is the minimum".into());
            }
            if tls.prefer_server_cipher_suites.is_some() {
                out.push(
                    "prefer_server_cipher_suites is ignored (the server order always wins)".into(),
                );
            }
        }
        out
    }
}

/// Cheap structural check so a plain-text password in the file fails at load, not at every login.
fn looks_like_bcrypt(hash: &str) -> bool {
    let b = hash.as_bytes();
    b.len() == 60
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$04$5jH6nJ3sHMIWSazFQG4aWuL0T2bB5Zfcn6mYbV5yT5I5v6bKZ5m6e";

    fn parse(s: &str) -> Result<WebConfig, WebConfigError> {
        WebConfig::parse(s.as_bytes(), Path::new("/etc/exporter/web.yml"))
    }

    #[test]
    fn empty_file_is_plain_http() {
        let c = parse("").unwrap();
        assert!(c.tls_server_config.is_none());
        assert!(c.basic_auth_users.is_empty());
        assert!(c.http_server_config.http2);
    }

    #[test]
    fn full_config_parses_and_resolves_relative_paths() {
        let c = parse(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS13\n\
             http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  alice: '{HASH}'\n"
        ))
        .unwrap();
        let tls = c.tls_server_config.as_ref().unwrap();
        assert_eq!(
            tls.cert_file.as_deref(),
            Some(Path::new("/etc/exporter/server.crt"))
        );
        assert_eq!(tls.key_file.as_deref(), Some(Path::new("/abs/server.key")));
        assert_eq!(
            tls.client_ca_file.as_deref(),
            Some(Path::new("/etc/exporter/ca.pem"))
        );
        assert_eq!(
            tls.client_auth_type,
            ClientAuthType::RequireAndVerifyClientCert
        );
        assert_eq!(tls.min_version, Some(TlsVersion::TLS13));
        assert!(!c.http_server_config.http2);
        assert_eq!(c.basic_auth_users["alice"], HASH);
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    }

    #[test]
    fn empty_sections_are_defaults() {
        let c = parse("basic_auth_users:\nhttp_server_config:\ntls_server_config:\n").unwrap();
        assert!(c.basic_auth_users.is_empty());
        assert!(c.http_server_config.http2);
        assert!(c.tls_server_config.is_none());
    }

    #[test]
    fn unknown_keys_warn_but_do_not_fail() {
        let c = parse("foo: 1\ntls_server_config:\n  cert_file: a\n  key_file: b\n  bar: x\nrate_limit:\n  burst: 3\n")
            .unwrap();
        let w = c.warnings().join("\n");
        assert!(w.contains("\"foo\""), "{w}");
        assert!(w.contains("tls_server_config.bar"), "{w}");
        assert!(w.contains("rate_limit"), "{w}");
    }

    #[test]
    fn rejects_weakening_mistakes() {
        for (bad, why) in [
            ("tls_server_config:\n  cert_file: a\n", "key"),
            ("tls_server_config:\n  key_file: a\n", "cert"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n", "client_ca_file"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n", "NoClientCert"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Typo\n", "client_auth_type"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n", "not supported"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS99\n", "min_version"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n", "above"),
            ("basic_auth_users:\n  bob: plaintext\n", "bcrypt"),
            ("basic_auth_users:\n  'a:b': '$2y$04$5jH6nJ3sHMIWSazFQG4aWuL0T2bB5Zfcn6mYbV5yT5I5v6bKZ5m6e'\n", "':'"),
            ("http_server_config:\n  headers:\n    Set-Cookie: x\n", "Set-Cookie"),
            ("basic_auth_users: [1, 2]\n", "basic_auth_users"),
        ] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn load_reports_missing_file() {
        let err = WebConfig::load(Path::new("/nonexistent/web.yml")).unwrap_err();
        assert!(matches!(err, WebConfigError::Read { .. }), "{err}");
    }
}

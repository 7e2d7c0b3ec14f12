//! Re-reads the web config file for every new connection (exporter-toolkit semantics), so TLS
//! certificates and users can be rotated without a restart. A file that stops parsing does not
//! take the endpoint down: the last good config stays in force and the error is logged once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hyper::header::{HeaderName, HeaderValue};
use tokio_rustls::TlsAcceptor;

use super::auth::BasicAuth;
use super::tls::{server_config, TlsMaterial};
use super::web_config::{WebConfig, WebConfigError};

/// What one connection is served with.
#[derive(Clone)]
pub(crate) struct Active {
    pub tls: Option<TlsAcceptor>,
    pub auth: Option<Arc<BasicAuth>>,
    /// Security headers from `http_server_config.headers`.
    pub headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    pub http2: bool,
}

impl Active {
    fn plain() -> Self {
        Active {
            tls: None,
            auth: None,
            headers: Arc::new(Vec::new()),
            http2: true,
        }
    }
}

struct Last {
    raw: Vec<u8>,
    config: WebConfig,
    material: Option<TlsMaterial>,
    active: Arc<Active>,
}

/// Holds the last good web config and reloads it on demand.
pub(crate) struct Reloader {
    path: Option<PathBuf>,
    last: Mutex<Option<Last>>,
    /// The last reload error logged, so a broken file is reported once, not per connection.
    last_error: Mutex<Option<String>>,
}

impl Reloader {
    /// Loads the file once; unlike later reloads, a bad file here is a startup error.
    pub(crate) fn new(path: Option<&Path>) -> Result<Self, WebConfigError> {
        let r = Reloader {
            path: path.map(Path::to_owned),
            last: Mutex::new(None),
            last_error: Mutex::new(None),
        };
        if let Some(p) = path {
            let mut last = r.last.lock().unwrap_or_else(|e| e.into_inner());
            *last = Some(load(p, None)?);
        }
        Ok(r)
    }

    /// The config for a new connection: freshly loaded, or the last good one if loading fails.
    pub(crate) fn current(&self) -> Arc<Active> {
        let Some(path) = &self.path else {
            return Arc::new(Active::plain());
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match load(path, last.as_ref()) {
            Ok(new) => {
                let changed = last
                    .as_ref()
                    .is_some_and(|l| !Arc::ptr_eq(&l.active, &new.active));
                if changed {
                    tracing::info!(file = %path.display(), "web config reloaded");
                }
                let active = Arc::clone(&new.active);
                *last = Some(new);
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                active
            }
            Err(e) => {
                let msg = e.to_string();
                let mut logged = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
                if logged.as_deref() != Some(msg.as_str()) {
                    tracing::error!(file = %path.display(), error = %msg,
                        "web config reload failed; keeping the last good config");
                    *logged = Some(msg);
                }
                match last.as_ref() {
                    Some(l) => Arc::clone(&l.active),
                    None => Arc::new(Active::plain()),
                }
            }
        }
    }
}

/// Loads `path`, reusing everything from `prev` that did not change (and with it the auth cache).
fn load(path: &Path, prev: Option<&Last>) -> Result<Last, WebConfigError> {
    let raw = std::fs::read(path).map_err(|source| WebConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let same_text = prev.filter(|p| p.raw == raw);
    let config = match same_text {
        Some(p) => p.config.clone(),
        None => {
            let c = WebConfig::parse(&raw, path)?;
            for w in c.warnings() {
                tracing::warn!(file = %path.display(), "web config: {w}");
            }
            c
        }
    };
    let material = config
        .tls_server_config
        .as_ref()
        .map(TlsMaterial::read)
        .transpose()?;
    if let Some(p) = same_text {
        if p.material == material {
            return Ok(Last {
                raw,
                config,
                material,
                active: Arc::clone(&p.active),
            });
        }
    }
    let tls = match (&config.tls_server_config, &material) {
        (Some(t), Some(m)) => Some(TlsAcceptor::from(server_config(
            t,
            m,
            config.http_server_config.http2,
        )?)),
        _ => None,
    };
    let auth = match prev {
        Some(p) if p.config.basic_auth_users == config.basic_auth_users => p.active.auth.clone(),
        _ => BasicAuth::new(&config.basic_auth_users),
    };
    let mut headers = Vec::new();
    for (k, v) in &config.http_server_config.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| WebConfigError::Invalid(format!("header name {k:?}: {e}")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|e| WebConfigError::Invalid(format!("header {k}: {e}")))?;
        headers.push((name, value));
    }
    let active = Arc::new(Active {
        tls,
        auth,
        headers: Arc::new(headers),
        http2: config.http_server_config.http2,
    });
    Ok(Last {
        raw,
        config,
        material,
        active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH4: &str = "$2y$04$5jH6nJ3sHMIWSazFQG4aWuL0T2bB5Zfcn6mYbV5yT5I5v6bKZ5m6e";

    #[test]
    fn bad_initial_file_is_an_error_but_bad_reload_keeps_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(&p, "basic_auth_users: {bob: nope}\n").unwrap();
        assert!(Reloader::new(Some(&p)).is_err());

        std::fs::write(&p, format!("basic_auth_users: {{bob: '{HASH4}'}}\n")).unwrap();
        let r = Reloader::new(Some(&p)).unwrap();
        let a = r.current();
        assert!(a.auth.is_some());
        // Unchanged file: the very same config (and auth cache) is reused.
        assert!(Arc::ptr_eq(&a, &r.current()));

        std::fs::write(&p, "tls_server_config: [[[\n").unwrap();
        let b = r.current();
        assert!(
            Arc::ptr_eq(&a, &b),
            "broken file must keep the last good config"
        );

        std::fs::write(&p, "").unwrap();
        let c = r.current();
        assert!(c.auth.is_none(), "a valid new file takes effect");
        assert!(c.tls.is_none());
    }

    #[test]
    fn headers_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(
            &p,
            "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n",
        )
        .unwrap();
        let r = Reloader::new(Some(&p)).unwrap();
        let a = r.current();
        assert!(!a.http2);
        assert_eq!(a.headers.len(), 1);
        assert_eq!(a.headers[0].0, "x-frame-options");
        assert_eq!(a.headers[0].1, "deny");
    }

    #[test]
    fn no_file_is_plain() {
        let r = Reloader::new(None).unwrap();
        let a = r.current();
        assert!(a.tls.is_none() && a.auth.is_none() && a.http2);
    }
}

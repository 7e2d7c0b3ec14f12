//! Turns a [`TlsServerConfig`] into a rustls server config (ring provider).

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::web_config::{ClientAuthType, TlsServerConfig, TlsVersion, WebConfigError};

/// The PEM bytes a TLS config depends on. Kept so a reload can tell whether anything changed
/// (certificate rotation rewrites these files without touching the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsMaterial {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

fn read(path: &Path) -> Result<Vec<u8>, WebConfigError> {
    std::fs::read(path).map_err(|source| WebConfigError::TlsFile {
        path: path.to_owned(),
        source,
    })
}

impl TlsMaterial {
    /// Reads the files (or takes the inline PEM) named by `tls`.
    pub(crate) fn read(tls: &TlsServerConfig) -> Result<Self, WebConfigError> {
        let cert = match (&tls.cert, &tls.cert_file) {
            (Some(inline), _) => inline.as_bytes().to_vec(),
            (None, Some(p)) => read(p)?,
            (None, None) => return Err(WebConfigError::Invalid("missing cert_file".into())),
        };
        let key = match (&tls.key, &tls.key_file) {
            (Some(inline), _) => inline.as_bytes().to_vec(),
            (None, Some(p)) => read(p)?,
            (None, None) => return Err(WebConfigError::Invalid("missing key_file".into())),
        };
        let client_ca = tls.client_ca_file.as_deref().map(read).transpose()?;
        Ok(TlsMaterial {
            cert,
            key,
            client_ca,
        })
    }
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WebConfigError::TlsMaterial(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(WebConfigError::TlsMaterial(format!(
            "{what}: no PEM CERTIFICATE block found"
        )));
    }
    Ok(certs)
}

fn key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, WebConfigError> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| WebConfigError::TlsMaterial(format!("key: {e}")))?
        .ok_or_else(|| WebConfigError::TlsMaterial("key: no PEM private key block found".into()))
}

/// Restricts the ring provider to the configured TLS 1.2 suites and curves (Go names).
fn provider(tls: &TlsServerConfig) -> Result<CryptoProvider, WebConfigError> {
    let mut p = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        let wanted = |s: &rustls::SupportedCipherSuite| {
            let iana = format!("{:?}", s.suite());
            tls.cipher_suites
                .iter()
                .any(|n| *n == iana || format!("{n}_SHA256") == iana)
        };
        for n in &tls.cipher_suites {
            if !p.cipher_suites.iter().any(|s| {
                let iana = format!("{:?}", s.suite());
                *n == iana || format!("{n}_SHA256") == iana
            }) {
                tracing::warn!(cipher_suite = %n, "web config: cipher suite not available, ignored");
            }
        }
        // Go applies cipher_suites to TLS 1.2 only; TLS 1.3 suites stay.
        p.cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS13 || wanted(s));
        if !p
            .cipher_suites
            .iter()
            .any(|s| s.version() == &rustls::version::TLS12)
            && tls.min_version.unwrap_or(TlsVersion::TLS12) <= TlsVersion::TLS12
            && tls.max_version.unwrap_or(TlsVersion::TLS13) == TlsVersion::TLS12
        {
            return Err(WebConfigError::Invalid(
                "tls_server_config.cipher_suites: none of the listed suites is supported".into(),
            ));
        }
    }
    if !tls.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for name in &tls.curve_preferences {
            let want = match name.as_str() {
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                "CurveP521" => rustls::NamedGroup::secp521r1,
                "X25519" => rustls::NamedGroup::X25519,
                other => {
                    return Err(WebConfigError::Invalid(format!(
                        "tls_server_config.curve_preferences: unknown curve {other:?}"
                    )))
                }
            };
            match p.kx_groups.iter().find(|g| g.name() == want) {
                Some(g) => groups.push(*g),
                None => tracing::warn!(curve = %name, "web config: curve not available, ignored"),
            }
        }
        if groups.is_empty() {
            return Err(WebConfigError::Invalid(
                "tls_server_config.curve_preferences: none of the listed curves is supported"
                    .into(),
            ));
        }
        p.kx_groups = groups;
    }
    Ok(p)
}

/// Builds the rustls server config; ALPN offers h2 only when `http2` is on.
pub(crate) fn server_config(
    tls: &TlsServerConfig,
    material: &TlsMaterial,
    http2: bool,
) -> Result<Arc<ServerConfig>, WebConfigError> {
    let provider = Arc::new(provider(tls)?);
    let min = tls.min_version.unwrap_or(TlsVersion::TLS12);
    let max = tls.max_version.unwrap_or(TlsVersion::TLS13);
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    if min <= TlsVersion::TLS12 && max >= TlsVersion::TLS12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::TLS13 {
        versions.push(&rustls::version::TLS13);
    }
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(&versions)?;
    let builder = match tls.client_auth_type {
        ClientAuthType::NoClientCert => builder.with_no_client_auth(),
        auth => {
            let pem = material.client_ca.as_deref().ok_or_else(|| {
                WebConfigError::Invalid("client auth requires client_ca_file".into())
            })?;
            let mut roots = RootCertStore::empty();
            for c in certs(pem, "client_ca_file")? {
                roots.add(c)?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if auth == ClientAuthType::VerifyClientCertIfGiven {
                v = v.allow_unauthenticated();
            }
            let verifier = v
                .build()
                .map_err(|e| WebConfigError::TlsMaterial(format!("client_ca_file: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_single_cert(certs(&material.cert, "cert")?, key(&material.key)?)?;
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn tls_cfg(cert: &str, key: &str) -> TlsServerConfig {
        TlsServerConfig {
            cert: Some(cert.into()),
            key: Some(key.into()),
            ..Default::default()
        }
    }

    #[test]
    fn builds_with_inline_pem_and_alpn() {
        let (c, k) = self_signed();
        let t = tls_cfg(&c, &k);
        let m = TlsMaterial::read(&t).unwrap();
        let s = server_config(&t, &m, true).unwrap();
        assert_eq!(s.alpn_protocols[0], b"h2");
        let s = server_config(&t, &m, false).unwrap();
        assert_eq!(s.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn garbage_pem_is_an_error() {
        let (c, _) = self_signed();
        let t = tls_cfg(&c, "not a key");
        let m = TlsMaterial::read(&t).unwrap();
        let err = server_config(&t, &m, true).unwrap_err().to_string();
        assert!(err.contains("key"), "{err}");
        let t = tls_cfg("junk", "junk");
        let m = TlsMaterial::read(&t).unwrap();
        assert!(server_config(&t, &m, true).is_err());
    }

    #[test]
    fn mismatched_key_is_an_error() {
        let (c, _) = self_signed();
        let (_, k2) = self_signed();
        let t = tls_cfg(&c, &k2);
        let m = TlsMaterial::read(&t).unwrap();
        assert!(server_config(&t, &m, true).is_err());
    }

    #[test]
    fn cipher_and_curve_filters() {
        let (c, k) = self_signed();
        let mut t = tls_cfg(&c, &k);
        t.cipher_suites = vec!["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()];
        t.curve_preferences = vec!["X25519".into()];
        let m = TlsMaterial::read(&t).unwrap();
        let s = server_config(&t, &m, true).unwrap();
        let tls12: Vec<_> = s
            .crypto_provider()
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .collect();
        assert_eq!(tls12.len(), 1);
        assert_eq!(s.crypto_provider().kx_groups.len(), 1);
        t.curve_preferences = vec!["Bogus".into()];
        assert!(server_config(&t, &m, true).is_err());
    }

    #[test]
    fn missing_file_names_the_path() {
        let t = TlsServerConfig {
            cert_file: Some("/nonexistent/c.pem".into()),
            key_file: Some("/nonexistent/k.pem".into()),
            ..Default::default()
        };
        let err = TlsMaterial::read(&t).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/c.pem"), "{err}");
    }
}

//! TLS to RocketMQ with rustls. Framing inside TLS is unchanged.
//!
//! Brokers in TLS "test mode" (the Java default) present a self-signed certificate generated at
//! start-up, which no CA can vouch for; `insecure_skip_verify` exists for them and says so in its name.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM bundle of CAs to trust; the system roots when absent.
    pub ca_file: Option<PathBuf>,
    /// Name to verify in the certificate; the host part of the address when absent.
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("no usable CA certificates (file {0})")]
    NoRoots(String),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

/// Builds the rustls client configuration once, at start-up.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions");
    let config = if opts.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match &opts.ca_file {
            Some(path) => {
                let data = std::fs::read(path)
                    .map_err(|e| TlsError::CaFile { path: path.display().to_string(), reason: e.to_string() })?;
                for cert in rustls_pemfile::certs(&mut &data[..]) {
                    let cert = cert.map_err(|e| TlsError::CaFile { path: path.display().to_string(), reason: e.to_string() })?;
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(TlsError::NoRoots(path.display().to_string()));
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The name to check in the server's certificate for `addr` ("host:port").
pub fn server_name(opts: &TlsOptions, addr: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match &opts.server_name {
        Some(n) => n.clone(),
        None => addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr).trim_matches(['[', ']']).to_string(),
    };
    ServerName::try_from(host.clone()).map_err(|_| TlsError::ServerName(host))
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_from_address_or_override() {
        let o = TlsOptions::default();
        assert_eq!(format!("{:?}", server_name(&o, "127.0.0.1:10911").unwrap()), format!("{:?}", ServerName::try_from("127.0.0.1").unwrap()));
        let o = TlsOptions { server_name: Some("broker.example".into()), ..Default::default() };
        assert!(matches!(server_name(&o, "10.0.0.1:10911").unwrap(), ServerName::DnsName(_)));
    }

    #[test]
    fn missing_ca_file_is_a_clear_error() {
        let o = TlsOptions { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let e = client_config(&o).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn insecure_config_builds() {
        let o = TlsOptions { insecure_skip_verify: true, ..Default::default() };
        assert!(client_config(&o).is_ok());
    }
}

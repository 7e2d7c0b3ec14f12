//! The remoting client over TLS: a RocketMQ-style server behind rustls with a self-signed
//! certificate (what Java brokers in TLS test mode present), verified by CA file and server name,
//! or accepted with the explicit insecure option; a wrong CA is refused with a clear error.

use std::sync::Arc;

use bytes::BytesMut;
use rocketmq_exporter::remoting::frame::{self, RemotingCommand, DEFAULT_MAX_FRAME_LENGTH, FLAG_RESPONSE};
use rocketmq_exporter::remoting::tls::TlsOptions;
use rocketmq_exporter::remoting::{ClientOptions, RemotingClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Server {
    addr: String,
    cert_pem: String,
}

/// Answers every request with code 0 and body "tls-ok", over TLS only.
async fn tls_server(names: Vec<String>) -> Server {
    let cert = rcgen::generate_simple_self_signed(names).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else { return };
                let mut buf = BytesMut::new();
                loop {
                    if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    while let Ok(Some(req)) = frame::decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH) {
                        let mut resp = RemotingCommand::response_to(&req, 0, None).with_body(&b"tls-ok"[..]);
                        resp.flag = FLAG_RESPONSE;
                        if s.write_all(&resp.to_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Server { addr, cert_pem: cert.cert.pem() }
}

fn client(tls: TlsOptions) -> RemotingClient {
    RemotingClient::new(ClientOptions { tls: Some(tls), ..Default::default() }).unwrap()
}

#[tokio::test]
async fn verified_with_ca_file_and_server_name() {
    let srv = tls_server(vec!["broker.test".into()]).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &srv.cert_pem).unwrap();
    let c = client(TlsOptions { ca_file: Some(ca.clone()), server_name: Some("broker.test".into()), insecure_skip_verify: false });
    let r = c.invoke(&srv.addr, RemotingCommand::request(28)).await.unwrap();
    assert_eq!(&r.body[..], b"tls-ok");

    // The certificate names broker.test, not 127.0.0.1: without the override, verification fails.
    let c = client(TlsOptions { ca_file: Some(ca), server_name: None, insecure_skip_verify: false });
    let e = c.invoke(&srv.addr, RemotingCommand::request(28)).await.unwrap_err();
    assert_eq!(e.outcome(), "tls", "{e}");
}

#[tokio::test]
async fn self_signed_needs_the_explicit_insecure_option() {
    let srv = tls_server(vec!["localhost".into()]).await;
    // Trusting another CA: refused.
    let other = rcgen::generate_simple_self_signed(vec!["other".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("other.pem");
    std::fs::write(&ca, other.cert.pem()).unwrap();
    let c = client(TlsOptions { ca_file: Some(ca), server_name: Some("localhost".into()), insecure_skip_verify: false });
    let e = c.invoke(&srv.addr, RemotingCommand::request(28)).await.unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
    // Test-mode brokers: accepted only when asked.
    let c = client(TlsOptions { insecure_skip_verify: true, ..Default::default() });
    let r = c.invoke(&srv.addr, RemotingCommand::request(28)).await.unwrap();
    assert_eq!(&r.body[..], b"tls-ok");
}

#[tokio::test]
async fn plaintext_server_with_tls_client_fails_cleanly() {
    // A plaintext remoting server answering a TLS ClientHello with a frame: the handshake fails
    // with an error, not a hang or a panic.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut b = [0u8; 512];
        let _ = s.read(&mut b).await;
        let _ = s.write_all(&RemotingCommand::request(0).to_bytes()).await;
    });
    let c = client(TlsOptions { insecure_skip_verify: true, ..Default::default() });
    let e = c.invoke(&addr, RemotingCommand::request(28)).await.unwrap_err();
    assert_eq!(e.outcome(), "tls", "{e}");
}

/// The collector's batch path over TLS: several requests in one write, every answer back, and
/// the socket reused by the next batch.
#[tokio::test]
async fn batch_exchange_over_tls() {
    let srv = tls_server(vec!["localhost".into()]).await;
    let c = client(TlsOptions { insecure_skip_verify: true, ..Default::default() });
    for round in 0..2 {
        let mut got = Vec::new();
        let cmds = vec![RemotingCommand::request(28), RemotingCommand::request(26), RemotingCommand::request(317)];
        c.exchange(&srv.addr, cmds, |i, r| got.push((i, r.map(|r| r.body.to_vec()).map_err(|e| e.to_string()))))
            .await;
        got.sort_by_key(|g| g.0);
        let want: Vec<_> = (0..3).map(|i| (i, Ok(b"tls-ok".to_vec()))).collect();
        assert_eq!(got, want, "round {round}");
    }
}

//! The HTTP endpoint end to end: a real listener on 127.0.0.1:0, real hyper/rustls clients.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rocketmq_exporter::serve::{bind, serve, Exposition, HttpConfig, ServeError, ServeState};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Server {
    addr: SocketAddr,
    state: ServeState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Server {
    async fn start(web_config_file: Option<PathBuf>) -> Server {
        Self::start_with(web_config_file, 512).await
    }

    async fn start_with(web_config_file: Option<PathBuf>, max_connections: usize) -> Server {
        let cfg = HttpConfig {
            listen: "127.0.0.1:0".into(),
            telemetry_path: "/metrics".into(),
            web_config_file,
            version: "9.9.9-test".into(),
            max_connections,
        };
        let listener = bind(&cfg).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = ServeState::new();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, cfg, state.clone(), async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            state,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) -> Result<(), ServeError> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task")
    }
}

struct Resp {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request over any stream, with hyper's low-level client.
async fn send_on<S>(io: S, req: Request<Empty<Bytes>>) -> Resp
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let r = sender.send_request(req).await.expect("response");
    let (parts, body) = r.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request<Empty<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Empty::new()).unwrap()
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    let s = TcpStream::connect(addr).await.unwrap();
    send_on(s, request(Method::GET, path, headers)).await
}

/// Sends raw bytes and returns everything the server sends before closing.
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn exposition() -> String {
    let mut s =
        String::from("# HELP rocketmq_broker_up 1 if up\n# TYPE rocketmq_broker_up gauge\n");
    for i in 0..200 {
        s.push_str(&format!(
            "rocketmq_broker_up{{cluster=\"c\",broker=\"broker-{i}\"}} 1\n"
        ));
    }
    s
}

#[tokio::test]
async fn metrics_503_before_publish_then_200() {
    let srv = Server::start(None).await;
    let r = get(srv.addr, "/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!r.body.is_empty());

    let text = exposition();
    srv.state
        .publish(Exposition::new(text.clone().into_bytes()));
    let r = get(srv.addr, "/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(r.headers.get("content-encoding").is_none());
    assert_eq!(r.text(), text);

    // A newer exposition replaces the old one.
    srv.state.publish(Exposition::new(b"x 2\n".to_vec()));
    assert_eq!(get(srv.addr, "/metrics", &[]).await.text(), "x 2\n");
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn gzip_round_trip() {
    let srv = Server::start(None).await;
    let text = exposition();
    srv.state
        .publish(Exposition::new(text.clone().into_bytes()));
    let r = get(
        srv.addr,
        "/metrics",
        &[("accept-encoding", "deflate, gzip")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-encoding"], "gzip");
    assert!(
        r.body.len() < text.len() / 4,
        "compressed {} of {}",
        r.body.len(),
        text.len()
    );
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, text);
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn head_has_headers_and_no_body() {
    let srv = Server::start(None).await;
    let text = exposition();
    srv.state
        .publish(Exposition::new(text.clone().into_bytes()));
    let out = raw(
        srv.addr,
        b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = out.split_once("\r\n\r\n").expect("a full header block");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", text.len())),
        "{head}"
    );
    assert!(body.is_empty(), "HEAD must not carry a body: {body:?}");
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn landing_health_ready_404_405() {
    let srv = Server::start(None).await;
    let r = get(srv.addr, "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text();
    assert!(page.contains("<a href=\"/metrics\">"), "{page}");
    assert!(
        page.contains("/-/healthy") && page.contains("/-/ready"),
        "{page}"
    );
    assert!(
        page.contains("9.9.9-test") && page.contains("RocketMQ Exporter"),
        "{page}"
    );

    let r = get(srv.addr, "/-/healthy", &[]).await;
    assert_eq!((r.status, r.text().trim()), (StatusCode::OK, "Healthy."));

    assert_eq!(
        get(srv.addr, "/-/ready", &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    srv.state.publish(Exposition::new(b"x 1\n".to_vec()));
    let r = get(srv.addr, "/-/ready", &[]).await;
    assert_eq!((r.status, r.text().trim()), (StatusCode::OK, "Ready."));

    assert_eq!(
        get(srv.addr, "/nope", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(srv.addr, "/metrics/extra", &[]).await.status,
        StatusCode::NOT_FOUND
    );

    let s = TcpStream::connect(srv.addr).await.unwrap();
    let r = send_on(s, request(Method::POST, "/metrics", &[])).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET, HEAD");
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn garbage_request_gets_400_and_server_keeps_serving() {
    let srv = Server::start(None).await;
    let out = raw(srv.addr, b"\x16\x03\x01 THIS IS NOT HTTP\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out:?}");
    let out = raw(
        srv.addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out:?}");
    assert_eq!(
        get(srv.addr, "/-/healthy", &[]).await.status,
        StatusCode::OK
    );
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn slow_client_does_not_block_others() {
    let srv = Server::start(None).await;
    // Half a request line, then silence.
    let mut slow = TcpStream::connect(srv.addr).await.unwrap();
    slow.write_all(b"GET /met").await.unwrap();
    let idle = TcpStream::connect(srv.addr).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(2), get(srv.addr, "/-/healthy", &[]))
        .await
        .expect("other clients are served while one is stalled");
    assert_eq!(r.status, StatusCode::OK);
    drop((slow, idle));
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn silent_connection_is_dropped() {
    let srv = Server::start(None).await;
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let t0 = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(15), silent.read(&mut buf))
        .await
        .expect("the server closes a connection that never sends a byte")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        t0.elapsed() >= Duration::from_secs(5),
        "closed too early: {:?}",
        t0.elapsed()
    );
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn fifty_concurrent_scrapes() {
    let srv = Server::start(None).await;
    let text = exposition();
    srv.state
        .publish(Exposition::new(text.clone().into_bytes()));
    let addr = srv.addr;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            tokio::spawn(async move {
                let ae: &[(&str, &str)] = if i % 2 == 0 {
                    &[("accept-encoding", "gzip")]
                } else {
                    &[]
                };
                let r = get(addr, "/metrics", ae).await;
                assert_eq!(r.status, StatusCode::OK);
                if i % 2 == 0 {
                    let mut s = String::new();
                    flate2::read::GzDecoder::new(&r.body[..])
                        .read_to_string(&mut s)
                        .unwrap();
                    s
                } else {
                    r.text()
                }
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), text);
    }
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn http2_prior_knowledge() {
    let srv = Server::start(None).await;
    srv.state.publish(Exposition::new(b"x 1\n".to_vec()));
    let s = TcpStream::connect(srv.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri(format!("http://{}/metrics", srv.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let r = sender.send_request(req).await.unwrap();
    assert_eq!(r.version(), hyper::Version::HTTP_2);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        &r.into_body().collect().await.unwrap().to_bytes()[..],
        b"x 1\n"
    );
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn bad_listen_address_is_a_clear_error() {
    for addr in ["nonsense", "127.0.0.1:notaport", ":70000", "::1:5558"] {
        let cfg = HttpConfig {
            listen: addr.into(),
            telemetry_path: "/metrics".into(),
            web_config_file: None,
            version: "t".into(),
            max_connections: 512,
        };
        let err = bind(&cfg).await.expect_err(addr);
        assert!(
            matches!(err, ServeError::BadListenAddress { .. }),
            "{addr}: {err}"
        );
        assert!(err.to_string().contains(addr), "{err}");
    }
    // An address already in use is a bind error naming the address.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken = l.local_addr().unwrap().to_string();
    let cfg = HttpConfig {
        listen: taken.clone(),
        telemetry_path: "/metrics".into(),
        web_config_file: None,
        version: "t".into(),
        max_connections: 512,
    };
    let err = bind(&cfg).await.unwrap_err();
    assert!(matches!(err, ServeError::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&taken), "{err}");
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let srv = Server::start(None).await;
    let addr = srv.addr;
    assert_eq!(get(addr, "/-/healthy", &[]).await.status, StatusCode::OK);
    // An idle keep-alive connection must not hold shutdown up to the grace period.
    let _idle = TcpStream::connect(addr).await.unwrap();
    let t0 = std::time::Instant::now();
    srv.stop().await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    // A bcrypt check (cost 10) keeps a request in the handler long enough to shut down under it.
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let hash = bcrypt::hash("pw", 10).unwrap();
    let bcrypt_time = t0.elapsed();
    let file = write_web_config(dir.path(), &format!("basic_auth_users:\n  u: '{hash}'\n"));
    let srv = Server::start(Some(file)).await;
    srv.state.publish(Exposition::new(b"x 1\n".to_vec()));
    let addr = srv.addr;
    let auth = basic("u", "pw");
    let in_flight =
        tokio::spawn(async move { get(addr, "/metrics", &[("authorization", &auth)]).await });
    tokio::time::sleep(bcrypt_time / 4).await;
    srv.stop().await.unwrap();
    let r = in_flight.await.unwrap();
    assert_eq!((r.status, r.text()), (StatusCode::OK, "x 1\n".to_string()));
    assert!(TcpStream::connect(addr).await.is_err());
}

fn write_web_config(dir: &Path, yaml: &str) -> PathBuf {
    let p = dir.join("web.yml");
    std::fs::write(&p, yaml).unwrap();
    p
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[tokio::test]
async fn basic_auth_401_then_200_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("hunter2", 4).unwrap();
    let file = write_web_config(
        dir.path(),
        &format!("basic_auth_users:\n  prometheus: '{hash}'\nsome_future_key: 1\n"),
    );
    let srv = Server::start(Some(file.clone())).await;
    srv.state.publish(Exposition::new(b"x 1\n".to_vec()));

    for hdrs in [
        vec![],
        vec![("authorization", basic("prometheus", "wrong"))],
        vec![("authorization", basic("nobody", "hunter2"))],
        vec![("authorization", "Bearer abc".to_string())],
    ] {
        let h: Vec<(&str, &str)> = hdrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = get(srv.addr, "/metrics", &h).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{hdrs:?}");
        assert!(r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
    }
    let good = basic("prometheus", "hunter2");
    for _ in 0..3 {
        let r = get(srv.addr, "/metrics", &[("authorization", &good)]).await;
        assert_eq!((r.status, r.text()), (StatusCode::OK, "x 1\n".to_string()));
    }
    // Health endpoints are protected too (toolkit wraps the whole mux).
    assert_eq!(
        get(srv.addr, "/-/healthy", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A broken file keeps the last good config: still protected, still accepting the password.
    std::fs::write(&file, "basic_auth_users: [not, a, map\n").unwrap();
    assert_eq!(
        get(srv.addr, "/metrics", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(srv.addr, "/metrics", &[("authorization", &good)])
            .await
            .status,
        StatusCode::OK
    );
    // A valid new file takes effect on the next connection.
    std::fs::write(&file, "").unwrap();
    assert_eq!(get(srv.addr, "/metrics", &[]).await.status, StatusCode::OK);
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn telemetry_path_without_slash_fails_serve() {
    let cfg = HttpConfig {
        listen: "127.0.0.1:0".into(),
        telemetry_path: "metrics".into(),
        web_config_file: None,
        version: "t".into(),
        max_connections: 512,
    };
    let l = bind(&cfg).await.unwrap();
    let err = serve(l, cfg, ServeState::new(), std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::BadTelemetryPath(_)), "{err}");
}

#[tokio::test]
async fn bad_initial_web_config_fails_serve() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_web_config(dir.path(), "tls_server_config:\n  cert_file: x.pem\n");
    let cfg = HttpConfig {
        listen: "127.0.0.1:0".into(),
        telemetry_path: "/metrics".into(),
        web_config_file: Some(file),
        version: "t".into(),
        max_connections: 512,
    };
    let l = bind(&cfg).await.unwrap();
    let err = serve(l, cfg, ServeState::new(), std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::WebConfig(_)), "{err}");
    assert!(err.to_string().contains("key_file"), "{err}");
}

// ---- TLS ----

struct Pki {
    ca_pem: String,
    server_pem: String,
    server_key: String,
    /// The client trusts exactly the server's self-signed certificate.
    server_der: rustls::pki_types::CertificateDer<'static>,
    client_der: rustls::pki_types::CertificateDer<'static>,
    client_key_der: Vec<u8>,
}

/// A self-signed server certificate for `localhost`, and a client certificate issued by a CA.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["scraper".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.as_ref().pem(),
        server_pem: server.cert.pem(),
        server_key: server.signing_key.serialize_pem(),
        server_der: server.cert.der().clone(),
        client_der: client.der().clone(),
        client_key_der: client_key.serialize_der(),
    }
}

fn client_config(
    server_der: rustls::pki_types::CertificateDer<'static>,
    client: Option<&Pki>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_der).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let cfg = match client {
        None => b.with_no_client_auth(),
        Some(p) => b
            .with_client_auth_cert(
                vec![p.client_der.clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(p.client_key_der.clone().into()),
            )
            .unwrap(),
    };
    Arc::new(cfg)
}

async fn tls_get(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    path: &str,
) -> std::io::Result<Resp> {
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await?;
    // With client auth, TLS 1.3 reports a rejected certificate only on the first read.
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    let r = sender
        .send_request(request(Method::GET, path, &[]))
        .await
        .map_err(std::io::Error::other)?;
    let (parts, body) = r.into_parts();
    Ok(Resp {
        status: parts.status,
        headers: parts.headers,
        body: body
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes(),
    })
}

#[tokio::test]
async fn tls_with_self_signed_cert() {
    let p = pki();
    let server_der = p.server_der.clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.crt"), &p.server_pem).unwrap();
    std::fs::write(dir.path().join("server.key"), &p.server_key).unwrap();
    let file = write_web_config(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n\
         http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n",
    );
    let srv = Server::start(Some(file)).await;
    srv.state.publish(Exposition::new(b"x 1\n".to_vec()));
    let r = tls_get(
        srv.addr,
        client_config(server_der.clone(), None),
        "/metrics",
    )
    .await
    .unwrap();
    assert_eq!((r.status, r.text()), (StatusCode::OK, "x 1\n".to_string()));
    assert_eq!(r.headers["strict-transport-security"], "max-age=31536000");

    // ALPN h2 gets HTTP/2.
    let mut h2cfg = (*client_config(server_der.clone(), None)).clone();
    h2cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(h2cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri(format!("https://localhost:{}/metrics", srv.addr.port()))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let r = sender.send_request(req).await.unwrap();
    assert_eq!(
        (r.version(), r.status()),
        (hyper::Version::HTTP_2, StatusCode::OK)
    );
    assert_eq!(
        &r.into_body().collect().await.unwrap().to_bytes()[..],
        b"x 1\n"
    );

    // Plain HTTP to a TLS port gets no HTTP answer, and the server keeps serving TLS.
    let out = raw(srv.addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(!out.contains("x 1"), "{out:?}");
    let r = tls_get(srv.addr, client_config(server_der, None), "/-/healthy")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn mutual_tls_requires_a_client_cert_from_the_ca() {
    let p = pki();
    let server_der = p.server_der.clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.crt"), &p.server_pem).unwrap();
    std::fs::write(dir.path().join("server.key"), &p.server_key).unwrap();
    std::fs::write(dir.path().join("ca.crt"), &p.ca_pem).unwrap();
    let file = write_web_config(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    );
    let srv = Server::start(Some(file)).await;
    let r = tls_get(
        srv.addr,
        client_config(server_der.clone(), Some(&p)),
        "/-/healthy",
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        tls_get(srv.addr, client_config(server_der, None), "/-/healthy")
            .await
            .is_err(),
        "a client without a certificate must be rejected"
    );
    srv.stop().await.unwrap();
}

/// Beyond `max_connections` a client waits in the listen backlog: it is neither served nor
/// refused until a slot frees, and the connections already open keep being served.
#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let srv = Server::start_with(None, 2).await;
    let addr = srv.addr;
    // Two clients hold both slots: one idle, one keep-alive that has been served.
    let idle = TcpStream::connect(addr).await.unwrap();
    let (mut kept, conn) = hyper::client::conn::http1::handshake(TokioIo::new(TcpStream::connect(addr).await.unwrap())).await.unwrap();
    tokio::spawn(conn);
    let healthy = || Request::get("/-/healthy").header("host", "x").body(Empty::<Bytes>::new()).unwrap();
    assert_eq!(kept.send_request(healthy()).await.unwrap().status(), StatusCode::OK);
    // A third connects (the kernel completes the handshake) but is not served.
    let third = tokio::spawn(async move { get(addr, "/-/healthy", &[]).await.status });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "served beyond the limit");
    // The open connections are still served meanwhile.
    assert_eq!(kept.send_request(healthy()).await.unwrap().status(), StatusCode::OK);
    // One leaves: the third is served.
    drop(idle);
    let status = tokio::time::timeout(Duration::from_secs(5), third).await.expect("served once a slot freed").unwrap();
    assert_eq!(status, StatusCode::OK);
    drop(kept);
    srv.stop().await.unwrap();
}

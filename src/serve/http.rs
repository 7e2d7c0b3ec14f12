//! Binding and the accept loop: one task per connection, HTTP/1.1 and HTTP/2, optional TLS,
//! graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};

use super::reload::Reloader;
use super::routes::{handle, Site};
use super::state::ServeState;
use super::web_config::WebConfigError;

/// How long in-flight requests may run after shutdown was requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A new connection that sends no bytes by then is dropped.
const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not sent complete request headers by then is dropped (slowloris). hyper
/// also applies it to idle keep-alive connections, so it is longer than common scrape intervals.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 pings find dead peers on otherwise idle connections.
const H2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const H2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP endpoint's settings (the `--web.*` flags).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `":5558"` (all interfaces), `"127.0.0.1:5558"`, `"[::1]:5558"` or `"host:port"`.
    pub listen: String,
    /// Where the exposition is served, normally `/metrics`.
    pub telemetry_path: String,
    /// exporter-toolkit web config (TLS, basic auth); re-read for every connection.
    pub web_config_file: Option<PathBuf>,
    /// Shown on the landing page.
    pub version: String,
    /// Connections served at once; the accept loop waits for a free slot beyond it, so further
    /// clients queue in the kernel's listen backlog instead of taking file descriptors.
    pub max_connections: usize,
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid --web.listen-address {addr:?}: {reason}")]
    BadListenAddress { addr: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid --web.telemetry-path {0:?}: it must start with '/'")]
    BadTelemetryPath(String),
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
}

/// Splits `host:port` (host may be empty or `[v6]`) and checks the port.
fn split_listen(addr: &str) -> Result<(&str, u16), ServeError> {
    let bad = |reason: &str| ServeError::BadListenAddress {
        addr: addr.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port or :port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad("IPv6 addresses must be in brackets, e.g. [::1]:5558"));
    }
    if host.chars().any(char::is_whitespace) {
        return Err(bad("the host contains whitespace"));
    }
    Ok((host, port))
}

/// Binds the listen address. `":port"` binds all interfaces (IPv6 dual-stack when available,
/// else IPv4), like Go's `net.Listen`, so the flag means what it means for other exporters.
pub async fn bind(cfg: &HttpConfig) -> Result<TcpListener, ServeError> {
    let addr = cfg.listen.trim();
    let (host, port) = split_listen(addr)?;
    let bind_err = |source| ServeError::Bind {
        addr: addr.to_owned(),
        source,
    };
    let listener = if host.is_empty() {
        match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => l,
            Err(e6) => {
                tracing::debug!(error = %e6, "IPv6 wildcard bind failed, trying IPv4");
                TcpListener::bind(SocketAddr::from(([0u8; 4], port)))
                    .await
                    .map_err(bind_err)?
            }
        }
    } else {
        let mut addrs =
            tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port))
                .await
                .map_err(|e| ServeError::BadListenAddress {
                    addr: addr.to_owned(),
                    reason: format!("cannot resolve {host:?}: {e}"),
                })?
                .peekable();
        if addrs.peek().is_none() {
            return Err(ServeError::BadListenAddress {
                addr: addr.to_owned(),
                reason: format!("{host:?} resolves to no address"),
            });
        }
        let mut last = None;
        let mut bound = None;
        for a in addrs {
            match TcpListener::bind(a).await {
                Ok(l) => {
                    bound = Some(l);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        match bound {
            Some(l) => l,
            None => return Err(bind_err(last.expect("at least one address was tried"))),
        }
    };
    Ok(listener)
}

/// Serves until `shutdown` resolves, then stops accepting and gives open requests
/// [`SHUTDOWN_GRACE`] to finish. Fails early only on a telemetry path without a leading `/` or
/// an unusable initial web config; later config errors keep the last good config.
pub async fn serve(
    listener: TcpListener,
    cfg: HttpConfig,
    state: ServeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if !cfg.telemetry_path.starts_with('/') {
        return Err(ServeError::BadTelemetryPath(cfg.telemetry_path));
    }
    let reloader = Arc::new(Reloader::new(cfg.web_config_file.as_deref())?);
    let site = Arc::new(Site::new(&cfg.telemetry_path, &cfg.version, state));
    tracing::info!(
        addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        path = %cfg.telemetry_path,
        web_config = ?cfg.web_config_file,
        "HTTP endpoint listening"
    );
    let graceful = GracefulShutdown::new();
    // Connections not yet handed to hyper (sniffing, TLS handshake) watch this instead.
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections.max(1)));
    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            s = Arc::clone(&slots).acquire_owned() => s.expect("the semaphore is never closed"),
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let watcher = graceful.watcher();
                let site = Arc::clone(&site);
                let reloader = Arc::clone(&reloader);
                let closing = closing.clone();
                tokio::spawn(async move {
                    connection(stream, peer, site, reloader, watcher, closing).await;
                    drop(slot);
                });
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning, keep serving open connections.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    tracing::info!(
        connections = graceful.count(),
        "HTTP endpoint shutting down"
    );
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "HTTP connections still open after the shutdown grace period; dropping them"
        );
    }
    Ok(())
}

/// Which HTTP version a connection speaks, decided before hyper sees it so that every phase of a
/// connection is under a timeout (hyper-util's auto-detection waits for bytes without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Http1,
    Http2,
}

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Peeks (without consuming) until the first bytes tell HTTP/2 prior knowledge from HTTP/1.
/// `None` when the client closes or sends nothing within [`FIRST_BYTES_TIMEOUT`].
async fn sniff(stream: &TcpStream) -> Option<Proto> {
    let detect = async {
        let mut buf = [0u8; 24];
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if buf[..n] != H2_PREFACE[..n] {
                return Some(Proto::Http1);
            }
            if n == H2_PREFACE.len() {
                return Some(Proto::Http2);
            }
            // A prefix of the preface: wait for the rest (peek would return at once again).
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(FIRST_BYTES_TIMEOUT, detect)
        .await
        .ok()
        .flatten()
}

/// Serves one connection with the web config current at accept time.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    site: Arc<Site>,
    reloader: Arc<Reloader>,
    watcher: Watcher,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let active = reloader.current();
    let service = {
        let active = Arc::clone(&active);
        service_fn(move |req| {
            let site = Arc::clone(&site);
            let active = Arc::clone(&active);
            async move { Ok::<_, Infallible>(handle(req, &site, &active).await) }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        .keep_alive_interval(H2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEPALIVE_TIMEOUT);
    let only = |b: auto::Builder<TokioExecutor>, p: Proto| match p {
        Proto::Http1 => b.http1_only(),
        Proto::Http2 => b.http2_only(),
    };
    let result = match &active.tls {
        None => {
            let sniffed = tokio::select! {
                p = sniff(&stream) => p,
                _ = closing.wait_for(|c| *c) => None,
            };
            let Some(mut proto) = sniffed else {
                tracing::debug!(%peer, "connection closed or idle before a request");
                return;
            };
            if proto == Proto::Http2 && !active.http2 {
                // Refused as hyper would: an HTTP/1-only server answers the preface with 505/close.
                proto = Proto::Http1;
            }
            let builder = only(builder, proto);
            watcher
                .watch(builder.serve_connection(TokioIo::new(stream), service))
                .await
        }
        Some(acceptor) => {
            let handshake = tokio::select! {
                r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => r,
                _ = closing.wait_for(|c| *c) => return,
            };
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // Over TLS the version is negotiated by ALPN (we only offer h2 when enabled).
            let proto = match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => Proto::Http2,
                _ => Proto::Http1,
            };
            let builder = only(builder, proto);
            watcher
                .watch(builder.serve_connection(TokioIo::new(tls), service))
                .await
        }
    };
    if let Err(e) = result {
        // Malformed requests, resets, timeouts: the client's problem, hyper already answered.
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_forms() {
        assert_eq!(split_listen(":5558").unwrap(), ("", 5558));
        assert_eq!(split_listen("127.0.0.1:0").unwrap(), ("127.0.0.1", 0));
        assert_eq!(split_listen("[::1]:5558").unwrap(), ("[::1]", 5558));
        for bad in [
            "5558",
            "127.0.0.1",
            ":99999",
            "::1:5558",
            "host:port",
            "a b:1",
            "",
        ] {
            assert!(
                matches!(split_listen(bad), Err(ServeError::BadListenAddress { .. })),
                "{bad:?}"
            );
        }
    }
}

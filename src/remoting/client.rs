//! The connection pool: one connection per address, as Java keeps in `channelTables`.
//!
//! `invoke` connects on demand, signs with ACL credentials when configured, records the
//! exporter's request metrics, and turns non-success response codes into typed errors. Servers
//! close connections idle for 120 s, so a request that finds its pooled connection closed is
//! retried once on a fresh one; that is normal, not an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::acl::{self, AclCredentials};
use super::codes::response;
use super::connection::Connection;
use super::error::RemotingError;
use super::frame::{RemotingCommand, DEFAULT_MAX_FRAME_LENGTH};
use super::tls::{self, TlsOptions};

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Default per-request timeout (`--collect.timeout`).
    pub request_timeout: Duration,
    /// Largest inbound length word accepted.
    pub max_frame_length: usize,
    pub acl: Option<AclCredentials>,
    pub tls: Option<TlsOptions>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            acl: None,
            tls: None,
        }
    }
}

/// Shared by every task of the exporter; cheap to clone.
#[derive(Clone)]
pub struct RemotingClient {
    inner: Arc<Inner>,
}

struct Inner {
    opts: ClientOptions,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Per-address slot; the inner lock serialises connecting to one address only.
    conns: std::sync::Mutex<HashMap<String, Arc<Mutex<Option<Arc<Connection>>>>>>,
}

impl RemotingClient {
    pub fn new(opts: ClientOptions) -> Result<Self, tls::TlsError> {
        let tls = match &opts.tls {
            Some(t) => Some(tls::client_config(t)?),
            None => None,
        };
        Ok(RemotingClient { inner: Arc::new(Inner { opts, tls, conns: Default::default() }) })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.opts
    }

    /// Sends `cmd` to `addr` with the default timeout; success means response code 0.
    pub async fn invoke(&self, addr: &str, cmd: RemotingCommand) -> Result<RemotingCommand, RemotingError> {
        self.invoke_with_timeout(addr, cmd, self.inner.opts.request_timeout).await
    }

    /// Like `invoke`, but returns any answer, whatever its response code.
    pub async fn invoke_raw(&self, addr: &str, cmd: RemotingCommand, timeout: Duration) -> Result<RemotingCommand, RemotingError> {
        let code = cmd.code;
        let started = Instant::now();
        let result = self.invoke_inner(addr, cmd, timeout).await;
        let m = crate::self_metrics::global();
        let code_s = code.to_string();
        m.request_duration.with_label_values(&[&code_s]).observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(r) if r.code == response::SUCCESS => "success",
            Ok(r) => response_outcome(r),
            Err(e) => e.outcome(),
        };
        m.requests_total.with_label_values(&[&code_s, outcome]).inc();
        result
    }

    pub async fn invoke_with_timeout(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let request_code = cmd.code;
        let resp = self.invoke_raw(addr, cmd, timeout).await?;
        if resp.code != response::SUCCESS {
            return Err(RemotingError::Response {
                addr: addr.to_string(),
                request_code,
                response_code: resp.code,
                remark: resp.remark.unwrap_or_default(),
            });
        }
        Ok(resp)
    }

    async fn invoke_inner(&self, addr: &str, mut cmd: RemotingCommand, timeout: Duration) -> Result<RemotingCommand, RemotingError> {
        if let Some(creds) = &self.inner.opts.acl {
            acl::sign(&mut cmd.ext_fields, &cmd.body, creds);
        }
        let deadline = Instant::now() + timeout;
        let (conn, fresh) = self.connection(addr, timeout).await?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if fresh {
            // A new connection is not retried: no copy of the request needed.
            return conn.request(cmd, remaining).await;
        }
        match conn.request(cmd.clone(), remaining).await {
            Err(e) if e.is_stale_connection() => {
                // The pooled connection died while idle; one retry on a new one.
                tracing::debug!(addr, error = %e, "pooled connection was stale, reconnecting");
                let (conn, _) = self.connection(addr, deadline.saturating_duration_since(Instant::now())).await?;
                conn.request(cmd, deadline.saturating_duration_since(Instant::now())).await
            }
            r => r,
        }
    }

    /// Returns a live connection to `addr` and whether it was just opened.
    async fn connection(&self, addr: &str, budget: Duration) -> Result<(Arc<Connection>, bool), RemotingError> {
        let slot = {
            let mut map = self.inner.conns.lock().unwrap();
            match map.get(addr) {
                Some(slot) => slot.clone(),
                None => map.entry(addr.to_string()).or_default().clone(),
            }
        };
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.is_alive() {
                return Ok((c.clone(), false));
            }
        }
        let budget = budget.min(self.inner.opts.connect_timeout);
        let conn = Arc::new(tokio::time::timeout(budget, self.connect(addr)).await.map_err(|_| {
            RemotingError::ConnectTimeout { addr: addr.to_string(), after: budget }
        })??);
        *guard = Some(conn.clone());
        Ok((conn, true))
    }

    async fn connect(&self, addr: &str) -> Result<Connection, RemotingError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| RemotingError::Connect { addr: addr.to_string(), source: e })?;
        let _ = tcp.set_nodelay(true);
        let max = self.inner.opts.max_frame_length;
        match (&self.inner.tls, &self.inner.opts.tls) {
            (Some(cfg), Some(opts)) => {
                let name = tls::server_name(opts, addr).map_err(|e| RemotingError::Tls { addr: addr.to_string(), reason: e.to_string() })?;
                let stream = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| RemotingError::Tls { addr: addr.to_string(), reason: e.to_string() })?;
                Ok(Connection::start(addr, stream, max))
            }
            _ => Ok(Connection::start(addr, tcp, max)),
        }
    }

    /// Drops every pooled connection (used on shutdown and in tests).
    pub fn close_all(&self) {
        let map = std::mem::take(&mut *self.inner.conns.lock().unwrap());
        for (_, slot) in map {
            if let Ok(g) = slot.try_lock() {
                if let Some(c) = g.as_ref() {
                    c.close();
                }
            }
        }
    }
}

fn response_outcome(r: &RemotingCommand) -> &'static str {
    RemotingError::Response {
        addr: String::new(),
        request_code: 0,
        response_code: r.code,
        remark: r.remark.clone().unwrap_or_default(),
    }
    .outcome()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::frame::{self, FLAG_RESPONSE};
    use bytes::BytesMut;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Echo server answering each request with its own code as remark; closes each connection
    /// after `per_conn` answers, like a server closing idle connections.
    async fn server(per_conn: usize, answer_code: i32) -> (String, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = BytesMut::new();
                    let mut n = 0;
                    loop {
                        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                        while let Ok(Some(req)) = frame::decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH) {
                            let mut resp = RemotingCommand::response_to(&req, answer_code, Some(format!("r{}", req.code)));
                            resp.flag = FLAG_RESPONSE;
                            resp.ext_fields = req.ext_fields.clone();
                            s.write_all(&resp.to_bytes()).await.unwrap();
                            n += 1;
                            if n >= per_conn {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, h)
    }

    #[tokio::test]
    async fn reconnects_after_server_closes_idle_connection() {
        let (addr, _h) = server(1, 0).await;
        let c = RemotingClient::new(ClientOptions::default()).unwrap();
        for i in 0..3 {
            let r = c.invoke(&addr, RemotingCommand::request(28)).await.unwrap_or_else(|e| panic!("round {i}: {e}"));
            assert_eq!(r.remark.as_deref(), Some("r28"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn non_success_code_is_typed() {
        let (addr, _h) = server(100, 3).await;
        let c = RemotingClient::new(ClientOptions::default()).unwrap();
        let e = c.invoke(&addr, RemotingCommand::request(907)).await.unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        assert_eq!(e.outcome(), "unsupported");
    }

    #[tokio::test]
    async fn acl_fields_are_sent() {
        let (addr, _h) = server(100, 0).await;
        let opts = ClientOptions {
            acl: Some(AclCredentials { access_key: "ak".into(), secret_key: "sk".into(), security_token: None }),
            ..Default::default()
        };
        let c = RemotingClient::new(opts).unwrap();
        let r = c.invoke(&addr, RemotingCommand::request(28)).await.unwrap();
        assert_eq!(r.ext_fields.get("AccessKey").map(String::as_str), Some("ak"));
        assert_eq!(r.ext_fields.get("Signature").map(String::as_str), Some("AL2pakQ4gJnpWeA42COL+SacNKk="));
    }

    #[tokio::test]
    async fn connection_refused_is_connect_error() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let c = RemotingClient::new(ClientOptions::default()).unwrap();
        let e = c.invoke(&addr, RemotingCommand::request(28)).await.unwrap_err();
        assert_eq!(e.outcome(), "connect", "{e}");
    }
}

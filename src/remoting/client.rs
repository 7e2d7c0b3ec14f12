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
use super::exchange::OwnedConn;
use super::stream::Stream;
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
    /// Idle sockets for `exchange`, one per address, taken out while a batch runs.
    owned: std::sync::Mutex<HashMap<String, OwnedConn>>,
}

impl RemotingClient {
    pub fn new(opts: ClientOptions) -> Result<Self, tls::TlsError> {
        let tls = match &opts.tls {
            Some(t) => Some(tls::client_config(t)?),
            None => None,
        };
        Ok(RemotingClient { inner: Arc::new(Inner { opts, tls, conns: Default::default(), owned: Default::default() }) })
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
        observe(code, started, outcome_of(&result));
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
        check_success(addr, request_code, resp)
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
        Ok(Connection::start(addr, self.open(addr).await?, self.inner.opts.max_frame_length))
    }

    /// A new socket to `addr`, through TLS when configured.
    async fn open(&self, addr: &str) -> Result<Stream, RemotingError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| RemotingError::Connect { addr: addr.to_string(), source: e })?;
        let _ = tcp.set_nodelay(true);
        match (&self.inner.tls, &self.inner.opts.tls) {
            (Some(cfg), Some(opts)) => {
                let name = tls::server_name(opts, addr).map_err(|e| RemotingError::Tls { addr: addr.to_string(), reason: e.to_string() })?;
                let stream = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| RemotingError::Tls { addr: addr.to_string(), reason: e.to_string() })?;
                Ok(Stream::Tls(Box::new(stream)))
            }
            _ => Ok(Stream::Tcp(tcp)),
        }
    }

    /// Sends `cmds` to `addr` together, with one deadline (the default timeout) for the whole
    /// batch, and calls `on_answer(index, result)` exactly once per command, as its answer
    /// arrives; success means response code 0, as with `invoke`. The batch runs on a socket this
    /// task holds alone (see `exchange`), so answers are decoded where they are read. A failure
    /// ends the batch: what was answered stands, the rest get the error, and the socket is
    /// dropped. A pooled socket that fails before any answer (closed while idle) is replaced
    /// once, as `invoke` does.
    pub async fn exchange(
        &self,
        addr: &str,
        mut cmds: Vec<RemotingCommand>,
        mut on_answer: impl FnMut(usize, Result<RemotingCommand, RemotingError>),
    ) {
        if let Some(creds) = &self.inner.opts.acl {
            for c in cmds.iter_mut() {
                acl::sign(&mut c.ext_fields, &c.body, creds);
            }
        }
        let timeout = self.inner.opts.request_timeout;
        let started = Instant::now();
        let deadline = started + timeout;
        let codes: Vec<i32> = cmds.iter().map(|c| c.code).collect();
        let mut answered = vec![false; cmds.len()];
        let mut conn = self.inner.owned.lock().unwrap().remove(addr);
        let mut retried = false;
        let failure = loop {
            let fresh = conn.is_none();
            let mut c = match conn.take() {
                Some(c) => c,
                None => {
                    let budget = deadline.saturating_duration_since(Instant::now()).min(self.inner.opts.connect_timeout);
                    // Boxed: connecting (TLS handshake included) happens once per pooled socket,
                    // and inline it would make every batch's future, moved into each fetch task
                    // of every cycle, several times larger.
                    match tokio::time::timeout(budget, Box::pin(self.open(addr))).await {
                        Ok(Ok(s)) => OwnedConn::new(s),
                        Ok(Err(e)) => break e,
                        Err(_) => break RemotingError::ConnectTimeout { addr: addr.to_string(), after: budget },
                    }
                }
            };
            let (bytes, opaques) = c.encode(&mut cmds);
            let mut delivered = 0;
            let batch = c.run(addr, &bytes, &opaques, self.inner.opts.max_frame_length, |i, cmd| {
                answered[i] = true;
                delivered += 1;
                let r = record(codes[i], started, check_success(addr, codes[i], cmd));
                on_answer(i, r);
            });
            let outcome = tokio::time::timeout_at(deadline.into(), batch).await;
            match outcome {
                Ok(Ok(clean)) => {
                    if clean {
                        self.inner.owned.lock().unwrap().entry(addr.to_string()).or_insert(c);
                    }
                    return;
                }
                Ok(Err(e)) if !fresh && !retried && delivered == 0 && e.is_stale_connection() => {
                    tracing::debug!(addr, error = %e, "pooled connection was stale, reconnecting");
                    retried = true;
                }
                Ok(Err(e)) => break e,
                Err(_) => break RemotingError::Timeout { addr: addr.to_string(), code: 0, after: timeout },
            }
        };
        for (i, done) in answered.iter().enumerate() {
            if !done {
                let e = match &failure {
                    RemotingError::Timeout { addr, after, .. } => RemotingError::Timeout { addr: addr.clone(), code: codes[i], after: *after },
                    e => e.duplicate(),
                };
                on_answer(i, record(codes[i], started, Err(e)));
            }
        }
    }

    /// Drops every pooled connection (used on shutdown and in tests).
    pub fn close_all(&self) {
        self.inner.owned.lock().unwrap().clear();
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

/// An answer as `invoke` returns it: a non-success response code is a typed error.
fn check_success(addr: &str, request_code: i32, resp: RemotingCommand) -> Result<RemotingCommand, RemotingError> {
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

/// `rocketmq_exporter_requests_total{outcome}` of a raw answer or failure.
fn outcome_of(result: &Result<RemotingCommand, RemotingError>) -> &'static str {
    match result {
        Ok(r) if r.code == response::SUCCESS => "success",
        Ok(r) => response_outcome(r),
        Err(e) => e.outcome(),
    }
}

/// Records one request's duration and outcome in the exporter's own metrics.
fn observe(code: i32, started: Instant, outcome: &str) {
    let m = crate::self_metrics::global();
    let mut b = itoa::Buffer::new();
    let code_s = b.format(code);
    m.request_duration.with_label_values(&[code_s]).observe(started.elapsed().as_secs_f64());
    m.requests_total.with_label_values(&[code_s, outcome]).inc();
}

/// `observe` for an answer already checked by `check_success`, passing it through.
fn record(code: i32, started: Instant, result: Result<RemotingCommand, RemotingError>) -> Result<RemotingCommand, RemotingError> {
    observe(code, started, match &result {
        Ok(_) => "success",
        Err(e) => e.outcome(),
    });
    result
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

    /// Runs one batch and returns each index's remark or error outcome, by index.
    async fn batch(c: &RemotingClient, addr: &str, codes: &[i32]) -> Vec<Result<String, &'static str>> {
        let mut got: Vec<Option<Result<String, &'static str>>> = vec![None; codes.len()];
        let cmds = codes.iter().map(|&code| RemotingCommand::request(code)).collect();
        c.exchange(addr, cmds, |i, r| {
            assert!(got[i].is_none(), "index {i} answered twice");
            got[i] = Some(r.map(|r| r.remark.unwrap_or_default()).map_err(|e| e.outcome()));
        })
        .await;
        got.into_iter().map(|g| g.expect("every index answered")).collect()
    }

    #[tokio::test]
    async fn batch_reuses_its_socket_and_replaces_a_stale_one_once() {
        // The server closes each connection after 3 answers: the next batch finds its pooled
        // socket closed before any answer, and must get its answers on a fresh one.
        let (addr, _h) = server(3, 0).await;
        let c = RemotingClient::new(ClientOptions::default()).unwrap();
        for round in 0..3 {
            assert_eq!(batch(&c, &addr, &[28, 26, 317]).await, vec![Ok("r28".into()), Ok("r26".into()), Ok("r317".into())], "round {round}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn batch_answers_what_came_and_fails_the_rest_with_the_cause() {
        // Two answers, then the server hangs up: the third request gets the transport error.
        let (addr, _h) = server(2, 0).await;
        let c = RemotingClient::new(ClientOptions::default()).unwrap();
        assert_eq!(batch(&c, &addr, &[28, 26, 317]).await, vec![Ok("r28".into()), Ok("r26".into()), Err("transport")]);
        // A non-success code is a typed error for that index only.
        let (addr, _h) = server(100, 3).await;
        assert_eq!(batch(&c, &addr, &[28, 907]).await, vec![Err("unsupported"), Err("unsupported")]);
    }

    #[tokio::test]
    async fn batch_deadline_times_out_every_unanswered_request() {
        // Accepts and never answers.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let _h = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                held.push(l.accept().await.unwrap().0);
            }
        });
        let c = RemotingClient::new(ClientOptions { request_timeout: Duration::from_millis(200), ..Default::default() }).unwrap();
        let t = Instant::now();
        let mut got = Vec::new();
        c.exchange(&addr, vec![RemotingCommand::request(28), RemotingCommand::request(317)], |i, r| got.push((i, r.unwrap_err())))
            .await;
        assert!(t.elapsed() < Duration::from_secs(2), "one deadline for the batch: {:?}", t.elapsed());
        assert_eq!(got.len(), 2);
        for (i, e) in &got {
            let want = [28, 317][*i];
            assert!(matches!(e, RemotingError::Timeout { code, .. } if *code == want), "{e}");
        }
    }

    #[tokio::test]
    async fn batch_requests_are_signed() {
        let (addr, _h) = server(100, 0).await;
        let opts = ClientOptions {
            acl: Some(AclCredentials { access_key: "ak".into(), secret_key: "sk".into(), security_token: None }),
            ..Default::default()
        };
        let c = RemotingClient::new(opts).unwrap();
        let mut sigs = Vec::new();
        c.exchange(&addr, vec![RemotingCommand::request(28), RemotingCommand::request(28)], |_, r| {
            sigs.push(r.unwrap().ext_fields.get("Signature").cloned())
        })
        .await;
        assert_eq!(sigs, vec![Some("AL2pakQ4gJnpWeA42COL+SacNKk=".to_string()); 2]);
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

//! One socket to one RocketMQ node, with requests multiplexed by `opaque`.
//!
//! Java peers process requests on thread pools, so answers on one connection can come back out of
//! order; every request registers a one-shot slot under its opaque and the reader task fills it.
//! The connection is dropped as a whole on EOF, I/O error, framing error or a request timeout
//! (late answers would otherwise pile up, as Java's `clientCloseSocketIfTimeout` reasons); the
//! pool then reconnects on the next request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::error::RemotingError;
use super::frame::{self, FrameError, RemotingCommand};

type Slot = oneshot::Sender<Result<RemotingCommand, RemotingError>>;

struct Shared {
    addr: String,
    pending: Mutex<HashMap<i32, Slot>>,
    alive: AtomicBool,
}

impl Shared {
    /// Fails every waiting request and marks the connection dead. Idempotent.
    fn fail_all(&self, make: impl Fn() -> RemotingError) {
        self.alive.store(false, Ordering::SeqCst);
        let drained: Vec<Slot> = self.pending.lock().unwrap().drain().map(|(_, s)| s).collect();
        for slot in drained {
            let _ = slot.send(Err(make()));
        }
    }
}

/// Read buffer of an idle connection: enough for most answers' headers and small bodies. Once a
/// frame's length prefix is in, the buffer grows to the whole frame at once.
const READ_BUF: usize = 4 * 1024;
/// Largest up-front reservation for an announced frame; beyond it the buffer grows as bytes
/// arrive, so a peer announcing a big frame and sending nothing cannot make us hold much.
const MAX_RESERVE: usize = 4 << 20;

/// A live connection; cheap to share behind an `Arc`.
pub struct Connection {
    shared: Arc<Shared>,
    writer: mpsc::Sender<bytes::Bytes>,
    next_opaque: AtomicI32,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Connection {
    /// Wraps an established stream (plain TCP or TLS) and starts its reader and writer tasks.
    pub fn start<S>(addr: &str, stream: S, max_frame_length: usize) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            pending: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
        });
        let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(64);

        let w_shared = shared.clone();
        let writer = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Requests queued together (a master's four) go out in one write, one syscall.
                let written = match rx.try_recv() {
                    Err(_) => wr.write_all(&first).await,
                    Ok(second) => {
                        let mut batch = BytesMut::with_capacity(first.len() + second.len() + 512);
                        batch.extend_from_slice(&first);
                        batch.extend_from_slice(&second);
                        while let Ok(more) = rx.try_recv() {
                            batch.extend_from_slice(&more);
                        }
                        wr.write_all(&batch).await
                    }
                };
                if let Err(e) = written {
                    let addr = w_shared.addr.clone();
                    let kind = e.kind();
                    w_shared.fail_all(|| RemotingError::Io { addr: addr.clone(), source: std::io::Error::from(kind) });
                    return;
                }
            }
            let _ = wr.shutdown().await;
        });

        let r_shared = shared.clone();
        let reader = tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(READ_BUF);
            loop {
                // Drain every whole frame already buffered.
                let mut split_any = false;
                loop {
                    match frame::decode(&mut buf, max_frame_length) {
                        Ok(Some(cmd)) => {
                            split_any = true;
                            if !cmd.is_response() {
                                // Server-initiated request (we never send HEART_BEAT, so rare): ignore.
                                tracing::debug!(addr = %r_shared.addr, code = cmd.code, "ignoring server-initiated request");
                                continue;
                            }
                            let slot = r_shared.pending.lock().unwrap().remove(&cmd.opaque);
                            match slot {
                                Some(s) => {
                                    let _ = s.send(Ok(cmd));
                                }
                                None => {
                                    tracing::debug!(addr = %r_shared.addr, opaque = cmd.opaque, "dropping answer for unknown or timed-out request")
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let addr = r_shared.addr.clone();
                            r_shared.fail_all(|| RemotingError::Protocol { addr: addr.clone(), source: e.clone() });
                            return;
                        }
                    }
                }
                // A frame announced as larger than the cap was refused above, so the buffer never
                // grows past one legal frame plus one read.
                // Between answers, give back what a large answer grew: pooled connections to
                // hundreds of brokers otherwise keep ~one consume-stats body each between cycles.
                // A decoded frame shares the buffer's allocation, so `capacity()` cannot show
                // how much is pinned: start a fresh buffer after every frame boundary.
                if buf.is_empty() && split_any {
                    buf = BytesMut::with_capacity(READ_BUF);
                } else if buf.len() >= 4 {
                    // `decode` above accepted this length (≤ max), so reserving it is bounded.
                    let frame = 4 + u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                    let want = frame.min(MAX_RESERVE);
                    if want > buf.capacity() {
                        buf.reserve(want - buf.len());
                    }
                }
                match rd.read_buf(&mut buf).await {
                    Ok(0) => {
                        let addr = r_shared.addr.clone();
                        if buf.is_empty() {
                            r_shared.fail_all(|| RemotingError::Closed { addr: addr.clone() });
                        } else {
                            // Closed mid-frame: report what was cut.
                            let e = FrameError::BadHeader {
                                kind: "frame",
                                reason: format!("connection closed after {} bytes of an incomplete frame", buf.len()),
                            };
                            r_shared.fail_all(|| RemotingError::Protocol { addr: addr.clone(), source: e.clone() });
                        }
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let addr = r_shared.addr.clone();
                        let kind = e.kind();
                        r_shared.fail_all(|| RemotingError::Io { addr: addr.clone(), source: std::io::Error::from(kind) });
                        return;
                    }
                }
            }
        });

        Connection { shared, writer: tx, next_opaque: AtomicI32::new(1), tasks: vec![writer, reader] }
    }

    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::SeqCst)
    }

    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// Closes the connection, failing whatever is still waiting.
    pub fn close(&self) {
        let addr = self.shared.addr.clone();
        self.shared.fail_all(|| RemotingError::Closed { addr: addr.clone() });
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Sends `cmd` (its opaque is assigned here) and waits for the matching answer.
    pub async fn request(&self, mut cmd: RemotingCommand, timeout: Duration) -> Result<RemotingCommand, RemotingError> {
        if !self.is_alive() {
            return Err(RemotingError::Closed { addr: self.shared.addr.clone() });
        }
        let opaque = self.next_opaque.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF;
        cmd.opaque = opaque;
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().unwrap().insert(opaque, tx);
        // Re-check after registering, so a concurrent fail_all cannot strand this slot.
        if !self.is_alive() {
            self.shared.pending.lock().unwrap().remove(&opaque);
            return Err(RemotingError::Closed { addr: self.shared.addr.clone() });
        }
        let code = cmd.code;
        let bytes = cmd.to_bytes();
        let send_and_wait = async {
            self.writer
                .send(bytes)
                .await
                .map_err(|_| RemotingError::Closed { addr: self.shared.addr.clone() })?;
            rx.await.unwrap_or_else(|_| Err(RemotingError::Closed { addr: self.shared.addr.clone() }))
        };
        match tokio::time::timeout(timeout, send_and_wait).await {
            Ok(r) => r,
            Err(_) => {
                self.shared.pending.lock().unwrap().remove(&opaque);
                // Drop the socket: a hung peer must not keep a half-used connection around.
                self.close();
                Err(RemotingError::Timeout { addr: self.shared.addr.clone(), code, after: timeout })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::frame::{RemotingCommand, DEFAULT_MAX_FRAME_LENGTH, FLAG_RESPONSE};
    use tokio::io::duplex;

    /// A tiny in-memory peer: answers requests in reverse order of arrival, in pairs.
    #[tokio::test]
    async fn out_of_order_answers_are_matched_by_opaque() {
        let (client, mut server) = duplex(1 << 16);
        let conn = Arc::new(Connection::start("test", client, DEFAULT_MAX_FRAME_LENGTH));
        let srv = tokio::spawn(async move {
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            while got.len() < 2 {
                server.read_buf(&mut buf).await.unwrap();
                while let Some(c) = frame::decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH).unwrap() {
                    got.push(c);
                }
            }
            for req in got.iter().rev() {
                let mut resp = RemotingCommand::response_to(req, 0, None);
                resp.flag = FLAG_RESPONSE;
                resp = resp.with_body(format!("answer-{}", req.code).into_bytes());
                server.write_all(&resp.to_bytes()).await.unwrap();
            }
            server
        });
        let c1 = conn.clone();
        let c2 = conn.clone();
        let a = tokio::spawn(async move { c1.request(RemotingCommand::request(28), Duration::from_secs(5)).await });
        let b = tokio::spawn(async move { c2.request(RemotingCommand::request(26), Duration::from_secs(5)).await });
        let a = a.await.unwrap().unwrap();
        let b = b.await.unwrap().unwrap();
        assert_eq!(&a.body[..], b"answer-28");
        assert_eq!(&b.body[..], b"answer-26");
        drop(srv.await.unwrap());
    }

    #[tokio::test]
    async fn timeout_closes_connection() {
        let (client, _server) = duplex(1 << 16);
        let conn = Connection::start("hung", client, DEFAULT_MAX_FRAME_LENGTH);
        let err = conn.request(RemotingCommand::request(28), Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, RemotingError::Timeout { code: 28, .. }), "{err}");
        assert!(!conn.is_alive());
    }

    #[tokio::test]
    async fn oversized_frame_fails_pending_without_allocating() {
        let (client, mut server) = duplex(1 << 16);
        let conn = Connection::start("big", client, DEFAULT_MAX_FRAME_LENGTH);
        tokio::spawn(async move {
            let mut b = [0u8; 256];
            let _ = server.read(&mut b).await;
            server.write_all(&[0x80, 0, 0, 0, 0, 0, 0, 0]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let err = conn.request(RemotingCommand::request(28), Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, RemotingError::Protocol { source: FrameError::TooLong { .. }, .. }), "{err}");
        assert_eq!(err.outcome(), "protocol");
        assert!(!conn.is_alive());
    }

    #[tokio::test]
    async fn eof_mid_frame_is_a_protocol_error_and_clean_eof_is_closed() {
        for mid in [true, false] {
            let (client, mut server) = duplex(1 << 16);
            let conn = Connection::start("eof", client, DEFAULT_MAX_FRAME_LENGTH);
            tokio::spawn(async move {
                let mut b = [0u8; 256];
                let _ = server.read(&mut b).await;
                if mid {
                    server.write_all(&[0, 0, 0, 100, 0, 0]).await.unwrap();
                }
                drop(server);
            });
            let err = conn.request(RemotingCommand::request(28), Duration::from_secs(5)).await.unwrap_err();
            if mid {
                assert!(matches!(err, RemotingError::Protocol { .. }), "{err}");
            } else {
                assert!(matches!(err, RemotingError::Closed { .. }), "{err}");
            }
        }
    }
}

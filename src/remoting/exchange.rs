//! A batch of requests on a socket its caller owns: one write out, the answers read and handed
//! over in the caller's own task, in arrival order.
//!
//! The collector asks each broker the same few questions every cycle, all at once. On the
//! multiplexed [`Connection`](super::connection::Connection) each answer crosses from the reader
//! task to the waiting one (a wake-up on another thread, a one-shot channel, a timer per request);
//! here the task that wants the answers reads the socket itself, so an answer is decoded where it
//! lands. Answers may come in any order (Java's thread pools); they are matched by opaque.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::RemotingError;
use super::frame::{self, FrameError, RemotingCommand};
use super::stream::Stream;

/// First read buffer of a batch; a frame whose length word has arrived gets its whole size.
const READ_BUF: usize = 16 * 1024;
/// Largest up-front reservation for an announced frame (as the multiplexed connection).
const MAX_RESERVE: usize = 4 << 20;

/// A socket between batches, with the next opaque to use on it.
pub struct OwnedConn {
    pub(crate) stream: Stream,
    next_opaque: i32,
}

impl OwnedConn {
    pub fn new(stream: Stream) -> Self {
        OwnedConn { stream, next_opaque: 1 }
    }

    /// Assigns the batch's opaques and encodes it into one buffer.
    pub fn encode(&mut self, cmds: &mut [RemotingCommand]) -> (BytesMut, Vec<i32>) {
        let mut out = BytesMut::with_capacity(cmds.len() * 256);
        let mut opaques = Vec::with_capacity(cmds.len());
        for c in cmds.iter_mut() {
            c.opaque = self.next_opaque;
            self.next_opaque = self.next_opaque.wrapping_add(1) & 0x7FFF_FFFF;
            opaques.push(c.opaque);
            c.encode(&mut out);
        }
        (out, opaques)
    }

    /// Writes `requests` and reads until every opaque in `opaques` is answered, calling
    /// `on_answer(index, answer)` for each as it arrives. Frames that are not answers to this
    /// batch (server-initiated requests, unknown opaques) are skipped. `Ok(true)` when the socket
    /// ended the batch clean (nothing buffered beyond the last answer) and may be reused.
    pub async fn run(
        &mut self,
        addr: &str,
        requests: &[u8],
        opaques: &[i32],
        max_frame_length: usize,
        mut on_answer: impl FnMut(usize, RemotingCommand),
    ) -> Result<bool, RemotingError> {
        let io_err = |e: std::io::Error| RemotingError::Io { addr: addr.to_string(), source: e };
        self.stream.write_all(requests).await.map_err(io_err)?;
        let mut answered = vec![false; opaques.len()];
        let mut left = opaques.len();
        let mut buf = BytesMut::with_capacity(READ_BUF);
        loop {
            loop {
                let n = match frame::check(&buf, max_frame_length) {
                    Ok(n) => n,
                    Err(FrameError::Incomplete) => break,
                    Err(e) => return Err(RemotingError::Protocol { addr: addr.to_string(), source: e }),
                };
                let cmd = frame::parse(buf.split_to(n).freeze())
                    .map_err(|e| RemotingError::Protocol { addr: addr.to_string(), source: e })?;
                if !cmd.is_response() {
                    tracing::debug!(addr, code = cmd.code, "ignoring server-initiated request");
                    continue;
                }
                match opaques.iter().position(|o| *o == cmd.opaque) {
                    Some(i) if !answered[i] => {
                        answered[i] = true;
                        left -= 1;
                        on_answer(i, cmd);
                    }
                    _ => tracing::debug!(addr, opaque = cmd.opaque, "dropping answer for an unknown request"),
                }
            }
            if left == 0 {
                return Ok(buf.is_empty());
            }
            if buf.len() >= 4 {
                // `check` accepted this length (≤ the cap), so reserving it is bounded.
                let frame = 4 + u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                let want = frame.min(MAX_RESERVE);
                if want > buf.capacity() {
                    buf.reserve(want - buf.len());
                }
            } else if buf.capacity() - buf.len() < 1024 {
                buf.reserve(READ_BUF);
            }
            if self.stream.read_buf(&mut buf).await.map_err(io_err)? == 0 {
                return Err(if buf.is_empty() {
                    RemotingError::Closed { addr: addr.to_string() }
                } else {
                    RemotingError::Protocol {
                        addr: addr.to_string(),
                        source: FrameError::BadHeader {
                            kind: "frame",
                            reason: format!("connection closed after {} bytes of an incomplete frame", buf.len()),
                        },
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::frame::{DEFAULT_MAX_FRAME_LENGTH, FLAG_RESPONSE};
    use tokio::net::{TcpListener, TcpStream};

    /// A loopback pair: our side as a `Stream`, the peer's raw socket.
    async fn pair() -> (OwnedConn, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), l.accept());
        (OwnedConn::new(Stream::Tcp(ours.unwrap())), theirs.unwrap().0)
    }

    async fn read_requests(peer: &mut TcpStream, n: usize) -> Vec<RemotingCommand> {
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        while got.len() < n {
            assert!(peer.read_buf(&mut buf).await.unwrap() > 0);
            while let Some(c) = frame::decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH).unwrap() {
                got.push(c);
            }
        }
        got
    }

    fn answer(req: &RemotingCommand, body: &str) -> bytes::Bytes {
        let mut r = RemotingCommand::response_to(req, 0, None).with_body(body.as_bytes().to_vec());
        r.flag = FLAG_RESPONSE;
        r.to_bytes()
    }

    #[tokio::test]
    async fn answers_out_of_order_and_split_across_reads_reach_their_index() {
        let (mut conn, mut peer) = pair().await;
        let mut cmds = vec![RemotingCommand::request(28), RemotingCommand::request(26), RemotingCommand::request(317)];
        let (bytes, opaques) = conn.encode(&mut cmds);
        let srv = tokio::spawn(async move {
            let reqs = read_requests(&mut peer, 3).await;
            // A server-initiated request, a stray answer, then the three in reverse order, the
            // whole stream written a few bytes at a time.
            let mut out = BytesMut::new();
            out.extend_from_slice(&RemotingCommand::request(40).to_bytes());
            let mut stray = RemotingCommand::response_to(&reqs[0], 0, None);
            stray.opaque = 999;
            stray.flag = FLAG_RESPONSE;
            out.extend_from_slice(&stray.to_bytes());
            for r in reqs.iter().rev() {
                out.extend_from_slice(&answer(r, &format!("body-{}", r.code)));
            }
            for chunk in out.chunks(7) {
                peer.write_all(chunk).await.unwrap();
                peer.flush().await.unwrap();
            }
            peer
        });
        let mut got = Vec::new();
        let clean = conn
            .run("t", &bytes, &opaques, DEFAULT_MAX_FRAME_LENGTH, |i, c| got.push((i, String::from_utf8(c.body.to_vec()).unwrap())))
            .await
            .unwrap();
        assert!(clean);
        assert_eq!(got, vec![(2, "body-317".to_string()), (1, "body-26".to_string()), (0, "body-28".to_string())]);
        let _peer = srv.await.unwrap();

        // The next batch on the same socket gets fresh opaques.
        let (_, again) = conn.encode(&mut cmds);
        assert!(again.iter().all(|o| !opaques.contains(o)), "{again:?} vs {opaques:?}");
    }

    #[tokio::test]
    async fn oversized_length_and_mid_frame_close_are_protocol_errors_and_clean_close_is_closed() {
        for case in ["oversized", "mid-frame", "clean"] {
            let (mut conn, mut peer) = pair().await;
            let mut cmds = vec![RemotingCommand::request(28), RemotingCommand::request(26)];
            let (bytes, opaques) = conn.encode(&mut cmds);
            let srv = tokio::spawn(async move {
                let reqs = read_requests(&mut peer, 2).await;
                peer.write_all(&answer(&reqs[0], "first")).await.unwrap();
                match case {
                    "oversized" => peer.write_all(&[0x80, 0, 0, 0, 0, 0, 0, 0]).await.unwrap(),
                    "mid-frame" => peer.write_all(&[0, 0, 0, 100, 0, 0]).await.unwrap(),
                    _ => {}
                }
                if case == "oversized" {
                    // Stays open: the error must come from the length word, not from EOF.
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            });
            let mut got = Vec::new();
            let err = conn.run("t", &bytes, &opaques, DEFAULT_MAX_FRAME_LENGTH, |i, _| got.push(i)).await.unwrap_err();
            assert_eq!(got, vec![0], "{case}: the answer before the fault is delivered");
            match case {
                "oversized" => assert!(matches!(err, RemotingError::Protocol { source: FrameError::TooLong { .. }, .. }), "{err}"),
                "mid-frame" => assert!(matches!(err, RemotingError::Protocol { .. }), "{err}"),
                _ => assert!(matches!(err, RemotingError::Closed { .. }), "{err}"),
            }
            srv.abort();
        }
    }
}

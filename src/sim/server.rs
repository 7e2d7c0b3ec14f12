//! TCP remoting servers: one NameServer plus one listener per broker node, all on 127.0.0.1.
//!
//! Each connection has a reader (frames in, handled under the state lock, no awaits held) and a
//! writer task fed by a channel. The writer holds delayed (Latency) answers until they are due and
//! lets immediate ones overtake them, the way Java's thread pools let responses come back out of
//! order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::bodies;
use super::fault::{self, Action, Fault, Wire};
use super::model::{ClusterState, Flavor};
use super::scenario::ScenarioRunner;
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::frame::{self, RemotingCommand, SerializeType, DEFAULT_MAX_FRAME_LENGTH};

/// Which simulated process a listener belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    NameServer,
    /// Indexes into `ClusterState::brokers` and that broker's `nodes`.
    Node { broker: usize, node: usize },
}

/// State behind the lock: the model and its scenario.
pub struct Inner {
    pub state: ClusterState,
    pub runner: ScenarioRunner,
}

impl Inner {
    pub fn new(state: ClusterState, runner: ScenarioRunner) -> Self {
        Inner { state, runner }
    }
}

/// Encoded bodies of the per-cycle requests (28, 26, 317) per node and code, valid for one model
/// generation: re-encoding ~1 M rows per request would dominate the scale benchmark, and
/// re-encoding the small ones would delay 200 nodes' answers beyond the latency they model.
type BodyCache = Mutex<HashMap<(usize, usize, i32), (u64, Bytes)>>;

/// The cached body for `(bi, ni, code)` at `generation`, or `encode`'s (then cached). Encoding
/// runs outside the lock so other nodes' requests proceed in parallel.
fn cached(cache: &BodyCache, key: (usize, usize, i32), generation: u64, encode: impl FnOnce() -> String) -> Bytes {
    let hit = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key).filter(|(g, _)| *g == generation).map(|(_, b)| b.clone());
    hit.unwrap_or_else(|| {
        let body = Bytes::from(encode());
        cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (generation, body.clone()));
        body
    })
}

/// Shared by all listeners and the `SimCluster` handle. Reads (almost every request) share
/// the lock; steps, pokes and UPDATE_BROKER_CONFIG take it exclusively.
pub struct Shared {
    inner: RwLock<Inner>,
    body_cache: BodyCache,
    faults: Mutex<HashMap<Target, Fault>>,
    seq: AtomicU64,
    /// Requests received, by listener and request code: lets tests count what a cycle costs.
    received: Mutex<HashMap<(Target, i32), u64>>,
    /// Longest time from reading a request to having written its answer, in ns, since the last
    /// `take_slowest_answer`: the "slowest broker's answer time" the scale benchmark compares to.
    slowest_answer_ns: AtomicU64,
    /// Since the last `take_timeline`, on CLOCK_MONOTONIC (comparable across processes): the
    /// first and last request read and the last answer written. Tells where a cycle's time
    /// beyond the slowest answer goes: before the requests arrive, or after the answers leave.
    first_read_ns: AtomicU64,
    last_read_ns: AtomicU64,
    last_written_ns: AtomicU64,
}

/// Request arrivals and answer departures of one measured span, in CLOCK_MONOTONIC ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub first_read_ns: u64,
    pub last_read_ns: u64,
    pub last_written_ns: u64,
}

/// CLOCK_MONOTONIC in ns: the clock `Timeline` uses, the same in every process on the machine.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes into the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Shared {
    pub fn new(inner: Inner) -> Self {
        Shared {
            inner: RwLock::new(inner),
            body_cache: Mutex::new(HashMap::new()),
            faults: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(1),
            received: Mutex::new(HashMap::new()),
            slowest_answer_ns: AtomicU64::new(0),
            first_read_ns: AtomicU64::new(u64::MAX),
            last_read_ns: AtomicU64::new(0),
            last_written_ns: AtomicU64::new(0),
        }
    }

    fn note_answer_time(&self, d: std::time::Duration) {
        self.slowest_answer_ns.fetch_max(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    fn note_read(&self) {
        let now = monotonic_ns();
        self.first_read_ns.fetch_min(now, Ordering::Relaxed);
        self.last_read_ns.fetch_max(now, Ordering::Relaxed);
    }

    fn note_written(&self) {
        self.last_written_ns.fetch_max(monotonic_ns(), Ordering::Relaxed);
    }

    /// Reads and writes since the last call (which resets them); None if nothing was read.
    pub fn take_timeline(&self) -> Option<Timeline> {
        let t = Timeline {
            first_read_ns: self.first_read_ns.swap(u64::MAX, Ordering::Relaxed),
            last_read_ns: self.last_read_ns.swap(0, Ordering::Relaxed),
            last_written_ns: self.last_written_ns.swap(0, Ordering::Relaxed),
        };
        (t.first_read_ns != u64::MAX).then_some(t)
    }

    /// The slowest answer since the last call (request read → answer written), and a reset.
    pub fn take_slowest_answer(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.slowest_answer_ns.swap(0, Ordering::Relaxed))
    }

    /// Exclusive access; survives a panicked holder (a test panicking inside `with_state`).
    pub fn lock(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Shared access for answering requests.
    pub fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn fault(&self, t: Target) -> Fault {
        self.faults.lock().unwrap_or_else(|e| e.into_inner()).get(&t).copied().unwrap_or_default()
    }

    pub fn set_fault(&self, t: Target, f: Fault) {
        self.faults.lock().unwrap_or_else(|e| e.into_inner()).insert(t, f);
    }

    /// How many requests with `code` this listener has received.
    pub fn received(&self, t: Target, code: i32) -> u64 {
        self.received.lock().unwrap_or_else(|e| e.into_inner()).get(&(t, code)).copied().unwrap_or(0)
    }

    /// Answers one request (None = stay silent).
    pub fn handle(&self, target: Target, req: &RemotingCommand) -> Option<RemotingCommand> {
        *self.received.lock().unwrap_or_else(|e| e.into_inner()).entry((target, req.code)).or_default() += 1;
        match target {
            Target::NameServer => handle_namesrv(&self.read().state, &self.body_cache, req),
            Target::Node { broker, node } if req.code == rq::UPDATE_BROKER_CONFIG => {
                update_broker_config(&mut self.lock().state, broker, node, req)
            }
            Target::Node { broker, node } => handle_broker(&self.read().state, &self.body_cache, broker, node, req),
        }
    }
}

fn reply(req: &RemotingCommand, code: i32, remark: Option<String>, version: i32, ser: SerializeType) -> RemotingCommand {
    let mut r = RemotingCommand::response_to(req, code, remark);
    r.version = version;
    r.serialize_type = ser;
    r
}

fn not_supported(req: &RemotingCommand, version: i32, ser: SerializeType) -> RemotingCommand {
    reply(req, rs::REQUEST_CODE_NOT_SUPPORTED, Some(format!(" request type {} not supported", req.code)), version, ser)
}

/// Where the NameServer's cached bodies sit in the body cache (no broker has this index).
const NAMESRV_KEY: (usize, usize) = (usize::MAX, usize::MAX);

/// NameServer request handling; None = no answer (4.9 on unknown codes).
pub fn handle_namesrv(st: &ClusterState, cache: &BodyCache, req: &RemotingCommand) -> Option<RemotingCommand> {
    let v = st.namesrv_flavor.version_ordinal();
    let ser = SerializeType::Json;
    let ok = |body: String| Some(reply(req, rs::SUCCESS, None, v, ser).with_body(body));
    match req.code {
        // Every cycle starts with it, and encoding 200 brokers' addresses each time is the
        // simulator's cost at the very moment the client sends its requests.
        rq::GET_BROKER_CLUSTER_INFO => {
            let body = cached(cache, (NAMESRV_KEY.0, NAMESRV_KEY.1, req.code), st.generation, || bodies::cluster_info(st));
            Some(reply(req, rs::SUCCESS, None, v, ser).with_body(body))
        }
        rq::GET_ROUTEINFO_BY_TOPIC => {
            let topic = req.ext_fields.get("topic").map(String::as_str).unwrap_or("");
            let standard = req.version >= 401
                || req.ext_fields.get("acceptStandardJsonOnly").is_some_and(|x| x.eq_ignore_ascii_case("true"));
            match bodies::topic_route(st, topic, standard) {
                Some(b) => ok(b),
                None => Some(reply(
                    req,
                    rs::TOPIC_NOT_EXIST,
                    Some(format!(
                        "No topic route info in name server for the topic: {topic}\nSee http://rocketmq.apache.org/docs/faq/ for further details."
                    )),
                    v,
                    ser,
                )),
            }
        }
        206 => ok(bodies::topic_list(st.brokers.iter().flat_map(|b| b.topics.iter().map(|t| t.name.as_str())))),
        224 => {
            let c = req.ext_fields.get("cluster").cloned().unwrap_or_default();
            ok(bodies::topic_list(
                st.brokers.iter().filter(|b| b.cluster == c).flat_map(|b| b.topics.iter().map(|t| t.name.as_str())),
            ))
        }
        _ => match st.namesrv_flavor {
            Flavor::Java49 => None,
            Flavor::Java53 => Some(not_supported(req, v, ser)),
        },
    }
}

/// UPDATE_BROKER_CONFIG (25) on node `(bi, ni)`: `brokerPermission` changes the node's
/// permission (and so 26 and the route perm); other keys override the config text.
pub fn update_broker_config(st: &mut ClusterState, bi: usize, ni: usize, req: &RemotingCommand) -> Option<RemotingCommand> {
    let b = st.brokers.get(bi)?;
    let n = b.nodes.get(ni)?;
    let v = b.flavor.version_ordinal();
    let ser = if b.rocketmq_headers { SerializeType::RocketMq } else { SerializeType::Json };
    let props = bodies::parse_properties(&String::from_utf8_lossy(&req.body));
    if props.keys().any(|k| k == "brokerConfigPath" || k == "rocketmqHome" || k == "configBlackList") {
        return Some(reply(req, rs::NO_PERMISSION, Some("Can not update config in black list.".into()), v, ser));
    }
    let perm = match props.get("brokerPermission").map(|p| p.parse::<i32>()) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return Some(reply(req, rs::SYSTEM_ERROR, Some(format!("java.lang.NumberFormatException: {e}")), v, ser)),
        None => None,
    };
    let now = st.now_ms;
    let name = b.name.clone();
    let id = n.broker_id;
    let node = &mut st.brokers[bi].nodes[ni];
    for (k, val) in &props {
        if k != "brokerPermission" {
            node.config_overrides.insert(k.clone(), val.clone());
        }
    }
    node.data_version.counter += 1;
    node.data_version.timestamp = now;
    if let Some(p) = perm {
        node.permission = p;
        st.log_event(format!("{name}/{id}: UPDATE_BROKER_CONFIG brokerPermission={p}"));
    }
    st.generation += 1;
    Some(reply(req, rs::SUCCESS, None, v, ser))
}

/// Read-only broker requests for node `(bi, ni)`.
pub fn handle_broker(st: &ClusterState, cache: &BodyCache, bi: usize, ni: usize, req: &RemotingCommand) -> Option<RemotingCommand> {
    let generation = st.generation;
    let b = st.brokers.get(bi)?;
    let n = b.nodes.get(ni)?;
    let v = b.flavor.version_ordinal();
    let ser = if b.rocketmq_headers { SerializeType::RocketMq } else { SerializeType::Json };
    let ok = |body: String| Some(reply(req, rs::SUCCESS, None, v, ser).with_body(body));
    match req.code {
        rq::GET_BROKER_RUNTIME_INFO => {
            let body = cached(cache, (bi, ni, req.code), generation, || bodies::runtime_info(st, b, n));
            Some(reply(req, rs::SUCCESS, None, v, ser).with_body(body))
        }
        rq::GET_BROKER_CONFIG => {
            let text = cached(cache, (bi, ni, req.code), generation, || bodies::broker_config(st, b, n));
            let dv = bodies::data_version(b.flavor, n);
            Some(reply(req, rs::SUCCESS, None, v, ser).with_ext("version", dv).with_body(text))
        }
        rq::UPDATE_BROKER_CONFIG => None,
        rq::GET_BROKER_CONSUME_STATS => {
            let is_order = req.ext_fields.get("isOrder").is_some_and(|x| x.eq_ignore_ascii_case("true"));
            if is_order {
                return ok(bodies::consume_stats_list(b, n, true));
            }
            let body = cached(cache, (bi, ni, req.code), generation, || bodies::consume_stats_list(b, n, false));
            Some(reply(req, rs::SUCCESS, None, v, ser).with_body(body))
        }
        rq::GET_CONSUME_STATS => {
            let group = req.ext_fields.get("consumerGroup").map(String::as_str).unwrap_or("");
            ok(bodies::consume_stats(b, group, req.ext_fields.get("topic").map(String::as_str)))
        }
        rq::GET_TOPIC_STATS_INFO => {
            let topic = req.ext_fields.get("topic").map(String::as_str).unwrap_or("");
            match bodies::topic_stats(b, topic) {
                Some(body) => ok(body),
                None => Some(reply(req, rs::TOPIC_NOT_EXIST, Some(format!("topic[{topic}] not exist")), v, ser)),
            }
        }
        rq::GET_ALL_TOPIC_CONFIG => ok(bodies::all_topic_config(b)),
        rq::GET_BROKER_HA_STATUS if b.flavor == Flavor::Java53 => ok(bodies::ha_runtime_info(st, b, n)),
        rq::GET_MAX_OFFSET | rq::GET_MIN_OFFSET => {
            let topic = req.ext_fields.get("topic").map(String::as_str).unwrap_or("");
            let qid = req.ext_fields.get("queueId").and_then(|q| q.parse::<usize>().ok()).unwrap_or(usize::MAX);
            let off = b.topic(topic).and_then(|t| t.queues.get(qid)).map(|q| {
                if req.code == rq::GET_MAX_OFFSET {
                    q.max_offset
                } else {
                    q.min_offset
                }
            });
            Some(reply(req, rs::SUCCESS, None, v, ser).with_ext("offset", off.unwrap_or(0).to_string()))
        }
        _ => Some(not_supported(req, v, ser)),
    }
}

/// An answer with the instant its request was read, or the end of the connection.
enum Out {
    Bytes(Wire, Instant),
    /// Due at the first instant: the writer holds it until then (Latency).
    Later(Instant, Wire, Instant),
    Close,
}

/// Writes every part, in order, with as few vectored writes as the socket takes.
async fn write_parts(wr: &mut tokio::net::tcp::OwnedWriteHalf, parts: &mut Vec<Bytes>) -> std::io::Result<()> {
    use bytes::Buf;
    let mut at = 0;
    while at < parts.len() {
        if parts[at].is_empty() {
            at += 1;
            continue;
        }
        let slices: Vec<std::io::IoSlice<'_>> = parts[at..].iter().take(64).map(|b| std::io::IoSlice::new(b)).collect();
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let len = parts[at].len();
            if n >= len {
                n -= len;
                at += 1;
            } else {
                parts[at].advance(n);
                n = 0;
            }
        }
    }
    parts.clear();
    Ok(())
}

/// The connection's writer: immediate answers go out at once; delayed ones wait in due order
/// and every answer due by the time the timer fires leaves in one write, as a broker's
/// responses finished together leave one socket buffer. One timer per connection, not a task
/// per answer: at 200 nodes the sim's own overhead would otherwise delay its answers beyond
/// the latency it models.
async fn write_loop(shared: Arc<Shared>, mut wr: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Out>) {
    let mut later: std::collections::VecDeque<(Instant, Wire, Instant)> = std::collections::VecDeque::new();
    let mut batch: Vec<Bytes> = Vec::new();
    // The earliest request whose answer is in `batch`: its wait is the batch's longest.
    let mut oldest: Option<Instant> = None;
    let mut open = true;
    while open || !later.is_empty() {
        // None: the first held answer is due.
        let msg = match later.front().map(|(d, _, _)| *d) {
            Some(due) if open => tokio::select! {
                m = rx.recv() => Some(m),
                _ = tokio::time::sleep_until(due) => None,
            },
            Some(due) => {
                tokio::time::sleep_until(due).await;
                None
            }
            None => Some(rx.recv().await),
        };
        let mut close = false;
        let mut next = match msg {
            None => None,
            Some(None) => {
                open = false;
                None
            }
            Some(m) => m,
        };
        // Whatever else is queued joins this write.
        while let Some(m) = next.take() {
            match m {
                Out::Bytes(w, read_at) => {
                    batch.extend([w.head, w.body]);
                    oldest = Some(oldest.map_or(read_at, |o| o.min(read_at)));
                }
                Out::Later(due, w, read_at) => {
                    // One latency per connection keeps arrivals in due order; a changed fault may not.
                    let at = later.iter().rposition(|(d, _, _)| *d <= due).map_or(0, |i| i + 1);
                    later.insert(at, (due, w, read_at));
                }
                Out::Close => {
                    close = true;
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        let now = Instant::now();
        while later.front().is_some_and(|(d, _, _)| *d <= now) {
            let (_, w, read_at) = later.pop_front().expect("front checked");
            batch.extend([w.head, w.body]);
            oldest = Some(oldest.map_or(read_at, |o| o.min(read_at)));
        }
        if !batch.is_empty() {
            if write_parts(&mut wr, &mut batch).await.is_err() {
                return;
            }
            if let Some(o) = oldest.take() {
                shared.note_answer_time(o.elapsed());
            }
            shared.note_written();
        }
        if close {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

/// Serves one listener until aborted.
pub async fn run_listener(shared: Arc<Shared>, target: Target, listener: TcpListener) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, _)) => {
                conns.spawn(serve_conn(shared.clone(), target, stream));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

async fn serve_conn(shared: Arc<Shared>, target: Target, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel::<Out>();
    let writer = tokio::spawn(write_loop(shared.clone(), wr, rx));
    let mut buf = BytesMut::with_capacity(4096);
    'read: loop {
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            let req = match frame::decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                // Like Netty's decoder: a bad frame closes the channel, no answer.
                Err(_) => break 'read,
            };
            if req.is_response() {
                continue;
            }
            let read_at = Instant::now();
            shared.note_read();
            let resp = shared.handle(target, &req);
            if req.is_oneway() {
                continue;
            }
            let seed = shared.seq.fetch_add(1, Ordering::Relaxed);
            match fault::apply(shared.fault(target), resp, seed) {
                Action::Nothing => {}
                Action::Send(b) => {
                    let _ = tx.send(Out::Bytes(b, read_at));
                }
                Action::SendAfter(d, b) => {
                    let _ = tx.send(Out::Later(read_at + d, b, read_at));
                }
                Action::SendThenClose(b) => {
                    let _ = tx.send(Out::Bytes(b, read_at));
                    let _ = tx.send(Out::Close);
                    break 'read;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::sim::{SimCluster, SimConfig};

    async fn read_answers(s: &mut TcpStream, buf: &mut BytesMut, n: usize) -> Vec<(i32, Instant)> {
        let mut out = Vec::new();
        while out.len() < n {
            while let Some(c) = frame::decode(buf, DEFAULT_MAX_FRAME_LENGTH).unwrap() {
                out.push((c.opaque, Instant::now()));
            }
            if out.len() < n {
                assert!(s.read_buf(buf).await.unwrap() > 0, "sim closed the connection");
            }
        }
        out
    }

    fn request(code: i32, opaque: i32) -> Bytes {
        let mut c = RemotingCommand::request(code);
        c.opaque = opaque;
        c.to_bytes()
    }

    /// Latency holds every answer for the delay (the scale benchmark's premise), and an answer
    /// given at once overtakes one still held, as Java's thread pools allow.
    #[tokio::test]
    async fn latency_delays_answers_and_immediate_ones_overtake_held_ones() {
        let sim = SimCluster::start(SimConfig::default()).await.unwrap();
        let broker = sim.with_state(|st| st.brokers[0].name.clone());
        let addr = sim.node_addr(&broker, 0).unwrap();
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut buf = BytesMut::new();

        sim.set_fault(&broker, 0, Fault::Latency(Duration::from_millis(150)));
        sim.take_slowest_answer();
        sim.take_timeline();
        let sent_ns = super::monotonic_ns();
        let sent = Instant::now();
        let mut batch = BytesMut::new();
        for (opaque, code) in [(1, rq::GET_BROKER_RUNTIME_INFO), (2, rq::GET_BROKER_CONFIG), (3, rq::GET_BROKER_RUNTIME_INFO)] {
            batch.extend_from_slice(&request(code, opaque));
        }
        s.write_all(&batch).await.unwrap();
        let got = read_answers(&mut s, &mut buf, 3).await;
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        for (opaque, at) in &got {
            let took = *at - sent;
            assert!(took >= Duration::from_millis(150), "answer {opaque} after {took:?}");
            assert!(took < Duration::from_secs(3), "answer {opaque} after {took:?}");
        }
        let slowest = sim.take_slowest_answer();
        assert!(slowest >= Duration::from_millis(150) && slowest < Duration::from_secs(3), "{slowest:?}");
        assert_eq!(sim.take_slowest_answer(), Duration::ZERO, "taking resets it");
        // On the clock other processes read too: read after we sent, written a latency later.
        let tl = sim.take_timeline().expect("requests were read");
        assert!(sent_ns <= tl.first_read_ns && tl.first_read_ns <= tl.last_read_ns, "{tl:?} (sent at {sent_ns})");
        assert!(tl.last_written_ns >= tl.last_read_ns + 150_000_000, "{tl:?}");
        assert!(tl.last_written_ns <= super::monotonic_ns(), "{tl:?}");
        assert_eq!(sim.take_timeline(), None, "taking resets it");

        s.write_all(&request(rq::GET_BROKER_RUNTIME_INFO, 4)).await.unwrap();
        // Let the sim take request 4 under the latency before the fault is lifted.
        tokio::time::sleep(Duration::from_millis(50)).await;
        sim.set_fault(&broker, 0, Fault::None);
        s.write_all(&request(rq::GET_BROKER_RUNTIME_INFO, 5)).await.unwrap();
        let got = read_answers(&mut s, &mut buf, 2).await;
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![5, 4], "the immediate answer comes first");
        sim.shutdown().await;
    }
}

//! The simulator over real TCP: hand-written requests with `frame.rs`, raw bytes inspected for
//! the Java servers' quirks (bare numeric keys, object keys, ROCKETMQ headers, faults).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rocketmq_exporter::remoting::frame::{self, FrameError, RemotingCommand, SerializeType, DEFAULT_MAX_FRAME_LENGTH};
use rocketmq_exporter::sim::{Fault, Scenario, SimCluster, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// One connection, requests answered in order (the simulator answers sequentially unless a
/// Latency fault reorders them, which these tests do not combine).
struct Conn {
    s: TcpStream,
    buf: BytesMut,
    opaque: i32,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        Conn { s: TcpStream::connect(addr).await.expect("connect"), buf: BytesMut::new(), opaque: 100 }
    }

    async fn send(&mut self, mut cmd: RemotingCommand) -> i32 {
        self.opaque += 1;
        cmd.opaque = self.opaque;
        self.s.write_all(&cmd.to_bytes()).await.unwrap();
        self.opaque
    }

    /// Next whole frame, or None on timeout/EOF.
    async fn recv(&mut self, wait: Duration) -> Option<RemotingCommand> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(cmd) = frame::decode(&mut self.buf, DEFAULT_MAX_FRAME_LENGTH).expect("valid frame") {
                return Some(cmd);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match timeout(left, self.s.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(_)) => {}
            }
        }
    }

    async fn call(&mut self, cmd: RemotingCommand) -> RemotingCommand {
        self.call_within(cmd, Duration::from_secs(10)).await
    }

    async fn call_within(&mut self, cmd: RemotingCommand, wait: Duration) -> RemotingCommand {
        let op = self.send(cmd).await;
        let r = self.recv(wait).await.expect("response");
        assert_eq!(r.opaque, op, "response copies the request opaque");
        assert!(r.is_response(), "flag bit 0 set");
        r
    }

    /// Raw bytes received within `wait` (until EOF or the wait ends).
    async fn raw(&mut self, wait: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return (out, false) };
            match timeout(left, self.s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Err(_) => return (out, false),
            }
        }
    }
}

async fn call(addr: SocketAddr, cmd: RemotingCommand) -> RemotingCommand {
    Conn::open(addr).await.call(cmd).await
}

fn body(r: &RemotingCommand) -> String {
    String::from_utf8(r.body.to_vec()).expect("utf-8 body")
}

fn runtime_value(body: &str, key: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("KVTable is standard JSON");
    v["table"][key].as_str().unwrap_or_else(|| panic!("missing {key}")).to_string()
}

/// Positions of `keys` in `text` must be increasing (fastjson SortField).
fn assert_in_order(text: &str, keys: &[&str]) {
    let pos: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("no {k}"))).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "keys not sorted: {keys:?} at {pos:?}");
}

#[tokio::test]
async fn cluster_info_has_bare_numeric_broker_addr_keys() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    let r = call(sim.namesrv_addr(), RemotingCommand::request(106)).await;
    assert_eq!(r.code, 0);
    let b = body(&r);
    assert!(b.contains("{0:\"127.0.0.1:"), "{b}");
    assert!(b.contains(",1:\"127.0.0.1:"), "{b}");
    let a0 = sim.node_addr("broker-a", 0).unwrap();
    assert!(b.contains(&format!("0:\"{a0}\"")));
    assert!(b.contains("\"clusterAddrTable\":{\"DefaultCluster\":[\"broker-a\",\"broker-b\",\"broker-c\",\"broker-d\"]}"));
    assert!(serde_json::from_str::<serde_json::Value>(&b).is_err(), "must not be standard JSON");
    assert_eq!(r.version, 409, "4.9 NameServer version");
    sim.shutdown().await;
}

#[tokio::test]
async fn route_data_standard_or_legacy_by_version_and_unknown_topic() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    let ns = sim.namesrv_addr();
    let r = call(ns, RemotingCommand::request(105).with_ext("topic", "TopicTest-0")).await;
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("version 409 gets standard JSON");
    assert_eq!(v["queueDatas"].as_array().unwrap().len(), 4);
    assert_eq!(v["brokerDatas"][0]["brokerAddrs"]["0"], sim.node_addr("broker-a", 0).unwrap().to_string());

    let mut old = RemotingCommand::request(105).with_ext("topic", "TopicTest-0");
    old.version = 317;
    let legacy = body(&call(ns, old.clone()).await);
    assert!(legacy.contains("{0:\""), "{legacy}");
    let flagged = call(ns, old.with_ext("acceptStandardJsonOnly", "true")).await;
    assert!(serde_json::from_slice::<serde_json::Value>(&flagged.body).is_ok());

    let missing = call(ns, RemotingCommand::request(105).with_ext("topic", "NoSuchTopic")).await;
    assert_eq!(missing.code, 17);
    assert!(missing.remark.unwrap().contains("NoSuchTopic"));
    for t in ["broker-b", "DefaultCluster", "%RETRY%group-0-0", "TBW102"] {
        assert_eq!(call(ns, RemotingCommand::request(105).with_ext("topic", t)).await.code, 0, "{t}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn consume_stats_list_has_sorted_object_keys() {
    let mut sim_cfg = SimConfig::runbook();
    sim_cfg.seed = 11;
    let sim = SimCluster::start(sim_cfg).await.unwrap();
    sim.step(Duration::from_secs(5));
    for (broker, five) in [("broker-a", false), ("broker-b", true)] {
        let addr = sim.node_addr(broker, 0).unwrap();
        let r = call(addr, RemotingCommand::request(317).with_ext("isOrder", "false")).await;
        assert_eq!(r.code, 0);
        let b = body(&r);
        assert!(b.contains(&format!("{{{{\"brokerName\":\"{broker}\",\"queueId\":0,\"topic\":\"TopicTest-0\"}}:{{\"brokerOffset\":")), "{}", &b[..400]);
        assert!(b.contains("\"topic\":\"%RETRY%group-0-0\"}"));
        assert!(b.starts_with(&format!("{{\"brokerAddr\":\"{addr}\",\"consumeStatsList\":[{{\"group-0-0\":[{{\"consumeTps\":")));
        assert_in_order(&b, &["brokerAddr", "consumeStatsList", "totalDiff"]);
        assert_in_order(&b, &["consumeTps", "offsetTable", "brokerOffset", "consumerOffset", "lastTimestamp"]);
        assert_eq!(b.contains("\"pullOffset\":0"), five);
        assert_eq!(b.contains("\"totalInflightDiff\":"), five);
        // One single-entry map per group: 4 topics × 2 groups.
        assert_eq!(b.matches("[{\"group-").count() + b.matches(",{\"group-").count(), 8);
        let total: i64 = b.rsplit("\"totalDiff\":").next().unwrap().trim_end_matches('}').split(',').next().unwrap().parse().unwrap();
        assert!(total > 0, "steady traffic leaves a backlog");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn broker_c_answers_with_rocketmq_headers() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    let mut c = Conn::open(sim.node_addr("broker-c", 0).unwrap()).await;
    c.send(RemotingCommand::request(28)).await;
    let (bytes, _) = c.raw(Duration::from_millis(500)).await;
    assert!(bytes.len() > 8);
    assert_eq!(bytes[4], 1, "serialize type ROCKETMQ in the high byte of the second word");
    let mut buf = BytesMut::from(&bytes[..]);
    let cmd = frame::decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH).unwrap().unwrap();
    assert_eq!(cmd.serialize_type, SerializeType::RocketMq);
    assert_eq!(runtime_value(&body(&cmd), "brokerVersionDesc"), "V4_9_8");
    let a = call(sim.node_addr("broker-a", 0).unwrap(), RemotingCommand::request(28)).await;
    assert_eq!(a.serialize_type, SerializeType::Json);
    sim.shutdown().await;
}

#[tokio::test]
async fn ha_status_by_flavor_and_unknown_codes() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    sim.step(Duration::from_secs(3));
    let a = call(sim.node_addr("broker-a", 0).unwrap(), RemotingCommand::request(907)).await;
    assert_eq!(a.code, 3, "907 on 4.9 is REQUEST_CODE_NOT_SUPPORTED");
    let b = call(sim.node_addr("broker-b", 0).unwrap(), RemotingCommand::request(907)).await;
    assert_eq!(b.code, 0);
    let v: serde_json::Value = serde_json::from_slice(&b.body).unwrap();
    assert_eq!(v["master"], true);
    let conns = v["haConnectionInfo"].as_array().unwrap();
    assert_eq!(conns.len(), 1);
    let lag = sim.with_state(|s| s.broker("broker-b").unwrap().slave_lag(1).unwrap());
    assert_eq!(conns[0]["diff"], lag);
    assert!(lag > 0, "runbook slaves start behind");
    assert!(conns[0]["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    let s = call(sim.node_addr("broker-b", 1).unwrap(), RemotingCommand::request(907)).await;
    let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(v["master"], false);
    assert!(v["haClientRuntimeInfo"]["maxOffset"].as_i64().unwrap() > 0);

    let u = call(sim.node_addr("broker-d", 0).unwrap(), RemotingCommand::request(9999)).await;
    assert_eq!(u.code, 3);
    assert_eq!(u.remark.as_deref(), Some(" request type 9999 not supported"));
    assert_eq!(u.version, 479);

    // A 4.9 NameServer never answers unknown codes but keeps the connection usable.
    let mut ns = Conn::open(sim.namesrv_addr()).await;
    ns.send(RemotingCommand::request(9999)).await;
    assert!(ns.recv(Duration::from_millis(500)).await.is_none());
    let r = ns.call(RemotingCommand::request(106)).await;
    assert_eq!(r.code, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn update_broker_config_changes_config_text_and_route_perm() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    for broker in ["broker-a", "broker-b"] {
        let addr = sim.node_addr(broker, 0).unwrap();
        let before = call(addr, RemotingCommand::request(26)).await;
        let text = body(&before);
        assert!(text.contains("brokerPermission=6\n"));
        assert!(text.contains(&format!("brokerName={broker}\n")));
        assert!(text.contains("brokerRole=ASYNC_MASTER\n"));
        assert!(text.contains(&format!("listenPort={}\n", addr.port())));
        let dv0: serde_json::Value = serde_json::from_str(&before.ext_fields["version"]).unwrap();

        let up = call(addr, RemotingCommand::request(25).with_body("brokerPermission=4\n")).await;
        assert_eq!(up.code, 0);
        let after = call(addr, RemotingCommand::request(26)).await;
        assert!(body(&after).contains("brokerPermission=4\n"), "{}", body(&after));
        let dv1: serde_json::Value = serde_json::from_str(&after.ext_fields["version"]).unwrap();
        assert!(dv1["counter"].as_i64() > dv0["counter"].as_i64());

        let route = call(sim.namesrv_addr(), RemotingCommand::request(105).with_ext("topic", "TopicTest-1")).await;
        let v: serde_json::Value = serde_json::from_slice(&route.body).unwrap();
        let qd = v["queueDatas"].as_array().unwrap().iter().find(|q| q["brokerName"] == broker).unwrap().clone();
        assert_eq!(qd["perm"].as_i64().unwrap() & 2, 0, "{broker}: no write bit");
        assert_eq!(qd["perm"].as_i64().unwrap() & 4, 4);
    }
    // Blacklisted keys are refused.
    let addr = sim.node_addr("broker-c", 0).unwrap();
    let r = call(addr, RemotingCommand::request(25).with_body("brokerConfigPath=/tmp/x\n")).await;
    assert_eq!(r.code, 16);
    assert_eq!(sim.with_state(|s| s.broker("broker-c").unwrap().master().permission), 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn runbook_drain_leaves_retry_trickle_and_stops_user_offsets() {
    let sim = SimCluster::start_with_scenario(SimConfig::runbook(), Scenario::runbook()).await.unwrap();
    let b = sim.node_addr("broker-b", 0).unwrap();
    sim.step(Duration::from_secs(60));
    let before = runtime_value(&body(&call(b, RemotingCommand::request(28)).await), "putTps");
    let first: f64 = before.split(' ').next().unwrap().parse().unwrap();
    assert!(first > 200.0, "broker-b takes traffic before T1: {before}");
    // Past T1 (120 s) plus delayed-message delivery (10 s) and a full 60 s window.
    sim.step(Duration::from_secs(200));
    assert_eq!(sim.with_state(|s| s.broker("broker-b").unwrap().master().permission), 4);
    let max_offsets = |r: RemotingCommand| -> Vec<i64> {
        let b = body(&r);
        b.match_indices("\"maxOffset\":").map(|(i, m)| {
            b[i + m.len()..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
        }).collect()
    };
    let s1 = max_offsets(call(b, RemotingCommand::request(202).with_ext("topic", "TopicTest-0")).await);
    for _ in 0..6 {
        sim.step(Duration::from_secs(10));
        let rt = body(&call(b, RemotingCommand::request(28)).await);
        let put = runtime_value(&rt, "putTps");
        let w10: f64 = put.split(' ').next().unwrap().parse().unwrap();
        assert!((15.0..=30.0).contains(&w10), "retry trickle, never 0: {put}");
        let out = runtime_value(&rt, "getTransferredTps");
        assert!(out.split(' ').next().unwrap().parse::<f64>().unwrap() > 0.0, "{out}");
    }
    let s2 = max_offsets(call(b, RemotingCommand::request(202).with_ext("topic", "TopicTest-0")).await);
    assert_eq!(s1.len(), 4);
    assert_eq!(s1, s2, "user-topic max offsets stop");
    // Backlog drained, slave caught up.
    let cs = body(&call(b, RemotingCommand::request(208).with_ext("consumerGroup", "group-0-0").with_ext("topic", "TopicTest-0")).await);
    let v = cs.clone();
    let bo: Vec<&str> = v.match_indices("\"brokerOffset\":").map(|(i, _)| &v[i..i + 40]).collect();
    assert_eq!(bo.len(), 4);
    sim.with_state(|s| {
        let b = s.broker("broker-b").unwrap();
        assert_eq!(b.group_diff("group-0-0", "TopicTest-0"), Some(0));
        assert_eq!(b.slave_lag(1), Some(0));
    });
    // Another broker absorbed the traffic.
    let a = runtime_value(&body(&call(sim.node_addr("broker-a", 0).unwrap(), RemotingCommand::request(28)).await), "putTps");
    assert!(a.split(' ').next().unwrap().parse::<f64>().unwrap() > 500.0, "{a}");
    // T2: traffic comes back.
    sim.step(Duration::from_secs(1200 - 320 + 20));
    let back = runtime_value(&body(&call(b, RemotingCommand::request(28)).await), "putTps");
    assert!(back.split(' ').next().unwrap().parse::<f64>().unwrap() > 200.0, "{back}");
    sim.shutdown().await;
}

#[tokio::test]
async fn fresh_broker_tps_slots_empty_and_nan_is_null() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    let d = sim.node_addr("broker-d", 0).unwrap();
    let rt = body(&call(d, RemotingCommand::request(28)).await);
    assert_eq!(runtime_value(&rt, "putTps"), "  ");
    assert_eq!(runtime_value(&rt, "getTransferredTps"), "  ");
    assert_eq!(runtime_value(&rt, "putMessageDistributeTime"), "null");
    // No history yet: the minute TPS doubles are NaN, written as null.
    let ts = body(&call(d, RemotingCommand::request(202).with_ext("topic", "TopicTest-0")).await);
    assert!(ts.ends_with(",\"topicPutTps\":null}"), "{ts}");
    let cs = body(&call(d, RemotingCommand::request(317).with_ext("isOrder", "false")).await);
    assert!(cs.contains("\"consumeTps\":null"));
    sim.step(Duration::from_secs(12));
    let rt = body(&call(d, RemotingCommand::request(28)).await);
    let put = runtime_value(&rt, "putTps");
    let slots: Vec<&str> = put.split(' ').collect();
    assert_eq!(slots.len(), 3);
    assert!(!slots[0].is_empty() && slots[1].is_empty() && slots[2].is_empty(), "{put}");
    // A poked NaN still comes out as null, and the cache is invalidated by with_state.
    sim.with_state(|s| s.broker_mut("broker-d").unwrap().subs[0].consume_tps = f64::NAN);
    let cs = body(&call(d, RemotingCommand::request(317).with_ext("isOrder", "false")).await);
    assert!(cs.contains("{\"group-0-0\":[{\"consumeTps\":null,"), "{}", &cs[..200]);
    assert!(!cs.contains("NaN"));
    sim.shutdown().await;
}

#[tokio::test]
async fn topic_config_and_consume_stats_bodies() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    let a = sim.node_addr("broker-a", 0).unwrap();
    let tc = body(&call(a, RemotingCommand::request(21)).await);
    let v: serde_json::Value = serde_json::from_str(&tc).unwrap();
    assert_eq!(v["topicConfigTable"]["TopicTest-0"]["perm"], 6);
    assert!(v["topicConfigTable"]["broker-a"].is_object());
    assert_in_order(&tc, &["dataVersion", "topicConfigTable"]);
    let cs = body(&call(a, RemotingCommand::request(208).with_ext("consumerGroup", "group-1-1")).await);
    assert!(cs.starts_with("{\"consumeTps\":"));
    assert!(cs.contains("{\"brokerName\":\"broker-a\",\"queueId\":3,\"topic\":\"TopicTest-1\"}:{"));
    assert!(cs.contains("\"topic\":\"%RETRY%group-1-1\"}"));
    let none = body(&call(a, RemotingCommand::request(208).with_ext("consumerGroup", "nobody")).await);
    assert_eq!(none, "{\"consumeTps\":0.0,\"offsetTable\":{}}");
    let missing = call(a, RemotingCommand::request(202).with_ext("topic", "nope")).await;
    assert_eq!(missing.code, 17);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_behave_as_named() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    let addr = sim.node_addr("broker-a", 0).unwrap();

    sim.set_fault("broker-a", 0, Fault::NeverAnswer);
    let mut c = Conn::open(addr).await;
    c.send(RemotingCommand::request(28)).await;
    let (bytes, closed) = c.raw(Duration::from_millis(500)).await;
    assert!(bytes.is_empty() && !closed, "no bytes within 500 ms, connection open");

    sim.set_fault("broker-a", 0, Fault::OversizedLength);
    let mut c = Conn::open(addr).await;
    c.send(RemotingCommand::request(28)).await;
    let (bytes, _) = c.raw(Duration::from_millis(300)).await;
    assert!(bytes.len() >= 4);
    assert!(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) >= 1 << 31);

    sim.set_fault("broker-a", 0, Fault::Garbage);
    let mut c = Conn::open(addr).await;
    c.send(RemotingCommand::request(28)).await;
    let (bytes, _) = c.raw(Duration::from_millis(300)).await;
    assert!(!bytes.is_empty());
    assert!(frame::check(&bytes, DEFAULT_MAX_FRAME_LENGTH).unwrap_err().is_fatal());

    sim.set_fault("broker-a", 0, Fault::CloseMidFrame);
    let mut c = Conn::open(addr).await;
    c.send(RemotingCommand::request(28)).await;
    let (bytes, closed) = c.raw(Duration::from_secs(2)).await;
    assert!(closed, "connection closed");
    assert!(bytes.len() > 8);
    assert_eq!(frame::check(&bytes, DEFAULT_MAX_FRAME_LENGTH), Err(FrameError::Incomplete));

    sim.set_fault("broker-a", 0, Fault::TruncatedJson);
    let mut c = Conn::open(addr).await;
    let r = c.call(RemotingCommand::request(28)).await;
    assert_eq!(r.code, 0);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert!(r.body.starts_with(b"{\"table\":{"));

    sim.set_fault("broker-a", 0, Fault::Latency(Duration::from_millis(300)));
    let t0 = Instant::now();
    let r = call(addr, RemotingCommand::request(28)).await;
    assert_eq!(r.code, 0);
    assert!(t0.elapsed() >= Duration::from_millis(300));

    sim.set_fault("broker-a", 0, Fault::None);
    assert_eq!(call(addr, RemotingCommand::request(28)).await.code, 0);

    sim.set_namesrv_fault(Fault::NeverAnswer);
    let mut c = Conn::open(sim.namesrv_addr()).await;
    c.send(RemotingCommand::request(106)).await;
    assert!(c.recv(Duration::from_millis(300)).await.is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_answers_can_come_back_out_of_order() {
    let sim = SimCluster::start(SimConfig::runbook()).await.unwrap();
    let addr = sim.node_addr("broker-b", 0).unwrap();
    let mut c = Conn::open(addr).await;
    sim.set_fault("broker-b", 0, Fault::Latency(Duration::from_millis(400)));
    let slow = c.send(RemotingCommand::request(28)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    sim.set_fault("broker-b", 0, Fault::None);
    let fast = c.send(RemotingCommand::request(26)).await;
    let first = c.recv(Duration::from_secs(2)).await.unwrap();
    let second = c.recv(Duration::from_secs(2)).await.unwrap();
    assert_eq!((first.opaque, second.opaque), (fast, slow));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_topology_starts_quickly() {
    let t0 = Instant::now();
    let sim = SimCluster::start(SimConfig::scale(200, 5000)).await.unwrap();
    let started = t0.elapsed();
    let (brokers, rows) = sim.with_state(|s| {
        let rows: usize = s.brokers.iter().flat_map(|b| b.subs.iter().map(|x| x.queues.len())).sum();
        (s.brokers.len(), rows)
    });
    assert_eq!(brokers, 200);
    assert!(rows >= 1_000_000, "rows {rows}");
    let t1 = Instant::now();
    sim.step(Duration::from_secs(1));
    let stepped = t1.elapsed();
    let addr = sim.node_addr("broker-a", 0).unwrap();
    let t2 = Instant::now();
    let r = call(addr, RemotingCommand::request(317).with_ext("isOrder", "false")).await;
    let first_317 = t2.elapsed();
    let t3 = Instant::now();
    let r2 = call(addr, RemotingCommand::request(317).with_ext("isOrder", "false")).await;
    let cached_317 = t3.elapsed();
    assert_eq!(r.body, r2.body);
    let queue_rows = r.body.windows(14).filter(|w| w == b"\"brokerOffset\"").count();
    assert!(queue_rows >= 5000, "{queue_rows}");
    let cluster = call(sim.namesrv_addr(), RemotingCommand::request(106)).await;
    assert_eq!(body(&cluster).matches("\"brokerName\":").count(), 200);
    eprintln!(
        "scale(200, 5000): start {started:?}, rows {rows}, step(1s) {stepped:?}, 317 body {} bytes first {first_317:?} cached {cached_317:?}",
        r.body.len()
    );
    assert!(started < Duration::from_secs(30), "start took {started:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_latency_fault_answers_in_parallel() {
    let sim = SimCluster::start(SimConfig::scale(200, 5000)).await.unwrap();
    sim.step(Duration::from_secs(2));
    sim.set_fault_all_brokers(Fault::Latency(Duration::from_millis(20)));
    let nodes = sim.nodes();
    assert_eq!(nodes.len(), 200);
    let run = |code: i32| {
        let nodes = nodes.clone();
        async move {
            let t0 = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for (_, _, _, addr) in nodes {
                set.spawn(async move {
                    let mut req = RemotingCommand::request(code);
                    if code == 317 {
                        req = req.with_ext("isOrder", "false");
                    }
                    let t = Instant::now();
                    // Debug builds encode 5 000-row 317 bodies slowly; allow for it.
                    let r = Conn::open(addr).await.call_within(req, Duration::from_secs(120)).await;
                    (r.code, r.body.len(), t.elapsed())
                });
            }
            let mut bytes = 0;
            while let Some(r) = set.join_next().await {
                let (code, len, took) = r.unwrap();
                assert_eq!(code, 0);
                assert!(took >= Duration::from_millis(20), "latency applied: {took:?}");
                bytes += len;
            }
            (t0.elapsed(), bytes)
        }
    };
    let (rt, rt_bytes) = run(28).await;
    let (cs, cs_bytes) = run(317).await;
    let (cs2, _) = run(317).await;
    eprintln!("200 brokers x 20 ms: all 28 in {rt:?} ({rt_bytes} B); all 317 first {cs:?} ({cs_bytes} B), cached {cs2:?}");
    // Answers overlap: far less than 200 × 20 ms = 4 s of serial latency.
    assert!(rt < Duration::from_secs(3), "{rt:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn realtime_stepping_advances_the_clock() {
    let sim = SimCluster::start_with_scenario(SimConfig::runbook(), Scenario::runbook_at(5.0, 1000.0)).await.unwrap();
    let t0 = sim.now_ms();
    let h = sim.spawn_realtime(50.0);
    tokio::time::sleep(Duration::from_millis(450)).await;
    h.abort();
    let dt = sim.now_ms() - t0;
    assert!(dt >= 10_000, "advanced {dt} ms");
    assert_eq!(sim.with_state(|s| s.broker("broker-b").unwrap().master().permission), 4, "scenario ran");
    let events = sim.with_state(|s| s.events.clone());
    assert!(events.iter().any(|(_, e)| e.contains("broker-b: brokerPermission=4")), "{events:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn java53_namesrv_answers_unknown_codes_and_marks_acting_master() {
    let cfg = SimConfig { namesrv_flavor: rocketmq_exporter::sim::Flavor::Java53, ..SimConfig::default() };
    let sim = SimCluster::start(cfg).await.unwrap();
    let ns = sim.namesrv_addr();
    let u = call(ns, RemotingCommand::request(9999)).await;
    assert_eq!(u.code, 3);
    assert_eq!(u.version, 479);
    let ci = body(&call(ns, RemotingCommand::request(106)).await);
    assert!(ci.contains("\"cluster\":\"DefaultCluster\",\"enableActingMaster\":false}"), "{ci}");
    assert!(ci.contains("{0:\"127.0.0.1:"));
    sim.shutdown().await;
}

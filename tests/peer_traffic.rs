//! Drives real traffic into the real rocketmq-rust NameServer + broker (crates.io 1.0.0) and checks
//! the answers the exporter depends on: cluster info, runtime info, broker consume stats, broker
//! config and its update, and route data reflecting a drained (permission 4) broker.
//!
//! Skips (with a printed reason) when the peer binaries or root are missing, unless
//! `ROCKETMQ_EXPORTER_REQUIRE_REAL=1` (set by `.ci/run`). With `ROCKETMQ_PEER_WRITE_FIXTURES=1`
//! it also rewrites the golden bodies in `tests/fixtures/peer/`.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use regex::Regex;
use rocketmq_exporter::remoting::codes::{request, response};
use rocketmq_exporter::remoting::frame::RemotingCommand;
use support::peer::{PeerCluster, BROKER_NAME, CLUSTER_NAME};
use support::raw::{self, RawClient};

const TOPIC: &str = "DrainTopic";
const GROUP: &str = "DrainGroup";
const QUEUES: u32 = 4;
const MESSAGES: u32 = 300;
/// Offsets committed per queue (queue 3 never commits): 75 + 40 + 10 + 0 = 125 of 300 consumed.
const COMMITTED: [i64; 3] = [75, 40, 10];
const PERM_WRITE: i64 = 2;
/// ResponseCode.INVALID_PARAMETER, what the peer answers a refused config update with.
const INVALID_PARAMETER: i32 = 29;
const PERM_READ: i64 = 4;
/// Route changes reach the NameServer on re-registration; allow for it.
const ROUTE_WAIT: Duration = Duration::from_secs(15);

#[test]
fn real_peer_traffic_offsets_and_drain_permission() {
    let Some(cluster) = PeerCluster::start().expect("start real peer") else {
        return;
    };
    let namesrv = cluster.namesrv_addr();
    let broker = cluster.broker_addr();
    cluster.run_or_dump(|| cluster.run(|| scenario(&namesrv, &broker)));
}

async fn scenario(namesrv: &str, broker: &str) {
    let mut b = RawClient::connect(broker).await.expect("connect broker");
    let mut ns = RawClient::connect(namesrv).await.expect("connect namesrv");

    // Topic and group, then traffic.
    b.call_ok(raw::create_topic_request(TOPIC, QUEUES, 6)).await.expect("create topic");
    b.call_ok(raw::create_group_request(GROUP)).await.expect("create group");
    let mut last_offset = [-1i64; QUEUES as usize];
    for i in 0..MESSAGES {
        let q = i % QUEUES;
        let body = format!("drain message {i}").into_bytes();
        let resp = b
            .call_ok(raw::send_message_request("DrainProducer", TOPIC, q, body))
            .await
            .unwrap_or_else(|e| panic!("send message {i}: {e}"));
        let offset: i64 = resp
            .ext_fields
            .get("queueOffset")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("send response without queueOffset: {:?}", resp.ext_fields));
        assert_eq!(offset, last_offset[q as usize] + 1, "queue {q} offsets must be consecutive");
        last_offset[q as usize] = offset;
    }
    assert_eq!(last_offset, [74; 4], "300 messages over 4 queues land 75 per queue");
    for (q, offset) in COMMITTED.iter().enumerate() {
        b.call_ok(raw::update_consumer_offset_request(GROUP, TOPIC, q as u32, *offset))
            .await
            .expect("commit consumer offset");
    }

    // 106: the broker is listed, with its address, in its cluster.
    let cluster_info = ns.call_ok(RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO)).await.expect("106");
    save_fixture("106_broker_cluster_info.json", &cluster_info);
    let text = body_text(&cluster_info);
    let addrs = Regex::new(&format!(
        r#""{BROKER_NAME}"\s*:\s*\{{[^}}]*"brokerAddrs"\s*:\s*\{{\s*"?0"?\s*:\s*"{}""#,
        regex::escape(broker)
    ))
    .unwrap();
    assert!(addrs.is_match(&text), "106 must map {BROKER_NAME} id 0 to {broker}: {text}");
    let cluster = Regex::new(&format!(r#""{CLUSTER_NAME}"\s*:\s*\[\s*"{BROKER_NAME}"\s*\]"#)).unwrap();
    assert!(cluster.is_match(&text), "106 clusterAddrTable must list {BROKER_NAME}: {text}");

    // 28: runtime info is standard JSON `{"table":{...}}` with string values. The 1.0.0 peer
    // returns ~195 keys (full set in tests/fixtures/peer/28_broker_runtime_info.json), among them
    // msgPutTotal{YesterdayMorning,TodayMorning,TodayNow}, msgGetTotal{..}, commitLogMaxOffset,
    // commitLogMinOffset, putTps/getTotalTps/getFoundTps/getMissTps/getTransferredTps ("a b c"),
    // dispatchBehindBytes, earliestMessageTimeStamp, pageCacheLockTimeMills, brokerVersion(Desc)
    // (474 / V5_3_1_SNAPSHOT), brokerRole (ASYNC_MASTER), bootTimestamp, runtime,
    // commitLogDiskRatio(_<path>), consumeQueueDiskRatio, remainHowManyDataToFlush, haRole,
    // storeConfirmOffset, plus many peer-only diagnostics (sre*, linuxStorage*, recovery*,
    // timer*, auth*). Java keys it does NOT return: send/pull/query/litePull/ack
    // ThreadPoolQueue{Size,Capacity,HeadWaitTimeMills}, EndTransaction*, commitLogDirCapacity,
    // getTransferedTps (Java's misspelling), getMessageTransferedMsgCount.
    let runtime = b.call_ok(RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO)).await.expect("28");
    save_fixture("28_broker_runtime_info.json", &runtime);
    let table = kv_table(&runtime);
    let num = |k: &str| -> i64 {
        table
            .get(k)
            .unwrap_or_else(|| panic!("28 lacks {k}; keys: {:?}", table.keys().collect::<Vec<_>>()))
            .parse()
            .unwrap_or_else(|e| panic!("28 {k}={:?}: {e}", table[k]))
    };
    assert!(num("msgPutTotalTodayNow") >= i64::from(MESSAGES), "put total counts our sends: {table:?}");
    assert!(num("commitLogMaxOffset") > 0, "commit log grew: {table:?}");
    assert!(num("commitLogMaxOffset") >= num("commitLogMinOffset"));

    // 317: DrainGroup on DrainTopic, brokerOffset 75 per queue, consumer offsets as committed.
    let stats = b.call_ok(raw::broker_consume_stats_request()).await.expect("317");
    save_fixture("317_broker_consume_stats.json", &stats);
    let entries = consume_stats_entries(&body_text(&stats));
    let ours: Vec<&OffsetEntry> =
        entries.iter().filter(|e| e.group.as_deref() == Some(GROUP) && e.topic == TOPIC).collect();
    assert_eq!(ours.len(), QUEUES as usize, "one entry per queue of {TOPIC} under {GROUP}: {entries:?}");
    assert_eq!(ours.iter().map(|e| e.broker_offset).sum::<i64>(), i64::from(MESSAGES));
    for e in &ours {
        let expected = COMMITTED.get(e.queue_id as usize).copied().unwrap_or(0);
        assert_eq!(e.consumer_offset, expected, "queue {} consumer offset: {entries:?}", e.queue_id);
        assert_eq!(e.broker_offset, 75, "queue {} broker offset", e.queue_id);
    }

    // 208 / 202 / 21 are saved as golden inputs; sanity-check that each names our topic.
    let cs = b.call_ok(raw::consume_stats_request(GROUP, TOPIC)).await.expect("208");
    save_fixture("208_consume_stats.json", &cs);
    assert!(body_text(&cs).contains(TOPIC), "208 body names {TOPIC}");
    let ts = b.call_ok(raw::topic_stats_request(TOPIC)).await.expect("202");
    save_fixture("202_topic_stats.json", &ts);
    assert!(body_text(&ts).contains(TOPIC), "202 body names {TOPIC}");
    let all = b.call_ok(RemotingCommand::request(request::GET_ALL_TOPIC_CONFIG)).await.expect("21");
    save_fixture("21_all_topic_config.json", &all);
    assert!(body_text(&all).contains(&format!("\"{TOPIC}\"")), "21 body lists {TOPIC}");

    // 907: a lone master reports HA status; saved for the replication decoders.
    let ha = b.call_ok(RemotingCommand::request(request::GET_BROKER_HA_STATUS)).await.expect("907");
    save_fixture("907_broker_ha_status.json", &ha);
    let ha_json: serde_json::Value = serde_json::from_slice(&ha.body)
        .unwrap_or_else(|e| panic!("907 body is standard JSON: {e}: {}", body_text(&ha)));
    assert_eq!(ha_json["master"], serde_json::Value::Bool(true), "lone broker is master: {ha_json}");

    // 26 before the drain: writable and readable.
    let config = get_config(&mut b).await;
    assert_eq!(config.get("brokerPermission").map(String::as_str), Some("6"), "26 before drain");
    save_fixture("26_broker_config_perm6.txt", &last_config_response(&mut b).await);
    let route = wait_route_perm(&mut ns, PERM_READ | PERM_WRITE).await;
    save_fixture("105_route_perm6.json", &route);

    // Drain: 25 brokerPermission=4, then config and route both show read-only.
    let started = Instant::now();
    let upd = b.call_ok(raw::update_broker_config_request("brokerPermission=4\n")).await.expect("25");
    eprintln!("25 response: remark {:?} ext {:?}", upd.remark, upd.ext_fields);
    let config = get_config(&mut b).await;
    assert_eq!(config.get("brokerPermission").map(String::as_str), Some("4"), "26 after drain");
    save_fixture("26_broker_config_perm4.txt", &last_config_response(&mut b).await);
    let route = wait_route_perm(&mut ns, PERM_READ).await;
    eprintln!("route showed perm 4 after {:?}", started.elapsed());
    save_fixture("105_route_perm4.json", &route);

    // The drained broker refuses new sends: the precondition the drain verdict builds on.
    let refused =
        b.call(raw::send_message_request("DrainProducer", TOPIC, 0, b"late".to_vec())).await.expect("send after drain");
    assert_eq!(refused.code, response::NO_PERMISSION, "send after drain: {:?}", refused.remark);

    // An invalid permission is refused as a whole and changes nothing.
    let bad = b.call(raw::update_broker_config_request("brokerPermission=0\n")).await.expect("25 invalid");
    assert_eq!(bad.code, INVALID_PARAMETER, "brokerPermission=0 is refused: {:?}", bad.remark);
    let config = get_config(&mut b).await;
    assert_eq!(config.get("brokerPermission").map(String::as_str), Some("4"), "26 after refused update");

    // Restore: 25 brokerPermission=6 and the route regains the write bit.
    b.call_ok(raw::update_broker_config_request("brokerPermission=6\n")).await.expect("25 restore");
    wait_route_perm(&mut ns, PERM_READ | PERM_WRITE).await;
}

fn body_text(resp: &RemotingCommand) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// GET_BROKER_RUNTIME_INFO body: `{"table":{"key":"value",...}}`.
fn kv_table(resp: &RemotingCommand) -> BTreeMap<String, String> {
    #[derive(serde::Deserialize)]
    struct KvTable {
        table: BTreeMap<String, String>,
    }
    serde_json::from_slice::<KvTable>(&resp.body)
        .unwrap_or_else(|e| panic!("28 body is not {{\"table\":{{..}}}}: {e}: {}", body_text(resp)))
        .table
}

async fn get_config(b: &mut RawClient) -> BTreeMap<String, String> {
    let resp = last_config_response(b).await;
    let config = raw::parse_config_body(&resp.body);
    assert!(config.len() > 50, "26 body has the full config: {}", body_text(&resp));
    config
}

async fn last_config_response(b: &mut RawClient) -> RemotingCommand {
    b.call_ok(RemotingCommand::request(request::GET_BROKER_CONFIG)).await.expect("26")
}

/// Polls 105 until every queue of DrainTopic on our broker carries exactly `perm`.
async fn wait_route_perm(ns: &mut RawClient, perm: i64) -> RemotingCommand {
    let deadline = Instant::now() + ROUTE_WAIT;
    loop {
        let resp = ns.call(raw::route_request(TOPIC)).await.expect("105");
        let mut seen = None;
        if resp.code == response::SUCCESS {
            let route: serde_json::Value = serde_json::from_slice(&resp.body)
                .unwrap_or_else(|e| panic!("105 with acceptStandardJsonOnly must be JSON: {e}: {}", body_text(&resp)));
            let perms: Vec<i64> = route["queueDatas"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|q| q["brokerName"] == BROKER_NAME)
                .filter_map(|q| q["perm"].as_i64())
                .collect();
            if !perms.is_empty() && perms.iter().all(|p| *p == perm) {
                return resp;
            }
            seen = Some(perms);
        }
        assert!(
            Instant::now() < deadline,
            "105 perm never became {perm} within {ROUTE_WAIT:?}; last code {} perms {seen:?}: {}",
            resp.code,
            body_text(&resp)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One queue's offsets from a consume-stats body.
#[derive(Debug)]
struct OffsetEntry {
    group: Option<String>,
    topic: String,
    queue_id: i64,
    broker_offset: i64,
    consumer_offset: i64,
}

/// Pulls per-queue offsets out of a 317 body without assuming standard JSON: both Java
/// (fastjson) and the rocketmq-rust peer write `offsetTable` keys as bare MessageQueue objects,
/// `{"topic":..,"brokerName":..,"queueId":..}:{"brokerOffset":..}`, in differing field order.
/// Each entry is attributed to the nearest preceding group key of the `consumeStatsList` maps.
fn consume_stats_entries(text: &str) -> Vec<OffsetEntry> {
    let entry = Regex::new(r#"(\{[^{}]*\})\s*:\s*(\{[^{}]*\})"#).unwrap();
    let group = Regex::new(r#"\{\s*"([^"]+)"\s*:\s*\["#).unwrap();
    let int = |obj: &str, name: &str| -> Option<i64> {
        Regex::new(&format!(r#""{name}"\s*:\s*(-?\d+)"#)).unwrap().captures(obj).and_then(|c| c[1].parse().ok())
    };
    let string = |obj: &str, name: &str| -> Option<String> {
        Regex::new(&format!(r#""{name}"\s*:\s*"([^"]*)""#)).unwrap().captures(obj).map(|c| c[1].to_string())
    };
    let groups: Vec<(usize, String)> =
        group.captures_iter(text).map(|c| (c.get(0).unwrap().start(), c[1].to_string())).collect();
    entry
        .captures_iter(text)
        .filter_map(|c| {
            let (key, value) = (&c[1], &c[2]);
            let at = c.get(0).unwrap().start();
            Some(OffsetEntry {
                group: groups.iter().rev().find(|(pos, _)| *pos < at).map(|(_, g)| g.clone()),
                topic: string(key, "topic")?,
                queue_id: int(key, "queueId")?,
                broker_offset: int(value, "brokerOffset")?,
                consumer_offset: int(value, "consumerOffset")?,
            })
        })
        .collect()
}

/// Rewrites a golden body under tests/fixtures/peer/ when ROCKETMQ_PEER_WRITE_FIXTURES=1.
fn save_fixture(name: &str, resp: &RemotingCommand) {
    if std::env::var("ROCKETMQ_PEER_WRITE_FIXTURES").ok().as_deref() != Some("1") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peer");
    std::fs::create_dir_all(&dir).expect("create fixture dir");
    std::fs::write(dir.join(name), &resp.body).expect("write fixture");
}

/// The isolation the harness promises: the peer, `run` futures and `spawn_in_ns` children all
/// share one namespace whose only interface is loopback, distinct from the test's own.
#[test]
fn peer_runs_isolated_in_a_loopback_only_namespace() {
    use std::os::unix::fs::MetadataExt;
    let Some(cluster) = PeerCluster::start().expect("start real peer") else {
        return;
    };
    let ns_inode = std::fs::metadata(cluster.netns_path()).expect("stat netns").ino();
    let inode_of = |link: &str| -> u64 { std::fs::metadata(link).unwrap_or_else(|e| panic!("{link}: {e}")).ino() };
    assert_ne!(inode_of("/proc/self/ns/net"), ns_inode, "the test itself stays in the host namespace");

    let pids = cluster.pids();
    assert_eq!(pids.len(), 2, "namesrv and broker are running");
    for pid in pids {
        assert_eq!(inode_of(&format!("/proc/{pid}/ns/net")), ns_inode, "peer pid {pid} is in the namespace");
    }

    let links =
        std::process::Command::new("ip").args(["-n", cluster.netns(), "-o", "link", "show"]).output().expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout).into_owned();
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(':').nth(1)).map(str::trim).collect();
    assert_eq!(names, ["lo"], "loopback is the only interface: {links}");

    // Every listener (namesrv, broker, fast remoting port-2, HA) binds 127.0.0.1 only.
    let ss =
        std::process::Command::new("ip").args(["netns", "exec", cluster.netns(), "ss", "-Hltn"]).output().expect("ss");
    let ss = String::from_utf8_lossy(&ss.stdout).into_owned();
    let locals: Vec<&str> = ss.lines().filter_map(|l| l.split_whitespace().nth(3)).collect();
    assert_eq!(locals.len(), 4, "namesrv + broker + fast + HA listeners: {ss}");
    assert!(locals.iter().all(|a| a.starts_with("127.0.0.1:")), "loopback listeners only: {ss}");

    let inside = cluster.run(|| async { inode_of("/proc/thread-self/ns/net") });
    assert_eq!(inside, ns_inode, "run() executes inside the namespace");

    // A child started with spawn_in_ns reaches the NameServer over loopback.
    let mut probe = std::process::Command::new("bash");
    probe.args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{}", support::peer::NAMESRV_PORT)]);
    let status = cluster.spawn_in_ns(&mut probe).expect("spawn probe").wait().expect("wait probe");
    assert!(status.success(), "a spawn_in_ns child connects to the NameServer: {status}");
}

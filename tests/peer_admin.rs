//! Every typed [`Admin`] call against the real rocketmq-rust NameServer and broker (1.0.0): the
//! decoders in `src/protocol` must turn the peer's real bodies into the numbers the traffic
//! driven here implies (300 messages, offsets 75/40/10/0 committed, Diff 175).
//!
//! Skips (with a printed reason) when the peer binaries or root are missing, unless
//! `ROCKETMQ_EXPORTER_REQUIRE_REAL=1`.

mod support;

use std::time::{Duration, Instant};

use rocketmq_exporter::admin::Admin;
use rocketmq_exporter::protocol::consume_stats::{ConsumeStats, OffsetWrapper};
use rocketmq_exporter::remoting::{ClientOptions, RemotingClient};
use support::peer::{PeerCluster, BROKER_NAME, CLUSTER_NAME};
use support::raw::{self, RawClient};

const TOPIC: &str = "DrainTopic";
const GROUP: &str = "DrainGroup";
const QUEUES: u32 = 4;
const MESSAGES: u32 = 300;
/// Committed consumer offsets per queue: 75 + 40 + 10 + 0 = 125 consumed, Diff 175.
const COMMITTED: [i64; 4] = [75, 40, 10, 0];
const PERM_RW: i32 = 6;
const PERM_WRITE: i32 = 2;
/// Config changes that affect registration re-register at once; allow some slack.
const ROUTE_WAIT: Duration = Duration::from_secs(10);
/// The peer samples put counts once a second and needs 11 samples for a 10 s window.
const TPS_WAIT: Duration = Duration::from_secs(20);

#[test]
fn every_admin_call_decodes_the_real_peer() {
    let Some(cluster) = PeerCluster::start().expect("start real peer") else {
        return;
    };
    let namesrv = cluster.namesrv_addr();
    let broker = cluster.broker_addr();
    cluster.run_or_dump(|| cluster.run(|| scenario(&namesrv, &broker)));
}

/// Creates DrainTopic/DrainGroup, sends `MESSAGES` round-robin and commits `COMMITTED`.
async fn drive_traffic(b: &mut RawClient) {
    b.call_ok(raw::create_topic_request(TOPIC, QUEUES, 6)).await.expect("create topic");
    b.call_ok(raw::create_group_request(GROUP)).await.expect("create group");
    send(b, MESSAGES).await;
    for (q, offset) in COMMITTED.iter().enumerate() {
        b.call_ok(raw::update_consumer_offset_request(GROUP, TOPIC, q as u32, *offset))
            .await
            .expect("commit consumer offset");
    }
}

async fn send(b: &mut RawClient, n: u32) {
    for i in 0..n {
        b.call_ok(raw::send_message_request("DrainProducer", TOPIC, i % QUEUES, format!("m{i}").into_bytes()))
            .await
            .unwrap_or_else(|e| panic!("send message {i}: {e}"));
    }
}

fn by_queue(stats: &ConsumeStats) -> Vec<(i32, OffsetWrapper)> {
    let mut rows: Vec<(i32, OffsetWrapper)> = stats
        .offset_table
        .iter()
        .filter(|(mq, _)| mq.topic == TOPIC && mq.broker_name == BROKER_NAME)
        .map(|(mq, o)| (mq.queue_id, o.clone()))
        .collect();
    rows.sort_by_key(|(q, _)| *q);
    rows
}

/// The per-queue offsets the traffic implies: broker offset 75 each, consumer as committed.
fn assert_offsets(what: &str, rows: &[(i32, OffsetWrapper)]) {
    let queues: Vec<i32> = rows.iter().map(|(q, _)| *q).collect();
    assert_eq!(queues, [0, 1, 2, 3], "{what}: one row per queue of {TOPIC}: {rows:?}");
    assert_eq!(rows.iter().map(|(_, o)| o.broker_offset).sum::<i64>(), i64::from(MESSAGES), "{what}: Σ broker offsets");
    for (q, o) in rows {
        assert_eq!(o.broker_offset, 75, "{what}: queue {q} broker offset");
        assert_eq!(o.consumer_offset, COMMITTED[*q as usize], "{what}: queue {q} consumer offset");
    }
    let diff: i64 = rows.iter().map(|(_, o)| o.diff()).sum();
    assert_eq!(diff, 175, "{what}: Diff = 300 − 125: {rows:?}");
}

async fn scenario(namesrv: &str, broker: &str) {
    let mut b = RawClient::connect(broker).await.expect("connect broker");
    drive_traffic(&mut b).await;
    let admin = Admin::new(RemotingClient::new(ClientOptions::default()).expect("client"));

    // 106 cluster info: our broker, its address as id 0, in DefaultCluster.
    let ci = admin.cluster_info(namesrv).await.expect("cluster_info");
    let bd = ci.broker_addr_table.get(BROKER_NAME).unwrap_or_else(|| panic!("106 lists {BROKER_NAME}: {ci:?}"));
    assert_eq!(bd.cluster, CLUSTER_NAME);
    assert_eq!(bd.broker_addrs.get(&0).map(String::as_str), Some(broker), "master address: {bd:?}");
    assert_eq!(bd.master_addr(), Some(broker));
    assert_eq!(ci.cluster_addr_table.get(CLUSTER_NAME), Some(&vec![BROKER_NAME.to_string()]));

    // 105 route: 4 write queues with perm 6 on our broker.
    let route = admin.route(namesrv, TOPIC).await.expect("route");
    let qd: Vec<_> = route.queue_datas.iter().filter(|q| q.broker_name == BROKER_NAME).collect();
    assert_eq!(qd.len(), 1, "one QueueData for {BROKER_NAME}: {route:?}");
    assert_eq!((qd[0].write_queue_nums, qd[0].read_queue_nums, qd[0].perm), (4, 4, PERM_RW));
    assert!(qd[0].is_writeable());
    assert!(route.broker_datas.iter().any(|d| d.broker_name == BROKER_NAME && d.master_addr() == Some(broker)));

    // 28 runtime info.
    let rt = admin.runtime_info(broker).await.expect("runtime_info");
    assert!(rt.msg_put_total_today_now.unwrap_or(0) >= i64::from(MESSAGES), "put total: {:?}", rt.msg_put_total_today_now);
    assert!(rt.commit_log_max_offset.unwrap_or(0) > 0, "commit log max offset: {:?}", rt.commit_log_max_offset);
    let put = rt.put_tps.unwrap_or_else(|| panic!("putTps parsed: {:?}", rt.raw.get("putTps")));
    assert!(put.w10.is_some() && put.w60.is_some() && put.w600.is_some(), "all three windows: {put:?}");
    assert!(rt.get_transferred_tps.is_some(), "getTransferredTps parsed: {:?}", rt.raw.get("getTransferredTps"));
    assert_eq!(rt.dispatch_behind_bytes, Some(0), "dispatchBehindBytes");
    assert!(rt.remain_how_many_data_to_flush_bytes.is_some(), "remainHowManyDataToFlush: {:?}", rt.raw.get("remainHowManyDataToFlush"));
    assert!(rt.broker_version_desc.is_some(), "brokerVersionDesc");
    eprintln!(
        "runtime: putTps {:?} raw {:?}, flush {:?} raw {:?}, scheduled_pending {:?}, schedule keys {}",
        put,
        rt.raw.get("putTps"),
        rt.remain_how_many_data_to_flush_bytes,
        rt.raw.get("remainHowManyDataToFlush"),
        rt.scheduled_pending(),
        rt.schedule_message_offsets.len()
    );

    // 26 broker config.
    let cfg = admin.broker_config(broker).await.expect("broker_config");
    assert_eq!(cfg.broker_permission(), Some(6), "brokerPermission");
    assert_eq!(cfg.get("brokerName"), Some(BROKER_NAME));
    assert_eq!(cfg.get("namesrvAddr"), Some(namesrv), "values containing ':' survive the colon separator");
    assert!(cfg.broker_role().is_some(), "brokerRole present");

    // 317 broker consume stats.
    let list = admin.broker_consume_stats(broker).await.expect("broker_consume_stats");
    let ours: Vec<&ConsumeStats> =
        list.groups.iter().filter(|(g, _)| g == GROUP).flat_map(|(_, s)| s.iter()).collect();
    assert!(!ours.is_empty(), "317 lists {GROUP}: {:?}", list.groups.iter().map(|(g, _)| g).collect::<Vec<_>>());
    let mut rows: Vec<(i32, OffsetWrapper)> = ours.iter().flat_map(|s| by_queue(s)).collect();
    rows.sort_by_key(|(q, _)| *q);
    assert_offsets("317", &rows);
    assert!(list.total_diff.is_some(), "totalDiff present");

    // 208 consume stats for one group and topic.
    let cs = admin.consume_stats(broker, GROUP, Some(TOPIC)).await.expect("consume_stats");
    assert_offsets("208", &by_queue(&cs));
    assert_eq!(cs.total_diff(), 175, "208 total diff");

    // 202 topic stats (offset keys are escaped JSON strings on this peer).
    let ts = admin.topic_stats(broker, TOPIC).await.expect("topic_stats");
    let maxes: Vec<(i32, i64)> = {
        let mut v: Vec<(i32, i64)> = ts.offset_table.iter().map(|(mq, o)| (mq.queue_id, o.max_offset)).collect();
        v.sort();
        v
    };
    assert_eq!(maxes.len(), 4, "202 one entry per queue: {ts:?}");
    assert_eq!(maxes.iter().map(|(_, m)| m).sum::<i64>(), i64::from(MESSAGES), "202 Σ max offsets");
    assert!(ts.offset_table.iter().all(|(mq, o)| mq.topic == TOPIC && o.min_offset == 0));

    // 21 all topic config.
    let all = admin.all_topic_config(broker).await.expect("all_topic_config");
    let tc = all.topic_config_table.get(TOPIC).unwrap_or_else(|| panic!("21 lists {TOPIC}"));
    assert_eq!((tc.read_queue_nums, tc.write_queue_nums, tc.perm), (4, 4, PERM_RW));
    assert!(all.data_version.is_some(), "dataVersion decoded");

    // 907 HA status: a lone master answers with master=true and no connections.
    let ha = admin.ha_status(broker).await.expect("ha_status");
    let ha = ha.expect("the 1.0.0 peer implements GET_BROKER_HA_STATUS");
    assert!(ha.master, "lone broker is master: {ha:?}");
    assert!(ha.ha_connection_info.is_empty(), "no slaves: {ha:?}");
    assert_eq!(ha.in_sync_slave_nums, 0);
    assert!(ha.master_commit_log_max_offset > 0, "master commit log offset: {ha:?}");

    // The peer samples its put counter once a second (like Java's StoreStatsService) and reports
    // 0 until it has 11 samples. Keep producing for a while: the 10 s window must show it.
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut sent = 0u32;
    let w10 = loop {
        send(&mut b, 20).await;
        sent += 20;
        let rt = admin.runtime_info(broker).await.expect("runtime_info under traffic");
        let w10 = rt.put_tps.and_then(|t| t.w10).unwrap_or(0.0);
        seen.push(format!("{:.1}s:{:?}", started.elapsed().as_secs_f64(), rt.raw.get("putTps")));
        if w10 > 0.0 {
            break w10;
        }
        assert!(started.elapsed() < TPS_WAIT, "putTps w10 stayed 0 under traffic; samples: {seen:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("putTps w10 {w10} after {:?} under traffic ({sent} more messages); samples {seen:?}", started.elapsed());

    // 25 drain: permission 4 in the broker config and, after re-registration, the route.
    let started = Instant::now();
    admin.update_broker_config(broker, &[("brokerPermission", "4")], Duration::from_secs(5)).await.expect("drain");
    assert_eq!(admin.broker_config(broker).await.expect("config").broker_permission(), Some(4));
    let perm = wait_route_perm(&admin, namesrv, |p| p & PERM_WRITE == 0).await;
    assert_eq!(perm, 4, "route perm after drain");
    eprintln!("route lost the write bit {:?} after UPDATE_BROKER_CONFIG", started.elapsed());

    // Restore 6.
    admin.update_broker_config(broker, &[("brokerPermission", "6")], Duration::from_secs(5)).await.expect("restore");
    assert_eq!(admin.broker_config(broker).await.expect("config").broker_permission(), Some(6));
    assert_eq!(wait_route_perm(&admin, namesrv, |p| p == PERM_RW).await, PERM_RW);
}

/// Polls the route of DrainTopic until our broker's perm satisfies `ok`; returns it.
async fn wait_route_perm(admin: &Admin, namesrv: &str, ok: impl Fn(i32) -> bool) -> i32 {
    let deadline = Instant::now() + ROUTE_WAIT;
    loop {
        let route = admin.route(namesrv, TOPIC).await.expect("route");
        let perms: Vec<i32> =
            route.queue_datas.iter().filter(|q| q.broker_name == BROKER_NAME).map(|q| q.perm).collect();
        if perms.len() == 1 && ok(perms[0]) {
            return perms[0];
        }
        assert!(Instant::now() < deadline, "route perm not as expected within {ROUTE_WAIT:?}: {perms:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The golden bodies the real peer returned (tests/fixtures/peer/, one run of the same traffic:
/// 300 messages over 4 queues, 75/40/10/0 committed) decode to the same figures. Needs no root
/// or peer binaries, so the decoders stay covered against real peer output everywhere.
#[test]
fn stored_peer_bodies_decode_to_the_traffic_figures() {
    use rocketmq_exporter::protocol::{
        broker_config::BrokerConfig, cluster_info::ClusterInfo, consume_stats::ConsumeStatsList,
        ha_status::HaRuntimeInfo, route::TopicRouteData, runtime_info::RuntimeInfo, topic_config::TopicConfigWrapper,
        topic_stats::TopicStatsTable,
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peer");
    let body = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));

    let ci = ClusterInfo::decode(&body("106_broker_cluster_info.json")).expect("106");
    assert_eq!(ci.broker_addr_table[BROKER_NAME].master_addr(), Some("127.0.0.1:20911"));
    for (name, perm) in [("105_route_perm6.json", 6), ("105_route_perm4.json", 4)] {
        let r = TopicRouteData::decode(&body(name)).expect(name);
        let q = r.queue_datas.iter().find(|q| q.broker_name == BROKER_NAME).expect("queue data");
        assert_eq!((q.perm, q.write_queue_nums), (perm, 4), "{name}");
    }
    let rt = RuntimeInfo::decode(&body("28_broker_runtime_info.json")).expect("28");
    assert_eq!(rt.msg_put_total_today_now, Some(300));
    assert_eq!(rt.commit_log_max_offset, Some(72790));
    assert_eq!(rt.put_tps.map(|t| t.w10), Some(Some(0.0)), "\"0 0 0\" is a parsed zero, not missing");
    assert_eq!(rt.remain_how_many_data_to_flush_bytes, Some(10 * 1024), "\"10.0 KiB\"");
    assert_eq!(rt.dispatch_behind_bytes, Some(0));
    assert_eq!(rt.scheduled_pending(), Some(0), "timer keys present and zero; no scheduleMessageOffset_*");
    for (name, perm) in [("26_broker_config_perm6.txt", 6), ("26_broker_config_perm4.txt", 4)] {
        let c = BrokerConfig::decode(&body(name)).expect(name);
        assert_eq!(c.broker_permission(), Some(perm), "{name}");
        assert_eq!(c.get("namesrvAddr"), Some("127.0.0.1:19876"), "{name}: split at the first colon");
    }
    let list = ConsumeStatsList::decode(&body("317_broker_consume_stats.json")).expect("317");
    let ours: Vec<_> = list.groups.iter().filter(|(g, _)| g == GROUP).flat_map(|(_, s)| s.iter()).collect();
    let mut rows: Vec<(i32, OffsetWrapper)> = ours.iter().flat_map(|s| by_queue(s)).collect();
    rows.sort_by_key(|(q, _)| *q);
    assert_offsets("317 fixture", &rows);
    assert_eq!(list.total_diff, Some(175));
    let cs = ConsumeStats::decode(&body("208_consume_stats.json")).expect("208");
    assert_offsets("208 fixture", &by_queue(&cs));
    let ts = TopicStatsTable::decode(&body("202_topic_stats.json")).expect("202");
    assert_eq!(ts.offset_table.iter().map(|(_, o)| o.max_offset).sum::<i64>(), 300, "escaped-string MessageQueue keys");
    let all = TopicConfigWrapper::decode(&body("21_all_topic_config.json")).expect("21");
    assert_eq!(all.topic_config_table[TOPIC].write_queue_nums, 4);
    let ha = HaRuntimeInfo::decode(&body("907_broker_ha_status.json")).expect("907");
    assert!(ha.master && ha.ha_connection_info.is_empty());
    assert_eq!(ha.master_commit_log_max_offset, 72790);
}

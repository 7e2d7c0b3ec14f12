//! Cluster state -> response bodies in the exact form the Java servers emit (PROTOCOL.md §3, §5):
//! fastjson bean fields in alphabetical order, bare numeric and raw-object map keys, nulls
//! omitted, runtime values as strings.

use std::collections::BTreeMap;

use super::fastjson::{java_double, JsonWriter};
use super::model::{Broker, ClusterState, Flavor, Node, TpsKind, DELAY_LEVEL_SECS, PERM_WRITE};

fn addr_of(n: &Node) -> String {
    n.addr.map(|a| a.to_string()).unwrap_or_else(|| "127.0.0.1:0".to_string())
}

/// One `BrokerData`; `standard` quotes the numeric `brokerAddrs` keys (BrowserCompatible).
fn broker_data(w: &mut JsonWriter, b: &Broker, ns: Flavor, standard: bool) {
    w.begin_object();
    w.key("brokerAddrs").begin_object();
    for n in &b.nodes {
        if standard {
            w.key(&n.broker_id.to_string());
        } else {
            w.key_num(n.broker_id);
        }
        w.string(&addr_of(n));
    }
    w.end_object();
    w.field_str("brokerName", &b.name).field_str("cluster", &b.cluster);
    if ns == Flavor::Java53 {
        w.field_bool("enableActingMaster", false);
    }
    w.end_object();
}

/// 106 `ClusterInfo`: always default fastjson, so `brokerAddrs` keys are bare numbers.
pub fn cluster_info(st: &ClusterState) -> String {
    let mut w = JsonWriter::with_capacity(256 * st.brokers.len() + 64);
    w.begin_object();
    w.key("brokerAddrTable").begin_object();
    for b in &st.brokers {
        w.key(&b.name);
        broker_data(&mut w, b, st.namesrv_flavor, false);
    }
    w.end_object();
    w.key("clusterAddrTable").begin_object();
    let mut clusters: Vec<&str> = Vec::new();
    for b in &st.brokers {
        if !clusters.contains(&b.cluster.as_str()) {
            clusters.push(&b.cluster);
        }
    }
    for c in clusters {
        w.key(c).begin_array();
        for b in st.brokers.iter().filter(|b| b.cluster == c) {
            w.string(&b.name);
        }
        w.end_array();
    }
    w.end_object();
    w.end_object();
    w.finish()
}

/// 105 `TopicRouteData`, or None when no broker hosts `topic` (TOPIC_NOT_EXIST).
pub fn topic_route(st: &ClusterState, topic: &str, standard: bool) -> Option<String> {
    let hosts: Vec<&Broker> = st.brokers.iter().filter(|b| b.topic_index.contains_key(topic)).collect();
    if hosts.is_empty() {
        return None;
    }
    let mut w = JsonWriter::with_capacity(300 * hosts.len());
    w.begin_object();
    w.key("brokerDatas").begin_array();
    for b in &hosts {
        broker_data(&mut w, b, st.namesrv_flavor, standard);
    }
    w.end_array();
    w.key("filterServerTable").begin_object().end_object();
    w.key("queueDatas").begin_array();
    for b in &hosts {
        let Some(t) = b.topic(topic) else { continue };
        w.begin_object()
            .field_str("brokerName", &b.name)
            .field_i64("perm", b.route_perm(t) as i64)
            .field_i64("readQueueNums", t.read_queue_nums as i64)
            .field_i64("topicSysFlag", 0)
            .field_i64("writeQueueNums", t.write_queue_nums as i64)
            .end_object();
    }
    w.end_array();
    w.end_object();
    Some(w.finish())
}

/// `"w10 w60 w600"` with empty slots when history is short (PROTOCOL.md §3.11).
pub fn tps_triple(slots: [Option<f64>; 3]) -> String {
    slots.iter().map(|s| s.map(java_double).unwrap_or_default()).collect::<Vec<_>>().join(" ")
}

/// `MixAll.humanReadableByteCount(bytes, false)`.
pub fn human_bytes(bytes: i64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / 1024f64.ln()) as i32;
    let pre = ["K", "M", "G", "T", "P", "E"][(exp - 1).clamp(0, 5) as usize];
    format!("{:.1} {}iB", bytes as f64 / 1024f64.powi(exp), pre)
}

fn runtime_str(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("[ {} days, {} hours, {} minutes, {} seconds ]", s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60)
}

/// 28 `KVTable` for one node.
pub fn runtime_info(st: &ClusterState, b: &Broker, n: &Node) -> String {
    let now = st.now_ms;
    let flavor = b.flavor;
    let mut kv: Vec<(String, String)> = Vec::with_capacity(80);
    let mut put = |k: &str, v: String| kv.push((k.to_string(), v));
    put("bootTimestamp", n.boot_ms.to_string());
    put("runtime", runtime_str(now - n.boot_ms));
    put("putMessageEntireTimeMax", if n.put_total > 0.0 { "12".into() } else { "0".into() });
    let times = n.put_total as i64;
    put("putMessageTimesTotal", if times == 0 { "1".into() } else { times.to_string() });
    put("putMessageFailedTimes", "0".into());
    put("putMessageSizeTotal", (n.put_size_total as i64).to_string());
    put(
        "putMessageDistributeTime",
        if now - n.boot_ms < 60_000 {
            "null".into()
        } else {
            let recent = n.tps(TpsKind::Put)[1].unwrap_or(0.0) * 60.0;
            format!(
                "[<=0ms]:{} [0~10ms]:{} [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 [500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:0 ",
                (recent * 0.9) as i64,
                (recent * 0.1) as i64
            )
        },
    );
    put("putMessageAverageSize", java_double(n.put_size_total / times.max(1) as f64));
    put("dispatchMaxBuffer", "0".into());
    put("getMessageEntireTimeMax", "3".into());
    put("putTps", tps_triple(n.tps(TpsKind::Put)));
    put("getFoundTps", tps_triple(n.tps(TpsKind::GetFound)));
    put("getMissTps", tps_triple(n.tps(TpsKind::GetMiss)));
    let found = n.tps(TpsKind::GetFound);
    let miss = n.tps(TpsKind::GetMiss);
    let total: Vec<String> =
        (0..3).map(|i| java_double(found[i].unwrap_or(0.0) + miss[i].unwrap_or(0.0))).collect();
    put("getTotalTps", total.join(" "));
    let transferred_key = match flavor {
        Flavor::Java49 => "getTransferedTps",
        Flavor::Java53 => "getTransferredTps",
    };
    put(transferred_key, tps_triple(n.tps(TpsKind::Transferred)));
    put("putLatency99", "0.00".into());
    put("putLatency999", "1.00".into());
    let ratio = 0.42 + (n.commit_log_max_offset as f64 / 1e12).min(0.5);
    put("commitLogDiskRatio_/home/rocketmq/store/commitlog", java_double((ratio * 100.0).ceil() / 100.0));
    put("commitLogDiskRatio", java_double((ratio * 100.0).ceil() / 100.0));
    put("consumeQueueDiskRatio", java_double((ratio * 100.0).ceil() / 100.0));
    put("commitLogMinOffset", n.commit_log_min_offset.to_string());
    put("commitLogMaxOffset", n.commit_log_max_offset.to_string());
    if n.is_master() {
        // Both flavors: 5.x stores delay-level messages in the schedule topic too (only delay
        // times and deliver times go to the timer wheel).
        for (i, (delivered, total)) in b.schedule_offsets.iter().enumerate() {
            if *total > 0 && !b.schedule_unlisted.contains(&(i + 1)) {
                put(&format!("scheduleMessageOffset_{}", i + 1), format!("{delivered},{total}"));
            }
        }
    }
    put("brokerVersionDesc", flavor.version_desc().into());
    put("brokerVersion", flavor.version_ordinal().to_string());
    put("msgPutTotalYesterdayMorning", n.msg_put_yesterday_morning.to_string());
    put("msgPutTotalTodayMorning", n.msg_put_today_morning.to_string());
    put("msgPutTotalTodayNow", (n.put_total as i64).to_string());
    put("msgGetTotalYesterdayMorning", n.msg_get_yesterday_morning.to_string());
    put("msgGetTotalTodayMorning", n.msg_get_today_morning.to_string());
    put("msgGetTotalTodayNow", (n.transferred_total as i64).to_string());
    put("sendThreadPoolQueueSize", n.send_queue_size.to_string());
    put("sendThreadPoolQueueCapacity", "10000".into());
    put("pullThreadPoolQueueSize", n.pull_queue_size.to_string());
    put("pullThreadPoolQueueCapacity", "100000".into());
    put("queryThreadPoolQueueSize", "0".into());
    put("queryThreadPoolQueueCapacity", "20000".into());
    put("EndTransactionQueueSize", "0".into());
    put("EndTransactionThreadPoolQueueCapacity", "100000".into());
    put("sendThreadPoolQueueHeadWaitTimeMills", if n.send_queue_size > 0 { "1".into() } else { "0".into() });
    put("pullThreadPoolQueueHeadWaitTimeMills", if n.pull_queue_size > 0 { "1".into() } else { "0".into() });
    put("queryThreadPoolQueueHeadWaitTimeMills", "0".into());
    if flavor == Flavor::Java53 {
        put("litePullThreadPoolQueueSize", "0".into());
        put("litePullThreadPoolQueueCapacity", "100000".into());
        put("litePullThreadPoolQueueHeadWaitTimeMills", "0".into());
        put("ackThreadPoolQueueSize", "0".into());
        put("ackThreadPoolQueueCapacity", "100000".into());
        put("ackThreadPoolQueueHeadWaitTimeMills", "0".into());
        put("brokerActive", n.is_master().to_string());
        let pending = if n.is_master() { b.pending_timer() } else { 0 };
        let behind_secs = b.delayed.iter().filter(|d| d.timer).map(|d| (d.due_ms - now).max(0)).max().unwrap_or(0) / 1000;
        put("timerReadBehind", if pending > 0 { behind_secs.min(1).to_string() } else { "0".into() });
        put("timerOffsetBehind", "0".into());
        put("timerCongestNum", pending.to_string());
        put("timerEnqueueTps", java_double(if n.is_master() && n.permission & PERM_WRITE != 0 { b.delayed_tps } else { 0.0 }));
        put("timerDequeueTps", java_double(0.0));
    }
    put("dispatchBehindBytes", n.dispatch_behind_bytes.to_string());
    put("pageCacheLockTimeMills", n.page_cache_lock_ms.to_string());
    put(
        "earliestMessageTimeStamp",
        if n.commit_log_max_offset > n.commit_log_min_offset { (st.start_ms - 3 * 86_400_000).to_string() } else { "-1".into() },
    );
    put("startAcceptSendRequestTimeStamp", "0".into());
    put("remainTransientStoreBufferNumbs", i32::MAX.to_string());
    put("remainHowManyDataToFlush", human_bytes(n.flush_behind_bytes));
    put("commitLogDirCapacity", "Total : 500.0 GiB, Free : 290.0 GiB.".into());
    let mut w = JsonWriter::with_capacity(4096);
    w.begin_object().key("table").begin_object();
    for (k, v) in &kv {
        w.field_str(k, v);
    }
    w.end_object().end_object();
    w.finish()
}

/// `DataVersion` JSON (4.9: counter, timestamp; 5.x adds stateVersion).
pub fn data_version(flavor: Flavor, n: &Node) -> String {
    let mut w = JsonWriter::new();
    w.begin_object().field_i64("counter", n.data_version.counter);
    if flavor == Flavor::Java53 {
        w.field_i64("stateVersion", 0);
    }
    w.field_i64("timestamp", n.data_version.timestamp).end_object();
    w.finish()
}

/// 26 config text; 4.9 in Hashtable-like (unsorted) order, 5.x sorted by key.
pub fn broker_config(st: &ClusterState, b: &Broker, n: &Node) -> String {
    let port = n.addr.map(|a| a.port()).unwrap_or(10911);
    let ns = st.namesrv_addr.map(|a| a.to_string()).unwrap_or_default();
    let mut kv: Vec<(String, String)> = vec![
        ("brokerIP1".into(), "127.0.0.1".into()),
        ("brokerName".into(), b.name.clone()),
        ("storePathCommitLog".into(), "/home/rocketmq/store/commitlog".into()),
        ("listenPort".into(), port.to_string()),
        ("brokerPermission".into(), n.permission.to_string()),
        ("deleteWhen".into(), "04".into()),
        ("brokerClusterName".into(), b.cluster.clone()),
        ("namesrvAddr".into(), ns),
        ("brokerRole".into(), if n.is_master() { "ASYNC_MASTER".into() } else { "SLAVE".into() }),
        ("haListenPort".into(), (port as u32 + 1).to_string()),
        ("brokerId".into(), n.broker_id.to_string()),
        ("flushDiskType".into(), "ASYNC_FLUSH".into()),
        ("fileReservedTime".into(), "72".into()),
        ("aclEnable".into(), "false".into()),
        ("autoCreateTopicEnable".into(), "true".into()),
        ("autoCreateSubscriptionGroup".into(), "true".into()),
        ("brokerIP2".into(), "127.0.0.1".into()),
        ("storePathRootDir".into(), "/home/rocketmq/store".into()),
        ("mappedFileSizeCommitLog".into(), "1073741824".into()),
        ("messageDelayLevel".into(), "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".into()),
        ("defaultTopicQueueNums".into(), "8".into()),
        ("sendMessageThreadPoolNums".into(), "4".into()),
        ("pullMessageThreadPoolNums".into(), "24".into()),
        ("adminBrokerThreadPoolNums".into(), "16".into()),
        ("serverWorkerThreads".into(), "8".into()),
        ("registerNameServerPeriod".into(), "30000".into()),
        ("rocketmqHome".into(), "/home/rocketmq/rocketmq".into()),
        ("brokerConfigPath".into(), "/home/rocketmq/rocketmq/conf/broker.conf".into()),
        ("configBlackList".into(), "configBlackList;brokerConfigPath".into()),
    ];
    if b.flavor == Flavor::Java53 {
        kv.push(("enableControllerMode".into(), "false".into()));
        kv.push(("enableSlaveActingMaster".into(), "false".into()));
        kv.push(("timerWheelEnable".into(), "true".into()));
        kv.push(("enablePropertyFilter".into(), "false".into()));
    }
    for (k, v) in &n.config_overrides {
        if let Some(e) = kv.iter_mut().find(|(kk, _)| kk == k) {
            e.1 = v.clone();
        } else {
            kv.push((k.clone(), v.clone()));
        }
    }
    if b.flavor == Flavor::Java53 {
        kv.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut s = String::with_capacity(kv.len() * 40);
    for (k, v) in kv {
        s.push_str(&k);
        s.push('=');
        s.push_str(&v);
        s.push('\n');
    }
    s
}

fn offset_wrapper(w: &mut JsonWriter, flavor: Flavor, broker_offset: i64, consumer_offset: i64, last_ts: i64, pull: Option<i64>) {
    w.begin_object()
        .field_i64("brokerOffset", broker_offset)
        .field_i64("consumerOffset", consumer_offset)
        .field_i64("lastTimestamp", last_ts);
    if flavor == Flavor::Java53 {
        w.field_i64("pullOffset", pull.unwrap_or(0));
    }
    w.end_object();
}

/// 317 `ConsumeStatsList` for one node. Queue count = writeQueueNums; 5.x leaves `pullOffset`
/// at 0 here, which makes `totalInflightDiff` = −Σ consumerOffset (PROTOCOL.md §2.2).
pub fn consume_stats_list(b: &Broker, n: &Node, is_order: bool) -> String {
    let mut w = JsonWriter::with_capacity(64 + b.subs.len() * 200);
    let mut total_diff = 0i64;
    let mut inflight = 0i64;
    w.begin_object();
    w.field_str("brokerAddr", &addr_of(n));
    w.key("consumeStatsList").begin_array();
    let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); b.groups.len()];
    for (i, s) in b.subs.iter().enumerate() {
        if let Some(v) = by_group.get_mut(s.group) {
            v.push(i);
        }
    }
    for (g, subs) in b.groups.iter().zip(&by_group) {
        w.begin_object().key(&g.name).begin_array();
        for s in subs.iter().map(|&i| &b.subs[i]) {
            let t = &b.topics[s.topic];
            if is_order && !t.order {
                continue;
            }
            w.begin_object();
            w.field_f64("consumeTps", s.consume_tps);
            w.key("offsetTable").begin_object();
            for (qid, (c, q)) in s.queues.iter().zip(&t.queues).enumerate().take(t.write_queue_nums.max(0) as usize) {
                let bo = q.max_offset.max(0);
                let co = c.offset.max(0);
                total_diff += bo - co;
                inflight -= co;
                w.key_message_queue(&b.name, qid as i32, &t.name);
                offset_wrapper(&mut w, b.flavor, bo, co, if co > 0 { c.last_timestamp } else { 0 }, Some(0));
            }
            w.end_object();
            w.end_object();
        }
        w.end_array().end_object();
    }
    w.end_array();
    w.field_i64("totalDiff", total_diff);
    if b.flavor == Flavor::Java53 {
        w.field_i64("totalInflightDiff", inflight);
    }
    w.end_object();
    w.finish()
}

/// 208 `ConsumeStats` for `group` (optionally one topic). Queue count = readQueueNums.
pub fn consume_stats(b: &Broker, group: &str, topic: Option<&str>) -> String {
    let mut w = JsonWriter::with_capacity(1024);
    let gi = b.groups.iter().position(|g| g.name == group);
    let mut tps = 0.0;
    let mut body = JsonWriter::new();
    body.begin_object();
    if let Some(gi) = gi {
        for s in b.subs.iter().filter(|s| s.group == gi) {
            let t = &b.topics[s.topic];
            if topic.is_some_and(|x| x != t.name) {
                continue;
            }
            tps += s.consume_tps;
            for (qid, (c, q)) in s.queues.iter().zip(&t.queues).enumerate().take(t.read_queue_nums.max(0) as usize) {
                let co = c.offset.max(0);
                body.key_message_queue(&b.name, qid as i32, &t.name);
                offset_wrapper(&mut body, b.flavor, q.max_offset.max(0), co, if co > 0 { c.last_timestamp } else { 0 }, Some(c.pull_offset.max(co)));
            }
        }
    }
    body.end_object();
    w.begin_object().field_f64("consumeTps", tps).key("offsetTable").raw(&body.finish()).end_object();
    w.finish()
}

/// 202 `TopicStatsTable`, or None if the broker lacks the topic.
pub fn topic_stats(b: &Broker, topic: &str) -> Option<String> {
    let t = b.topic(topic)?;
    let n = match b.flavor {
        Flavor::Java49 => t.write_queue_nums,
        Flavor::Java53 => t.write_queue_nums.max(t.read_queue_nums),
    }
    .max(0) as usize;
    let mut w = JsonWriter::with_capacity(128 * n + 64);
    w.begin_object().key("offsetTable").begin_object();
    for (qid, q) in t.queues.iter().enumerate().take(n) {
        w.key_message_queue(&b.name, qid as i32, &t.name);
        // Queue id = delay level − 1: what the schedule table counts is what the queue stores.
        let max_offset = match b.schedule_offsets.get(qid) {
            Some(&(_, total)) if t.name == "SCHEDULE_TOPIC_XXXX" => total,
            _ => q.max_offset,
        };
        let last = if max_offset > 0 { q.last_store_ms } else { 0 };
        w.begin_object()
            .field_i64("lastUpdateTimestamp", last)
            .field_i64("maxOffset", max_offset.max(0))
            .field_i64("minOffset", q.min_offset.max(0))
            .end_object();
    }
    w.end_object();
    if b.flavor == Flavor::Java53 {
        w.field_f64("topicPutTps", t.put_tps);
    }
    w.end_object();
    Some(w.finish())
}

/// 21 `TopicConfigSerializeWrapper` (4.9) / `TopicConfigAndMappingSerializeWrapper` (5.x).
/// `perm` is the raw topic perm, not masked by brokerPermission.
pub fn all_topic_config(b: &Broker) -> String {
    let m = b.master();
    let mut w = JsonWriter::with_capacity(200 * b.topics.len() + 128);
    w.begin_object();
    w.key("dataVersion").raw(&data_version(b.flavor, m));
    if b.flavor == Flavor::Java53 {
        w.key("mappingDataVersion").raw(&data_version(b.flavor, m));
    }
    w.key("topicConfigTable").begin_object();
    for t in &b.topics {
        w.key(&t.name).begin_object();
        if b.flavor == Flavor::Java53 {
            w.key("attributes").begin_object().end_object();
        }
        w.field_bool("order", t.order)
            .field_i64("perm", t.perm as i64)
            .field_i64("readQueueNums", t.read_queue_nums as i64)
            .field_str("topicFilterType", "SINGLE_TAG")
            .field_str("topicName", &t.name)
            .field_i64("topicSysFlag", 0)
            .field_i64("writeQueueNums", t.write_queue_nums as i64)
            .end_object();
    }
    w.end_object();
    if b.flavor == Flavor::Java53 {
        w.key("topicQueueMappingDetailMap").begin_object().end_object();
        w.key("topicQueueMappingInfoMap").begin_object().end_object();
    }
    w.end_object();
    w.finish()
}

/// 907 `HARuntimeInfo` (5.x). Masters list one `haConnectionInfo` per slave; slaves fill
/// `haClientRuntimeInfo`.
pub fn ha_runtime_info(st: &ClusterState, b: &Broker, n: &Node) -> String {
    const NOT_IN_SYNC_GAP: i64 = 256 * 1024 * 1024;
    let m = b.master();
    let master_max = m.commit_log_max_offset;
    let mut w = JsonWriter::with_capacity(512);
    w.begin_object();
    w.key("haClientRuntimeInfo").begin_object();
    if n.is_master() {
        w.field_i64("lastReadTimestamp", 0)
            .field_i64("lastWriteTimestamp", 0)
            .field_i64("masterFlushOffset", 0)
            .field_i64("maxOffset", 0)
            .field_i64("transferredByteInSecond", 0);
    } else {
        let ha_port = m.addr.map(|a| a.port() as u32 + 1).unwrap_or(10912);
        w.field_i64("lastReadTimestamp", st.now_ms)
            .field_i64("lastWriteTimestamp", st.now_ms)
            .field_str("masterAddr", &format!("127.0.0.1:{ha_port}"))
            .field_i64("masterFlushOffset", master_max)
            .field_i64("maxOffset", n.commit_log_max_offset)
            .field_i64("transferredByteInSecond", n.replicated_bytes_per_s as i64);
    }
    w.end_object();
    w.key("haConnectionInfo").begin_array();
    let mut in_sync = 0;
    if n.is_master() {
        for s in b.nodes.iter().skip(1) {
            let diff = master_max - s.commit_log_max_offset;
            let ok = diff < NOT_IN_SYNC_GAP;
            in_sync += i64::from(ok);
            w.begin_object()
                .field_str("addr", &format!("127.0.0.1:{}", s.ha_client_port))
                .field_i64("diff", diff)
                .field_bool("inSync", ok)
                .field_i64("slaveAckOffset", s.commit_log_max_offset)
                .field_i64("transferFromWhere", s.commit_log_max_offset)
                .field_i64("transferredByteInSecond", s.replicated_bytes_per_s as i64)
                .end_object();
        }
    }
    w.end_array();
    w.field_i64("inSyncSlaveNums", in_sync);
    w.field_bool("master", n.is_master());
    w.field_i64("masterCommitLogMaxOffset", if n.is_master() { master_max } else { 0 });
    w.end_object();
    w.finish()
}

/// 206/224 `TopicList`.
pub fn topic_list<'a>(topics: impl Iterator<Item = &'a str>) -> String {
    let mut w = JsonWriter::new();
    w.begin_object().key("topicList").begin_array();
    let mut seen = std::collections::BTreeSet::new();
    for t in topics {
        if seen.insert(t) {
            w.string(t);
        }
    }
    w.end_array().end_object();
    w.finish()
}

/// Parses a properties body (UPDATE_BROKER_CONFIG) the way `Properties.load` does for the
/// simple cases: `#`/`!` comments, `=` or `:` separators, trimmed keys.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let cut = line.find(['=', ':']).unwrap_or(line.len());
        let key = line[..cut].trim().to_string();
        let value = line.get(cut + 1..).unwrap_or("").trim().to_string();
        if !key.is_empty() {
            out.insert(key, value);
        }
    }
    out
}

/// Next due time of pending delayed messages per level, for diagnostics.
pub fn delay_level_secs(level: usize) -> Option<i64> {
    DELAY_LEVEL_SECS.get(level.checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::super::model::{ClusterState, SimConfig};
    use super::*;

    #[test]
    fn human_readable_bytes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn fresh_broker_runtime_has_empty_tps_slots() {
        let st = ClusterState::new(SimConfig::runbook());
        let b = &st.brokers[0];
        let body = runtime_info(&st, b, b.master());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["table"]["putTps"], "  ");
        assert_eq!(v["table"]["getTotalTps"], "0.0 0.0 0.0");
        assert_eq!(v["table"]["brokerVersionDesc"], "V4_9_8");
        assert!(v["table"].get("getTransferedTps").is_some());
        assert!(v["table"].get("scheduleMessageOffset_3").is_some());
        for (_, val) in v["table"].as_object().unwrap() {
            assert!(val.is_string());
        }
    }

    #[test]
    fn runtime_tps_after_ten_seconds_has_first_slot_only() {
        let mut st = ClusterState::new(SimConfig::runbook());
        st.step(10_000);
        let b = &st.brokers[1];
        let body = runtime_info(&st, b, b.master());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let put = v["table"]["putTps"].as_str().unwrap().to_string();
        let parts: Vec<&str> = put.split(' ').collect();
        assert_eq!(parts.len(), 3, "{put}");
        assert!(parts[0].parse::<f64>().unwrap() > 100.0, "{put}");
        assert_eq!(&parts[1..], ["", ""]);
        assert!(v["table"].get("getTransferredTps").is_some());
        assert_eq!(v["table"]["brokerActive"], "true");
    }

    #[test]
    fn config_text_for_each_flavor() {
        let st = ClusterState::new(SimConfig::runbook());
        let b = &st.brokers[1];
        let text = broker_config(&st, b, &b.nodes[1]);
        assert!(text.contains("brokerRole=SLAVE\n"));
        assert!(text.contains("brokerId=1\n"));
        let keys: Vec<&str> = text.lines().map(|l| l.split_once('=').unwrap().0).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "5.x config text is sorted");
        let a = &st.brokers[0];
        assert!(broker_config(&st, a, a.master()).contains("brokerRole=ASYNC_MASTER\n"));
    }

    #[test]
    fn consume_stats_list_shape() {
        let st = ClusterState::new(SimConfig::runbook());
        let body = consume_stats_list(&st.brokers[1], st.brokers[1].master(), false);
        assert!(body.contains("{\"group-0-0\":[{\"consumeTps\":null,\"offsetTable\":{{\"brokerName\":\"broker-b\",\"queueId\":0,\"topic\":\"TopicTest-0\"}:{\"brokerOffset\":"), "{}", &body[..300]);
        assert!(body.contains("\"topic\":\"%RETRY%group-0-0\"}"));
        assert!(body.contains("\"pullOffset\":0"));
        assert!(body.contains("\"totalInflightDiff\":-"));
        let a = consume_stats_list(&st.brokers[0], st.brokers[0].master(), false);
        assert!(!a.contains("pullOffset") && !a.contains("totalInflightDiff"));
    }

    #[test]
    fn properties_parsing() {
        let p = parse_properties("# c\nbrokerPermission=4\n a : b \nempty=\n");
        assert_eq!(p.get("brokerPermission").map(String::as_str), Some("4"));
        assert_eq!(p.get("a").map(String::as_str), Some("b"));
        assert_eq!(p.get("empty").map(String::as_str), Some(""));
    }
}

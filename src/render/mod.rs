//! Prometheus exposition of the cluster series, rendered once per collection cycle.
//!
//! A purpose-built writer rather than the `prometheus` crate: this is the hot path (a large
//! cluster has a million queue series), and the snapshot is already the single source of truth,
//! so there is no registry to keep in sync and series of vanished brokers simply are not written.
//! Absent data is omitted, never written as zero. Names and labels follow DESIGN.md §4.

pub mod exposition;
pub mod filters;

pub use filters::Filters;

use crate::drain::checks::diff;
use crate::drain::Verdict;
use crate::snapshot::{topic_kind, BrokerNode, QueueConsume, Snapshot, TopicKind};
use exposition::{family, write_label, write_label_int, write_sample, Value};

/// (name, type, help) of one metric family.
pub type Family = (&'static str, &'static str, &'static str);

/// What to render beyond the always-on series.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Per-queue series (`--collect.queue-level`); per-(topic, group) sums are always rendered.
    pub queue_level: bool,
    /// `--collect.interval`, exported so alert rules can judge freshness without assuming it.
    pub collect_interval: Option<std::time::Duration>,
    /// Which topics' and groups' consumer series are written (the snapshot keeps them all).
    pub filters: Filters,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { queue_level: true, collect_interval: None, filters: Filters::default() }
    }
}

const BUILD_INFO: Family = ("rocketmq_exporter_build_info", "gauge", "Exporter build, value 1; label version.");
const COLLECT_DURATION: Family = (
    "rocketmq_exporter_collect_duration_seconds",
    "gauge",
    "Wall time of the last collection cycle.",
);
const LAST_COLLECT: Family = (
    "rocketmq_exporter_last_collect_timestamp_seconds",
    "gauge",
    "Unix time when the last collection cycle started.",
);
const COLLECT_INTERVAL: Family = (
    "rocketmq_exporter_collect_interval_seconds",
    "gauge",
    "Configured time between collection cycles (--collect.interval).",
);
const NAMESRV_UP: Family = ("rocketmq_namesrv_up", "gauge", "1 if the NameServer answered the last collection.");
const ROUTE_WRITABLE: Family = (
    "rocketmq_namesrv_route_writable",
    "gauge",
    "1 if this NameServer's route data still carries the write bit for the broker name.",
);
const BROKER_UP: Family = ("rocketmq_broker_up", "gauge", "1 if the last collection of this broker succeeded.");
const BROKER_INFO: Family = ("rocketmq_broker_info", "gauge", "Broker version (brokerVersionDesc) and role (brokerRole), value 1.");
const PERMISSION: Family = ("rocketmq_broker_permission", "gauge", "brokerPermission: 2 write-only, 4 read-only, 6 read-write.");
const WRITABLE: Family = ("rocketmq_broker_writable", "gauge", "1 if brokerPermission has the write bit (2).");
const READABLE: Family = ("rocketmq_broker_readable", "gauge", "1 if brokerPermission has the read bit (4).");
const PUT_TPS: Family = ("rocketmq_broker_put_tps", "gauge", "Messages put per second (clusterList InTPS).");
const GET_TPS: Family = ("rocketmq_broker_get_tps", "gauge", "Messages fetched by consumers per second (clusterList OutTPS).");
const PUT_TOTAL: Family = ("rocketmq_broker_messages_put_total", "counter", "Messages put today (msgPutTotalTodayNow).");
const GET_TOTAL: Family = ("rocketmq_broker_messages_get_total", "counter", "Messages fetched today (msgGetTotalTodayNow).");
const SEND_QUEUE_SIZE: Family = ("rocketmq_broker_send_queue_size", "gauge", "Requests waiting in the send thread pool queue.");
const SEND_QUEUE_WAIT: Family = (
    "rocketmq_broker_send_queue_head_wait_seconds",
    "gauge",
    "Wait time of the oldest request in the send queue.",
);
const PULL_QUEUE_SIZE: Family = ("rocketmq_broker_pull_queue_size", "gauge", "Requests waiting in the pull thread pool queue.");
const PULL_QUEUE_WAIT: Family = (
    "rocketmq_broker_pull_queue_head_wait_seconds",
    "gauge",
    "Wait time of the oldest request in the pull queue.",
);
const PAGE_CACHE_LOCK: Family = ("rocketmq_broker_page_cache_lock_seconds", "gauge", "Time the commit log put lock is held (PCWait).");
const EARLIEST_MSG: Family = (
    "rocketmq_broker_earliest_message_timestamp_seconds",
    "gauge",
    "Store time of the earliest message still in the commit log.",
);
const DISK_RATIO: Family = ("rocketmq_broker_commitlog_disk_ratio", "gauge", "Used fraction of the commit log disk, 0 to 1.");
const CL_MAX: Family = ("rocketmq_broker_commitlog_max_offset_bytes", "gauge", "Commit log max physical offset.");
const CL_MIN: Family = ("rocketmq_broker_commitlog_min_offset_bytes", "gauge", "Commit log min physical offset.");
const DISPATCH_BEHIND: Family = (
    "rocketmq_broker_dispatch_behind_bytes",
    "gauge",
    "Commit log bytes not yet dispatched to consume queues.",
);
const FLUSH_BEHIND: Family = ("rocketmq_broker_flush_behind_bytes", "gauge", "Commit log bytes not yet flushed to disk.");
const START_TIME: Family = (
    "rocketmq_broker_start_time_seconds",
    "gauge",
    "When the broker's store started (bootTimestamp), in seconds since the epoch; a change is a restart.",
);
const ACTIVE: Family = (
    "rocketmq_broker_active",
    "gauge",
    "5.x brokerActive (clusterList #ACTIVATED): 1 while the node runs the master-only services (a master, or a slave acting as master).",
);
const REPL_LAG: Family = (
    "rocketmq_broker_replication_lag_bytes",
    "gauge",
    "On slaves: commit log bytes the master has and this slave does not.",
);
const SCHEDULED: Family = (
    "rocketmq_broker_scheduled_messages_pending",
    "gauge",
    "Delayed messages (delay levels, SCHEDULE_TOPIC_XXXX) and 5.x timer messages not yet delivered.",
);
const DLQ: Family = ("rocketmq_broker_dlq_messages", "gauge", "Sum of Diff over dead-letter (%DLQ%) topics; does not block a drain.");
const DRAIN_READY: Family = (
    "rocketmq_broker_drain_ready",
    "gauge",
    "1 when every drain check passes: the master is safe to take offline.",
);
const DRAIN_CHECK: Family = ("rocketmq_broker_drain_check", "gauge", "1 when this drain check passes.");
const CONSUMER_DIFF: Family = ("rocketmq_consumer_diff", "gauge", "Diff = brokerOffset - consumerOffset per queue.");
const CONSUMER_OFFSET: Family = ("rocketmq_consumer_offset", "gauge", "Consumer offset per queue.");
const CONSUMER_LAST_TS: Family = (
    "rocketmq_consumer_last_timestamp_seconds",
    "gauge",
    "Store time of the last consumed message per queue (LastTime).",
);
const QUEUE_MAX_OFFSET: Family = ("rocketmq_queue_max_offset", "gauge", "Queue max offset (brokerOffset).");
const GROUP_DIFF: Family = ("rocketmq_consumer_group_diff", "gauge", "Sum of Diff over the queues of a topic for a consumer group.");

static FAMILIES: &[Family] = &[
    BUILD_INFO,
    COLLECT_DURATION,
    LAST_COLLECT,
    COLLECT_INTERVAL,
    NAMESRV_UP,
    ROUTE_WRITABLE,
    BROKER_UP,
    BROKER_INFO,
    PERMISSION,
    WRITABLE,
    READABLE,
    PUT_TPS,
    GET_TPS,
    PUT_TOTAL,
    GET_TOTAL,
    SEND_QUEUE_SIZE,
    SEND_QUEUE_WAIT,
    PULL_QUEUE_SIZE,
    PULL_QUEUE_WAIT,
    PAGE_CACHE_LOCK,
    EARLIEST_MSG,
    DISK_RATIO,
    CL_MAX,
    CL_MIN,
    DISPATCH_BEHIND,
    FLUSH_BEHIND,
    START_TIME,
    ACTIVE,
    REPL_LAG,
    SCHEDULED,
    DLQ,
    DRAIN_READY,
    DRAIN_CHECK,
    CONSUMER_DIFF,
    CONSUMER_OFFSET,
    CONSUMER_LAST_TS,
    QUEUE_MAX_OFFSET,
    GROUP_DIFF,
];

/// Every family `render` can emit, in emission order: (name, type, help).
pub fn families() -> &'static [(&'static str, &'static str, &'static str)] {
    FAMILIES
}

/// Pre-rendered broker label list `cluster,broker,broker_id,addr` for one node.
fn broker_labels(cluster: &str, broker: &str, broker_id: i64, addr: &str) -> Vec<u8> {
    let mut l = Vec::with_capacity(80);
    write_label(&mut l, true, "cluster", cluster);
    write_label(&mut l, false, "broker", broker);
    write_label_int(&mut l, false, "broker_id", broker_id);
    write_label(&mut l, false, "addr", addr);
    l
}

fn node_labels(b: &BrokerNode) -> Vec<u8> {
    broker_labels(&b.cluster, &b.broker, b.broker_id, &b.addr)
}

/// One gauge family over every node, each node's value picked by `value` (None = omitted).
fn per_node(
    out: &mut Vec<u8>,
    fam: Family,
    nodes: &[(&BrokerNode, Vec<u8>)],
    value: impl Fn(&BrokerNode) -> Option<Value>,
) {
    family(out, fam, |out| {
        for (b, labels) in nodes {
            if let Some(v) = value(b) {
                write_sample(out, fam.0, labels, v);
            }
        }
    });
}

fn bit(on: bool) -> Value {
    Value::Int(on as i64)
}

/// Renders the cluster series for one cycle. Appends nothing else; the caller appends
/// `crate::self_metrics::encode()`.
pub fn render(snapshot: &Snapshot, verdicts: &[Verdict], opts: &RenderOptions, out: &mut Vec<u8>) {
    render_exporter(snapshot, opts, out);
    let nodes: Vec<(&BrokerNode, Vec<u8>)> = snapshot.brokers.iter().map(|b| (b, node_labels(b))).collect();
    render_brokers(&nodes, out);
    render_drain(verdicts, out);
    render_queues(&nodes, opts, out);
}

fn render_exporter(s: &Snapshot, opts: &RenderOptions, out: &mut Vec<u8>) {
    family(out, BUILD_INFO, |out| {
        let mut l = Vec::new();
        write_label(&mut l, true, "version", env!("CARGO_PKG_VERSION"));
        write_sample(out, BUILD_INFO.0, &l, Value::Int(1));
    });
    family(out, COLLECT_DURATION, |out| {
        let ms = i64::try_from(s.collect_duration_ms).unwrap_or(i64::MAX);
        write_sample(out, COLLECT_DURATION.0, b"", Value::MillisAsSeconds(ms));
    });
    family(out, LAST_COLLECT, |out| {
        write_sample(out, LAST_COLLECT.0, b"", Value::MillisAsSeconds(s.taken_at_ms));
    });
    if let Some(interval) = opts.collect_interval {
        family(out, COLLECT_INTERVAL, |out| {
            let ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
            write_sample(out, COLLECT_INTERVAL.0, b"", Value::MillisAsSeconds(ms));
        });
    }
    family(out, NAMESRV_UP, |out| {
        for ns in &s.namesrvs {
            let mut l = Vec::new();
            write_label(&mut l, true, "addr", &ns.addr);
            write_sample(out, NAMESRV_UP.0, &l, bit(ns.up));
        }
    });
    family(out, ROUTE_WRITABLE, |out| {
        for ((cluster, broker), observations) in &s.routes {
            for obs in observations {
                let Some(w) = obs.writable else { continue };
                let mut l = Vec::new();
                write_label(&mut l, true, "cluster", cluster);
                write_label(&mut l, false, "broker", broker);
                write_label(&mut l, false, "namesrv", &obs.namesrv);
                write_sample(out, ROUTE_WRITABLE.0, &l, bit(w));
            }
        }
    });
}

fn render_brokers(nodes: &[(&BrokerNode, Vec<u8>)], out: &mut Vec<u8>) {
    per_node(out, BROKER_UP, nodes, |b| Some(bit(b.up)));
    family(out, BROKER_INFO, |out| {
        for (b, labels) in nodes {
            if b.version.is_none() && b.role.is_none() {
                continue;
            }
            let mut l = labels.clone();
            write_label(&mut l, false, "version", b.version.as_deref().unwrap_or(""));
            write_label(&mut l, false, "role", b.role.as_deref().unwrap_or(""));
            write_sample(out, BROKER_INFO.0, &l, Value::Int(1));
        }
    });
    per_node(out, PERMISSION, nodes, |b| b.permission.map(Value::Int));
    per_node(out, WRITABLE, nodes, |b| b.permission.map(|p| bit(p & 2 != 0)));
    per_node(out, READABLE, nodes, |b| b.permission.map(|p| bit(p & 4 != 0)));

    type RtField = fn(&crate::snapshot::BrokerRuntime) -> Option<Value>;
    let runtime_families: [(Family, RtField); 17] = [
        (PUT_TPS, |r| r.put_tps.map(Value::Float)),
        (GET_TPS, |r| r.get_tps.map(Value::Float)),
        (PUT_TOTAL, |r| r.msg_put_total_today_now.map(Value::Int)),
        (GET_TOTAL, |r| r.msg_get_total_today_now.map(Value::Int)),
        (SEND_QUEUE_SIZE, |r| r.send_queue_size.map(Value::Int)),
        (SEND_QUEUE_WAIT, |r| r.send_queue_head_wait_ms.map(Value::MillisAsSeconds)),
        (PULL_QUEUE_SIZE, |r| r.pull_queue_size.map(Value::Int)),
        (PULL_QUEUE_WAIT, |r| r.pull_queue_head_wait_ms.map(Value::MillisAsSeconds)),
        (PAGE_CACHE_LOCK, |r| r.page_cache_lock_ms.map(Value::MillisAsSeconds)),
        (EARLIEST_MSG, |r| r.earliest_message_timestamp_ms.map(Value::MillisAsSeconds)),
        (DISK_RATIO, |r| r.commitlog_disk_ratio.map(Value::Float)),
        (CL_MAX, |r| r.commitlog_max_offset.map(Value::Int)),
        (CL_MIN, |r| r.commitlog_min_offset.map(Value::Int)),
        (DISPATCH_BEHIND, |r| r.dispatch_behind_bytes.map(Value::Int)),
        (FLUSH_BEHIND, |r| r.flush_behind_bytes.map(Value::Int)),
        (START_TIME, |r| r.boot_timestamp_ms.map(Value::MillisAsSeconds)),
        (ACTIVE, |r| r.broker_active.map(bit)),
    ];
    for (fam, field) in runtime_families {
        per_node(out, fam, nodes, |b| b.runtime.as_ref().and_then(field));
    }
    per_node(out, REPL_LAG, nodes, |b| b.replication_lag_bytes.filter(|_| !b.is_master()).map(Value::Int));
    per_node(out, SCHEDULED, nodes, |b| b.scheduled_pending().map(Value::Int));
    per_node(out, DLQ, nodes, |b| {
        let rows = b.consume.as_deref().filter(|_| b.is_master())?;
        let sum = rows
            .iter()
            .filter(|r| topic_kind(&r.topic) == TopicKind::Dlq)
            .fold(0i64, |acc, r| acc.saturating_add(diff(r)));
        Some(Value::Int(sum))
    });
}

fn render_drain(verdicts: &[Verdict], out: &mut Vec<u8>) {
    let labels: Vec<Vec<u8>> = verdicts.iter().map(|v| broker_labels(&v.cluster, &v.broker, v.broker_id, &v.addr)).collect();
    family(out, DRAIN_READY, |out| {
        for (v, l) in verdicts.iter().zip(&labels) {
            write_sample(out, DRAIN_READY.0, l, bit(v.ready));
        }
    });
    family(out, DRAIN_CHECK, |out| {
        for (v, l) in verdicts.iter().zip(&labels) {
            for c in &v.checks {
                let mut l = l.clone();
                write_label(&mut l, false, "check", c.check.name());
                write_sample(out, DRAIN_CHECK.0, &l, bit(c.pass));
            }
        }
    });
}

/// Consume rows of the masters that the filters keep, with their `cluster,broker` label
/// prefix. Only masters: consume stats are fetched from masters, and queue labels carry no
/// broker_id to tell copies apart.
fn master_rows<'a>(nodes: &'a [(&'a BrokerNode, Vec<u8>)], filters: &Filters) -> Vec<(Vec<u8>, Vec<&'a QueueConsume>)> {
    nodes
        .iter()
        .filter(|(b, _)| b.is_master())
        .filter_map(|(b, _)| {
            let rows = b.consume.as_deref()?;
            let mut prefix = Vec::with_capacity(64);
            write_label(&mut prefix, true, "cluster", &b.cluster);
            write_label(&mut prefix, false, "broker", &b.broker);
            let kept = if filters.is_empty() { rows.iter().collect() } else { kept_rows(rows, filters) };
            Some((prefix, kept))
        })
        .collect()
}

/// The rows the filters keep. Rows of one (topic, group) come together, so the filters are
/// asked once per run.
fn kept_rows<'a>(rows: &'a [QueueConsume], filters: &Filters) -> Vec<&'a QueueConsume> {
    let mut run: Option<(&QueueConsume, bool)> = None;
    rows.iter()
        .filter(|r| match run {
            Some((p, k)) if std::sync::Arc::ptr_eq(&p.topic, &r.topic) && std::sync::Arc::ptr_eq(&p.group, &r.group) => k,
            _ => {
                let k = filters.topic_allowed(&r.topic) && filters.group_allowed(&r.group);
                run = Some((r, k));
                k
            }
        })
        .collect()
}

fn render_queues(nodes: &[(&BrokerNode, Vec<u8>)], opts: &RenderOptions, out: &mut Vec<u8>) {
    let masters = master_rows(nodes, &opts.filters);
    if opts.queue_level {
        // One label arena for every row, rendered once and copied into three families.
        let total: usize = masters.iter().map(|(_, rows)| rows.len()).sum();
        let mut arena: Vec<u8> = Vec::with_capacity(total * 96);
        let mut spans: Vec<(usize, usize, &QueueConsume)> = Vec::with_capacity(total);
        for (prefix, rows) in &masters {
            for &r in rows {
                let start = arena.len();
                arena.extend_from_slice(prefix);
                write_label(&mut arena, false, "topic", &r.topic);
                write_label(&mut arena, false, "group", &r.group);
                write_label_int(&mut arena, false, "queue_id", r.queue_id.into());
                spans.push((start, arena.len(), r));
            }
        }
        out.reserve(spans.len() * 3 * 130);
        family(out, CONSUMER_DIFF, |out| {
            for &(s, e, r) in &spans {
                write_sample(out, CONSUMER_DIFF.0, &arena[s..e], Value::Int(diff(r)));
            }
        });
        family(out, CONSUMER_OFFSET, |out| {
            for &(s, e, r) in &spans {
                write_sample(out, CONSUMER_OFFSET.0, &arena[s..e], Value::Int(r.consumer_offset));
            }
        });
        family(out, CONSUMER_LAST_TS, |out| {
            for &(s, e, r) in &spans {
                if let Some(ts) = r.last_timestamp_ms {
                    write_sample(out, CONSUMER_LAST_TS.0, &arena[s..e], Value::MillisAsSeconds(ts));
                }
            }
        });
        family(out, QUEUE_MAX_OFFSET, |out| {
            for (prefix, rows) in &masters {
                // Several groups report the same queue; its max offset is written once.
                let mut queues: Vec<(&str, i32, i64)> =
                    rows.iter().map(|r| (r.topic.as_ref(), r.queue_id, r.broker_offset)).collect();
                queues.sort_unstable();
                let mut i = 0;
                while i < queues.len() {
                    let (topic, qid, _) = queues[i];
                    let mut j = i;
                    while j + 1 < queues.len() && queues[j + 1].0 == topic && queues[j + 1].1 == qid {
                        j += 1;
                    }
                    let max = queues[j].2; // sorted ascending within the key
                    let mut l = prefix.clone();
                    write_label(&mut l, false, "topic", topic);
                    write_label_int(&mut l, false, "queue_id", qid.into());
                    write_sample(out, QUEUE_MAX_OFFSET.0, &l, Value::Int(max));
                    i = j + 1;
                }
            }
        });
    }
    family(out, GROUP_DIFF, |out| {
        for (prefix, rows) in &masters {
            for ((topic, group), sum) in group_sums(rows) {
                let mut l = prefix.clone();
                write_label(&mut l, false, "topic", topic);
                write_label(&mut l, false, "group", group);
                write_sample(out, GROUP_DIFF.0, &l, Value::Int(sum));
            }
        }
    });
}

/// Σ Diff per (topic, group), sorted. Rows of one pair usually arrive together, so runs are
/// folded first and only the (much shorter) list of runs is sorted and merged.
fn group_sums<'a>(rows: &[&'a QueueConsume]) -> Vec<((&'a str, &'a str), i64)> {
    let mut runs: Vec<((&str, &str), i64)> = Vec::new();
    for r in rows {
        let key = (r.topic.as_ref(), r.group.as_ref());
        match runs.last_mut() {
            Some((k, sum)) if *k == key => *sum = sum.saturating_add(diff(r)),
            _ => runs.push((key, diff(r))),
        }
    }
    runs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<((&str, &str), i64)> = Vec::with_capacity(runs.len());
    for (k, v) in runs {
        match merged.last_mut() {
            Some((mk, sum)) if *mk == k => *sum = sum.saturating_add(v),
            _ => merged.push((k, v)),
        }
    }
    merged
}

#[cfg(test)]
pub(crate) mod tests;

//! Family values from a hand-built snapshot, format checks, and `promtool check metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::*;
use crate::drain::{evaluate, DrainConfig};
use crate::snapshot::{BrokerRuntime, NamesrvStatus, RouteObservation, StoredLevel};

fn row(topic: &str, group: &str, queue_id: i32, broker_offset: i64, consumer_offset: i64, ts: Option<i64>) -> QueueConsume {
    QueueConsume { topic: topic.into(), group: group.into(), queue_id, broker_offset, consumer_offset, last_timestamp_ms: ts }
}

/// A cluster with every kind of data: a full master, a lagging slave, a dead broker, odd names.
pub(crate) fn rich_snapshot() -> Snapshot {
    let master = BrokerNode {
        cluster: "DefaultCluster".into(),
        broker: "broker-a".into(),
        broker_id: 0,
        addr: "10.0.0.1:10911".into(),
        up: true,
        error: None,
        version: Some("V4_9_8".into()),
        role: Some("ASYNC_MASTER".into()),
        permission: Some(6),
        runtime: Some(BrokerRuntime {
            put_tps: Some(23.5),
            get_tps: Some(f64::NAN),
            msg_put_total_today_now: Some(123_456),
            msg_get_total_today_now: Some(120_000),
            send_queue_size: Some(3),
            send_queue_head_wait_ms: Some(1500),
            pull_queue_size: Some(0),
            pull_queue_head_wait_ms: Some(0),
            page_cache_lock_ms: Some(7),
            earliest_message_timestamp_ms: Some(1_700_000_000_123),
            commitlog_disk_ratio: Some(0.25),
            commitlog_max_offset: Some(1_073_741_824),
            commitlog_min_offset: Some(0),
            dispatch_behind_bytes: Some(0),
            flush_behind_bytes: Some(4096),
            delay_level_pending: Some(2),
            delay_levels_listed: vec![3],
            timer_pending: None,
            boot_timestamp_ms: Some(1_699_000_000_000),
            broker_active: None,
        }),
        consume: Some(vec![
            row("TopicA", "G1", 0, 100, 97, Some(1_700_000_001_000)),
            row("TopicA", "G1", 1, 50, 50, Some(1_700_000_002_500)),
            row("TopicA", "G2", 0, 101, 90, None),
            row("%RETRY%G1", "G1", 0, 10, 8, Some(1_700_000_003_000)),
            row("%DLQ%G1", "G1", 0, 5, 0, None),
            row("%DLQ%G2", "G2", 0, 4, 1, None),
            row("we\"ird\\topic", "g\nroup", 2, 9, 9, Some(1_700_000_004_000)),
        ]),
        replication_lag_bytes: None,
        ha_connections: None,
        schedule_levels_stored: None,
        trans_half_empty: None,
        unwatched_queues: None,
    };
    let slave = BrokerNode {
        cluster: "DefaultCluster".into(),
        broker: "broker-a".into(),
        broker_id: 1,
        addr: "10.0.0.2:10911".into(),
        up: true,
        version: Some("V4_9_8".into()),
        role: Some("SLAVE".into()),
        permission: Some(4),
        // brokerActive false: a plain slave of a 5.x master (the only kind that reports it).
        runtime: Some(BrokerRuntime { put_tps: Some(0.0), broker_active: Some(false), ..Default::default() }),
        replication_lag_bytes: Some(2048),
        ..Default::default()
    };
    let dead = BrokerNode {
        cluster: "DefaultCluster".into(),
        broker: "broker-b".into(),
        broker_id: 0,
        addr: "10.0.0.3:10911".into(),
        up: false,
        error: Some("GET_BROKER_RUNTIME_INFO: timeout".into()),
        ..Default::default()
    };
    let mut routes = BTreeMap::new();
    routes.insert(
        ("DefaultCluster".to_string(), "broker-a".to_string()),
        vec![
            RouteObservation { namesrv: "127.0.0.1:9876".into(), writable: Some(true), topic: Some("TopicA".into()), error: None },
            RouteObservation { namesrv: "127.0.0.1:9877".into(), writable: None, topic: None, error: Some("timeout".into()) },
        ],
    );
    routes.insert(
        ("DefaultCluster".to_string(), "broker-b".to_string()),
        vec![RouteObservation { namesrv: "127.0.0.1:9876".into(), writable: Some(false), topic: None, error: None }],
    );
    Snapshot {
        taken_at_ms: 1_700_000_010_000,
        collect_duration_ms: 250,
        namesrvs: vec![
            NamesrvStatus { addr: "127.0.0.1:9876".into(), up: true, error: None },
            NamesrvStatus { addr: "127.0.0.1:9877".into(), up: false, error: Some("timeout".into()) },
        ],
        brokers: vec![master, slave, dead],
        routes,
        sidecar: false,
    }
}

fn render_text(s: &Snapshot, queue_level: bool) -> String {
    let verdicts = evaluate(&s, &[], &DrainConfig::default());
    let mut out = Vec::new();
    render(s, &verdicts, &RenderOptions { queue_level, collect_interval: Some(Duration::from_millis(15_500)), ..Default::default() }, &mut out);
    String::from_utf8(out).expect("utf-8 exposition")
}

/// Sample lines of `name` whose label text contains every `needle`.
fn samples<'a>(text: &'a str, name: &str, needles: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .collect()
}

/// The value of the one sample of `name` matching `needles`.
fn value(text: &str, name: &str, needles: &[&str]) -> String {
    let found = samples(text, name, needles);
    assert_eq!(found.len(), 1, "{name} {needles:?}: {found:?}");
    found[0].rsplit(' ').next().unwrap().to_string()
}

const MASTER: &[&str] = &[r#"cluster="DefaultCluster",broker="broker-a",broker_id="0",addr="10.0.0.1:10911""#];
const SLAVE: &[&str] = &[r#"broker="broker-a",broker_id="1",addr="10.0.0.2:10911""#];
const DEAD: &[&str] = &[r#"broker="broker-b",broker_id="0""#];

#[test]
fn every_family_once_with_help_and_type() {
    let text = render_text(&rich_snapshot(), true);
    let types: BTreeMap<&str, &str> = families().iter().map(|(n, t, _)| (*n, *t)).collect();
    let mut seen = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line[7..].split(' ');
        let (name, typ) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(seen.insert(name), "{name} declared twice");
        assert_eq!(types.get(name), Some(&typ), "{name} type");
    }
    let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
    assert_eq!(helps, seen.len());
    // The rich snapshot exercises every family the module declares.
    let declared: BTreeSet<&str> = types.keys().copied().collect();
    assert_eq!(seen, declared);
    // Every sample belongs to a declared family, and families are contiguous.
    let mut order = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(declared.contains(name), "undeclared {name}");
        if order.last() != Some(&name) {
            assert!(!order.contains(&name), "{name} split");
            order.push(name);
        }
    }
    for (name, typ, help) in families() {
        assert!(name.starts_with("rocketmq_"), "{name}");
        assert_eq!(name.ends_with("_total"), *typ == "counter", "{name}");
        assert!(!help.is_empty() && !help.contains('\n'), "{name}");
    }
}

#[test]
fn broker_families() {
    let t = render_text(&rich_snapshot(), true);
    assert_eq!(value(&t, "rocketmq_broker_up", MASTER), "1");
    assert_eq!(value(&t, "rocketmq_broker_up", DEAD), "0");
    assert_eq!(value(&t, "rocketmq_broker_info", &[MASTER[0], r#"version="V4_9_8",role="ASYNC_MASTER""#]), "1");
    assert_eq!(value(&t, "rocketmq_broker_info", &[SLAVE[0], r#"role="SLAVE""#]), "1");
    assert_eq!(value(&t, "rocketmq_broker_permission", MASTER), "6");
    assert_eq!(value(&t, "rocketmq_broker_permission", SLAVE), "4");
    assert_eq!(value(&t, "rocketmq_broker_writable", MASTER), "1");
    assert_eq!(value(&t, "rocketmq_broker_writable", SLAVE), "0");
    assert_eq!(value(&t, "rocketmq_broker_readable", SLAVE), "1");
    assert_eq!(value(&t, "rocketmq_broker_put_tps", MASTER), "23.5");
    assert_eq!(value(&t, "rocketmq_broker_get_tps", MASTER), "NaN");
    assert_eq!(value(&t, "rocketmq_broker_messages_put_total", MASTER), "123456");
    assert_eq!(value(&t, "rocketmq_broker_messages_get_total", MASTER), "120000");
    assert_eq!(value(&t, "rocketmq_broker_send_queue_size", MASTER), "3");
    assert_eq!(value(&t, "rocketmq_broker_send_queue_head_wait_seconds", MASTER), "1.5");
    assert_eq!(value(&t, "rocketmq_broker_pull_queue_size", MASTER), "0");
    assert_eq!(value(&t, "rocketmq_broker_pull_queue_head_wait_seconds", MASTER), "0");
    assert_eq!(value(&t, "rocketmq_broker_page_cache_lock_seconds", MASTER), "0.007");
    assert_eq!(value(&t, "rocketmq_broker_earliest_message_timestamp_seconds", MASTER), "1700000000.123");
    assert_eq!(value(&t, "rocketmq_broker_commitlog_disk_ratio", MASTER), "0.25");
    assert_eq!(value(&t, "rocketmq_broker_commitlog_max_offset_bytes", MASTER), "1073741824");
    assert_eq!(value(&t, "rocketmq_broker_commitlog_min_offset_bytes", MASTER), "0");
    assert_eq!(value(&t, "rocketmq_broker_dispatch_behind_bytes", MASTER), "0");
    assert_eq!(value(&t, "rocketmq_broker_flush_behind_bytes", MASTER), "4096");
    assert_eq!(value(&t, "rocketmq_broker_scheduled_messages_pending", MASTER), "2");
    assert_eq!(value(&t, "rocketmq_broker_start_time_seconds", MASTER), "1699000000");
    assert!(samples(&t, "rocketmq_broker_active", MASTER).is_empty(), "a 4.x broker reports no brokerActive");
    assert_eq!(value(&t, "rocketmq_broker_replication_lag_bytes", SLAVE), "2048");
    assert!(samples(&t, "rocketmq_broker_replication_lag_bytes", MASTER).is_empty());
    // DLQ: (5 - 0) + (4 - 1), masters only.
    assert_eq!(value(&t, "rocketmq_broker_dlq_messages", MASTER), "8");
    assert!(samples(&t, "rocketmq_broker_dlq_messages", SLAVE).is_empty());
}

/// 5.x brokerActive as 1 or 0: a master, and a slave that is not acting as master.
#[test]
fn broker_active_is_rendered_where_reported() {
    let mut snap = rich_snapshot();
    snap.brokers[0].runtime.as_mut().unwrap().broker_active = Some(true);
    let t = render_text(&snap, true);
    assert_eq!(value(&t, "rocketmq_broker_active", MASTER), "1");
    assert_eq!(value(&t, "rocketmq_broker_active", SLAVE), "0");
}

/// A drained master's schedule topic holds messages at a level its runtime info does not list
/// yet: the pending figure counts them beside the listed level's 2.
#[test]
fn scheduled_pending_counts_stored_levels_not_listed() {
    let mut snap = rich_snapshot();
    snap.brokers[0].schedule_levels_stored =
        Some(vec![StoredLevel { level: 3, messages: 5 }, StoredLevel { level: 6, messages: 3 }]);
    let t = render_text(&snap, true);
    assert_eq!(value(&t, "rocketmq_broker_scheduled_messages_pending", MASTER), "5");
}

#[test]
fn absent_data_is_omitted_not_zero() {
    let t = render_text(&rich_snapshot(), true);
    // The dead broker has only `up` (and its drain verdict, which says not ready).
    let dead_lines: Vec<&str> = t.lines().filter(|l| !l.starts_with('#') && l.contains(r#"broker="broker-b""#)).collect();
    let names: BTreeSet<&str> = dead_lines.iter().map(|l| l.split('{').next().unwrap()).collect();
    let expected: BTreeSet<&str> =
        ["rocketmq_broker_up", "rocketmq_broker_drain_ready", "rocketmq_broker_drain_check", "rocketmq_namesrv_route_writable"]
            .into();
    assert_eq!(names, expected, "{dead_lines:#?}");
    // Slave runtime lacks get_tps: no series.
    assert!(samples(&t, "rocketmq_broker_get_tps", SLAVE).is_empty());
    // Never-consumed queue has no last timestamp.
    assert!(samples(&t, "rocketmq_consumer_last_timestamp_seconds", &[r#"group="G2""#]).is_empty());
    // Route unknown on 9877: omitted.
    assert!(samples(&t, "rocketmq_namesrv_route_writable", &[r#"namesrv="127.0.0.1:9877""#]).is_empty());
}

#[test]
fn queue_families() {
    let t = render_text(&rich_snapshot(), true);
    let q = |topic: &str, group: &str, qid: i32| {
        vec![
            r#"cluster="DefaultCluster",broker="broker-a",topic=""#.to_string() + topic + "\"",
            format!(r#"group="{group}",queue_id="{qid}""#),
        ]
    };
    let v = |name: &str, k: Vec<String>| value(&t, name, &k.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(v("rocketmq_consumer_diff", q("TopicA", "G1", 0)), "3");
    assert_eq!(v("rocketmq_consumer_offset", q("TopicA", "G2", 0)), "90");
    assert_eq!(v("rocketmq_consumer_last_timestamp_seconds", q("TopicA", "G1", 1)), "1700000002.5");
    assert_eq!(v("rocketmq_consumer_diff", q(r#"we\"ird\\topic"#, r"g\nroup", 2)), "0");
    // Max offset per queue, without group: G1 says 100, G2 says 101 for TopicA/0.
    let max = samples(&t, "rocketmq_queue_max_offset", &[r#"topic="TopicA""#]);
    assert_eq!(
        max,
        vec![
            r#"rocketmq_queue_max_offset{cluster="DefaultCluster",broker="broker-a",topic="TopicA",queue_id="0"} 101"#,
            r#"rocketmq_queue_max_offset{cluster="DefaultCluster",broker="broker-a",topic="TopicA",queue_id="1"} 50"#,
        ]
    );
    assert_eq!(value(&t, "rocketmq_consumer_group_diff", &[r#"topic="TopicA",group="G1"}"#]), "3");
    assert_eq!(value(&t, "rocketmq_consumer_group_diff", &[r#"topic="TopicA",group="G2"}"#]), "11");
    assert_eq!(value(&t, "rocketmq_consumer_group_diff", &[r#"topic="%RETRY%G1",group="G1"}"#]), "2");
    // Queue series come from masters only, once per row.
    assert_eq!(samples(&t, "rocketmq_consumer_diff", &[]).len(), 7);
}

#[test]
fn queue_level_off_keeps_group_sums_only() {
    let t = render_text(&rich_snapshot(), false);
    for name in [
        "rocketmq_consumer_diff",
        "rocketmq_consumer_offset",
        "rocketmq_consumer_last_timestamp_seconds",
        "rocketmq_queue_max_offset",
    ] {
        assert!(!t.contains(name), "{name} rendered with queue_level=false");
    }
    assert_eq!(samples(&t, "rocketmq_consumer_group_diff", &[]).len(), 6);
}

#[test]
fn group_sums_merge_split_runs() {
    let rows = vec![
        row("T", "G1", 0, 5, 0, None),
        row("T", "G2", 0, 5, 4, None),
        row("T", "G1", 1, 2, 0, None),
        row("A", "G1", 0, 1, 0, None),
    ];
    assert_eq!(group_sums(&rows.iter().collect::<Vec<_>>()), vec![(("A", "G1"), 1), (("T", "G1"), 7), (("T", "G2"), 1)]);
}

#[test]
fn exporter_namesrv_and_drain_families() {
    let t = render_text(&rich_snapshot(), true);
    assert_eq!(value(&t, "rocketmq_exporter_collect_duration_seconds", &[]), "0.25");
    assert_eq!(value(&t, "rocketmq_exporter_last_collect_timestamp_seconds", &[]), "1700000010");
    assert_eq!(value(&t, "rocketmq_exporter_collect_interval_seconds", &[]), "15.5");
    assert_eq!(value(&t, "rocketmq_exporter_build_info", &[env!("CARGO_PKG_VERSION")]), "1");
    assert_eq!(value(&t, "rocketmq_namesrv_up", &[r#"addr="127.0.0.1:9876""#]), "1");
    assert_eq!(value(&t, "rocketmq_namesrv_up", &[r#"addr="127.0.0.1:9877""#]), "0");
    assert_eq!(
        value(&t, "rocketmq_namesrv_route_writable", &[r#"broker="broker-a",namesrv="127.0.0.1:9876""#]),
        "1"
    );
    assert_eq!(
        value(&t, "rocketmq_namesrv_route_writable", &[r#"broker="broker-b",namesrv="127.0.0.1:9876""#]),
        "0"
    );
    // Drain: broker-a has permission 6, so not ready and write_disabled fails; its DLQ does not matter.
    assert_eq!(value(&t, "rocketmq_broker_drain_ready", MASTER), "0");
    assert_eq!(value(&t, "rocketmq_broker_drain_check", &[MASTER[0], r#"check="write_disabled""#]), "0");
    assert_eq!(value(&t, "rocketmq_broker_drain_check", &[MASTER[0], r#"check="no_writes""#]), "0");
    assert_eq!(samples(&t, "rocketmq_broker_drain_check", MASTER).len(), crate::drain::Check::ALL.len());
    assert!(samples(&t, "rocketmq_broker_drain_ready", SLAVE).is_empty());
}

#[test]
fn drain_values_follow_the_verdicts() {
    let s = rich_snapshot();
    let mut verdicts = evaluate(&s, &[], &DrainConfig::default());
    for c in &mut verdicts[0].checks {
        c.pass = c.check == crate::drain::Check::Flush;
    }
    verdicts[0].ready = true; // as given: render reports, it does not re-judge
    let mut out = Vec::new();
    render(&s, &verdicts, &RenderOptions::default(), &mut out);
    let t = String::from_utf8(out).unwrap();
    assert_eq!(value(&t, "rocketmq_broker_drain_ready", MASTER), "1");
    assert_eq!(value(&t, "rocketmq_broker_drain_check", &[MASTER[0], r#"check="flush""#]), "1");
    assert_eq!(value(&t, "rocketmq_broker_drain_check", &[MASTER[0], r#"check="backlog""#]), "0");
}

#[test]
fn vanished_broker_has_no_series() {
    let before = rich_snapshot();
    assert!(render_text(&before, true).contains(r#"broker="broker-b""#));
    let mut after = before.clone();
    after.brokers.retain(|b| b.broker != "broker-b");
    after.routes.retain(|(_, b), _| b != "broker-b");
    let t = render_text(&after, true);
    assert!(!t.contains("broker-b"), "{t}");
    // A queue that vanished from consume stats vanishes too.
    after.brokers[0].consume.as_mut().unwrap().retain(|r| &*r.group != "G2");
    let t = render_text(&after, true);
    assert!(!t.contains(r#"group="G2""#));
}

#[test]
fn empty_snapshot_renders_only_exporter_families() {
    let t = render_text(&Snapshot::default(), true);
    let names: BTreeSet<&str> = t.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(['{', ' ']).next().unwrap()).collect();
    let expected: BTreeSet<&str> = [
        "rocketmq_exporter_build_info",
        "rocketmq_exporter_collect_duration_seconds",
        "rocketmq_exporter_last_collect_timestamp_seconds",
        "rocketmq_exporter_collect_interval_seconds",
    ]
    .into();
    assert_eq!(names, expected);
}

#[test]
fn promtool_accepts_the_exposition() {
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        if std::env::var("ROCKETMQ_EXPORTER_REQUIRE_REAL").as_deref() == Ok("1") {
            panic!("/usr/bin/promtool missing and ROCKETMQ_EXPORTER_REQUIRE_REAL=1");
        }
        eprintln!("skipping promtool_accepts_the_exposition: /usr/bin/promtool not installed");
        return;
    }
    let mut text = render_text(&rich_snapshot(), true);
    // What the server serves: cluster series, then the exporter's own registry.
    text.push_str(&String::from_utf8(crate::self_metrics::encode()).unwrap());
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool: {report}\n---\n{text}");
}

/// The filters drop consumer series only; the verdict evaluated from the same snapshot still
/// sees a filtered-out group's backlog, and the broker-level series stay.
#[test]
fn filters_drop_consumer_series_but_not_what_the_verdict_sees() {
    let s = rich_snapshot();
    let verdicts = evaluate(&s, &[], &DrainConfig::default());
    let filters = Filters {
        group_exclude: Some(regex::Regex::new("^G2$").unwrap()),
        topic_exclude: Some(regex::Regex::new("^%DLQ%").unwrap()),
        ..Filters::default()
    };
    let mut out = Vec::new();
    render(&s, &verdicts, &RenderOptions { filters, ..Default::default() }, &mut out);
    let t = String::from_utf8(out).unwrap();
    let all = render_text(&s, true);
    for name in ["rocketmq_consumer_diff", "rocketmq_consumer_offset", "rocketmq_consumer_group_diff"] {
        assert!(samples(&t, name, &["group=\"G2\""]).is_empty(), "{name}: G2 filtered out");
        assert!(samples(&t, name, &["topic=\"%DLQ%"]).is_empty(), "{name}: DLQ topics filtered out");
        assert!(!samples(&all, name, &["group=\"G2\""]).is_empty(), "{name}: G2 there without filters");
        assert!(!samples(&t, name, &["topic=\"TopicA\"", "group=\"G1\""]).is_empty(), "{name}: TopicA/G1 kept");
    }
    assert_eq!(value(&t, "rocketmq_consumer_group_diff", &["topic=\"TopicA\"", "group=\"G1\""]), "3");
    // Queue max offsets come from the kept rows: TopicA/0 is 100 by G1 (G2 reported 101).
    assert_eq!(value(&t, "rocketmq_queue_max_offset", &["topic=\"TopicA\"", "queue_id=\"0\""]), "100");
    // Broker-level figures, the DLQ total among them, and the verdict's lines are unchanged.
    for name in ["rocketmq_broker_dlq_messages", "rocketmq_broker_drain_ready", "rocketmq_broker_drain_check"] {
        assert_eq!(samples(&t, name, &[]), samples(&all, name, &[]), "{name}");
    }
    let backlog = verdicts[0].check(crate::drain::Check::Backlog).unwrap();
    assert!(!backlog.pass && backlog.reason.contains("TopicA/G2"), "G2's backlog still counts: {}", backlog.reason);
}

//! Unit tests: for each check a pass case and each fail case, plus the retry-trickle seed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::snapshot::{BrokerNode, BrokerRuntime, HaConnection, NamesrvStatus, QueueConsume, QueueMaxOffset, RouteObservation, StoredLevel};

const NS: &str = "127.0.0.1:9876";

fn row(topic: &str, group: &str, queue_id: i32, broker_offset: i64, consumer_offset: i64) -> QueueConsume {
    QueueConsume {
        topic: topic.into(),
        group: group.into(),
        queue_id,
        broker_offset,
        consumer_offset,
        last_timestamp_ms: Some(1_700_000_000_000),
    }
}

fn runtime() -> BrokerRuntime {
    BrokerRuntime {
        put_tps: Some(0.0),
        get_tps: Some(0.0),
        msg_put_total_today_now: Some(1000),
        msg_get_total_today_now: Some(1000),
        flush_behind_bytes: Some(0),
        dispatch_behind_bytes: Some(0),
        // Level 3 used before and fully delivered.
        delay_level_pending: Some(0),
        delay_levels_listed: vec![3],
        ..Default::default()
    }
}

fn master(user_off: i64, retry_off: i64) -> BrokerNode {
    BrokerNode {
        cluster: "DefaultCluster".into(),
        broker: "broker-a".into(),
        broker_id: 0,
        addr: "10.0.0.1:10911".into(),
        up: true,
        version: Some("V4_9_8".into()),
        role: Some("ASYNC_MASTER".into()),
        permission: Some(4),
        runtime: Some(runtime()),
        consume: Some(vec![
            row("TopicA", "G1", 0, user_off, user_off),
            row("TopicA", "G1", 1, user_off, user_off),
            row("TopicA", "G2", 0, user_off, user_off),
            row("%RETRY%G1", "G1", 0, retry_off, retry_off),
        ]),
        // Drained: the collector has looked for user topics outside consume stats (none here)
        // at the schedule topic (only level 3 ever stored) and at the transactional half topic
        // (never used).
        unwatched_queues: Some(Vec::new()),
        schedule_levels_stored: Some(levels_stored(&[(3, 4)])),
        trans_half_empty: Some(true),
        ..Default::default()
    }
}

/// SCHEDULE_TOPIC_XXXX queues that stored messages: (delay level, entries held).
fn levels_stored(levels: &[(i32, i64)]) -> Vec<StoredLevel> {
    levels.iter().map(|&(level, messages)| StoredLevel { level, messages }).collect()
}

fn slave(lag: Option<i64>) -> BrokerNode {
    BrokerNode {
        cluster: "DefaultCluster".into(),
        broker: "broker-a".into(),
        broker_id: 1,
        addr: "10.0.0.2:10911".into(),
        up: true,
        permission: Some(4),
        replication_lag_bytes: lag,
        ..Default::default()
    }
}

/// A drained broker-a with one slave and one NameServer, taken at `t` seconds.
fn snap(t: i64, user_off: i64, retry_off: i64) -> Snapshot {
    let mut routes = BTreeMap::new();
    routes.insert(
        ("DefaultCluster".to_string(), "broker-a".to_string()),
        vec![RouteObservation { namesrv: NS.into(), writable: Some(false), topic: Some("TopicA".into()), error: None }],
    );
    Snapshot {
        taken_at_ms: t * 1000,
        collect_duration_ms: 12,
        namesrvs: vec![NamesrvStatus { addr: NS.into(), up: true, error: None }],
        brokers: vec![master(user_off, retry_off), slave(Some(0))],
        routes,
        sidecar: false,
    }
}

fn hist(snaps: Vec<Snapshot>) -> Vec<Arc<Snapshot>> {
    snaps.into_iter().map(Arc::new).collect()
}

/// Two snapshots a full window apart with nothing changed; `edit` changes the latest.
fn drained_with(edit: impl FnOnce(&mut Snapshot)) -> Vec<Arc<Snapshot>> {
    let mut now = snap(60, 100, 50);
    edit(&mut now);
    hist(vec![snap(0, 100, 50), now])
}

fn m(s: &mut Snapshot) -> &mut BrokerNode {
    &mut s.brokers[0]
}

fn result(h: &[Arc<Snapshot>], cfg: &DrainConfig, check: Check) -> CheckResult {
    let v = evaluate_series(h, cfg);
    assert_eq!(v.len(), 1, "one master expected");
    v[0].check(check).expect("every check reported").clone()
}

fn check(h: &[Arc<Snapshot>], c: Check) -> CheckResult {
    result(h, &DrainConfig::default(), c)
}

fn assert_fail(r: &CheckResult, needle: &str) {
    assert!(!r.pass, "{} should fail: {}", r.check, r.reason);
    assert!(r.reason.contains(needle), "{} reason {:?} lacks {:?}", r.check, r.reason, needle);
}

fn assert_pass(r: &CheckResult) {
    assert!(r.pass, "{} should pass: {}", r.check, r.reason);
}

#[test]
fn seed_retry_trickle_is_ready() {
    // Retry topic offsets and msgPutTotal keep rising at ~23/s, user topics stand still.
    let snaps: Vec<Snapshot> = (0..6)
        .map(|i| {
            let mut s = snap(i * 15, 100, 50 + i * 345);
            let rt = m(&mut s).runtime.as_mut().unwrap();
            rt.put_tps = Some(23.0);
            rt.msg_put_total_today_now = Some(1000 + i * 345);
            s
        })
        .collect();
    let h = hist(snaps);
    let v = evaluate_series(&h, &DrainConfig::default());
    assert_eq!(v.len(), 1);
    for r in &v[0].checks {
        assert_pass(r);
    }
    assert!(v[0].ready);
    assert_eq!(v[0].broker, "broker-a");
    assert_eq!(v[0].addr, "10.0.0.1:10911");
    assert_eq!(v[0].checks.iter().map(|r| r.check).collect::<Vec<_>>(), Check::ALL.to_vec());
}

#[test]
fn one_failing_check_means_not_ready() {
    let h = drained_with(|s| m(s).permission = Some(6));
    let v = evaluate_series(&h, &DrainConfig::default());
    assert!(!v[0].ready);
    assert_eq!(v[0].checks.iter().filter(|r| !r.pass).count(), 1);
}

#[test]
fn verdict_per_master_only() {
    let mut now = snap(60, 100, 50);
    let mut b = master(7, 7);
    b.broker = "broker-b".into();
    b.addr = "10.0.0.3:10911".into();
    now.brokers.push(b);
    let v = evaluate_series(&hist(vec![snap(0, 100, 50), now]), &DrainConfig::default());
    let names: Vec<_> = v.iter().map(|v| (v.broker.as_str(), v.broker_id)).collect();
    assert_eq!(names, vec![("broker-a", 0), ("broker-b", 0)]);
    // broker-b has no route data and no history: not ready.
    assert!(!v[1].ready);
    assert!(evaluate_series(&[], &DrainConfig::default()).is_empty());
}

#[test]
fn names_are_label_values() {
    let names: Vec<_> = Check::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["write_disabled", "routes", "no_writes", "backlog", "retry_backlog", "scheduled", "transactions", "replication", "flush"]
    );
}

// --- write_disabled

#[test]
fn write_disabled_pass() {
    assert_pass(&check(&drained_with(|_| {}), Check::WriteDisabled));
}

#[test]
fn write_disabled_fails_with_write_bit() {
    assert_fail(&check(&drained_with(|s| m(s).permission = Some(6)), Check::WriteDisabled), "6");
    assert_fail(&check(&drained_with(|s| m(s).permission = Some(2)), Check::WriteDisabled), "2");
}

#[test]
fn write_disabled_fails_when_unknown_or_down() {
    assert_fail(&check(&drained_with(|s| m(s).permission = None), Check::WriteDisabled), "unknown");
    let r = check(
        &drained_with(|s| {
            m(s).up = false;
            m(s).error = Some("GET_BROKER_RUNTIME_INFO: timeout".into());
        }),
        Check::WriteDisabled,
    );
    assert_fail(&r, "timeout");
}

// --- routes

fn set_obs(s: &mut Snapshot, obs: Vec<RouteObservation>) {
    s.routes.insert(("DefaultCluster".into(), "broker-a".into()), obs);
}

#[test]
fn routes_pass() {
    assert_pass(&check(&drained_with(|_| {}), Check::Routes));
}

#[test]
fn routes_fail_when_a_namesrv_still_routes_writes() {
    let h = drained_with(|s| {
        s.namesrvs.push(NamesrvStatus { addr: "127.0.0.1:9877".into(), up: true, error: None });
        set_obs(
            s,
            vec![
                RouteObservation { namesrv: NS.into(), writable: Some(false), topic: None, error: None },
                RouteObservation { namesrv: "127.0.0.1:9877".into(), writable: Some(true), topic: Some("TopicA".into()), error: None },
            ],
        );
    });
    let r = check(&h, Check::Routes);
    assert_fail(&r, "127.0.0.1:9877 still routes writes");
    assert!(!r.reason.contains(NS), "{}", r.reason);
}

#[test]
fn routes_fail_when_unknown() {
    let h = drained_with(|s| {
        set_obs(s, vec![RouteObservation { namesrv: NS.into(), writable: None, topic: None, error: Some("connection refused".into()) }])
    });
    assert_fail(&check(&h, Check::Routes), "NameServer 127.0.0.1:9876 route unknown: connection refused");
}

#[test]
fn routes_fail_without_observations() {
    let h = drained_with(|s| s.routes.clear());
    assert_fail(&check(&h, Check::Routes), "no NameServer returned route data");
}

#[test]
fn routes_of_a_writable_master_say_they_were_not_probed() {
    let h = drained_with(|s| {
        s.routes.clear();
        s.brokers[0].permission = Some(6);
    });
    let r = check(&h, Check::Routes);
    assert_fail(&r, "not probed");
    assert!(!r.reason.contains("returned"), "{}", r.reason);
}

#[test]
fn routes_fail_when_a_namesrv_gave_nothing() {
    let h = drained_with(|s| s.namesrvs.push(NamesrvStatus { addr: "127.0.0.1:9877".into(), up: false, error: None }));
    assert_fail(&check(&h, Check::Routes), "NameServer 127.0.0.1:9877 gave no route data");
}

#[test]
fn routes_fail_in_sidecar_mode() {
    let h = drained_with(|s| {
        s.routes.clear();
        s.namesrvs.clear();
    });
    assert_fail(&check(&h, Check::Routes), "no NameServer route data");
}

// --- no_writes

#[test]
fn no_writes_pass_and_ignores_retry_and_system_topics() {
    let mut old = snap(0, 100, 50);
    m(&mut old).consume.as_mut().unwrap().push(row("SCHEDULE_TOPIC_XXXX", "G1", 3, 10, 10));
    let mut now = snap(60, 100, 900);
    m(&mut now).consume.as_mut().unwrap().push(row("SCHEDULE_TOPIC_XXXX", "G1", 3, 99, 99));
    let r = check(&hist(vec![old, now]), Check::NoWrites);
    assert_pass(&r);
    assert!(r.reason.contains("60 s"), "{}", r.reason);
}

#[test]
fn no_writes_fails_without_enough_history() {
    let h = hist(vec![snap(0, 100, 50), snap(15, 100, 50), snap(30, 100, 50)]);
    assert_fail(&check(&h, Check::NoWrites), "need 60 s of history, have 30 s");
    assert_fail(&check(&hist(vec![snap(0, 100, 50)]), Check::NoWrites), "have 0 s");
}

#[test]
fn no_writes_fails_when_a_user_queue_advanced() {
    let h = drained_with(|s| m(s).consume.as_mut().unwrap()[1].broker_offset = 105);
    assert_fail(&check(&h, Check::NoWrites), "TopicA/1 +5");
}

#[test]
fn no_writes_uses_newest_snapshot_a_window_old() {
    // Writes happened between t=0 and t=30; t=30 is the newest snapshot ≥ 60 s before t=90.
    let h = hist(vec![snap(0, 90, 50), snap(30, 100, 50), snap(61, 100, 50), snap(90, 100, 50)]);
    assert_pass(&check(&h, Check::NoWrites));
    // Writes between t=30 and t=61 are inside the window.
    let h = hist(vec![snap(0, 90, 50), snap(30, 95, 50), snap(61, 100, 50), snap(90, 100, 50)]);
    assert_fail(&check(&h, Check::NoWrites), "TopicA/0 +5");
}

#[test]
fn no_writes_fails_for_new_nonempty_queue() {
    let h = drained_with(|s| m(s).consume.as_mut().unwrap().push(row("TopicNew", "G1", 0, 4, 4)));
    assert_fail(&check(&h, Check::NoWrites), "TopicNew/0");
    // A new queue still at offset 0 has never been written.
    let h = drained_with(|s| m(s).consume.as_mut().unwrap().push(row("TopicNew", "G1", 0, 0, 0)));
    assert_pass(&check(&h, Check::NoWrites));
}

#[test]
fn no_writes_fails_when_a_queue_vanished_or_went_back() {
    let h = drained_with(|s| {
        m(s).consume.as_mut().unwrap().retain(|r| r.queue_id != 1);
    });
    assert_fail(&check(&h, Check::NoWrites), "missing now: TopicA/1");
    let h = drained_with(|s| {
        for r in m(s).consume.as_mut().unwrap() {
            if &*r.topic == "TopicA" {
                r.broker_offset = 3;
            }
        }
    });
    assert_fail(&check(&h, Check::NoWrites), "backwards");
}

fn unwatched(topic: &str, q: i32, max_offset: i64) -> QueueMaxOffset {
    QueueMaxOffset { topic: topic.into(), queue_id: q, max_offset }
}

#[test]
fn no_writes_watches_topics_without_consumer_offsets() {
    // A producer writing to a topic no group consumes: only its own stats show it.
    let with = |before: i64, now: i64| {
        let mut old = snap(0, 100, 50);
        m(&mut old).unwatched_queues = Some(vec![unwatched("Orphan", 0, before), unwatched("%RETRY%X", 0, before)]);
        let mut new = snap(60, 100, 50);
        m(&mut new).unwatched_queues = Some(vec![unwatched("Orphan", 0, now), unwatched("%RETRY%X", 0, now + 9)]);
        hist(vec![old, new])
    };
    assert_pass(&check(&with(7, 7), Check::NoWrites));
    assert_fail(&check(&with(7, 12), Check::NoWrites), "Orphan/0 +5");
    // Not probed a window ago (the master was still writable then): cannot tell yet.
    let mut new = snap(60, 100, 50);
    m(&mut new).unwatched_queues = Some(vec![unwatched("Orphan", 0, 7)]);
    let mut old = snap(0, 100, 50);
    m(&mut old).unwatched_queues = None;
    assert_fail(&check(&hist(vec![old, new]), Check::NoWrites), "not seen 60 s ago: Orphan/0");
    // The probe failed now on a read-only master: unknown, not a pass.
    let h = drained_with(|s| m(s).unwatched_queues = None);
    assert_fail(&check(&h, Check::NoWrites), "without consumer offsets unavailable");
}

#[test]
fn no_writes_fails_when_consume_stats_missing() {
    let h = drained_with(|s| m(s).consume = None);
    assert_fail(&check(&h, Check::NoWrites), "unavailable now");
    let mut old = snap(0, 100, 50);
    m(&mut old).consume = None;
    m(&mut old).up = false;
    assert_fail(&check(&hist(vec![old, snap(60, 100, 50)]), Check::NoWrites), "unavailable 60 s ago");
}

#[test]
fn no_writes_fails_when_master_replaced() {
    let mut old = snap(0, 100, 50);
    m(&mut old).addr = "10.0.0.9:10911".into();
    assert_fail(&check(&hist(vec![old, snap(60, 100, 50)]), Check::NoWrites), "address changed");
    let mut old = snap(0, 100, 50);
    old.brokers.remove(0);
    assert_fail(&check(&hist(vec![old, snap(60, 100, 50)]), Check::NoWrites), "not in the snapshot");
}

// --- backlog

#[test]
fn backlog_pass_ignores_retry_and_dlq() {
    let h = drained_with(|s| {
        let rows = m(s).consume.as_mut().unwrap();
        rows.push(row("%DLQ%G1", "G1", 0, 40, 0));
        rows.push(row("TopicA", "G3", 2, 10, 12)); // negative diff: consumer ahead, nothing left
    });
    assert_pass(&check(&h, Check::Backlog));
}

#[test]
fn backlog_fails_with_unconsumed_messages() {
    let h = drained_with(|s| {
        let rows = m(s).consume.as_mut().unwrap();
        rows[0].consumer_offset = 98;
        rows[1].consumer_offset = 99;
    });
    assert_fail(&check(&h, Check::Backlog), "3 messages unconsumed in TopicA/G1 (2 queues)");
}

#[test]
fn backlog_ignores_configured_groups() {
    let h = drained_with(|s| m(s).consume.as_mut().unwrap().push(row("TopicA", "dead-group", 0, 100, 0)));
    assert_fail(&check(&h, Check::Backlog), "100 messages unconsumed in TopicA/dead-group (1 queue)");
    let cfg = DrainConfig { ignore_group: Some(regex::Regex::new("^dead-").unwrap()), ..Default::default() };
    let r = result(&h, &cfg, Check::Backlog);
    assert_pass(&r);
    assert!(r.reason.contains("1 group ignored"), "{}", r.reason);
}

#[test]
fn backlog_fails_without_consume_stats() {
    assert_fail(&check(&drained_with(|s| m(s).consume = None), Check::Backlog), "unavailable");
}

// --- retry_backlog

#[test]
fn retry_backlog_pass() {
    assert_pass(&check(&drained_with(|_| {}), Check::RetryBacklog));
}

#[test]
fn retry_backlog_fails_above_threshold() {
    let h = drained_with(|s| m(s).consume.as_mut().unwrap()[3].consumer_offset = 45);
    assert_fail(&check(&h, Check::RetryBacklog), "%RETRY%G1/G1: 5");
    let cfg = DrainConfig { max_retry_diff: 5, ..Default::default() };
    assert_pass(&result(&h, &cfg, Check::RetryBacklog));
    let cfg = DrainConfig { max_retry_diff: 4, ..Default::default() };
    assert_fail(&result(&h, &cfg, Check::RetryBacklog), "5 messages");
    let cfg = DrainConfig { ignore_group: Some(regex::Regex::new("^G1$").unwrap()), ..Default::default() };
    assert_pass(&result(&h, &cfg, Check::RetryBacklog));
}

#[test]
fn retry_backlog_fails_without_consume_stats() {
    assert_fail(&check(&drained_with(|s| m(s).consume = None), Check::RetryBacklog), "unavailable");
}

// --- scheduled

#[test]
fn scheduled_pass() {
    assert_pass(&check(&drained_with(|_| {}), Check::Scheduled));
}

#[test]
fn scheduled_fails_with_pending_or_unknown() {
    let h = drained_with(|s| m(s).runtime.as_mut().unwrap().delay_level_pending = Some(3));
    assert_fail(&check(&h, Check::Scheduled), "3 delayed/timer messages");
    let h = drained_with(|s| m(s).runtime.as_mut().unwrap().timer_pending = Some(4));
    assert_fail(&check(&h, Check::Scheduled), "4 delayed/timer messages");
    let h = drained_with(|s| {
        let rt = m(s).runtime.as_mut().unwrap();
        (rt.delay_level_pending, rt.timer_pending) = (Some(1), Some(2));
    });
    assert_fail(&check(&h, Check::Scheduled), "3 delayed/timer messages");
    let h = drained_with(|s| m(s).runtime = None);
    assert_fail(&check(&h, Check::Scheduled), "runtime info unavailable");
}

#[test]
fn scheduled_without_delay_levels_rests_on_the_schedule_topic() {
    // 4.x lists only the delay levels it has used: an empty schedule topic is the evidence.
    let none = |stored: Option<Vec<StoredLevel>>| {
        drained_with(move |s| {
            let rt = m(s).runtime.as_mut().unwrap();
            (rt.delay_level_pending, rt.delay_levels_listed) = (None, Vec::new());
            m(s).schedule_levels_stored = stored;
        })
    };
    let r = check(&none(Some(vec![])), Check::Scheduled);
    assert_pass(&r);
    assert!(r.reason.contains("SCHEDULE_TOPIC_XXXX empty"), "{}", r.reason);
    assert_fail(
        &check(&none(Some(levels_stored(&[(4, 2)]))), Check::Scheduled),
        "holds 2 messages at delay level 4 but the broker reports no delivery progress",
    );
    assert_fail(&check(&none(None), Check::Scheduled), "unreadable");
    // Reported pending messages win over an empty-looking topic.
    let h = drained_with(|s| {
        m(s).runtime.as_mut().unwrap().delay_level_pending = Some(2);
        m(s).schedule_levels_stored = Some(vec![]);
    });
    assert_fail(&check(&h, Check::Scheduled), "2 delayed/timer messages");
}

/// A level first used just now is listed only once its delivery task has run, so neither the
/// figures of the other levels nor a 5.x broker's idle timer wheel may vouch for it. Before,
/// listed levels at zero (or zero timer figures) passed the check.
#[test]
fn a_stored_level_the_broker_does_not_list_fails_the_check() {
    let h = drained_with(|s| m(s).schedule_levels_stored = Some(levels_stored(&[(3, 4), (5, 1), (18, 6)])));
    assert_fail(&check(&h, Check::Scheduled), "holds 7 messages at delay levels 5,18 but the broker reports no delivery progress");
    let five = |stored: Vec<StoredLevel>, timer: i64| {
        drained_with(move |s| {
            let rt = m(s).runtime.as_mut().unwrap();
            (rt.delay_level_pending, rt.delay_levels_listed, rt.timer_pending) = (None, Vec::new(), Some(timer));
            m(s).schedule_levels_stored = Some(stored);
        })
    };
    assert_fail(&check(&five(levels_stored(&[(1, 3)]), 0), Check::Scheduled), "delay level 1 ");
    assert_pass(&check(&five(vec![], 0), Check::Scheduled));
    assert_fail(&check(&five(vec![], 2), Check::Scheduled), "2 delayed/timer messages");
}

/// What the pending figure counts: the listed levels' and the timer's figures, plus every
/// message at a stored level the runtime info does not list (delivered from its start).
#[test]
fn scheduled_pending_counts_stored_levels_the_broker_does_not_list() {
    let mut n = master(100, 100);
    assert_eq!(n.scheduled_pending(), Some(0), "level 3 listed and delivered");
    n.schedule_levels_stored = Some(levels_stored(&[(3, 4), (5, 1), (18, 6)]));
    assert_eq!(n.scheduled_pending(), Some(7), "levels 5 and 18 unlisted");
    n.runtime.as_mut().unwrap().timer_pending = Some(10);
    n.runtime.as_mut().unwrap().delay_level_pending = Some(2);
    assert_eq!(n.scheduled_pending(), Some(19));
    // Nothing listed at all: the unlisted levels alone are a figure.
    let rt = n.runtime.as_mut().unwrap();
    (rt.delay_level_pending, rt.delay_levels_listed, rt.timer_pending) = (None, Vec::new(), None);
    assert_eq!(n.scheduled_pending(), Some(11));
    n.schedule_levels_stored = Some(Vec::new());
    assert_eq!(n.scheduled_pending(), None, "no figure from anyone");
    n.schedule_levels_stored = None;
    assert_eq!(n.scheduled_pending(), None);
    n.runtime = None;
    assert_eq!(n.scheduled_pending(), None);
}

/// The probe runs on drain candidates only: a failed one on a drained master is missing data,
/// while a serving master keeps the figures it lists (its drain fails on `write_disabled`).
#[test]
fn scheduled_without_the_schedule_topic_probe() {
    let h = drained_with(|s| m(s).schedule_levels_stored = None);
    assert_fail(&check(&h, Check::Scheduled), "SCHEDULE_TOPIC_XXXX unreadable");
    let serving = |listed: bool| {
        drained_with(move |s| {
            m(s).permission = Some(6);
            m(s).schedule_levels_stored = None;
            if !listed {
                let rt = m(s).runtime.as_mut().unwrap();
                (rt.delay_level_pending, rt.delay_levels_listed) = (None, Vec::new());
            }
        })
    };
    assert_pass(&check(&serving(true), Check::Scheduled));
    assert_fail(&check(&serving(false), Check::Scheduled), "unknown");
}

// --- transactions

#[test]
fn transactions_pass_when_the_check_has_resolved_every_half_message() {
    assert_pass(&check(&drained_with(|_| {}), Check::Transactions));
    // The broker's transaction check group is past every half message: resolved, none open.
    let h = drained_with(|s| {
        m(s).consume.as_mut().unwrap().push(row(checks::TRANS_HALF_TOPIC, "CID_RMQ_SYS_TRANS", 0, 40, 40));
        m(s).trans_half_empty = None;
    });
    assert_pass(&check(&h, Check::Transactions));
    // And it does not count in backlog, as a system topic.
    let h = drained_with(|s| m(s).consume.as_mut().unwrap().push(row(checks::TRANS_HALF_TOPIC, "CID_RMQ_SYS_TRANS", 0, 45, 40)));
    assert_pass(&check(&h, Check::Backlog));
}

#[test]
fn transactions_fail_with_open_half_messages_or_without_evidence() {
    let h = drained_with(|s| {
        let rows = m(s).consume.as_mut().unwrap();
        rows.push(row(checks::TRANS_HALF_TOPIC, "CID_RMQ_SYS_TRANS", 0, 45, 40));
        rows.push(row(checks::TRANS_HALF_TOPIC, "CID_RMQ_SYS_TRANS", 1, 9, 7));
    });
    assert_fail(&check(&h, Check::Transactions), "7 transactional half messages waiting");
    // No check progress: the half topic decides.
    let h = drained_with(|s| m(s).trans_half_empty = Some(false));
    assert_fail(&check(&h, Check::Transactions), "no transaction check progress");
    let h = drained_with(|s| m(s).trans_half_empty = None);
    assert_fail(&check(&h, Check::Transactions), "unknown");
    let h = drained_with(|s| m(s).consume = None);
    assert_fail(&check(&h, Check::Transactions), "consume stats unavailable");
    // Open half messages block the whole verdict.
    let h = drained_with(|s| m(s).consume.as_mut().unwrap().push(row(checks::TRANS_HALF_TOPIC, "CID_RMQ_SYS_TRANS", 0, 1, 0)));
    assert!(!evaluate_series(&h, &DrainConfig::default())[0].ready);
}

// --- replication

#[test]
fn replication_pass_with_synced_slave() {
    let r = check(&drained_with(|_| {}), Check::Replication);
    assert_pass(&r);
    assert!(r.reason.contains("1 slave"), "{}", r.reason);
}

#[test]
fn replication_fails_with_lagging_slave() {
    let h = drained_with(|s| s.brokers[1].replication_lag_bytes = Some(4096));
    assert_fail(&check(&h, Check::Replication), "slave 1 (10.0.0.2:10911) 4096 bytes behind");
}

#[test]
fn replication_fails_with_down_or_unknown_slave() {
    let h = drained_with(|s| {
        s.brokers[1].up = false;
        s.brokers[1].error = Some("connect refused".into());
    });
    assert_fail(&check(&h, Check::Replication), "slave 1 (10.0.0.2:10911) down: connect refused");
    let h = drained_with(|s| s.brokers[1].replication_lag_bytes = None);
    assert_fail(&check(&h, Check::Replication), "lag unknown");
}

#[test]
fn replication_no_slaves_passes_in_cluster_mode() {
    let h = drained_with(|s| {
        s.brokers.truncate(1);
    });
    let r = check(&h, Check::Replication);
    assert_pass(&r);
    assert_eq!(r.reason, "no slaves");
}

#[test]
fn replication_fails_when_ha_reports_lag_nobody_accounts_for() {
    // A connection from a host with no known slave: its lag cannot be explained away.
    let h = drained_with(|s| {
        m(s).ha_connections =
            Some(vec![HaConnection { addr: "/10.0.0.9:53412".into(), diff_bytes: 128, in_sync: false }]);
    });
    assert_fail(&check(&h, Check::Replication), "HA connection /10.0.0.9:53412 128 bytes behind per HA status");
    // The matching slave's own offset is unknown: the HA lag stands.
    let h = drained_with(|s| {
        m(s).ha_connections =
            Some(vec![HaConnection { addr: "/10.0.0.2:53412".into(), diff_bytes: 128, in_sync: false }]);
        s.brokers[1].replication_lag_bytes = None;
    });
    assert_fail(&check(&h, Check::Replication), "slave 1 (10.0.0.2:10911)");
    let h = drained_with(|s| {
        m(s).ha_connections = Some(vec![HaConnection { addr: "10.0.0.2:53412".into(), diff_bytes: 0, in_sync: true }]);
    });
    assert_pass(&check(&h, Check::Replication));
}

#[test]
fn replication_in_flight_ha_diff_does_not_block_a_caught_up_slave() {
    // A retry trickle keeps a few bytes in flight at any instant; the slave's offset, read after
    // the master's, shows it holds everything the master had, so the verdict is not blocked.
    let h = drained_with(|s| {
        m(s).ha_connections =
            Some(vec![HaConnection { addr: "/10.0.0.2:53412".into(), diff_bytes: 128, in_sync: true }]);
    });
    assert_pass(&check(&h, Check::Replication));
}

#[test]
fn replication_in_sidecar_mode_needs_slave_data() {
    let sidecar = |s: &mut Snapshot| {
        s.brokers.truncate(1);
        s.namesrvs.clear();
        s.routes.clear();
        s.sidecar = true;
    };
    assert_fail(&check(&drained_with(sidecar), Check::Replication), "sidecar");
    // NameServers configured in sidecar mode give route data, but the slaves are still unseen.
    let h = drained_with(|s| {
        s.brokers.truncate(1);
        s.sidecar = true;
    });
    assert_fail(&check(&h, Check::Replication), "sidecar");
    let h = drained_with(|s| {
        sidecar(s);
        m(s).ha_connections = Some(vec![]);
    });
    assert_pass(&check(&h, Check::Replication));
}

// --- flush

#[test]
fn flush_pass() {
    assert_pass(&check(&drained_with(|_| {}), Check::Flush));
}

#[test]
fn flush_fails_when_behind_or_unknown() {
    let h = drained_with(|s| m(s).runtime.as_mut().unwrap().flush_behind_bytes = Some(512));
    assert_fail(&check(&h, Check::Flush), "512 bytes not yet flushed");
    let h = drained_with(|s| m(s).runtime.as_mut().unwrap().dispatch_behind_bytes = Some(7));
    assert_fail(&check(&h, Check::Flush), "7 bytes not yet dispatched");
    let h = drained_with(|s| m(s).runtime.as_mut().unwrap().flush_behind_bytes = None);
    assert_fail(&check(&h, Check::Flush), "flush backlog unknown");
    let h = drained_with(|s| m(s).runtime.as_mut().unwrap().dispatch_behind_bytes = None);
    assert_fail(&check(&h, Check::Flush), "dispatch backlog unknown");
    let h = drained_with(|s| m(s).runtime = None);
    assert_fail(&check(&h, Check::Flush), "runtime info unavailable");
}

#[test]
fn window_is_configurable() {
    let h = hist(vec![snap(0, 100, 50), snap(30, 100, 50)]);
    let cfg = DrainConfig { window: Duration::from_secs(30), ..Default::default() };
    assert_pass(&result(&h, &cfg, Check::NoWrites));
    assert_fail(&check(&h, Check::NoWrites), "need 60 s");
}

//! The drain checks (DESIGN.md §4's eight, and `transactions`), one function each.
//!
//! Each check answers one question an operator asks before stopping a drained master. A check
//! passes only on positive evidence: when data is missing, stale or contradictory it fails and the
//! reason says what is missing, because a wrong "ready" loses messages while a wrong "not ready"
//! only costs a wait.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::config::DrainConfig;
use super::past::{PastCycle, QueueOffsets};
use crate::snapshot::{topic_kind, BrokerNode, QueueConsume, Snapshot, TopicKind};

/// One question of the drain verdict; `name()` is the `check` label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    WriteDisabled,
    Routes,
    NoWrites,
    Backlog,
    RetryBacklog,
    Scheduled,
    Transactions,
    Replication,
    Flush,
}

impl Check {
    /// Every check, in the order the verdict reports them.
    pub const ALL: [Check; 9] = [
        Check::WriteDisabled,
        Check::Routes,
        Check::NoWrites,
        Check::Backlog,
        Check::RetryBacklog,
        Check::Scheduled,
        Check::Transactions,
        Check::Replication,
        Check::Flush,
    ];

    /// Label value used in `rocketmq_broker_drain_check{check=…}` and in the `status` output.
    pub fn name(self) -> &'static str {
        match self {
            Check::WriteDisabled => "write_disabled",
            Check::Routes => "routes",
            Check::NoWrites => "no_writes",
            Check::Backlog => "backlog",
            Check::RetryBacklog => "retry_backlog",
            Check::Scheduled => "scheduled",
            Check::Transactions => "transactions",
            Check::Replication => "replication",
            Check::Flush => "flush",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Outcome of one check, with a short reason in operator language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub check: Check,
    pub pass: bool,
    pub reason: String,
}

impl CheckResult {
    fn pass(check: Check, reason: impl Into<String>) -> Self {
        CheckResult { check, pass: true, reason: reason.into() }
    }
    fn fail(check: Check, reason: impl Into<String>) -> Self {
        CheckResult { check, pass: false, reason: reason.into() }
    }
}

/// #Diff that cannot overflow on absurd offsets from a broker (bad input must not panic).
pub(crate) fn diff(r: &QueueConsume) -> i64 {
    r.broker_offset.saturating_sub(r.consumer_offset)
}

/// How many items a reason names before summarising the rest.
const MAX_LISTED: usize = 3;

/// "1 message" / "3 messages".
fn plural(n: i64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Milliseconds as "60 s" or "1.5 s".
pub(crate) fn fmt_secs(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Joins the first few items and says how many more there are.
fn join_limited(items: &[String], sep: &str, what: &str) -> String {
    let mut s = items.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>().join(sep);
    if items.len() > MAX_LISTED {
        s.push_str(&format!("{sep}and {} more {what}", items.len() - MAX_LISTED));
    }
    s
}

/// "node down (reason)" text for a node, used when a check needs data a down node did not give.
fn down_text(node: &BrokerNode) -> String {
    match &node.error {
        Some(e) => format!("down: {e}"),
        None => "down".to_string(),
    }
}

/// write_disabled: the master's `brokerPermission` is known and lacks the write bit (2).
pub fn write_disabled(master: &BrokerNode) -> CheckResult {
    let c = Check::WriteDisabled;
    if !master.up {
        return CheckResult::fail(c, format!("master {}", down_text(master)));
    }
    match master.permission {
        None => CheckResult::fail(c, "brokerPermission unknown (GET_BROKER_CONFIG gave none)"),
        Some(p) if p & 2 != 0 => {
            CheckResult::fail(c, format!("brokerPermission {p} still allows writes; set it to 4"))
        }
        Some(p) => CheckResult::pass(c, format!("brokerPermission {p} (no write bit)")),
    }
}

/// routes: every NameServer publishes this broker name without the write bit.
pub fn routes(latest: &Snapshot, master: &BrokerNode) -> CheckResult {
    let c = Check::Routes;
    let key = (master.cluster.clone(), master.broker.clone());
    let observations = latest.routes.get(&key).map(Vec::as_slice).unwrap_or(&[]);
    if observations.is_empty() {
        return if latest.namesrvs.is_empty() {
            CheckResult::fail(c, "no NameServer route data (sidecar mode: clients' routes cannot be checked)")
        } else if !master.is_read_only() {
            // The collector asks the NameServers only about read-only masters (collect::routes).
            CheckResult::fail(c, "not probed: routes are asked for once brokerPermission lacks the write bit")
        } else {
            CheckResult::fail(c, "no NameServer returned route data for this broker")
        };
    }
    let mut problems = Vec::new();
    for obs in observations {
        match obs.writable {
            Some(false) => {}
            Some(true) => {
                let topic = obs.topic.as_deref().map(|t| format!(" (topic {t})")).unwrap_or_default();
                problems.push(format!("NameServer {} still routes writes{topic}", obs.namesrv));
            }
            None => {
                let why = obs.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                problems.push(format!("NameServer {} route unknown{why}", obs.namesrv));
            }
        }
    }
    // A configured NameServer that left no observation at all is missing data too.
    for ns in &latest.namesrvs {
        if !observations.iter().any(|o| o.namesrv == ns.addr) {
            problems.push(format!("NameServer {} gave no route data", ns.addr));
        }
    }
    if problems.is_empty() {
        CheckResult::pass(c, format!("{} publish no write bit", plural(observations.len() as i64, "NameServer")))
    } else {
        CheckResult::fail(c, join_limited(&problems, "; ", "NameServers"))
    }
}

/// no_writes: no user-topic queue offset advanced over at least `window`.
///
/// Retry and system topics may advance (retry trickle, schedule re-puts): they do not hold user
/// messages that would be lost.
pub fn no_writes(latest: &Snapshot, past: &[Arc<PastCycle>], master: &BrokerNode, cfg: &DrainConfig) -> CheckResult {
    let c = Check::NoWrites;
    let window = cfg.window_ms();
    let old = past.iter().rev().find(|p| latest.taken_at_ms.saturating_sub(p.taken_at_ms) >= window);
    let Some(old) = old else {
        let have = past.first().map_or(0, |p| latest.taken_at_ms.saturating_sub(p.taken_at_ms).max(0));
        return CheckResult::fail(c, format!("need {} of history, have {}", fmt_secs(window), fmt_secs(have)));
    };
    let span = fmt_secs(latest.taken_at_ms.saturating_sub(old.taken_at_ms));
    let Some(old_master) = old.master(&master.cluster, &master.broker) else {
        return CheckResult::fail(c, format!("master not in the snapshot from {span} ago"));
    };
    if old_master.addr != master.addr {
        return CheckResult::fail(
            c,
            format!("master address changed from {} to {} within {span}", old_master.addr, master.addr),
        );
    }
    let Some(now_q) = QueueOffsets::of_node(master) else {
        return CheckResult::fail(c, "consume stats unavailable now (master down?)");
    };
    let Some(old_q) = old_master.queues.as_ref() else {
        return CheckResult::fail(c, format!("consume stats unavailable {span} ago (master down?)"));
    };
    // Topics no consumer group covers are only visible through their own stats.
    if master.is_read_only() && master.unwatched_queues.is_none() {
        return CheckResult::fail(c, "offsets of user topics without consumer offsets unavailable (topic config / topic stats failed)");
    }

    let mut advanced = Vec::new();
    let mut backwards = Vec::new();
    let mut unknown = Vec::new();
    for (topic, qid, now) in now_q.iter() {
        match old_q.get(topic, qid) {
            Some(before) if now > before => advanced.push(format!("{topic}/{qid} +{}", now.saturating_sub(before))),
            Some(before) if now < before => backwards.push(format!("{topic}/{qid} {before}→{now}")),
            Some(_) => {}
            None if now > 0 => unknown.push(format!("{topic}/{qid}")),
            None => {}
        }
    }
    let vanished: Vec<String> = old_q
        .iter()
        .filter(|&(t, q, _)| now_q.get(t, q).is_none())
        .map(|(t, q, _)| format!("{t}/{q}"))
        .collect();

    let mut problems = Vec::new();
    if !advanced.is_empty() {
        problems.push(format!(
            "{} advanced in {span}: {}",
            plural(advanced.len() as i64, "user queue"),
            join_limited(&advanced, ", ", "queues")
        ));
    }
    if !backwards.is_empty() {
        problems.push(format!("offsets went backwards (inconsistent data): {}", join_limited(&backwards, ", ", "queues")));
    }
    if !unknown.is_empty() {
        problems.push(format!("cannot tell, not seen {span} ago: {}", join_limited(&unknown, ", ", "queues")));
    }
    if !vanished.is_empty() {
        problems.push(format!("cannot tell, missing now: {}", join_limited(&vanished, ", ", "queues")));
    }
    if problems.is_empty() {
        CheckResult::pass(c, format!("no user-topic queue advanced in {span} ({} watched)", plural(now_q.len() as i64, "queue")))
    } else {
        CheckResult::fail(c, problems.join("; "))
    }
}

/// Positive backlog per (topic, group) over rows of one topic kind, ignored groups left out.
/// Returns (pairs with backlog, number of ignored groups seen).
fn backlog_by_pair<'a>(
    rows: &'a [QueueConsume],
    kind: TopicKind,
    cfg: &DrainConfig,
) -> (BTreeMap<(&'a str, &'a str), (i64, i64)>, usize) {
    let mut pairs: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    let mut ignored = std::collections::BTreeSet::new();
    for r in rows.iter().filter(|r| topic_kind(&r.topic) == kind) {
        if cfg.is_ignored(&r.group) {
            ignored.insert(r.group.as_ref());
            continue;
        }
        let d = diff(r);
        if d > 0 {
            let e = pairs.entry((r.topic.as_ref(), r.group.as_ref())).or_insert((0, 0));
            e.0 = e.0.saturating_add(d);
            e.1 += 1;
        }
    }
    (pairs, ignored.len())
}

fn ignored_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({} ignored)", plural(n as i64, "group"))
    }
}

/// backlog: every user-topic queue has Diff ≤ 0, ignored groups aside.
///
/// Diff also counts messages a 5.x pop consumer holds but has not acked: the broker commits a
/// pop group's offset only past acknowledged messages (non-order pop through its checkpoints;
/// order pop commits the pop's start offset and moves on at ack, `commitAndNext`), so popped,
/// unacked messages stay between the consumer offset and the queue's end.
pub fn backlog(master: &BrokerNode, cfg: &DrainConfig) -> CheckResult {
    let c = Check::Backlog;
    let Some(rows) = master.consume.as_deref() else {
        return CheckResult::fail(c, "consume stats unavailable (master down?)");
    };
    let (pairs, ignored) = backlog_by_pair(rows, TopicKind::User, cfg);
    if pairs.is_empty() {
        return CheckResult::pass(c, format!("no user-topic backlog{}", ignored_note(ignored)));
    }
    let items: Vec<String> = pairs
        .iter()
        .map(|((t, g), (sum, queues))| {
            format!("{} unconsumed in {t}/{g} ({})", plural(*sum, "message"), plural(*queues, "queue"))
        })
        .collect();
    CheckResult::fail(c, join_limited(&items, "; ", "topic/group pairs"))
}

/// retry_backlog: Σ positive Diff over retry topics ≤ `max_retry_diff`, ignored groups aside.
pub fn retry_backlog(master: &BrokerNode, cfg: &DrainConfig) -> CheckResult {
    let c = Check::RetryBacklog;
    let Some(rows) = master.consume.as_deref() else {
        return CheckResult::fail(c, "consume stats unavailable (master down?)");
    };
    let (pairs, ignored) = backlog_by_pair(rows, TopicKind::Retry, cfg);
    let total = pairs.values().fold(0i64, |acc, (s, _)| acc.saturating_add(*s));
    if total <= cfg.max_retry_diff {
        return CheckResult::pass(
            c,
            format!("retry backlog {total} (max {}){}", cfg.max_retry_diff, ignored_note(ignored)),
        );
    }
    let items: Vec<String> = pairs.iter().map(|((t, g), (s, _))| format!("{t}/{g}: {s}")).collect();
    CheckResult::fail(
        c,
        format!(
            "{} waiting in retry topics, above the accepted {} ({})",
            plural(total, "message"),
            cfg.max_retry_diff,
            join_limited(&items, ", ", "groups")
        ),
    )
}

/// scheduled: no delayed (4.x) or timer (5.x) messages still waiting to be delivered.
///
/// Delay-level and timer messages are counted apart. A broker lists a delay level only once
/// its delivery task has recorded progress on it (4.x lists only the levels it has used), so a
/// level first used just now is unseen by both figures, even when a 5.x broker's timer figures
/// are all zero. The schedule topic of a drain candidate settles it: every level that ever
/// stored a message there must be listed.
pub fn scheduled(master: &BrokerNode) -> CheckResult {
    let c = Check::Scheduled;
    let Some(rt) = master.runtime.as_ref() else {
        return CheckResult::fail(c, "runtime info unavailable (master down?)");
    };
    let mut evidence = "";
    match master.schedule_levels_stored.as_deref() {
        Some(stored) => {
            if let Some(messages) = master.unlisted_delay_messages() {
                let levels: Vec<String> = master.unlisted_delay_levels().map(|l| l.level.to_string()).collect();
                let what = if levels.len() == 1 { "level" } else { "levels" };
                return CheckResult::fail(
                    c,
                    format!(
                        "SCHEDULE_TOPIC_XXXX holds {} at delay {what} {} but the broker reports no delivery progress there",
                        plural(messages, "message"),
                        levels.join(",")
                    ),
                );
            }
            if stored.is_empty() && rt.delay_level_pending.is_none() {
                evidence = " (SCHEDULE_TOPIC_XXXX empty)";
            }
        }
        // Probed on drain candidates only; a failed probe leaves a new level unseen.
        None if master.is_read_only() => {
            return CheckResult::fail(c, "SCHEDULE_TOPIC_XXXX unreadable: delay levels without delivery progress unknown")
        }
        None if rt.delay_level_pending.is_none() => return CheckResult::fail(c, "pending delayed/timer message count unknown"),
        None => {}
    }
    let delay = rt.delay_level_pending.unwrap_or(0);
    let timer = rt.timer_pending.unwrap_or(0);
    if delay < 0 || timer < 0 {
        return CheckResult::fail(c, format!("pending delayed/timer count is {} (inconsistent data)", delay.saturating_add(timer)));
    }
    match delay.saturating_add(timer) {
        0 if evidence.is_empty() => CheckResult::pass(c, "no delayed/timer messages pending"),
        0 => CheckResult::pass(c, format!("no delayed messages ever stored{evidence}")),
        n => CheckResult::fail(c, format!("{} not yet delivered", plural(n, "delayed/timer message"))),
    }
}

/// Where a transactional producer's prepared ("half") messages wait for commit or rollback.
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";

/// transactions: no prepared (half) message is still waiting to be committed or rolled back.
///
/// A half message lives only on the broker that took it, and becomes visible to consumers when
/// its producer commits (or the broker's check asks and the producer answers). Stopping the
/// broker before then loses the message. The broker's transaction check advances its system
/// group's offset on the half topic past every resolved message, so that group's Diff there is
/// what is still open; it reaches 0 one check interval (30–60 s) after the last transaction.
/// The topic is a system one, left out of `backlog`.
pub fn transactions(master: &BrokerNode) -> CheckResult {
    let c = Check::Transactions;
    let Some(rows) = master.consume.as_deref() else {
        return CheckResult::fail(c, "consume stats unavailable (master down?)");
    };
    let mut half = rows.iter().filter(|r| &*r.topic == TRANS_HALF_TOPIC).peekable();
    if half.peek().is_none() {
        // No check progress recorded: either no transaction ever, or half messages the check
        // has not reached yet. The half topic's own queues settle it.
        return match master.trans_half_empty {
            Some(true) => CheckResult::pass(c, "no transactional half messages ever stored"),
            Some(false) => CheckResult::fail(c, format!("{TRANS_HALF_TOPIC} holds messages but the broker reports no transaction check progress")),
            None => CheckResult::fail(c, "pending transactional (half) message count unknown"),
        };
    }
    let open = half.fold(0i64, |acc, r| acc.saturating_add(diff(r).max(0)));
    if open == 0 {
        CheckResult::pass(c, "no transactional half messages waiting for commit or rollback")
    } else {
        CheckResult::fail(c, format!("{} waiting for commit or rollback", plural(open, "transactional half message")))
    }
}

/// Host part of "ip:port", "/ip:port" (Java SocketAddress text) or "[v6]:port".
fn host_of(addr: &str) -> &str {
    let a = addr.trim_start_matches('/');
    let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// replication: every slave of this broker name holds everything the master wrote.
pub fn replication(latest: &Snapshot, master: &BrokerNode) -> CheckResult {
    let c = Check::Replication;
    let slaves: Vec<&BrokerNode> = latest
        .brokers
        .iter()
        .filter(|b| !b.is_master() && b.cluster == master.cluster && b.broker == master.broker)
        .collect();
    let mut problems = Vec::new();
    for s in &slaves {
        let who = format!("slave {} ({})", s.broker_id, s.addr);
        if !s.up {
            problems.push(format!("{who} {}", down_text(s)));
            continue;
        }
        match s.replication_lag_bytes {
            None => problems.push(format!("{who} lag unknown")),
            Some(0) => {}
            Some(n) if n < 0 => problems.push(format!("{who} ahead of the master by {} (inconsistent data)", plural(n.saturating_neg(), "byte"))),
            Some(n) => problems.push(format!("{who} {} behind", plural(n, "byte"))),
        }
    }
    if let Some(conns) = &master.ha_connections {
        for conn in conns.iter().filter(|c| c.diff_bytes > 0) {
            let host = host_of(&conn.addr);
            let who = match slaves.iter().find(|s| host_of(&s.addr) == host) {
                // The slave's own offset, read after the master's, already proves it holds
                // everything the master had; a non-zero HA diff is then a message in flight (a
                // retry trickle keeps some in flight), not lost data.
                Some(s) if s.up && s.replication_lag_bytes == Some(0) => continue,
                Some(s) => format!("slave {} ({})", s.broker_id, s.addr),
                None => format!("HA connection {}", conn.addr),
            };
            problems.push(format!("{who} {} behind per HA status", plural(conn.diff_bytes, "byte")));
        }
    }
    if !problems.is_empty() {
        return CheckResult::fail(c, join_limited(&problems, "; ", "slaves"));
    }
    if !slaves.is_empty() {
        return CheckResult::pass(c, format!("{} fully replicated", plural(slaves.len() as i64, "slave")));
    }
    match &master.ha_connections {
        Some(conns) if conns.is_empty() => CheckResult::pass(c, "no slaves (HA status lists none)"),
        Some(conns) => CheckResult::pass(c, format!("{} in sync per HA status", plural(conns.len() as i64, "slave"))),
        // Without discovery the exporter cannot know whether slaves exist: do not assume none.
        None if latest.sidecar => CheckResult::fail(
            c,
            "slaves unknown in sidecar mode: add their addresses with --broker.addr",
        ),
        None => CheckResult::pass(c, "no slaves"),
    }
}

/// flush: everything written is on disk and dispatched to the consume queues.
pub fn flush(master: &BrokerNode) -> CheckResult {
    let c = Check::Flush;
    let Some(rt) = master.runtime.as_ref() else {
        return CheckResult::fail(c, "runtime info unavailable (master down?)");
    };
    let mut problems = Vec::new();
    match rt.flush_behind_bytes {
        None => problems.push("flush backlog unknown".to_string()),
        Some(0) => {}
        Some(n) => problems.push(format!("{} not yet flushed to disk", plural(n, "byte"))),
    }
    match rt.dispatch_behind_bytes {
        None => problems.push("dispatch backlog unknown".to_string()),
        Some(0) => {}
        Some(n) => problems.push(format!("{} not yet dispatched to consume queues", plural(n, "byte"))),
    }
    if problems.is_empty() {
        CheckResult::pass(c, "all data flushed and dispatched")
    } else {
        CheckResult::fail(c, problems.join("; "))
    }
}

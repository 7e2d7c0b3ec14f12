//! Fetch one broker group (a master and its slaves) and turn the answers into snapshot nodes.
//!
//! The master's runtime info is fetched before its slaves' so that a slave's lag can be measured as
//! `master.commitLogMaxOffset(t0) − slave.commitLogMaxOffset(t1 > t0)`, clamped at 0: zero then
//! means the slave holds everything the master had when we asked. Sampling both at once would
//! show a small positive lag forever on a broker with a retry trickle, and it would never drain.

use futures::future::join_all;

use super::body_memo::BodyMemo;
use super::ha_memo::HaAnswer;
use super::Memos;
use crate::admin::Admin;
use crate::protocol::{broker_config::BrokerConfig, ha_status::HaRuntimeInfo, runtime_info::RuntimeInfo, ConsumeRows, RowVisitor};
use crate::remoting::RemotingError;
use crate::snapshot::{topic_kind, BrokerNode, BrokerRuntime, HaConnection, QueueConsume, QueueMaxOffset, StoredLevel, TopicKind};

/// One address to fetch, with what discovery knows about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeTarget {
    pub cluster: String,
    pub broker: String,
    pub broker_id: i64,
    pub addr: String,
}

/// Fetches a master and its slaves (`targets` may hold only slaves if the master is unknown).
pub async fn fetch_group(admin: &Admin, targets: &[NodeTarget], memos: &Memos) -> Vec<BrokerNode> {
    let (masters, slaves): (Vec<&NodeTarget>, Vec<&NodeTarget>) = targets.iter().partition(|t| t.broker_id == 0);
    let mut out = Vec::new();
    let mut master_max: Option<i64> = None;
    let mut master_ha: Option<Vec<HaConnection>> = None;
    for m in masters {
        let node = fetch_master(admin, m, memos).await;
        if let Some(rt) = &node.runtime {
            master_max = rt.commitlog_max_offset;
        }
        master_ha = node.ha_connections.clone();
        out.push(node);
    }
    let slave_nodes = join_all(slaves.into_iter().map(|s| fetch_slave(admin, s, master_max, master_ha.as_deref(), &memos.config))).await;
    out.extend(slave_nodes);
    out
}

/// One node's answers to the per-cycle questions.
struct Answers {
    runtime: Result<RuntimeInfo, RemotingError>,
    config: Result<std::sync::Arc<BrokerConfig>, RemotingError>,
    /// Asked of masters only.
    consume: Option<Result<Vec<QueueConsume>, RemotingError>>,
    /// Asked of masters not known to refuse it.
    ha: Option<Result<Option<HaRuntimeInfo>, RemotingError>>,
}

/// Asks runtime info and config (and consume stats, HA status) in one batch: one write, one
/// round trip, one deadline, each answer decoded in this task as it arrives.
async fn ask(admin: &Admin, addr: &str, config_memo: &BodyMemo<BrokerConfig>, consume: bool, ha: bool) -> Answers {
    let mut cmds = vec![Admin::runtime_info_request(), Admin::broker_config_request()];
    let consume_at = consume.then(|| {
        cmds.push(Admin::broker_consume_stats_request());
        cmds.len() - 1
    });
    let ha_at = ha.then(|| {
        cmds.push(Admin::ha_status_request());
        cmds.len() - 1
    });
    let (mut runtime, mut config, mut consumed, mut ha_status) = (None, None, None, None);
    admin
        .client()
        .exchange(addr, cmds, |i, answer| match i {
            0 => runtime = Some(answer.and_then(|r| Admin::decode_runtime_info(addr, &r))),
            1 => config = Some(answer.and_then(|r| config_memo.decode(addr, &r.body, |_| Admin::decode_broker_config_keys(addr, &r, CONFIG_KEYS)))),
            i if Some(i) == consume_at => {
                consumed = Some(answer.and_then(|r| {
                    let mut rows = SnapshotRows::new();
                    Admin::visit_broker_consume_rows(addr, &r, &mut rows).map(|()| rows.finish())
                }));
            }
            i if Some(i) == ha_at => ha_status = Some(Admin::decode_ha_status(addr, answer)),
            _ => {}
        })
        .await;
    // `exchange` answers every index (with an error if nothing else); this is only its fallback.
    fn or_unanswered<T>(v: Option<Result<T, RemotingError>>, addr: &str) -> Result<T, RemotingError> {
        v.unwrap_or_else(|| Err(RemotingError::Closed { addr: addr.to_string() }))
    }
    Answers {
        runtime: or_unanswered(runtime, addr),
        config: or_unanswered(config, addr),
        consume: consume.then(|| or_unanswered(consumed, addr)),
        ha: ha.then(|| or_unanswered(ha_status, addr)),
    }
}

fn base(t: &NodeTarget) -> BrokerNode {
    BrokerNode {
        cluster: t.cluster.clone(),
        broker: t.broker.clone(),
        broker_id: t.broker_id,
        addr: t.addr.clone(),
        ..Default::default()
    }
}

/// Marks the node down and keeps the most telling error: when one request times out the
/// connection is dropped and its siblings fail with "closed", which says less than the timeout.
fn record_error(node: &mut BrokerNode, e: &RemotingError) {
    node.up = false;
    let replace = match &node.error {
        None => true,
        Some(prev) => prev.contains("closed the connection before answering") && !matches!(e, RemotingError::Closed { .. }),
    };
    if replace {
        node.error = Some(e.to_string());
    }
}

async fn fetch_master(admin: &Admin, t: &NodeTarget, memos: &Memos) -> BrokerNode {
    let ha_memo = &memos.ha;
    let mut node = base(t);
    node.up = true;
    // All at once: one round trip per master. 907 exists on 5.x only; a 4.x broker answers
    // "not supported" at once, which is cheaper than a second round trip to learn the version,
    // and the memo spares the request on later cycles.
    let skip_ha = ha_memo.skip(&t.addr);
    let Answers { runtime: rt, config: cfg, consume: cs, ha } = ask(admin, &t.addr, &memos.config, true, !skip_ha).await;
    let cs = cs.expect("consume stats asked");
    apply_runtime(&mut node, rt);
    apply_config(&mut node, cfg);
    match cs {
        Ok(rows) => node.consume = Some(rows),
        Err(e) => record_error(&mut node, &e),
    }
    let answer = match &ha {
        None => HaAnswer::Skipped,
        Some(Ok(Some(_))) => HaAnswer::Supported,
        Some(Ok(None)) => HaAnswer::Unsupported,
        Some(Err(_)) => HaAnswer::Failed,
    };
    ha_memo.record(&t.addr, node.version.as_deref(), answer);
    match ha.unwrap_or(Ok(None)) {
        Ok(Some(ha)) => {
            node.ha_connections = Some(
                ha.ha_connection_info
                    .iter()
                    .map(|c| HaConnection { addr: c.addr.clone(), diff_bytes: c.diff, in_sync: c.in_sync })
                    .collect(),
            )
        }
        Ok(None) => {}
        // Optional data: the broker is still up and its other figures valid.
        Err(e) => tracing::debug!(addr = %t.addr, error = %e, "HA status unavailable"),
    }
    if node.up && node.is_read_only() {
        // Drain candidates only: both probes cost requests that a serving master does not need.
        // Consume stats without the transaction check's group on the half topic: only the
        // topic itself can tell "never used" from "not checked yet".
        let trans_unknown = node
            .consume
            .as_deref()
            .is_some_and(|rows| !rows.iter().any(|r| &*r.topic == crate::drain::checks::TRANS_HALF_TOPIC));
        // Boxed: this branch's futures are twice the size of the rest of the fetch, and the
        // fetch is moved into every cycle's 200 spawned tasks; the branch runs for few brokers.
        let (unwatched, schedule, trans) = Box::pin(async {
            tokio::join!(
                unwatched_queues(admin, &node),
                // Always: even with levels listed, a level first used just now is listed only
                // once its delivery task has run; only the topic shows it.
                schedule_levels_stored(admin, &t.addr),
                async {
                    if trans_unknown {
                        topic_empty(admin, &t.addr, crate::drain::checks::TRANS_HALF_TOPIC).await
                    } else {
                        None
                    }
                }
            )
        })
        .await;
        node.unwatched_queues = unwatched;
        node.schedule_levels_stored = schedule;
        node.trans_half_empty = trans;
    }
    node
}

/// Queue ends of the user topics on this broker that consume stats do not list: one topic
/// config request, then topic stats per such topic (usually few: topics nobody consumes yet).
/// All or nothing: a partial answer would let an unseen writer pass `no_writes`. The topics named
/// after the broker and its cluster are system topics by the broker's own rules (Java's
/// TopicConfigManager registers them as such) and are left out.
async fn unwatched_queues(admin: &Admin, node: &BrokerNode) -> Option<Vec<QueueMaxOffset>> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    const AT_ONCE: usize = 16;
    let addr = node.addr.as_str();
    let consumed = node.consume.as_deref()?;
    let seen: std::collections::HashSet<&str> = consumed.iter().map(|r| r.topic.as_ref()).collect();
    let topics = match admin.all_topic_config(addr).await {
        Ok(w) => w
            .topic_config_table
            .into_keys()
            .filter(|t| topic_kind(t) == TopicKind::User && !seen.contains(t.as_str()) && *t != node.broker && *t != node.cluster)
            .collect::<Vec<_>>(),
        Err(e) => {
            tracing::debug!(addr, error = %e, "topic config unavailable");
            return None;
        }
    };
    let found: Result<Vec<Vec<QueueMaxOffset>>, RemotingError> = stream::iter(topics)
        .map(|topic| async move {
            match admin.topic_stats(addr, &topic).await {
                Ok(t) => {
                    let name: std::sync::Arc<str> = topic.as_str().into();
                    Ok(t.offset_table
                        .iter()
                        .map(|(mq, o)| QueueMaxOffset { topic: name.clone(), queue_id: mq.queue_id, max_offset: o.max_offset })
                        .collect())
                }
                // Deleted since the config was read: nothing there to lose.
                Err(e) if e.response_code() == Some(crate::remoting::codes::response::TOPIC_NOT_EXIST) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(AT_ONCE)
        .try_collect()
        .await;
    match found {
        Ok(v) => Some(v.into_iter().flatten().collect()),
        Err(e) => {
            tracing::debug!(addr, error = %e, "topic stats unavailable");
            None
        }
    }
}


/// Where 4.x brokers keep delayed messages until their level is due.
const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// Delay levels (queue id + 1) whose SCHEDULE_TOPIC_XXXX queue has ever stored a message, with
/// the entries it still holds; an absent topic stored nothing.
async fn schedule_levels_stored(admin: &Admin, addr: &str) -> Option<Vec<StoredLevel>> {
    match admin.topic_stats(addr, SCHEDULE_TOPIC).await {
        Ok(t) => {
            let mut levels: Vec<StoredLevel> = t
                .offset_table
                .iter()
                .filter(|(_, o)| o.max_offset > 0)
                .map(|(mq, o)| StoredLevel {
                    level: mq.queue_id.saturating_add(1),
                    messages: o.max_offset.saturating_sub(o.min_offset.max(0)).max(0),
                })
                .collect();
            levels.sort_unstable_by_key(|l| l.level);
            levels.dedup_by_key(|l| l.level);
            Some(levels)
        }
        Err(e) if e.response_code() == Some(crate::remoting::codes::response::TOPIC_NOT_EXIST) => Some(Vec::new()),
        Err(e) => {
            tracing::debug!(addr, topic = SCHEDULE_TOPIC, error = %e, "topic stats unavailable");
            None
        }
    }
}

/// Whether every queue of a system topic (half messages) is empty; a broker without the topic
/// has never stored such a message either.
async fn topic_empty(admin: &Admin, addr: &str, topic: &str) -> Option<bool> {
    match admin.topic_stats(addr, topic).await {
        Ok(t) => Some(t.offset_table.iter().all(|(_, o)| o.max_offset <= 0)),
        Err(e) if e.response_code() == Some(crate::remoting::codes::response::TOPIC_NOT_EXIST) => Some(true),
        Err(e) => {
            tracing::debug!(addr, topic, error = %e, "topic stats unavailable");
            None
        }
    }
}

async fn fetch_slave(
    admin: &Admin,
    t: &NodeTarget,
    master_max: Option<i64>,
    master_ha: Option<&[HaConnection]>,
    config_memo: &BodyMemo<BrokerConfig>,
) -> BrokerNode {
    let mut node = base(t);
    node.up = true;
    let Answers { runtime: rt, config: cfg, .. } = ask(admin, &t.addr, config_memo, false, false).await;
    apply_runtime(&mut node, rt);
    apply_config(&mut node, cfg);
    let slave_max = node.runtime.as_ref().and_then(|r| r.commitlog_max_offset);
    node.replication_lag_bytes = match (master_max, slave_max) {
        (Some(m), Some(s)) => Some((m - s).max(0)),
        _ => None,
    };
    // A 5.x master that lists HA connections but none from this slave's host: it is not replicating.
    if let Some(conns) = master_ha {
        let ip = host(&t.addr);
        if !conns.iter().any(|c| host(&c.addr) == ip) {
            node.replication_lag_bytes = None;
            if node.error.is_none() {
                node.error = Some(format!("master reports no HA connection from {ip}"));
            }
        }
    }
    node
}

fn host(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr).trim_start_matches('/')
}

fn apply_runtime(node: &mut BrokerNode, rt: Result<RuntimeInfo, RemotingError>) {
    match rt {
        Ok(rt) => {
            node.version = rt.broker_version_desc.clone().or_else(|| rt.broker_version.clone());
            node.runtime = Some(runtime(&rt));
        }
        Err(e) => record_error(node, &e),
    }
}

/// The config keys `apply_config` reads.
const CONFIG_KEYS: &[&str] = &["brokerPermission", "brokerRole", "brokerClusterName", "brokerName", "brokerId"];

fn apply_config(node: &mut BrokerNode, cfg: Result<std::sync::Arc<BrokerConfig>, RemotingError>) {
    match cfg {
        Ok(c) => {
            node.permission = c.broker_permission();
            node.role = c.broker_role().map(str::to_string);
            // Sidecar mode learns who a node is from its own config.
            if node.cluster.is_empty() {
                if let Some(v) = c.get("brokerClusterName") {
                    node.cluster = v.to_string();
                }
                if let Some(v) = c.get("brokerName") {
                    node.broker = v.to_string();
                }
                if let Some(id) = c.get("brokerId").and_then(|v| v.trim().parse().ok()) {
                    node.broker_id = id;
                }
            }
        }
        Err(e) => record_error(node, &e),
    }
}

/// Maps decoded runtime info to the snapshot's figures (units unchanged).
pub fn runtime(rt: &RuntimeInfo) -> BrokerRuntime {
    BrokerRuntime {
        put_tps: rt.put_tps.as_ref().and_then(|t| t.w10),
        get_tps: rt.get_transferred_tps.as_ref().and_then(|t| t.w10),
        msg_put_total_today_now: rt.msg_put_total_today_now,
        msg_get_total_today_now: rt.msg_get_total_today_now,
        send_queue_size: rt.send_thread_pool_queue_size,
        send_queue_head_wait_ms: rt.send_thread_pool_queue_head_wait_ms,
        pull_queue_size: rt.pull_thread_pool_queue_size,
        pull_queue_head_wait_ms: rt.pull_thread_pool_queue_head_wait_ms,
        page_cache_lock_ms: rt.page_cache_lock_time_ms,
        earliest_message_timestamp_ms: rt.earliest_message_timestamp_ms,
        commitlog_disk_ratio: rt.commit_log_disk_ratio,
        commitlog_max_offset: rt.commit_log_max_offset,
        commitlog_min_offset: rt.commit_log_min_offset,
        dispatch_behind_bytes: rt.dispatch_behind_bytes,
        flush_behind_bytes: rt.remain_how_many_data_to_flush_bytes,
        delay_level_pending: rt.delay_level_pending(),
        delay_levels_listed: rt.schedule_message_offsets.keys().copied().collect(),
        timer_pending: rt.timer_pending(),
        boot_timestamp_ms: rt.boot_timestamp_ms,
        broker_active: rt.broker_active,
    }
}

/// Shared copies of a broker's topic and group names. A broker usually has a few dozen, met
/// run after run, so they are found by a scan (newest first: a group's runs follow each other)
/// until there are enough to make hashing cheaper.
#[derive(Default)]
struct Interner {
    names: Vec<std::sync::Arc<str>>,
    index: Option<std::collections::HashSet<std::sync::Arc<str>>>,
}

impl Interner {
    const SCAN: usize = 32;

    fn get(&mut self, s: &str) -> std::sync::Arc<str> {
        if let Some(index) = &mut self.index {
            if let Some(a) = index.get(s) {
                return a.clone();
            }
            let a: std::sync::Arc<str> = s.into();
            index.insert(a.clone());
            return a;
        }
        if let Some(a) = self.names.iter().rev().find(|a| a.len() == s.len() && ***a == *s) {
            return a.clone();
        }
        let a: std::sync::Arc<str> = s.into();
        self.names.push(a.clone());
        if self.names.len() > Self::SCAN {
            self.index = Some(self.names.drain(..).collect());
        }
        a
    }
}

/// Flattens GET_BROKER_CONSUME_STATS into brokerConsumeStats rows: the rows of an already
/// decoded answer (see [`SnapshotRows`] for the one-pass form). Every row is kept: filters
/// apply when rendering (`render::Filters`), never to what the drain verdict sees.
pub fn consume_rows(list: &ConsumeRows<'_>) -> Vec<QueueConsume> {
    let mut out = SnapshotRows::new();
    let mut group: Option<&str> = None;
    for r in &list.rows {
        if group != Some(r.group.as_ref()) {
            group = Some(r.group.as_ref());
            out.group(&r.group);
        }
        out.row(&r.topic, r.queue_id, &r.offsets);
    }
    out.finish()
}

/// A broker's snapshot rows built while its 317 answer is parsed: names shared, sorted in
/// `QueueConsume`'s order, one row per (topic, group, queue).
#[derive(Default)]
pub struct SnapshotRows {
    /// One shared copy of each name per broker (see `QueueConsume`).
    names: Interner,
    /// The current group.
    group: Option<std::sync::Arc<str>>,
    /// Rows come in runs of one topic within a group (a consume-stats entry's queues): the
    /// run's topic, looked up once per run, not once per row; and where the run's topic text
    /// was last handed over, since a parser that recognises a
    /// repeated name hands over the same slice, and then no bytes need comparing. The texts a
    /// visit hands over stay alive and unchanged while it runs (slices of the body, or of a
    /// decoded list read by reference), so one address and length is one text.
    run: Option<(std::sync::Arc<str>, usize)>,
    /// `Option` only so that `finish` can move rows out in a new order (`None` takes no room).
    rows: Vec<Option<QueueConsume>>,
    /// Where each stretch of rows sharing one (topic, group) starts in `rows`: `finish` orders
    /// the stretches by name once each, and the rows by integers only.
    stretches: Vec<usize>,
}

impl SnapshotRows {
    pub fn new() -> Self {
        Self::default()
    }

    /// The rows in `QueueConsume`'s order, one per (topic, group, queue): the first in that order
    /// of any duplicates. Each stretch is sorted by integers alone, the stretches are ordered by
    /// name (a comparison per stretch, not per row), and each row moves once, into a vector of
    /// exactly the kept size: duplicate rows, and the growth reserve, would
    /// otherwise leave slack that the snapshot keeps for its lifetime.
    pub fn finish(self) -> Vec<QueueConsume> {
        use std::cmp::Ordering;
        use std::sync::Arc;
        let SnapshotRows { mut rows, mut stretches, .. } = self;
        stretches.push(rows.len());
        // Queue ids settle almost every comparison; the offsets only break ties.
        fn by_ints(a: &QueueConsume, b: &QueueConsume) -> Ordering {
            a.queue_id
                .cmp(&b.queue_id)
                .then_with(|| (a.broker_offset, a.consumer_offset, a.last_timestamp_ms).cmp(&(b.broker_offset, b.consumer_offset, b.last_timestamp_ms)))
        }
        let mut spans: Vec<(usize, usize)> = stretches.windows(2).map(|w| (w[0], w[1])).collect();
        for &(start, end) in &spans {
            rows[start..end].sort_unstable_by(|a, b| match (a, b) {
                (Some(a), Some(b)) => by_ints(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            });
        }
        let names = |s: &(usize, usize)| rows[s.0].as_ref().map(|r| (&r.topic, &r.group)).expect("not yet moved");
        let name = |a: &Arc<str>, b: &Arc<str>| if Arc::ptr_eq(a, b) { Ordering::Equal } else { a.cmp(b) };
        let by_name = |a: &(usize, usize), b: &(usize, usize)| {
            let ((ta, ga), (tb, gb)) = (names(a), names(b));
            name(ta, tb).then_with(|| name(ga, gb))
        };
        spans.sort_unstable_by(by_name);
        // Where a new name starts among the ordered stretches: stretches with equal names (a
        // group listing a topic twice) are merged, then sorted.
        let breaks: Vec<usize> = (0..spans.len()).filter(|&k| k == 0 || by_name(&spans[k - 1], &spans[k]) != Ordering::Equal).chain([spans.len()]).collect();
        let mut out: Vec<QueueConsume> = Vec::with_capacity(rows.len());
        for w in breaks.windows(2) {
            let from = out.len();
            for &(start, end) in &spans[w[0]..w[1]] {
                out.extend(rows[start..end].iter_mut().map(|r| r.take().expect("each row moves once")));
            }
            if w[1] - w[0] > 1 {
                out[from..].sort_unstable_by(by_ints);
            }
        }
        out.dedup_by(|a, b| Arc::ptr_eq(&a.topic, &b.topic) && Arc::ptr_eq(&a.group, &b.group) && a.queue_id == b.queue_id);
        if out.len() < out.capacity() {
            out.shrink_to_fit();
        }
        out
    }
}

impl RowVisitor for SnapshotRows {
    fn group(&mut self, name: &str) {
        self.group = Some(self.names.get(name));
        self.run = None;
    }

    fn row(&mut self, topic: &str, queue_id: i32, ow: &crate::protocol::OffsetWrapper) {
        let Some(group) = &self.group else { return };
        let at = topic.as_ptr() as usize;
        let topic = match &mut self.run {
            Some((t, src)) if t.len() == topic.len() && (*src == at || **t == *topic) => {
                *src = at;
                t.clone()
            }
            _ => {
                let t = self.names.get(topic);
                self.run = Some((t.clone(), at));
                t
            }
        };
        if self.rows.is_empty() {
            self.rows.reserve(64);
        }
        let same_stretch = self.rows.last().and_then(Option::as_ref).is_some_and(|l| std::sync::Arc::ptr_eq(&l.topic, &topic) && std::sync::Arc::ptr_eq(&l.group, group));
        if !same_stretch {
            if self.stretches.is_empty() {
                self.stretches.reserve(16);
            }
            self.stretches.push(self.rows.len());
        }
        self.rows.push(Some(QueueConsume {
            topic,
            group: group.clone(),
            queue_id,
            broker_offset: ow.broker_offset,
            consumer_offset: ow.consumer_offset,
            last_timestamp_ms: (ow.last_timestamp > 0).then_some(ow.last_timestamp),
        }));
    }

    fn restart(&mut self) {
        self.rows.clear();
        self.stretches.clear();
        self.group = None;
        self.run = None;
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::protocol::consume_stats::{ConsumeRow, OffsetWrapper};
    use crate::protocol::test_rng::XorShift;

    /// The plain definition `consume_rows` must agree with: sort each row by the row's own
    /// order, keep the first of each (topic, group, queue).
    fn reference(list: &ConsumeRows<'_>) -> Vec<QueueConsume> {
        let mut rows: Vec<QueueConsume> = list
            .rows
            .iter()
            .map(|r| QueueConsume {
                topic: r.topic.as_ref().into(),
                group: r.group.as_ref().into(),
                queue_id: r.queue_id,
                broker_offset: r.offsets.broker_offset,
                consumer_offset: r.offsets.consumer_offset,
                last_timestamp_ms: (r.offsets.last_timestamp > 0).then_some(r.offsets.last_timestamp),
            })
            .collect();
        rows.sort();
        rows.dedup_by(|a, b| a.topic == b.topic && a.group == b.group && a.queue_id == b.queue_id);
        rows
    }

    /// Equal names share one copy before and after the interner switches from scanning to hashing.
    #[test]
    fn interner_shares_equal_names_across_the_switch_to_hashing() {
        let mut i = Interner::default();
        let names: Vec<String> = (0..100).map(|n| format!("name-{n}")).collect();
        let first: Vec<_> = names.iter().map(|n| i.get(n)).collect();
        assert!(i.index.is_some(), "100 names are past the scan");
        for (n, a) in names.iter().zip(&first) {
            let again = i.get(n);
            assert_eq!(&*again, n.as_str());
            assert!(std::sync::Arc::ptr_eq(a, &again), "{n}");
        }
        // Same length, different bytes: not confused.
        let mut j = Interner::default();
        assert_ne!(&*j.get("ab"), &*j.get("ba"));
    }

    /// Random bodies in wire shape (runs of one group and topic) with repeated names across runs
    /// and duplicate queues.
    #[test]
    fn consume_rows_matches_sort_dedup() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let topics = ["T_b", "T_a", "T_x", "%RETRY%g1", "T_c"];
        let groups = ["g1", "g0", "skip_me", "g2"];
        for case in 0..300 {
            let mut rows = Vec::new();
            for _ in 0..(rng.next() % 12) {
                let group = groups[(rng.next() % groups.len() as u64) as usize];
                let topic = topics[(rng.next() % topics.len() as u64) as usize];
                for _ in 0..(rng.next() % 6) {
                    rows.push(ConsumeRow {
                        group: Cow::Borrowed(group),
                        topic: Cow::Owned(topic.to_string()),
                        broker_name: Cow::Borrowed("b"),
                        queue_id: (rng.next() % 4) as i32,
                        offsets: OffsetWrapper {
                            broker_offset: (rng.next() % 5) as i64,
                            consumer_offset: (rng.next() % 5) as i64,
                            pull_offset: None,
                            last_timestamp: (rng.next() % 3) as i64,
                        },
                    });
                }
            }
            let list = ConsumeRows { rows, ..Default::default() };
            let got = consume_rows(&list);
            assert_eq!(got, reference(&list), "case {case}");
            // Equal names share one allocation.
            for w in got.windows(2) {
                if w[0].topic == w[1].topic {
                    assert!(std::sync::Arc::ptr_eq(&w[0].topic, &w[1].topic), "case {case}");
                }
            }
        }
    }
}

#[cfg(test)]
mod future_size {
    /// Every cycle builds one group fetch per broker and moves it into its task's box (a copy
    /// of the whole future). Inline, the drain-candidate probes and the connect path made it
    /// ~7 KB; boxed, they leave it under half that. A bound, so that growth is a decision.
    #[test]
    fn group_fetch_future_stays_small() {
        let admin = crate::admin::Admin::new(crate::remoting::RemotingClient::new(Default::default()).unwrap());
        let memo = super::Memos::default();
        let group = std::mem::size_of_val(&super::fetch_group(&admin, &[], &memo));
        let batch = std::mem::size_of_val(&admin.client().exchange("", vec![], |_, _| {}));
        assert!(group <= 4096, "fetch_group future is {group} bytes");
        assert!(batch <= 1024, "exchange future is {batch} bytes");
    }
}

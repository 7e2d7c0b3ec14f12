//! One consistent picture of the cluster per collection cycle.
//!
//! The snapshot is the boundary between I/O and the pure parts: collection fills it from decoded
//! responses, and drain evaluation, rendering and the `status` table read it. It holds only what
//! those consumers need, already in exporter units (raw RocketMQ values, milliseconds and bytes as
//! the broker reports them; conversion to seconds happens at render time). Missing data is `None`,
//! never a made-up zero, because a wrong zero can make a broker look drained.

use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch.
pub type EpochMillis = i64;

/// Everything collected in one cycle.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When collection of this cycle started.
    pub taken_at_ms: EpochMillis,
    /// Wall time the cycle took.
    pub collect_duration_ms: u64,
    /// Every NameServer in the configured list (empty in sidecar mode).
    pub namesrvs: Vec<NamesrvStatus>,
    /// Every broker node (master or slave) that discovery returned or sidecar mode named.
    pub brokers: Vec<BrokerNode>,
    /// Route write bit per broker name as each NameServer publishes it, keyed by (cluster, broker).
    pub routes: BTreeMap<(String, String), Vec<RouteObservation>>,
    /// Sidecar mode: only the configured brokers were fetched, so a master's slaves may be
    /// missing from `brokers` (never read "no slave listed" as "no slaves").
    pub sidecar: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NamesrvStatus {
    pub addr: String,
    pub up: bool,
    pub error: Option<String>,
}

/// What one NameServer's route data says about one broker name.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteObservation {
    pub namesrv: String,
    /// `Some(true)` if any queue of this broker name carries the write bit (2); `None` if the
    /// NameServer could not be asked or had no route for the probed topic.
    pub writable: Option<bool>,
    /// Topic whose route was inspected.
    pub topic: Option<String>,
    pub error: Option<String>,
}

/// One broker process (one address).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerNode {
    pub cluster: String,
    /// brokerName: shared by a master and its slaves.
    pub broker: String,
    /// 0 = master.
    pub broker_id: i64,
    /// ip:port as registered.
    pub addr: String,
    /// True when every request this cycle needed from this node succeeded.
    pub up: bool,
    /// First failure of this cycle, with request code and reason.
    pub error: Option<String>,
    /// brokerVersionDesc, e.g. "V4_9_8".
    pub version: Option<String>,
    /// brokerRole from the config, e.g. "ASYNC_MASTER".
    pub role: Option<String>,
    /// brokerPermission from GET_BROKER_CONFIG.
    pub permission: Option<i64>,
    pub runtime: Option<BrokerRuntime>,
    /// Per-queue consumer offsets from GET_BROKER_CONSUME_STATS (masters only).
    pub consume: Option<Vec<QueueConsume>>,
    /// Replication lag of this slave in bytes (slaves only; None when unknown).
    pub replication_lag_bytes: Option<i64>,
    /// Slaves the master's HA service reports (5.x, GET_BROKER_HA_STATUS); None on 4.x or failure.
    pub ha_connections: Option<Vec<HaConnection>>,
    /// Read-only masters only: the delay levels whose SCHEDULE_TOPIC_XXXX queue (queue id =
    /// level − 1) has ever stored a message, ascending; empty when the topic is empty or absent.
    /// A broker lists a level in its runtime info only once the level's delivery task has
    /// recorded progress (4.x: only levels ever used), so a level stored here but not listed
    /// there holds messages the runtime info does not count. None when not asked or the answer
    /// failed.
    pub schedule_levels_stored: Option<Vec<StoredLevel>>,
    /// Drain candidates without transaction check progress in their consume stats: whether the
    /// transactional half topic is empty (absent counts as empty); `None` when not asked or unknown.
    pub trans_half_empty: Option<bool>,
    /// Read-only masters only: the max offset of every queue of the user topics that consume
    /// stats do not cover (no consumer group has committed an offset there), from the topic
    /// config (21) and topic stats (202). A producer writing to such a topic is invisible to
    /// consume stats, so `no_writes` watches these too. None when not asked or the probe failed.
    pub unwatched_queues: Option<Vec<QueueMaxOffset>>,
}

/// A delay level whose SCHEDULE_TOPIC_XXXX queue has stored messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLevel {
    pub level: i32,
    /// Entries the queue still holds (max − min offset). A level without recorded progress is
    /// delivered from its start (Java's `ScheduleMessageService` begins an unknown level at
    /// offset 0, moved up to the queue's min offset), so for an unlisted level every one of
    /// them is still to be delivered.
    pub messages: i64,
}

/// One queue's end offset, for topics seen outside consume stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMaxOffset {
    pub topic: std::sync::Arc<str>,
    pub queue_id: i32,
    pub max_offset: i64,
}

impl BrokerNode {
    pub fn is_master(&self) -> bool {
        self.broker_id == 0
    }

    /// Permission known and without the write bit (2): a drained broker, or one being drained.
    pub fn is_read_only(&self) -> bool {
        self.permission.is_some_and(|p| p & 2 == 0)
    }

    /// Stored delay levels the runtime info does not list (empty when not probed).
    pub fn unlisted_delay_levels(&self) -> impl Iterator<Item = &StoredLevel> + '_ {
        let listed = self.runtime.as_ref().map_or(&[][..], |rt| &rt.delay_levels_listed[..]);
        self.schedule_levels_stored.iter().flatten().filter(move |l| !listed.contains(&l.level))
    }

    /// Messages held at the unlisted delay levels; None when there is no such level.
    pub fn unlisted_delay_messages(&self) -> Option<i64> {
        self.unlisted_delay_levels().fold(None, |sum: Option<i64>, l| Some(sum.unwrap_or(0).saturating_add(l.messages)))
    }

    /// Delayed and timer messages not yet delivered: the runtime info's figures plus the
    /// messages stored at delay levels it does not list yet. None without runtime info, or
    /// when neither says anything.
    pub fn scheduled_pending(&self) -> Option<i64> {
        let rt = self.runtime.as_ref()?;
        let delay = crate::protocol::runtime_info::pending_sum(rt.delay_level_pending, self.unlisted_delay_messages());
        crate::protocol::runtime_info::pending_sum(delay, rt.timer_pending)
    }
}

/// Figures from GET_BROKER_RUNTIME_INFO, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerRuntime {
    /// First (≈10 s) window of `putTps`: clusterList InTPS.
    pub put_tps: Option<f64>,
    /// First window of `getTransferedTps` / `getTransferredTps`: clusterList OutTPS.
    pub get_tps: Option<f64>,
    pub msg_put_total_today_now: Option<i64>,
    pub msg_get_total_today_now: Option<i64>,
    pub send_queue_size: Option<i64>,
    pub send_queue_head_wait_ms: Option<i64>,
    pub pull_queue_size: Option<i64>,
    pub pull_queue_head_wait_ms: Option<i64>,
    pub page_cache_lock_ms: Option<i64>,
    /// None when the store is empty (Java reports -1).
    pub earliest_message_timestamp_ms: Option<i64>,
    /// Fraction 0–1.
    pub commitlog_disk_ratio: Option<f64>,
    pub commitlog_max_offset: Option<i64>,
    pub commitlog_min_offset: Option<i64>,
    pub dispatch_behind_bytes: Option<i64>,
    /// `remainHowManyDataToFlush`, parsed from its human-readable form.
    pub flush_behind_bytes: Option<i64>,
    /// Delay-level messages not yet delivered (Σ max−delivered over the listed levels); None
    /// when the broker lists no level (see the `scheduled` check).
    pub delay_level_pending: Option<i64>,
    /// The delay levels the runtime info lists (`scheduleMessageOffset_<level>`), ascending.
    pub delay_levels_listed: Vec<i32>,
    /// 5.x timer messages not yet delivered; None without a timer wheel.
    pub timer_pending: Option<i64>,
    pub boot_timestamp_ms: Option<i64>,
    /// 5.x `brokerActive`.
    pub broker_active: Option<bool>,
}

impl BrokerRuntime {
    /// Delayed (delay levels) plus timer (5.x) messages not yet delivered.
    pub fn scheduled_pending(&self) -> Option<i64> {
        crate::protocol::runtime_info::pending_sum(self.delay_level_pending, self.timer_pending)
    }
}

/// One row of `mqadmin brokerConsumeStats`.
///
/// Topic and group names are shared (`Arc<str>`): a broker reports the same few names on
/// thousands of rows, and a million rows of owned copies would dominate the exporter's memory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueConsume {
    pub topic: std::sync::Arc<str>,
    pub group: std::sync::Arc<str>,
    pub queue_id: i32,
    /// Queue max offset (next logical offset).
    pub broker_offset: i64,
    pub consumer_offset: i64,
    /// Store time of the last consumed message; None when never consumed.
    pub last_timestamp_ms: Option<i64>,
}

impl QueueConsume {
    /// A row for tests: no last-consume time.
    #[cfg(test)]
    pub(crate) fn test_row(topic: &str, group: &str, queue_id: i32, broker_offset: i64, consumer_offset: i64) -> Self {
        QueueConsume { topic: topic.into(), group: group.into(), queue_id, broker_offset, consumer_offset, last_timestamp_ms: None }
    }

    /// #Diff, unclamped like mqadmin.
    pub fn diff(&self) -> i64 {
        self.broker_offset - self.consumer_offset
    }
}

/// One slave connection as a 5.x master's HA service reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct HaConnection {
    /// The slave's HA socket address (ip:ephemeralPort), match by IP only.
    pub addr: String,
    pub diff_bytes: i64,
    pub in_sync: bool,
}

/// What kind of topic a name is, in RocketMQ's own conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    User,
    /// `%RETRY%<group>`
    Retry,
    /// `%DLQ%<group>`
    Dlq,
    /// Broker-internal topics (schedule, transactions, trace, `rmq_sys_*`, …).
    System,
}

/// Topic names the broker uses for itself (TopicValidator's system set plus prefixes).
pub fn topic_kind(topic: &str) -> TopicKind {
    const SYSTEM: &[&str] = &[
        "TBW102",
        "SCHEDULE_TOPIC_XXXX",
        "BenchmarkTest",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "RMQ_SYS_TRACE_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
        "TRANS_CHECK_MAX_TIME_TOPIC",
        "SELF_TEST_TOPIC",
        "OFFSET_MOVED_EVENT",
        "CHECKPOINT_TOPIC",
    ];
    if topic.starts_with("%RETRY%") {
        TopicKind::Retry
    } else if topic.starts_with("%DLQ%") {
        TopicKind::Dlq
    } else if SYSTEM.contains(&topic) || topic.starts_with("rmq_sys_") || topic.starts_with("RMQ_SYS_") {
        TopicKind::System
    } else {
        TopicKind::User
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_kinds() {
        assert_eq!(topic_kind("TopicTest"), TopicKind::User);
        assert_eq!(topic_kind("%RETRY%G1"), TopicKind::Retry);
        assert_eq!(topic_kind("%DLQ%G1"), TopicKind::Dlq);
        assert_eq!(topic_kind("SCHEDULE_TOPIC_XXXX"), TopicKind::System);
        assert_eq!(topic_kind("rmq_sys_wheel_timer"), TopicKind::System);
        assert_eq!(topic_kind("RETRY_TOPIC"), TopicKind::User);
    }

    #[test]
    fn diff_is_unclamped() {
        let q = QueueConsume {
            topic: "t".into(),
            group: "g".into(),
            queue_id: 0,
            broker_offset: 5,
            consumer_offset: 7,
            last_timestamp_ms: None,
        };
        assert_eq!(q.diff(), -2);
    }
}

//! Cluster state and simulated time.
//!
//! The model is plain data plus one `step` function, so tests can drive it without sockets and
//! poke any field through `SimCluster::with_state`. Time is a simulated epoch-ms clock that only
//! moves in `step`; TPS windows are computed from 1 s samples of that clock exactly like
//! `StoreStatsService` does (PROTOCOL.md §3.11), so a fresh broker shows empty TPS slots.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

/// 2026-01-01T00:00:00Z: a fixed, realistic start so output is reproducible.
pub const SIM_EPOCH_MS: i64 = 1_767_225_600_000;

/// `PermName`: read bit.
pub const PERM_READ: i32 = 4;
/// `PermName`: write bit.
pub const PERM_WRITE: i32 = 2;
/// `PermName`: inherit bit.
pub const PERM_INHERIT: i32 = 1;

/// StoreStatsService keeps 600 (+1) one-second samples.
const MAX_SAMPLES: usize = 601;

/// Delay levels of the default `messageDelayLevel`, in seconds.
pub const DELAY_LEVEL_SECS: [i64; 18] =
    [1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200];

/// Which Java server line a simulated broker (or NameServer) imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// 4.9.8: `getTransferedTps`, no `pullOffset`, 907 unsupported, unknown NS codes unanswered.
    Java49,
    /// 5.3.3: `getTransferredTps`, `pullOffset`, `totalInflightDiff`, HARuntimeInfo, timer keys.
    Java53,
}

impl Flavor {
    pub fn version_desc(self) -> &'static str {
        match self {
            Flavor::Java49 => "V4_9_8",
            Flavor::Java53 => "V5_3_3",
        }
    }

    /// `MQVersion` ordinal, also the `version` of every response (PROTOCOL.md §1.5).
    pub fn version_ordinal(self) -> i32 {
        match self {
            Flavor::Java49 => 409,
            Flavor::Java53 => 479,
        }
    }
}

/// Topology and traffic parameters.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub clusters: usize,
    pub brokers_per_cluster: usize,
    pub slaves_per_broker: usize,
    /// User topics; every broker of every cluster hosts all of them (same names).
    pub topics_per_broker: usize,
    pub queues_per_topic: usize,
    pub groups_per_topic: usize,
    /// Messages/s per user topic, split over the writable brokers of each cluster.
    pub produce_tps_per_topic: f64,
    pub seed: u64,
    /// Cycled over brokers in creation order.
    pub flavors: Vec<Flavor>,
    /// Broker names whose nodes answer with ROCKETMQ binary headers.
    pub rocketmq_header_brokers: Vec<String>,
    pub namesrv_flavor: Flavor,
    pub avg_msg_size: i64,
    /// Consumer send-back trickle into `%RETRY%` topics, msgs/s per broker (jittered ±3).
    pub retry_tps_per_broker: f64,
    /// Consumers stay this many seconds of production behind: the steady backlog that a drain
    /// must consume.
    pub consume_lag_secs: f64,
    /// How fast a slave copies the master's commitlog, bytes/s.
    pub slave_replication_bytes_per_s: f64,
    /// Slaves start this many bytes behind their master.
    pub initial_slave_lag_bytes: i64,
    /// Delayed messages (level 3, 10 s) produced per writable broker, msgs/s.
    pub delayed_tps_per_broker: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            clusters: 1,
            brokers_per_cluster: 2,
            slaves_per_broker: 1,
            topics_per_broker: 2,
            queues_per_topic: 4,
            groups_per_topic: 1,
            produce_tps_per_topic: 100.0,
            seed: 42,
            flavors: vec![Flavor::Java49, Flavor::Java53],
            rocketmq_header_brokers: Vec::new(),
            namesrv_flavor: Flavor::Java49,
            avg_msg_size: 1024,
            retry_tps_per_broker: 23.0,
            consume_lag_secs: 2.0,
            slave_replication_bytes_per_s: 64.0 * 1024.0 * 1024.0,
            initial_slave_lag_bytes: 0,
            delayed_tps_per_broker: 0.5,
        }
    }
}

impl SimConfig {
    /// The seed runbook: one "DefaultCluster", broker-a..d with one slave each, a/c Java49,
    /// b/d Java53, broker-c answering with ROCKETMQ headers.
    pub fn runbook() -> Self {
        SimConfig {
            clusters: 1,
            brokers_per_cluster: 4,
            slaves_per_broker: 1,
            topics_per_broker: 4,
            queues_per_topic: 4,
            groups_per_topic: 2,
            produce_tps_per_topic: 400.0,
            seed: 7,
            flavors: vec![Flavor::Java49, Flavor::Java53],
            rocketmq_header_brokers: vec!["broker-c".to_string()],
            namesrv_flavor: Flavor::Java49,
            avg_msg_size: 1024,
            retry_tps_per_broker: 23.0,
            consume_lag_secs: 2.0,
            // Above a broker's share before and after a drain, so lag shrinks but not instantly.
            slave_replication_bytes_per_s: 600.0 * 1024.0,
            initial_slave_lag_bytes: 48 * 1024 * 1024,
            delayed_tps_per_broker: 0.5,
        }
    }

    /// Many brokers, about `rows_per_broker` (group, topic, queue) rows each: 8 queues, 2 groups
    /// per topic, no slaves, 50 brokers per cluster.
    pub fn scale(brokers: usize, rows_per_broker: usize) -> Self {
        let brokers = brokers.max(1);
        let clusters = brokers.div_ceil(50);
        let queues = 8;
        let groups = 2;
        SimConfig {
            clusters,
            brokers_per_cluster: brokers.div_ceil(clusters),
            slaves_per_broker: 0,
            topics_per_broker: (rows_per_broker / (queues * groups)).max(1),
            queues_per_topic: queues,
            groups_per_topic: groups,
            produce_tps_per_topic: 10.0,
            seed: 1,
            flavors: vec![Flavor::Java49, Flavor::Java53],
            rocketmq_header_brokers: Vec::new(),
            namesrv_flavor: Flavor::Java53,
            ..SimConfig::default()
        }
    }
}

/// Topic class; drives which checks and producers touch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    User,
    /// `%RETRY%<group>`
    Retry,
    /// TBW102, SCHEDULE_TOPIC_XXXX, broker-name and cluster-name topics, …
    System,
}

/// One consume queue of a topic on a broker.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub min_offset: i64,
    /// Next logical offset (= messages ever written).
    pub max_offset: i64,
    /// Store time of the message at `max_offset - 1` (0 if empty).
    pub last_store_ms: i64,
    /// Current write rate, msgs/s, used to estimate store times of older messages.
    pub rate: f64,
    frac: f64,
}

impl Queue {
    /// Approximate store time of the message at `offset - 1`; 0 if there is none.
    pub fn store_time_before(&self, offset: i64, now_ms: i64) -> i64 {
        if offset <= self.min_offset || offset <= 0 {
            return 0;
        }
        if offset >= self.max_offset {
            return self.last_store_ms;
        }
        let behind = (self.max_offset - offset) as f64;
        let secs = if self.rate > 0.0 { behind / self.rate } else { behind };
        (self.last_store_ms - (secs * 1000.0) as i64).clamp(SIM_EPOCH_MS - 3 * 86_400_000, now_ms)
    }
}

#[derive(Debug, Clone)]
pub struct Topic {
    pub name: String,
    pub kind: TopicKind,
    /// Raw topic perm (GET_ALL_TOPIC_CONFIG shows this; routes mask it with brokerPermission).
    pub perm: i32,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub order: bool,
    pub queues: Vec<Queue>,
    /// Minute put TPS for 5.3.3 `topicPutTps`; NaN until the broker has history.
    pub put_tps: f64,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    /// Never consumes (the `dead_group` scenario).
    pub dead: bool,
}

/// Committed offset of one group on one queue.
#[derive(Debug, Clone, Default)]
pub struct ConsumerQueue {
    pub offset: i64,
    /// Store time of the message at `offset - 1`; 0 when never consumed.
    pub last_timestamp: i64,
    /// Pull position (5.x `pullOffset` in 208).
    pub pull_offset: i64,
}

/// A group's offsets on one topic of one broker: one (group, topic) pair, all its queues.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub group: usize,
    pub topic: usize,
    pub queues: Vec<ConsumerQueue>,
    /// GROUP_GET_NUMS minute TPS; NaN until there is history (fastjson writes `null`).
    pub consume_tps: f64,
}

/// Broker config data version (`DataVersion`).
#[derive(Debug, Clone, Copy)]
pub struct DataVersion {
    pub counter: i64,
    pub timestamp: i64,
}

/// One sample of the store counters, taken every simulated second.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: i64,
    put: f64,
    found: f64,
    miss: f64,
    transferred: f64,
}

/// One broker process (master or slave).
#[derive(Debug, Clone)]
pub struct Node {
    /// 0 = master.
    pub broker_id: i64,
    pub addr: Option<SocketAddr>,
    /// `brokerPermission` from this node's config.
    pub permission: i32,
    pub commit_log_min_offset: i64,
    pub commit_log_max_offset: i64,
    /// Slaves: replication speed, bytes/s.
    pub replication_bytes_per_s: f64,
    /// Last step's replication throughput, bytes/s (907 `transferredByteInSecond`).
    pub replicated_bytes_per_s: f64,
    pub boot_ms: i64,
    pub put_total: f64,
    pub put_size_total: f64,
    pub get_found_total: f64,
    pub get_miss_total: f64,
    pub transferred_total: f64,
    pub msg_put_yesterday_morning: i64,
    pub msg_put_today_morning: i64,
    pub msg_get_yesterday_morning: i64,
    pub msg_get_today_morning: i64,
    pub dispatch_behind_bytes: i64,
    pub flush_behind_bytes: i64,
    pub page_cache_lock_ms: i64,
    pub send_queue_size: i64,
    pub pull_queue_size: i64,
    /// Keys set through UPDATE_BROKER_CONFIG other than brokerPermission.
    pub config_overrides: BTreeMap<String, String>,
    pub data_version: DataVersion,
    /// Port of the HA socket as the master sees it (907 `addr`).
    pub ha_client_port: u16,
    samples: VecDeque<Sample>,
}

impl Node {
    fn new(broker_id: i64, now_ms: i64, ha_client_port: u16) -> Self {
        Node {
            broker_id,
            addr: None,
            permission: PERM_READ | PERM_WRITE,
            commit_log_min_offset: 0,
            commit_log_max_offset: 0,
            replication_bytes_per_s: 0.0,
            replicated_bytes_per_s: 0.0,
            boot_ms: now_ms,
            put_total: 0.0,
            put_size_total: 0.0,
            get_found_total: 0.0,
            get_miss_total: 0.0,
            transferred_total: 0.0,
            msg_put_yesterday_morning: 0,
            msg_put_today_morning: 0,
            msg_get_yesterday_morning: 0,
            msg_get_today_morning: 0,
            dispatch_behind_bytes: 0,
            flush_behind_bytes: 0,
            page_cache_lock_ms: 0,
            send_queue_size: 0,
            pull_queue_size: 0,
            config_overrides: BTreeMap::new(),
            data_version: DataVersion { counter: 1, timestamp: now_ms },
            ha_client_port,
            samples: VecDeque::with_capacity(MAX_SAMPLES),
        }
    }

    pub fn is_master(&self) -> bool {
        self.broker_id == 0
    }

    /// Writes through UPDATE_BROKER_CONFIG semantics: bump the data version.
    pub fn set_permission(&mut self, perm: i32, now_ms: i64) {
        self.permission = perm;
        self.data_version.counter += 1;
        self.data_version.timestamp = now_ms;
    }

    fn sample(&mut self, at_ms: i64) {
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            at_ms,
            put: self.put_total,
            found: self.get_found_total,
            miss: self.get_miss_total,
            transferred: self.transferred_total,
        });
    }

    /// Rate over the last `window` samples, or None when there is not enough history.
    fn rate(&self, window: usize, pick: fn(&Sample) -> f64) -> Option<f64> {
        let n = self.samples.len();
        if n < window + 1 {
            return None;
        }
        let last = self.samples[n - 1];
        let first = self.samples[n - 1 - window];
        let dt = (last.at_ms - first.at_ms) as f64;
        // 0/0 gives NaN exactly like Java would if two samples shared a timestamp.
        Some((pick(&last) - pick(&first)) / dt * 1000.0)
    }

    /// The three windows (10 s, 60 s, 600 s); None = empty slot.
    pub fn tps(&self, which: TpsKind) -> [Option<f64>; 3] {
        let pick: fn(&Sample) -> f64 = match which {
            TpsKind::Put => |s| s.put,
            TpsKind::GetFound => |s| s.found,
            TpsKind::GetMiss => |s| s.miss,
            TpsKind::Transferred => |s| s.transferred,
        };
        [self.rate(10, pick), self.rate(60, pick), self.rate(600, pick)]
    }

    /// Seconds of sample history, for tests.
    pub fn history_secs(&self) -> usize {
        self.samples.len().saturating_sub(1)
    }
}

/// Which store counter a TPS triple is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpsKind {
    Put,
    GetFound,
    GetMiss,
    Transferred,
}

/// Pending delayed messages of one batch.
#[derive(Debug, Clone)]
pub struct DelayedBatch {
    pub due_ms: i64,
    /// Delay level (1..=18); the batch waits in SCHEDULE_TOPIC_XXXX queue `level − 1`. Ignored
    /// for timer messages.
    pub level: usize,
    /// A 5.x timer message (delay seconds or deliver time): it waits in the timer wheel, not in
    /// a delay-level queue. Delay-level messages keep using the schedule topic on 5.x too.
    pub timer: bool,
    pub count: i64,
    /// Topic index they are delivered to.
    pub topic: usize,
}

/// A broker name: master + slaves sharing topics, groups and offsets.
#[derive(Debug, Clone)]
pub struct Broker {
    pub name: String,
    pub cluster: String,
    pub flavor: Flavor,
    pub rocketmq_headers: bool,
    /// `[0]` master, then slaves with ids 1..
    pub nodes: Vec<Node>,
    pub topics: Vec<Topic>,
    pub topic_index: HashMap<String, usize>,
    pub groups: Vec<Group>,
    /// (group, topic) pairs; rows of 317.
    pub subs: Vec<Subscription>,
    pub retry_tps: f64,
    /// Producers with a stale route keep writing this many msgs/s to the first user topic even
    /// when the broker is not writable.
    pub stale_producer_tps: f64,
    pub delayed_tps: f64,
    /// Per delay level (index = level − 1): (delivered, total) = scheduleMessageOffset pair.
    pub schedule_offsets: Vec<(i64, i64)>,
    /// Levels (1..=18) whose delivery task has not recorded progress yet: their messages are in
    /// the schedule topic but the runtime info does not list the level (a level first used just
    /// now, or a stalled delivery task).
    pub schedule_unlisted: Vec<usize>,
    pub delayed: Vec<DelayedBatch>,
    /// Set by a step; read by the server to invalidate cached bodies.
    delayed_frac: f64,
    retry_frac: f64,
}

impl Broker {
    pub fn master(&self) -> &Node {
        &self.nodes[0]
    }

    pub fn master_mut(&mut self) -> &mut Node {
        &mut self.nodes[0]
    }

    pub fn node(&self, broker_id: i64) -> Option<&Node> {
        self.nodes.iter().find(|n| n.broker_id == broker_id)
    }

    pub fn node_mut(&mut self, broker_id: i64) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.broker_id == broker_id)
    }

    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topic_index.get(name).map(|&i| &self.topics[i])
    }

    pub fn topic_mut(&mut self, name: &str) -> Option<&mut Topic> {
        self.topic_index.get(name).copied().map(move |i| &mut self.topics[i])
    }

    /// Perm the NameServer holds for `topic` on this broker: 4.9 replaces the topic perm by
    /// brokerPermission when the broker is not RW; 5.x ANDs them (PROTOCOL.md §4.5).
    pub fn route_perm(&self, topic: &Topic) -> i32 {
        let bp = self.master().permission;
        match self.flavor {
            Flavor::Java49 if bp != (PERM_READ | PERM_WRITE) => bp,
            Flavor::Java49 => topic.perm,
            Flavor::Java53 => topic.perm & bp,
        }
    }

    /// Replication lag of a slave in bytes (master commitlog max − slave's).
    pub fn slave_lag(&self, broker_id: i64) -> Option<i64> {
        let s = self.node(broker_id)?;
        Some(self.master().commit_log_max_offset - s.commit_log_max_offset)
    }

    /// Delayed messages not yet delivered.
    pub fn pending_delayed(&self) -> i64 {
        self.delayed.iter().map(|d| d.count).sum()
    }

    /// The timer-wheel part of [`Broker::pending_delayed`].
    pub fn pending_timer(&self) -> i64 {
        self.delayed.iter().filter(|d| d.timer).map(|d| d.count).sum()
    }

    /// Sum over user topics of queue max offsets: stops moving when writes stop.
    pub fn user_max_offset_sum(&self) -> i64 {
        self.topics
            .iter()
            .filter(|t| t.kind == TopicKind::User)
            .flat_map(|t| t.queues.iter())
            .map(|q| q.max_offset)
            .sum()
    }

    /// Diff (backlog) of `group` on `topic` summed over queues.
    pub fn group_diff(&self, group: &str, topic: &str) -> Option<i64> {
        let t = *self.topic_index.get(topic)?;
        let sub = self.subs.iter().find(|s| s.topic == t && self.groups[s.group].name == group)?;
        Some(
            sub.queues
                .iter()
                .zip(&self.topics[t].queues)
                .map(|(c, q)| q.max_offset - c.offset)
                .sum(),
        )
    }

    /// Adds a group subscribed to `topic` (plus its retry topic), starting `backlog` messages
    /// behind on every queue.
    /// `count` half messages stored and never resolved: the half topic grows, and the
    /// broker's transaction check group (on its first use here) stays behind them, as a Java
    /// broker whose check keeps asking a producer that does not answer.
    pub fn add_half_messages(&mut self, count: i64, now_ms: i64) {
        const HALF: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
        let Some(&t) = self.topic_index.get(HALF) else { return };
        let q = &mut self.topics[t].queues[0];
        let before = q.max_offset;
        q.max_offset += count.max(0);
        q.last_store_ms = now_ms;
        if !self.groups.iter().any(|g| g.name == TRANS_CHECK_GROUP) {
            let gi = self.groups.len();
            self.groups.push(Group { name: TRANS_CHECK_GROUP.to_string(), dead: true });
            let queues = vec![ConsumerQueue { offset: before, last_timestamp: 0, pull_offset: before }];
            self.subs.push(Subscription { group: gi, topic: t, queues, consume_tps: f64::NAN });
        }
    }

    pub fn add_group(&mut self, name: &str, topic: &str, backlog: i64, dead: bool, now_ms: i64) {
        let Some(&t) = self.topic_index.get(topic) else { return };
        let gi = self.groups.len();
        self.groups.push(Group { name: name.to_string(), dead });
        let queues = self.topics[t]
            .queues
            .iter()
            .map(|q| {
                let offset = (q.max_offset - backlog).max(q.min_offset);
                ConsumerQueue { offset, last_timestamp: q.store_time_before(offset, now_ms), pull_offset: offset }
            })
            .collect();
        self.subs.push(Subscription { group: gi, topic: t, queues, consume_tps: f64::NAN });
        let retry = format!("%RETRY%{name}");
        let rt = self.topics.len();
        self.topics.push(Topic {
            name: retry.clone(),
            kind: TopicKind::Retry,
            perm: PERM_READ | PERM_WRITE,
            read_queue_nums: 1,
            write_queue_nums: 1,
            order: false,
            queues: vec![Queue::default()],
            put_tps: f64::NAN,
        });
        self.topic_index.insert(retry, rt);
        self.subs.push(Subscription {
            group: gi,
            topic: rt,
            queues: vec![ConsumerQueue::default()],
            consume_tps: f64::NAN,
        });
    }
}

/// Small deterministic PRNG (SplitMix64); the model must be reproducible from `seed`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Everything the simulated servers answer from.
#[derive(Debug)]
pub struct ClusterState {
    pub cfg: SimConfig,
    pub now_ms: i64,
    pub start_ms: i64,
    pub brokers: Vec<Broker>,
    pub namesrv_flavor: Flavor,
    pub namesrv_addr: Option<SocketAddr>,
    /// Current produce rate per user topic (cluster-wide), msgs/s.
    pub produce_tps_per_topic: f64,
    /// Bumped on every change; servers cache encoded bodies per generation.
    pub generation: u64,
    /// Human-readable log of scenario events: (sim ms, text).
    pub events: Vec<(i64, String)>,
    pub rng: Rng,
    last_sample_ms: i64,
}

/// `a`, …, `z`, `aa`, `ab`, …: spreadsheet-style suffixes for broker names.
pub fn broker_suffix(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

pub fn cluster_name(i: usize) -> String {
    if i == 0 {
        "DefaultCluster".to_string()
    } else {
        format!("DefaultCluster{}", i + 1)
    }
}

pub fn topic_name(i: usize) -> String {
    format!("TopicTest-{i}")
}

pub fn group_name(topic: usize, j: usize) -> String {
    format!("group-{topic}-{j}")
}

/// System topics every broker has (besides its broker-name and cluster-name topics).
/// The Java broker's transaction check group (`MixAll.CID_SYS_RMQ_TRANS`).
pub const TRANS_CHECK_GROUP: &str = "CID_RMQ_SYS_TRANS";

const SYSTEM_TOPICS: [&str; 5] = ["TBW102", "SCHEDULE_TOPIC_XXXX", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "RMQ_SYS_TRANS_HALF_TOPIC"];

impl ClusterState {
    /// Builds the topology with some history already in the queues (offsets, backlog).
    pub fn new(cfg: SimConfig) -> Self {
        let now = SIM_EPOCH_MS;
        let mut rng = Rng::new(cfg.seed);
        let flavors = if cfg.flavors.is_empty() { vec![Flavor::Java49] } else { cfg.flavors.clone() };
        let mut brokers = Vec::with_capacity(cfg.clusters * cfg.brokers_per_cluster);
        let queues = cfg.queues_per_topic.max(1);
        let mut global = 0usize;
        for c in 0..cfg.clusters.max(1) {
            let cluster = cluster_name(c);
            for _ in 0..cfg.brokers_per_cluster.max(1) {
                let name = format!("broker-{}", broker_suffix(global));
                let flavor = flavors[global % flavors.len()];
                let mut topics = Vec::with_capacity(cfg.topics_per_broker + 8);
                let mut total_msgs = 0i64;
                for t in 0..cfg.topics_per_broker {
                    let qs = (0..queues)
                        .map(|_| {
                            let max = rng.range(10_000.0, 200_000.0) as i64;
                            total_msgs += max;
                            Queue {
                                min_offset: 0,
                                max_offset: max,
                                last_store_ms: now - rng.range(0.0, 5_000.0) as i64,
                                rate: 0.0,
                                frac: 0.0,
                            }
                        })
                        .collect();
                    topics.push(Topic {
                        name: topic_name(t),
                        kind: TopicKind::User,
                        perm: PERM_READ | PERM_WRITE,
                        read_queue_nums: queues as i32,
                        write_queue_nums: queues as i32,
                        order: false,
                        queues: qs,
                        put_tps: f64::NAN,
                    });
                }
                let mut sys: Vec<(String, i32, i32)> = SYSTEM_TOPICS
                    .iter()
                    .map(|s| (s.to_string(), if *s == "TBW102" { 7 } else { 6 }, if *s == "SCHEDULE_TOPIC_XXXX" { 18 } else { 1 }))
                    .collect();
                sys.push((name.clone(), 7, 1));
                sys.push((cluster.clone(), 7, 1));
                for (n, perm, nq) in sys {
                    topics.push(Topic {
                        name: n,
                        kind: TopicKind::System,
                        perm,
                        read_queue_nums: nq,
                        write_queue_nums: nq,
                        order: false,
                        queues: vec![Queue::default(); nq as usize],
                        put_tps: f64::NAN,
                    });
                }
                let topic_index = topics.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
                let avg = cfg.avg_msg_size.max(1);
                let master_bytes = total_msgs * avg;
                let mut nodes = Vec::with_capacity(1 + cfg.slaves_per_broker);
                let mut m = Node::new(0, now, 0);
                m.commit_log_max_offset = master_bytes;
                m.put_total = total_msgs as f64;
                m.put_size_total = master_bytes as f64;
                m.msg_put_today_morning = total_msgs / 2;
                m.msg_put_yesterday_morning = total_msgs / 5;
                nodes.push(m);
                for s in 1..=cfg.slaves_per_broker {
                    let mut n = Node::new(s as i64, now, 40_000 + ((global * 7 + s) % 20_000) as u16);
                    n.permission = PERM_READ | PERM_WRITE;
                    n.commit_log_max_offset = (master_bytes - cfg.initial_slave_lag_bytes).max(0);
                    n.replication_bytes_per_s = cfg.slave_replication_bytes_per_s;
                    n.put_total = (n.commit_log_max_offset / avg) as f64;
                    n.put_size_total = n.commit_log_max_offset as f64;
                    nodes.push(n);
                }
                let mut b = Broker {
                    name: name.clone(),
                    cluster: cluster.clone(),
                    flavor,
                    rocketmq_headers: cfg.rocketmq_header_brokers.contains(&name),
                    nodes,
                    topics,
                    topic_index,
                    groups: Vec::new(),
                    subs: Vec::new(),
                    retry_tps: cfg.retry_tps_per_broker,
                    stale_producer_tps: 0.0,
                    delayed_tps: cfg.delayed_tps_per_broker,
                    schedule_offsets: vec![(0, 0); 18],
                    schedule_unlisted: Vec::new(),
                    delayed: Vec::new(),
                    delayed_frac: 0.0,
                    retry_frac: 0.0,
                };
                for t in 0..cfg.topics_per_broker {
                    for j in 0..cfg.groups_per_topic {
                        let backlog = rng.range(0.0, 50.0) as i64;
                        b.add_group(&group_name(t, j), &topic_name(t), backlog, false, now);
                    }
                }
                // Retry queues have a little history too.
                for t in b.topics.iter_mut().filter(|t| t.kind == TopicKind::Retry) {
                    t.queues[0].max_offset = rng.range(0.0, 1000.0) as i64;
                    t.queues[0].last_store_ms = now - 1000;
                }
                for s in b.subs.iter_mut() {
                    if b.topics[s.topic].kind == TopicKind::Retry {
                        let q = &b.topics[s.topic].queues[0];
                        s.queues[0] = ConsumerQueue { offset: q.max_offset, last_timestamp: q.last_store_ms, pull_offset: q.max_offset };
                    }
                }
                // Delay levels that have been used at some point show up in the runtime info.
                b.schedule_offsets[2] = (120, 120);
                brokers.push(b);
                global += 1;
            }
        }
        let produce = cfg.produce_tps_per_topic;
        let mut st = ClusterState {
            namesrv_flavor: cfg.namesrv_flavor,
            cfg,
            now_ms: now,
            start_ms: now,
            brokers,
            namesrv_addr: None,
            produce_tps_per_topic: produce,
            generation: 0,
            events: Vec::new(),
            rng,
            last_sample_ms: now,
        };
        for b in st.brokers.iter_mut() {
            for n in b.nodes.iter_mut() {
                n.sample(now);
            }
        }
        st
    }

    pub fn broker(&self, name: &str) -> Option<&Broker> {
        self.brokers.iter().find(|b| b.name == name)
    }

    pub fn broker_mut(&mut self, name: &str) -> Option<&mut Broker> {
        self.brokers.iter_mut().find(|b| b.name == name)
    }

    pub fn broker_index(&self, name: &str) -> Option<usize> {
        self.brokers.iter().position(|b| b.name == name)
    }

    /// Sets a broker master's permission as UPDATE_BROKER_CONFIG would (routes follow at once,
    /// like the immediate re-registration in the Java broker).
    pub fn set_permission(&mut self, broker: &str, perm: i32) -> bool {
        let now = self.now_ms;
        let Some(b) = self.broker_mut(broker) else { return false };
        b.master_mut().set_permission(perm, now);
        self.generation += 1;
        true
    }

    /// Records a human-readable event (scenario engine, UPDATE_BROKER_CONFIG).
    pub fn log_event(&mut self, text: impl Into<String>) {
        self.events.push((self.now_ms, text.into()));
    }

    /// Advances simulated time by `dt_ms`, in slices that never cross a whole second so the
    /// 1 s samples land exactly on second boundaries.
    pub fn step(&mut self, dt_ms: i64) {
        let end = self.now_ms + dt_ms.max(0);
        while self.now_ms < end {
            let next_sample = self.last_sample_ms + 1000;
            let slice_end = end.min(next_sample);
            let slice = slice_end - self.now_ms;
            self.advance(slice);
            self.now_ms = slice_end;
            if self.now_ms == next_sample {
                self.last_sample_ms = next_sample;
                self.on_second();
            }
        }
        self.generation += 1;
    }

    /// Per-second bookkeeping: TPS samples, per-minute rates, day rollover.
    fn on_second(&mut self) {
        let now = self.now_ms;
        let day = 86_400_000;
        let crossed_midnight = now % day == 0;
        for b in self.brokers.iter_mut() {
            for n in b.nodes.iter_mut() {
                n.sample(now);
                if crossed_midnight {
                    n.msg_put_yesterday_morning = n.msg_put_today_morning;
                    n.msg_put_today_morning = n.put_total as i64;
                    n.msg_get_yesterday_morning = n.msg_get_today_morning;
                    n.msg_get_today_morning = n.transferred_total as i64;
                }
            }
        }
    }

    /// Moves traffic forward by `dt_ms` (≤ 1 s).
    fn advance(&mut self, dt_ms: i64) {
        if dt_ms <= 0 {
            return;
        }
        let dt = dt_ms as f64 / 1000.0;
        let now_end = self.now_ms + dt_ms;
        let avg = self.cfg.avg_msg_size.max(1) as f64;
        let lag_secs = self.cfg.consume_lag_secs.max(0.0);
        // Producers follow routes: the topic rate is shared by the writable masters of a cluster.
        let mut writable: HashMap<String, usize> = HashMap::new();
        for b in &self.brokers {
            if b.master().permission & PERM_WRITE != 0 {
                *writable.entry(b.cluster.clone()).or_default() += 1;
            }
        }
        let produce = self.produce_tps_per_topic;
        for b in self.brokers.iter_mut() {
            let share = match writable.get(&b.cluster) {
                Some(&n) if n > 0 && b.master().permission & PERM_WRITE != 0 => produce / n as f64,
                _ => 0.0,
            };
            let jitter = self.rng.range(0.95, 1.05);
            let mut put = 0.0;
            let stale = if b.master().permission & PERM_WRITE == 0 { b.stale_producer_tps } else { 0.0 };
            let mut first_user = true;
            // User topics.
            for t in b.topics.iter_mut().filter(|t| t.kind == TopicKind::User) {
                let mut rate = share * jitter;
                if first_user {
                    rate += stale;
                    first_user = false;
                }
                let nq = t.queues.len().max(1) as f64;
                let mut topic_put = 0.0;
                for q in t.queues.iter_mut() {
                    q.rate = rate / nq;
                    topic_put += write(q, q.rate * dt, now_end);
                }
                put += topic_put;
                t.put_tps = rate;
            }
            // Retry trickle: consumer send-back keeps going regardless of permission.
            let retry_rate = if b.retry_tps > 0.0 { (b.retry_tps + self.rng.range(-3.0, 3.0)).max(0.0) } else { 0.0 };
            let retry_topics: Vec<usize> =
                b.topics.iter().enumerate().filter(|(_, t)| t.kind == TopicKind::Retry).map(|(i, _)| i).collect();
            if !retry_topics.is_empty() {
                b.retry_frac += retry_rate * dt;
                let whole = b.retry_frac.floor();
                b.retry_frac -= whole;
                let whole = whole as i64;
                let per = whole / retry_topics.len() as i64;
                let extra = (whole % retry_topics.len() as i64) as usize;
                let off = (self.rng.next_u64() as usize) % retry_topics.len();
                for (k, &ti) in retry_topics.iter().enumerate() {
                    let n = per + i64::from((k + retry_topics.len() - off) % retry_topics.len() < extra);
                    let q = &mut b.topics[ti].queues[0];
                    q.rate = retry_rate / retry_topics.len() as f64;
                    if n > 0 {
                        q.max_offset += n;
                        q.last_store_ms = now_end;
                    }
                    b.topics[ti].put_tps = q.rate;
                }
                put += whole as f64;
            }
            // Delayed messages: scheduled while writable, delivered when due.
            if b.master().permission & PERM_WRITE != 0 && b.delayed_tps > 0.0 {
                b.delayed_frac += b.delayed_tps * dt;
                let whole = b.delayed_frac.floor();
                b.delayed_frac -= whole;
                if whole > 0.0 {
                    // 4.x producers use delay level 3 (10 s); 5.x ones a 10 s delay time.
                    let level = 3;
                    let timer = b.flavor == Flavor::Java53;
                    if !timer {
                        b.schedule_offsets[level - 1].1 += whole as i64;
                    }
                    b.delayed.push(DelayedBatch {
                        due_ms: now_end + DELAY_LEVEL_SECS[level - 1] * 1000,
                        level,
                        timer,
                        count: whole as i64,
                        topic: 0,
                    });
                    put += whole;
                }
            }
            let mut delivered = 0i64;
            let mut i = 0;
            while i < b.delayed.len() {
                if b.delayed[i].due_ms <= now_end {
                    let d = b.delayed.swap_remove(i);
                    if !d.timer {
                        b.schedule_offsets[d.level - 1].0 += d.count;
                    }
                    if let Some(t) = b.topics.get_mut(d.topic) {
                        if let Some(q) = t.queues.first_mut() {
                            q.max_offset += d.count;
                            q.last_store_ms = now_end;
                        }
                    }
                    delivered += d.count;
                } else {
                    i += 1;
                }
            }
            put += delivered as f64;
            // Consumers.
            let mut transferred = 0.0;
            let mut pulls = 0.0;
            let mut idle = 0.0;
            for s in b.subs.iter_mut() {
                let t = &b.topics[s.topic];
                let dead = b.groups[s.group].dead;
                let lag = if t.kind == TopicKind::Retry { 0.0 } else { lag_secs };
                let mut consumed = 0i64;
                for (c, q) in s.queues.iter_mut().zip(&t.queues) {
                    if dead {
                        continue;
                    }
                    let target = q.max_offset - (q.rate * lag).floor() as i64;
                    let cap = ((q.rate * 1.5).max(20.0) * dt).ceil() as i64;
                    let adv = (target - c.offset).clamp(0, cap);
                    if adv > 0 {
                        c.offset += adv;
                        c.last_timestamp = q.store_time_before(c.offset, now_end);
                        consumed += adv;
                    } else {
                        idle += 1.0;
                    }
                    c.pull_offset = c.offset.max(c.pull_offset).min(q.max_offset);
                }
                transferred += consumed as f64;
                pulls += (consumed as f64 / 32.0).ceil();
                // A minute average smoothed from per-slice rates; NaN until the first step.
                let inst = consumed as f64 / dt;
                s.consume_tps = if s.consume_tps.is_nan() { inst } else { s.consume_tps + (inst - s.consume_tps) * (dt / 60.0).min(1.0) };
            }
            let m = b.master_mut();
            m.put_total += put;
            m.put_size_total += put * avg;
            m.commit_log_max_offset += (put * avg) as i64;
            m.transferred_total += transferred;
            m.get_found_total += pulls;
            m.get_miss_total += idle * dt * 0.2;
            m.send_queue_size = if put > 0.0 { (put / dt / 200.0) as i64 } else { 0 };
            m.pull_queue_size = if transferred > 0.0 { (transferred / dt / 500.0) as i64 } else { 0 };
            let master_max = m.commit_log_max_offset;
            // Slaves copy the commitlog at their replication speed.
            for n in b.nodes.iter_mut().skip(1) {
                let gap = master_max - n.commit_log_max_offset;
                let copy = (gap as f64).min(n.replication_bytes_per_s * dt).max(0.0) as i64;
                n.commit_log_max_offset += copy;
                n.replicated_bytes_per_s = copy as f64 / dt;
                n.put_total += copy as f64 / avg;
                n.put_size_total += copy as f64;
            }
        }
    }
}

/// Writes `n` (fractional, carried) messages to a queue; returns whole messages written.
fn write(q: &mut Queue, n: f64, now_ms: i64) -> f64 {
    q.frac += n;
    let whole = q.frac.floor();
    q.frac -= whole;
    if whole > 0.0 {
        q.max_offset += whole as i64;
        q.last_store_ms = now_ms;
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_suffixes() {
        assert_eq!(broker_suffix(0), "a");
        assert_eq!(broker_suffix(25), "z");
        assert_eq!(broker_suffix(26), "aa");
        assert_eq!(broker_suffix(27), "ab");
    }

    #[test]
    fn fresh_broker_has_empty_tps_slots_then_fills() {
        let mut st = ClusterState::new(SimConfig::runbook());
        assert_eq!(st.brokers[0].master().tps(TpsKind::Put), [None, None, None]);
        st.step(10_000);
        let t = st.brokers[0].master().tps(TpsKind::Put);
        assert!(t[0].is_some() && t[1].is_none() && t[2].is_none(), "{t:?}");
        st.step(50_000);
        assert!(st.brokers[0].master().tps(TpsKind::Put)[1].is_some());
    }

    #[test]
    fn read_only_broker_stops_user_writes_but_keeps_retry_trickle() {
        let mut st = ClusterState::new(SimConfig::runbook());
        st.step(20_000);
        let before = st.brokers[1].user_max_offset_sum();
        st.set_permission("broker-b", 4);
        st.step(20_000);
        let after = st.brokers[1].user_max_offset_sum();
        // Delayed messages scheduled before the drain are still delivered for up to 10 s.
        st.step(30_000);
        let settled = st.brokers[1].user_max_offset_sum();
        st.step(30_000);
        assert_eq!(st.brokers[1].user_max_offset_sum(), settled);
        assert!(after - before < 50, "writes continued: {}", after - before);
        let put = st.brokers[1].master().tps(TpsKind::Put)[0].unwrap();
        assert!((15.0..30.0).contains(&put), "put tps {put}");
        // Others absorbed the traffic.
        let a = st.brokers[0].master().tps(TpsKind::Put)[0].unwrap();
        assert!(a > 400.0, "broker-a put {a}");
    }

    #[test]
    fn backlog_drains_and_slave_catches_up_after_drain() {
        let mut st = ClusterState::new(SimConfig::runbook());
        st.step(30_000);
        let b = &st.brokers[1];
        assert!(b.group_diff("group-0-0", "TopicTest-0").unwrap() > 0);
        assert!(b.slave_lag(1).unwrap() > 0);
        st.set_permission("broker-b", 4);
        st.step(120_000);
        let b = &st.brokers[1];
        for g in 0..2 {
            for t in 0..4 {
                assert_eq!(b.group_diff(&group_name(t, g), &topic_name(t)), Some(0));
            }
        }
        assert_eq!(b.slave_lag(1), Some(0));
    }

    #[test]
    fn route_perm_masking_per_flavor() {
        let mut st = ClusterState::new(SimConfig::runbook());
        st.brokers[0].topics[0].perm = 7;
        st.brokers[1].topics[0].perm = 7;
        st.set_permission("broker-a", 4);
        st.set_permission("broker-b", 4);
        let a = &st.brokers[0];
        let b = &st.brokers[1];
        assert_eq!(a.route_perm(&a.topics[0]), 4); // 4.9 replaces
        assert_eq!(b.route_perm(&b.topics[0]), 4); // 5.x: 7 & 4
        st.set_permission("broker-a", 6);
        let a = &st.brokers[0];
        assert_eq!(a.route_perm(&a.topics[0]), 7);
    }
}

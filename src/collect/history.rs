//! A short history of snapshots, enough to look back over `--drain.window`.
//!
//! Only the latest snapshot is kept whole. Older ones serve one purpose, the `no_writes` check
//! (offsets then vs now), so they are thinned to what it reads: each master's identity and, per
//! user-topic queue, the highest broker offset. At a million queue rows that is the difference
//! between holding five full snapshots and holding one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::snapshot::{topic_kind, BrokerNode, QueueConsume, Snapshot, TopicKind};

pub struct History {
    window: Duration,
    items: VecDeque<Arc<Snapshot>>,
}

/// What `no_writes` needs of a past snapshot: masters, and one row per user-topic queue carrying
/// the queue's max offset (groups are irrelevant to whether the queue was written).
pub fn thin(s: &Snapshot) -> Snapshot {
    let brokers = s
        .brokers
        .iter()
        .filter(|b| b.is_master())
        .map(|b| BrokerNode {
            cluster: b.cluster.clone(),
            broker: b.broker.clone(),
            broker_id: b.broker_id,
            addr: b.addr.clone(),
            up: b.up,
            error: b.error.clone(),
            permission: b.permission,
            consume: b.consume.as_ref().map(|rows| {
                // Names stay shared with the rows they came from; one empty group for all.
                let no_group: Arc<str> = Arc::from("");
                let mut max: BTreeMap<(&str, i32), (i64, &Arc<str>)> = BTreeMap::new();
                for r in rows.iter().filter(|r| topic_kind(&r.topic) == TopicKind::User) {
                    let e = max.entry((r.topic.as_ref(), r.queue_id)).or_insert((i64::MIN, &r.topic));
                    e.0 = e.0.max(r.broker_offset);
                }
                max.into_iter()
                    .map(|((_, queue_id), (broker_offset, topic))| QueueConsume {
                        topic: topic.clone(),
                        group: no_group.clone(),
                        queue_id,
                        broker_offset,
                        consumer_offset: broker_offset,
                        last_timestamp_ms: None,
                    })
                    .collect()
            }),
            ..Default::default()
        })
        .collect();
    Snapshot {
        taken_at_ms: s.taken_at_ms,
        collect_duration_ms: s.collect_duration_ms,
        namesrvs: Vec::new(),
        brokers,
        routes: BTreeMap::new(),
        sidecar: s.sidecar,
    }
}

impl History {
    pub fn new(window: Duration) -> Self {
        History { window, items: VecDeque::new() }
    }

    /// Adds the newest snapshot, thins the one it replaces as "latest", and forgets what is no
    /// longer needed: everything older than the newest snapshot that is itself a window old.
    pub fn push(&mut self, s: Arc<Snapshot>) {
        if let Some(prev) = self.items.pop_back() {
            self.items.push_back(Arc::new(thin(&prev)));
        }
        let now = s.taken_at_ms;
        self.items.push_back(s);
        let window = self.window.as_millis() as i64;
        while self.items.len() > 2 && now - self.items[1].taken_at_ms >= window {
            self.items.pop_front();
        }
    }

    /// Oldest first.
    pub fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.items.iter().cloned().collect()
    }

    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.items.back().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::{evaluate, Check, DrainConfig};

    fn snap(t: i64) -> Arc<Snapshot> {
        Arc::new(Snapshot { taken_at_ms: t, ..Default::default() })
    }

    #[test]
    fn keeps_one_snapshot_at_least_a_window_old() {
        let mut h = History::new(Duration::from_secs(60));
        for t in (0..=300).step_by(15) {
            h.push(snap(t * 1000));
        }
        let s = h.snapshots();
        assert_eq!(s.last().unwrap().taken_at_ms, 300_000);
        // Oldest kept is exactly one window back, and nothing older.
        assert_eq!(s.first().unwrap().taken_at_ms, 240_000);
        assert_eq!(s.len(), 5);
    }

    fn row(topic: &str, group: &str, q: i32, off: i64) -> QueueConsume {
        QueueConsume { topic: topic.into(), group: group.into(), queue_id: q, broker_offset: off, consumer_offset: off, last_timestamp_ms: None }
    }

    fn cluster(t: i64, user_off: i64) -> Snapshot {
        let master = BrokerNode {
            cluster: "c".into(),
            broker: "b".into(),
            broker_id: 0,
            addr: "127.0.0.1:10911".into(),
            up: true,
            permission: Some(4),
            consume: Some(vec![
                row("T", "g1", 0, user_off),
                row("T", "g2", 0, user_off),
                row("%RETRY%g1", "g1", 0, t),
                row("SCHEDULE_TOPIC_XXXX", "g1", 0, t),
            ]),
            ..Default::default()
        };
        let slave = BrokerNode { broker_id: 1, addr: "127.0.0.1:10921".into(), ..master.clone() };
        Snapshot { taken_at_ms: t * 1000, brokers: vec![master, slave], ..Default::default() }
    }

    fn no_writes(h: &History) -> bool {
        let cfg = DrainConfig { window: Duration::from_secs(60), ..Default::default() };
        evaluate(&h.snapshots(), &cfg)[0].check(Check::NoWrites).unwrap().pass
    }

    #[test]
    fn thinned_history_gives_the_same_no_writes_verdict() {
        // Quiet user topic (retry keeps moving): passes, with thinned older snapshots.
        let mut h = History::new(Duration::from_secs(60));
        for t in (0..=90).step_by(15) {
            h.push(Arc::new(cluster(t, 100)));
        }
        assert!(no_writes(&h));
        // A user queue written during the window: fails, as with full snapshots.
        let mut h = History::new(Duration::from_secs(60));
        for t in (0..=90).step_by(15) {
            h.push(Arc::new(cluster(t, 100 + t)));
        }
        assert!(!no_writes(&h));
        // Older snapshots really are thinned: no slaves, one row per user queue.
        let s = h.snapshots();
        assert_eq!(s[0].brokers.len(), 1);
        assert_eq!(s[0].brokers[0].consume.as_ref().unwrap().len(), 1);
        assert_eq!(s.last().unwrap().brokers.len(), 2, "the latest stays whole");
    }
}

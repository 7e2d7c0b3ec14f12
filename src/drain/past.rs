//! What the drain verdict needs of earlier cycles: each master's user-topic queue offsets.
//!
//! Only `no_writes` looks back (offsets then vs now over `--drain.window`), so a past cycle is
//! kept as one `i64` per user-topic queue instead of a whole snapshot. At a million series a
//! snapshot is tens of MiB; this is about one MiB.

use crate::snapshot::{topic_kind, BrokerNode, QueueConsume, Snapshot, TopicKind};

/// One earlier cycle, reduced to what `no_writes` compares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PastCycle {
    pub taken_at_ms: i64,
    /// Masters only, in snapshot order.
    pub masters: Vec<MasterOffsets>,
}

impl PastCycle {
    pub fn of(s: &Snapshot) -> Self {
        PastCycle {
            taken_at_ms: s.taken_at_ms,
            masters: s
                .brokers
                .iter()
                .filter(|b| b.is_master())
                .map(MasterOffsets::of)
                .collect(),
        }
    }

    /// The master of `(cluster, broker)` in that cycle.
    pub fn master(&self, cluster: &str, broker: &str) -> Option<&MasterOffsets> {
        self.masters
            .iter()
            .find(|m| m.cluster == cluster && m.broker == broker)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterOffsets {
    pub cluster: String,
    pub broker: String,
    pub addr: String,
    /// None when the master's consume stats were unavailable in that cycle.
    pub queues: Option<QueueOffsets>,
}

impl MasterOffsets {
    pub fn of(b: &BrokerNode) -> Self {
        MasterOffsets {
            cluster: b.cluster.clone(),
            broker: b.broker.clone(),
            addr: b.addr.clone(),
            queues: QueueOffsets::of_node(b),
        }
    }
}

/// Highest broker offset per user-topic queue; the same queue appears once per consumer group in
/// consume stats, and any group's row tells the queue's end.
///
/// Four allocations per master, none shared with the snapshot it came from: a past cycle must
/// not keep pages of freed snapshots resident by pinning a few of their small allocations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueOffsets {
    /// Every topic name, concatenated.
    names: Box<str>,
    /// Sorted by topic name.
    topics: Box<[TopicEntry]>,
    /// Offsets of dense topics, indexed by queue id within each topic's range; `ABSENT` for gaps.
    dense: Box<[i64]>,
    /// (queue id, offset) of topics with odd queue ids, sorted by id within each topic's range.
    sparse: Box<[(i32, i64)]>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct TopicEntry {
    name: (u32, u32),
    dense: bool,
    start: u32,
    len: u32,
}

const ABSENT: i64 = i64::MIN;

fn user_rows(rows: &[QueueConsume]) -> impl Iterator<Item = (&str, i32, i64)> {
    rows.iter().filter(|r| topic_kind(&r.topic) == TopicKind::User).map(|r| (r.topic.as_ref(), r.queue_id, r.broker_offset))
}

impl QueueOffsets {
    /// User-topic queues of one master's consume-stats rows (retry, DLQ and system topics left out).
    pub fn of_rows(rows: &[QueueConsume]) -> Self {
        Self::build(user_rows(rows).collect())
    }

    /// Everything a master's snapshot says about user-topic queue ends: consume-stats rows plus,
    /// on a drained master, the topics they do not cover. None without consume stats.
    pub fn of_node(b: &BrokerNode) -> Option<Self> {
        let mut all: Vec<(&str, i32, i64)> = user_rows(b.consume.as_deref()?).collect();
        if let Some(extra) = &b.unwatched_queues {
            all.extend(extra.iter().filter(|q| topic_kind(&q.topic) == TopicKind::User).map(|q| (q.topic.as_ref(), q.queue_id, q.max_offset)));
        }
        Some(Self::build(all))
    }

    fn build(mut user: Vec<(&str, i32, i64)>) -> Self {
        // Highest offset first within a queue, so the first of each run is the one kept.
        user.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)).then(b.2.cmp(&a.2)));
        user.dedup_by(|b, a| a.0 == b.0 && a.1 == b.1);

        let mut names = String::new();
        let mut topics = Vec::new();
        let mut dense = Vec::new();
        let mut sparse = Vec::new();
        for run in user.chunk_by(|a, b| a.0 == b.0) {
            let topic = run[0].0;
            let name = (names.len() as u32, (names.len() + topic.len()) as u32);
            names.push_str(topic);
            // Queue ids are normally 0..n: 8 bytes a queue. Odd ids fall back to (id, offset) pairs.
            let max_id = run[run.len() - 1].1 as i64;
            if run[0].1 >= 0 && max_id < 2 * run.len() as i64 + 16 {
                let start = dense.len();
                dense.resize(start + max_id as usize + 1, ABSENT);
                for &(_, q, off) in run {
                    dense[start + q as usize] = off;
                }
                topics.push(TopicEntry {
                    name,
                    dense: true,
                    start: start as u32,
                    len: (max_id + 1) as u32,
                });
            } else {
                let start = sparse.len();
                sparse.extend(run.iter().map(|&(_, q, off)| (q, off)));
                topics.push(TopicEntry {
                    name,
                    dense: false,
                    start: start as u32,
                    len: run.len() as u32,
                });
            }
        }
        QueueOffsets {
            names: names.into_boxed_str(),
            topics: topics.into_boxed_slice(),
            dense: dense.into_boxed_slice(),
            sparse: sparse.into_boxed_slice(),
        }
    }

    fn name(&self, t: &TopicEntry) -> &str {
        &self.names[t.name.0 as usize..t.name.1 as usize]
    }

    fn range(t: &TopicEntry) -> std::ops::Range<usize> {
        t.start as usize..(t.start + t.len) as usize
    }

    pub fn get(&self, topic: &str, queue_id: i32) -> Option<i64> {
        let i = self
            .topics
            .binary_search_by(|t| self.name(t).cmp(topic))
            .ok()?;
        let t = &self.topics[i];
        if t.dense {
            let q = usize::try_from(queue_id).ok()?;
            self.dense[Self::range(t)]
                .get(q)
                .copied()
                .filter(|&o| o != ABSENT)
        } else {
            let qs = &self.sparse[Self::range(t)];
            qs.binary_search_by_key(&queue_id, |q| q.0)
                .ok()
                .map(|i| qs[i].1)
        }
    }

    /// (topic, queue id, offset), ordered by topic then queue id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.topics.iter().flat_map(move |t| {
            let name = self.name(t);
            let (d, s): (&[i64], &[(i32, i64)]) = if t.dense {
                (&self.dense[Self::range(t)], &[])
            } else {
                (&[], &self.sparse[Self::range(t)])
            };
            let dense = d
                .iter()
                .enumerate()
                .filter(|(_, &o)| o != ABSENT)
                .map(|(q, &o)| (q as i32, o));
            dense
                .chain(s.iter().copied())
                .map(move |(q, o)| (name, q, o))
        })
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(topic: &str, group: &str, q: i32, off: i64) -> QueueConsume {
        QueueConsume::test_row(topic, group, q, off, 0)
    }

    #[test]
    fn keeps_the_highest_offset_per_user_queue_only() {
        let rows = vec![
            row("T", "g1", 1, 10),
            row("T", "g2", 1, 12),
            row("T", "g1", 0, 7),
            row("A", "g1", 3, 5),
            row("%RETRY%g1", "g1", 0, 99),
            row("%DLQ%g1", "g1", 0, 99),
            row("SCHEDULE_TOPIC_XXXX", "g1", 2, 99),
        ];
        let q = QueueOffsets::of_rows(&rows);
        assert_eq!(
            q.iter().collect::<Vec<_>>(),
            vec![("A", 3, 5), ("T", 0, 7), ("T", 1, 12)]
        );
        assert_eq!(q.get("T", 1), Some(12));
        assert_eq!(
            q.get("A", 0),
            None,
            "gap in a dense topic is absent, not zero"
        );
        assert_eq!(q.get("A", -1), None);
        assert_eq!(q.get("%RETRY%g1", 0), None);
        assert_eq!(q.get("B", 0), None);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn odd_queue_ids_use_sparse_storage_with_the_same_answers() {
        let rows = vec![
            row("T", "g", 1_000_000, 4),
            row("T", "g", -2, 3),
            row("T", "g", 0, 1),
        ];
        let q = QueueOffsets::of_rows(&rows);
        assert!(!q.topics[0].dense);
        assert_eq!(
            q.iter().collect::<Vec<_>>(),
            vec![("T", -2, 3), ("T", 0, 1), ("T", 1_000_000, 4)]
        );
        assert_eq!(q.get("T", 1_000_000), Some(4));
        assert_eq!(q.get("T", -2), Some(3));
        assert_eq!(q.get("T", 5), None);
    }

    #[test]
    fn dense_and_sparse_topics_side_by_side_keep_their_own_ranges() {
        let rows = vec![
            row("C", "g", 1, 31),
            row("B", "g", 500, 2500),
            row("A", "g", 0, 10),
            row("B", "g", 7, 27),
            row("A", "g", 2, 12),
            row("C", "g", 0, 30),
        ];
        let q = QueueOffsets::of_rows(&rows);
        assert_eq!(
            q.iter().collect::<Vec<_>>(),
            vec![
                ("A", 0, 10),
                ("A", 2, 12),
                ("B", 7, 27),
                ("B", 500, 2500),
                ("C", 0, 30),
                ("C", 1, 31)
            ]
        );
        assert_eq!(
            (q.get("A", 2), q.get("A", 1), q.get("A", 3)),
            (Some(12), None, None)
        );
        assert_eq!((q.get("B", 500), q.get("B", 0)), (Some(2500), None));
        assert_eq!(
            (q.get("C", 0), q.get("C", 1), q.get("C", 2)),
            (Some(30), Some(31), None)
        );
    }

    #[test]
    fn a_zero_offset_is_kept_distinct_from_absent() {
        let q = QueueOffsets::of_rows(&[row("T", "g", 0, 0), row("T", "g", 2, 0)]);
        assert_eq!(q.get("T", 0), Some(0));
        assert_eq!(q.get("T", 1), None);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn past_cycle_keeps_masters_and_missing_stats() {
        let m = BrokerNode {
            cluster: "c".into(),
            broker: "b".into(),
            addr: "a:1".into(),
            consume: None,
            ..Default::default()
        };
        let s = BrokerNode {
            broker_id: 1,
            ..m.clone()
        };
        let p = PastCycle::of(&Snapshot {
            taken_at_ms: 7,
            brokers: vec![m, s],
            ..Default::default()
        });
        assert_eq!(p.taken_at_ms, 7);
        assert_eq!(p.masters.len(), 1);
        assert!(p.master("c", "b").unwrap().queues.is_none());
        assert!(p.master("c", "x").is_none());
    }
}

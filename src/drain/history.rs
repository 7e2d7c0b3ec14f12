//! A short history of cycles, enough to look back over `--drain.window`.
//!
//! The latest snapshot is kept whole; earlier cycles only as [`PastCycle`]s, the queue offsets
//! `no_writes` compares. A past cycle costs about 8 bytes per user-topic queue, so keeping a
//! window of them costs little even at a million series.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::past::PastCycle;
use crate::snapshot::Snapshot;

pub struct History {
    window: Duration,
    latest: Option<Arc<Snapshot>>,
    /// Oldest first, all older than `latest`.
    past: VecDeque<Arc<PastCycle>>,
}

impl History {
    pub fn new(window: Duration) -> Self {
        History {
            window,
            latest: None,
            past: VecDeque::new(),
        }
    }

    /// Makes `s` the latest snapshot, reduces the one it replaces to a past cycle, and forgets
    /// past cycles no longer needed: everything older than the newest one that is a window old.
    pub fn push(&mut self, s: Arc<Snapshot>) {
        if let Some(prev) = self.latest.take() {
            self.past.push_back(Arc::new(PastCycle::of(&prev)));
        }
        let now = s.taken_at_ms;
        self.latest = Some(s);
        let window = self.window.as_millis() as i64;
        while self.past.len() > 1 && now - self.past[1].taken_at_ms >= window {
            self.past.pop_front();
        }
    }

    /// Past cycles, oldest first (the latest snapshot is not among them).
    pub fn past(&self) -> Vec<Arc<PastCycle>> {
        self.past.iter().cloned().collect()
    }

    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::{evaluate, Check, DrainConfig};
    use crate::snapshot::{BrokerNode, QueueConsume};

    fn snap(t: i64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            taken_at_ms: t,
            ..Default::default()
        })
    }

    #[test]
    fn keeps_one_snapshot_at_least_a_window_old() {
        let mut h = History::new(Duration::from_secs(60));
        for t in (0..=300).step_by(15) {
            h.push(snap(t * 1000));
        }
        assert_eq!(h.latest().unwrap().taken_at_ms, 300_000);
        let p = h.past();
        // Oldest kept is exactly one window back, and nothing older.
        assert_eq!(p.first().unwrap().taken_at_ms, 240_000);
        assert_eq!(
            p.iter().map(|c| c.taken_at_ms / 1000).collect::<Vec<_>>(),
            vec![240, 255, 270, 285]
        );
    }

    fn row(topic: &str, group: &str, q: i32, off: i64) -> QueueConsume {
        QueueConsume::test_row(topic, group, q, off, off)
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
            unwatched_queues: Some(Vec::new()),
            ..Default::default()
        };
        let slave = BrokerNode {
            broker_id: 1,
            addr: "127.0.0.1:10921".into(),
            ..master.clone()
        };
        Snapshot {
            taken_at_ms: t * 1000,
            brokers: vec![master, slave],
            ..Default::default()
        }
    }

    fn no_writes(h: &History) -> bool {
        let cfg = DrainConfig {
            window: Duration::from_secs(60),
            ..Default::default()
        };
        evaluate(&h.latest().unwrap(), &h.past(), &cfg)[0]
            .check(Check::NoWrites)
            .unwrap()
            .pass
    }

    #[test]
    fn past_cycles_give_the_no_writes_verdict() {
        // Quiet user topic (retry keeps moving): passes.
        let mut h = History::new(Duration::from_secs(60));
        for t in (0..=90).step_by(15) {
            h.push(Arc::new(cluster(t, 100)));
        }
        assert!(no_writes(&h));
        // A user queue written during the window: fails.
        let mut h = History::new(Duration::from_secs(60));
        for t in (0..=90).step_by(15) {
            h.push(Arc::new(cluster(t, 100 + t)));
        }
        assert!(!no_writes(&h));
        // Past cycles hold masters only, one offset per user queue; the latest stays whole.
        let p = h.past();
        assert_eq!(p[0].masters.len(), 1);
        assert_eq!(
            p[0].masters[0]
                .queues
                .as_ref()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            vec![("T", 0, 130)]
        );
        assert_eq!(h.latest().unwrap().brokers.len(), 2);
    }
}

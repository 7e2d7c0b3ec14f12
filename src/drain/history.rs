//! A short history of cycles, enough to look back over `--drain.window`.
//!
//! The latest snapshot is kept whole; earlier cycles only as [`PastCycle`]s, the queue offsets
//! `no_writes` compares. A past cycle costs about 8 bytes per user-topic queue, so keeping a
//! window of them costs little even at a million series; and however long the window is
//! against the interval (`--drain.window 1h` at `--collect.interval 5s`), at most about
//! [`MAX_PAST`] of them are kept, spaced out across it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::past::PastCycle;
use crate::snapshot::Snapshot;

/// Past cycles kept across one window, give or take two. Beyond it they are thinned to at least
/// `window / MAX_PAST` apart: `no_writes` may then look back up to that much further than the
/// window, which makes it stricter, never laxer. At the defaults (60 s, 15 s) nothing is thinned.
pub const MAX_PAST: u32 = 32;

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
        let window = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        if let Some(prev) = self.latest.take() {
            // The newest past cycle is provisional: a newer one replaces it while it is closer
            // than the minimum gap to the one before, so every other pair stays that far apart.
            let min_gap = window / i64::from(MAX_PAST);
            let n = self.past.len();
            if n >= 2 && self.past[n - 1].taken_at_ms - self.past[n - 2].taken_at_ms < min_gap {
                self.past.pop_back();
            }
            self.past.push_back(Arc::new(PastCycle::of(&prev)));
        }
        let now = s.taken_at_ms;
        self.latest = Some(s);
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

    #[test]
    fn a_long_window_keeps_a_bounded_thinned_history() {
        // One hour at one cycle per second: 3,600 cycles a window.
        let window = Duration::from_secs(3600);
        let mut h = History::new(window);
        let mut most = 0;
        for t in 0..=3 * 3600 {
            h.push(snap(t * 1000));
            most = most.max(h.past().len());
        }
        assert!(most <= MAX_PAST as usize + 3, "kept up to {most} past cycles");
        let p = h.past();
        let now = 3 * 3600 * 1000;
        let min_gap = 3600 * 1000 / i64::from(MAX_PAST);
        // Still one cycle at least a window old, and not more than a gap and a cycle older.
        let age = now - p[0].taken_at_ms;
        assert!(age >= 3600 * 1000 && age <= 3600 * 1000 + min_gap + 1000, "oldest is {age} ms old");
        assert!(now - p[1].taken_at_ms < 3600 * 1000);
        // Spaced out, oldest first; only the newest pair may be closer.
        for w in p.windows(2).take(p.len().saturating_sub(2)) {
            assert!(w[1].taken_at_ms - w[0].taken_at_ms >= min_gap, "{} then {}", w[0].taken_at_ms, w[1].taken_at_ms);
        }
        assert_eq!(p.last().unwrap().taken_at_ms, now - 1000, "the previous cycle is always kept");
    }

    #[test]
    fn thinning_never_lets_a_write_through() {
        // A write at every cycle but one hour-long quiet stretch's end: with the history
        // thinned, no_writes must still see the write made 30 minutes ago.
        let cfg = DrainConfig { window: Duration::from_secs(3600), ..Default::default() };
        let mut h = History::new(cfg.window);
        for t in (0..=4 * 3600).step_by(5) {
            let off = if t < 3 * 3600 + 1800 { t } else { 3 * 3600 + 1800 };
            h.push(Arc::new(cluster(t, off)));
        }
        let v = evaluate(&h.latest().unwrap(), &h.past(), &cfg);
        assert!(!v[0].check(Check::NoWrites).unwrap().pass);
        // An hour and more after the last write it passes.
        for t in (4 * 3600 + 5..=5 * 3600 + 1800).step_by(5) {
            h.push(Arc::new(cluster(t, 3 * 3600 + 1800)));
        }
        let v = evaluate(&h.latest().unwrap(), &h.past(), &cfg);
        assert!(v[0].check(Check::NoWrites).unwrap().pass, "{:?}", v[0].check(Check::NoWrites));
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

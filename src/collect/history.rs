//! A short history of snapshots, enough to look back over `--drain.window`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::snapshot::Snapshot;

pub struct History {
    window: Duration,
    items: VecDeque<Arc<Snapshot>>,
}

impl History {
    pub fn new(window: Duration) -> Self {
        History { window, items: VecDeque::new() }
    }

    /// Adds the newest snapshot and forgets what is no longer needed: everything older than the
    /// newest snapshot that is itself at least one window old.
    pub fn push(&mut self, s: Arc<Snapshot>) {
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
}

//! Drain evaluation: is a drained master safe to take offline?
//!
//! A pure function of the recent snapshots and the `--drain.*` thresholds, so the same verdict
//! backs `/metrics`, the `status` table and the `drain` command, and every case is unit-testable
//! without a cluster. See DESIGN.md §4 for the checks.

pub mod checks;
pub mod config;

use std::sync::Arc;

pub use checks::{Check, CheckResult};
pub use config::DrainConfig;

use crate::snapshot::Snapshot;

/// The verdict for one master: ready only when every check passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub cluster: String,
    pub broker: String,
    pub broker_id: i64,
    pub addr: String,
    pub ready: bool,
    /// One result per [`Check::ALL`] entry, in that order.
    pub checks: Vec<CheckResult>,
}

impl Verdict {
    /// The result of one check.
    pub fn check(&self, check: Check) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == check)
    }
}

/// Evaluates every master (broker_id 0) of the latest snapshot.
///
/// `history` holds snapshots oldest first; the last one is "now". Older ones are only used by
/// `no_writes`, which needs a snapshot at least `cfg.window` older than the latest.
pub fn evaluate(history: &[Arc<Snapshot>], cfg: &DrainConfig) -> Vec<Verdict> {
    let Some(latest) = history.last() else {
        return Vec::new();
    };
    latest
        .brokers
        .iter()
        .filter(|b| b.is_master())
        .map(|master| {
            let results = vec![
                checks::write_disabled(master),
                checks::routes(latest, master),
                checks::no_writes(history, master, cfg),
                checks::backlog(master, cfg),
                checks::retry_backlog(master, cfg),
                checks::scheduled(master),
                checks::replication(latest, master),
                checks::flush(master),
            ];
            debug_assert!(results.iter().map(|r| r.check).eq(Check::ALL));
            Verdict {
                cluster: master.cluster.clone(),
                broker: master.broker.clone(),
                broker_id: master.broker_id,
                addr: master.addr.clone(),
                ready: results.iter().all(|r| r.pass),
                checks: results,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;

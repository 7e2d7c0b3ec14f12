//! Drain evaluation: is a drained master safe to take offline?
//!
//! A pure function of the recent snapshots and the `--drain.*` thresholds, so the same verdict
//! backs `/metrics`, the `status` table and the `drain` command, and every case is unit-testable
//! without a cluster. See DESIGN.md §4 for the checks.

pub mod checks;
pub mod config;
pub mod history;
pub mod past;

use std::sync::Arc;

pub use checks::{Check, CheckResult};
pub use config::DrainConfig;
pub use history::History;
pub use past::PastCycle;

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
/// `past` holds earlier cycles oldest first. Only `no_writes` reads them: it needs one at least
/// `cfg.window` older than `latest`.
pub fn evaluate(latest: &Snapshot, past: &[Arc<PastCycle>], cfg: &DrainConfig) -> Vec<Verdict> {
    latest
        .brokers
        .iter()
        .filter(|b| b.is_master())
        .map(|master| {
            let results = vec![
                checks::write_disabled(master),
                checks::routes(latest, master),
                checks::no_writes(latest, past, master, cfg),
                checks::backlog(master, cfg),
                checks::retry_backlog(master, cfg),
                checks::scheduled(master),
                checks::transactions(master),
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

/// [`evaluate`] over whole snapshots, oldest first (the last is "now"); none is an empty verdict.
pub fn evaluate_series(snapshots: &[Arc<Snapshot>], cfg: &DrainConfig) -> Vec<Verdict> {
    let Some((latest, earlier)) = snapshots.split_last() else {
        return Vec::new();
    };
    let past: Vec<Arc<PastCycle>> = earlier.iter().map(|s| Arc::new(PastCycle::of(s))).collect();
    evaluate(latest, &past, cfg)
}

#[cfg(test)]
mod tests;

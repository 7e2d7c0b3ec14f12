//! Timelines of operator actions and incidents, in simulated seconds since the cluster started.
//!
//! `Scenario::runbook()` replays the broker-drain runbook on broker-b: permission 4 at T1 (writes
//! move to the other brokers, a retry trickle of ~23 msg/s stays, backlog drains, the slave
//! catches up), permission 6 at T2. The unsafe variants drain at T1 too but leave something
//! behind that must keep the drain verdict at "not ready"; they never restore.

use super::model::{ClusterState, PERM_READ, PERM_WRITE};

/// One thing that happens at a point in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Like UPDATE_BROKER_CONFIG `brokerPermission=<perm>` on the master.
    SetPermission { broker: String, perm: i32 },
    /// Replication speed of one slave, bytes/s (0 = stalled).
    SetSlaveReplication { broker: String, broker_id: i64, bytes_per_s: f64 },
    /// Producers with a stale route keep writing `tps` msgs/s to the broker's first user topic.
    SetStaleProducer { broker: String, tps: f64 },
    /// `count` delayed messages at `level` (1..=18) scheduled on the broker now.
    AddDelayed { broker: String, count: i64, level: usize },
    /// A group on `topic` on every broker of the cluster, `backlog` behind, that never consumes.
    AddDeadGroup { group: String, topic: String, backlog: i64 },
    /// Cluster-wide produce rate per user topic.
    SetProduceTps { tps: f64 },
    /// `count` prepared (half) messages on `broker` whose producer never commits or rolls back:
    /// the half topic holds them and the transaction check group stays behind them.
    AddPendingTransactions { broker: String, count: i64 },
}

/// An action at `at_secs` simulated seconds after the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at_secs: f64,
    pub action: Action,
}

/// A named timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Sorted by time.
    pub events: Vec<Event>,
    /// When the drain starts, if any.
    pub t1_secs: Option<f64>,
    /// When permission is restored, if ever.
    pub t2_secs: Option<f64>,
}

/// Broker the runbook drains.
pub const RUNBOOK_BROKER: &str = "broker-b";
/// Default drain start (simulated seconds).
pub const RUNBOOK_T1_SECS: f64 = 120.0;
/// Default restore time (simulated seconds).
pub const RUNBOOK_T2_SECS: f64 = 1200.0;

fn perm(at: f64, p: i32) -> Event {
    Event { at_secs: at, action: Action::SetPermission { broker: RUNBOOK_BROKER.into(), perm: p } }
}

impl Scenario {
    /// Nothing happens; steady traffic.
    pub fn none() -> Self {
        Scenario { name: "steady".into(), events: Vec::new(), t1_secs: None, t2_secs: None }
    }

    /// The seed runbook with T1 = 120 s and T2 = 1200 s.
    pub fn runbook() -> Self {
        Self::runbook_at(RUNBOOK_T1_SECS, RUNBOOK_T2_SECS)
    }

    /// The runbook with custom drain and restore times.
    pub fn runbook_at(t1: f64, t2: f64) -> Self {
        Scenario {
            name: "runbook".into(),
            events: vec![perm(t1, PERM_READ), perm(t2, PERM_READ | PERM_WRITE)],
            t1_secs: Some(t1),
            t2_secs: Some(t2),
        }
        .sorted()
    }

    fn unsafe_base(name: &str, mut extra: Vec<Event>) -> Self {
        extra.push(perm(RUNBOOK_T1_SECS, PERM_READ));
        Scenario { name: name.into(), events: extra, t1_secs: Some(RUNBOOK_T1_SECS), t2_secs: None }.sorted()
    }

    /// broker-b's slave stalls before the drain and never catches up.
    pub fn slave_stays_behind() -> Self {
        Self::unsafe_base(
            "slave_stays_behind",
            vec![Event {
                at_secs: RUNBOOK_T1_SECS - 60.0,
                action: Action::SetSlaveReplication { broker: RUNBOOK_BROKER.into(), broker_id: 1, bytes_per_s: 0.0 },
            }],
        )
    }

    /// A producer with a stale route keeps writing to broker-b's user topic after the drain.
    pub fn stale_producer() -> Self {
        Self::unsafe_base(
            "stale_producer",
            vec![Event { at_secs: 0.0, action: Action::SetStaleProducer { broker: RUNBOOK_BROKER.into(), tps: 5.0 } }],
        )
    }

    /// Delayed messages (2 h level) pending on broker-b when it is drained.
    pub fn pending_delayed() -> Self {
        Self::unsafe_base(
            "pending_delayed",
            vec![Event {
                at_secs: RUNBOOK_T1_SECS - 30.0,
                action: Action::AddDelayed { broker: RUNBOOK_BROKER.into(), count: 250, level: 18 },
            }],
        )
    }

    /// A transactional producer prepared messages on broker-b and never resolved them.
    pub fn pending_transactions() -> Self {
        Self::unsafe_base(
            "pending_transactions",
            vec![Event {
                at_secs: RUNBOOK_T1_SECS - 30.0,
                action: Action::AddPendingTransactions { broker: RUNBOOK_BROKER.into(), count: 12 },
            }],
        )
    }

    /// A group with backlog that never consumes.
    pub fn dead_group() -> Self {
        Self::unsafe_base(
            "dead_group",
            vec![Event {
                at_secs: 0.0,
                action: Action::AddDeadGroup { group: "dead-group".into(), topic: "TopicTest-0".into(), backlog: 500 },
            }],
        )
    }

    /// Adds an event (kept sorted).
    pub fn with(mut self, at_secs: f64, action: Action) -> Self {
        self.events.push(Event { at_secs, action });
        self.sorted()
    }

    fn sorted(mut self) -> Self {
        self.events.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
        self
    }
}

/// Applies a scenario's events as simulated time passes.
#[derive(Debug, Clone)]
pub struct ScenarioRunner {
    pub scenario: Scenario,
    next: usize,
}

impl ScenarioRunner {
    pub fn new(scenario: Scenario) -> Self {
        ScenarioRunner { scenario, next: 0 }
    }

    /// Applies events due at the current time (used at start for t = 0 events).
    pub fn apply_due(&mut self, st: &mut ClusterState) {
        let elapsed = st.now_ms - st.start_ms;
        while let Some(ev) = self.scenario.events.get(self.next) {
            if (ev.at_secs * 1000.0).round() as i64 > elapsed {
                break;
            }
            let a = ev.action.clone();
            apply(st, &a);
            self.next += 1;
        }
    }

    /// Steps the model by `dt_ms`, stopping at each event time to apply it.
    pub fn step(&mut self, st: &mut ClusterState, dt_ms: i64) {
        let end = st.now_ms + dt_ms.max(0);
        self.apply_due(st);
        while let Some(ev) = self.scenario.events.get(self.next) {
            let at = st.start_ms + (ev.at_secs * 1000.0).round() as i64;
            if at > end {
                break;
            }
            if at > st.now_ms {
                st.step(at - st.now_ms);
            }
            self.apply_due(st);
        }
        if end > st.now_ms {
            st.step(end - st.now_ms);
        }
        self.apply_due(st);
    }
}

/// Performs one action on the state.
pub fn apply(st: &mut ClusterState, action: &Action) {
    let now = st.now_ms;
    match action {
        Action::SetPermission { broker, perm } => {
            if st.set_permission(broker, *perm) {
                st.log_event(format!("{broker}: brokerPermission={perm}"));
            }
        }
        Action::SetSlaveReplication { broker, broker_id, bytes_per_s } => {
            if let Some(n) = st.broker_mut(broker).and_then(|b| b.node_mut(*broker_id)) {
                n.replication_bytes_per_s = *bytes_per_s;
                st.log_event(format!("{broker}/{broker_id}: replication {bytes_per_s} B/s"));
            }
        }
        Action::SetStaleProducer { broker, tps } => {
            if let Some(b) = st.broker_mut(broker) {
                b.stale_producer_tps = *tps;
                st.log_event(format!("{broker}: stale producer {tps} msg/s"));
            }
        }
        Action::AddDelayed { broker, count, level } => {
            let level = (*level).clamp(1, 18);
            if let Some(b) = st.broker_mut(broker) {
                b.schedule_offsets[level - 1].1 += count;
                b.delayed.push(super::model::DelayedBatch {
                    due_ms: now + super::model::DELAY_LEVEL_SECS[level - 1] * 1000,
                    level,
                    timer: false,
                    count: *count,
                    topic: 0,
                });
                b.master_mut().put_total += *count as f64;
                st.log_event(format!("{broker}: {count} delayed messages at level {level}"));
            }
        }
        Action::AddDeadGroup { group, topic, backlog } => {
            for b in st.brokers.iter_mut() {
                b.add_group(group, topic, *backlog, true, now);
            }
            st.log_event(format!("dead group {group} on {topic}"));
        }
        Action::AddPendingTransactions { broker, count } => {
            if let Some(b) = st.broker_mut(broker) {
                b.add_half_messages(*count, now);
                st.log_event(format!("{broker}: {count} transactional half messages pending"));
            }
        }
        Action::SetProduceTps { tps } => {
            st.produce_tps_per_topic = *tps;
            st.log_event(format!("produce {tps} msg/s per topic"));
        }
    }
    st.generation += 1;
}

#[cfg(test)]
mod tests {
    use super::super::model::{SimConfig, TpsKind};
    use super::*;

    #[test]
    fn runbook_drains_and_restores_broker_b() {
        let mut st = ClusterState::new(SimConfig::runbook());
        let mut r = ScenarioRunner::new(Scenario::runbook_at(30.0, 200.0));
        r.step(&mut st, 29_000);
        assert_eq!(st.broker("broker-b").unwrap().master().permission, 6);
        r.step(&mut st, 2_000);
        assert_eq!(st.broker("broker-b").unwrap().master().permission, 4);
        assert_eq!(st.now_ms - st.start_ms, 31_000);
        r.step(&mut st, 100_000);
        let b = st.broker("broker-b").unwrap();
        let put = b.master().tps(TpsKind::Put)[0].unwrap();
        assert!((15.0..30.0).contains(&put), "{put}");
        assert_eq!(b.slave_lag(1), Some(0));
        r.step(&mut st, 100_000);
        let b = st.broker("broker-b").unwrap();
        assert_eq!(b.master().permission, 6);
        assert!(b.master().tps(TpsKind::Put)[0].unwrap() > 200.0);
        assert_eq!(st.events.len(), 2);
    }

    #[test]
    fn unsafe_variants_leave_something_behind() {
        let run = |s: Scenario| {
            let mut st = ClusterState::new(SimConfig::runbook());
            let mut r = ScenarioRunner::new(s);
            r.step(&mut st, 400_000);
            st
        };
        let st = run(Scenario::slave_stays_behind());
        assert!(st.broker("broker-b").unwrap().slave_lag(1).unwrap() > 0);
        let st = run(Scenario::pending_delayed());
        assert_eq!(st.broker("broker-b").unwrap().pending_delayed(), 250);
        let st = run(Scenario::pending_transactions());
        assert_eq!(st.broker("broker-b").unwrap().group_diff(super::super::model::TRANS_CHECK_GROUP, "RMQ_SYS_TRANS_HALF_TOPIC"), Some(12));
        let st = run(Scenario::dead_group());
        assert!(st.broker("broker-b").unwrap().group_diff("dead-group", "TopicTest-0").unwrap() >= 500 * 4);
        let st = run(Scenario::stale_producer());
        let b = st.broker("broker-b").unwrap();
        let before = b.user_max_offset_sum();
        let mut st2 = st;
        st2.step(10_000);
        assert!(st2.broker("broker-b").unwrap().user_max_offset_sum() > before);
    }
}

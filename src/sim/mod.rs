//! A simulated RocketMQ cluster that speaks the real remoting wire format with the Java
//! servers' exact body forms (fastjson quirks included), for tests, `demo` and the scale
//! benchmark.
//!
//! The real Rust peer (rocketmq-rust) writes standard JSON, so only this simulator exercises the
//! decoder against bare numeric keys, object map keys, NaN-as-null and empty TPS slots. It never
//! uses the project's decoder: the two are cross-checked against each other.
//!
//! - [`model`]: cluster state and simulated time
//! - [`bodies`]: state -> Java-form response bodies, via [`fastjson`]
//! - [`server`]: TCP listeners (one NameServer, one per broker node)
//! - [`scenario`]: timelines such as the broker-drain runbook
//! - [`fault`]: per-node misbehaviour
//!
//! ```ignore
//! let sim = SimCluster::start_with_scenario(SimConfig::runbook(), Scenario::runbook()).await?;
//! let ns = sim.namesrv_addr();                       // point the exporter here
//! sim.step(Duration::from_secs(180));                // past T1: broker-b has permission 4
//! sim.set_fault("broker-c", 0, Fault::NeverAnswer);  // make one node misbehave
//! let lag = sim.with_state(|s| s.broker("broker-b").unwrap().slave_lag(1));
//! sim.shutdown().await;
//! ```

pub mod bodies;
pub mod fastjson;
pub mod fault;
pub mod model;
pub mod scenario;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use fault::Fault;
pub use model::{ClusterState, Flavor, SimConfig};
pub use scenario::Scenario;

use scenario::ScenarioRunner;
use server::{Inner, Shared, Target};

/// A running simulated cluster. Dropping it without `shutdown` leaves the listeners running
/// until the runtime ends.
pub struct SimCluster {
    shared: Arc<Shared>,
    namesrv_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl SimCluster {
    /// Starts with steady traffic and no scenario; binds 127.0.0.1:0 for every process.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimCluster> {
        Self::start_with_scenario(cfg, Scenario::none()).await
    }

    /// Starts and replays `scenario` as simulated time advances (`step`/`spawn_realtime`).
    pub async fn start_with_scenario(cfg: SimConfig, scenario: Scenario) -> std::io::Result<SimCluster> {
        let mut state = ClusterState::new(cfg);
        let ns = TcpListener::bind("127.0.0.1:0").await?;
        let namesrv_addr = ns.local_addr()?;
        state.namesrv_addr = Some(namesrv_addr);
        let mut listeners = vec![(Target::NameServer, ns)];
        for (bi, b) in state.brokers.iter_mut().enumerate() {
            for (ni, n) in b.nodes.iter_mut().enumerate() {
                let l = TcpListener::bind("127.0.0.1:0").await?;
                n.addr = Some(l.local_addr()?);
                listeners.push((Target::Node { broker: bi, node: ni }, l));
            }
        }
        let mut runner = ScenarioRunner::new(scenario);
        runner.apply_due(&mut state);
        let shared = Arc::new(Shared::new(Inner::new(state, runner)));
        let tasks = listeners
            .into_iter()
            .map(|(t, l)| tokio::spawn(server::run_listener(shared.clone(), t, l)))
            .collect();
        Ok(SimCluster { shared, namesrv_addr, tasks })
    }

    pub fn namesrv_addr(&self) -> SocketAddr {
        self.namesrv_addr
    }

    /// Address of a broker node (`broker_id` 0 = master).
    pub fn node_addr(&self, broker: &str, broker_id: i64) -> Option<SocketAddr> {
        let inner = self.shared.read();
        inner.state.broker(broker)?.node(broker_id)?.addr
    }

    fn target(&self, broker: &str, broker_id: i64) -> Option<Target> {
        let inner = self.shared.read();
        let bi = inner.state.broker_index(broker)?;
        let ni = inner.state.brokers[bi].nodes.iter().position(|n| n.broker_id == broker_id)?;
        Some(Target::Node { broker: bi, node: ni })
    }

    /// Switches a node's fault; unknown nodes are ignored.
    pub fn set_fault(&self, broker: &str, broker_id: i64, fault: Fault) {
        if let Some(t) = self.target(broker, broker_id) {
            self.shared.set_fault(t, fault);
        }
    }

    /// Requests with `code` a broker node has received so far (0 for unknown nodes).
    pub fn requests_received(&self, broker: &str, broker_id: i64, code: i32) -> u64 {
        self.target(broker, broker_id).map_or(0, |t| self.shared.received(t, code))
    }

    /// The longest any node took from reading a request to writing its answer since the last
    /// call (which resets it). With `Fault::Latency(d)` this is `d` plus the sim's own delays.
    pub fn take_slowest_answer(&self) -> Duration {
        self.shared.take_slowest_answer()
    }

    /// When requests arrived and answers left since the last call (which resets it).
    pub fn take_timeline(&self) -> Option<server::Timeline> {
        self.shared.take_timeline()
    }

    /// Same fault on every broker node (e.g. `Latency` for the scale benchmark).
    pub fn set_fault_all_brokers(&self, fault: Fault) {
        let targets: Vec<Target> = {
            let inner = self.shared.read();
            inner
                .state
                .brokers
                .iter()
                .enumerate()
                .flat_map(|(bi, b)| (0..b.nodes.len()).map(move |ni| Target::Node { broker: bi, node: ni }))
                .collect()
        };
        for t in targets {
            self.shared.set_fault(t, fault);
        }
    }

    /// Every broker node as (cluster, broker name, broker id, address), in creation order.
    pub fn nodes(&self) -> Vec<(String, String, i64, SocketAddr)> {
        let inner = self.shared.read();
        inner
            .state
            .brokers
            .iter()
            .flat_map(|b| {
                b.nodes.iter().filter_map(move |n| Some((b.cluster.clone(), b.name.clone(), n.broker_id, n.addr?)))
            })
            .collect()
    }

    pub fn set_namesrv_fault(&self, fault: Fault) {
        self.shared.set_fault(Target::NameServer, fault);
    }

    /// Advances simulated time (and the scenario) by `dt`.
    pub fn step(&self, dt: Duration) {
        let mut inner = self.shared.lock();
        let Inner { state, runner, .. } = &mut *inner;
        runner.step(state, dt.as_millis() as i64);
    }

    /// Simulated clock, epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.shared.read().state.now_ms
    }

    /// Steps every 100 ms of real time by 100 ms × `speedup` of simulated time (for `demo`).
    pub fn spawn_realtime(&self, speedup: f64) -> JoinHandle<()> {
        let shared = self.shared.clone();
        let dt_ms = (100.0 * speedup.max(0.0)).round() as i64;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let mut inner = shared.lock();
                let Inner { state, runner, .. } = &mut *inner;
                runner.step(state, dt_ms);
            }
        })
    }

    /// Read or change the state directly; cached bodies are invalidated afterwards.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut ClusterState) -> R) -> R {
        let mut inner = self.shared.lock();
        let r = f(&mut inner.state);
        inner.state.generation += 1;
        r
    }

    /// The scenario being replayed.
    pub fn scenario(&self) -> Scenario {
        self.shared.read().runner.scenario.clone()
    }

    /// Stops every listener and open connection.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

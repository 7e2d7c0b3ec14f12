//! One collection cycle: discover -> fetch every broker concurrently -> snapshot.
//!
//! Each broker group is fetched in its own task, each node's batch of requests bounded by the
//! client's timeout, so a hung or garbage-speaking broker costs at most one timeout and only its own series.

pub mod body_memo;
pub mod discover;
pub mod fetch;
pub mod ha_memo;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::admin::Admin;
use crate::snapshot::{topic_kind, BrokerNode, RouteObservation, Snapshot, TopicKind};
use fetch::NodeTarget;

#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// NameServers (cluster mode).
    pub namesrvs: Vec<String>,
    /// Sidecar mode: only these broker addresses, no discovery.
    pub brokers: Vec<String>,
    /// Broker groups fetched at once.
    pub concurrency: usize,
}

/// What the collector remembers about nodes from one cycle to the next.
#[derive(Debug, Default)]
pub struct Memos {
    pub ha: ha_memo::HaMemo,
    pub config: body_memo::BodyMemo<crate::protocol::broker_config::BrokerConfig>,
    /// Per NameServer.
    pub cluster: body_memo::BodyMemo<crate::protocol::ClusterInfo>,
}

pub struct Collector {
    admin: Admin,
    cfg: CollectConfig,
    /// Sidecar mode: who each address said it is (from its config), for grouping next cycle.
    sidecar_identity: std::sync::Mutex<BTreeMap<String, (String, String, i64)>>,
    memos: Arc<Memos>,
    /// Cluster mode: the groups the last cycle's discovery named, fetched next cycle while
    /// discovery runs again.
    last_groups: std::sync::Mutex<Vec<Group>>,
}

/// One broker group's nodes (a master and its slaves), shared between a cycle's task and the
/// next cycle's early fetch.
type Group = Arc<[NodeTarget]>;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Collector {
    pub fn new(admin: Admin, cfg: CollectConfig) -> Self {
        Collector { admin, cfg, sidecar_identity: Default::default(), memos: Default::default(), last_groups: Default::default() }
    }

    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Runs one cycle and returns its snapshot. Never fails: failures are inside the snapshot.
    pub async fn collect(&self) -> Snapshot {
        let started = Instant::now();
        let taken_at_ms = now_ms();
        let sidecar = !self.cfg.brokers.is_empty();
        // NameServers are asked whenever configured: in sidecar mode only for their health and the
        // route check, since the brokers to fetch are the configured ones.
        //
        // The brokers to fetch are known before discovery answers: in sidecar mode from the
        // flags, in cluster mode (usually) from the last cycle. Their fetches start at once, and
        // discovery, which every fetch used to wait for, runs beside them. The snapshot still
        // holds exactly the groups this cycle's discovery names: a group it no longer names is
        // dropped (its fetch aborted), and a new or changed one is fetched when it appears.
        //
        // One task per group, not futures polled inside this one: decoding the answers is most
        // of a cycle's CPU, and only separate tasks spread it over the runtime's threads. A
        // semaphore keeps at most `--collect.concurrency` of them fetching.
        let permits = Arc::new(tokio::sync::Semaphore::new(self.cfg.concurrency.max(1)));
        let start = |targets: Group| {
            let (admin, memos, permits) = (self.admin.clone(), self.memos.clone(), permits.clone());
            // Boxed: a task stores its future inline and moves it whole several times while
            // spawning, polling and handing over the result; a group's fetch is a few KiB, a
            // box is a pointer, and there are 200 such tasks per cycle.
            AbortOnDrop(tokio::spawn(Box::pin(async move {
                let _permit = permits.acquire_owned().await;
                fetch::fetch_group(&admin, &targets, &memos).await
            })))
        };
        // Groups are shared (`Arc`), not copied: a cycle hands each to its task and keeps it for
        // the next cycle, 200 groups of four strings per node each time.
        let early_groups: Vec<Group> = if sidecar { self.sidecar_groups() } else { self.last_groups.lock().unwrap().clone() };
        let mut early: Vec<Option<(Group, AbortOnDrop<Vec<BrokerNode>>)>> =
            early_groups.iter().map(|g| Some((g.clone(), start(g.clone())))).collect();
        let discovery = discover::discover(&self.admin, &self.cfg.namesrvs, &self.memos.cluster).await;
        self.memos.cluster.end_cycle();
        let namesrvs = discovery.namesrvs;
        let groups: Vec<Vec<NodeTarget>> = if sidecar { Vec::new() } else { discovery.groups };
        // This cycle's groups, each matched to an early fetch of the same targets: discovery
        // lists them in a stable order, so the one at the same position is tried first and a
        // scan is needed only when the cluster changed.
        let mut take_early = |i: usize, g: &[NodeTarget]| -> Option<(Group, AbortOnDrop<Vec<BrokerNode>>)> {
            if early.get(i).and_then(Option::as_ref).is_some_and(|(e, _)| **e == *g) {
                return early[i].take();
            }
            early.iter_mut().find(|e| e.as_ref().is_some_and(|(e, _)| **e == *g)).and_then(Option::take)
        };
        let tasks: Vec<(Group, AbortOnDrop<Vec<BrokerNode>>)> = if sidecar {
            early.iter_mut().filter_map(Option::take).collect()
        } else {
            groups
                .into_iter()
                .enumerate()
                .map(|(i, g)| {
                    take_early(i, &g).unwrap_or_else(|| {
                        let g: Group = g.into();
                        let task = start(g.clone());
                        (g, task)
                    })
                })
                .collect()
        };
        if !sidecar {
            *self.last_groups.lock().unwrap() = tasks.iter().map(|(g, _)| g.clone()).collect();
        }
        // Groups discovery no longer names: their fetches are aborted here, unused.
        drop(early);
        let fetched: Vec<Vec<BrokerNode>> = futures::future::join_all(
            tasks.into_iter().map(|(g, task)| async move { task.join().await.unwrap_or_else(|e| failed_group(&g, &e)) }),
        )
        .await;
        self.memos.config.end_cycle();
        // Sized once: a flattening collect grows the vector by doubling, copying every node
        // (a few hundred bytes each) several times over.
        let mut brokers: Vec<BrokerNode> = Vec::with_capacity(fetched.iter().map(Vec::len).sum());
        for group in fetched {
            brokers.extend(group);
        }
        brokers.sort_by(|a, b| (&a.cluster, &a.broker, a.broker_id).cmp(&(&b.cluster, &b.broker, b.broker_id)));

        if sidecar {
            let mut known = self.sidecar_identity.lock().unwrap();
            for b in brokers.iter().filter(|b| !b.cluster.is_empty()) {
                known.insert(b.addr.clone(), (b.cluster.clone(), b.broker.clone(), b.broker_id));
            }
        }
        let routes = self.routes(&namesrvs, &brokers).await;
        Snapshot {
            taken_at_ms,
            collect_duration_ms: started.elapsed().as_millis() as u64,
            namesrvs,
            brokers,
            routes,
            sidecar,
        }
    }

    /// Sidecar mode: each address is one group; its identity comes from its own config inside
    /// the fetch (an empty cluster marks it unknown), so no extra request is spent on it.
    fn sidecar_groups(&self) -> Vec<Group> {
        // Nodes whose identity an earlier cycle learned are grouped by (cluster, broker), so a
        // master is fetched before its slaves (see fetch.rs on measuring replication lag).
        let known = self.sidecar_identity.lock().unwrap();
        let mut groups: BTreeMap<(String, String), Vec<NodeTarget>> = BTreeMap::new();
        let mut out = Vec::new();
        for addr in &self.cfg.brokers {
            match known.get(addr) {
                Some((cluster, broker, id)) => groups.entry((cluster.clone(), broker.clone())).or_default().push(NodeTarget {
                    cluster: cluster.clone(),
                    broker: broker.clone(),
                    broker_id: *id,
                    addr: addr.clone(),
                }),
                None => out.push(vec![NodeTarget { cluster: String::new(), broker: addr.clone(), broker_id: 0, addr: addr.clone() }].into()),
            }
        }
        out.extend(groups.into_values().map(Group::from));
        out
    }

    /// Route write bit per NameServer, probed only for masters that are read-only: that is
    /// where it decides a drain, and it keeps the cost independent of the number of topics.
    async fn routes(
        &self,
        namesrvs: &[crate::snapshot::NamesrvStatus],
        brokers: &[BrokerNode],
    ) -> BTreeMap<(String, String), Vec<RouteObservation>> {
        let mut out = BTreeMap::new();
        let candidates: Vec<&BrokerNode> =
            brokers.iter().filter(|b| b.is_master() && b.is_read_only()).collect();
        let admin = &self.admin;
        let jobs = candidates.iter().map(|b| async move {
            let mut topics = vec![b.broker.clone()];
            if let Some(rows) = &b.consume {
                if let Some(r) = rows.iter().find(|r| topic_kind(&r.topic) == TopicKind::User) {
                    topics.push(r.topic.to_string());
                }
            }
            let obs = futures::future::join_all(namesrvs.iter().map(|ns| probe_route(admin, &ns.addr, &b.broker, &topics))).await;
            ((b.cluster.clone(), b.broker.clone()), obs)
        });
        for (k, v) in futures::future::join_all(jobs).await {
            out.insert(k, v);
        }
        out
    }
}

/// A spawned group fetch that is cancelled with the cycle: a dropped `collect` (shutdown, a
/// caller's timeout) must not leave fetches running on their own.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The group's nodes marked down when its task died (a panic in decoding): the cycle goes on
/// and the failure shows up as that broker's error.
fn failed_group(targets: &[NodeTarget], e: &tokio::task::JoinError) -> Vec<BrokerNode> {
    targets
        .iter()
        .map(|t| BrokerNode {
            cluster: t.cluster.clone(),
            broker: t.broker.clone(),
            broker_id: t.broker_id,
            addr: t.addr.clone(),
            up: false,
            error: Some(format!("collection task failed: {e}")),
            ..Default::default()
        })
        .collect()
}

async fn probe_route(admin: &Admin, namesrv: &str, broker: &str, topics: &[String]) -> RouteObservation {
    let mut last_err = None;
    for topic in topics {
        match admin.route(namesrv, topic).await {
            Ok(route) => {
                let perms: Vec<i32> = route.queue_datas.iter().filter(|q| q.broker_name == broker).map(|q| q.perm).collect();
                if perms.is_empty() {
                    last_err = Some(format!("route of {topic} has no queues on {broker}"));
                    continue;
                }
                return RouteObservation {
                    namesrv: namesrv.to_string(),
                    writable: Some(perms.iter().any(|p| p & 2 != 0)),
                    topic: Some(topic.clone()),
                    error: None,
                };
            }
            Err(e) => last_err = Some(e.to_string()),
        }
    }
    RouteObservation { namesrv: namesrv.to_string(), writable: None, topic: None, error: last_err }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::{ClientOptions, RemotingClient};
    use crate::sim::{Flavor, SimCluster, SimConfig};

    fn collector(sim: &SimCluster) -> Collector {
        let client = RemotingClient::new(ClientOptions::default()).unwrap();
        let cfg = CollectConfig {
            namesrvs: vec![sim.namesrv_addr().to_string()],
            brokers: Vec::new(),
            concurrency: 8,
        };
        Collector::new(Admin::new(client), cfg)
    }

    /// The last cycle's brokers are fetched while discovery runs, but the snapshot holds what
    /// this cycle's discovery names: a renamed broker shows under its new name only, once.
    #[tokio::test]
    async fn early_fetches_follow_this_cycles_discovery() {
        use crate::remoting::codes::request::GET_BROKER_RUNTIME_INFO;
        let sim = SimCluster::start(SimConfig::default()).await.unwrap();
        let c = collector(&sim);
        let names = |s: &Snapshot| s.brokers.iter().map(|b| (b.broker.clone(), b.broker_id)).collect::<Vec<_>>();
        let first = c.collect().await;
        assert!(first.brokers.iter().all(|b| b.up));
        let before = names(&first);
        let second = c.collect().await;
        assert_eq!(names(&second), before, "same cluster, same snapshot");
        assert_eq!(sim.requests_received("broker-a", 0, GET_BROKER_RUNTIME_INFO), 2, "one fetch per cycle, early or not");

        // broker-a registers under a new name: the early fetch of "broker-a" is not used.
        sim.with_state(|s| s.brokers.iter_mut().find(|b| b.name == "broker-a").unwrap().name = "broker-z".into());
        let third = c.collect().await;
        let got = names(&third);
        assert!(!got.iter().any(|(b, _)| b == "broker-a"), "{got:?}");
        let z: Vec<_> = third.brokers.iter().filter(|b| b.broker == "broker-z").collect();
        assert_eq!(z.len(), before.iter().filter(|(b, _)| b == "broker-a").count(), "{got:?}");
        assert!(z.iter().all(|b| b.up), "{:?}", z.iter().map(|b| &b.error).collect::<Vec<_>>());
        assert_eq!(got.len(), before.len());
        // The next cycle fetches it early under the new name.
        assert_eq!(names(&c.collect().await), got);
    }

    /// The config memo skips decoding unchanged answers only: a permission change shows in the
    /// very next cycle, and the memo holds one entry per node that answered.
    #[tokio::test]
    async fn config_changes_show_in_the_next_cycle_despite_the_memo() {
        let sim = SimCluster::start(SimConfig::default()).await.unwrap();
        let c = collector(&sim);
        let a_addr = sim.node_addr("broker-a", 0).unwrap().to_string();
        let perm = |s: &Snapshot| s.brokers.iter().find(|b| b.addr == a_addr).unwrap().permission;
        let first = c.collect().await;
        assert_eq!(perm(&first), Some(6));
        assert_eq!(c.memos.config.len(), first.brokers.len());
        assert_eq!(c.memos.cluster.len(), 1, "one NameServer");
        assert_eq!(perm(&c.collect().await), Some(6));
        c.admin().update_broker_config(&a_addr, &[("brokerPermission", "4")], std::time::Duration::from_secs(5)).await.unwrap();
        assert_eq!(perm(&c.collect().await), Some(4));
        assert_eq!(perm(&c.collect().await), Some(4));
        c.admin().update_broker_config(&a_addr, &[("brokerPermission", "6")], std::time::Duration::from_secs(5)).await.unwrap();
        assert_eq!(perm(&c.collect().await), Some(6));

        // A node that stops answering is dropped from the memo with the cycle.
        sim.set_fault("broker-a", 0, crate::sim::Fault::Garbage);
        let s = c.collect().await;
        assert!(!s.brokers.iter().find(|b| b.addr == a_addr).unwrap().up);
        assert_eq!(c.memos.config.len(), s.brokers.iter().filter(|b| b.up).count());
    }

    #[tokio::test]
    async fn ha_status_is_asked_once_of_a_4x_master_and_again_after_an_upgrade() {
        let sim = SimCluster::start(SimConfig::default()).await.unwrap();
        let c = collector(&sim);
        let ha = |b: &str| {
            sim.requests_received(b, 0, crate::remoting::codes::request::GET_BROKER_HA_STATUS)
        };
        for _ in 0..3 {
            let s = c.collect().await;
            assert!(
                s.brokers.iter().all(|b| b.up),
                "{:?}",
                s.brokers.iter().map(|b| &b.error).collect::<Vec<_>>()
            );
            // The 5.x master's HA view is there every cycle.
            let b = s
                .brokers
                .iter()
                .find(|b| b.broker == "broker-b" && b.is_master())
                .unwrap();
            assert!(b.ha_connections.is_some());
        }
        assert_eq!(
            ha("broker-a"),
            1,
            "4.9 refused once; not asked again at the same version"
        );
        assert_eq!(ha("broker-b"), 3, "5.x asked every cycle");
        assert_eq!(
            sim.requests_received(
                "broker-a",
                0,
                crate::remoting::codes::request::GET_BROKER_RUNTIME_INFO
            ),
            3
        );

        // Upgraded in place: the cycle that sees the new version forgets the refusal, the next asks.
        sim.with_state(|s| {
            s.brokers
                .iter_mut()
                .find(|b| b.name == "broker-a")
                .unwrap()
                .flavor = Flavor::Java53
        });
        c.collect().await;
        assert_eq!(ha("broker-a"), 1);
        let s = c.collect().await;
        assert_eq!(ha("broker-a"), 2);
        let a = s
            .brokers
            .iter()
            .find(|b| b.broker == "broker-a" && b.is_master())
            .unwrap();
        assert!(a.ha_connections.is_some(), "5.x answers once asked");
    }

    #[tokio::test]
    async fn a_drained_4x_master_that_never_held_delayed_messages_is_proven_by_its_schedule_topic() {
        use crate::drain::{evaluate, Check, DrainConfig};
        use crate::remoting::codes::request::GET_TOPIC_STATS_INFO;
        let sim = SimCluster::start(SimConfig::default()).await.unwrap();
        sim.with_state(|s| {
            let b = s.brokers.iter_mut().find(|b| b.name == "broker-a").unwrap();
            b.schedule_offsets = vec![(0, 0); 18];
            b.delayed_tps = 0.0;
            b.delayed.clear();
        });
        let c = collector(&sim);
        let a_addr = sim.node_addr("broker-a", 0).unwrap().to_string();
        let scheduled = |s: &Snapshot| {
            let v = evaluate(s, &[], &DrainConfig::default());
            v.iter().find(|v| v.broker == "broker-a").unwrap().check(Check::Scheduled).unwrap().clone()
        };

        // Writable: no probe, and no delay levels means "unknown".
        let s = c.collect().await;
        assert_eq!(sim.requests_received("broker-a", 0, GET_TOPIC_STATS_INFO), 0);
        let a = s.brokers.iter().find(|b| b.addr == a_addr).unwrap();
        assert_eq!(a.runtime.as_ref().unwrap().scheduled_pending(), None);
        assert!(!scheduled(&s).pass);

        // Drained: the schedule topic is asked, found empty, and the check passes on that evidence.
        c.admin().update_broker_config(&a_addr, &[("brokerPermission", "4")], std::time::Duration::from_secs(5)).await.unwrap();
        let s = c.collect().await;
        // Two topic stats: the schedule topic, and the transactional half topic (no transaction
        // check progress in the sim's consume stats), which is empty in the sim.
        assert_eq!(sim.requests_received("broker-a", 0, GET_TOPIC_STATS_INFO), 2);
        assert_eq!(sim.requests_received("broker-b", 0, GET_TOPIC_STATS_INFO), 0, "not a drain candidate");
        let a = s.brokers.iter().find(|b| b.addr == a_addr).unwrap();
        assert_eq!((a.schedule_levels_stored.clone(), a.trans_half_empty), (Some(Vec::new()), Some(true)));
        let r = scheduled(&s);
        assert!(r.pass, "{}", r.reason);
        assert!(r.reason.contains("SCHEDULE_TOPIC_XXXX empty"), "{}", r.reason);

        // A delayed message stored since: the level shows in the runtime info and blocks again.
        sim.with_state(|s| s.brokers.iter_mut().find(|b| b.name == "broker-a").unwrap().schedule_offsets[2] = (0, 4));
        let s = c.collect().await;
        let r = scheduled(&s);
        assert!(!r.pass && r.reason.contains("4 delayed"), "{}", r.reason);

        // Delivered; then messages at a level whose delivery task has not run yet: the topic
        // stores them, the runtime info lists only level 3 (at zero pending).
        sim.with_state(|s| {
            let b = s.brokers.iter_mut().find(|b| b.name == "broker-a").unwrap();
            b.schedule_offsets[2] = (4, 4);
            b.schedule_offsets[6] = (0, 9);
            b.schedule_unlisted = vec![7];
        });
        let s = c.collect().await;
        let a = s.brokers.iter().find(|b| b.addr == a_addr).unwrap();
        assert_eq!(a.runtime.as_ref().unwrap().scheduled_pending(), Some(0), "the listed figures alone read as idle");
        let stored = |level, messages| crate::snapshot::StoredLevel { level, messages };
        assert_eq!(a.schedule_levels_stored, Some(vec![stored(3, 4), stored(7, 9)]));
        assert_eq!(a.scheduled_pending(), Some(9), "the unlisted level's messages are counted");
        let r = scheduled(&s);
        assert!(!r.pass && r.reason.contains("holds 9 messages at delay level 7 "), "{}", r.reason);
        // Once the level's task records progress, its figures take over, with the same count.
        sim.with_state(|s| s.brokers.iter_mut().find(|b| b.name == "broker-a").unwrap().schedule_unlisted.clear());
        let s = c.collect().await;
        let a = s.brokers.iter().find(|b| b.addr == a_addr).unwrap();
        assert_eq!((a.runtime.as_ref().unwrap().scheduled_pending(), a.scheduled_pending()), (Some(9), Some(9)));
        let r = scheduled(&s);
        assert!(!r.pass && r.reason.contains("9 delayed"), "{}", r.reason);
    }

    #[tokio::test]
    async fn a_stale_producer_writing_to_a_topic_nobody_consumes_keeps_the_drain_not_ready() {
        use crate::drain::{evaluate, Check, DrainConfig, History};
        use crate::sim::model::TopicKind as SimKind;
        let sim = SimCluster::start(SimConfig::default()).await.unwrap();
        // broker-a's first user topic loses its consumer group (so consume stats never list it),
        // and a producer with a stale route keeps writing to it after the drain.
        let orphan = sim.with_state(|s| {
            let b = s.brokers.iter_mut().find(|b| b.name == "broker-a").unwrap();
            let ti = b.topics.iter().position(|t| t.kind == SimKind::User).unwrap();
            b.subs.retain(|sub| sub.topic != ti);
            b.stale_producer_tps = 5.0;
            b.topics[ti].name.clone()
        });
        let c = collector(&sim);
        let a_addr = sim.node_addr("broker-a", 0).unwrap().to_string();
        c.admin().update_broker_config(&a_addr, &[("brokerPermission", "4")], std::time::Duration::from_secs(5)).await.unwrap();
        let cfg = DrainConfig { window: std::time::Duration::from_millis(1), ..Default::default() };
        let mut h = History::new(cfg.window);
        let no_writes = |h: &History| {
            let latest = h.latest().unwrap();
            let v = evaluate(&latest, &h.past(), &cfg);
            v.iter().find(|v| v.broker == "broker-a").unwrap().check(Check::NoWrites).unwrap().clone()
        };

        h.push(Arc::new(c.collect().await));
        let a = h.latest().unwrap().brokers.iter().find(|b| b.addr == a_addr).unwrap().clone();
        assert!(a.consume.as_ref().unwrap().iter().all(|r| *r.topic != *orphan), "consume stats do not list {orphan}");
        let watched = a.unwatched_queues.as_ref().expect("probed while read-only");
        assert!(watched.iter().any(|q| *q.topic == *orphan), "{watched:?}");
        sim.step(std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        h.push(Arc::new(c.collect().await));
        let r = no_writes(&h);
        assert!(!r.pass && r.reason.contains(&format!("{orphan}/")), "{}", r.reason);

        // The producer stops: quiet over a window, and the check passes.
        sim.with_state(|s| s.brokers.iter_mut().find(|b| b.name == "broker-a").unwrap().stale_producer_tps = 0.0);
        h.push(Arc::new(c.collect().await));
        sim.step(std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        h.push(Arc::new(c.collect().await));
        let r = no_writes(&h);
        assert!(r.pass, "{}", r.reason);
    }
}

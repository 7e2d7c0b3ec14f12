//! The real `rocketmq-exporter serve` binary against the simulated Java-style cluster: metric
//! values, permission changes, fault isolation and the drain verdict, read back from `/metrics`.

mod harness;

use std::time::{Duration, Instant};

use harness::{promtool_check_metrics, Exporter, Exposition};
use rocketmq_exporter::admin::Admin;
use rocketmq_exporter::remoting::{ClientOptions, RemotingClient};
use rocketmq_exporter::sim::scenario::Scenario;
use rocketmq_exporter::sim::{Fault, SimCluster, SimConfig};

struct Sim {
    rt: tokio::runtime::Runtime,
    cluster: SimCluster,
}

impl Sim {
    fn start(cfg: SimConfig, scenario: Scenario) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let cluster = rt.block_on(SimCluster::start_with_scenario(cfg, scenario)).unwrap();
        Sim { rt, cluster }
    }

    /// Advances simulated time in one-second steps, so TPS windows fill like on a real broker.
    fn advance(&self, secs: u64) {
        for _ in 0..secs {
            self.cluster.step(Duration::from_secs(1));
        }
    }

    fn ns(&self) -> String {
        self.cluster.namesrv_addr().to_string()
    }

    /// The runbook cluster with one node per fault of the brief's list ([`FAULTY`]); broker-b/1
    /// and broker-d stay healthy.
    fn with_faulty_brokers() -> Sim {
        let sim = Sim::start(SimConfig::runbook(), Scenario::none());
        sim.advance(15);
        for (b, id, fault) in FAULTY {
            sim.cluster.set_fault(b, id, fault);
        }
        sim
    }
}

/// A node that accepts and never answers, truncated JSON, garbage, a 2 GB length, a close
/// mid-frame.
const FAULTY: [(&str, i64, Fault); 5] = [
    ("broker-a", 0, Fault::NeverAnswer),
    ("broker-a", 1, Fault::TruncatedJson),
    ("broker-b", 0, Fault::Garbage),
    ("broker-c", 0, Fault::OversizedLength),
    ("broker-c", 1, Fault::CloseMidFrame),
];

fn broker(b: &str, id: &str) -> Vec<(&'static str, String)> {
    vec![("broker", b.to_string()), ("broker_id", id.to_string())]
}

fn one(e: &Exposition, name: &str, b: &str, id: &str) -> Option<f64> {
    let l = broker(b, id);
    let want: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
    e.one(name, &want)
}

#[test]
fn serve_exports_the_simulated_cluster() {
    let sim = Sim::start(SimConfig::runbook(), Scenario::none());
    sim.advance(30);
    let ex = Exporter::serve(&["--namesrv.addr", &sim.ns(), "--collect.interval", "1s", "--drain.window", "2s"]);
    ex.wait_ready(Duration::from_secs(30));
    let e = ex.scrape();

    let nodes = sim.cluster.nodes();
    assert_eq!(nodes.len(), 8, "runbook topology: 4 masters with one slave each");
    for (_, b, id, addr) in &nodes {
        let id = id.to_string();
        assert_eq!(one(&e, "rocketmq_broker_up", b, &id), Some(1.0), "{b}/{id} up; log:\n{}", ex.log_text());
        let addrs = e.values("rocketmq_broker_up", &[("broker", b), ("broker_id", &id), ("addr", &addr.to_string())]);
        assert_eq!(addrs, vec![1.0], "addr label of {b}/{id}");
    }
    for b in ["broker-a", "broker-b", "broker-c", "broker-d"] {
        assert_eq!(one(&e, "rocketmq_broker_permission", b, "0"), Some(6.0), "{b} permission");
        assert_eq!(one(&e, "rocketmq_broker_writable", b, "0"), Some(1.0));
        assert_eq!(one(&e, "rocketmq_broker_drain_ready", b, "0"), Some(0.0), "a writable broker is never drained");
        let put = one(&e, "rocketmq_broker_put_tps", b, "0").expect("put tps");
        assert!(put > 0.0, "{b} InTPS {put}");
    }
    // Flavors: broker-a is 4.9-style, broker-b 5.x-style (getTransferredTps), broker-c ROCKETMQ headers.
    assert_eq!(e.values("rocketmq_broker_info", &[("broker", "broker-a"), ("broker_id", "0"), ("version", "V4_9_8")]), vec![1.0]);
    assert_eq!(e.values("rocketmq_broker_info", &[("broker", "broker-b"), ("broker_id", "0"), ("version", "V5_3_3")]), vec![1.0]);
    assert!(one(&e, "rocketmq_broker_get_tps", "broker-b", "0").unwrap() > 0.0, "5.x OutTPS parsed");
    assert!(one(&e, "rocketmq_broker_get_tps", "broker-a", "0").unwrap() > 0.0, "4.x OutTPS parsed");

    // Consumer Diff matches the simulator's own books for one (group, topic).
    let (group, topic) = ("group-0-0", "TopicTest-0");
    let expected = sim.cluster.with_state(|st| st.broker("broker-c").unwrap().group_diff(group, topic)).unwrap();
    let got = e.one("rocketmq_consumer_group_diff", &[("broker", "broker-c"), ("group", group), ("topic", topic)]);
    // The exporter sampled a moment ago and the sim has not moved since: equal.
    assert_eq!(got, Some(expected as f64), "group diff of {group}/{topic} on broker-c");
    assert!(e.count("rocketmq_consumer_diff") > 0 && e.count("rocketmq_queue_max_offset") > 0);

    if let Some(out) = promtool_check_metrics(&e.raw) {
        assert!(out.trim().is_empty(), "promtool check metrics found problems:\n{out}");
    }
}

#[test]
fn permission_change_shows_in_metrics_and_routes() {
    let sim = Sim::start(SimConfig::runbook(), Scenario::none());
    sim.advance(15);
    let ex = Exporter::serve(&["--namesrv.addr", &sim.ns(), "--collect.interval", "500ms"]);
    ex.wait_ready(Duration::from_secs(30));
    let addr = sim.cluster.node_addr("broker-b", 0).unwrap().to_string();
    let admin = Admin::new(RemotingClient::new(ClientOptions::default()).unwrap());
    sim.rt.block_on(admin.update_broker_config(&addr, &[("brokerPermission", "4")], Duration::from_secs(5))).unwrap();
    let e = ex.scrape_until(Duration::from_secs(20), "permission 4 visible", |e| {
        one(e, "rocketmq_broker_permission", "broker-b", "0") == Some(4.0)
    });
    assert_eq!(one(&e, "rocketmq_broker_writable", "broker-b", "0"), Some(0.0));
    assert_eq!(one(&e, "rocketmq_broker_readable", "broker-b", "0"), Some(1.0));
    assert_eq!(one(&e, "rocketmq_broker_permission", "broker-a", "0"), Some(6.0), "other brokers untouched");
    let e = ex.scrape_until(Duration::from_secs(20), "route write bit observed", |e| {
        e.values("rocketmq_namesrv_route_writable", &[("broker", "broker-b")]) == vec![0.0]
    });
    assert_eq!(e.one("rocketmq_broker_drain_check", &[("broker", "broker-b"), ("check", "write_disabled")]), Some(1.0));
    assert_eq!(e.one("rocketmq_broker_drain_check", &[("broker", "broker-b"), ("check", "routes")]), Some(1.0));
}

#[test]
fn faulty_brokers_only_blank_themselves() {
    let sim = Sim::with_faulty_brokers();
    let c = &sim.cluster;
    // First NameServer in the list is dead: discovery must fail over to the second.
    let dead = harness::free_port();
    let ns = format!("127.0.0.1:{dead};{}", sim.ns());
    let ex = Exporter::serve(&["--namesrv.addr", &ns, "--collect.interval", "1s", "--collect.timeout", "1s"]);
    ex.wait_ready(Duration::from_secs(30));
    // Let a few cycles run, so reconnects after each failure are exercised too.
    std::thread::sleep(Duration::from_secs(3));
    let e = ex.scrape();
    for (b, id, _) in FAULTY {
        assert_eq!(one(&e, "rocketmq_broker_up", b, &id.to_string()), Some(0.0), "{b}/{id} must be down");
    }
    for (b, id) in [("broker-b", "1"), ("broker-d", "0"), ("broker-d", "1")] {
        assert_eq!(one(&e, "rocketmq_broker_up", b, id), Some(1.0), "{b}/{id} must be up");
    }
    assert!(one(&e, "rocketmq_broker_put_tps", "broker-d", "0").unwrap() > 0.0, "healthy broker keeps its values");
    assert_eq!(one(&e, "rocketmq_broker_put_tps", "broker-c", "0"), None, "no made-up values for a broken broker");
    assert_eq!(e.values("rocketmq_namesrv_up", &[("addr", &format!("127.0.0.1:{dead}"))]), vec![0.0]);
    assert_eq!(e.values("rocketmq_namesrv_up", &[("addr", &sim.ns())]), vec![1.0]);
    let cycle = e.values("rocketmq_exporter_collect_duration_seconds", &[])[0];
    assert!(cycle < 2.5, "a hung broker costs at most one timeout (1s); cycle took {cycle}s");
    let timeouts = e.values("rocketmq_exporter_requests_total", &[("outcome", "timeout")]).iter().sum::<f64>();
    let protocol = e.values("rocketmq_exporter_requests_total", &[("outcome", "protocol")]).iter().sum::<f64>();
    assert!(timeouts >= 1.0 && protocol >= 1.0, "timeouts {timeouts}, protocol errors {protocol}");
    assert_eq!(harness::http_get(ex.port, "/-/healthy").0, 200);
    // One line per failure, not one per cycle: the log does not flood.
    let log = ex.log_text();
    let lines = log.lines().filter(|l| l.contains("broker collection failed") && l.contains(&c.node_addr("broker-a", 0).unwrap().to_string())).count();
    assert_eq!(lines, 1, "repeated failures of one broker are logged once:\n{log}");

    // Faults cleared: everything recovers without a restart.
    c.set_fault_all_brokers(Fault::None);
    let started = Instant::now();
    ex.scrape_until(Duration::from_secs(20), "all brokers back up", |e| {
        e.values("rocketmq_broker_up", &[]).iter().all(|v| *v == 1.0) && e.count("rocketmq_broker_up") == 8
    });
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Runs a drain scenario with the simulator's clock driven from here (simulated seconds pass
/// 10x faster than real ones) and returns the last exposition.
fn drain_run(scenario: Scenario, extra: &[&str], until: impl Fn(&Exposition) -> bool, what: &str) -> Exposition {
    let sim = Sim::start(SimConfig::runbook(), scenario);
    sim.advance(60);
    let mut args = vec!["--namesrv.addr".to_string(), sim.ns(), "--collect.interval".into(), "500ms".into(), "--drain.window".into(), "3s".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let ex = Exporter::serve(&argv);
    ex.wait_ready(Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        sim.advance(2);
        let e = ex.scrape();
        if until(&e) {
            return e;
        }
        if Instant::now() > deadline {
            panic!("{what}: not reached; simulated {}s; last exposition:\n{}", (sim.cluster.now_ms() / 1000) % 100000, e.raw);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn check(e: &Exposition, b: &str, c: &str) -> Option<f64> {
    e.one("rocketmq_broker_drain_check", &[("broker", b), ("broker_id", "0"), ("check", c)])
}

#[test]
fn runbook_drain_becomes_ready_despite_retry_trickle() {
    let e = drain_run(
        Scenario::runbook(),
        &[],
        |e| one(e, "rocketmq_broker_drain_ready", "broker-b", "0") == Some(1.0),
        "broker-b drain ready",
    );
    // The retry trickle never stops: InTPS is not 0, yet the verdict is ready.
    let put = one(&e, "rocketmq_broker_put_tps", "broker-b", "0").unwrap();
    assert!(put > 0.0, "retry trickle keeps InTPS above 0 ({put})");
    for c in ["write_disabled", "routes", "no_writes", "backlog", "retry_backlog", "scheduled", "transactions", "replication", "flush"] {
        assert_eq!(check(&e, "broker-b", c), Some(1.0), "check {c}");
    }
    assert_eq!(one(&e, "rocketmq_broker_drain_ready", "broker-a", "0"), Some(0.0));
    assert_eq!(one(&e, "rocketmq_broker_replication_lag_bytes", "broker-b", "1"), Some(0.0));
}

/// Waits until broker-b is read-only and settled (several cycles after the drain started),
/// then asserts it is still not ready because of `failing`.
fn assert_unsafe(scenario: Scenario, failing: &str, extra: &[&str]) -> Exposition {
    let seen_readonly = std::cell::Cell::new(None::<Instant>);
    let e = drain_run(
        scenario,
        extra,
        |e| {
            if one(e, "rocketmq_broker_writable", "broker-b", "0") == Some(0.0) && check(e, "broker-b", "routes") == Some(1.0) {
                let t = seen_readonly.get().unwrap_or_else(Instant::now);
                seen_readonly.set(Some(t));
                t.elapsed() > Duration::from_secs(12)
            } else {
                false
            }
        },
        "broker-b read-only and settled",
    );
    assert_eq!(one(&e, "rocketmq_broker_drain_ready", "broker-b", "0"), Some(0.0), "must not be ready");
    assert_eq!(check(&e, "broker-b", failing), Some(0.0), "check {failing} must fail");
    e
}

#[test]
fn stale_producer_blocks_the_drain() {
    assert_unsafe(Scenario::stale_producer(), "no_writes", &[]);
}

#[test]
fn stalled_slave_blocks_the_drain() {
    let e = assert_unsafe(Scenario::slave_stays_behind(), "replication", &[]);
    assert!(one(&e, "rocketmq_broker_replication_lag_bytes", "broker-b", "1").unwrap() > 0.0);
}

#[test]
fn pending_transactional_half_messages_block_the_drain() {
    let e = assert_unsafe(Scenario::pending_transactions(), "transactions", &[]);
    // The other checks pass: only the open transactions hold the broker.
    for c in ["backlog", "retry_backlog", "scheduled", "replication", "flush"] {
        assert_eq!(check(&e, "broker-b", c), Some(1.0), "check {c}");
    }
}

#[test]
fn pending_delayed_messages_block_the_drain() {
    let e = assert_unsafe(Scenario::pending_delayed(), "scheduled", &[]);
    assert!(one(&e, "rocketmq_broker_scheduled_messages_pending", "broker-b", "0").unwrap() > 0.0);
}

#[test]
fn dead_group_blocks_the_drain_until_ignored() {
    assert_unsafe(Scenario::dead_group(), "backlog", &[]);
    let e = drain_run(
        Scenario::dead_group(),
        &["--drain.ignore-group", "^dead-group$"],
        |e| one(e, "rocketmq_broker_drain_ready", "broker-b", "0") == Some(1.0),
        "ready once the dead group is ignored",
    );
    // The ignored group's backlog is still reported.
    let dead: f64 = e.values("rocketmq_consumer_group_diff", &[("broker", "broker-b"), ("group", "dead-group")]).iter().sum();
    assert!(dead > 0.0);
}

/// The include/exclude filters shape the exposition, not the verdict: a group or topic left out
/// of the series still holds messages a stopped broker would lose. Only `--drain.ignore-group`
/// lets a backlog pass.
#[test]
fn filtered_out_groups_and_topics_still_block_the_drain() {
    for filter in [&["--group.exclude", "^dead-group$"][..], &["--group.include", "^group-"][..]] {
        let e = assert_unsafe(Scenario::dead_group(), "backlog", filter);
        assert!(e.values("rocketmq_consumer_group_diff", &[("group", "dead-group")]).is_empty(), "{filter:?}: the group's series are filtered out");
    }
    // The dead group's topic excluded instead.
    let topic = {
        let e = drain_run(Scenario::dead_group(), &[], |e| !e.values("rocketmq_consumer_group_diff", &[("broker", "broker-b"), ("group", "dead-group")]).is_empty(), "dead group listed");
        let line = e.raw.lines().find(|l| l.starts_with("rocketmq_consumer_group_diff{") && l.contains("group=\"dead-group\"") && l.contains("broker=\"broker-b\"")).unwrap().to_string();
        let from = line.find("topic=\"").unwrap() + 7;
        line[from..from + line[from..].find('"').unwrap()].to_string()
    };
    let exclude = format!("^{}$", regex::escape(&topic));
    let e = assert_unsafe(Scenario::dead_group(), "backlog", &["--topic.exclude", &exclude]);
    assert!(e.values("rocketmq_consumer_diff", &[("topic", &topic)]).is_empty(), "the topic's series are filtered out");
}

#[test]
fn sidecar_mode_exports_only_its_brokers_with_learned_identity() {
    let sim = Sim::start(SimConfig::runbook(), Scenario::none());
    sim.advance(15);
    let master = sim.cluster.node_addr("broker-a", 0).unwrap().to_string();
    let slave = sim.cluster.node_addr("broker-a", 1).unwrap().to_string();
    // Without --namesrv.addr: no NameServer is asked or reported.
    let ex = Exporter::serve(&["--broker.addr", &format!("{master},{slave}"), "--collect.interval", "500ms"]);
    ex.wait_ready(Duration::from_secs(30));
    // Identity comes from each broker's own config; the second cycle groups master and slave.
    let e = ex.scrape_until(Duration::from_secs(20), "slave lag measured", |e| {
        one(e, "rocketmq_broker_replication_lag_bytes", "broker-a", "1").is_some()
    });
    assert_eq!(e.count("rocketmq_broker_up"), 2, "only the two configured nodes:\n{}", e.raw);
    assert_eq!(e.values("rocketmq_broker_up", &[("cluster", "DefaultCluster"), ("broker", "broker-a"), ("broker_id", "0"), ("addr", &master)]), vec![1.0]);
    assert_eq!(e.values("rocketmq_broker_up", &[("broker", "broker-a"), ("broker_id", "1"), ("addr", &slave)]), vec![1.0]);
    assert_eq!(e.count("rocketmq_namesrv_up"), 0, "sidecar mode reports no NameServer it was not given");
    assert!(e.count("rocketmq_consumer_diff") > 0);
    // Writable broker: not ready; and without NameServers the route check cannot pass.
    assert_eq!(one(&e, "rocketmq_broker_drain_ready", "broker-a", "0"), Some(0.0));
    assert_eq!(e.one("rocketmq_broker_drain_check", &[("broker", "broker-a"), ("check", "routes")]), Some(0.0));

    // With --namesrv.addr the NameServer is asked too, but still only our broker is fetched.
    let ex = Exporter::serve(&["--broker.addr", &master, "--namesrv.addr", &sim.ns(), "--collect.interval", "500ms"]);
    ex.wait_ready(Duration::from_secs(30));
    let e = ex.scrape_until(Duration::from_secs(20), "namesrv reported", |e| e.count("rocketmq_namesrv_up") == 1);
    assert_eq!(e.values("rocketmq_namesrv_up", &[("addr", &sim.ns())]), vec![1.0]);
    assert_eq!(e.count("rocketmq_broker_up"), 1);
    // Its slave is not watched here, so replication cannot be judged: never a false "ready".
    assert_eq!(e.one("rocketmq_broker_drain_check", &[("broker", "broker-a"), ("check", "replication")]), Some(0.0));
}

/// A soft open-file limit of 64 with a hard one of 4,096, as systemd gives services (1,024 /
/// 524,288) scaled down: 80 brokers need more sockets than the soft limit, so every one of them
/// is up only if the exporter raised it.
#[cfg(unix)]
#[test]
fn more_brokers_than_the_soft_open_file_limit_are_all_collected() {
    use std::os::unix::process::CommandExt;
    let sim = Sim::start(SimConfig::scale(80, 16), Scenario::none());
    let ex = Exporter::serve_with(&["--namesrv.addr", &sim.ns(), "--collect.interval", "1s"], |cmd| {
        // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit { rlim_cur: 64, rlim_max: 4096 };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    ex.wait_ready(Duration::from_secs(30));
    let e = ex.scrape_until(Duration::from_secs(20), "80 brokers up", |e| e.values("rocketmq_broker_up", &[]).iter().filter(|v| **v == 1.0).count() == 80);
    assert_eq!(e.one("process_max_fds", &[]), Some(4096.0), "the soft limit was raised to the hard one");
    assert!(e.one("process_open_fds", &[]).unwrap() > 64.0, "more sockets open than the old soft limit");
}

/// A broker whose consume stats exceed Java's 16 MiB frame limit is down with a clear error at
/// the default, and collected in full once `--collect.max-frame-size` allows the frame.
#[test]
fn consume_stats_beyond_16_mib_need_and_get_a_larger_frame_limit() {
    // ~20 MB of offset table: 8,750 topics x 2 groups x 8 queues.
    let sim = Sim::start(SimConfig::scale(1, 140_000), Scenario::none());
    let ex = Exporter::serve(&["--namesrv.addr", &sim.ns(), "--collect.interval", "5s", "--collect.timeout", "30s"]);
    ex.wait_ready(Duration::from_secs(60));
    let e = ex.scrape();
    assert_eq!(e.one("rocketmq_broker_up", &[("broker_id", "0")]), Some(0.0), "{}", ex.log_text());
    assert!(ex.log_text().contains("--collect.max-frame-size"), "the error names the flag:\n{}", ex.log_text());
    drop(ex);
    let ex = Exporter::serve(&["--namesrv.addr", &sim.ns(), "--collect.interval", "5s", "--collect.timeout", "30s", "--collect.max-frame-size", "64MiB"]);
    ex.wait_ready(Duration::from_secs(60));
    let e = ex.scrape();
    assert_eq!(e.one("rocketmq_broker_up", &[("broker_id", "0")]), Some(1.0), "{}", ex.log_text());
    assert!(e.count("rocketmq_consumer_diff") >= 140_000, "every queue row exported: {}", e.count("rocketmq_consumer_diff"));
}

/// Every fault of `faulty_brokers_only_blank_themselves`, held for ~35 cycles: each cycle drops
/// and reopens the broken brokers' sockets, so a socket, task or buffer kept per failure would
/// show as open files or resident memory growing with the cycle count.
#[test]
fn faults_held_for_many_cycles_leak_no_sockets_or_memory() {
    let sim = Sim::with_faulty_brokers();
    let c = &sim.cluster;
    // The hung broker holds each cycle for the timeout: 2 cycles a second. 500 ms is short for
    // many cycles and long enough that a loaded CI machine does not time out healthy answers.
    let ex = Exporter::serve(&["--namesrv.addr", &sim.ns(), "--collect.interval", "250ms", "--collect.timeout", "500ms"]);
    ex.wait_ready(Duration::from_secs(30));
    // Past the first cycles, whose pools, buffers and allocator arenas are one-off growth.
    std::thread::sleep(Duration::from_secs(3));
    let sum = |e: &Exposition, outcome: &str| e.values("rocketmq_exporter_requests_total", &[("outcome", outcome)]).iter().sum::<f64>();
    let before = ex.scrape();
    std::thread::sleep(Duration::from_secs(15));
    let after = ex.scrape();

    let timeouts = sum(&after, "timeout") - sum(&before, "timeout");
    let protocol = sum(&after, "protocol") - sum(&before, "protocol");
    // ~30 cycles in 15 s, 4 requests to the hung master and 10 broken answers in each: 30 of
    // either proves the faults repeated, with room for a slow machine.
    assert!(timeouts >= 30.0 && protocol >= 30.0, "faults repeated: {timeouts} timeouts, {protocol} protocol errors in 15 s");
    let fds = (before.one("process_open_fds", &[]).unwrap(), after.one("process_open_fds", &[]).unwrap());
    assert!(fds.1 <= fds.0 + 2.0, "open files {} -> {} over {timeouts} timeouts and {protocol} protocol errors", fds.0, fds.1);
    let rss = (before.one("process_resident_memory_bytes", &[]).unwrap(), after.one("process_resident_memory_bytes", &[]).unwrap());
    assert!(rss.1 <= rss.0 + 16.0 * 1024.0 * 1024.0, "resident memory {} -> {} MiB", rss.0 / 1048576.0, rss.1 / 1048576.0);
    eprintln!(
        "15 s of faults: {timeouts} timeouts, {protocol} protocol errors; open files {} -> {}; RSS {:.1} -> {:.1} MiB",
        fds.0, fds.1, rss.0 / 1048576.0, rss.1 / 1048576.0
    );
    for (b, id) in [("broker-b", "1"), ("broker-d", "0"), ("broker-d", "1")] {
        assert_eq!(one(&after, "rocketmq_broker_up", b, id), Some(1.0), "{b}/{id} still up");
    }
    assert_eq!(harness::http_get(ex.port, "/-/healthy").0, 200);
    // ~35 cycles of the same failures: each broker's is logged when it starts, and again only if
    // its kind changes (a slow machine may turn an answer into a timeout once), not per cycle.
    let log = ex.log_text();
    for (b, id, _) in FAULTY {
        let addr = c.node_addr(b, id).unwrap().to_string();
        let lines = log.lines().filter(|l| l.contains("broker collection failed") && l.contains(&addr)).count();
        assert!((1..=3).contains(&lines), "{b}/{id} ({addr}) logged {lines} times:\n{log}");
    }
}

//! The binary's operator commands against the simulated cluster: exit codes, confirmation, and
//! that nothing mutates the cluster unless asked.

mod harness;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rocketmq_exporter::sim::scenario::Scenario;
use rocketmq_exporter::sim::{SimCluster, SimConfig};

fn run(args: &[&str]) -> Output {
    Command::new(harness::bin()).args(args).stdin(Stdio::null()).output().expect("run binary")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn sim(speedup: f64) -> (tokio::runtime::Runtime, SimCluster) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let c = rt.block_on(SimCluster::start_with_scenario(SimConfig::runbook(), Scenario::none())).unwrap();
    for _ in 0..30 {
        c.step(Duration::from_secs(1));
    }
    if speedup > 0.0 {
        let _g = rt.enter();
        c.spawn_realtime(speedup);
    }
    (rt, c)
}

fn permission(c: &SimCluster, broker: &str) -> i32 {
    c.with_state(|st| st.broker(broker).unwrap().master().permission)
}

#[test]
fn bad_flags_exit_2_with_a_clear_message() {
    let o = run(&["serve", "--namesrv.addr", "not-an-address"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not host:port"), "{}", text(&o));
    let o = run(&["serve", "--collect.interval", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["serve", "--web.listen-address", "nonsense"]);
    assert_eq!(o.status.code(), Some(2), "unusable listen address: {}", text(&o));
}

#[test]
fn status_exit_codes() {
    let (_rt, c) = sim(0.0);
    let ns = c.namesrv_addr().to_string();
    let o = run(&["status", "--namesrv.addr", &ns, "--broker", "nope", "--drain.window", "1s"]);
    assert_eq!(o.status.code(), Some(2), "unknown broker: {}", text(&o));
    assert!(text(&o).contains("broker-b"), "lists known brokers: {}", text(&o));
    let o = run(&["status", "--namesrv.addr", &ns, "--broker", "broker-b", "--drain.window", "1s"]);
    assert_eq!(o.status.code(), Some(1), "writable broker is not ready: {}", text(&o));
    assert!(text(&o).contains("NOT READY"), "{}", text(&o));
    let o = run(&["status", "--namesrv.addr", &ns, "--drain.window", "1s"]);
    assert_eq!(o.status.code(), Some(0), "table without --broker: {}", text(&o));
    for b in ["broker-a", "broker-b", "broker-c", "broker-d"] {
        assert!(text(&o).contains(b), "{b} in table: {}", text(&o));
    }
    let dead = harness::free_port();
    let o = run(&["status", "--namesrv.addr", &format!("127.0.0.1:{dead}"), "--broker", "broker-b", "--drain.window", "1s"]);
    assert_eq!(o.status.code(), Some(2), "unreachable cluster: {}", text(&o));
}

#[test]
fn drain_needs_confirmation_and_changes_nothing_without_it() {
    let (_rt, c) = sim(0.0);
    let ns = c.namesrv_addr().to_string();
    let o = run(&["drain", "--namesrv.addr", &ns, "--broker", "broker-b"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--yes"), "{}", text(&o));
    assert_eq!(permission(&c, "broker-b"), 6, "no mutation without confirmation");
    // Read-only commands never mutate either.
    let _ = run(&["status", "--namesrv.addr", &ns, "--drain.window", "1s"]);
    for b in ["broker-a", "broker-b", "broker-c", "broker-d"] {
        assert_eq!(permission(&c, b), 6);
    }
}

#[test]
fn drain_then_restore_follow_the_broker() {
    let (_rt, c) = sim(20.0);
    let ns = c.namesrv_addr().to_string();
    let common = ["--namesrv.addr", &ns, "--broker", "broker-b", "--yes", "--collect.interval", "500ms", "--follow.timeout", "90s"];
    let mut args = vec!["drain"];
    args.extend(common);
    args.extend(["--drain.window", "2s"]);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "drain reaches ready: {}", text(&o));
    assert!(text(&o).contains("READY"), "{}", text(&o));
    assert_eq!(permission(&c, "broker-b"), 4);
    assert_eq!(permission(&c, "broker-a"), 6, "only the named broker changes");
    let mut args = vec!["restore"];
    args.extend(common);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "restore sees traffic return: {}", text(&o));
    assert!(text(&o).contains("traffic returned"), "{}", text(&o));
    assert_eq!(permission(&c, "broker-b"), 6);
}

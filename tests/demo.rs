//! `rocketmq-exporter demo`, as a new user runs it (sped up): permission changes, TPS falls to the
//! retry trickle, the verdict flips to ready, permission returns — all visible in /metrics.

mod harness;

use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{free_port, Exporter};

#[test]
fn demo_replays_the_runbook_in_metrics() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("demo.log");
    let child = Command::new(harness::bin())
        .args(["demo", "--demo.speedup", "30", "--collect.interval", "500ms", "--drain.window", "2s"])
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let ex = Exporter { child, port, log };
    ex.wait_ready(Duration::from_secs(30));
    let b = [("broker", "broker-b"), ("broker_id", "0")];
    // Simulated 60 s (2 s real): broker-b goes read-only; its InTPS falls to the retry trickle.
    let e = ex.scrape_until(Duration::from_secs(30), "broker-b read-only", |e| e.one("rocketmq_broker_permission", &b) == Some(4.0));
    assert_eq!(e.one("rocketmq_broker_permission", &[("broker", "broker-a"), ("broker_id", "0")]), Some(6.0));
    let e = ex.scrape_until(Duration::from_secs(30), "broker-b drained and ready", |e| e.one("rocketmq_broker_drain_ready", &b) == Some(1.0));
    let put = e.one("rocketmq_broker_put_tps", &b).unwrap();
    assert!(put > 0.0 && put < 40.0, "InTPS is the retry trickle, never 0: {put}");
    let diff: f64 = e.values("rocketmq_consumer_group_diff", &[("broker", "broker-b")]).iter().filter(|v| **v > 0.0).sum();
    assert_eq!(diff, 0.0, "backlog drained");
    // Simulated 600 s (20 s real): permission 6 returns, verdict back to not ready, traffic returns.
    let e = ex.scrape_until(Duration::from_secs(40), "broker-b restored", |e| e.one("rocketmq_broker_permission", &b) == Some(6.0));
    assert_eq!(e.one("rocketmq_broker_drain_ready", &b), Some(0.0));
    ex.scrape_until(Duration::from_secs(20), "traffic back on broker-b", |e| e.one("rocketmq_broker_put_tps", &b).is_some_and(|v| v > 100.0));
    // It loops: the next drain starts at simulated 780 s.
    ex.scrape_until(Duration::from_secs(30), "second drain", |e| e.one("rocketmq_broker_permission", &b) == Some(4.0));
}

#[test]
fn serve_exits_cleanly_on_sigterm() {
    let ex = Exporter::serve(&["--namesrv.addr", &format!("127.0.0.1:{}", free_port()), "--collect.interval", "1s"]);
    ex.wait_ready(Duration::from_secs(20));
    let pid = ex.child.id() as i32;
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let mut ex = ex;
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = ex.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}; log:\n{}", ex.log_text());
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "did not stop within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ex.log_text().contains("shutting down"), "{}", ex.log_text());
}

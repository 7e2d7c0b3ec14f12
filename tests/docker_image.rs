//! The container image built from the repository's Dockerfile, run by a Docker engine against the
//! real rocketmq-rust NameServer and broker: the image's default command (`serve`) configured by
//! environment alone, its unprivileged user, `drain` and `status` run inside it with
//! `docker exec`, and `docker stop` as the graceful SIGTERM of process 1.
//!
//! The container gets `--network none` (a namespace with only loopback). Its namespace is then
//! named under `/var/run/netns` (`ip netns attach`) and the peer is started inside it, so the
//! exporter, the peer and this test's scrapes all meet on the container's 127.0.0.1, as the
//! project's loopback-only rule asks, and nothing is published on the host.
//!
//! The image is named by `ROCKETMQ_EXPORTER_IMAGE` (`.ci/run` builds it; `.ci/image` says how).
//! Without it the test skips with a printed reason. With `ROCKETMQ_EXPORTER_REQUIRE_REAL=1` a
//! missing image fails the test, unless `ROCKETMQ_EXPORTER_IMAGE_SKIP` gives the reason no
//! Docker engine could run on this machine (`.ci/run` sets it only then).

mod harness;
mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use harness::Exposition;
use support::peer::{PeerCluster, BROKER_NAME, NETNS_PREFIX};

/// The image's own default (`EXPOSE 5558`), inside the container's namespace.
const WEB_PORT: u16 = 5558;
const DRAIN_CHECKS: [&str; 9] =
    ["write_disabled", "routes", "no_writes", "backlog", "retry_backlog", "scheduled", "transactions", "replication", "flush"];

/// The image to test, or `None` to skip (after printing why).
fn image() -> Option<String> {
    if let Ok(image) = std::env::var("ROCKETMQ_EXPORTER_IMAGE") {
        if !image.is_empty() {
            return Some(image);
        }
    }
    let require = std::env::var("ROCKETMQ_EXPORTER_REQUIRE_REAL").is_ok_and(|v| v == "1");
    match std::env::var("ROCKETMQ_EXPORTER_IMAGE_SKIP") {
        Ok(reason) if !reason.is_empty() => eprintln!("SKIP container image test: {reason}"),
        _ if require => panic!("ROCKETMQ_EXPORTER_REQUIRE_REAL=1 but ROCKETMQ_EXPORTER_IMAGE is not set (see .ci/image)"),
        _ => eprintln!("SKIP container image test: ROCKETMQ_EXPORTER_IMAGE is not set (see .ci/image)"),
    }
    None
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}

/// `docker …` that must succeed; its stdout, trimmed.
fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A container, removed on drop (its logs printed first when the test is failing).
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = docker(&["logs", &self.0]);
            eprintln!(
                "--- container {} log ---\n{}{}",
                self.0,
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// GET on the exporter's port, from inside `PeerCluster::run`.
async fn http_get(path: &str) -> std::io::Result<(u16, String)> {
    harness::http_get_async(WEB_PORT, path).await
}

/// Scrapes until `pred` holds; panics with the last exposition.
async fn wait_scrape(what: &str, within: Duration, pred: impl Fn(&Exposition) -> bool) -> Exposition {
    let deadline = Instant::now() + within;
    let mut last = String::from("(no answer yet)");
    loop {
        if let Ok((200, body)) = http_get("/metrics").await {
            let e = Exposition::parse(&body);
            if pred(&e) {
                return e;
            }
            last = body;
        }
        if Instant::now() > deadline {
            panic!("{what}: not reached within {within:?}; last exposition:\n{last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn master<'a>() -> [(&'a str, &'a str); 2] {
    [("broker", BROKER_NAME), ("broker_id", "0")]
}

/// `docker exec` of the image's binary; exit status, stdout and stderr.
fn exec(container: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["exec", container, "/usr/local/bin/rocketmq-exporter"];
    all.extend_from_slice(args);
    let out = docker(&all);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_image_serves_drains_and_stops_against_the_real_peer() {
    let Some(image) = image() else {
        return;
    };
    // The image runs unprivileged, as its Dockerfile says, and ships the binary without the
    // release profile's line tables (63 MB with them, about 13 MB without).
    assert_eq!(docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", &image]), "65532:65532");
    let version = docker_ok(&["image", "inspect", "-f", "{{index .Config.Labels \"org.opencontainers.image.version\"}}", &image]);
    assert_eq!(version, env!("CARGO_PKG_VERSION"), "the image's version label");
    let size: u64 = docker_ok(&["run", "--rm", "--network", "none", "--entrypoint", "stat", &image, "-c", "%s", "/usr/local/bin/rocketmq-exporter"])
        .parse()
        .expect("binary size");
    eprintln!("binary in the image: {size} bytes");
    assert!(size < 32 << 20, "the image's binary is {size} bytes: not stripped of debug info?");

    // The default command, configured by environment only; the NameServer is not up yet. The
    // container is as confined as deploy/kubernetes/broker-sidecar.yaml makes it: read-only
    // root filesystem, no capabilities, no privilege escalation, 128 MiB of memory.
    let name = format!("{NETNS_PREFIX}{}-img", std::process::id());
    let namesrv = format!("127.0.0.1:{}", support::peer::NAMESRV_PORT);
    let id = docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        "128m",
        "-e",
        &format!("NAMESRV_ADDR={namesrv}"),
        "-e",
        "ROCKETMQ_EXPORTER_COLLECT_INTERVAL=1s",
        "-e",
        "ROCKETMQ_EXPORTER_DRAIN_WINDOW=3s",
        &image,
    ]);
    let container = Container(id);
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", &container.0]);
    let user = docker_ok(&["exec", &container.0, "id", "-u"]);
    assert_eq!(user, "65532", "the exporter's user inside the container");
    let attach = Command::new("ip").args(["netns", "attach", &name, &pid]).output().expect("ip netns attach");
    assert!(attach.status.success(), "ip netns attach {name} {pid}: {}", String::from_utf8_lossy(&attach.stderr));

    let cluster = match PeerCluster::start_in_netns(&name) {
        Ok(Some(c)) => c,
        Ok(None) => {
            let _ = Command::new("ip").args(["netns", "delete", &name]).output();
            return;
        }
        Err(e) => {
            let _ = Command::new("ip").args(["netns", "delete", &name]).output();
            panic!("start the real peer in the container's namespace: {e}");
        }
    };
    cluster.run_or_dump(|| {
        // While the peer booted, the exporter in the container was already serving: the
        // NameServer shows down or (once booted) up, never a crash; then the broker appears.
        let e = cluster.run(|| {
            wait_scrape("the broker exported from the container", Duration::from_secs(60), |e| {
                e.one("rocketmq_broker_up", &master()) == Some(1.0)
            })
        });
        assert_eq!(e.values("rocketmq_namesrv_up", &[("addr", &namesrv)]), vec![1.0]);
        assert_eq!(e.values("rocketmq_broker_up", &[("addr", &cluster.broker_addr())]), vec![1.0]);
        assert_eq!(e.one("rocketmq_broker_permission", &master()), Some(6.0));
        assert_eq!(e.one("rocketmq_broker_drain_ready", &master()), Some(0.0), "a writable broker is not drained");
        assert!(e.one("rocketmq_exporter_build_info", &[("version", env!("CARGO_PKG_VERSION"))]).is_some(), "{}", e.raw);
        let (status, _) = cluster.run(|| async { http_get("/-/ready").await.expect("GET /-/ready") });
        assert_eq!(status, 200);
        if let Some(out) = harness::promtool_check_metrics(&e.raw) {
            assert!(out.trim().is_empty(), "promtool check metrics on the container's exposition:\n{out}");
        }

        // `drain` inside the image: the only command here that changes the cluster, asked for.
        let started = Instant::now();
        let (code, out, err) = exec(
            &container.0,
            &["drain", "--broker", BROKER_NAME, "--yes", "--collect.interval", "1s", "--follow.timeout", "90s"],
        );
        eprintln!("drain in the container: exit {code:?} after {:?}\n{out}{err}", started.elapsed());
        assert_eq!(code, Some(0), "drain reaches READY: {out}{err}");
        assert!(out.contains("READY — safe to take offline"), "{out}");

        // serve in the container sees the same: permission 4, every check passing.
        let e = cluster.run(|| {
            wait_scrape("the container's serve: drain ready", Duration::from_secs(30), |e| {
                e.one("rocketmq_broker_drain_ready", &master()) == Some(1.0)
            })
        });
        assert_eq!(e.one("rocketmq_broker_permission", &master()), Some(4.0));
        for c in DRAIN_CHECKS {
            assert_eq!(e.one("rocketmq_broker_drain_check", &[("broker", BROKER_NAME), ("check", c)]), Some(1.0), "check {c}");
        }
        let (code, out, err) = exec(&container.0, &["status", "--broker", BROKER_NAME]);
        assert_eq!(code, Some(0), "status in the container after the drain: {out}{err}");

        // What the confined container used (cgroup v1 or v2), for the record.
        let peak = docker(&["exec", &container.0, "cat", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"]);
        let peak = if peak.status.success() { peak } else { docker(&["exec", &container.0, "cat", "/sys/fs/cgroup/memory.peak"]) };
        eprintln!("container memory peak: {} bytes (limit 128 MiB)", String::from_utf8_lossy(&peak.stdout).trim());

        // `docker stop` sends SIGTERM to process 1, which is the exporter: it must shut down
        // cleanly and quickly, not wait out the engine's 10 s before SIGKILL.
        let started = Instant::now();
        docker_ok(&["stop", "-t", "10", &container.0]);
        let took = started.elapsed();
        let state = docker_ok(&["inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", &container.0]);
        eprintln!("docker stop: {took:?}, exit code and OOM-killed: {state}");
        assert_eq!(state, "0 false", "exit status after SIGTERM");
        assert!(took < Duration::from_secs(8), "stopping took {took:?}: SIGTERM was not handled");
        let logs = docker(&["logs", &container.0]);
        let log = String::from_utf8_lossy(&logs.stderr).into_owned() + &String::from_utf8_lossy(&logs.stdout);
        assert!(log.contains("msg=\"shutting down\""), "graceful shutdown logged:\n{log}");
    });
}

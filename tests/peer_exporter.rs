//! The `rocketmq-exporter` binary (serve, status, drain, restore) against the real rocketmq-rust
//! NameServer and broker (1.0.0), all inside the peer's loopback-only network namespace: metric
//! values after real traffic, TPS under load, and a full drain → ready → restore cycle.
//!
//! Skips (with a printed reason) when the peer binaries or root are missing, unless
//! `ROCKETMQ_EXPORTER_REQUIRE_REAL=1`.

mod harness;
mod support;

use std::fs::File;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use harness::Exposition;
use support::peer::{PeerCluster, ACL_SECRET, ACL_USER, BROKER_NAME};
use support::raw::{self, RawClient};

const TOPIC: &str = "DrainTopic";
const GROUP: &str = "DrainGroup";
const QUEUES: u32 = 4;
const MESSAGES: u32 = 300;
/// Committed consumer offsets per queue: 75 + 40 + 10 + 0 = 125 consumed of 300.
const COMMITTED: [i64; 4] = [75, 40, 10, 0];
/// The namespace is private to this cluster, so a fixed port cannot collide.
const WEB_PORT: u16 = 19558;
/// Topic of the delayed and timer messages.
const DELAY_TOPIC: &str = "DelayTopic";
const DRAIN_WAIT: Duration = Duration::from_secs(60);
const CHECKS: [&str; 9] =
    ["write_disabled", "routes", "no_writes", "backlog", "retry_backlog", "scheduled", "transactions", "replication", "flush"];

/// The exporter process inside the namespace, killed on drop.
struct Serve {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// GET inside `PeerCluster::run` (the namespace's loopback).
async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    harness::http_get_async(port, path).await
}

async fn scrape() -> Exposition {
    let (status, body) = http_get(WEB_PORT, "/metrics").await.expect("GET /metrics");
    assert_eq!(status, 200, "scrape failed: {body}");
    Exposition::parse(&body)
}

fn exporter_cmd(cluster: &PeerCluster, sub: &str, log: &std::path::Path) -> Command {
    let mut cmd = Command::new(harness::bin());
    cmd.arg(sub)
        .arg("--namesrv.addr")
        .arg(cluster.namesrv_addr())
        .env_remove("NAMESRV_ADDR")
        .stdin(Stdio::null())
        .stderr(File::create(log).expect("create log"));
    cmd
}

fn master<'a>() -> [(&'a str, &'a str); 2] {
    [("broker", BROKER_NAME), ("broker_id", "0")]
}

fn check_values(e: &Exposition) -> String {
    CHECKS
        .iter()
        .map(|c| {
            let v = e.one("rocketmq_broker_drain_check", &[("broker", BROKER_NAME), ("check", c)]);
            format!("{c}={}", v.map_or("-".to_string(), |v| v.to_string()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `status --broker NAME` inside the namespace; returns its exit status and stdout.
fn status(cluster: &PeerCluster, broker: &str) -> (ExitStatus, String, String) {
    let log = cluster.dir().join(format!("status-{broker}.log"));
    let mut cmd = exporter_cmd(cluster, "status", &log);
    cmd.args(["--broker", broker, "--drain.window", "2s", "--collect.timeout", "3s"]).stdout(Stdio::piped());
    let out = cluster.spawn_in_ns(&mut cmd).expect("spawn status").wait_with_output().expect("wait status");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("status --broker {broker}: {}\n{stdout}{stderr}", out.status);
    (out.status, stdout, stderr)
}

#[test]
fn exporter_binary_against_the_real_peer() {
    with_serve(scenario);
}

/// A transactional half message that nobody has committed or rolled back keeps a drained,
/// idle, fully consumed real broker not ready; its rollback releases the verdict.
#[test]
fn an_open_transaction_holds_the_drain_of_the_real_peer_until_it_is_rolled_back() {
    with_serve(transaction_scenario);
}

fn transaction_scenario(cluster: &PeerCluster, serve: &Serve) {
    const TX_TOPIC: &str = "TxTopic";
    const TX_PRODUCER: &str = "TxProducer";
    let half = cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        b.call_ok(raw::create_topic_request(TX_TOPIC, QUEUES, 6)).await.expect("create topic");
        let half = b
            .call_ok(raw::send_half_message_request(TX_PRODUCER, TX_TOPIC, 0, b"pending".to_vec()))
            .await
            .expect("send half message");
        b.call_ok(raw::update_broker_config_request("brokerPermission=4\n")).await.expect("permission 4");
        half
    });
    eprintln!("half message sent: {:?}", half.ext_fields);

    // Every other check passes once the window has seen no writes; the verdict stays "not ready".
    let started = Instant::now();
    let e = cluster.run(|| only_failing("transactions", Duration::from_secs(40)));
    eprintln!("[{:>5.1}s] {}", started.elapsed().as_secs_f64(), check_values(&e));
    assert_eq!(e.one("rocketmq_broker_drain_ready", &master()), Some(0.0), "an open transaction: not ready");
    // It holds over several cycles, and through the broker's transaction checks (every 1 s).
    cluster.run(|| async {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(600)).await;
            let e = scrape().await;
            assert_eq!(e.one("rocketmq_broker_drain_ready", &master()), Some(0.0), "{}", check_values(&e));
            assert_eq!(
                e.one("rocketmq_broker_drain_check", &[("broker", BROKER_NAME), ("check", "transactions")]),
                Some(0.0),
                "{}",
                check_values(&e)
            );
        }
    });
    let (st, out, _) = status(cluster, BROKER_NAME);
    assert_eq!(st.code(), Some(1), "status with an open transaction: {out}");
    assert!(
        out.lines().any(|l| l.contains("✗ transactions") && l.contains("1 transactional half message")),
        "status names the failing check and the count: {out}"
    );

    // The producer rolls it back (END_TRANSACTION is allowed on a read-only broker).
    cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        let req = raw::end_transaction_request(TX_PRODUCER, &half, raw::TRANSACTION_ROLLBACK).expect("msgId and queueOffset in the send answer");
        b.call_ok(req).await.expect("rollback");
    });
    let rolled_back = Instant::now();
    let e = cluster.run(|| wait_ready(serve));
    eprintln!("drain_ready 1 {:?} after the rollback: {}", rolled_back.elapsed(), check_values(&e));
    let diff = e.values("rocketmq_consumer_diff", &[("group", "CID_RMQ_SYS_TRANS"), ("topic", "RMQ_SYS_TRANS_HALF_TOPIC")]);
    assert!(diff.iter().all(|d| *d == 0.0), "half topic Diff after the rollback: {diff:?}");
}

/// A delayed message (level 4, 30 s) stored just before the drain keeps a drained, idle real
/// broker not ready until the broker's delivery task has moved it to its topic; then the drain
/// becomes ready (after the delivery's write has left the window).
#[test]
fn a_delayed_message_holds_the_drain_of_the_real_peer_until_it_is_delivered() {
    let send = raw::send_delayed_message_request("DelayProducer", DELAY_TOPIC, 0, 4, b"later".to_vec());
    with_serve(|cluster, serve| {
        delayed_scenario(cluster, serve, send, &["1 delayed/timer message not yet delivered", "delay level 4 "])
    });
}

/// A 5.x timer message (30 s delay time) does the same through the broker's timer wheel.
#[test]
fn a_timer_message_holds_the_drain_of_the_real_peer_until_it_is_delivered() {
    let send = raw::send_timer_message_request("DelayProducer", DELAY_TOPIC, 0, 30, b"later".to_vec());
    with_serve(|cluster, serve| delayed_scenario(cluster, serve, send, &["1 delayed/timer message not yet delivered"]));
}

/// `send` is the request of one message to DELAY_TOPIC due 30 s after it is sent; the failing
/// `scheduled` check's reason must contain one of `reasons`.
fn delayed_scenario(cluster: &PeerCluster, serve: &Serve, send: rocketmq_exporter::remoting::frame::RemotingCommand, reasons: &[&str]) {
    let sent = cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        b.call_ok(raw::create_topic_request(DELAY_TOPIC, QUEUES, 6)).await.expect("create topic");
        let answer = b.call_ok(send).await.expect("send the message");
        eprintln!("sent: {:?}", answer.ext_fields);
        let sent = Instant::now();
        b.call_ok(raw::update_broker_config_request("brokerPermission=4\n")).await.expect("permission 4");
        sent
    });

    // Every other check passes once the window has seen no writes; the verdict stays "not ready".
    let e = cluster.run(|| only_failing("scheduled", Duration::from_secs(25)));
    eprintln!("[{:>5.1}s after the send] {}", sent.elapsed().as_secs_f64(), check_values(&e));
    assert_eq!(e.one("rocketmq_broker_drain_ready", &master()), Some(0.0), "a pending delayed message: not ready");
    let (st, out, _) = status(cluster, BROKER_NAME);
    assert_eq!(st.code(), Some(1), "status with a pending delayed message: {out}");
    let line = out.lines().find(|l| l.contains("✗ scheduled")).unwrap_or_else(|| panic!("scheduled failing in status: {out}"));
    assert!(reasons.iter().any(|r| line.contains(r)), "the reason names the pending message or its level: {line}");
    assert!(sent.elapsed() < Duration::from_secs(28), "the checks above ran before the delivery was due");

    // Delivered after 30 s into DelayTopic (a write on the read-only broker, by the broker
    // itself); the drain is ready once that write has left the window.
    let e = cluster.run(|| wait_ready(serve));
    let took = sent.elapsed();
    eprintln!("drain_ready 1 {took:?} after the send: {}", check_values(&e));
    assert!(took >= Duration::from_secs(29), "ready before the delayed message was due ({took:?})");
    let delivered = cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        let resp = b.call_ok(raw::topic_stats_request(DELAY_TOPIC)).await.expect("202");
        let ts = rocketmq_exporter::protocol::topic_stats::TopicStatsTable::decode(&resp.body).expect("decode 202");
        ts.offset_table.iter().map(|(_, o)| o.max_offset).sum::<i64>()
    });
    assert_eq!(delivered, 1, "the delayed message reached its topic");
    // Nobody consumes DelayTopic: ready, and status says that the topic holds a message.
    let (st, out, _) = status(cluster, BROKER_NAME);
    assert_eq!(st.code(), Some(0), "status after the delivery: {out}");
    assert!(
        out.lines().any(|l| l.starts_with("  note: ") && l.contains(&format!("{DELAY_TOPIC} (1)"))),
        "a note names the topic nobody has an offset for: {out}"
    );
}

/// A real slave (broker id 1) of the master: its replicated bytes are exported, and while it
/// is stopped (SIGSTOP: it neither answers nor replicates) a drained, idle master stays not
/// ready with only `replication` failing; continued, it catches up and the drain is ready.
#[test]
fn a_stopped_slave_holds_the_drain_of_the_real_master_until_it_has_caught_up() {
    with_serve_after(|c| c.start_slave().expect("start slave"), slave_scenario);
}

fn slave_scenario(cluster: &PeerCluster, serve: &Serve) {
    const REPL_TOPIC: &str = "ReplTopic";
    let slave = [("broker", BROKER_NAME), ("broker_id", "1")];
    let max_offset = |e: &Exposition, id: &str| e.one("rocketmq_broker_commitlog_max_offset_bytes", &[("broker", BROKER_NAME), ("broker_id", id)]);
    let send_n = |n: u32| {
        cluster.run(|| async {
            let mut b = cluster.broker_client().await.expect("connect broker");
            b.call_ok(raw::create_topic_request(REPL_TOPIC, QUEUES, 6)).await.expect("create topic");
            for i in 0..n {
                b.call_ok(raw::send_message_request("ReplProducer", REPL_TOPIC, i % QUEUES, vec![b'r'; 512])).await.expect("send");
            }
        })
    };
    send_n(50);
    let e = cluster.run(|| {
        wait_scrape("the slave caught up with the master", Duration::from_secs(30), |e| {
            let m = max_offset(e, "0");
            m.is_some_and(|m| m > 0.0) && max_offset(e, "1") == m && e.one("rocketmq_broker_replication_lag_bytes", &slave) == Some(0.0)
        })
    });
    let replicated = max_offset(&e, "0").expect("master commit log offset");
    eprintln!("replicated: master {replicated} slave {:?}", max_offset(&e, "1"));

    let pid = cluster.slave_pid().expect("slave running") as i32;
    // SAFETY: plain kill(2) on the slave's own pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0, "SIGSTOP the slave");
    send_n(50);
    cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        b.call_ok(raw::update_broker_config_request("brokerPermission=4\n")).await.expect("permission 4");
    });
    let stopped = Instant::now();
    let e = cluster.run(|| only_failing("replication", Duration::from_secs(40)));
    eprintln!("[{:>5.1}s after SIGSTOP] {}", stopped.elapsed().as_secs_f64(), check_values(&e));
    eprintln!(
        "slave up {:?} lag {:?}; master max {:?}",
        e.one("rocketmq_broker_up", &slave),
        e.one("rocketmq_broker_replication_lag_bytes", &slave),
        max_offset(&e, "0")
    );
    assert_eq!(e.one("rocketmq_broker_up", &slave), Some(0.0), "a stopped slave does not answer");
    // The master's HA status still holds the connection, at what the slave had acknowledged.
    let behind = max_offset(&e, "0").expect("master commit log offset") - replicated;
    assert!(behind > 0.0, "the second batch grew the master's commit log");
    let (st, out, _) = status(cluster, BROKER_NAME);
    assert_eq!(st.code(), Some(1), "status with the slave stopped: {out}");
    let line = out.lines().find(|l| l.contains("✗ replication")).unwrap_or_else(|| panic!("replication failing: {out}"));
    assert!(line.contains("slave 1 (") && line.contains(" down: "), "the slave named as down: {line}");
    assert!(line.contains(&format!("{behind} bytes behind per HA status")), "the HA status's lag ({behind}): {line}");

    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0, "SIGCONT the slave");
    let continued = Instant::now();
    let e = cluster.run(|| wait_ready(serve));
    eprintln!("drain_ready 1 {:?} after SIGCONT: {}", continued.elapsed(), check_values(&e));
    assert_eq!(e.one("rocketmq_broker_replication_lag_bytes", &slave), Some(0.0));
    assert_eq!(max_offset(&e, "1"), max_offset(&e, "0"), "the slave holds everything the master has");
}

/// Authentication on the real broker (its ACL user; requests signed with HMAC-SHA1 over the
/// sorted ext fields and body, as Java's `AclUtils`): without credentials the exporter shows the
/// broker down with the broker's reason and a drain changes nothing; signed, the values are
/// there and `drain` (a signed body) drains it to ready.
#[test]
fn acl_signing_against_the_real_broker_with_authentication() {
    run_on(PeerCluster::start_authenticated(), acl_scenario);
}

fn acl_scenario(cluster: &PeerCluster) {
    let credentials = |key: &'static str, secret: &'static str| {
        move |cmd: &mut Command| {
            cmd.args(["--acl.access-key", key]).env("ROCKETMQ_SECRET_KEY", secret);
        }
    };
    let refused = |e: &Exposition| e.one("rocketmq_broker_up", &master()) == Some(0.0) && e.count("rocketmq_namesrv_up") == 1;
    // Unsigned, then with a wrong secret: the NameServer answers, the broker refuses.
    for (name, secret) in [("unsigned", None), ("wrong secret", Some("not-the-secret"))] {
        // One at a time: they listen on the same port.
        let serve = serve_with(cluster, &format!("{}.log", name.replace(' ', "-")), |cmd| {
            if let Some(secret) = secret {
                credentials(ACL_USER, secret)(cmd);
            }
        });
        let what = format!("{name}: the broker refusing");
        let e = cluster.run(|| wait_scrape(&what, Duration::from_secs(20), refused));
        assert_eq!(e.one("rocketmq_namesrv_up", &[]), Some(1.0), "{name}");
        assert_eq!(e.one("rocketmq_broker_permission", &master()), None, "{name}: no values without an answer");
        let log = serve.log_text();
        assert!(log.contains("NO_PERMISSION") && log.contains("Authentication credentials are invalid"), "{name}: the broker's reason logged:\n{log}");
        eprintln!("{name}: broker_up 0, log has the broker's NO_PERMISSION reason");
    }

    // An unsigned drain is refused and changes nothing.
    let drain = |log: &str, more: &dyn Fn(&mut Command)| {
        let log = cluster.dir().join(log);
        let mut cmd = exporter_cmd(cluster, "drain", &log);
        cmd.args(["--broker", BROKER_NAME, "--yes", "--collect.interval", "1s", "--drain.window", "2s", "--follow.timeout", "60s"])
            .stdout(Stdio::piped());
        more(&mut cmd);
        let out = cluster.spawn_in_ns(&mut cmd).expect("spawn drain").wait_with_output().expect("wait drain");
        (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), std::fs::read_to_string(&log).unwrap_or_default())
    };
    let (st, _, err) = drain("drain-unsigned.log", &|_| {});
    assert_ne!(st.code(), Some(0), "unsigned drain: {err}");
    assert!(err.contains("UPDATE_BROKER_CONFIG") && err.contains("NO_PERMISSION"), "unsigned drain names the refusal: {err}");

    // Signed: the values are there, and permission is still 6.
    let signed = serve_with(cluster, "signed.log", credentials(ACL_USER, ACL_SECRET));
    let e = cluster.run(|| {
        wait_scrape("signed: the broker answering", Duration::from_secs(20), |e| e.one("rocketmq_broker_up", &master()) == Some(1.0))
    });
    assert_eq!(e.one("rocketmq_broker_permission", &master()), Some(6.0), "the unsigned drain changed nothing");
    assert!(e.one("rocketmq_broker_commitlog_max_offset_bytes", &master()).is_some(), "runtime info decoded");
    assert!(!signed.log_text().contains("NO_PERMISSION"), "signed requests accepted:\n{}", signed.log_text());

    let started = Instant::now();
    let (st, out, err) = drain("drain-signed.log", &credentials(ACL_USER, ACL_SECRET));
    eprintln!("signed drain: {st} after {:?}\n{out}{err}", started.elapsed());
    assert_eq!(st.code(), Some(0), "signed drain reaches READY: {out}{err}");
    assert!(out.contains("READY — safe to take offline"), "{out}");
    let e = cluster.run(|| wait_ready(&signed));
    assert_eq!(e.one("rocketmq_broker_permission", &master()), Some(4.0));
}

/// TLS to the real peer: the broker accepts TLS only, so a plaintext exporter sees it down
/// (the NameServer also takes plaintext); verifying the servers' certificate by CA file, the
/// exporter exports the broker's values; a server name the certificate lacks is refused.
#[test]
fn tls_to_the_real_peer() {
    run_on(PeerCluster::start_tls(), tls_scenario);
}

fn tls_scenario(cluster: &PeerCluster) {
    let plain = serve_with(cluster, "plain.log", |_| {});
    let e = cluster.run(|| {
        wait_scrape("plaintext: the broker down", Duration::from_secs(20), |e| {
            e.one("rocketmq_broker_up", &master()) == Some(0.0) && e.one("rocketmq_namesrv_up", &[]) == Some(1.0)
        })
    });
    assert_eq!(e.one("rocketmq_broker_permission", &master()), None);
    drop(plain);

    let ca = cluster.tls_cert_path();
    let tls = serve_with(cluster, "tls.log", |cmd| {
        cmd.arg("--tls.ca-file").arg(&ca);
    });
    let e = cluster.run(|| {
        wait_scrape("TLS: the broker answering", Duration::from_secs(20), |e| e.one("rocketmq_broker_up", &master()) == Some(1.0))
    });
    assert_eq!(e.one("rocketmq_namesrv_up", &[]), Some(1.0), "the NameServer over TLS too");
    assert_eq!(e.one("rocketmq_broker_permission", &master()), Some(6.0));
    assert!(e.one("rocketmq_broker_commitlog_max_offset_bytes", &master()).is_some(), "runtime info over TLS");
    drop(tls);

    let log = cluster.dir().join("status-wrong-name.log");
    let mut cmd = exporter_cmd(cluster, "status", &log);
    cmd.arg("--tls.ca-file").arg(&ca).args(["--tls.server-name", "broker.example", "--drain.window", "1s"]).stdout(Stdio::piped());
    let out = cluster.spawn_in_ns(&mut cmd).expect("spawn status").wait_with_output().expect("wait status");
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(out.status.code(), Some(2), "no server verified: an error: {err}");
    assert!(err.contains("not valid for name") && err.contains("broker.example"), "the certificate's names in the error: {err}");
}

/// Sidecar mode (`--broker.addr`) against the real broker: the node's identity comes from its
/// own config (the peer's colon-separated 26 body), its values are exported, and without a
/// NameServer the routes check cannot pass; with `--namesrv.addr` as well, a drained, consumed
/// lone 5.x master becomes ready.
#[test]
fn sidecar_mode_against_the_real_peer() {
    let Some(cluster) = PeerCluster::start().expect("start real peer") else {
        return;
    };
    const SIDE_TOPIC: &str = "SidecarTopic";
    cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        b.call_ok(raw::create_topic_request(SIDE_TOPIC, QUEUES, 6)).await.expect("create topic");
        b.call_ok(raw::create_group_request(GROUP)).await.expect("create group");
        for i in 0..40u32 {
            b.call_ok(raw::send_message_request("DrainProducer", SIDE_TOPIC, i % QUEUES, b"s".to_vec())).await.expect("send");
        }
        b.call_ok(raw::update_consumer_offset_request(GROUP, SIDE_TOPIC, 0, 4)).await.expect("commit");
    });
    let sidecar = |with_namesrv: bool| {
        let log = cluster.dir().join(format!("sidecar-{with_namesrv}.log"));
        let mut cmd = Command::new(harness::bin());
        cmd.args(["serve", "--broker.addr", &cluster.broker_addr(), "--web.listen-address", &format!("127.0.0.1:{WEB_PORT}")])
            .args(["--collect.interval", "1s", "--drain.window", "3s"])
            .env_remove("NAMESRV_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("create log"));
        if with_namesrv {
            cmd.args(["--namesrv.addr", &cluster.namesrv_addr()]);
        }
        Serve { child: cluster.spawn_in_ns(&mut cmd).expect("spawn sidecar"), log }
    };
    let run = |serve: &Serve, f: &dyn Fn()| {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            eprintln!("--- exporter log ---\n{}\n{}", serve.log_text(), cluster.log_tails());
            std::panic::resume_unwind(panic);
        }
    };

    let serve = sidecar(false);
    run(&serve, &|| {
        let e = cluster.run(|| {
            wait_scrape("sidecar diff visible", Duration::from_secs(30), |e| {
                e.one("rocketmq_consumer_diff", &[("group", GROUP), ("topic", SIDE_TOPIC), ("queue_id", "0")]) == Some(6.0)
            })
        });
        let id = [("cluster", "DefaultCluster"), ("broker", BROKER_NAME), ("broker_id", "0")];
        assert_eq!(e.count("rocketmq_broker_up"), 1, "{}", e.raw);
        assert_eq!(e.values("rocketmq_broker_up", &[id[0], id[1], id[2], ("addr", &cluster.broker_addr())]), vec![1.0]);
        assert_eq!(e.one("rocketmq_broker_permission", &id), Some(6.0));
        assert_eq!(e.count("rocketmq_namesrv_up"), 0, "no NameServer was given");
        assert_eq!(e.one("rocketmq_consumer_group_diff", &[("group", GROUP), ("topic", SIDE_TOPIC)]), Some(36.0));
        assert_eq!(e.one("rocketmq_broker_drain_check", &[("broker", BROKER_NAME), ("check", "routes")]), Some(0.0));
    });
    drop(serve);

    let serve = sidecar(true);
    run(&serve, &|| {
        cluster.run(|| async {
            let mut b = cluster.broker_client().await.expect("connect broker");
            b.call_ok(raw::update_broker_config_request("brokerPermission=4\n")).await.expect("permission 4");
            for q in 0..QUEUES {
                b.call_ok(raw::update_consumer_offset_request(GROUP, SIDE_TOPIC, q, 10)).await.expect("commit to max");
            }
        });
        let e = cluster.run(|| wait_ready(&serve));
        assert_eq!(e.count("rocketmq_broker_up"), 1);
        assert_eq!(e.values("rocketmq_namesrv_up", &[("addr", &cluster.namesrv_addr())]), vec![1.0]);
        for c in CHECKS {
            assert_eq!(e.one("rocketmq_broker_drain_check", &[("broker", BROKER_NAME), ("check", c)]), Some(1.0), "check {c}");
        }
    });
}

/// Runs `scenario` on a peer cluster just `started` (or skips), with the peer's log tails
/// printed on a panic; for scenarios that start exporters of their own.
fn run_on(started: Result<Option<PeerCluster>, String>, scenario: impl FnOnce(&PeerCluster)) {
    let Some(cluster) = started.expect("start real peer") else {
        return;
    };
    cluster.run_or_dump(|| scenario(&cluster));
}

/// Starts the real peer (or skips) and [`serve`] against it, then runs `scenario`; on a panic,
/// prints the exporter's log and the peer's log tails before passing the panic on.
fn with_serve(scenario: impl FnOnce(&PeerCluster, &Serve)) {
    with_serve_after(|_| {}, scenario)
}

/// [`with_serve`], with `setup` run on the cluster before `serve` starts.
fn with_serve_after(setup: impl FnOnce(&mut PeerCluster), scenario: impl FnOnce(&PeerCluster, &Serve)) {
    let Some(mut cluster) = PeerCluster::start().expect("start real peer") else {
        return;
    };
    setup(&mut cluster);
    let serve = serve(&cluster);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&cluster, &serve)));
    if let Err(panic) = result {
        eprintln!("--- exporter log ---\n{}\n{}", serve.log_text(), cluster.log_tails());
        std::panic::resume_unwind(panic);
    }
}

/// `serve` against the peer, collecting every second with a 3 s drain window.
fn serve(cluster: &PeerCluster) -> Serve {
    serve_with(cluster, "exporter.log", |_| {})
}

/// [`serve`], logging to `log` in the cluster's directory, with `more` adding to the command.
fn serve_with(cluster: &PeerCluster, log: &str, more: impl FnOnce(&mut Command)) -> Serve {
    let log = cluster.dir().join(log);
    let mut cmd = exporter_cmd(cluster, "serve", &log);
    more(&mut cmd);
    cmd.args([
        "--web.listen-address",
        &format!("127.0.0.1:{WEB_PORT}"),
        "--collect.interval",
        "1s",
        "--drain.window",
        "3s",
    ])
    .stdout(Stdio::null());
    Serve { child: cluster.spawn_in_ns(&mut cmd).expect("spawn exporter"), log }
}

fn scenario(cluster: &PeerCluster, serve: &Serve) {
    // Traffic: 300 messages, 125 of them committed.
    cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        b.call_ok(raw::create_topic_request(TOPIC, QUEUES, 6)).await.expect("create topic");
        b.call_ok(raw::create_group_request(GROUP)).await.expect("create group");
        send(&mut b, MESSAGES).await;
        for (q, offset) in COMMITTED.iter().enumerate() {
            b.call_ok(raw::update_consumer_offset_request(GROUP, TOPIC, q as u32, *offset)).await.expect("commit");
        }
    });

    // Metric values once a collection has seen the traffic.
    let e = cluster.run(|| {
        wait_scrape("group diff 175 visible", Duration::from_secs(30), |e| {
            e.one("rocketmq_consumer_group_diff", &[("group", GROUP), ("topic", TOPIC)]) == Some(175.0)
        })
    });
    assert_eq!(e.one("rocketmq_broker_up", &master()), Some(1.0), "broker up");
    assert_eq!(e.values("rocketmq_broker_up", &[("addr", &cluster.broker_addr())]), vec![1.0], "addr label");
    assert_eq!(e.one("rocketmq_broker_permission", &master()), Some(6.0), "permission");
    assert_eq!(e.one("rocketmq_broker_writable", &master()), Some(1.0));
    // The peer (5.x-like) reports its start and brokerActive; it started within this test.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let started = e.one("rocketmq_broker_start_time_seconds", &master()).expect("start time");
    assert!(started <= now + 1.0 && started > now - 600.0, "broker start time {started} vs now {now}");
    assert_eq!(e.one("rocketmq_broker_active", &master()), Some(1.0), "brokerActive of the master");
    assert_eq!(e.values("rocketmq_namesrv_up", &[("addr", &cluster.namesrv_addr())]), vec![1.0]);
    for (q, committed) in COMMITTED.iter().enumerate() {
        let l = [("group", GROUP), ("topic", TOPIC), ("queue_id", &q.to_string() as &str)];
        assert_eq!(e.one("rocketmq_consumer_diff", &l), Some((75 - committed) as f64), "queue {q} diff");
        assert_eq!(e.one("rocketmq_consumer_offset", &l), Some(*committed as f64), "queue {q} consumer offset");
        let ql = [("topic", TOPIC), ("queue_id", &q.to_string() as &str)];
        assert_eq!(e.values("rocketmq_queue_max_offset", &ql), vec![75.0], "queue {q} max offset");
    }
    let put_total = e.one("rocketmq_broker_messages_put_total", &master()).expect("messages_put_total");
    assert!(put_total >= f64::from(MESSAGES), "put total {put_total}");
    assert!(e.one("rocketmq_broker_commitlog_max_offset_bytes", &master()).unwrap_or(0.0) > 0.0);
    assert_eq!(e.one("rocketmq_broker_drain_ready", &master()), Some(0.0), "writable broker is not drained");
    assert_eq!(
        e.one("rocketmq_broker_drain_check", &[("broker", BROKER_NAME), ("check", "write_disabled")]),
        Some(0.0)
    );
    if let Some(out) = harness::promtool_check_metrics(&e.raw) {
        assert!(out.trim().is_empty(), "promtool check metrics on the real-peer exposition:\n{out}");
    }

    // status while writable: not ready (1); unknown broker: error (2).
    let (st, out, _) = status(cluster, BROKER_NAME);
    assert_eq!(st.code(), Some(1), "status of a writable broker: {out}");
    assert!(out.contains(BROKER_NAME), "status table names the broker: {out}");
    let (st, _, err) = status(cluster, "nope");
    assert_eq!(st.code(), Some(2), "status of an unknown broker");
    assert!(err.contains("nope"), "error names the broker: {err}");

    // Under traffic: the put counter rises between scrapes and putTps (10 s window) goes above 0.
    let (tps, totals) = cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        let started = Instant::now();
        let mut totals = Vec::new();
        loop {
            send(&mut b, 20).await;
            let e = scrape().await;
            let tps = e.one("rocketmq_broker_put_tps", &master());
            totals.push(e.one("rocketmq_broker_messages_put_total", &master()).unwrap_or(f64::NAN));
            if tps.is_some_and(|t| t > 0.0) && totals.len() >= 2 && totals.last() > totals.first() {
                return (tps.unwrap(), totals);
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no TPS under traffic: put_tps {tps:?}, totals {totals:?}");
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    eprintln!("under traffic: rocketmq_broker_put_tps {tps}, messages_put_total {totals:?}");

    // Drain with the `drain` command; stop sending; consume everything.
    let drain_log = cluster.dir().join("drain.log");
    let drain_out = cluster.dir().join("drain.out");
    let mut cmd = exporter_cmd(cluster, "drain", &drain_log);
    cmd.args([
        "--broker",
        BROKER_NAME,
        "--yes",
        "--collect.interval",
        "1s",
        "--drain.window",
        "3s",
        "--follow.timeout",
        "90s",
    ])
    .stdout(File::create(&drain_out).expect("drain stdout"));
    let mut drain = cluster.spawn_in_ns(&mut cmd).expect("spawn drain");
    let drained_at = Instant::now();
    let e = cluster.run(|| {
        wait_scrape("permission 4 visible", Duration::from_secs(20), |e| {
            e.one("rocketmq_broker_permission", &master()) == Some(4.0)
        })
    });
    assert_eq!(e.one("rocketmq_broker_writable", &master()), Some(0.0));
    assert_eq!(e.one("rocketmq_broker_readable", &master()), Some(1.0));
    eprintln!("permission 4 in /metrics {:?} after starting `drain`", drained_at.elapsed());
    let maxes = cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        let refused = b.call(raw::send_message_request("DrainProducer", TOPIC, 0, b"late".to_vec())).await.expect("send");
        assert_ne!(refused.code, 0, "a drained broker refuses sends");
        let maxes = queue_maxes(&mut b).await;
        for (q, max) in maxes.iter().enumerate() {
            b.call_ok(raw::update_consumer_offset_request(GROUP, TOPIC, q as u32, *max)).await.expect("commit to max");
        }
        maxes
    });
    eprintln!("committed DrainGroup to the queue maxima {maxes:?}");

    // drain_ready becomes 1.
    let started = Instant::now();
    let e = cluster.run(|| wait_ready(serve));
    eprintln!("drain_ready 1 after {:?}", started.elapsed());
    for c in CHECKS {
        assert_eq!(e.one("rocketmq_broker_drain_check", &[("broker", BROKER_NAME), ("check", c)]), Some(1.0), "check {c}");
    }
    assert_eq!(e.one("rocketmq_consumer_group_diff", &[("group", GROUP), ("topic", TOPIC)]), Some(0.0));
    assert_eq!(e.values("rocketmq_namesrv_route_writable", &[("broker", BROKER_NAME)]), vec![0.0]);

    // The drain command follows the same verdict and exits 0 once ready.
    let st = wait_child(&mut drain, Duration::from_secs(30));
    let out = std::fs::read_to_string(&drain_out).unwrap_or_default();
    eprintln!("drain: {st:?}\n{out}{}", std::fs::read_to_string(&drain_log).unwrap_or_default());
    assert_eq!(st.and_then(|s| s.code()), Some(0), "drain exits 0 once ready: {out}");
    assert!(out.contains("READY"), "drain reports READY: {out}");

    let (st, out, _) = status(cluster, BROKER_NAME);
    assert_eq!(st.code(), Some(0), "status of the drained broker: {out}");

    // restore: permission 6, and traffic returns (we produce while it watches).
    let restore_log = cluster.dir().join("restore.log");
    let restore_out = cluster.dir().join("restore.out");
    let mut cmd = exporter_cmd(cluster, "restore", &restore_log);
    cmd.args(["--broker", BROKER_NAME, "--yes", "--collect.interval", "1s", "--follow.timeout", "40s"])
        .stdout(File::create(&restore_out).expect("restore stdout"));
    let mut restore = cluster.spawn_in_ns(&mut cmd).expect("spawn restore");
    let accepted = cluster.run(|| async {
        let mut b = cluster.broker_client().await.expect("connect broker");
        let started = Instant::now();
        let mut accepted = 0u32;
        while started.elapsed() < Duration::from_secs(45) {
            let r = b.call(raw::send_message_request("DrainProducer", TOPIC, 0, b"back".to_vec())).await.expect("send");
            if r.code == 0 {
                accepted += 1;
            }
            if matches!(restore.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        accepted
    });
    let st = wait_child(&mut restore, Duration::from_secs(5));
    let out = std::fs::read_to_string(&restore_out).unwrap_or_default();
    eprintln!("restore: {st:?} ({accepted} sends accepted)\n{out}{}", std::fs::read_to_string(&restore_log).unwrap_or_default());
    assert_eq!(st.and_then(|s| s.code()), Some(0), "restore exits 0 once routes and traffic are back: {out}");
    assert!(accepted > 0, "sends are accepted again after restore");
    let e = cluster.run(|| {
        wait_scrape("permission 6 and not drained", Duration::from_secs(20), |e| {
            e.one("rocketmq_broker_permission", &master()) == Some(6.0)
                && e.one("rocketmq_broker_drain_ready", &master()) == Some(0.0)
        })
    });
    assert_eq!(e.one("rocketmq_broker_writable", &master()), Some(1.0));
}

/// Scrapes until `rocketmq_broker_drain_ready` is 1, printing every change of the checks.
async fn wait_ready(serve: &Serve) -> Exposition {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        if !matches!(http_get(WEB_PORT, "/-/ready").await, Ok((200, _))) {
            assert!(started.elapsed() < DRAIN_WAIT, "exporter not ready within {DRAIN_WAIT:?}:\n{}", serve.log_text());
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        let e = scrape().await;
        let ready = e.one("rocketmq_broker_drain_ready", &master());
        let line = format!("ready={ready:?} {}", check_values(&e));
        if line != last {
            eprintln!("[{:>5.1}s] {line}", started.elapsed().as_secs_f64());
            last = line.clone();
        }
        if ready == Some(1.0) {
            return e;
        }
        if started.elapsed() > DRAIN_WAIT {
            panic!("drain never ready within {DRAIN_WAIT:?}: {line}\nexporter log:\n{}", serve.log_text());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn send(b: &mut RawClient, n: u32) {
    for i in 0..n {
        b.call_ok(raw::send_message_request("DrainProducer", TOPIC, i % QUEUES, format!("m{i}").into_bytes()))
            .await
            .unwrap_or_else(|e| panic!("send message {i}: {e}"));
    }
}

/// Per-queue max offsets of DrainTopic, from GET_TOPIC_STATS_INFO via the exporter's decoder.
async fn queue_maxes(b: &mut RawClient) -> Vec<i64> {
    let resp = b.call_ok(raw::topic_stats_request(TOPIC)).await.expect("202");
    let ts = rocketmq_exporter::protocol::topic_stats::TopicStatsTable::decode(&resp.body).expect("decode 202");
    let mut maxes = vec![0i64; QUEUES as usize];
    for (mq, o) in &ts.offset_table {
        maxes[mq.queue_id as usize] = o.max_offset;
    }
    maxes
}

/// Scrapes until `failing` is the only drain check of the master that fails.
async fn only_failing(failing: &str, within: Duration) -> Exposition {
    wait_scrape(&format!("every check but {failing} passing"), within, |e| {
        CHECKS.iter().all(|c| {
            let v = e.one("rocketmq_broker_drain_check", &[("broker", BROKER_NAME), ("check", c)]);
            v == Some(if *c == failing { 0.0 } else { 1.0 })
        })
    })
    .await
}

/// Scrapes (inside the namespace) until `pred` holds; panics with the last exposition.
async fn wait_scrape(what: &str, within: Duration, pred: impl Fn(&Exposition) -> bool) -> Exposition {
    let deadline = Instant::now() + within;
    loop {
        let ready = matches!(http_get(WEB_PORT, "/-/ready").await, Ok((200, _)));
        if ready {
            let e = scrape().await;
            if pred(&e) {
                return e;
            }
            if Instant::now() > deadline {
                panic!("{what}: not reached within {within:?}; last exposition:\n{}", e.raw);
            }
        } else if Instant::now() > deadline {
            panic!("{what}: exporter not ready within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn wait_child(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

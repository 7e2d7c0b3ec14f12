//! The operator commands: `status` (one-shot verdict), `drain` / `restore` (the only commands that
//! mutate a cluster, and only after confirmation), and `demo`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::admin::Admin;
use crate::cli::{ConnArgs, DemoArgs, MutateArgs, StatusArgs};
use crate::collect::Collector;
use crate::drain::{self, Verdict};
use crate::remoting::RemotingClient;
use crate::snapshot::{BrokerNode, Snapshot};
use crate::status_table::render_status;

/// Exit codes of `status --broker`: scripts loop on them.
pub const EXIT_READY: i32 = 0;
pub const EXIT_NOT_READY: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

fn collector(conn: &ConnArgs) -> anyhow::Result<Collector> {
    let client = RemotingClient::new(conn.client_options()?).context("TLS configuration")?;
    Ok(Collector::new(Admin::new(client), conn.collect_config()))
}

/// Two samples `--drain.window` apart, so `no_writes` is measured, not assumed.
async fn two_samples(c: &Collector, window: Duration, quiet: bool) -> (Arc<Snapshot>, Arc<Snapshot>) {
    let first = Arc::new(c.collect().await);
    if !quiet {
        eprintln!("sampled the cluster; sampling again in {}s to measure writes…", window.as_secs());
    }
    tokio::time::sleep(window).await;
    let second = Arc::new(c.collect().await);
    (first, second)
}

fn find_master<'a>(snap: &'a Snapshot, broker: &str) -> Option<&'a BrokerNode> {
    snap.brokers.iter().find(|b| b.broker == broker && b.is_master())
}

/// `status`: prints the table; with `--broker`, returns that broker's verdict as the exit code.
pub async fn status(args: &StatusArgs) -> anyhow::Result<i32> {
    let c = collector(&args.conn)?;
    // Fail fast on an unknown broker name or an unreachable cluster, before waiting a window.
    let probe = c.collect().await;
    if probe.brokers.is_empty() {
        let why: Vec<String> = probe.namesrvs.iter().filter_map(|n| n.error.clone()).collect();
        eprintln!("error: no brokers found{}", if why.is_empty() { String::new() } else { format!(": {}", why.join("; ")) });
        return Ok(EXIT_ERROR);
    }
    if let Some(name) = &args.broker {
        if find_master(&probe, name).is_none() {
            let known: Vec<&str> = probe.brokers.iter().filter(|b| b.is_master()).map(|b| b.broker.as_str()).collect();
            eprintln!("error: no master named {name:?}; known brokers: {}", known.join(", "));
            return Ok(EXIT_ERROR);
        }
    }
    let (first, second) = two_samples(&c, args.drain.drain_window, false).await;
    let verdicts = drain::evaluate_series(&[first, second.clone()], &args.drain.config());
    print!("{}", render_status(&second, &verdicts, args.broker.as_deref()));
    let Some(name) = &args.broker else { return Ok(EXIT_READY) };
    Ok(match verdicts.iter().find(|v| &v.broker == name) {
        Some(v) if v.ready => EXIT_READY,
        Some(_) => EXIT_NOT_READY,
        None => EXIT_ERROR,
    })
}

fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to change the cluster without confirmation: stdin is not a terminal; pass --yes");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if !matches!(line.trim(), "y" | "Y" | "yes") {
        bail!("aborted; nothing was changed");
    }
    Ok(())
}

fn verdict_line(v: &Verdict) -> String {
    let failing: Vec<String> = v.checks.iter().filter(|c| !c.pass).map(|c| format!("{}: {}", c.check.name(), c.reason)).collect();
    if v.ready {
        format!("{}: READY — safe to take offline", v.broker)
    } else {
        format!("{}: not ready — {}", v.broker, failing.join("; "))
    }
}

/// Finds the named master, asks for confirmation, and sets its `brokerPermission`: the one
/// mutation this tool makes. Returns the master as it was before, or `None` (after saying why)
/// when there is no master of that name.
async fn set_permission(c: &Collector, args: &MutateArgs, perm: &str, meaning: &str) -> anyhow::Result<Option<BrokerNode>> {
    let snap = c.collect().await;
    let Some(master) = find_master(&snap, &args.broker) else {
        eprintln!("error: no master named {:?}", args.broker);
        return Ok(None);
    };
    let addr = &master.addr;
    confirm(&format!("Set brokerPermission={perm} ({meaning}) on {} at {addr}?", args.broker), args.yes)?;
    c.admin()
        .update_broker_config(addr, &[("brokerPermission", perm)], args.conn.collect_timeout)
        .await
        .with_context(|| format!("UPDATE_BROKER_CONFIG on {addr}"))?;
    Ok(Some(master.clone()))
}

/// `drain`: permission 4 on the named master, then follow the verdict until ready.
pub async fn drain(args: &MutateArgs) -> anyhow::Result<i32> {
    let c = collector(&args.conn)?;
    let Some(master) = set_permission(&c, args, "4", "read-only").await? else {
        return Ok(EXIT_ERROR);
    };
    let addr = master.addr;
    eprintln!("{} at {addr}: brokerPermission set to 4; following readiness (Ctrl-C to stop)…", args.broker);
    let mut history = drain::History::new(args.drain.drain_window);
    let deadline = Instant::now() + args.follow_timeout;
    let mut last = String::new();
    loop {
        let snap = Arc::new(c.collect().await);
        history.push(snap.clone());
        let verdicts = drain::evaluate(&snap, &history.past(), &args.drain.config());
        if let Some(v) = verdicts.iter().find(|v| v.broker == args.broker) {
            let line = verdict_line(v);
            if line != last {
                println!("{line}");
                last = line;
            }
            if v.ready {
                if let Some(m) = find_master(&snap, &args.broker) {
                    for note in crate::status_table::notes(m) {
                        println!("  note: {note}");
                    }
                }
                return Ok(EXIT_READY);
            }
        }
        if Instant::now() >= deadline {
            eprintln!("still not ready after {}s", args.follow_timeout.as_secs());
            return Ok(EXIT_NOT_READY);
        }
        tokio::time::sleep(args.collect_interval).await;
    }
}

/// `restore`: permission 6 on the named master, then verify that routes carry the write bit on
/// every NameServer and that messages are stored again.
pub async fn restore(args: &MutateArgs) -> anyhow::Result<i32> {
    let c = collector(&args.conn)?;
    let Some(master) = set_permission(&c, args, "6", "read-write").await? else {
        return Ok(EXIT_ERROR);
    };
    let before = user_offsets(&master);
    let addr = master.addr;
    eprintln!("{} at {addr}: brokerPermission set to 6; waiting for routes and traffic…", args.broker);
    let deadline = Instant::now() + args.follow_timeout;
    loop {
        let snap = c.collect().await;
        let m = find_master(&snap, &args.broker);
        let perm_ok = m.and_then(|m| m.permission).is_some_and(|p| p & 2 != 0);
        let routes_ok = route_writable_everywhere(&c, &snap, &args.broker).await;
        // InTPS alone proves nothing: the retry trickle keeps it above 0 on a drained broker.
        // Traffic is back when user-topic offsets move again.
        let traffic = matches!((before, m.and_then(user_offsets)), (Some(b), Some(n)) if n > b);
        println!(
            "{}: permission {} routes {} traffic {}",
            args.broker,
            if perm_ok { "rw" } else { "not writable" },
            if routes_ok { "writable on all NameServers" } else { "not yet writable everywhere" },
            if traffic { "returned" } else { "not yet" }
        );
        if perm_ok && routes_ok && traffic {
            return Ok(EXIT_READY);
        }
        if Instant::now() >= deadline {
            eprintln!("traffic did not return within {}s", args.follow_timeout.as_secs());
            return Ok(EXIT_NOT_READY);
        }
        tokio::time::sleep(args.collect_interval).await;
    }
}

/// Σ of user-topic queue max offsets on a master (None when its consume stats are unknown).
fn user_offsets(master: &BrokerNode) -> Option<i64> {
    use crate::snapshot::{topic_kind, TopicKind};
    let rows = master.consume.as_ref()?;
    let mut max: std::collections::BTreeMap<(&str, i32), i64> = Default::default();
    for r in rows.iter().filter(|r| topic_kind(&r.topic) == TopicKind::User) {
        let e = max.entry((r.topic.as_ref(), r.queue_id)).or_insert(0);
        *e = (*e).max(r.broker_offset);
    }
    Some(max.values().sum())
}

async fn route_writable_everywhere(c: &Collector, snap: &Snapshot, broker: &str) -> bool {
    if snap.namesrvs.is_empty() {
        return false;
    }
    for ns in &snap.namesrvs {
        match c.admin().route(&ns.addr, broker).await {
            Ok(r) => {
                let w = r.queue_datas.iter().filter(|q| q.broker_name == broker).any(|q| q.perm & 2 != 0);
                if !w {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// Simulated seconds of one demo loop: broker-b is drained at 60 s, restored at 600 s, and the
/// loop starts over at 720 s (3 minutes of real time at the default 4x speed-up).
pub const DEMO_PERIOD_SECS: f64 = 720.0;

/// The runbook, repeated: the demo runs until stopped, so it replays the drain forever (for a
/// week of simulated time, long enough for any demo).
pub fn demo_scenario() -> crate::sim::scenario::Scenario {
    use crate::sim::scenario::{Action, Scenario, RUNBOOK_BROKER};
    let mut s = Scenario::none();
    s.name = "demo".into();
    let loops = (7.0 * 86400.0 / DEMO_PERIOD_SECS) as usize;
    for k in 0..loops {
        let base = k as f64 * DEMO_PERIOD_SECS;
        s = s
            .with(base + 60.0, Action::SetPermission { broker: RUNBOOK_BROKER.into(), perm: 4 })
            .with(base + 600.0, Action::SetPermission { broker: RUNBOOK_BROKER.into(), perm: 6 });
    }
    s.t1_secs = Some(60.0);
    s.t2_secs = Some(600.0);
    s
}

/// `demo`: the simulated cluster replaying the runbook, with the exporter serving on top.
pub async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    use crate::sim::{SimCluster, SimConfig};
    let cluster = SimCluster::start_with_scenario(SimConfig::runbook(), demo_scenario())
        .await
        .context("starting the simulated cluster")?;
    let _clock = cluster.spawn_realtime(args.speedup);
    let mut serve = args.serve.clone();
    serve.conn.namesrv_addr = Some(crate::cli::NamesrvList(vec![cluster.namesrv_addr().to_string()]));
    serve.conn.broker_addr.clear();
    let listen = serve.web_listen_address.clone();
    let port = listen.rsplit(':').next().unwrap_or("5558");
    eprintln!(
        "demo: simulated RocketMQ cluster (NameServer {}) replaying the drain runbook at {}x speed.\n\
         demo: broker-b goes read-only, drains, and is restored, in a loop. Watch:\n\
         demo:   http://127.0.0.1:{port}{}  (rocketmq_broker_permission, rocketmq_broker_put_tps,\n\
         demo:   rocketmq_consumer_group_diff, rocketmq_broker_drain_ready)\n\
         demo:   or: rocketmq-exporter status --namesrv.addr {} --broker broker-b",
        cluster.namesrv_addr(),
        args.speedup,
        serve.web_telemetry_path,
        cluster.namesrv_addr()
    );
    crate::daemon::run_serve(&serve).await
}

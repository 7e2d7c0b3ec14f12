//! The README's metric reference is generated from the code; this test fails when they disagree.
//! Regenerate with `UPDATE_README=1 cargo test --test readme`.

use rocketmq_exporter::{render, self_metrics};

const START: &str = "<!-- metrics:start -->";
const END: &str = "<!-- metrics:end -->";

fn generated() -> String {
    let mut rows: Vec<(String, String, String)> =
        render::families().iter().map(|(n, t, h)| (n.to_string(), t.to_string(), h.to_string())).collect();
    // Touch the counters so the registry reports them, then list the exporter's own families.
    let m = self_metrics::global();
    m.requests_total.with_label_values(&["0", "success"]).inc_by(0);
    m.request_duration.with_label_values(&["0"]);
    for f in m.registry.gather() {
        if f.name().starts_with("rocketmq_") {
            let t = format!("{:?}", f.get_field_type()).to_lowercase();
            rows.push((f.name().to_string(), t, f.help().to_string()));
        }
    }
    let mut out = String::from(
        "Broker series carry `cluster, broker, broker_id, addr`; queue series `cluster, broker, topic, group, queue_id`\n\
         (`rocketmq_queue_max_offset` without `group`); `rocketmq_consumer_group_diff` `cluster, broker, topic, group`.\n\
         Process metrics (`process_*`) are exported too.\n\n\
         | metric | type | meaning |\n|---|---|---|\n",
    );
    for (n, t, h) in rows {
        out.push_str(&format!("| `{n}` | {t} | {} |\n", h.replace('|', "\\|")));
    }
    out
}

#[test]
fn readme_metric_reference_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (head, rest) = readme.split_once(START).expect("README has the metrics start marker");
    let (current, tail) = rest.split_once(END).expect("README has the metrics end marker");
    let want = format!("\n{}", generated());
    if std::env::var("UPDATE_README").as_deref() == Ok("1") {
        std::fs::write(path, format!("{head}{START}{want}{END}{tail}")).unwrap();
        return;
    }
    assert_eq!(current, want, "README metric reference is stale: run UPDATE_README=1 cargo test --test readme");
}

#[test]
fn every_design_metric_is_documented() {
    // DESIGN.md §4's names, the contract other parts (alerts, dashboard) rely on.
    let g = generated();
    for name in [
        "rocketmq_broker_up", "rocketmq_broker_info", "rocketmq_broker_permission", "rocketmq_broker_writable",
        "rocketmq_broker_readable", "rocketmq_broker_put_tps", "rocketmq_broker_get_tps",
        "rocketmq_broker_messages_put_total", "rocketmq_broker_messages_get_total", "rocketmq_broker_send_queue_size",
        "rocketmq_broker_send_queue_head_wait_seconds", "rocketmq_broker_pull_queue_size",
        "rocketmq_broker_pull_queue_head_wait_seconds", "rocketmq_broker_page_cache_lock_seconds",
        "rocketmq_broker_earliest_message_timestamp_seconds", "rocketmq_broker_commitlog_disk_ratio",
        "rocketmq_broker_commitlog_max_offset_bytes", "rocketmq_broker_commitlog_min_offset_bytes",
        "rocketmq_broker_dispatch_behind_bytes", "rocketmq_broker_flush_behind_bytes",
        "rocketmq_broker_replication_lag_bytes", "rocketmq_broker_scheduled_messages_pending", "rocketmq_consumer_diff",
        "rocketmq_consumer_offset", "rocketmq_consumer_last_timestamp_seconds", "rocketmq_queue_max_offset",
        "rocketmq_consumer_group_diff", "rocketmq_broker_drain_ready", "rocketmq_broker_drain_check",
        "rocketmq_broker_dlq_messages", "rocketmq_exporter_build_info", "rocketmq_namesrv_up",
        "rocketmq_exporter_collect_duration_seconds", "rocketmq_exporter_last_collect_timestamp_seconds",
        "rocketmq_exporter_requests_total",
    ] {
        assert!(g.contains(&format!("`{name}`")), "{name} missing from the metric reference");
    }
}

/// Alert rules, their tests, the dashboard and the deploy examples may only use metric names the
/// code emits (the README reference is generated from the same list).
#[test]
fn alerts_and_dashboard_use_only_emitted_metrics() {
    let known = generated();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["alerts", "alerts/tests", "dashboards", "deploy", "deploy/kubernetes"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            files.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    assert!(files.len() >= 4, "expected alert, test, dashboard and deploy files, found {files:?}");
    let re = regex::Regex::new(r"rocketmq_[a-z_]+").unwrap();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for m in re.find_iter(&text) {
            let name = m.as_str();
            let base = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
            assert!(
                known.contains(&format!("`{name}`")) || known.contains(&format!("`{base}`")),
                "{} uses {name}, which the exporter does not emit",
                f.display()
            );
        }
    }
}

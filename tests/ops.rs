//! The operator-facing artifacts: alert rules and their promtool unit tests, the Grafana
//! dashboard, the deployment examples and the Dockerfile.
//!
//! These files are the exporter's contract as operators see it, so they are checked against the
//! metric names of DESIGN.md §4 and, where the real tools exist, by `promtool` and `amtool`
//! themselves. Without a tool the test prints why it skipped, unless
//! `ROCKETMQ_EXPORTER_REQUIRE_REAL=1`, which turns a missing tool into a failure (CI).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// Every metric name the exporter emits (DESIGN.md §4), plus Prometheus' own `up`.
const METRICS: &[&str] = &[
    "up",
    "rocketmq_broker_up",
    "rocketmq_broker_info",
    "rocketmq_broker_permission",
    "rocketmq_broker_writable",
    "rocketmq_broker_readable",
    "rocketmq_broker_put_tps",
    "rocketmq_broker_get_tps",
    "rocketmq_broker_messages_put_total",
    "rocketmq_broker_messages_get_total",
    "rocketmq_broker_send_queue_size",
    "rocketmq_broker_send_queue_head_wait_seconds",
    "rocketmq_broker_pull_queue_size",
    "rocketmq_broker_pull_queue_head_wait_seconds",
    "rocketmq_broker_page_cache_lock_seconds",
    "rocketmq_broker_earliest_message_timestamp_seconds",
    "rocketmq_broker_commitlog_disk_ratio",
    "rocketmq_broker_commitlog_max_offset_bytes",
    "rocketmq_broker_commitlog_min_offset_bytes",
    "rocketmq_broker_dispatch_behind_bytes",
    "rocketmq_broker_flush_behind_bytes",
    "rocketmq_broker_start_time_seconds",
    "rocketmq_broker_active",
    "rocketmq_broker_replication_lag_bytes",
    "rocketmq_broker_scheduled_messages_pending",
    "rocketmq_broker_dlq_messages",
    "rocketmq_broker_drain_ready",
    "rocketmq_broker_drain_check",
    "rocketmq_consumer_diff",
    "rocketmq_consumer_offset",
    "rocketmq_consumer_last_timestamp_seconds",
    "rocketmq_queue_max_offset",
    "rocketmq_consumer_group_diff",
    "rocketmq_namesrv_up",
    "rocketmq_namesrv_route_writable",
    "rocketmq_exporter_build_info",
    "rocketmq_exporter_collect_duration_seconds",
    "rocketmq_exporter_last_collect_timestamp_seconds",
    "rocketmq_exporter_collect_interval_seconds",
    "rocketmq_exporter_requests_total",
    "rocketmq_exporter_request_duration_seconds",
];

/// Histograms also expose `_bucket`, `_sum` and `_count` series.
const HISTOGRAMS: &[&str] = &["rocketmq_exporter_request_duration_seconds"];

/// The alerts the brief asks for; more may exist.
const REQUIRED_ALERTS: &[&str] = &[
    "RocketMQBrokerDrainedAndIdle",
    "RocketMQBrokerDrainStalled",
    "RocketMQBrokerWritesWhileReadOnly",
    "RocketMQBrokerRouteMismatch",
    "RocketMQBrokerDown",
    "RocketMQNameServerDown",
    "RocketMQExporterCollectionStale",
    "RocketMQReplicationLagHigh",
    "RocketMQConsumerBacklogGrowing",
    "RocketMQBrokerRestoredWithoutTraffic",
    "RocketMQDiskAlmostFull",
];

const DRAIN_CHECKS: &[&str] =
    &["write_disabled", "routes", "no_writes", "backlog", "retry_backlog", "scheduled", "transactions", "replication", "flush"];

const RULES: &str = "alerts/rocketmq-exporter.rules.yml";
const DASHBOARD: &str = "dashboards/rocketmq-exporter.json";
const K8S: &str = "deploy/kubernetes/broker-sidecar.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml(rel: &str) -> Yaml {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

fn require_real() -> bool {
    std::env::var("ROCKETMQ_EXPORTER_REQUIRE_REAL").is_ok_and(|v| v == "1")
}

/// Finds an external tool in /usr/bin or on PATH. When absent, prints the skip reason and
/// returns None, or fails when real tools are required.
fn tool(name: &str) -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/bin").join(name)];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    assert!(!require_real(), "{name} not found but ROCKETMQ_EXPORTER_REQUIRE_REAL=1");
    eprintln!(
        "SKIP: {name} not found in /usr/bin or PATH (bash .ci/run installs it: Debian's prometheus and \
         prometheus-alertmanager, PyPI's kubernetes-validate)"
    );
    None
}

/// Runs a tool from the repository root and fails with its whole output unless it succeeds.
fn run_ok(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} {:?} failed ({}):\n{text}", program.display(), args, out.status);
    text
}

/// Metric-name problems in one PromQL expression: every `rocketmq_*` identifier and every
/// identifier used as a selector (`name{`, `name[`) must be a known metric. Quoted strings are
/// dropped first, so label values never count.
fn unknown_metrics(expr: &str) -> Vec<String> {
    unknown_names(expr, true)
}

/// Like `unknown_metrics`, for prose with embedded PromQL (alert annotations): only `rocketmq_*`
/// identifiers count, since prose puts `{{ ... }}` after ordinary words.
fn unknown_metrics_in_text(text: &str) -> Vec<String> {
    unknown_names(text, false)
}

fn unknown_names(expr: &str, selectors: bool) -> Vec<String> {
    let strings = Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`"#).unwrap();
    let stripped = strings.replace_all(expr, "\"\"");
    let ident = Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap();
    let known = |name: &str| {
        METRICS.contains(&name)
            || HISTOGRAMS
                .iter()
                .any(|h| name.strip_prefix(h).is_some_and(|suffix| ["_bucket", "_sum", "_count"].contains(&suffix)))
    };
    let mut bad = Vec::new();
    for m in ident.find_iter(&stripped) {
        // Skip identifiers glued to a preceding `$`/`.` (template variables, `.Labels.x`).
        let before = stripped[..m.start()].chars().next_back();
        if matches!(before, Some('$' | '.')) {
            continue;
        }
        let name = m.as_str().trim_end_matches(':');
        let next = stripped[m.end()..].trim_start().chars().next();
        let is_selector = selectors && matches!(next, Some('{' | '['));
        if (name.starts_with("rocketmq_") || is_selector) && !known(name) {
            bad.push(name.to_string());
        }
    }
    bad
}

#[test]
fn unknown_metrics_helper_catches_typos_and_foreign_metrics() {
    // The checker itself must be able to fail, or the tests below prove nothing.
    assert!(unknown_metrics(r#"sum(rate(rocketmq_broker_messages_put_total{broker=~"$broker"}[5m]))"#).is_empty());
    assert!(unknown_metrics("up and on (job) rocketmq_exporter_build_info").is_empty());
    assert!(unknown_metrics("rate(rocketmq_exporter_request_duration_seconds_bucket[5m])").is_empty());
    assert_eq!(unknown_metrics("rocketmq_broker_drain_readyy == 1"), vec!["rocketmq_broker_drain_readyy"]);
    assert_eq!(unknown_metrics(r#"node_load1{job="x"}"#), vec!["node_load1"]);
    assert_eq!(unknown_metrics("rocketmq_consumer_diff_bucket"), vec!["rocketmq_consumer_diff_bucket"]);
    assert!(unknown_metrics_in_text("broker {{ $labels.broker }} is down").is_empty());
    assert_eq!(unknown_metrics_in_text("see rocketmq_broker_lag{x}"), vec!["rocketmq_broker_lag"]);
    // Label values and label names are not metrics.
    assert!(unknown_metrics(r#"label_replace(up, "check", "rocketmq_fake", "", "")"#).is_empty());
    assert!(unknown_metrics(r#"rocketmq_broker_drain_check{check="no_writes"} == 0"#).is_empty());
}

// ------------------------------------------------------------------------------------------
// Alert rules

/// (alert name, rule) for every alerting rule, in file order.
fn alert_rules() -> Vec<(String, Yaml)> {
    let doc = yaml(RULES);
    let groups = doc["groups"].as_sequence().expect("groups is a list");
    let mut out = Vec::new();
    for g in groups {
        for r in g["rules"].as_sequence().expect("rules is a list") {
            if let Some(name) = r["alert"].as_str() {
                out.push((name.to_string(), r.clone()));
            }
        }
    }
    out
}

#[test]
fn alert_rules_are_complete_and_documented() {
    let rules = alert_rules();
    let names: BTreeSet<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), rules.len(), "duplicate alert names");
    for required in REQUIRED_ALERTS {
        assert!(names.contains(required), "missing alert {required}");
    }
    for (name, rule) in &rules {
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(["info", "warning", "critical"].contains(&severity), "{name}: severity {severity:?}");
        for key in ["summary", "description"] {
            let text = rule["annotations"][key].as_str().unwrap_or_default();
            assert!(text.len() > 20, "{name}: annotation {key} missing or too short");
        }
        let expr = rule["expr"].as_str().expect("expr");
        let bad = unknown_metrics(expr);
        assert!(bad.is_empty(), "{name}: unknown metrics in expr: {bad:?}");
        for (key, value) in rule["annotations"].as_mapping().expect("annotations") {
            let text = value.as_str().unwrap_or_default();
            let bad = unknown_metrics_in_text(text);
            assert!(bad.is_empty(), "{name}: unknown metrics in annotation {key:?}: {bad:?}");
            // PromQL run by the `query` template function is checked as strictly as an expr.
            for q in Regex::new(r#"printf "([^"]*)""#).unwrap().captures_iter(text) {
                let bad = unknown_metrics(&q[1]);
                assert!(bad.is_empty(), "{name}: unknown metrics in annotation query {:?}: {bad:?}", &q[1]);
            }
        }
    }
}

#[test]
fn drained_and_idle_alert_is_guarded_and_held() {
    let rules = alert_rules();
    let (_, rule) = rules.iter().find(|(n, _)| n == "RocketMQBrokerDrainedAndIdle").expect("alert exists");
    assert_eq!(rule["labels"]["severity"].as_str(), Some("info"));
    assert_eq!(rule["for"].as_str(), Some("5m"), "must hold >= 2 x 30s refresh and several scrapes");
    let expr = rule["expr"].as_str().unwrap();
    assert!(expr.contains("rocketmq_broker_drain_ready == 1"), "{expr}");
    assert!(Regex::new(r"\bup == 1").unwrap().is_match(expr), "exporter-up guard missing: {expr}");
    assert!(expr.contains("rocketmq_broker_up == 1"), "broker-up guard missing: {expr}");
    let text = format!("{:?}", rule["annotations"]);
    assert!(text.contains("safe to"), "must tell the operator it is safe: {text}");
    assert!(text.contains("-v 6") || text.contains("permission 6"), "must say to restore permission 6: {text}");
}

#[test]
fn drain_stalled_alert_names_failing_checks() {
    let rules = alert_rules();
    let (_, rule) = rules.iter().find(|(n, _)| n == "RocketMQBrokerDrainStalled").expect("alert exists");
    let description = rule["annotations"]["description"].as_str().unwrap();
    assert!(description.contains("rocketmq_broker_drain_check") && description.contains("== 0"), "{description}");
    assert!(description.contains(".Labels.check"), "{description}");
}

/// Every alert has promtool cases where it fires with exact labels and annotations, and cases
/// where it must stay silent.
#[test]
fn every_alert_has_firing_and_silent_unit_tests() {
    let mut fires: BTreeMap<String, usize> = BTreeMap::new();
    let mut silent: BTreeMap<String, usize> = BTreeMap::new();
    let files = rule_test_files();
    assert!(!files.is_empty(), "no alerts/tests/*.yml");
    for file in &files {
        let doc: Yaml = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let rule_files: Vec<&str> =
            doc["rule_files"].as_sequence().expect("rule_files").iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(rule_files, vec!["../rocketmq-exporter.rules.yml"], "{}", file.display());
        for case in doc["tests"].as_sequence().expect("tests") {
            for t in case["alert_rule_test"].as_sequence().map(Vec::as_slice).unwrap_or_default() {
                let name = t["alertname"].as_str().expect("alertname").to_string();
                let exp = t["exp_alerts"].as_sequence().map(Vec::as_slice).unwrap_or_default();
                if exp.is_empty() {
                    *silent.entry(name).or_default() += 1;
                } else {
                    for a in exp {
                        let labels = a["exp_labels"].as_mapping().map(|m| m.len()).unwrap_or(0);
                        let annotations = a["exp_annotations"].as_mapping().expect("exp_annotations");
                        assert!(labels >= 2, "{name}: expected labels must be spelled out");
                        for key in ["summary", "description"] {
                            assert!(
                                annotations.contains_key(key),
                                "{name}: exact expected annotation {key} missing in {}",
                                file.display()
                            );
                        }
                    }
                    *fires.entry(name).or_default() += 1;
                }
            }
        }
    }
    for (name, _) in alert_rules() {
        assert!(fires.get(&name).copied().unwrap_or(0) > 0, "{name}: no promtool case where it fires");
        assert!(silent.get(&name).copied().unwrap_or(0) > 0, "{name}: no promtool case where it must not fire");
    }
}

fn rule_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("alerts/tests"))
        .expect("alerts/tests")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn promtool_check_rules() {
    let Some(promtool) = tool("promtool") else { return };
    let out = run_ok(&promtool, &["check", "rules", RULES]);
    let expected = format!("SUCCESS: {} rules found", alert_rules().len());
    assert!(out.contains(&expected), "{out}");
}

#[test]
fn promtool_test_rules() {
    let Some(promtool) = tool("promtool") else { return };
    let files: Vec<String> =
        rule_test_files().iter().map(|p| p.strip_prefix(root()).unwrap().to_string_lossy().into_owned()).collect();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let out = run_ok(&promtool, &args);
    assert_eq!(out.matches("SUCCESS").count(), files.len(), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
}

// ------------------------------------------------------------------------------------------
// Dashboard

fn dashboard() -> Json {
    serde_json::from_str(&read(DASHBOARD)).expect("dashboard is JSON")
}

/// Every `expr` string anywhere in the dashboard (panel targets and annotation queries).
fn collect_exprs(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Json::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|i| collect_exprs(i, out)),
        _ => {}
    }
}

/// All panels, rows' nested panels included.
fn all_panels(d: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

#[test]
fn dashboard_uses_only_contract_metrics() {
    let d = dashboard();
    let mut exprs = Vec::new();
    collect_exprs(&d, &mut exprs);
    assert!(exprs.len() >= 15, "only {} expressions", exprs.len());
    for expr in &exprs {
        let bad = unknown_metrics(expr);
        assert!(bad.is_empty(), "unknown metrics {bad:?} in {expr}");
    }
    for var in d["templating"]["list"].as_array().expect("templating") {
        let q = var["definition"].as_str().or(var["query"]["query"].as_str()).unwrap_or_default();
        let bad = unknown_metrics(q);
        assert!(bad.is_empty(), "unknown metrics {bad:?} in variable {}", var["name"]);
    }
    // The drain story must actually be on the dashboard.
    let all = exprs.join("\n");
    for needed in ["rocketmq_broker_drain_ready", "rocketmq_broker_drain_check", "rocketmq_consumer_group_diff"] {
        assert!(all.contains(needed), "no panel uses {needed}");
    }
}

#[test]
fn dashboard_structure() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_i64().unwrap_or(0) >= 36, "schemaVersion");
    let vars: BTreeMap<&str, &Json> = d["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .map(|v| (v["name"].as_str().unwrap_or_default(), v))
        .collect();
    assert_eq!(vars.get("datasource").map(|v| v["type"].as_str()), Some(Some("datasource")));
    for name in ["cluster", "broker"] {
        let v = vars.get(name).unwrap_or_else(|| panic!("variable {name}"));
        let q = v["definition"].as_str().unwrap_or_default();
        assert!(q.starts_with("label_values(") && q.contains(name), "{name}: {q}");
    }

    let panels = all_panels(&d);
    let rows: Vec<&str> = panels.iter().filter(|p| p["type"] == "row").filter_map(|p| p["title"].as_str()).collect();
    for row in ["Drain status", "Traffic", "Backlog", "Replication & store", "Exporter"] {
        assert!(rows.contains(&row), "row {row:?} missing; rows: {rows:?}");
    }
    let mut ids = BTreeSet::new();
    let mut boxes = Vec::new();
    for p in &panels {
        assert!(ids.insert(p["id"].as_i64().expect("panel id")), "duplicate panel id {}", p["id"]);
        let title = p["title"].as_str().unwrap_or_default();
        assert!(!title.trim().is_empty(), "panel without title: {p}");
        let g = &p["gridPos"];
        let rect = ["x", "y", "w", "h"].map(|k| g[k].as_i64().unwrap_or_else(|| panic!("{title}: gridPos.{k}")));
        assert!(rect[0] + rect[2] <= 24, "{title}: wider than the grid");
        boxes.push((title.to_string(), rect));
        if p["type"] == "row" {
            continue;
        }
        let ds = &p["datasource"];
        let uid = ds["uid"].as_str().or(ds.as_str()).unwrap_or_default();
        assert!(uid.contains("${datasource}") || uid.contains("${DS_PROMETHEUS}"), "{title}: datasource {ds}");
        let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{title}: target without expr");
        }
    }
    for (i, (a, ra)) in boxes.iter().enumerate() {
        for (b, rb) in &boxes[i + 1..] {
            let overlap =
                ra[0] < rb[0] + rb[2] && rb[0] < ra[0] + ra[2] && ra[1] < rb[1] + rb[3] && rb[1] < ra[1] + ra[3];
            assert!(!overlap, "panels {a:?} and {b:?} overlap");
        }
    }

    // The drain verdict is readable at a glance: READY / NOT READY mappings on drain_ready, and
    // a column for every drain check.
    let text = d.to_string();
    assert!(text.contains("\"READY\"") && text.contains("\"NOT READY\""), "READY/NOT READY mappings");
    let drain_table = panels
        .iter()
        .find(|p| p["type"] == "table" && p.to_string().contains("rocketmq_broker_drain_check"))
        .expect("a drain check table");
    let table_text = drain_table.to_string();
    for check in DRAIN_CHECKS {
        assert!(table_text.contains(&format!("\"{check}\"")), "drain table lacks column {check}");
    }
}

/// Every dashboard query is valid PromQL: promtool parses them as recording rules, with
/// Grafana's variables replaced by what Grafana would send.
#[test]
fn dashboard_queries_parse_with_promtool() {
    let Some(promtool) = tool("promtool") else { return };
    let mut exprs = Vec::new();
    collect_exprs(&dashboard(), &mut exprs);
    let rules: Vec<Yaml> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let e = e.replace("$__rate_interval", "1m").replace("$cluster", ".*").replace("$broker", ".*");
            let mut m = serde_yaml::Mapping::new();
            m.insert("record".into(), format!("dashboard:query_{i}").into());
            m.insert("expr".into(), e.into());
            Yaml::Mapping(m)
        })
        .collect();
    let doc = serde_yaml::to_string(&serde_json::json!({
        "groups": [{"name": "dashboard", "rules": serde_json::to_value(&rules).unwrap()}]
    }))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(&path, doc).unwrap();
    let out = run_ok(&promtool, &["check", "rules", path.to_str().unwrap()]);
    assert!(out.contains(&format!("SUCCESS: {} rules found", exprs.len())), "{out}");
}

// ------------------------------------------------------------------------------------------
// Deployment examples

fn yaml_documents(rel: &str) -> Vec<Yaml> {
    let text = read(rel);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e: serde_yaml::Error| panic!("{rel}: {e}")))
        .filter(|v: &Yaml| !v.is_null())
        .collect()
}

#[test]
fn every_deploy_yaml_document_parses() {
    let mut seen = 0;
    let mut stack = vec![root().join("deploy")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("deploy dir") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                let rel = path.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
                let docs = yaml_documents(&rel);
                assert!(!docs.is_empty(), "{rel}: no documents");
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "expected prometheus.yml, alertmanager.yml and the Kubernetes example, saw {seen}");
}

fn by_kind<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind)).unwrap_or_else(|| panic!("no {kind} in {K8S}"))
}

#[test]
fn kubernetes_prometheus_rule_holds_exactly_the_rule_groups() {
    let docs = yaml_documents(K8S);
    let rule = by_kind(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"].as_str(), Some("monitoring.coreos.com/v1"));
    let expected = &yaml(RULES)["groups"];
    assert!(expected.as_sequence().is_some_and(|g| !g.is_empty()));
    assert_eq!(rule["spec"].as_mapping().map(|m| m.len()), Some(1), "spec holds only groups");
    assert_eq!(&rule["spec"]["groups"], expected, "PrometheusRule drifted from {RULES}");
}

/// The built-in kinds (ConfigMap, StatefulSet, Service) against the Kubernetes API's own
/// schema, strictly (an unknown or misspelt field fails), with `kubernetes-validate` (PyPI,
/// which bundles the schemas; `.ci/run` installs it). The prometheus-operator kinds have no
/// bundled schema; the tests around this one check their content. A copy with one misspelt
/// field must fail, so a tool that passes everything cannot pass this test.
#[test]
fn kubernetes_manifest_validates_against_the_api_schema() {
    let Some(validate) = tool("kubernetes-validate") else { return };
    let out = run_ok(&validate, &["--strict", K8S]);
    for kind in ["configmap", "statefulset", "service"] {
        assert!(out.contains(&format!("passed for resource {kind}/")), "{kind} not validated:\n{out}");
    }
    // An optional field misspelt: only strict validation rejects it.
    let broken = read(K8S).replacen("runAsNonRoot:", "runAsNonroot:", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = Command::new(&validate).arg("--strict").arg(&path).output().expect("run kubernetes-validate");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        !out.status.success() && text.contains("did not validate for resource statefulset/") && text.contains("runAsNonroot"),
        "a misspelt field passed:\n{text}"
    );
}

#[test]
fn kubernetes_sidecar_is_wired_to_its_broker_and_scraped() {
    let docs = yaml_documents(K8S);
    let sts = by_kind(&docs, "StatefulSet");
    let containers = sts["spec"]["template"]["spec"]["containers"].as_sequence().expect("containers");
    assert!(containers.len() >= 2, "broker and exporter containers");
    let exporter = containers
        .iter()
        .find(|c| c["image"].as_str().is_some_and(|i| i.contains("rocketmq-exporter")))
        .expect("exporter sidecar container");
    let args: Vec<&str> = exporter["args"].as_sequence().expect("args").iter().filter_map(|a| a.as_str()).collect();
    assert_eq!(args.first(), Some(&"serve"));
    assert!(args.contains(&"--broker.addr=127.0.0.1:10911"), "{args:?}");
    let exporter_port = exporter["ports"][0]["containerPort"].as_i64();
    assert_eq!(exporter_port, Some(5558));
    assert_eq!(exporter["securityContext"]["runAsNonRoot"].as_bool(), Some(true));

    let service = by_kind(&docs, "Service");
    let ports = service["spec"]["ports"].as_sequence().expect("service ports");
    let metrics = ports.iter().find(|p| p["port"].as_i64() == Some(5558)).expect("service port 5558");
    let port_name = metrics["name"].as_str().expect("named metrics port");
    // The Service selects the pod, and the ServiceMonitor selects the Service by its labels.
    let pod_labels = &sts["spec"]["template"]["metadata"]["labels"];
    for (k, v) in service["spec"]["selector"].as_mapping().expect("selector") {
        assert_eq!(&pod_labels[k], v, "Service selector {k:?} does not match the pod");
    }
    let monitor = by_kind(&docs, "ServiceMonitor");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"].as_mapping().expect("matchLabels") {
        assert_eq!(&service["metadata"]["labels"][k], v, "ServiceMonitor selector {k:?} does not match the Service");
    }
    let endpoints = monitor["spec"]["endpoints"].as_sequence().expect("endpoints");
    assert!(endpoints.iter().any(|e| e["port"].as_str() == Some(port_name)), "ServiceMonitor port {port_name}");
}

#[test]
fn prometheus_config_loads_the_rules() {
    let cfg = yaml("deploy/prometheus.yml");
    let rule_files: Vec<&str> =
        cfg["rule_files"].as_sequence().expect("rule_files").iter().filter_map(|v| v.as_str()).collect();
    assert!(
        rule_files
            .iter()
            .any(|f| root().join("deploy").join(f) == root().join("deploy/../alerts/rocketmq-exporter.rules.yml")),
        "prometheus.yml must load {RULES}: {rule_files:?}"
    );
    for f in &rule_files {
        assert!(root().join("deploy").join(f).is_file(), "rule file {f} does not exist");
    }
    let Some(promtool) = tool("promtool") else { return };
    let out = run_ok(&promtool, &["check", "config", "deploy/prometheus.yml"]);
    assert!(out.contains("is valid prometheus config file syntax"), "{out}");
}

#[test]
fn alertmanager_config_routes_real_alerts() {
    // Matchers that name alerts must name alerts that exist, or a rename silently breaks routing.
    let text = read("deploy/alertmanager.yml");
    let known: BTreeSet<String> = alert_rules().into_iter().map(|(n, _)| n).collect();
    let matcher = Regex::new(r#"alertname\s*=~?\s*"([^"]+)""#).unwrap();
    let mut checked = 0;
    for cap in matcher.captures_iter(&text) {
        let pattern = Regex::new(&format!("^(?:{})$", &cap[1])).expect("matcher regex");
        assert!(known.iter().any(|a| pattern.is_match(a)), "matcher {:?} matches no alert", &cap[1]);
        checked += 1;
    }
    assert!(checked >= 3, "expected routes/inhibitions by alertname, found {checked}");
    assert!(text.contains("RocketMQBrokerDrainedAndIdle"), "the drain go-ahead needs its own route");

    let Some(amtool) = tool("amtool") else { return };
    let out = run_ok(&amtool, &["check-config", "deploy/alertmanager.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

// ------------------------------------------------------------------------------------------
// Dockerfile: its contract, checked on any machine (tests/docker_image.rs runs the built image).

/// Dockerfile instructions with line continuations joined, comments dropped.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let full = std::mem::take(&mut current);
        if let Some((op, rest)) = full.split_once(char::is_whitespace) {
            out.push((op.to_ascii_uppercase(), rest.trim().to_string()));
        }
    }
    out
}

#[test]
fn dockerfile_contract() {
    let ins = dockerfile_instructions();
    let all = |op: &'static str| ins.iter().filter(move |(o, _)| o == op).map(|(_, a)| a.as_str());
    let froms: Vec<&str> = all("FROM").collect();
    assert!(froms.len() >= 2, "multi-stage build: {froms:?}");
    assert!(froms[0].contains("rust") && froms[0].contains(" AS "), "builder stage: {}", froms[0]);
    assert!(froms.last().unwrap().contains("debian") && froms.last().unwrap().contains("slim"), "runtime stage");
    assert!(all("RUN").any(|r| r.contains("cargo build --release --locked")), "release build with --locked");

    // Everything after the last FROM is the runtime image.
    let last_from = ins.iter().rposition(|(o, _)| o == "FROM").unwrap();
    let runtime = &ins[last_from..];
    let user = runtime.iter().rev().find(|(o, _)| o == "USER").map(|(_, a)| a.as_str()).expect("USER in runtime stage");
    let user_name = user.split(':').next().unwrap();
    assert!(!["root", "0"].contains(&user_name), "runs as root: {user}");
    assert!(runtime.iter().any(|(o, a)| o == "EXPOSE" && a.split_whitespace().any(|p| p == "5558" || p == "5558/tcp")));
    let entry = runtime.iter().find(|(o, _)| o == "ENTRYPOINT").map(|(_, a)| a.as_str()).expect("ENTRYPOINT");
    assert!(entry.contains("rocketmq-exporter"), "{entry}");
    let cmd = runtime.iter().find(|(o, _)| o == "CMD").map(|(_, a)| a.as_str()).expect("CMD");
    let cmd: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec (JSON) form");
    assert_eq!(cmd, vec!["serve"]);
    assert!(runtime.iter().any(|(o, a)| o == "COPY" && a.contains("--from=")), "binary copied from the builder");

    let labels = runtime.iter().filter(|(o, _)| o == "LABEL").map(|(_, a)| a.as_str()).collect::<Vec<_>>().join(" ");
    let version = format!("org.opencontainers.image.version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(labels.contains(&version), "image version label is not Cargo.toml's {}: {labels}", env!("CARGO_PKG_VERSION"));
    assert!(labels.contains("org.opencontainers.image.licenses=\"Apache-2.0\""), "{labels}");

    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim().trim_end_matches('/') == "target"), ".dockerignore must exclude target/");
}

/// The Dockerfile's first build step sees only Cargo.toml, Cargo.lock, benches/ and placeholder
/// sources: cargo must accept that manifest there, and the layer must copy benches/ (Cargo.toml
/// declares bench targets). This replays that step's inputs as far as cargo can check them
/// without compiling, on any machine; `tests/docker_image.rs` builds and runs the whole image
/// where a Docker engine runs.
#[test]
fn dockerfile_dependency_layer_manifest_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for f in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root.join(f), dir.path().join(f)).unwrap();
    }
    let benches = dir.path().join("benches");
    std::fs::create_dir_all(&benches).unwrap();
    for e in std::fs::read_dir(root.join("benches")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), benches.join(e.file_name())).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}").unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo rejects the Docker build context:\n{}", String::from_utf8_lossy(&out.stderr));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY benches ./benches"), "the dependency layer must see every declared bench");
}

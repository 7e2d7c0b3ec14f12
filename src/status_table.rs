//! The `status` command's text: a clusterList-like table, then the drain verdict per master.
//!
//! Operators know `mqadmin clusterList`; the table keeps its column names so the numbers can be
//! compared at a glance, and adds the backlog and replication columns the drain decision needs.
//! In cells, `-` means "does not apply" (a slave has no consume stats) and `?` means "unknown".

use std::fmt::Write as _;

use crate::drain::checks::diff;
use crate::drain::Verdict;
use crate::snapshot::{topic_kind, BrokerNode, Snapshot, TopicKind};

const HEADER: [&str; 11] =
    ["#Cluster", "#Broker", "#BID", "#Addr", "#Version", "#Perm", "#InTPS", "#OutTPS", "#Diff(user)", "#Diff(retry)", "#ReplLag"];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "?".to_string(), |v| v.to_string())
}

fn tps(v: Option<f64>) -> String {
    v.map_or_else(|| "?".to_string(), |v| format!("{v:.2}"))
}

/// Σ positive Diff over one topic kind: what is left to consume (`?` without consume stats).
fn backlog(b: &BrokerNode, kind: TopicKind) -> String {
    if !b.is_master() {
        return "-".into();
    }
    match &b.consume {
        None => "?".into(),
        Some(rows) => rows
            .iter()
            .filter(|r| topic_kind(&r.topic) == kind)
            .fold(0i64, |acc, r| acc.saturating_add(diff(r).max(0)))
            .to_string(),
    }
}

fn row(b: &BrokerNode) -> [String; 11] {
    let rt = b.runtime.as_ref();
    [
        b.cluster.clone(),
        b.broker.clone(),
        b.broker_id.to_string(),
        b.addr.clone(),
        b.version.clone().unwrap_or_else(|| "?".into()),
        opt(b.permission),
        tps(rt.and_then(|r| r.put_tps)),
        tps(rt.and_then(|r| r.get_tps)),
        backlog(b, TopicKind::User),
        backlog(b, TopicKind::Retry),
        if b.is_master() { "-".into() } else { opt(b.replication_lag_bytes) },
    ]
}

/// Renders the table and verdicts; `only_broker` limits both to one broker name.
pub fn render_status(snapshot: &Snapshot, verdicts: &[Verdict], only_broker: Option<&str>) -> String {
    let wanted = |name: &str| only_broker.map_or(true, |w| w == name);
    let mut nodes: Vec<&BrokerNode> = snapshot.brokers.iter().filter(|b| wanted(&b.broker)).collect();
    nodes.sort_by(|a, b| (&a.cluster, &a.broker, a.broker_id, &a.addr).cmp(&(&b.cluster, &b.broker, b.broker_id, &b.addr)));
    let mut out = String::new();
    if nodes.is_empty() {
        match only_broker {
            Some(name) => {
                let _ = writeln!(out, "no broker named {name:?} in the collected cluster");
            }
            None => out.push_str("no brokers found\n"),
        }
        return out;
    }

    let rows: Vec<[String; 11]> = nodes.iter().map(|b| row(b)).collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&HEADER.map(String::from));
    for r in &rows {
        line(r);
    }
    for b in nodes.iter().filter(|b| !b.up) {
        let why = b.error.as_deref().unwrap_or("no reason recorded");
        let _ = writeln!(out, "DOWN {}/{} {}: {why}", b.broker, b.broker_id, b.addr);
    }

    let mut shown: Vec<&Verdict> = verdicts.iter().filter(|v| wanted(&v.broker)).collect();
    shown.sort_by(|a, b| (&a.cluster, &a.broker, &a.addr).cmp(&(&b.cluster, &b.broker, &b.addr)));
    let name_width = shown.iter().flat_map(|v| &v.checks).map(|c| c.check.name().len()).max().unwrap_or(0);
    for v in shown {
        let _ = writeln!(
            out,
            "\n{} ({}, {}): {}",
            v.broker,
            v.cluster,
            v.addr,
            if v.ready { "READY" } else { "NOT READY" }
        );
        for c in &v.checks {
            let mark = if c.pass { '✓' } else { '✗' };
            let _ = writeln!(out, "  {mark} {:<name_width$}  {}", c.check.name(), c.reason);
        }
        if let Some(master) = snapshot.brokers.iter().find(|b| b.addr == v.addr && b.is_master()) {
            for note in notes(master) {
                let _ = writeln!(out, "  note: {note}");
            }
        }
    }
    out
}

/// What the verdict does not block on but an operator should see before stopping the broker.
pub fn notes(master: &BrokerNode) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(rows) = &master.consume {
        let dlq = rows.iter().filter(|r| topic_kind(&r.topic) == TopicKind::Dlq).fold(0i64, |a, r| a.saturating_add(diff(r).max(0)));
        if dlq > 0 {
            notes.push(format!("{dlq} dead-letter (%DLQ%) messages not consumed; they do not block the drain"));
        }
    }
    // Queue ends of user topics nobody has committed an offset for (drain candidates only).
    let mut stored: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for q in master.unwatched_queues.iter().flatten().filter(|q| q.max_offset > 0) {
        let n = stored.entry(&*q.topic).or_default();
        *n = n.saturating_add(q.max_offset);
    }
    if !stored.is_empty() {
        const SHOWN: usize = 5;
        let mut list: Vec<String> = stored.iter().take(SHOWN).map(|(t, n)| format!("{t} ({n})")).collect();
        if stored.len() > SHOWN {
            list.push(format!("and {} more", stored.len() - SHOWN));
        }
        notes.push(format!(
            "topics holding messages that no consumer group has committed an offset for (queue max offsets): {}; \
             broadcasting consumers keep offsets on the client, so the broker cannot tell whether they are read",
            list.join(", ")
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::{evaluate, Check, CheckResult, DrainConfig};
    use crate::render::tests::rich_snapshot;

    fn status(only: Option<&str>) -> String {
        let s = rich_snapshot();
        let v = evaluate(&s, &[], &DrainConfig::default());
        render_status(&s, &v, only)
    }

    fn cells(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn table_rows_match_the_snapshot() {
        let text = status(None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(cells(lines[0]), HEADER.to_vec());
        // Master: Σ positive user Diff = 3 + 0 + 11, retry 2; TPS two decimals; ReplLag n/a.
        assert_eq!(
            cells(lines[1]),
            ["DefaultCluster", "broker-a", "0", "10.0.0.1:10911", "V4_9_8", "6", "23.50", "NaN", "14", "2", "-"]
        );
        // Slave: no consume stats apply, lag known, OutTPS unknown.
        assert_eq!(
            cells(lines[2]),
            ["DefaultCluster", "broker-a", "1", "10.0.0.2:10911", "V4_9_8", "4", "0.00", "?", "-", "-", "2048"]
        );
        // Dead master: everything unknown, and a DOWN line says why.
        assert_eq!(cells(lines[3]), ["DefaultCluster", "broker-b", "0", "10.0.0.3:10911", "?", "?", "?", "?", "?", "?", "-"]);
        assert_eq!(lines[4], "DOWN broker-b/0 10.0.0.3:10911: GET_BROKER_RUNTIME_INFO: timeout");
        // Columns line up: every column starts where its header does.
        let starts = |l: &str, n: &str| l.find(n).unwrap();
        assert_eq!(starts(lines[0], "#Addr"), starts(lines[1], "10.0.0.1"));
        assert_eq!(starts(lines[0], "#ReplLag"), starts(lines[2], "2048"));
    }

    #[test]
    fn verdict_lists_each_check_with_reason() {
        let text = status(None);
        assert!(text.contains("\nbroker-a (DefaultCluster, 10.0.0.1:10911): NOT READY\n"), "{text}");
        assert!(text.contains("\nbroker-b (DefaultCluster, 10.0.0.3:10911): NOT READY\n"), "{text}");
        assert!(text.contains("  ✗ write_disabled  brokerPermission 6 still allows writes"), "{text}");
        assert!(text.contains("  ✗ flush           4096 bytes not yet flushed to disk"), "{text}");
        // Each verdict prints every check.
        assert_eq!(text.lines().filter(|l| l.starts_with("  ✓ ") || l.starts_with("  ✗ ")).count(), 2 * crate::drain::Check::ALL.len());
    }

    #[test]
    fn notes_name_what_the_verdict_does_not_block_on() {
        // rich_snapshot's broker-a: DLQ Diff (5 − 0) + (4 − 1), no unwatched topics probed.
        let text = status(Some("broker-a"));
        let notes: Vec<&str> = text.lines().filter(|l| l.starts_with("  note: ")).collect();
        assert_eq!(notes, ["  note: 8 dead-letter (%DLQ%) messages not consumed; they do not block the drain"], "{text}");

        let mut s = rich_snapshot();
        let q = |topic: &str, queue_id: i32, max_offset: i64| crate::snapshot::QueueMaxOffset { topic: topic.into(), queue_id, max_offset };
        s.brokers[0].unwatched_queues = Some(vec![q("Orphan", 0, 7), q("Orphan", 1, 5), q("Unused", 0, 0), q("Audit", 0, 1)]);
        s.brokers[0].consume.as_mut().unwrap().retain(|r| topic_kind(&r.topic) != TopicKind::Dlq);
        let v = evaluate(&s, &[], &DrainConfig::default());
        let text = render_status(&s, &v, Some("broker-a"));
        let notes: Vec<&str> = text.lines().filter(|l| l.starts_with("  note: ")).collect();
        assert_eq!(notes.len(), 1, "{text}");
        assert!(notes[0].contains("no consumer group has committed an offset for (queue max offsets): Audit (1), Orphan (12);"), "{text}");
        assert!(!notes[0].contains("Unused"), "an empty topic holds nothing: {text}");
    }

    #[test]
    fn ready_verdict_shows_ticks() {
        let s = rich_snapshot();
        let v = Verdict {
            cluster: "DefaultCluster".into(),
            broker: "broker-a".into(),
            broker_id: 0,
            addr: "10.0.0.1:10911".into(),
            ready: true,
            checks: Check::ALL
                .iter()
                .map(|&c| CheckResult { check: c, pass: true, reason: format!("{c} fine") })
                .collect(),
        };
        let text = render_status(&s, &[v], Some("broker-a"));
        assert!(text.contains("broker-a (DefaultCluster, 10.0.0.1:10911): READY\n"), "{text}");
        assert!(text.contains("  ✓ retry_backlog   retry_backlog fine\n"), "{text}");
        assert!(!text.contains('✗'));
    }

    #[test]
    fn only_broker_filters_rows_and_verdicts() {
        let text = status(Some("broker-b"));
        assert!(!text.contains("broker-a"), "{text}");
        assert!(text.contains("broker-b (DefaultCluster, 10.0.0.3:10911): NOT READY"));
        assert_eq!(text.lines().filter(|l| l.starts_with("DefaultCluster")).count(), 1);
        let text = status(Some("nope"));
        assert_eq!(text, "no broker named \"nope\" in the collected cluster\n");
    }
}

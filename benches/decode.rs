//! Cost of tolerance: decoding a ~10 MB `ConsumeStatsList` in fastjson form (object map keys,
//! rewritten by the lenient pre-pass) versus the same content as standard JSON decoded by plain
//! `serde_json` derives. Target: ours ≤ 1.5× plain serde_json.

use std::collections::HashMap;
use std::fmt::Write;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rocketmq_exporter::protocol::{lenient_json, ConsumeStatsList};
use serde::Deserialize;

const GROUPS: usize = 300;
const TOPICS_PER_GROUP: usize = 12;
const QUEUES: usize = 16;

/// (fastjson body, standard JSON body, number of queue rows).
fn bodies() -> (Vec<u8>, Vec<u8>, usize) {
    let mut fj = String::with_capacity(11 << 20);
    let mut std = String::with_capacity(12 << 20);
    fj.push_str(r#"{"brokerAddr":"10.0.0.1:10911","consumeStatsList":["#);
    std.push_str(r#"{"brokerAddr":"10.0.0.1:10911","consumeStatsList":["#);
    let mut rows = 0;
    for g in 0..GROUPS {
        if g > 0 {
            fj.push(',');
            std.push(',');
        }
        write!(fj, r#"{{"consumer-group-{g}":["#).unwrap();
        write!(std, r#"{{"consumer-group-{g}":["#).unwrap();
        for t in 0..TOPICS_PER_GROUP {
            if t > 0 {
                fj.push(',');
                std.push(',');
            }
            let tps = (g * t) as f64 / 7.0;
            write!(fj, r#"{{"consumeTps":{tps:?},"offsetTable":{{"#).unwrap();
            write!(std, r#"{{"consumeTps":{tps:?},"offsetTable":["#).unwrap();
            for q in 0..QUEUES {
                if q > 0 {
                    fj.push(',');
                    std.push(',');
                }
                let mq = format!(
                    r#"{{"brokerName":"broker-a","queueId":{q},"topic":"TopicTest-{g}-{t}"}}"#
                );
                let b = 1_000_000_000_000i64 + (g * 1000 + t * 100 + q) as i64;
                let offs = format!(
                    r#"{{"brokerOffset":{b},"consumerOffset":{},"lastTimestamp":1700000000{q:03},"pullOffset":{}}}"#,
                    b - q as i64,
                    b - 1
                );
                write!(fj, "{mq}:{offs}").unwrap();
                write!(std, r#"{{"mq":{mq},"offsets":{offs}}}"#).unwrap();
                rows += 1;
            }
            fj.push_str("}}");
            std.push_str("]}");
        }
        fj.push_str("]}");
        std.push_str("]}");
    }
    fj.push_str(r#"],"totalDiff":12345,"totalInflightDiff":0}"#);
    std.push_str(r#"],"totalDiff":12345,"totalInflightDiff":0}"#);
    (fj.into_bytes(), std.into_bytes(), rows)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct StdMq {
    topic: String,
    broker_name: String,
    queue_id: i32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct StdOffsets {
    broker_offset: i64,
    consumer_offset: i64,
    pull_offset: Option<i64>,
    last_timestamp: i64,
}

/// Decoded in full (that is the work measured), never read afterwards.
#[derive(Deserialize)]
#[allow(dead_code)]
struct StdEntry {
    mq: StdMq,
    offsets: StdOffsets,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct StdStats {
    consume_tps: Option<f64>,
    offset_table: Vec<StdEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct StdList {
    broker_addr: Option<String>,
    consume_stats_list: Vec<HashMap<String, Vec<StdStats>>>,
    total_diff: Option<i64>,
}

fn bench(c: &mut Criterion) {
    let (fj, std, rows) = bodies();
    eprintln!(
        "fastjson body {} bytes, standard body {} bytes, {rows} queue rows",
        fj.len(),
        std.len()
    );

    // Both sides must decode the same content, or the comparison means nothing.
    let ours = ConsumeStatsList::decode(&fj).unwrap();
    let ours_rows: usize = ours
        .groups
        .iter()
        .flat_map(|(_, s)| s)
        .map(|s| s.offset_table.len())
        .sum();
    let theirs: StdList = serde_json::from_slice(&std).unwrap();
    let their_rows: usize = theirs
        .consume_stats_list
        .iter()
        .flat_map(|m| m.values())
        .flatten()
        .map(|s| s.offset_table.len())
        .sum();
    assert_eq!((ours_rows, their_rows), (rows, rows));
    assert_eq!(ours.groups[0].1[0].offset_table[3].0.queue_id, 3);

    let mut g = c.benchmark_group("consume_stats_list_10mb");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(fj.len() as u64));
    g.bench_function("ours_fastjson", |b| {
        b.iter(|| ConsumeStatsList::decode(black_box(&fj)).unwrap())
    });
    g.bench_function("serde_json_standard", |b| {
        b.iter(|| serde_json::from_slice::<StdList>(black_box(&std)).unwrap())
    });
    g.bench_function("normalize_only", |b| {
        b.iter(|| lenient_json::normalize(black_box(&fj)).unwrap().len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

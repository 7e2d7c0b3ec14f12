//! Render throughput on a synthetic snapshot of ~1 M series (100 masters × 2,800 queue rows;
//! each row renders diff, offset, last timestamp and its share of the per-queue max offset).
//! Target: ≥ 2 M series/s on one core. The same-run baseline against the `prometheus` crate is
//! in `examples/scale.rs` (it needs the sim's full label sets).

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rocketmq_exporter::drain::{self, DrainConfig};
use rocketmq_exporter::render::{self, RenderOptions};
use rocketmq_exporter::snapshot::{BrokerNode, QueueConsume, Snapshot};

const BROKERS: usize = 100;
const TOPICS: usize = 175;
const GROUPS: usize = 2;
const QUEUES: usize = 8;

fn snapshot() -> Snapshot {
    let brokers = (0..BROKERS)
        .map(|b| {
            let mut rows = Vec::with_capacity(TOPICS * GROUPS * QUEUES);
            for t in 0..TOPICS {
                for g in 0..GROUPS {
                    for q in 0..QUEUES {
                        let max = 1_000_000 + (b * 7919 + t * 104_729 + q * 31) as i64 % 900_000;
                        rows.push(QueueConsume {
                            topic: format!("TopicTest-{t}").into(),
                            group: format!("group-{t}-{g}").into(),
                            queue_id: q as i32,
                            broker_offset: max,
                            consumer_offset: max - (q as i64 * 3),
                            last_timestamp_ms: Some(1_700_000_000_000 + (t * 1000 + q) as i64),
                        });
                    }
                }
            }
            rows.sort();
            BrokerNode {
                cluster: format!("DefaultCluster{}", b / 50 + 1),
                broker: format!("broker-{b}"),
                broker_id: 0,
                addr: format!("127.0.0.1:{}", 20_000 + b),
                up: true,
                permission: Some(6),
                consume: Some(rows),
                ..Default::default()
            }
        })
        .collect();
    Snapshot { taken_at_ms: 1_700_000_000_000, brokers, ..Default::default() }
}

fn bench(c: &mut Criterion) {
    let snap = Arc::new(snapshot());
    let verdicts = drain::evaluate(&snap, &[], &DrainConfig::default());
    let opts = RenderOptions::default();
    let mut body = Vec::new();
    render::render(&snap, &verdicts, &opts, &mut body);
    let series = body.split(|&b| b == b'\n').filter(|l| !l.is_empty() && l[0] != b'#').count();
    assert!(series > 900_000, "expected ~1 M series, got {series}");
    eprintln!("{series} series, {} bytes", body.len());

    let mut g = c.benchmark_group("render_1m_series");
    g.sample_size(10);
    g.throughput(Throughput::Elements(series as u64));
    g.bench_function("render", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            render::render(black_box(&snap), &verdicts, &opts, &mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

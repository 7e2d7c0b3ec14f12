//! Per-answer decode cost of the three bodies the exporter fetches from every master each cycle
//! (28 runtime info, 26 broker config, 317 consume stats), as the simulator writes them for
//! `SimConfig::scale(200, 50)`: small bodies, where fixed per-body and per-entry costs dominate.

use criterion::{black_box, criterion_group, Criterion, Throughput};
use rocketmq_exporter::protocol::{BrokerConfig, ConsumeRows, ConsumeStatsList, RuntimeInfo};
use rocketmq_exporter::sim::{bodies, ClusterState, SimConfig};

/// (runtime info, broker config, consume stats list) of the first Java 5.3 master.
fn sim_bodies() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let st = ClusterState::new(SimConfig::scale(2, 50));
    let b = st
        .brokers
        .iter()
        .find(|b| b.flavor == rocketmq_exporter::sim::Flavor::Java53)
        .unwrap_or(&st.brokers[0]);
    let n = b.master();
    (
        bodies::runtime_info(&st, b, n).into_bytes(),
        bodies::broker_config(&st, b, n).into_bytes(),
        bodies::consume_stats_list(b, n, false).into_bytes(),
    )
}

/// The config keys the collector keeps (as `collect::fetch`).
const COLLECTOR_KEYS: &[&str] = &["brokerPermission", "brokerRole", "brokerClusterName", "brokerName", "brokerId"];

/// Rows first, then snapshot rows from them: the collector before the one-pass form.
fn collector_rows(body: &[u8]) -> Vec<rocketmq_exporter::snapshot::QueueConsume> {
    ConsumeRows::decode(body).map(|rows| rocketmq_exporter::collect::fetch::consume_rows(&rows)).unwrap()
}

/// What the collector does with a 317 answer: snapshot rows built while the body is parsed.
fn snapshot_rows(body: &[u8]) -> Vec<rocketmq_exporter::snapshot::QueueConsume> {
    let mut rows = rocketmq_exporter::collect::fetch::SnapshotRows::new();
    ConsumeRows::visit(body, &mut rows).unwrap();
    rows.finish()
}

fn bench(c: &mut Criterion) {
    let (rt, cfg, csl) = sim_bodies();
    let rows: usize = ConsumeStatsList::decode(&csl)
        .unwrap()
        .groups
        .iter()
        .flat_map(|(_, s)| s)
        .map(|s| s.offset_table.len())
        .sum();
    eprintln!(
        "runtime info {} B ({} keys), broker config {} B, consume stats list {} B ({rows} rows)",
        rt.len(),
        RuntimeInfo::decode(&rt).unwrap().raw.len(),
        cfg.len(),
        csl.len()
    );

    let mut g = c.benchmark_group("small_bodies");
    g.throughput(Throughput::Elements(1));
    g.bench_function("28_runtime_info", |b| {
        b.iter(|| RuntimeInfo::decode(black_box(&rt)).unwrap())
    });
    // What the collector calls: typed figures, no `raw` map.
    g.bench_function("28_runtime_info_figures", |b| {
        b.iter(|| RuntimeInfo::decode_figures(black_box(&rt)).unwrap())
    });
    g.bench_function("26_broker_config", |b| {
        b.iter(|| BrokerConfig::decode(black_box(&cfg)).unwrap())
    });
    g.bench_function("317_consume_stats_list", |b| {
        b.iter(|| ConsumeStatsList::decode(black_box(&csl)).unwrap())
    });
    // The same body as borrowed rows: no allocation per row.
    g.bench_function("317_consume_rows", |b| {
        b.iter(|| ConsumeRows::decode(black_box(&csl)).unwrap())
    });
    // Rows, then snapshot rows (names shared, sorted); and the collector's one-pass form.
    g.bench_function("317_collector", |b| {
        b.iter(|| collector_rows(black_box(&csl)))
    });
    g.bench_function("317_snapshot_rows", |b| {
        b.iter(|| snapshot_rows(black_box(&csl)))
    });
    g.bench_function("26_config_keys", |b| {
        b.iter(|| BrokerConfig::decode_keys(black_box(&cfg), COLLECTOR_KEYS).unwrap())
    });
    // Baselines: the lenient path alone (pre-pass + serde), which is what `decode` was before
    // the strict fast paths.
    g.bench_function("28_runtime_info_lenient", |b| {
        b.iter(|| RuntimeInfo::decode_lenient(black_box(&rt)).unwrap())
    });
    g.bench_function("317_consume_stats_list_lenient", |b| {
        b.iter(|| ConsumeStatsList::decode_lenient(black_box(&csl)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);

/// `DECODE_SMALL_ONLY=<name> DECODE_SMALL_ITERS=<n>` runs one decoder n times and exits, so that
/// `perf stat -e instructions:u` can compare paths independently of the machine's load.
fn main() {
    if let Ok(which) = std::env::var("DECODE_SMALL_ONLY") {
        let n: usize = std::env::var("DECODE_SMALL_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let (rt, cfg, csl) = sim_bodies();
        for _ in 0..n {
            match which.as_str() {
                "28" => drop(black_box(RuntimeInfo::decode(black_box(&rt)))),
                "28_figures" => drop(black_box(RuntimeInfo::decode_figures(black_box(&rt)))),
                "28_lenient" => drop(black_box(RuntimeInfo::decode_lenient(black_box(&rt)))),
                "26" => drop(black_box(BrokerConfig::decode(black_box(&cfg)))),
                "317" => drop(black_box(ConsumeStatsList::decode(black_box(&csl)))),
                "317_rows" => drop(black_box(ConsumeRows::decode(black_box(&csl)))),
                "317_collector" => drop(black_box(collector_rows(black_box(&csl)))),
                "317_snapshot_rows" => drop(black_box(snapshot_rows(black_box(&csl)))),
                "26_keys" => drop(black_box(BrokerConfig::decode_keys(black_box(&cfg), COLLECTOR_KEYS))),
                "317_lenient" => drop(black_box(ConsumeStatsList::decode_lenient(black_box(&csl)))),
                "none" => drop(black_box(&rt)),
                other => panic!("unknown decoder {other}"),
            }
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

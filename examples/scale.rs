//! Scale benchmarks against the simulated cluster, each with its baseline measured in the same run.
//!
//! ```text
//! cargo run --release --example scale -- all            # 1-4 here, 5 in a child process
//! cargo run --release --example scale -- collect        # 1. cycle over 200 brokers answering after 20 ms (+ floor)
//! cargo run --release --example scale -- profile-collect <latency_ms>  # 50 cycles (PROFILE_CYCLES), sim in a child, for a profiler
//! cargo run --release --example scale -- timeline [latency_ms]  # where 1.'s time goes: request reads, answer writes, cycle end
//! cargo run --release --example scale -- requests       # 2. requests per broker per cycle
//! cargo run --release --example scale -- render [rows]  # 3. render throughput (+ prometheus crate baseline)
//! cargo run --release --example scale -- serve [rows]   # 4. /metrics latency over loopback
//! cargo run --release --example scale -- rss [rows]     # 5. resident memory (sim in a child process)
//! ```
//!
//! `rows` is rows_per_broker for `SimConfig::scale(200, rows)`; the default (1400) yields about
//! one million series (each queue row renders ~3.6 series: diff, offset, last timestamp, and its
//! share of the per-queue max offset). Numbers go to BENCHMARKS.md; nothing here asserts timings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};
use rocketmq_exporter::admin::Admin;
use rocketmq_exporter::collect::{CollectConfig, Collector};
use rocketmq_exporter::daemon::Pipeline;
use rocketmq_exporter::drain::{self, DrainConfig};
use rocketmq_exporter::remoting::{ClientOptions, RemotingClient};
use rocketmq_exporter::render::{self, RenderOptions};
use rocketmq_exporter::serve::{self, Exposition, HttpConfig, ServeState};
use rocketmq_exporter::sim::server::{monotonic_ns, Timeline};
use rocketmq_exporter::sim::{Fault, SimCluster, SimConfig};
use rocketmq_exporter::snapshot::Snapshot;

const BROKERS: usize = 200;
const LATENCY: Duration = Duration::from_millis(20);
const LATENCY_ROWS: usize = 50;
/// Cycles per median in benchmark 1 (the serial baseline takes 5: each of its cycles is ~4 s).
const CYCLE_RUNS: usize = 21;
const DEFAULT_ROWS: usize = 1400;
/// Cycles of the RSS run, paced so that the history holds what the daemon's does (bench_rss).
const CYCLES: usize = 12;
/// The daemon's `--collect.interval` default; with the default drain window it sets how many
/// past cycles the RSS run keeps.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One line of the final table.
struct Row {
    bench: String,
    target: String,
    measured: String,
    baseline: String,
    ratio: String,
}

fn row(bench: &str, target: &str, measured: String, baseline: String, ratio: String) -> Row {
    Row { bench: bench.into(), target: target.into(), measured, baseline, ratio }
}

/// The daemon's allocator (the sim child process, the same binary, uses it too).
#[global_allocator]
static GLOBAL: rocketmq_exporter::memory::SplitAlloc = rocketmq_exporter::memory::SplitAlloc;

fn main() -> AnyResult<()> {
    // As the daemon does at start (the RSS figures depend on it). SCALE_DEFAULT_MALLOC=1 keeps
    // glibc's defaults, for an A/B of that setting.
    if std::env::var_os("SCALE_DEFAULT_MALLOC").is_none() {
        rocketmq_exporter::memory::tune_allocator();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let rows: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_ROWS);
    if which == "sim-server" {
        let latency_ms: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        return sim_server(rows, Duration::from_millis(latency_ms));
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    // SCALE_WORKERS: the runtime's worker threads (default: one per core), for an A/B.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers: usize = std::env::var("SCALE_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(cpus).max(1);
    rt.worker_threads(workers);
    // SCALE_PIN: each worker thread pinned to its own CPU, for an A/B on how the kernel places
    // them (§1, tenth session). An experiment only: the daemon does not pin. The runtime starts
    // its workers when it is built, before any blocking-pool thread, so they are the first
    // `workers` threads to start.
    if std::env::var_os("SCALE_PIN").is_some() {
        // The CPUs this process may use (a cpuset need not start at CPU 0).
        // SAFETY: a zeroed cpu_set_t is an empty set; sched_getaffinity fills it, CPU_ISSET and
        // CPU_SET stay inside it, and sched_setaffinity only reads it.
        let allowed: Vec<usize> = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Err("SCALE_PIN: sched_getaffinity failed".into());
            }
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        };
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        rt.on_thread_start(move || {
            let i = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i < workers {
                let cpu = allowed[i % allowed.len()];
                let ok = unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
                };
                if !ok {
                    eprintln!("SCALE_PIN: worker {i} not pinned to CPU {cpu}: {}", std::io::Error::last_os_error());
                }
            }
        });
    }
    let rt = rt.enable_all().build()?;
    println!("# scale benchmark: {which}, load average at start: {}", loadavg());
    let mut table = Vec::new();
    match which {
        "collect" => table.extend(rt.block_on(bench_collect())?),
        "requests" => table.extend(rt.block_on(bench_requests())?),
        "render" => table.extend(rt.block_on(bench_render(rows, true))?),
        "serve" => table.extend(rt.block_on(bench_serve(rows))?),
        "rss" => table.extend(rt.block_on(bench_rss(rows))?),
        // For a profiler or an A/B: 50 cycles against a sim in a child process (arg: latency ms).
        "profile-collect" => rt.block_on(async {
            let latency = Duration::from_millis(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0));
            let mut child = spawn_sim(LATENCY_ROWS, latency)?;
            let c = collector(&child.ns, 256, Duration::from_secs(10))?;
            let cpu0 = cpu_time();
            // PROFILE_CYCLES: a longer run for a sampling profiler.
            let n: usize = std::env::var("PROFILE_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
            let r = time_cycles_at_sim(&c, n, BROKERS, || child.take_slowest_answer()).await;
            let cpu = (cpu_time() - cpu0) / (n as u32 + 1);
            // PROFILE_NO_FLOOR: the exporter's cycles only (a profile without the floor client's).
            let floor = std::env::var_os("PROFILE_NO_FLOOR").is_none();
            if let (true, Ok((_, _, _, snap))) = (floor, &r) {
                let cpu1 = cpu_time();
                let (f, pairs) = floor_median(snap, n, || child.take_slowest_answer()).await?;
                let (slowest, vs) = slowest_medians(&pairs);
                println!(
                    "floor client (same requests, frames split only): median of {n} cycles {}, CPU {} per cycle; slowest answer at the sim per cycle: median {}, floor / that: median {vs:.2}",
                    ms(f),
                    ms((cpu_time() - cpu1) / (n as u32 + 1)),
                    ms(slowest)
                );
            }
            stop_sim(child);
            let (m, _, pairs, _) = r?;
            let (slowest, vs) = slowest_medians(&pairs);
            println!(
                "latency {latency:?}: median of {n} cycles {}, exporter CPU {} per cycle; slowest answer at the sim per cycle: median {}, cycle / that: median {vs:.2}",
                ms(m),
                ms(cpu),
                ms(slowest)
            );
            AnyResult::Ok(())
        })?,
        // Where a cycle's time goes: in process, then with the sim in a child (arg: latency ms).
        "timeline" => rt.block_on(async {
            let latency = Duration::from_millis(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20));
            let n: usize = std::env::var("PROFILE_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(CYCLE_RUNS);
            let sim = SimCluster::start(SimConfig::scale(BROKERS, LATENCY_ROWS)).await?;
            sim.set_fault_all_brokers(Fault::Latency(latency));
            let c = collector(&sim.namesrv_addr().to_string(), 256, Duration::from_secs(10))?;
            bench_timeline("sim in process", &c, n, || Ok((sim.take_slowest_answer(), sim.take_timeline()))).await?;
            sim.shutdown().await;
            let mut child = spawn_sim(LATENCY_ROWS, latency)?;
            if std::env::var_os("TIMELINE_DUMP").is_some() {
                eprintln!("PIDS exporter {} sim {}", std::process::id(), child.pid());
            }
            let c = collector(&child.ns, 256, Duration::from_secs(10))?;
            let r = bench_timeline("sim in a child", &c, n, || Ok((child.take_slowest_answer()?, child.take_timeline()?))).await;
            stop_sim(child);
            r
        })?,
        "all" => {
            table.extend(rt.block_on(bench_collect())?);
            table.extend(rt.block_on(bench_requests())?);
            table.extend(rt.block_on(bench_render(rows, true))?);
            table.extend(rt.block_on(bench_serve(rows))?);
            drop(rt);
            // RSS in a fresh process so the allocations above do not count.
            let out = Command::new(std::env::current_exe()?).args(["rss", &rows.to_string()]).output()?;
            print!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                return Err("rss child failed".into());
            }
        }
        other => return Err(format!("unknown benchmark {other:?}: collect|requests|render|serve|rss|all").into()),
    }
    print_table(&table);
    println!("# load average at end: {}", loadavg());
    Ok(())
}

fn print_table(rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    println!("\n| benchmark | target | measured | baseline | ratio |\n|---|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {} | {} |", r.bench, r.target, r.measured, r.baseline, r.ratio);
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn collector(ns: &str, concurrency: usize, timeout: Duration) -> AnyResult<Arc<Collector>> {
    let opts = ClientOptions { request_timeout: timeout, ..ClientOptions::default() };
    let client = RemotingClient::new(opts)?;
    let cfg = CollectConfig { namesrvs: vec![ns.to_string()], brokers: Vec::new(), concurrency };
    Ok(Arc::new(Collector::new(Admin::new(client), cfg)))
}

fn rows_of(s: &Snapshot) -> usize {
    s.brokers.iter().map(|b| b.consume.as_ref().map_or(0, Vec::len)).sum()
}

/// A benchmark on a snapshot with failed brokers would measure timeouts, not the exporter.
fn check_complete(s: &Snapshot, brokers: usize) -> AnyResult<()> {
    let up = s.brokers.iter().filter(|b| b.up).count();
    if up != brokers {
        let err = s.brokers.iter().find_map(|b| b.error.clone()).unwrap_or_default();
        return Err(format!("only {up}/{brokers} brokers up (first error: {err})").into());
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Warm-up, then the median of `n` cycles.
async fn time_cycles(c: &Arc<Collector>, n: usize, brokers: usize) -> AnyResult<(Duration, Vec<Duration>, Snapshot)> {
    let (med, all, _, snap) = time_cycles_at_sim(c, n, brokers, || Ok(Duration::ZERO)).await?;
    Ok((med, all, snap))
}

/// Like `time_cycles`, also taking the sim's slowest answer after each cycle (outside the timing):
/// returns the median cycle, the cycles, the per-cycle cycle / slowest-answer ratios, and the
/// last snapshot.
async fn time_cycles_at_sim(
    c: &Arc<Collector>,
    n: usize,
    brokers: usize,
    mut slowest: impl FnMut() -> AnyResult<Duration>,
) -> AnyResult<(Duration, Vec<Duration>, Vec<(Duration, Duration)>, Snapshot)> {
    check_complete(&c.collect().await, brokers)?;
    slowest()?;
    let mut times = Vec::with_capacity(n);
    let mut pairs = Vec::with_capacity(n);
    let mut last = None;
    for _ in 0..n {
        let (took, s) = timed_cycle(c).await?;
        times.push(took);
        pairs.push((took, slowest()?));
        check_complete(&s, brokers)?;
        last = Some(s);
    }
    Ok((median(times.clone()), times, pairs, last.expect("n > 0")))
}

/// One cycle as the daemon runs it, in a runtime task (not on the thread blocked in `block_on`),
/// timed inside that task.
async fn timed_cycle(c: &Arc<Collector>) -> AnyResult<(Duration, Snapshot)> {
    let c = c.clone();
    Ok(tokio::spawn(async move {
        let t = Instant::now();
        let s = c.collect().await;
        (t.elapsed(), s)
    })
    .await?)
}

/// Per cycle, on one clock: cycle start -> first request read -> last request read -> last
/// answer written -> cycle end; prints the medians of each step.
async fn bench_timeline(
    label: &str,
    c: &Arc<Collector>,
    n: usize,
    mut take: impl FnMut() -> AnyResult<(Duration, Option<Timeline>)>,
) -> AnyResult<()> {
    let snap = c.collect().await;
    check_complete(&snap, BROKERS)?;
    take()?;
    let (mut first, mut last, mut written, mut end, mut slowest) = (vec![], vec![], vec![], vec![], vec![]);
    let dump = std::env::var_os("TIMELINE_DUMP").is_some();
    for _ in 0..n {
        let c = c.clone();
        let (t0, t1, s) = tokio::spawn(async move {
            let t0 = monotonic_ns();
            let s = c.collect().await;
            (t0, monotonic_ns(), s)
        })
        .await?;
        check_complete(&s, BROKERS)?;
        let (sl, tl) = take()?;
        let tl = tl.ok_or("sim read nothing")?;
        let at = |ns: u64| Duration::from_nanos(ns.saturating_sub(t0));
        first.push(at(tl.first_read_ns));
        last.push(at(tl.last_read_ns));
        written.push(at(tl.last_written_ns));
        end.push(at(t1));
        slowest.push(sl);
        // TIMELINE_DUMP: each cycle's marks in CLOCK_MONOTONIC ns, to be joined with a
        // `perf record -k CLOCK_MONOTONIC` scheduler trace (benches/sched_lost.py).
        if dump {
            eprintln!("CYCLE t0 {t0} lastreq {} written {} end {t1}", tl.last_read_ns, tl.last_written_ns);
        }
    }
    println!(
        "{label}: medians of {n} cycles from cycle start: first request read {}, last request read {}, slowest answer {}, last answer written {}, cycle end {}",
        ms(median(first)),
        ms(median(last)),
        ms(median(slowest)),
        ms(median(written)),
        ms(median(end))
    );
    // The floor client against the same brokers.
    let mut targets = floor_targets(&snap).await?;
    let (mut first, mut last, mut written, mut end) = (vec![], vec![], vec![], vec![]);
    for i in 0..=n {
        let t0 = monotonic_ns();
        let (_, back) = tokio::spawn(floor_cycle(targets)).await??;
        let t1 = monotonic_ns();
        targets = back;
        let (_, tl) = take()?;
        let tl = tl.ok_or("sim read nothing")?;
        if i > 0 {
            let at = |ns: u64| Duration::from_nanos(ns.saturating_sub(t0));
            first.push(at(tl.first_read_ns));
            last.push(at(tl.last_read_ns));
            written.push(at(tl.last_written_ns));
            end.push(at(t1));
        }
    }
    println!(
        "{label}, floor client: first request read {}, last request read {}, last answer written {}, cycle end {}",
        ms(median(first)),
        ms(median(last)),
        ms(median(written)),
        ms(median(end))
    );
    Ok(())
}

/// Medians of the sim's per-cycle slowest answer and of the cycle / slowest-answer ratio.
fn slowest_medians(pairs: &[(Duration, Duration)]) -> (Duration, f64) {
    let med_slowest = median(pairs.iter().map(|p| p.1).collect());
    let mut ratios: Vec<f64> = pairs.iter().filter(|p| !p.1.is_zero()).map(|p| p.0.as_secs_f64() / p.1.as_secs_f64()).collect();
    ratios.sort_by(f64::total_cmp);
    (med_slowest, ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN))
}

// ---------------------------------------------------------------------------------------------
// 1. Collection cycle over 200 brokers answering after 20 ms.

async fn bench_collect() -> AnyResult<Vec<Row>> {
    println!("\n## 1. collection cycle: {BROKERS} brokers, {LATENCY:?} answer latency, SimConfig::scale({BROKERS}, {LATENCY_ROWS})");
    let sim = SimCluster::start(SimConfig::scale(BROKERS, LATENCY_ROWS)).await?;
    let ns = sim.namesrv_addr().to_string();
    let timeout = Duration::from_secs(10);

    // Same cluster without latency: what is left is transfer + decode + snapshot building.
    let fast = collector(&ns, 256, timeout)?;
    let (no_lat, _, snap) = time_cycles(&fast, CYCLE_RUNS, BROKERS).await?;
    println!("no latency, concurrency 256: median {} of {CYCLE_RUNS}; {} queue rows", ms(no_lat), rows_of(&snap));

    sim.set_fault_all_brokers(Fault::Latency(LATENCY));
    let conc = collector(&ns, 256, timeout)?;
    // Request read → answer written, at the sim, per cycle: the brokers' own answer time.
    let (med, all, pairs, _) = time_cycles_at_sim(&conc, CYCLE_RUNS, BROKERS, || Ok(sim.take_slowest_answer())).await?;
    let (slowest, vs_slowest) = slowest_medians(&pairs);
    println!(
        "20 ms latency, concurrency 256: median {} of {CYCLE_RUNS}, min {}, max {}; slowest answer at the sim per cycle: median {}; cycle / that: median {vs_slowest:.2}",
        ms(med),
        ms(*all.iter().min().expect("runs")),
        ms(*all.iter().max().expect("runs")),
        ms(slowest)
    );

    let serial = collector(&ns, 1, timeout)?;
    let (ser, ser_all, snap) = time_cycles(&serial, 5, BROKERS).await?;
    println!("20 ms latency, concurrency 1 (serial baseline): median {} of {:?}", ms(ser), ser_all);
    let (floor, pairs) = floor_median(&snap, CYCLE_RUNS, || Ok(sim.take_slowest_answer())).await?;
    let (floor_slowest, floor_vs) = slowest_medians(&pairs);
    println!(
        "20 ms latency, floor client (same requests, answers only split into frames): median {}; slowest answer at the sim per cycle: median {}, floor / that: median {floor_vs:.2}",
        ms(floor),
        ms(floor_slowest)
    );
    sim.shutdown().await;

    // The sim in its own process: its encoding no longer runs on the exporter's runtime threads
    // (it still shares the machine's two cores).
    let mut oop = Vec::new();
    let mut oop_cpu = Vec::new();
    let mut oop_floor = Vec::new();
    let mut oop_slowest = (Duration::ZERO, f64::NAN);
    for latency in [Duration::ZERO, LATENCY] {
        let mut child = spawn_sim(LATENCY_ROWS, latency)?;
        let c = collector(&child.ns, 256, timeout)?;
        let cpu0 = cpu_time();
        let r = time_cycles_at_sim(&c, CYCLE_RUNS, BROKERS, || child.take_slowest_answer()).await;
        let cpu = (cpu_time() - cpu0) / (CYCLE_RUNS as u32 + 1); // with the warm-up, without the sim queries
        let floor = match &r {
            Ok((_, _, _, snap)) => floor_median(snap, CYCLE_RUNS, || child.take_slowest_answer()).await.map(|f| f.0),
            Err(_) => Ok(Duration::ZERO),
        };
        stop_sim(child);
        let (m, all, pairs, _) = r?;
        let (slowest, vs_slowest) = slowest_medians(&pairs);
        if !latency.is_zero() {
            oop_slowest = (slowest, vs_slowest);
        }
        let floor = floor?;
        println!(
            "sim in a child process, latency {latency:?}, concurrency 256: median {} of {}; exporter CPU {} per cycle; slowest answer at the sim per cycle: median {}, cycle / that: median {vs_slowest:.2}; floor client {}",
            ms(m),
            all.len(),
            ms(cpu),
            ms(slowest),
            ms(floor)
        );
        oop.push(m);
        oop_cpu.push(cpu);
        oop_floor.push(floor);
    }

    let ratio = med.as_secs_f64() / LATENCY.as_secs_f64();
    println!("ratio to the nominal answer time (20 ms): {ratio:.2}; without latency the cycle takes {}", ms(no_lat));
    Ok(vec![
        row(
            "1. cycle, 200 brokers @20 ms (median of 21)",
            "≤ 1.2 × 20 ms",
            format!("{} ({ratio:.2} × 20 ms; {vs_slowest:.2} × the slowest answer at the sim, median {})", ms(med), ms(slowest)),
            format!("serial: {}", ms(ser)),
            format!("{:.0}× faster", ser.as_secs_f64() / med.as_secs_f64()),
        ),
        row(
            "1a. floor: same requests, answers only split into frames",
            "—",
            format!("{} ({:.2} × 20 ms; {floor_vs:.2} × the slowest answer at the sim, median {})", ms(floor), floor.as_secs_f64() / LATENCY.as_secs_f64(), ms(floor_slowest)),
            "—".into(),
            format!("exporter = {:.2} × floor", med.as_secs_f64() / floor.as_secs_f64()),
        ),
        row("1b. same cycle, no latency (transfer+decode)", "—", ms(no_lat), "—".into(), "—".into()),
        row(
            "1c. sim in a child process: @20 ms / no latency",
            "≤ 1.2 × 20 ms",
            format!(
                "{} ({:.2} × 20 ms; {:.2} × the slowest answer at the sim, median {}) / {}",
                ms(oop[1]),
                oop[1].as_secs_f64() / LATENCY.as_secs_f64(),
                oop_slowest.1,
                ms(oop_slowest.0),
                ms(oop[0])
            ),
            format!("floor: {} ({:.2} × 20 ms); exporter CPU per cycle: {}", ms(oop_floor[1]), oop_floor[1].as_secs_f64() / LATENCY.as_secs_f64(), ms(oop_cpu[1])),
            format!("exporter = {:.2} × floor", oop[1].as_secs_f64() / oop_floor[1].as_secs_f64()),
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// The floor of benchmark 1 on this machine: a minimal client that sends each master the same
// requests in one write and only splits the answers into frames (no decoding, no timeouts, no
// pool, no snapshot). What it takes beyond the latency is the sim's and the kernel's share.

/// One persistent connection per broker, and the requests the exporter sends it each cycle.
struct FloorTarget {
    stream: tokio::net::TcpStream,
    requests: bytes::Bytes,
    answers: usize,
}

async fn floor_targets(snap: &Snapshot) -> AnyResult<Vec<FloorTarget>> {
    use rocketmq_exporter::remoting::frame::RemotingCommand;
    let mut out = Vec::new();
    for b in &snap.brokers {
        let mut codes = vec![RemotingCommand::request(28), RemotingCommand::request(26), RemotingCommand::request(317).with_ext("isOrder", "false")];
        // As the exporter in steady state: 907 only to brokers that have it.
        if b.ha_connections.is_some() {
            codes.push(RemotingCommand::request(907));
        }
        let mut buf = bytes::BytesMut::new();
        for (i, mut c) in codes.iter().cloned().enumerate() {
            c.opaque = i as i32 + 1;
            c.encode(&mut buf);
        }
        let stream = tokio::net::TcpStream::connect(&b.addr).await?;
        stream.set_nodelay(true)?;
        out.push(FloorTarget { stream, requests: buf.freeze(), answers: codes.len() });
    }
    Ok(out)
}

/// One cycle of the floor client: every target at once, each in its own task.
async fn floor_cycle(targets: Vec<FloorTarget>) -> AnyResult<(Duration, Vec<FloorTarget>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = Instant::now();
    let tasks: Vec<_> = targets
        .into_iter()
        .map(|mut ft| {
            tokio::spawn(async move {
                ft.stream.write_all(&ft.requests).await?;
                let mut buf = Vec::with_capacity(16 * 1024);
                let (mut seen, mut pos) = (0, 0);
                while seen < ft.answers {
                    let mut chunk = [0u8; 16 * 1024];
                    let n = ft.stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(std::io::Error::other("closed"));
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while buf.len() >= pos + 4 {
                        let len = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
                        if buf.len() < pos + 4 + len {
                            break;
                        }
                        pos += 4 + len;
                        seen += 1;
                    }
                }
                Ok::<_, std::io::Error>(ft)
            })
        })
        .collect();
    let mut back = Vec::new();
    for task in tasks {
        back.push(task.await??);
    }
    Ok((t.elapsed(), back))
}

/// Median of `n` floor cycles (after one warm-up) against the brokers in `snap`.
async fn floor_median(snap: &Snapshot, n: usize, mut slowest: impl FnMut() -> AnyResult<Duration>) -> AnyResult<(Duration, Vec<(Duration, Duration)>)> {
    let mut targets = floor_targets(snap).await?;
    let mut times = Vec::new();
    let mut pairs = Vec::new();
    for i in 0..=n {
        // In a runtime task, like the exporter's cycles.
        let (d, back) = tokio::spawn(floor_cycle(targets)).await??;
        let at_sim = slowest()?;
        targets = back;
        if i > 0 {
            times.push(d);
            pairs.push((d, at_sim));
        }
    }
    Ok((median(times), pairs))
}

// ---------------------------------------------------------------------------------------------
// 2. Requests per broker per cycle, and what the Java exporter would send.

/// (request code -> count) summed over outcomes, from the exporter's own counter.
fn requests_by_code() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for fam in rocketmq_exporter::self_metrics::global().registry.gather() {
        if fam.name() != "rocketmq_exporter_requests_total" {
            continue;
        }
        for m in fam.get_metric() {
            let code = m.get_label().iter().find(|l| l.name() == "code").map(|l| l.value().to_string()).unwrap_or_default();
            *out.entry(code).or_insert(0) += m.get_counter().get_value() as u64;
        }
    }
    out
}

async fn bench_requests() -> AnyResult<Vec<Row>> {
    println!("\n## 2. requests per broker per cycle, SimConfig::scale({BROKERS}, {LATENCY_ROWS})");
    let sim = SimCluster::start(SimConfig::scale(BROKERS, LATENCY_ROWS)).await?;
    let ns = sim.namesrv_addr().to_string();
    let c = collector(&ns, 256, Duration::from_secs(10))?;
    let first = requests_by_code();
    check_complete(&c.collect().await, BROKERS)?; // opens the connections; counted apart
    let before = requests_by_code();
    let first_total: u64 = before.iter().map(|(code, n)| n - first.get(code).copied().unwrap_or(0)).sum();
    println!(
        "first cycle: {first_total} requests, {:.3} per broker (every master is asked 907 once; 4.x refusals are remembered)",
        first_total as f64 / BROKERS as f64
    );
    let snap = c.collect().await;
    let after = requests_by_code();
    check_complete(&snap, BROKERS)?;
    sim.shutdown().await;

    let mut total = 0u64;
    for (code, n) in &after {
        let d = n - before.get(code).copied().unwrap_or(0);
        if d > 0 {
            println!("  code {code}: {d}");
        }
        total += d;
    }
    let namesrv = after.get("106").copied().unwrap_or(0) - before.get("106").copied().unwrap_or(0)
        + after.get("105").copied().unwrap_or(0) - before.get("105").copied().unwrap_or(0);
    let per_broker = total as f64 / BROKERS as f64;
    let broker_only = (total - namesrv) as f64 / BROKERS as f64;
    println!("total {total} requests, {per_broker:.3} per broker ({broker_only:.2} to brokers, {namesrv} to the NameServer)");

    let java = java_requests(&snap);
    println!(
        "Java exporter (computed) for the same topology: {} (topic,group) pairs, {} queue rows; \
         consumer-offset task {} broker requests = {:.0} per broker; all tasks ≥ {} = {:.0} per broker; plus {} NameServer route lookups",
        java.pairs, java.rows, java.consumer_task, java.consumer_task as f64 / BROKERS as f64, java.all_tasks,
        java.all_tasks as f64 / BROKERS as f64, java.namesrv
    );
    Ok(vec![row(
        "2. requests per broker per cycle",
        "≤ 4",
        format!("{per_broker:.3} ({broker_only:.2} broker-addressed + {namesrv} NameServer / {BROKERS})"),
        format!(
            "Java (computed): {:.0} (backlog task) / ≥ {:.0} (all tasks)",
            java.consumer_task as f64 / BROKERS as f64,
            java.all_tasks as f64 / BROKERS as f64
        ),
        format!("{:.0}× fewer", java.all_tasks as f64 / BROKERS as f64 / per_broker),
    )])
}

struct JavaCount {
    pairs: usize,
    rows: usize,
    /// collectConsumerOffset: per (topic, group): GET_CONSUMER_CONNECTION_LIST once, GET_CONSUME_STATS
    /// on every broker hosting it, one PULL per queue; per topic one QUERY_TOPIC_CONSUME_BY_WHO.
    consumer_task: usize,
    /// + collectTopicOffset (GET_TOPIC_STATS_INFO per topic per broker), collectBrokerStatsTopic
    /// (2 VIEW_BROKER_STATS_DATA per topic and 3 per (topic, group) per broker), collectBrokerStats
    /// (2 per broker), collectBrokerRuntimeStats (1 per broker).
    all_tasks: usize,
    /// Route lookups: per topic 2 (stats, consume-by-who) and per (topic, group) 2 (%RETRY% route
    /// for the connection list and for the consume stats), plus the topic list and cluster info.
    namesrv: usize,
}

/// What apache/rocketmq-exporter's MetricsCollectTask sends per cycle for the topology in
/// `snap` (read from its source, not measured). A lower bound: PULLs answered OFFSET_ILLEGAL
/// are retried, and client runtime-info requests per online consumer are not counted.
fn java_requests(snap: &Snapshot) -> JavaCount {
    let mut pairs_global = BTreeSet::new();
    let mut topics_global = BTreeSet::new();
    let (mut pair_broker, mut rows, mut topic_broker, mut user_topic_broker, mut user_pair_broker) = (0, 0, 0, 0, 0);
    for b in snap.brokers.iter().filter(|b| b.is_master()) {
        let consume = b.consume.as_deref().unwrap_or(&[]);
        let pairs: BTreeSet<(&str, &str)> = consume.iter().map(|r| (r.topic.as_ref(), r.group.as_ref())).collect();
        let topics: BTreeSet<&str> = consume.iter().map(|r| r.topic.as_ref()).collect();
        let user = |t: &str| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%");
        pair_broker += pairs.len();
        user_pair_broker += pairs.iter().filter(|(t, _)| user(t)).count();
        topic_broker += topics.len();
        user_topic_broker += topics.iter().filter(|t| user(t)).count();
        rows += consume.len();
        pairs_global.extend(pairs.iter().map(|(t, g)| (t.to_string(), g.to_string())));
        topics_global.extend(topics.iter().map(|t| t.to_string()));
    }
    let masters = snap.brokers.iter().filter(|b| b.is_master()).count();
    let consumer_task = pairs_global.len() + pair_broker + rows + topics_global.len();
    let all_tasks = consumer_task + topic_broker + 2 * user_topic_broker + 3 * user_pair_broker + 3 * masters;
    let namesrv = 2 * topics_global.len() + 2 * pairs_global.len() + 2;
    JavaCount { pairs: pairs_global.len(), rows, consumer_task, all_tasks, namesrv }
}

// ---------------------------------------------------------------------------------------------
// 3. Render throughput, against the prometheus crate.

/// Collects the big topology once (no latency) and returns the snapshot and its drain verdicts.
async fn big_snapshot(rows: usize) -> AnyResult<(Arc<Snapshot>, Vec<drain::Verdict>, Duration)> {
    let sim = SimCluster::start(SimConfig::scale(BROKERS, rows)).await?;
    let c = collector(&sim.namesrv_addr().to_string(), 256, Duration::from_secs(120))?;
    let t = Instant::now();
    let snap = c.collect().await;
    let took = t.elapsed();
    check_complete(&snap, BROKERS)?;
    sim.shutdown().await;
    let snap = Arc::new(snap);
    let verdicts = drain::evaluate(&snap, &[], &DrainConfig::default());
    Ok((snap, verdicts, took))
}

fn count_series(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n').filter(|l| !l.is_empty() && l[0] != b'#').count()
}

async fn bench_render(rows: usize, with_baseline: bool) -> AnyResult<Vec<Row>> {
    println!("\n## 3. render throughput, SimConfig::scale({BROKERS}, {rows})");
    let (snap, verdicts, took) = big_snapshot(rows).await?;
    println!("collected {} queue rows in {}", rows_of(&snap), ms(took));
    let opts = RenderOptions::default();
    let mut body = Vec::new();
    render::render(&snap, &verdicts, &opts, &mut body); // warm-up
    let series = count_series(&body);
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut out = Vec::new(); // fresh buffer each time, as the daemon does
        let t = Instant::now();
        render::render(&snap, &verdicts, &opts, &mut out);
        times.push(t.elapsed());
        assert_eq!(out.len(), body.len(), "render is deterministic for one snapshot");
    }
    let ours = median(times.clone());
    let ours_rate = series as f64 / ours.as_secs_f64();
    println!("ours: {series} series, {} bytes, median {} of {:?} = {:.2} M series/s", body.len(), ms(ours), times, ours_rate / 1e6);

    let mut out = vec![row(
        &format!("3. render {:.2} M series", series as f64 / 1e6),
        "≥ 2 M series/s",
        format!("{:.2} M/s ({})", ours_rate / 1e6, ms(ours)),
        String::new(),
        String::new(),
    )];
    if with_baseline && series > 2_000_000 {
        println!("prometheus crate baseline skipped above 2 M series (its memory would dwarf everything else on this shared machine)");
    }
    if with_baseline && series <= 2_000_000 {
        let (update, encode, first, enc_len) = prometheus_baseline(&body)?;
        let per_cycle = update + encode;
        let base_rate = series as f64 / per_cycle.as_secs_f64();
        println!(
            "prometheus crate: first population {}, per cycle set {} + gather/encode {} = {} ({:.2} M series/s), {} bytes",
            ms(first), ms(update), ms(encode), ms(per_cycle), base_rate / 1e6, enc_len
        );
        out[0].baseline = format!("prometheus GaugeVec+TextEncoder: {:.2} M/s ({} set + {} encode)", base_rate / 1e6, ms(update), ms(encode));
        out[0].ratio = format!("{:.1}× faster", ours_rate / base_rate);
    }
    Ok(out)
}

/// One exposition sample split into family, label names, label values and value.
struct Sample {
    family: usize,
    values: Vec<String>,
    value: f64,
}

/// Parses our own exposition (no escapes occur in the sim's names) so the prometheus crate gets
/// exactly the same families, label sets and values.
fn parse_exposition(body: &[u8]) -> AnyResult<(Vec<(String, String, Vec<String>)>, Vec<Sample>)> {
    let text = std::str::from_utf8(body)?;
    let mut fams: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut help: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap_or((rest, ""));
            help.insert(name.to_string(), h.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or("sample without value")?;
        let value: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse()?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').ok_or("unterminated labels")?),
            None => (series, ""),
        };
        let mut names = Vec::new();
        let mut values = Vec::new();
        for pair in split_labels(labels) {
            let (k, v) = pair.split_once('=').ok_or("label without =")?;
            names.push(k.to_string());
            values.push(v.trim_matches('"').to_string());
        }
        let fi = *index.entry(name.to_string()).or_insert_with(|| {
            fams.push((name.to_string(), help.get(name).cloned().unwrap_or_else(|| "x".into()), names.clone()));
            fams.len() - 1
        });
        if fams[fi].2 != names {
            return Err(format!("family {name} has varying label names").into());
        }
        samples.push(Sample { family: fi, values, value });
    }
    Ok((fams, samples))
}

/// Splits `a="x",b="y,z"` at commas outside quotes.
fn split_labels(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// (per-cycle set of every series, gather + encode, first population, encoded length).
fn prometheus_baseline(body: &[u8]) -> AnyResult<(Duration, Duration, Duration, usize)> {
    let (fams, samples) = parse_exposition(body)?;
    let registry = Registry::new();
    let mut vecs = Vec::new();
    for (name, help, labels) in &fams {
        let names: Vec<&str> = labels.iter().map(String::as_str).collect();
        let v = GaugeVec::new(Opts::new(name.clone(), help.clone()), &names)?;
        registry.register(Box::new(v.clone()))?;
        vecs.push(v);
    }
    let set_all = || {
        for s in &samples {
            let vals: Vec<&str> = s.values.iter().map(String::as_str).collect();
            vecs[s.family].with_label_values(&vals).set(s.value);
        }
    };
    let t = Instant::now();
    set_all();
    let first = t.elapsed();
    let mut updates = Vec::new();
    let mut encodes = Vec::new();
    let mut len = 0;
    for _ in 0..3 {
        let t = Instant::now();
        set_all(); // what an exporter using the crate does each cycle: look up and set every series
        updates.push(t.elapsed());
        let t = Instant::now();
        let mut out = Vec::new();
        TextEncoder::new().encode(&registry.gather(), &mut out)?;
        encodes.push(t.elapsed());
        len = out.len();
    }
    Ok((median(updates), median(encodes), first, len))
}

// ---------------------------------------------------------------------------------------------
// 4. /metrics latency over loopback.

/// One GET on a fresh connection; returns (time to last byte, body bytes, header text).
/// One GET into `buf`, which the caller reuses: the client's own allocation and page faults
/// stay out of the timing (they would otherwise depend on this process's malloc settings).
fn get(addr: std::net::SocketAddr, gzip: bool, buf: &mut Vec<u8>) -> AnyResult<(Duration, usize, String)> {
    buf.clear();
    let t = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    let enc = if gzip { "Accept-Encoding: gzip\r\n" } else { "" };
    write!(s, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n{enc}Connection: close\r\n\r\n")?;
    s.read_to_end(buf)?;
    let took = t.elapsed();
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no header end")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("unexpected response: {}", head.lines().next().unwrap_or("")).into());
    }
    Ok((took, buf.len() - head_end, head))
}

async fn bench_serve(rows: usize) -> AnyResult<Vec<Row>> {
    println!("\n## 4. /metrics latency, SimConfig::scale({BROKERS}, {rows})");
    let (snap, verdicts, _) = big_snapshot(rows).await?;
    let mut body = Vec::new();
    render::render(&snap, &verdicts, &RenderOptions::default(), &mut body);
    let series = count_series(&body);
    drop(snap);
    let t = Instant::now();
    let expo = Exposition::new(body);
    let gzip_time = t.elapsed();
    let (plain_len, gzip_len) = (expo.body.len(), expo.gzip.len());
    println!("{series} series, body {plain_len} bytes, gzip {gzip_len} bytes (compressed once per cycle in {})", ms(gzip_time));
    let state = ServeState::new();
    state.publish(expo);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let cfg = HttpConfig {
        listen: addr.to_string(),
        telemetry_path: "/metrics".into(),
        web_config_file: None,
        version: "bench".into(),
        max_connections: 512,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::serve(listener, cfg, state, async {
        let _ = stop_rx.await;
    }));
    const N: usize = 30;
    let results = tokio::task::spawn_blocking(move || -> AnyResult<Vec<(bool, Vec<Duration>, usize)>> {
        let mut out = Vec::new();
        // Sized for the plain body and touched once by the warm-up GET.
        let mut buf = Vec::with_capacity(256 << 20);
        for gzip in [false, true] {
            get(addr, gzip, &mut buf)?; // warm-up
            let mut times = Vec::with_capacity(N);
            let mut len = 0;
            for _ in 0..N {
                let (d, l, head) = get(addr, gzip, &mut buf)?;
                if gzip && !head.to_ascii_lowercase().contains("content-encoding: gzip") {
                    return Err("asked for gzip, got plain".into());
                }
                times.push(d);
                len = l;
            }
            times.sort();
            out.push((gzip, times, len));
        }
        Ok(out)
    })
    .await??;
    let _ = stop_tx.send(());
    let _ = server.await;

    let mut table = Vec::new();
    for (gzip, times, len) in results {
        let expect = if gzip { gzip_len } else { plain_len };
        if len != expect {
            return Err(format!("served {len} bytes, published {expect}").into());
        }
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        let kind = if gzip { "gzip" } else { "plain" };
        println!("{kind}: {N} sequential GETs, p50 {} p99 {} max {}, {len} bytes", ms(p50), ms(p99), ms(times[N - 1]));
        table.push(row(
            &format!("4. GET /metrics {kind}, {:.2} M series", series as f64 / 1e6),
            "—",
            format!("p50 {} / p99 {}", ms(p50), ms(p99)),
            format!("{:.1} MB", len as f64 / 1e6),
            format!("{:.0} MB/s at p50", len as f64 / 1e6 / p50.as_secs_f64()),
        ));
    }
    Ok(table)
}

// ---------------------------------------------------------------------------------------------
// 5. Resident memory.

/// (VmRSS, VmHWM) in bytes for `/proc/<pid>/status`.
fn rss_of(pid: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

/// Child process for `rss`: runs the simulated cluster, prints its NameServer address, serves
/// until stdin closes.
fn sim_server(rows: usize, latency: Duration) -> AnyResult<()> {
    // SCALE_SIM_CPU=<n>: the sim on that CPU only (threads created later inherit it), for
    // runs where the brokers do not take the exporter's cores (run the exporter under taskset).
    if let Some(cpu) = std::env::var("SCALE_SIM_CPU").ok().and_then(|s| s.parse::<usize>().ok()) {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read and write it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let sim = SimCluster::start(SimConfig::scale(BROKERS, rows)).await?;
        if !latency.is_zero() {
            sim.set_fault_all_brokers(Fault::Latency(latency));
        }
        println!("NAMESRV {}", sim.namesrv_addr());
        std::io::stdout().flush()?;
        // Each stdin line asks for the slowest answer since the last one; EOF stops the sim.
        let sim = Arc::new(sim);
        let s2 = sim.clone();
        tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if line == "timeline" {
                    let t = s2.take_timeline().map_or((0, 0, 0), |t| (t.first_read_ns, t.last_read_ns, t.last_written_ns));
                    println!("TIMELINE {} {} {}", t.0, t.1, t.2);
                } else {
                    println!("SLOWEST {}", s2.take_slowest_answer().as_nanos());
                }
                let _ = std::io::stdout().flush();
            }
        })
        .await?;
        if let Ok(sim) = Arc::try_unwrap(sim) {
            sim.shutdown().await;
        }
        Ok(())
    })
}

/// `scale sim-server rows latency_ms` in a child process: its NameServer address, and a line
/// protocol on its stdin/stdout for the slowest answer; closing its stdin stops it.
struct SimChild {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
    ns: String,
}

impl SimChild {
    /// The slowest answer the child's nodes gave since the last call (request read → written).
    fn take_slowest_answer(&mut self) -> AnyResult<Duration> {
        let stdin = self.child.stdin.as_mut().ok_or("no child stdin")?;
        stdin.write_all(b"slowest\n")?;
        stdin.flush()?;
        let mut line = String::new();
        self.out.read_line(&mut line)?;
        let ns: u64 = line.trim().strip_prefix("SLOWEST ").ok_or("sim child: bad answer")?.parse()?;
        Ok(Duration::from_nanos(ns))
    }

    /// The child's request arrivals and answer departures since the last call.
    fn take_timeline(&mut self) -> AnyResult<Option<Timeline>> {
        let stdin = self.child.stdin.as_mut().ok_or("no child stdin")?;
        stdin.write_all(b"timeline\n")?;
        stdin.flush()?;
        let mut line = String::new();
        self.out.read_line(&mut line)?;
        let v: Vec<u64> = line.trim().strip_prefix("TIMELINE ").ok_or("sim child: bad answer")?.split(' ').map(str::parse).collect::<Result<_, _>>()?;
        Ok((v.len() == 3 && v[0] != 0).then(|| Timeline { first_read_ns: v[0], last_read_ns: v[1], last_written_ns: v[2] }))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn spawn_sim(rows: usize, latency: Duration) -> AnyResult<SimChild> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["sim-server", &rows.to_string(), &latency.as_millis().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().ok_or("no child stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    match line.trim().strip_prefix("NAMESRV ") {
        Some(ns) => Ok(SimChild { ns: ns.to_string(), child, out }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err("sim child did not start".into())
        }
    }
}

fn stop_sim(mut sim: SimChild) {
    drop(sim.child.stdin.take());
    let _ = sim.child.wait();
}

async fn bench_rss(rows: usize) -> AnyResult<Vec<Row>> {
    println!("\n## 5. resident memory, SimConfig::scale({BROKERS}, {rows}); the sim runs in a child process");
    let (rss0, _) = rss_of("self");
    let child = spawn_sim(rows, Duration::ZERO)?;
    let ns = child.ns.clone();
    let child_pid = child.pid().to_string();

    let mut pipeline = Pipeline::new(
        Arc::into_inner(collector(&ns, 256, Duration::from_secs(120))?).expect("not shared yet"),
        DrainConfig::default(),
        RenderOptions::default(),
        ServeState::new(),
    );
    let mut table = Vec::new();
    let mut lines = Vec::new();
    // SCALE_RSS_CYCLES: more or fewer cycles.
    let cycles: usize = std::env::var("SCALE_RSS_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(CYCLES);
    // The daemon's schedule, scaled in time: cycles start a period apart and the drain window is
    // four periods (the defaults: 15 s and 60 s), so the history holds as many past cycles as the
    // daemon's does. Back to back with a 60 s window, every cycle would add one more.
    let mut period = Duration::ZERO;
    let mut next = tokio::time::Instant::now();
    for cycle in 1..=cycles {
        tokio::time::sleep_until(next).await;
        let t = Instant::now();
        let snap = pipeline.cycle().await;
        if cycle == 1 {
            period = (t.elapsed() * 2).max(Duration::from_millis(200));
            let window = period * (DrainConfig::default().window.as_millis() / DEFAULT_INTERVAL.as_millis()) as u32;
            pipeline.drain.window = rss_window().unwrap_or(window);
            *pipeline.history.lock().unwrap() = rocketmq_exporter::drain::History::new(pipeline.drain.window);
            lines.push(format!("period {} (2 × cycle 1), drain window {}", ms(period), ms(pipeline.drain.window)));
        }
        next = tokio::time::Instant::from_std(t) + period;
        check_complete(&snap, BROKERS)?;
        let rows_n = rows_of(&snap);
        drop(snap);
        let (rss_untrimmed, _) = rss_of("self");
        // What glibc keeps of freed memory (decode transients of 200 concurrent answers) is not
        // live data; trimming shows how much of the RSS is either.
        #[cfg(target_env = "gnu")]
        unsafe {
            libc::malloc_trim(0);
        }
        let (rss, hwm) = rss_of("self");
        let past = pipeline.history.lock().unwrap().past().len();
        let expo = pipeline.state.exposition.load_full().ok_or("nothing published")?;
        let held = (expo.body.len() + expo.gzip.len()) as u64;
        let series = count_series(&expo.body);
        // The daemon never trims: the headline figure is the untrimmed one.
        let beyond = rss_untrimmed.saturating_sub(held);
        let beyond_trimmed = rss.saturating_sub(held);
        lines.push(format!(
            "after cycle {cycle}: {rows_n} rows, {series} series, {past} past cycles held; VmRSS {} (untrimmed), {} after malloc_trim; VmHWM {}; exposition {} (body {} + gzip {}); \
             RSS beyond exposition {} untrimmed, {} trimmed; beyond exposition and the pre-start RSS {}",
            mib(rss_untrimmed), mib(rss), mib(hwm), mib(held), mib(expo.body.len() as u64), mib(expo.gzip.len() as u64), mib(beyond),
            mib(beyond_trimmed), mib(beyond.saturating_sub(rss0))
        ));
        if cycle == 1 || cycle == 3 || cycle == 6 || cycle == cycles {
            table.push(row(
                &format!("5. RSS after cycle {cycle}, {:.2} M series", series as f64 / 1e6),
                "≤ 64 MiB beyond the body",
                format!(
                    "{} beyond body+gzip ({} after malloc_trim; RSS {}, HWM {})",
                    mib(beyond),
                    mib(beyond_trimmed),
                    mib(rss_untrimmed),
                    mib(hwm)
                ),
                format!("body {} + gzip {}", mib(expo.body.len() as u64), mib(expo.gzip.len() as u64)),
                String::new(),
            ));
        }
    }
    // Pooled connections keep their read buffers (sized by the largest answer they carried).
    pipeline.collector.admin().client().close_all();
    tokio::time::sleep(Duration::from_millis(200)).await;
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
    let (rss_closed, _) = rss_of("self");
    lines.push(format!("after cycle {cycles} and closing every pooled connection: VmRSS {}", mib(rss_closed)));
    let (sim_rss, sim_hwm) = rss_of(&child_pid);
    stop_sim(child);
    println!("RSS before anything started: {}", mib(rss0));
    for l in lines {
        println!("{l}");
    }
    println!("sim child process: VmRSS {} VmHWM {} (not part of the figures above)", mib(sim_rss), mib(sim_hwm));
    Ok(table)
}

/// SCALE_RSS_WINDOW_MS: another drain window for the RSS run than four periods.
fn rss_window() -> Option<Duration> {
    std::env::var("SCALE_RSS_WINDOW_MS").ok().and_then(|s| s.parse().ok()).map(Duration::from_millis)
}

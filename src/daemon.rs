//! The `serve` daemon: a background collection loop feeding a pre-rendered exposition to the
//! HTTP endpoint. Scrapes only read the latest bytes, so any number of Prometheus replicas cost
//! the cluster nothing extra.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::admin::Admin;
use crate::cli::{LogArgs, LogFormat, ServeArgs};
use crate::drain::History;
use crate::collect::Collector;
use crate::drain::{self, DrainConfig};
use crate::remoting::RemotingClient;
use crate::render::{self, RenderOptions};
use crate::serve::http::{self, HttpConfig};
use crate::serve::state::{Exposition, ServeState};
use crate::snapshot::Snapshot;

pub fn init_logging(log: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("rocketmq_exporter={0},{0}", log.log_level)));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    let _ = match log.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Logfmt => builder.event_format(crate::logfmt::Logfmt).try_init(),
    };
}

/// Logs a broker's failure when it starts or its reason changes, then at most every 10 minutes
/// while it persists: a broker that stays down must not flood the log.
#[derive(Default)]
pub struct FailureLog {
    seen: HashMap<String, (String, Instant)>,
}

impl FailureLog {
    /// Returns true when this failure of `key` should be logged now.
    fn should_log(&mut self, key: &str, err: &str) -> bool {
        const REPEAT: Duration = Duration::from_secs(600);
        // Numbers (lengths, durations) vary between cycles; the kind of failure does not.
        let kind = failure_kind(err);
        let repeat = match self.seen.get(key) {
            Some((last, at)) => *last != kind || at.elapsed() >= REPEAT,
            None => true,
        };
        if repeat {
            self.seen.insert(key.to_string(), (kind, Instant::now()));
        }
        repeat
    }

    fn recovered(&mut self, key: &str) -> bool {
        self.seen.remove(key).is_some()
    }

    pub fn observe(&mut self, snap: &Snapshot) {
        for ns in &snap.namesrvs {
            let key = format!("namesrv/{}", ns.addr);
            match (&ns.error, ns.up) {
                (Some(err), false) => {
                    if self.should_log(&key, err) {
                        tracing::warn!(namesrv = %ns.addr, error = %err, "NameServer unavailable");
                    }
                }
                _ => {
                    if self.recovered(&key) {
                        tracing::info!(namesrv = %ns.addr, "NameServer recovered");
                    }
                }
            }
        }
        for b in &snap.brokers {
            match (&b.error, b.up) {
                (Some(err), false) => {
                    if self.should_log(&b.addr, err) {
                        tracing::warn!(addr = %b.addr, broker = %b.broker, broker_id = b.broker_id, error = %err, "broker collection failed");
                    }
                }
                _ => {
                    if self.recovered(&b.addr) {
                        tracing::info!(addr = %b.addr, broker = %b.broker, "broker collection recovered");
                    }
                }
            }
        }
    }
}

/// Everything one cycle needs besides the snapshot.
pub struct Pipeline {
    pub collector: Collector,
    /// Shared with the blocking task that updates it each cycle.
    pub history: Arc<Mutex<History>>,
    pub drain: DrainConfig,
    pub render: RenderOptions,
    pub state: ServeState,
    failures: Mutex<FailureLog>,
}

impl Pipeline {
    pub fn new(collector: Collector, drain: DrainConfig, render: RenderOptions, state: ServeState) -> Self {
        Pipeline {
            collector,
            history: Arc::new(Mutex::new(History::new(drain.window))),
            drain,
            render,
            state,
            failures: Default::default(),
        }
    }

    /// collect -> snapshot -> evaluate -> render -> publish.
    pub async fn cycle(&self) -> Arc<Snapshot> {
        let snap = Arc::new(self.collector.collect().await);
        self.failures.lock().unwrap().observe(&snap);
        // Reducing the previous snapshot to a past cycle, evaluation, rendering and gzip are CPU
        // work proportional to the number of series: keep them off the async workers that serve
        // scrapes.
        let (drain_cfg, render_opts, s) = (self.drain.clone(), self.render.clone(), snap.clone());
        let history = self.history.clone();
        let exposition = tokio::task::spawn_blocking(move || {
            let past = {
                let mut h = history.lock().unwrap();
                h.push(s.clone());
                h.past()
            };
            let verdicts = drain::evaluate(&s, &past, &drain_cfg);
            let mut body = Vec::with_capacity(64 * 1024);
            render::render(&s, &verdicts, &render_opts, &mut body);
            body.extend_from_slice(&crate::self_metrics::encode());
            Exposition::new(body)
        })
        .await
        .expect("render task");
        self.state.publish(exposition);
        tracing::debug!(brokers = snap.brokers.len(), duration_ms = snap.collect_duration_ms, "collection cycle done");
        snap
    }

    /// Runs cycles every `interval` until the task is dropped; a slow cycle delays the next
    /// rather than stacking them.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.cycle().await;
        }
    }
}

/// The error text with every number replaced by `#`, so "timed out after 997.3ms" and
/// "timed out after 999.2ms" count as the same failure.
fn failure_kind(err: &str) -> String {
    let mut out = String::with_capacity(err.len());
    for c in err.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// `serve`, and `demo` once its simulated cluster is up.
pub async fn run_serve(args: &ServeArgs) -> anyhow::Result<()> {
    let client = RemotingClient::new(args.conn.client_options()?).context("TLS configuration")?;
    let collector = Collector::new(Admin::new(client.clone()), args.conn.collect_config());
    let http_cfg = HttpConfig {
        listen: args.web_listen_address.clone(),
        telemetry_path: args.web_telemetry_path.clone(),
        web_config_file: args.web_config_file.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        max_connections: args.web_max_connections,
    };
    let listener = http::bind(&http_cfg).await.with_context(|| format!("cannot listen on {}", args.web_listen_address))?;
    tracing::info!(
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        namesrv = %args.conn.namesrvs().join(";"),
        sidecar = !args.conn.broker_addr.is_empty(),
        "rocketmq-exporter started"
    );
    let state = ServeState::new();
    let pipeline = Arc::new(Pipeline::new(
        collector,
        args.drain.config(),
        RenderOptions { queue_level: args.collect_queue_level, collect_interval: Some(args.collect_interval), filters: args.conn.filters() },
        state.clone(),
    ));
    let collecting = tokio::spawn(pipeline.clone().run(args.collect_interval));
    let abort = collecting.abort_handle();
    // A collection loop that died (a panic) would leave an endpoint serving the last exposition
    // forever, or never ready: stop serving instead, so the supervisor restarts us.
    let died = Arc::new(Mutex::new(None));
    let stop = {
        let died = died.clone();
        async move {
            if let Some(why) = until_shutdown_or_death(collecting, shutdown_signal()).await {
                tracing::error!(error = %why, "collection stopped; shutting down");
                *died.lock().unwrap() = Some(why);
            }
        }
    };
    let result = http::serve(listener, http_cfg, state, stop).await;
    abort.abort();
    client.close_all();
    result.map_err(|e| anyhow::anyhow!("HTTP server failed: {e}"))?;
    let why = died.lock().unwrap().take();
    match why {
        Some(why) => Err(anyhow::anyhow!("collection stopped: {why}")),
        None => Ok(()),
    }
}

/// Waits for `shutdown`; `Some(reason)` instead if `task` ends first (it is meant to run until
/// aborted, so ending at all is a failure).
async fn until_shutdown_or_death(task: tokio::task::JoinHandle<()>, shutdown: impl Future<Output = ()>) -> Option<String> {
    tokio::select! {
        () = shutdown => None,
        r = task => Some(match r {
            Ok(()) => "the collection loop returned".to_string(),
            Err(e) if e.is_panic() => {
                let p = e.into_panic();
                let text = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
                format!("panicked: {}", text.unwrap_or_else(|| "(no message)".into()))
            }
            Err(e) => e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_collection_loop_is_reported_and_shutdown_is_not() {
        let dies = tokio::spawn(async { panic!("boom at cycle 3") });
        let why = until_shutdown_or_death(dies, std::future::pending()).await;
        assert_eq!(why.as_deref(), Some("panicked: boom at cycle 3"));
        let runs = tokio::spawn(std::future::pending::<()>());
        let abort = runs.abort_handle();
        assert_eq!(until_shutdown_or_death(runs, async {}).await, None);
        abort.abort();
    }

    #[test]
    fn failure_kind_ignores_numbers() {
        assert_eq!(failure_kind("timed out after 997.380962ms"), failure_kind("timed out after 999.21502ms"));
        assert_ne!(failure_kind("timed out after 1s"), failure_kind("closed the connection"));
    }
}

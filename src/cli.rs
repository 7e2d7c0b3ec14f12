//! Command-line flags (clap derive), following Prometheus exporter conventions: dotted long
//! names, and every flag also readable from an environment variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use regex::Regex;

use crate::collect::CollectConfig;
use crate::render::Filters;
use crate::drain::DrainConfig;
use crate::remoting::acl::AclCredentials;
use crate::remoting::tls::TlsOptions;
use crate::remoting::ClientOptions;

#[derive(Parser, Debug)]
#[command(name = "rocketmq-exporter", version, about = "Prometheus exporter for Apache RocketMQ with a drain-readiness verdict per broker")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the exporter daemon (the Prometheus target).
    Serve(ServeArgs),
    /// One-shot clusterList-style table and drain verdicts. With --broker: exit 0 when that broker
    /// is safe to take offline, 1 when not, 2 on error.
    Status(StatusArgs),
    /// Simulated cluster replaying the drain runbook, with the exporter on top (serve's flags apply).
    Demo(DemoArgs),
    /// Set brokerPermission=4 on a master (mutates the cluster), then follow readiness live.
    Drain(MutateArgs),
    /// Set brokerPermission=6 on a master (mutates the cluster), then verify traffic returns.
    Restore(MutateArgs),
}

/// How to reach the cluster; shared by every command.
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// NameServer list, `;`-separated (RocketMQ convention) [default: 127.0.0.1:9876 unless
    /// --broker.addr is given; in sidecar mode NameServers are asked only when set explicitly,
    /// for the route check].
    #[arg(long = "namesrv.addr", env = "NAMESRV_ADDR", value_parser = parse_namesrv_list)]
    pub namesrv_addr: Option<NamesrvList>,
    /// Sidecar mode: only these brokers (repeatable or comma-separated); no discovery.
    #[arg(long = "broker.addr", env = "ROCKETMQ_BROKER_ADDR", value_delimiter = ',', value_parser = parse_addr)]
    pub broker_addr: Vec<String>,
    /// Timeout of each request to RocketMQ.
    #[arg(long = "collect.timeout", env = "ROCKETMQ_EXPORTER_COLLECT_TIMEOUT", default_value = "5s", value_parser = parse_nonzero_duration)]
    pub collect_timeout: Duration,
    /// Largest RocketMQ frame accepted (Java's client limit, 16 MiB, by default). A broker with
    /// tens of thousands of (topic, group) queues can answer consume stats with more; `B`, `KiB`,
    /// `MiB` or `GiB`, up to 1 GiB.
    #[arg(long = "collect.max-frame-size", env = "ROCKETMQ_EXPORTER_COLLECT_MAX_FRAME_SIZE", default_value = "16MiB", value_parser = parse_frame_size)]
    pub collect_max_frame_size: usize,
    /// Broker groups fetched concurrently.
    #[arg(long = "collect.concurrency", env = "ROCKETMQ_EXPORTER_COLLECT_CONCURRENCY", default_value_t = 256, value_parser = parse_at_least_one)]
    pub collect_concurrency: usize,
    /// Only topics matching this regex.
    #[arg(long = "topic.include", env = "ROCKETMQ_EXPORTER_TOPIC_INCLUDE", value_parser = parse_regex)]
    pub topic_include: Option<Regex>,
    /// Drop topics matching this regex.
    #[arg(long = "topic.exclude", env = "ROCKETMQ_EXPORTER_TOPIC_EXCLUDE", value_parser = parse_regex)]
    pub topic_exclude: Option<Regex>,
    /// Only consumer groups matching this regex.
    #[arg(long = "group.include", env = "ROCKETMQ_EXPORTER_GROUP_INCLUDE", value_parser = parse_regex)]
    pub group_include: Option<Regex>,
    /// Drop consumer groups matching this regex.
    #[arg(long = "group.exclude", env = "ROCKETMQ_EXPORTER_GROUP_EXCLUDE", value_parser = parse_regex)]
    pub group_exclude: Option<Regex>,
    /// ACL access key.
    #[arg(long = "acl.access-key", env = "ROCKETMQ_ACCESS_KEY")]
    pub acl_access_key: Option<String>,
    /// ACL secret key (prefer --acl.secret-key-file or the environment variable).
    #[arg(long = "acl.secret-key", env = "ROCKETMQ_SECRET_KEY", hide_env_values = true)]
    pub acl_secret_key: Option<String>,
    /// File holding the ACL secret key.
    #[arg(long = "acl.secret-key-file", env = "ROCKETMQ_EXPORTER_ACL_SECRET_KEY_FILE")]
    pub acl_secret_key_file: Option<PathBuf>,
    /// Use TLS to NameServers and brokers.
    #[arg(long = "tls.enabled", env = "ROCKETMQ_EXPORTER_TLS_ENABLED")]
    pub tls_enabled: bool,
    /// PEM CA bundle to verify RocketMQ's certificates (system roots when absent).
    #[arg(long = "tls.ca-file", env = "ROCKETMQ_EXPORTER_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Name expected in RocketMQ's certificates (the address's host when absent).
    #[arg(long = "tls.server-name", env = "ROCKETMQ_EXPORTER_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// Do not verify certificates (brokers in TLS test mode use self-signed ones).
    #[arg(long = "tls.insecure-skip-verify", env = "ROCKETMQ_EXPORTER_TLS_INSECURE_SKIP_VERIFY")]
    pub tls_insecure_skip_verify: bool,
}

/// Drain thresholds; shared by serve, status, demo and drain.
#[derive(Args, Debug, Clone)]
pub struct DrainArgs {
    /// How long a check must hold (offsets unchanged, backlog zero).
    #[arg(long = "drain.window", env = "ROCKETMQ_EXPORTER_DRAIN_WINDOW", default_value = "60s", value_parser = parse_nonzero_duration)]
    pub drain_window: Duration,
    /// Retry-topic backlog still accepted as drained.
    #[arg(long = "drain.max-retry-diff", env = "ROCKETMQ_EXPORTER_DRAIN_MAX_RETRY_DIFF", default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    pub drain_max_retry_diff: i64,
    /// Regex of dead groups whose backlog does not block a drain.
    #[arg(long = "drain.ignore-group", env = "ROCKETMQ_EXPORTER_DRAIN_IGNORE_GROUP", value_parser = parse_regex)]
    pub drain_ignore_group: Option<Regex>,
}

#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    #[arg(long = "log.level", env = "ROCKETMQ_EXPORTER_LOG_LEVEL", default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: String,
    #[arg(long = "log.format", env = "ROCKETMQ_EXPORTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub drain: DrainArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Address to listen on for the HTTP endpoint (`:port` = all interfaces).
    #[arg(long = "web.listen-address", env = "ROCKETMQ_EXPORTER_WEB_LISTEN_ADDRESS", default_value = ":5558")]
    pub web_listen_address: String,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", env = "ROCKETMQ_EXPORTER_WEB_TELEMETRY_PATH", default_value = "/metrics", value_parser = parse_telemetry_path)]
    pub web_telemetry_path: String,
    /// Exporter-toolkit web configuration file (TLS and basic auth for our HTTP endpoint).
    #[arg(long = "web.config.file", env = "ROCKETMQ_EXPORTER_WEB_CONFIG_FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Most HTTP connections served at once; more wait in the listen backlog (as Prometheus's
    /// own --web.max-connections), so scrapers cannot take the sockets the collector needs.
    #[arg(long = "web.max-connections", env = "ROCKETMQ_EXPORTER_WEB_MAX_CONNECTIONS", default_value_t = 512, value_parser = parse_at_least_one)]
    pub web_max_connections: usize,
    /// Background collection period; scrapes never hit the brokers.
    #[arg(long = "collect.interval", env = "ROCKETMQ_EXPORTER_COLLECT_INTERVAL", default_value = "15s", value_parser = parse_nonzero_duration)]
    pub collect_interval: Duration,
    /// Per-queue series; `false` keeps per-(topic, group) sums only.
    #[arg(long = "collect.queue-level", env = "ROCKETMQ_EXPORTER_COLLECT_QUEUE_LEVEL", default_value_t = true, action = clap::ArgAction::Set)]
    pub collect_queue_level: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub drain: DrainArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Only this broker name; sets the exit code to its verdict.
    #[arg(long = "broker", env = "ROCKETMQ_EXPORTER_BROKER")]
    pub broker: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Simulated seconds per real second.
    #[arg(long = "demo.speedup", env = "ROCKETMQ_EXPORTER_DEMO_SPEEDUP", default_value_t = 4.0, value_parser = parse_speedup)]
    pub speedup: f64,
}

#[derive(Args, Debug, Clone)]
pub struct MutateArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub drain: DrainArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Broker name (the master of this name is changed).
    #[arg(long = "broker")]
    pub broker: String,
    /// Do not ask for confirmation.
    #[arg(long = "yes")]
    pub yes: bool,
    /// How often to re-check while following.
    #[arg(long = "collect.interval", env = "ROCKETMQ_EXPORTER_COLLECT_INTERVAL", default_value = "15s", value_parser = parse_nonzero_duration)]
    pub collect_interval: Duration,
    /// Give up following after this long (drain: until ready; restore: until traffic returns).
    #[arg(long = "follow.timeout", env = "ROCKETMQ_EXPORTER_FOLLOW_TIMEOUT", default_value = "30m", value_parser = parse_nonzero_duration)]
    pub follow_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesrvList(pub Vec<String>);

/// `host:port` with a numeric port; IPv6 as `[::1]:9876`.
pub fn parse_addr(s: &str) -> Result<String, String> {
    let s = s.trim();
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("{s:?} is not host:port"))?;
    if host.is_empty() {
        return Err(format!("{s:?} has no host"));
    }
    port.parse::<u16>().map_err(|_| format!("{s:?} has an invalid port {port:?}"))?;
    Ok(s.to_string())
}

pub fn parse_namesrv_list(s: &str) -> Result<NamesrvList, String> {
    let list: Vec<String> = s.split(';').filter(|p| !p.trim().is_empty()).map(parse_addr).collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("empty NameServer list".into());
    }
    Ok(NamesrvList(list))
}

pub fn parse_regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| e.to_string())
}

/// Prometheus-style durations: `500ms`, `15s`, `1m`, `2h`, `1m30s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    // Milliseconds, checked: the sum must fit an i64 of milliseconds, as timestamps do.
    let too_long = || format!("duration {s:?} is too long");
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("invalid unit {unit:?} in duration {s:?} (use ms, s, m, h, d)")),
        };
        let part = n.checked_mul(unit_ms).ok_or_else(too_long)?;
        total_ms = total_ms.checked_add(part).filter(|&t| t <= i64::MAX as u64).ok_or_else(too_long)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// A [`parse_duration`] that is not zero. A zero interval would stop collection (and panics
/// tokio's timer), a zero timeout fails every request, and a zero `--drain.window` would let
/// `status` compare two samples taken at once and call a broker quiet.
pub fn parse_nonzero_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("{s:?} is zero; it must be longer"));
    }
    Ok(d)
}

/// A frame size: bytes, or a number with `B`, `KiB`, `MiB` or `GiB`; from 1 KiB (a header
/// must fit) to 1 GiB (a frame is held whole while it is decoded).
pub fn parse_frame_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits].parse().map_err(|_| format!("{s:?} is not a size (e.g. 16MiB)"))?;
    let unit: u64 = match t[digits..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        u => return Err(format!("invalid unit {u:?} in {s:?} (use B, KiB, MiB or GiB)")),
    };
    let bytes = n.checked_mul(unit).filter(|b| (1 << 10..=1 << 30).contains(b));
    bytes.map(|b| b as usize).ok_or_else(|| format!("{s:?} is outside 1KiB..1GiB"))
}

/// A count of at least one (`--collect.concurrency`, `--web.max-connections`): with none,
/// collection or the endpoint would wait forever.
pub fn parse_at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// Simulated seconds per real second: finite and positive, or simulated time would stand still
/// or run backwards.
pub fn parse_speedup(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err(format!("{s:?} must be a positive number")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// A path a scraper can request and that no other endpoint answers: absolute, without
/// whitespace, query or fragment, and not `/`, `/-/healthy` or `/-/ready`.
pub fn parse_telemetry_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} must start with '/'"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#') {
        return Err(format!("{s:?} has whitespace, a control character, '?' or '#'"));
    }
    if matches!(s, "/" | "/-/healthy" | "/-/ready") {
        return Err(format!("{s:?} is taken by another endpoint"));
    }
    Ok(s.to_string())
}

/// Where NameServers listen when nothing is configured.
pub const DEFAULT_NAMESRV: &str = "127.0.0.1:9876";

impl ConnArgs {
    /// NameServers to use: the configured list; the default in cluster mode; none in sidecar mode
    /// unless configured (a sidecar must not report a NameServer it was never told about as down).
    pub fn namesrvs(&self) -> Vec<String> {
        match (&self.namesrv_addr, self.broker_addr.is_empty()) {
            (Some(l), _) => l.0.clone(),
            (None, true) => vec![DEFAULT_NAMESRV.to_string()],
            (None, false) => Vec::new(),
        }
    }

    pub fn client_options(&self) -> anyhow::Result<ClientOptions> {
        let secret = match (&self.acl_secret_key, &self.acl_secret_key_file) {
            (_, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read --acl.secret-key-file {}: {e}", path.display()))?
                    .trim()
                    .to_string(),
            ),
            (Some(s), None) => Some(s.clone()),
            (None, None) => None,
        };
        let acl = match (&self.acl_access_key, secret) {
            (Some(ak), Some(sk)) => Some(AclCredentials { access_key: ak.clone(), secret_key: sk, security_token: None }),
            (None, None) => None,
            _ => anyhow::bail!("ACL needs both --acl.access-key and a secret key"),
        };
        let tls = (self.tls_enabled || self.tls_ca_file.is_some() || self.tls_insecure_skip_verify).then(|| TlsOptions {
            ca_file: self.tls_ca_file.clone(),
            server_name: self.tls_server_name.clone(),
            insecure_skip_verify: self.tls_insecure_skip_verify,
        });
        Ok(ClientOptions {
            request_timeout: self.collect_timeout,
            acl,
            tls,
            // The flag counts the whole frame; the limit, the bytes after its length word.
            max_frame_length: self.collect_max_frame_size - 4,
            ..Default::default()
        })
    }

    pub fn collect_config(&self) -> CollectConfig {
        CollectConfig {
            namesrvs: self.namesrvs(),
            brokers: self.broker_addr.clone(),
            concurrency: self.collect_concurrency,
        }
    }

    /// The series filters; they apply to the exposition only (see `render::filters`).
    pub fn filters(&self) -> Filters {
        Filters {
            topic_include: self.topic_include.clone(),
            topic_exclude: self.topic_exclude.clone(),
            group_include: self.group_include.clone(),
            group_exclude: self.group_exclude.clone(),
        }
    }
}

impl DrainArgs {
    pub fn config(&self) -> DrainConfig {
        DrainConfig {
            window: self.drain_window,
            max_retry_diff: self.drain_max_retry_diff,
            ignore_group: self.drain_ignore_group.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10x").is_err());
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(2 * 86400));
        // Sums that would wrap are refused, not wrapped into a short (or negative) window.
        assert!(parse_duration("999999999999999d").unwrap_err().contains("too long"));
        assert!(parse_duration("9223372036854775807ms1ms").unwrap_err().contains("too long"));
        assert!(parse_duration("9223372036854775807ms").is_ok());
    }

    #[test]
    fn namesrv_lists() {
        assert_eq!(parse_namesrv_list("a:1;b:2").unwrap().0, vec!["a:1", "b:2"]);
        assert_eq!(parse_namesrv_list("[::1]:9876").unwrap().0, vec!["[::1]:9876"]);
        assert!(parse_namesrv_list("nohost").is_err());
        assert!(parse_namesrv_list("h:99999").is_err());
        assert!(parse_namesrv_list(";").is_err());
    }

    #[test]
    fn cli_parses_serve_flags_and_rejects_bad_ones() {
        let c = Cli::try_parse_from(["x", "serve", "--namesrv.addr", "127.0.0.1:9876;127.0.0.1:9877", "--collect.queue-level", "false"]).unwrap();
        match c.command {
            Command::Serve(s) => {
                assert_eq!(s.conn.namesrvs().len(), 2);
                assert!(!s.collect_queue_level);
                assert_eq!(s.collect_interval, Duration::from_secs(15));
            }
            _ => panic!(),
        }
        let c = Cli::try_parse_from(["x", "serve"]).unwrap();
        let Command::Serve(s) = c.command else { panic!() };
        assert_eq!(s.conn.namesrvs(), vec![DEFAULT_NAMESRV.to_string()]);
        let c = Cli::try_parse_from(["x", "serve", "--broker.addr", "127.0.0.1:10911"]).unwrap();
        let Command::Serve(s) = c.command else { panic!() };
        assert!(s.conn.namesrvs().is_empty(), "sidecar mode asks no NameServer unless told to");
        let e = Cli::try_parse_from(["x", "serve", "--namesrv.addr", "not-an-address"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    /// Values that parse but cannot work are bad flags too (exit code 2), not a daemon that
    /// starts and never collects.
    #[test]
    fn cli_rejects_zero_durations_concurrency_and_negative_thresholds() {
        let bad: &[&[&str]] = &[
            &["serve", "--collect.interval", "0s"],
            &["serve", "--collect.timeout", "0ms"],
            &["serve", "--collect.concurrency", "0"],
            &["serve", "--drain.window", "0s"],
            &["serve", "--drain.max-retry-diff=-1"],
            &["status", "--drain.window", "0s"],
            &["drain", "--broker", "b", "--follow.timeout", "0s"],
            &["restore", "--broker", "b", "--collect.interval", "0s"],
            &["demo", "--demo.speedup", "0"],
            &["demo", "--demo.speedup", "NaN"],
            &["serve", "--web.telemetry-path", "metrics"],
            &["serve", "--web.max-connections", "0"],
            &["serve", "--collect.max-frame-size", "2GiB"],
            &["serve", "--collect.max-frame-size", "100"],
            &["serve", "--collect.max-frame-size", "16MB"],
            &["serve", "--web.telemetry-path", "/"],
            &["serve", "--web.telemetry-path", "/-/ready"],
            &["serve", "--web.telemetry-path", "/a b"],
            &["serve", "--web.telemetry-path", "/m?x=1"],
        ];
        for args in bad {
            let e = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
        let ok = Cli::try_parse_from([
            "x", "serve", "--collect.interval", "500ms", "--collect.timeout", "1s", "--collect.concurrency", "1",
            "--drain.window", "1s", "--drain.max-retry-diff", "0", "--web.telemetry-path", "/rocketmq/metrics",
        ]);
        let Command::Serve(s) = ok.unwrap().command else { panic!() };
        assert_eq!((s.collect_interval, s.conn.collect_concurrency), (Duration::from_millis(500), 1));
        assert!(parse_nonzero_duration("0s").unwrap_err().contains("zero"));
        assert_eq!(s.conn.client_options().unwrap().max_frame_length, crate::remoting::frame::DEFAULT_MAX_FRAME_LENGTH, "16 MiB whole, as Java's default");
        let big = Cli::try_parse_from(["x", "status", "--collect.max-frame-size", "64MiB"]).unwrap();
        let Command::Status(st) = big.command else { panic!() };
        assert_eq!(st.conn.client_options().unwrap().max_frame_length, (64 << 20) - 4);
        assert_eq!(parse_frame_size("1048576").unwrap(), 1 << 20);
    }
}

//! Test harness for running the real `rocketmq-exporter` binary: spawn it, scrape it over HTTP,
//! and read the exposition back into values.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running exporter process, killed on drop.
pub struct Exporter {
    pub child: Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rocketmq-exporter")
}

impl Exporter {
    /// Starts `rocketmq-exporter serve` on a free loopback port with `args`.
    pub fn serve(args: &[&str]) -> Exporter {
        Self::serve_with(args, |_| {})
    }

    /// [`Self::serve`], with the command adjusted by `configure` before it is spawned.
    pub fn serve_with(args: &[&str], configure: impl FnOnce(&mut Command)) -> Exporter {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("rmqx-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("exporter.log");
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        configure(&mut cmd);
        let child = cmd.spawn().expect("spawn exporter");
        Exporter { child, port, log }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path)
    }

    /// Waits until `/-/ready` answers 200.
    pub fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok((200, _)) = try_http_get(self.port, "/-/ready") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("exporter not ready within {within:?}; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn scrape(&self) -> Exposition {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "scrape failed: {body}");
        Exposition::parse(&body)
    }

    /// Scrapes until `pred` holds, or panics with the last exposition's matching lines.
    pub fn scrape_until(&self, within: Duration, what: &str, pred: impl Fn(&Exposition) -> bool) -> Exposition {
        let deadline = Instant::now() + within;
        let mut last = None;
        while Instant::now() < deadline {
            let e = self.scrape();
            if pred(&e) {
                return e;
            }
            last = Some(e);
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{what}: not reached within {within:?}; last exposition:\n{}\nlog:\n{}", last.map(|e| e.raw).unwrap_or_default(), self.log_text());
    }
}

/// Minimal HTTP/1.1 GET over loopback (no client dependency needed).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    try_http_get(port, path).unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"))
}

pub fn try_http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    Ok(parse_http_response(&buf))
}

/// [`try_http_get`] on tokio, for tests whose sockets must open on a runtime's thread (inside a
/// peer's network namespace, see `support::peer::PeerCluster::run`); 10 s at most.
pub async fn http_get_async(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "HTTP GET timed out"))??;
    Ok(parse_http_response(&buf))
}

/// Status and (de-chunked) body of a whole HTTP/1.1 response.
pub fn parse_http_response(buf: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n.min(rest.len())]);
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}

/// A parsed text exposition: `name` -> list of (labels, value).
pub struct Exposition {
    pub raw: String,
    pub series: BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>,
}

impl Exposition {
    pub fn parse(text: &str) -> Exposition {
        let mut series: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (name_labels, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or(f64::NAN),
            };
            let (name, labels) = match name_labels.split_once('{') {
                Some((n, l)) => (n.to_string(), parse_labels(l.trim_end_matches('}'))),
                None => (name_labels.to_string(), BTreeMap::new()),
            };
            series.entry(name).or_default().push((labels, value));
        }
        Exposition { raw: text.to_string(), series }
    }

    /// Values of `name` whose labels include every pair in `want`.
    pub fn values(&self, name: &str, want: &[(&str, &str)]) -> Vec<f64> {
        self.series
            .get(name)
            .map(|v| {
                v.iter()
                    .filter(|(l, _)| want.iter().all(|(k, val)| l.get(*k).map(String::as_str) == Some(*val)))
                    .map(|(_, x)| *x)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The single value of `name` with labels `want`, if exactly one matches.
    pub fn one(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let v = self.values(name, want);
        (v.len() == 1).then(|| v[0])
    }

    pub fn count(&self, name: &str) -> usize {
        self.series.get(name).map_or(0, Vec::len)
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some((k, after)) = rest.split_once("=\"") {
        let mut val = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => val.push('\n'),
                    Some((_, o)) => val.push(o),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => val.push(c),
            }
        }
        out.insert(k.trim_start_matches(',').trim().to_string(), val);
        rest = &after[end..];
    }
    out
}

/// `promtool check metrics` on an exposition; None when promtool is absent (and allowed to be).
pub fn promtool_check_metrics(text: &str) -> Option<String> {
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        if std::env::var("ROCKETMQ_EXPORTER_REQUIRE_REAL").as_deref() == Ok("1") {
            panic!("promtool is required (ROCKETMQ_EXPORTER_REQUIRE_REAL=1) but /usr/bin/promtool is absent");
        }
        eprintln!("skipping promtool check: /usr/bin/promtool not installed (apt-get install prometheus)");
        return None;
    }
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Some(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)) + if out.status.success() { "" } else { "\n(exit status failure)" })
}

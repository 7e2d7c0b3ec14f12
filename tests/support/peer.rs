//! Runs the real rocketmq-rust NameServer and broker (crates.io 1.0.0) for integration tests.
//!
//! Both processes live in a private network namespace that has nothing but a loopback
//! interface: left alone they dial the machine's own interface address, and the project rule is
//! loopback only. Because the namespace is private, the test's own sockets must be opened inside
//! it too, which is what [`PeerCluster::run`] (a thread that `setns`es before building a tokio
//! runtime) and [`PeerCluster::spawn_in_ns`] (for child processes) are for.
//!
//! Binaries come from `ROCKETMQ_PEER_BIN_DIR` or `$HOME/.cache/rocketmq-exporter/peer/bin`
//! (what `.ci/run` installs). Without them, or without root, tests skip with a printed reason,
//! unless `ROCKETMQ_EXPORTER_REQUIRE_REAL=1`, which turns every skip into a failure.

use std::fs::File;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::raw::{self, RawClient};
use rocketmq_exporter::remoting::codes::{request, response};
use rocketmq_exporter::remoting::frame::RemotingCommand;

pub const NAMESRV_BIN: &str = "rocketmq-namesrv-rust";
pub const BROKER_BIN: &str = "rocketmq-broker-rust";
/// Every namespace this module creates starts with this, so `.ci/run` can find leftovers.
pub const NETNS_PREFIX: &str = "rmqx-";
pub const CLUSTER_NAME: &str = "DefaultCluster";
pub const BROKER_NAME: &str = "broker-a";
/// Fixed ports are safe: the namespace is private to one cluster, so nothing else can hold them.
pub const NAMESRV_PORT: u16 = 19876;
/// The broker also listens on `BROKER_PORT - 2` (fast remoting) and `HA_PORT`.
pub const BROKER_PORT: u16 = 20911;
pub const HA_PORT: u16 = 20912;
/// A debug build boots in a few seconds; registration can take one register period on top.
const START_TIMEOUT: Duration = Duration::from_secs(90);

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A running NameServer + master broker pair in its own loopback-only network namespace.
pub struct PeerCluster {
    netns: String,
    dir: tempfile::TempDir,
    namesrv: Option<Child>,
    broker: Option<Child>,
    /// The master's slave (broker id 1), once [`PeerCluster::start_slave`] has run.
    slave: Option<Child>,
    opts: Options,
}

/// How the servers are set up beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    /// Brokers authenticate every request (see [`PeerCluster::start_authenticated`]).
    auth: bool,
    /// TLS (see [`PeerCluster::start_tls`]).
    tls: bool,
}

impl PeerCluster {
    /// Starts the pair and waits until the broker shows in the NameServer's cluster info.
    /// `Ok(None)` means "skip": binaries or root are missing and real peers are not required.
    pub fn start() -> Result<Option<PeerCluster>, String> {
        Self::start_with(Options::default(), None)
    }

    /// [`PeerCluster::start`] in a network namespace that already exists under
    /// `/var/run/netns/NAME` (one a container runtime made, attached there with `ip netns
    /// attach`), so that a process already inside it shares the peer's loopback. The name must
    /// start with [`NETNS_PREFIX`]; it is removed on drop like the cluster's own.
    pub fn start_in_netns(name: &str) -> Result<Option<PeerCluster>, String> {
        assert!(name.starts_with(NETNS_PREFIX), "{name}: namespace names start with {NETNS_PREFIX}");
        Self::start_with(Options::default(), Some(name.to_string()))
    }

    /// [`PeerCluster::start`] with authentication on the broker: every request to it must be
    /// signed as user [`ACL_USER`] with [`ACL_SECRET`] (the NameServer does not authenticate).
    pub fn start_authenticated() -> Result<Option<PeerCluster>, String> {
        Self::start_with(Options { auth: true, tls: false }, None)
    }

    /// [`PeerCluster::start`] with TLS: the broker accepts TLS only ("enforcing"), the NameServer
    /// both ("permissive": the peer broker registers in plaintext, whatever its own mode). Both
    /// present the self-signed certificate at [`PeerCluster::tls_cert_path`], for localhost and
    /// 127.0.0.1.
    pub fn start_tls() -> Result<Option<PeerCluster>, String> {
        Self::start_with(Options { auth: false, tls: true }, None)
    }

    /// The certificate (its own CA) that a TLS cluster's servers present.
    pub fn tls_cert_path(&self) -> PathBuf {
        self.dir.path().join("tls-cert.pem")
    }

    fn start_with(opts: Options, netns: Option<String>) -> Result<Option<PeerCluster>, String> {
        let require = std::env::var("ROCKETMQ_EXPORTER_REQUIRE_REAL").is_ok_and(|v| v == "1");
        let skip = |reason: String| -> Result<Option<PeerCluster>, String> {
            if require {
                Err(format!("ROCKETMQ_EXPORTER_REQUIRE_REAL=1 but {reason}"))
            } else {
                eprintln!("SKIP real-peer test: {reason}");
                Ok(None)
            }
        };
        let bin_dir = bin_dir();
        for bin in [NAMESRV_BIN, BROKER_BIN] {
            if !bin_dir.join(bin).is_file() {
                return skip(format!(
                    "{} not found (set ROCKETMQ_PEER_BIN_DIR or run .ci/run to install the peer)",
                    bin_dir.join(bin).display()
                ));
            }
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return skip("network namespaces need root".to_string());
        }
        if Command::new("ip").arg("-V").output().map(|o| !o.status.success()).unwrap_or(true) {
            return skip("`ip` (iproute2) is not installed".to_string());
        }

        let netns = netns
            .unwrap_or_else(|| format!("{NETNS_PREFIX}{}-{}", std::process::id(), NEXT_ID.fetch_add(1, Ordering::Relaxed)));
        create_netns(&netns)?;
        let dir = tempfile::Builder::new().prefix("rocketmq-peer-").tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let mut cluster = PeerCluster { netns, dir, namesrv: None, broker: None, slave: None, opts };
        cluster.boot(&bin_dir).map_err(|e| format!("{e}\n{}", cluster.log_tails()))?;
        Ok(Some(cluster))
    }

    fn boot(&mut self, bin_dir: &Path) -> Result<(), String> {
        let root = self.dir.path().to_path_buf();
        let home = root.join("home");
        for d in [&home, &root.join("namesrv"), &root.join("store")] {
            std::fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
        }
        let tls = if self.opts.tls {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(|e| format!("generate TLS certificate: {e}"))?;
            let key_path = root.join("tls-key.pem");
            write(&self.tls_cert_path(), &cert.cert.pem())?;
            write(&key_path, &cert.signing_key.serialize_pem())?;
            Some((toml_path(&self.tls_cert_path()), toml_path(&key_path)))
        } else {
            None
        };
        let namesrv_conf = root.join("namesrv.toml");
        write(&namesrv_conf, &namesrv_toml(&root, tls.as_ref()))?;
        let broker_conf = root.join("broker.toml");
        write(&broker_conf, &broker_toml(&root, &BrokerNode::MASTER, self.opts.auth, tls.as_ref()))?;

        let mut cmd = Command::new(bin_dir.join(NAMESRV_BIN));
        cmd.arg("--configFile").arg(&namesrv_conf);
        self.namesrv = Some(self.spawn_peer(cmd, &home, "namesrv.log")?);
        self.wait_listening(&self.namesrv_addr())?;

        let mut cmd = Command::new(bin_dir.join(BROKER_BIN));
        cmd.arg("--configFile").arg(&broker_conf);
        self.broker = Some(self.spawn_peer(cmd, &home, "broker.log")?);
        self.wait_registered()
    }

    /// Runs a peer binary inside the namespace with HOME and ROCKETMQ_HOME pointed into the
    /// tempdir, so any default path the peer derives stays inside it.
    fn spawn_peer(&self, mut cmd: Command, home: &Path, log: &str) -> Result<Child, String> {
        let log_path = self.dir.path().join(log);
        let out = File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let err = out.try_clone().map_err(|e| format!("dup log fd: {e}"))?;
        cmd.env("HOME", home)
            .env("ROCKETMQ_HOME", home)
            .env_remove("NAMESRV_ADDR")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        self.spawn_in_ns(&mut cmd).map_err(|e| format!("spawn {cmd:?}: {e}"))
    }

    /// Polls until something accepts TCP connections at `addr` inside the namespace.
    fn wait_listening(&mut self, addr: &str) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_alive()?;
            if self.run(|| async { tokio::net::TcpStream::connect(addr).await.is_ok() }) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("nothing listens on {addr} after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Polls GET_BROKER_CLUSTER_INFO until the master is listed with its address.
    fn wait_registered(&mut self) -> Result<(), String> {
        let addr = self.broker_addr();
        self.wait_listed(&addr)
    }

    /// Starts a slave of the master (broker id 1, `brokerRole = "SLAVE"`, replicating from the
    /// master's HA port) and waits until the NameServer lists it.
    pub fn start_slave(&mut self) -> Result<(), String> {
        let root = self.dir.path().to_path_buf();
        let conf = root.join("slave.toml");
        assert!(!self.opts.tls, "a TLS cluster's slave is not set up");
        write(&conf, &broker_toml(&root, &BrokerNode::SLAVE, self.opts.auth, None))?;
        let mut cmd = Command::new(bin_dir().join(BROKER_BIN));
        cmd.arg("--configFile").arg(&conf);
        self.slave = Some(self.spawn_peer(cmd, &root.join("home"), "slave.log")?);
        let addr = self.slave_addr();
        self.wait_listed(&addr).map_err(|e| format!("{e}\n{}", self.log_tails()))
    }

    pub fn slave_addr(&self) -> String {
        format!("127.0.0.1:{}", BrokerNode::SLAVE.port)
    }

    /// The slave's process id, for stopping and continuing it.
    pub fn slave_pid(&self) -> Option<u32> {
        self.slave.as_ref().map(Child::id)
    }

    /// Polls GET_BROKER_CLUSTER_INFO until a node of the broker is listed at `broker`.
    fn wait_listed(&mut self, broker: &str) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let namesrv = self.namesrv_addr();
        let broker = broker.to_string();
        let mut last;
        loop {
            self.check_alive()?;
            let got = self.run(|| async {
                raw::call_once(&namesrv, RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO)).await
            });
            match got {
                Ok(resp) if resp.code == response::SUCCESS => {
                    let body = String::from_utf8_lossy(&resp.body);
                    if body.contains(BROKER_NAME) && body.contains(&broker) {
                        return Ok(());
                    }
                    last = format!("cluster info without {BROKER_NAME}@{broker}: {body}");
                }
                Ok(resp) => last = format!("code {} remark {:?}", resp.code, resp.remark),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                return Err(format!("broker did not register within {START_TIMEOUT:?}; last: {last}"));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn check_alive(&mut self) -> Result<(), String> {
        let disk = disk_use(self.dir.path());
        for (name, child) in [("namesrv", &mut self.namesrv), ("broker", &mut self.broker), ("slave", &mut self.slave)] {
            if let Some(c) = child {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!("{name} exited early with {status}; {disk}"));
                }
            }
        }
        Ok(())
    }

    pub fn netns(&self) -> &str {
        &self.netns
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Process ids of the NameServer and broker (those still owned by this cluster).
    pub fn pids(&self) -> Vec<u32> {
        [&self.namesrv, &self.broker, &self.slave].into_iter().flatten().map(Child::id).collect()
    }

    /// Path of the namespace handle, for `setns` or for comparing `/proc/*/ns/net` inodes.
    pub fn netns_path(&self) -> PathBuf {
        netns_path(&self.netns)
    }

    pub fn namesrv_addr(&self) -> String {
        format!("127.0.0.1:{NAMESRV_PORT}")
    }

    pub fn broker_addr(&self) -> String {
        format!("127.0.0.1:{BROKER_PORT}")
    }

    /// Runs `body`, and when it panics prints the peer's log tails before re-raising, so a
    /// failing peer test says what the peer was doing.
    pub fn run_or_dump(&self, body: impl FnOnce()) {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            eprintln!("{}", self.log_tails());
            std::panic::resume_unwind(panic);
        }
    }

    /// Runs `f` on a dedicated thread that has joined the cluster's network namespace, under a
    /// current-thread tokio runtime. Threads that runtime spawns inherit the namespace. A panic
    /// inside `f` is re-raised here so assertions behave as usual.
    pub fn run<C, F>(&self, f: C) -> F::Output
    where
        C: FnOnce() -> F + Send,
        F: Future,
        F::Output: Send,
    {
        let path = netns_path(&self.netns);
        std::thread::scope(|scope| {
            let handle = scope.spawn(move || {
                let ns = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                // SAFETY: plain syscall on a valid fd; it only affects this thread.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns({}): {}", path.display(), std::io::Error::last_os_error());
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("build tokio runtime");
                rt.block_on(f())
            });
            match handle.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Spawns `cmd` inside the cluster's namespace, so a binary of ours shares the peer's
    /// loopback. Same effect as prefixing `ip netns exec NS`, but done with `setns` in a
    /// `pre_exec` hook so every setting on `cmd` (stdio, env, cwd) is kept and the child pid is
    /// the program's own. Call it once per `Command`.
    pub fn spawn_in_ns(&self, cmd: &mut Command) -> std::io::Result<Child> {
        use std::os::unix::process::CommandExt;
        let ns = File::open(netns_path(&self.netns))?;
        let fd = ns.as_raw_fd();
        // SAFETY: the hook only makes the async-signal-safe setns syscall; `ns` outlives spawn.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn();
        drop(ns);
        child
    }

    /// Last lines of both peer logs, for failure messages.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for log in ["namesrv.log", "broker.log", "slave.log"] {
            let Ok(text) = std::fs::read_to_string(self.dir.path().join(log)) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            out.push_str(&format!("--- {log} (last 25 lines) ---\n{tail}\n"));
        }
        out
    }

    /// Convenience: a raw client to the broker, from inside `run`.
    pub async fn broker_client(&self) -> Result<RawClient, raw::RawError> {
        RawClient::connect(&self.broker_addr()).await
    }

    /// Convenience: a raw client to the NameServer, from inside `run`.
    pub async fn namesrv_client(&self) -> Result<RawClient, raw::RawError> {
        RawClient::connect(&self.namesrv_addr()).await
    }
}

impl Drop for PeerCluster {
    fn drop(&mut self) {
        for child in [self.slave.take(), self.broker.take(), self.namesrv.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("ROCKETMQ_PEER_KEEP_LOGS").is_some() {
            let kept = self.dir.path().to_path_buf();
            eprintln!("peer logs kept in {}", kept.display());
            // Leak the TempDir on purpose so it is not deleted.
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            let _ = dir.keep();
        }
        delete_netns(&self.netns);
    }
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROCKETMQ_PEER_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/rocketmq-exporter/peer/bin")
}

fn netns_path(name: &str) -> PathBuf {
    Path::new("/var/run/netns").join(name)
}

/// Creates the namespace (reusing a leftover of the same name) and brings loopback up.
fn create_netns(name: &str) -> Result<(), String> {
    if !netns_path(name).exists() {
        ip(&["netns", "add", name])?;
    }
    ip(&["netns", "exec", name, "ip", "link", "set", "lo", "up"])
}

fn delete_netns(name: &str) {
    if netns_path(name).exists() {
        if let Err(e) = ip(&["netns", "delete", name]) {
            eprintln!("warning: could not delete netns {name}: {e}");
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {args:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn toml_path(p: &Path) -> String {
    // TOML basic strings: escape backslashes and quotes (tempdir paths have neither, but be safe).
    p.display().to_string().replace('\\', "\\\\").replace('"', "\\\"")
}

/// `tls`: the certificate and key paths, already TOML-escaped.
fn namesrv_toml(root: &Path, tls: Option<&(String, String)>) -> String {
    let tls = tls.map_or_else(String::new, |(cert, key)| {
        format!("tls.enable = true\ntls.server.mode = \"permissive\"\ntls.server.certPath = \"{cert}\"\ntls.server.keyPath = \"{key}\"\n")
    });
    let home = toml_path(&root.join("home"));
    let kv = toml_path(&root.join("namesrv/kvConfig.json"));
    let store = toml_path(&root.join("namesrv/namesrv.properties"));
    format!(
        r#"rocketmqHome = "{home}"
kvConfigPath = "{kv}"
configStorePath = "{store}"
listenPort = {NAMESRV_PORT}
bindAddress = "127.0.0.1"
{tls}"#
    )
}

/// What sets the master and its slave apart in their broker TOML.
struct BrokerNode {
    id: i64,
    port: u16,
    ha_port: u16,
    store: &'static str,
    /// Role in both sections: the peer's broker reads `[broker].brokerRole` to start replicating
    /// and `[store].brokerRole` to refuse writes.
    role: &'static str,
}

impl BrokerNode {
    const MASTER: BrokerNode = BrokerNode { id: 0, port: BROKER_PORT, ha_port: HA_PORT, store: "store", role: "ASYNC_MASTER" };
    const SLAVE: BrokerNode = BrokerNode { id: 1, port: 21911, ha_port: 21912, store: "store-slave", role: "SLAVE" };
}

/// The one user of an authenticating peer broker (a super user, created at its first start).
pub const ACL_USER: &str = "rmqadmin";
pub const ACL_SECRET: &str = "rmqsecret123";

/// `tls`: the certificate and key paths, already TOML-escaped (the broker's `tls` feature
/// must be compiled in, see `.ci/run`; without it the broker resets every TLS client).
fn broker_toml(root: &Path, node: &BrokerNode, auth: bool, tls: Option<&(String, String)>) -> String {
    let tls = tls.map_or_else(String::new, |(cert, key)| {
        format!(
            "\n[broker.brokerServerConfig.tlsConfig]\nenable = true\n\n[broker.brokerServerConfig.tlsConfig.server]\n\
             mode = \"enforcing\"\ncertPath = \"{cert}\"\nkeyPath = \"{key}\"\n"
        )
    });
    let store = toml_path(&root.join(node.store));
    // The broker signs its own requests to the NameServer with the inner credentials.
    let auth = if auth {
        let dir = toml_path(&root.join(format!("{}-auth", node.store)));
        format!(
            "authenticationEnabled = true\nauthConfigPath = \"{dir}\"\ninitAuthenticationUser = \"{ACL_USER}:{ACL_SECRET}\"\n\
             innerClientAuthenticationCredentials = '{{\"accessKey\":\"{ACL_USER}\",\"secretKey\":\"{ACL_SECRET}\"}}'\n"
        )
    } else {
        String::new()
    };
    let commitlog = toml_path(&root.join(node.store).join("commitlog"));
    let BrokerNode { id, port, ha_port, role, .. } = node;
    let ha_master = if *id == 0 { String::new() } else { format!("haMasterAddress = \"127.0.0.1:{HA_PORT}\"\n") };
    format!(
        r#"[broker]
namesrvAddr = "127.0.0.1:{NAMESRV_PORT}"
brokerIp1 = "127.0.0.1"
brokerIp2 = "127.0.0.1"
listenPort = {port}
storePathRootDir = "{store}"
autoCreateTopicEnable = true
autoCreateSubscriptionGroup = true
brokerPermission = 6
brokerRole = "{role}"
# The transaction check service (30 s by default) is what moves CID_RMQ_SYS_TRANS past
# resolved half messages; 1 s lets a test see a rollback release the drain.
transactionCheckInterval = 1000
{auth}
[broker.brokerServerConfig]
bindAddress = "127.0.0.1"
{tls}
[broker.brokerIdentity]
brokerName = "{BROKER_NAME}"
brokerClusterName = "{CLUSTER_NAME}"
brokerId = {id}

[store]
storePathRootDir = "{store}"
storePathCommitLog = "{commitlog}"
haListenPort = {ha_port}
haListenAddress = "127.0.0.1"
brokerRole = "{role}"
{ha_master}mappedFileSizeCommitLog = 67108864
mappedFileSizeConsumeQueue = 60000
maxHashSlotNum = 10000
maxIndexNum = 40000
"#
    )
}

/// How full the filesystem under `dir` is, for a peer that exits at startup: the rocketmq-rust
/// broker stops at once (exit status 70, "startup" failure) when its store disk is about three
/// quarters full (seen at 75 % used, fine at 41 %; RocketMQ's `diskMaxUsedSpaceRatio` defaults
/// to 75), which otherwise reads like a bug in the test.
fn disk_use(dir: &Path) -> String {
    match std::process::Command::new("df").arg("-P").arg(dir).output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let used = text.lines().nth(1).and_then(|l| l.split_whitespace().nth(4)).unwrap_or("unknown");
            format!("its store filesystem is {used} used (the peer broker refuses to start when it is about 75 % full)")
        }
        Err(e) => format!("store filesystem use unknown ({e})"),
    }
}

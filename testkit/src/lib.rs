//! Real components for tests, started and stopped by the test itself.
//!
//! [`RedisServer`] runs a real `redis-server` (installed by `scripts/test.sh`) on a free
//! loopback port, in a directory of its own, and kills it when dropped. Tests can stop it and
//! start it again on the same port to play a Redis restart.
//!
//! [`openai::FakeOpenAi`] is an OpenAI-compatible provider on a free loopback port whose
//! every answer the test scripts, failures included.
//!
//! [`fault_proxy::FaultProxy`] stands between a process and a server (a gateway and its
//! Redis) and stalls or cuts the connections when the test says.
//!
//! [`gateway::InProcessGateway`] (feature `gateway`) serves an engine on a free loopback port
//! in the test's own process.

/// A test that needs a program which is not installed: skipped, saying so — except in CI
/// (`CI` set), where `scripts/test.sh` installs every program the tests run, so a missing one
/// fails the run instead of letting its tests pass without running.
pub fn missing_program(what: &str) {
    assert!(std::env::var_os("CI").is_none(), "{what} is not installed; scripts/test.sh installs it");
    eprintln!("skipped: {what} is not installed");
}

pub mod fault_proxy;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod openai;
pub mod speech;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` process owned by a test.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// More `redis-server` arguments (cluster mode).
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a server on a free port, in a directory of its own, with append-only
    /// persistence fsynced on every write, so that [`RedisServer::restart`] keeps everything.
    pub fn start() -> Self {
        Self::start_with(free_port(), &[])
    }

    /// A replica of `master` (`--replicaof`), once it has synchronised with it.
    pub fn replica_of(master: &RedisServer) -> Self {
        let replica = Self::start_with(free_port(), &["--replicaof", "127.0.0.1", &master.port.to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !replica.cli(&["INFO", "replication"]).contains("master_link_status:up") {
            assert!(Instant::now() < deadline, "the replica on port {} did not sync within 10 s", replica.port);
            std::thread::sleep(Duration::from_millis(20));
        }
        replica
    }

    /// [`RedisServer::start`] with more `redis-server` arguments, on `port`.
    fn start_with(port: u16, extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("viva-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let extra = extra.iter().map(|a| (*a).to_owned()).collect();
        let mut server = Self { port, dir, child: None, extra };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL): connections drop, nothing is flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, with the data it had (after
    /// [`RedisServer::kill`], or killing it first).
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--dir"])
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed: scripts/test.sh installs it");
        self.child = Some(child);
        self.wait_until_ready();
    }

    /// Polls until the new process answers: waiting on another process's start-up, bounded.
    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let pong = Command::new("redis-cli")
                .args(["-p", &self.port.to_string(), "ping"])
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"PONG"));
            if pong {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start within 10 s", self.port);
    }

    /// Runs `redis-cli` with `args` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed with redis-server");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free right now on 127.0.0.1 for a cluster node: its cluster bus listens 10,000
/// higher, which must exist (a port above 55535 has none: the node would not start) and be
/// free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A Redis Cluster owned by a test: masters (and replicas) on free loopback ports, each a
/// [`RedisServer`] in cluster mode, every slot assigned (`redis-cli --cluster create`).
pub struct RedisCluster {
    /// Every node, masters first (as `--cluster create` was given them).
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// `masters` masters with `replicas` replicas each, ready (`cluster_state:ok` on every
    /// node).
    pub fn start(masters: usize, replicas: usize) -> Self {
        let cluster_args =
            ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"];
        let nodes: Vec<RedisServer> = (0..masters * (1 + replicas))
            .map(|_| RedisServer::start_with(free_cluster_port(), &cluster_args))
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let create = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli is installed with redis-server");
        assert!(create.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&create.stdout));
        let cluster = Self { nodes };
        cluster.wait_until_ok();
        cluster
    }

    /// `redis+cluster://127.0.0.1:<port>,...` (every node).
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// Polls until every node says the cluster is ok (slots assigned and agreed), bounded.
    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.nodes.iter().all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the Redis Cluster was not ok within 20 s");
    }
}

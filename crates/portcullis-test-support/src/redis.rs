//! Private `redis-server` processes on free loopback ports: one server
//! (plain or TLS), or a three-node Redis Cluster. Nothing is persisted;
//! every process is killed on drop. `scripts/test` installs Debian's
//! `redis-server`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;
use crate::certs::TestCa;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One running `redis-server`.
#[derive(Debug)]
pub struct Redis {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    args: Vec<String>,
    tls: bool,
    dir: TempDir,
}

impl Redis {
    /// A plain server.
    pub fn start() -> Self {
        Self::spawn(Vec::new(), false, TempDir::new())
    }

    /// A TLS-only server with a certificate for `127.0.0.1` from `ca`.
    pub fn start_tls(ca: &TestCa) -> Self {
        let dir = TempDir::new();
        let leaf = ca.leaf(&["127.0.0.1", "localhost"]);
        let cert = dir.write("redis.crt", &leaf.cert);
        let key = dir.write("redis.key", &leaf.key);
        let ca_file = dir.write("ca.crt", &ca.cert_pem);
        let args = vec![
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
            "--tls-ca-cert-file".into(),
            ca_file.display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        Self::spawn(args, true, dir)
    }

    /// A server meant to join a cluster.
    fn start_cluster_node() -> Self {
        let dir = TempDir::new();
        let conf = dir.path().join("nodes.conf").display().to_string();
        let args = vec![
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            conf,
            "--cluster-node-timeout".into(),
            "2000".into(),
        ];
        Self::spawn(args, false, dir)
    }

    fn spawn(args: Vec<String>, tls: bool, dir: TempDir) -> Self {
        let mut redis = Self { child: None, port: free_port(), args, tls, dir };
        redis.run();
        redis
    }

    fn run(&mut self) {
        let bin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let bin = bin.expect("redis-server is not installed (apt-get install redis-server; scripts/test does this)");
        let port = self.port.to_string();
        let (plain, tls) = if self.tls { ("0", port.as_str()) } else { (port.as_str(), "0") };
        let child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", plain, "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", &self.dir.path().display().to_string(), "--logfile", "", "--loglevel", "warning"])
            .args(if self.tls { vec!["--tls-port", tls] } else { Vec::new() })
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server exited at start: {status}");
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() && (self.tls || self.ping()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:PORT` (or `rediss://` for a TLS server).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "rediss" } else { "redis" }, self.port)
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills the server at once (`SIGKILL`), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A three-node Redis Cluster (three primaries, no replicas).
#[derive(Debug)]
pub struct RedisCluster {
    /// The nodes.
    pub nodes: Vec<Redis>,
}

impl RedisCluster {
    /// Starts three nodes, joins them and waits until every slot is served.
    pub fn start() -> Self {
        let nodes: Vec<Redis> = (0..3).map(|_| Redis::start_cluster_node()).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(out.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&out.stdout));
        let cluster = Self { nodes };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster.nodes.iter().all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok")) {
            assert!(Instant::now() < deadline, "the cluster did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Redis::url).collect()
    }
}

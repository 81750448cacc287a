//! The real `portcullis` binary, started on free ports.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::TempDir;

/// A running gateway process. Killed on drop.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    /// Bound address of each listener, by name.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The directory holding its config and access log.
    pub dir: TempDir,
    /// Everything it wrote to stderr so far.
    stderr: Arc<Mutex<Vec<String>>>,
}

/// Puts the admin API of a config without an `admin:` section on a free
/// loopback port (its default port would collide between tests).
fn with_test_admin(mut config: String) -> String {
    if !config.starts_with("admin:") && !config.contains("\nadmin:") {
        config.push_str("\nadmin: { listen: 127.0.0.1:0 }\n");
    }
    config
}

impl Gateway {
    /// Starts `bin serve` with `config` (YAML text; `{dir}` is replaced by
    /// the gateway's private directory, where files may be written first
    /// with `prepare`). Waits until every listener is up.
    pub fn start(bin: &str, config: &str) -> Self {
        Self::start_in(bin, TempDir::new(), config)
    }

    /// Like [`Gateway::start`] in a directory the caller already filled.
    pub fn start_in(bin: &str, dir: TempDir, config: &str) -> Self {
        Self::start_in_with_env(bin, dir, config, &[])
    }

    /// Like [`Gateway::start_in`], with extra environment variables for the
    /// process (for `env:` secrets in the configuration).
    pub fn start_in_with_env(bin: &str, dir: TempDir, config: &str, env: &[(&str, &str)]) -> Self {
        let config = with_test_admin(config.replace("{dir}", &dir.path().display().to_string()));
        let path = dir.write("portcullis.yaml", &config);
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(&path)
            .envs(env.iter().copied())
            .env("PORTCULLIS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn portcullis");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                sink.lock().unwrap().push(line);
            }
        });
        let mut listeners = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("gateway did not start; stderr:\n{}", stderr.lock().unwrap().join("\n"))
            });
            if line.contains("Portcullis started.") {
                break;
            }
            let side = line.contains("listener=\"metrics\"") || line.contains("listener=\"admin\"");
            if line.contains("Listening.") && !side {
                let name = field(&line, "listener=").unwrap_or_default();
                let addr = field(&line, "addr=").and_then(|a| a.parse().ok()).expect("addr in log line");
                listeners.push((name, addr));
            }
        }
        Self { child, listeners, dir, stderr }
    }

    /// The address of the first listener.
    pub fn addr(&self) -> SocketAddr {
        self.listeners[0].1
    }

    /// The address of the listener called `name`.
    pub fn listener(&self, name: &str) -> SocketAddr {
        self.listeners.iter().find(|(n, _)| n == name).map(|(_, a)| *a).expect("listener by name")
    }

    /// The ops (metrics) listener's address, from the startup log.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.side_listener("metrics")
    }

    /// The admin API listener's address, from the startup log.
    pub fn admin_addr(&self) -> SocketAddr {
        self.side_listener("admin")
    }

    fn side_listener(&self, name: &str) -> SocketAddr {
        let tag = format!("listener=\"{name}\"");
        self.stderr()
            .iter()
            .find(|l| l.contains("Listening.") && l.contains(&tag))
            .and_then(|l| field(l, "addr="))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name} listener address in the log"))
    }

    /// The config file path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("portcullis.yaml")
    }

    /// Rewrites the config file (same `{dir}` substitution).
    pub fn rewrite_config(&self, config: &str) {
        let config = with_test_admin(config.replace("{dir}", &self.dir.path().display().to_string()));
        std::fs::write(self.config_path(), config).unwrap();
    }

    /// Sends a signal by name (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, up to `wait`.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until a stderr line contains `needle`.
    pub fn wait_for_log(&self, needle: &str, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.stderr.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Access-log lines written to `{dir}/access.log`, waiting up to `wait`
    /// for at least `at_least` of them.
    pub fn access_log(&self, at_least: usize, wait: Duration) -> Vec<String> {
        let path = self.dir.path().join("access.log");
        let deadline = Instant::now() + wait;
        loop {
            let lines: Vec<String> = read_lines(&path);
            if lines.len() >= at_least || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The access log once every one of `needles` appears in it (or `wait`
    /// passed), joined: for tests that cannot know how many lines come first.
    pub fn access_log_with(&self, needles: &[&str], wait: Duration) -> String {
        let path = self.dir.path().join("access.log");
        let deadline = Instant::now() + wait;
        loop {
            let text = read_lines(&path).join("\n");
            if needles.iter().all(|n| text.contains(n)) || Instant::now() >= deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|s| s.lines().map(str::to_owned).collect()).unwrap_or_default()
}

fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    let value = rest.split_whitespace().next()?;
    Some(value.trim_matches('"').to_owned())
}

impl Gateway {
    /// Kills the process with SIGKILL (no graceful shutdown) and hands back
    /// its directory, so a test can restart on the same state.
    pub fn kill_keep_dir(mut self) -> TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut self.dir)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A private PostgreSQL server: `initdb` into a temp directory and
//! `postgres` on a free loopback port, stopped and removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

/// A running PostgreSQL server with trust authentication for user
/// `portcullis`, reachable only on 127.0.0.1.
#[derive(Debug)]
pub struct Postgres {
    child: Child,
    /// `postgres://portcullis@127.0.0.1:PORT/postgres`.
    pub url: String,
    dir: TempDir,
}

/// The directory holding `initdb` and `postgres`: Debian keeps them off
/// `PATH`, under `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.filter_map(Result::ok).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort();
    candidates
        .into_iter()
        .rev()
        .find(|dir| dir.join("initdb").exists())
        .expect("PostgreSQL is not installed (apt-get install postgresql; scripts/test does this)")
}

/// `initdb` refuses to run as root: when we are root, run the server
/// programs as Debian's `postgres` user (setpriv execs, so the child is the
/// server itself and receives our signals).
fn command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--clear-groups", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

impl Postgres {
    /// Initialises and starts a server; panics (failing the test) when
    /// PostgreSQL is missing or does not come up within 60 s.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = TempDir::new();
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown of the PostgreSQL temp dir failed");
        }
        let data = dir.path().join("data");
        let out = command(&bin.join("initdb"), as_postgres)
            .arg("-D")
            .arg(&data)
            .args(["-U", "portcullis", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = command(&bin.join("postgres"), as_postgres)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn postgres");
        let server = Self { child, url: format!("postgres://portcullis@127.0.0.1:{port}/postgres"), dir };
        server.wait_ready(&bin, port);
        server
    }

    fn wait_ready(&self, bin: &Path, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", "portcullis"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("PostgreSQL did not start within 60 s (data in {})", self.dir.path().display());
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: it ends its backends too.
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A private ClamAV daemon with a signature database the test writes itself
//! (no public signature download is possible or wanted).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

/// The EICAR anti-virus test file: harmless, detected by design.
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A running `clamd` on a free loopback port. Killed on drop.
#[derive(Debug)]
pub struct Clamd {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Clamd {
    /// Starts `clamd` with a database holding one signature, for [`EICAR`].
    /// Panics (failing the test) when `clamd` is not installed: `scripts/test`
    /// installs Debian's `clamav-daemon`.
    pub fn start() -> Self {
        let bin = ["/usr/sbin/clamd", "/usr/bin/clamd"].into_iter().find(|p| std::path::Path::new(p).exists());
        let bin = bin.expect("clamd is not installed (apt-get install clamav-daemon; scripts/test does this)");
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        let hex: String = EICAR.bytes().map(|b| format!("{b:02x}")).collect();
        dir.write("db/portcullis-test.ndb", format!("Portcullis.Test.EICAR:0:*:{hex}\n"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = dir.write(
            "clamd.conf",
            format!(
                "Foreground yes\nDatabaseDirectory {db}\nTCPSocket {port}\nTCPAddr 127.0.0.1\nLogFile {log}\nLogVerbose no\nStreamMaxLength 25M\n",
                db = dir.path().join("db").display(),
                log = dir.path().join("clamd.log").display(),
            ),
        );
        let child = Command::new(bin)
            .arg("--config-file")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn clamd");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut clamd = Self { child, addr, _dir: dir };
        clamd.wait_ready();
        clamd
    }

    fn wait_ready(&mut self) {
        use std::io::{Read, Write};
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("clamd.log")).unwrap_or_default();
                panic!("clamd exited with {status}: {log}");
            }
            if let Ok(mut s) = std::net::TcpStream::connect(self.addr) {
                let mut reply = String::new();
                if s.write_all(b"zPING\0").is_ok() && s.read_to_string(&mut reply).is_ok() && reply.starts_with("PONG")
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("clamd did not answer PING within 60s");
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

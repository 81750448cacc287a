//! Forwarding of formatted syslog lines to a remote collector over UDP or TCP.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpStream, UdpSocket};

/// Time limit for each connect or send step.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to send syslog messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTarget {
    /// One datagram per message (RFC 5426). Delivery is not confirmed; large messages may exceed the path MTU.
    Udp(SocketAddr),
    /// A stream with octet-counting framing, `LEN SP MSG` (RFC 6587).
    Tcp(SocketAddr),
}

enum Transport {
    Udp(UdpSocket),
    /// `None` after a failure, until the next send reconnects.
    Tcp(Option<TcpStream>),
}

/// Sends syslog lines (from [`crate::syslog::format_rfc5424`]) to one collector.
pub struct SyslogForwarder {
    target: SyslogTarget,
    transport: Transport,
}

impl SyslogForwarder {
    /// Opens the socket (UDP) or connection (TCP).
    ///
    /// # Errors
    ///
    /// Any socket error, or [`io::ErrorKind::TimedOut`] if a TCP connection takes longer than [`SEND_TIMEOUT`].
    pub async fn connect(target: SyslogTarget) -> io::Result<Self> {
        let transport = match target {
            SyslogTarget::Udp(addr) => {
                let local: SocketAddr =
                    if addr.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
                let socket = UdpSocket::bind(local).await?;
                socket.connect(addr).await?;
                Transport::Udp(socket)
            }
            SyslogTarget::Tcp(addr) => Transport::Tcp(Some(connect_tcp(addr).await?)),
        };
        Ok(Self { target, transport })
    }

    /// The collector this forwarder sends to.
    #[must_use]
    pub fn target(&self) -> SyslogTarget {
        self.target
    }

    /// Sends one line: a datagram over UDP, an octet-counted frame over TCP.
    ///
    /// Over TCP, a connection that failed or that the collector closed is replaced once: the line is sent on a fresh
    /// connection, and if that fails too the error is returned and the next call tries again.
    ///
    /// # Errors
    ///
    /// Any socket error, [`io::ErrorKind::TimedOut`] if a step takes longer than [`SEND_TIMEOUT`], or
    /// [`io::ErrorKind::WriteZero`] if a datagram was cut short.
    pub async fn send(&mut self, line: &str) -> io::Result<()> {
        match &mut self.transport {
            Transport::Udp(socket) => {
                let sent = within_timeout(socket.send(line.as_bytes())).await?;
                if sent == line.len() {
                    Ok(())
                } else {
                    Err(io::Error::new(io::ErrorKind::WriteZero, "syslog datagram truncated"))
                }
            }
            Transport::Tcp(connection) => {
                let SyslogTarget::Tcp(addr) = self.target else {
                    return Err(io::Error::other("syslog transport does not match its target"));
                };
                let frame = format!("{} {line}", line.len());
                if let Some(stream) = connection.as_mut()
                    && !peer_closed(stream)
                    && within_timeout(stream.write_all(frame.as_bytes())).await.is_ok()
                {
                    return Ok(());
                }
                // The connection is unusable or in an unknown state after a partial write: replace it once.
                *connection = None;
                let mut stream = connect_tcp(addr).await?;
                within_timeout(stream.write_all(frame.as_bytes())).await?;
                *connection = Some(stream);
                Ok(())
            }
        }
    }
}

impl std::fmt::Debug for SyslogForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogForwarder").field("target", &self.target).finish_non_exhaustive()
    }
}

async fn connect_tcp(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = within_timeout(TcpStream::connect(addr)).await?;
    // Audit lines are sent one at a time and should leave immediately.
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn within_timeout<T>(operation: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(SEND_TIMEOUT, operation)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "syslog operation timed out")))
}

/// Whether the collector has closed the connection. Collectors never send data, so readable means closed (or
/// unexpected bytes, which are discarded). Best effort: it only sees what the runtime has already observed.
fn peer_closed(stream: &TcpStream) -> bool {
    let mut scratch = [0u8; 256];
    for _ in 0..16 {
        match stream.try_read(&mut scratch) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) => return error.kind() != io::ErrorKind::WouldBlock,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncRead, AsyncReadExt as _};
    use tokio::net::{TcpListener, UdpSocket};

    use super::{SyslogForwarder, SyslogTarget};

    /// Reads one RFC 6587 octet-counted frame.
    async fn read_frame(reader: &mut (impl AsyncRead + Unpin)) -> String {
        let mut len = 0usize;
        loop {
            let byte = reader.read_u8().await.unwrap_or(b'!');
            match byte {
                b' ' => break,
                b'0'..=b'9' => len = len * 10 + usize::from(byte - b'0'),
                _ => return String::from("<bad frame>"),
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).await.is_err() {
            return String::from("<short frame>");
        }
        String::from_utf8(body).unwrap_or_default()
    }

    #[tokio::test]
    async fn sends_udp_datagrams() -> std::io::Result<()> {
        let collector = UdpSocket::bind("127.0.0.1:0").await?;
        let target = SyslogTarget::Udp(collector.local_addr()?);
        let mut forwarder = SyslogForwarder::connect(target).await?;
        assert_eq!(forwarder.target(), target);
        forwarder.send("<85>1 - h p - x - first é").await?;
        forwarder.send("second").await?;
        let mut buf = [0u8; 1024];
        let n = collector.recv(&mut buf).await?;
        assert_eq!(&buf[..n], "<85>1 - h p - x - first é".as_bytes());
        let n = collector.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"second");
        Ok(())
    }

    #[tokio::test]
    async fn sends_octet_counted_tcp_frames() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut forwarder = SyslogForwarder::connect(SyslogTarget::Tcp(listener.local_addr()?)).await?;
        let (mut conn, _) = listener.accept().await?;
        forwarder.send("<85>1 first line é").await?;
        forwarder.send("second").await?;
        assert_eq!(read_frame(&mut conn).await, "<85>1 first line é");
        assert_eq!(read_frame(&mut conn).await, "second");
        Ok(())
    }

    #[tokio::test]
    async fn reconnects_once_after_the_collector_closes() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut forwarder = SyslogForwarder::connect(SyslogTarget::Tcp(listener.local_addr()?)).await?;
        let (mut first, _) = listener.accept().await?;
        forwarder.send("one").await?;
        assert_eq!(read_frame(&mut first).await, "one");
        drop(first);
        tokio::time::sleep(Duration::from_millis(100)).await;

        forwarder.send("two").await?;
        let (mut second, _) = listener.accept().await?;
        assert_eq!(read_frame(&mut second).await, "two");
        Ok(())
    }

    #[tokio::test]
    async fn reports_unreachable_collector() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        drop(listener);
        assert!(SyslogForwarder::connect(SyslogTarget::Tcp(addr)).await.is_err());
        Ok(())
    }
}

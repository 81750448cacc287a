//! The data-plane server: thread per core. Each worker thread runs its own
//! current-thread runtime with its own `SO_REUSEPORT` socket per listener, so
//! workers share no run queue and the kernel spreads connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::connection;
use crate::shared::Shared;

/// A running data plane.
#[derive(Debug)]
pub struct Server {
    shutdown: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
}

/// Binds a listening socket, with `SO_REUSEPORT` when several workers share it.
///
/// # Errors
/// When the address cannot be bound.
pub fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

impl Server {
    /// Binds every listener of the running snapshot and starts `workers` threads.
    /// A listener on port 0 gets one free port, shared by all workers.
    ///
    /// # Errors
    /// When a listener cannot be bound or a thread cannot be started.
    pub fn start(shared: &Arc<Shared>, workers: usize, drain: Duration) -> io::Result<Self> {
        let workers = workers.max(1);
        let snapshot = shared.live.load_full();
        let mut sockets: Vec<Vec<std::net::TcpListener>> = (0..workers).map(|_| Vec::new()).collect();
        let mut addrs = Vec::new();
        for listener in &snapshot.listeners {
            let first = bind(listener.addr, workers > 1)?;
            let addr = first.local_addr()?;
            addrs.push(addr);
            sockets[0].push(first);
            for worker in sockets.iter_mut().skip(1) {
                worker.push(bind(addr, true)?);
            }
        }
        let (tx, rx) = watch::channel(false);
        let mut handles = Vec::new();
        for (index, listeners) in sockets.into_iter().enumerate() {
            let (shared, rx) = (shared.clone(), rx.clone());
            let handle = std::thread::Builder::new().name(format!("worker-{index}")).spawn(move || {
                crate::pool::set_worker_slot(index);
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                match runtime {
                    Ok(runtime) => runtime.block_on(worker(shared, listeners, rx, drain)),
                    Err(err) => tracing::error!(error = %err, "Worker runtime failed to start."),
                }
            })?;
            handles.push(handle);
        }
        Ok(Self { shutdown: tx, workers: handles, addrs })
    }

    /// The bound address of each listener, in configuration order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting, lets open connections finish within the drain
    /// deadline, and returns when every worker has stopped.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for handle in self.workers {
            let _ = handle.join();
        }
    }
}

async fn worker(
    shared: Arc<Shared>,
    listeners: Vec<std::net::TcpListener>,
    shutdown: watch::Receiver<bool>,
    drain: Duration,
) {
    let open = Arc::new(());
    for (index, listener) in listeners.into_iter().enumerate() {
        match TcpListener::from_std(listener) {
            Ok(listener) => {
                tokio::spawn(accept_loop(shared.clone(), listener, index, shutdown.clone(), open.clone()));
            }
            Err(err) => tracing::error!(error = %err, "Listener could not join the runtime."),
        }
    }
    let mut stop = shutdown.clone();
    let _ = stop.wait_for(|&stopping| stopping).await;
    let deadline = tokio::time::Instant::now() + drain;
    while Arc::strong_count(&open) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts an open connection in the gauge until dropped.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.metrics.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    index: usize,
    mut shutdown: watch::Receiver<bool>,
    open: Arc<()>,
) {
    let max_connections = shared.live.load().limits.max_connections as u64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|&stopping| stopping) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %err, "Accept failed.");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shared.metrics.open_connections.fetch_add(1, Ordering::Relaxed) >= max_connections {
            shared.metrics.open_connections.fetch_sub(1, Ordering::Relaxed);
            shared.metrics.rejected_connections.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let slot = Slot(shared.clone());
        let _ = stream.set_nodelay(true);
        let (shared, shutdown, open) = (shared.clone(), shutdown.clone(), open.clone());
        tokio::spawn(async move {
            connection::serve(shared, stream, peer, index, shutdown).await;
            drop((slot, open));
        });
    }
}

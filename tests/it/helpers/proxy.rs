//! A TCP proxy between Kagi and its PostgreSQL server that a test can turn
//! into a failing database: refusing connections, or holding them open while
//! passing no bytes (a stalled network or server), and back again.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Passes bytes both ways.
    None,
    /// Accepts connections and keeps them open, but passes no bytes.
    Stalled,
    /// Closes every connection and stops listening, so connects are refused.
    Refusing,
}

/// A proxy on `127.0.0.1`, forwarding to one upstream address.
pub struct DbProxy {
    /// The address Kagi connects to.
    pub addr: SocketAddr,
    fault: watch::Sender<Fault>,
    task: tokio::task::JoinHandle<()>,
}

impl DbProxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (fault, watcher) = watch::channel(Fault::None);
        let task = tokio::spawn(listen(Some(listener), addr, upstream, watcher));
        Self { addr, fault, task }
    }

    /// `url` (a `postgres://` URL) with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).expect("database URL");
        parsed.set_host(Some("127.0.0.1")).expect("host");
        parsed.set_port(Some(self.addr.port())).expect("port");
        parsed.to_string()
    }

    /// Switches to `fault` (or back to forwarding with [`Fault::None`]).
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts while not refusing; gives the port up while refusing and takes it back after.
async fn listen(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut fault: watch::Receiver<Fault>,
) {
    enum Event {
        Accepted(TcpStream),
        Refuse,
        Stop,
        Nothing,
    }
    loop {
        let Some(bound) = listener.as_ref() else {
            if fault.wait_for(|f| *f != Fault::Refusing).await.is_err() {
                return;
            }
            listener = rebind(addr).await;
            continue;
        };
        let event = tokio::select! {
            accepted = bound.accept() => match accepted {
                Ok((client, _)) => Event::Accepted(client),
                Err(_) => Event::Nothing,
            },
            changed = fault.wait_for(|f| *f == Fault::Refusing) => match changed {
                Ok(_) => Event::Refuse,
                Err(_) => Event::Stop,
            },
        };
        match event {
            Event::Accepted(client) => {
                tokio::spawn(relay(client, upstream, fault.clone()));
            }
            Event::Refuse => listener = None,
            Event::Stop => return,
            Event::Nothing => {}
        }
    }
}

/// Binds `addr` again, retrying briefly while the kernel frees it.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return Some(listener);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the proxy could not listen on {addr} again");
}

async fn relay(client: TcpStream, upstream: SocketAddr, fault: watch::Receiver<Fault>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction ending (or a refusal) drops all four halves: both sockets close.
    tokio::select! {
        () = pump(client_read, server_write, fault.clone()) => {}
        () = pump(server_read, client_write, fault) => {}
    }
}

/// Copies chunks from `from` to `to`, holding each while stalled.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut fault: watch::Receiver<Fault>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = fault.wait_for(|f| *f == Fault::Refusing) => return,
        };
        match fault.wait_for(|f| *f != Fault::Stalled).await {
            Ok(f) if *f == Fault::None => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

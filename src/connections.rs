//! The server's edge: the listening socket, the cap on open connections, and who the client is.
//!
//! Every open connection holds a file descriptor. Without a cap, one client opening thousands of
//! event streams used every descriptor and the server could accept nobody for a minute ("Too
//! many open files"). So the soft descriptor limit is raised to the hard one at start, the cap is
//! kept below it with room for the database, uploads and webhooks, and a connection past the cap
//! is answered 503 at once and closed: a new client learns to retry instead of hanging in the
//! kernel's queue.

use crate::log_limit::Throttled;
use socket2::{Domain, SockRef, Socket, Type};
use std::any::Any;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Connections waiting to be accepted (the kernel clamps it to `net.core.somaxconn`). A burst of
/// new clients waits here for the acceptor instead of timing out in a queue of 128.
const BACKLOG: i32 = 4096;

/// Descriptors kept free beside the connections: database files, uploads being written, webhook
/// deliveries, and the connections being refused.
fn descriptor_headroom(limit: u64) -> u64 {
    (limit / 8).max(128)
}

/// Binds `addr` with a deep accept queue.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Raises the soft open-files limit to the hard one; returns the limit now in force.
pub fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            log::warn!("cannot raise the open-files limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The connection cap: `wanted`, lowered to fit under `descriptors` with headroom.
pub fn connection_cap(wanted: usize, descriptors: u64) -> usize {
    let fits = descriptors
        .saturating_sub(descriptor_headroom(descriptors))
        .max(16);
    wanted.min(usize::try_from(fits).unwrap_or(usize::MAX))
}

/// Counts open connections; refuses those past the cap.
pub struct ConnectionLimit {
    open: Arc<AtomicUsize>,
    cap: usize,
    refusals: Throttled,
}

/// Lives in a connection's extensions: dropped when the connection closes.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a connection past the cap is told before it is closed.
static REFUSAL: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let body = r#"{"type":"api_error","message":"The server has as many connections open as it can hold; retry in a moment."}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Retry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

impl ConnectionLimit {
    pub fn new(cap: usize) -> ConnectionLimit {
        ConnectionLimit {
            open: Arc::new(AtomicUsize::new(0)),
            cap,
            refusals: Throttled::new(),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Runs for each accepted connection (`HttpServer::on_connect`), before anything is read.
    pub fn on_connect(&self, io: &dyn Any, extensions: &mut actix_web::dev::Extensions) {
        let now_open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        extensions.insert(Counted(self.open.clone()));
        if now_open <= self.cap {
            return;
        }
        self.refusals.log(
            log::Level::Warn,
            format_args!(
                "connection refused: {} connections are open, the cap is {} (server.max_connections)",
                now_open - 1,
                self.cap
            ),
        );
        if let Some(stream) = io.downcast_ref::<actix_web::rt::net::TcpStream>() {
            // A fresh socket's send buffer takes the short answer whole; the shutdown makes the
            // connection end as soon as the server side notices, freeing its descriptor.
            let socket = SockRef::from(stream);
            let _ = socket.send(&REFUSAL);
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// An address or a CIDR block (`10.0.0.0/8`, `::1`), for `trusted_proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

impl IpBlock {
    pub fn parse(text: &str) -> Result<IpBlock, String> {
        let bad = || format!("{text:?} is not an IP address or a CIDR block like 10.0.0.0/8");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.trim().parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(IpBlock { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (canonical(self.network), ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_equal(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_equal(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// `::ffff:1.2.3.4` is `1.2.3.4`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_equal(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (bytes, bits) = (usize::from(prefix / 8), prefix % 8);
    if a[..bytes] != b[..bytes] {
        return false;
    }
    bits == 0 || (a[bytes] ^ b[bytes]) >> (8 - bits) == 0
}

/// Who the client is: the peer, unless the peer is a trusted proxy; then the nearest address in
/// `X-Forwarded-For` that is not a trusted proxy (each proxy appends the address it saw, so the
/// addresses left of the last untrusted one may be anything the client wrote).
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpBlock],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|block| block.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or_default().rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // Garbage in the header: the last good address is as far as it can be trusted.
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks() {
        let block = IpBlock::parse("10.1.0.0/16").unwrap();
        assert!(block.contains(ip("10.1.200.3")));
        assert!(!block.contains(ip("10.2.0.1")));
        assert!(
            IpBlock::parse("127.0.0.1")
                .unwrap()
                .contains(ip("::ffff:127.0.0.1"))
        );
        assert!(IpBlock::parse("::1").unwrap().contains(ip("::1")));
        assert!(IpBlock::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(
            IpBlock::parse("10.0.0.0/12")
                .unwrap()
                .contains(ip("10.15.255.255"))
        );
        assert!(
            !IpBlock::parse("10.0.0.0/12")
                .unwrap()
                .contains(ip("10.16.0.0"))
        );
        for bad in ["", "10.0.0.0/33", "x", "1.2.3.4/"] {
            assert!(IpBlock::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = [
            IpBlock::parse("127.0.0.1").unwrap(),
            IpBlock::parse("10.0.0.0/8").unwrap(),
        ];
        let peer = Some(ip("127.0.0.1"));
        assert_eq!(
            client_address(peer, Some("203.0.113.9"), &trusted),
            Some(ip("203.0.113.9"))
        );
        // The client wrote the leftmost address itself; the proxies' own additions are right.
        assert_eq!(
            client_address(peer, Some("1.1.1.1, 203.0.113.9, 10.0.0.2"), &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(client_address(peer, None, &trusted), peer);
        assert_eq!(client_address(peer, Some("garbage"), &trusted), peer);
        // An untrusted peer's header is ignored.
        let stranger = Some(ip("198.51.100.7"));
        assert_eq!(
            client_address(stranger, Some("203.0.113.9"), &trusted),
            stranger
        );
        assert_eq!(client_address(peer, Some("203.0.113.9"), &[]), peer);
    }

    #[test]
    fn the_cap_fits_under_the_descriptor_limit() {
        assert_eq!(connection_cap(20_000, 1024), 896);
        assert_eq!(connection_cap(20_000, 1_048_576), 20_000);
        assert_eq!(connection_cap(10, 1024), 10);
    }
}

//! Where the tester's sockets come from, and the limits that stop a run from opening more.
//!
//! One source address has one range of ephemeral ports (`net.ipv4.ip_local_port_range`,
//! 32768–60999 on Linux: about 28,000), and every socket a replay closes waits in TIME_WAIT
//! for a minute holding its port. So when the target is an IPv4 loopback address, every
//! WebSocket is bound before it connects to a source address of its own, cycling over
//! 127.0.0.2–127.0.0.250 ([`SOURCES`]): about 7 million ports in all, no setup needed (Linux
//! routes the whole of 127.0.0.0/8 to `lo`). Where that bind is refused (a system with only
//! 127.0.0.1, like macOS), the tester falls back to the kernel's choice for the rest of the run.
//!
//! The other limit is open files: each socket is one on both sides. [`raise_file_limit`] lifts
//! the tester's own soft limit to its hard limit at start; [`FILE_LIMIT_HINT`] says how to lift
//! both processes' limits when a socket cannot be opened for want of a file descriptor.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tokio::net::{TcpSocket, TcpStream};

/// The last octets of the source addresses used towards an IPv4 loopback target:
/// 127.0.0.2 to 127.0.0.250 (127.0.0.1 is left to everything else on the machine).
pub const SOURCES: std::ops::RangeInclusive<u8> = 2..=250;

/// What to do about "too many open files".
pub const FILE_LIMIT_HINT: &str = "out of file descriptors (EMFILE): every socket is a file on both ends. \
Raise the limit in the shell that starts the gateway AND in the one that runs viva-load, \
e.g. `ulimit -n 65536` (at most the hard limit, `ulimit -Hn`; raise that in \
/etc/security/limits.conf, or LimitNOFILE= for a systemd service), then restart the gateway: \
a running process keeps the limit it started with (see `grep 'open files' /proc/<gateway pid>/limits`). \
viva-load raises its own soft limit to its hard limit by itself.";

/// What to do about "cannot assign requested address".
pub const PORT_HINT: &str = "out of local ports (EADDRNOTAVAIL): too many sockets from one source address. \
viva-load spreads its sockets over 127.0.0.2-250 when the target is 127.x.x.x; for another target, \
widen `net.ipv4.ip_local_port_range` or run the tester from several machines.";

static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);
static SPREAD_REFUSED: AtomicBool = AtomicBool::new(false);

/// The source address the next socket to `target` binds to: a 127.0.0.X of [`SOURCES`] for an
/// IPv4 loopback target (round-robin), `None` (the kernel's choice) otherwise.
pub fn source_for(target: SocketAddr) -> Option<IpAddr> {
    let IpAddr::V4(ip) = target.ip() else { return None };
    if !ip.is_loopback() || SPREAD_REFUSED.load(Ordering::Relaxed) {
        return None;
    }
    let (first, count) = (u32::from(*SOURCES.start()), u32::from(SOURCES.end() - SOURCES.start()) + 1);
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % count;
    let last = u8::try_from(first + n).unwrap_or(1);
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
}

/// Opens a TCP connection to `host:port` (Nagle off), from a spread source address when the
/// target is IPv4 loopback. Tries each address `host` resolves to, in order.
pub async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} resolves to no address"));
    for addr in tokio::net::lookup_host((host, port)).await? {
        match connect_addr(addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(source) = source_for(addr) {
        match socket.bind(SocketAddr::new(source, 0)) {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(EADDRNOTAVAIL) => {
                // Only 127.0.0.1 exists here: stop spreading; this socket is unbound, which
                // is fine (a failed bind leaves it as it was).
                SPREAD_REFUSED.store(true, Ordering::Relaxed);
            }
            Err(error) => return Err(error),
        }
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `EMFILE` / `ENFILE`: the process's or the system's file table is full.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;
/// `EADDRNOTAVAIL`: no such local address, or no local port left.
const EADDRNOTAVAIL: i32 = 99;

/// What a failed socket ran out of, found anywhere in the error's chain of sources (or its
/// text, for errors that keep only that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exhausted {
    /// File descriptors (EMFILE, ENFILE).
    Files,
    /// Local ports (EADDRNOTAVAIL).
    Ports,
}

impl Exhausted {
    /// What `error` (or any error it wraps) says was exhausted, if anything.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(found) = error.downcast_ref::<io::Error>().and_then(|e| Self::of_os(e.raw_os_error()?)) {
                return Some(found);
            }
            if let Some(found) = Self::of_text(&error.to_string()) {
                return Some(found);
            }
            next = error.source();
        }
        None
    }

    /// From an error's text (`os error 24`, `Too many open files`, …).
    pub fn of_text(text: &str) -> Option<Self> {
        if text.contains("os error 24") || text.contains("os error 23") || text.contains("Too many open files") {
            Some(Self::Files)
        } else if text.contains("os error 99") || text.contains("Cannot assign requested address") {
            Some(Self::Ports)
        } else {
            None
        }
    }

    fn of_os(code: i32) -> Option<Self> {
        match code {
            EMFILE | ENFILE => Some(Self::Files),
            EADDRNOTAVAIL => Some(Self::Ports),
            _ => None,
        }
    }

    /// What to do about it.
    pub fn hint(self) -> &'static str {
        match self {
            Self::Files => FILE_LIMIT_HINT,
            Self::Ports => PORT_HINT,
        }
    }
}

/// This process's limit on open files after raising the soft limit to the hard one:
/// `(soft, hard)`.
pub fn raise_file_limit() -> io::Result<(u64, u64)> {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    let soft = rlimit::increase_nofile_limit(hard)?;
    Ok((soft, hard))
}

/// The "Max open files" soft limit of process `pid`, from `/proc/<pid>/limits`.
pub fn file_limit_of(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_v4_targets_get_spread_sources() {
        let target: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let sources: Vec<IpAddr> = (0..300).filter_map(|_| source_for(target)).collect();
        assert_eq!(sources.len(), 300);
        for source in &sources {
            let IpAddr::V4(ip) = source else { panic!("{source}") };
            assert!(ip.is_loopback() && SOURCES.contains(&ip.octets()[3]), "{ip}");
        }
        let distinct: std::collections::HashSet<_> = sources.iter().collect();
        assert!(distinct.len() > 100, "sources are spread: {}", distinct.len());
        for other in ["10.0.0.1:80", "[::1]:80", "192.168.1.2:8080"] {
            assert_eq!(source_for(other.parse().unwrap()), None, "{other}");
        }
    }

    #[test]
    fn exhaustion_is_found_in_the_error_chain() {
        let io = io::Error::from_raw_os_error(EMFILE);
        assert_eq!(Exhausted::of(&io), Some(Exhausted::Files));
        let wrapped = io::Error::other(io::Error::from_raw_os_error(EADDRNOTAVAIL));
        assert_eq!(Exhausted::of(&wrapped), Some(Exhausted::Ports));
        assert_eq!(
            Exhausted::of_text("WebSocket handshake: IO error: Too many open files (os error 24)"),
            Some(Exhausted::Files)
        );
        assert_eq!(Exhausted::of(&io::Error::from(io::ErrorKind::ConnectionRefused)), None);
    }

    #[test]
    fn reads_a_process_file_limit() {
        let (soft, hard) = raise_file_limit().unwrap();
        assert!(soft >= 1 && soft <= hard);
        assert_eq!(file_limit_of(std::process::id()), Some(soft));
    }
}

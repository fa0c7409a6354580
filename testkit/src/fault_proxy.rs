//! A TCP proxy on a free loopback port that a test makes misbehave: between one gateway and
//! its Redis it plays a network fault of that node alone.
//!
//! - [`FaultProxy::stall`]: every byte, both ways, is held (connections stay open and new ones
//!   are accepted, but nothing arrives) until [`FaultProxy::resume`], which lets what was held
//!   through, late — as a network that stalls and recovers does: a command sent before the
//!   stall reaches Redis after it.
//! - [`FaultProxy::cut`]: every open connection is reset at once (later ones go through).
//!
//! Plain threads, not tasks: the proxy runs whatever the test's runtime is doing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;

/// The proxy; it stops (and cuts every connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: SocketAddr,
    stalled: Mutex<bool>,
    resumed: Condvar,
    /// Both ends of each open connection, to cut them.
    open: Mutex<HashMap<u64, [TcpStream; 2]>>,
    next_id: AtomicU64,
    stopping: AtomicBool,
}

impl FaultProxy {
    /// A proxy to `upstream` on a free loopback port, passing bytes through.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream,
            stalled: Mutex::new(false),
            resumed: Condvar::new(),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        thread::spawn(move || accept(&listener, &accepting));
        Self { addr, shared }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Holds every byte from now on, both ways, until [`FaultProxy::resume`].
    pub fn stall(&self) {
        *self.shared.lock_stalled() = true;
    }

    /// Lets bytes through again, the held ones first.
    pub fn resume(&self) {
        *self.shared.lock_stalled() = false;
        self.shared.resumed.notify_all();
    }

    /// Resets every open connection (both ends); the held bytes are lost with them.
    pub fn cut(&self) {
        let open = std::mem::take(&mut *self.shared.open.lock().unwrap_or_else(PoisonError::into_inner));
        for [client, server] in open.into_values() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which sees `stopping`.
        let _ = TcpStream::connect(self.addr);
        self.resume();
        self.cut();
    }
}

impl Shared {
    fn lock_stalled(&self) -> std::sync::MutexGuard<'_, bool> {
        self.stalled.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once bytes may pass.
    fn wait_while_stalled(&self) {
        let stalled = self.lock_stalled();
        drop(self.resumed.wait_while(stalled, |stalled| *stalled).unwrap_or_else(PoisonError::into_inner));
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let (Ok(client_copy), Ok(server_copy), Ok(client_read), Ok(server_read)) =
            (client.try_clone(), server.try_clone(), client.try_clone(), server.try_clone())
        else {
            continue;
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        shared.open.lock().unwrap_or_else(PoisonError::into_inner).insert(id, [client_copy, server_copy]);
        let (up, down) = (Arc::clone(shared), Arc::clone(shared));
        thread::spawn(move || pump(client_read, server, &up, id));
        thread::spawn(move || pump(server_read, client, &down, id));
    }
}

/// Copies `from` to `to` until either ends, holding each read's bytes while stalled.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared, id: u64) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        shared.wait_while_stalled();
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    // One direction ended: the connection is over (Redis clients do not half-close).
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    shared.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An echo server on a free loopback port.
    fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut buffer = [0u8; 1024];
                    while let Ok(read @ 1..) = stream.read(&mut buffer) {
                        if stream.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(stream: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(text)?;
        let mut back = vec![0u8; text.len()];
        stream.read_exact(&mut back)?;
        Ok(back)
    }

    #[test]
    fn passes_holds_releases_and_cuts() {
        let proxy = FaultProxy::start(echo());
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        assert_eq!(round_trip(&mut stream, b"one").unwrap(), b"one");

        proxy.stall();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        stream.write_all(b"two").unwrap();
        let mut held = [0u8; 3];
        let error = stream.read_exact(&mut held).unwrap_err();
        assert!(matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{error}");
        proxy.resume();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.read_exact(&mut held).unwrap();
        assert_eq!(&held, b"two", "what was held arrives once the stall is over");

        proxy.cut();
        let mut rest = Vec::new();
        assert!(matches!(stream.read_to_end(&mut rest), Ok(0) | Err(_)), "the connection is gone");
        let mut again = TcpStream::connect(proxy.addr()).unwrap();
        assert_eq!(round_trip(&mut again, b"three").unwrap(), b"three", "new connections go through");
    }
}

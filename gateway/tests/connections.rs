//! Connections before any login, tried as an attacker would over raw TCP: ones that never send
//! a request, never finish their headers, send huge ones, or simply pile up. Each is closed or
//! refused; the gateway keeps serving everyone else.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Connect, Gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use viva_engine::EngineConfig;
use viva_protocol::ServerMessage;

/// Waits, bounded, for the server to close `stream`: true when it did (EOF or reset).
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // a response (e.g. 408/431) before the close
            }
        }
    };
    tokio::time::timeout(within, read).await.is_ok()
}

/// A gateway whose header timeout is `timeout_s` and which holds at most `max` connections.
async fn gateway(max: usize, timeout_s: u64) -> Gateway {
    Gateway::start_with(EngineConfig::default(), |state| {
        state.connections.header_read_timeout = Duration::from_secs(timeout_s);
        state.connections.max_connections = max;
        state.connections.request_timeout = Duration::from_secs(timeout_s);
    })
    .await
}

/// The response to `GET /healthz`; empty when the connection is refused (past the cap it is
/// closed as it is accepted: reset, when the request had already arrived).
async fn healthz(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut response = String::new();
    if stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.is_ok() {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response)).await;
        if read.expect("no response and no close in time").is_err() {
            response.clear();
        }
    }
    response
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed() {
    let gateway = gateway(1_000, 1).await;
    let mut silent = TcpStream::connect(gateway.remote.addr).await.unwrap();
    assert!(closed_by_server(&mut silent, Duration::from_secs(20)).await, "a silent connection stays open");
}

#[tokio::test]
async fn headers_that_never_finish_are_cut_off() {
    let gateway = gateway(1_000, 1).await;
    let mut slow = TcpStream::connect(gateway.remote.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    // Slowloris: one more header line every 300 ms, never the blank line that ends them.
    let drip = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow.write_all(format!("X-Drip-{i}: {}\r\n", "a".repeat(64)).as_bytes()).await.is_err() {
                return;
            }
        }
    };
    assert!(tokio::time::timeout(Duration::from_secs(20), drip).await.is_ok(), "a dripping header is never cut off");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let gateway = gateway(1_000, 1).await;
    let mut stream = TcpStream::connect(gateway.remote.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut stream, Duration::from_secs(20)).await, "an idle keep-alive connection stays open");
}

#[tokio::test]
async fn a_huge_header_is_refused_with_431() {
    let gateway = gateway(1_000, 1).await;
    let mut stream = TcpStream::connect(gateway.remote.addr).await.unwrap();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    // The server may close before reading it all: a failed write is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_a_freed_place_serves_again() {
    let gateway = gateway(4, 30).await;
    let addr = gateway.remote.addr;
    // A WebSocket holds a place too, for as long as it is open.
    let session = gateway.create("alice", "senior-backend").await;
    let mut socket = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    assert!(matches!(socket.message().await, ServerMessage::SessionReady(_)));
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // A started request: the connection is accepted and being read.
        stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // The cap is reached: the next one is closed as it is accepted, with no response.
    let mut refused = TcpStream::connect(addr).await.unwrap();
    let _ = refused.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), refused.read_to_end(&mut response)).await;
    assert!(response.is_empty(), "served past the cap: {}", String::from_utf8_lossy(&response));

    // One place freed: served again (the socket goes on meanwhile).
    drop(held.pop());
    let mut served = false;
    for _ in 0..100 {
        if healthz(addr).await.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        // The gateway frees the place when it sees the close: poll, bounded (100 tries).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "a freed place is not reused");
    socket.send(&viva_protocol::ClientMessage::Ping { id: Some("p".into()) }).await;
    assert!(matches!(socket.message().await, ServerMessage::Pong(_)));
}

#[tokio::test]
async fn a_body_that_drips_in_gets_408() {
    let gateway = gateway(1_000, 1).await;
    let mut stream = TcpStream::connect(gateway.remote.addr).await.unwrap();
    let head = "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer dev:alice\r\n\
                Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"plan\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await;
    let n = read.expect("a dripping body is waited for forever").unwrap();
    let response = String::from_utf8_lossy(&buf[..n]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
}

#[test]
fn the_binary_raises_its_soft_file_limit_to_the_hard_one() {
    use std::io::BufRead;
    // Started as a shell with the usual 1,024 soft limit would start it (256 here).
    let mut child = std::process::Command::new("sh")
        .args(["-c", r#"ulimit -Sn 256 && exec "$0" --listen 127.0.0.1:0"#, env!("CARGO_BIN_EXE_viva-gateway")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut banner).unwrap();
    assert!(banner.contains("listening"), "{banner}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let numbers: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft limit not raised: {files}");
}

#[tokio::test]
async fn a_socket_that_stops_reading_is_dropped_even_when_only_errors_are_written_to_it() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let mut sockets = None;
    let gateway = Gateway::start_with(EngineConfig::default(), |state| {
        let socket = std::sync::Arc::make_mut(&mut state.socket);
        socket.write_timeout = Duration::from_secs(1);
        // Bad frames as fast as the client can send them, each answered with an error.
        socket.rate_per_s = 1e9;
        socket.burst = 1e9;
        state.connections.send_buffer_bytes = 4096;
        sockets = Some(state.sockets.clone());
    })
    .await;
    let sockets = sockets.unwrap();
    let addr = gateway.remote.addr;
    let session = gateway.create("alice", "senior-backend").await;
    // A client that never reads, with a small receive buffer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/v1/sessions/{session}/ws").into_client_request().unwrap();
    request.headers_mut().insert("authorization", "Bearer dev:alice".parse().unwrap());
    let (mut stuck, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    let flood = async {
        loop {
            // An unknown type the error quotes back.
            if stuck.send(Message::text(format!(r#"{{"type":"{}"}}"#, "x".repeat(100)))).await.is_err() {
                return;
            }
        }
    };
    // The server stops reading once its replies are stuck; so does this send.
    let _ = tokio::time::timeout(Duration::from_secs(5), flood).await;

    // Another device takes the session over, and is served.
    let mut newer = gateway.connect(&session, Connect::user("dev:alice")).await.unwrap();
    assert!(matches!(newer.message().await, ServerMessage::SessionReady(_)));
    // The stuck socket's task ends (its client still not reading): only the newer one is left.
    let mut left = sockets.len();
    for _ in 0..300 {
        if left == 1 {
            break;
        }
        // The task ends when its blocked write times out (1 s here): poll, bounded (30 s).
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = sockets.len();
    }
    assert_eq!(left, 1, "the stuck socket is kept");
    drop(stuck);
}

/// The status line of `request` sent over raw TCP.
async fn status_of(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.unwrap().unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn dev_auth_serves_loopback_host_names_only() {
    let gateway = Gateway::start().await;
    let addr = gateway.remote.addr;
    let port = addr.port();
    let get = |host: String| {
        format!(
            "GET /v1/me/export HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer dev:alice\r\nConnection: close\r\n\r\n"
        )
    };
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "LOCALHOST".into(), format!("[::1]:{port}")]
    {
        assert_eq!(status_of(addr, &get(host.clone())).await, "HTTP/1.1 200 OK", "{host}");
    }
    // A page of rebind.evil whose name now resolves to 127.0.0.1 sends its own name.
    for host in
        [format!("rebind.evil:{port}"), "rebind.evil".into(), "localhost.evil".into(), "[::2]".into(), String::new()]
    {
        assert_eq!(status_of(addr, &get(host.clone())).await, "HTTP/1.1 403 Forbidden", "{host:?}");
    }
    let session = gateway.create("alice", "senior-backend").await;
    let handshake = format!(
        "GET /v1/sessions/{session}/ws HTTP/1.1\r\nHost: rebind.evil:{port}\r\nOrigin: http://rebind.evil:{port}\r\n\
         Authorization: Bearer dev:alice\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    assert_eq!(status_of(addr, &handshake).await, "HTTP/1.1 403 Forbidden");
}

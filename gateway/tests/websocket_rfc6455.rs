//! RFC 6455 as a strict peer tests it, over a raw TCP socket on 127.0.0.1: the handshake is
//! written by hand and every frame is encoded (and masked) here, so the client can send what
//! no WebSocket library would. Each case checks what the RFC asks of the server: a refused
//! handshake gets the right HTTP status; a protocol error gets a close frame with its code
//! (1002, 1007, 1009) and then the end of the TCP connection; a valid message reaches the
//! session however it is fragmented.
//!
//! Read timeouts are bounds on a hang (a hang is a failure), never timing assertions.

mod common;

use std::net::SocketAddr;

use common::{Gateway, PATIENCE};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use viva_engine::EngineConfig;

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV2: u8 = 0x20;
const RSV3: u8 = 0x10;
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The example key of RFC 6455 section 1.3 and the accept value it gives.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The gateway's frame (message) limit: 128 KiB.
const LIMIT: usize = 128 * 1024;

/// One frame: `first` is FIN, RSV1-3 and the opcode; the payload is masked with `mask` when
/// given (a client must mask; the server must not).
fn encode(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(masked | n as u8),
        n if n <= 0xffff => {
            out.push(masked | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(masked | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend(key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend(payload),
    }
    out
}

/// A client frame, masked as a client must (a different key each time).
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0x9e37_79b9);
    let key = NEXT.fetch_add(0x6d2b_79f5, Ordering::Relaxed).to_be_bytes();
    encode(first, payload, Some(key))
}

/// A close payload: the code and a reason.
fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend(reason);
    payload
}

/// An app-level ping (`{"type":"ping","id":…}`), answered with a `pong` event.
fn app_ping(id: &str) -> Vec<u8> {
    format!(r#"{{"type":"ping","id":"{id}"}}"#).into_bytes()
}

/// A frame from the server.
#[derive(Debug)]
struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: Vec<u8>,
}

/// How the server's side of the connection ended.
#[derive(Debug, PartialEq)]
enum End {
    /// A clean TCP close (FIN).
    Eof,
    /// Reset (or another error) before a clean close.
    Reset(std::io::ErrorKind),
}

/// What the client got instead of the frame it was waiting for.
#[derive(Debug, PartialEq)]
enum Closed {
    /// A close frame: its code (`None`: an empty payload) and reason.
    Frame(Option<u16>, Vec<u8>),
    /// The connection ended without a close frame.
    Ended(End),
}

/// An HTTP response head.
#[derive(Debug)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A raw WebSocket client.
struct Raw {
    stream: TcpStream,
    /// Read but not yet parsed.
    buf: Vec<u8>,
}

impl Raw {
    /// Sends `request` on `stream` and reads the response head; what follows it stays in the
    /// buffer.
    async fn request(stream: TcpStream, request: &str) -> (Head, Self) {
        let mut raw = Self { stream, buf: Vec::new() };
        raw.stream.write_all(request.as_bytes()).await.unwrap();
        let end = loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            assert!(raw.fill().await.is_ok(), "the connection ended before a response: {:?}", raw.text());
        };
        let head = String::from_utf8(raw.buf[..end].to_vec()).unwrap();
        raw.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        (Head { status, headers }, raw)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// Reads more into the buffer; how the connection ended when it has.
    async fn fill(&mut self) -> Result<(), End> {
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk)).await.expect("nothing read in time");
        match read {
            Ok(0) => Err(End::Eof),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(error) => Err(End::Reset(error.kind())),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next frame from the server, or how the connection ended.
    async fn frame(&mut self) -> Result<Frame, End> {
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// The next frame that is not a `clock` event (those come whenever time passes).
    async fn control(&mut self) -> Frame {
        loop {
            let frame = self.frame().await.unwrap_or_else(|end| panic!("ended ({end:?}) while a frame was expected"));
            let clock = frame.opcode == TEXT
                && serde_json::from_slice::<Value>(&frame.payload).is_ok_and(|event| event["type"] == "clock");
            if !clock {
                return frame;
            }
        }
    }

    /// The next event (a text frame's JSON), skipping `clock`; panics on anything else.
    async fn event(&mut self) -> Value {
        loop {
            let frame = self.frame().await.unwrap_or_else(|end| panic!("ended ({end:?}) while an event was expected"));
            assert_eq!((frame.opcode, frame.fin, frame.rsv), (TEXT, true, 0), "not an event: {frame:?}");
            let event: Value = serde_json::from_slice(&frame.payload).unwrap();
            if event["type"] != "clock" {
                return event;
            }
        }
    }

    /// Reads until the close frame (events before it are skipped) or the end of the
    /// connection.
    async fn closed(&mut self) -> Closed {
        loop {
            match self.frame().await {
                Err(end) => return Closed::Ended(end),
                Ok(frame) if frame.opcode == CLOSE => {
                    assert!(frame.fin, "a fragmented close: {frame:?}");
                    let code =
                        (frame.payload.len() >= 2).then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                    return Closed::Frame(code, frame.payload.get(2..).unwrap_or_default().to_vec());
                }
                Ok(frame) => assert_eq!(frame.opcode, TEXT, "{frame:?}"),
            }
        }
    }

    /// The close frame's code; then the server must close the TCP connection (RFC 6455
    /// section 7.1.1: the server closes it first), with nothing after the close frame.
    async fn close_code(&mut self, case: &str) -> Option<u16> {
        let code = match self.closed().await {
            Closed::Frame(code, reason) => {
                assert!(std::str::from_utf8(&reason).is_ok(), "{case}: a close reason that is not UTF-8: {reason:?}");
                code
            }
            Closed::Ended(end) => panic!("{case}: the connection ended ({end:?}) without a close frame"),
        };
        match self.frame().await {
            Err(end) => assert_eq!(end, End::Eof, "{case}: the connection is reset after the close frame"),
            Ok(frame) => panic!("{case}: a frame after the close frame: {frame:?}"),
        }
        code
    }
}

/// A complete unmasked server frame at the start of `buf`, and its length.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    let (first, second) = (*buf.first()?, *buf.get(1)?);
    assert_eq!(second & 0x80, 0, "a masked frame from the server");
    let (len, at) = match second & 0x7f {
        126 => (u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap()) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()) as usize, 10),
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    let frame = Frame { fin: first & FIN != 0, rsv: first & 0x70, opcode: first & 0x0f, payload };
    Some((frame, at + len))
}

/// The handshake's headers, in order; a test removes or replaces some.
fn handshake_headers(addr: SocketAddr, user: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Host", addr.to_string()),
        ("Authorization", format!("Bearer dev:{user}")),
        ("Upgrade", "websocket".into()),
        ("Connection", "Upgrade".into()),
        ("Sec-WebSocket-Key", KEY.into()),
        ("Sec-WebSocket-Version", "13".into()),
    ]
}

fn request(method: &str, session: &str, headers: &[(&str, String)]) -> String {
    let mut request = format!("{method} /v1/sessions/{session}/ws HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request + "\r\n"
}

/// Sends a handshake (`headers` as given) and reads the response head.
async fn handshake(addr: SocketAddr, method: &str, session: &str, headers: &[(&str, String)]) -> (Head, Raw) {
    Raw::request(TcpStream::connect(addr).await.unwrap(), &request(method, session, headers)).await
}

/// The handshake's headers with `name` replaced by `value` (removed when `None`).
fn with(mut headers: Vec<(&'static str, String)>, name: &str, value: Option<&str>) -> Vec<(&'static str, String)> {
    let at = headers.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap();
    match value {
        Some(value) => headers[at].1 = value.to_owned(),
        None => {
            headers.remove(at);
        }
    }
    headers
}

/// A socket on `session` after its `session.ready`, opened on `stream`.
async fn open_on(stream: TcpStream, addr: SocketAddr, session: &str, user: &str) -> Raw {
    let (head, mut raw) = Raw::request(stream, &request("GET", session, &handshake_headers(addr, user))).await;
    assert_eq!(head.status, 101, "{head:?} {}", raw.text());
    assert_eq!(head.header("sec-websocket-accept"), Some(ACCEPT), "{head:?}");
    assert_eq!(raw.event().await["type"], "session.ready");
    raw
}

/// A gateway whose closing connections read the client's input for as long as this test
/// waits for anything (the 2 s default is a bound too: a loaded machine must not make a test
/// see a reset). The client closes once it has read the close frame, which ends the wait.
async fn start(tune: impl FnOnce(&mut viva_gateway::AppState)) -> Gateway {
    Gateway::start_with(EngineConfig::default(), |state| {
        state.connections.linger = PATIENCE;
        tune(state);
    })
    .await
}

/// A gateway and one session of `user` on it.
async fn gateway(user: &str) -> (Gateway, String) {
    let gateway = start(|_| {}).await;
    let session = gateway.create(user, "senior-backend").await;
    (gateway, session)
}

async fn open(gateway: &Gateway, session: &str, user: &str) -> Raw {
    open_on(TcpStream::connect(gateway.remote.addr).await.unwrap(), gateway.remote.addr, session, user).await
}

#[tokio::test]
async fn a_valid_handshake_is_accepted_and_bad_ones_get_the_rfc_status() {
    let (gateway, session) = gateway("hana").await;
    let addr = gateway.remote.addr;
    let headers = || handshake_headers(addr, "hana");

    let (head, mut raw) = handshake(addr, "GET", &session, &headers()).await;
    assert_eq!(head.status, 101);
    assert!(head.header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")), "{head:?}");
    assert!(head.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("upgrade")), "{head:?}");
    assert_eq!(head.header("sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(raw.event().await["type"], "session.ready");
    drop(raw);

    // RFC 6455 section 4.2.1: the key is 16 bytes, base64-encoded; else 400.
    let keys = [
        None,
        Some(""),
        Some("not a base64 key"),
        Some("dGhlIHNhbXBsZQ=="),                 // 10 bytes
        Some("dGhlIHNhbXBsZSBub25jZSEh"),         // 18 bytes
        Some("dGhlIHNhbXBsZSBub25jZQ"),           // 16 bytes without the padding
        Some("dGhlIHNhbXBsZSBub25jZQ==dGhlIHNh"), // trailing bytes
    ];
    for key in keys {
        let (head, _) = handshake(addr, "GET", &session, &with(headers(), "Sec-WebSocket-Key", key)).await;
        assert_eq!(head.status, 400, "key {key:?}: {head:?}");
    }
    // Section 4.4: a version the server does not speak gets 426 and the versions it does.
    for version in [Some("8"), Some("14"), Some("13, 8"), None] {
        let (head, _) = handshake(addr, "GET", &session, &with(headers(), "Sec-WebSocket-Version", version)).await;
        assert_eq!(head.status, 426, "version {version:?}: {head:?}");
        assert_eq!(head.header("sec-websocket-version"), Some("13"), "version {version:?}: {head:?}");
    }
    // Section 4.1: the method is GET. Another one on the socket's path is 405 (allowing GET);
    // HEAD, which HTTP serves like GET, is not a handshake (400).
    for method in ["POST", "PUT", "DELETE"] {
        let (head, _) = handshake(addr, method, &session, &headers()).await;
        assert_eq!(head.status, 405, "{method}: {head:?}");
        assert!(head.header("allow").is_some_and(|allow| allow.contains("GET")), "{method}: {head:?}");
    }
    let (head, _) = handshake(addr, "HEAD", &session, &headers()).await;
    assert_eq!(head.status, 400, "HEAD: {head:?}");
    // Section 4.2.1: `Upgrade: websocket` and `Connection: Upgrade` are required.
    for (name, value) in
        [("Upgrade", None), ("Upgrade", Some("h2c")), ("Connection", None), ("Connection", Some("close"))]
    {
        let (head, _) = handshake(addr, "GET", &session, &with(headers(), name, value)).await;
        assert_eq!(head.status, 400, "{name}: {value:?}: {head:?}");
    }
    // None of the refusals took the session: a good handshake still opens it.
    open(&gateway, &session, "hana").await;
}

#[tokio::test]
async fn fragmented_messages_are_reassembled_with_control_frames_between_the_fragments() {
    let (gateway, session) = gateway("fran").await;
    let mut raw = open(&gateway, &session, "fran").await;

    // A text message in three frames, split inside a two-byte character (ä: C3 A4), with an
    // empty continuation frame in the middle.
    let message = app_ping("fräg");
    let split = message.iter().position(|&b| b == 0xC3).unwrap() + 1;
    raw.send(&masked(TEXT, &message[..split])).await;
    raw.send(&masked(CONTINUATION, b"")).await;
    raw.send(&masked(FIN | CONTINUATION, &message[split..])).await;
    let pong = raw.event().await;
    assert_eq!((pong["type"].as_str(), pong["id"].as_str()), (Some("pong"), Some("fräg")), "{pong}");

    // A ping between the fragments is answered at once (its payload echoed), and the message
    // still arrives whole.
    let message = app_ping("between");
    raw.send(&masked(TEXT, &message[..10])).await;
    raw.send(&masked(FIN | PING, b"mid-message")).await;
    let pong = raw.control().await;
    assert_eq!((pong.opcode, pong.fin, pong.payload.as_slice()), (PONG, true, &b"mid-message"[..]), "{pong:?}");
    // A pong nobody asked for is allowed (a heartbeat) and ignored, even mid-message.
    raw.send(&masked(FIN | PONG, b"unsolicited")).await;
    raw.send(&masked(CONTINUATION, &message[10..20])).await;
    raw.send(&masked(FIN | CONTINUATION, &message[20..])).await;
    let pong = raw.event().await;
    assert_eq!((pong["type"].as_str(), pong["id"].as_str()), (Some("pong"), Some("between")), "{pong}");

    // Control frames up to 125 bytes are fine; the pong echoes all of it.
    let payload = [0x5a; 125];
    raw.send(&masked(FIN | PING, &payload)).await;
    let pong = raw.control().await;
    assert_eq!((pong.opcode, pong.payload.as_slice()), (PONG, &payload[..]));

    // A message of exactly the limit, in one frame or in fragments, is not too big.
    let pad = |id: &str| {
        let head = format!(r#"{{"type":"ping","id":"{id}","pad":""#);
        let mut message = head.into_bytes();
        message.resize(LIMIT - 2, b'x');
        message.extend(br#""}"#);
        message
    };
    raw.send(&masked(FIN | TEXT, &pad("whole"))).await;
    assert_eq!(raw.event().await["id"], "whole");
    let message = pad("pieces");
    let chunks: Vec<&[u8]> = message.chunks(40_000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let first = if i == 0 { TEXT } else { CONTINUATION };
        raw.send(&masked(if i + 1 == chunks.len() { FIN | first } else { first }, chunk)).await;
    }
    assert_eq!(raw.event().await["id"], "pieces");
}

/// Opens a socket, sends `frames` and returns the close code the server answers with (after
/// which it must close the connection); `case` names them in failures.
async fn answer_to(gateway: &Gateway, session: &str, user: &str, case: &str, frames: &[Vec<u8>]) -> Option<u16> {
    let mut raw = open(gateway, session, user).await;
    for frame in frames {
        raw.send(frame).await;
    }
    raw.close_code(case).await
}

#[tokio::test]
async fn protocol_errors_are_closed_with_1002() {
    let (gateway, session) = gateway("pat").await;
    let text = app_ping("p");
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("a ping of 126 bytes", vec![masked(FIN | PING, &[0; 126])]),
        ("a close of 126 bytes", vec![masked(FIN | CLOSE, &close_payload(1000, &[b'r'; 124]))]),
        ("a fragmented ping", vec![masked(PING, b"a"), masked(FIN | CONTINUATION, b"b")]),
        ("RSV1 without an extension", vec![masked(FIN | RSV1 | TEXT, &text)]),
        ("RSV2", vec![masked(FIN | RSV2 | TEXT, &text)]),
        ("RSV3", vec![masked(FIN | RSV3 | TEXT, &text)]),
        ("RSV1 on a ping", vec![masked(FIN | RSV1 | PING, b"")]),
        ("an unmasked frame", vec![encode(FIN | TEXT, &text, None)]),
        ("an unmasked ping", vec![encode(FIN | PING, b"", None)]),
        ("a continuation without a start", vec![masked(FIN | CONTINUATION, &text)]),
        ("a new message inside a fragmented one", vec![masked(TEXT, &text[..5]), masked(FIN | TEXT, &text)]),
        ("a close with a 1-byte payload", vec![masked(FIN | CLOSE, &[0x03])]),
    ];
    for (name, frames) in cases {
        assert_eq!(answer_to(&gateway, &session, "pat", name, &frames).await, Some(1002), "{name}");
    }
    for opcode in [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        let case = format!("opcode {opcode:#x}");
        let frames = [masked(FIN | opcode, b"")];
        assert_eq!(answer_to(&gateway, &session, "pat", &case, &frames).await, Some(1002), "{case}");
    }
    // Codes that may not be sent in a close frame (section 7.4): below 1000, unassigned (1014
    // is registered since, as "bad gateway", but tungstenite refuses it: a proxy's code), the
    // ones only for reporting (1005, 1006, 1015), and past 4999.
    for code in [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        let case = format!("close code {code}");
        let frames = [masked(FIN | CLOSE, &close_payload(code, b""))];
        assert_eq!(answer_to(&gateway, &session, "pat", &case, &frames).await, Some(1002), "{case}");
    }
    // The session is fine.
    let mut raw = open(&gateway, &session, "pat").await;
    raw.send(&masked(FIN | TEXT, &app_ping("after"))).await;
    assert_eq!(raw.event().await["id"], "after");
}

#[tokio::test]
async fn invalid_utf_8_is_closed_with_1007() {
    let (gateway, session) = gateway("ute").await;
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("a text frame", vec![masked(FIN | TEXT, b"{\"type\":\"ping\",\"id\":\"\xff\"}")]),
        ("a surrogate", vec![masked(FIN | TEXT, b"{\"type\":\"ping\",\"id\":\"\xed\xa0\x80\"}")]),
        ("an overlong encoding", vec![masked(FIN | TEXT, b"{\"type\":\"ping\",\"id\":\"\xc0\xaf\"}")]),
        ("a character cut at the end", vec![masked(FIN | TEXT, b"{\"type\":\"ping\",\"id\":\"\xe2\x82")]),
        (
            "a character broken across fragments",
            vec![masked(TEXT, b"{\"type\":\"ping\",\"id\":\"\xce"), masked(FIN | CONTINUATION, b"\x28\"}")],
        ),
        ("a close reason", vec![masked(FIN | CLOSE, &close_payload(1000, b"bye \xff"))]),
    ];
    for (name, frames) in cases {
        assert_eq!(answer_to(&gateway, &session, "ute", name, &frames).await, Some(1007), "{name}");
    }
}

#[tokio::test]
async fn a_valid_close_is_echoed_and_the_server_closes_the_connection() {
    let (gateway, session) = gateway("cleo").await;
    for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000, 4999] {
        let case = format!("close code {code}");
        let frames = [masked(FIN | CLOSE, &close_payload(code, "bye ✓".as_bytes()))];
        assert_eq!(answer_to(&gateway, &session, "cleo", &case, &frames).await, Some(code), "{case}");
    }
    // An empty close is answered with an empty close.
    assert_eq!(answer_to(&gateway, &session, "cleo", "an empty close", &[masked(FIN | CLOSE, b"")]).await, None);
    // Mid-message too: the close is a control frame.
    let message = app_ping("cut");
    let frames = [masked(TEXT, &message[..5]), masked(FIN | CLOSE, &close_payload(1000, b""))];
    assert_eq!(answer_to(&gateway, &session, "cleo", "a close mid-message", &frames).await, Some(1000));
}

#[tokio::test]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let (gateway, session) = gateway("max").await;
    let mut over = app_ping("big");
    over.resize(LIMIT + 1, b' ');
    // One frame over the limit: refused from its header, while its payload is still coming.
    let frames = [masked(FIN | TEXT, &over)];
    assert_eq!(answer_to(&gateway, &session, "max", "one frame", &frames).await, Some(1009));
    // Fragments each under the limit that add up to more.
    let frames: Vec<Vec<u8>> = over
        .chunks(LIMIT / 4)
        .enumerate()
        .map(|(i, chunk)| {
            let first = if i == 0 { TEXT } else { CONTINUATION };
            masked(if (i + 1) * LIMIT / 4 >= over.len() { FIN | first } else { first }, chunk)
        })
        .collect();
    assert_eq!(frames.len(), 5);
    assert_eq!(answer_to(&gateway, &session, "max", "fragments", &frames).await, Some(1009));
}

/// Item 11 of issue 12: the server closes a socket (4029, a flood) while the client is still
/// sending. Closing a TCP socket with unread input makes the kernel reset the connection,
/// and a reset throws away what the server had written but the client had not read yet: the
/// close frame. The client here writes a batch far larger than the server reads before it
/// closes, and larger than the kernel buffers, so its write can only complete once the server
/// has closed (a reset) or read on past the close; its receive buffer is small, so the server's
/// refusals and close frame are still on their way when the server closes. Then it reads: it
/// must get the 4029 close, every time.
#[tokio::test]
async fn a_rate_limit_close_reaches_a_client_that_is_still_sending() {
    let gateway = start(|state| {
        let socket = std::sync::Arc::make_mut(&mut state.socket);
        socket.burst = 5.0;
        socket.rate_per_s = 0.001;
        // The default 200 refusals in a row: about 26 KiB of `error` events before the close.
        socket.flood_close_after = 200;
    })
    .await;
    let addr = gateway.remote.addr;
    let session = gateway.create("flo", "senior-backend").await;
    // About 384 KiB of pings.
    let batch: Vec<u8> = (0..12_000).flat_map(|i| masked(FIN | TEXT, &app_ping(&format!("p{i}")))).collect();
    for round in 0..3 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.set_send_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let mut raw = open_on(stream, addr, &session, "flo").await;
        let wrote =
            tokio::time::timeout(PATIENCE, raw.stream.write_all(&batch)).await.expect("the batch was not taken");
        let closed = raw.closed().await;
        assert_eq!(closed, Closed::Frame(Some(4029), b"rate limited".to_vec()), "round {round} (the write: {wrote:?})");
    }
}

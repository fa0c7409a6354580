//! The text-to-speech providers with real components: the `espeak-ng` binary (skipped, saying
//! so, where it is not installed; never in CI), small shell scripts standing in for a broken or hung
//! synthesizer, and a real HTTP server on 127.0.0.1 speaking `/audio/speech`, scripted per
//! test. Time is real but short; every wait is bounded, so a bug fails instead of hanging.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use viva_engine::core::UserId;
use viva_engine::voice::tts::{
    EspeakConfig, EspeakTts, OUTPUT_RATE, OpenAiTts, OpenAiTtsConfig, TextToSpeech, TtsError,
};

/// The longest any single step of a test may take before it counts as hung.
const PATIENCE: Duration = Duration::from_secs(20);
/// A short timeout, for the tests about timeouts.
const SHORT: Duration = Duration::from_millis(300);
const SENTENCE: &str = "Tell me about a system you designed.";

/// The tests that start subprocesses run one at a time: they count this process's children.
static SUBPROCESSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn user() -> UserId {
    UserId::new("alice")
}

/// Everything a stream gives, bounded in time.
async fn collect(tts: &dyn TextToSpeech, text: &str) -> Vec<Result<Vec<i16>, TtsError>> {
    tokio::time::timeout(PATIENCE, tts.speak(&user(), text).collect::<Vec<_>>())
        .await
        .expect("the stream ended in time")
}

/// The samples of a stream that must succeed.
async fn samples(tts: &dyn TextToSpeech, text: &str) -> Vec<i16> {
    collect(tts, text).await.into_iter().flat_map(|chunk| chunk.expect("no error")).collect()
}

/// The error a stream ends with (audio may come before it).
async fn error_kind(tts: &dyn TextToSpeech, text: &str) -> &'static str {
    match collect(tts, text).await.pop() {
        Some(Err(error)) => error.kind(),
        other => panic!("expected an error last, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// espeak-ng

/// espeak-ng with timeouts that only fire on purpose (the machine may be busy).
fn espeak() -> Option<EspeakTts> {
    let config = EspeakConfig { first_audio_timeout: PATIENCE, sentence_timeout: PATIENCE, ..EspeakConfig::default() };
    match EspeakTts::new(config) {
        Ok(tts) => Some(tts),
        Err(TtsError::Unavailable(_)) => {
            viva_testkit::missing_program("espeak-ng");
            None
        }
        Err(error) => panic!("{error}"),
    }
}

/// This process's children (pid, name, state), zombies included.
#[cfg(target_os = "linux")]
fn children() -> Vec<(u32, String, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if rest.next().and_then(|s| s.parse::<u32>().ok()) == Some(me) {
            found.push((stat[..open].trim().parse().unwrap(), stat[open + 1..close].to_owned(), state));
        }
    }
    found
}

/// Waits (bounded) until this process has no child left, not even a zombie.
#[cfg(target_os = "linux")]
async fn no_children_left() {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !children().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "children left: {:?}", children());
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn espeak_speaks_a_sentence_in_chunks_at_24_khz() {
    let _one = SUBPROCESSES.lock().await;
    let Some(tts) = espeak() else { return };
    assert_eq!(tts.name(), "espeak-ng");
    let chunks: Vec<Vec<i16>> = collect(&tts, SENTENCE).await.into_iter().map(|c| c.expect("no error")).collect();
    assert!(chunks.len() > 5, "streamed in chunks of 100 ms, got {}", chunks.len());
    let full = OUTPUT_RATE as usize / 10;
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c.len() == full), "every chunk but the last is 100 ms");
    let all: Vec<i16> = chunks.concat();
    let seconds = all.len() as f64 / f64::from(OUTPUT_RATE);
    assert!((1.0..5.0).contains(&seconds), "{seconds} s");
    assert!(rms(&all) > 500.0, "speech, not silence: RMS {}", rms(&all));
}

#[tokio::test]
async fn espeak_blank_text_is_an_empty_stream_and_long_text_an_error() {
    let _one = SUBPROCESSES.lock().await;
    let Some(tts) = espeak() else { return };
    assert!(collect(&tts, "").await.is_empty());
    assert!(collect(&tts, "  \n ").await.is_empty());
    assert_eq!(error_kind(&tts, &"word ".repeat(1_000)).await, "too_long");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn dropping_an_espeak_stream_kills_and_reaps_the_process() {
    let _one = SUBPROCESSES.lock().await;
    let Some(tts) = espeak() else { return };
    no_children_left().await;
    // Minutes of speech: espeak-ng is still at it (blocked on its pipe) when the stream goes.
    let text = "This answer goes on and on about caches and queues. ".repeat(30);
    let mut stream = tts.speak(&user(), &text);
    let first = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap().unwrap().unwrap();
    assert!(!first.is_empty());
    let running = children();
    assert!(
        running.iter().any(|(_, name, state)| name == "espeak-ng" && *state != 'Z'),
        "espeak-ng runs while it speaks: {running:?}"
    );
    drop(stream);
    no_children_left().await;
    // And the next sentence is spoken as usual.
    assert!(!samples(&tts, "Next question.").await.is_empty());
    no_children_left().await;
}

/// A stand-in for espeak-ng: a shell script answering `--version`, then doing `body`.
struct FakeBinary {
    dir: std::path::PathBuf,
}

impl FakeBinary {
    fn new(name: &str, body: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("viva-tts-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("espeak-ng");
        std::fs::write(&path, format!("#!/bin/sh\n[ \"$1\" = --version ] && exit 0\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    fn config(&self) -> EspeakConfig {
        EspeakConfig {
            binary: self.dir.join("espeak-ng"),
            first_audio_timeout: PATIENCE,
            sentence_timeout: PATIENCE,
            ..EspeakConfig::default()
        }
    }
}

impl Drop for FakeBinary {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_missing_binary_is_an_error_at_construction() {
    let config = EspeakConfig { binary: "/nonexistent/espeak-ng".into(), ..EspeakConfig::default() };
    assert_eq!(EspeakTts::new(config).map(|_| ()).map_err(|e| e.kind()), Err("unavailable"));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_hung_synthesizer_times_out_and_is_killed() {
    let _one = SUBPROCESSES.lock().await;
    let fake = FakeBinary::new("hung", "exec sleep 60");
    let tts = EspeakTts::new(EspeakConfig { first_audio_timeout: SHORT, ..fake.config() }).unwrap();
    assert_eq!(error_kind(&tts, SENTENCE).await, "timeout");
    no_children_left().await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn garbage_or_a_failing_synthesizer_is_an_error() {
    let _one = SUBPROCESSES.lock().await;
    let garbage = FakeBinary::new("garbage", "echo 'this is not a WAV file at all'");
    assert_eq!(error_kind(&EspeakTts::new(garbage.config()).unwrap(), SENTENCE).await, "malformed");
    let silent = FakeBinary::new("silent", "exit 0");
    assert_eq!(error_kind(&EspeakTts::new(silent.config()).unwrap(), SENTENCE).await, "malformed");
    let failing = FakeBinary::new("failing", "exit 3");
    assert_eq!(error_kind(&EspeakTts::new(failing.config()).unwrap(), SENTENCE).await, "process");
    no_children_left().await;
}

// ---------------------------------------------------------------------------------------------
// OpenAI `/audio/speech`

/// What the server does with one request.
#[derive(Clone)]
enum Reply {
    /// 200 with this body, sent in chunks of these sizes (the rest in one), flushed one by one.
    Pcm(Vec<u8>, Vec<usize>),
    /// A status with an empty body, and a `Retry-After` if given.
    Status(u16, Option<&'static str>),
    /// Never answers.
    Hang,
    /// 200, then audio forever, until the client goes away.
    Endless,
}

/// A real HTTP/1.1 server on 127.0.0.1: the n-th request gets the n-th reply (the last one
/// repeats). Records the requests, and whether an endless body's client went away.
struct Server {
    base_url: String,
    hits: Arc<AtomicUsize>,
    requests: Arc<StdMutex<Vec<String>>>,
    client_left: Arc<AtomicBool>,
}

impl Server {
    async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = Self { base_url, hits: Arc::default(), requests: Arc::default(), client_left: Arc::default() };
        let (hits, requests, client_left) =
            (Arc::clone(&server.hits), Arc::clone(&server.requests), Arc::clone(&server.client_left));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (hits, requests, client_left, replies) =
                    (Arc::clone(&hits), Arc::clone(&requests), Arc::clone(&client_left), replies.clone());
                tokio::spawn(async move {
                    let _ = connection(socket, &hits, &requests, &client_left, &replies).await;
                });
            }
        });
        server
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn tts(&self, configure: impl FnOnce(&mut OpenAiTtsConfig)) -> OpenAiTts {
        let mut config = OpenAiTtsConfig {
            connect_timeout: PATIENCE,
            first_audio_timeout: PATIENCE,
            idle_timeout: PATIENCE,
            sentence_timeout: PATIENCE,
            max_retries: 2,
            backoff: Duration::from_millis(10),
            max_concurrency: 8,
            breaker_failures: 100,
            ..OpenAiTtsConfig::new(&self.base_url, Some("sk-secret".to_owned()))
        };
        configure(&mut config);
        OpenAiTts::new(config).unwrap()
    }
}

/// Serves one keep-alive connection.
async fn connection(
    mut socket: TcpStream,
    hits: &AtomicUsize,
    requests: &StdMutex<Vec<String>>,
    client_left: &AtomicBool,
    replies: &[Reply],
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        // The head, then the body by its Content-Length.
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut read = [0; 4096];
            let n = socket.read(&mut read).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&read[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let length = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>())
            })
            .map_or(0, |v| v.unwrap());
        while buffer.len() < head_end + length {
            let mut read = [0; 4096];
            let n = socket.read(&mut read).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&read[..n]);
        }
        let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).to_string();
        buffer.drain(..head_end + length);
        requests.lock().unwrap().push(format!("{head}{body}"));
        let n = hits.fetch_add(1, Ordering::SeqCst);
        match replies[n.min(replies.len() - 1)].clone() {
            Reply::Status(code, retry_after) => {
                let retry = retry_after.map(|s| format!("retry-after: {s}\r\n")).unwrap_or_default();
                let response = format!("HTTP/1.1 {code} Whatever\r\n{retry}content-length: 0\r\n\r\n");
                socket.write_all(response.as_bytes()).await?;
            }
            Reply::Hang => std::future::pending().await,
            Reply::Pcm(bytes, sizes) => {
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: audio/pcm\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await?;
                let mut rest = &bytes[..];
                for size in sizes.into_iter().chain(std::iter::once(usize::MAX)) {
                    let (part, after) = rest.split_at(size.min(rest.len()));
                    rest = after;
                    if !part.is_empty() {
                        write_chunk(&mut socket, part).await?;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                socket.write_all(b"0\r\n\r\n").await?;
            }
            Reply::Endless => {
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: audio/pcm\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await?;
                let tone = vec![0x10; 4_800];
                loop {
                    if write_chunk(&mut socket, &tone).await.is_err() {
                        client_left.store(true, Ordering::SeqCst);
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
}

async fn write_chunk(socket: &mut TcpStream, part: &[u8]) -> std::io::Result<()> {
    socket.write_all(format!("{:x}\r\n", part.len()).as_bytes()).await?;
    socket.write_all(part).await?;
    socket.write_all(b"\r\n").await?;
    socket.flush().await
}

fn pcm(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn some_samples() -> Vec<i16> {
    (0..4_801).map(|i: i32| ((i * 7_919) % 65_536 - 32_768) as i16).collect()
}

#[tokio::test]
async fn openai_pcm_in_odd_chunks_gives_the_exact_samples() {
    let expected = some_samples();
    let server = Server::start(vec![Reply::Pcm(pcm(&expected), vec![1, 3, 2, 7, 1_001, 1])]).await;
    let tts = server.tts(|_| {});
    assert_eq!(tts.name(), "openai");
    let chunks = collect(&tts, SENTENCE).await;
    assert!(chunks.len() > 1, "streamed as it arrives");
    let got: Vec<i16> = chunks.into_iter().flat_map(|c| c.unwrap()).collect();
    assert_eq!(got, expected);
    let request = server.requests.lock().unwrap()[0].clone();
    assert!(request.starts_with("POST /v1/audio/speech HTTP/1.1\r\n"), "{request}");
    assert!(request.to_ascii_lowercase().contains("authorization: bearer sk-secret"));
    let body: serde_json::Value = serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"model": "gpt-4o-mini-tts", "input": SENTENCE, "voice": "alloy", "response_format": "pcm"})
    );
}

#[tokio::test]
async fn openai_retries_5xx_and_429_before_the_first_byte() {
    let expected = some_samples();
    let server = Server::start(vec![Reply::Status(500, None), Reply::Pcm(pcm(&expected), vec![])]).await;
    assert_eq!(samples(&server.tts(|_| {}), SENTENCE).await, expected);
    assert_eq!(server.hits(), 2);

    let server = Server::start(vec![Reply::Status(429, Some("0")), Reply::Pcm(pcm(&expected), vec![])]).await;
    assert_eq!(samples(&server.tts(|_| {}), SENTENCE).await, expected);
    assert_eq!(server.hits(), 2);

    let server = Server::start(vec![Reply::Status(503, None)]).await;
    assert_eq!(error_kind(&server.tts(|c| c.max_retries = 2), SENTENCE).await, "status");
    assert_eq!(server.hits(), 3, "the first try and two retries");
}

#[tokio::test]
async fn openai_does_not_retry_a_refused_key_or_other_4xx() {
    let server = Server::start(vec![Reply::Status(401, None), Reply::Pcm(pcm(&some_samples()), vec![])]).await;
    assert_eq!(error_kind(&server.tts(|_| {}), SENTENCE).await, "unauthorized");
    assert_eq!(server.hits(), 1);

    let server = Server::start(vec![Reply::Status(400, None), Reply::Pcm(pcm(&some_samples()), vec![])]).await;
    assert_eq!(error_kind(&server.tts(|_| {}), SENTENCE).await, "status");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn openai_a_server_that_never_answers_times_out() {
    let server = Server::start(vec![Reply::Hang]).await;
    let tts = server.tts(|c| {
        c.first_audio_timeout = SHORT;
        c.max_retries = 1;
    });
    assert_eq!(error_kind(&tts, SENTENCE).await, "timeout");
    // The retry is sent; whether it reaches the server within its short timeout depends on
    // the machine's load (the retry of a 5xx or 429 is checked exactly above).
    assert!((1..=2).contains(&server.hits()), "{} requests", server.hits());
}

#[tokio::test]
async fn openai_an_odd_number_of_bytes_is_malformed() {
    let mut body = pcm(&some_samples());
    body.push(0x7f);
    let server = Server::start(vec![Reply::Pcm(body, vec![5, 100])]).await;
    assert_eq!(error_kind(&server.tts(|_| {}), SENTENCE).await, "malformed");
}

#[tokio::test]
async fn openai_blank_text_sends_nothing_and_long_text_is_refused() {
    let server = Server::start(vec![Reply::Pcm(pcm(&some_samples()), vec![])]).await;
    let tts = server.tts(|c| c.max_chars = 10);
    assert!(collect(&tts, " \t ").await.is_empty());
    assert_eq!(error_kind(&tts, "eleven char").await, "too_long");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn openai_the_circuit_opens_after_repeated_failures() {
    let server = Server::start(vec![Reply::Status(500, None)]).await;
    let tts = server.tts(|c| {
        c.max_retries = 0;
        c.breaker_failures = 2;
    });
    assert_eq!(error_kind(&tts, SENTENCE).await, "status");
    assert!(!tts.circuit_open());
    assert_eq!(error_kind(&tts, SENTENCE).await, "status");
    assert!(tts.circuit_open());
    assert_eq!(error_kind(&tts, SENTENCE).await, "circuit_open");
    assert_eq!(server.hits(), 2, "refused without a request");
}

#[tokio::test]
async fn dropping_an_openai_stream_drops_the_response() {
    let server = Server::start(vec![Reply::Endless]).await;
    let tts = server.tts(|_| {});
    let mut stream = tts.speak(&user(), SENTENCE);
    let first = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap().unwrap().unwrap();
    assert!(!first.is_empty());
    drop(stream);
    let left = tokio::time::timeout(PATIENCE, async {
        while !server.client_left.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(left.is_ok(), "the server still streams to nobody");
}

#[test]
fn the_key_is_not_in_the_debug_form() {
    let config = OpenAiTtsConfig::new("http://127.0.0.1:1/v1", Some("sk-secret".to_owned()));
    assert!(!format!("{config:?}").contains("sk-secret"));
}

//! Résumé files over REST (`PUT/GET/DELETE /v1/me/resume`) against the real gateway, whose
//! extraction runs in the real `viva-gateway` binary as a child process: real PDF and DOCX files
//! (made by `fixtures/`), and every kind of bad file, each with its documented answer; the
//! bounds hold (a memory limit below what a file needs, a child that never answers); the kept
//! résumé changes the interview, is exported and goes with its user.

mod common;
mod fixtures;

use std::path::PathBuf;
use std::time::Duration;

use common::{Connect, Gateway, http};
use serde_json::{Value, json};
use viva_engine::EngineConfig;
use viva_gateway::resume::MAX_FILE_BYTES;
use viva_gateway::resume::child::Extractor;
use viva_protocol::ServerMessage;

const PDF: &str = "application/pdf";
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// The gateway binary, which answers `__extract-resume` (an in-process gateway's own program is
/// the test binary).
fn extractor() -> Extractor {
    Extractor::new(Some(PathBuf::from(env!("CARGO_BIN_EXE_viva-gateway"))))
}

async fn gateway() -> Gateway {
    Gateway::start_with(EngineConfig::default(), |state| state.resume = extractor()).await
}

/// `PUT /v1/me/resume` as `user`: status and JSON body.
async fn put(gateway: &Gateway, user: &str, content_type: Option<&str>, name: &str, body: Vec<u8>) -> (u16, Value) {
    let mut request = http()
        .put(gateway.url("/v1/me/resume"))
        .bearer_auth(format!("dev:{user}"))
        .header("content-disposition", format!("attachment; filename=\"{name}\""))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn delete(gateway: &Gateway, user: &str, path: &str) -> u16 {
    let response = http().delete(gateway.url(path)).bearer_auth(format!("dev:{user}")).send().await.unwrap();
    response.status().as_u16()
}

fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|s| (*s).to_owned()).collect()
}

/// The error code and message of an error body.
fn error(body: &Value) -> (&str, &str) {
    (body["error"]["code"].as_str().unwrap_or_default(), body["error"]["message"].as_str().unwrap_or_default())
}

/// The intro of a new session of `user`'s, created without a résumé.
async fn intro(gateway: &Gateway, user: &str) -> String {
    let response = http()
        .post(gateway.url("/v1/sessions"))
        .bearer_auth(format!("dev:{user}"))
        .json(&json!({ "plan": "senior-backend" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let session = response.json::<Value>().await.unwrap()["session_id"].as_str().unwrap().to_owned();
    let mut client = gateway.connect(&session, Connect::user(&format!("dev:{user}"))).await.unwrap();
    client.message().await;
    client.send(&viva_protocol::ClientMessage::SessionStart { id: None, voice: None }).await;
    let seen = client.until(|m| matches!(m, ServerMessage::TurnDone(d) if d.turn_id == 1)).await;
    match seen.last() {
        Some(ServerMessage::TurnDone(done)) => done.text.clone(),
        other => panic!("no intro: {other:?}"),
    }
}

#[tokio::test]
async fn a_pdf_resume_is_read_kept_and_used_by_the_next_interview() {
    let gateway = gateway().await;
    assert!(!intro(&gateway, "pat").await.contains("résumé"), "no résumé yet");
    assert_eq!(gateway.get(Some("pat"), "/v1/me/resume").await.0, 404);

    let pdf = fixtures::text_pdf(&fixtures::typical_resume());
    let (status, body) = put(&gateway, "pat", Some(PDF), "Jane Doe CV.pdf", pdf.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["truncated"], false);
    assert_eq!(body["file_name"], "Jane Doe CV.pdf");
    assert_eq!(body["media_type"], PDF);
    assert_eq!(body["size_bytes"], pdf.len());
    let skills: Vec<&str> = body["skills"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(skills.contains(&"kafka") && skills.contains(&"token bucket"), "{skills:?}");

    let (status, kept) = gateway.get(Some("pat"), "/v1/me/resume").await;
    assert_eq!(status, 200);
    let text = kept["text"].as_str().unwrap();
    assert!(text.starts_with("Jane Doe - Senior Backend Engineer"), "{text}");
    assert!(text.contains("Designed a token bucket rate limiter in front of the public API."), "{text}");
    assert!(text.contains("MSc Computer Science"), "the second page is read: {text}");
    assert_eq!(kept["chars"], text.chars().count());
    assert_eq!(kept["skills"], body["skills"]);
    assert_eq!(kept["uploaded_at"], body["uploaded_at"]);

    // A session created without a résumé of its own uses it: the scripted intro names a skill.
    let intro = intro(&gateway, "pat").await;
    assert!(intro.contains("I see from your résumé that you have worked with"), "{intro}");
    assert!(intro.contains("kafka") || intro.contains("token bucket"), "{intro}");
    // Another user's interview does not.
    assert!(!self::intro(&gateway, "quinn").await.contains("résumé"));
}

#[tokio::test]
async fn docx_markdown_and_plain_text_are_read() {
    let gateway = gateway().await;
    let docx = fixtures::docx(&lines(&["Jane & Co", "Built Kafka pipelines.", "Skills: Redis <3"]));
    let (status, body) = put(&gateway, "dan", Some(DOCX), "cv.docx", docx).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        gateway.get(Some("dan"), "/v1/me/resume").await.1["text"],
        "Jane & Co\nBuilt Kafka pipelines.\nSkills: Redis <3"
    );

    let markdown = "# Jane Doe\n\n## Experience\n- Built **Kafka** pipelines ([link](https://example.com))\n";
    let (status, body) = put(&gateway, "dan", Some("text/markdown; charset=utf-8"), "cv.md", markdown.into()).await;
    assert_eq!(status, 200, "{body}");
    let (_, kept) = gateway.get(Some("dan"), "/v1/me/resume").await;
    assert_eq!(kept["text"], "Jane Doe\n\nExperience\nBuilt Kafka pipelines (link)");
    assert_eq!((kept["media_type"].as_str(), kept["file_name"].as_str()), (Some("text/markdown"), Some("cv.md")));

    let (status, body) =
        put(&gateway, "dan", Some("text/plain"), "cv.txt", "Go,\u{0}  Rust\r\n\r\n\r\nKafka".into()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(gateway.get(Some("dan"), "/v1/me/resume").await.1["text"], "Go, Rust\n\nKafka");
    // Not UTF-8.
    let (status, body) = put(&gateway, "dan", Some("text/plain"), "cv.txt", b"caf\xE9".to_vec()).await;
    assert_eq!((status, error(&body).0), (422, "unreadable_resume"), "{body}");
}

#[tokio::test]
async fn bad_files_get_422_with_a_clear_message_and_the_gateway_carries_on() {
    let gateway = gateway().await;
    let typical = fixtures::typical_resume();
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("no text layer", PDF, fixtures::image_only_pdf(), "no text layer"),
        ("encrypted", PDF, fixtures::encrypted_pdf(&typical, "user-secret"), "encrypted"),
        ("huge page count", PDF, fixtures::many_pages_pdf(2_000), "2000 pages"),
        ("malformed PDF", PDF, fixtures::malformed_pdf(), "malformed"),
        // A page whose content stream inflates to 256 MiB from about 256 KiB.
        ("deflate bomb PDF", PDF, fixtures::deflate_bomb_pdf(256), "deflate bomb"),
        ("not a PDF", PDF, b"GIF89a".to_vec(), "not a PDF"),
        ("not a ZIP", DOCX, b"PK\x03\x04 nothing".to_vec(), "not a DOCX"),
        ("a ZIP but not Word", DOCX, fixtures::stored_zip("readme.txt", b"hello"), "no word/document.xml"),
        // 1 GiB of zeros from about 1 MiB, its header telling the truth...
        ("ZIP bomb", DOCX, fixtures::zip_bomb_docx(1024, 1 << 30), "ZIP bomb"),
        // ... and lying (1 KiB): the inflating stream is cut at the cap all the same.
        ("lying ZIP bomb", DOCX, fixtures::zip_bomb_docx(1024, 1024), "ZIP bomb"),
    ];
    for (what, content_type, file, says) in cases {
        assert!(file.len() <= MAX_FILE_BYTES, "{what}: {} bytes", file.len());
        let (status, body) = put(&gateway, "eve", Some(content_type), "cv", file).await;
        let (code, message) = error(&body);
        assert_eq!((status, code), (422, "unreadable_resume"), "{what}: {body}");
        assert!(message.contains(says), "{what}: {message}");
    }
    assert_eq!(gateway.get(Some("eve"), "/v1/me/resume").await.0, 404, "nothing was kept");
    assert_eq!(gateway.get(None, "/healthz").await.0, 200);
    let (status, _) = put(&gateway, "eve", Some(PDF), "cv.pdf", fixtures::text_pdf(&typical)).await;
    assert_eq!(status, 200, "a good file after all of them");
    // Encrypted with an empty user password (only the owner's restrictions): it reads.
    let (status, body) = put(&gateway, "eve", Some(PDF), "cv.pdf", fixtures::encrypted_pdf(&typical, "")).await;
    assert_eq!(status, 200, "{body}");
    assert!(gateway.get(Some("eve"), "/v1/me/resume").await.1["text"].as_str().unwrap().contains("token bucket"));
}

#[tokio::test]
async fn size_and_type_are_checked_first() {
    let gateway = gateway().await;
    // 2 MiB + 1 byte: 413 with the gateway's error body.
    let (status, body) = put(&gateway, "fay", Some("text/plain"), "big.txt", vec![b'a'; MAX_FILE_BYTES + 1]).await;
    assert_eq!((status, error(&body).0), (413, "bad_request"), "{body}");
    assert!(error(&body).1.contains("2 MiB"), "{body}");
    // Exactly 2 MiB is taken, and cut to the engine's résumé limit at a sentence boundary.
    let sentences = "Built Kafka pipelines at scale. ".repeat(MAX_FILE_BYTES / 32 + 1);
    let (status, body) =
        put(&gateway, "fay", Some("text/plain"), "long.txt", sentences.as_bytes()[..MAX_FILE_BYTES].to_vec()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["truncated"], true);
    let (_, kept) = gateway.get(Some("fay"), "/v1/me/resume").await;
    let text = kept["text"].as_str().unwrap();
    assert!(text.len() <= EngineConfig::default().max_resume_bytes && text.len() > 30_000, "{}", text.len());
    assert!(text.ends_with("at scale."), "cut at a sentence: {}", &text[text.len() - 40..]);
    assert_eq!(kept["truncated"], true);

    // A type not taken, or none: 415.
    for content_type in [Some("application/msword"), Some("image/png"), Some("text/plain; charset=latin1"), None] {
        let (status, body) = put(&gateway, "fay", content_type, "cv", b"Kafka".to_vec()).await;
        assert_eq!((status, error(&body).0), (415, "unsupported_media_type"), "{content_type:?}: {body}");
    }
    // Not signed in.
    let response = http().put(gateway.url("/v1/me/resume")).header("content-type", "text/plain").body("x").send().await;
    assert_eq!(response.unwrap().status(), 401);
}

#[tokio::test]
async fn deleting_the_resume_or_the_user_removes_it_and_the_export_has_it() {
    let gateway = gateway().await;
    assert_eq!(delete(&gateway, "gus", "/v1/me/resume").await, 204, "idempotent: none kept is fine");
    let (status, _) = put(&gateway, "gus", Some("text/plain"), "cv.txt", b"Built Kafka pipelines.".to_vec()).await;
    assert_eq!(status, 200);
    let (_, export) = gateway.get(Some("gus"), "/v1/me/export").await;
    assert_eq!(export["resume"]["text"], "Built Kafka pipelines.", "{export}");
    assert_eq!(export["resume"]["skills"], json!(["kafka"]));
    assert_eq!(export["resume"]["file_name"], "cv.txt");

    assert_eq!(delete(&gateway, "gus", "/v1/me/resume").await, 204);
    assert_eq!(gateway.get(Some("gus"), "/v1/me/resume").await.0, 404);
    assert_eq!(delete(&gateway, "gus", "/v1/me/resume").await, 204);
    assert!(gateway.get(Some("gus"), "/v1/me/export").await.1.get("resume").is_none());

    let (status, _) = put(&gateway, "gus", Some("text/plain"), "cv.txt", b"Built Kafka pipelines.".to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(delete(&gateway, "gus", "/v1/me").await, 204);
    assert_eq!(gateway.get(Some("gus"), "/v1/me/resume").await.0, 404, "deleting the user deletes the résumé");
}

#[tokio::test]
async fn the_memory_and_cpu_bounds_hold_without_the_caps() {
    // The caps off (a 4 GiB inflation cap): the child's own resource limits stop the bombs (the
    // wall-clock timeout is long here, so that it is not what stops them).
    let mut extractor = extractor();
    extractor.memory_bytes = 256 * 1024 * 1024;
    extractor.cpu_seconds = 2;
    extractor.timeout = Duration::from_secs(120);
    extractor.limits.max_inflated_bytes = 4 << 30;
    let gateway = Gateway::start_with(EngineConfig::default(), |state| state.resume = extractor).await;
    // Inflating 1 GiB into memory: refused at 256 MiB.
    let (status, body) = put(&gateway, "hal", Some(DOCX), "bomb.docx", fixtures::zip_bomb_docx(1024, 1 << 30)).await;
    let (code, message) = error(&body);
    assert_eq!((status, code), (422, "unreadable_resume"), "{body}");
    assert!(message.contains("more than 256 MiB of memory"), "{message}");
    // 512 MiB of page content for the PDF parser: its memory or its CPU time (2 s) runs out,
    // whichever first (it depends on the machine).
    let (status, body) = put(&gateway, "hal", Some(PDF), "bomb.pdf", fixtures::deflate_bomb_pdf(512)).await;
    let (code, message) = error(&body);
    assert_eq!((status, code), (422, "unreadable_resume"), "{body}");
    let limits = ["more than 256 MiB of memory", "more than 2 s of CPU time"];
    assert!(limits.iter().any(|limit| message.contains(limit)), "{message}");
    assert_eq!(gateway.get(None, "/healthz").await.0, 200);
}

/// A shell script standing in for the extractor, in a directory of its own.
fn script(name: &str, body: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("viva-resume-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join(name);
    std::fs::write(&program, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&program, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (dir, program)
}

#[tokio::test]
async fn a_child_that_never_answers_is_killed_at_the_timeout() {
    // A program that ignores its input and sleeps stands in for a parser that never ends.
    let (dir, program) = script("sleeper.sh", "exec sleep 600");
    let mut extractor = Extractor::new(Some(program));
    extractor.timeout = Duration::from_secs(1);
    let gateway = Gateway::start_with(EngineConfig::default(), |state| state.resume = extractor).await;
    let (status, body) = put(&gateway, "ida", Some("text/plain"), "cv.txt", b"Kafka".to_vec()).await;
    let (code, message) = error(&body);
    assert_eq!((status, code), (422, "unreadable_resume"), "{body}");
    assert!(message.contains("took longer than 1 s"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_extractor_that_cannot_set_its_limits_is_unavailable_not_a_bad_file() {
    // The child's exit code when setrlimit fails: it refused to parse, the file is not at fault.
    let (dir, program) = script("no-limits.sh", "echo 'cannot set resource limits' >&2; exit 71");
    let gateway =
        Gateway::start_with(EngineConfig::default(), |state| state.resume = Extractor::new(Some(program))).await;
    let (status, body) = put(&gateway, "kim", Some("text/plain"), "cv.txt", b"Kafka".to_vec()).await;
    assert_eq!((status, error(&body).0), (503, "unavailable"), "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn without_an_extractor_resume_files_are_unavailable() {
    // An embedder's gateway that did not point the extractor at a program.
    let gateway = Gateway::start().await;
    let (status, body) = put(&gateway, "joe", Some("text/plain"), "cv.txt", b"Kafka".to_vec()).await;
    assert_eq!((status, error(&body).0), (503, "unavailable"), "{body}");
}

//! The `Store` contract: the same cases against both stores, the in-memory one and Redis (a
//! real `redis-server` per case). What the engine relies on: fencing, appends that must continue
//! the log, snapshot + tail equal to the live state, the user index newest first, complete
//! deletion, and retention.

use std::time::Duration;

use viva_engine::core::{CoreConfig, LogEntry, Output, Session, SessionParams};
use viva_engine::interviewer::{InterviewerEvent, ScriptedInterviewer};
use viva_engine::plan::PlanCatalog;
use viva_engine::resume::Resume;
use viva_engine::store::{RedisStore, SessionMeta, Store, StoreError};
use viva_engine::time::Timestamp;
use viva_protocol::ClientMessage;
use viva_testkit::RedisServer;

fn meta(session: &str, user: &str, at: u64) -> SessionMeta {
    SessionMeta {
        session_id: session.into(),
        user_id: user.into(),
        plan_id: "senior-backend".into(),
        candidate: Default::default(),
        created_at: Timestamp(at),
        time_limit_ms: 60_000,
    }
}

fn params(session: &str) -> SessionParams {
    SessionParams {
        session_id: session.into(),
        user_id: "user".into(),
        plan: PlanCatalog::shipped().get("senior-backend").cloned().unwrap(),
        candidate: Default::default(),
        time_limit_ms: 60_000,
        voice: Default::default(),
        scorer: "heuristic/1".into(),
        config: CoreConfig::default(),
    }
}

/// A recorded session: the core run with the scripted interviewer, no I/O, up to the first
/// question. The live session and its durable log.
fn recorded(session: &str) -> (Session, Vec<LogEntry>) {
    let mut live = Session::new(params(session));
    let now = Timestamp(1_000);
    live.handle_client(ClientMessage::SessionStart { id: None, voice: None }, now);
    let mut log = Vec::new();
    while let Some(output) = live.poll_output() {
        match output {
            Output::Persist(entry) => log.push(entry),
            Output::StartTurn(request) => {
                let text = ScriptedInterviewer::text(&request);
                live.handle_interviewer(request.turn_id, InterviewerEvent::Delta(text), now);
                live.handle_interviewer(request.turn_id, InterviewerEvent::Done, now);
            }
            _ => {}
        }
    }
    assert!(log.len() >= 4, "intro and first question");
    (live, log)
}

async fn creates_and_reads_metadata(store: &impl Store) {
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    assert_eq!(store.meta(&"s1".into()).await.unwrap().unwrap(), meta("s1", "alice", 10));
    assert!(store.meta(&"nope".into()).await.unwrap().is_none());
    assert!(store.load(&"nope".into()).await.unwrap().is_none());
    let loaded = store.load(&"s1".into()).await.unwrap().unwrap();
    assert_eq!((loaded.meta, loaded.snapshot, loaded.tail), (meta("s1", "alice", 10), None, vec![]));
}

async fn each_acquire_is_a_newer_epoch(store: &impl Store) {
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    let first = store.acquire(&"s1".into()).await.unwrap();
    let second = store.acquire(&"s1".into()).await.unwrap();
    assert!(second > first);
    // No epoch for a session that is not there (nothing is left behind for it either).
    assert_eq!(store.acquire(&"nope".into()).await.unwrap_err(), StoreError::NotFound("nope".into()));
}

async fn an_append_must_continue_the_log(store: &impl Store) {
    let (_, log) = recorded("s1");
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    store.append(&"s1".into(), epoch, &[]).await.unwrap();
    let gap = store.append(&"s1".into(), epoch, &log[1..2]).await.unwrap_err();
    assert_eq!(gap, StoreError::OutOfOrder { head: 0, got: 2 });
    store.append(&"s1".into(), epoch, &log[..2]).await.unwrap();
    store.append(&"s1".into(), epoch, &log[2..]).await.unwrap();
    let again = store.append(&"s1".into(), epoch, &log[..1]).await.unwrap_err();
    assert_eq!(again, StoreError::OutOfOrder { head: log.len() as u64, got: 1 });
    assert_eq!(store.read_log(&"s1".into(), 0).await.unwrap().unwrap(), log);
    assert_eq!(store.read_log(&"s1".into(), 1).await.unwrap().unwrap(), log[1..]);
    assert_eq!(store.read_log(&"s1".into(), log.len() as u64).await.unwrap().unwrap(), vec![]);
}

async fn snapshot_plus_tail_is_the_live_state(store: &impl Store) {
    let (live, log) = recorded("s1");
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    store.append(&"s1".into(), epoch, &log[..2]).await.unwrap();
    let snapshot = Session::restore(params("s1"), Default::default(), log[..2].to_vec()).state().clone();
    store.save_snapshot(&"s1".into(), epoch, &snapshot).await.unwrap();
    store.append(&"s1".into(), epoch, &log[2..]).await.unwrap();
    let loaded = store.load(&"s1".into()).await.unwrap().unwrap();
    assert_eq!(loaded.snapshot.as_ref().unwrap().head, 2);
    assert_eq!(loaded.tail, log[2..]);
    let restored = Session::restore(params("s1"), loaded.snapshot.unwrap(), loaded.tail);
    assert_eq!(restored.state(), live.state(), "snapshot + tail through the store equals the live state");
}

async fn an_older_epoch_is_fenced(store: &impl Store) {
    let (live, log) = recorded("s1");
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    store.append(&"s1".into(), epoch, &log[..2]).await.unwrap();
    let newer = store.acquire(&"s1".into()).await.unwrap();
    let fenced = store.append(&"s1".into(), epoch, &log[2..3]).await.unwrap_err();
    assert_eq!(fenced, StoreError::Fenced { epoch, current: newer });
    let fenced = store.save_snapshot(&"s1".into(), epoch, live.state()).await.unwrap_err();
    assert_eq!(fenced, StoreError::Fenced { epoch, current: newer });
    store.append(&"s1".into(), newer, &log[2..]).await.unwrap();
    assert_eq!(store.read_log(&"s1".into(), 0).await.unwrap().unwrap(), log, "nothing of the fenced writer");
}

/// The ids of a user's sessions, as the store lists them.
async fn listed(store: &impl Store, user: &str) -> Vec<String> {
    let listed = store.user_sessions(&user.into()).await.unwrap();
    listed.metas.into_iter().map(|m| m.session_id.into_string()).collect()
}

async fn the_user_index_lists_newest_first(store: &impl Store) {
    for (id, at) in [("s1", 1), ("s3", 3), ("s2", 2)] {
        store.create(&meta(id, "bob", at), None).await.unwrap();
    }
    store.create(&meta("x", "carol", 5), None).await.unwrap();
    let ids = listed(store, "bob").await;
    assert_eq!(ids, ["s3", "s2", "s1"]);
    assert!(listed(store, "nobody").await.is_empty());
}

async fn deleting_a_user_removes_everything_and_fences_its_writers(store: &impl Store) {
    let (live, log) = recorded("s1");
    store.create(&meta("s1", "dora", 1), None).await.unwrap();
    store.create(&meta("s2", "dora", 2), None).await.unwrap();
    store.create(&meta("k", "kept", 3), None).await.unwrap();
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    store.append(&"s1".into(), epoch, &log[..2]).await.unwrap();
    store.save_snapshot(&"s1".into(), epoch, live.state()).await.unwrap();

    let mut removed = store.delete_user(&"dora".into()).await.unwrap();
    removed.sort();
    assert_eq!(removed, ["s1", "s2"]);
    for id in ["s1", "s2"] {
        assert!(store.meta(&id.into()).await.unwrap().is_none());
        assert!(store.load(&id.into()).await.unwrap().is_none());
    }
    assert!(listed(store, "dora").await.is_empty());
    // The owner still running the session cannot bring it back.
    assert!(matches!(store.append(&"s1".into(), epoch, &log[2..]).await, Err(StoreError::Fenced { .. })));
    assert!(matches!(store.save_snapshot(&"s1".into(), epoch, live.state()).await, Err(StoreError::Fenced { .. })));
    assert!(matches!(store.acquire(&"s1".into()).await, Err(StoreError::NotFound(_))));
    assert!(store.meta(&"s1".into()).await.unwrap().is_none(), "nothing came back");
    assert_eq!(store.meta(&"k".into()).await.unwrap().unwrap().user_id, "kept", "another user's session stays");
    assert!(store.delete_user(&"dora".into()).await.unwrap().is_empty(), "deleting again is a no-op");
}

async fn an_expired_session_is_gone_with_its_index_entry(store: &impl Store) {
    let (_, log) = recorded("s1");
    store.create(&meta("s1", "erin", 1), None).await.unwrap();
    store.create(&meta("s2", "erin", 2), None).await.unwrap();
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    store.append(&"s1".into(), epoch, &log).await.unwrap();
    store.expire_session(&meta("s1", "erin", 1), Duration::from_millis(200)).await.unwrap();
    // Retention runs on the store's own clock (Redis keys' TTL): poll, bounded, no timing asserted.
    let mut gone = false;
    for _ in 0..100 {
        if store.meta(&"s1".into()).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "expired within 5 s");
    assert!(store.load(&"s1".into()).await.unwrap().is_none());
    let ids = listed(store, "erin").await;
    assert_eq!(ids, ["s2"]);
}

async fn creations_are_counted_in_a_sliding_window(store: &impl Store) {
    let hour = Duration::from_secs(3_600);
    let admit = |user: &'static str, session: &'static str, at: u64| async move {
        store.admit_creation(&user.into(), &session.into(), Timestamp(at), hour, 3).await
    };
    let t0 = 1_000_000_000;
    for (i, session) in ["a", "b", "c"].into_iter().enumerate() {
        assert_eq!(admit("fay", session, t0 + i as u64 * 1_000).await.unwrap(), None);
    }
    // The fourth within the hour waits until the first leaves the window.
    assert_eq!(admit("fay", "d", t0 + 10_000).await.unwrap(), Some(Duration::from_millis(3_590_000)));
    assert_eq!(admit("gus", "e", t0 + 10_000).await.unwrap(), None, "another user's count is their own");
    assert_eq!(admit("fay", "d", t0 + 3_600_000).await.unwrap(), None, "the first left the window");
    assert!(admit("fay", "f", t0 + 3_600_001).await.unwrap().is_some(), "refusals are not counted, admissions are");
    // Deleting the user forgets the count.
    store.delete_user(&"fay".into()).await.unwrap();
    assert_eq!(admit("fay", "g", t0 + 3_600_002).await.unwrap(), None);
}

async fn answers_audio_is_kept_within_the_cap_and_goes_with_its_session(store: &impl Store) {
    store.create(&meta("s1", "hal", 1), None).await.unwrap();
    let s1 = "s1".into();
    assert!(store.put_audio(&s1, "u1", &[1; 400], 1_000).await.unwrap());
    assert!(store.put_audio(&s1, "u2", &[2; 500], 1_000).await.unwrap());
    // Over the cap: refused, and what is kept stays.
    assert!(!store.put_audio(&s1, "u3", &[3; 200], 1_000).await.unwrap());
    // A re-sent utterance replaces its own audio (not counted twice against the cap).
    assert!(store.put_audio(&s1, "u2", &[4; 600], 1_000).await.unwrap());
    assert_eq!(store.audio(&s1, "u2").await.unwrap(), Some(vec![4; 600]));
    assert_eq!(store.audio(&s1, "u3").await.unwrap(), None);
    assert_eq!(store.audio_ids(&s1).await.unwrap(), [("u1".to_owned(), 400), ("u2".to_owned(), 600)]);
    // No session, nothing kept: a late write after a deletion brings nothing back.
    assert!(matches!(store.put_audio(&"nope".into(), "u1", &[1], 1_000).await, Err(StoreError::NotFound(_))));
    store.delete_user(&"hal".into()).await.unwrap();
    assert_eq!(store.audio(&s1, "u1").await.unwrap(), None);
    assert!(store.audio_ids(&s1).await.unwrap().is_empty());
    assert!(matches!(store.put_audio(&s1, "u1", &[1], 1_000).await, Err(StoreError::NotFound(_))));

    // Under retention the audio expires with the session.
    store.create(&meta("s2", "ivy", 2), None).await.unwrap();
    let s2 = "s2".into();
    assert!(store.put_audio(&s2, "u1", &[5; 10], 1_000).await.unwrap());
    store.expire_session(&meta("s2", "ivy", 2), Duration::from_millis(200)).await.unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if store.audio(&s2, "u1").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "expired within 5 s");
}

async fn live_sessions_are_counted_per_user_with_leases(store: &impl Store) {
    let lease = Duration::from_secs(60);
    let t0 = Timestamp(1_800_000_000_000);
    let admit = |user: &'static str, session: &'static str, at: u64| async move {
        store.admit_live(&user.into(), &session.into(), 2, Timestamp(t0.0 + at), lease).await.unwrap()
    };
    assert!(admit("kim", "a", 0).await);
    assert!(admit("kim", "b", 0).await);
    assert!(!admit("kim", "c", 1_000).await, "a third while two are live");
    assert!(admit("kim", "a", 1_000).await, "a renewal is not a new one");
    assert!(admit("lee", "d", 1_000).await, "another user's count is their own");
    store.end_live(&"kim".into(), &"b".into()).await.unwrap();
    assert!(admit("kim", "c", 2_000).await, "one ended: room for another");
    // `a` was renewed at 1 s, `c` counted at 2 s: at 61.5 s only `c` holds a lease.
    assert!(admit("kim", "e", 61_500).await, "a lease that ran out does not count (its owner died)");
    assert!(!admit("kim", "f", 61_500).await);
    store.delete_user(&"kim".into()).await.unwrap();
    assert!(admit("kim", "f", 61_600).await, "deleting the user forgets the count");
    assert!(admit("kim", "g", 61_600).await);
}

fn resume(text: &str, at: u64) -> Resume {
    Resume {
        text: text.into(),
        truncated: false,
        file_name: "cv.pdf".into(),
        media_type: "application/pdf".into(),
        size_bytes: 1_234,
        uploaded_at: Timestamp(at),
    }
}

async fn a_users_resume_is_kept_replaced_and_deleted_with_the_user(store: &impl Store) {
    let (ann, bob) = ("ann".into(), "bob".into());
    assert_eq!(store.resume(&ann).await.unwrap(), None);
    assert!(!store.delete_resume(&ann).await.unwrap(), "nothing to delete");
    store.put_resume(&ann, &resume("Rust and Kafka.", 1)).await.unwrap();
    store.put_resume(&bob, &resume("Go and Redis.", 2)).await.unwrap();
    assert_eq!(store.resume(&ann).await.unwrap(), Some(resume("Rust and Kafka.", 1)));
    let replacement = Resume { truncated: true, media_type: "text/markdown".into(), ..resume("Zig.", 3) };
    store.put_resume(&ann, &replacement).await.unwrap();
    assert_eq!(store.resume(&ann).await.unwrap(), Some(replacement), "the latest replaces the earlier one");
    assert!(store.delete_resume(&ann).await.unwrap());
    assert_eq!(store.resume(&ann).await.unwrap(), None);
    assert!(!store.delete_resume(&ann).await.unwrap());
    // Deleting the user removes it with everything else, and only theirs.
    store.put_resume(&ann, &resume("Rust and Kafka.", 4)).await.unwrap();
    store.create(&meta("s1", "ann", 5), None).await.unwrap();
    store.delete_user(&ann).await.unwrap();
    assert_eq!(store.resume(&ann).await.unwrap(), None);
    assert_eq!(store.resume(&bob).await.unwrap(), Some(resume("Go and Redis.", 2)), "another user's stays");
}

async fn redis(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&server.url(), Duration::from_secs(2)).await.unwrap()
}

/// Each case once per store.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&viva_engine::store::MemoryStore::new()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let server = viva_testkit::RedisServer::start();
                    super::$case(&super::redis(&server).await).await;
                }
            )*
        }
    };
}

contract![
    a_users_resume_is_kept_replaced_and_deleted_with_the_user,
    live_sessions_are_counted_per_user_with_leases,
    answers_audio_is_kept_within_the_cap_and_goes_with_its_session,
    creates_and_reads_metadata,
    each_acquire_is_a_newer_epoch,
    an_append_must_continue_the_log,
    snapshot_plus_tail_is_the_live_state,
    an_older_epoch_is_fenced,
    the_user_index_lists_newest_first,
    deleting_a_user_removes_everything_and_fences_its_writers,
    an_expired_session_is_gone_with_its_index_entry,
    creations_are_counted_in_a_sliding_window,
];

//! The `Store` contract: the same cases against both stores, the in-memory one and Redis (a
//! real `redis-server` per case, and a real three-master Redis Cluster per case). What the engine relies on: fencing, appends that must continue
//! the log, snapshot + tail equal to the live state, the user index newest first, complete
//! deletion, retention, and the per-user progress record.

use std::time::Duration;

use viva_engine::core::{CoreConfig, LogEntry, Output, Session, SessionId, SessionParams, UserId};
use viva_engine::interviewer::{InterviewerEvent, ScriptedInterviewer};
use viva_engine::plan::PlanCatalog;
use viva_engine::progress::{QuestionProgress, SessionProgress};
use viva_engine::resume::Resume;
use viva_engine::store::{Claimed, DeliveryId, RedisStore, SessionMeta, Store, StoreError, WebhookMessage};
use viva_engine::time::Timestamp;
use viva_protocol::{ClientMessage, DimensionScore};
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
    store.append(&"s1".into(), epoch, &[], &[]).await.unwrap();
    let gap = store.append(&"s1".into(), epoch, &log[1..2], &[]).await.unwrap_err();
    assert_eq!(gap, StoreError::OutOfOrder { head: 0, got: 2 });
    store.append(&"s1".into(), epoch, &log[..2], &[]).await.unwrap();
    store.append(&"s1".into(), epoch, &log[2..], &[]).await.unwrap();
    let again = store.append(&"s1".into(), epoch, &log[..1], &[]).await.unwrap_err();
    assert_eq!(again, StoreError::OutOfOrder { head: log.len() as u64, got: 1 });
    assert_eq!(store.read_log(&"s1".into(), 0).await.unwrap().unwrap(), log);
    assert_eq!(store.read_log(&"s1".into(), 1).await.unwrap().unwrap(), log[1..]);
    assert_eq!(store.read_log(&"s1".into(), log.len() as u64).await.unwrap().unwrap(), vec![]);
}

async fn snapshot_plus_tail_is_the_live_state(store: &impl Store) {
    let (live, log) = recorded("s1");
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    store.append(&"s1".into(), epoch, &log[..2], &[]).await.unwrap();
    let snapshot = Session::restore(params("s1"), Default::default(), log[..2].to_vec()).state().clone();
    store.save_snapshot(&"s1".into(), epoch, &snapshot).await.unwrap();
    store.append(&"s1".into(), epoch, &log[2..], &[]).await.unwrap();
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
    store.append(&"s1".into(), epoch, &log[..2], &[]).await.unwrap();
    let newer = store.acquire(&"s1".into()).await.unwrap();
    let fenced = store.append(&"s1".into(), epoch, &log[2..3], &[]).await.unwrap_err();
    assert_eq!(fenced, StoreError::Fenced { epoch, current: newer });
    let fenced = store.save_snapshot(&"s1".into(), epoch, live.state()).await.unwrap_err();
    assert_eq!(fenced, StoreError::Fenced { epoch, current: newer });
    store.append(&"s1".into(), newer, &log[2..], &[]).await.unwrap();
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
    store.append(&"s1".into(), epoch, &log[..2], &[]).await.unwrap();
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
    assert!(matches!(store.append(&"s1".into(), epoch, &log[2..], &[]).await, Err(StoreError::Fenced { .. })));
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
    store.append(&"s1".into(), epoch, &log, &[]).await.unwrap();
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

fn webhook(seq: u64, endpoint: &str, at: u64) -> WebhookMessage {
    WebhookMessage {
        seq,
        endpoint: endpoint.into(),
        body: format!(r#"{{"type":"session.ended","seq":{seq}}}"#),
        created_at: Timestamp(at),
    }
}

const LEASE: Duration = Duration::from_secs(30);

/// The claims that have a message to send, by delivery id.
fn sendable(claims: &[Claimed]) -> Vec<String> {
    let mut ids: Vec<String> = claims.iter().filter(|c| c.pending.is_some()).map(|c| c.id.to_string()).collect();
    ids.sort();
    ids
}

async fn webhook_messages_are_stored_with_their_events_and_claimed_once(store: &impl Store) {
    let (_, log) = recorded("s1");
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    let t = 1_000_000;
    let messages = [webhook(2, "e1", t), webhook(2, "e2", t)];
    store.append(&"s1".into(), epoch, &log[..2], &messages).await.unwrap();
    assert_eq!(store.pending_webhooks().await.unwrap(), 2);

    let claims = store.claim_webhooks(Timestamp(t), LEASE, 10).await.unwrap();
    assert_eq!(sendable(&claims), ["s1.2.e1", "s1.2.e2"]);
    let first = &claims[0].pending.as_ref().unwrap().message;
    assert!(messages.contains(first), "the message as appended");
    assert!(claims.iter().all(|c| c.token == t + 30_000));
    // Claimed: no other worker gets them while the lease holds.
    assert!(store.claim_webhooks(Timestamp(t + 1_000), LEASE, 10).await.unwrap().is_empty());

    let (e1, e2) = if claims[0].id.endpoint == "e1" { (&claims[0], &claims[1]) } else { (&claims[1], &claims[0]) };
    store.webhook_delivered(e1).await.unwrap();
    assert_eq!(store.pending_webhooks().await.unwrap(), 1);
    store.webhook_retry(e2, Timestamp(t + 5_000), 1, "answered 500").await.unwrap();
    assert!(store.claim_webhooks(Timestamp(t + 4_999), LEASE, 10).await.unwrap().is_empty());
    let again = store.claim_webhooks(Timestamp(t + 5_000), LEASE, 10).await.unwrap();
    assert_eq!(sendable(&again), ["s1.2.e2"]);
    let pending = again[0].pending.as_ref().unwrap();
    assert_eq!((pending.attempts, pending.last_error.as_deref()), (1, Some("answered 500")));

    // A worker whose claim lapsed cannot move the delivery under the new claim: its retry
    // changes nothing; its success removes the message, and the new claim is then dropped.
    store.webhook_retry(e2, Timestamp(t + 999_000), 2, "late").await.unwrap();
    store.webhook_delivered(e2).await.unwrap();
    assert_eq!(store.pending_webhooks().await.unwrap(), 1, "still held by the newer claim");
    let lapsed = store.claim_webhooks(Timestamp(t + 5_000 + 30_000), LEASE, 10).await.unwrap();
    assert_eq!((lapsed.len(), sendable(&lapsed).len()), (1, 0), "claimed again, with no message left");
    store.webhook_dropped(&lapsed[0]).await.unwrap();
    assert_eq!(store.pending_webhooks().await.unwrap(), 0);
}

async fn a_refused_append_stores_no_webhook(store: &impl Store) {
    let (_, log) = recorded("s1");
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    let stale = store.acquire(&"s1".into()).await.unwrap();
    store.acquire(&"s1".into()).await.unwrap();
    let t = 1_000_000;
    let refused = store.append(&"s1".into(), stale, &log[..2], &[webhook(2, "e1", t)]).await;
    assert!(matches!(refused, Err(StoreError::Fenced { .. })));
    // Whatever the store keeps to be safe against a crash, nothing is ever sent.
    for at in [t, t + 61_000, t + 200_000] {
        let claims = store.claim_webhooks(Timestamp(at), LEASE, 10).await.unwrap();
        assert!(sendable(&claims).is_empty());
        for claim in &claims {
            store.webhook_dropped(claim).await.unwrap();
        }
    }
    assert_eq!(store.pending_webhooks().await.unwrap(), 0);
}

async fn dead_letters_are_listed_and_redriven(store: &impl Store) {
    let (_, log) = recorded("s1");
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    let t = 1_000_000;
    store.append(&"s1".into(), epoch, &log[..2], &[webhook(2, "e1", t)]).await.unwrap();
    let claims = store.claim_webhooks(Timestamp(t), LEASE, 10).await.unwrap();
    store.webhook_dead(&claims[0], Timestamp(t + 9), 7, "7 attempts failed; the last: answered 503").await.unwrap();
    assert_eq!(store.pending_webhooks().await.unwrap(), 0);
    let (dead, total) = store.dead_webhooks(10).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(dead[0].id.to_string(), "s1.2.e1");
    assert_eq!((dead[0].pending.attempts, dead[0].dead_at), (7, Timestamp(t + 9)));
    assert_eq!(dead[0].reason, "7 attempts failed; the last: answered 503");
    assert_eq!(dead[0].pending.message, webhook(2, "e1", t));
    assert!(store.claim_webhooks(Timestamp(t + 3_600_000), LEASE, 10).await.unwrap().is_empty());

    let id: DeliveryId = "s1.2.e1".parse().unwrap();
    assert!(store.redrive_webhook(&id, Timestamp(t + 100)).await.unwrap());
    assert!(!store.redrive_webhook(&id, Timestamp(t + 100)).await.unwrap(), "not dead any more");
    assert!(!store.redrive_webhook(&"s1.3.e1".parse().unwrap(), Timestamp(t)).await.unwrap());
    assert_eq!(store.dead_webhooks(10).await.unwrap().1, 0);
    let redriven = store.claim_webhooks(Timestamp(t + 100), LEASE, 10).await.unwrap();
    assert_eq!(sendable(&redriven), ["s1.2.e1"]);
    assert_eq!(redriven[0].pending.as_ref().unwrap().attempts, 0, "a fresh schedule");
}

async fn webhooks_go_with_their_session(store: &impl Store) {
    let (_, log) = recorded("s1");
    store.create(&meta("s1", "alice", 10), None).await.unwrap();
    store.create(&meta("s2", "alice", 20), None).await.unwrap();
    let t = 1_000_000;
    let epoch = store.acquire(&"s1".into()).await.unwrap();
    store.append(&"s1".into(), epoch, &log[..2], &[webhook(2, "e1", t)]).await.unwrap();
    let (_, log2) = recorded("s2");
    let epoch = store.acquire(&"s2".into()).await.unwrap();
    store.append(&"s2".into(), epoch, &log2[..2], &[webhook(2, "e1", t)]).await.unwrap();
    let claims = store.claim_webhooks(Timestamp(t), LEASE, 10).await.unwrap();
    let dead = claims.iter().find(|c| c.id.session_id.as_str() == "s2").unwrap();
    store.webhook_dead(dead, Timestamp(t), 1, "gone").await.unwrap();

    store.delete_user(&"alice".into()).await.unwrap();
    assert_eq!(store.dead_webhooks(10).await.unwrap(), (vec![], 0), "no dead letter outlives its session");
    let after = store.claim_webhooks(Timestamp(t + 30_000), LEASE, 10).await.unwrap();
    assert!(sendable(&after).is_empty(), "nothing of a deleted user is sent");
}

async fn endpoints_are_switched_off_and_on(store: &impl Store) {
    assert!(store.disabled_endpoints().await.unwrap().is_empty());
    store.disable_endpoint("e1", Timestamp(5), "the endpoint answered 410 Gone").await.unwrap();
    let off = store.disabled_endpoints().await.unwrap();
    assert_eq!(off.len(), 1);
    assert_eq!(
        (off[0].endpoint.as_str(), off[0].at, off[0].reason.as_str()),
        ("e1", Timestamp(5), "the endpoint answered 410 Gone")
    );
    assert!(store.enable_endpoint("e1").await.unwrap());
    assert!(!store.enable_endpoint("e1").await.unwrap());
    assert!(store.disabled_endpoints().await.unwrap().is_empty());
}

async fn single_use_tokens_are_used_once_until_they_expire(store: &impl Store) {
    let (s1, s2) = (SessionId::from("s1"), SessionId::from("s2"));
    let (now, expires) = (Timestamp(1_000), Timestamp(61_000));
    assert!(store.use_once(&s1, "n1", expires, now).await.unwrap());
    assert!(!store.use_once(&s1, "n1", expires, now).await.unwrap(), "used");
    assert!(store.use_once(&s2, "n1", expires, now).await.unwrap(), "another session's token");
    assert!(store.use_once(&s1, "n2", expires, now).await.unwrap());
    // Forgotten once expired (it is worthless by then).
    assert!(store.use_once(&s1, "n1", Timestamp(122_000), Timestamp(61_000)).await.unwrap());
}

async fn a_shared_secret_is_the_same_for_every_caller(store: &impl Store) {
    let first = store.shared_secret("tickets").await.unwrap();
    assert_eq!(first.len(), 32);
    assert_eq!(store.shared_secret("tickets").await.unwrap(), first);
    assert_ne!(store.shared_secret("other").await.unwrap(), first);
}

fn summary(session: &str, score: f32) -> SessionProgress {
    SessionProgress {
        session_id: session.into(),
        plan_id: "senior-backend".into(),
        ended_at: Timestamp(1_000),
        overall: Some(score),
        dimensions: vec![DimensionScore { name: "system_design".into(), score }],
        questions: vec![QuestionProgress {
            question_id: "rate-limiter".into(),
            hit: vec!["algorithm".into()],
            missed: vec!["atomicity".into()],
            to_start_ms: Some(1_200),
            to_finish_ms: Some(1_200),
            spent_ms: Some(30_000),
            budget_s: 660,
            audio_ms: Some(4_000),
        }],
    }
}

async fn progress_is_kept_per_session_while_indexed_and_goes_with_the_user(store: &impl Store) {
    let user: UserId = "pat".into();
    store.create(&meta("s1", "pat", 10), None).await.unwrap();
    store.create(&meta("s2", "pat", 20), None).await.unwrap();
    assert!(store.put_progress(&user, &summary("s1", 4.0)).await.unwrap());
    // Written again (a retry, a repair): replaced, not added.
    assert!(store.put_progress(&user, &summary("s1", 5.0)).await.unwrap());
    assert!(store.put_progress(&user, &summary("s2", 6.0)).await.unwrap());
    // Not the user's session, or no session at all: nothing is kept.
    assert!(!store.put_progress(&"kim".into(), &summary("s2", 6.0)).await.unwrap());
    assert!(!store.put_progress(&user, &summary("nope", 6.0)).await.unwrap());
    let mut kept = store.progress(&user).await.unwrap();
    kept.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    assert_eq!(kept, [summary("s1", 5.0), summary("s2", 6.0)]);
    assert!(store.progress(&"kim".into()).await.unwrap().is_empty());
    store.forget_progress(&user, &["s1".into()]).await.unwrap();
    assert_eq!(store.progress(&user).await.unwrap(), [summary("s2", 6.0)]);
    store.delete_user(&user).await.unwrap();
    assert!(store.progress(&user).await.unwrap().is_empty());
    // A summary written after the deletion (a driver finishing late) is refused.
    assert!(!store.put_progress(&user, &summary("s2", 6.0)).await.unwrap());
    assert!(store.progress(&user).await.unwrap().is_empty());
}

/// Now by the wall clock (Redis goes by its own server's, the same machine's).
fn wall() -> Timestamp {
    Timestamp(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64)
}

async fn leases_run_out_and_each_is_claimed_by_one_sweep(store: &impl Store) {
    let ids: Vec<SessionId> = (0..40).map(|i| SessionId::from(format!("lease-{i}"))).collect();
    let term = Duration::from_secs(60);
    let claim = |limit: usize| async move { store.claim_expired_leases(term, limit, wall()).await.unwrap() };
    store.renew_leases(&ids, term, wall()).await.unwrap();
    assert!(claim(100).await.is_empty(), "leases in their term are not claimed");
    // Their owner hands 30 over (a term of zero: claimable at once); one is released.
    store.renew_leases(&ids[..30], Duration::ZERO, wall()).await.unwrap();
    store.release_lease(&ids[0]).await.unwrap();
    let first = claim(20).await;
    let second = claim(100).await;
    assert_eq!(first.len(), 20, "a claim takes at most its limit");
    assert_eq!(second.len(), 9, "the rest");
    let mut all: Vec<SessionId> = first.into_iter().chain(second).collect();
    all.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut expected = ids[1..30].to_vec();
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(all, expected, "each once, none released, none still in its term");
    assert!(claim(100).await.is_empty(), "a claim renews what it took for the term");
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
        /// Every case on a Redis Cluster of three masters: each script and pipeline must
        /// stay in one slot, and work across slots must still be complete.
        mod cluster {
            $(
                #[tokio::test]
                async fn $case() {
                    let cluster = viva_testkit::RedisCluster::start(3, 0);
                    let url = cluster.url();
                    let store = viva_engine::store::RedisStore::connect(&url, std::time::Duration::from_secs(2));
                    super::$case(&store.await.unwrap()).await;
                }
            )*
        }
    };
}

contract![
    leases_run_out_and_each_is_claimed_by_one_sweep,
    single_use_tokens_are_used_once_until_they_expire,
    a_shared_secret_is_the_same_for_every_caller,
    webhook_messages_are_stored_with_their_events_and_claimed_once,
    a_refused_append_stores_no_webhook,
    dead_letters_are_listed_and_redriven,
    webhooks_go_with_their_session,
    endpoints_are_switched_off_and_on,
    progress_is_kept_per_session_while_indexed_and_goes_with_the_user,
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

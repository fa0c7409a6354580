//! The Redis store against a real `redis-server`: whole interviews that outlive the engine that
//! ran them, two engines on one session, Redis going away. The store's own contract (the log,
//! snapshots, fencing, the user index, deletion, retention) is `store_contract.rs`, run
//! against both stores.

use std::sync::Arc;
use std::time::Duration;

use viva_engine::core::{Candidate, SessionId, UserId};
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::store::{RedisStore, SessionMeta, Store, StoreError};
use viva_engine::time::Timestamp;
use viva_engine::{Engine, EngineConfig, Next, ResumeUpload};
use viva_protocol::{ClientMessage, CloseCode, ServerMessage};
use viva_testkit::RedisServer;

async fn store(redis: &RedisServer) -> Arc<RedisStore> {
    Arc::new(RedisStore::connect(&redis.url(), Duration::from_secs(2)).await.unwrap())
}

fn engine(store: Arc<RedisStore>) -> Engine {
    engine_with(EngineConfig::default(), store)
}

fn engine_with(config: EngineConfig, store: Arc<RedisStore>) -> Engine {
    Engine::builder()
        .config(config)
        .store(store)
        .interviewer(Arc::new(ScriptedInterviewer::new(Duration::ZERO)))
        .build()
}

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

/// Plays an interview through an engine to its end, answering every question.
async fn interview(engine: &Engine, user: &UserId, session: &SessionId) -> Vec<ServerMessage> {
    let plan = engine.plans().get("senior-backend").unwrap().clone();
    let mut connection = engine.connect(user, session, Some(0)).await.unwrap();
    // The greeting (session.ready, then the replay) comes first through `next`, like the rest.
    let mut seen = Vec::new();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    let mut asked = std::collections::HashMap::new();
    loop {
        match connection.next().await {
            Next::Message(message) => {
                match &message {
                    ServerMessage::TurnStarted(t) => {
                        asked.insert(t.turn_id, (t.kind, t.question_id.clone()));
                    }
                    ServerMessage::TurnDone(d) => {
                        if let Some((kind, Some(q))) = asked.get(&d.turn_id) {
                            if kind.awaits_answer() {
                                let question = plan.question(q).unwrap();
                                let words: Vec<_> = question.key_points.iter().map(|k| k.keywords[0].clone()).collect();
                                let text = format!("I would use {} and measure p99 at 20 ms.", words.join(" and "));
                                let id = format!("a{}", d.turn_id);
                                connection.send(ClientMessage::AnswerSubmit { id: Some(id), text }).await.unwrap();
                            }
                        }
                    }
                    _ => {}
                }
                seen.push(message);
            }
            Next::Close(code) => {
                assert_eq!(code, CloseCode::Normal);
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn an_interview_outlives_the_engine_that_ran_it() {
    let redis = RedisServer::start();
    let first = engine(store(&redis).await);
    let created = first.create_session(&"dana".into(), "senior-backend", Default::default()).await.unwrap();
    let seen = interview(&first, &"dana".into(), &created.session_id).await;
    let report = first.report(&"dana".into(), &created.session_id).await.unwrap();

    // Another engine (another process, another node) on the same Redis sees the same session.
    let second = engine(store(&redis).await);
    assert_eq!(second.report(&"dana".into(), &created.session_id).await.unwrap(), report);
    let view = second.view(&"dana".into(), &created.session_id).await.unwrap();
    assert_eq!(view.last_seq, seen.iter().filter_map(ServerMessage::seq).max().unwrap());
    let mine = second.sessions_of(&"dana".into(), Default::default()).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    let mut late = second.connect(&"dana".into(), &created.session_id, Some(0)).await.unwrap();
    let mut greeting = Vec::new();
    let close = loop {
        match late.next().await {
            Next::Message(message) => greeting.push(message),
            Next::Close(code) => break code,
        }
    };
    assert!(matches!(greeting.first(), Some(ServerMessage::SessionReady(ready)) if ready.resumed));
    let replayed: Vec<_> = greeting.iter().filter_map(ServerMessage::seq).collect();
    assert_eq!(replayed, (1..=view.last_seq).collect::<Vec<_>>());
    assert_eq!(close, CloseCode::Normal);
}

#[tokio::test]
async fn two_engines_never_both_write_one_session() {
    let redis = RedisServer::start();
    let config = EngineConfig::default();
    let a = Engine::builder().config(config.clone()).store(store(&redis).await).build();
    let b = engine(store(&redis).await);
    let created = a.create_session(&"erin".into(), "senior-backend", Default::default()).await.unwrap();
    let mut on_a = a.connect(&"erin".into(), &created.session_id, None).await.unwrap();
    // B loads the session for a client: a new epoch. A hears of it at once (the store's
    // notice) and closes its client as replaced (4009), writing nothing more; had the notice
    // been missed, A's next write would be refused by Redis (4011).
    let mut on_b = b.connect(&"erin".into(), &created.session_id, Some(0)).await.unwrap();
    assert!(matches!(on_b.next().await, Next::Message(ServerMessage::SessionReady(_))));
    let close = loop {
        match on_a.next().await {
            // Its own greeting, if it was sent before the close.
            Next::Message(ServerMessage::SessionReady(_)) => continue,
            other => break other,
        }
    };
    assert_eq!(close, Next::Close(CloseCode::Replaced), "closed without a word from its client");
    on_b.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    assert!(matches!(on_b.next().await, Next::Message(ServerMessage::TurnStarted(_))), "B runs it");
    let view = b.view(&"erin".into(), &created.session_id).await.unwrap();
    assert!(view.last_seq >= 1);
}

#[tokio::test]
async fn a_stale_owner_that_missed_the_notice_is_fenced_at_its_next_write() {
    let redis = RedisServer::start();
    let a = engine(store(&redis).await);
    let created = a.create_session(&"fay".into(), "senior-backend", Default::default()).await.unwrap();
    let mut on_a = a.connect(&"fay".into(), &created.session_id, None).await.unwrap();
    assert!(matches!(on_a.next().await, Next::Message(ServerMessage::SessionReady(_))));
    // Another owner takes an epoch without telling anyone (a notice lost to a network stall).
    let store = store(&redis).await;
    store.acquire(&created.session_id).await.unwrap();
    on_a.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    assert_eq!(on_a.next().await, Next::Close(CloseCode::Moved));
    let view = a.view(&"fay".into(), &created.session_id).await.unwrap();
    assert_eq!(view.last_seq, 0, "nothing A tried to write after losing the session is in the log");
}

#[tokio::test]
async fn redis_going_away_is_an_error_and_coming_back_is_noticed() {
    let mut redis = RedisServer::start();
    let store = store(&redis).await;
    store.ping().await.unwrap();
    redis.kill();
    assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))));
    assert!(matches!(store.create(&meta("s9", "fay", 1), None).await, Err(StoreError::Unavailable(_))));
    redis.restart();
    // The connection comes back by itself (a few attempts while Redis starts listening).
    let mut back = false;
    for _ in 0..50 {
        if store.ping().await.is_ok() {
            back = true;
            break;
        }
        // Polls a real process coming back up (bounded: 50 tries); no timing is asserted.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "reconnected");
    store.create(&meta("s9", "fay", 1), None).await.unwrap();
}

/// Every key of Redis, but the ones no user owns.
fn keys(redis: &RedisServer) -> Vec<String> {
    redis.cli(&["--scan"]).lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn deleting_a_user_deletes_their_minutes_even_with_metering_off() {
    use viva_engine::meter::{Meter, RedisMeter};
    let redis = RedisServer::start();
    let store = store(&redis).await;
    let meter = RedisMeter::new(store.connection());
    let user: UserId = "gil".into();
    meter.credit(&user, 60, "grant", None, Timestamp(0)).await.unwrap();
    meter.reserve(&user, &"s1".into(), 30, Duration::from_secs(60), Timestamp(0)).await.unwrap();
    meter.settle(&user, &"s1".into(), "s1:0", 5, Default::default(), Timestamp(0)).await.unwrap();
    assert_eq!(keys(&redis).len(), 4, "{:?}", keys(&redis));
    // An engine without metering: the store deletes them all the same.
    engine(store).delete_user(&user).await.unwrap();
    assert_eq!(keys(&redis), Vec::<String>::new());
}

#[tokio::test]
async fn a_kept_resume_is_used_by_new_sessions_exported_and_deleted_with_its_user() {
    let redis = RedisServer::start();
    let engine = engine(store(&redis).await);
    let user: UserId = "hal".into();
    let upload = ResumeUpload {
        text: "Built Kafka pipelines. Designed a token bucket rate limiter.".into(),
        truncated: false,
        file_name: "cv.pdf".into(),
        media_type: "application/pdf".into(),
        size_bytes: 2_048,
    };
    let kept = engine.put_resume(&user, upload).await.unwrap();
    assert!(kept.skills.iter().any(|s| s == "kafka"), "{kept:?}");
    assert_eq!(keys(&redis), ["viva:{u:hal}:resume"]);
    // A session created without a résumé gets the kept one; one with its own keeps its own.
    let by_default = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
    assert_eq!(by_default.candidate.resume_text.as_deref(), Some(kept_text()));
    let own = Candidate { resume_text: Some("Go.".into()), ..Default::default() };
    let given = engine.create_session(&user, "senior-backend", own).await.unwrap();
    assert_eq!(given.candidate.resume_text.as_deref(), Some("Go."));
    let export = engine.export(&user).await.unwrap();
    let exported = export.resume.expect("the résumé is exported");
    assert_eq!((exported.text.as_str(), exported.file_name.as_str()), (kept_text(), "cv.pdf"));
    assert!(exported.skills.iter().any(|s| s == "token bucket"), "{exported:?}");

    engine.delete_user(&user).await.unwrap();
    assert_eq!(keys(&redis), Vec::<String>::new(), "no key of the user is left");
    assert_eq!(engine.resume(&user).await.unwrap(), None);
}

fn kept_text() -> &'static str {
    "Built Kafka pipelines. Designed a token bucket rate limiter."
}

#[tokio::test]
async fn deleting_a_user_wins_every_race_with_a_reconnect_elsewhere() {
    let redis = RedisServer::start();
    // Two engines (two nodes) on one Redis: A runs the session and deletes the user while B
    // loads the session for a reconnect and starts it.
    let (a, b) = (engine(store(&redis).await), engine(store(&redis).await));
    for trial in 0..30 {
        let user = UserId::new(format!("racer-{trial}"));
        let created = a.create_session(&user, "senior-backend", Default::default()).await.unwrap();
        let on_a = a.connect(&user, &created.session_id, None).await.unwrap();
        on_a.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
        let reconnect = async {
            // Half the trials give the delete a head start, half the reconnect.
            if trial % 2 == 0 {
                tokio::task::yield_now().await;
            }
            let mut on_b = b.connect(&user, &created.session_id, Some(0)).await.ok()?;
            // B's load writes (the turn A had in flight is closed and asked again); the pong
            // comes after them, or B lets go (fenced: closed).
            let _ = on_b.send(ClientMessage::Ping { id: Some("p".into()) }).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Next::Message(message) = on_b.next().await {
                    if matches!(message, ServerMessage::Pong(_)) {
                        break;
                    }
                }
            })
            .await;
            Some(on_b)
        };
        let (deleted, on_b) = tokio::join!(a.delete_user(&user), reconnect);
        deleted.unwrap();
        // Whatever either engine still tries, nothing of the user comes back: B answers.
        if let Some(mut on_b) = on_b {
            let answer = ClientMessage::AnswerSubmit { id: Some("late".into()), text: "After the delete.".into() };
            let _ = on_b.send(answer).await;
            let _ = on_b.send(ClientMessage::SessionEnd { id: None }).await;
            // Ending writes; refused, B lets go and closes (bounded: a hang fails the test).
            let closed = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if let Next::Close(code) = on_b.next().await {
                        return code;
                    }
                }
            });
            assert_ne!(closed.await.expect("B lets go of the deleted session"), CloseCode::Normal, "trial {trial}");
        }
        drop(on_a);
        let left: Vec<String> = keys(&redis)
            .into_iter()
            .filter(|k| k.contains(created.session_id.as_str()) || k.contains(user.as_str()))
            .collect();
        assert_eq!(left, Vec::<String>::new(), "trial {trial}");
    }
}

#[tokio::test]
async fn damaged_sessions_are_reported_and_the_rest_are_listed_page_by_page_and_exported() {
    use viva_engine::Page;
    let redis = RedisServer::start();
    let engine = engine(store(&redis).await);
    let user = UserId::new("erin");
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(engine.create_session(&user, "senior-backend", Default::default()).await.unwrap().session_id);
    }
    // Damaged on disk: one session's metadata, another's snapshot.
    redis.cli(&["SET", &format!("viva:{{{}}}:meta", created[1]), "not msgpack"]);
    redis.cli(&["SET", &format!("viva:{{{}}}:snap", created[4]), "not msgpack"]);
    let damaged = [created[1].to_string(), created[4].to_string()];

    // Pages of 2 cover every readable session once, newest first, and report the damaged ones.
    let (mut listed, mut unreadable, mut cursor) = (Vec::new(), Vec::new(), None);
    for _ in 0..10 {
        let page = engine.sessions_of(&user, Page { cursor: cursor.take(), limit: 2 }).await.unwrap();
        assert!(page.items.len() <= 2);
        listed.extend(page.items.iter().map(|s| (s.created_at, s.session_id.clone())));
        unreadable.extend(page.unreadable);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let mut expected: Vec<(u64, String)> = listed.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, expected, "newest first across pages");
    unreadable.sort();
    let mut want = damaged.to_vec();
    want.sort();
    assert_eq!(unreadable, want);
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|(_, id)| !damaged.contains(id)));

    // The export has the same five, and names the damaged two.
    let export = engine.export(&user).await.unwrap();
    assert_eq!(export.sessions.len(), 5);
    let mut unreadable = export.unreadable.clone();
    unreadable.sort();
    assert_eq!(unreadable, want);

    // A cursor this server did not make is a bad request, and so is a limit out of range.
    for page in [Page { cursor: Some("nonsense".into()), limit: 2 }, Page { cursor: None, limit: 0 }] {
        assert!(matches!(engine.sessions_of(&user, page).await, Err(viva_engine::EngineError::BadRequest(_))));
    }
}

#[tokio::test]
async fn deleting_a_user_wins_every_race_with_a_creation_elsewhere() {
    // A creation racing the deletion on another node left a session's metadata behind that no
    // index listed (so export, deletion and retention never found it). Now either the
    // session is indexed (created after the deletion: the user's new data), or nothing of it
    // is left.
    let redis = RedisServer::start();
    let (a, b) = (engine(store(&redis).await), engine(store(&redis).await));
    for trial in 0..40 {
        let user = UserId::new(format!("creator-{trial}"));
        a.create_session(&user, "senior-backend", Default::default()).await.unwrap();
        let create = async {
            for _ in 0..trial % 4 {
                tokio::task::yield_now().await;
            }
            b.create_session(&user, "senior-backend", Default::default()).await.ok()
        };
        let (deleted, created) = tokio::join!(a.delete_user(&user), create);
        deleted.unwrap();
        let listed: Vec<String> = redis
            .cli(&["zrange", &format!("viva:{{u:{user}}}:sessions"), "0", "-1"])
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect();
        let metas: Vec<String> = keys(&redis).into_iter().filter(|k| k.ends_with(":meta")).collect();
        for meta in &metas {
            let id = meta.trim_start_matches("viva:{").trim_end_matches("}:meta");
            assert!(listed.iter().any(|l| l == id), "trial {trial}: {meta} is in no index ({listed:?})");
        }
        if let Some(created) = created {
            // What survived is the new session, and it is the user's to find and delete.
            assert!(metas.iter().all(|m| m.contains(created.session_id.as_str())), "trial {trial}: {metas:?}");
        }
        a.delete_user(&user).await.unwrap();
    }
}

/// Entries in a session's log on one server.
fn log_length(redis: &RedisServer, session: &SessionId) -> u64 {
    redis.cli(&["XLEN", &format!("viva:{{{session}}}:log")]).trim().parse().unwrap()
}

/// Waits for the next message that `pick` takes, through an engine connection.
async fn until<T>(connection: &mut viva_engine::Connection, pick: impl Fn(&ServerMessage) -> Option<T>) -> T {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), connection.next()).await.expect("a message in time") {
            Next::Message(message) => {
                if let Some(found) = pick(&message) {
                    return found;
                }
            }
            other => panic!("closed while waiting: {other:?}"),
        }
    }
}

/// With replicas to wait for (`--store-wait-replicas 1`), events are acknowledged only once a
/// replica has them: a master's failover then loses nothing acknowledged. With the replica
/// gone, an answer freezes the session (`store_unavailable`: on the master, unconfirmed); when
/// the replica is back the batch is confirmed, acknowledged, and in the log once.
#[tokio::test]
async fn with_a_replica_to_wait_for_an_answer_is_acknowledged_once_the_replica_has_it() {
    let master = RedisServer::start();
    let mut replica = RedisServer::replica_of(&master);
    let store = RedisStore::connect(&master.url(), Duration::from_secs(1)).await.unwrap().wait_for_replicas(1);
    let engine = engine(Arc::new(store));
    let user: UserId = "gil".into();
    let created = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap();
    let session = created.session_id;
    let mut connection = engine.connect(&user, &session, None).await.unwrap();
    connection.send(ClientMessage::SessionStart { id: None, voice: None }).await.unwrap();
    let head = until(&mut connection, |m| match m {
        ServerMessage::TurnDone(d) if d.turn_id == 2 => Some(d.seq),
        _ => None,
    })
    .await;
    assert_eq!(log_length(&replica, &session), head, "everything acknowledged is on the replica");

    replica.kill();
    let answer = ClientMessage::AnswerSubmit { id: Some("a1".into()), text: "I would use a cache.".into() };
    connection.send(answer).await.unwrap();
    until(&mut connection, |m| match m {
        ServerMessage::Error(e) if e.code == viva_protocol::ErrorCode::StoreUnavailable => Some(()),
        ServerMessage::AnswerReceived(_) => panic!("acknowledged with no replica to confirm it"),
        _ => None,
    })
    .await;
    assert!(log_length(&master, &session) > head, "on the master, not acknowledged");
    replica.restart();
    let received = until(&mut connection, |m| match m {
        ServerMessage::AnswerReceived(r) => Some(r.seq),
        _ => None,
    })
    .await;
    assert_eq!(received, head + 1, "the answer's batch, acknowledged once confirmed");
    assert!(log_length(&replica, &session) >= received, "and on the replica");
    let view = engine.view(&user, &session).await.unwrap();
    let answers = view.transcript.iter().filter(|e| matches!(e, viva_protocol::state::TranscriptEntry::Answer { .. }));
    assert_eq!(answers.count(), 1, "stored once");
}

/// Everything the REST routes read of a session, the export's own time left out.
async fn everything_read(
    engine: &Engine,
    user: &UserId,
    session: &SessionId,
) -> (
    viva_protocol::rest::SessionView,
    Vec<ServerMessage>,
    Vec<(u64, ClientMessage)>,
    viva_protocol::rest::Report,
    viva_protocol::rest::Export,
) {
    let mut export = engine.export(user).await.unwrap();
    export.exported_at = 0;
    (
        engine.view(user, session).await.unwrap(),
        engine.events(user, session).await.unwrap(),
        engine.recording(user, session).await.unwrap(),
        engine.report(user, session).await.unwrap(),
        export,
    )
}

/// The memory a session's keys take in Redis.
fn session_bytes(redis: &RedisServer, session: &SessionId) -> u64 {
    let mine = keys(redis).into_iter().filter(|k| k.contains(session.as_str()));
    mine.map(|k| redis.cli(&["MEMORY", "USAGE", &k]).trim().parse::<u64>().unwrap()).sum()
}

fn exists(redis: &RedisServer, key: &str) -> bool {
    redis.cli(&["EXISTS", key]).trim() == "1"
}

#[tokio::test]
async fn a_compacted_interview_reads_as_before_and_is_deleted_with_its_user() {
    let redis = RedisServer::start();
    let store = store(&redis).await;
    let engine = engine_with(EngineConfig { compact_finished: false, ..EngineConfig::default() }, store.clone());
    let user: UserId = "hal".into();
    let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap().session_id;
    interview(&engine, &user, &session).await;
    let key = |suffix: &str| format!("viva:{{{session}}}:{suffix}");
    let before = everything_read(&engine, &user, &session).await;
    assert!(exists(&redis, &key("log")) && !exists(&redis, &key("archive")), "not compacted when off");
    let streamed = session_bytes(&redis, &session);
    let events = log_length(&redis, &session);
    assert!(events > 10, "a whole interview: {events} events");

    let stale = store.acquire(&session).await.unwrap();
    let epoch = store.acquire(&session).await.unwrap();
    assert_eq!(store.compact(&session, stale).await, Err(StoreError::Fenced { epoch: stale, current: epoch }));
    assert_eq!(log_length(&redis, &session), events, "a refused compaction leaves the log");
    store.compact(&session, epoch).await.unwrap();
    assert!(!exists(&redis, &key("log")) && !exists(&redis, &key("snap")) && exists(&redis, &key("archive")));
    let writers = redis.cli(&["HGET", &key("archive"), "w"]);
    assert_eq!(writers.trim().split(',').count() as u64, events, "a writer per entry: {writers}");
    assert!(writers.trim().split(',').all(|w| w.parse::<u64>().unwrap() > 0), "{writers}");

    assert_eq!(everything_read(&engine, &user, &session).await, before, "the same read from the archive");
    let compacted = session_bytes(&redis, &session);
    assert!(compacted <= 8 * 1024, "the compacted session takes {compacted} bytes ({streamed} before)");
    let loaded = store.load(&session).await.unwrap().unwrap();
    assert!(loaded.snapshot.is_none());
    assert_eq!(loaded.tail.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=events).collect::<Vec<_>>());
    let after = store.read_log(&session, events - 2).await.unwrap().unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![events - 1, events]);
    store.compact(&session, epoch).await.unwrap(); // compacted already: nothing to do
    // A driver unloading the session snapshots it: no snapshot comes back beside the archive.
    store.save_snapshot(&session, epoch, &viva_engine::core::State::fold(&loaded.tail)).await.unwrap();
    assert!(!exists(&redis, &key("snap")));

    engine.delete_user(&user).await.unwrap();
    assert_eq!(
        keys(&redis).into_iter().filter(|k| k.contains(session.as_str())).collect::<Vec<_>>(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_finished_interview_is_compacted_by_its_engine_and_keeps_its_retention() {
    let redis = RedisServer::start();
    let retention = Duration::from_secs(3_600);
    let engine =
        engine_with(EngineConfig { retention: Some(retention), ..EngineConfig::default() }, store(&redis).await);
    let user: UserId = "ida".into();
    let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap().session_id;
    interview(&engine, &user, &session).await;
    let key = |suffix: &str| format!("viva:{{{session}}}:{suffix}");
    // Compacted right after the end, which the client may hear of first.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while exists(&redis, &key("log")) {
        assert!(std::time::Instant::now() < deadline, "never compacted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(exists(&redis, &key("archive")) && !exists(&redis, &key("snap")));
    let ttl: i64 = redis.cli(&["PTTL", &key("archive")]).trim().parse().unwrap();
    assert!(ttl > 0 && ttl <= retention.as_millis() as i64, "the archive expires with the session ({ttl} ms)");
    assert!(engine.report(&user, &session).await.is_ok());
}

#[tokio::test]
async fn a_corrupt_archive_is_an_error_not_a_panic() {
    use std::io::Write;
    let redis = RedisServer::start();
    let store = store(&redis).await;
    let engine = engine(store.clone());
    let user: UserId = "jo".into();
    let session = engine.create_session(&user, "senior-backend", Default::default()).await.unwrap().session_id;
    interview(&engine, &user, &session).await;
    let epoch = store.acquire(&session).await.unwrap();
    store.compact(&session, epoch).await.unwrap();
    let archive = format!("viva:{{{session}}}:archive");
    let set_data = |data: Vec<u8>| {
        let (mut connection, archive) = (store.connection(), archive.clone());
        async move {
            let () = redis::cmd("HSET").arg(&archive).arg("data").arg(data).query_async(&mut connection).await.unwrap();
        }
    };
    let corrupt = |result: Result<_, StoreError>| matches!(result, Err(StoreError::Corrupt(_)));

    set_data(b"garbage".to_vec()).await;
    assert!(corrupt(store.load(&session).await.map(drop)));
    assert!(corrupt(store.read_log(&session, 0).await.map(drop)));
    assert!(engine.view(&user, &session).await.is_err());

    // Inflating past the bound is refused before it takes the memory.
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(&vec![0; 17 * 1024 * 1024]).unwrap();
    set_data(deflater.finish().unwrap()).await;
    let refused = store.read_log(&session, 0).await;
    assert!(matches!(&refused, Err(StoreError::Corrupt(why)) if why.contains("inflates past")), "{refused:?}");
}

//! The `Meter` contract: the same cases against the in-memory meter and the Redis one (a real
//! `redis-server` per case). Reservations never take more than the balance, settlements and
//! credits apply once per key, the ledger adds up to exactly what moved, and many concurrent
//! calls with repeated keys give exact totals.

use std::sync::Arc;
use std::time::Duration;

use viva_engine::core::{SessionId, UserId};
use viva_engine::meter::{AudioMs, EntryKind, MAX_CREDIT_S, MemoryMeter, Meter, MeterError, RedisMeter};
use viva_engine::store::RedisStore;
use viva_engine::time::Timestamp;
use viva_testkit::RedisServer;

const T0: Timestamp = Timestamp(1_800_000_000_000);
const TTL: Duration = Duration::from_secs(60);
const NO_AUDIO: AudioMs = AudioMs { input_ms: 0, output_ms: 0 };

fn user(name: &str) -> UserId {
    name.into()
}

fn session(name: &str) -> SessionId {
    name.into()
}

async fn reservations_take_at_most_the_balance_and_release_gives_the_rest_back(meter: &dyn Meter) {
    let ann = user("ann");
    assert_eq!(meter.reserve(&ann, &session("s1"), 30, TTL, T0).await.unwrap().granted_s, 0, "no balance yet");
    let credited = meter.credit(&ann, 90, "buy-1", Some("starter pack"), T0).await.unwrap();
    assert_eq!((credited.balance_s, credited.duplicate), (90, false));

    let first = meter.reserve(&ann, &session("s1"), 30, TTL, T0).await.unwrap();
    assert_eq!((first.granted_s, first.held_s, first.balance_s), (30, 30, 60));
    // A second tab: its own hold from the same balance.
    let second = meter.reserve(&ann, &session("s2"), 50, TTL, T0).await.unwrap();
    assert_eq!((second.granted_s, second.held_s, second.balance_s), (50, 50, 10));
    let third = meter.reserve(&ann, &session("s1"), 30, TTL, T0.plus_ms(30_000)).await.unwrap();
    assert_eq!((third.granted_s, third.held_s, third.balance_s), (10, 40, 0), "what is left, no more");

    let holds = meter.holds(&ann).await.unwrap();
    assert_eq!(holds.iter().map(|h| (h.session_id.as_str(), h.held_s)).collect::<Vec<_>>(), [("s1", 40), ("s2", 50)]);
    assert_eq!(holds[0].expires_at, T0.plus_ms(90_000), "renewed by the last reservation");

    // s2 used 20 s of its 50: settled, then the rest comes back.
    assert_eq!(meter.settle(&ann, &session("s2"), "s2:0", 20, NO_AUDIO, T0).await.unwrap().debited_s, 20);
    let s2 = meter.holds(&ann).await.unwrap().into_iter().find(|h| h.session_id.as_str() == "s2").unwrap();
    assert_eq!((s2.held_s, s2.settled_s), (30, 20), "the hold knows what its session was charged");
    assert_eq!(meter.release(&ann, &session("s2")).await.unwrap(), 30);
    assert_eq!(meter.release(&ann, &session("s2")).await.unwrap(), 0, "released once");
    let usage = meter.usage(&ann, None, 10).await.unwrap();
    assert_eq!((usage.balance_s, usage.held_s), (30, 40));
}

async fn settlements_and_credits_apply_once_per_key(meter: &dyn Meter) {
    let bob = user("bob");
    meter.credit(&bob, 100, "grant", None, T0).await.unwrap();
    let again = meter.credit(&bob, 100, "grant", None, T0).await.unwrap();
    assert_eq!((again.balance_s, again.duplicate), (100, true), "the same answer, nothing added");
    meter.reserve(&bob, &session("s"), 30, TTL, T0).await.unwrap();
    let settled = meter.settle(&bob, &session("s"), "s:0", 25, NO_AUDIO, T0).await.unwrap();
    assert_eq!((settled.debited_s, settled.duplicate), (25, false));
    let repeated = meter.settle(&bob, &session("s"), "s:0", 25, NO_AUDIO, T0).await.unwrap();
    assert_eq!((repeated.debited_s, repeated.duplicate), (25, true));
    // More than held is debited only up to the hold: a session never spends what it did not reserve.
    assert_eq!(meter.settle(&bob, &session("s"), "s:1", 40, NO_AUDIO, T0).await.unwrap().debited_s, 5);
    // A settlement for a session holding nothing debits nothing.
    assert_eq!(meter.settle(&bob, &session("other"), "other:0", 10, NO_AUDIO, T0).await.unwrap().debited_s, 0);

    let usage = meter.usage(&bob, None, 10).await.unwrap();
    assert_eq!((usage.balance_s, usage.held_s), (70, 0));
    let lines: Vec<(EntryKind, u64, &str)> =
        usage.entries.iter().map(|e| (e.kind, e.seconds, e.key.as_str())).collect();
    assert_eq!(lines, [(EntryKind::Debit, 5, "s:1"), (EntryKind::Debit, 25, "s:0"), (EntryKind::Credit, 100, "grant")]);
    assert_eq!(usage.entries[0].session_id.as_ref().map(SessionId::as_str), Some("s"));
}

async fn a_voice_debit_keeps_the_audio_it_moved(meter: &dyn Meter) {
    let vic = user("vic");
    meter.credit(&vic, 60, "grant", None, T0).await.unwrap();
    meter.reserve(&vic, &session("v"), 30, TTL, T0).await.unwrap();
    let voice = AudioMs { input_ms: 1_500, output_ms: 2_250 };
    meter.settle(&vic, &session("v"), "v:0", 4, voice, T0).await.unwrap();
    meter.settle(&vic, &session("v"), "v:4", 3, NO_AUDIO, T0).await.unwrap();
    let audio: Vec<AudioMs> = meter.usage(&vic, None, 10).await.unwrap().entries.iter().map(|e| e.audio).collect();
    assert_eq!(audio, [NO_AUDIO, voice, NO_AUDIO], "newest first: the text debit, the voice one, the credit");
}

async fn a_sweep_finds_every_expired_hold_and_only_those(meter: &dyn Meter) {
    for n in 0..30 {
        let user = user(&format!("u{n}"));
        meter.credit(&user, 100, "grant", None, T0).await.unwrap();
        // Even users' holds were renewed late (alive), odd ones' long ago (their node died).
        let at = if n % 2 == 0 { T0.plus_ms(100_000) } else { T0 };
        meter.reserve(&user, &session(&format!("s{n}")), 30, TTL, at).await.unwrap();
    }
    let now = T0.plus_ms(90_000);
    let (mut found, mut cursor, mut steps) = (Vec::new(), 0, 0);
    loop {
        let (expired, next) = meter.expired_holds(cursor, 7, now).await.unwrap();
        found.extend(expired.into_iter().map(|(user, hold)| (user.to_string(), hold.session_id.to_string())));
        steps += 1;
        cursor = next;
        if cursor == 0 || steps > 1_000 {
            break;
        }
    }
    found.sort();
    found.dedup();
    let mut expected: Vec<(String, String)> =
        (0..30).filter(|n| n % 2 == 1).map(|n| (format!("u{n}"), format!("s{n}"))).collect();
    expected.sort();
    assert_eq!(found, expected);
}

async fn bad_requests_are_refused_and_apply_nothing(meter: &dyn Meter) {
    let cat = user("cat");
    for seconds in [0, MAX_CREDIT_S + 1, u64::MAX] {
        assert!(matches!(meter.credit(&cat, seconds, "k", None, T0).await, Err(MeterError::Invalid(_))), "{seconds}");
    }
    for key in ["", "a\nb", &"k".repeat(201)] {
        assert!(matches!(meter.credit(&cat, 10, key, None, T0).await, Err(MeterError::Invalid(_))), "{key:?}");
        assert!(matches!(meter.settle(&cat, &session("s"), key, 1, NO_AUDIO, T0).await, Err(MeterError::Invalid(_))));
    }
    assert!(matches!(meter.usage(&cat, Some("not a cursor"), 10).await, Err(MeterError::Invalid(_))));
    let usage = meter.usage(&cat, None, 10).await.unwrap();
    assert_eq!((usage.balance_s, usage.entries.len()), (0, 0), "nothing applied");
    // The largest credit, twice: no overflow.
    meter.credit(&cat, MAX_CREDIT_S, "big-1", None, T0).await.unwrap();
    assert_eq!(meter.credit(&cat, MAX_CREDIT_S, "big-2", None, T0).await.unwrap().balance_s, 2 * MAX_CREDIT_S);
}

async fn the_ledger_pages_newest_first_and_deletion_forgets_everything(meter: &dyn Meter) {
    let dan = user("dan");
    for n in 0..7u64 {
        meter.credit(&dan, n + 1, &format!("k{n}"), None, T0.plus_ms(n)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = meter.usage(&dan, cursor.as_deref(), 3).await.unwrap();
        assert!(page.entries.len() <= 3);
        seen.extend(page.entries.iter().map(|e| e.seconds));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, [7, 6, 5, 4, 3, 2, 1], "every entry once, newest first");
    assert_eq!(meter.usage(&dan, None, 0).await.unwrap().entries.len(), 1, "a page holds one at least");

    meter.reserve(&dan, &session("s"), 10, TTL, T0).await.unwrap();
    meter.delete_user(&dan).await.unwrap();
    let usage = meter.usage(&dan, None, 10).await.unwrap();
    assert_eq!((usage.balance_s, usage.held_s, usage.entries.len()), (0, 0, 0));
    assert!(meter.holds(&dan).await.unwrap().is_empty());
    // Keys are forgotten too: the same key credits again.
    assert!(!meter.credit(&dan, 5, "k0", None, T0).await.unwrap().duplicate);
}

/// 200 concurrent calls: credits and settlements, each key sent twice, at once.
async fn concurrent_calls_with_repeated_keys_give_exact_totals(meter: Arc<dyn Meter>) {
    let eve = user("eve");
    meter.credit(&eve, 10_000, "seed", None, T0).await.unwrap();
    meter.reserve(&eve, &session("s"), 5_000, TTL, T0).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..100u64 {
        for _ in 0..2 {
            let (meter, eve) = (Arc::clone(&meter), eve.clone());
            tasks.push(tokio::spawn(async move {
                if n % 2 == 0 {
                    meter.credit(&eve, 3, &format!("c{n}"), None, T0).await.map(drop)
                } else {
                    meter.settle(&eve, &session("s"), &format!("s:{n}"), 7, NO_AUDIO, T0).await.map(drop)
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // 50 credits of 3 s and 50 debits of 7 s, each once.
    let usage = meter.usage(&eve, None, 200).await.unwrap();
    assert_eq!((usage.balance_s, usage.held_s), (10_000 - 5_000 + 150, 5_000 - 350));
    let credits: u64 = usage.entries.iter().filter(|e| e.kind == EntryKind::Credit).map(|e| e.seconds).sum();
    let debits: u64 = usage.entries.iter().filter(|e| e.kind == EntryKind::Debit).map(|e| e.seconds).sum();
    assert_eq!((credits, debits, usage.entries.len()), (10_150, 350, 101));
}

async fn redis(server: &RedisServer) -> RedisMeter {
    let store = RedisStore::connect(&server.url(), Duration::from_secs(2)).await.unwrap();
    RedisMeter::new(store.connection())
}

/// Each case once per meter.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let meter: std::sync::Arc<dyn viva_engine::meter::Meter> =
                        std::sync::Arc::new(viva_engine::meter::MemoryMeter::new());
                    super::$case(meter.as_ref()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let server = viva_testkit::RedisServer::start();
                    let meter: std::sync::Arc<dyn viva_engine::meter::Meter> =
                        std::sync::Arc::new(super::redis(&server).await);
                    super::$case(meter.as_ref()).await;
                }
            )*
        }
        /// On a three-master Redis Cluster: the sweep scans every master.
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let cluster = viva_testkit::RedisCluster::start(3, 0);
                    let url = cluster.url();
                    let store = viva_engine::store::RedisStore::connect(&url, std::time::Duration::from_secs(2)).await.unwrap();
                    let meter: std::sync::Arc<dyn viva_engine::meter::Meter> =
                        std::sync::Arc::new(viva_engine::meter::RedisMeter::new(store.connection()));
                    super::$case(meter.as_ref()).await;
                }
            )*
        }
    };
}

contract![
    a_sweep_finds_every_expired_hold_and_only_those,
    a_voice_debit_keeps_the_audio_it_moved,
    reservations_take_at_most_the_balance_and_release_gives_the_rest_back,
    settlements_and_credits_apply_once_per_key,
    bad_requests_are_refused_and_apply_nothing,
    the_ledger_pages_newest_first_and_deletion_forgets_everything,
];

mod concurrency {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        super::concurrent_calls_with_repeated_keys_give_exact_totals(std::sync::Arc::new(super::MemoryMeter::new()))
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis() {
        let server = viva_testkit::RedisServer::start();
        super::concurrent_calls_with_repeated_keys_give_exact_totals(std::sync::Arc::new(super::redis(&server).await))
            .await;
    }
}

//! Admission to the provider: which call may send its request now, and in what order the
//! others wait.
//!
//! Providers limit an account's requests and tokens per minute, not its open streams; the
//! limits here are those of the account's tier, plus a bound on requests in flight (local
//! resources: a socket and a task each) and each user's share of it. Waiting calls are served
//! - turns before scores: a candidate hears the silence before a turn, while a score may
//!   arrive later (the core never holds the interview up for one);
//! - within a class, round robin over users, each user's calls in order, skipping users at
//!   their own cap: one user with many sessions never starves the rest.
//!
//! A call stops waiting at its deadline (a turn that cannot start in time is spoken by the
//! scripted interviewer instead) or when it is dropped; either way it leaves the queue at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use crate::core::UserId;

/// What calls may do, together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Requests in flight at once.
    pub(crate) max_in_flight: usize,
    /// Requests in flight at once for any one user.
    pub(crate) per_user: usize,
    /// Requests sent per minute (0: no limit).
    pub(crate) requests_per_minute: u32,
    /// Tokens (prompt and completion, estimated) per minute (0: no limit).
    pub(crate) tokens_per_minute: u32,
}

/// What a call is for; the order is the priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// An interviewer's turn: someone is waiting for it.
    Turn = 0,
    /// A score: arrives when it arrives.
    Score = 1,
}

impl Class {
    const ALL: [Self; 2] = [Self::Turn, Self::Score];

    fn label(self) -> &'static str {
        match self {
            Self::Turn => "turn",
            Self::Score => "score",
        }
    }
}

/// The call waited past its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// Shared by every call to one provider.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// Users with a call in flight or waiting (and no others: the map stays bounded by them).
    users: HashMap<UserId, User>,
    /// Per class, the users with a call of that class waiting, in round-robin order.
    turns: [VecDeque<UserId>; 2],
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    next_id: u64,
    /// A task will dispatch again when the buckets have refilled.
    timer_armed: bool,
}

#[derive(Debug, Default)]
struct User {
    in_flight: usize,
    waiting: [VecDeque<Waiter>; 2],
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    tokens: u32,
    grant: oneshot::Sender<()>,
}

/// A place in flight, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    admission: Arc<Admission>,
    user: UserId,
}

/// A call in the queue: leaves it when dropped, giving back a place granted meanwhile.
struct Waiting<'a> {
    admission: &'a Arc<Admission>,
    user: &'a UserId,
    class: Class,
    id: u64,
    grant: oneshot::Receiver<()>,
    done: bool,
}

impl Admission {
    pub(crate) fn new(limits: Limits) -> Arc<Self> {
        let limits = Limits { max_in_flight: limits.max_in_flight.max(1), per_user: limits.per_user.max(1), ..limits };
        let state = State {
            in_flight: 0,
            users: HashMap::new(),
            turns: Default::default(),
            requests: Bucket::per_minute(limits.requests_per_minute),
            tokens: Bucket::per_minute(limits.tokens_per_minute),
            next_id: 0,
            timer_armed: false,
        };
        Arc::new(Self { limits, state: Mutex::new(state) })
    }

    /// Waits for a place for one of `user`'s calls of `class`, expected to cost `tokens`,
    /// until `deadline` at the latest.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        user: &UserId,
        class: Class,
        tokens: u32,
        deadline: Option<Instant>,
    ) -> Result<Place, Busy> {
        let asked = Instant::now();
        let (grant, id) = {
            let mut state = self.lock();
            let (tx, rx) = oneshot::channel();
            let id = state.next_id;
            state.next_id += 1;
            let queue = &mut state.users.entry(user.clone()).or_default().waiting[class as usize];
            queue.push_back(Waiter { id, tokens, grant: tx });
            if queue.len() == 1 {
                state.turns[class as usize].push_back(user.clone());
            }
            self.dispatch(&mut state);
            (rx, id)
        };
        let mut waiting = Waiting { admission: self, user, class, id, grant, done: false };
        let granted = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, &mut waiting.grant).await.ok(),
            None => Some((&mut waiting.grant).await),
        };
        let label = class.label();
        metrics::histogram!("viva_llm_queue_wait_seconds", "class" => label).record(asked.elapsed());
        match granted {
            // The sender is dropped only after a grant was sent or the waiter removed: never
            // while this call waits.
            Some(Ok(())) => {
                waiting.done = true;
                Ok(Place { admission: Arc::clone(self), user: user.clone() })
            }
            Some(Err(_)) | None => {
                metrics::counter!("viva_llm_queue_timeouts_total", "class" => label).increment(1);
                Err(Busy)
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Grants places while there are places, callers eligible for one, and budget in the
    /// buckets; when only the buckets are empty, arms a timer for when they have refilled.
    fn dispatch(self: &Arc<Self>, state: &mut State) {
        let now = Instant::now();
        while state.in_flight < self.limits.max_in_flight {
            let Some((class, at)) = self.next_eligible(state) else { break };
            let user = state.turns[class as usize][at].clone();
            let queue = &state.users[&user].waiting[class as usize];
            let cost = queue.front().map_or(0, |w| w.tokens);
            let wait = [
                state.requests.as_mut().map(|b| b.wait_for(1, now)),
                state.tokens.as_mut().map(|b| b.wait_for(cost, now)),
            ]
            .into_iter()
            .flatten()
            .max();
            if let Some(wait) = wait.filter(|w| !w.is_zero()) {
                self.arm_timer(state, now + wait);
                break;
            }
            let entry = state.users.get_mut(&user).expect("a user in the round has an entry");
            let waiter = entry.waiting[class as usize].pop_front().expect("a user in the round waits");
            state.turns[class as usize].remove(at);
            if !entry.waiting[class as usize].is_empty() {
                state.turns[class as usize].push_back(user.clone());
            }
            // A waiter gone meanwhile (dropped, out of time) is removing itself: skip it.
            if waiter.grant.send(()).is_ok() {
                entry.in_flight += 1;
                state.in_flight += 1;
                if let Some(bucket) = &mut state.requests {
                    bucket.take(1);
                }
                if let Some(bucket) = &mut state.tokens {
                    bucket.take(waiter.tokens);
                }
            }
        }
        Self::publish(state);
    }

    /// The first user, turns before scores, with a waiting call and a place of their own left.
    fn next_eligible(&self, state: &State) -> Option<(Class, usize)> {
        Class::ALL.into_iter().find_map(|class| {
            let turns = &state.turns[class as usize];
            let at = turns.iter().position(|user| state.users[user].in_flight < self.limits.per_user)?;
            Some((class, at))
        })
    }

    fn arm_timer(self: &Arc<Self>, state: &mut State, at: Instant) {
        if state.timer_armed {
            return;
        }
        // Outside a runtime (a drop at exit) nobody is left waiting for the timer.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        state.timer_armed = true;
        let admission = Arc::clone(self);
        runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            let mut state = admission.lock();
            state.timer_armed = false;
            admission.dispatch(&mut state);
        });
    }

    fn release(self: &Arc<Self>, user: &UserId) {
        let mut state = self.lock();
        state.in_flight -= 1;
        if let Some(entry) = state.users.get_mut(user) {
            entry.in_flight -= 1;
            if entry.is_idle() {
                state.users.remove(user);
            }
        }
        self.dispatch(&mut state);
    }

    fn publish(state: &State) {
        metrics::gauge!("viva_llm_in_flight").set(state.in_flight as f64);
        for class in Class::ALL {
            let depth: usize =
                state.turns[class as usize].iter().map(|u| state.users[u].waiting[class as usize].len()).sum();
            metrics::gauge!("viva_llm_queue_depth", "class" => class.label()).set(depth as f64);
        }
    }

    /// Calls in flight and waiting, and users known (for tests).
    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize) {
        let state = self.lock();
        let waiting = state.users.values().map(|u| u.waiting.iter().map(VecDeque::len).sum::<usize>()).sum();
        (state.in_flight, waiting, state.users.len())
    }
}

impl User {
    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.waiting.iter().all(VecDeque::is_empty)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.admission.release(&self.user);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.grant.close();
        if self.grant.try_recv().is_ok() {
            // Granted just as it gave up: give the place back.
            return self.admission.release(self.user);
        }
        let admission = self.admission;
        let mut state = admission.lock();
        let class = self.class as usize;
        if let Some(entry) = state.users.get_mut(self.user) {
            entry.waiting[class].retain(|w| w.id != self.id);
            let (empty, idle) = (entry.waiting[class].is_empty(), entry.is_idle());
            if idle {
                state.users.remove(self.user);
            }
            if empty {
                state.turns[class].retain(|u| u != self.user);
            }
        }
        // Its leaving may unblock nobody, but the gauges change.
        admission.dispatch(&mut state);
    }
}

/// A token bucket holding up to ten seconds of a per-minute rate, refilled continuously.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    level: f64,
    per_second: f64,
    at: Instant,
}

impl Bucket {
    /// Ten seconds of burst: a minute's worth at once would be refused by providers that
    /// enforce their limits over shorter windows.
    const BURST: Duration = Duration::from_secs(10);

    fn per_minute(limit: u32) -> Option<Self> {
        (limit > 0).then(|| {
            let per_second = f64::from(limit) / 60.0;
            let capacity = (per_second * Self::BURST.as_secs_f64()).max(1.0);
            Self { capacity, level: capacity, per_second, at: Instant::now() }
        })
    }

    /// How long until `n` (at most the capacity) can be taken; zero if now.
    fn wait_for(&mut self, n: u32, now: Instant) -> Duration {
        self.level = (self.level + now.duration_since(self.at).as_secs_f64() * self.per_second).min(self.capacity);
        self.at = now;
        let missing = f64::from(n).min(self.capacity) - self.level;
        if missing <= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(missing / self.per_second) }
    }

    fn take(&mut self, n: u32) {
        self.level -= f64::from(n).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    fn limits(max_in_flight: usize, per_user: usize) -> Limits {
        Limits { max_in_flight, per_user, requests_per_minute: 0, tokens_per_minute: 0 }
    }

    fn user(name: &str) -> UserId {
        UserId::new(name)
    }

    #[tokio::test(start_paused = true)]
    async fn turns_go_before_scores_and_users_take_turns() {
        let admission = Admission::new(limits(1, 4));
        let first = admission.acquire(&user("ann"), Class::Score, 1, None).await.unwrap();
        // Queued in this order while the one place is taken.
        let order = ["ann score", "ann turn", "ann turn 2", "bob turn", "bob score"];
        let (served_tx, mut served) = tokio::sync::mpsc::unbounded_channel();
        for name in order {
            let (admission, served_tx) = (Arc::clone(&admission), served_tx.clone());
            let (who, class) = match name {
                n if n.starts_with("ann") && n.contains("score") => ("ann", Class::Score),
                n if n.starts_with("ann") => ("ann", Class::Turn),
                n if n.contains("score") => ("bob", Class::Score),
                _ => ("bob", Class::Turn),
            };
            tokio::spawn(async move {
                let place = admission.acquire(&user(who), class, 1, None).await.unwrap();
                served_tx.send(name).unwrap();
                // Held until the test has seen it, then given back.
                tokio::time::sleep(Duration::from_millis(10)).await;
                drop(place);
            });
            tokio::task::yield_now().await;
        }
        assert_eq!(admission.counts(), (1, 5, 2));
        drop(first);
        let mut order = Vec::new();
        for _ in 0..5 {
            order.push(served.recv().await.unwrap());
        }
        assert_eq!(order, ["ann turn", "bob turn", "ann turn 2", "ann score", "bob score"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(admission.counts(), (0, 0, 0), "idle users are forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_at_their_cap_is_skipped_not_waited_for() {
        let admission = Admission::new(limits(3, 2));
        let _ann = [
            admission.acquire(&user("ann"), Class::Turn, 1, None).await.unwrap(),
            admission.acquire(&user("ann"), Class::Turn, 1, None).await.unwrap(),
        ];
        let (ann, bob) = (user("ann"), user("bob"));
        let third = admission.acquire(&ann, Class::Turn, 1, None);
        tokio::pin!(third);
        assert!(third.as_mut().now_or_never().is_none(), "ann's third waits for one of her places");
        let bob = admission.acquire(&bob, Class::Score, 1, None);
        tokio::pin!(bob);
        assert!(bob.as_mut().now_or_never().is_some(), "bob's score goes past ann's waiting turn");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_leaves_the_queue_at_its_deadline_or_when_dropped() {
        let admission = Admission::new(limits(1, 1));
        let held = admission.acquire(&user("ann"), Class::Turn, 1, None).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let late = admission.acquire(&user("bob"), Class::Turn, 1, Some(deadline)).await;
        assert_eq!(late.unwrap_err(), Busy);
        {
            let cid = user("cid");
            let dropped = admission.acquire(&cid, Class::Score, 1, None);
            tokio::pin!(dropped);
            assert!(dropped.as_mut().now_or_never().is_none());
            assert_eq!(admission.counts(), (1, 1, 2));
        }
        assert_eq!(admission.counts(), (1, 0, 1), "neither is left in the queue");
        drop(held);
        assert_eq!(admission.counts(), (0, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_buckets_pace_requests_and_tokens() {
        // 6 requests a minute: a burst of one (ten seconds' worth), then one every 10 s.
        let admission = Admission::new(Limits { requests_per_minute: 6, ..limits(8, 8) });
        let started = Instant::now();
        for _ in 0..3 {
            drop(admission.acquire(&user("ann"), Class::Turn, 1, None).await.unwrap());
        }
        assert_eq!(started.elapsed().as_secs(), 20, "the clock is paused: exactly two refills");
        // 600 tokens a minute: 100 of burst; a call of 100 then one of 50 waits 5 s.
        let admission = Admission::new(Limits { tokens_per_minute: 600, ..limits(8, 8) });
        let started = Instant::now();
        drop(admission.acquire(&user("ann"), Class::Turn, 100, None).await.unwrap());
        drop(admission.acquire(&user("ann"), Class::Turn, 50, None).await.unwrap());
        assert_eq!(started.elapsed().as_secs(), 5);
        // A call larger than the burst waits for a full bucket, not forever.
        drop(admission.acquire(&user("ann"), Class::Turn, 10_000, None).await.unwrap());
    }
}

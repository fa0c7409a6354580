//! Provider calls in flight per user: one user (many sessions, a script) cannot take the
//! provider's whole concurrency from everyone else. A call waits for one of its user's places
//! before it waits for a place of the provider's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::core::UserId;

/// Each user's places; an entry lives only while one of its places is held or awaited.
#[derive(Debug)]
pub(crate) struct PerUser {
    limit: usize,
    users: Mutex<HashMap<UserId, Arc<Semaphore>>>,
}

/// One of a user's places, given back when dropped.
#[derive(Debug)]
pub(crate) struct UserPermit {
    permit: Option<OwnedSemaphorePermit>,
    user: UserId,
    owner: Arc<PerUser>,
}

impl PerUser {
    /// At most `limit` calls in flight per user.
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self { limit: limit.max(1), users: Mutex::default() })
    }

    /// Waits for one of `user`'s places.
    pub(crate) async fn acquire(self: &Arc<Self>, user: &UserId) -> UserPermit {
        let places = {
            let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(users.entry(user.clone()).or_insert_with(|| Arc::new(Semaphore::new(self.limit))))
        };
        // Never closed: acquiring cannot fail.
        let permit = places.acquire_owned().await.ok();
        UserPermit { permit, user: user.clone(), owner: Arc::clone(self) }
    }

    /// Users with a place held or awaited (bounded by the calls in flight).
    #[cfg(test)]
    fn users(&self) -> usize {
        self.users.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Drop for UserPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        // The map holds the only handle when nobody holds or awaits a place (waiters and
        // permits each hold one); new ones are taken under the same lock.
        let mut users = self.owner.users.lock().unwrap_or_else(PoisonError::into_inner);
        if users.get(&self.user).is_some_and(|places| Arc::strong_count(places) == 1) {
            users.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_user_waits_for_their_own_places_only_and_idle_users_are_forgotten() {
        let per_user = PerUser::new(2);
        let (ann, bob) = (UserId::new("ann"), UserId::new("bob"));
        let first = per_user.acquire(&ann).await;
        let second = per_user.acquire(&ann).await;
        let third = tokio::time::timeout(Duration::from_millis(50), per_user.acquire(&ann)).await;
        assert!(third.is_err(), "a third call of ann's waits");
        let bobs = tokio::time::timeout(Duration::from_secs(5), per_user.acquire(&bob)).await;
        assert!(bobs.is_ok(), "bob is not held up by ann");
        drop(bobs);
        assert_eq!(per_user.users(), 1, "bob has nothing in flight: forgotten");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), per_user.acquire(&ann)).await;
        assert!(third.is_ok(), "a freed place is taken");
        drop((second, third));
        assert_eq!(per_user.users(), 0);
    }
}

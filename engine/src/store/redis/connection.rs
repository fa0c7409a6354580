//! One connection type for a standalone Redis and a Redis Cluster: the store and the meter
//! speak to either the same way.
//!
//! `redis://host:port/db` is one server (redis-rs's `ConnectionManager`: multiplexed,
//! reconnecting); `redis+cluster://h1:p1,h2:p2,...` is a cluster (redis-rs's `cluster-async`:
//! a connection per node, MOVED/ASK followed, the slot map refreshed on failover). On a cluster
//! every script and every pipeline must touch one slot: Viva's keys of a session share the
//! session's hash tag, a user's keys the user's; work across slots is done per slot (many
//! commands at once: the multiplexed connections pipeline them anyway).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// A connection to a standalone Redis or a Redis Cluster. Cheap to clone: clones share it.
#[derive(Clone)]
pub enum RedisConnection {
    /// One server.
    Single(ConnectionManager),
    /// A cluster.
    Cluster(Arc<Cluster>),
}

/// A cluster's connection, made again when it keeps failing: after a master's failover
/// redis-rs's cluster connection was seen timing out every command for over a minute (its
/// slot map never refreshed), while a new one finds the promoted replica at once.
pub struct Cluster {
    client: ClusterClient,
    current: RwLock<ClusterConnection>,
    /// Since when every command failed (none succeeded since), if they do.
    failing_since: Mutex<Option<Instant>>,
    remaking: AtomicBool,
}

/// How long every command may fail before the cluster's connection is made again.
const REMAKE_AFTER: Duration = Duration::from_secs(3);

impl Cluster {
    fn connection(&self) -> ClusterConnection {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Notes how a command went; past [`REMAKE_AFTER`] of failures only, makes the connection
    /// again (once at a time, in the background: commands go on meanwhile).
    fn observe<T>(self: &Arc<Self>, result: &RedisResult<T>) {
        let mut failing = self.failing_since.lock().unwrap_or_else(|e| e.into_inner());
        let failed = match result {
            Ok(_) => false,
            Err(error) => error.is_timeout() || error.is_io_error() || error.is_connection_dropped(),
        };
        if !failed {
            *failing = None;
            return;
        }
        let since = *failing.get_or_insert_with(Instant::now);
        if since.elapsed() < REMAKE_AFTER || self.remaking.swap(true, Ordering::AcqRel) {
            return;
        }
        let cluster = Arc::clone(self);
        tokio::spawn(async move {
            match cluster.client.get_async_connection().await {
                Ok(connection) => {
                    *cluster.current.write().unwrap_or_else(|e| e.into_inner()) = connection;
                    *cluster.failing_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    tracing::warn!("the Redis Cluster connection kept failing: made again");
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot make the Redis Cluster connection again; next failure retries")
                }
            }
            cluster.remaking.store(false, Ordering::Release);
        });
    }
}

/// The scheme of a cluster's URL.
pub const CLUSTER_SCHEME: &str = "redis+cluster://";

impl RedisConnection {
    /// Connects to `url` (`redis://...` or `redis+cluster://h1:p1,h2:p2`); every command gives
    /// up after `timeout`, so a Redis that hangs is an error, not a stall.
    pub async fn open(url: &str, timeout: Duration) -> RedisResult<Self> {
        match url.strip_prefix(CLUSTER_SCHEME) {
            Some(rest) => {
                // `[user:password@]h1:p1,h2:p2`: the credentials are every node's.
                let (auth, hosts) = match rest.split_once('@') {
                    Some((auth, hosts)) => (format!("{auth}@"), hosts),
                    None => (String::new(), rest),
                };
                let nodes: Vec<String> = hosts
                    .trim_end_matches('/')
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(|node| format!("redis://{auth}{node}"))
                    .collect();
                let client = ClusterClientBuilder::new(nodes)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(2)
                    .build()?;
                let current = RwLock::new(client.get_async_connection().await?);
                let cluster =
                    Cluster { client, current, failing_since: Mutex::new(None), remaking: AtomicBool::new(false) };
                Ok(Self::Cluster(Arc::new(cluster)))
            }
            None => {
                let client = redis::Client::open(url)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2);
                Ok(Self::Single(ConnectionManager::new_with_config(client, config).await?))
            }
        }
    }

    /// `WAIT replicas timeout` on the server that holds `key` (on a cluster, its slot's
    /// master): how many replicas have every write this connection sent it so far.
    pub async fn wait_for_replicas(&self, key: &str, replicas: u32, timeout: Duration) -> RedisResult<u32> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas).arg(timeout.as_millis().max(1) as u64);
        match self {
            Self::Single(connection) => wait.query_async(&mut connection.clone()).await,
            Self::Cluster(cluster) => {
                let master = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(master));
                let result = cluster.connection().route_command(wait, routing).await;
                cluster.observe(&result);
                Ok(redis::from_redis_value(result?)?)
            }
        }
    }

    /// One step of `SCAN ... MATCH pattern COUNT count` over every master: the cursor to go
    /// on with (0 when done) and the keys found. On a cluster the cursor also says which
    /// master the scan is on (its top byte: the index among the masters, by address).
    pub async fn scan(&self, cursor: u64, pattern: &str, count: usize) -> RedisResult<(u64, Vec<String>)> {
        let scan = |node_cursor: u64| {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(node_cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(count.max(1));
            cmd
        };
        match self {
            Self::Single(connection) => scan(cursor).query_async(&mut connection.clone()).await,
            Self::Cluster(cluster) => {
                let mut connection = cluster.connection();
                let masters = masters(&mut connection).await?;
                let node = (cursor >> 56) as usize;
                let Some((host, port)) = masters.get(node) else { return Ok((0, Vec::new())) };
                let routing =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
                let value = connection.route_command(scan(cursor & NODE_CURSOR), routing).await?;
                let (next, keys): (u64, Vec<String>) = redis::from_redis_value(value)?;
                // On along this master, else from the start of the next one (never master 0
                // again: cursor 0 is "done").
                let next = match next {
                    0 if node + 1 < masters.len() => ((node + 1) as u64) << 56,
                    0 => 0,
                    next => (node as u64) << 56 | (next & NODE_CURSOR),
                };
                Ok((next, keys))
            }
        }
    }
}

/// The URLs of the servers to subscribe to, in order of preference (pub/sub: a cluster's
/// messages reach every node, so any one will do; the next when one is down).
pub fn pubsub_urls(url: &str) -> Vec<String> {
    match url.strip_prefix(CLUSTER_SCHEME) {
        Some(rest) => {
            let (auth, hosts) = match rest.split_once('@') {
                Some((auth, hosts)) => (format!("{auth}@"), hosts),
                None => (String::new(), rest),
            };
            hosts
                .trim_end_matches('/')
                .split(',')
                .filter(|n| !n.is_empty())
                .map(|n| format!("redis://{auth}{n}"))
                .collect()
        }
        None => vec![url.to_owned()],
    }
}

/// Commands in flight at once in [`each`].
const IN_FLIGHT: usize = 64;

/// Runs `command` for each item, at most 64 at once, the results in order: the way to work
/// across slots (one pipeline must stay in one slot on a cluster). The multiplexed connections
/// send what is in flight together, as a pipeline would.
pub async fn each<I, T, F, Fut>(items: I, command: F) -> RedisResult<Vec<T>>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    futures::stream::iter(items).map(command).buffered(IN_FLIGHT).try_collect().await
}

/// The bits of a cluster scan's cursor that are the master's own cursor.
const NODE_CURSOR: u64 = (1 << 56) - 1;

/// The cluster's masters, by address (`CLUSTER SLOTS`).
async fn masters(connection: &mut ClusterConnection) -> RedisResult<Vec<(String, u16)>> {
    let value = connection
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    let ranges: Vec<Vec<Value>> = redis::from_redis_value(value)?;
    let mut masters: Vec<(String, u16)> = ranges
        .into_iter()
        .filter_map(|range| {
            let master: Vec<Value> = redis::from_redis_value(range.get(2)?.clone()).ok()?;
            let host: String = redis::from_redis_value(master.first()?.clone()).ok()?;
            let port: u16 = redis::from_redis_value(master.get(1)?.clone()).ok()?;
            Some((host, port))
        })
        .collect();
    masters.sort();
    masters.dedup();
    Ok(masters)
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(cluster) => Box::pin(async move {
                let result = cluster.connection().req_packed_command(cmd).await;
                cluster.observe(&result);
                result
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => Box::pin(async move {
                let result = cluster.connection().req_packed_commands(pipeline, offset, count).await;
                cluster.observe(&result);
                result
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(_) => 0,
        }
    }
}

//! A gateway served in the test's own process on a free loopback port: the one way the
//! workspace's tests start one (the gateway's tests, viva-load's tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::{Engine, EngineConfig};
use viva_gateway::AppState;
use viva_gateway::auth::AuthMode;

/// How long a stopping gateway lets its sessions suspend and flush.
const DRAIN: Duration = Duration::from_secs(5);

/// An engine with the scripted interviewer speaking a word every `pace` (zero: at once, so
/// nothing in a test waits on time) and the in-memory store.
pub fn scripted_engine(config: EngineConfig, pace: Duration) -> Engine {
    Engine::builder().config(config).interviewer(Arc::new(ScriptedInterviewer::new(pace))).build()
}

/// A gateway serving `engine` on 127.0.0.1, with dev authentication (`Bearer dev:<user>`)
/// unless `tune` changes it. It serves until [`InProcessGateway::stop`] or until dropped
/// (then it stops as on SIGTERM), or, once detached, until the test's runtime ends.
pub struct InProcessGateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The engine it serves (a test can serve it again after a stop).
    pub engine: Engine,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl InProcessGateway {
    /// Starts serving `engine`; `tune` may change the gateway's state (authentication,
    /// origins, limits) before it serves.
    pub fn start(engine: Engine, tune: impl FnOnce(&mut AppState)) -> Self {
        let mut state = AppState::new(engine.clone(), AuthMode::Dev);
        tune(&mut state);
        let listener = viva_gateway::bind("127.0.0.1:0".parse().expect("a loopback address")).expect("bind a port");
        let addr = listener.local_addr().expect("the bound address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stop.await;
        };
        let task = tokio::spawn(viva_gateway::run(listener, state, stopped, DRAIN));
        Self { addr, engine, shutdown: Some(shutdown), task }
    }

    /// A gateway with the scripted interviewer at pace 0 and the in-memory store.
    pub fn scripted(config: EngineConfig) -> Self {
        Self::start(scripted_engine(config, Duration::ZERO), |_| {})
    }

    /// Leaves it serving until the test's runtime ends; where it listens.
    pub fn detach(mut self) -> SocketAddr {
        let shutdown = self.shutdown.take();
        tokio::spawn(async move {
            let _held = shutdown; // the gateway stops when this is dropped
            std::future::pending::<()>().await
        });
        self.addr
    }

    /// Stops it as a SIGTERM would (sessions suspend, everything is flushed) and waits until
    /// it has stopped; the engine is left to serve again.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.task).await.expect("the gateway's task panicked")
    }
}

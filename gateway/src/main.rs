//! The `viva-gateway` binary: configuration, logging, signals, then [`viva_gateway::run`].

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use viva_engine::interviewer::ScriptedInterviewer;
use viva_engine::store::{MemoryStore, RedisStore, Store};
use viva_engine::{Engine, EngineConfig};
use viva_gateway::config::{Args, LogFormat, Settings, StoreKind};
use viva_gateway::{AppState, bind, run};

/// EX_USAGE: bad configuration.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let usage = error.use_stderr();
            let _ = error.print();
            return if usage { ExitCode::from(EXIT_CONFIG) } else { ExitCode::SUCCESS };
        }
    };
    let settings = match args.validate() {
        Ok(settings) => settings,
        Err(errors) => {
            eprintln!("viva-gateway: bad configuration:");
            for error in errors {
                eprintln!("  - {error}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_tracing(&settings);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("viva-gateway: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("viva-gateway: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = match &settings.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Redis(url) => {
            let store = RedisStore::connect(url, settings.store_timeout).await;
            Arc::new(store.with_context(|| format!("cannot reach Redis at {}", redacted(url)))?)
        }
    };
    let store_name = store.name().to_owned();
    let config = EngineConfig { retention: settings.retention, ..EngineConfig::default() };
    let interviewer = Arc::new(ScriptedInterviewer::new(settings.scripted_pace));
    let engine = Engine::builder().config(config).store(store).interviewer(interviewer).build();
    let listener = bind(settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = %store_name, interviewer = "scripted", scorer = "heuristic", "viva-gateway listening");
    println!("viva-gateway listening on http://{addr} (store: {store_name}; try: curl http://{addr}/v1/plans)");
    let mut state = AppState::new(engine, settings.auth);
    state.socket = settings.socket.clone();
    run(listener, state, shutdown_signal(), settings.shutdown_grace).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received");
}

fn init_tracing(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::new(&settings.log);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// A URL without its password, for logs and errors.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

//! The `viva-gateway` binary: configuration, logging, signals, then [`viva_gateway::run`].

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use viva_engine::core::FollowUps;
use viva_engine::interviewer::{Interviewer, LlmInterviewer, ScriptedInterviewer};
use viva_engine::llm::{LlmClient, LlmConfig, LlmError};
use viva_engine::meter::{MemoryMeter, Meter, RedisMeter};
use viva_engine::scorer::{HeuristicScorer, LlmScorer, Scorer};
use viva_engine::store::{MemoryStore, RedisStore, Store};
use viva_engine::webhook::Dispatch;
use viva_engine::{Engine, EngineConfig, Metering};
use viva_gateway::auth::AuthMode;
use viva_gateway::auth::jwt::JwtVerifier;
use viva_gateway::config::{self, Args, AuthSettings, LlmSettings, LogFormat, Provider, Settings, StoreKind};
use viva_gateway::{AppState, bind, resume, run};

/// The binary's allocator: jemalloc, not the system's. An interview's work is a quarter
/// allocation (docs/performance.md), and jemalloc's shorter paths gave 16–34% more events/s
/// at saturation, for the same memory per idle session. Only the binary: an embedder of the
/// library chooses its own.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// EX_USAGE: bad configuration.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    // A child reading a résumé file (`resume::child`): its limits first, nothing else.
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().is_some_and(|a| a == resume::child::SUBCOMMAND) {
        return resume::child::main(&argv[1..]);
    }
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
    // Before any socket or file is opened.
    let max_connections = settings.max_connections.unwrap_or_else(connections_from_file_limit);
    // First: without the identity provider's keys nobody could sign in.
    let auth = match &settings.auth {
        AuthSettings::Dev => {
            tracing::warn!(
                "--auth dev: any `dev:<name>` token acts as that user; for development on this machine only \
                 (loopback host names are served, nothing else)"
            );
            AuthMode::Dev
        }
        AuthSettings::Jwt(config) => {
            if !config.binds_audience() {
                tracing::warn!(
                    "--jwt-allow-any-audience: tokens the identity provider issued to ANY of its applications are \
                     accepted, so users of those are users here; set --jwt-audience or --jwt-authorized-parties"
                );
            }
            let verifier = JwtVerifier::new(config.clone()).await;
            AuthMode::Jwt(verifier.with_context(|| format!("--auth jwt: cannot load the JWKS at {}", config.jwks_url))?)
        }
    };
    // The minutes live beside the sessions: on the same Redis, or in this process.
    let (store, meter): (Arc<dyn Store>, Arc<dyn Meter>) = match &settings.store {
        StoreKind::Memory => (Arc::new(MemoryStore::new()), Arc::new(MemoryMeter::new())),
        StoreKind::Redis(url) => {
            let store = RedisStore::connect(url, settings.store_timeout).await;
            let store = store.with_context(|| format!("cannot reach Redis at {}", config::redacted(url)))?;
            let store = store.wait_for_replicas(settings.store_wait_replicas);
            let meter = RedisMeter::new(store.connection());
            (Arc::new(store), Arc::new(meter))
        }
    };
    let store_name = store.name().to_owned();
    let mut config = EngineConfig {
        retention: settings.retention,
        max_sessions_per_user_per_hour: settings.max_sessions_per_user_per_hour,
        abandon_after_ms: settings.abandon_after.map(|d| d.as_millis() as u64),
        lease_term_ms: settings.session_lease.as_millis() as u64,
        max_loaded_sessions: settings.max_live_sessions,
        max_live_per_user: settings.max_live_per_user,
        ..EngineConfig::default()
    };
    // A model reads an answer better than keywords do: the LLM interviewer chooses the
    // follow-up as it speaks (no wait); else the scorer's verdict, if it is quick enough. The
    // heuristic scorer's missed key points are the rubric's, and its score is in within the
    // task's next pass: waiting for it decides as the rubric would, splitting the answer once.
    config.core.follow_ups = match settings.interviewer {
        Provider::Llm => FollowUps::Interviewer,
        Provider::Builtin => FollowUps::Scorer { wait_ms: 3_000 },
    };
    let scripted = ScriptedInterviewer::new(settings.scripted_pace);
    let llm = match &settings.llm {
        Some(llm) => Some(llm_client(llm).await?),
        None => None,
    };
    let interviewer: Arc<dyn Interviewer> = match (settings.interviewer, &llm) {
        (Provider::Llm, Some(client)) => Arc::new(LlmInterviewer::new(client.clone(), scripted)),
        _ => Arc::new(scripted),
    };
    let scorer: Arc<dyn Scorer> = match (settings.scorer, &llm) {
        (Provider::Llm, Some(client)) => Arc::new(LlmScorer::new(client.clone())),
        _ => Arc::new(HeuristicScorer),
    };
    let (interviewer_name, scorer_name) = (interviewer.name().to_owned(), scorer.name().to_owned());
    let speech = settings.speech.build()?;
    let voice = speech.offered();
    let mut builder = Engine::builder()
        .config(config)
        .plans(settings.plans.clone())
        .store(store)
        .interviewer(interviewer)
        .scorer(scorer)
        .speech(speech);
    if let Some(slice_s) = settings.metering_slice_s {
        builder = builder.metering(Metering { slice_s, ..Metering::new(meter) });
        tracing::info!(slice_s, "minutes metered");
    }
    if let Some(webhooks) = settings.webhooks.clone() {
        let endpoints: Vec<String> = webhooks.endpoints.iter().map(|e| format!("{} ({})", e.url, e.id)).collect();
        builder = builder.webhooks(Dispatch::new(webhooks).context("cannot make the webhooks' HTTP client")?);
        tracing::info!(?endpoints, "webhooks on");
    }
    let engine = builder.build();
    let shutdown = shutdown_signal()?;
    let listener = bind(settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr, store = %store_name, interviewer = %interviewer_name, scorer = %scorer_name,
        listens = voice.input, speaks = voice.output, "viva-gateway listening"
    );
    println!("viva-gateway listening on http://{addr} (store: {store_name}; try: curl http://{addr}/v1/plans)");
    let mut state = AppState::new(engine, auth);
    state.socket = Arc::new(settings.socket.clone());
    state.connections.header_read_timeout = settings.header_timeout;
    state.connections.max_connections = max_connections;
    state.allowed_origins = settings.allowed_origins.clone().into();
    state.metrics = Some(metrics_recorder()?);
    state.admin_token = settings.admin_token.as_deref().map(Arc::from);
    let node_id = settings.node_id.clone().unwrap_or_else(viva_gateway::nodes::Node::random_id);
    let address = settings.advertise_address.clone().unwrap_or_else(|| addr.to_string());
    tracing::info!(node = %node_id, %address, "this node");
    state.node = Arc::new(viva_gateway::nodes::Node::new(node_id, address));
    state.drain_delay = settings.drain_delay;
    // Résumé files are read by this binary run as a child (`__extract-resume`): on Linux through
    // /proc/self/exe, which is this process's image even after an upgrade replaced the file.
    let this_program = match std::path::Path::new("/proc/self/exe") {
        proc if proc.exists() => proc.to_path_buf(),
        _ => std::env::current_exe().context("cannot find this program")?,
    };
    state.resume = resume::child::Extractor::new(Some(this_program));
    run(listener, state, shutdown, settings.shutdown_grace).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Files kept free of connections: the store's and providers' sockets, logs.
const FILES_IN_RESERVE: u64 = 1_024;

/// Raises the soft file limit to the hard one (a 1,024 soft limit would take the gateway
/// offline at about 1,000 sockets), and leaves a reserve of it free of client connections.
fn connections_from_file_limit() -> usize {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => files,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1_024, |(soft, _)| soft)
        }
    };
    let connections = files.saturating_sub(FILES_IN_RESERVE).max(64);
    tracing::info!(files, connections, "open connections at most (--max-connections)");
    usize::try_from(connections).unwrap_or(usize::MAX)
}

/// The provider client, checked once: a refused key stops the start with a clear error (no
/// retry storm later); a provider that is merely down now is left to the fallbacks.
async fn llm_client(settings: &LlmSettings) -> anyhow::Result<LlmClient> {
    let config = LlmConfig {
        max_concurrency_per_user: settings.concurrency_per_user,
        max_concurrency: settings.max_concurrency,
        requests_per_minute: settings.requests_per_minute,
        tokens_per_minute: settings.tokens_per_minute,
        turn_queue_timeout: settings.turn_queue,
        ..LlmConfig::new(&settings.base_url, &settings.model, settings.api_key.clone())
    };
    let client = LlmClient::new(config).context("cannot set up the LLM client")?;
    match client.check().await {
        Ok(()) => tracing::info!(base_url = %settings.base_url, model = %settings.model, "LLM provider answers"),
        Err(error @ LlmError::Unauthorized(_)) => {
            anyhow::bail!("LLM provider at {} refused the API key: {error}", settings.base_url)
        }
        Err(error) => {
            tracing::warn!(%error, base_url = %settings.base_url, "LLM provider check failed; fallbacks will be used")
        }
    }
    Ok(client)
}

/// Installs the Prometheus recorder behind `/metrics`. Histograms are bucketed (bounded memory),
/// and a task does the recorder's upkeep.
fn metrics_recorder() -> anyhow::Result<PrometheusHandle> {
    const SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
    const RATES: &[f64] = &[1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];
    // Event → delivered: milliseconds normally, hours across the retry schedule.
    const WEBHOOK: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 300.0, 1800.0, 7200.0, 36_000.0, 86_400.0];
    let handle = PrometheusBuilder::new()
        .set_buckets(SECONDS)?
        .set_buckets_for_metric(Matcher::Full("viva_llm_chunks_per_second".into()), RATES)?
        .set_buckets_for_metric(Matcher::Full("viva_webhook_latency_seconds".into()), WEBHOOK)?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Installs the handlers for SIGTERM and ctrl-c now and returns what completes on either.
/// Now, not on the future's first poll: the server polls it beside `accept`, in either order,
/// so a request can be answered before it is polled — and a SIGTERM sent to a process that has
/// answered must not find the default action (death by signal, no drain) still in place.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for ctrl-c")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!("shutdown signal received");
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received");
    })
}

fn init_tracing(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::new(&settings.log);
    // Colour codes only for a person at a terminal, never into a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match settings.log_format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

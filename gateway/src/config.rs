//! Configuration: flags, each also a `VIVA_*` environment variable. Every value is checked
//! and every problem reported at once; the binary exits 64 (EX_USAGE) on any.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::auth::jwt::JwtConfig;
use crate::is_loopback_host;
use crate::speech::{SpeechArgs, SpeechSettings};
use crate::webhooks::WebhookArgs;
use crate::ws::{SocketLimits, normalize_origin};
use viva_engine::plan::PlanCatalog;
use viva_engine::store::CLUSTER_SCHEME;

/// Command-line flags and their `VIVA_*` variables, as given.
#[derive(Debug, Clone, Parser)]
#[command(name = "viva-gateway", version, about = "Viva's real-time interview gateway")]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "VIVA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Where sessions are stored: `memory`, `redis://host:port/db`, or a Redis Cluster,
    /// `redis+cluster://host1:port1,host2:port2` (any of its nodes).
    #[arg(long, env = "VIVA_STORE", default_value = "memory", hide_env_values = true)]
    pub store: String,
    /// How long one store command may take, in milliseconds, before it counts as failed.
    #[arg(long, env = "VIVA_STORE_TIMEOUT_MS", default_value = "2000")]
    pub store_timeout_ms: String,
    /// Replicas (Redis Cluster or a standalone Redis with replicas) that must have each batch
    /// of a session's events before it is acknowledged (`WAIT`): with 1 or more, a master's
    /// failover loses nothing acknowledged, at the cost of a replica round trip per batch;
    /// while fewer replicas answer, sessions on that master freeze. 0: the master's word.
    #[arg(long, env = "VIVA_STORE_WAIT_REPLICAS", default_value = "0")]
    pub store_wait_replicas: String,
    /// Days a finished session is kept before all of it expires; 0 keeps it until deleted.
    #[arg(long, env = "VIVA_RETENTION_DAYS", default_value = "0")]
    pub retention_days: String,
    /// Who speaks the interviewer's turns: `scripted`, or `llm` (an OpenAI-compatible API).
    #[arg(long, env = "VIVA_INTERVIEWER", default_value = "scripted")]
    pub interviewer: String,
    /// Who scores answers: `heuristic`, or `llm`.
    #[arg(long, env = "VIVA_SCORER", default_value = "heuristic")]
    pub scorer: String,
    /// How callers authenticate: `dev` (tokens `dev:<user>`, loopback only), or `jwt` (an
    /// identity provider's RS256/ES256 JWTs; needs `--jwks-url`).
    #[arg(long, env = "VIVA_AUTH", default_value = "dev")]
    pub auth: String,
    /// With `--auth jwt`: the identity provider's JWKS URL (its public keys); https://, or
    /// http:// to this machine only.
    #[arg(long, env = "VIVA_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// With `--auth jwt`: the `iss` every token must carry.
    #[arg(long, env = "VIVA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// With `--auth jwt`: the `aud` every token must carry (this or `--jwt-authorized-parties`
    /// is required, unless `--jwt-allow-any-audience`).
    #[arg(long, env = "VIVA_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// With `--auth jwt`: comma-separated values one of which every token's `azp` must be (for
    /// Clerk: the origins of your app's pages).
    #[arg(long, env = "VIVA_JWT_AUTHORIZED_PARTIES")]
    pub jwt_authorized_parties: Option<String>,
    /// With `--auth jwt`: accept tokens whatever their `aud` and `azp`, i.e. tokens the identity
    /// provider issued to any of its applications. Logged as a warning at start.
    #[arg(long, env = "VIVA_JWT_ALLOW_ANY_AUDIENCE")]
    pub jwt_allow_any_audience: bool,
    /// With `--auth jwt`: accept session tokens only (with a `sid` claim).
    #[arg(long, env = "VIVA_JWT_REQUIRE_SESSION")]
    pub jwt_require_session: bool,
    /// With `--auth jwt`: the longest life a token may have, in seconds, from its `iat` to its
    /// `exp` (from now, without `iat`) [default: 86400].
    #[arg(long, env = "VIVA_JWT_MAX_LIFETIME_S")]
    pub jwt_max_lifetime_s: Option<String>,
    /// Web origins (`scheme://host[:port]`, comma-separated) whose pages may open WebSockets,
    /// besides the gateway's own.
    #[arg(long, env = "VIVA_ALLOWED_ORIGINS", default_value = "")]
    pub allowed_origins: String,
    /// Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1`.
    #[arg(long, env = "VIVA_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// API key for it (sent as a bearer token; never logged).
    #[arg(long, env = "VIVA_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,
    /// Model name, e.g. `gpt-4o-mini`.
    #[arg(long, env = "VIVA_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Provider calls in flight at once for any one user (their sessions' turns and scores),
    /// so that one user cannot take the provider from everyone else.
    #[arg(long, env = "VIVA_LLM_CONCURRENCY_PER_USER", default_value = "4")]
    pub llm_concurrency_per_user: String,
    /// Provider calls in flight at once, in all (each holds a socket; providers limit request
    /// and token rates, not open streams).
    #[arg(long, env = "VIVA_LLM_MAX_CONCURRENCY", default_value = "512")]
    pub llm_max_concurrency: String,
    /// Requests per minute the provider account allows (0: no limit); calls wait their turn.
    #[arg(long, env = "VIVA_LLM_REQUESTS_PER_MINUTE", default_value = "0")]
    pub llm_requests_per_minute: String,
    /// Tokens per minute the provider account allows (0: no limit), prompts and completions
    /// as estimated before sending.
    #[arg(long, env = "VIVA_LLM_TOKENS_PER_MINUTE", default_value = "0")]
    pub llm_tokens_per_minute: String,
    /// How long an interviewer turn may wait for the provider (its limits above) before the
    /// scripted interviewer speaks it instead, in milliseconds.
    #[arg(long, env = "VIVA_LLM_TURN_QUEUE_MS", default_value = "1000")]
    pub llm_turn_queue_ms: String,
    /// A directory of interview plans (`*.toml`, the format of `engine/plans/`) offered
    /// besides the shipped ones; a plan with a shipped plan's id replaces it. Every plan is
    /// checked at start: one that does not hold together stops the gateway, saying why.
    #[arg(long, env = "VIVA_PLANS")]
    pub plans: Option<std::path::PathBuf>,
    /// Delay between the scripted interviewer's words, in milliseconds (0: each turn is one
    /// delta, for tests and load tests).
    #[arg(long, env = "VIVA_SCRIPTED_PACE_MS", default_value = "25")]
    pub scripted_pace_ms: String,
    /// How long a graceful shutdown waits for sessions to persist, in seconds.
    #[arg(long, env = "VIVA_SHUTDOWN_GRACE_S", default_value = "10")]
    pub shutdown_grace_s: String,
    /// This node's id in the registry of nodes (`GET /v1/admin/nodes`; drains name it):
    /// letters, digits, `-`, `_`, `.`, at most 64 (`auto`: `node-` and 8 random hex digits).
    #[arg(long, env = "VIVA_NODE_ID", default_value = "auto")]
    pub node_id: String,
    /// The address other nodes and operators see for this node (`auto`: the one it listens on).
    #[arg(long, env = "VIVA_ADVERTISE_ADDRESS", default_value = "auto")]
    pub advertise_address: String,
    /// Seconds a draining node (SIGTERM, or `POST /v1/admin/nodes/{id}/drain`) answers 503 on
    /// `/readyz`, still serving, before it hands its sessions over: time for the balancer's
    /// health checks to notice.
    #[arg(long, env = "VIVA_DRAIN_DELAY_S", default_value = "0")]
    pub drain_delay_s: String,
    /// Client messages per second one socket may send on average.
    #[arg(long, env = "VIVA_RATE_LIMIT_PER_S", default_value = "10")]
    pub rate_limit_per_s: String,
    /// Client messages one socket may send in a burst.
    #[arg(long, env = "VIVA_RATE_LIMIT_BURST", default_value = "30")]
    pub rate_limit_burst: String,
    /// Sessions one user may create in any hour (0: no limit); past it, 429 with
    /// `Retry-After`.
    #[arg(long, env = "VIVA_MAX_SESSIONS_PER_USER_PER_HOUR", default_value = "60")]
    pub max_sessions_per_user_per_hour: String,
    /// Sessions this node runs at once, at most (0: no limit); past it, creating a session is
    /// 503 `at_capacity` with `Retry-After`, and a socket for a session not running here is
    /// closed with 4503. Running sessions are never evicted to make room.
    #[arg(long, env = "VIVA_MAX_LIVE_SESSIONS", default_value = "0")]
    pub max_live_sessions: String,
    /// Sessions one user may have live (started, not ended) at once, counted across every
    /// gateway on the store (0: no limit); a further `session.start` gets
    /// `too_many_live_sessions`.
    #[arg(long, env = "VIVA_MAX_LIVE_PER_USER", default_value = "2")]
    pub max_live_per_user: String,
    /// `off`: a session has its plan's time; `minutes`: every user has a balance of seconds,
    /// reserved a slice at a time by their live sessions (`--admin-token` credits it).
    #[arg(long, env = "VIVA_METERING", default_value = "off")]
    pub metering: String,
    /// With `--metering minutes`: seconds reserved at a time (and how often sessions settle).
    #[arg(long, env = "VIVA_METERING_SLICE_S", default_value = "30")]
    pub metering_slice_s: String,
    /// A live session with no client connected this long ends `abandoned` (0: never).
    #[arg(long, env = "VIVA_ABANDON_AFTER_S", default_value = "300")]
    pub abandon_after_s: String,
    /// The term of a running session's lease, in ms: when the node running a session dies (or
    /// loses the store) this long, another node on the same store takes it over, so that its
    /// clock, closing turn, report and webhooks happen with no client (docs/scale-out.md).
    #[arg(long, env = "VIVA_SESSION_LEASE_MS", default_value = "15000")]
    pub session_lease_ms: String,
    /// The token of the `/v1/admin/*` routes (without it they do not exist); at least 16
    /// characters. Never logged.
    #[arg(long, env = "VIVA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Open HTTP connections at most, WebSockets included (`auto`: the file limit, raised to
    /// its hard maximum at start, less 1,024 kept for the store, providers and logs).
    #[arg(long, env = "VIVA_MAX_CONNECTIONS", default_value = "auto")]
    pub max_connections: String,
    /// Seconds a client has to send a request's headers; a keep-alive connection idle this
    /// long is closed.
    #[arg(long, env = "VIVA_HEADER_TIMEOUT_S", default_value = "10")]
    pub header_timeout_s: String,
    /// Log filter, e.g. `info` or `viva_gateway=debug,info`.
    #[arg(long, env = "VIVA_LOG", default_value = "info")]
    pub log: String,
    /// Log format: `plain` or `json`.
    #[arg(long, env = "VIVA_LOG_FORMAT", default_value = "plain")]
    pub log_format: String,
    /// Voice.
    #[command(flatten)]
    pub speech: SpeechArgs,
    /// Webhooks.
    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// Which implementation of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The embedded one (scripted interviewer, heuristic scorer).
    Builtin,
    /// The OpenAI-compatible API.
    Llm,
}

/// How to reach an OpenAI-compatible API.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmSettings {
    /// Base URL.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// Bearer token, if any.
    pub api_key: Option<String>,
    /// Calls in flight at once for any one user.
    pub concurrency_per_user: usize,
    /// Calls in flight at once.
    pub max_concurrency: usize,
    /// The account's requests per minute (0: no limit).
    pub requests_per_minute: u32,
    /// The account's tokens per minute (0: no limit).
    pub tokens_per_minute: u32,
    /// How long a turn may wait for its place.
    pub turn_queue: Duration,
}

impl std::fmt::Debug for LlmSettings {
    // The key stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.api_key.as_ref().map(|_| "***");
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &key)
            .field("concurrency_per_user", &self.concurrency_per_user)
            .field("max_concurrency", &self.max_concurrency)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("tokens_per_minute", &self.tokens_per_minute)
            .field("turn_queue", &self.turn_queue)
            .finish()
    }
}

/// Where sessions are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// In process memory: lost with the process.
    Memory,
    /// Redis at this URL.
    Redis(String),
}

/// How callers authenticate, as configured (the JWT verifier is built at start: it fetches
/// the keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSettings {
    /// `dev:<user>` tokens, loopback only.
    Dev,
    /// JWTs verified against a JWKS.
    Jwt(JwtConfig),
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where sessions are stored.
    pub store: StoreKind,
    /// How long one store command may take before it counts as failed.
    pub store_timeout: Duration,
    /// Replicas that must have each batch before it is acknowledged (Redis only).
    pub store_wait_replicas: u32,
    /// How long a finished session is kept.
    pub retention: Option<Duration>,
    /// Who speaks the turns.
    pub interviewer: Provider,
    /// Who scores.
    pub scorer: Provider,
    /// The OpenAI-compatible API, when configured.
    pub llm: Option<LlmSettings>,
    /// Speech providers.
    pub speech: SpeechSettings,
    /// Webhooks (`None`: none configured).
    pub webhooks: Option<viva_engine::webhook::WebhookConfig>,
    /// Authentication.
    pub auth: AuthSettings,
    /// Web origins allowed to open WebSockets besides the gateway's own, normalized.
    pub allowed_origins: Vec<String>,
    /// Delay between scripted words.
    pub scripted_pace: Duration,
    /// Graceful shutdown bound.
    pub shutdown_grace: Duration,
    /// This node's id (`None`: a random one).
    pub node_id: Option<String>,
    /// The address this node advertises (`None`: the one it listens on).
    pub advertise_address: Option<String>,
    /// How long a draining node says so before it stops serving.
    pub drain_delay: Duration,
    /// Per-socket limits.
    pub socket: SocketLimits,
    /// Sessions one user may create in any hour (`None`: no limit).
    pub max_sessions_per_user_per_hour: Option<u32>,
    /// Sessions this node runs at once (`None`: no limit).
    pub max_live_sessions: Option<usize>,
    /// Sessions one user may have live at once (`None`: no limit).
    pub max_live_per_user: Option<u32>,
    /// Minutes metered in slices of this many seconds (`None`: off).
    pub metering_slice_s: Option<u64>,
    /// A live session with no client this long ends `abandoned` (`None`: never).
    pub abandon_after: Option<Duration>,
    /// The term of a running session's lease.
    pub session_lease: Duration,
    /// The plans offered: the shipped ones and `--plans`'s.
    pub plans: PlanCatalog,
    /// The admin routes' token.
    pub admin_token: Option<String>,
    /// Open connections at most (`None`: from the file limit).
    pub max_connections: Option<usize>,
    /// A request's head must arrive within this.
    pub header_timeout: Duration,
    /// Log filter.
    pub log: String,
    /// Log format.
    pub log_format: LogFormat,
}

impl Args {
    /// Checks every value; all problems at once.
    pub fn validate(&self) -> Result<Settings, Vec<String>> {
        let mut errors = Vec::new();
        let listen = self
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| errors.push(format!("--listen `{}` is not an address like 127.0.0.1:8080", self.listen)))
            .ok();
        let store = match self.store.as_str() {
            "memory" => Some(StoreKind::Memory),
            url if url.starts_with("redis://") || url.starts_with(CLUSTER_SCHEME) => {
                Some(StoreKind::Redis(url.to_owned()))
            }
            other => {
                errors.push(format!(
                    "--store `{}` is not `memory`, a `redis://host:port/db` URL or `redis+cluster://host:port,...`",
                    redacted(other)
                ));
                None
            }
        };
        let interviewer = match self.interviewer.as_str() {
            "scripted" => Some(Provider::Builtin),
            "llm" => Some(Provider::Llm),
            other => {
                errors.push(format!("--interviewer `{other}` is not `scripted` or `llm`"));
                None
            }
        };
        let scorer = match self.scorer.as_str() {
            "heuristic" => Some(Provider::Builtin),
            "llm" => Some(Provider::Llm),
            other => {
                errors.push(format!("--scorer `{other}` is not `heuristic` or `llm`"));
                None
            }
        };
        let mut number = |name: &str, value: &str, min: u64, max: u64| {
            whole_number(name, value, min, max).map_err(|e| errors.push(e)).unwrap_or(min)
        };
        let llm_per_user = number("llm-concurrency-per-user", &self.llm_concurrency_per_user, 1, 1_000);
        let llm_max = number("llm-max-concurrency", &self.llm_max_concurrency, 1, 10_000);
        let llm_rpm = number("llm-requests-per-minute", &self.llm_requests_per_minute, 0, 100_000_000);
        let llm_tpm = number("llm-tokens-per-minute", &self.llm_tokens_per_minute, 0, 4_000_000_000);
        let llm_turn_queue = number("llm-turn-queue-ms", &self.llm_turn_queue_ms, 0, 60_000);
        let llm = match (&self.llm_base_url, &self.llm_model) {
            (Some(base_url), Some(model)) if base_url.starts_with("http://") || base_url.starts_with("https://") => {
                Some(LlmSettings {
                    base_url: base_url.clone(),
                    model: model.clone(),
                    api_key: self.llm_api_key.clone(),
                    concurrency_per_user: llm_per_user as usize,
                    max_concurrency: llm_max as usize,
                    requests_per_minute: llm_rpm as u32,
                    tokens_per_minute: llm_tpm as u32,
                    turn_queue: Duration::from_millis(llm_turn_queue),
                })
            }
            (Some(base_url), Some(_)) => {
                errors.push(format!("--llm-base-url `{base_url}` is not an http:// or https:// URL"));
                None
            }
            _ => None,
        };
        if llm.is_none() && (interviewer == Some(Provider::Llm) || scorer == Some(Provider::Llm)) {
            errors.push("--interviewer llm and --scorer llm need --llm-base-url and --llm-model".to_owned());
        }
        let auth = match self.auth.as_str() {
            "dev" => Some(AuthSettings::Dev),
            "jwt" => self.jwt(&mut errors).map(AuthSettings::Jwt),
            other => {
                errors.push(format!("--auth `{other}` is not `dev` or `jwt`"));
                None
            }
        };
        if self.auth != "jwt" {
            // Set but unused would look like JWT auth is on when it is not.
            let jwt_flags = [
                ("jwks-url", self.jwks_url.is_some()),
                ("jwt-issuer", self.jwt_issuer.is_some()),
                ("jwt-audience", self.jwt_audience.is_some()),
                ("jwt-authorized-parties", self.jwt_authorized_parties.is_some()),
                ("jwt-allow-any-audience", self.jwt_allow_any_audience),
                ("jwt-require-session", self.jwt_require_session),
                ("jwt-max-lifetime-s", self.jwt_max_lifetime_s.is_some()),
            ];
            for (flag, set) in jwt_flags {
                if set {
                    errors.push(format!("--{flag} is only used with --auth jwt"));
                }
            }
        }
        if let (Some(AuthSettings::Dev), Some(addr)) = (&auth, listen) {
            if !addr.ip().is_loopback() {
                errors.push(format!("--auth dev accepts anyone; it listens on loopback only, not {addr}"));
            }
        }
        let mut allowed_origins = Vec::new();
        for origin in self.allowed_origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match normalize_origin(origin) {
                Some(origin) => allowed_origins.push(origin),
                None => errors.push(format!(
                    "--allowed-origins `{origin}` is not an origin like https://app.example.com (scheme://host[:port], no path)"
                )),
            }
        }
        let plans = match self.plans.as_deref().map(load_plans).transpose() {
            Ok(plans) => plans.unwrap_or_else(PlanCatalog::shipped),
            Err(error) => {
                errors.push(format!("--plans: {error}"));
                PlanCatalog::default()
            }
        };
        let mut number = |name: &str, value: &str, min: u64, max: u64| -> u64 {
            whole_number(name, value, min, max).unwrap_or_else(|error| {
                errors.push(error);
                min
            })
        };
        let pace_ms = number("scripted-pace-ms", &self.scripted_pace_ms, 0, 10_000);
        let grace_s = number("shutdown-grace-s", &self.shutdown_grace_s, 0, 3_600);
        let drain_delay_s = number("drain-delay-s", &self.drain_delay_s, 0, 600);
        let store_timeout_ms = number("store-timeout-ms", &self.store_timeout_ms, 10, 60_000);
        let retention_days = number("retention-days", &self.retention_days, 0, 36_500);
        let store_wait_replicas = number("store-wait-replicas", &self.store_wait_replicas, 0, 16) as u32;
        let per_s = number("rate-limit-per-s", &self.rate_limit_per_s, 1, 10_000);
        let burst = number("rate-limit-burst", &self.rate_limit_burst, 1, 100_000);
        let sessions_per_hour =
            number("max-sessions-per-user-per-hour", &self.max_sessions_per_user_per_hour, 0, 1_000_000);
        let header_timeout_s = number("header-timeout-s", &self.header_timeout_s, 1, 600);
        let slice_s = number("metering-slice-s", &self.metering_slice_s, 1, 3_600);
        let abandon_after_s = number("abandon-after-s", &self.abandon_after_s, 0, 86_400);
        let session_lease_ms = number("session-lease-ms", &self.session_lease_ms, 300, 600_000);
        let max_live_sessions = number("max-live-sessions", &self.max_live_sessions, 0, 10_000_000);
        let max_live_per_user = number("max-live-per-user", &self.max_live_per_user, 0, 1_000_000);
        let max_connections = match self.max_connections.as_str() {
            "auto" => None,
            value => Some(number("max-connections", value, 16, 10_000_000) as usize),
        };
        let metering_slice_s = match self.metering.as_str() {
            "off" => None,
            "minutes" => Some(slice_s),
            other => {
                errors.push(format!("--metering `{other}` is not `off` or `minutes`"));
                None
            }
        };
        if store_wait_replicas > 0 && matches!(store, Some(StoreKind::Memory)) {
            errors
                .push("--store-wait-replicas needs a Redis store (--store redis://... or redis+cluster://...)".into());
        }
        if self.admin_token.as_ref().is_some_and(|t| t.trim().len() < 16 || t.trim() != t) {
            errors.push("--admin-token must be at least 16 characters, with no space around it".to_owned());
        }
        let log_format = match self.log_format.as_str() {
            "plain" => LogFormat::Plain,
            "json" => LogFormat::Json,
            other => {
                errors.push(format!("--log-format `{other}` is not `plain` or `json`"));
                LogFormat::Plain
            }
        };
        let node_id_ok = |id: &str| {
            (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if self.node_id != "auto" && !node_id_ok(&self.node_id) {
            errors.push(format!("--node-id `{}` is not 1 to 64 letters, digits, `-`, `_` or `.`", self.node_id));
        }
        let speech = self.speech.validate(&mut errors);
        let webhooks = self.webhooks.validate(&mut errors);
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            errors.push(format!("--log `{}` is not a valid filter", self.log));
        }
        match (listen, auth, store, interviewer, scorer) {
            (Some(listen), Some(auth), Some(store), Some(interviewer), Some(scorer)) if errors.is_empty() => {
                Ok(Settings {
                    listen,
                    store,
                    interviewer,
                    scorer,
                    llm,
                    speech,
                    webhooks,
                    store_timeout: Duration::from_millis(store_timeout_ms),
                    store_wait_replicas,
                    retention: (retention_days > 0).then(|| Duration::from_secs(retention_days * 86_400)),
                    auth,
                    allowed_origins,
                    scripted_pace: Duration::from_millis(pace_ms),
                    shutdown_grace: Duration::from_secs(grace_s),
                    node_id: (self.node_id != "auto").then(|| self.node_id.clone()),
                    advertise_address: (self.advertise_address != "auto").then(|| self.advertise_address.clone()),
                    drain_delay: Duration::from_secs(drain_delay_s),
                    socket: SocketLimits { rate_per_s: per_s as f64, burst: burst as f64, ..SocketLimits::default() },
                    max_sessions_per_user_per_hour: (sessions_per_hour > 0).then_some(sessions_per_hour as u32),
                    metering_slice_s,
                    max_live_sessions: (max_live_sessions > 0).then_some(max_live_sessions as usize),
                    max_live_per_user: (max_live_per_user > 0).then_some(max_live_per_user as u32),
                    abandon_after: (abandon_after_s > 0).then(|| Duration::from_secs(abandon_after_s)),
                    session_lease: Duration::from_millis(session_lease_ms),
                    plans,
                    admin_token: self.admin_token.clone(),
                    max_connections,
                    header_timeout: Duration::from_secs(header_timeout_s),
                    log: self.log.clone(),
                    log_format,
                })
            }
            _ => Err(errors),
        }
    }

    /// `--auth jwt`'s settings, if they are valid; what is wrong goes to `errors`.
    fn jwt(&self, errors: &mut Vec<String>) -> Option<JwtConfig> {
        let before = errors.len();
        match &self.jwks_url {
            None => errors.push("--auth jwt needs --jwks-url (the identity provider's public keys)".to_owned()),
            Some(url) => errors.extend(check_jwks_url(url).err()),
        }
        let mut config = JwtConfig {
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            authorized_parties: self
                .jwt_authorized_parties
                .iter()
                .flat_map(|parties| parties.split(','))
                .map(str::trim)
                .filter(|party| !party.is_empty())
                .map(str::to_owned)
                .collect(),
            require_session: self.jwt_require_session,
            ..JwtConfig::new(self.jwks_url.clone().unwrap_or_default())
        };
        // The provider's keys sign tokens for all its applications: without a check that a
        // token is for this one, a user of any of them would be a user here.
        match (config.binds_audience(), self.jwt_allow_any_audience) {
            (false, false) => errors.push(
                "--auth jwt needs --jwt-audience (the `aud` of this app's tokens) or --jwt-authorized-parties \
                 (their `azp`, e.g. your pages' origins with Clerk); or, to accept tokens the identity provider \
                 issued to any of its applications, --jwt-allow-any-audience"
                    .to_owned(),
            ),
            (true, true) => errors.push(
                "--jwt-allow-any-audience contradicts --jwt-audience and --jwt-authorized-parties; give one or the other"
                    .to_owned(),
            ),
            _ => {}
        }
        if let Some(value) = &self.jwt_max_lifetime_s {
            match whole_number("jwt-max-lifetime-s", value, 1, 30 * 86_400) {
                Ok(seconds) => config.max_lifetime = Duration::from_secs(seconds),
                Err(error) => errors.push(error),
            }
        }
        (errors.len() == before).then_some(config)
    }
}

/// `value` as a whole number from `min` to `max`, or the error saying it is not.
pub(crate) fn whole_number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("--{name} `{value}` is not a whole number from {min} to {max}")),
    }
}

/// An `https://` URL, or `http://` to this machine: keys fetched in the clear from elsewhere
/// could be replaced on the way, and whoever replaced them could sign in as anyone.
fn check_jwks_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("--jwks-url `{url}` is not an https:// URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if parsed.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err(format!(
            "--jwks-url `{url}` must be https:// (http:// only to this machine: localhost, 127.0.0.0/8, [::1])"
        )),
        _ => Err(format!("--jwks-url `{url}` is not an https:// URL")),
    }
}

/// A URL without its password, for logs and errors.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// The shipped plans, with those of `dir` (`--plans`) added: every file's problems at once.
fn load_plans(dir: &std::path::Path) -> Result<PlanCatalog, String> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            files.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), text));
        }
    }
    files.sort();
    let added = PlanCatalog::from_toml(files.iter().map(|(name, text)| (name.as_str(), text.as_str())))
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))?;
    let mut catalog = PlanCatalog::shipped();
    catalog.extend(added);
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(args: &[&str]) -> Vec<String> {
        let args = Args::try_parse_from(std::iter::once("viva-gateway").chain(args.iter().copied())).unwrap();
        args.validate().err().unwrap_or_default()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(errors(&[]), Vec::<String>::new());
    }

    #[test]
    fn speech_providers() {
        use crate::speech::{SttSettings, TtsSettings};
        let parse = |args: &[&str]| {
            Args::try_parse_from(std::iter::once(&"viva-gateway").chain(args)).unwrap().validate().unwrap().speech
        };
        let text = parse(&[]);
        assert_eq!((text.stt, text.tts), (SttSettings::None, TtsSettings::None), "text only by default");
        let offline = parse(&["--stt", "pocketsphinx", "--stt-grammar", "cache  ttl", "--tts", "espeak-ng"]);
        assert_eq!(offline.stt, SttSettings::Pocketsphinx { grammar: vec!["cache".into(), "ttl".into()] });
        assert_eq!(offline.tts, TtsSettings::Espeak { voice: "en-us".into() });
        assert_eq!((offline.end_silence_ms, offline.min_speech_ms), (1_200, 300));
        let found = errors(&["--stt", "whisper", "--tts", "openai", "--stt-grammar", "a", "--vad-end-silence-ms", "0"]);
        assert_eq!(
            found,
            [
                "--stt `whisper` is not `none`, `pocketsphinx` or `openai`",
                "--stt-grammar is only used with --stt pocketsphinx",
                "--tts-base-url is needed with the openai provider",
                "--vad-end-silence-ms `0` is not a whole number from 200 to 10000",
            ]
        );
        assert_eq!(text.recordings, None, "no audio kept by default");
        let defaults = Args::try_parse_from(["viva-gateway"]).unwrap().validate().unwrap();
        assert_eq!(
            (defaults.metering_slice_s, defaults.abandon_after, defaults.admin_token),
            (None, Some(Duration::from_secs(300)), None)
        );
        let metered = Args::try_parse_from([
            "viva-gateway",
            "--metering",
            "minutes",
            "--metering-slice-s",
            "5",
            "--abandon-after-s",
            "0",
            "--admin-token",
            "0123456789abcdef",
        ])
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!((metered.metering_slice_s, metered.abandon_after), (Some(5), None));
        assert_eq!((defaults.max_live_per_user, defaults.max_live_sessions), (Some(2), None), "two live a user");
        assert_eq!(
            errors(&["--metering", "hours", "--metering-slice-s", "0", "--admin-token", "short"]),
            [
                "--metering-slice-s `0` is not a whole number from 1 to 3600",
                "--metering `hours` is not `off` or `minutes`",
                "--admin-token must be at least 16 characters, with no space around it",
            ]
        );
        let kept = parse(&["--stt", "pocketsphinx", "--audio-recordings", "on", "--audio-recordings-max-mb", "2"]);
        assert_eq!(kept.recordings.map(|r| r.max_bytes_per_session), Some(2 << 20));
        assert_eq!(
            errors(&["--audio-recordings", "on"]),
            ["--audio-recordings on keeps spoken answers: it needs an --stt provider"]
        );
        assert_eq!(
            errors(&["--stt", "pocketsphinx", "--audio-recordings", "yes", "--audio-recordings-max-mb", "0"]),
            [
                "--audio-recordings-max-mb `0` is not a whole number from 1 to 1024",
                "--audio-recordings `yes` is not `on` or `off`",
            ]
        );
    }

    #[test]
    fn jwt_and_origins() {
        assert_eq!(
            errors(&["--auth", "jwt", "--jwt-audience", "viva"]),
            ["--auth jwt needs --jwks-url (the identity provider's public keys)"]
        );
        let found = errors(&[
            "--auth",
            "jwt",
            "--jwks-url",
            "ftp://x",
            "--jwt-audience",
            "viva",
            "--allowed-origins",
            "https://a.example, *",
        ]);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("ftp://x") && found[1].contains('*'));
        for flag in [
            &["--jwks-url", "https://idp.example/jwks"][..],
            &["--jwt-authorized-parties", "https://app.example.com"],
            &["--jwt-allow-any-audience"],
            &["--jwt-require-session"],
            &["--jwt-max-lifetime-s", "60"],
        ] {
            assert_eq!(errors(flag), [format!("{} is only used with --auth jwt", flag[0])]);
        }
        let args = [
            "--listen",
            "0.0.0.0:8080",
            "--auth",
            "jwt",
            "--jwks-url",
            "https://idp.example/.well-known/jwks.json",
            "--jwt-issuer",
            "https://idp.example",
            "--jwt-authorized-parties",
            "https://app.example.com, http://localhost:3000,",
            "--allowed-origins",
            "https://App.example.com:443,http://localhost:3000",
        ];
        let settings = Args::try_parse_from(std::iter::once("viva-gateway").chain(args)).unwrap().validate().unwrap();
        let AuthSettings::Jwt(jwt) = settings.auth else { panic!("jwt expected") };
        assert_eq!(jwt.issuer.as_deref(), Some("https://idp.example"));
        assert_eq!(jwt.audience, None);
        assert_eq!(jwt.authorized_parties, ["https://app.example.com", "http://localhost:3000"]);
        assert_eq!((jwt.require_session, jwt.max_lifetime), (false, Duration::from_secs(86_400)));
        assert_eq!(settings.allowed_origins, ["https://app.example.com", "http://localhost:3000"]);
    }

    /// `--auth jwt` with `https://idp.example/jwks` and `more`.
    fn jwt_errors(more: &[&str]) -> Vec<String> {
        errors(&[&["--auth", "jwt", "--jwks-url", "https://idp.example/jwks"][..], more].concat())
    }

    #[test]
    fn jwt_tokens_must_be_for_this_app_unless_any_is_allowed_on_purpose() {
        let found = jwt_errors(&[]);
        assert_eq!(found.len(), 1, "{found:#?}");
        for flag in ["--jwt-audience", "--jwt-authorized-parties", "--jwt-allow-any-audience"] {
            assert!(found[0].contains(flag), "{found:#?}");
        }
        assert_eq!(jwt_errors(&["--jwt-authorized-parties", " , "]), found, "an empty list is none");
        for fine in [
            &["--jwt-audience", "viva"][..],
            &["--jwt-authorized-parties", "https://app.example.com"],
            &["--jwt-audience", "viva", "--jwt-authorized-parties", "https://app.example.com"],
            &["--jwt-allow-any-audience"],
        ] {
            assert_eq!(jwt_errors(fine), Vec::<String>::new(), "{fine:?}");
        }
        let found = jwt_errors(&["--jwt-allow-any-audience", "--jwt-audience", "viva"]);
        assert!(found.len() == 1 && found[0].contains("contradicts"), "{found:#?}");
    }

    #[test]
    fn the_jwks_url_is_https_or_to_this_machine() {
        for url in [
            "https://idp.example/.well-known/jwks.json",
            "http://127.0.0.1:9000/jwks",
            "http://127.1.2.3/jwks",
            "http://localhost:3000/jwks",
            "http://LocalHost/jwks",
            "http://[::1]:9000/jwks",
        ] {
            assert_eq!(errors(&["--auth", "jwt", "--jwks-url", url, "--jwt-audience", "viva"]), Vec::<String>::new());
        }
        for url in [
            "http://idp.example/jwks",
            "http://10.0.0.1/jwks",
            "http://127.0.0.1.evil.example/jwks",
            "http://localhost.evil.example/jwks",
            "http://127.0.0.1@evil.example/jwks",
            "ftp://127.0.0.1/jwks",
            "idp.example/jwks",
        ] {
            let found = errors(&["--auth", "jwt", "--jwks-url", url, "--jwt-audience", "viva"]);
            assert!(found.len() == 1 && found[0].contains(url) && found[0].contains("https://"), "{found:#?}");
        }
    }

    #[test]
    fn jwt_lifetime_and_sessions() {
        let jwt = |more: &[&str]| {
            let args =
                [&["viva-gateway", "--auth", "jwt", "--jwks-url", "https://idp.example/jwks"][..], more].concat();
            match Args::try_parse_from(args).unwrap().validate().unwrap().auth {
                AuthSettings::Jwt(config) => config,
                AuthSettings::Dev => panic!("jwt expected"),
            }
        };
        let config = jwt(&["--jwt-audience", "viva", "--jwt-max-lifetime-s", "3600", "--jwt-require-session"]);
        assert_eq!((config.max_lifetime, config.require_session), (Duration::from_secs(3600), true));
        for bad in ["0", "2592001", "1h"] {
            let found = jwt_errors(&["--jwt-audience", "viva", "--jwt-max-lifetime-s", bad]);
            assert_eq!(found, [format!("--jwt-max-lifetime-s `{bad}` is not a whole number from 1 to 2592000")]);
        }
    }

    #[test]
    fn llm_limits() {
        let llm = ["--interviewer", "llm", "--llm-base-url", "http://127.0.0.1:1/v1", "--llm-model", "m"];
        let settings = Args::try_parse_from(std::iter::once(&"viva-gateway").chain(&llm)).unwrap().validate().unwrap();
        let limits = settings.llm.unwrap();
        assert_eq!((limits.max_concurrency, limits.concurrency_per_user), (512, 4));
        assert_eq!((limits.requests_per_minute, limits.tokens_per_minute), (0, 0));
        assert_eq!(limits.turn_queue, Duration::from_secs(1));
        let bad = ["--llm-max-concurrency", "0", "--llm-tokens-per-minute", "lots", "--llm-turn-queue-ms", "1s"];
        let found = errors(&llm.iter().chain(&bad).copied().collect::<Vec<_>>());
        assert_eq!(
            found,
            [
                "--llm-max-concurrency `0` is not a whole number from 1 to 10000",
                "--llm-tokens-per-minute `lots` is not a whole number from 0 to 4000000000",
                "--llm-turn-queue-ms `1s` is not a whole number from 0 to 60000",
            ]
        );
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let found = errors(&[
            "--listen",
            "0.0.0.0:80",
            "--scripted-pace-ms",
            "fast",
            "--log-format",
            "xml",
            "--store",
            "sqlite://x",
        ]);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("sqlite"));
        assert!(found[1].contains("loopback"));
        assert!(found[2].contains("scripted-pace-ms"));
        assert!(found[3].contains("log-format"));
    }

    #[test]
    fn connection_limits() {
        let parse = |args: &[&str]| {
            Args::try_parse_from(std::iter::once("viva-gateway").chain(args.iter().copied())).unwrap().validate()
        };
        let defaults = parse(&[]).unwrap();
        assert_eq!((defaults.max_connections, defaults.header_timeout), (None, Duration::from_secs(10)));
        let set = parse(&["--max-connections", "5000", "--header-timeout-s", "3"]).unwrap();
        assert_eq!((set.max_connections, set.header_timeout), (Some(5000), Duration::from_secs(3)));
        assert_eq!(defaults.max_sessions_per_user_per_hour, Some(60));
        assert_eq!(parse(&["--max-sessions-per-user-per-hour", "0"]).unwrap().max_sessions_per_user_per_hour, None);
        let found = errors(&["--max-connections", "many", "--header-timeout-s", "0"]);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("header-timeout-s") && found[1].contains("max-connections"));
    }
}

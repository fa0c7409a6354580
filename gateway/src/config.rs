//! Configuration: flags, each also a `VIVA_*` environment variable. Every value is checked
//! and every problem reported at once; the binary exits 64 (EX_USAGE) on any.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::auth::jwt::JwtConfig;
use crate::ws::{SocketLimits, normalize_origin};

/// Command-line flags and their `VIVA_*` variables, as given.
#[derive(Debug, Clone, Parser)]
#[command(name = "viva-gateway", version, about = "Viva's real-time interview gateway")]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "VIVA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Where sessions are stored: `memory`, or `redis://host:port/db`.
    #[arg(long, env = "VIVA_STORE", default_value = "memory", hide_env_values = true)]
    pub store: String,
    /// How long one store command may take, in milliseconds, before it counts as failed.
    #[arg(long, env = "VIVA_STORE_TIMEOUT_MS", default_value = "2000")]
    pub store_timeout_ms: String,
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
    /// With `--auth jwt`: the identity provider's JWKS URL (its public keys).
    #[arg(long, env = "VIVA_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// With `--auth jwt`: the `iss` every token must carry.
    #[arg(long, env = "VIVA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// With `--auth jwt`: the `aud` every token must carry.
    #[arg(long, env = "VIVA_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
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
    /// Delay between the scripted interviewer's words, in milliseconds (0 in tests).
    #[arg(long, env = "VIVA_SCRIPTED_PACE_MS", default_value = "25")]
    pub scripted_pace_ms: String,
    /// How long a graceful shutdown waits for sessions to persist, in seconds.
    #[arg(long, env = "VIVA_SHUTDOWN_GRACE_S", default_value = "10")]
    pub shutdown_grace_s: String,
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
    /// How long a finished session is kept.
    pub retention: Option<Duration>,
    /// Who speaks the turns.
    pub interviewer: Provider,
    /// Who scores.
    pub scorer: Provider,
    /// The OpenAI-compatible API, when configured.
    pub llm: Option<LlmSettings>,
    /// Authentication.
    pub auth: AuthSettings,
    /// Web origins allowed to open WebSockets besides the gateway's own, normalized.
    pub allowed_origins: Vec<String>,
    /// Delay between scripted words.
    pub scripted_pace: Duration,
    /// Graceful shutdown bound.
    pub shutdown_grace: Duration,
    /// Per-socket limits.
    pub socket: SocketLimits,
    /// Sessions one user may create in any hour (`None`: no limit).
    pub max_sessions_per_user_per_hour: Option<u32>,
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
            url if url.starts_with("redis://") => Some(StoreKind::Redis(url.to_owned())),
            other => {
                errors.push(format!("--store `{}` is not `memory` or a `redis://host:port/db` URL", redacted(other)));
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
        let llm_per_user = self.llm_concurrency_per_user.parse::<usize>().ok().filter(|n| (1..=1_000).contains(n));
        if llm_per_user.is_none() {
            let value = &self.llm_concurrency_per_user;
            errors.push(format!("--llm-concurrency-per-user `{value}` is not a whole number from 1 to 1000"));
        }
        let llm = match (&self.llm_base_url, &self.llm_model) {
            (Some(base_url), Some(model)) if base_url.starts_with("http://") || base_url.starts_with("https://") => {
                Some(LlmSettings {
                    base_url: base_url.clone(),
                    model: model.clone(),
                    api_key: self.llm_api_key.clone(),
                    concurrency_per_user: llm_per_user.unwrap_or(1),
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
        let auth = match (self.auth.as_str(), &self.jwks_url) {
            ("dev", _) => Some(AuthSettings::Dev),
            ("jwt", Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(AuthSettings::Jwt(JwtConfig {
                    issuer: self.jwt_issuer.clone(),
                    audience: self.jwt_audience.clone(),
                    ..JwtConfig::new(url)
                }))
            }
            ("jwt", Some(url)) => {
                errors.push(format!("--jwks-url `{url}` is not an http:// or https:// URL"));
                None
            }
            ("jwt", None) => {
                errors.push("--auth jwt needs --jwks-url (the identity provider's public keys)".to_owned());
                None
            }
            (other, _) => {
                errors.push(format!("--auth `{other}` is not `dev` or `jwt`"));
                None
            }
        };
        if self.auth != "jwt" {
            // Set but unused would look like JWT auth is on when it is not.
            let jwt_flags =
                [("jwks-url", &self.jwks_url), ("jwt-issuer", &self.jwt_issuer), ("jwt-audience", &self.jwt_audience)];
            for (flag, value) in jwt_flags {
                if value.is_some() {
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
        let mut number = |name: &str, value: &str, min: u64, max: u64| -> u64 {
            match value.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    errors.push(format!("--{name} `{value}` is not a whole number from {min} to {max}"));
                    min
                }
            }
        };
        let pace_ms = number("scripted-pace-ms", &self.scripted_pace_ms, 0, 10_000);
        let grace_s = number("shutdown-grace-s", &self.shutdown_grace_s, 0, 3_600);
        let store_timeout_ms = number("store-timeout-ms", &self.store_timeout_ms, 10, 60_000);
        let retention_days = number("retention-days", &self.retention_days, 0, 36_500);
        let per_s = number("rate-limit-per-s", &self.rate_limit_per_s, 1, 10_000);
        let burst = number("rate-limit-burst", &self.rate_limit_burst, 1, 100_000);
        let sessions_per_hour =
            number("max-sessions-per-user-per-hour", &self.max_sessions_per_user_per_hour, 0, 1_000_000);
        let header_timeout_s = number("header-timeout-s", &self.header_timeout_s, 1, 600);
        let max_connections = match self.max_connections.as_str() {
            "auto" => None,
            value => Some(number("max-connections", value, 16, 10_000_000) as usize),
        };
        let log_format = match self.log_format.as_str() {
            "plain" => LogFormat::Plain,
            "json" => LogFormat::Json,
            other => {
                errors.push(format!("--log-format `{other}` is not `plain` or `json`"));
                LogFormat::Plain
            }
        };
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
                    store_timeout: Duration::from_millis(store_timeout_ms),
                    retention: (retention_days > 0).then(|| Duration::from_secs(retention_days * 86_400)),
                    auth,
                    allowed_origins,
                    scripted_pace: Duration::from_millis(pace_ms),
                    shutdown_grace: Duration::from_secs(grace_s),
                    socket: SocketLimits { rate_per_s: per_s as f64, burst: burst as f64, ..SocketLimits::default() },
                    max_sessions_per_user_per_hour: (sessions_per_hour > 0).then_some(sessions_per_hour as u32),
                    max_connections,
                    header_timeout: Duration::from_secs(header_timeout_s),
                    log: self.log.clone(),
                    log_format,
                })
            }
            _ => Err(errors),
        }
    }
}

/// A URL without its password, for logs and errors.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
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
    fn jwt_and_origins() {
        assert_eq!(errors(&["--auth", "jwt"]), ["--auth jwt needs --jwks-url (the identity provider's public keys)"]);
        let found = errors(&["--auth", "jwt", "--jwks-url", "ftp://x", "--allowed-origins", "https://a.example, *"]);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("ftp://x") && found[1].contains('*'));
        assert!(errors(&["--jwks-url", "https://idp.example/jwks"])[0].contains("only used with --auth jwt"));
        let args = [
            "--listen",
            "0.0.0.0:8080",
            "--auth",
            "jwt",
            "--jwks-url",
            "https://idp.example/.well-known/jwks.json",
            "--jwt-issuer",
            "https://idp.example",
            "--allowed-origins",
            "https://App.example.com:443,http://localhost:3000",
        ];
        let settings = Args::try_parse_from(std::iter::once("viva-gateway").chain(args)).unwrap().validate().unwrap();
        let AuthSettings::Jwt(jwt) = settings.auth else { panic!("jwt expected") };
        assert_eq!(jwt.issuer.as_deref(), Some("https://idp.example"));
        assert_eq!(jwt.audience, None);
        assert_eq!(settings.allowed_origins, ["https://app.example.com", "http://localhost:3000"]);
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

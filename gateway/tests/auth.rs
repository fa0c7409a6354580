//! Who may connect, against the real router on 127.0.0.1: single-use socket tickets for
//! browsers, JWTs verified against a real local JWKS endpoint (keys made in the test), the
//! WebSocket `Origin` check, and the security headers on every response.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Connect, Gateway, Process};
use viva_engine::EngineConfig;
use viva_gateway::auth::ticket::Tickets;
use viva_protocol::ServerMessage;
use viva_protocol::rest::SocketTicket;

/// One HTTP client per test (each runs on its own thread): building one costs tens of
/// milliseconds, which adds up over a burst.
fn http() -> reqwest::Client {
    thread_local! {
        static CLIENT: reqwest::Client = common::http();
    }
    CLIENT.with(reqwest::Client::clone)
}

/// `POST /v1/sessions/{id}/ticket` with `token` as the bearer: status and body.
async fn post_ticket(gateway: &Gateway, token: &str, session: &str) -> (u16, serde_json::Value) {
    let url = gateway.url(&format!("/v1/sessions/{session}/ticket"));
    let response = http().post(url).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(serde_json::Value::Null))
}

async fn ticket(gateway: &Gateway, user: &str, session: &str) -> String {
    let (status, body) = post_ticket(gateway, &format!("dev:{user}"), session).await;
    assert_eq!(status, 200, "{body}");
    let ticket: SocketTicket = serde_json::from_value(body).unwrap();
    assert_eq!(ticket.expires_in_s, 60);
    ticket.ticket
}

/// A refused handshake over plain HTTP, so the refusal's body can be read.
async fn handshake_refusal(gateway: &Gateway, path_and_query: &str, token: Option<&str>) -> (u16, String) {
    let mut request = http()
        .get(gateway.url(path_and_query))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_owner_connects_with_a_ticket_once() {
    let gateway = Gateway::start().await;
    let session = gateway.create("alice", "senior-backend").await;
    let ticket = ticket(&gateway, "alice", &session).await;
    assert!(ticket.len() >= 22 && ticket.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));

    let mut client = gateway.connect(&session, Connect::ticket(&ticket)).await.unwrap();
    assert!(matches!(client.message().await, ServerMessage::SessionReady(r) if r.session_id == session));
    assert_eq!(gateway.connect(&session, Connect::ticket(&ticket)).await.err(), Some(401), "used twice");

    // A used ticket is refused exactly like a bad token: same status, same body.
    let used = handshake_refusal(&gateway, &format!("/v1/sessions/{session}/ws?ticket={ticket}"), None).await;
    let bad_token = handshake_refusal(&gateway, &format!("/v1/sessions/{session}/ws"), Some("dev:")).await;
    assert_eq!(used.0, 401);
    assert_eq!(used, bad_token);
    let unknown = handshake_refusal(&gateway, &format!("/v1/sessions/{session}/ws?ticket=abc"), None).await;
    assert_eq!(unknown, bad_token);
}

#[tokio::test]
async fn a_ticket_is_for_one_session_of_its_owner() {
    let gateway = Gateway::start().await;
    let mine = gateway.create("alice", "senior-backend").await;
    let other = gateway.create("alice", "frontend").await;
    let ticket_for_mine = ticket(&gateway, "alice", &mine).await;
    assert_eq!(gateway.connect(&other, Connect::ticket(&ticket_for_mine)).await.err(), Some(401));
    // Refused elsewhere, it is still good where it belongs (a refusal remembers nothing a
    // forger could have sent).
    gateway.connect(&mine, Connect::ticket(&ticket_for_mine)).await.unwrap();

    // Strangers get what every other session endpoint gives them: 404, no hint it exists.
    assert_eq!(post_ticket(&gateway, "dev:mallory", &mine).await.0, 404);
    assert_eq!(post_ticket(&gateway, "dev:alice", "ses_nope").await.0, 404);
    let (status, body) = post_ticket(&gateway, "dev:", &mine).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    // A ticket is not a bearer token.
    let ticket = ticket(&gateway, "alice", &mine).await;
    assert_eq!(post_ticket(&gateway, &ticket, &mine).await.0, 401);
    assert_eq!(gateway.get(None, &format!("/v1/sessions/{mine}?ticket={ticket}")).await.0, 401);
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    // Tickets that live no time at all: expired as soon as issued (the 60 s boundary itself is
    // a unit test of the store, on a clock passed in).
    let gateway = Gateway::start_with(EngineConfig::default(), |state| {
        state.tickets = Arc::new(Tickets::new(Arc::clone(state.engine.store()), Duration::ZERO));
    })
    .await;
    let session = gateway.create("alice", "senior-backend").await;
    let url = gateway.url(&format!("/v1/sessions/{session}/ticket"));
    let response = http().post(url).bearer_auth("dev:alice").send().await.unwrap();
    let ticket: SocketTicket = response.json().await.unwrap();
    assert_eq!(gateway.connect(&session, Connect::ticket(&ticket.ticket)).await.err(), Some(401));
}

#[tokio::test]
async fn a_ticket_issued_by_one_gateway_works_once_on_another_of_the_same_redis() {
    let redis = viva_testkit::RedisServer::start();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let store = viva_engine::store::RedisStore::connect(&redis.url(), Duration::from_secs(2)).await.unwrap();
        let engine = viva_engine::Engine::builder()
            .store(Arc::new(store))
            .interviewer(Arc::new(viva_engine::interviewer::ScriptedInterviewer::new(Duration::ZERO)))
            .build();
        nodes.push(Gateway::start_on(engine, |_| {}).await);
    }
    let session = nodes[0].create("alice", "senior-backend").await;
    let ticket = ticket(&nodes[0], "alice", &session).await;
    let mut client = nodes[1].connect(&session, Connect::ticket(&ticket)).await.unwrap();
    assert!(matches!(client.message().await, ServerMessage::SessionReady(r) if r.session_id == session));
    drop(client);
    for node in &nodes {
        assert_eq!(node.connect(&session, Connect::ticket(&ticket)).await.err(), Some(401), "used, on every node");
    }
    // And the other way round.
    let ticket = self::ticket(&nodes[1], "alice", &session).await;
    nodes[0].connect(&session, Connect::ticket(&ticket)).await.unwrap();
}

#[tokio::test]
async fn tickets_that_others_hold_lock_no_one_out() {
    // Issue 12, item 8: unused tickets were kept, under a global cap that 3,200 dev users
    // filled, after which nobody else could connect from a browser. Tickets are signed now and
    // issuing keeps nothing: many users holding many unused ones change nothing for anyone.
    let gateway = Gateway::start().await;
    for user in 0..100 {
        let user = format!("hoarder{user}");
        let session = gateway.create(&user, "senior-backend").await;
        for _ in 0..40 {
            ticket(&gateway, &user, &session).await;
        }
    }
    let session = gateway.create("alice", "senior-backend").await;
    let mut client =
        gateway.connect(&session, Connect::ticket(&ticket(&gateway, "alice", &session).await)).await.unwrap();
    assert!(matches!(client.message().await, ServerMessage::SessionReady(_)));
}

// ---------------------------------------------------------------------------------------------
// JWT

mod jwt {
    //! Keys made here, a JWKS served here, tokens signed here.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, LazyLock, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use p256::pkcs8::EncodePrivateKey;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::traits::PublicKeyParts;
    use serde_json::{Value, json};

    pub const ISSUER: &str = "https://idp.test";
    pub const AUDIENCE: &str = "viva";

    /// A key pair: what signs, and its public half as a JWK.
    pub struct KeyPair {
        pub alg: Algorithm,
        pub signing: EncodingKey,
        pub public: Value,
        /// The public key as PEM (SPKI) and PKCS#1 DER: what a confused verifier might use as
        /// an HMAC secret.
        pub public_pem: Vec<u8>,
        pub public_der: Vec<u8>,
    }

    impl KeyPair {
        fn rsa() -> Self {
            let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
            let public = private.to_public_key();
            let jwk = json!({
                "kty": "RSA",
                "n": B64.encode(public.n().to_bytes_be()),
                "e": B64.encode(public.e().to_bytes_be()),
            });
            let public_pem = public.to_public_key_pem(rsa::pkcs8::LineEnding::LF).unwrap().into_bytes();
            let public_der = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&public).unwrap().into_vec();
            let signing = EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes());
            Self { alg: Algorithm::RS256, signing, public: jwk, public_pem, public_der }
        }

        fn p256() -> Self {
            let private = p256::SecretKey::random(&mut rand_core::OsRng);
            let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&private.public_key(), false);
            let jwk = json!({
                "kty": "EC",
                "crv": "P-256",
                "x": B64.encode(point.x().unwrap()),
                "y": B64.encode(point.y().unwrap()),
            });
            let signing = EncodingKey::from_ec_der(private.to_pkcs8_der().unwrap().as_bytes());
            Self { alg: Algorithm::ES256, signing, public: jwk, public_pem: Vec::new(), public_der: Vec::new() }
        }

        /// The JWK as published under `kid`, with `extra` fields (e.g. `alg`, `use`).
        pub fn jwk(&self, kid: &str, extra: Value) -> Value {
            let mut jwk = self.public.clone();
            jwk["kid"] = json!(kid);
            for (name, value) in extra.as_object().unwrap() {
                jwk[name] = value.clone();
            }
            jwk
        }

        /// A token with `claims`, signed by this key, naming `kid`.
        pub fn sign(&self, kid: &str, claims: &Value) -> String {
            let mut header = Header::new(self.alg);
            header.kid = Some(kid.to_owned());
            jsonwebtoken::encode(&header, claims, &self.signing).unwrap()
        }
    }

    /// RSA 2048 keys take a while to make in a debug build: made once per test binary.
    pub struct Keys {
        pub rsa: KeyPair,
        pub ec: KeyPair,
        /// Not published at first: a stranger's key, or one rotated in later.
        pub other: KeyPair,
    }

    pub static KEYS: LazyLock<Keys> =
        LazyLock::new(|| Keys { rsa: KeyPair::rsa(), ec: KeyPair::p256(), other: KeyPair::rsa() });

    pub fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    /// Valid claims for `sub`: issuer, audience, expiring in 5 minutes.
    pub fn claims(sub: &str) -> Value {
        json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 300 })
    }

    /// `header.payload.signature` assembled by hand, for tokens no library would make.
    pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
        let encode = |value: &Value| B64.encode(serde_json::to_vec(value).unwrap());
        format!("{}.{}.{}", encode(header), encode(claims), B64.encode(signature))
    }

    /// An HS256 token whose HMAC key is `secret` (e.g. a public key's bytes).
    pub fn hs256(kid: &str, claims: &Value, secret: &[u8]) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    /// A real JWKS endpoint on 127.0.0.1: serves what it holds, counts requests, can fail.
    #[derive(Clone)]
    pub struct Jwks {
        pub url: String,
        keys: Arc<Mutex<Vec<Value>>>,
        failing: Arc<std::sync::atomic::AtomicBool>,
        requests: Arc<AtomicUsize>,
    }

    impl Jwks {
        pub async fn serve(keys: Vec<Value>) -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
            let jwks =
                Self { url, keys: Arc::new(Mutex::new(keys)), failing: Arc::default(), requests: Arc::default() };
            let state = jwks.clone();
            let app = axum::Router::new().route(
                "/.well-known/jwks.json",
                axum::routing::get(move || {
                    let state = state.clone();
                    async move {
                        state.requests.fetch_add(1, Ordering::SeqCst);
                        if state.failing.load(Ordering::SeqCst) {
                            return Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                        }
                        let keys = state.keys.lock().unwrap().clone();
                        Ok(axum::Json(json!({ "keys": keys })))
                    }
                }),
            );
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            jwks
        }

        pub fn publish(&self, jwk: Value) {
            self.keys.lock().unwrap().push(jwk);
        }

        pub fn fail(&self, failing: bool) {
            self.failing.store(failing, Ordering::SeqCst);
        }

        pub fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }
    }

    /// Until `done` holds (polling; the thing awaited happens in the background).
    pub async fn eventually(mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + super::common::PATIENCE;
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "condition never held");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

use jwt::{AUDIENCE, ISSUER, Jwks, KEYS, claims};
use serde_json::json;
use viva_gateway::auth::AuthMode;
use viva_gateway::auth::jwt::{JwtConfig, JwtVerifier};

/// A gateway with `--auth jwt` against `jwks`, issuer and audience configured.
async fn jwt_gateway(jwks: &Jwks, tune: impl FnOnce(&mut JwtConfig)) -> Gateway {
    let mut config =
        JwtConfig { issuer: Some(ISSUER.into()), audience: Some(AUDIENCE.into()), ..JwtConfig::new(&jwks.url) };
    tune(&mut config);
    let verifier = JwtVerifier::new(config).await.unwrap();
    Gateway::start_with(EngineConfig::default(), |state| state.auth = AuthMode::Jwt(verifier)).await
}

/// The JWKS most tests publish: one RSA key, one P-256 key, and the other RSA key under a
/// `kid` of its own but labelled for another algorithm (so it must not verify RS256).
fn published() -> Vec<serde_json::Value> {
    vec![
        KEYS.rsa.jwk("rsa-1", json!({ "alg": "RS256", "use": "sig" })),
        KEYS.ec.jwk("ec-1", json!({})),
        KEYS.other.jwk("pss-1", json!({ "alg": "PS256" })),
    ]
}

/// `POST /v1/sessions` with `token`: status and the new session's id, if any.
async fn create_with(gateway: &Gateway, token: &str) -> (u16, Option<String>) {
    let response = http()
        .post(gateway.url("/v1/sessions"))
        .bearer_auth(token)
        .json(&json!({ "plan": "senior-backend" }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, body["session_id"].as_str().map(str::to_owned))
}

/// `GET /v1/me/sessions` with `token`: status and body.
async fn mine_with(gateway: &Gateway, token: &str) -> (u16, String) {
    let response = http().get(gateway.url("/v1/me/sessions")).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn rs256_and_es256_tokens_open_rest_and_sockets() {
    let jwks = Jwks::serve(published()).await;
    let gateway = jwt_gateway(&jwks, |_| {}).await;
    let rs = KEYS.rsa.sign("rsa-1", &claims("user_2abcXYZ"));
    let es = KEYS.ec.sign("ec-1", &claims("user_2abcXYZ"));

    let (status, session) = create_with(&gateway, &rs).await;
    assert_eq!(status, 201);
    let session = session.unwrap();
    let (status, body) = mine_with(&gateway, &es).await;
    assert_eq!(status, 200);
    assert!(body.contains(&session), "the same user, whichever key signed: {body}");
    for token in [&rs, &es] {
        let mut client = gateway.connect(&session, Connect::user(token)).await.unwrap();
        assert!(matches!(client.message().await, ServerMessage::SessionReady(_)));
    }
    // A browser: a ticket asked for with the JWT, then the socket with the ticket alone.
    let (status, body) = post_ticket(&gateway, &es, &session).await;
    assert_eq!(status, 200);
    let ticket = body["ticket"].as_str().unwrap();
    let mut client = gateway.connect(&session, Connect::ticket(ticket)).await.unwrap();
    assert!(matches!(client.message().await, ServerMessage::SessionReady(_)));
    // Another user of the same provider sees none of it.
    let stranger = KEYS.rsa.sign("rsa-1", &claims("user_other"));
    assert_eq!(gateway.connect(&session, Connect::user(&stranger)).await.err(), Some(404));
    assert_eq!(post_ticket(&gateway, &stranger, &session).await.0, 404);
}

#[tokio::test]
async fn clock_skew_within_30_s_is_tolerated() {
    let jwks = Jwks::serve(published()).await;
    let gateway = jwt_gateway(&jwks, |_| {}).await;
    let mut just_expired = claims("ann");
    just_expired["exp"] = json!(jwt::now() - 10);
    let mut almost_valid = claims("ann");
    almost_valid["nbf"] = json!(jwt::now() + 10);
    for claims in [just_expired, almost_valid] {
        assert_eq!(mine_with(&gateway, &KEYS.rsa.sign("rsa-1", &claims)).await.0, 200, "{claims}");
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_alike() {
    let jwks = Jwks::serve(published()).await;
    let gateway = jwt_gateway(&jwks, |_| {}).await;
    let session = create_with(&gateway, &KEYS.rsa.sign("rsa-1", &claims("ann"))).await.1.unwrap();
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut claims = claims("ann");
        change(&mut claims);
        claims
    };
    let rs = |claims: &serde_json::Value| KEYS.rsa.sign("rsa-1", claims);
    let valid = claims("ann");
    let cases: Vec<(&str, String)> = vec![
        ("expired", rs(&with(&|c| c["exp"] = json!(jwt::now() - 60)))),
        ("not yet valid", rs(&with(&|c| c["nbf"] = json!(jwt::now() + 120)))),
        ("no exp", rs(&with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))))),
        ("wrong issuer", rs(&with(&|c| c["iss"] = json!("https://evil.test")))),
        ("no issuer", rs(&with(&|c| drop(c.as_object_mut().unwrap().remove("iss"))))),
        ("wrong audience", rs(&with(&|c| c["aud"] = json!("someone-else")))),
        ("no audience", rs(&with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))))),
        ("no sub", rs(&with(&|c| drop(c.as_object_mut().unwrap().remove("sub"))))),
        ("sub not a user id", rs(&with(&|c| c["sub"] = json!("ann smith")))),
        ("sub too long", rs(&with(&|c| c["sub"] = json!("a".repeat(256))))),
        ("sub a number", rs(&with(&|c| c["sub"] = json!(42)))),
        ("a key not in the JWKS, under a known kid", KEYS.other.sign("rsa-1", &valid)),
        ("a key not in the JWKS, under its own kid", KEYS.other.sign("rsa-9", &valid)),
        ("the RSA key's token naming the EC key", KEYS.rsa.sign("ec-1", &valid)),
        ("a key published for PS256", KEYS.other.sign("pss-1", &valid)),
        ("no kid", {
            let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            jsonwebtoken::encode(&header, &valid, &KEYS.rsa.signing).unwrap()
        }),
        ("alg none", jwt::raw_token(&json!({ "alg": "none", "kid": "rsa-1" }), &valid, b"")),
        ("alg none, no signature part", {
            let token = jwt::raw_token(&json!({ "alg": "none", "kid": "rsa-1" }), &valid, b"");
            token.trim_end_matches('.').to_owned()
        }),
        ("HS256 keyed with the public key's PEM", jwt::hs256("rsa-1", &valid, &KEYS.rsa.public_pem)),
        ("HS256 keyed with the public key's DER", jwt::hs256("rsa-1", &valid, &KEYS.rsa.public_der)),
        ("RS512", {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS512);
            header.kid = Some("rsa-1".into());
            jsonwebtoken::encode(&header, &valid, &KEYS.rsa.signing).unwrap()
        }),
        ("a tampered payload", {
            let token = rs(&valid);
            let parts: Vec<&str> = token.split('.').collect();
            let forged = jwt::raw_token(&json!({ "alg": "RS256", "kid": "rsa-1" }), &claims("admin"), b"");
            format!("{}.{}", forged.rsplit_once('.').unwrap().0, parts[2])
        }),
        ("garbage", "not-a-jwt".to_owned()),
        ("three dots of garbage", "a.b.c".to_owned()),
    ];
    let refused = mine_with(&gateway, "dev:ann").await;
    assert_eq!(refused.0, 401, "dev tokens are not accepted in jwt mode");
    for (name, token) in &cases {
        assert_eq!(mine_with(&gateway, token).await, refused, "REST: {name}");
        assert_eq!(gateway.connect(&session, Connect::user(token)).await.err(), Some(401), "socket: {name}");
    }
    assert_eq!(mine_with(&gateway, &rs(&valid)).await.0, 200, "and the valid one still passes");
}

#[tokio::test]
async fn a_key_rotated_in_is_picked_up_on_its_first_token() {
    let jwks = Jwks::serve(published()).await;
    let gateway = jwt_gateway(&jwks, |_| {}).await;
    assert_eq!(jwks.requests(), 1, "fetched once at start");
    let token = KEYS.other.sign("rsa-2", &claims("ann"));
    jwks.publish(KEYS.other.jwk("rsa-2", json!({ "alg": "RS256" })));
    assert_eq!(mine_with(&gateway, &token).await.0, 200);
    assert_eq!(jwks.requests(), 2);
    let session = create_with(&gateway, &token).await.1.unwrap();
    let mut client = gateway.connect(&session, Connect::user(&token)).await.unwrap();
    assert!(matches!(client.message().await, ServerMessage::SessionReady(_)));
    assert_eq!(jwks.requests(), 2, "known from then on");
}

#[tokio::test]
async fn a_burst_of_unknown_kids_costs_at_most_one_fetch() {
    let jwks = Jwks::serve(published()).await;
    let gateway = jwt_gateway(&jwks, |_| {}).await;
    // Never verified (no key to verify them with), so a made-up signature does.
    let header = |i| json!({ "alg": "RS256", "kid": format!("made-up-{i}") });
    let tokens: Vec<String> = (0..64).map(|i| jwt::raw_token(&header(i), &claims("ann"), b"sig")).collect();
    let statuses = futures::future::join_all(tokens.iter().map(|t| mine_with(&gateway, t))).await;
    assert!(statuses.iter().all(|(status, _)| *status == 401));
    assert!(jwks.requests() <= 2, "{} fetches", jwks.requests());
    // Known keys go on working meanwhile, without a fetch.
    let before = jwks.requests();
    assert_eq!(mine_with(&gateway, &KEYS.ec.sign("ec-1", &claims("ann"))).await.0, 200);
    assert_eq!(jwks.requests(), before);
}

#[tokio::test]
async fn keys_are_refetched_periodically_and_a_failed_fetch_keeps_them() {
    let jwks = Jwks::serve(published()).await;
    let gateway = jwt_gateway(&jwks, |config| config.refresh_every = Duration::from_millis(20)).await;
    // Spend the unknown-kid re-fetch: for the next 30 s only the periodic one can bring keys.
    let made_up = jwt::raw_token(&json!({ "alg": "RS256", "kid": "made-up" }), &claims("ann"), b"sig");
    assert_eq!(mine_with(&gateway, &made_up).await.0, 401);

    jwks.fail(true);
    let failing_from = jwks.requests();
    jwt::eventually(|| jwks.requests() >= failing_from + 2).await;
    assert_eq!(mine_with(&gateway, &KEYS.rsa.sign("rsa-1", &claims("ann"))).await.0, 200, "old keys kept");

    jwks.fail(false);
    jwks.publish(KEYS.other.jwk("rsa-2", json!({})));
    let fixed_from = jwks.requests();
    jwt::eventually(|| jwks.requests() >= fixed_from + 2).await;
    assert_eq!(mine_with(&gateway, &KEYS.other.sign("rsa-2", &claims("ann"))).await.0, 200, "new key picked up");
}

#[tokio::test]
async fn the_binary_will_not_start_without_its_keys() {
    let (code, log) = common::binary()
        .args(["--listen", "127.0.0.1:0", "--auth", "jwt"])
        .output()
        .map(|o| (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned()))
        .unwrap();
    assert_eq!(code, Some(64), "{log}");
    assert!(log.contains("--jwks-url"), "{log}");

    // Nothing listens on the port of a listener just closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/jwks.json");
    let output = common::binary()
        .args(["--listen", "127.0.0.1:0", "--auth", "jwt", "--jwks-url", &url, "--jwt-audience", AUDIENCE])
        .output();
    let output = output.unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(log.contains("cannot load the JWKS") && log.contains(&url), "{log}");

    // A JWKS with nothing usable in it is as bad as none.
    let jwks = Jwks::serve(vec![json!({ "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" })]).await;
    let mut command = common::binary();
    command.args(["--listen", "127.0.0.1:0", "--auth", "jwt", "--jwks-url", &jwks.url, "--jwt-audience", AUDIENCE]);
    // Waited for off the runtime, which serves the JWKS meanwhile.
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(log.contains("no usable key"), "{log}");
}

#[tokio::test]
async fn the_binary_wants_tokens_for_this_app_or_a_loud_warning() {
    // Neither an audience nor authorized parties: a configuration error, before any fetch (of
    // keys from a port where nothing listens, which would be another error).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/jwks.json");
    let output = common::binary().args(["--listen", "127.0.0.1:0", "--auth", "jwt", "--jwks-url", &url]).output();
    let output = output.unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{log}");
    assert!(log.contains("--jwt-audience") && log.contains("--jwt-allow-any-audience"), "{log}");

    // Any audience on purpose: it starts, having said so (before the banner it waits for).
    let jwks = Jwks::serve(published()).await;
    let url = jwks.url.clone();
    // Waited for off the runtime, which serves the JWKS meanwhile.
    let start = move || Process::spawn(&["--auth", "jwt", "--jwks-url", &url, "--jwt-allow-any-audience"]);
    let process = tokio::task::spawn_blocking(start).await.unwrap();
    process.signal("KILL");
    let (_, log) = process.wait().await;
    assert!(log.contains("WARN") && log.contains("--jwt-allow-any-audience") && log.contains("ANY"), "{log}");
}

#[tokio::test]
async fn a_token_lives_at_most_the_max_lifetime() {
    let jwks = Jwks::serve(published()).await;
    let now = jwt::now();
    let token = |iat: Option<u64>, exp: u64| {
        let mut claims = claims("ann");
        claims["exp"] = json!(exp);
        match iat {
            Some(iat) => claims["iat"] = json!(iat),
            None => drop(claims.as_object_mut().unwrap().remove("iat")),
        }
        KEYS.rsa.sign("rsa-1", &claims)
    };
    // By default, a day.
    let gateway = jwt_gateway(&jwks, |_| {}).await;
    assert_eq!(mine_with(&gateway, &token(Some(now), now + 86_400)).await.0, 200);
    for (iat, exp) in [(Some(now), 10u64.pow(15)), (None, 10u64.pow(15)), (Some(now), now + 2 * 86_400)] {
        assert_eq!(mine_with(&gateway, &token(iat, exp)).await.0, 401, "{iat:?} {exp}");
    }

    let gateway = jwt_gateway(&jwks, |config| config.max_lifetime = Duration::from_secs(3600)).await;
    let cases = [
        ("an hour", Some(now), now + 3600, 200),
        ("an hour, no iat", None, now + 3600, 200),
        ("an hour, issued 50 min ago", Some(now - 3000), now + 600, 200),
        ("two hours", Some(now), now + 7200, 401),
        ("two hours from now, no iat", None, now + 7200, 401),
        ("two hours, issued an hour ago", Some(now - 3600), now + 3600, 401),
        ("issued in 10 min", Some(now + 600), now + 1200, 401),
    ];
    for (name, iat, exp, status) in cases {
        assert_eq!(mine_with(&gateway, &token(iat, exp)).await.0, status, "{name}");
    }
}

#[tokio::test]
async fn identity_providers_subjects_are_users() {
    let jwks = Jwks::serve(published()).await;
    let gateway = jwt_gateway(&jwks, |_| {}).await;
    let long = "a".repeat(255);
    let subjects = [
        "user_2abcXYZdefGHIjklMNOpqrSTU",
        "auth0|64f1c2a9e3b1d2c3f4a5b6c7",
        "google-oauth2|112233445566778899001",
        "samlp|corp-sso|ann.smith@example.com",
        "oauth2|github|1234567",
        "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "repo:acme/app:ref:refs/heads/main",
        &long,
    ];
    for sub in subjects {
        let token = KEYS.rsa.sign("rsa-1", &claims(sub));
        let (status, session) = create_with(&gateway, &token).await;
        assert_eq!(status, 201, "{sub}");
        let (status, body) = mine_with(&gateway, &token).await;
        assert!(status == 200 && body.contains(&session.unwrap()), "{sub}: {body}");
    }
    // Nothing that could end the hash tag of the store's keys (`viva:{u:<user>}:...`), no
    // space or control character, nothing longer than OpenID Connect allows.
    let too_long = "a".repeat(256);
    for sub in ["a{b", "a}b", "}:x", "{u:ann}", "ann smith", "ann\tsmith", "ann\n", "ann\u{7f}", "ånn", "", &too_long]
    {
        assert_eq!(mine_with(&gateway, &KEYS.rsa.sign("rsa-1", &claims(sub))).await.0, 401, "{sub:?}");
    }
}

#[tokio::test]
async fn clerk_session_tokens_are_bound_to_the_app_by_azp_and_sid() {
    let jwks = Jwks::serve(published()).await;
    // Clerk: no audience; `azp` is the origin of the page that got the token.
    let gateway = jwt_gateway(&jwks, |config| {
        config.audience = None;
        config.authorized_parties = vec!["https://app.example.com".into(), "http://localhost:3000".into()];
        config.require_session = true;
    })
    .await;
    let clerk = |azp: Option<&str>, sid: Option<&str>| {
        let mut claims = json!({ "sub": "user_2abc", "iss": ISSUER, "iat": jwt::now(), "exp": jwt::now() + 60 });
        if let Some(azp) = azp {
            claims["azp"] = json!(azp);
        }
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        KEYS.ec.sign("ec-1", &claims)
    };
    let cases = [
        (Some("https://app.example.com"), Some("sess_2xyz"), 200),
        (Some("http://localhost:3000"), Some("sess_2xyz"), 200),
        (Some("https://evil.example"), Some("sess_2xyz"), 401),
        (None, Some("sess_2xyz"), 401),
        (Some("https://app.example.com"), None, 401),
    ];
    for (azp, sid, status) in cases {
        assert_eq!(mine_with(&gateway, &clerk(azp, sid)).await.0, status, "azp {azp:?}, sid {sid:?}");
    }
    let session = create_with(&gateway, &clerk(Some("https://app.example.com"), Some("sess_2xyz"))).await.1.unwrap();
    let stray = clerk(Some("https://evil.example"), Some("sess_2xyz"));
    assert_eq!(gateway.connect(&session, Connect::user(&stray)).await.err(), Some(401));
}

// ---------------------------------------------------------------------------------------------
// Origin

#[tokio::test]
async fn a_browser_page_opens_sockets_only_from_an_allowed_origin() {
    let gateway = Gateway::start_with(EngineConfig::default(), |state| {
        state.allowed_origins = vec!["https://app.example.com".to_owned(), "http://localhost:3000".to_owned()].into();
    })
    .await;
    let session = gateway.create("alice", "senior-backend").await;
    let own = format!("http://{}", gateway.addr);
    let allowed = [
        None,
        Some(own.as_str()),
        Some("https://app.example.com"),
        Some("https://APP.example.com:443"),
        Some("http://localhost:3000"),
    ];
    for origin in allowed {
        let mut options = Connect::user("dev:alice");
        options.origin = origin;
        let mut client = gateway.connect(&session, options).await.unwrap_or_else(|s| panic!("{origin:?}: {s}"));
        assert!(matches!(client.message().await, ServerMessage::SessionReady(_)), "{origin:?}");
    }
    let refused = [
        "https://evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://app.example.com.evil.example",
        "http://localhost:3001",
        "null",
        "",
    ];
    for origin in refused {
        let options = Connect::user("dev:alice").origin(origin);
        assert_eq!(gateway.connect(&session, options).await.err(), Some(403), "{origin:?}");
    }
    let response = http()
        .get(gateway.url(&format!("/v1/sessions/{session}/ws")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");

    // A refused page does not use up the ticket it presented.
    let ticket = ticket(&gateway, "alice", &session).await;
    assert_eq!(
        gateway.connect(&session, Connect::ticket(&ticket).origin("https://evil.example")).await.err(),
        Some(403)
    );
    let mut client = gateway.connect(&session, Connect::ticket(&ticket).origin(&own)).await.unwrap();
    assert!(matches!(client.message().await, ServerMessage::SessionReady(_)));
}

// ---------------------------------------------------------------------------------------------
// Security headers

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let gateway = Gateway::start().await;
    let session = gateway.create("alice", "senior-backend").await;
    let http = http();
    let requests = [
        http.get(gateway.url("/healthz")),
        http.get(gateway.url("/v1/plans")),
        http.get(gateway.url("/v1/me/sessions")).bearer_auth("dev:alice"),
        http.get(gateway.url("/v1/me/sessions")),
        http.get(gateway.url("/no/such/path")),
        http.put(gateway.url("/v1/plans")),
        http.post(gateway.url(&format!("/v1/sessions/{session}/ticket"))).bearer_auth("dev:alice"),
        http.get(gateway.url(&format!("/v1/sessions/{session}/ws"))).bearer_auth("dev:alice"),
        http.get(gateway.url("/")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let what = format!("{} {}", response.status(), response.url().path());
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
        assert_eq!(headers["x-frame-options"], "DENY", "{what}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.split(';').any(|d| d.trim() == directive), "{what}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{what}");
        assert_eq!(headers.get_all("content-security-policy").iter().count(), 1, "{what}");
    }
}

/// The sources of one CSP directive.
fn csp_sources<'a>(csp: &'a str, directive: &str) -> Vec<&'a str> {
    let found = csp.split(';').map(str::trim).find(|d| d.split_whitespace().next() == Some(directive));
    found.unwrap_or_else(|| panic!("no {directive} in {csp}")).split_whitespace().skip(1).collect()
}

#[tokio::test]
async fn the_page_may_connect_only_to_its_own_origin_and_the_allowed_ones() {
    // A bare `ws:` or `wss:` would let a page open sockets to any host.
    let any_host = |source: &str| source.ends_with(':') || source.contains('*');
    let gateway = Gateway::start().await;
    let response = http().get(gateway.url("/")).send().await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert_eq!(csp_sources(csp, "connect-src"), ["'self'"], "{csp}");
    assert!(!csp_sources(csp, "default-src").iter().any(|s| any_host(s)), "{csp}");

    // Each allowed origin as itself and as its socket, normalized; one no CSP source can name
    // (an IPv6 literal) and one that is not an origin at all (an embedder's mistake) left out.
    let gateway = Gateway::start_with(EngineConfig::default(), |state| {
        let origins = [
            "https://App.example.com:443",
            "http://localhost:3000",
            "http://[::1]:3000",
            "https://a.example; script-src *",
        ];
        state.allowed_origins = origins.map(str::to_owned).to_vec().into();
    })
    .await;
    for path in ["/", "/v1/plans", "/no/such/path"] {
        let response = http().get(gateway.url(path)).send().await.unwrap();
        let csp = response.headers()["content-security-policy"].to_str().unwrap();
        let connect = csp_sources(csp, "connect-src");
        let expected = [
            "'self'",
            "https://app.example.com",
            "wss://app.example.com",
            "http://localhost:3000",
            "ws://localhost:3000",
        ];
        assert_eq!(connect, expected, "{path}: {csp}");
        assert!(!connect.iter().any(|s| any_host(s)), "{path}: {csp}");
        assert_eq!(csp_sources(csp, "script-src"), ["'self'"], "{path}: {csp}");
    }
}

#[tokio::test]
async fn a_ticket_survives_a_request_refused_before_the_credential() {
    let gateway = Gateway::start().await;
    let session = gateway.create("tess", "senior-backend").await;
    let ticket = ticket(&gateway, "tess", &session).await;
    // A plain GET (not an upgrade) and a bad last_seq are refused without using it up.
    let url = gateway.url(&format!("/v1/sessions/{session}/ws?ticket={ticket}"));
    assert_eq!(common::http().get(&url).send().await.unwrap().status(), 400);
    let url = format!("ws://{}/v1/sessions/{session}/ws?ticket={ticket}&last_seq=minus-one", gateway.remote.addr);
    assert!(tokio_tungstenite::connect_async(url).await.is_err(), "a bad last_seq is refused");
    let mut client = gateway.connect(&session, Connect::ticket(&ticket)).await.expect("the ticket still works once");
    assert!(matches!(client.message().await, ServerMessage::SessionReady(_)));
}

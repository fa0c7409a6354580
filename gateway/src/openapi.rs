//! The OpenAPI 3.1 document of the REST routes, served at `GET /v1/openapi.json` and committed
//! as `protocol/schema/openapi.json` (a test regenerates it and fails on any difference).
//!
//! It is built by aide from the routes as [`crate::routes`] declares them: paths, the
//! extractors (the JSON body, path and query parameters, and who may call: [`User`] or
//! [`Admin`]) and each route's documentation beside it. Responses are never inferred from
//! types (aide's guesses would be axum's text rejections, which the gateway never sends):
//! every route says which statuses it answers, with which body, here in one vocabulary
//! ([`Doc`]). Bodies are the protocol's schemars derives, as in `rest.schema.json`.
//!
//! Left out: the WebSocket (`/v1/sessions/{id}/ws`, docs/protocol.md section 2, its messages
//! in `client-message.schema.json` and `server-message.schema.json`) and the console's files.

use aide::OperationInput;
use aide::axum::ApiRouter;
use aide::generate::{GenContext, in_context};
use std::cell::RefCell;
use std::sync::OnceLock;

use aide::openapi::{self, Info, OpenApi, Operation, ReferenceOr, SchemaObject, SecurityScheme, StatusCode};
use aide::transform::TransformOperation;
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use schemars::generate::{Contract, SchemaSettings};
use schemars::{Schema, SchemaGenerator};
use serde_json::{Value, json};
use viva_protocol::rest::ApiError;

use crate::auth::User;
use crate::auth::admin::Admin;
use crate::error::{AppError, PathParams};

/// The security scheme of a user's bearer token.
const BEARER: &str = "bearer";

/// The security scheme of the admin token.
const ADMIN: &str = "admin";

/// What the document says of the API as a whole.
const DESCRIPTION: &str = "Viva's REST routes (docs/protocol.md section 8). Errors are \
`{\"error\": {\"code\", \"message\"}}` (codes in section 7). Any other path is 404 `not_found`, a \
known path with another method 405 `bad_request`; a request not answered within 30 s is 408; \
request bodies are limited to 64 KiB (a résumé file to 2 MiB). With `--auth dev` only loopback \
host names are served (403 otherwise). The WebSocket, `GET /v1/sessions/{id}/ws`, is not \
described here: see section 2, and the JSON Schemas of its messages in protocol/schema/.";

/// The document, as the JSON text served and committed.
pub fn document() -> String {
    generate(crate::routes).1
}

/// `GET /v1/openapi.json`.
pub async fn serve() -> Response {
    let document = DOCUMENT.get().cloned().unwrap_or_else(document);
    ([(header::CONTENT_TYPE, "application/json")], document).into_response()
}

/// The document as the first router made generated it (it depends on the code only).
static DOCUMENT: OnceLock<String> = OnceLock::new();

/// Runs `routes` (the routes and their documentation) and returns the router with the
/// document, as JSON text.
pub fn generate<S>(routes: impl FnOnce() -> ApiRouter<S>) -> (Router<S>, String)
where
    S: Clone + Send + Sync + 'static,
{
    // aide generates into a thread-local context while the routes are declared, and resets it
    // when the document is finished: set it up each time, before. Its generator describes what
    // requests take (bodies, path and query parameters) as deserialized; responses have their
    // own, as serialized ([`RESPONSES`]).
    in_context(|ctx| ctx.schema = generator(Contract::Deserialize));
    RESPONSES.set(generator(Contract::Serialize));
    aide::generate::infer_responses(false);
    let mut api = OpenApi {
        info: Info {
            title: "Viva".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: Some(DESCRIPTION.into()),
            ..Info::default()
        },
        ..OpenApi::default()
    };
    let router = routes().finish_api_with(&mut api, |api| {
        api.security_scheme(BEARER, bearer_scheme("`dev:<user>` with `--auth dev`, or a JWT with `--auth jwt`"))
            .security_scheme(ADMIN, bearer_scheme("the token given to `--admin-token`"))
    });
    add_response_schemas(&mut api);
    let text = serde_json::to_string_pretty(&api).expect("the document serializes") + "\n";
    DOCUMENT.get_or_init(|| text.clone());
    (router, text)
}

thread_local! {
    /// The schemas of response bodies, described as they are serialized: a field that is
    /// always written is `required`, even when it may be `null` (docs/protocol.md's `T|null`),
    /// as in `rest.schema.json` (protocol/tests/schema.rs).
    static RESPONSES: RefCell<SchemaGenerator> = RefCell::new(generator(Contract::Serialize));
}

fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "#/components/schemas/".into();
            settings.contract = contract;
        })
        .into_generator()
}

/// The schema of a response body of type `T` (a reference to it in the components).
fn response_schema<T: JsonSchema>() -> Schema {
    RESPONSES.with_borrow_mut(|generator| generator.subschema_for::<T>())
}

/// Adds the response bodies' schemas to the document's components, beside the requests'. A
/// type in both (`Candidate`: taken by `POST /v1/sessions`, written in exports) must read the
/// same both ways, its optional fields left out when empty: one name cannot stand for two
/// schemas, and the document is checked by a test (gateway/tests/openapi.rs), so this fails
/// there first.
fn add_response_schemas(api: &mut OpenApi) {
    let definitions = RESPONSES.with_borrow_mut(|generator| generator.take_definitions(true));
    let schemas = &mut api.components.get_or_insert_with(Default::default).schemas;
    for (name, schema) in definitions {
        let json_schema = Schema::try_from(schema).expect("schemars generates schemas");
        if let Some(existing) = schemas.get(&name) {
            assert!(
                existing.json_schema == json_schema,
                "`{name}` is described differently as a request body and as a response body"
            );
            continue;
        }
        schemas.insert(name, SchemaObject { json_schema, example: None, external_docs: None });
    }
    schemas.sort_keys();
}

fn bearer_scheme(description: &str) -> SecurityScheme {
    SecurityScheme::Http {
        scheme: "bearer".into(),
        bearer_format: None,
        description: Some(description.into()),
        extensions: Default::default(),
    }
}

/// What a route says about itself, beside its handler in [`crate::routes`].
pub trait Doc: Sized {
    /// Its operation id, tag and one-line summary.
    fn named(self, id: &str, tag: &str, summary: &str) -> Self;
    /// A JSON response with a body of type `T`.
    fn ok<T: JsonSchema>(self, status: u16, description: &str) -> Self;
    /// A response with a body of another media type (`schema` `None`: any bytes).
    fn ok_as(self, status: u16, media_type: &str, schema: Option<Value>, description: &str) -> Self;
    /// A response with no body.
    fn empty(self, status: u16, description: &str) -> Self;
    /// An error response (`ApiError`), when it happens.
    fn error(self, status: u16, description: &str) -> Self;
    /// A request body that is a file, of one of `media_types`.
    fn file_body(self, media_types: &[&str], description: &str) -> Self;
    /// A link from the `status` response to `operation`, whose `parameter` is `expression`
    /// (e.g. `$response.body#/session_id`).
    fn link(self, status: u16, operation: &str, parameter: &str, expression: &str) -> Self;
}

impl Doc for TransformOperation<'_> {
    fn named(self, id: &str, tag: &str, summary: &str) -> Self {
        self.id(id).tag(tag).summary(summary)
    }

    fn ok<T: JsonSchema>(mut self, status: u16, description: &str) -> Self {
        let schema = response_schema::<T>();
        let response = json!({"description": description, "content": {"application/json": {"schema": schema}}});
        respond(self.inner_mut(), status, response);
        self
    }

    fn ok_as(mut self, status: u16, media_type: &str, schema: Option<Value>, description: &str) -> Self {
        let content = schema.map_or_else(|| json!({}), |schema| json!({"schema": schema}));
        respond(self.inner_mut(), status, json!({"description": description, "content": {media_type: content}}));
        self
    }

    fn empty(mut self, status: u16, description: &str) -> Self {
        respond(self.inner_mut(), status, json!({"description": description}));
        self
    }

    fn error(mut self, status: u16, description: &str) -> Self {
        error(self.inner_mut(), status, description);
        self
    }

    fn file_body(mut self, media_types: &[&str], description: &str) -> Self {
        let content: serde_json::Map<String, Value> =
            media_types.iter().map(|media_type| ((*media_type).to_owned(), json!({}))).collect();
        let body = json!({"description": description, "required": true, "content": content});
        self.inner_mut().request_body = Some(ReferenceOr::Item(from_json(body)));
        self
    }

    fn link(mut self, status: u16, operation: &str, parameter: &str, expression: &str) -> Self {
        let responses = self.inner_mut().responses.get_or_insert_with(Default::default);
        let Some(ReferenceOr::Item(response)) = responses.responses.get_mut(&StatusCode::Code(status)) else {
            panic!("a link from a response not declared ({status})");
        };
        let link = json!({"operationId": operation, "parameters": {parameter: expression}});
        response.links.insert(operation.to_owned(), ReferenceOr::Item(from_json(link)));
        self
    }
}

/// Adds the response `response` (an OpenAPI Response object as JSON) for `status`; a status
/// already there (e.g. a 404 both the admin rule and the route give) gets both descriptions.
fn respond(operation: &mut Operation, status: u16, response: Value) {
    let response: openapi::Response = from_json(response);
    let responses = operation.responses.get_or_insert_with(Default::default);
    match responses.responses.get_mut(&StatusCode::Code(status)) {
        Some(ReferenceOr::Item(existing)) => {
            existing.description = format!("{}; {}", existing.description, response.description)
        }
        _ => {
            responses.responses.insert(StatusCode::Code(status), ReferenceOr::Item(response));
            // In order, whichever extractor or line of the route added them.
            responses.responses.sort_keys();
        }
    }
}

/// An `ApiError` response, with the headers [`AppError`]'s responses carry at that status.
fn error(operation: &mut Operation, status: u16, description: &str) {
    let schema = response_schema::<ApiError>();
    let headers = match status {
        401 => json!({"WWW-Authenticate": {"description": "`Bearer`", "required": true, "schema": {"type": "string"}}}),
        429 | 503 => json!({"Retry-After": {
            "description": "seconds to wait before retrying (429; 503 `at_capacity`)",
            "schema": {"type": "integer", "minimum": 1},
        }}),
        _ => json!({}),
    };
    let response = json!({
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": schema}},
    });
    respond(operation, status, response);
}

fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid OpenAPI object")
}

/// A route that takes a [`User`] needs the user's bearer token.
impl OperationInput for User {
    fn operation_input(_: &mut GenContext, operation: &mut Operation) {
        operation.security = vec![[(BEARER.to_owned(), Vec::new())].into_iter().collect()];
        error(operation, 401, "`unauthorized`: a missing or bad bearer token");
    }
}

/// A route that takes an [`Admin`] needs the admin token, and exists only with one.
impl OperationInput for Admin {
    fn operation_input(_: &mut GenContext, operation: &mut Operation) {
        operation.security = vec![[(ADMIN.to_owned(), Vec::new())].into_iter().collect()];
        error(operation, 401, "`unauthorized`: a missing or wrong admin token");
        error(operation, 404, "`not_found`: the gateway runs without `--admin-token` (no admin route exists)");
    }
}

/// Path parameters are documented as axum's `Path` documents them (from `T`'s schema).
impl<T: JsonSchema> OperationInput for PathParams<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Path::<T>::operation_input(ctx, operation);
    }
}

/// Which errors a route answers is in its documentation ([`Doc::error`]), not in this type.
impl aide::OperationOutput for AppError {
    type Inner = Self;
}

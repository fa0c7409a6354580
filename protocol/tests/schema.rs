//! The contract as artifacts: the JSON Schema of every message a client sends and the server
//! sends, and of every REST body, generated from the protocol's types and committed under
//! `protocol/schema/`. This test regenerates them and fails on any difference, so they never
//! drift from the code; `UPDATE_SCHEMAS=1 cargo test -p viva-protocol --test schema` writes
//! them after a change of the types (commit them with it).

use std::path::{Path, PathBuf};

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use viva_protocol::rest::{
    ApiError, CreateSession, CreditRequest, Credited, DeadWebhooks, Events, Export, MySessions, Nodes, Plans, Progress,
    Recording, Report, ResumeUploaded, ResumeView, SessionCreated, SessionView, SocketTicket, Usage, WebhookEndpoints,
};
use viva_protocol::webhook::Webhook;
use viva_protocol::{ClientMessage, ServerMessage};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

/// What the server sends is described as it is serialized: a field that is always written is
/// `required`, even when it may be `null` (protocol.md's `T|null`). What a client sends is
/// described as it is deserialized: a field with a default may be left out.
fn generator(sent_by: Sender) -> SchemaGenerator {
    let settings = SchemaSettings::draft2020_12();
    match sent_by {
        Sender::Server => settings.for_serialize(),
        Sender::Client => settings.for_deserialize(),
    }
    .into_generator()
}

#[derive(Clone, Copy)]
enum Sender {
    Server,
    Client,
}

/// Compares `schema` with the committed file `name` (or writes it, with `UPDATE_SCHEMAS`).
fn check(name: &str, schema: &Schema) {
    let path = dir().join(name);
    let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} differs from the types: run `UPDATE_SCHEMAS=1 cargo test -p viva-protocol --test schema` and commit it",
        path.display()
    );
}

fn root<T: JsonSchema>(sent_by: Sender) -> Schema {
    generator(sent_by).into_root_schema_for::<T>()
}

#[test]
fn client_and_server_messages() {
    check("client-message.schema.json", &root::<ClientMessage>(Sender::Client));
    check("server-message.schema.json", &root::<ServerMessage>(Sender::Server));
}

#[test]
fn rest_bodies() {
    // One document: every body a route takes or answers (and what they are made of), by name,
    // under `$defs`.
    // Described as serialized: request bodies' defaulted fields are not written when they hold
    // their default (`skip_serializing_if`), so they are optional in both directions.
    let mut generator = generator(Sender::Server);
    generator.subschema_for::<CreateSession>();
    generator.subschema_for::<SessionCreated>();
    generator.subschema_for::<SocketTicket>();
    generator.subschema_for::<Plans>();
    generator.subschema_for::<SessionView>();
    generator.subschema_for::<Report>();
    generator.subschema_for::<MySessions>();
    generator.subschema_for::<Events>();
    generator.subschema_for::<Recording>();
    generator.subschema_for::<Export>();
    generator.subschema_for::<Progress>();
    generator.subschema_for::<Usage>();
    generator.subschema_for::<CreditRequest>();
    generator.subschema_for::<Credited>();
    generator.subschema_for::<WebhookEndpoints>();
    generator.subschema_for::<DeadWebhooks>();
    generator.subschema_for::<Nodes>();
    generator.subschema_for::<ResumeUploaded>();
    generator.subschema_for::<ResumeView>();
    generator.subschema_for::<ApiError>();
    let defs = generator.take_definitions(true);
    let document = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Viva REST bodies",
        "description": "Every REST request and response body of docs/protocol.md section 8, by name.",
        "$defs": defs,
    });
    check("rest.schema.json", &Schema::try_from(document).unwrap());
}

#[test]
fn webhook_bodies() {
    check("webhook.schema.json", &root::<Webhook>(Sender::Server));
}

// Writes src/protocol.d.ts, the TypeScript declarations of every client message, server
// message, REST body and webhook body, from the JSON Schemas in protocol/schema/ (which
// protocol/tests/schema.rs generates from the Rust types). `--check` writes nothing and fails
// when the file differs from what the schemas give: scripts/console.sh runs it, so a change
// of the protocol that is not regenerated here fails the test command.
//
//   node scripts/generate.mjs [--check]
//
// The schemas use a small part of JSON Schema (what schemars emits for serde types): objects
// with `properties`, `required` and `additionalProperties`, `type` (one or a list, `null`
// among them), `const`, `enum`, `items`, `oneOf`/`anyOf`/`allOf`, `$ref` into `$defs` (beside
// `properties` for internally tagged enums: an intersection), `contentEncoding: base64`.
// Anything else fails loudly rather than becoming a wrong type.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const schemaDir = join(here, '../../../protocol/schema');
const output = join(here, '../src/protocol.d.ts');
/** Their roots become types of their own (`rest` is only `$defs`). */
const SCHEMAS = ['client-message', 'server-message', 'webhook', 'rest'];
/** Keywords that only document, or constrain values that the types do not describe. */
const IGNORED = new Set(['$schema', 'title', 'description', 'format', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'examples', 'default', '$defs']);
/** Keywords that make the type. */
const KNOWN = new Set(['$ref', 'const', 'enum', 'type', 'properties', 'required', 'additionalProperties', 'items', 'oneOf', 'anyOf', 'allOf', 'contentEncoding']);

/** @param {string} text */
function comment(text, indent) {
  const lines = text.trim().split('\n');
  if (lines.length === 1) return `${indent}/** ${lines[0].replaceAll('*/', '*\\/')} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l.replaceAll('*/', '*\\/')}` : ''}`).join('\n')}\n${indent} */\n`;
}

/** A type, parenthesized when it is a union or intersection (for `T[]`). */
function atom(type) {
  return /[|&]/.test(type) && !/^\{[\s\S]*\}$/.test(type) ? `(${type})` : type;
}

/**
 * The TypeScript type of `schema`, written at `indent`.
 * @param {Record<string, any>} schema
 * @param {string} indent
 * @returns {string}
 */
function ts(schema, indent) {
  for (const key of Object.keys(schema)) {
    if (!IGNORED.has(key) && !KNOWN.has(key)) {
      throw new Error(`unsupported keyword ${key} in ${JSON.stringify(schema).slice(0, 200)}`);
    }
  }
  const parts = [];
  if (schema.properties) parts.push(object(schema, indent));
  if (schema.$ref) {
    const name = /^#\/\$defs\/(\w+)$/.exec(schema.$ref)?.[1];
    if (!name) throw new Error(`unsupported $ref ${schema.$ref}`);
    parts.push(name);
  }
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) parts.push(union(variants, indent));
  for (const part of schema.allOf ?? []) parts.push(ts(part, indent));
  if (parts.length) return parts.map((p) => (parts.length > 1 ? atom(p) : p)).join(' & ');
  if ('const' in schema) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return types
    .map((type) => {
      switch (type) {
        case 'string':
          // Audio: a base64 string in JSON, bytes (`bin`) in MessagePack.
          return schema.contentEncoding === 'base64' ? 'string | Uint8Array' : 'string';
        case 'integer':
        case 'number':
          return 'number';
        case 'boolean':
          return 'boolean';
        case 'null':
          return 'null';
        case 'array':
          return `${atom(ts(schema.items, indent))}[]`;
        case 'object': {
          // A map (`HashMap<String, T>`), or an object with no fields.
          const values = schema.additionalProperties;
          return values && typeof values === 'object' ? `Record<string, ${ts(values, indent)}>` : 'Record<string, never>';
        }
        default:
          throw new Error(`unsupported type ${type}`);
      }
    })
    .join(' | ');
}

/** @param {Record<string, any>} schema an object with `properties` */
function object(schema, indent) {
  const inner = `${indent}  `;
  const required = new Set(schema.required ?? []);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    throw new Error(`fields and a map at once: ${JSON.stringify(schema).slice(0, 200)}`);
  }
  const fields = Object.entries(schema.properties).map(([name, field]) => {
    const doc = field.description ? comment(field.description, inner) : '';
    return `${doc}${inner}${name}${required.has(name) ? '' : '?'}${after(':', ts(field, inner))};\n`;
  });
  return `{\n${fields.join('')}${indent}}`;
}

/** @param {Record<string, any>[]} variants */
function union(variants, indent) {
  const inner = `${indent}  `;
  const types = variants.map((v) => ts(v, inner));
  // `Voice | null` on one line; variants with their own docs one per line.
  if (!variants.some((v) => v.description) && !types.some((t) => t.includes('\n'))) return types.join(' | ');
  return variants.map((v, i) => `\n${v.description ? comment(v.description, inner) : ''}${inner}| ${types[i]}`).join('');
}

/** `name: type` or `name =\n  | ...`: no space before a line break. */
function after(separator, type) {
  return type.startsWith('\n') ? `${separator}${type}` : `${separator} ${type}`;
}

/** @param {string} name @param {Record<string, any>} schema */
function declaration(name, schema) {
  return `${schema.description ? comment(schema.description, '') : ''}export type ${name}${after(' =', ts(schema, ''))};\n`;
}

/** Without what does not change the type (so a root and the same type under `$defs` compare equal). */
function shape(schema) {
  const { $schema, title, $defs, ...rest } = schema;
  return JSON.stringify(rest);
}

export function generate() {
  /** @type {Map<string, {schema: Record<string, any>, from: string}>} */
  const types = new Map();
  const add = (name, schema, from) => {
    const seen = types.get(name);
    if (!seen) {
      types.set(name, { schema, from });
      return;
    }
    if (shape(seen.schema) === shape(schema)) return;
    // A type both sides send (`Voice`) is described as a client sends it, defaulted fields
    // optional, and as the server sends it, every field written: declared with the fields
    // both always write as required. Any other difference is an error.
    const required = (s) => new Set(s.required ?? []);
    const loose = (s) => shape({ ...s, required: undefined });
    if (loose(seen.schema) !== loose(schema)) throw new Error(`${name} differs between ${seen.from} and ${from}`);
    const both = [...required(seen.schema)].filter((field) => required(schema).has(field));
    types.set(name, { schema: { ...seen.schema, required: both }, from: `${seen.from} and ${from}` });
  };
  for (const file of SCHEMAS) {
    const schema = JSON.parse(readFileSync(join(schemaDir, `${file}.schema.json`), 'utf8'));
    if (schema.oneOf || schema.properties) add(schema.title, schema, file);
    for (const [name, def] of Object.entries(schema.$defs ?? {})) add(name, def, file);
  }
  const header =
    '// Generated by clients/typescript/scripts/generate.mjs from protocol/schema/*.schema.json:\n' +
    '// do not edit. After a change of the schemas: `npm run generate` in clients/typescript.\n' +
    '// Fields that may be left out are optional (`?`); fields that may be null are nullable.\n';
  return `${header}\n${[...types].map(([name, t]) => declaration(name, t.schema)).join('\n')}`;
}

const text = generate();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(output, 'utf8');
  } catch {
    // Missing: differs.
  }
  if (current !== text) {
    console.error('clients/typescript/src/protocol.d.ts differs from what protocol/schema/ gives:');
    console.error('run `npm run generate` in clients/typescript and commit the result.');
    process.exit(1);
  }
  console.log('protocol.d.ts matches protocol/schema/');
} else {
  writeFileSync(output, text);
  console.log(`wrote ${output}`);
}

// The client against the real gateway binary (VIVA_URL; scripts/typescript-client.sh starts
// it with the scripted interviewer at pace 0): whole interviews to the report over JSON and
// MessagePack, a dropped socket resumed with nothing lost or doubled, an answer whose
// acknowledgement was lost re-sent with the same id and stored once, and no reconnect after
// 4009. Every interview ends with its model compared to the server's own state of the session.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { Interview, Viva } from '../src/index.js';
import { msgpack } from '../src/msgpack.js';

const baseUrl = process.env.VIVA_URL;
if (!baseUrl) throw new Error('VIVA_URL is not set: run scripts/typescript-client.sh');
const PLAN = 'senior-backend';
const ANSWER = 'A token bucket per user in Redis, failing open with a local limit if Redis is down.';

/** @param {string} user */
function viva(user, codec = undefined) {
  return new Viva({ baseUrl, token: `dev:${user}`, WebSocket, ...(codec ? { codec } : {}) });
}

/**
 * Records every message the interview sends, as sent (the real socket still sends it).
 * @param {Interview} interview
 */
function recordSends(interview) {
  /** @type {any[]} */
  const sent = [];
  const send = interview.connection.send.bind(interview.connection);
  interview.connection.send = (message) => {
    const ok = send(message);
    if (ok) sent.push(message);
    return ok;
  };
  return sent;
}

/**
 * The session as the server has it: `session.ready.state` of a new connection that does not
 * start anything.
 * @param {Viva} client
 * @param {string} sessionId
 */
async function serverState(client, sessionId) {
  const watcher = client.interview(sessionId, { start: false });
  const state = await new Promise((resolve) => {
    watcher.on('change', (_model, _before, action) => {
      if (action.type === 'session.ready') resolve(action.state);
    });
  });
  watcher.close();
  return state;
}

/** What a transcript entry says, without the times only `session.ready.state` carries. */
function said(entry) {
  return entry.entry === 'turn'
    ? { turn: entry.turn_id, kind: entry.kind, question: entry.question_id ?? null, text: entry.text, status: entry.status }
    : { answer: entry.answer_id, question: entry.question_id, content: entry.answer };
}

/** The interview's model holds exactly what the server holds: nothing lost, nothing twice. */
async function assertSameAsServer(client, interview) {
  const state = await serverState(client, interview.sessionId);
  assert.equal(state.status, 'ended');
  assert.deepEqual(interview.model.transcript.map(said), state.transcript.map(said));
  assert.deepEqual(interview.model.scores, { dimensions: state.scores.dimensions, overall: state.scores.overall ?? null });
  assert.deepEqual(interview.model.pending, []);
  assert.deepEqual(interview.model.refused, []);
  const answers = state.transcript.filter((e) => e.entry === 'answer');
  assert.deepEqual(answers.map((e) => e.answer_id), answers.map((_, i) => i + 1), 'each answer stored once');
  return answers;
}

/**
 * The codes the socket closed with before the session's end (whose 1000 may still be on its
 * way when the report is in).
 * @param {Interview} interview
 */
function closedBeforeTheEnd(interview) {
  return interview.connection.closes.filter((code) => code !== 1000);
}

/** Answers every question with ANSWER; returns the ids it gave. */
function answerEverything(interview) {
  const ids = [];
  interview.on('question', () => ids.push(interview.answer(ANSWER)));
  return ids;
}

for (const [name, codec] of [
  ['JSON', undefined],
  ['MessagePack', msgpack],
]) {
  test(`a whole interview to the report over ${name}`, { timeout: 60_000 }, async () => {
    const client = viva(`ts-whole-${name}`, codec);
    const interview = await client.start(PLAN);
    const ids = answerEverything(interview);
    const report = await interview.finished;

    assert.equal(report.session_id, interview.sessionId);
    assert.equal(report.ended_reason, 'completed');
    assert.equal(typeof report.overall, 'number');
    assert.equal(interview.model.status, 'ended');
    assert.equal(interview.model.reportReady, true);
    // `?last_seq=0` on the first connect too: the replay of nothing is a resume.
    assert.deepEqual(interview.connection.resumes, [true]);
    assert.deepEqual(closedBeforeTheEnd(interview), []);
    const answers = await assertSameAsServer(client, interview);
    assert.equal(answers.length, ids.length);
    assert.ok(ids.every((id) => typeof id === 'string'));
    assert.equal(report.answers.length, answers.length);
  });
}

test('a dropped socket is resumed with last_seq: nothing lost, nothing doubled', { timeout: 60_000 }, async () => {
  const client = viva('ts-drop');
  const interview = await client.start(PLAN);
  answerEverything(interview);
  // The socket drops once the first answer is acknowledged; the interview goes on on the
  // server meanwhile (the next question is spoken), and the replay brings it.
  let dropped = false;
  interview.on('change', (model) => {
    if (!dropped && model.transcript.some((e) => e.entry === 'answer')) {
      dropped = true;
      interview.connection.drop();
    }
  });
  await interview.finished;

  assert.ok(dropped);
  assert.deepEqual(interview.connection.resumes, [true, true]);
  assert.deepEqual(closedBeforeTheEnd(interview), [3000]);
  await assertSameAsServer(client, interview);
});

test('an answer whose acknowledgement was lost is re-sent with the same id and stored once', { timeout: 60_000 }, async () => {
  const client = viva('ts-resend');
  const interview = await client.start(PLAN);
  const sent = recordSends(interview);
  /** @type {string|null} */
  let lost = null;
  interview.on('question', () => {
    const id = interview.answer(ANSWER);
    if (lost === null) {
      // Sent, and the socket gone before its `answer.received` could be read.
      lost = id;
      interview.connection.drop();
    }
  });
  await interview.finished;

  assert.ok(lost);
  const submits = sent.filter((m) => m.type === 'answer.submit' && m.id === lost);
  assert.equal(submits.length, 2, 'sent, then re-sent on the next connection');
  assert.deepEqual(submits[0], submits[1]);
  assert.deepEqual(interview.connection.resumes, [true, true]);
  const answers = await assertSameAsServer(client, interview);
  assert.deepEqual(answers[0].answer, { format: 'text', text: ANSWER });
});

test('a client replaced by a newer connection (4009) stops and does not reconnect', { timeout: 60_000 }, async () => {
  const client = viva('ts-replaced');
  const first = await client.start(PLAN);
  await new Promise((resolve) => first.on('state', (state) => state === 'open' && resolve(undefined)));
  const stopped = new Promise((resolve) => first.on('state', (state, detail) => state === 'stopped' && resolve(detail)));

  const second = client.interview(first.sessionId);
  // The newer client carries the interview to its end.
  answerEverything(second);
  const detail = await stopped;
  await assert.rejects(first.finished, /4009/);

  assert.match(String(detail), /4009/);
  assert.deepEqual(first.connection.closes, [4009]);
  assert.equal(first.connection.stopped, true);
  assert.equal(first.connection.retryTimer, undefined, 'no reconnect scheduled');
  assert.equal(first.connection.ws, null);
  assert.equal(first.connection.connections, 1);

  const report = await second.finished;
  assert.equal(report.ended_reason, 'completed');
  assert.deepEqual(first.connection.closes, [4009], 'the replaced client never came back');
});

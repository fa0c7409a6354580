// The client's reducer (src/model.js, the web console's too) as tables: a session.ready (or
// nothing), then messages, then the model expected. Every input is deep-frozen, so a reducer
// that mutates what it is given fails here. No browser, no socket: `node --test` runs it
// (scripts/console.sh).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canAnswer, initialModel, reduce } from '../src/model.js';

// ---- messages, as the server sends them (docs/protocol.md section 4) ----------------------

const TEXT = { format: 'text' };
const PY = { format: 'code', language: 'python' };

/** @param {object} state fields of `session.ready.state` that differ from a new session's */
function ready({ seq = 0, resumed = false, ...state } = {}) {
  return {
    type: 'session.ready',
    session_id: 'ses_0123456789abcdef0123456789abcdef',
    epoch: 1,
    resumed,
    seq,
    last_seq: seq,
    state: {
      status: 'created',
      plan_id: 'test',
      transcript: [],
      open_turn: null,
      awaiting_answer: null,
      scores: { dimensions: [], overall: null },
      clock: { elapsed_s: 0, remaining_s: 600 },
      ended_reason: null,
      report_ready: false,
      ...state,
    },
  };
}
const started = (seq, turn_id, kind, question_id = null, expects = null) => ({
  type: 'turn.started',
  seq,
  turn_id,
  kind,
  question_id,
  expects,
});
const delta = (turn_id, index, text) => ({ type: 'turn.delta', turn_id, index, text });
const done = (seq, turn_id, text, status = 'completed') => ({ type: 'turn.done', seq, turn_id, text, status });
const received = (seq, id, answer_id) => ({ type: 'answer.received', seq, id, answer_id });
const scored = (seq, answer_id, overall) => ({
  type: 'score.updated',
  seq,
  answer_id,
  dimensions: [{ name: 'design', score: overall }],
  overall,
  answer: { dimensions: [{ name: 'design', score: overall }], overall },
});
const spokenReceived = (seq, id, answer_id, transcript) => ({
  type: 'answer.received',
  seq,
  id,
  answer_id,
  source: 'voice',
  transcript,
  words: transcript.split(' ').map((text, i) => ({ text, start_ms: i * 300, end_ms: i * 300 + 250 })),
  audio_ms: transcript.split(' ').length * 300 + 200,
});
const reportReady = (seq) => ({ type: 'report.ready', seq, session_id: 'ses_0123456789abcdef0123456789abcdef' });
const ending = (seq, reason) => ({ type: 'session.ending', seq, reason });
const ended = (seq, reason) => ({ type: 'session.ended', seq, reason });
const clock = (elapsed_s, remaining_s) => ({ type: 'clock', elapsed_s, remaining_s });
const error = (code, ref) => ({ type: 'error', code, message: `${code} happened`, fatal: false, ref });
const submit = (id, text) => ({ type: 'local.submit', id, answer: { format: 'text', text } });

// ---- pieces of state and of the model -------------------------------------------------------

const turn = (turn_id, kind, question_id, text, status = 'completed') => ({
  entry: 'turn',
  turn_id,
  kind,
  question_id,
  text,
  status,
});
const answer = (answer_id, question_id, text, score = null) => ({
  entry: 'answer',
  answer_id,
  question_id,
  answer: { format: 'text', text },
  score,
});
const open = (turn_id, kind, question_id, expects, text, next_index) => ({
  turn_id,
  kind,
  question_id,
  expects,
  text,
  next_index,
});
const pending = (id, text, question_id = 'cache') => ({ id, answer: { format: 'text', text }, question_id });
const refused = (id, text, code, question_id = 'cache') => ({ ...pending(id, text, question_id), code });

const INTRO = turn(1, 'intro', null, 'Hello there.');
const CACHE = turn(2, 'question', 'cache', 'Design a cache.');
/** Live, the intro and the first question done, the answer awaited; head at seq 4. */
const AWAITING = ready({
  seq: 4,
  resumed: true,
  status: 'live',
  transcript: [INTRO, CACHE],
  awaiting_answer: { question_id: 'cache', expects: TEXT },
  clock: { elapsed_s: 12, remaining_s: 588 },
});
/** Live, the first question being spoken ("Design a " so far, next delta 2); head at seq 3. */
const SPEAKING = ready({
  seq: 3,
  resumed: true,
  status: 'live',
  transcript: [INTRO],
  open_turn: open(2, 'question', 'cache', TEXT, 'Design a ', 2),
});
/** Live, an answer acknowledged (answer 1, seq 5) and the next question open (seq 6). */
const ANSWERED = [AWAITING, submit('a1', 'An LRU.'), received(5, 'a1', 1), started(6, 3, 'question', 'sum', PY)];

// ---- the table --------------------------------------------------------------------------------
//
// `given` is applied to the initial model, then `when`; `expect` lists the model's fields to
// compare (all others are free), plus `canAnswer` (the derived flag) and `unchanged` (the last
// action of `when` returned the very same model).

const CASES = [
  // session.ready
  {
    name: 'nothing is applied before session.ready',
    when: [started(1, 1, 'intro'), clock(3, 597)],
    expect: { ready: false, seq: 0, openTurn: null, clock: null, unchanged: true },
  },
  {
    name: 'session.ready of a new session',
    when: [ready()],
    expect: {
      ready: true,
      seq: 0,
      status: 'created',
      planId: 'test',
      transcript: [],
      openTurn: null,
      awaitingAnswer: null,
      clock: { elapsed_s: 0, remaining_s: 600 },
      ending: null,
      endedReason: null,
      reportReady: false,
      resync: false,
      canAnswer: false,
    },
  },
  {
    name: 'session.ready resumed while the answer is awaited',
    when: [AWAITING],
    expect: {
      seq: 4,
      status: 'live',
      transcript: [INTRO, CACHE],
      awaitingAnswer: { question_id: 'cache', expects: TEXT },
      clock: { elapsed_s: 12, remaining_s: 588 },
      canAnswer: true,
    },
  },
  {
    name: 'session.ready mid-turn: the open turn with its text so far and next_index',
    when: [SPEAKING],
    expect: {
      seq: 3,
      openTurn: open(2, 'question', 'cache', TEXT, 'Design a ', 2),
      awaitingAnswer: null,
      canAnswer: true,
    },
  },
  {
    name: 'the open turn from state goes on with the delta at next_index',
    given: [SPEAKING],
    when: [delta(2, 2, 'cache.')],
    expect: { openTurn: open(2, 'question', 'cache', TEXT, 'Design a cache.', 3) },
  },
  {
    name: 'deltas from state already holds are not applied again',
    given: [SPEAKING],
    when: [delta(2, 1, 'a ')],
    expect: { openTurn: open(2, 'question', 'cache', TEXT, 'Design a ', 2), unchanged: true },
  },
  {
    name: 'the open turn from state ends with its own kind (a follow-up), not a guess',
    given: [
      ready({
        seq: 5,
        resumed: true,
        status: 'live',
        transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')],
        open_turn: open(3, 'follow_up', 'cache', TEXT, 'When do ', 2),
      }),
    ],
    when: [done(6, 3, 'When do entries expire?', 'interrupted')],
    expect: {
      seq: 6,
      transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.'), turn(3, 'follow_up', 'cache', 'When do entries expire?', 'interrupted')],
      openTurn: null,
      awaitingAnswer: { question_id: 'cache', expects: TEXT },
    },
  },
  {
    name: 'session.ready of an ended session',
    when: [
      ready({
        seq: 9,
        status: 'ended',
        transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.', { dimensions: [], overall: null })],
        ended_reason: 'time_up',
        report_ready: true,
      }),
    ],
    expect: { status: 'ended', endedReason: 'time_up', reportReady: true, ending: null, canAnswer: false },
  },
  {
    name: 'session.ready of a session ended because the minutes ran out',
    when: [ready({ seq: 3, status: 'ended', transcript: [INTRO], ended_reason: 'out_of_minutes', report_ready: true })],
    expect: { status: 'ended', endedReason: 'out_of_minutes' },
  },
  {
    name: 'a reconnect keeps the answers not acknowledged yet, even one the state shows with the same text',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [
      ready({
        seq: 6,
        resumed: true,
        status: 'live',
        transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')],
        open_turn: open(3, 'question', 'sum', PY, '', 0),
      }),
    ],
    expect: { seq: 6, pending: [pending('a1', 'An LRU.')], transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')] },
  },
  {
    name: 'the replayed answer.received says which stored answer was the page’s (by id)',
    given: [
      AWAITING,
      submit('a1', 'An LRU.'),
      ready({
        seq: 6,
        resumed: true,
        status: 'live',
        transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')],
        open_turn: open(3, 'question', 'sum', PY, '', 0),
      }),
    ],
    when: [received(5, 'a1', 1), started(6, 3, 'question', 'sum', PY)],
    expect: { seq: 6, pending: [], transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')], refused: [] },
  },
  {
    name: 'an answer with the same text but another id stays pending',
    given: [
      AWAITING,
      submit('a1', 'An LRU.'),
      ready({ seq: 5, resumed: true, status: 'live', transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')] }),
    ],
    when: [received(5, 'other', 1)],
    expect: { pending: [pending('a1', 'An LRU.')], unchanged: true },
  },
  {
    name: 'session.ready of an ended session with nothing to replay gives pending answers back',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [ready({ seq: 6, status: 'ended', transcript: [INTRO, CACHE], ended_reason: 'time_up', report_ready: true })],
    expect: { pending: [], refused: [refused('a1', 'An LRU.', 'session_ended')] },
  },
  {
    name: 'on an ended session the replay acknowledges what was stored, and its session.ended refuses the rest',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [
      ready({
        seq: 8,
        resumed: true,
        status: 'ended',
        transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')],
        ended_reason: 'completed',
        report_ready: true,
      }),
      received(5, 'a1', 1),
      reportReady(7),
      ended(8, 'completed'),
    ],
    expect: { seq: 8, pending: [], refused: [], status: 'ended', transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')] },
  },
  {
    name: 'an answer the ended session never stored is given back by the replayed session.ended',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [
      ready({ seq: 6, resumed: true, status: 'ended', transcript: [INTRO, CACHE], ended_reason: 'time_up', report_ready: true }),
      reportReady(5),
      ended(6, 'time_up'),
    ],
    expect: { pending: [], refused: [refused('a1', 'An LRU.', 'session_ended')] },
  },
  {
    name: 'a reconnect while the session is ending stays ending (state does not say it)',
    given: [AWAITING, ending(5, 'ended_by_candidate')],
    when: [ready({ seq: 5, resumed: true, status: 'live', transcript: [INTRO, CACHE] })],
    expect: { ending: 'ended_by_candidate', status: 'live', canAnswer: false },
  },
  {
    name: 'a replayed session.ending tells a page that connected from nothing that the session is ending',
    given: [ready({ seq: 5, resumed: true, status: 'live', transcript: [INTRO, CACHE] })],
    when: [started(1, 1, 'intro'), done(2, 1, 'Hello there.'), ending(5, 'out_of_minutes')],
    expect: { seq: 5, ending: 'out_of_minutes', transcript: [INTRO, CACHE], canAnswer: false },
  },

  // turns
  {
    name: 'turn.started opens a turn and starts the session',
    given: [ready()],
    when: [started(1, 1, 'intro')],
    expect: { seq: 1, status: 'live', openTurn: open(1, 'intro', null, null, '', 0), canAnswer: false },
  },
  {
    name: 'turn.delta appends the open turn’s next piece',
    given: [ready(), started(1, 1, 'intro')],
    when: [delta(1, 0, 'Hello '), delta(1, 1, 'there.')],
    expect: { seq: 1, openTurn: open(1, 'intro', null, null, 'Hello there.', 2) },
  },
  {
    name: 'a delta out of order is not applied',
    given: [ready(), started(1, 1, 'intro'), delta(1, 0, 'Hello ')],
    when: [delta(1, 2, 'now.')],
    expect: { openTurn: open(1, 'intro', null, null, 'Hello ', 1), unchanged: true },
  },
  {
    name: 'a delta seen before is not applied twice',
    given: [ready(), started(1, 1, 'intro'), delta(1, 0, 'Hello ')],
    when: [delta(1, 0, 'Hello ')],
    expect: { openTurn: open(1, 'intro', null, null, 'Hello ', 1), unchanged: true },
  },
  {
    name: 'a delta for another turn is not applied',
    given: [ready(), started(1, 1, 'intro')],
    when: [delta(2, 0, 'Design ')],
    expect: { openTurn: open(1, 'intro', null, null, '', 0), unchanged: true },
  },
  {
    name: 'a delta with no open turn is not applied',
    given: [AWAITING],
    when: [delta(2, 0, 'Design ')],
    expect: { openTurn: null, unchanged: true },
  },
  {
    name: 'turn.done of a question: the finished turn, then the answer is awaited',
    given: [ready(), started(1, 1, 'intro'), done(2, 1, 'Hello there.'), started(3, 2, 'question', 'cache', TEXT)],
    when: [delta(2, 0, 'Design '), done(4, 2, 'Design a cache.')],
    expect: {
      seq: 4,
      transcript: [INTRO, CACHE],
      openTurn: null,
      awaitingAnswer: { question_id: 'cache', expects: TEXT },
      canAnswer: true,
    },
  },
  {
    name: 'turn.done text is authoritative over the deltas seen',
    given: [ready(), started(1, 1, 'intro'), delta(1, 0, 'Hel')],
    when: [done(2, 1, 'Hello there.')],
    expect: { transcript: [INTRO], openTurn: null },
  },
  {
    name: 'an interrupted question still waits for its answer',
    given: [ready({ seq: 2, status: 'live', transcript: [INTRO] }), started(3, 2, 'question', 'sum', PY)],
    when: [done(4, 2, 'Write', 'interrupted')],
    expect: {
      transcript: [INTRO, turn(2, 'question', 'sum', 'Write', 'interrupted')],
      awaitingAnswer: { question_id: 'sum', expects: PY },
    },
  },
  {
    name: 'a failed question waits for nothing (it is asked again)',
    given: [ready({ seq: 2, status: 'live', transcript: [INTRO] }), started(3, 2, 'question', 'cache', TEXT)],
    when: [done(4, 2, 'Design', 'failed')],
    expect: { transcript: [INTRO, turn(2, 'question', 'cache', 'Design', 'failed')], awaitingAnswer: null, canAnswer: false },
  },
  {
    name: 'intro and feedback turns wait for nothing',
    given: [ready(), started(1, 1, 'intro')],
    when: [done(2, 1, 'Hello there.'), started(3, 2, 'feedback', 'sum'), done(4, 2, 'Nice code.')],
    expect: { awaitingAnswer: null, transcript: [INTRO, turn(2, 'feedback', 'sum', 'Nice code.')], canAnswer: false },
  },
  {
    name: 'turn.done for a turn that is not open: resync, no guess',
    given: [ready(), started(1, 1, 'intro')],
    when: [done(2, 7, 'Hello there.')],
    expect: { resync: true, seq: 1, transcript: [], openTurn: open(1, 'intro', null, null, '', 0) },
  },
  {
    name: 'turn.done with no open turn: resync, no guess',
    given: [AWAITING],
    when: [done(5, 3, 'Write sum.')],
    expect: { resync: true, seq: 4, transcript: [INTRO, CACHE] },
  },

  // answers
  {
    name: 'an answer sent while it is awaited is pending, for that question',
    given: [AWAITING],
    when: [submit('a1', 'An LRU.')],
    expect: { pending: [pending('a1', 'An LRU.')], canAnswer: false },
  },
  {
    name: 'an answer sent while the question is spoken is for the open question',
    given: [SPEAKING],
    when: [submit('a1', 'An LRU.')],
    expect: { pending: [pending('a1', 'An LRU.')] },
  },
  {
    name: 'no answer while the intro is spoken',
    given: [ready(), started(1, 1, 'intro')],
    when: [submit('a1', 'Hi!')],
    expect: { pending: [], unchanged: true },
  },
  {
    name: 'no second answer while one is pending',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [submit('a2', 'A hash map.')],
    expect: { pending: [pending('a1', 'An LRU.')], unchanged: true },
  },
  {
    name: 'answer.received matched by id: the answer joins the transcript',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [received(5, 'a1', 1)],
    expect: {
      seq: 5,
      pending: [],
      transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')],
      awaitingAnswer: null,
      canAnswer: false,
    },
  },
  {
    name: 'answer.received for an answer the page does not know: resync',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [received(5, 'somebody-else', 1)],
    expect: { resync: true, seq: 4, pending: [pending('a1', 'An LRU.')], transcript: [INTRO, CACHE] },
  },
  {
    name: 'the re-sent answer.received of a duplicate changes nothing',
    given: ANSWERED,
    when: [received(5, 'a1', 1)],
    expect: { seq: 6, transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.')], pending: [], unchanged: true },
  },
  {
    name: 'a refused answer is given back with the error code',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [error('not_awaiting_answer', 'a1')],
    expect: { pending: [], refused: [refused('a1', 'An LRU.', 'not_awaiting_answer')], canAnswer: true },
  },
  {
    name: 'an answer refused for now (rate_limited, store_unavailable) stays pending',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [error('rate_limited', 'a1'), error('store_unavailable', 'a1')],
    expect: { pending: [pending('a1', 'An LRU.')], refused: [], unchanged: true },
  },
  {
    name: 'an error about another message leaves the answers alone',
    given: [AWAITING, submit('a1', 'An LRU.')],
    when: [error('nothing_to_interrupt', 'i1'), error('invalid_message', null)],
    expect: { pending: [pending('a1', 'An LRU.')], unchanged: true },
  },

  // scores
  {
    name: 'score.updated: the running scores and the answer’s own',
    given: ANSWERED,
    when: [scored(7, 1, 6.8)],
    expect: {
      seq: 7,
      scores: { dimensions: [{ name: 'design', score: 6.8 }], overall: 6.8 },
      transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.', { dimensions: [{ name: 'design', score: 6.8 }], overall: 6.8 })],
    },
  },
  {
    name: 'score.updated of an unscored answer keeps the running scores it carries',
    given: ANSWERED,
    when: [{ ...scored(7, 1, 0), dimensions: [], overall: null, answer: { dimensions: [], overall: null } }],
    expect: {
      scores: { dimensions: [], overall: null },
      transcript: [INTRO, CACHE, answer(1, 'cache', 'An LRU.', { dimensions: [], overall: null })],
    },
  },

  // the end
  {
    name: 'session.ending: closing, no answer accepted any more',
    given: [AWAITING],
    when: [ending(5, 'ended_by_candidate')],
    expect: { seq: 5, ending: 'ended_by_candidate', status: 'live', awaitingAnswer: null, canAnswer: false },
  },
  {
    name: 'after session.ending an answer cannot be sent',
    given: [AWAITING, ending(5, 'ended_by_candidate')],
    when: [submit('a1', 'An LRU.')],
    expect: { pending: [], unchanged: true },
  },
  {
    name: 'out of minutes: session.ending, a closing turn, scores, the report, the end',
    given: ANSWERED,
    when: [
      done(7, 3, 'Write', 'interrupted'),
      ending(8, 'out_of_minutes'),
      started(9, 4, 'closing'),
      delta(4, 0, 'Time is up.'),
      done(10, 4, 'Time is up.'),
      scored(11, 1, 7.5),
      reportReady(12),
      ended(13, 'out_of_minutes'),
    ],
    expect: {
      seq: 13,
      status: 'ended',
      ending: 'out_of_minutes',
      endedReason: 'out_of_minutes',
      reportReady: true,
      awaitingAnswer: null,
      transcript: [
        INTRO,
        CACHE,
        answer(1, 'cache', 'An LRU.', { dimensions: [{ name: 'design', score: 7.5 }], overall: 7.5 }),
        turn(3, 'question', 'sum', 'Write', 'interrupted'),
        turn(4, 'closing', null, 'Time is up.'),
      ],
    },
  },
  {
    name: 'a question cut by the end is not awaited once the session is ending',
    given: [SPEAKING, ending(4, 'time_up')],
    when: [done(5, 2, 'Design a ', 'interrupted')],
    expect: { awaitingAnswer: null, canAnswer: false },
  },
  {
    name: 'report.ready',
    given: [AWAITING],
    when: [reportReady(5)],
    expect: { seq: 5, reportReady: true },
  },
  {
    name: 'session.ended: over, the open turn gone, pending answers given back',
    given: [SPEAKING, submit('a1', 'An LRU.')],
    when: [reportReady(4), ended(5, 'time_up')],
    expect: {
      seq: 5,
      status: 'ended',
      endedReason: 'time_up',
      openTurn: null,
      pending: [],
      refused: [refused('a1', 'An LRU.', 'session_ended')],
      canAnswer: false,
    },
  },

  // seq
  {
    name: 'replayed durable events (seq ≤ the model’s) are ignored',
    given: [AWAITING],
    when: [started(1, 1, 'intro'), delta(1, 0, 'Hello '), done(2, 1, 'Hello there.'), started(3, 2, 'question', 'cache', TEXT), done(4, 2, 'Design a cache.')],
    expect: { seq: 4, transcript: [INTRO, CACHE], openTurn: null, awaitingAnswer: { question_id: 'cache', expects: TEXT }, unchanged: true },
  },
  {
    name: 'a gap in seq: resync, and nothing is applied until the next session.ready',
    given: [AWAITING],
    when: [started(6, 3, 'question', 'sum', PY), started(5, 3, 'question', 'sum', PY), clock(30, 570)],
    expect: { resync: true, seq: 4, openTurn: null, clock: { elapsed_s: 12, remaining_s: 588 }, canAnswer: false, unchanged: true },
  },
  {
    name: 'the next session.ready repairs a gap',
    given: [AWAITING, started(6, 3, 'question', 'sum', PY)],
    when: [ready({ seq: 6, resumed: true, status: 'live', transcript: [INTRO, CACHE], open_turn: open(3, 'question', 'sum', PY, 'Wri', 1) })],
    expect: { resync: false, seq: 6, openTurn: open(3, 'question', 'sum', PY, 'Wri', 1) },
  },
  {
    name: 'clock ticks and pongs are ephemeral: seq does not move',
    given: [AWAITING],
    when: [clock(15, 585), { type: 'pong', id: 'p1' }],
    expect: { seq: 4, clock: { elapsed_s: 15, remaining_s: 585 }, unchanged: true },
  },
  // voice
  {
    name: 'session.ready carries the voice mode of a spoken session',
    when: [ready({ seq: 4, resumed: true, status: 'live', transcript: [INTRO, CACHE], voice: { input: true, output: true } })],
    expect: { voice: { input: true, output: true }, hearing: null },
  },
  {
    name: 'a text session has no voice mode',
    when: [AWAITING],
    expect: { voice: null },
  },
  {
    name: 'a spoken answer: its transcript is the answer, acknowledged by its utterance id',
    given: [AWAITING, { type: 'answer.transcript.delta', id: 'u1', text: 'I would use ' }],
    when: [{ type: 'answer.transcript.delta', id: 'u1', text: 'a cache' }, spokenReceived(5, 'u1', 1, 'I would use a cache')],
    expect: {
      seq: 5,
      transcript: [INTRO, CACHE, { ...answer(1, 'cache', 'I would use a cache'), source: 'voice' }],
      pending: [],
      awaitingAnswer: null,
      hearing: null,
      resync: false,
      canAnswer: false,
    },
  },
  {
    name: 'the partial transcript of an utterance grows with its deltas',
    given: [AWAITING],
    when: [{ type: 'answer.transcript.delta', id: 'u1', text: 'I would ' }, { type: 'answer.transcript.delta', id: 'u1', text: 'use' }],
    expect: { seq: 4, hearing: { id: 'u1', text: 'I would use' } },
  },
  {
    name: 'a spoken answer that barged into the question answers it',
    given: [SPEAKING, done(4, 2, 'Design a cache.', 'interrupted')],
    when: [spokenReceived(5, 'u7', 1, 'a cache with a time to live')],
    expect: {
      seq: 5,
      transcript: [INTRO, turn(2, 'question', 'cache', 'Design a cache.', 'interrupted'), { ...answer(1, 'cache', 'a cache with a time to live'), source: 'voice' }],
      resync: false,
    },
  },
  {
    name: 'a replayed spoken answer changes nothing',
    given: [AWAITING, spokenReceived(5, 'u1', 1, 'a cache')],
    when: [spokenReceived(5, 'u1', 1, 'a cache')],
    expect: { seq: 5, unchanged: true },
  },
  {
    name: 'turn.truncated: the turn as heard replaces its text',
    given: [SPEAKING, done(4, 2, 'Design a cache for a busy service.', 'interrupted')],
    when: [{ type: 'turn.truncated', seq: 5, turn_id: 2, text: 'Design a', audio_end_ms: 640 }],
    expect: {
      seq: 5,
      transcript: [INTRO, { ...turn(2, 'question', 'cache', 'Design a', 'interrupted'), heard: true }],
      awaitingAnswer: { question_id: 'cache', expects: TEXT },
      resync: false,
    },
  },
  {
    name: 'turn.truncated of a turn the page does not know: resync',
    given: [AWAITING],
    when: [{ type: 'turn.truncated', seq: 5, turn_id: 9, text: 'Hm', audio_end_ms: 100 }],
    expect: { seq: 4, resync: true },
  },
  {
    name: 'turn audio and the VAD events are ephemeral: the model does not change',
    given: [SPEAKING],
    when: [
      { type: 'turn.audio', turn_id: 2, index: 0, audio: 'AAAA' },
      { type: 'input_audio.speech_started', audio_start_ms: 120 },
      { type: 'input_audio.speech_stopped', audio_end_ms: 1800 },
    ],
    expect: { seq: 3, unchanged: true },
  },
  {
    name: 'usage.low: the minutes left are kept for the warning, and the seq moves on',
    given: [AWAITING],
    when: [{ type: 'usage.low', seq: 5, remaining_s: 60 }],
    expect: { seq: 5, minutesLow: 60, awaitingAnswer: { question_id: 'cache', expects: TEXT } },
  },
  {
    name: 'a message type newer than the page is ignored',
    given: [AWAITING],
    when: [{ type: 'something.new', seq: 5 }],
    expect: { seq: 5, transcript: [INTRO, CACHE] },
  },
];

// ---- the runner -----------------------------------------------------------------------------

/** @template T @param {T} value @returns {T} */
function deepFreeze(value) {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

for (const { name, given = [], when, expect } of CASES) {
  test(name, () => {
    let model = deepFreeze(initialModel());
    for (const action of given) model = deepFreeze(reduce(model, deepFreeze(structuredClone(action))));
    let before = model;
    for (const action of when) {
      before = model;
      model = deepFreeze(reduce(model, deepFreeze(structuredClone(action))));
    }
    const { canAnswer: answerable, unchanged, ...fields } = expect;
    const actual = Object.fromEntries(Object.keys(fields).map((key) => [key, model[key]]));
    assert.deepEqual(actual, fields);
    if (answerable !== undefined) assert.equal(canAnswer(model), answerable, 'canAnswer');
    if (unchanged !== undefined) assert.equal(model === before, unchanged, 'the last action returned the same model');
  });
}

test('the table covers every durable event and the new end reason', () => {
  const types = new Set(CASES.flatMap((c) => [...(c.given ?? []), ...c.when].map((m) => m.type)));
  for (const type of ['session.ready', 'turn.started', 'turn.delta', 'turn.done', 'answer.received', 'score.updated',
    'report.ready', 'session.ending', 'session.ended', 'clock', 'error', 'pong', 'local.submit', 'turn.truncated',
    'turn.audio', 'answer.transcript.delta', 'usage.low']) {
    assert.ok(types.has(type), `no case sends ${type}`);
  }
  assert.ok(CASES.some((c) => c.when.some((m) => m.reason === 'out_of_minutes')));
});

// @ts-check
// An interview as a client knows it, and the one function that changes it:
// `reduce(model, action) → model` (the Elm architecture; docs/protocol.md section 6, "Client
// algorithm"). Pure: no DOM, no socket, no timers, no clock; it never mutates its inputs, and
// returns the very same model when an action changes nothing. Tested as tables of messages
// (test/model.test.mjs). The one reducer of Viva's clients: interview.js drives it for the
// client library, and the web console (gateway/console, which serves this file) renders it.
//
// The model is exact, never a guess: it is rebuilt from `session.ready.state` on every connect
// (the open turn with its text so far and `next_index` included), durable events are applied
// only when their `seq` is the next one, and the client's answers are matched to their
// `answer.received` by the client message id, never by content. Anything that does not fit (a
// gap in `seq`, a `turn.done` for a turn that is not open, an acknowledgement of an answer the
// client does not know) marks the model `resync`: the client reconnects and starts again from
// the server's state.

/**
 * The protocol's types, generated from its JSON Schemas (protocol.d.ts).
 * @typedef {import('./protocol').TurnKind} TurnKind
 * @typedef {import('./protocol').TurnStatus} TurnStatus
 * @typedef {import('./protocol').SessionStatus} SessionStatus
 * @typedef {import('./protocol').EndReason} EndReason
 * @typedef {import('./protocol').AnswerContent} AnswerContent
 * @typedef {import('./protocol').Expects} Expects
 * @typedef {import('./protocol').DimensionScore} DimensionScore
 * @typedef {import('./protocol').Clock} Clock
 * @typedef {import('./protocol').Voice} VoiceMode which ways a session is spoken
 * @typedef {import('./protocol').TimedWord} TimedWord
 * @typedef {import('./protocol').AwaitingAnswer} AwaitingAnswer
 * @typedef {import('./protocol').SessionState} SessionState
 * @typedef {import('./protocol').ServerMessage} ServerMessage
 * @typedef {import('./protocol').ClientMessage} ClientMessage
 */

/**
 * A server message of one type, e.g. `Message<'turn.done'>`.
 * @template {ServerMessage['type']} T
 * @typedef {Extract<ServerMessage, {type: T}>} Message
 */
/**
 * @typedef {Message<'session.ready'>} SessionReady
 * @typedef {Message<'answer.received'>} AnswerReceived
 * @typedef {Message<'error'>} ErrorMessage
 * @typedef {Message<'turn.started'|'turn.done'|'answer.received'|'turn.truncated'|'usage.low'|'score.updated'
 *   |'report.ready'|'session.ending'|'session.ended'>} DurableEvent
 */

/**
 * The model's own shapes: the protocol's, with what may be absent on the wire made explicit.
 * @typedef {{dimensions: DimensionScore[], overall: number|null}} Scores
 * @typedef {{turn_id: number, kind: TurnKind, question_id: string|null, expects: Expects|null, text: string,
 *   next_index: number}} OpenTurn
 */

/**
 * `heard` marks a turn cut off while it was spoken (`turn.truncated`): `text` is what was heard.
 * `source: 'voice'` marks an answer spoken by this client (its `answer.text` is the transcript).
 * `started_at`/`ended_at` (turns) and `at` (answers) are when the server stored them (ms since the
 * epoch), in entries from `session.ready.state`; entries the client builds from events have none.
 * @typedef {Extract<import('./protocol').TranscriptEntry, {entry: 'turn'}> & {heard?: boolean}} TurnEntry
 * @typedef {Extract<import('./protocol').TranscriptEntry, {entry: 'answer'}> & {source?: 'voice'}} AnswerEntry
 * @typedef {TurnEntry | AnswerEntry} TranscriptEntry
 */

/**
 * What the client itself does to the model: the candidate sends an answer with message id `id`.
 * @typedef {{type: 'local.submit', id: string, answer: AnswerContent}} LocalSubmit
 * @typedef {ServerMessage | LocalSubmit} Action
 */

/**
 * @typedef {{id: string, answer: AnswerContent, question_id: string|null}} PendingAnswer
 *   an answer sent (or to send) with message id `id` and not acknowledged yet
 * @typedef {PendingAnswer & {code: string}} RefusedAnswer an answer the server will never store,
 *   and why (an error code): the app gives its text back to the candidate
 */

/**
 * @typedef {object} Model
 * @property {boolean} ready a `session.ready` was applied (nothing is known before)
 * @property {number} seq the highest durable seq applied
 * @property {SessionStatus} status
 * @property {string} planId
 * @property {TranscriptEntry[]} transcript finished turns and accepted answers, in order
 * @property {OpenTurn|null} openTurn the turn in flight, with its text so far
 * @property {AwaitingAnswer|null} awaitingAnswer set exactly when an answer would be accepted now
 * @property {PendingAnswer[]} pending the client's answers not acknowledged yet, oldest first
 * @property {RefusedAnswer[]} refused the client's answers refused so far, oldest first
 * @property {Scores} scores running scores
 * @property {Clock|null} clock the last clock the server sent (`state.clock` or a `clock` tick)
 * @property {EndReason|null} ending set by `session.ending`: the end is decided, a report is coming
 * @property {EndReason|null} endedReason set once `status` is `ended`
 * @property {number|null} minutesLow the seconds of the candidate's minutes left when
 *   `usage.low` came (metering): an app warns that the interview will close soon
 * @property {boolean} reportReady
 * @property {boolean} resync the model missed something: only a new `session.ready` repairs it
 * @property {VoiceMode|null} voice the ways the session is spoken (`state.voice`), null for text
 * @property {{id: string, text: string}|null} hearing what the server recognised so far of the
 *   utterance being transcribed (`answer.transcript.delta`), until its answer is received
 */

/** Errors that leave a sent answer pending, to re-send later with the same id. */
export const RETRY_ERRORS = new Set(['rate_limited', 'store_unavailable']);

/** @returns {Model} the model before the first `session.ready` */
export function initialModel() {
  return {
    ready: false,
    seq: 0,
    status: 'created',
    planId: '',
    transcript: [],
    openTurn: null,
    awaitingAnswer: null,
    pending: [],
    refused: [],
    scores: { dimensions: [], overall: null },
    clock: null,
    ending: null,
    endedReason: null,
    minutesLow: null,
    reportReady: false,
    resync: false,
    voice: null,
    hearing: null,
  };
}

/**
 * The model after `action`. Returns `model` itself when nothing changes.
 * @param {Model} model
 * @param {Action} action
 * @returns {Model}
 */
export function reduce(model, action) {
  if (action.type === 'session.ready') return ready(model, action);
  if (action.type === 'local.submit') return submit(model, action);
  if (!model.ready || model.resync) return model;
  /** What does not fit is not applied: the model still holds everything up to its `seq`. */
  const held = model;
  const resync = () => ({ ...held, resync: true });
  if ('seq' in action) {
    if (action.seq <= model.seq) return replayed(model, action);
    if (action.seq !== model.seq + 1) return resync();
    model = { ...model, seq: action.seq };
  }
  switch (action.type) {
    case 'turn.started':
      return {
        ...model,
        status: model.status === 'created' ? 'live' : model.status,
        awaitingAnswer: null,
        openTurn: {
          turn_id: action.turn_id,
          kind: action.kind,
          question_id: action.question_id ?? null,
          expects: action.expects ?? null,
          text: '',
          next_index: 0,
        },
      };
    case 'turn.delta': {
      const open = model.openTurn;
      // Only the open turn's next delta: an old one, one out of order or one for another turn
      // changes nothing (its `turn.done` carries the whole text anyway).
      if (!open || open.turn_id !== action.turn_id || open.next_index !== action.index) return model;
      return { ...model, openTurn: { ...open, text: open.text + action.text, next_index: open.next_index + 1 } };
    }
    case 'turn.done': {
      const open = model.openTurn;
      if (!open || open.turn_id !== action.turn_id) return resync();
      const asks = open.kind === 'question' || open.kind === 'follow_up';
      const awaits = asks && action.status !== 'failed' && !model.ending;
      return {
        ...model,
        transcript: [
          ...model.transcript,
          {
            entry: 'turn',
            turn_id: open.turn_id,
            kind: open.kind,
            question_id: open.question_id,
            text: action.text,
            status: action.status,
          },
        ],
        openTurn: null,
        awaitingAnswer: awaits && open.question_id && open.expects ? { question_id: open.question_id, expects: open.expects } : null,
      };
    }
    case 'answer.received': {
      const mine = model.pending.find((p) => p.id === action.id);
      if (action.source === 'voice') return spoken(model, action);
      if (!mine) return resync(); // an answer whose content the client does not have
      return {
        ...model,
        transcript: [
          ...model.transcript,
          { entry: 'answer', answer_id: action.answer_id, question_id: mine.question_id ?? '', answer: mine.answer, score: null },
        ],
        pending: model.pending.filter((p) => p !== mine),
        awaitingAnswer: null,
      };
    }
    case 'turn.truncated': {
      // The turn as heard replaces the turn as delivered (its `turn.done` had the whole text).
      const at = model.transcript.findIndex((e) => e.entry === 'turn' && e.turn_id === action.turn_id);
      if (at < 0) return model.openTurn?.turn_id === action.turn_id ? model : resync();
      const was = /** @type {TurnEntry} */ (model.transcript[at]);
      const transcript = [...model.transcript];
      transcript[at] = { ...was, text: action.text, heard: true };
      return { ...model, transcript };
    }
    case 'usage.low':
      return { ...model, minutesLow: action.remaining_s };
    case 'answer.transcript.delta': {
      const so = model.hearing && model.hearing.id === action.id ? model.hearing.text : '';
      return { ...model, hearing: { id: action.id, text: so + action.text } };
    }
    case 'score.updated':
      return {
        ...model,
        scores: scores(action),
        transcript: model.transcript.map((e) =>
          e.entry === 'answer' && e.answer_id === action.answer_id ? { ...e, score: action.answer } : e,
        ),
      };
    case 'report.ready':
      return { ...model, reportReady: true };
    case 'session.ending':
      return { ...model, ending: action.reason, awaitingAnswer: null };
    case 'session.ended':
      return {
        ...refuseAll(model, 'session_ended'),
        status: 'ended',
        endedReason: action.reason,
        openTurn: null,
        awaitingAnswer: null,
      };
    case 'clock':
      return { ...model, clock: { elapsed_s: action.elapsed_s, remaining_s: action.remaining_s } };
    case 'error': {
      const mine = model.pending.find((p) => p.id === action.ref);
      if (!mine || RETRY_ERRORS.has(action.code)) return model;
      return {
        ...model,
        pending: model.pending.filter((p) => p !== mine),
        refused: [...model.refused, { ...mine, code: action.code }],
      };
    }
    default:
      return model; // pong, and anything newer than this client
  }
}

/**
 * `session.ready`: everything up to `seq` is in `state`. The client's own answers stay pending:
 * their `answer.received` (replayed, or re-sent when the client re-sends them) says which were
 * stored.
 * @param {Model} model
 * @param {SessionReady} m
 * @returns {Model}
 */
function ready(model, m) {
  const state = m.state;
  const ended = state.status === 'ended';
  // The replay after `session.ready` holds the acknowledgements of answers stored while the
  // client was away; on an ended session it closes with the `session.ended` that gives the rest
  // back. With nothing to replay, answers still pending on an ended session are refused now.
  const replayComing = m.resumed && model.seq < m.seq;
  const base = ended && !replayComing ? refuseAll(model, 'session_ended') : model;
  return {
    ready: true,
    seq: m.seq,
    status: state.status,
    planId: state.plan_id,
    transcript: state.transcript,
    openTurn: openTurn(state.open_turn),
    awaitingAnswer: state.awaiting_answer ?? null,
    pending: base.pending,
    refused: base.refused,
    scores: scores(state.scores),
    clock: state.clock,
    // `state` does not say that a session is ending (protocol.md section 9, item 12); an end
    // once seen is never undone, and a replayed `session.ending` says so too.
    ending: state.status === 'live' ? model.ending : null,
    endedReason: state.ended_reason ?? null,
    // Not in `state` either: a warning once seen stays (a replayed `usage.low` says so too).
    minutesLow: state.status === 'live' ? model.minutesLow : null,
    reportReady: state.report_ready,
    resync: false,
    voice: state.voice ?? null,
    hearing: null,
  };
}

/**
 * @param {import('./protocol').Scores|import('./protocol').AnswerScore} s
 * @returns {Scores}
 */
function scores(s) {
  return { dimensions: s.dimensions, overall: s.overall ?? null };
}

/**
 * @param {import('./protocol').OpenTurn|null|undefined} t
 * @returns {OpenTurn|null}
 */
function openTurn(t) {
  return t ? { ...t, question_id: t.question_id ?? null, expects: t.expects ?? null } : null;
}

/**
 * A spoken answer is stored: the client has no content of its own for it (the server heard it),
 * so its transcript is the answer. Whichever pending entry or partial transcript it had goes.
 * @param {Model} model
 * @param {AnswerReceived} m
 * @returns {Model}
 */
function spoken(model, m) {
  const questionId = model.awaitingAnswer?.question_id ?? model.openTurn?.question_id ?? '';
  /** @type {AnswerEntry} */
  const entry = {
    entry: 'answer',
    answer_id: m.answer_id,
    question_id: questionId,
    answer: { format: 'text', text: m.transcript ?? '' },
    score: null,
    source: 'voice',
  };
  return {
    ...model,
    transcript: [...model.transcript, entry],
    pending: model.pending.filter((p) => p.id !== m.id),
    awaitingAnswer: null,
    hearing: model.hearing && model.hearing.id === m.id ? null : model.hearing,
  };
}

/**
 * A durable event the model already holds (replayed after `session.ready`, or the re-sent
 * acknowledgement of a duplicate answer): ignored, except for what `state` cannot say.
 * @param {Model} model
 * @param {DurableEvent} m
 * @returns {Model}
 */
function replayed(model, m) {
  switch (m.type) {
    case 'answer.received': {
      // The answer is in the transcript already; this says it is the client's.
      const pending = model.pending.filter((p) => p.id !== m.id);
      return pending.length === model.pending.length ? model : { ...model, pending };
    }
    case 'session.ending':
      return model.status === 'live' && !model.ending ? { ...model, ending: m.reason } : model;
    case 'session.ended':
      // The replay is over: what is still pending was never stored.
      return model.pending.length ? refuseAll(model, 'session_ended') : model;
    default:
      return model;
  }
}

/**
 * @param {Model} model
 * @param {LocalSubmit} action
 * @returns {Model}
 */
function submit(model, action) {
  if (!canAnswer(model)) return model;
  const questionId = model.awaitingAnswer?.question_id ?? model.openTurn?.question_id ?? null;
  return { ...model, pending: [...model.pending, { id: action.id, answer: action.answer, question_id: questionId }] };
}

/**
 * @param {Model} model
 * @param {string} code
 * @returns {Model}
 */
function refuseAll(model, code) {
  if (!model.pending.length) return model;
  return { ...model, pending: [], refused: [...model.refused, ...model.pending.map((p) => ({ ...p, code }))] };
}

/**
 * Whether the candidate can send an answer now: one is awaited, or the question is still being
 * spoken (sending interrupts it first), and the previous one is acknowledged.
 * @param {Model} model
 */
export function canAnswer(model) {
  if (!model.ready || model.resync || model.status !== 'live' || model.ending || model.pending.length) return false;
  if (model.awaitingAnswer) return true;
  const open = model.openTurn;
  return !!open && (open.kind === 'question' || open.kind === 'follow_up');
}

/**
 * The question an answer now would answer: the one awaited, or the one being spoken.
 * @param {Model} model
 * @returns {{turnId: number, question_id: string, expects: Expects}|null}
 */
export function askedQuestion(model) {
  const open = model.openTurn;
  if (open && open.question_id && open.expects) {
    return { turnId: open.turn_id, question_id: open.question_id, expects: open.expects };
  }
  const awaiting = model.awaitingAnswer;
  if (!awaiting) return null;
  const turns = model.transcript.filter((e) => e.entry === 'turn');
  const last = turns[turns.length - 1];
  return { turnId: last ? last.turn_id : 0, question_id: awaiting.question_id, expects: awaiting.expects };
}

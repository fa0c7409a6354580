// @ts-check
// One interview, live: the socket (connection.js) feeding the reducer (model.js), and what the
// protocol asks a client to do as the model changes (docs/protocol.md section 6, "Client
// algorithm"): start the session, re-send every unacknowledged answer with its id after each
// connect, answer while a question is still spoken by interrupting it first, re-send answers
// refused for a passing reason (`rate_limited`, `store_unavailable`), start again from the
// server's state when the model missed something, and stop when the session ends. The web
// console and apps use it the same way; they render `model` and listen to events.

import { Connection } from './connection.js';
import { RETRY_ERRORS, askedQuestion, canAnswer, initialModel, reduce } from './model.js';

/**
 * @typedef {import('./model.js').Model} Model
 * @typedef {import('./model.js').Action} Action
 * @typedef {import('./model.js').AnswerContent} AnswerContent
 * @typedef {import('./model.js').PendingAnswer} PendingAnswer
 * @typedef {import('./model.js').Expects} Expects
 * @typedef {import('./model.js').EndReason} EndReason
 * @typedef {import('./protocol').Voice} Voice
 * @typedef {import('./protocol').ClientMessage} ClientMessage
 * @typedef {import('./protocol').Report} Report
 * @typedef {import('./connection.js').ConnectionState} ConnectionState
 * @typedef {import('./connection.js').Codec} Codec
 * @typedef {import('./connection.js').WebSocketClass} WebSocketClass
 */

/**
 * A question waiting for the candidate's answer (the `question` event).
 * @typedef {{turnId: number, question_id: string, expects: Expects, text: string}} Question
 */

/**
 * What an interview tells its listeners.
 * @typedef {object} Events
 * @property {[model: Model, before: Model, action: Action]} change the model changed (or an
 *   action that changed nothing was applied: `model === before`)
 * @property {[state: ConnectionState, detail: string]} state the connection's state
 * @property {[question: Question]} question an answer is awaited now (its turn is done)
 * @property {[reason: EndReason]} ended the session ended (its report is ready)
 */

/** How long an answer refused for a passing reason waits before it is sent again. */
const RETRY_MS = 1500;

/** @param {PendingAnswer} pending @returns {ClientMessage} */
function wireAnswer(pending) {
  const a = pending.answer;
  return a.format === 'code'
    ? { type: 'code.submit', id: pending.id, language: a.language, source: a.source }
    : { type: 'answer.submit', id: pending.id, text: a.text };
}

export class Interview {
  /**
   * @param {object} options
   * @param {import('./api.js').Api} options.api the REST API (tickets, the report)
   * @param {string} options.sessionId
   * @param {boolean|{voice: Voice}} [options.start] send `session.start` when the session is
   *   not started yet (default true), with `voice` to speak it
   * @param {WebSocketClass} [options.WebSocket] default: the global one
   * @param {Codec} [options.codec] default: JSON (`msgpack` from `viva-client/msgpack`)
   * @param {string} [options.idPrefix] client message ids are `${idPrefix}-1`, `-2`, ...: unique
   *   per session (default: random, so that a restarted client never reuses one)
   */
  constructor({ api, sessionId, start = true, WebSocket, codec, idPrefix }) {
    this.api = api;
    this.sessionId = sessionId;
    /** @type {Model} */
    this.model = initialModel();
    /** @type {{voice?: Voice}|null} what `session.start` asks for; null: the app starts it */
    this.starting = start === false ? null : start === true ? {} : start;
    this.idPrefix = idPrefix ?? `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    this.nextId = 1;
    /** The id of `session.start`, the same on every re-send while the session is `created`. */
    this.startId = this.newId();
    /** @type {Record<keyof Events, Function[]>} */
    this.listeners = { change: [], state: [], question: [], ended: [] };
    this.connection = new Connection({
      baseUrl: api.baseUrl,
      sessionId,
      ticket: (id) => api.ticket(id),
      lastSeq: () => this.model.seq,
      onMessage: (message) => this.dispatch(message),
      onState: (state, detail) => this.emit('state', state, detail),
      ...(WebSocket ? { WebSocket } : {}),
      ...(codec ? { codec } : {}),
    });
    /** @type {string|null} why the connection stopped for good, if it did */
    this.stopped = null;
    this.on('state', (state, detail) => {
      if (state === 'stopped') this.stopped = detail;
      else if (state !== 'ended') this.stopped = null; // `connection.resume()`
    });
    /** @type {Promise<Report>|null} `finished`, made on first use */
    this.finishing = null;
  }

  /**
   * The report, once the session has ended (fetched then, on first use); rejected when a close
   * stops the interview first (e.g. 4009: it was opened elsewhere).
   * @returns {Promise<Report>}
   */
  get finished() {
    this.finishing ??= new Promise((resolve, reject) => {
      let settled = false;
      const settle = () => {
        if (settled) return;
        if (this.model.status === 'ended') this.api.report(this.sessionId).then(resolve, reject);
        else if (this.stopped !== null) reject(new Error(this.stopped));
        else return;
        settled = true;
      };
      settle();
      this.on('ended', settle).on('state', settle);
    });
    return this.finishing;
  }

  /**
   * @template {keyof Events} E
   * @param {E} event
   * @param {(...args: Events[E]) => void} listener
   * @returns {this}
   */
  on(event, listener) {
    this.listeners[event].push(listener);
    return this;
  }

  /**
   * @template {keyof Events} E
   * @param {E} event
   * @param {Events[E]} args
   */
  emit(event, ...args) {
    for (const listener of this.listeners[event]) listener(...args);
  }

  /** A new client message id. */
  newId() {
    return `${this.idPrefix}-${this.nextId++}`;
  }

  /** Connects; reconnects by itself until the session ends or a close forbids it. */
  connect() {
    this.connection.connect();
    return this;
  }

  /** Whether a message can be sent now. */
  get connected() {
    return this.connection.connected;
  }

  /**
   * Sends one client message now; false when there is no open socket (nothing is queued:
   * answers go through `answer`, which re-sends them).
   * @param {ClientMessage} message
   */
  send(message) {
    return this.connection.send(message);
  }

  /**
   * Starts the session (if it is not started yet), e.g. in text after a voice start was
   * refused with `voice_unavailable`.
   * @param {{voice?: Voice}} [options]
   */
  start(options = {}) {
    this.starting = options;
    this.startId = this.newId();
    if (this.model.ready && this.model.status === 'created') this.send(this.startMessage());
  }

  /** @returns {ClientMessage} */
  startMessage() {
    const voice = this.starting?.voice;
    return voice ? { type: 'session.start', id: this.startId, voice } : { type: 'session.start', id: this.startId };
  }

  /**
   * Answers the question awaited, or the one still being spoken (it is interrupted first).
   * The answer stays pending until its `answer.received`, re-sent with the same id after every
   * reconnect. Returns its id, or null when no answer can be given now (see `canAnswer`).
   * @param {string|AnswerContent} answer text, or `{format: 'code', language, source}`
   * @returns {string|null}
   */
  answer(answer) {
    const content = typeof answer === 'string' ? /** @type {AnswerContent} */ ({ format: 'text', text: answer }) : answer;
    if (!canAnswer(this.model)) return null;
    const interrupting = !this.model.awaitingAnswer && !!this.model.openTurn;
    const interruptId = interrupting ? this.newId() : '';
    const id = this.newId();
    this.dispatch({ type: 'local.submit', id, answer: content });
    const pending = this.model.pending.find((p) => p.id === id);
    if (!pending) return null;
    if (interrupting) this.send({ type: 'turn.interrupt', id: interruptId });
    this.send(wireAnswer(pending));
    return id;
  }

  /** Barge-in: ends the interviewer's turn in flight. */
  interrupt() {
    if (this.model.openTurn) this.send({ type: 'turn.interrupt', id: this.newId() });
  }

  /** Ends the interview early (the report is built from the answers so far). */
  end() {
    this.send({ type: 'session.end', id: this.newId() });
  }

  /** Leaves the interview (it goes on on the server: connect again to resume). */
  close() {
    this.connection.close();
  }

  /**
   * Applies a server message, or an answer the candidate gives, and does what the change asks.
   * @param {Action} action
   */
  dispatch(action) {
    const before = this.model;
    const model = reduce(before, action);
    this.model = model;
    const connection = this.connection;
    if (action.type === 'session.ready' && model.status !== 'ended') {
      if (model.status === 'created' && this.starting) this.send(this.startMessage());
      // Re-send what was not acknowledged, with the same ids: the server applies each once.
      for (const pending of model.pending) this.send(wireAnswer(pending));
    }
    if (action.type === 'error') {
      const mine = before.pending.find((p) => p.id === action.ref);
      if (mine && RETRY_ERRORS.has(action.code)) {
        setTimeout(() => {
          if (this.model.pending.some((p) => p.id === mine.id)) this.send(wireAnswer(mine));
        }, RETRY_MS);
      }
    }
    if (model.resync && !before.resync) connection.resync();
    const ended = model.status === 'ended' && !connection.finished;
    if (ended) connection.finish(`The interview ended (${model.endedReason}).`);
    this.emit('change', model, before, action);
    const question = askedQuestion(model);
    const asked = (/** @type {Model} */ m) => !!m.awaitingAnswer && !m.pending.length && !m.resync;
    if (question && asked(model) && (!asked(before) || action.type === 'session.ready')) {
      const turns = model.transcript.filter((e) => e.entry === 'turn');
      const text = turns.length ? turns[turns.length - 1].text : '';
      this.emit('question', { ...question, text });
    }
    if (ended) this.emit('ended', model.endedReason ?? 'completed');
  }
}

// One live interview over its WebSocket: connects with a fresh ticket, keeps the session's
// model (docs/protocol.md section 6, "Client algorithm"), reconnects with `?last_seq=` after a
// drop, and re-sends answers that were not acknowledged.
//
// The model is rebuilt from `session.ready.state` on every connect, and durable events are
// applied only when their `seq` is the next one, so a replayed event is never applied twice
// and a gap makes the client reconnect instead of guessing. The view only reads the model.

/** Close codes after which the page must not reconnect by itself (protocol.md, section 7). */
const FINAL_CLOSES = new Map([
  [4002, 'protocol error'],
  [4009, 'replaced by a newer connection: the interview was opened in another tab or on another device'],
  [4010, 'the session was deleted'],
]);

/** Errors that leave a sent answer worth re-sending later with the same id. */
const RETRY_ERRORS = new Set(['rate_limited', 'store_unavailable']);

/**
 * @typedef {{format: 'text', text: string} | {format: 'code', language: string, source: string}} AnswerContent
 * @typedef {{format: 'text'} | {format: 'code', language: string}} Expects
 * @typedef {{name: string, score: number}} DimensionScore
 * @typedef {{dimensions: DimensionScore[], overall: number|null}} Scores
 * @typedef {{entry: 'turn', turn_id: number, kind: string, question_id: string|null, text: string, status: string}
 *   | {entry: 'answer', answer_id: number, question_id: string, answer: AnswerContent, score: Scores|null}} TranscriptEntry
 * @typedef {{turn_id: number, kind: string, question_id: string|null, expects: Expects|null, text: string,
 *   next_index: number}} OpenTurn
 * @typedef {{id: string, answer: AnswerContent, question_id: string|null, sent: boolean}} PendingAnswer
 * @typedef {'idle'|'connecting'|'open'|'reconnecting'|'ended'|'stopped'} ConnectionState
 */

/** The interview as the page knows it. */
export class Model {
  constructor() {
    /** @type {'created'|'live'|'ended'} */
    this.status = 'created';
    this.planId = '';
    /** @type {TranscriptEntry[]} finished turns and accepted answers, in order */
    this.transcript = [];
    /** @type {OpenTurn|null} */
    this.openTurn = null;
    /** @type {{question_id: string, expects: Expects}|null} */
    this.awaitingAnswer = null;
    /** @type {PendingAnswer[]} sent (or to send) and not acknowledged yet */
    this.pending = [];
    /** @type {Scores} */
    this.scores = { dimensions: [], overall: null };
    /** @type {{elapsed_s: number, remaining_s: number, at: number}|null} the last clock and when it came */
    this.clock = null;
    /** @type {string|null} */
    this.endedReason = null;
    this.reportReady = false;
  }
}

export class SessionClient {
  /**
   * @param {object} options
   * @param {import('./api.js').Api} options.api
   * @param {string} options.sessionId
   * @param {() => void} options.onChange the model changed
   * @param {(state: ConnectionState, detail: string) => void} options.onConnection
   * @param {(code: string, message: string) => void} options.onError an `error` event, or a refused answer
   * @param {(answer: PendingAnswer, code: string) => void} options.onAnswerRefused give the text back to the candidate
   * @param {() => void} options.onReportReady
   */
  constructor({ api, sessionId, onChange, onConnection, onError, onAnswerRefused, onReportReady }) {
    this.api = api;
    this.sessionId = sessionId;
    this.model = new Model();
    this.onChange = onChange;
    this.onConnection = onConnection;
    this.onError = onError;
    this.onAnswerRefused = onAnswerRefused;
    this.onReportReady = onReportReady;
    /** Highest durable seq applied (protocol.md section 6). */
    this.lastSeq = 0;
    /** @type {WebSocket|null} */
    this.ws = null;
    /** Failed (or short-lived) connections in a row, for the backoff. */
    this.attempt = 0;
    /** When the current connection got `session.ready`. */
    this.readyAt = /** @type {number|null} */ (null);
    /** A ticket is being fetched (so a second `connect` does not open a second socket). */
    this.fetchingTicket = false;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.retryTimer = undefined;
    /** The page gave up on this session (ended, or a close that forbids reconnecting). */
    this.stopped = false;
    /** Message ids: unique per session, so a page reload never reuses one. */
    this.idPrefix = `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    this.nextId = 1;
    /** The id of our `session.start`, re-sent with the same id if the session is still `created`. */
    this.startId = this.newId();
    /** Connections that got `session.ready` (the first one included). */
    this.connections = 0;
    /** `resumed` of each `session.ready`, in order (for tests and diagnostics). */
    this.resumes = /** @type {boolean[]} */ ([]);
    this.reportNotified = false;
  }

  newId() {
    return `${this.idPrefix}-${this.nextId++}`;
  }

  /** Connects (again), with a fresh ticket. */
  async connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.stopped || this.ws || this.fetchingTicket) return;
    this.onConnection(this.connections === 0 ? 'connecting' : 'reconnecting', 'Connecting…');
    let ticket;
    this.fetchingTicket = true;
    try {
      ticket = (await this.api.ticket(this.sessionId)).ticket;
    } catch (caught) {
      this.fetchingTicket = false;
      if (this.stopped) return;
      const error = /** @type {import('./api.js').ApiError} */ (caught);
      if (error.status === 401 || error.status === 403 || error.status === 404) {
        this.stop(error.status === 404 ? 'The session no longer exists.' : `Not allowed: ${error.message}. Check the token.`);
      } else {
        this.scheduleReconnect(`Cannot get a ticket (${error.message}).`);
      }
      return;
    }
    this.fetchingTicket = false;
    if (this.stopped || this.ws) return;
    const url = new URL(`/v1/sessions/${encodeURIComponent(this.sessionId)}/ws`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('ticket', ticket);
    url.searchParams.set('last_seq', String(this.lastSeq));
    const ws = new WebSocket(url, ['viva.v1.json']);
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws || typeof event.data !== 'string') return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handle(message);
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.closed(event.code, event.reason);
    });
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  closed(code, reason) {
    // A connection that lasted says the trouble is over: the backoff starts again from the
    // beginning. One closed at once (e.g. 4013 right after the attach) keeps backing off.
    if (this.readyAt !== null && performance.now() - this.readyAt > 10000) this.attempt = 0;
    this.readyAt = null;
    if (this.stopped) return;
    if (this.model.status === 'ended') {
      this.stopped = true;
      this.onConnection('ended', endedText(this.model.endedReason));
      return;
    }
    const final = FINAL_CLOSES.get(code);
    if (final) {
      this.stop(`Disconnected (${code}): ${final}. Not reconnecting by itself.`);
      return;
    }
    // 1000 without `session.ended` seen (it was lost with the socket): reconnect and learn
    // the end from `session.ready`. 4029: wait a few seconds before trying again.
    const why = reason ? `${reason} (${code})` : `connection lost (${code})`;
    this.scheduleReconnect(`Disconnected: ${why}.`, code === 4029 ? 3000 : 0);
  }

  /**
   * @param {string} why
   * @param {number} [atLeastMs]
   */
  scheduleReconnect(why, atLeastMs = 0) {
    if (this.stopped) return;
    const base = Math.min(15000, 500 * 2 ** Math.min(this.attempt, 5));
    const delay = Math.max(atLeastMs, Math.round(base * (0.5 + Math.random() / 2)));
    this.attempt += 1;
    const seconds = Math.max(1, Math.round(delay / 1000));
    this.onConnection('reconnecting', `${why} Reconnecting in ${seconds} s (attempt ${this.attempt})…`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Reconnects now if a retry is waiting (e.g. the browser came back online). */
  reconnectNow() {
    if (this.stopped || this.ws || this.retryTimer === undefined) return;
    this.connect();
  }

  /** A reconnect the candidate asked for after a close that forbids doing it automatically. */
  resume() {
    if (this.model.status === 'ended' || this.ws) return;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** @param {string} detail */
  stop(detail) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.onConnection('stopped', detail);
  }

  /** Leaves the session (another interview starts, or the token changed). */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'leaving');
  }

  /** Drops the socket as a network failure would (the test hook `__viva.dropSocket`). */
  drop() {
    if (this.ws) this.ws.close(3000, 'dropped');
  }

  /** @param {object} message */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Whether an answer can be sent now: awaited, or the question is still being spoken. */
  canAnswer() {
    const m = this.model;
    if (m.status !== 'live' || m.pending.length > 0) return false;
    if (m.awaitingAnswer) return true;
    return !!m.openTurn && (m.openTurn.kind === 'question' || m.openTurn.kind === 'follow_up');
  }

  /**
   * Sends an answer. While the question is still being spoken, interrupts it first
   * (protocol.md: "Answering while the question is still being spoken").
   * @param {AnswerContent} answer
   */
  submit(answer) {
    const m = this.model;
    const questionId = m.awaitingAnswer?.question_id ?? m.openTurn?.question_id ?? null;
    if (!m.awaitingAnswer && m.openTurn) this.send({ type: 'turn.interrupt', id: this.newId() });
    /** @type {PendingAnswer} */
    const pending = { id: this.newId(), answer, question_id: questionId, sent: false };
    m.pending.push(pending);
    pending.sent = this.send(wireAnswer(pending));
    this.onChange();
  }

  /** Barge-in: ends the interviewer's turn in flight. */
  interrupt() {
    if (this.model.openTurn) this.send({ type: 'turn.interrupt', id: this.newId() });
  }

  /** Ends the interview early. */
  end() {
    this.send({ type: 'session.end', id: this.newId() });
  }

  /** @param {any} m a server message */
  handle(m) {
    const model = this.model;
    if (m.type === 'session.ready') {
      this.ready(m);
      return;
    }
    if (typeof m.seq === 'number') {
      if (m.seq <= this.lastSeq) {
        // Replayed (already in `state`) or the re-sent ack of a duplicate answer.
        if (m.type === 'answer.received') this.acknowledged(m.id, m.answer_id, false);
        return;
      }
      if (m.seq !== this.lastSeq + 1) {
        // A gap: never expected. Start over from the server's state.
        if (this.ws) this.ws.close(3001, 'gap in seq');
        return;
      }
      this.lastSeq = m.seq;
    }
    switch (m.type) {
      case 'turn.started':
        model.status = 'live';
        model.awaitingAnswer = null;
        model.openTurn = {
          turn_id: m.turn_id,
          kind: m.kind,
          question_id: m.question_id,
          expects: m.expects,
          text: '',
          next_index: 0,
        };
        break;
      case 'turn.delta': {
        const open = model.openTurn;
        if (!open || open.turn_id !== m.turn_id || open.next_index !== m.index) return;
        open.text += m.text;
        open.next_index += 1;
        break;
      }
      case 'turn.done': {
        const open = model.openTurn && model.openTurn.turn_id === m.turn_id ? model.openTurn : null;
        const kind = open ? open.kind : 'question';
        model.transcript.push({
          entry: 'turn',
          turn_id: m.turn_id,
          kind,
          question_id: open ? open.question_id : null,
          text: m.text,
          status: m.status,
        });
        model.openTurn = null;
        const asks = kind === 'question' || kind === 'follow_up';
        if (asks && m.status !== 'failed' && open && open.expects && open.question_id) {
          model.awaitingAnswer = { question_id: open.question_id, expects: open.expects };
        }
        break;
      }
      case 'answer.received':
        this.acknowledged(m.id, m.answer_id, true);
        break;
      case 'score.updated': {
        model.scores = { dimensions: m.dimensions, overall: m.overall };
        const entry = model.transcript.find((e) => e.entry === 'answer' && e.answer_id === m.answer_id);
        if (entry && entry.entry === 'answer') entry.score = m.answer;
        break;
      }
      case 'report.ready':
        model.reportReady = true;
        break;
      case 'session.ended':
        if (model.clock) {
          // Freeze the clock where the local count had got to (no tick comes at the end).
          const since = Math.floor((performance.now() - model.clock.at) / 1000);
          const { elapsed_s, remaining_s } = model.clock;
          model.clock = { elapsed_s: elapsed_s + since, remaining_s: Math.max(0, remaining_s - since), at: 0 };
        }
        model.status = 'ended';
        model.endedReason = m.reason;
        model.openTurn = null;
        model.awaitingAnswer = null;
        this.refuseAllPending('session_ended');
        this.stopped = true;
        this.onConnection('ended', endedText(m.reason));
        break;
      case 'clock':
        model.clock = { elapsed_s: m.elapsed_s, remaining_s: m.remaining_s, at: performance.now() };
        break;
      case 'error':
        this.error(m);
        break;
      default:
        return; // pong, and anything newer than this page
    }
    this.onChange();
    if (model.reportReady) this.notifyReport();
  }

  /** @param {any} m `session.ready` */
  ready(m) {
    const state = m.state;
    const model = this.model;
    this.readyAt = performance.now();
    this.connections += 1;
    this.resumes.push(m.resumed);
    // Answers in `state` the page has not seen acknowledged: a pending answer with the same
    // content is ours (stored while the socket was down); its replayed `answer.received`
    // would say so too.
    const known = new Set(model.transcript.flatMap((e) => (e.entry === 'answer' ? [e.answer_id] : [])));
    /** @type {TranscriptEntry[]} */
    const stateTranscript = state.transcript;
    const fresh = stateTranscript.flatMap((e) => (e.entry === 'answer' && !known.has(e.answer_id) ? [e] : []));
    model.pending = model.pending.filter((p) => {
      const i = fresh.findIndex((e) => sameAnswer(e.answer, p.answer));
      if (i < 0) return true;
      fresh.splice(i, 1);
      return false;
    });
    model.status = state.status;
    model.planId = state.plan_id;
    model.transcript = stateTranscript.map((e) => ({ ...e }));
    model.openTurn = state.open_turn ? { ...state.open_turn } : null;
    model.awaitingAnswer = state.awaiting_answer;
    model.scores = state.scores;
    model.clock = { ...state.clock, at: performance.now() };
    model.endedReason = state.ended_reason;
    model.reportReady = state.report_ready;
    this.lastSeq = m.seq;
    if (state.status === 'ended') {
      this.refuseAllPending('session_ended');
      this.stopped = true;
      this.onConnection('ended', endedText(state.ended_reason));
    } else {
      this.onConnection('open', this.connections > 1 ? 'Reconnected' : 'Connected');
      if (state.status === 'created') this.send({ type: 'session.start', id: this.startId });
      for (const pending of model.pending) pending.sent = this.send(wireAnswer(pending));
    }
    this.onChange();
    if (model.reportReady) this.notifyReport();
  }

  /**
   * @param {string|null} id
   * @param {number} answerId
   * @param {boolean} live a new event (not a replay or a re-sent ack)
   */
  acknowledged(id, answerId, live) {
    const model = this.model;
    const i = model.pending.findIndex((p) => p.id === id);
    if (i < 0) return;
    const [pending] = model.pending.splice(i, 1);
    if (live && !model.transcript.some((e) => e.entry === 'answer' && e.answer_id === answerId)) {
      model.transcript.push({
        entry: 'answer',
        answer_id: answerId,
        question_id: pending.question_id ?? '',
        answer: pending.answer,
        score: null,
      });
      model.awaitingAnswer = null;
    }
    this.onChange();
  }

  /** @param {any} m an `error` event */
  error(m) {
    const model = this.model;
    const pending = model.pending.find((p) => p.id === m.ref);
    if (pending && RETRY_ERRORS.has(m.code)) {
      pending.sent = false;
      setTimeout(() => {
        if (model.pending.includes(pending)) pending.sent = this.send(wireAnswer(pending));
      }, 1500);
      this.onError(m.code, `${m.message} (re-sending)`);
      return;
    }
    if (pending) {
      model.pending.splice(model.pending.indexOf(pending), 1);
      this.onAnswerRefused(pending, m.code);
    }
    // `nothing_to_interrupt` after an interrupt that raced the end of the turn is harmless.
    if (m.code !== 'nothing_to_interrupt') this.onError(m.code, m.message);
  }

  /** @param {string} code */
  refuseAllPending(code) {
    for (const pending of this.model.pending.splice(0)) this.onAnswerRefused(pending, code);
  }

  notifyReport() {
    if (this.reportNotified) return;
    this.reportNotified = true;
    this.onReportReady();
  }
}

/** @param {PendingAnswer} pending */
function wireAnswer(pending) {
  const a = pending.answer;
  return a.format === 'code'
    ? { type: 'code.submit', id: pending.id, language: a.language, source: a.source }
    : { type: 'answer.submit', id: pending.id, text: a.text };
}

/**
 * @param {AnswerContent} a
 * @param {AnswerContent} b
 */
function sameAnswer(a, b) {
  if (a.format === 'text' && b.format === 'text') return a.text === b.text;
  if (a.format === 'code' && b.format === 'code') return a.language === b.language && a.source === b.source;
  return false;
}

/** @param {string|null} reason */
export function endedText(reason) {
  const why = {
    completed: 'the interview is complete',
    time_up: 'time is up',
    ended_by_candidate: 'you ended it',
    interviewer_failed: 'the interviewer failed',
  }[reason ?? ''];
  return `Interview ended${why ? `: ${why}` : ''}.`;
}

// @ts-check
// The session's socket (docs/protocol.md sections 2, 6 and 7): a fresh single-use ticket for
// every connect, `?last_seq=` so the server replays what the page missed, reconnects with
// exponential backoff and jitter, and the close codes after which the page must not reconnect
// by itself. It knows nothing about the interview: it hands every message to `onMessage` and
// says how the connection is with `onState`; model.js makes sense of the messages.

/** Close codes after which the page must not reconnect by itself (protocol.md, section 7). */
const FINAL_CLOSES = new Map([
  [4002, 'protocol error'],
  [4009, 'replaced by a newer connection: the interview was opened in another tab or on another device'],
  [4010, 'the session was deleted'],
]);

/** A connection that lasted this long says the trouble is over: the backoff starts again. */
const SETTLED_MS = 10000;

/**
 * @typedef {'idle'|'connecting'|'open'|'reconnecting'|'ended'|'stopped'} ConnectionState
 * @typedef {import('./model.js').ServerMessage} ServerMessage
 */

export class Transport {
  /**
   * @param {object} options
   * @param {import('./api.js').Api} options.api
   * @param {string} options.sessionId
   * @param {() => number} options.lastSeq the highest durable seq the page has applied
   * @param {(message: ServerMessage) => void} options.onMessage
   * @param {(state: ConnectionState, detail: string) => void} options.onState
   */
  constructor({ api, sessionId, lastSeq, onMessage, onState }) {
    this.api = api;
    this.sessionId = sessionId;
    this.lastSeq = lastSeq;
    this.onMessage = onMessage;
    this.onState = onState;
    /** @type {WebSocket|null} */
    this.ws = null;
    /** Failed (or short-lived) connections in a row, for the backoff. */
    this.attempt = 0;
    /** @type {number|null} when the current connection got `session.ready` */
    this.readyAt = null;
    /** A ticket is being fetched (so a second `connect` does not open a second socket). */
    this.fetchingTicket = false;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.retryTimer = undefined;
    /** No more reconnecting: the session ended, a close forbade it, or the page left. */
    this.stopped = false;
    /** The session ended (`finish`): a close is expected and final. */
    this.finished = false;
    /** Connections that got `session.ready` (the first one included). */
    this.connections = 0;
    /** @type {boolean[]} `resumed` of each `session.ready`, in order (for tests and diagnostics) */
    this.resumes = [];
  }

  /** Whether a message can be sent now. */
  get connected() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Connects (again), with a fresh ticket. */
  async connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.stopped || this.ws || this.fetchingTicket) return;
    this.onState(this.connections === 0 ? 'connecting' : 'reconnecting', 'Connecting…');
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
    url.searchParams.set('last_seq', String(this.lastSeq()));
    const ws = new WebSocket(url, ['viva.v1.json']);
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws || typeof event.data !== 'string') return;
      const message = parse(event.data);
      if (!message) return;
      if (message.type === 'session.ready') {
        this.readyAt = performance.now();
        this.connections += 1;
        this.resumes.push(message.resumed);
        this.onState('open', this.connections > 1 ? 'Reconnected' : 'Connected');
      }
      this.onMessage(message);
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
    // One closed at once (e.g. 4013 right after the attach) keeps backing off.
    if (this.readyAt !== null && performance.now() - this.readyAt > SETTLED_MS) this.attempt = 0;
    this.readyAt = null;
    if (this.stopped) return;
    const final = FINAL_CLOSES.get(code);
    if (final) {
      this.stop(`Disconnected (${code}): ${final}. Not reconnecting by itself.`);
      return;
    }
    // 1000 without `session.ended` seen (it was lost with the socket): reconnect and learn
    // the end from `session.ready`. 4029: wait a few seconds before trying again; 4503 (the
    // server is full): at least five, as its `Retry-After` says for new sessions.
    const why = reason ? `${reason} (${code})` : `connection lost (${code})`;
    const wait = code === 4503 ? 5000 : code === 4029 ? 3000 : 0;
    this.scheduleReconnect(`Disconnected: ${why}.`, wait);
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
    this.onState('reconnecting', `${why} Reconnecting in ${seconds} s (attempt ${this.attempt})…`);
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
    if (this.finished || this.ws) return;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /**
   * The model missed something: close, reconnect, and start again from the server's state.
   */
  resync() {
    if (this.ws) this.ws.close(3001, 'gap in seq');
  }

  /**
   * Gives up reconnecting by itself and says why.
   * @param {string} detail
   */
  stop(detail) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.onState('stopped', detail);
  }

  /**
   * The session is over: the server closes the socket, and nothing reconnects.
   * @param {string} detail
   */
  finish(detail) {
    this.finished = true;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.onState('ended', detail);
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

  /**
   * Sends one client message; false when there is no open socket to send it on.
   * @param {{type: string, id?: string} & Record<string, unknown>} message
   */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }
}

/**
 * A text frame as a server message, or null when it is not a JSON object with a string `type`.
 * @param {string} data
 * @returns {ServerMessage|null}
 */
function parse(data) {
  let value;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || typeof value.type !== 'string') return null;
  return /** @type {ServerMessage} */ (value);
}

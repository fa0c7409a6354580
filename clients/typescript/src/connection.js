// @ts-check
// A session's socket (docs/protocol.md sections 2, 6 and 7): a fresh single-use ticket for
// every connect, `?last_seq=` so the server replays what the client missed, reconnects with
// exponential backoff and jitter, and the close codes after which a client must not reconnect
// by itself. It knows nothing about the interview: it hands every message to `onMessage` and
// says how the connection is with `onState`; model.js makes sense of the messages and
// interview.js ties the two together. Runs in browsers and in Node (give it `WebSocket`, e.g.
// the `ws` package's, where there is no global one).

/**
 * @typedef {import('./protocol').ServerMessage} ServerMessage
 * @typedef {import('./protocol').ClientMessage} ClientMessage
 * @typedef {'idle'|'connecting'|'open'|'reconnecting'|'ended'|'stopped'} ConnectionState
 */

/**
 * How messages travel: the subprotocol offered, and the frames it uses.
 * @typedef {object} Codec
 * @property {string} protocol the subprotocol (`viva.v1.json`, `viva.v1.msgpack`)
 * @property {(message: ClientMessage) => string|Uint8Array<ArrayBuffer>} encode
 * @property {(data: unknown) => unknown} decode a frame's data (a string, or an ArrayBuffer)
 */

/** `viva.v1.json`: one JSON object per text frame. */
export const json = /** @type {Codec} */ ({
  protocol: 'viva.v1.json',
  encode: (message) => JSON.stringify(message),
  decode: (data) => (typeof data === 'string' ? JSON.parse(data) : null),
});

/** Close codes after which a client must not reconnect by itself (protocol.md, section 7). */
export const FINAL_CLOSES = new Map([
  [4002, 'protocol error'],
  [4009, 'replaced by a newer connection: the interview was opened in another tab or on another device'],
  [4010, 'the session was deleted'],
]);

/** A connection that lasted this long says the trouble is over: the backoff starts again. */
const SETTLED_MS = 10000;

/**
 * The subset of the WebSocket API the connection uses (browsers' and the `ws` package's).
 * @typedef {{new (url: string, protocols: string[]): WebSocket}} WebSocketClass
 */

export class Connection {
  /**
   * @param {object} options
   * @param {string|URL} options.baseUrl the gateway (`http://127.0.0.1:8080`); the socket is
   *   `ws:` (`wss:` for `https:`) on the same host
   * @param {string} options.sessionId
   * @param {(sessionId: string) => Promise<{ticket: string}>} options.ticket a new ticket
   *   (`POST /v1/sessions/{id}/ticket`); an error with `status` 401, 403 or 404 stops
   * @param {() => number} options.lastSeq the highest durable seq the client has applied
   * @param {(message: ServerMessage) => void} options.onMessage
   * @param {(state: ConnectionState, detail: string) => void} options.onState
   * @param {WebSocketClass} [options.WebSocket] default: the global one
   * @param {Codec} [options.codec] default: JSON
   */
  constructor({ baseUrl, sessionId, ticket, lastSeq, onMessage, onState, WebSocket, codec = json }) {
    this.baseUrl = baseUrl;
    this.sessionId = sessionId;
    this.ticket = ticket;
    this.lastSeq = lastSeq;
    this.onMessage = onMessage;
    this.onState = onState;
    const Socket = WebSocket ?? globalThis.WebSocket;
    if (!Socket) throw new Error('no WebSocket here: pass one (e.g. the `ws` package\'s) as `WebSocket`');
    this.Socket = Socket;
    this.codec = codec;
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
    /** No more reconnecting: the session ended, a close forbade it, or the client left. */
    this.stopped = false;
    /** The session ended (`finish`): a close is expected and final. */
    this.finished = false;
    /** Connections that got `session.ready` (the first one included). */
    this.connections = 0;
    /** @type {boolean[]} `resumed` of each `session.ready`, in order (for tests and diagnostics) */
    this.resumes = [];
    /** @type {number[]} the code of every close, in order (for tests and diagnostics) */
    this.closes = [];
  }

  /** Whether a message can be sent now. */
  get connected() {
    return !!this.ws && this.ws.readyState === 1; // OPEN
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
      ticket = (await this.ticket(this.sessionId)).ticket;
    } catch (caught) {
      this.fetchingTicket = false;
      if (this.stopped) return;
      const error = /** @type {{status?: number, message: string}} */ (caught);
      if (error.status === 401 || error.status === 403 || error.status === 404) {
        this.stop(error.status === 404 ? 'The session no longer exists.' : `Not allowed: ${error.message}. Check the token.`);
      } else {
        this.scheduleReconnect(`Cannot get a ticket (${error.message}).`);
      }
      return;
    }
    this.fetchingTicket = false;
    if (this.stopped || this.ws) return;
    const url = new URL(`/v1/sessions/${encodeURIComponent(this.sessionId)}/ws`, this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('ticket', ticket);
    url.searchParams.set('last_seq', String(this.lastSeq()));
    const ws = new this.Socket(url.href, [this.codec.protocol]);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      const message = this.parse(event.data);
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
    // A failed handshake or connection: its `close` follows (and Node's `ws` throws an
    // `error` that nobody listens to).
    ws.addEventListener('error', () => {});
  }

  /**
   * A frame as a server message, or null when it is not an object with a string `type`.
   * @param {unknown} data
   * @returns {ServerMessage|null}
   */
  parse(data) {
    let value;
    try {
      value = this.codec.decode(data);
    } catch {
      return null;
    }
    if (!value || typeof value !== 'object' || !('type' in value) || typeof value.type !== 'string') return null;
    return /** @type {ServerMessage} */ (value);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  closed(code, reason) {
    this.closes.push(code);
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

  /** A reconnect the user asked for after a close that forbids doing it automatically. */
  resume() {
    if (this.finished || this.ws) return;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** The model missed something: close, reconnect, and start again from the server's state. */
  resync() {
    this.abandon(3001, 'gap in seq');
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
    this.retryTimer = undefined;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'leaving');
  }

  /** Drops the socket as a network failure would (for tests); the client reconnects. */
  drop() {
    this.abandon(3000, 'dropped');
  }

  /**
   * Closes the socket and reads nothing more from it (as a browser does once it closes one:
   * what the server sent meanwhile is replayed on the next connection), then reconnects as
   * after any close.
   * @param {number} code
   * @param {string} reason
   */
  abandon(code, reason) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.close(code, reason);
    this.closed(code, reason);
  }

  /**
   * Sends one client message; false when there is no open socket to send it on.
   * @param {ClientMessage} message
   */
  send(message) {
    if (!this.ws || !this.connected) return false;
    this.ws.send(this.codec.encode(message));
    return true;
  }
}

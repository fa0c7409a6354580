// @ts-check
// The Viva client: `new Viva({baseUrl, token})`, then `viva.start(plan)` for a new interview or
// `viva.interview(sessionId)` to join one. Each piece is its own module, for apps (and the web
// console) that want only some: api.js (REST), connection.js (the socket), model.js (the
// reducer), interview.js (the three together); msgpack.js (the MessagePack codec, separate so
// that JSON users never load it); protocol.d.ts (every message's type, generated).

import { Api } from './api.js';
import { Interview } from './interview.js';

export { Api, ApiError } from './api.js';
export { Connection, FINAL_CLOSES, json } from './connection.js';
export { Interview } from './interview.js';
export { RETRY_ERRORS, askedQuestion, canAnswer, initialModel, reduce } from './model.js';

/**
 * @typedef {import('./connection.js').Codec} Codec
 * @typedef {import('./connection.js').WebSocketClass} WebSocketClass
 * @typedef {import('./protocol').Candidate} Candidate
 * @typedef {import('./protocol').Voice} Voice
 */

export class Viva {
  /**
   * @param {object} options
   * @param {string|URL} options.baseUrl the gateway, e.g. `http://127.0.0.1:8080`
   * @param {string|(() => string)} options.token bearer token (`dev:alice` in dev mode)
   * @param {WebSocketClass} [options.WebSocket] where there is no global one (Node 20: the
   *   `ws` package's)
   * @param {Codec} [options.codec] default: JSON
   */
  constructor({ baseUrl, token, WebSocket, codec }) {
    this.api = new Api({ baseUrl, token });
    this.WebSocket = WebSocket;
    this.codec = codec;
  }

  /**
   * Creates a session on `plan` and connects to it; the interview starts at once.
   * @param {string} plan a plan id (`GET /v1/plans`)
   * @param {{candidate?: Candidate, adapt?: boolean, voice?: Voice}} [options]
   */
  async start(plan, { candidate, adapt, voice } = {}) {
    const created = await this.api.createSession(plan, candidate ?? null, { adapt: !!adapt });
    return this.interview(created.session_id, { start: voice ? { voice } : true });
  }

  /**
   * Connects to an existing session (and resumes it where it is).
   * @param {string} sessionId
   * @param {{start?: boolean|{voice: Voice}, codec?: Codec}} [options] `start`: whether to
   *   start it if it is not started yet (default true)
   */
  interview(sessionId, { start = true, codec } = {}) {
    const c = codec ?? this.codec;
    return new Interview({
      api: this.api,
      sessionId,
      start,
      ...(this.WebSocket ? { WebSocket: this.WebSocket } : {}),
      ...(c ? { codec: c } : {}),
    }).connect();
  }
}

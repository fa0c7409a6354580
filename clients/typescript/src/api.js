// @ts-check
// The gateway's REST API (docs/protocol.md, section 8), for browsers and Node (20+: global
// `fetch`). Every call that needs a caller sends `Authorization: Bearer <token>`; errors come
// back as `ApiError` carrying the HTTP status and the body's `error.code`. Bodies are typed
// with the protocol's generated types (protocol.d.ts).

/** A failed REST call. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the request never got an answer)
   * @param {string} code the body's `error.code`, or `network`
   * @param {string} message human-readable
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * @typedef {import('./protocol').PlanSummary} PlanSummary
 * @typedef {import('./protocol').SessionSummary} SessionSummary
 * @typedef {import('./protocol').SessionCreated} SessionCreated
 * @typedef {import('./protocol').SessionView} SessionView
 * @typedef {import('./protocol').SocketTicket} SocketTicket
 * @typedef {import('./protocol').Candidate} Candidate
 * @typedef {import('./protocol').Report} Report
 * @typedef {import('./protocol').Progress} Progress
 * @typedef {import('./protocol').ResumeUploaded} ResumeUploaded
 * @typedef {import('./protocol').ResumeView} ResumeView
 */

export class Api {
  /**
   * @param {object} options
   * @param {string|URL} options.baseUrl the gateway, e.g. `http://127.0.0.1:8080` (a page:
   *   `location.origin`)
   * @param {string|(() => string)} options.token the bearer token (`dev:alice` in dev mode),
   *   or a function returning the current one
   */
  constructor({ baseUrl, token }) {
    this.baseUrl = baseUrl;
    this.token = typeof token === 'function' ? token : () => token;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {{body?: unknown, file?: {blob: Blob, type: string, name: string}, auth?: boolean}} [options]
   *   `body` is sent as JSON; `file` as itself, with its type and name
   * @returns {Promise<any>} the parsed JSON body (null for 204)
   */
  async request(method, path, { body, file, auth = true } = {}) {
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json' };
    if (auth) headers.Authorization = `Bearer ${this.token()}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (file) {
      headers['Content-Type'] = file.type;
      // RFC 6266 / 8187: any name, percent-encoded UTF-8 (a header value must be Latin-1).
      headers['Content-Disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`;
    }
    let response;
    try {
      response = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        body: file ? file.blob : body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (error) {
      throw new ApiError(0, 'network', `the gateway cannot be reached (${error})`);
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      // Not JSON: leave `data` null and report the status below.
    }
    if (!response.ok) {
      const error = data && data.error ? data.error : { code: 'http', message: `HTTP ${response.status}` };
      throw new ApiError(response.status, error.code, error.message);
    }
    return data;
  }

  /** @returns {Promise<PlanSummary[]>} */
  async plans() {
    return (await this.request('GET', '/v1/plans', { auth: false })).plans;
  }

  /**
   * @param {string} plan a plan id (`GET /v1/plans`)
   * @param {Candidate|null} [candidate]
   * @param {{adapt?: boolean}} [options] `adapt`: target the caller's recurring weaknesses
   * @returns {Promise<SessionCreated>}
   */
  createSession(plan, candidate = null, { adapt = false } = {}) {
    return this.request('POST', '/v1/sessions', { body: adapt ? { plan, candidate, adapt } : { plan, candidate } });
  }

  /** @returns {Promise<Progress>} the caller's progress across their finished interviews */
  progress() {
    return this.request('GET', '/v1/me/progress');
  }

  /**
   * A single-use ticket for the session's socket (browsers cannot send headers on it).
   * @param {string} sessionId
   * @returns {Promise<SocketTicket>}
   */
  ticket(sessionId) {
    return this.request('POST', `/v1/sessions/${encodeURIComponent(sessionId)}/ticket`);
  }

  /**
   * @param {string} sessionId
   * @returns {Promise<SessionView>} the stored session
   */
  session(sessionId) {
    return this.request('GET', `/v1/sessions/${encodeURIComponent(sessionId)}`);
  }

  /**
   * @param {string} sessionId
   * @returns {Promise<Report>}
   */
  report(sessionId) {
    return this.request('GET', `/v1/sessions/${encodeURIComponent(sessionId)}/report`);
  }

  /**
   * The caller's minutes left (balance and what live sessions hold), or null when the server
   * does not meter minutes.
   * @returns {Promise<number|null>} seconds
   */
  async minutesLeft() {
    try {
      const usage = await this.request('GET', '/v1/me/usage?limit=1');
      return usage.balance_s + usage.held_s;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * Uploads a résumé file (PDF, DOCX, Markdown or plain text, at most 2 MiB): the server keeps
   * its text for the caller's next interviews.
   * @param {Blob} blob
   * @param {string} type its media type
   * @param {string} name the file's name
   * @returns {Promise<ResumeUploaded>}
   */
  putResume(blob, type, name) {
    return this.request('PUT', '/v1/me/resume', { file: { blob, type, name } });
  }

  /** @returns {Promise<ResumeView|null>} the kept résumé, or null when there is none */
  async resume() {
    try {
      return await this.request('GET', '/v1/me/resume');
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  /** @returns {Promise<void>} */
  async deleteResume() {
    await this.request('DELETE', '/v1/me/resume');
  }

  /** @returns {Promise<SessionSummary[]>} newest first */
  async mySessions() {
    return (await this.request('GET', '/v1/me/sessions')).items;
  }
}

// @ts-check
// The gateway's REST API, as the console uses it (docs/protocol.md, section 8).
//
// Every call that needs a caller sends `Authorization: Bearer <token>`; errors come back as
// `ApiError` carrying the HTTP status and the body's `error.code`.

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
 * @typedef {{id: string, version: number, title: string, role: string, level: string,
 *   duration_s: number, questions: number, dimensions: string[]}} PlanSummary
 * @typedef {{session_id: string, plan_id: string, status: import('./model.js').SessionStatus,
 *   created_at: number, overall: number|null, answers: number}} SessionSummary
 * @typedef {{session_id: string, plan: PlanSummary, ws_path: string, created_at: number}} SessionCreated
 * @typedef {{answer_id: number, question_id: string, question: string,
 *   dimensions: import('./model.js').DimensionScore[], overall: number|null, key_points_hit: string[],
 *   key_points_missed: string[], notes: string[], scored_by: string}} AnswerEvidence
 * @typedef {{session_id: string, plan: {id: string, version: number}, scorer: {name: string, version: string},
 *   generated_at: number, ended_reason: import('./model.js').EndReason, overall: number|null,
 *   dimensions: import('./model.js').DimensionScore[], answers: AnswerEvidence[], strengths: string[],
 *   practise: string[], questions?: QuestionTiming[], revisited?: Revisited[]}} Report
 * @typedef {{question_id: string, key_point: string, description: string, answered: boolean,
 *   improved: boolean}} Revisited
 * @typedef {{sessions: number, first: number, last: number, change: number}} Trend
 * @typedef {{session_id: string, plan_id: string, ended_at: number, score: number}} ProgressPoint
 * @typedef {{name: string, points: ProgressPoint[], trend: Trend|null}} DimensionProgress
 * @typedef {{plan_id: string, question_id: string, key_point: string, description: string,
 *   missed_in: string[], hit_in: string[]}} KeyPointProgress
 * @typedef {{plan_id: string, question_id: string, question: string, key_points: string[]}} PractiseItem
 * @typedef {{session_id: string, plan_id: string, ended_at: number, questions: number,
 *   mean_to_start_ms: number|null, mean_to_finish_ms: number|null, mean_spent_ms: number|null,
 *   over_budget: number, audio_ms?: number}} SessionTiming
 * @typedef {{sessions: number, overall: DimensionProgress, dimensions: DimensionProgress[],
 *   weaknesses: KeyPointProgress[], strengths: KeyPointProgress[], practise: PractiseItem[],
 *   timing: SessionTiming[], timing_trend: Trend|null, notes: string[]}} Progress
 * @typedef {{question_id: string, budget_s: number, answers: number, to_start_ms: number|null,
 *   to_finish_ms: number|null, spent_ms: number, over_budget: boolean, audio_ms?: number}} QuestionTiming
 * @typedef {{chars: number, truncated: boolean, skills: string[], file_name: string, media_type: string,
 *   size_bytes: number, uploaded_at: number}} ResumeUploaded
 * @typedef {ResumeUploaded & {text: string}} ResumeView
 */

/** The résumé files the server reads, by media type. */
export const RESUME_TYPES = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  md: 'text/markdown',
  markdown: 'text/markdown',
  txt: 'text/plain',
};

/** Largest résumé file the server takes, in bytes (2 MiB). */
export const MAX_RESUME_BYTES = 2 * 1024 * 1024;

/**
 * The media type to send a file as: its own when the server reads it, else by its extension
 * (browsers give Markdown files no type, or `text/x-markdown`); null when it is not one.
 * @param {{name: string, type: string}} file
 * @returns {string|null}
 */
export function resumeType(file) {
  const types = /** @type {string[]} */ (Object.values(RESUME_TYPES));
  if (types.includes(file.type)) return file.type;
  const extension = file.name.includes('.') ? file.name.split('.').pop()?.toLowerCase() ?? '' : '';
  return /** @type {Record<string, string>} */ (RESUME_TYPES)[extension] ?? null;
}

export class Api {
  /** @param {() => string} token returns the current bearer token */
  constructor(token) {
    this.token = token;
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
      response = await fetch(path, {
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
   * @param {string} plan
   * @param {{role: string|null, level: string|null, resume_text: string|null}} candidate
   * @param {{adapt?: boolean}} [options] `adapt`: target the caller's recurring weaknesses
   * @returns {Promise<SessionCreated>}
   */
  createSession(plan, candidate, { adapt = false } = {}) {
    return this.request('POST', '/v1/sessions', { body: adapt ? { plan, candidate, adapt } : { plan, candidate } });
  }

  /** @returns {Promise<Progress>} the caller's progress across their finished interviews */
  progress() {
    return this.request('GET', '/v1/me/progress');
  }

  /**
   * A single-use ticket for the session's socket (browsers cannot send headers on it).
   * @param {string} sessionId
   * @returns {Promise<{ticket: string, expires_in_s: number}>}
   */
  ticket(sessionId) {
    return this.request('POST', `/v1/sessions/${encodeURIComponent(sessionId)}/ticket`);
  }

  /**
   * @param {string} sessionId
   * @returns {Promise<unknown>} the stored session (`SessionView`)
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

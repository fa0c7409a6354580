// @ts-check
// The interview console: sign-in, a new interview, the live interview, its report and the
// history of past interviews. One controller owns everything that changes: the REST client
// (api.js), the current interview's model (model.js) and socket (transport.js), and the view
// (view.js). Every server message and every answer the candidate sends goes through
// `dispatch`: the reducer makes the next model, the controller does what the change asks for
// (send, reconnect, fetch the report) and the view draws the model.

import { Api } from './api.js';
import { RETRY_ERRORS, canAnswer, initialModel, reduce } from './model.js';
import { Transport } from './transport.js';
import { InterviewView, byId, el, endedText, formatScore, renderChart, renderReport } from './view.js';

const TOKEN_KEY = 'viva.token';

/**
 * @typedef {import('./api.js').PlanSummary} PlanSummary
 * @typedef {import('./api.js').SessionSummary} SessionSummary
 * @typedef {import('./model.js').Model} Model
 * @typedef {import('./model.js').Action} Action
 * @typedef {import('./model.js').AnswerContent} AnswerContent
 * @typedef {import('./model.js').PendingAnswer} PendingAnswer
 * @typedef {import('./model.js').ErrorMessage} ErrorMessage
 */

/**
 * The interview the page is connected to.
 * @typedef {object} Session
 * @property {string} id
 * @property {PlanSummary|null} plan
 * @property {Model} model
 * @property {Transport} transport
 * @property {() => string} newId a new client message id (unique per session, so a page reload never reuses one)
 * @property {string} startId the id of our `session.start`, re-sent with the same id while the session is `created`
 * @property {boolean} reportShown
 */

/** @param {PendingAnswer} pending */
function wireAnswer(pending) {
  const a = pending.answer;
  return a.format === 'code'
    ? { type: 'code.submit', id: pending.id, language: a.language, source: a.source }
    : { type: 'answer.submit', id: pending.id, text: a.text };
}

class ConsoleApp {
  constructor() {
    this.ui = {
      signinForm: byId('signin-form', HTMLFormElement),
      token: byId('token-input', HTMLInputElement),
      setupForm: byId('setup-form', HTMLFormElement),
      setupFields: byId('setup-fields', HTMLFieldSetElement),
      setupStatus: byId('setup-status', HTMLElement),
      plan: byId('plan-select', HTMLSelectElement),
      planInfo: byId('plan-info', HTMLElement),
      role: byId('role-input', HTMLInputElement),
      level: byId('level-select', HTMLSelectElement),
      resume: byId('resume-input', HTMLTextAreaElement),
      setup: byId('setup', HTMLElement),
      interview: byId('interview', HTMLElement),
      answerForm: byId('answer-form', HTMLFormElement),
      report: byId('report', HTMLElement),
      reportBody: byId('report-body', HTMLElement),
      historyChart: byId('history-chart', HTMLElement),
      historyRows: byId('history-rows', HTMLElement),
      historyStatus: byId('history-status', HTMLElement),
      historyRefresh: byId('history-refresh', HTMLButtonElement),
    };
    this.api = new Api(() => this.ui.token.value.trim());
    this.view = new InterviewView();
    /** @type {PlanSummary[]} */
    this.plans = [];
    /** @type {Session|null} */
    this.session = null;
    /** The role field was filled from the plan (and may be replaced when the plan changes). */
    this.roleFromPlan = true;
    /** Numbers history requests, so only the latest one's answer is shown. */
    this.historyRequest = 0;
    /** @type {SessionSummary[]} what the history shows (the chart redraws on resize) */
    this.historySessions = [];
    /** What the history last showed of the current interview. */
    this.historyKey = '';
    this.chartWidth = 0;
    /** @type {string[]} CSP violations seen (the tests assert there are none) */
    this.cspViolations = [];
  }

  // ---- the live interview -----------------------------------------------------------------

  /**
   * Connects the page to a session (a new one, or one picked from the history).
   * @param {string} sessionId
   * @param {PlanSummary|null} plan
   */
  open(sessionId, plan) {
    this.leave();
    this.reset();
    this.ui.setupFields.disabled = true;
    this.ui.setup.hidden = true;
    this.view.title(plan ? plan.title : 'Interview', sessionId);
    const idPrefix = `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    let nextId = 1;
    const newId = () => `${idPrefix}-${nextId++}`;
    /** @type {Session} */
    const session = {
      id: sessionId,
      plan,
      model: initialModel(),
      transport: new Transport({
        api: this.api,
        sessionId,
        lastSeq: () => session.model.seq,
        onMessage: (message) => {
          if (this.session === session) this.dispatch(message);
        },
        onState: (state, detail) => {
          if (this.session === session) this.connectionChanged(state, detail);
        },
      }),
      newId,
      startId: newId(),
      reportShown: false,
    };
    this.session = session;
    session.transport.connect();
  }

  leave() {
    if (this.session) this.session.transport.close();
    this.session = null;
  }

  /** Back to the new-interview form, with no interview shown. */
  reset() {
    this.ui.report.hidden = true;
    this.ui.reportBody.replaceChildren();
    this.ui.setupFields.disabled = false;
    this.ui.setup.hidden = false;
    this.view.reset(this.pickedPlan());
  }

  /**
   * Applies a server message, or an answer the candidate sends, to the model, and does what the
   * change calls for.
   * @param {Action} action
   */
  dispatch(action) {
    const session = this.session;
    if (!session) return;
    const before = session.model;
    const model = reduce(before, action);
    session.model = model;
    const transport = session.transport;
    if (action.type === 'session.ready' && model.status !== 'ended') {
      if (model.status === 'created') transport.send({ type: 'session.start', id: session.startId });
      // Re-send what was not acknowledged, with the same ids: the server applies each once.
      for (const pending of model.pending) transport.send(wireAnswer(pending));
    }
    for (const refused of model.refused.slice(before.refused.length)) this.view.giveBack(refused);
    if (action.type === 'error') this.serverError(session, before, action);
    if (model.resync && !before.resync) transport.resync();
    if (model.status === 'ended' && !transport.finished) transport.finish(endedText(model.endedReason));
    if (model.reportReady && !session.reportShown) {
      session.reportShown = true;
      this.showReport(session.id, session.plan);
    }
    if (model !== before) this.render();
  }

  /**
   * @param {Session} session
   * @param {Model} before the model the error came to
   * @param {ErrorMessage} m
   */
  serverError(session, before, m) {
    const mine = before.pending.find((p) => p.id === m.ref);
    if (mine && RETRY_ERRORS.has(m.code)) {
      setTimeout(() => {
        if (this.session === session && session.model.pending.some((p) => p.id === mine.id)) {
          session.transport.send(wireAnswer(mine));
        }
      }, 1500);
      this.view.say(`${m.message} (re-sending) (${m.code})`);
      return;
    }
    // `nothing_to_interrupt` after an interrupt that raced the end of the turn is harmless.
    if (m.code !== 'nothing_to_interrupt') this.view.say(`${m.message} (${m.code})`);
  }

  /**
   * Sends an answer. While the question is still being spoken, interrupts it first
   * (protocol.md: "Answering while the question is still being spoken"). Without a socket the
   * answer stays pending and goes out on the next connect.
   * @param {AnswerContent} answer
   * @returns {boolean} whether it was taken
   */
  submit(answer) {
    const session = this.session;
    if (!session || !canAnswer(session.model)) return false;
    const interrupting = !session.model.awaitingAnswer && !!session.model.openTurn;
    const interruptId = interrupting ? session.newId() : '';
    const id = session.newId();
    this.dispatch({ type: 'local.submit', id, answer });
    const pending = session.model.pending.find((p) => p.id === id);
    if (!pending) return false;
    if (interrupting) session.transport.send({ type: 'turn.interrupt', id: interruptId });
    session.transport.send(wireAnswer(pending));
    return true;
  }

  /** Barge-in: ends the interviewer's turn in flight. */
  interrupt() {
    const session = this.session;
    if (session && session.model.openTurn) session.transport.send({ type: 'turn.interrupt', id: session.newId() });
  }

  /** Ends the interview early. */
  end() {
    const session = this.session;
    if (session) session.transport.send({ type: 'session.end', id: session.newId() });
  }

  /**
   * @param {import('./transport.js').ConnectionState} state
   * @param {string} detail
   */
  connectionChanged(state, detail) {
    const session = this.session;
    const ended = !!session && session.model.status === 'ended';
    this.view.showConnection(state, detail, state === 'stopped' && !!session && !ended, state === 'ended' || state === 'stopped');
    this.render();
  }

  render() {
    const session = this.session;
    if (!session) {
      this.view.render(null, this.pickedPlan());
      return;
    }
    const model = session.model;
    if (!session.plan) {
      session.plan = this.plans.find((p) => p.id === model.planId) ?? null;
      if (session.plan) this.view.title(session.plan.title, session.id);
    }
    const transport = session.transport;
    this.view.render({ model, plan: session.plan, connected: transport.connected, stopped: transport.stopped }, session.plan);
    // The history shows this interview's status and answers: refresh it when they change.
    const answers = model.transcript.filter((e) => e.entry === 'answer').length;
    const key = `${session.id}:${model.status}:${answers}:${model.scores.overall}`;
    if (key !== this.historyKey) {
      this.historyKey = key;
      this.loadHistory();
    }
  }

  /** Counts the clock on between ticks. */
  tick() {
    const session = this.session;
    this.view.renderClock(session ? session.model : null, session ? session.plan : this.pickedPlan());
  }

  // ---- sign-in, plans and the new-interview form ----------------------------------------------

  /** @returns {PlanSummary|null} the plan picked in the form */
  pickedPlan() {
    return this.plans.find((p) => p.id === this.ui.plan.value) ?? null;
  }

  loadToken() {
    let token = null;
    try {
      token = localStorage.getItem(TOKEN_KEY);
    } catch {
      // Storage disabled: a fresh guest every visit.
    }
    if (!token) {
      const bytes = crypto.getRandomValues(new Uint8Array(4));
      token = `dev:guest-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
      saveToken(token);
    }
    this.ui.token.value = token;
  }

  async loadPlans() {
    try {
      this.plans = await this.api.plans();
    } catch (error) {
      this.ui.setupStatus.textContent = `Cannot load the plans: ${/** @type {Error} */ (error).message}`;
      return;
    }
    this.ui.plan.replaceChildren(...this.plans.map((p) => el('option', { value: p.id, text: p.title })));
    this.showPlan();
  }

  showPlan() {
    const plan = this.pickedPlan();
    if (!plan) return;
    const ui = this.ui;
    const minutes = Math.round(plan.duration_s / 60);
    ui.planInfo.textContent = `${plan.questions} questions · ${minutes} minutes · ${plan.level} ${plan.role}`;
    if (this.roleFromPlan || !ui.role.value.trim()) {
      ui.role.value = plan.role;
      this.roleFromPlan = true;
    }
    ui.level.value = plan.level;
    if (!this.session) this.render();
  }

  async startInterview() {
    const ui = this.ui;
    const plan = this.pickedPlan();
    if (!plan) return;
    const text = (/** @type {string} */ value) => (value.trim() ? value.trim() : null);
    ui.setupFields.disabled = true;
    ui.setupStatus.textContent = 'Creating the interview…';
    let created;
    try {
      created = await this.api.createSession(plan.id, {
        role: text(ui.role.value),
        level: text(ui.level.value),
        resume_text: text(ui.resume.value),
      });
    } catch (error) {
      ui.setupStatus.textContent = `Cannot start: ${/** @type {Error} */ (error).message}`;
      ui.setupFields.disabled = false;
      return;
    }
    ui.setupStatus.textContent = '';
    this.open(created.session_id, plan);
    ui.interview.focus();
  }

  // ---- the report and the history ---------------------------------------------------------

  /**
   * @param {string} sessionId
   * @param {PlanSummary|null} plan
   */
  async showReport(sessionId, plan) {
    const ui = this.ui;
    ui.report.hidden = false;
    ui.reportBody.replaceChildren(el('p', { class: 'hint', text: 'Loading the report…' }));
    try {
      const report = await this.api.report(sessionId);
      const title = plan ? plan.title : (this.plans.find((p) => p.id === report.plan.id)?.title ?? report.plan.id);
      renderReport(ui.reportBody, report, title);
      ui.report.dataset.sessionId = sessionId;
    } catch (error) {
      ui.reportBody.replaceChildren(
        el('p', { class: 'hint', text: `Cannot load the report: ${/** @type {Error} */ (error).message}` }),
      );
    }
  }

  async loadHistory() {
    const ui = this.ui;
    const request = ++this.historyRequest;
    let sessions;
    try {
      sessions = await this.api.mySessions();
    } catch (error) {
      if (request === this.historyRequest) {
        ui.historyStatus.textContent = `Cannot load your interviews: ${/** @type {Error} */ (error).message}`;
      }
      return;
    }
    if (request !== this.historyRequest) return;
    ui.historyStatus.textContent = sessions.length ? '' : 'No interviews yet.';
    this.historySessions = sessions;
    renderChart(ui.historyChart, sessions);
    ui.historyRows.replaceChildren(...sessions.map((s) => this.historyRow(s)));
  }

  /** @param {SessionSummary} s */
  historyRow(s) {
    const plan = this.plans.find((p) => p.id === s.plan_id) ?? null;
    const action =
      s.status === 'ended'
        ? el('button', { type: 'button', class: 'small', 'data-action': 'report', text: 'Report' })
        : el('button', { type: 'button', class: 'small', 'data-action': 'rejoin', text: 'Rejoin' });
    action.setAttribute('aria-label', `${action.textContent} (${plan ? plan.title : s.plan_id}, ${when(s.created_at)})`);
    action.addEventListener('click', () => {
      if (s.status === 'ended') {
        this.showReport(s.session_id, plan);
        this.ui.report.scrollIntoView({ block: 'start' });
      } else {
        this.open(s.session_id, plan);
        this.ui.interview.focus();
      }
    });
    return el('tr', { 'data-testid': 'history-row', 'data-session-id': s.session_id, 'data-status': s.status }, [
      el('td', { text: when(s.created_at) }),
      el('td', { text: plan ? plan.title : s.plan_id }),
      el('td', { 'data-label': 'Status', text: s.status }),
      el('td', { class: 'num', 'data-label': 'Answers', text: String(s.answers) }),
      el('td', { class: 'num', 'data-label': 'Overall', 'data-testid': 'history-overall', text: formatScore(s.overall) }),
      el('td', {}, [action]),
    ]);
  }

  resized() {
    if (this.ui.historyChart.clientWidth !== this.chartWidth) {
      this.chartWidth = this.ui.historyChart.clientWidth;
      renderChart(this.ui.historyChart, this.historySessions);
    }
  }

  // ---- wiring -----------------------------------------------------------------------------

  /** Connects the page's controls to the controller. */
  listen() {
    const ui = this.ui;
    const view = this.view;
    ui.signinForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const token = ui.token.value.trim();
      if (!token) return;
      saveToken(token);
      this.leave();
      this.reset();
      this.loadHistory();
    });
    ui.plan.addEventListener('change', () => this.showPlan());
    ui.role.addEventListener('input', () => {
      this.roleFromPlan = false;
    });
    ui.setupForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.startInterview();
    });
    ui.answerForm.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!this.session || !canAnswer(this.session.model)) return;
      if (view.formatCode.checked) {
        const source = view.code.value;
        if (!source.trim()) {
          view.say('The code box is empty.');
          view.code.focus();
          return;
        }
        if (this.submit({ format: 'code', language: view.language.value, source })) view.code.value = '';
      } else {
        const text = view.answer.value.trim();
        if (!text) {
          view.say('The answer box is empty.');
          view.answer.focus();
          return;
        }
        if (this.submit({ format: 'text', text })) view.answer.value = '';
      }
    });
    for (const box of [view.answer, view.code]) {
      box.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          ui.answerForm.requestSubmit();
        }
      });
    }
    tabIndents(view.code);
    view.interrupt.addEventListener('click', () => this.interrupt());
    view.end.addEventListener('click', () => {
      if (this.session && window.confirm('End the interview now? Your report will be built from the answers so far.')) {
        this.end();
      }
    });
    view.reconnect.addEventListener('click', () => this.session?.transport.resume());
    view.newInterview.addEventListener('click', () => {
      this.leave();
      this.reset();
      ui.plan.focus();
    });
    window.addEventListener('online', () => this.session?.transport.reconnectNow());
    window.addEventListener('resize', () => this.resized());
    ui.historyRefresh.addEventListener('click', () => this.loadHistory());
    document.addEventListener('securitypolicyviolation', (event) => {
      this.cspViolations.push(`${event.violatedDirective}: ${event.blockedURI}`);
    });
    setInterval(() => this.tick(), 1000);
  }

  /** Hooks for the browser tests (gateway/tests/browser) and for poking at the page by hand. */
  hooks() {
    return Object.freeze({
      /** Closes the socket as a network failure would; the page reconnects by itself. */
      dropSocket: () => this.session?.transport.drop(),
      /** What the page's session client knows. */
      state: () => {
        const session = this.session;
        return (
          session && {
            sessionId: session.id,
            lastSeq: session.model.seq,
            connections: session.transport.connections,
            resumes: [...session.transport.resumes],
            status: session.model.status,
          }
        );
      },
      cspViolations: () => [...this.cspViolations],
    });
  }
}

/** @param {string} token */
function saveToken(token) {
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage disabled: the token lasts for this page only.
  }
}

/**
 * The code box: Tab inserts four spaces. Esc releases the next Tab so keyboard users can leave.
 * @param {HTMLTextAreaElement} box
 */
function tabIndents(box) {
  let released = false;
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      released = true;
      return;
    }
    if (event.key === 'Tab' && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey && !released) {
      event.preventDefault();
      // execCommand keeps the browser's undo history; setRangeText is the fallback.
      if (!document.execCommand || !document.execCommand('insertText', false, '    ')) {
        box.setRangeText('    ', box.selectionStart, box.selectionEnd, 'end');
      }
      return;
    }
    released = false;
  });
  box.addEventListener('blur', () => {
    released = false;
  });
}

/** @param {number} ms */
function when(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// ---- start --------------------------------------------------------------------------------

const app = new ConsoleApp();
Object.defineProperty(window, '__viva', { value: app.hooks() });
app.listen();
app.loadToken();
app.reset();
await app.loadPlans();
app.loadHistory();

// The interview console: sign-in, a new interview, the live interview, its report and the
// history of past interviews. Wires the page to the REST API (api.js) and to the session's
// socket (session.js); rendering lives in view.js.

import { Api } from './api.js';
import { SessionClient, endedText } from './session.js';
import {
  TranscriptView,
  el,
  formatDuration,
  formatScore,
  renderBars,
  renderChart,
  renderReport,
} from './view.js';

const TOKEN_KEY = 'viva.token';

/** @template {HTMLElement} T @param {string} id @returns {T} */
const $ = (id) => /** @type {T} */ (document.getElementById(id));

const ui = {
  connection: $('connection-status'),
  signinForm: /** @type {HTMLFormElement} */ ($('signin-form')),
  token: /** @type {HTMLInputElement} */ ($('token-input')),
  setupForm: /** @type {HTMLFormElement} */ ($('setup-form')),
  setupFields: /** @type {HTMLFieldSetElement} */ ($('setup-fields')),
  setupStatus: $('setup-status'),
  plan: /** @type {HTMLSelectElement} */ ($('plan-select')),
  planInfo: $('plan-info'),
  role: /** @type {HTMLInputElement} */ ($('role-input')),
  level: /** @type {HTMLSelectElement} */ ($('level-select')),
  resume: /** @type {HTMLTextAreaElement} */ ($('resume-input')),
  setup: $('setup'),
  interview: $('interview'),
  interviewSub: $('interview-sub'),
  transcript: $('transcript'),
  clockElapsed: $('clock-elapsed'),
  clockRemaining: $('clock-remaining'),
  answerForm: /** @type {HTMLFormElement} */ ($('answer-form')),
  formatText: /** @type {HTMLInputElement} */ ($('format-text')),
  formatCode: /** @type {HTMLInputElement} */ ($('format-code')),
  textField: $('text-field'),
  codeField: $('code-field'),
  answer: /** @type {HTMLTextAreaElement} */ ($('answer-input')),
  code: /** @type {HTMLTextAreaElement} */ ($('code-input')),
  language: /** @type {HTMLSelectElement} */ ($('code-language')),
  answerHint: $('answer-hint'),
  submit: /** @type {HTMLButtonElement} */ ($('submit-answer')),
  interrupt: /** @type {HTMLButtonElement} */ ($('interrupt')),
  end: /** @type {HTMLButtonElement} */ ($('end-session')),
  reconnect: /** @type {HTMLButtonElement} */ ($('reconnect')),
  newInterview: /** @type {HTMLButtonElement} */ ($('new-interview')),
  overall: $('score-overall'),
  bars: $('score-bars'),
  report: $('report'),
  reportBody: $('report-body'),
  historyChart: $('history-chart'),
  historyRows: $('history-rows'),
  historyStatus: $('history-status'),
  historyRefresh: /** @type {HTMLButtonElement} */ ($('history-refresh')),
};

const api = new Api(() => ui.token.value.trim());
const transcript = new TranscriptView(ui.transcript);

/** @type {import('./api.js').PlanSummary[]} */
let plans = [];
/** @type {SessionClient|null} */
let client = null;
/** @type {import('./api.js').PlanSummary|null} the current interview's plan */
let currentPlan = null;
/** The question the answer format was last chosen for, so a new question picks its own. */
let formatChosenFor = '';
/** The role field was filled from the plan (and may be replaced when the plan changes). */
let roleFromPlan = true;
/** CSP violations seen (the tests assert there are none). */
const cspViolations = /** @type {string[]} */ ([]);

// ---- sign-in ------------------------------------------------------------------------------

function guestToken() {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `dev:guest-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function loadToken() {
  let token = null;
  try {
    token = localStorage.getItem(TOKEN_KEY);
  } catch {
    // Storage disabled: a fresh guest every visit.
  }
  if (!token) {
    token = guestToken();
    saveToken(token);
  }
  ui.token.value = token;
}

/** @param {string} token */
function saveToken(token) {
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage disabled: the token lasts for this page only.
  }
}

ui.signinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = ui.token.value.trim();
  if (!token) return;
  saveToken(token);
  leaveSession();
  resetInterview();
  loadHistory();
});

// ---- plans and the new-interview form -----------------------------------------------------

async function loadPlans() {
  try {
    plans = await api.plans();
  } catch (error) {
    ui.setupStatus.textContent = `Cannot load the plans: ${/** @type {Error} */ (error).message}`;
    return;
  }
  ui.plan.replaceChildren(...plans.map((p) => el('option', { value: p.id, text: p.title })));
  showPlan();
}

function showPlan() {
  const plan = plans.find((p) => p.id === ui.plan.value);
  if (!plan) return;
  const minutes = Math.round(plan.duration_s / 60);
  ui.planInfo.textContent = `${plan.questions} questions · ${minutes} minutes · ${plan.level} ${plan.role}`;
  if (roleFromPlan || !ui.role.value.trim()) {
    ui.role.value = plan.role;
    roleFromPlan = true;
  }
  ui.level.value = plan.level;
  if (!client) renderBars(ui.bars, plan.dimensions, []);
}

ui.plan.addEventListener('change', showPlan);
ui.role.addEventListener('input', () => {
  roleFromPlan = false;
});

ui.setupForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const plan = plans.find((p) => p.id === ui.plan.value);
  if (!plan) return;
  const text = (/** @type {string} */ value) => (value.trim() ? value.trim() : null);
  ui.setupFields.disabled = true;
  ui.setupStatus.textContent = 'Creating the interview…';
  let created;
  try {
    created = await api.createSession(plan.id, {
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
  openSession(created.session_id, plan);
  ui.interview.focus();
});

// ---- the live interview -------------------------------------------------------------------

/**
 * Connects the page to a session (a new one, or one picked from the history).
 * @param {string} sessionId
 * @param {import('./api.js').PlanSummary|null} plan
 */
function openSession(sessionId, plan) {
  leaveSession();
  resetInterview();
  currentPlan = plan;
  ui.setupFields.disabled = true;
  ui.setup.hidden = true;
  ui.interviewSub.textContent = `${plan ? plan.title : 'Interview'} · ${sessionId}`;
  if (plan) renderBars(ui.bars, plan.dimensions, []);
  barsShown = '';
  client = new SessionClient({
    api,
    sessionId,
    onChange: render,
    onConnection: showConnection,
    onError: (code, message) => {
      ui.answerHint.textContent = `${message} (${code})`;
    },
    onAnswerRefused: (pending, code) => {
      // Give the answer back so nothing typed is lost.
      if (pending.answer.format === 'code') {
        if (!ui.code.value.trim()) ui.code.value = pending.answer.source;
      } else if (!ui.answer.value.trim()) {
        ui.answer.value = pending.answer.text;
      }
      ui.answerHint.textContent = `Your answer was not accepted (${code}); it is back in the box.`;
    },
    onReportReady: () => {
      if (client && client.sessionId === sessionId) showReport(sessionId, plan);
    },
  });
  client.connect();
}

function leaveSession() {
  if (client) client.close();
  client = null;
}

function resetInterview() {
  transcript.clear();
  ui.answer.value = '';
  ui.code.value = '';
  ui.answerHint.textContent = '';
  delete ui.answerHint.dataset.base;
  ui.report.hidden = true;
  ui.reportBody.replaceChildren();
  ui.overall.textContent = '–';
  ui.overall.classList.add('is-empty');
  formatChosenFor = '';
  currentPlan = null;
  ui.setupFields.disabled = false;
  ui.setup.hidden = false;
  ui.interviewSub.textContent = '';
  ui.reconnect.hidden = true;
  ui.newInterview.hidden = true;
  showConnection('idle', 'Not connected');
  const plan = plans.find((p) => p.id === ui.plan.value);
  renderBars(ui.bars, plan ? plan.dimensions : [], []);
  updateControls();
  renderClock();
}

/**
 * @param {import('./session.js').ConnectionState} state
 * @param {string} detail
 */
function showConnection(state, detail) {
  ui.connection.dataset.state = state;
  ui.connection.textContent = detail;
  ui.reconnect.hidden = state !== 'stopped' || !client || client.model.status === 'ended';
  if (state === 'ended' || state === 'stopped') ui.newInterview.hidden = false;
  if (client) transcript.render(client.model, isConnected());
  updateControls();
}

function render() {
  if (!client) return;
  const model = client.model;
  if (!currentPlan) {
    currentPlan = plans.find((p) => p.id === model.planId) ?? null;
    if (currentPlan) ui.interviewSub.textContent = `${currentPlan.title} · ${client.sessionId}`;
  }
  transcript.render(model, isConnected());
  ui.overall.textContent = formatScore(model.scores.overall);
  ui.overall.classList.toggle('is-empty', typeof model.scores.overall !== 'number');
  const dimensions = currentPlan ? currentPlan.dimensions : [];
  const bars = JSON.stringify([dimensions, model.scores.dimensions]);
  if (bars !== barsShown) {
    barsShown = bars;
    renderBars(ui.bars, dimensions, model.scores.dimensions);
  }
  chooseFormat(model);
  updateControls();
  renderClock();
  // The history shows this interview's status and answers: refresh it when they change.
  const answers = model.transcript.filter((e) => e.entry === 'answer').length;
  const key = `${client.sessionId}:${model.status}:${answers}:${model.scores.overall}`;
  if (key !== historyKey) {
    historyKey = key;
    loadHistory();
  }
}

/** What the history last showed of the current interview. */
let historyKey = '';
/** What the score bars show (they are redrawn only when it changes). */
let barsShown = '';

function isConnected() {
  return !!client && !!client.ws && client.ws.readyState === WebSocket.OPEN;
}

/**
 * When a new question expects code, show the editor with its language (and text otherwise).
 * @param {import('./session.js').Model} model
 */
function chooseFormat(model) {
  const asking = model.awaitingAnswer ?? (model.openTurn && model.openTurn.expects ? model.openTurn : null);
  if (!asking || !asking.expects) return;
  // The turn that asks: the open one, or the last finished one while the answer is awaited.
  const turns = model.transcript.filter((e) => e.entry === 'turn');
  const turnId = model.openTurn ? model.openTurn.turn_id : turns.length ? turns[turns.length - 1].turn_id : 0;
  const key = `${turnId}:${asking.question_id}`;
  if (key === formatChosenFor) return;
  formatChosenFor = key;
  const code = asking.expects.format === 'code';
  ui.formatCode.checked = code;
  ui.formatText.checked = !code;
  if (code && 'language' in asking.expects) {
    const language = asking.expects.language;
    if (![...ui.language.options].some((o) => o.value === language)) {
      ui.language.append(el('option', { value: language, text: language }));
    }
    ui.language.value = language;
  }
  showFormat();
}

function showFormat() {
  const code = ui.formatCode.checked;
  ui.codeField.hidden = !code;
  ui.textField.hidden = code;
}

ui.formatText.addEventListener('change', showFormat);
ui.formatCode.addEventListener('change', showFormat);

function updateControls() {
  const model = client ? client.model : null;
  const connected = isConnected();
  const live = !!model && model.status !== 'ended';
  const canAnswer = connected && !!client && client.canAnswer();
  ui.submit.disabled = !canAnswer;
  ui.interrupt.disabled = !(connected && model && model.openTurn);
  ui.end.disabled = !(connected && live);
  let hint = '';
  if (!client) hint = '';
  else if (model && model.status === 'ended') hint = endedText(model.endedReason);
  else if (!connected && client.stopped) hint = 'Not connected. Press Reconnect to go on with the interview here.';
  else if (!connected) hint = 'Waiting for the connection…';
  else if (model && model.pending.length) hint = 'Sending your answer…';
  else if (model && model.awaitingAnswer) hint = 'The interviewer is waiting for your answer.';
  else if (model && model.openTurn && (model.openTurn.kind === 'question' || model.openTurn.kind === 'follow_up'))
    hint = 'You can answer now: sending interrupts the question.';
  else if (model && model.openTurn) hint = 'The interviewer is speaking.';
  else if (model && model.status === 'created') hint = 'Starting…';
  // Keep error messages visible until something changes what the candidate can do.
  if (hint && ui.answerHint.dataset.base !== hint) {
    ui.answerHint.dataset.base = hint;
    ui.answerHint.textContent = hint;
  }
}

ui.answerForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!client || !client.canAnswer()) return;
  if (ui.formatCode.checked) {
    const source = ui.code.value;
    if (!source.trim()) {
      ui.answerHint.textContent = 'The code box is empty.';
      ui.code.focus();
      return;
    }
    client.submit({ format: 'code', language: ui.language.value, source });
    ui.code.value = '';
  } else {
    const text = ui.answer.value.trim();
    if (!text) {
      ui.answerHint.textContent = 'The answer box is empty.';
      ui.answer.focus();
      return;
    }
    client.submit({ format: 'text', text });
    ui.answer.value = '';
  }
});

for (const box of [ui.answer, ui.code]) {
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      ui.answerForm.requestSubmit();
    }
  });
}

// The code box: Tab inserts four spaces. Esc releases the next Tab so keyboard users can leave.
let tabReleased = false;
ui.code.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    tabReleased = true;
    return;
  }
  if (event.key === 'Tab' && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey && !tabReleased) {
    event.preventDefault();
    insertAtCursor(ui.code, '    ');
    return;
  }
  tabReleased = false;
});
ui.code.addEventListener('blur', () => {
  tabReleased = false;
});

/**
 * @param {HTMLTextAreaElement} box
 * @param {string} text
 */
function insertAtCursor(box, text) {
  // execCommand keeps the browser's undo history; setRangeText is the fallback.
  if (!document.execCommand || !document.execCommand('insertText', false, text)) {
    box.setRangeText(text, box.selectionStart, box.selectionEnd, 'end');
  }
}

ui.interrupt.addEventListener('click', () => client && client.interrupt());
ui.end.addEventListener('click', () => {
  if (client && window.confirm('End the interview now? Your report will be built from the answers so far.')) {
    client.end();
  }
});
ui.reconnect.addEventListener('click', () => client && client.resume());
ui.newInterview.addEventListener('click', () => {
  leaveSession();
  resetInterview();
  ui.plan.focus();
});
window.addEventListener('online', () => client && client.reconnectNow());

// ---- the clock ----------------------------------------------------------------------------

function renderClock() {
  const model = client ? client.model : null;
  if (!model || !model.clock) {
    const plan = currentPlan ?? plans.find((p) => p.id === ui.plan.value);
    ui.clockElapsed.textContent = formatDuration(0);
    ui.clockRemaining.textContent = plan ? formatDuration(plan.duration_s) : '–';
    return;
  }
  // Count locally from the last tick while the interview runs (protocol.md: `clock`).
  const running = model.status === 'live';
  const since = running ? (performance.now() - model.clock.at) / 1000 : 0;
  ui.clockElapsed.textContent = formatDuration(model.clock.elapsed_s + since);
  ui.clockRemaining.textContent = formatDuration(Math.max(0, model.clock.remaining_s - since));
}

setInterval(renderClock, 1000);

// ---- the report ---------------------------------------------------------------------------

/**
 * @param {string} sessionId
 * @param {import('./api.js').PlanSummary|null} plan
 */
async function showReport(sessionId, plan) {
  ui.report.hidden = false;
  ui.reportBody.replaceChildren(el('p', { class: 'hint', text: 'Loading the report…' }));
  try {
    const report = await api.report(sessionId);
    const title = plan ? plan.title : (plans.find((p) => p.id === report.plan.id)?.title ?? report.plan.id);
    renderReport(ui.reportBody, report, title);
    ui.report.dataset.sessionId = sessionId;
  } catch (error) {
    ui.reportBody.replaceChildren(
      el('p', { class: 'hint', text: `Cannot load the report: ${/** @type {Error} */ (error).message}` }),
    );
  }
}

// ---- history ------------------------------------------------------------------------------

/** Numbers history requests, so only the latest one's answer is shown. */
let historyRequest = 0;
/** @type {import('./api.js').SessionSummary[]} what the history shows (the chart redraws on resize) */
let historySessions = [];
let chartWidth = 0;

window.addEventListener('resize', () => {
  if (ui.historyChart.clientWidth !== chartWidth) {
    chartWidth = ui.historyChart.clientWidth;
    renderChart(ui.historyChart, historySessions);
  }
});

async function loadHistory() {
  const request = ++historyRequest;
  let sessions;
  try {
    sessions = await api.mySessions();
  } catch (error) {
    if (request === historyRequest) {
      ui.historyStatus.textContent = `Cannot load your interviews: ${/** @type {Error} */ (error).message}`;
    }
    return;
  }
  if (request !== historyRequest) return;
  ui.historyStatus.textContent = sessions.length ? '' : 'No interviews yet.';
  historySessions = sessions;
  renderChart(ui.historyChart, sessions);
  ui.historyRows.replaceChildren(
    ...sessions.map((s) => {
      const plan = plans.find((p) => p.id === s.plan_id) ?? null;
      const action =
        s.status === 'ended'
          ? el('button', { type: 'button', class: 'small', 'data-action': 'report', text: 'Report' })
          : el('button', { type: 'button', class: 'small', 'data-action': 'rejoin', text: 'Rejoin' });
      action.setAttribute('aria-label', `${action.textContent} (${plan ? plan.title : s.plan_id}, ${when(s.created_at)})`);
      action.addEventListener('click', () => {
        if (s.status === 'ended') {
          showReport(s.session_id, plan);
          ui.report.scrollIntoView({ block: 'start' });
        } else {
          openSession(s.session_id, plan);
          ui.interview.focus();
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
    }),
  );
}

/** @param {number} ms */
function when(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

ui.historyRefresh.addEventListener('click', loadHistory);

// ---- start --------------------------------------------------------------------------------

document.addEventListener('securitypolicyviolation', (event) => {
  cspViolations.push(`${event.violatedDirective}: ${event.blockedURI}`);
});

/** Hooks for the browser tests (gateway/tests/browser) and for poking at the page by hand. */
Object.defineProperty(window, '__viva', {
  value: Object.freeze({
    /** Closes the socket as a network failure would; the page reconnects by itself. */
    dropSocket: () => client?.drop(),
    /** What the page's session client knows. */
    state: () =>
      client && {
        sessionId: client.sessionId,
        lastSeq: client.lastSeq,
        connections: client.connections,
        resumes: [...client.resumes],
        status: client.model.status,
      },
    cspViolations: () => [...cspViolations],
  }),
});

loadToken();
resetInterview();
await loadPlans();
loadHistory();

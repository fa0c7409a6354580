// @ts-check
// The interview console: sign-in, a new interview, the live interview, its report and the
// history of past interviews. One controller owns everything that changes: the REST client
// (api.js), the current interview (client/interview.js: its socket and model, and the
// protocol's client algorithm, the same as the client library's for apps) and the view
// (view.js). Every change of the interview's model comes to `changed`, which does what the
// page does about it (voice, the report, the minutes) and has the view draw the model.

import { Api, MAX_RESUME_BYTES, resumeType } from './api.js';
import { Interview } from './client/interview.js';
import { RETRY_ERRORS, canAnswer } from './client/model.js';
import {
  InterviewView,
  VoiceView,
  byId,
  el,
  endedText,
  formatScore,
  renderChart,
  renderProgress,
  renderReport,
} from './view.js';
import { VoiceSession } from './voice.js';

const TOKEN_KEY = 'viva.token';

/**
 * @typedef {import('./client/protocol').PlanSummary} PlanSummary
 * @typedef {import('./client/protocol').SessionSummary} SessionSummary
 * @typedef {import('./client/model.js').Model} Model
 * @typedef {import('./client/model.js').Action} Action
 * @typedef {import('./client/model.js').AnswerContent} AnswerContent
 * @typedef {import('./client/model.js').ErrorMessage} ErrorMessage
 * @typedef {import('./client/model.js').VoiceMode} VoiceMode
 */

/**
 * The interview the page is connected to.
 * @typedef {object} Session
 * @property {string} id
 * @property {PlanSummary|null} plan
 * @property {Interview} interview its socket and model
 * @property {boolean} reportShown
 * @property {VoiceMode|null} voiceWanted voice asked for in `session.start` (null: text)
 * @property {VoiceSession|null} voice the microphone and the speaker, in a spoken session
 * @property {import('./view.js').MinutesShown|null} minutes the user's minutes as last read
 *   (null: not metered, or not read yet)
 */

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
      progressBody: byId('progress-body', HTMLElement),
      progressStatus: byId('progress-status', HTMLElement),
      practise: byId('practise', HTMLButtonElement),
      practiseHint: byId('practise-hint', HTMLElement),
      modeVoice: byId('mode-voice', HTMLInputElement),
      notifyReport: byId('notify-report', HTMLButtonElement),
      resumeDetails: byId('resume-details', HTMLDetailsElement),
      resumeFile: byId('resume-file-input', HTMLInputElement),
      resumeStatus: byId('resume-file-status', HTMLElement),
      resumeKept: byId('resume-kept', HTMLElement),
      resumeSkills: byId('resume-skills', HTMLElement),
      resumeDelete: byId('resume-delete', HTMLButtonElement),
    };
    this.api = new Api({ baseUrl: location.origin, token: () => this.ui.token.value.trim() });
    this.view = new InterviewView();
    this.voiceView = new VoiceView();
    /** @type {AudioContext|null} one for the page, made on a click so that it may play */
    this.audio = null;
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
    /** Numbers progress requests, so only the latest one's answer is shown. */
    this.progressRequest = 0;
    /** @type {import('./client/protocol').Progress|null} what the progress panel shows */
    this.progress = null;
    /** Numbers résumé requests, so only the latest one's answer is shown. */
    this.resumeRequest = 0;
    /** Whether the résumé shown is the signed-in user's (it is read when its section opens). */
    this.resumeLoaded = false;
    /** @type {string[]} CSP violations seen (the tests assert there are none) */
    this.cspViolations = [];
  }

  // ---- the live interview -----------------------------------------------------------------

  /**
   * Connects the page to a session (a new one, or one picked from the history).
   * @param {string} sessionId
   * @param {PlanSummary|null} plan
   * @param {VoiceMode|null} [voiceWanted] start it spoken (a new session only)
   */
  open(sessionId, plan, voiceWanted = null) {
    this.leave();
    this.reset();
    this.ui.setupFields.disabled = true;
    this.ui.setup.hidden = true;
    this.view.title(plan ? plan.title : 'Interview', sessionId);
    /** @type {Session} */
    const session = {
      id: sessionId,
      plan,
      interview: new Interview({ api: this.api, sessionId, start: voiceWanted ? { voice: voiceWanted } : true }),
      reportShown: false,
      voiceWanted,
      voice: null,
      minutes: null,
    };
    session.interview
      .on('change', (model, before, action) => {
        if (this.session === session) this.changed(session, model, before, action);
      })
      .on('state', (state, detail) => {
        if (this.session === session) this.connectionChanged(state, detail);
      });
    this.session = session;
    session.interview.connect();
  }

  leave() {
    if (this.session) {
      this.session.interview.close();
      this.session.voice?.close();
    }
    this.session = null;
  }

  /** Back to the new-interview form, with no interview shown. */
  reset() {
    this.voiceView.hide();
    this.ui.report.hidden = true;
    this.ui.reportBody.replaceChildren();
    this.ui.setupFields.disabled = false;
    this.ui.setup.hidden = false;
    this.view.reset(this.pickedPlan());
  }

  /**
   * What the page does when the interview's model changes (the interview did what the protocol
   * asks: start, re-send, resync, stop).
   * @param {Session} session
   * @param {Model} model
   * @param {Model} before
   * @param {Action} action what changed it
   */
  changed(session, model, before, action) {
    if (action.type === 'session.ready' && model.status !== 'ended') {
      // A spoken session resumes its voice mode from the server's state.
      if (model.voice && (model.voice.input || model.voice.output)) this.startVoice(session, model.voice);
      else if (session.voiceWanted) this.startVoice(session, session.voiceWanted);
    }
    for (const refused of model.refused.slice(before.refused.length)) this.view.giveBack(refused);
    if (action.type === 'error') this.serverError(session, before, action);
    if (session.voice && action.type !== 'local.submit') session.voice.message(action, model);
    this.voiceOnline(session);
    if (model.reportReady && !session.reportShown) {
      session.reportShown = true;
      this.showReport(session.id, session.plan);
    }
    // The minutes as the server has them: when connected, warned, ended (counted on between).
    if (['session.ready', 'usage.low', 'session.ended'].includes(action.type)) this.readMinutes(session);
    if (model !== before) this.render();
  }

  /** @param {Session} session */
  async readMinutes(session) {
    try {
      const left = await this.api.minutesLeft();
      if (this.session !== session) return;
      session.minutes = left === null ? null : { left_s: left, at: performance.now() };
      this.tick();
    } catch {
      // Shown again at the next reading.
    }
  }

  /**
   * @param {Session} session
   * @param {Model} before the model the error came to
   * @param {ErrorMessage} m
   */
  serverError(session, before, m) {
    if (m.code === 'voice_unavailable' && m.ref === session.interview.startId) {
      // The session was not started: offer to start it in text (the candidate's choice).
      session.voiceWanted = null;
      session.interview.starting = null;
      session.voice?.close();
      session.voice = null;
      this.voiceView.unavailable();
      this.view.say(`${m.message} (${m.code})`);
      return;
    }
    if (session.voice && m.ref && m.code !== 'rate_limited' && !before.pending.some((p) => p.id === m.ref)) {
      // About an utterance: voice.js says what to do.
      if (m.code === 'stt_failed' || m.code === 'invalid_message') return;
    }
    const mine = before.pending.find((p) => p.id === m.ref);
    if (mine && RETRY_ERRORS.has(m.code)) {
      // The interview sends it again by itself.
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
    return !!this.session?.interview.answer(answer);
  }

  /** Barge-in: ends the interviewer's turn in flight. */
  interrupt() {
    this.session?.interview.interrupt();
  }

  // ---- voice --------------------------------------------------------------------------------

  /** The page's AudioContext, made (or resumed) now: call it from a click or a key press. */
  audioContext() {
    if (!this.audio) this.audio = new AudioContext();
    if (this.audio.state === 'suspended') this.audio.resume().catch(() => {});
    return this.audio;
  }

  /**
   * Turns voice on for the session (once).
   * @param {Session} session
   * @param {VoiceMode} mode
   */
  startVoice(session, mode) {
    if (session.voice) return;
    session.voice = new VoiceSession({
      mode,
      ctx: this.audioContext(),
      send: (message) => session.interview.send(message),
      newId: () => session.interview.newId(),
      changed: () => {
        if (this.session === session) this.renderVoice();
      },
      say: (text) => this.view.say(text),
    });
  }

  /**
   * Audio is sent while the socket is open and the session live; a reconnect re-sends what was
   * said and not acknowledged. The microphone opens when the first question has been heard.
   * @param {Session} session
   */
  voiceOnline(session) {
    const voice = session.voice;
    if (!voice) return;
    const model = session.interview.model;
    const live = session.interview.connection.connected && model.ready && !model.resync && model.status === 'live';
    if (live && !voice.online) voice.goOnline();
    else if (!live && voice.online) voice.offline();
    if (model.status === 'ended') voice.close();
    if (live && voice.mic === 'closed' && model.awaitingAnswer && !voice.speaking) voice.openMic();
  }

  renderVoice() {
    const session = this.session;
    if (!session || !session.voice) return;
    this.voiceOnline(session);
    this.voiceView.render(session.voice, session.interview.model, session.interview.connection.connected);
  }

  /** Ends the interview early. */
  end() {
    this.session?.interview.end();
  }

  /**
   * @param {import('./client/connection.js').ConnectionState} state
   * @param {string} detail
   */
  connectionChanged(state, detail) {
    const session = this.session;
    const ended = !!session && session.interview.model.status === 'ended';
    if (state === 'ended' && session) detail = endedText(session.interview.model.endedReason);
    // A new connection starts with `session.ready`: audio waits for it.
    if (session?.voice && state !== 'open') session.voice.offline();
    this.view.showConnection(state, detail, state === 'stopped' && !!session && !ended, state === 'ended' || state === 'stopped');
    this.render();
  }

  render() {
    const session = this.session;
    if (!session) {
      this.view.render(null, this.pickedPlan());
      return;
    }
    const model = session.interview.model;
    if (!session.plan) {
      session.plan = this.plans.find((p) => p.id === model.planId) ?? null;
      if (session.plan) this.view.title(session.plan.title, session.id);
    }
    const transport = session.interview.connection;
    this.view.render({ model, plan: session.plan, connected: transport.connected, stopped: transport.stopped }, session.plan);
    if (session.voice) this.voiceView.render(session.voice, model, transport.connected);
    // The history shows this interview's status and answers, and the progress its report
    // (recorded once the report is ready, after the session has ended): refresh them when
    // any of these change.
    const answers = model.transcript.filter((e) => e.entry === 'answer').length;
    const key = `${session.id}:${model.status}:${answers}:${model.scores.overall}:${model.reportReady}`;
    if (key !== this.historyKey) {
      this.historyKey = key;
      this.loadHistory();
    }
  }

  /** Counts the clock on between ticks. */
  tick() {
    const session = this.session;
    this.view.renderClock(
      session ? session.interview.model : null,
      session ? session.plan : this.pickedPlan(),
      session ? session.minutes : null,
    );
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
    // Voice: the AudioContext is made now, on the candidate's click, so the browser lets it play.
    const voice = ui.modeVoice.checked ? { input: true, output: true } : null;
    if (voice) this.audioContext();
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
    this.open(created.session_id, plan, voice);
    ui.interview.focus();
  }

  // ---- the résumé file -----------------------------------------------------------------------

  /**
   * Shows the résumé kept (or that none is), or what went wrong.
   * @param {import('./client/protocol').ResumeUploaded|null} kept
   * @param {string} [problem] an error to show instead
   */
  showResume(kept, problem) {
    const ui = this.ui;
    ui.resumeStatus.dataset.state = problem ? 'error' : kept ? 'kept' : 'none';
    if (problem) {
      ui.resumeStatus.textContent = problem;
    } else if (kept) {
      const chars = kept.chars.toLocaleString();
      const cut = kept.truncated ? ' It was too long: only the beginning is kept.' : '';
      const count = kept.skills.length;
      const skills = count ? ` ${count} skill${count === 1 ? '' : 's'} found.` : ' No skill the plans know was found.';
      ui.resumeStatus.textContent = `${kept.file_name}: ${chars} characters kept for your next interviews.${cut}${skills}`;
    } else {
      ui.resumeStatus.textContent = 'No résumé file kept.';
    }
    // An error keeps showing the résumé kept before it (a failed upload changes nothing).
    if (!problem) {
      ui.resumeKept.hidden = !kept;
      ui.resumeKept.dataset.truncated = kept?.truncated ? 'true' : 'false';
      ui.resumeSkills.replaceChildren(...(kept?.skills ?? []).map((skill) => el('li', { text: skill })));
    }
  }

  /**
   * Reads the kept résumé, once per sign-in, when its section is open: the page asks only when
   * the candidate looks (none kept is a 404, which a browser logs as an error).
   */
  async loadResume() {
    if (this.resumeLoaded || !this.ui.resumeDetails.open) return;
    this.resumeLoaded = true;
    const request = ++this.resumeRequest;
    try {
      const kept = await this.api.resume();
      if (request === this.resumeRequest) this.showResume(kept);
    } catch (error) {
      if (request === this.resumeRequest) {
        this.showResume(null, `Cannot load your résumé: ${/** @type {Error} */ (error).message}`);
      }
    }
  }

  /** @param {File} file */
  async uploadResume(file) {
    const ui = this.ui;
    const type = resumeType(file);
    if (!type) {
      this.showResume(null, `${file.name} is not a PDF, DOCX, Markdown or text file.`);
      return;
    }
    if (file.size > MAX_RESUME_BYTES) {
      this.showResume(null, `${file.name} is over 2 MiB.`);
      return;
    }
    const request = ++this.resumeRequest;
    ui.resumeFile.disabled = true;
    ui.resumeDelete.disabled = true;
    ui.resumeStatus.dataset.state = 'busy';
    ui.resumeStatus.textContent = `Reading ${file.name}…`;
    try {
      const kept = await this.api.putResume(file, type, file.name);
      this.resumeLoaded = true;
      if (request === this.resumeRequest) this.showResume(kept);
    } catch (error) {
      if (request === this.resumeRequest) {
        this.showResume(null, `Cannot read ${file.name}: ${/** @type {Error} */ (error).message}`);
      }
    } finally {
      ui.resumeFile.disabled = false;
      ui.resumeDelete.disabled = false;
      ui.resumeFile.value = '';
    }
  }

  async deleteResume() {
    const request = ++this.resumeRequest;
    this.ui.resumeDelete.disabled = true;
    try {
      await this.api.deleteResume();
      if (request === this.resumeRequest) this.showResume(null);
      this.ui.resumeFile.focus();
    } catch (error) {
      if (request === this.resumeRequest) {
        this.showResume(null, `Cannot delete your résumé: ${/** @type {Error} */ (error).message}`);
      }
    } finally {
      this.ui.resumeDelete.disabled = false;
    }
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
      if (this.session?.id === sessionId) this.notifyReport(title, report.overall ?? null);
    } catch (error) {
      ui.reportBody.replaceChildren(
        el('p', { class: 'hint', text: `Cannot load the report: ${/** @type {Error} */ (error).message}` }),
      );
    }
  }

  /**
   * Tells the candidate their report arrived while the page was in the background (the
   * browser's notifications, allowed on a click of theirs: `offerNotifications`).
   * @param {string} title
   * @param {number|null} overall
   */
  notifyReport(title, overall) {
    if (document.visibilityState !== 'hidden' || !('Notification' in window)) return;
    if (Notification.permission !== 'granted') return;
    const score = overall == null ? '' : ` Overall ${overall.toFixed(1)} / 10.`;
    const notice = new Notification('Your interview report is ready', { body: `${title}.${score}`, tag: 'viva-report' });
    notice.addEventListener('click', () => {
      window.focus();
      this.ui.report.scrollIntoView({ block: 'start' });
      notice.close();
    });
  }

  /** Offers the report notice while the browser has not been asked yet (never asks by itself). */
  offerNotifications() {
    this.ui.notifyReport.hidden = !('Notification' in window) || Notification.permission !== 'default';
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
    this.loadProgress();
  }

  /** The progress panel: charts per dimension, recurring weaknesses, what to practise. */
  async loadProgress() {
    const ui = this.ui;
    const request = ++this.progressRequest;
    let progress;
    try {
      progress = await this.api.progress();
    } catch (error) {
      if (request === this.progressRequest) {
        ui.progressStatus.textContent = `Cannot load your progress: ${/** @type {Error} */ (error).message}`;
      }
      return;
    }
    if (request !== this.progressRequest) return;
    ui.progressStatus.textContent = '';
    this.progress = progress;
    renderProgress(ui.progressBody, progress, this.plans);
    const next = progress.practise[0];
    ui.practise.hidden = !next;
    ui.practiseHint.hidden = !next;
    if (next) {
      const plan = this.plans.find((p) => p.id === next.plan_id);
      const weak = progress.practise.filter((p) => p.plan_id === next.plan_id).flatMap((p) => p.key_points).length;
      ui.practiseHint.textContent = `An adaptive interview on ${plan ? plan.title : next.plan_id}: its questions and follow-ups go to your ${weak} recurring weak point${weak === 1 ? '' : 's'} first.`;
    }
  }

  /** Starts an adaptive interview on the plan of the most pressing weakness. */
  async startPractice() {
    const ui = this.ui;
    const next = this.progress?.practise[0];
    const plan = next ? this.plans.find((p) => p.id === next.plan_id) : null;
    if (!plan) return;
    const text = (/** @type {string} */ value) => (value.trim() ? value.trim() : null);
    ui.practise.disabled = true;
    ui.progressStatus.textContent = 'Creating the practice interview…';
    let created;
    try {
      created = await this.api.createSession(
        plan.id,
        { role: text(ui.role.value) ?? plan.role, level: plan.level, resume_text: text(ui.resume.value) },
        { adapt: true },
      );
    } catch (error) {
      ui.progressStatus.textContent = `Cannot start: ${/** @type {Error} */ (error).message}`;
      return;
    } finally {
      ui.practise.disabled = false;
    }
    ui.progressStatus.textContent = '';
    this.open(created.session_id, plan, null);
    ui.interview.focus();
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
      if (this.progress) renderProgress(this.ui.progressBody, this.progress, this.plans);
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
      this.resumeLoaded = false;
      this.ui.resumeStatus.textContent = '';
      this.ui.resumeKept.hidden = true;
      this.loadResume();
    });
    ui.resumeDetails.addEventListener('toggle', () => this.loadResume());
    ui.resumeFile.addEventListener('change', () => {
      const file = ui.resumeFile.files?.[0];
      if (file) this.uploadResume(file);
    });
    ui.resumeDelete.addEventListener('click', () => this.deleteResume());
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
      if (!this.session || !canAnswer(this.session.interview.model)) return;
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
    view.reconnect.addEventListener('click', () => this.session?.interview.connection.resume());
    view.newInterview.addEventListener('click', () => {
      this.leave();
      this.reset();
      ui.plan.focus();
    });
    this.listenVoice();
    window.addEventListener('online', () => this.session?.interview.connection.reconnectNow());
    window.addEventListener('resize', () => this.resized());
    ui.historyRefresh.addEventListener('click', () => this.loadHistory());
    ui.notifyReport.addEventListener('click', async () => {
      await Notification.requestPermission();
      this.offerNotifications();
    });
    this.offerNotifications();
    ui.practise.addEventListener('click', () => this.startPractice());
    document.addEventListener('securitypolicyviolation', (event) => {
      this.cspViolations.push(`${event.violatedDirective}: ${event.blockedURI}`);
    });
    setInterval(() => this.tick(), 1000);
  }

  /** The voice panel's controls: the microphone, push-to-talk (button or Space), text instead. */
  listenVoice() {
    const vv = this.voiceView;
    const voice = () => this.session?.voice ?? null;
    vv.openMic.addEventListener('click', () => {
      this.audioContext();
      voice()?.openMic();
    });
    for (const radio of [vv.handsFree, vv.pushToTalk]) {
      radio.addEventListener('change', () => voice()?.setStyle(vv.pushToTalk.checked ? 'push-to-talk' : 'hands-free'));
    }
    vv.talk.addEventListener('pointerdown', (event) => {
      this.audioContext();
      vv.talk.setPointerCapture(event.pointerId);
      voice()?.startTalking();
    });
    for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
      vv.talk.addEventListener(type, () => voice()?.stopTalking());
    }
    // Space anywhere but on a control that Space works itself (a field, a radio, another
    // button) holds the talk button.
    const typing = (/** @type {EventTarget|null} */ target) =>
      target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement ||
      target instanceof HTMLInputElement ||
      (target instanceof HTMLElement && target.tagName === 'SUMMARY') ||
      (target instanceof HTMLButtonElement && target !== vv.talk);
    document.addEventListener('keydown', (event) => {
      const v = voice();
      if (event.code !== 'Space' || !v || v.style !== 'push-to-talk' || typing(event.target) || vv.talk.hidden) return;
      event.preventDefault();
      if (!event.repeat) {
        this.audioContext();
        v.startTalking();
      }
    });
    document.addEventListener('keyup', (event) => {
      const v = voice();
      if (event.code !== 'Space' || !v || !v.talking) return;
      event.preventDefault();
      v.stopTalking();
    });
    vv.fallback.addEventListener('click', () => {
      const session = this.session;
      if (!session || session.interview.model.status !== 'created') return;
      vv.hide();
      session.interview.start();
      this.view.say('Starting in text…');
    });
  }

  /** Hooks for the browser tests (gateway/tests/browser) and for poking at the page by hand. */
  hooks() {
    return Object.freeze({
      /** Closes the socket as a network failure would; the page reconnects by itself. */
      dropSocket: () => this.session?.interview.connection.drop(),
      /** What the page's session client knows. */
      state: () => {
        const session = this.session;
        return (
          session && {
            sessionId: session.id,
            lastSeq: session.interview.model.seq,
            connections: session.interview.connection.connections,
            resumes: [...session.interview.connection.resumes],
            status: session.interview.model.status,
          }
        );
      },
      cspViolations: () => [...this.cspViolations],
      /** Voice mode's counters (audio played, appends sent, ...), null in a text session. */
      voice: () => {
        const voice = this.session?.voice;
        return voice ? { ...voice.stats(), style: voice.style, mic: voice.mic, speaking: voice.speaking } : null;
      },
      /** The last stored spoken answer's audio as sent: base64 PCM16 at 16 kHz, 40 ms a chunk. */
      voiceAudio: () => [...(this.session?.voice?.lastStored ?? [])],
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

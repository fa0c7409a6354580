// @ts-check
// Rendering: the interview panel from the model (InterviewView: the transcript, the scores, the
// clock, the controls and the status lines), the report, the history table and its chart. DOM
// APIs only; text always goes in through textContent, never as HTML. The view reads the model
// (model.js) and never changes it.

import { askedQuestion, canAnswer } from './client/model.js';

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @typedef {import('./client/model.js').Model} Model
 * @typedef {import('./client/model.js').TurnKind} TurnKind
 * @typedef {import('./client/model.js').AnswerContent} AnswerContent
 * @typedef {import('./client/model.js').Scores} Scores
 * @typedef {import('./client/protocol').AnswerScore} AnswerScore
 * @typedef {import('./client/model.js').EndReason} EndReason
 * @typedef {import('./client/model.js').RefusedAnswer} RefusedAnswer
 * @typedef {import('./client/protocol').PlanSummary} PlanSummary
 * @typedef {import('./client/connection.js').ConnectionState} ConnectionState
 */

/**
 * Creates an element.
 * @param {string} tag
 * @param {Record<string, string|number|boolean|null|undefined>} [attrs] `class`, `text`, or attributes
 * @param {(Node|string|null|undefined|false)[]} [children]
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'text') node.textContent = String(value);
    else if (name === 'class') node.className = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/** @param {number|null|undefined} score */
export function formatScore(score) {
  return typeof score === 'number' ? score.toFixed(1) : '–';
}

/** @param {number} seconds */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** @param {string} name a rubric dimension, e.g. `problem_solving` */
export function humanize(name) {
  const words = name.replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** @type {Record<TurnKind, string>} */
const KIND_LABEL = {
  intro: 'Introduction',
  question: 'Question',
  follow_up: 'Follow-up',
  feedback: 'Feedback',
  closing: 'Closing',
};

/** Why an interview ended, as the status line says it. @type {Record<EndReason, string>} */
const ENDED_WHY = {
  completed: 'the interview is complete',
  time_up: 'time is up',
  ended_by_candidate: 'you ended it',
  interviewer_failed: 'the interviewer failed',
  out_of_minutes: 'your interview minutes ran out',
  abandoned: 'nobody was connected for too long',
};

/** @param {EndReason|null} reason */
export function endedText(reason) {
  const why = reason ? ENDED_WHY[reason] : undefined;
  return `Interview ended${why ? `: ${why}` : ''}.`;
}

/** @param {EndReason} reason the reason `session.ending` gave */
export function endingText(reason) {
  const why = ENDED_WHY[reason];
  return `Closing…${why ? ` ${why[0].toUpperCase()}${why.slice(1)}.` : ''} Your report is on its way.`;
}

/**
 * @typedef {{kind: 'turn', key: string, turnId: number, turnKind: TurnKind, text: string,
 *   status: 'completed'|'interrupted'|'failed'|'streaming', connected: boolean, heard: boolean}} TurnItem
 * @typedef {{kind: 'answer', key: string, answerId: number, answer: AnswerContent, score: AnswerScore|null,
 *   spoken: boolean}} AnswerItem
 * @typedef {{kind: 'pending', key: string, id: string, answer: AnswerContent}} PendingItem
 * @typedef {TurnItem|AnswerItem|PendingItem} Item one entry of the transcript as shown
 */

/**
 * The transcript: one element per finished turn, accepted answer, pending answer and the open
 * turn, reconciled by key so an entry is created once and then only updated. The open turn's
 * new words are appended as text nodes (inside `role=log`, a screen reader announces only
 * them, not the whole turn again).
 */
export class TranscriptView {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    /** @type {Map<string, {node: HTMLElement, item: Item}>} */
    this.shown = new Map();
    this.empty = /** @type {HTMLElement|null} */ (root.querySelector('.empty'));
    /** Follow new entries, unless the reader scrolled up to read something earlier. */
    this.stick = true;
    root.addEventListener('scroll', () => {
      this.stick = root.scrollHeight - root.scrollTop - root.clientHeight < 48;
    });
    new ResizeObserver(() => {
      if (this.stick) root.scrollTop = root.scrollHeight;
    }).observe(root);
  }

  clear() {
    for (const { node } of this.shown.values()) node.remove();
    this.shown.clear();
    this.stick = true;
    if (this.empty) this.empty.hidden = false;
  }

  /**
   * @param {Model} model
   * @param {boolean} connected whether the open turn is still arriving
   */
  render(model, connected) {
    /** @type {Item[]} */
    const items = [];
    for (const e of model.transcript) {
      items.push(
        e.entry === 'turn'
          ? {
              kind: 'turn',
              key: `turn-${e.turn_id}`,
              turnId: e.turn_id,
              turnKind: e.kind,
              text: e.text,
              status: e.status,
              connected,
              heard: !!e.heard,
            }
          : {
              kind: 'answer',
              key: `answer-${e.answer_id}`,
              answerId: e.answer_id,
              answer: e.answer,
              score: e.score ?? null,
              spoken: e.source === 'voice',
            },
      );
    }
    const open = model.openTurn;
    if (open) {
      items.push({
        kind: 'turn',
        key: `turn-${open.turn_id}`,
        turnId: open.turn_id,
        turnKind: open.kind,
        text: open.text,
        status: 'streaming',
        connected,
        heard: false,
      });
    }
    for (const p of model.pending) items.push({ kind: 'pending', key: `pending-${p.id}`, id: p.id, answer: p.answer });

    const keep = new Set(items.map((item) => item.key));
    for (const [key, { node }] of this.shown) {
      if (!keep.has(key)) {
        node.remove();
        this.shown.delete(key);
      }
    }
    /** @type {Node|null} */
    let cursor = this.empty ? this.empty.nextSibling : this.root.firstChild;
    for (const item of items) {
      let entry = this.shown.get(item.key);
      if (!entry) {
        entry = { node: build(item), item };
        this.shown.set(item.key, entry);
      } else {
        update(entry.node, entry.item, item);
        entry.item = item;
      }
      if (entry.node !== cursor) this.root.insertBefore(entry.node, cursor);
      cursor = entry.node.nextSibling;
    }
    if (this.empty) this.empty.hidden = items.length > 0;
    if (this.stick) this.root.scrollTop = this.root.scrollHeight;
  }
}

/** @param {Item} item */
function build(item) {
  switch (item.kind) {
    case 'turn':
      return turnNode(item);
    case 'answer':
      return answerNode(item.answer, answerBadge(item.score), {
        'data-testid': 'answer',
        'data-answer-id': item.answerId,
        ...(item.spoken ? { 'data-source': 'voice' } : {}),
      });
    case 'pending':
      return answerNode(item.answer, el('span', { class: 'badge', text: 'sending…' }), {
        'data-testid': 'pending-answer',
        'data-pending-id': item.id,
        class: 'entry answer is-pending',
      });
  }
}

/**
 * Brings a shown entry up to date, touching only what changed.
 * @param {HTMLElement} node
 * @param {Item} was
 * @param {Item} now
 */
function update(node, was, now) {
  if (was.kind === 'turn' && now.kind === 'turn') {
    if (was.status !== now.status || was.connected !== now.connected || was.heard !== now.heard) {
      setTurnAttributes(node, now);
      replaceBadge(node, turnBadge(now));
    }
    const text = /** @type {HTMLElement} */ (node.querySelector('[data-testid="turn-text"]'));
    const before = turnText(was);
    const after = turnText(now);
    if (after === before) return;
    // New words of the open turn: append them, leave what is shown alone.
    if (after.startsWith(before)) text.append(document.createTextNode(after.slice(before.length)));
    else text.textContent = after;
  } else if (was.kind === 'answer' && now.kind === 'answer') {
    if (formatScore(was.score?.overall) !== formatScore(now.score?.overall) || !was.score !== !now.score) {
      replaceBadge(node, answerBadge(now.score));
    }
  }
}

/** @param {TurnItem} item */
function turnText(item) {
  return item.text || (item.status === 'streaming' ? '' : '(nothing said)');
}

/**
 * @param {HTMLElement} node
 * @param {HTMLElement|null} badge
 */
function replaceBadge(node, badge) {
  const head = /** @type {HTMLElement} */ (node.querySelector('.entry-head'));
  head.querySelector('.badge')?.remove();
  if (badge) head.append(badge);
}

/** @param {TurnItem} item */
function turnBadge({ status, connected, heard }) {
  if (heard) return el('span', { class: 'badge badge-warn', text: 'cut off: as heard' });
  if (status === 'interrupted') return el('span', { class: 'badge badge-warn', text: 'interrupted' });
  if (status === 'failed') return el('span', { class: 'badge badge-bad', text: 'failed' });
  if (status === 'streaming') {
    return el('span', { class: connected ? 'badge badge-live' : 'badge', text: connected ? 'speaking…' : 'not connected' });
  }
  return null;
}

/**
 * @param {HTMLElement} node
 * @param {TurnItem} item
 */
function setTurnAttributes(node, { turnKind, status, connected, heard }) {
  const streaming = status === 'streaming';
  if (heard) node.dataset.heard = 'true';
  node.className = `entry turn turn-${turnKind}${streaming && connected ? ' is-streaming' : ''}`;
  node.dataset.status = status;
  node.setAttribute('aria-busy', streaming ? 'true' : 'false');
}

/** @param {TurnItem} item */
function turnNode(item) {
  const node = el('article', { 'data-testid': 'turn', 'data-turn-id': item.turnId, 'data-kind': item.turnKind }, [
    el('header', { class: 'entry-head' }, [
      el('span', { class: 'who', text: 'Interviewer' }),
      el('span', { class: 'kind', text: KIND_LABEL[item.turnKind] ?? item.turnKind }),
      turnBadge(item),
    ]),
    el('p', { class: 'entry-text', 'data-testid': 'turn-text', text: turnText(item) }),
  ]);
  setTurnAttributes(node, item);
  return node;
}

/** @param {AnswerScore|null} score this answer's own scores, once scored */
function answerBadge(score) {
  if (score && typeof score.overall === 'number') {
    return el('span', { class: 'badge badge-score', text: `${formatScore(score.overall)} / 10` });
  }
  return el('span', { class: 'badge', text: score ? 'not scored' : 'scoring…' });
}

/**
 * @param {AnswerContent} answer
 * @param {HTMLElement} badge
 * @param {Record<string, string|number>} attrs
 */
function answerNode(answer, badge, attrs) {
  // The code box is focusable: a long line scrolls it sideways, which a keyboard can then do
  // (axe: scrollable-region-focusable).
  const body =
    answer.format === 'code'
      ? el('pre', { class: 'entry-code', tabindex: 0 }, [el('code', { 'data-language': answer.language, text: answer.source })])
      : el('p', { class: 'entry-text', text: answer.text });
  return el('article', { class: 'entry answer', ...attrs, 'data-format': answer.format }, [
    el('header', { class: 'entry-head' }, [
      el('span', { class: 'who', text: 'You' }),
      el('span', {
        class: 'kind',
        text: answer.format === 'code' ? `Code · ${answer.language}` : attrs['data-source'] === 'voice' ? 'Spoken answer' : 'Answer',
      }),
      badge,
    ]),
    body,
  ]);
}

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`#${id} is missing from the page`);
  return node;
}

/**
 * The user's minutes as last read from the server, and when (`performance.now()`).
 * @typedef {{left_s: number, at: number}} MinutesShown
 */

/**
 * What the interview panel shows besides the model.
 * @typedef {object} Shown
 * @property {Model} model
 * @property {PlanSummary|null} plan the interview's plan, once known
 * @property {boolean} connected the socket is open
 * @property {boolean} stopped the page does not reconnect by itself
 */

/**
 * The interview panel: transcript, scores, clock, controls, the hint under the answer box, the
 * "Closing…" line and the connection line. `render` draws it all from the model; the few
 * things it remembers (what the bars and the hint last showed, which question the answer
 * format was chosen for, when the last clock came) only save work or keep the candidate's
 * own choices.
 */
export class InterviewView {
  constructor() {
    this.connection = byId('connection-status', HTMLElement);
    this.sub = byId('interview-sub', HTMLElement);
    this.phase = byId('session-phase', HTMLElement);
    this.transcript = new TranscriptView(byId('transcript', HTMLElement));
    this.clockElapsed = byId('clock-elapsed', HTMLElement);
    this.clockRemaining = byId('clock-remaining', HTMLElement);
    this.minutesPart = byId('minutes-part', HTMLElement);
    this.minutesLeft = byId('minutes-left', HTMLElement);
    this.formatText = byId('format-text', HTMLInputElement);
    this.formatCode = byId('format-code', HTMLInputElement);
    this.textField = byId('text-field', HTMLElement);
    this.codeField = byId('code-field', HTMLElement);
    this.answer = byId('answer-input', HTMLTextAreaElement);
    this.code = byId('code-input', HTMLTextAreaElement);
    this.language = byId('code-language', HTMLSelectElement);
    this.hint = byId('answer-hint', HTMLElement);
    this.submit = byId('submit-answer', HTMLButtonElement);
    this.interrupt = byId('interrupt', HTMLButtonElement);
    this.end = byId('end-session', HTMLButtonElement);
    this.reconnect = byId('reconnect', HTMLButtonElement);
    this.newInterview = byId('new-interview', HTMLButtonElement);
    this.overall = byId('score-overall', HTMLElement);
    this.bars = byId('score-bars', HTMLElement);
    /** What the score bars show (they are redrawn only when it changes). */
    this.barsShown = '';
    /** The hint the state of the interview calls for; an error replaces it until it changes. */
    this.hintBase = '';
    /** The question the answer format was last chosen for, so a new question picks its own. */
    this.formatChosenFor = '';
    /** @type {{clock: import('./client/model.js').Clock, at: number, stoppedAt: number|null}|null} the last clock and when it came */
    this.tick = null;
    this.formatText.addEventListener('change', () => this.showFormat());
    this.formatCode.addEventListener('change', () => this.showFormat());
  }

  /**
   * Back to no interview.
   * @param {PlanSummary|null} plan the plan picked in the form, for its bars and duration
   */
  reset(plan) {
    this.transcript.clear();
    this.answer.value = '';
    this.code.value = '';
    this.hint.textContent = '';
    this.hintBase = '';
    this.formatChosenFor = '';
    this.tick = null;
    this.overall.textContent = '–';
    this.overall.classList.add('is-empty');
    this.sub.textContent = '';
    this.phase.hidden = true;
    this.phase.textContent = '';
    this.barsShown = '';
    this.showConnection('idle', 'Not connected', false, false);
    this.render(null, plan);
  }

  /**
   * @param {string} title
   * @param {string} sessionId
   */
  title(title, sessionId) {
    this.sub.textContent = `${title} · ${sessionId}`;
  }

  /**
   * @param {ConnectionState} state
   * @param {string} detail
   * @param {boolean} canReconnect the candidate may ask for a reconnect
   * @param {boolean} over the interview is over here (ended, or the page stopped)
   */
  showConnection(state, detail, canReconnect, over) {
    this.connection.dataset.state = state;
    this.connection.textContent = detail;
    this.reconnect.hidden = !canReconnect;
    this.newInterview.hidden = !over;
  }

  /**
   * Draws the interview (or, with `shown` null, the empty panel for `plan`).
   * @param {Shown|null} shown
   * @param {PlanSummary|null} plan
   */
  render(shown, plan) {
    const model = shown ? shown.model : null;
    if (shown && model) this.transcript.render(model, shown.connected);
    this.overall.textContent = formatScore(model?.scores.overall);
    this.overall.classList.toggle('is-empty', typeof model?.scores.overall !== 'number');
    const dimensions = plan ? plan.dimensions : [];
    const scores = model ? model.scores.dimensions : [];
    const bars = JSON.stringify([dimensions, scores]);
    if (bars !== this.barsShown) {
      this.barsShown = bars;
      renderBars(this.bars, dimensions, scores);
    }
    const live = !!model && model.status !== 'ended';
    let closing = live && model.ending ? endingText(model.ending) : '';
    if (live && !closing && model.minutesLow !== null) {
      const left = formatDuration(model.minutesLow);
      closing = `Your interview minutes are running low (${left} left at the warning): the interviewer closes when they run out.`;
    }
    if (this.phase.textContent !== closing) this.phase.textContent = closing;
    this.phase.hidden = !closing;
    if (model) this.chooseFormat(model);
    this.renderControls(shown);
    this.renderClock(model, plan);
  }

  /**
   * When a new question expects code, show the editor with its language (and text otherwise).
   * @param {Model} model
   */
  chooseFormat(model) {
    const asked = askedQuestion(model);
    if (!asked) return;
    const key = `${asked.turnId}:${asked.question_id}`;
    if (key === this.formatChosenFor) return;
    this.formatChosenFor = key;
    const expects = asked.expects;
    this.formatCode.checked = expects.format === 'code';
    this.formatText.checked = expects.format !== 'code';
    if (expects.format === 'code') {
      const language = expects.language;
      if (![...this.language.options].some((o) => o.value === language)) {
        this.language.append(el('option', { value: language, text: language }));
      }
      this.language.value = language;
    }
    this.showFormat();
  }

  showFormat() {
    const code = this.formatCode.checked;
    this.codeField.hidden = !code;
    this.textField.hidden = code;
  }

  /** @param {Shown|null} shown */
  renderControls(shown) {
    const model = shown ? shown.model : null;
    const connected = !!shown && shown.connected;
    this.submit.disabled = !(connected && model && canAnswer(model));
    this.interrupt.disabled = !(connected && model && model.openTurn);
    this.end.disabled = !(connected && model && model.status !== 'ended' && !model.ending);
    // Nothing more can be answered once the end is decided: the boxes say so by refusing input.
    const over = !!model && (model.status === 'ended' || !!model.ending);
    this.answer.disabled = over;
    this.code.disabled = over;
    let hint = '';
    const open = model?.openTurn;
    if (!shown || !model) hint = '';
    else if (model.status === 'ended') hint = endedText(model.endedReason);
    else if (!connected && shown.stopped) hint = 'Not connected. Press Reconnect to go on with the interview here.';
    else if (!connected) hint = 'Waiting for the connection…';
    else if (model.pending.length) hint = 'Sending your answer…';
    else if (model.ending) hint = 'The interview is closing: no more answers.';
    else if (model.awaitingAnswer) hint = 'The interviewer is waiting for your answer.';
    else if (open && (open.kind === 'question' || open.kind === 'follow_up')) hint = 'You can answer now: sending interrupts the question.';
    else if (open) hint = 'The interviewer is speaking.';
    else if (model.status === 'created') hint = 'Starting…';
    // Keep error messages visible until something changes what the candidate can do.
    if (hint && this.hintBase !== hint) {
      this.hintBase = hint;
      this.hint.textContent = hint;
    }
  }

  /**
   * A message for the candidate under the answer box, until the interview's state changes.
   * @param {string} text
   */
  say(text) {
    this.hint.textContent = text;
  }

  /**
   * Gives a refused answer back, so nothing typed is lost.
   * @param {RefusedAnswer} refused
   */
  giveBack(refused) {
    const answer = refused.answer;
    if (answer.format === 'code') {
      if (!this.code.value.trim()) this.code.value = answer.source;
    } else if (!this.answer.value.trim()) {
      this.answer.value = answer.text;
    }
    this.say(`Your answer was not accepted (${refused.code}); it is back in the box.`);
  }

  /**
   * The clock, counted locally from the last tick while the interview runs (protocol.md:
   * `clock`), and frozen where it got to once it stops (ending or ended: no more ticks); and,
   * when minutes are metered, the user's minutes, counted down the same way from their last
   * reading.
   * @param {Model|null} model
   * @param {PlanSummary|null} plan
   * @param {MinutesShown|null} [minutes]
   */
  renderClock(model, plan, minutes = null) {
    this.minutesPart.hidden = !minutes;
    if (minutes) {
      const running = !!model && model.status === 'live' && !model.ending;
      const spent = running ? (performance.now() - minutes.at) / 1000 : 0;
      this.minutesLeft.textContent = formatDuration(Math.max(0, minutes.left_s - spent));
    }
    if (!model || !model.clock) {
      this.tick = null;
      this.clockElapsed.textContent = formatDuration(0);
      this.clockRemaining.textContent = plan ? formatDuration(plan.duration_s) : '–';
      return;
    }
    const now = performance.now();
    if (!this.tick || this.tick.clock !== model.clock) this.tick = { clock: model.clock, at: now, stoppedAt: null };
    const running = model.status === 'live' && !model.ending;
    if (running) this.tick.stoppedAt = null;
    else this.tick.stoppedAt ??= now;
    const since = ((this.tick.stoppedAt ?? now) - this.tick.at) / 1000;
    this.clockElapsed.textContent = formatDuration(model.clock.elapsed_s + since);
    this.clockRemaining.textContent = formatDuration(Math.max(0, model.clock.remaining_s - since));
  }
}

/**
 * Score bars, one per rubric dimension, in the plan's order. Rows already shown are updated in
 * place, so a bar grows from its last value.
 * @param {HTMLElement} list
 * @param {string[]} dimensions the plan's dimensions
 * @param {import('./client/model.js').DimensionScore[]} scores
 * @param {string} [testid] each row's `data-testid`
 */
export function renderBars(list, dimensions, scores, testid = 'score-bar') {
  const byName = new Map(scores.map((s) => [s.name, s.score]));
  const names = [...dimensions, ...scores.map((s) => s.name).filter((n) => !dimensions.includes(n))];
  const rows = /** @type {HTMLElement[]} */ ([...list.children]);
  if (rows.length !== names.length || rows.some((row, i) => row.dataset.dimension !== names[i])) {
    list.replaceChildren(
      ...names.map((name) => {
        const label = humanize(name);
        return el('li', { class: 'bar-row', 'data-testid': testid, 'data-dimension': name }, [
          el('span', { class: 'bar-label', text: label }),
          el(
            'span',
            { class: 'bar', role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 10 },
            [el('span', { class: 'bar-fill' })],
          ),
          el('span', { class: 'bar-value' }),
        ]);
      }),
    );
  }
  for (const row of /** @type {HTMLElement[]} */ ([...list.children])) {
    const score = byName.get(/** @type {string} */ (row.dataset.dimension));
    const scored = typeof score === 'number';
    const bar = /** @type {HTMLElement} */ (row.querySelector('.bar'));
    const fill = /** @type {HTMLElement} */ (row.querySelector('.bar-fill'));
    bar.classList.toggle('is-empty', !scored);
    // A meter must always have a value (axe: aria-required-attr): 0 while empty, which the
    // text below says in words.
    bar.setAttribute('aria-valuenow', scored ? String(score) : '0');
    bar.setAttribute('aria-valuetext', scored ? `${formatScore(score)} out of 10` : 'not scored yet');
    // CSSOM, not a style attribute: allowed under `style-src 'self'`.
    fill.style.width = `${scored ? Math.max(0, Math.min(10, score)) * 10 : 0}%`;
    /** @type {HTMLElement} */ (row.querySelector('.bar-value')).textContent = formatScore(score);
  }
}

/**
 * The report (protocol.md, `GET /v1/sessions/{id}/report`).
 * @param {HTMLElement} root
 * @param {import('./client/protocol').Report} report
 * @param {string} title the plan's title
 */
export function renderReport(root, report, title) {
  const bars = el('ul', { class: 'bars', 'aria-label': 'Final score per rubric dimension' });
  renderBars(
    bars,
    report.dimensions.map((d) => d.name),
    report.dimensions,
    'report-bar',
  );
  const list = (/** @type {string[]} */ items, /** @type {string} */ empty, /** @type {string} */ testid) =>
    items.length
      ? el(
          'ul',
          { class: 'plain-list', 'data-testid': testid },
          items.map((t) => el('li', { text: t })),
        )
      : el('p', { class: 'hint', 'data-testid': testid, text: empty });
  const answers = report.answers.map((a) =>
    el('details', { class: 'evidence', 'data-testid': 'report-answer', 'data-answer-id': a.answer_id }, [
      el('summary', {}, [
        el('span', { class: 'evidence-score', text: formatScore(a.overall) }),
        el('span', { class: 'evidence-question', text: a.question }),
      ]),
      a.key_points_hit.length
        ? el('div', { class: 'points' }, [
            el('h4', { text: 'Covered' }),
            el(
              'ul',
              { class: 'plain-list hit' },
              a.key_points_hit.map((k) => el('li', { text: k })),
            ),
          ])
        : null,
      a.key_points_missed.length
        ? el('div', { class: 'points' }, [
            el('h4', { text: 'Missed' }),
            el(
              'ul',
              { class: 'plain-list missed' },
              a.key_points_missed.map((k) => el('li', { text: k })),
            ),
          ])
        : null,
      a.notes.length
        ? el('div', { class: 'points' }, [
            el('h4', { text: 'Notes' }),
            el(
              'ul',
              { class: 'plain-list' },
              a.notes.map((k) => el('li', { text: k })),
            ),
          ])
        : null,
      el('p', { class: 'hint', text: `Scored by ${a.scored_by}` }),
    ]),
  );
  // Each question's timing against the plan's budget for it.
  const seconds = (/** @type {number|null|undefined} */ ms) => (ms == null ? '–' : formatDuration(ms / 1000));
  const timing = (report.questions ?? []).map((q) =>
    el('li', { 'data-question-id': q.question_id, 'data-over-budget': q.over_budget ? 'yes' : 'no' }, [
      el('strong', { text: q.question_id }),
      ` · started after ${seconds(q.to_start_ms)}, answered after ${seconds(q.to_finish_ms)}` +
        ` · ${formatDuration(q.spent_ms / 1000)} of ${formatDuration(q.budget_s)}${q.over_budget ? ' (over budget)' : ''}` +
        (q.audio_ms ? ` · ${formatDuration(q.audio_ms / 1000)} spoken` : ''),
    ]),
  );
  // An adaptive session: each weakness it targeted, and whether it improved.
  const revisited = (report.revisited ?? []).map((r) =>
    el('li', { 'data-key-point': `${r.question_id}/${r.key_point}`, 'data-improved': r.improved ? 'yes' : 'no' }, [
      el('strong', { text: r.description }),
      ` · ${r.question_id}: ${r.improved ? 'covered this time' : r.answered ? 'missed again' : 'not reached'}`,
    ]),
  );
  root.replaceChildren(
    el('p', { class: 'report-meta' }, [
      el('strong', { text: title }),
      ` · ${reasonText(report.ended_reason)} · ${new Date(report.generated_at).toLocaleString()}`,
    ]),
    el('p', { class: 'overall' }, [
      el('span', { class: 'overall-label', text: 'Overall' }),
      el('span', { class: 'overall-value', 'data-testid': 'report-overall', text: formatScore(report.overall) }),
      el('span', { class: 'overall-max', text: '/ 10' }),
    ]),
    bars,
    el('div', { class: 'report-columns' }, [
      el('div', {}, [el('h3', { text: 'Strengths' }), list(report.strengths, 'None stood out yet.', 'report-strengths')]),
      el('div', {}, [
        el('h3', { text: 'What to practise' }),
        list(report.practise, 'Nothing in particular: well done.', 'report-practise'),
      ]),
    ]),
    ...(timing.length
      ? [el('h3', { text: 'Time per question' }), el('ul', { class: 'plain-list', 'data-testid': 'report-timing' }, timing)]
      : []),
    ...(revisited.length
      ? [
          el('h3', { text: 'Weaknesses revisited' }),
          el('ul', { class: 'plain-list', 'data-testid': 'report-revisited' }, revisited),
        ]
      : []),
    el('h3', { text: 'Evidence, answer by answer' }),
    answers.length ? el('div', { class: 'evidence-list' }, answers) : el('p', { class: 'hint', text: 'No answers.' }),
  );
}

/** How the report names why an interview ended. @type {Record<EndReason, string>} */
const REASON_TEXT = {
  completed: 'completed',
  time_up: 'time ran out',
  ended_by_candidate: 'ended early',
  interviewer_failed: 'interviewer failed',
  out_of_minutes: 'out of minutes',
  abandoned: 'abandoned',
};

/** @param {EndReason|null} reason */
export function reasonText(reason) {
  return (reason && REASON_TEXT[reason]) ?? 'in progress';
}

/**
 * A line chart of the overall score across sessions, oldest first; built from SVG elements.
 * @param {HTMLElement} root
 * @param {import('./client/protocol').SessionSummary[]} sessions newest first (as the API sends them)
 */
export function renderChart(root, sessions) {
  const scored = sessions.filter((s) => typeof s.overall === 'number').reverse();
  if (scored.length === 0) {
    root.replaceChildren(el('p', { class: 'hint', text: 'Scores across your interviews appear here.' }));
    return;
  }
  // Drawn at the container's own width, so the labels keep their size on a phone.
  const width = Math.max(280, Math.min(640, Math.round(root.clientWidth || 600)));
  const points = scored.map((s) => ({
    score: /** @type {number} */ (s.overall),
    at: s.created_at,
    sessionId: s.session_id,
    title: `${new Date(s.created_at).toLocaleString()} · ${s.plan_id}: ${formatScore(s.overall)}`,
  }));
  const label = `Overall score across ${scored.length} interview${scored.length === 1 ? '' : 's'}, oldest first: ${scored
    .map((s) => formatScore(s.overall))
    .join(', ')}`;
  root.replaceChildren(lineChart(points, { width, height: 160, label, testid: 'history-chart', pointTestid: 'history-point' }));
}

/**
 * @typedef {{score: number, at: number, sessionId: string, title: string}} ChartPoint
 */

/**
 * A line chart of scores (0–10) over time, oldest first, from SVG elements.
 * @param {ChartPoint[]} points at least one
 * @param {{width: number, height: number, label: string, testid: string, pointTestid: string}} options
 * @returns {SVGElement}
 */
function lineChart(points, { width, height, label, testid, pointTestid }) {
  const pad = { left: 28, right: 12, top: 12, bottom: 22 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const x = (/** @type {number} */ i) => pad.left + (points.length === 1 ? plotW / 2 : (plotW * i) / (points.length - 1));
  const y = (/** @type {number} */ v) => pad.top + plotH - (plotH * v) / 10;
  const svg = svgEl('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: 'chart-svg',
    role: 'img',
    'data-testid': testid,
    'aria-label': label,
  });
  for (const v of [0, 5, 10]) {
    svg.append(svgEl('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'chart-grid' }));
    const axis = svgEl('text', { x: pad.left - 6, y: y(v) + 4, class: 'chart-axis', 'text-anchor': 'end' });
    axis.textContent = String(v);
    svg.append(axis);
  }
  svg.append(svgEl('polyline', { points: points.map((p, i) => `${x(i)},${y(p.score)}`).join(' '), class: 'chart-line' }));
  points.forEach((p, i) => {
    const dot = svgEl('circle', {
      cx: x(i),
      cy: y(p.score),
      r: 4,
      class: 'chart-dot',
      'data-testid': pointTestid,
      'data-session-id': p.sessionId,
    });
    const title = svgEl('title', {});
    title.textContent = p.title;
    dot.append(title);
    svg.append(dot);
  });
  const first = svgEl('text', { x: pad.left, y: height - 6, class: 'chart-axis' });
  first.textContent = new Date(points[0].at).toLocaleDateString();
  const last = svgEl('text', { x: width - pad.right, y: height - 6, class: 'chart-axis', 'text-anchor': 'end' });
  last.textContent = points.length > 1 ? new Date(points[points.length - 1].at).toLocaleDateString() : '';
  svg.append(first, last);
  return svg;
}

/**
 * @typedef {import('./client/protocol').Progress} Progress
 * @typedef {import('./client/protocol').DimensionProgress} DimensionProgress
 */

/** @param {import('./client/protocol').Trend|null|undefined} trend */
function trendText(trend) {
  if (!trend) return 'no trend yet';
  const sign = trend.change > 0 ? '+' : '';
  return `${formatScore(trend.first)} → ${formatScore(trend.last)} (${sign}${trend.change.toFixed(1)})`;
}

/**
 * The progress page: what the numbers say, a chart per rubric dimension across sessions, the
 * recurring weaknesses and the strengths that held.
 * @param {HTMLElement} root
 * @param {Progress} progress
 * @param {PlanSummary[]} plans
 */
export function renderProgress(root, progress, plans) {
  if (progress.sessions === 0) {
    root.replaceChildren(el('p', { class: 'hint', text: 'Finish an interview to see your progress here.' }));
    return;
  }
  const width = Math.max(240, Math.min(420, Math.round((root.clientWidth || 600) / 2) - 16));
  /** @param {DimensionProgress} d */
  const chart = (d) => {
    const points = d.points.map((p) => ({
      score: p.score,
      at: p.ended_at,
      sessionId: p.session_id,
      title: `${new Date(p.ended_at).toLocaleString()} · ${p.plan_id}: ${formatScore(p.score)}`,
    }));
    const name = d.name === 'overall' ? 'Overall' : humanize(d.name);
    const label = `${name} across ${points.length} interview${points.length === 1 ? '' : 's'}, oldest first: ${points
      .map((p) => formatScore(p.score))
      .join(', ')}`;
    return el('figure', { class: 'progress-figure', 'data-dimension': d.name }, [
      el('figcaption', {}, [el('strong', { text: name }), ` · ${trendText(d.trend)}`]),
      points.length
        ? lineChart(points, { width, height: 140, label, testid: 'progress-chart', pointTestid: 'progress-point' })
        : el('p', { class: 'hint', text: 'Not scored yet.' }),
    ]);
  };
  const planTitle = (/** @type {string} */ id) => plans.find((p) => p.id === id)?.title ?? id;
  const keyPoint = (/** @type {import('./client/protocol').KeyPointProgress} */ k, /** @type {string} */ how) =>
    el('li', { 'data-key-point': `${k.question_id}/${k.key_point}` }, [
      el('strong', { text: k.description }),
      ` · ${k.question_id} (${planTitle(k.plan_id)}) · ${how}`,
    ]);
  const weaknesses = progress.weaknesses.map((k) => {
    const since = k.hit_in.length ? `, covered in ${k.hit_in.length}` : '';
    return keyPoint(k, `missed in ${k.missed_in.length} interviews${since}`);
  });
  const strengths = progress.strengths.map((k) => keyPoint(k, `covered in ${k.hit_in.length} interviews`));
  root.replaceChildren(
    el('ul', { class: 'progress-notes', 'data-testid': 'progress-notes' }, progress.notes.map((n) => el('li', { text: n }))),
    el('div', { class: 'progress-charts' }, [chart(progress.overall), ...progress.dimensions.map(chart)]),
    el('div', { class: 'report-columns' }, [
      el('div', {}, [
        el('h3', { text: 'Recurring weaknesses' }),
        weaknesses.length
          ? el('ul', { class: 'plain-list', 'data-testid': 'progress-weaknesses' }, weaknesses)
          : el('p', { class: 'hint', text: 'No key point missed twice yet.' }),
      ]),
      el('div', {}, [
        el('h3', { text: 'Strengths that held' }),
        strengths.length
          ? el('ul', { class: 'plain-list', 'data-testid': 'progress-strengths' }, strengths)
          : el('p', { class: 'hint', text: 'None yet: a strength is a key point covered twice and never missed.' }),
      ]),
    ]),
  );
}

/**
 * @param {string} tag
 * @param {Record<string, string|number>} attrs
 * @returns {SVGElement}
 */
function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/**
 * The voice panel of a spoken interview: what the microphone and the interviewer are doing,
 * the level meter, hands-free or push-to-talk, and the way back to text when the server has no
 * voice. Drawn from the session's VoiceSession (voice.js) and the model.
 */
export class VoiceView {
  constructor() {
    this.panel = byId('voice-panel', HTMLElement);
    this.status = byId('voice-status', HTMLElement);
    this.heard = byId('voice-heard', HTMLElement);
    this.level = byId('mic-level', HTMLMeterElement);
    this.handsFree = byId('talk-hands-free', HTMLInputElement);
    this.pushToTalk = byId('talk-ptt', HTMLInputElement);
    this.openMic = byId('open-mic', HTMLButtonElement);
    this.talk = byId('talk', HTMLButtonElement);
    this.talkHint = byId('talk-hint', HTMLElement);
    this.fallback = byId('voice-fallback', HTMLButtonElement);
  }

  /** No voice: the panel is hidden. */
  hide() {
    this.panel.hidden = true;
    this.fallback.hidden = true;
  }

  /** The server cannot do voice: say so and offer to go on in text. */
  unavailable() {
    this.panel.hidden = false;
    this.setStatus('Voice is not available on this server. Continue in text to start the interview.');
    this.openMic.hidden = true;
    this.talk.hidden = true;
    this.talkHint.hidden = true;
    this.fallback.hidden = false;
  }

  /**
   * @param {import('./voice.js').VoiceSession} voice
   * @param {Model} model
   * @param {boolean} connected
   */
  render(voice, model, connected) {
    this.panel.hidden = false;
    this.fallback.hidden = true;
    const ended = model.status === 'ended' || voice.closedForGood;
    const input = voice.mode.input;
    const ptt = voice.style === 'push-to-talk';
    this.panel.dataset.mic = voice.mic;
    this.panel.dataset.playing = voice.speaking ? 'true' : 'false';
    this.panel.dataset.style = voice.style;
    this.level.value = voice.mic === 'open' ? Math.min(1, voice.level * 4) : 0;
    this.handsFree.checked = !ptt;
    this.pushToTalk.checked = ptt;
    this.handsFree.disabled = this.pushToTalk.disabled = !input || ended;
    this.openMic.hidden = !input || voice.mic === 'open' || ended;
    this.openMic.disabled = voice.mic === 'opening';
    this.talk.hidden = !input || !ptt || ended;
    this.talkHint.hidden = this.talk.hidden;
    this.talk.disabled = !connected || voice.mic === 'denied';
    this.talk.setAttribute('aria-pressed', voice.talking ? 'true' : 'false');
    this.talk.textContent = voice.talking ? 'Listening… release to send' : 'Hold to talk';
    const hearing = model.hearing ? model.hearing.text : '';
    this.heard.hidden = !hearing;
    this.heard.textContent = hearing ? `Heard so far: ${hearing}` : '';

    let text;
    if (ended) text = 'Voice is off: the interview is over.';
    else if (!connected) text = 'Not connected: what you say is kept and sent when the connection is back.';
    else if (voice.talking) text = 'Listening… release to send your answer.';
    else if (voice.hearing) text = 'Hearing you…';
    else if (voice.transcribing) text = 'Transcribing your answer…';
    else if (voice.speaking) text = input ? 'The interviewer is speaking. Speak to cut in.' : 'The interviewer is speaking.';
    else if (!input) text = 'The interviewer speaks; type your answers.';
    else if (voice.mic === 'denied') text = 'The microphone is off: type your answers.';
    else if (voice.mic === 'opening') text = 'Turning the microphone on…';
    else if (voice.mic === 'closed') text = 'The microphone turns on after the first question.';
    else if (ptt) text = 'Hold Space or the button while you answer.';
    else text = 'Listening: just answer. A pause ends your answer.';
    this.setStatus(text);
  }

  /** @param {string} text */
  setStatus(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }
}

// Rendering: the transcript (keyed by turn and answer, so re-rendering never duplicates an
// entry), the score bars, the report, the history table and its chart. DOM APIs only; text
// always goes in through textContent, never as HTML.

const SVG = 'http://www.w3.org/2000/svg';

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

const KIND_LABEL = /** @type {Record<string, string>} */ ({
  intro: 'Introduction',
  question: 'Question',
  follow_up: 'Follow-up',
  feedback: 'Feedback',
  closing: 'Closing',
});

/**
 * The transcript: one element per finished turn, accepted answer, pending answer and the open
 * turn, reconciled by key so an entry is created once and then only updated.
 */
export class TranscriptView {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    /** @type {Map<string, {node: HTMLElement, sig: string}>} */
    this.nodes = new Map();
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
    for (const { node } of this.nodes.values()) node.remove();
    this.nodes.clear();
    this.stick = true;
    if (this.empty) this.empty.hidden = false;
  }

  /**
   * @param {import('./session.js').Model} model
   * @param {boolean} connected whether the open turn is still arriving
   */
  render(model, connected) {
    /** @type {{key: string, sig: string, build: () => HTMLElement}[]} */
    const wanted = [];
    for (const e of model.transcript) {
      if (e.entry === 'turn') {
        wanted.push({
          key: `turn-${e.turn_id}`,
          sig: `${e.status}\u0000${e.text}`,
          build: () => turnNode(e.turn_id, e.kind, e.text, e.status),
        });
      } else {
        const score = e.score ? formatScore(e.score.overall) : '';
        wanted.push({
          key: `answer-${e.answer_id}`,
          sig: `${score}`,
          build: () => answerNode(e.answer, { answerId: e.answer_id, score: e.score }),
        });
      }
    }
    const open = model.openTurn;
    if (open) {
      wanted.push({
        key: `turn-${open.turn_id}`,
        sig: `streaming\u0000${connected}\u0000${open.text}`,
        build: () => turnNode(open.turn_id, open.kind, open.text, 'streaming', connected),
      });
    }
    for (const p of model.pending) {
      wanted.push({ key: `pending-${p.id}`, sig: 'pending', build: () => answerNode(p.answer, { pendingId: p.id }) });
    }

    const keep = new Set(wanted.map((w) => w.key));
    for (const [key, { node }] of this.nodes) {
      if (!keep.has(key)) {
        node.remove();
        this.nodes.delete(key);
      }
    }
    /** @type {Node|null} */
    let cursor = this.empty ? this.empty.nextSibling : this.root.firstChild;
    for (const w of wanted) {
      let entry = this.nodes.get(w.key);
      if (!entry) {
        entry = { node: w.build(), sig: w.sig };
        this.nodes.set(w.key, entry);
      } else if (entry.sig !== w.sig) {
        updateNode(entry.node, w);
        entry.sig = w.sig;
      }
      if (entry.node !== cursor) this.root.insertBefore(entry.node, cursor);
      cursor = entry.node.nextSibling;
    }
    if (this.empty) this.empty.hidden = wanted.length > 0;
    if (this.stick) this.root.scrollTop = this.root.scrollHeight;
  }
}

/**
 * Brings an existing node up to date with a newer version of its entry.
 * @param {HTMLElement} node
 * @param {{build: () => HTMLElement}} wanted
 */
function updateNode(node, wanted) {
  const fresh = wanted.build();
  // Keep the node itself (its place, focus and the reader's position); swap its content.
  for (const name of node.getAttributeNames()) if (!fresh.hasAttribute(name)) node.removeAttribute(name);
  for (const name of fresh.getAttributeNames()) node.setAttribute(name, /** @type {string} */ (fresh.getAttribute(name)));
  node.replaceChildren(...fresh.childNodes);
}

/**
 * @param {number} turnId
 * @param {string} kind
 * @param {string} text
 * @param {string} status `completed`, `interrupted`, `failed`, or `streaming` for the open turn
 * @param {boolean} [connected] for the open turn: whether its words are still arriving
 */
function turnNode(turnId, kind, text, status, connected = true) {
  const streaming = status === 'streaming';
  const badge =
    status === 'interrupted'
      ? el('span', { class: 'badge badge-warn', text: 'interrupted' })
      : status === 'failed'
        ? el('span', { class: 'badge badge-bad', text: 'failed' })
        : streaming
          ? el('span', { class: connected ? 'badge badge-live' : 'badge', text: connected ? 'speaking…' : 'not connected' })
          : null;
  return el(
    'article',
    {
      class: `entry turn turn-${kind}${streaming && connected ? ' is-streaming' : ''}`,
      'data-testid': 'turn',
      'data-turn-id': turnId,
      'data-kind': kind,
      'data-status': status,
      'aria-busy': streaming ? 'true' : 'false',
    },
    [
      el('header', { class: 'entry-head' }, [
        el('span', { class: 'who', text: 'Interviewer' }),
        el('span', { class: 'kind', text: KIND_LABEL[kind] ?? kind }),
        badge,
      ]),
      el('p', { class: 'entry-text', 'data-testid': 'turn-text', text: text || (streaming ? '' : '(nothing said)') }),
    ],
  );
}

/**
 * @param {import('./session.js').AnswerContent} answer
 * @param {{answerId?: number, pendingId?: string, score?: import('./session.js').Scores|null}} meta
 */
function answerNode(answer, { answerId, pendingId, score }) {
  const body =
    answer.format === 'code'
      ? el('pre', { class: 'entry-code' }, [el('code', { 'data-language': answer.language, text: answer.source })])
      : el('p', { class: 'entry-text', text: answer.text });
  const status = pendingId
    ? el('span', { class: 'badge', text: 'sending…' })
    : score && typeof score.overall === 'number'
      ? el('span', { class: 'badge badge-score', text: `${formatScore(score.overall)} / 10` })
      : score
        ? el('span', { class: 'badge', text: 'not scored' })
        : el('span', { class: 'badge', text: 'scoring…' });
  return el(
    'article',
    {
      class: `entry answer${pendingId ? ' is-pending' : ''}`,
      'data-testid': pendingId ? 'pending-answer' : 'answer',
      'data-answer-id': answerId,
      'data-pending-id': pendingId,
      'data-format': answer.format,
    },
    [
      el('header', { class: 'entry-head' }, [
        el('span', { class: 'who', text: 'You' }),
        el('span', { class: 'kind', text: answer.format === 'code' ? `Code · ${answer.language}` : 'Answer' }),
        status,
      ]),
      body,
    ],
  );
}

/**
 * Score bars, one per rubric dimension, in the plan's order. Rows already shown are updated in
 * place, so a bar grows from its last value.
 * @param {HTMLElement} list
 * @param {string[]} dimensions the plan's dimensions
 * @param {import('./session.js').DimensionScore[]} scores
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
    if (scored) bar.setAttribute('aria-valuenow', String(score));
    else bar.removeAttribute('aria-valuenow');
    bar.setAttribute('aria-valuetext', scored ? `${formatScore(score)} out of 10` : 'not scored yet');
    // CSSOM, not a style attribute: allowed under `style-src 'self'`.
    fill.style.width = `${scored ? Math.max(0, Math.min(10, score)) * 10 : 0}%`;
    /** @type {HTMLElement} */ (row.querySelector('.bar-value')).textContent = formatScore(score);
  }
}

/**
 * The report (protocol.md, `GET /v1/sessions/{id}/report`).
 * @param {HTMLElement} root
 * @param {any} report
 * @param {string} title the plan's title
 */
export function renderReport(root, report, title) {
  const bars = el('ul', { class: 'bars', 'aria-label': 'Final score per rubric dimension' });
  renderBars(
    bars,
    report.dimensions.map((/** @type {any} */ d) => d.name),
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
  const answers = report.answers.map((/** @type {any} */ a) =>
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
              a.key_points_hit.map((/** @type {string} */ k) => el('li', { text: k })),
            ),
          ])
        : null,
      a.key_points_missed.length
        ? el('div', { class: 'points' }, [
            el('h4', { text: 'Missed' }),
            el(
              'ul',
              { class: 'plain-list missed' },
              a.key_points_missed.map((/** @type {string} */ k) => el('li', { text: k })),
            ),
          ])
        : null,
      a.notes.length
        ? el('div', { class: 'points' }, [
            el('h4', { text: 'Notes' }),
            el(
              'ul',
              { class: 'plain-list' },
              a.notes.map((/** @type {string} */ k) => el('li', { text: k })),
            ),
          ])
        : null,
      el('p', { class: 'hint', text: `Scored by ${a.scored_by}` }),
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
    el('h3', { text: 'Evidence, answer by answer' }),
    answers.length ? el('div', { class: 'evidence-list' }, answers) : el('p', { class: 'hint', text: 'No answers.' }),
  );
}

/** @param {string|null} reason */
export function reasonText(reason) {
  return (
    {
      completed: 'completed',
      time_up: 'time ran out',
      ended_by_candidate: 'ended early',
      interviewer_failed: 'interviewer failed',
    }[reason ?? ''] ?? 'in progress'
  );
}

/**
 * A line chart of the overall score across sessions, oldest first; built from SVG elements.
 * @param {HTMLElement} root
 * @param {import('./api.js').SessionSummary[]} sessions newest first (as the API sends them)
 */
export function renderChart(root, sessions) {
  const scored = sessions.filter((s) => typeof s.overall === 'number').reverse();
  if (scored.length === 0) {
    root.replaceChildren(el('p', { class: 'hint', text: 'Scores across your interviews appear here.' }));
    return;
  }
  // Drawn at the container's own width, so the labels keep their size on a phone.
  const width = Math.max(280, Math.min(640, Math.round(root.clientWidth || 600)));
  const height = 160;
  const pad = { left: 28, right: 12, top: 12, bottom: 22 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const x = (/** @type {number} */ i) => pad.left + (scored.length === 1 ? plotW / 2 : (plotW * i) / (scored.length - 1));
  const y = (/** @type {number} */ v) => pad.top + plotH - (plotH * v) / 10;
  const svg = svgEl('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: 'chart-svg',
    role: 'img',
    'data-testid': 'history-chart',
    'aria-label': `Overall score across ${scored.length} interview${scored.length === 1 ? '' : 's'}, oldest first: ${scored
      .map((s) => formatScore(s.overall))
      .join(', ')}`,
  });
  for (const v of [0, 5, 10]) {
    svg.append(svgEl('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'chart-grid' }));
    const label = svgEl('text', { x: pad.left - 6, y: y(v) + 4, class: 'chart-axis', 'text-anchor': 'end' });
    label.textContent = String(v);
    svg.append(label);
  }
  const points = scored.map((s, i) => `${x(i)},${y(/** @type {number} */ (s.overall))}`).join(' ');
  svg.append(svgEl('polyline', { points, class: 'chart-line' }));
  scored.forEach((s, i) => {
    const dot = svgEl('circle', {
      cx: x(i),
      cy: y(/** @type {number} */ (s.overall)),
      r: 4,
      class: 'chart-dot',
      'data-testid': 'history-point',
      'data-session-id': s.session_id,
    });
    const title = svgEl('title', {});
    title.textContent = `${new Date(s.created_at).toLocaleString()} · ${s.plan_id}: ${formatScore(s.overall)}`;
    dot.append(title);
    svg.append(dot);
  });
  const first = svgEl('text', { x: pad.left, y: height - 6, class: 'chart-axis' });
  first.textContent = new Date(scored[0].created_at).toLocaleDateString();
  const last = svgEl('text', { x: width - pad.right, y: height - 6, class: 'chart-axis', 'text-anchor': 'end' });
  last.textContent = scored.length > 1 ? new Date(scored[scored.length - 1].created_at).toLocaleDateString() : '';
  svg.append(first, last);
  root.replaceChildren(svg);
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

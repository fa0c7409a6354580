// @ts-check
// Voice mode (docs/protocol.md, "Voice"): the microphone, the interviewer's audio, and the
// utterances between them. No DOM: app.js feeds it the server's messages and the candidate's
// push-to-talk presses, and renders what `status()` says.
//
// - The microphone: getUserMedia into an AudioWorklet (mic-worklet.js) that posts PCM16 at
//   16 kHz in 40 ms chunks; each chunk becomes an `input_audio.append` of the current
//   utterance. Hands-free, every chunk is sent and the server's VAD ends an answer
//   (`input_audio.speech_stopped`); push-to-talk, only chunks while the key or button is held,
//   and releasing it sends `input_audio.commit`. A new utterance id follows each end.
// - Nothing said is lost: an utterance's chunks are kept (60 s at most in all) until its
//   `answer.received` (or an error that refers to it); after a reconnect the ones with speech
//   are sent again, with the same id, at 1.6× real time (the server stores each once and
//   refuses audio faster than 2×).
// - The interviewer's audio (`turn.audio`, PCM16 at 24 kHz) is played through
//   AudioBufferSourceNodes scheduled back to back; what has played of each turn is known to
//   the millisecond. Barge-in: on an interrupted `turn.done`, or speech from the candidate
//   while audio plays, playback stops at once, the queue is dropped, and `turn.truncate` says
//   how much of the turn was heard.

/** @typedef {import('./client/model.js').VoiceMode} VoiceMode */
/** @typedef {'hands-free'|'push-to-talk'} TalkStyle */

const INPUT_RATE = 16000;
const OUTPUT_RATE = 24000;
/** Samples per `input_audio.append`: 40 ms at 16 kHz. */
const CHUNK_SAMPLES = 640;
const CHUNK_MS = (CHUNK_SAMPLES * 1000) / INPUT_RATE;
/** Audio kept for re-sending, over all utterances not acknowledged yet. */
const KEPT_CHUNKS = (60 * 1000) / CHUNK_MS;
/** A hands-free utterance with no speech in it is cleared and started afresh after this long. */
const SILENT_UTTERANCE_CHUNKS = (30 * 1000) / CHUNK_MS;
/** Of an utterance with no speech yet, only this much is kept: silence, and the onset of speech the server has not reported yet. */
const SILENT_KEPT_CHUNKS = 75;
/** One queued append is sent per tick: 40 ms of audio every 25 ms is 1.6× real time at most. */
const PUMP_MS = 25;

/**
 * One answer being spoken, or spoken and not acknowledged yet.
 * @typedef {object} Utterance
 * @property {string} id its `input_audio.append` id, which becomes the answer's client id
 * @property {string[]} chunks its audio so far, as sent (base64 PCM16)
 * @property {number} sentChunks how many chunks were sent in all (some may be trimmed from `chunks`)
 * @property {boolean} speech the server heard speech in it
 * @property {boolean} closed it is over: the server's VAD ended it, or it was committed
 * @property {boolean} committed push-to-talk: it ended with `input_audio.commit`
 */

/**
 * @typedef {object} VoiceStats what the page exposes to the tests (`__viva.voice()`)
 * @property {boolean} micOpen
 * @property {number} appendsSent
 * @property {number} commitsSent
 * @property {number} audioChunksReceived
 * @property {number} audioChunksPlayed
 * @property {number} audioMsPlayed
 * @property {number} truncatesSent
 * @property {{turn_id: number, audio_end_ms: number}|null} lastTruncate
 * @property {number} resent chunks sent again after a reconnect
 */

/** @param {string|Uint8Array} audio base64 (JSON) or bytes (MessagePack) @returns {Int16Array} */
function decodePcm(audio) {
  const bytes = typeof audio === 'string' ? Uint8Array.from(atob(audio), (c) => c.charCodeAt(0)) : audio;
  const samples = new Int16Array(bytes.length >> 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true);
  return samples;
}

/** @param {Int16Array} samples @returns {string} */
function encodePcm(samples) {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i], true);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * The interviewer's audio: chunks scheduled back to back on one AudioContext.
 */
class Player {
  /**
   * @param {AudioContext} ctx
   * @param {() => void} idle called when the last queued chunk has played
   */
  constructor(ctx, idle) {
    this.ctx = ctx;
    this.idle = idle;
    /** @type {{turnId: number, source: AudioBufferSourceNode, start: number, duration: number}[]} scheduled, not ended */
    this.queue = [];
    /** When the last scheduled chunk ends (context time). */
    this.endsAt = 0;
    /** @type {Map<number, number>} ms of each turn's audio that finished playing */
    this.finished = new Map();
    this.chunksPlayed = 0;
    this.msPlayed = 0;
  }

  /**
   * @param {number} turnId
   * @param {Int16Array} samples PCM16 at 24 kHz
   */
  play(turnId, samples) {
    if (samples.length === 0) return;
    const buffer = this.ctx.createBuffer(1, samples.length, OUTPUT_RATE);
    const data = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) data[i] = samples[i] / 0x8000;
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.ctx.destination);
    const start = Math.max(this.ctx.currentTime + 0.03, this.endsAt);
    const chunk = { turnId, source, start, duration: buffer.duration };
    source.onended = () => {
      const at = this.queue.indexOf(chunk);
      if (at < 0) return;
      this.queue.splice(at, 1);
      const ms = chunk.duration * 1000;
      this.finished.set(turnId, (this.finished.get(turnId) ?? 0) + ms);
      this.chunksPlayed += 1;
      this.msPlayed += ms;
      if (this.queue.length === 0) this.idle();
    };
    source.start(start);
    this.endsAt = start + buffer.duration;
    this.queue.push(chunk);
  }

  /** Whether audio is playing or queued. */
  get playing() {
    return this.queue.length > 0;
  }

  /** The turn whose audio plays now (or plays next), if any. */
  get current() {
    return this.queue.length ? this.queue[0].turnId : null;
  }

  /**
   * How much of a turn's audio has played, in ms.
   * @param {number} turnId
   */
  playedMs(turnId) {
    const now = this.ctx.currentTime;
    let ms = this.finished.get(turnId) ?? 0;
    for (const c of this.queue) {
      if (c.turnId === turnId) ms += Math.max(0, Math.min(c.duration, now - c.start)) * 1000;
    }
    return Math.round(ms);
  }

  /** Stops at once and drops everything queued. */
  stop() {
    const now = this.ctx.currentTime;
    for (const c of this.queue) {
      c.source.onended = null;
      const ms = Math.max(0, Math.min(c.duration, now - c.start)) * 1000;
      this.finished.set(c.turnId, (this.finished.get(c.turnId) ?? 0) + ms);
      this.msPlayed += ms;
      try {
        c.source.stop();
      } catch {
        // Already stopped.
      }
    }
    this.queue = [];
    this.endsAt = 0;
  }
}

/**
 * Voice for one session.
 */
export class VoiceSession {
  /**
   * @param {object} options
   * @param {VoiceMode} options.mode
   * @param {AudioContext} options.ctx made during a click, so the browser lets it play
   * @param {(message: import('./client/protocol').ClientMessage) => boolean} options.send false when not connected
   * @param {() => string} options.newId a new client message id
   * @param {() => void} options.changed something `status()` shows changed
   * @param {(text: string) => void} options.say a message for the candidate
   */
  constructor({ mode, ctx, send, newId, changed, say }) {
    this.mode = mode;
    this.ctx = ctx;
    this.send = send;
    this.newId = newId;
    this.changed = changed;
    this.say = say;
    /** @type {TalkStyle} */
    this.style = 'hands-free';
    this.player = new Player(ctx, () => this.changed());
    /** @type {MediaStream|null} */
    this.stream = null;
    /** @type {AudioWorkletNode|null} */
    this.node = null;
    /** @type {'closed'|'opening'|'open'|'denied'} */
    this.mic = 'closed';
    this.level = 0;
    /** Push-to-talk is held. */
    this.talking = false;
    /** The server hears speech now (between speech_started and speech_stopped). */
    this.hearing = false;
    /** An utterance ended and its answer is being transcribed. */
    this.transcribing = false;
    /** @type {Utterance} */
    this.current = this.utterance();
    /** @type {Utterance[]} closed, not acknowledged yet, oldest first */
    this.waiting = [];
    /** @type {({type: 'input_audio.append', id: string, audio: string}|{type: 'input_audio.commit', id: string})[]} appends (and commits behind them) to send, oldest first */
    this.outbox = [];
    /** Whether the socket is open and the session live: audio is sent only then. */
    this.online = false;
    /** @type {Set<number>} turns cut off here: their late audio is dropped */
    this.cut = new Set();
    /** @type {Set<number>} turns whose `turn.truncate` was sent */
    this.truncated = new Set();
    this.resent = 0;
    /** @type {{turn_id: number, audio_end_ms: number}|null} the last `turn.truncate` sent */
    this.lastTruncate = null;
    /** @type {string[]} the audio of the last answer stored (for the tests' diagnostics) */
    this.lastStored = [];
    this.appendsSent = 0;
    this.commitsSent = 0;
    this.audioChunksReceived = 0;
    this.truncatesSent = 0;
    this.pump = setInterval(() => this.flush(), PUMP_MS);
    this.closedForGood = false;
  }

  /** @returns {Utterance} */
  utterance() {
    return { id: this.newId(), chunks: [], sentChunks: 0, speech: false, closed: false, committed: false };
  }

  // ---- the microphone -----------------------------------------------------------------------

  /** Opens the microphone (once); the candidate's browser asks for permission. */
  async openMic() {
    if (!this.mode.input || this.mic !== 'closed' || this.closedForGood) return;
    this.mic = 'opening';
    this.changed();
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        // Echo cancellation keeps the interviewer's voice from the speakers out of the answer
        // (and from barging in on itself); noise suppression is left off: it clips the onsets
        // of words, and the server's VAD tells speech from noise itself.
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: true },
      });
      if (this.closedForGood) {
        for (const track of stream.getTracks()) track.stop();
        return;
      }
      await this.ctx.audioWorklet.addModule('/console/mic-worklet.js');
      const node = new AudioWorkletNode(this.ctx, 'viva-mic', {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        processorOptions: { chunkSamples: CHUNK_SAMPLES },
      });
      node.port.onmessage = (event) => this.chunk(event.data.samples, event.data.level);
      // The node is pulled by the graph only when it leads to the output: through a mute gain.
      const mute = this.ctx.createGain();
      mute.gain.value = 0;
      this.ctx.createMediaStreamSource(stream).connect(node);
      node.connect(mute).connect(this.ctx.destination);
      if (this.ctx.state === 'suspended') await this.ctx.resume();
      this.stream = stream;
      this.node = node;
      this.mic = 'open';
    } catch (error) {
      this.mic = 'denied';
      this.say(`The microphone cannot be used (${/** @type {Error} */ (error).message}). You can type your answers.`);
    }
    this.changed();
  }

  /**
   * One chunk of the microphone: 40 ms at 16 kHz.
   * @param {Int16Array} samples
   * @param {number} level
   */
  chunk(samples, level) {
    const shown = Math.round(level * 100);
    if (shown !== Math.round(this.level * 100)) {
      this.level = level;
      this.changed();
    }
    if (this.style === 'push-to-talk' && !this.talking) return;
    const u = this.current;
    const audio = encodePcm(samples);
    u.chunks.push(audio);
    u.sentChunks += 1;
    if (!u.speech && this.style === 'hands-free') {
      if (u.sentChunks >= SILENT_UTTERANCE_CHUNKS) {
        // Half a minute of nothing: start a fresh utterance rather than one without end.
        if (this.online) this.send({ type: 'input_audio.clear', id: u.id });
        this.current = this.utterance();
        return;
      }
      if (u.chunks.length > SILENT_KEPT_CHUNKS) u.chunks.shift();
    }
    this.trim();
    if (this.online) this.outbox.push({ type: 'input_audio.append', id: u.id, audio });
  }

  /** Keeps at most KEPT_CHUNKS of audio in all: the oldest waiting utterances go first. */
  trim() {
    let total = this.current.chunks.length + this.waiting.reduce((n, u) => n + u.chunks.length, 0);
    while (total > KEPT_CHUNKS) {
      const oldest = this.waiting[0] ?? this.current;
      oldest.chunks.shift();
      total -= 1;
      if (oldest !== this.current && oldest.chunks.length === 0) this.waiting.shift();
    }
  }

  /** Sends one queued append (called every PUMP_MS); a backlog drains at 1.6× real time. */
  flush() {
    if (!this.online) return;
    const next = this.outbox[0];
    if (!next) return;
    if (!this.send(next)) {
      this.offline();
      return;
    }
    this.outbox.shift();
    this.appendsSent += 1;
    // A commit queued behind its audio goes out right after the last append.
    while (this.outbox.length && this.outbox[0].type !== 'input_audio.append') {
      const commit = this.outbox.shift();
      if (commit) this.send(commit);
      this.commitsSent += 1;
    }
  }

  /** Push-to-talk: the key or button is pressed. */
  startTalking() {
    if (this.talking || !this.mode.input) return;
    if (this.mic === 'closed') this.openMic();
    this.talking = true;
    // The candidate means to speak now: the interviewer stops.
    this.bargeIn(this.player.current);
    this.changed();
  }

  /** Push-to-talk: released. The utterance is the whole answer. */
  stopTalking() {
    if (!this.talking) return;
    this.talking = false;
    const u = this.current;
    if (u.sentChunks > 0) {
      u.closed = true;
      u.committed = true;
      this.waiting.push(u);
      this.current = this.utterance();
      this.transcribing = true;
      if (this.online) this.outbox.push({ type: 'input_audio.commit', id: u.id });
    }
    this.changed();
  }

  /** @param {TalkStyle} style */
  setStyle(style) {
    if (style === this.style) return;
    if (this.talking) this.stopTalking();
    // What was streaming hands-free without speech is dropped; an utterance with speech in it
    // is left to the server's VAD.
    const u = this.current;
    if (u.sentChunks > 0 && !u.speech) {
      if (this.online) this.send({ type: 'input_audio.clear', id: u.id });
      this.outbox = this.outbox.filter((m) => m.id !== u.id);
      this.current = this.utterance();
    } else if (u.speech) {
      u.closed = true;
      this.waiting.push(u);
      this.current = this.utterance();
    }
    this.style = style;
    this.changed();
  }

  // ---- the connection -----------------------------------------------------------------------

  /**
   * The socket is open and the session is live (a `session.ready`, the first or after a
   * reconnect): everything said and not acknowledged is sent again, with its ids.
   */
  goOnline() {
    this.online = true;
    this.outbox = [];
    /** @type {Utterance[]} */
    const again = [...this.waiting];
    if (this.current.speech) again.push(this.current);
    else if (this.current.sentChunks > 0) this.current = this.utterance();
    for (const u of again) {
      for (const audio of u.chunks) this.outbox.push({ type: 'input_audio.append', id: u.id, audio });
      this.resent += u.chunks.length;
      if (u.committed) this.outbox.push({ type: 'input_audio.commit', id: u.id });
    }
    this.changed();
  }

  /** The socket closed (or the session is not live): keep what is said, send nothing. */
  offline() {
    this.online = false;
    this.outbox = [];
    this.hearing = false;
  }

  // ---- the server's messages ----------------------------------------------------------------

  /**
   * @param {import('./client/model.js').ServerMessage} m
   * @param {import('./client/model.js').Model} model the model after `m`
   */
  message(m, model) {
    switch (m.type) {
      case 'turn.audio':
        this.audioChunksReceived += 1;
        if (!this.mode.output || this.cut.has(m.turn_id)) return;
        this.player.play(m.turn_id, decodePcm(m.audio));
        this.changed();
        return;
      case 'turn.done':
        if (m.status === 'interrupted') this.bargeIn(m.turn_id);
        return;
      case 'turn.started':
        // The interviewer moved on: whatever was being transcribed is not awaited any more (an
        // utterance that became no answer keeps its audio, bounded, until an error drops it).
        if (this.transcribing) {
          this.transcribing = false;
          this.changed();
        }
        return;
      case 'input_audio.speech_started':
        this.hearing = true;
        this.current.speech = true;
        this.bargeIn(this.player.current);
        this.changed();
        return;
      case 'input_audio.speech_stopped': {
        this.hearing = false;
        // The server's VAD ended the utterance: it is transcribed; what comes next is a new one.
        const u = this.current;
        u.closed = true;
        this.waiting.push(u);
        this.current = this.utterance();
        this.transcribing = true;
        this.changed();
        return;
      }
      case 'answer.received':
        if (m.id) this.acknowledged(m.id);
        return;
      case 'error':
        if (m.ref) this.refused(m.ref, m.code);
        return;
      case 'session.ended':
        this.close();
        return;
      default:
        if (model.status === 'ended') this.close();
    }
  }

  /**
   * The utterance `id` is stored: its audio is no longer needed.
   * @param {string} id
   */
  acknowledged(id) {
    const stored = this.waiting.find((u) => u.id === id) ?? (this.current.id === id ? this.current : null);
    if (stored) this.lastStored = stored.chunks;
    const before = this.waiting.length;
    this.waiting = this.waiting.filter((u) => u.id !== id);
    if (this.current.id === id) this.current = this.utterance();
    if (this.waiting.length !== before || this.transcribing) {
      this.transcribing = this.waiting.length > 0;
      this.changed();
    }
  }

  /**
   * An error about the utterance `id`.
   * @param {string} id
   * @param {string} code
   */
  refused(id, code) {
    const u = this.waiting.find((w) => w.id === id) ?? (this.current.id === id ? this.current : null);
    if (!u || code === 'rate_limited') return; // rate_limited: the pump is slower than the limit; the re-send goes on
    this.waiting = this.waiting.filter((w) => w !== u);
    if (u === this.current) this.current = this.utterance();
    this.transcribing = this.waiting.length > 0;
    if (code === 'stt_failed') this.say('Your answer could not be made out: please say it again.');
    else if (code === 'invalid_message') this.say('Nothing was heard: hold the button while you speak.');
    this.changed();
  }

  /**
   * Barge-in: the candidate speaks over the interviewer. Playback stops at once, what is queued
   * is dropped, and the server learns how much of the turn was heard.
   * @param {number|null} turnId the turn cut off
   */
  bargeIn(turnId) {
    if (turnId === null) return;
    const wasPlaying = this.player.playing;
    const heard = this.player.playedMs(turnId);
    const any = wasPlaying || this.player.finished.has(turnId);
    this.player.stop();
    this.cut.add(turnId);
    if (any && !this.truncated.has(turnId)) {
      this.truncated.add(turnId);
      this.send({ type: 'turn.truncate', id: this.newId(), turn_id: turnId, audio_end_ms: heard });
      this.truncatesSent += 1;
      this.lastTruncate = { turn_id: turnId, audio_end_ms: heard };
    }
    this.changed();
  }

  // ---- what the page shows ------------------------------------------------------------------

  /** Whether the interviewer's audio is playing. */
  get speaking() {
    return this.player.playing;
  }

  /** @returns {VoiceStats} */
  stats() {
    return {
      micOpen: this.mic === 'open',
      appendsSent: this.appendsSent,
      commitsSent: this.commitsSent,
      audioChunksReceived: this.audioChunksReceived,
      audioChunksPlayed: this.player.chunksPlayed,
      audioMsPlayed: Math.round(this.player.msPlayed),
      truncatesSent: this.truncatesSent,
      lastTruncate: this.lastTruncate,
      resent: this.resent,
    };
  }

  /** Stops everything: the session ended or the page left it. */
  close() {
    if (this.closedForGood) return;
    this.closedForGood = true;
    clearInterval(this.pump);
    this.player.stop();
    this.online = false;
    this.outbox = [];
    if (this.node) this.node.port.onmessage = null;
    this.node?.disconnect();
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.mic = 'closed';
    this.changed();
  }
}

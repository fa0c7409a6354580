// @ts-check
// The microphone's AudioWorklet processor (loaded by voice.js with `audioWorklet.addModule`,
// never imported by the page): it takes the context's samples (mono, at the context's rate,
// e.g. 48 kHz), brings them down to 16 kHz, and posts them as PCM16 in chunks of
// `chunkSamples` (640: 40 ms), each with its level (RMS, 0–1). Runs on the audio thread:
// no DOM, no allocation per sample beyond the chunk it fills.
//
// Downsampling: each output sample is a windowed-sinc low-pass (cut-off 7.2 kHz, Hann window,
// about eight input samples either side at 48 kHz) evaluated at the output's exact input time
// `k × rate / 16000`, so no fractional rate drifts and little above 8 kHz folds back into
// the speech band.

/** The globals of an AudioWorkletGlobalScope, which the DOM types do not describe. */
const scope = /** @type {any} */ (globalThis);

const TARGET_RATE = 16000;
/** The low-pass cut-off, as a fraction of the output's Nyquist frequency. */
const CUTOFF = 0.9;

class MicProcessor extends scope.AudioWorkletProcessor {
  /** @param {{processorOptions?: {chunkSamples?: number}}} options */
  constructor(options) {
    super();
    /** Input samples per output sample (3 at 48 kHz, 2.75625 at 44.1 kHz). */
    this.step = scope.sampleRate / TARGET_RATE;
    /** The kernel's half width, in input samples. */
    this.half = Math.ceil(4 * this.step);
    /** The cut-off in cycles per input sample. */
    this.fc = (CUTOFF * TARGET_RATE) / 2 / scope.sampleRate;
    this.chunkSamples = options.processorOptions?.chunkSamples ?? 640;
    this.chunk = new Int16Array(this.chunkSamples);
    this.filled = 0;
    /** Input not consumed yet (mono), and the input time of the next output sample in it. */
    this.buf = new Float32Array(8192);
    this.len = 0;
    this.t = this.half;
    this.energy = 0;
  }

  /** @param {Float32Array[][]} inputs */
  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const n = channels[0].length;
    if (this.len + n > this.buf.length) return true; // cannot happen: the buffer is drained below
    for (let i = 0; i < n; i++) {
      let x = 0;
      for (let c = 0; c < channels.length; c++) x += channels[c][i];
      this.buf[this.len + i] = x / channels.length;
    }
    this.len += n;
    const half = this.half;
    while (this.t + half < this.len) {
      const t = this.t;
      let sum = 0;
      let weights = 0;
      for (let j = Math.ceil(t - half); j <= Math.floor(t + half); j++) {
        const d = j - t;
        const arg = 2 * this.fc * d;
        const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
        const w = sinc * 0.5 * (1 + Math.cos((Math.PI * d) / half));
        sum += this.buf[j] * w;
        weights += w;
      }
      this.push(sum / weights);
      this.t += this.step;
    }
    // Drop what no output needs any more.
    const drop = Math.max(0, Math.floor(this.t - half) - 1);
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.t -= drop;
    }
    return true;
  }

  /** @param {number} x one output sample, -1..1 */
  push(x) {
    const clamped = Math.max(-1, Math.min(1, x));
    this.energy += clamped * clamped;
    this.chunk[this.filled++] = clamped < 0 ? Math.round(clamped * 0x8000) : Math.round(clamped * 0x7fff);
    if (this.filled === this.chunkSamples) {
      const level = Math.sqrt(this.energy / this.chunkSamples);
      const samples = this.chunk;
      this.port.postMessage({ samples, level }, [samples.buffer]);
      this.chunk = new Int16Array(this.chunkSamples);
      this.filled = 0;
      this.energy = 0;
    }
  }
}

scope.registerProcessor('viva-mic', MicProcessor);

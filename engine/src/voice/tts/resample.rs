//! Streaming linear-interpolation resampling of PCM16 mono (e.g. espeak-ng's 22,050 Hz to the
//! 24 kHz clients play).
//!
//! Output sample `k` is the input read at time `k × from / to` (in input samples), linearly
//! interpolated between its two neighbours. Positions are exact integers, so no drift builds
//! up over a long sentence, and the output does not depend on how the input was chunked.
//!
//! Length rule: after [`Resampler::finish`], `n` input samples have given exactly
//! `ceil(n × to / from)` output samples, however they were split. Before `finish`, the output
//! lags by the samples that fall after the last input sample seen (they need the next one):
//! at most `ceil(to / from)`, i.e. 2 for 22,050 → 24,000 Hz.

/// Resamples one stream; keeps what it needs of the previous chunk.
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u64,
    to: u64,
    /// The next output sample's index.
    next: u64,
    /// Absolute index of `pending[0]` in the input.
    offset: u64,
    /// Input samples still needed (at most two after each call).
    pending: Vec<i16>,
}

impl Resampler {
    /// From `from` Hz to `to` Hz (both non-zero).
    pub fn new(from: u32, to: u32) -> Self {
        assert!(from > 0 && to > 0, "sample rates are positive");
        Self { from: u64::from(from), to: u64::from(to), next: 0, offset: 0, pending: Vec::new() }
    }

    /// The output for `input`, appended to `out`.
    pub fn push(&mut self, input: &[i16], out: &mut Vec<i16>) {
        self.pending.extend_from_slice(input);
        let end = self.offset + self.pending.len() as u64;
        loop {
            let position = self.next * self.from;
            let index = position / self.to;
            if index + 1 >= end {
                break;
            }
            let i = (index - self.offset) as usize;
            out.push(lerp(self.pending[i], self.pending[i + 1], position % self.to, self.to));
            self.next += 1;
        }
        // Keep from the next output's left neighbour on.
        let keep_from =
            ((self.next * self.from / self.to).saturating_sub(self.offset) as usize).min(self.pending.len());
        self.pending.drain(..keep_from);
        self.offset += keep_from as u64;
    }

    /// The last samples, whose right neighbour does not exist (held: the last input sample).
    pub fn finish(mut self, out: &mut Vec<i16>) {
        let end = self.offset + self.pending.len() as u64;
        while let Some(&last) = self.pending.last() {
            let index = self.next * self.from / self.to;
            if index >= end {
                break;
            }
            out.push(last);
            self.next += 1;
        }
    }
}

fn lerp(a: i16, b: i16, numerator: u64, denominator: u64) -> i16 {
    let (a, b) = (i64::from(a), i64::from(b));
    let value = a + (b - a) * numerator as i64 / denominator as i64;
    value.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, rate: u32, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|i| ((i as f64 * hz * std::f64::consts::TAU / f64::from(rate)).sin() * 16_000.0) as i16)
            .collect()
    }

    fn resample(input: &[i16], chunk: usize) -> Vec<i16> {
        let mut resampler = Resampler::new(22_050, 24_000);
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            resampler.push(part, &mut out);
        }
        resampler.finish(&mut out);
        out
    }

    /// Sign changes from negative to non-negative.
    fn rising_crossings(samples: &[i16]) -> usize {
        samples.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count()
    }

    #[test]
    fn a_sine_keeps_its_frequency_and_has_the_exact_length() {
        // One second of 1 kHz at 22,050 Hz.
        let input = sine(1_000.0, 22_050, 22_050);
        for chunk in [1, 7, 441, 2_205, 22_050] {
            let out = resample(&input, chunk);
            assert_eq!(out.len(), 24_000, "chunks of {chunk}");
            // 1,000 periods in the second: one rising crossing each (give or take the edge).
            let crossings = rising_crossings(&out);
            assert!((999..=1_000).contains(&crossings), "{crossings} crossings with chunks of {chunk}");
        }
    }

    #[test]
    fn the_output_does_not_depend_on_the_chunking() {
        let input = sine(440.0, 22_050, 5_000);
        let whole = resample(&input, input.len());
        for chunk in [1, 2, 3, 100, 1_001] {
            assert_eq!(resample(&input, chunk), whole, "chunks of {chunk}");
        }
    }

    #[test]
    fn lengths_follow_the_rule_for_any_count() {
        for n in 0..200usize {
            let input: Vec<i16> = (0..n as i16).collect();
            let expected = (n as u64 * 24_000).div_ceil(22_050) as usize;
            assert_eq!(resample(&input, 13).len(), expected, "{n} samples");
        }
    }

    #[test]
    fn a_chunk_lags_by_at_most_two_samples_before_finish() {
        let mut resampler = Resampler::new(22_050, 24_000);
        let mut out = Vec::new();
        let mut fed = 0u64;
        for part in sine(300.0, 22_050, 10_000).chunks(777) {
            resampler.push(part, &mut out);
            fed += part.len() as u64;
            let full = (fed * 24_000).div_ceil(22_050);
            assert!(full - out.len() as u64 <= 2, "{} of {full}", out.len());
        }
    }

    #[test]
    fn equal_rates_pass_samples_through() {
        let input = sine(440.0, 24_000, 1_000);
        let mut resampler = Resampler::new(24_000, 24_000);
        let mut out = Vec::new();
        resampler.push(&input, &mut out);
        resampler.finish(&mut out);
        assert_eq!(out, input);
    }
}

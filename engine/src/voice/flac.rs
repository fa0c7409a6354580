//! A spoken answer's audio as it is kept (`--audio-recordings on`): a FLAC stream of the
//! utterance (PCM16 mono 16 kHz, lossless, about half the size of raw PCM for speech and far
//! less for its silences), encoded by flacenc and read back by claxon. FLAC rather than a
//! format of our own: any tool reads what an export points to.

use flacenc::component::BitRepr;
use flacenc::error::Verify;

use super::stt::INPUT_RATE;

/// Samples per FLAC block (flacenc's default; 256 ms at 16 kHz).
const BLOCK: usize = 4096;

/// Why a recording cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The encoder refused (it should not, for PCM16 mono at 16 kHz).
    #[error("cannot encode the recording: {0}")]
    Encode(String),
    /// Stored bytes that are not the FLAC stream expected.
    #[error("unreadable recording: {0}")]
    Decode(String),
}

/// FLAC's smallest block: readers refuse a stream whose shortest block is shorter.
const MIN_BLOCK: usize = 16;

/// `samples` (PCM16 mono at [`INPUT_RATE`]) as a FLAC stream, followed by under 1 ms of
/// silence (up to [`MIN_BLOCK`] − 1 samples) so that its last block is not too short to read.
pub fn encode(samples: &[i16]) -> Result<Vec<u8>, RecordingError> {
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| RecordingError::Encode(format!("{e:?}")))?;
    let mut wide: Vec<i32> = samples.iter().map(|&s| i32::from(s)).collect();
    wide.resize(wide.len().next_multiple_of(MIN_BLOCK).max(MIN_BLOCK), 0);
    let source = flacenc::source::MemSource::from_samples(&wide, 1, 16, INPUT_RATE as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, BLOCK)
        .map_err(|e| RecordingError::Encode(format!("{e:?}")))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| RecordingError::Encode(format!("{e:?}")))?;
    Ok(sink.into_inner())
}

/// The samples of a FLAC stream made by [`encode`]: PCM16 mono at [`INPUT_RATE`], at most
/// `max_samples` of them (a bound on what stored bytes can make us allocate).
pub fn decode(bytes: &[u8], max_samples: usize) -> Result<Vec<i16>, RecordingError> {
    let mut reader = claxon::FlacReader::new(bytes).map_err(|e| RecordingError::Decode(e.to_string()))?;
    let info = reader.streaminfo();
    if info.channels != 1 || info.bits_per_sample != 16 || info.sample_rate != INPUT_RATE {
        let detail = format!("{} channels of {} bits at {} Hz", info.channels, info.bits_per_sample, info.sample_rate);
        return Err(RecordingError::Decode(detail));
    }
    let mut samples = Vec::with_capacity(info.samples.map_or(0, |n| n as usize).min(max_samples));
    for sample in reader.samples() {
        let sample = sample.map_err(|e| RecordingError::Decode(e.to_string()))?;
        if samples.len() == max_samples {
            return Err(RecordingError::Decode(format!("longer than {max_samples} samples")));
        }
        samples.push(i16::try_from(sample).map_err(|_| RecordingError::Decode(format!("sample {sample}")))?);
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A second of a vowel-like sound between two silences, as speech looks to the codec.
    fn speechlike() -> Vec<i16> {
        let mut samples = vec![0i16; 4000];
        samples.extend((0..16_000).map(|i| {
            let t = f64::from(i) / f64::from(INPUT_RATE);
            let voiced =
                (t * 2.0 * std::f64::consts::PI * 140.0).sin() + 0.5 * (t * 2.0 * std::f64::consts::PI * 700.0).sin();
            (voiced * 6000.0) as i16
        }));
        samples.extend(vec![0i16; 4000]);
        samples
    }

    #[test]
    fn speech_comes_back_exactly_in_less_than_half_its_size() {
        let samples = speechlike();
        let flac = encode(&samples).unwrap();
        assert!(flac.len() < samples.len(), "{} bytes for {} samples", flac.len(), samples.len());
        assert_eq!(decode(&flac, samples.len()).unwrap(), padded(&samples));
    }

    #[test]
    fn a_short_last_block_is_read_back() {
        let samples: Vec<i16> = (0..BLOCK as i16 + 5).map(|i| i.wrapping_mul(37)).collect();
        assert_eq!(decode(&encode(&samples).unwrap(), usize::MAX).unwrap(), padded(&samples));
        assert_eq!(decode(&encode(&[]).unwrap(), usize::MAX).unwrap(), vec![0; MIN_BLOCK]);
    }

    #[test]
    fn damaged_or_too_long_recordings_are_errors() {
        let flac = encode(&speechlike()).unwrap();
        assert!(matches!(decode(&flac[..flac.len() / 2], usize::MAX), Err(RecordingError::Decode(_))));
        assert!(matches!(decode(b"RIFF....WAVE", usize::MAX), Err(RecordingError::Decode(_))));
        assert!(matches!(decode(&flac, 100), Err(RecordingError::Decode(_))));
    }

    /// `samples` followed by the silence [`encode`] adds.
    fn padded(samples: &[i16]) -> Vec<i16> {
        let mut padded = samples.to_vec();
        padded.resize(samples.len().next_multiple_of(MIN_BLOCK).max(MIN_BLOCK), 0);
        padded
    }

    proptest! {
        #[test]
        fn any_pcm_round_trips(samples in proptest::collection::vec(any::<i16>(), 0..10_000)) {
            let flac = encode(&samples).unwrap();
            prop_assert_eq!(decode(&flac, usize::MAX).unwrap(), padded(&samples));
        }
    }
}

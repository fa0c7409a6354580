//! Real speech for the voice tests: sentences spoken by `espeak-ng` (the Debian package the
//! test command installs), as PCM16 mono at 16 kHz, the rate of `input_audio.append`.

use std::path::Path;

/// The rate of the candidate's audio.
pub const RATE: u32 = 16_000;

/// Whether `espeak-ng`, `pocketsphinx_continuous` and its en-us model are here; when not,
/// says so ([`crate::missing_program`]: a failure in CI).
pub fn offline_speech_installed() -> bool {
    let found = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|dir| dir.join(name).is_file())
    };
    let ok = found("pocketsphinx_continuous")
        && found("espeak-ng")
        && Path::new("/usr/share/pocketsphinx/model/en-us/en-us.lm.bin").is_file();
    if !ok {
        crate::missing_program("pocketsphinx_continuous, its en-us model or espeak-ng");
    }
    ok
}

/// `text` spoken by espeak-ng (slowly: it helps the recognizer), resampled from its 22,050 Hz
/// to 16 kHz by linear interpolation.
pub fn speech(text: &str) -> Vec<i16> {
    let output = std::process::Command::new("espeak-ng").args(["-v", "en-us", "-s", "120", "--stdout", text]).output();
    let output = output.expect("espeak-ng runs");
    assert!(output.status.success(), "espeak-ng failed");
    let bytes = output.stdout;
    let rate = u32::from_le_bytes(bytes[24..28].try_into().expect("a WAV header"));
    let data = bytes.windows(4).position(|w| w == b"data").expect("a WAV data chunk") + 8;
    let samples: Vec<i16> = bytes[data..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let count = (samples.len() as u64 * u64::from(RATE) / u64::from(rate)) as usize;
    (0..count)
        .map(|i| {
            let x = i as f64 * f64::from(rate) / f64::from(RATE);
            let j = x as usize;
            let a = f64::from(samples[j]);
            let b = f64::from(*samples.get(j + 1).unwrap_or(&samples[j]));
            (a + (b - a) * (x - j as f64)) as i16
        })
        .collect()
}

/// `ms` milliseconds of silence.
pub fn silence(ms: u32) -> Vec<i16> {
    vec![0; (RATE * ms / 1000) as usize]
}

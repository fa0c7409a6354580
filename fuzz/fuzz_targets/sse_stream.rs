//! A provider's streamed reply, cut into chunks anywhere (as TCP delivers it): the SSE parser
//! finds the same payloads whatever the cuts, and reading each payload never panics. The
//! first byte seeds the cuts; the rest is the stream (so seeds are plain event streams).
#![no_main]

use libfuzzer_sys::fuzz_target;
use viva_engine::fuzzing::{Lines, delta};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else { return };
    let whole = Lines::default().push(stream);

    let mut lines = Lines::default();
    let mut chunked = Vec::new();
    let mut rest = stream;
    let mut state = u32::from(seed) | 1;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let (chunk, after) = rest.split_at(((state >> 16) as usize % 64).min(rest.len()));
        chunked.extend(lines.push(chunk));
        rest = after;
    }
    // Lines over the parser's limit (1 MiB, far beyond the fuzzer's inputs) are handed on as
    // garbage where the limit is crossed, which depends on the cuts.
    assert_eq!(whole, chunked, "payloads depend on how the stream was cut");
    for payload in &whole {
        let _ = delta(payload);
    }
});

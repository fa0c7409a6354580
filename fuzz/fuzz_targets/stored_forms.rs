//! Bytes read back from a store (metadata, a snapshot, a log entry) as a load reads them: no
//! panic, and whatever decodes is stored again unchanged (a loaded session that is snapshotted
//! again keeps everything it had).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| viva_engine::fuzzing::decode_stored(data));

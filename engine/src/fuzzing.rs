//! Internals that the fuzz targets (`fuzz/`) drive, behind the `fuzzing` feature: the decoders
//! of the stored forms, the SSE parser, the LLM scorer's validation, and the snapshot + tail
//! check that the core's property test uses too. Not part of the engine's API: the feature
//! exists so that the API boundary stays private in every other build.

use crate::core::{LogEntry, Scoring, Session, SessionId, SessionParams, State};
use crate::plan::Question;
use crate::store::persisted::{self, EntryBytes, MetaBytes, SnapshotBytes};

pub use crate::llm::sse::{Data, Lines, delta};

/// Reads `bytes` as each stored form (metadata, snapshot, log entry) the way a load does, and
/// checks that whatever decodes survives being stored again unchanged. Panics if not.
pub fn decode_stored(bytes: &[u8]) {
    if let Ok(meta) = persisted::decode::<MetaBytes>(bytes) {
        let meta = meta.into_meta(&SessionId::from("s"));
        let again = persisted::decode::<MetaBytes>(&persisted::encode(&MetaBytes::from_meta(&meta)).unwrap());
        assert_eq!(again.unwrap().into_meta(&meta.session_id), meta, "metadata changed by a store round trip");
    }
    if let Ok(snapshot) = persisted::decode::<SnapshotBytes>(bytes) {
        let state = State::from(snapshot);
        let again = persisted::decode::<SnapshotBytes>(&persisted::encode(&SnapshotBytes::from(&state)).unwrap());
        assert_eq!(State::from(again.unwrap()), state, "snapshot changed by a store round trip");
    }
    if let Ok(entry) = persisted::decode::<EntryBytes>(bytes) {
        let entry = LogEntry::from(entry);
        let again = persisted::decode::<EntryBytes>(&persisted::encode(&EntryBytes::from(&entry)).unwrap());
        assert_eq!(LogEntry::from(again.unwrap()), entry, "log entry changed by a store round trip");
    }
}

/// The LLM scorer's check of a model's reply for `question`.
pub fn validate_score(question: &Question, reply: &str) -> Result<Scoring, String> {
    crate::scorer::llm::validate(question, reply)
}

/// Restoring a session from any prefix of its `log` as the snapshot plus the rest of the log
/// gives the `live` state exactly (the state is the fold of the log, nothing else); and so does
/// going through the stored (MessagePack) forms. Panics, naming the split, if not.
pub fn assert_restores(params: &SessionParams, log: &[LogEntry], live: &State) {
    assert_eq!(&State::fold(log), live, "the state is the fold of the log");
    for split in 0..=log.len() {
        let (head, tail) = log.split_at(split);
        let snapshot = Session::restore(params.clone(), State::new(), head.to_vec()).state().clone();
        let stored = persisted::encode(&SnapshotBytes::from(&snapshot)).unwrap();
        let snapshot: State = persisted::decode::<SnapshotBytes>(&stored).unwrap().into();
        let tail: Vec<LogEntry> = tail
            .iter()
            .map(|e| persisted::decode::<EntryBytes>(&persisted::encode(&EntryBytes::from(e)).unwrap()).unwrap().into())
            .collect();
        assert_eq!(tail, log[split..], "log entries survive their stored form");
        let restored = Session::restore(params.clone(), snapshot, tail);
        assert_eq!(restored.state(), live, "split at {split}");
    }
}

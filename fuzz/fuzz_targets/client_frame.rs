//! A client frame, in either encoding (the first byte chooses), as the gateway decodes it.
//! Checked: no panic; decoding allocates at most a small multiple of the frame's size (a
//! length prefix or a nesting cannot make a small frame cost much); a decoded message encodes
//! and decodes back to itself; an error never echoes more than a bounded quote of the input.
#![no_main]

use cap::Cap;
use libfuzzer_sys::fuzz_target;
use viva_protocol::{ClientMessage, Encoding, Limits};

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

/// Longest error text a frame can cause: the quoted input is cut at `MAX_ERROR_CHARS`, and
/// the error's own words come on top.
const MAX_ERROR_TEXT: usize = viva_protocol::codec::MAX_ERROR_CHARS + 200;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else { return };
    let encoding = if selector & 1 == 0 { Encoding::Json } else { Encoding::MsgPack };
    let limits = Limits::default();

    // What decoding may allocate beyond what is already in use: serde's buffering of an
    // internally tagged enum keeps a tree of the frame, some tens of bytes per element.
    let budget = 64 * 1024 + 64 * frame.len();
    ALLOCATOR.set_limit(ALLOCATOR.allocated() + budget).unwrap();
    let decoded = encoding.decode_client(frame, &limits);
    let id = encoding.message_id(frame, &limits);
    ALLOCATOR.set_limit(usize::MAX).unwrap();

    if let Some(id) = id {
        assert!((1..=limits.max_id_len).contains(&id.chars().count()));
    }
    match decoded {
        Ok(message) => {
            let bytes = encoding.encode(&message).expect("a decoded message encodes");
            let again: ClientMessage = encoding.decode_client(&bytes, &limits).expect("and decodes again");
            assert_eq!(again, message);
        }
        Err(error) => {
            let text = error.to_string();
            assert!(text.chars().count() <= MAX_ERROR_TEXT, "an error of {} chars", text.chars().count());
        }
    }
});

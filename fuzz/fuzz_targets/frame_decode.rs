//! Arbitrary bytes, fed in arbitrary chunk sizes, must never panic the frame decoder.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rocketmq_exporter::remoting::frame::{decode, DEFAULT_MAX_FRAME_LENGTH};

fuzz_target!(|data: &[u8]| {
    // First byte picks a chunk size so partial reads (Incomplete) are exercised too.
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = (chunk as usize % 64) + 1;
    let mut buf = BytesMut::new();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                // A fatal error poisons the connection; a real reader would drop it.
                Err(_) => return,
            }
        }
    }
    // And the whole input at once.
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(_)) = decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH) {}
});

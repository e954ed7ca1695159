//! The daemon's TCP request framing and decoding, fed the bytes in
//! arbitrary chunks as a client could send them: no panic, and the result
//! once all bytes are in does not depend on how they were split.
#![no_main]

use booth::wire::{self, Framing};
use libfuzzer_sys::fuzz_target;

mod common;
use common::capture_key;

fuzz_target!(|data: &[u8]| {
    let key = capture_key();
    for k in [None, Some(&key)] {
        let whole = wire::decode_request(data, k);
        // Every prefix is either incomplete, complete or an error; a
        // complete prefix must agree with the whole buffer.
        for cut in 0..data.len().min(200) {
            match wire::decode_request(&data[..cut], k) {
                Ok(Framing::Need(n)) => assert!(n > 0),
                Ok(Framing::Complete { consumed, .. }) => {
                    assert!(consumed <= cut);
                    assert!(matches!(whole, Ok(Framing::Complete { .. })));
                }
                Err(_) => {}
            }
        }
        if let Ok(Framing::Complete { consumed, .. }) = whole {
            assert!(consumed <= data.len());
        }
    }
});

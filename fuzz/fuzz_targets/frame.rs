//! Any bytes a client may send as a text frame: parsing answers a request or a typed error, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = makeroom_protocol::parse_client_frame(text);
        let _ = makeroom_protocol::peek_request_id(text);
        let _ = makeroom_protocol::parse_server_frame(text);
    }
});

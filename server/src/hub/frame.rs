//! The one encoding of what the server sends: JSON in a WebSocket frame, header included, built once.
//!
//! Server frames are never masked (RFC 6455 §5.1), so the bytes of a push are the same for every
//! receiver: the hub encodes a publication here once and every subscriber's outbox holds a reference
//! to the same buffer. Nothing here may allocate per receiver or know about sockets.

use bytes::Bytes;
use serde::Serialize;

/// The largest header a server frame needs: FIN/opcode, length marker, 64-bit length.
const MAX_HEADER: usize = 10;

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
const FIN: u8 = 0x80;

/// `value` as JSON in one final text frame, or `None` if it does not serialize (logged).
pub fn json<T: Serialize>(value: &T) -> Option<Bytes> {
    // Serialized after room for the longest header, which is then written just before the JSON:
    // one allocation, no copy.
    let mut buffer = Vec::with_capacity(256);
    buffer.resize(MAX_HEADER, 0);
    if let Err(err) = serde_json::to_writer(&mut buffer, value) {
        tracing::error!(error = %err, "could not serialize a frame");
        return None;
    }
    let start = write_header_before(&mut buffer, OP_TEXT);
    Some(Bytes::from(buffer).slice(start..))
}

/// A text frame holding `text`.
pub fn text(text: &str) -> Bytes {
    control_or_data(OP_TEXT, text.as_bytes())
}

/// A ping with `payload` (at most 125 bytes are kept: control frames are limited so).
pub fn ping(payload: &[u8]) -> Bytes {
    control_or_data(OP_PING, &payload[..payload.len().min(125)])
}

/// The answer to a ping, echoing its payload.
pub fn pong(payload: &[u8]) -> Bytes {
    control_or_data(OP_PONG, &payload[..payload.len().min(125)])
}

/// A close frame with a code and a reason (cut to fit the 123 bytes a close reason may have).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    control_or_data(OP_CLOSE, &payload)
}

fn control_or_data(opcode: u8, payload: &[u8]) -> Bytes {
    let mut buffer = Vec::with_capacity(MAX_HEADER + payload.len());
    buffer.resize(MAX_HEADER, 0);
    buffer.extend_from_slice(payload);
    let start = write_header_before(&mut buffer, opcode);
    Bytes::from(buffer).slice(start..)
}

/// Writes the header for the payload that follows `MAX_HEADER` reserved bytes, right-aligned against
/// it; returns where the frame starts.
fn write_header_before(buffer: &mut [u8], opcode: u8) -> usize {
    let length = buffer.len() - MAX_HEADER;
    let mut header = [0u8; MAX_HEADER];
    header[0] = FIN | opcode;
    let used = if length < 126 {
        header[1] = length as u8;
        2
    } else if length <= usize::from(u16::MAX) {
        header[1] = 126;
        header[2..4].copy_from_slice(&(length as u16).to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(length as u64).to_be_bytes());
        10
    };
    let start = MAX_HEADER - used;
    buffer[start..MAX_HEADER].copy_from_slice(&header[..used]);
    start
}

/// The payload of a frame made here (for tests and logs): what follows its header.
pub fn payload(frame: &[u8]) -> &[u8] {
    let skip = match frame.get(1).map(|b| b & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        Some(_) => 2,
        None => return &[],
    };
    frame.get(skip..).unwrap_or(&[])
}

/// The payload of a text frame made here, as text.
pub fn payload_text(frame: &[u8]) -> &str {
    std::str::from_utf8(payload(frame)).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_shortest_length_form() {
        for (length, header_len, marker) in
            [(0usize, 2usize, 0u8), (125, 2, 125), (126, 4, 126), (65_535, 4, 126), (65_536, 10, 127)]
        {
            let body = "x".repeat(length);
            let frame = text(&body);
            assert_eq!(frame.len(), header_len + length, "length {length}");
            assert_eq!(frame[0], 0x81, "final text frame");
            assert_eq!(frame[1], marker, "length marker for {length}");
            assert_eq!(payload(&frame), body.as_bytes());
        }
    }

    #[test]
    fn json_frames_hold_exactly_the_serialized_value() {
        let frame = json(&serde_json::json!({"type": "pub", "offset": 7})).expect("serializes");
        assert_eq!(frame[0], 0x81);
        assert_eq!(payload_text(&frame), r#"{"offset":7,"type":"pub"}"#);
        let big = json(&"y".repeat(70_000)).expect("serializes");
        assert_eq!(big[1], 127);
        assert_eq!(payload(&big).len(), 70_002);
    }

    #[test]
    fn control_frames_stay_within_their_limits() {
        let frame = close(4009, &"é".repeat(100));
        assert_eq!(frame[0], 0x88);
        assert!(frame.len() - 2 <= 125, "close payload fits a control frame");
        assert_eq!(&payload(&frame)[..2], &4009u16.to_be_bytes());
        assert!(std::str::from_utf8(&payload(&frame)[2..]).is_ok(), "the reason is cut on a character boundary");
        assert_eq!(ping(&[1u8; 300]).len(), 127);
        assert_eq!(pong(b"abc")[0], 0x8A);
    }
}

//! Server-to-client WebSocket frames, encoded once: a server frame is never masked, so the same
//! bytes serve every receiver of a message. It only writes frames; reading is actix-http's codec.

use bytes::{BufMut, Bytes, BytesMut};

const FIN: u8 = 0x80;
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PONG: u8 = 0xA;

/// The header of an unmasked final frame of `opcode` carrying `len` bytes (RFC 6455, 5.2).
fn header(out: &mut BytesMut, opcode: u8, len: usize) {
    out.put_u8(FIN | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.put_u8(126);
        out.put_u16(len);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
}

fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    header(&mut out, opcode, payload.len());
    out.put_slice(payload);
    out.freeze()
}

/// A text frame holding `json`.
pub fn text(json: &[u8]) -> Bytes {
    frame(TEXT, json)
}

pub fn pong(payload: &[u8]) -> Bytes {
    frame(PONG, payload)
}

/// A close frame with a status code and no reason.
pub fn close(code: u16) -> Bytes {
    frame(CLOSE, &code.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_codec::Decoder;
    use actix_http::ws::{Codec, Frame};

    /// What a client's codec reads back from `bytes`.
    fn read(bytes: &Bytes) -> Frame {
        let mut buf = BytesMut::from(&bytes[..]);
        let frame = Codec::new().client_mode().max_size(1 << 20).decode(&mut buf).expect("a valid frame");
        assert!(buf.is_empty(), "one frame, nothing left over");
        frame.expect("a whole frame")
    }

    #[test]
    fn every_length_form_reads_back_as_the_same_text() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 200_000] {
            let json = vec![b'x'; len];
            match read(&text(&json)) {
                Frame::Text(got) => assert_eq!(got.len(), len),
                other => panic!("{len}: {other:?}"),
            }
        }
    }

    #[test]
    fn pong_and_close_read_back() {
        assert_eq!(read(&pong(b"hi")), Frame::Pong(Bytes::from_static(b"hi")));
        match read(&close(1000)) {
            Frame::Close(Some(reason)) => assert_eq!(u16::from(reason.code), 1000),
            other => panic!("{other:?}"),
        }
    }
}

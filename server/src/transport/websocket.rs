//! Reading a client's WebSocket frames (RFC 6455): actix-http's frame codec unmasks and checks each
//! frame; this puts fragmented messages back together, checks that text is UTF-8, and turns every
//! breach of the protocol into the close it calls for. Writing is `hub::frame`'s: the server's frames
//! are built once and written as they are.

use crate::service::Close;
use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use bytes::{Bytes, BytesMut};
use makeroom_protocol::close;

/// One whole message from the client.
#[derive(Debug)]
pub(super) enum Incoming {
    Text(Bytes),
    Binary,
    Ping(Bytes),
    Pong,
    /// The client closes, with its close code if it gave one.
    Close(Option<u16>),
}

struct Partial {
    text: bool,
    data: BytesMut,
}

pub(super) struct FrameReader {
    buffer: BytesMut,
    codec: Codec,
    partial: Option<Partial>,
    max_message: usize,
}

impl FrameReader {
    /// `already_read` is what the HTTP server read past the upgrade request.
    pub fn new(already_read: BytesMut, max_message: usize) -> Self {
        FrameReader { buffer: already_read, codec: Codec::new().max_size(max_message), partial: None, max_message }
    }

    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// Lets go of the read buffer's memory while nothing is waiting in it (most connections are idle
    /// most of the time).
    pub fn shrink_if_empty(&mut self) {
        if self.buffer.is_empty() && self.buffer.capacity() > 0 && self.partial.is_none() {
            self.buffer = BytesMut::new();
        }
    }

    /// The next whole message read so far, if any.
    pub fn next(&mut self) -> Result<Option<Incoming>, Close> {
        loop {
            // No extension was agreed, so the reserved bits must be clear (the codec does not check).
            if self.buffer.first().is_some_and(|first| first & 0x70 != 0) {
                return Err(Close::new(close::PROTOCOL_ERROR, "reserved bits set; no extension was agreed"));
            }
            let frame = match self.codec.decode(&mut self.buffer) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(ProtocolError::Overflow) => return Err(Close::new(close::TOO_BIG, "frame over the size limit")),
                Err(err) => {
                    tracing::debug!(error = %err, "WebSocket protocol error");
                    return Err(Close::new(close::PROTOCOL_ERROR, "WebSocket protocol error"));
                }
            };
            match frame {
                Frame::Text(data) => return whole(true, data).map(Some),
                Frame::Binary(_) => return Ok(Some(Incoming::Binary)),
                Frame::Ping(payload) => return Ok(Some(Incoming::Ping(payload))),
                Frame::Pong(_) => return Ok(Some(Incoming::Pong)),
                Frame::Close(reason) => return Ok(Some(Incoming::Close(reason.map(|r| u16::from(r.code))))),
                Frame::Continuation(item) => {
                    if let Some(message) = self.continue_message(item)? {
                        return Ok(Some(message));
                    }
                }
            }
        }
    }

    fn continue_message(&mut self, item: Item) -> Result<Option<Incoming>, Close> {
        let (start, data, last) = match item {
            Item::FirstText(data) => (Some(true), data, false),
            Item::FirstBinary(data) => (Some(false), data, false),
            Item::Continue(data) => (None, data, false),
            Item::Last(data) => (None, data, true),
        };
        if let Some(text) = start {
            self.partial = Some(Partial { text, data: BytesMut::new() });
        }
        let partial =
            self.partial.as_mut().ok_or(Close::new(close::PROTOCOL_ERROR, "a continuation without a first frame"))?;
        if partial.data.len() + data.len() > self.max_message {
            return Err(Close::new(close::TOO_BIG, "message over the size limit"));
        }
        partial.data.extend_from_slice(&data);
        if !last {
            return Ok(None);
        }
        let Some(Partial { text, data }) = self.partial.take() else { return Ok(None) };
        whole(text, data.freeze()).map(Some)
    }
}

fn whole(text: bool, data: Bytes) -> Result<Incoming, Close> {
    if !text {
        return Ok(Incoming::Binary);
    }
    if std::str::from_utf8(&data).is_err() {
        return Err(Close::new(close::INVALID_PAYLOAD, "text frames must be UTF-8"));
    }
    Ok(Incoming::Text(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked, as RFC 6455 requires of clients.
    fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [7u8, 1, 9, 3];
        let mut frame = vec![first_byte];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    fn reader_with(bytes: &[u8]) -> FrameReader {
        FrameReader::new(BytesMut::from(bytes), 1024)
    }

    #[test]
    fn fragments_are_put_back_together_around_control_frames() {
        let mut bytes = client_frame(0x01, b"{\"id\":");
        bytes.extend(client_frame(0x89, b"hi"));
        bytes.extend(client_frame(0x00, b"1,"));
        bytes.extend(client_frame(0x80, b"\"op\":\"time\"}"));
        let mut reader = reader_with(&bytes);
        assert!(matches!(reader.next(), Ok(Some(Incoming::Ping(p))) if &p[..] == b"hi"));
        match reader.next() {
            Ok(Some(Incoming::Text(text))) => assert_eq!(&text[..], b"{\"id\":1,\"op\":\"time\"}"),
            other => panic!("expected the whole text, got {other:?}"),
        }
        assert!(matches!(reader.next(), Ok(None)));
    }

    #[test]
    fn a_frame_arriving_in_pieces_waits_for_the_rest() {
        let bytes = client_frame(0x81, b"{\"id\":2,\"op\":\"time\"}");
        let mut reader = reader_with(&bytes[..5]);
        assert!(matches!(reader.next(), Ok(None)));
        reader.buffer().extend_from_slice(&bytes[5..]);
        assert!(matches!(reader.next(), Ok(Some(Incoming::Text(_)))));
    }

    #[test]
    fn breaches_of_the_protocol_close_with_the_code_they_call_for() {
        let cases: [(Vec<u8>, u16); 5] = [
            (client_frame(0x81, &[0xff, 0xfe]), close::INVALID_PAYLOAD),
            (client_frame(0xC1, b"compressed?"), close::PROTOCOL_ERROR),
            (vec![0x81, 0x02, b'h', b'i'], close::PROTOCOL_ERROR),
            (client_frame(0x81, &[b'x'; 2000]), close::TOO_BIG),
            (client_frame(0x80, b"no start"), close::PROTOCOL_ERROR),
        ];
        for (bytes, code) in cases {
            let mut reader = reader_with(&bytes);
            match reader.next() {
                Err(closed) => assert_eq!(closed.code, code, "{bytes:?}"),
                other => panic!("expected close {code}, got {other:?}"),
            }
        }
        let mut pieces = client_frame(0x01, &[b'a'; 800]);
        pieces.extend(client_frame(0x80, &[b'b'; 800]));
        assert!(matches!(reader_with(&pieces).next(), Err(Close { code: close::TOO_BIG, .. })));
    }

    #[test]
    fn a_close_carries_the_clients_code() {
        let mut reader = reader_with(&client_frame(0x88, &1000u16.to_be_bytes()));
        assert!(matches!(reader.next(), Ok(Some(Incoming::Close(Some(1000))))));
        let mut reader = reader_with(&client_frame(0x88, &[]));
        assert!(matches!(reader.next(), Ok(Some(Incoming::Close(None)))));
    }
}

//! Reading a client's WebSocket frames (RFC 6455 §5): headers, masks, lengths, control frames,
//! fragmented messages put back together, text checked to be UTF-8, and every breach of the protocol
//! turned into the close it calls for. Frames are unmasked in place in the buffer they were read
//! into and handed on as borrowed text, so a request costs no allocation here; only the end of a
//! frame that has not fully arrived (and a fragmented message) is kept between reads. Writing is
//! `hub::frame`'s: the server's frames are built once and written as they are.

use crate::service::Close;
use makeroom_protocol::close;

/// One whole message from the client.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Incoming<'a> {
    Text(&'a str),
    Binary,
    Ping(&'a [u8]),
    Pong,
    /// The client closes, with its close code if it gave one.
    Close(Option<u16>),
}

/// What the handler of a message says: read on, or stop here (the rest waits for the next call).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    More,
    Pause,
    Stop,
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A fragmented message being put back together.
struct Partial {
    text: bool,
    data: Vec<u8>,
}

pub(super) struct FrameReader {
    /// Bytes of a frame (or frames) read but not handled yet.
    unread: Vec<u8>,
    partial: Option<Partial>,
    max_message: usize,
}

/// A frame's header, once it has all arrived.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Where the payload starts, and its length.
    start: usize,
    length: usize,
}

fn protocol_error(reason: &'static str) -> Close {
    Close::new(close::PROTOCOL_ERROR, reason)
}

impl FrameReader {
    /// `already_read` is what the HTTP server read past the upgrade request.
    pub fn new(already_read: &[u8], max_message: usize) -> Self {
        FrameReader { unread: already_read.to_vec(), partial: None, max_message }
    }

    /// Whether bytes are waiting from an earlier read.
    pub fn has_unread(&self) -> bool {
        !self.unread.is_empty()
    }

    /// Adds bytes just read behind those waiting from earlier reads (`handle_unread` then handles
    /// them together).
    pub fn add_unread(&mut self, bytes: &[u8]) {
        self.unread.extend_from_slice(bytes);
    }

    /// Handles what is waiting from earlier reads.
    pub fn handle_unread(&mut self, handle: impl FnMut(Incoming<'_>) -> Next) -> Result<Next, Close> {
        let mut unread = std::mem::take(&mut self.unread);
        let (used, next) = self.handle(&mut unread, handle)?;
        unread.drain(..used);
        // An idle connection keeps no buffer.
        self.unread = if unread.is_empty() { Vec::new() } else { unread };
        Ok(next)
    }

    /// Handles bytes just read into the caller's scratch space, when nothing was waiting before
    /// them (the usual case: no copy); keeps what is left for the next read.
    pub fn handle_read(&mut self, scratch: &mut [u8], handle: impl FnMut(Incoming<'_>) -> Next) -> Result<Next, Close> {
        let (used, next) = self.handle(scratch, handle)?;
        self.unread.extend_from_slice(&scratch[used..]);
        Ok(next)
    }

    /// Handles every whole frame at the front of `bytes`; returns how many bytes were used.
    fn handle(
        &mut self,
        bytes: &mut [u8],
        mut handle: impl FnMut(Incoming<'_>) -> Next,
    ) -> Result<(usize, Next), Close> {
        let mut used = 0;
        loop {
            let Some(header) = self.header(&bytes[used..])? else { return Ok((used, Next::More)) };
            let end = header.start + header.length;
            if bytes.len() - used < end {
                return Ok((used, Next::More));
            }
            let frame = &mut bytes[used..used + end];
            let payload = &mut frame[header.start..];
            for (index, byte) in payload.iter_mut().enumerate() {
                *byte ^= header.mask[index % 4];
            }
            used += end;
            let next = self.message(header.fin, header.opcode, payload, &mut handle)?;
            if next != Next::More {
                return Ok((used, next));
            }
        }
    }

    /// Reads a frame header if it has all arrived, checking what can be checked before the payload.
    fn header(&self, bytes: &[u8]) -> Result<Option<Header>, Close> {
        let [first, second, ..] = *bytes else { return Ok(None) };
        // No extension was agreed, so the reserved bits must be clear.
        if first & 0x70 != 0 {
            return Err(protocol_error("reserved bits set; no extension was agreed"));
        }
        let (fin, opcode) = (first & 0x80 != 0, first & 0x0F);
        if !matches!(opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG) {
            return Err(protocol_error("WebSocket protocol error"));
        }
        if second & 0x80 == 0 {
            return Err(protocol_error("WebSocket protocol error"));
        }
        let (length, mut start) = match second & 0x7F {
            126 => match bytes.get(2..4) {
                Some(length) => (u64::from(u16::from_be_bytes([length[0], length[1]])), 4),
                None => return Ok(None),
            },
            127 => match bytes.get(2..10).and_then(|length| <[u8; 8]>::try_from(length).ok()) {
                Some(length) => (u64::from_be_bytes(length), 10),
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        if opcode >= OP_CLOSE && (!fin || length > 125) {
            return Err(protocol_error("WebSocket protocol error"));
        }
        if length > self.max_message as u64 {
            return Err(Close::new(close::TOO_BIG, "frame over the size limit"));
        }
        let Some(mask) = bytes.get(start..start + 4).and_then(|mask| <[u8; 4]>::try_from(mask).ok()) else {
            return Ok(None);
        };
        start += 4;
        Ok(Some(Header { fin, opcode, mask, start, length: length as usize }))
    }

    fn message(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: &[u8],
        handle: &mut impl FnMut(Incoming<'_>) -> Next,
    ) -> Result<Next, Close> {
        match opcode {
            OP_PING => Ok(handle(Incoming::Ping(payload))),
            OP_PONG => Ok(handle(Incoming::Pong)),
            OP_CLOSE => Ok(handle(Incoming::Close(close_code(payload)?))),
            OP_TEXT | OP_BINARY if self.partial.is_some() => {
                Err(protocol_error("a new message began before the fragmented one ended"))
            }
            OP_TEXT | OP_BINARY if fin => whole(opcode == OP_TEXT, payload, handle),
            OP_TEXT | OP_BINARY => {
                self.partial = Some(Partial { text: opcode == OP_TEXT, data: payload.to_vec() });
                Ok(Next::More)
            }
            _ => {
                let partial = self.partial.as_mut().ok_or(protocol_error("a continuation without a first frame"))?;
                if partial.data.len() + payload.len() > self.max_message {
                    return Err(Close::new(close::TOO_BIG, "message over the size limit"));
                }
                partial.data.extend_from_slice(payload);
                if !fin {
                    return Ok(Next::More);
                }
                let Some(Partial { text, data }) = self.partial.take() else { return Ok(Next::More) };
                whole(text, &data, handle)
            }
        }
    }
}

fn whole(text: bool, data: &[u8], handle: &mut impl FnMut(Incoming<'_>) -> Next) -> Result<Next, Close> {
    if !text {
        return Ok(handle(Incoming::Binary));
    }
    let text =
        std::str::from_utf8(data).map_err(|_| Close::new(close::INVALID_PAYLOAD, "text frames must be UTF-8"))?;
    Ok(handle(Incoming::Text(text)))
}

/// A close frame's code (RFC 6455 §7.4): absent, or one a peer may send, with a UTF-8 reason.
fn close_code(payload: &[u8]) -> Result<Option<u16>, Close> {
    match payload {
        [] => Ok(None),
        [_] => Err(protocol_error("WebSocket protocol error")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !allowed {
                return Err(protocol_error("WebSocket protocol error"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(Close::new(close::INVALID_PAYLOAD, "text frames must be UTF-8"));
            }
            Ok(Some(code))
        }
    }
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

    /// Everything `bytes` holds, as owned messages; `Err` if the reader closes.
    fn read_all(reader: &mut FrameReader, bytes: &[u8]) -> Result<Vec<String>, Close> {
        let mut scratch = bytes.to_vec();
        let mut seen = Vec::new();
        reader.handle_read(&mut scratch, |message| {
            seen.push(match message {
                Incoming::Text(text) => format!("text {text}"),
                Incoming::Binary => "binary".into(),
                Incoming::Ping(payload) => format!("ping {}", String::from_utf8_lossy(payload)),
                Incoming::Pong => "pong".into(),
                Incoming::Close(code) => format!("close {code:?}"),
            });
            Next::More
        })?;
        Ok(seen)
    }

    #[test]
    fn fragments_are_put_back_together_around_control_frames() {
        let mut bytes = client_frame(0x01, b"{\"id\":");
        bytes.extend(client_frame(0x89, b"hi"));
        bytes.extend(client_frame(0x00, b"1,"));
        bytes.extend(client_frame(0x80, b"\"op\":\"time\"}"));
        let seen = read_all(&mut FrameReader::new(&[], 1024), &bytes).expect("valid");
        assert_eq!(seen, ["ping hi", r#"text {"id":1,"op":"time"}"#]);
    }

    #[test]
    fn a_frame_arriving_in_pieces_waits_for_the_rest_whatever_its_length_form() {
        for length in [20usize, 300, 70_000] {
            let text = format!("{{\"pad\":\"{}\"}}", "x".repeat(length));
            let bytes = client_frame(0x81, text.as_bytes());
            for cut in [1, 3, 9, bytes.len() - 1] {
                let mut reader = FrameReader::new(&[], 1 << 20);
                assert!(read_all(&mut reader, &bytes[..cut]).expect("so far valid").is_empty());
                assert!(reader.has_unread());
                reader.add_unread(&bytes[cut..]);
                let mut seen = Vec::new();
                reader
                    .handle_unread(|message| {
                        seen.push(matches!(message, Incoming::Text(t) if t == text));
                        Next::More
                    })
                    .expect("valid");
                assert_eq!(seen, [true], "length {length}, cut at {cut}");
                assert!(!reader.has_unread());
            }
        }
    }

    #[test]
    fn a_pause_keeps_the_rest_for_later() {
        let mut bytes = client_frame(0x81, b"one");
        bytes.extend(client_frame(0x81, b"two"));
        let mut reader = FrameReader::new(&[], 1024);
        let mut scratch = bytes.clone();
        let mut seen = Vec::new();
        let next = reader
            .handle_read(&mut scratch, |message| {
                seen.push(format!("{message:?}"));
                Next::Pause
            })
            .expect("valid");
        assert_eq!((next, seen.len()), (Next::Pause, 1));
        assert!(reader.has_unread());
        let mut later = Vec::new();
        reader
            .handle_unread(|message| {
                later.push(format!("{message:?}"));
                Next::More
            })
            .expect("valid");
        assert_eq!(later, [r#"Text("two")"#]);
        assert!(!reader.has_unread());
    }

    #[test]
    fn breaches_of_the_protocol_close_with_the_code_they_call_for() {
        let mut interleaved = client_frame(0x01, b"a");
        interleaved.extend(client_frame(0x81, b"b"));
        let cases: [(Vec<u8>, u16); 10] = [
            (client_frame(0x81, &[0xff, 0xfe]), close::INVALID_PAYLOAD),
            (client_frame(0xC1, b"compressed?"), close::PROTOCOL_ERROR),
            (vec![0x81, 0x02, b'h', b'i'], close::PROTOCOL_ERROR),
            (client_frame(0x81, &[b'x'; 2000]), close::TOO_BIG),
            (client_frame(0x80, b"no start"), close::PROTOCOL_ERROR),
            (client_frame(0x83, b"opcode 3"), close::PROTOCOL_ERROR),
            (client_frame(0x09, b"unfinished ping"), close::PROTOCOL_ERROR),
            (client_frame(0x89, &[b'p'; 126]), close::PROTOCOL_ERROR),
            (client_frame(0x88, &[0x03, 0xED]), close::PROTOCOL_ERROR),
            (interleaved, close::PROTOCOL_ERROR),
        ];
        for (bytes, code) in cases {
            match read_all(&mut FrameReader::new(&[], 1024), &bytes) {
                Err(closed) => assert_eq!(closed.code, code, "{bytes:?}"),
                Ok(seen) => panic!("expected close {code}, got {seen:?}"),
            }
        }
        let mut pieces = client_frame(0x01, &[b'a'; 800]);
        pieces.extend(client_frame(0x80, &[b'b'; 800]));
        assert!(matches!(read_all(&mut FrameReader::new(&[], 1024), &pieces), Err(Close { code: close::TOO_BIG, .. })));
        // The size limit is known from the header alone, before the payload arrives.
        let announced = client_frame(0x82, &vec![0u8; 70_000]);
        let header_only = &announced[..14];
        assert!(matches!(
            read_all(&mut FrameReader::new(&[], 1024), header_only),
            Err(Close { code: close::TOO_BIG, .. })
        ));
    }

    #[test]
    fn a_close_carries_the_clients_code() {
        let mut reader = FrameReader::new(&[], 1024);
        assert_eq!(
            read_all(&mut reader, &client_frame(0x88, &1000u16.to_be_bytes())).expect("valid"),
            ["close Some(1000)"]
        );
        assert_eq!(read_all(&mut reader, &client_frame(0x88, &[])).expect("valid"), ["close None"]);
    }

    #[test]
    fn what_the_http_server_read_past_the_upgrade_is_not_lost() {
        let hello = client_frame(0x81, br#"{"id":1,"op":"time"}"#);
        let mut reader = FrameReader::new(&hello, 1024);
        let mut seen = 0;
        reader
            .handle_unread(|message| {
                seen += usize::from(matches!(message, Incoming::Text(_)));
                Next::More
            })
            .expect("valid");
        assert_eq!(seen, 1);
    }
}

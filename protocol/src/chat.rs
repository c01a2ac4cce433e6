//! The message channels' (`lobby`, `team:{id}`) payload: what `publish` carries as `data` and a
//! `pub` delivers (PROTOCOL.md §3, "`publish`").
//!
//! Data only. How long a text may be is the server's rule.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A chat message: a JSON object with a non-blank `text`. The server stores the object exactly as
/// sent, so other fields (a client's own id for the message, a reply-to) reach every receiver
/// untouched; this type names only the field the server checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage<'a> {
    /// Borrowed from the frame when it holds no escapes, so checking a message copies nothing.
    #[serde(borrow)]
    pub text: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_read_from_its_text_and_keeps_nothing_else() {
        let message: ChatMessage =
            serde_json::from_str(r#"{"text":"Lunch is here","client_id":"x1"}"#).expect("parses");
        assert!(matches!(message.text, Cow::Borrowed("Lunch is here")));
        let escaped: ChatMessage = serde_json::from_str(r#"{"text":"Tea\nin the hall"}"#).expect("parses");
        assert_eq!(escaped.text, "Tea\nin the hall");
        assert_eq!(serde_json::to_string(&escaped).expect("json"), r#"{"text":"Tea\nin the hall"}"#);
    }
}

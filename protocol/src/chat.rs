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
    use crate::documented;
    use serde_json::Value;

    #[test]
    fn every_documented_chat_message_is_read_from_its_text() {
        let mut count = 0;
        for text in documented::everywhere() {
            let Ok(frame) = serde_json::from_str::<Value>(text) else { continue };
            let on_chat = frame["channel"].as_str().is_some_and(|c| c == "lobby" || c.starts_with("team:"));
            let carries_data = frame["op"] == "publish" || frame["type"] == "pub";
            if !(on_chat && carries_data) {
                continue;
            }
            let data = serde_json::to_string(&frame["data"]).unwrap_or_default();
            let message: ChatMessage = serde_json::from_str(&data).unwrap_or_else(|err| panic!("{err}: {text}"));
            assert!(!message.text.trim().is_empty(), "{text}");
            count += 1;
        }
        assert!(count >= 3, "only {count} chat messages found in PROTOCOL.md");
    }

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

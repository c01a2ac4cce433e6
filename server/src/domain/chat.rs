//! What a chat or announcement message may hold. The server stores the client's JSON as sent once it
//! passes these rules, so every receiver sees byte-for-byte what was checked.

use super::DomainError;
pub use makeroom_protocol::chat::ChatMessage;

pub const MAX_TEXT_CHARS: usize = 2000;

/// A chat message is a JSON object with a non-blank `text` of at most 2000 characters (other fields,
/// such as a client's local id or a reply-to, are kept as sent).
pub fn check_message(data: &str) -> Result<(), DomainError> {
    // serde would also fill the struct from an array (`["hi"]`); only an object is a message.
    if !data.trim_start().starts_with('{') {
        return Err(DomainError::Invalid("a message is an object with a `text` string".into()));
    }
    let message: ChatMessage = serde_json::from_str(data)
        .map_err(|_| DomainError::Invalid("a message is an object with a `text` string".into()))?;
    let text = message.text.trim();
    if text.is_empty() {
        return Err(DomainError::Invalid("a message needs some text".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(DomainError::Invalid(format!("a message holds at most {MAX_TEXT_CHARS} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_required_non_blank_and_bounded() {
        assert!(check_message(r#"{"text":"Lunch is here"}"#).is_ok());
        assert!(check_message(r#"{"text":"hi","client_id":"x1"}"#).is_ok());
        assert!(check_message(r#"{"text":"   "}"#).is_err());
        assert!(check_message(r#"{"body":"hi"}"#).is_err());
        assert!(check_message(r#""just a string""#).is_err());
        assert!(check_message(r#"["hi"]"#).is_err());
        let long = format!(r#"{{"text":"{}"}}"#, "a".repeat(MAX_TEXT_CHARS + 1));
        assert!(check_message(&long).is_err());
    }
}

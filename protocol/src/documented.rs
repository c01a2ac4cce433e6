//! Test support: the JSON examples of PROTOCOL.md §8, read from the document itself, so that the
//! document and these types cannot drift apart. The document's examples are the contract.

use crate::{ChannelKind, ClientFrame, Publication, Request, parse_client_frame};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeSet;

const PROTOCOL_MD: &str = include_str!("../PROTOCOL.md");

/// The text of the §8 subsection headed "### `{channel}`: …".
pub fn section(channel: &str) -> &'static str {
    let state = PROTOCOL_MD.split("\n## 8. ").nth(1).and_then(|rest| rest.split("\n## 9. ").next());
    let state = state.unwrap_or_else(|| panic!("PROTOCOL.md has no section 8"));
    let heading = format!("### `{channel}`:");
    let start = state.find(&heading).unwrap_or_else(|| panic!("PROTOCOL.md §8 has no `{channel}` subsection"));
    let rest = &state[start + heading.len()..];
    &rest[..rest.find("\n### ").unwrap_or(rest.len())]
}

/// Every JSON value in the section's ```json blocks (a block may hold several, one after another),
/// as written. §8 holds JSON only, so anything else there is a broken example.
fn examples(section: &str) -> Vec<&str> {
    json_blocks(section)
        .flat_map(|block| {
            serde_json::Deserializer::from_str(block).into_iter::<&RawValue>().map(move |value| match value {
                Ok(value) => value.get(),
                Err(err) => panic!("PROTOCOL.md holds broken JSON ({err}):\n{block}"),
            })
        })
        .collect()
}

fn json_blocks(text: &str) -> impl Iterator<Item = &str> {
    text.split("```json\n").skip(1).map(|block| block.split("\n```").next().unwrap_or_default())
}

/// JSON text without the whitespace between tokens, as the server writes it.
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

fn field<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// Every command frame in the section parses, is a command of `kind` sent on a `kind` channel, and
/// serializes back to the same JSON; and every type in `types` has at least one example.
pub fn check_commands(section: &str, kind: ChannelKind, types: &[&str]) {
    let mut seen = BTreeSet::new();
    for text in examples(section) {
        let value: Value = serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"));
        if field(&value, "op") != Some("command") {
            continue;
        }
        let frame = parse_client_frame(text).unwrap_or_else(|err| panic!("{}: {text}", err.error.message));
        let Request::Command(command) = &frame.request else { panic!("not a command: {text}") };
        assert_eq!(command.command.channel_kind(), kind, "{text}");
        let named = kind.channel_name();
        let on_its_channel = match named.strip_suffix("{id}") {
            Some(prefix) => command.channel.starts_with(prefix),
            None => command.channel == named,
        };
        assert!(on_its_channel, "sent on `{}`, not `{named}`: {text}", command.channel);
        assert_eq!(field(&value["command"], "type"), Some(command.command.type_name()), "{text}");
        let back: Value = serde_json::to_value(&frame).unwrap_or_else(|err| panic!("{err}: {text}"));
        assert_eq!(back, value, "a documented command must serialize back to itself (defaults left out)");
        seen.insert(command.command.type_name());
    }
    let missing: Vec<&&str> = types.iter().filter(|t| !seen.contains(**t)).collect();
    assert!(missing.is_empty(), "PROTOCOL.md shows no example of {missing:?}");
}

/// Every event in the section whose `type` is one of `types` (bare, or as a `pub`'s `data`) parses as
/// `E` and serializes back to exactly the bytes shown, once whitespace is taken out; and every type
/// in `types` has an example.
pub fn check_events<E: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(section: &str, types: &[&str]) {
    let mut seen = BTreeSet::new();
    for text in examples(section) {
        let value: Value = serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"));
        let event_text = if field(&value, "type") == Some("pub") {
            let publication: Publication = serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"));
            publication.data.get().to_string()
        } else {
            text.to_string()
        };
        let event_value: Value = serde_json::from_str(&event_text).unwrap_or_else(|err| panic!("{err}: {text}"));
        let Some(name) = field(&event_value, "type").filter(|name| types.contains(name)) else { continue };
        let event: E = serde_json::from_str(&event_text).unwrap_or_else(|err| panic!("{err}: {event_text}"));
        let written = serde_json::to_string(&event).unwrap_or_else(|err| panic!("{err}: {event_text}"));
        assert_eq!(written, compact(&event_text), "the server writes this event otherwise than documented");
        let back: E = serde_json::from_str(&written).unwrap_or_else(|err| panic!("{err}: {written}"));
        assert_eq!(back, event);
        seen.insert(name.to_string());
    }
    let missing: Vec<&&str> = types.iter().filter(|t| !seen.contains(**t)).collect();
    assert!(missing.is_empty(), "PROTOCOL.md shows no example of {missing:?}");
}

#[test]
fn whitespace_between_tokens_goes_and_whitespace_in_strings_stays() {
    assert_eq!(compact("{\"a\": \"b c\",\n \"d\\\" e\": [1, 2]}"), "{\"a\":\"b c\",\"d\\\" e\":[1,2]}");
}

/// Every JSON value anywhere in the document, as written. Outside §8 some blocks are HTTP exchanges
/// rather than bare JSON; only the JSON values at the start of a block count there.
pub fn everywhere() -> Vec<&'static str> {
    json_blocks(PROTOCOL_MD)
        .flat_map(|block| {
            serde_json::Deserializer::from_str(block).into_iter::<&RawValue>().map_while(Result::ok).map(RawValue::get)
        })
        .collect()
}

/// Any command frame anywhere in the document parses, on the kind of channel it belongs to.
#[test]
fn every_documented_command_frame_parses_and_names_its_own_channel() {
    let mut count = 0;
    for text in everywhere() {
        let Ok(value) = serde_json::from_str::<Value>(text) else { continue };
        if field(&value, "op") != Some("command") {
            continue;
        }
        let frame: ClientFrame = parse_client_frame(text).unwrap_or_else(|err| panic!("{}: {text}", err.error.message));
        let Request::Command(command) = frame.request else { panic!("not a command: {text}") };
        let named = command.command.channel_kind().channel_name();
        let prefix = named.strip_suffix("{id}").unwrap_or(named);
        assert!(command.channel.starts_with(prefix), "`{}` sent on `{}`", command.command.type_name(), command.channel);
        count += 1;
    }
    assert!(count > 40, "only {count} command examples found");
}

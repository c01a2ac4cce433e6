//! How deeply a client frame nests objects and arrays, found with one byte scan before anything parses
//! it recursively. A `publish` carries its `data` untouched to every subscriber, so a message nested
//! thousands deep would be stored and then break every recursive JSON parser that receives it.

/// The deepest nesting of objects and arrays a client frame may have, counting the frame's own object:
/// `{"data": {"a": [1]}}` nests 3 deep.
pub const MAX_NESTING: usize = 32;

/// Whether `text` nests objects and arrays deeper than `limit`. Brackets inside strings do not count;
/// text that is not JSON at all is left for the parser to refuse.
pub fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn counts_objects_and_arrays_but_not_brackets_in_strings() {
        assert!(!nests_deeper_than(r#"{"data": {"a": [1]}}"#, 3));
        assert!(nests_deeper_than(r#"{"data": {"a": [1]}}"#, 2));
        assert!(!nests_deeper_than(r#"{"text": "[[[[{{{{"}"#, 1), "brackets in a string are text");
        assert!(!nests_deeper_than(r#"{"text": "a \" [[[[ \\"}"#, 1), "escaped quotes do not end the string");
        assert!(nests_deeper_than(r#"{"text": "\\", "x": [[1]]}"#, 2), "an escaped backslash ends its escape");
        assert!(!nests_deeper_than(&nested(MAX_NESTING), MAX_NESTING));
        assert!(nests_deeper_than(&nested(MAX_NESTING + 1), MAX_NESTING));
        assert!(nests_deeper_than(&"[".repeat(100_000), MAX_NESTING), "unclosed brackets count too");
        assert!(!nests_deeper_than("]]]]}}}} not json", 1), "garbage is the parser's to refuse");
    }
}

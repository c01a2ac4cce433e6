//! The export's Markdown, as HTML: the same small part of Markdown the pages render (web-client's
//! `renderMarkdown`: headings, lists, paragraphs, quotes, code blocks, rules; **strong**, *emphasis*,
//! `code` and links), so a brief reads in the archive as it read in the room. Safe by construction:
//! every piece of text is escaped, raw HTML shows as text, and only `http(s)` and `mailto` links
//! become links.

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn safe_link(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://") || url.starts_with("mailto:"))
        && !url.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// `text` rendered as HTML; its headings start at `h{heading_base}` (as `##` in a brief).
pub fn to_html(text: &str, heading_base: usize) -> String {
    let mut out = String::new();
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalised.split('\n').collect();
    let mut paragraph: Vec<&str> = Vec::new();
    // The open list ("ul" or "ol") or quote, closed by whatever comes next that is not part of it.
    let mut open: Option<&'static str> = None;
    let flush = |out: &mut String, paragraph: &mut Vec<&str>| {
        if !paragraph.is_empty() {
            out.push_str(&format!("<p>{}</p>\n", inline(&paragraph.join(" "))));
            paragraph.clear();
        }
    };
    let close = |out: &mut String, open: &mut Option<&'static str>| {
        if let Some(tag) = open.take() {
            out.push_str(&format!("</{tag}>\n"));
        }
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        let shallow = indent <= 3;
        if body.is_empty() {
            flush(&mut out, &mut paragraph);
            close(&mut out, &mut open);
        } else if shallow && (body.starts_with("```") || body.starts_with("~~~")) {
            flush(&mut out, &mut paragraph);
            close(&mut out, &mut open);
            let fence = &body[..3];
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim().starts_with(fence) {
                code.push(lines[i]);
                i += 1;
            }
            out.push_str(&format!("<pre><code>{}</code></pre>\n", escape(&code.join("\n"))));
        } else if let Some((level, title)) = heading(body).filter(|_| shallow) {
            flush(&mut out, &mut paragraph);
            close(&mut out, &mut open);
            let level = (heading_base + level.saturating_sub(2)).min(6);
            out.push_str(&format!("<h{level}>{}</h{level}>\n", inline(title)));
        } else if let Some((ordered, item)) = list_item(body).filter(|_| shallow) {
            flush(&mut out, &mut paragraph);
            let tag = if ordered { "ol" } else { "ul" };
            if open != Some(tag) {
                close(&mut out, &mut open);
                out.push_str(&format!("<{tag}>\n"));
                open = Some(tag);
            }
            out.push_str(&format!("<li>{}</li>\n", inline(item)));
        } else if let Some(quoted) = body.strip_prefix('>').filter(|_| shallow) {
            flush(&mut out, &mut paragraph);
            if open != Some("blockquote") {
                close(&mut out, &mut open);
                out.push_str("<blockquote>\n");
                open = Some("blockquote");
            }
            out.push_str(&format!("<p>{}</p>\n", inline(quoted.strip_prefix(' ').unwrap_or(quoted))));
        } else if shallow && is_rule(body) {
            flush(&mut out, &mut paragraph);
            close(&mut out, &mut open);
            out.push_str("<hr>\n");
        } else if matches!(open, Some("ul" | "ol")) && indent >= 2 {
            // A continuation line of the last list item.
            if out.ends_with("</li>\n") {
                out.truncate(out.len() - "</li>\n".len());
                out.push_str(&format!(" {}</li>\n", inline(body.trim_end())));
            }
        } else {
            close(&mut out, &mut open);
            paragraph.push(line.trim());
        }
        i += 1;
    }
    flush(&mut out, &mut paragraph);
    close(&mut out, &mut open);
    out
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    let rest = &line[level..];
    if !(1..=6).contains(&level) || !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim_end()))
}

fn list_item(line: &str) -> Option<(bool, &str)> {
    if let Some(rest) = line.strip_prefix(['-', '*', '+']) {
        return rest.starts_with([' ', '\t']).then(|| (false, rest.trim()));
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &line[digits..];
    if (1..=9).contains(&digits)
        && let Some(rest) = rest.strip_prefix(['.', ')'])
        && rest.starts_with([' ', '\t'])
    {
        return Some((true, rest.trim()));
    }
    None
}

fn is_rule(line: &str) -> bool {
    let marks: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    marks.len() >= 3 && ['-', '*', '_'].iter().any(|m| marks.iter().all(|c| c == m))
}

/// Inline Markdown: `code`, **strong** / __strong__, *em* / _em_, [text](link).
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    let mut previous: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        if let Some((html, after)) = span(rest, previous) {
            out.push_str(&html);
            previous = rest[..rest.len() - after.len()].chars().last();
            rest = after;
            continue;
        }
        out.push_str(&escape(&c.to_string()));
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The inline span that starts `text`, as HTML, and what follows it.
fn span(text: &str, previous: Option<char>) -> Option<(String, &str)> {
    if let Some(after) = text.strip_prefix('`') {
        let end = after.find('`').filter(|end| *end > 0)?;
        return Some((format!("<code>{}</code>", escape(&after[..end])), &after[end + 1..]));
    }
    for strong in ["**", "__"] {
        if let Some(after) = text.strip_prefix(strong)
            && let Some(end) = after.find(strong).filter(|end| *end > 0)
        {
            return Some((format!("<strong>{}</strong>", inline(&after[..end])), &after[end + 2..]));
        }
    }
    if let Some(after) = text.strip_prefix('*')
        && !after.starts_with(char::is_whitespace)
        && let Some(end) = after.find('*').filter(|end| *end > 0)
    {
        return Some((format!("<em>{}</em>", inline(&after[..end])), &after[end + 1..]));
    }
    if let Some(after) = text.strip_prefix('_')
        && !previous.is_some_and(char::is_alphanumeric)
        && !after.starts_with(char::is_whitespace)
        && let Some(end) = after.find('_').filter(|end| *end > 0)
        && !after[end + 1..].starts_with(char::is_alphanumeric)
    {
        return Some((format!("<em>{}</em>", inline(&after[..end])), &after[end + 1..]));
    }
    if let Some(after) = text.strip_prefix('[') {
        let close = after.find("](")?;
        let label = &after[..close];
        let target = &after[close + 2..];
        let end = target.find(')')?;
        let url = target[..end].trim();
        if label.is_empty() || label.contains(']') || !safe_link(url) {
            return None;
        }
        return Some((
            format!("<a href=\"{}\" rel=\"noopener noreferrer nofollow\">{}</a>", escape(url), inline(label)),
            &target[end + 1..],
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brief_renders_as_it_does_in_the_room() {
        let html = to_html(
            "## The challenge\nResidents *should* shape it.\nTogether.\n\n- **Talk** to `people`\n- [Visit](https://lambeth.example.org)\n  again\n\n1. First\n\n> Said aloud\n\n---\n```\n<b>kept</b>\n```",
            3,
        );
        assert_eq!(
            html,
            "<h3>The challenge</h3>\n<p>Residents <em>should</em> shape it. Together.</p>\n<ul>\n\
             <li><strong>Talk</strong> to <code>people</code></li>\n\
             <li><a href=\"https://lambeth.example.org\" rel=\"noopener noreferrer nofollow\">Visit</a> again</li>\n</ul>\n\
             <ol>\n<li>First</li>\n</ol>\n<blockquote>\n<p>Said aloud</p>\n</blockquote>\n<hr>\n\
             <pre><code>&lt;b&gt;kept&lt;/b&gt;</code></pre>\n"
        );
    }

    #[test]
    fn raw_html_and_unsafe_links_stay_text() {
        let html = to_html(
            "<script>alert(1)</script> [x](javascript:alert(1)) [m](mailto:a@b.org) snake_case_name \"q\" <img src=x onerror=y>",
            3,
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("[x](javascript:alert(1))"), "{html}");
        assert!(html.contains("<a href=\"mailto:a@b.org\""), "{html}");
        assert!(html.contains("snake_case_name"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
    }
}

//! HTML outputs as readable text (the `html2text` crate), within bounds of time: the HTML comes
//! from the session's code, and parsing is quadratic in how deeply elements nest.

/// HTML longer than this many bytes is cut before it is converted: the text form is bounded
/// anyway, and converting megabytes of markup only to drop most of it costs time.
const INPUT_BYTES: usize = 256 * 1024;

/// Elements open at once beyond this depth end the input. Real documents (a DataFrame's table
/// is six deep) stay far below it; 20,000 nested `<div>`s took a minute to parse.
const MAX_DEPTH: usize = 256;

/// Width HTML is laid out in: wide enough for a table of a dozen short columns.
const WIDTH: usize = 120;

/// Elements that never have content, so never close.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// `html` as text: tags dropped, entities decoded, lists and tables laid out, trailing blanks
/// removed; `None` when it has no text at all, or the converter failed (a failure must not take
/// the caller down).
pub(crate) fn to_text(html: &str) -> Option<String> {
    let input = bounded(html);
    let converted = std::panic::catch_unwind(|| {
        html2text::config::plain_no_decorate()
            .no_table_borders()
            .allow_width_overflow()
            .string_from_read(input.as_bytes(), WIDTH)
    });
    let text = converted.ok()?.ok()?;
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let text = lines.join("\n").trim_matches('\n').to_string();
    (!text.trim().is_empty()).then_some(text)
}

/// The prefix of `html` that is at most [`INPUT_BYTES`] long and nests at most [`MAX_DEPTH`]
/// deep, by a scan of its tags (script and style content skipped, which may hold `<`).
fn bounded(html: &str) -> &str {
    let html = &html[..floor_char_boundary(html, INPUT_BYTES)];
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        let at = i + off;
        i = at + 1;
        match bytes.get(i) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(c) if c.is_ascii_alphabetic() => {
                let name_len = html[i..]
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(html.len() - i);
                let name = html[i..i + name_len].to_ascii_lowercase();
                let end = html[i..].find('>').map_or(html.len(), |e| i + e);
                if VOID.contains(&name.as_str()) || html[..end].ends_with('/') {
                    continue;
                }
                if name == "script" || name == "style" {
                    let close = format!("</{name}");
                    let rest = html[end..].to_ascii_lowercase();
                    i = rest
                        .find(&close)
                        .map_or(html.len(), |c| end + c + close.len());
                    continue;
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return &html[..at];
                }
            }
            _ => {}
        }
    }
    html
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_cut_and_ordinary_markup_is_not() {
        let deep = "<div>".repeat(1000) + "deep" + &"</div>".repeat(1000);
        assert_eq!(bounded(&deep).len(), "<div>".len() * MAX_DEPTH);
        let flat: String = (0..2000)
            .map(|i| format!("<p>a<br>b<img src=x/><b>{i}</b></p>"))
            .collect();
        assert_eq!(bounded(&flat), flat);
        // `<` inside scripts is no tag; what follows the script is kept.
        let script = format!(
            "<script>{}</script><p>after</p>",
            "if (a<b) {}".repeat(1000)
        );
        assert_eq!(bounded(&script), script);
        assert_eq!(to_text(&script).as_deref(), Some("after"));
        let long = "é".repeat(INPUT_BYTES);
        assert_eq!(bounded(&long).len(), INPUT_BYTES);
    }
}

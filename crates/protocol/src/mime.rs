//! Rich values as Jupyter keeps them — a MIME bundle: every representation the object offered,
//! keyed by MIME type — and the one place that chooses the text a model (or the seed API)
//! reads of a bundle.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Metadata of a rich output, keyed by MIME type as in Jupyter (`{"image/png": {"width": 80}}`).
pub type Metadata = serde_json::Map<String, Value>;

/// The representations of one rich value, keyed by MIME type, exactly as in the `data` of a
/// Jupyter `display_data` or `execute_result` message: text types (`text/plain`, `text/html`,
/// `text/markdown`, `text/latex`, `image/svg+xml`, …) as strings, binary types (`image/png`,
/// `image/jpeg`, …) as base64 strings, `application/json` and `*+json` types as JSON values.
///
/// It serializes as that plain JSON object, so `{"text/plain": "42"}` is a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MimeBundle(BTreeMap<String, Value>);

/// An image of a bundle: its MIME type and its data as the bundle holds it (base64 for PNG and
/// JPEG, the document itself for SVG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image<'a> {
    pub mime: &'a str,
    pub data: &'a str,
}

/// What a model reads of one rich output (see [`MimeBundle::text_form`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextForm<'a> {
    /// Text to show as it is, at most the limit given (head and tail around [`TRIMMED`]).
    Text(String),
    /// An image: to be saved as a file and named to the model, never shown as text.
    Image(Image<'a>),
}

/// The image types a bundle's image is taken from, in order of preference.
pub const IMAGE_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/svg+xml"];

/// The most characters of one output's text form shown by [`crate::Output::text`] (the seed
/// API's `result`); the agent passes its own limit.
pub const TEXT_FORM_CHARS: usize = 8_000;

/// Marks a text form shortened to its limit.
pub const TRIMMED: &str = "[... output trimmed ...]";

/// Whether `mime` carries JSON values rather than strings (`application/json`, `*+json`).
pub fn is_json_type(mime: &str) -> bool {
    mime == "application/json" || mime.ends_with("+json")
}

impl MimeBundle {
    pub fn new() -> Self {
        Self::default()
    }

    /// A bundle of only `text/plain`.
    pub fn plain(text: impl Into<String>) -> Self {
        Self::new().with("text/plain", text.into())
    }

    /// The bundle with `mime` set to `value` (a string, or a JSON value for JSON types).
    pub fn with(mut self, mime: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(mime, value);
        self
    }

    /// Sets `mime` to `value`, replacing what it held.
    pub fn insert(&mut self, mime: impl Into<String>, value: impl Into<Value>) {
        self.0.insert(mime.into(), value.into());
    }

    /// The value held for `mime`.
    pub fn get(&self, mime: &str) -> Option<&Value> {
        self.0.get(mime)
    }

    /// The string held for `mime` (text, or base64 for binary types); `None` when absent or
    /// not a string.
    pub fn text(&self, mime: &str) -> Option<&str> {
        self.0.get(mime).and_then(Value::as_str)
    }

    pub fn text_plain(&self) -> Option<&str> {
        self.text("text/plain")
    }

    /// Base64-encoded PNG bytes.
    pub fn image_png(&self) -> Option<&str> {
        self.text("image/png")
    }

    /// The MIME types held, sorted.
    pub fn mime_types(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Every `(MIME type, value)`, sorted by type.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The bundle's image, the first of [`IMAGE_TYPES`] it holds.
    pub fn image(&self) -> Option<Image<'_>> {
        IMAGE_TYPES
            .iter()
            .find_map(|&mime| self.text(mime).map(|data| Image { mime, data }))
    }

    /// Whether `text/plain` says something of the value itself. A one-line `<…>` (Python's
    /// default `<IPython.core.display.HTML object>`, `<Figure size 640x480 with 1 Axes>`,
    /// `<pandas…Styler at 0x7f…>`) only names the type, so it is not, when the bundle offers
    /// anything else.
    fn plain_is_real(&self, plain: &str) -> bool {
        let t = plain.trim();
        let placeholder = t.starts_with('<') && t.ends_with('>') && !t.contains('\n');
        !placeholder || self.len() == 1
    }

    /// The most useful text of the bundle for a reader that cannot render it, in this order:
    ///
    /// 1. `text/plain` when it is a real representation (a DataFrame's text table, a number,
    ///    a sympy expression), not a one-line `<…>` placeholder;
    /// 2. `text/markdown`, then `text/latex`, as their source;
    /// 3. an image (`image/png`, `image/jpeg`, `image/svg+xml`): [`TextForm::Image`];
    /// 4. `text/html` as readable text: tags dropped, entities decoded, tables laid out as rows;
    /// 5. `application/json` or another `*+json` type as compact JSON;
    /// 6. any other `text/*` type (`text/csv`, …) as it is;
    /// 7. the placeholder `text/plain`; else a note naming the types held.
    ///
    /// Text is cut to `limit` characters, keeping head and tail around [`TRIMMED`].
    pub fn text_form(&self, limit: usize) -> TextForm<'_> {
        let plain = self.text_plain();
        if let Some(p) = plain.filter(|p| self.plain_is_real(p)) {
            return TextForm::Text(cap(p, limit));
        }
        for mime in ["text/markdown", "text/latex"] {
            if let Some(t) = self.text(mime) {
                return TextForm::Text(cap(t, limit));
            }
        }
        if let Some(img) = self.image() {
            return TextForm::Image(img);
        }
        if let Some(html) = self.text("text/html") {
            if let Some(t) = crate::html::to_text(html) {
                return TextForm::Text(cap(&t, limit));
            }
        }
        if let Some((_, v)) = self.iter().find(|(m, _)| is_json_type(m)) {
            let json = match v {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            return TextForm::Text(cap(&json, limit));
        }
        let other_text = self.iter().find(|(m, v)| {
            m.starts_with("text/") && !matches!(*m, "text/plain" | "text/html") && v.is_string()
        });
        if let Some((_, Value::String(t))) = other_text {
            return TextForm::Text(cap(t, limit));
        }
        if let Some(p) = plain {
            return TextForm::Text(cap(p, limit));
        }
        let types: Vec<&str> = self.mime_types().collect();
        TextForm::Text(if types.is_empty() {
            String::new()
        } else {
            format!("[output of type {}]", types.join(", "))
        })
    }
}

impl FromIterator<(String, Value)> for MimeBundle {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Image<'_> {
    /// The file extension for the image's type: `png`, `jpg` or `svg`.
    pub fn extension(&self) -> &'static str {
        match self.mime {
            "image/jpeg" => "jpg",
            "image/svg+xml" => "svg",
            _ => "png",
        }
    }

    /// The image file's bytes: base64-decoded, except SVG, which is text already.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        if self.mime == "image/svg+xml" {
            return Ok(self.data.as_bytes().to_vec());
        }
        let compact: String = self
            .data
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| format!("{} data is not base64: {e}", self.mime))
    }
}

/// `text` (without trailing newlines) when it has at most `limit` characters; else its head
/// and tail around [`TRIMMED`]. The one cap of every text form a model reads.
pub fn cap(text: &str, limit: usize) -> String {
    let text = text.trim_end_matches('\n');
    let n = text.chars().count();
    if n <= limit {
        return text.to_string();
    }
    let half = limit / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(n - half).collect();
    format!("{head}\n{TRIMMED}\n{tail}")
}

#[cfg(test)]
#[path = "mime_tests.rs"]
mod tests;

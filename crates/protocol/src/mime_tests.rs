use serde_json::json;

use super::*;
use crate::{ExecResult, ExecStatus, Output};

fn text(b: &MimeBundle) -> String {
    match b.text_form(TEXT_FORM_CHARS) {
        TextForm::Text(t) => t,
        TextForm::Image(img) => panic!("expected text, got an image {}", img.mime),
    }
}

fn bundle(v: serde_json::Value) -> MimeBundle {
    serde_json::from_value(v).unwrap_or_default()
}

#[test]
fn the_bundle_is_the_jupyter_data_object_and_old_json_still_reads() {
    let b = MimeBundle::plain("42").with("image/png", "iVBO");
    let json = serde_json::to_value(&b).unwrap_or_default();
    assert_eq!(json, json!({"text/plain": "42", "image/png": "iVBO"}));
    assert_eq!(b.text_plain(), Some("42"));
    assert_eq!(b.image_png(), Some("iVBO"));
    let out: Output = serde_json::from_value(json!({
        "type": "display", "data": {"text/plain": "x", "application/json": {"a": [1, 2]}}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        Output::display(MimeBundle::plain("x").with("application/json", json!({"a": [1, 2]})))
    );
    // No metadata: no key, as before; with metadata: Jupyter's object.
    assert_eq!(
        serde_json::to_value(&out).unwrap_or_default(),
        json!({"type": "display", "data": {"text/plain": "x", "application/json": {"a": [1, 2]}}})
    );
    let with_md: Output = serde_json::from_value(json!({
        "type": "result", "execution_count": 3, "data": {"image/png": "iVBO"},
        "metadata": {"image/png": {"width": 80}}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        serde_json::to_value(&with_md).unwrap_or_default()["metadata"]["image/png"]["width"],
        80
    );
}

#[test]
fn a_real_text_plain_wins() {
    let table = "   a  b\n0  1  x\n1  2  y";
    let df = MimeBundle::plain(table).with("text/html", "<table><tr><td>1</td></tr></table>");
    assert_eq!(text(&df), table);
    let sympy = MimeBundle::plain("x**2")
        .with("text/latex", "$\\displaystyle x^{2}$")
        .with("image/png", "iVBO");
    assert_eq!(text(&sympy), "x**2");
    // A lone text/plain is shown even when it looks like a placeholder.
    assert_eq!(
        text(&MimeBundle::plain("<object at 0x1>")),
        "<object at 0x1>"
    );
}

#[test]
fn html_without_a_useful_plain_text_becomes_readable_text() {
    let b = MimeBundle::plain("<IPython.core.display.HTML object>").with(
        "text/html",
        "<h3>Report</h3><p>Fish &amp; chips cost &pound;5 &lt;today&gt;</p>\
         <ul><li>one</li><li>two</li></ul><script>alert(1)</script>",
    );
    let t = text(&b);
    assert!(t.contains("Report"), "{t}");
    assert!(t.contains("Fish & chips cost £5 <today>"), "{t}");
    assert!(t.contains("one") && t.contains("two"), "{t}");
    assert!(
        !t.contains("<p>") && !t.contains("&amp;") && !t.contains("alert"),
        "{t}"
    );

    // A table: one line per row, the cells in order.
    let table = bundle(json!({
        "text/plain": "<pandas.io.formats.style.Styler at 0x7f0>",
        "text/html": "<table><thead><tr><th>name</th><th>age</th></tr></thead>\
                      <tbody><tr><td>Ada</td><td>36</td></tr><tr><td>Alan</td><td>41</td></tr></tbody></table>"
    }));
    let t = text(&table);
    let rows: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("Ad") || l.contains("Al"))
        .collect();
    assert_eq!(rows.len(), 2, "{t}");
    assert!(rows[0].contains("Ada") && rows[0].contains("36"), "{t}");
    assert!(rows[1].contains("Alan") && rows[1].contains("41"), "{t}");
    assert!(t.find("name") < t.find("Ada"), "{t}");

    // HTML with no text at all falls back to the placeholder.
    let empty = MimeBundle::plain("<Thing>").with("text/html", "<div><script>x()</script></div>");
    assert_eq!(text(&empty), "<Thing>");
}

#[test]
fn markdown_and_latex_are_their_source_json_is_compact() {
    let md = MimeBundle::plain("<IPython.core.display.Markdown object>")
        .with("text/markdown", "# Title\n\n*bold*\n");
    assert_eq!(text(&md), "# Title\n\n*bold*");
    let tex = MimeBundle::plain("<IPython.core.display.Latex object>")
        .with("text/latex", "$\\frac{1}{2}$");
    assert_eq!(text(&tex), "$\\frac{1}{2}$");
    let js = MimeBundle::plain("<IPython.core.display.JSON object>")
        .with("application/json", json!({"a": [1, 2.5, null], "b": "c"}));
    assert_eq!(text(&js), r#"{"a":[1,2.5,null],"b":"c"}"#);
    let vega = bundle(json!({"application/vnd.vegalite.v5+json": {"mark": "bar"}}));
    assert_eq!(text(&vega), r#"{"mark":"bar"}"#);
    let csv = bundle(json!({"text/csv": "a,b\n1,2\n"}));
    assert_eq!(text(&csv), "a,b\n1,2");
    let unknown = bundle(json!({"application/pdf": "JVBERi0="}));
    assert_eq!(text(&unknown), "[output of type application/pdf]");
    assert_eq!(text(&MimeBundle::new()), "");
}

#[test]
fn images_are_images_whatever_the_placeholder_says() {
    let fig = MimeBundle::plain("<Figure size 640x480 with 1 Axes>").with("image/png", "aGk=");
    let TextForm::Image(img) = fig.text_form(100) else {
        panic!("a figure is an image")
    };
    assert_eq!((img.mime, img.extension()), ("image/png", "png"));
    assert_eq!(img.bytes().as_deref(), Ok(&b"hi"[..]));
    let svg = "<svg xmlns='http://www.w3.org/2000/svg'/>";
    let b =
        bundle(json!({"text/plain": "<IPython.core.display.SVG object>", "image/svg+xml": svg}));
    assert_eq!(
        b.text_form(100),
        TextForm::Image(Image {
            mime: "image/svg+xml",
            data: svg
        })
    );
    let jpeg = bundle(json!({"image/jpeg": "/9j/\n4A==\n"}));
    let TextForm::Image(img) = jpeg.text_form(100) else {
        panic!("a jpeg is an image")
    };
    assert_eq!(img.extension(), "jpg");
    assert_eq!(img.bytes().ok(), Some(vec![0xff, 0xd8, 0xff, 0xe0]));
    assert!(Image {
        mime: "image/png",
        data: "not base64!"
    }
    .bytes()
    .is_err());
    // Markdown source beats the image; an image beats HTML.
    let both = MimeBundle::plain("<X>")
        .with("text/markdown", "**x**")
        .with("image/png", "aGk=");
    assert_eq!(text(&both), "**x**");
    let html_and_png = MimeBundle::plain("<X>")
        .with("text/html", "<b>x</b>")
        .with("image/png", "aGk=");
    assert!(matches!(html_and_png.text_form(100), TextForm::Image(_)));
}

#[test]
fn one_output_adds_at_most_the_limit() {
    let long: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    let TextForm::Text(t) = MimeBundle::plain(long.as_str()).text_form(200) else {
        panic!("text")
    };
    assert!(t.chars().count() <= 200 + TRIMMED.len() + 2, "{}", t.len());
    assert!(t.starts_with("line 0\n") && t.ends_with("line 1999"), "{t}");
    assert!(t.contains(TRIMMED));
    // Huge and deeply nested HTML is converted (cut first), without taking the caller down.
    let rows: String = (0..50_000)
        .map(|i| format!("<tr><td>{i}</td><td>v{i}</td></tr>"))
        .collect();
    let b = MimeBundle::plain("<T>").with("text/html", format!("<table>{rows}</table>"));
    let TextForm::Text(t) = b.text_form(1000) else {
        panic!("text")
    };
    assert!(t.contains(TRIMMED) && t.chars().count() < 1100, "{t}");
    let nested = "<div>".repeat(20_000) + "deep" + &"</div>".repeat(20_000);
    let b = MimeBundle::plain("<T>").with("text/html", nested);
    let TextForm::Text(t) = b.text_form(1000) else {
        panic!("text")
    };
    assert!(t.chars().count() < 1100, "{t}");
}

#[test]
fn the_seed_text_shows_each_output_in_its_text_form() {
    let r = ExecResult {
        status: ExecStatus::Ok,
        outputs: vec![
            Output::display(
                MimeBundle::plain("<IPython.core.display.HTML object>")
                    .with("text/html", "<b>bold</b> &amp; plain"),
            ),
            Output::display(MimeBundle::plain("<Figure>").with("image/jpeg", "/9j/")),
            Output::Result {
                execution_count: Some(1),
                data: MimeBundle::plain("42"),
                metadata: Metadata::new(),
            },
        ],
        duration_ms: 1.0,
        new_session: false,
        notice: None,
    };
    assert_eq!(r.text(), "bold & plain\n<image/jpeg>\n42\n");
    assert_eq!(r.images().count(), 0, "only PNGs are listed by images()");
}

//! Rich outputs as Jupyter users expect them: each kind (HTML, Markdown, LaTeX, SVG, JSON, JPEG, a
//! pandas DataFrame, a matplotlib figure, objects with only `_repr_html_`, objects with
//! `_repr_mimebundle_`) with several inputs of its own, and what a cell's result must hold for
//! each: every MIME type the object offered, as the API returns them, and the text form
//! (`ExecResult::text()`, the seed API's `result`). Shared by the local backend's HTTP API tests
//! (`crates/server/tests/rich.rs`) and the Jupyter backend's (`jupyter.rs`), so both backends
//! are held to the same cases.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use codeact_protocol::{ExecResult, ExecStatus, Metadata, MimeBundle, Output};
use serde_json::json;

/// One cell and what its result must be.
pub struct Case {
    pub kind: &'static str,
    pub code: &'static str,
    pub check: fn(&ExecResult),
}

/// The rich outputs of a result (results and displays), in order, with their metadata.
pub fn rich(r: &ExecResult) -> Vec<(&MimeBundle, &Metadata)> {
    r.outputs
        .iter()
        .filter_map(|o| match o {
            Output::Result { data, metadata, .. } | Output::Display { data, metadata } => {
                Some((data, metadata))
            }
            _ => None,
        })
        .collect()
}

/// The one rich output of a result that must have exactly one.
#[track_caller]
pub fn one(r: &ExecResult) -> (&MimeBundle, &Metadata) {
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let all = rich(r);
    assert_eq!(all.len(), 1, "expected one rich output: {r:?}");
    all[0]
}

#[track_caller]
fn text<'a>(b: &'a MimeBundle, mime: &str) -> &'a str {
    b.text(mime)
        .unwrap_or_else(|| panic!("no {mime} string in {b:?}"))
}

#[track_caller]
fn base64_bytes(b: &MimeBundle, mime: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text(b, mime))
        .unwrap_or_else(|e| panic!("{mime} is not base64 ({e}): {b:?}"))
}

#[track_caller]
fn types(b: &MimeBundle) -> Vec<&str> {
    b.mime_types().collect()
}

pub const CASES: &[Case] = &[
    Case {
        kind: "html",
        code: "from IPython.display import display, HTML\n\
               display(HTML('<h3>Totals</h3><p>Fish &amp; chips &lt;3&gt;</p>\
               <table><tr><th>item</th><th>count</th></tr><tr><td>apples</td><td>3</td></tr>\
               <tr><td>pears</td><td>12</td></tr></table>'))",
        check: |r| {
            let (b, _) = one(r);
            assert!(matches!(r.outputs[0], Output::Display { .. }), "{r:?}");
            assert_eq!(types(b), ["text/html", "text/plain"]);
            assert_eq!(text(b, "text/plain"), "<IPython.core.display.HTML object>");
            assert!(text(b, "text/html").starts_with("<h3>Totals</h3>"));
            let t = r.text();
            assert!(t.starts_with("### Totals\n"), "{t}");
            assert!(t.contains("Fish & chips <3>"), "{t}");
            let row = |w: &str| t.lines().find(|l| l.contains(w)).unwrap_or("").to_string();
            assert!(row("apples").contains('3') && row("pears").contains("12"), "{t}");
            assert!(t.find("count") < t.find("apples"), "{t}");
            assert!(!t.contains("<td>") && !t.contains("&amp;"), "{t}");
        },
    },
    Case {
        kind: "html",
        code: "from IPython.display import HTML\nHTML('<b>bold</b> &eacute;t&eacute;')",
        check: |r| {
            let (b, _) = one(r);
            assert!(matches!(r.outputs[0], Output::Result { .. }), "{r:?}");
            assert_eq!(text(b, "text/html"), "<b>bold</b> &eacute;t&eacute;");
            assert_eq!(r.text(), "bold été\n");
        },
    },
    Case {
        kind: "markdown",
        code: "from IPython.display import display, Markdown\n\
               display(Markdown('# Title\\n\\n- *one*\\n- two'))",
        check: |r| {
            let (b, _) = one(r);
            assert_eq!(types(b), ["text/markdown", "text/plain"]);
            assert_eq!(text(b, "text/markdown"), "# Title\n\n- *one*\n- two");
            assert_eq!(r.text(), "# Title\n\n- *one*\n- two\n");
        },
    },
    Case {
        kind: "markdown",
        code: "from IPython.display import Markdown\nMarkdown('**total**: 42')",
        check: |r| {
            let (b, _) = one(r);
            assert_eq!(text(b, "text/markdown"), "**total**: 42");
            assert_eq!(r.text(), "**total**: 42\n");
        },
    },
    Case {
        kind: "latex",
        code: "from IPython.display import display, Latex\ndisplay(Latex(r'$\\frac{a}{b}$'))",
        check: |r| {
            let (b, _) = one(r);
            assert_eq!(types(b), ["text/latex", "text/plain"]);
            assert_eq!(r.text(), "$\\frac{a}{b}$\n");
        },
    },
    Case {
        kind: "latex",
        code: "from IPython.display import Math\nMath(r'x^2 + y^2')",
        check: |r| {
            let (b, _) = one(r);
            let tex = text(b, "text/latex");
            assert!(tex.starts_with('$') && tex.contains("x^2 + y^2"), "{tex}");
            assert_eq!(r.text(), format!("{tex}\n"));
        },
    },
    Case {
        kind: "svg",
        code: "from IPython.display import display, SVG\n\
               display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"20\" height=\"10\">\
               <rect width=\"20\" height=\"10\" fill=\"red\"/></svg>'))",
        check: |r| {
            let (b, _) = one(r);
            assert_eq!(types(b), ["image/svg+xml", "text/plain"]);
            let svg = text(b, "image/svg+xml");
            assert!(svg.contains("<svg") && svg.contains("<rect"), "{svg}");
            assert_eq!(r.text(), "<image/svg+xml>\n");
        },
    },
    Case {
        kind: "svg",
        code: "from IPython.display import SVG\n\
               SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\"/></svg>')",
        check: |r| {
            let (b, _) = one(r);
            assert!(text(b, "image/svg+xml").contains("<circle"));
            assert_eq!(r.text(), "<image/svg+xml>\n");
        },
    },
    Case {
        kind: "json",
        code: "from IPython.display import display, JSON\n\
               display(JSON({'a': [1, 2.5, None], 'b': 'c'}))",
        check: |r| {
            let (b, md) = one(r);
            assert_eq!(types(b), ["application/json", "text/plain"]);
            assert_eq!(
                b.get("application/json"),
                Some(&json!({"a": [1, 2.5, null], "b": "c"}))
            );
            // IPython's JSON display carries metadata for the viewer.
            assert_eq!(md["application/json"]["root"], "root", "{md:?}");
            assert_eq!(r.text(), "{\"a\":[1,2.5,null],\"b\":\"c\"}\n");
        },
    },
    Case {
        kind: "json",
        code: "from IPython.display import JSON\nJSON([1, 'two', {'three': 3}])",
        check: |r| {
            let (b, _) = one(r);
            assert_eq!(
                b.get("application/json"),
                Some(&json!([1, "two", {"three": 3}]))
            );
            assert_eq!(r.text(), "[1,\"two\",{\"three\":3}]\n");
        },
    },
    Case {
        kind: "jpeg",
        code: "import io\nimport matplotlib.pyplot as plt\nfrom IPython.display import display, Image\n\
               fig = plt.figure(figsize=(1, 1))\nbuf = io.BytesIO()\n\
               fig.savefig(buf, format='jpeg')\nplt.close(fig)\n\
               display(Image(data=buf.getvalue(), format='jpeg'))",
        check: |r| {
            let (b, _) = one(r);
            assert_eq!(types(b), ["image/jpeg", "text/plain"]);
            assert!(base64_bytes(b, "image/jpeg").starts_with(&[0xff, 0xd8]));
            assert_eq!(r.text(), "<image/jpeg>\n");
        },
    },
    Case {
        kind: "dataframe",
        code: "import pandas as pd\npd.DataFrame({'name': ['Ada', 'Alan'], 'age': [36, 41]})",
        check: |r| {
            let (b, _) = one(r);
            assert!(matches!(r.outputs[0], Output::Result { .. }), "{r:?}");
            assert!(text(b, "text/html").contains("<table"), "{b:?}");
            let table = text(b, "text/plain");
            let lines: Vec<&str> = table.lines().collect();
            assert_eq!(lines.len(), 3, "{table}");
            assert!(lines[0].contains("name") && lines[0].contains("age"), "{table}");
            assert!(lines[1].contains("Ada") && lines[1].contains("36"), "{table}");
            assert!(lines[2].contains("Alan") && lines[2].contains("41"), "{table}");
            // The model reads the text table, not the HTML.
            assert_eq!(r.text(), format!("{table}\n"));
        },
    },
    Case {
        kind: "dataframe",
        code: "import pandas as pd\n\
               pd.DataFrame({f'column_{i}': [i, i * 10, i * 100] for i in range(14)})",
        check: |r| {
            let (b, _) = one(r);
            let t = r.text();
            assert_eq!(t, format!("{}\n", text(b, "text/plain")));
            // Every column is there: a wide frame is wrapped, not cut.
            for i in 0..14 {
                let name = format!("column_{i}");
                assert!(t.split_whitespace().any(|w| w == name), "{name} missing:\n{t}");
            }
            assert!(t.contains("1300"), "{t}");
        },
    },
    Case {
        kind: "dataframe",
        code: "import pandas as pd\npd.DataFrame({'n': range(100), 'sq': [i * i for i in range(100)]})",
        check: |r| {
            let (b, _) = one(r);
            // pandas' own limits for long frames: head and tail rows and the shape.
            let t = r.text();
            assert_eq!(t, format!("{}\n", text(b, "text/plain")));
            assert!(t.contains("[100 rows x 2 columns]") && t.contains("9801"), "{t}");
        },
    },
    Case {
        kind: "matplotlib",
        code: "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('rise');",
        check: |r| {
            let (b, _) = one(r);
            assert!(matches!(r.outputs[0], Output::Display { .. }), "{r:?}");
            assert!(base64_bytes(b, "image/png").starts_with(b"\x89PNG"));
            assert!(text(b, "text/plain").starts_with("<Figure size"), "{b:?}");
            assert_eq!(r.text(), "<image/png>\n");
        },
    },
    Case {
        kind: "matplotlib",
        code: "import matplotlib.pyplot as plt\nfor k in (1, 2):\n    plt.figure()\n    plt.bar(['a', 'b'], [k, 2 * k])\nprint('two figures')",
        check: |r| {
            assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
            let all = rich(r);
            assert_eq!(all.len(), 2, "{r:?}");
            for (b, _) in all {
                assert!(base64_bytes(b, "image/png").starts_with(b"\x89PNG"));
            }
            assert_eq!(r.text(), "two figures\n<image/png>\n<image/png>\n");
        },
    },
    Case {
        kind: "repr_html",
        code: "class Card:\n    def _repr_html_(self):\n        \
               return '<div><b>Ada</b> &mdash; <i>36</i></div>'\nCard()",
        check: |r| {
            let (b, _) = one(r);
            assert_eq!(types(b), ["text/html", "text/plain"]);
            assert!(text(b, "text/plain").starts_with("<__main__.Card"), "{b:?}");
            assert_eq!(r.text(), "Ada — 36\n");
        },
    },
    Case {
        kind: "repr_html",
        code: "from IPython.display import display\n\
               class Row:\n    def __init__(self, n):\n        self.n = n\n    \
               def _repr_html_(self):\n        return f'<ul><li>n = {self.n}</li></ul>'\n\
               display(Row(1), Row(2))",
        check: |r| {
            let all = rich(r);
            assert_eq!(all.len(), 2, "{r:?}");
            assert_eq!(text(all[1].0, "text/html"), "<ul><li>n = 2</li></ul>");
            let t = r.text();
            let lines: Vec<&str> = t.lines().collect();
            assert_eq!(lines.len(), 2, "{t}");
            assert!(lines[0].ends_with("n = 1") && lines[1].ends_with("n = 2"), "{t}");
        },
    },
    Case {
        kind: "repr_mimebundle",
        code: "class Multi:\n    def _repr_mimebundle_(self, include=None, exclude=None):\n        \
               return ({'text/plain': 'Multi(3)', 'text/markdown': '**three**',\n                 \
               'application/vnd.example+json': {'n': 3}}, {'text/markdown': {'note': 'm'}})\nMulti()",
        check: |r| {
            let (b, md) = one(r);
            assert_eq!(
                types(b),
                ["application/vnd.example+json", "text/markdown", "text/plain"]
            );
            assert_eq!(b.get("application/vnd.example+json"), Some(&json!({"n": 3})));
            assert_eq!(md.get("text/markdown"), Some(&json!({"note": "m"})));
            assert_eq!(r.text(), "Multi(3)\n");
        },
    },
    Case {
        kind: "repr_mimebundle",
        code: "from IPython.display import display\n\
               class Points:\n    def _repr_mimebundle_(self, include=None, exclude=None):\n        \
               return {'application/json': {'x': [1, 2]}, 'text/csv': 'x\\n1\\n2\\n'}\n\
               display(Points())",
        check: |r| {
            let (b, _) = one(r);
            assert_eq!(b.get("application/json"), Some(&json!({"x": [1, 2]})));
            assert_eq!(text(b, "text/csv"), "x\n1\n2\n");
            // IPython adds a text/plain of its own, a placeholder: JSON is the text form.
            assert!(text(b, "text/plain").starts_with("<__main__.Points"), "{b:?}");
            assert_eq!(r.text(), "{\"x\":[1,2]}\n");
        },
    },
];

//! Turns the result of a cell into the text the model reads: short tracebacks, a clear word
//! for empty output, each rich output in its text form (images saved as files and named), and a
//! size cap.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use codeact_protocol::{ExecResult, ExecStatus, ImagePart, Output, TextForm};
use regex::Regex;

pub use codeact_protocol::mime::cap;

use crate::prompt::{image_not_saved, image_saved, EMPTY_OUTPUT};

/// What the model is shown for one cell, and the images it displayed.
#[derive(Debug, Clone, PartialEq)]
pub struct CellView {
    pub text: String,
    /// The PNGs, for models that take images.
    pub images: Vec<ImagePart>,
    /// Where every image (PNG, JPEG, SVG) was saved for the user, on the host.
    pub files: Vec<String>,
}

/// The folder of the session's working directory that a cell's images are saved in.
pub const SESSION_IMAGE_DIR: &str = "outputs";

/// An image a cell displayed, as a file to save.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFile {
    /// Relative to the session's working directory: `outputs/{stem}-{k}.{png|jpg|svg}`; the
    /// name the model is told.
    pub session_path: String,
    /// The copy for the user, in the conversation's image folder on the host.
    pub host_path: PathBuf,
    /// The file's content, or why the output's data is not an image.
    pub bytes: Result<Vec<u8>, String>,
    /// The base64 PNG, for models that take images; `None` for other types.
    pub png_base64: Option<String>,
}

/// Whether a cell's result means its code did not do what it was meant to.
pub fn failed(result: &ExecResult) -> bool {
    result.status != ExecStatus::Ok
}

/// The images of a cell's rich outputs whose text form is an image (see
/// [`codeact_protocol::MimeBundle::text_form`]), in order, named `{stem}-{k}`.
pub fn image_files(result: &ExecResult, host_dir: &Path, stem: &str) -> Vec<ImageFile> {
    let mut files = Vec::new();
    for data in result.outputs.iter().filter_map(Output::data) {
        if let TextForm::Image(img) = data.text_form(usize::MAX) {
            let name = format!("{stem}-{}.{}", files.len() + 1, img.extension());
            files.push(ImageFile {
                session_path: format!("{SESSION_IMAGE_DIR}/{name}"),
                host_path: host_dir.join(&name),
                bytes: img.bytes(),
                png_base64: (img.mime == "image/png").then(|| img.data.to_string()),
            });
        }
    }
    files
}

/// Writes the user's copy of an image on the host, making its folder.
pub fn save_host_copy(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
}

/// Renders one cell as text of at most `limit` characters. Each rich output is shown in its
/// text form, also at most `limit`; `saved` says, for each of the cell's [`image_files`] in
/// order, the path the model is told or why the image could not be saved.
pub fn render(result: &ExecResult, saved: &[Result<String, String>], limit: usize) -> String {
    let mut text = String::new();
    let mut saved = saved.iter();
    for out in &result.outputs {
        match out {
            Output::Stream { text: t, .. } => text.push_str(t),
            Output::Result { data, .. } | Output::Display { data, .. } => {
                ensure_newline(&mut text);
                match data.text_form(limit) {
                    TextForm::Text(t) if t.is_empty() => continue,
                    TextForm::Text(t) => text.push_str(&t),
                    TextForm::Image(_) => match saved.next() {
                        Some(Ok(path)) => text.push_str(&image_saved(path)),
                        Some(Err(e)) => text.push_str(&image_not_saved(e)),
                        None => text.push_str(&image_not_saved("it was not saved")),
                    },
                }
                text.push('\n');
            }
            Output::Error {
                ename,
                evalue,
                traceback,
            } => {
                ensure_newline(&mut text);
                text.push_str(&trim_traceback(ename, evalue, traceback));
                text.push('\n');
            }
        }
    }
    if let Some(n) = &result.notice {
        ensure_newline(&mut text);
        text.push_str(n);
        text.push('\n');
    }
    let text = cap(text.trim_end(), limit);
    if text.trim().is_empty() {
        EMPTY_OUTPUT.to_string()
    } else {
        text
    }
}

fn ensure_newline(s: &mut String) {
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
}

/// What identifies a cell's error: its type and message. The same error twice means the model
/// is stuck even when it changed the code around the failing line.
pub fn error_signature(result: &ExecResult) -> Option<String> {
    result.outputs.iter().find_map(|o| match o {
        Output::Error { ename, evalue, .. } => Some(format!("{ename}: {evalue}")),
        _ => None,
    })
}

/// The name in a `NameError` that ended the cell, if that is how it ended.
pub fn undefined_name(result: &ExecResult) -> Option<String> {
    result.outputs.iter().find_map(|o| match o {
        Output::Error { ename, evalue, .. } if ename == "NameError" => {
            let start = evalue.find('\'')? + 1;
            let len = evalue[start..].find('\'')?;
            Some(evalue[start..start + len].to_string()).filter(|n| !n.is_empty())
        }
        _ => None,
    })
}

static ASSIGNMENT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=(?:[^=]|$)").ok());

/// The variable that the last line of `code` assigns at top level (`total = a + b`), if it does.
/// A small model often computes a value into a variable and forgets to print it.
pub fn assigned_name(code: &str) -> Option<String> {
    let last = code.lines().rev().find(|l| !l.trim().is_empty())?;
    let re = ASSIGNMENT.as_ref()?;
    re.captures(last).map(|c| c[1].to_string())
}

/// Frames of the user's own code: `File "<cell>", line 2`, `File <ipython-input-1-…>:2`,
/// `Cell In[3], line 2`. Library frames name a real file path instead.
fn is_cell_frame(line: &str) -> bool {
    let l = line.trim_start();
    if l.starts_with("Cell In[") || l.starts_with("Input In[") {
        return true;
    }
    l.strip_prefix("File ")
        .map(|rest| rest.trim_start_matches('"'))
        .is_some_and(|rest| rest.starts_with('<') && !rest.starts_with("<frozen"))
}

fn is_frame_header(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("File ") || l.starts_with("Cell In[") || l.starts_with("Input In[")
}

/// The longest syntax error report shown whole: the file line, the code, the caret and the
/// error fit in far fewer; a longer one is not the usual shape and gets the general treatment.
const MAX_SYNTAX_ERROR_LINES: usize = 8;

/// A traceback cut down to what a small model can act on: the failing line of the cell and the
/// error itself. Frames inside libraries say little to the model and crowd out the error.
pub fn trim_traceback(ename: &str, evalue: &str, traceback: &[String]) -> String {
    let error_line = if evalue.is_empty() {
        ename.to_string()
    } else {
        format!("{ename}: {evalue}")
    };
    let lines: Vec<&str> = traceback
        .iter()
        .flat_map(|t| t.lines())
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("----------"))
        .collect();
    // Syntax errors carry their context (the line and a caret) without frames of the cell.
    if ename == "SyntaxError" || ename == "IndentationError" || ename == "TabError" {
        let keep: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.contains("Traceback (most recent call last)"))
            .collect();
        if keep.len() <= MAX_SYNTAX_ERROR_LINES && !keep.is_empty() {
            return keep.join("\n");
        }
    }
    let Some(start) = lines.iter().rposition(|l| is_cell_frame(l)) else {
        return error_line;
    };
    let mut frame: Vec<&str> = vec![lines[start]];
    for l in &lines[start + 1..] {
        if is_frame_header(l)
            || l.trim_start().starts_with(&format!("{ename}:"))
            || l.trim() == ename
        {
            break;
        }
        frame.push(l);
    }
    // IPython shows a few lines of context around the failing one, marked with an arrow; the
    // arrow line is the one that matters.
    if let Some(arrow) = frame
        .iter()
        .position(|l| l.trim_start().starts_with("---->") || l.trim_start().starts_with("->"))
    {
        frame = vec![frame[0], frame[arrow]];
    }
    let mut out = String::from("Traceback (most recent call last):\n");
    for l in frame {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&error_line);
    out
}

/// The folder for the images of one conversation.
pub fn image_dir(output_dir: &Path, conversation_id: &str) -> PathBuf {
    output_dir.join(conversation_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::TRIMMED_OUTPUT;

    #[test]
    fn the_variable_a_cell_ends_by_assigning() {
        assert_eq!(
            assigned_name("x = 2\nremainder = pow(7, 100) % 13\n").as_deref(),
            Some("remainder")
        );
        assert_eq!(assigned_name("total=1").as_deref(), Some("total"));
        assert_eq!(assigned_name("x == 1"), None);
        assert_eq!(assigned_name("x += 1"), None);
        assert_eq!(assigned_name("a, b = 1, 2"), None);
        assert_eq!(assigned_name("for i in r:\n    y = i"), None);
        assert_eq!(assigned_name("print(x)"), None);
    }
    use base64::Engine;
    use codeact_protocol::{MimeBundle, StreamName};

    fn result(outputs: Vec<Output>, status: ExecStatus) -> ExecResult {
        ExecResult {
            status,
            outputs,
            duration_ms: 1.0,
            new_session: false,
            notice: None,
        }
    }

    #[test]
    fn empty_output_is_said_plainly() {
        let v = render(&result(vec![], ExecStatus::Ok), &[], 100);
        assert_eq!(v, EMPTY_OUTPUT);
    }

    #[test]
    fn plain_python_traceback_keeps_the_cell_line() {
        let tb: Vec<String> = vec![
            "Traceback (most recent call last):".into(),
            "  File \"/usr/lib/python3.11/json/__init__.py\", line 346, in loads\n    return _default_decoder.decode(s)".into(),
            "  File \"<cell-3>\", line 2, in <module>\n    json.loads(x)".into(),
            "  File \"/usr/lib/python3.11/json/decoder.py\", line 355, in raw_decode\n    raise JSONDecodeError(\"Expecting value\", s, err.value) from None".into(),
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)".into(),
        ];
        let t = trim_traceback(
            "JSONDecodeError",
            "Expecting value: line 1 column 1 (char 0)",
            &tb,
        );
        assert_eq!(
            t,
            "Traceback (most recent call last):\n  File \"<cell-3>\", line 2, in <module>\n    json.loads(x)\nJSONDecodeError: Expecting value: line 1 column 1 (char 0)"
        );
    }

    #[test]
    fn ipython_plain_mode_keeps_the_deepest_cell_frame() {
        let tb: Vec<String> = vec![
            "Traceback (most recent call last):\n".into(),
            "  File <ipython-input-1-69>:3\n    f(1)\n".into(),
            "  File <ipython-input-1-69>:2 in f\n    return x/0\n".into(),
            "  File /usr/lib/python3.11/json/__init__.py:346 in loads\n    return _default_decoder.decode(s)\n".into(),
            "ZeroDivisionError: division by zero\n".into(),
        ];
        let t = trim_traceback("ZeroDivisionError", "division by zero", &tb);
        assert_eq!(
            t,
            "Traceback (most recent call last):\n  File <ipython-input-1-69>:2 in f\n    return x/0\nZeroDivisionError: division by zero"
        );
    }

    #[test]
    fn ipython_traceback_keeps_the_arrow_line() {
        let tb: Vec<String> = vec![
            "---------------------------------------------------------------------------".into(),
            "ZeroDivisionError                         Traceback (most recent call last)".into(),
            "Cell In[1], line 2\n      1 x = 1\n----> 2 x / 0".into(),
            "ZeroDivisionError: division by zero".into(),
        ];
        let t = trim_traceback("ZeroDivisionError", "division by zero", &tb);
        assert_eq!(t, "Traceback (most recent call last):\nCell In[1], line 2\n----> 2 x / 0\nZeroDivisionError: division by zero");
    }

    #[test]
    fn syntax_errors_keep_the_caret() {
        let tb: Vec<String> = vec!["  File \"<cell-1>\", line 1\n    print(1\n         ^\nSyntaxError: '(' was never closed".into()];
        let t = trim_traceback("SyntaxError", "'(' was never closed", &tb);
        assert_eq!(t, "  File \"<cell-1>\", line 1\n    print(1\n         ^\nSyntaxError: '(' was never closed");
    }

    #[test]
    fn unknown_traceback_shape_falls_back_to_the_error_line() {
        assert_eq!(
            trim_traceback("KeyError", "'a'", &["weird".into()]),
            "KeyError: 'a'"
        );
    }

    #[test]
    fn images_become_files_named_to_the_model() {
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG fake");
        let out = vec![
            Output::Stream {
                name: StreamName::Stdout,
                text: "plotting".into(),
            },
            Output::display(MimeBundle::plain("<Figure>").with("image/png", png.as_str())),
            Output::display(
                MimeBundle::plain("<IPython.core.display.SVG object>")
                    .with("image/svg+xml", "<svg/>"),
            ),
            Output::display(MimeBundle::plain("<Image>").with("image/jpeg", "%%%")),
        ];
        let r = result(out, ExecStatus::Ok);
        let host = Path::new("/host/conv");
        let files = image_files(&r, host, "turn2-cell1");
        let paths: Vec<&str> = files.iter().map(|f| f.session_path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "outputs/turn2-cell1-1.png",
                "outputs/turn2-cell1-2.svg",
                "outputs/turn2-cell1-3.jpg"
            ]
        );
        assert_eq!(files[0].host_path, host.join("turn2-cell1-1.png"));
        assert_eq!(files[0].bytes.as_deref(), Ok(&b"\x89PNG fake"[..]));
        assert_eq!(files[0].png_base64.as_deref(), Some(png.as_str()));
        assert_eq!(files[1].bytes.as_deref(), Ok(&b"<svg/>"[..]));
        assert_eq!(files[1].png_base64, None);
        assert!(files[2].bytes.is_err());
        let saved = [
            Ok(paths[0].to_string()),
            Ok(paths[1].to_string()),
            Err("bad data".to_string()),
        ];
        assert_eq!(
            render(&r, &saved, 1000),
            "plotting\n[image saved to outputs/turn2-cell1-1.png]\n\
             [image saved to outputs/turn2-cell1-2.svg]\n\
             [an image could not be saved: bad data]"
        );
    }

    #[test]
    fn rich_outputs_show_their_text_form_each_within_the_limit() {
        let long: String = (0..500).map(|i| format!("row {i}\n")).collect();
        let out = vec![
            Output::display(
                MimeBundle::plain("<IPython.core.display.HTML object>")
                    .with("text/html", "<p>caf&eacute; <b>open</b></p>"),
            ),
            Output::display(
                MimeBundle::plain("<IPython.core.display.Markdown object>")
                    .with("text/markdown", "## Totals"),
            ),
            Output::Result {
                execution_count: Some(4),
                data: MimeBundle::plain(long.as_str()).with("text/html", "<table></table>"),
                metadata: Default::default(),
            },
        ];
        let text = render(&result(out, ExecStatus::Ok), &[], 300);
        assert!(text.starts_with("café open\n## Totals\nrow 0\n"), "{text}");
        assert!(text.ends_with("row 499"), "{text}");
        assert!(text.chars().count() < 400, "{text}");
    }

    #[test]
    fn undefined_names_are_found() {
        let err = |ename: &str, evalue: &str| {
            let out = vec![Output::Error {
                ename: ename.into(),
                evalue: evalue.into(),
                traceback: vec![],
            }];
            undefined_name(&result(out, ExecStatus::Error))
        };
        assert_eq!(
            err("NameError", "name 'stressed' is not defined").as_deref(),
            Some("stressed")
        );
        assert_eq!(err("KeyError", "'a'"), None);
    }

    #[test]
    fn long_output_keeps_head_and_tail() {
        let text: String = (0..100).map(|i| format!("{i}\n")).collect();
        let c = cap(&text, 20);
        assert!(c.starts_with("0\n1\n"));
        assert!(c.contains(TRIMMED_OUTPUT));
        // Trailing newlines go: every caller shows the text trimmed.
        assert!(c.ends_with("\n99"), "{c:?}");
    }
}

//! Turns the result of a cell into the text the model reads: short tracebacks, a clear word
//! for empty output, placeholders for images (saved to files), and a size cap.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use base64::Engine;
use codeact_protocol::{ExecResult, ExecStatus, ImagePart, Output};
use regex::Regex;

use crate::prompt::{image_not_saved, image_saved, EMPTY_OUTPUT, TRIMMED_OUTPUT};

/// What the model is shown for one cell, and the images it displayed.
#[derive(Debug, Clone, PartialEq)]
pub struct CellView {
    pub text: String,
    pub images: Vec<ImagePart>,
}

/// Whether a cell's result means its code did not do what it was meant to.
pub fn failed(result: &ExecResult) -> bool {
    result.status != ExecStatus::Ok
}

/// Renders one cell. Images are written to `image_dir` as `{stem}-{k}.png`; a failure to save
/// one is reported in the text instead of failing the run.
pub fn render(result: &ExecResult, image_dir: &Path, stem: &str, limit: usize) -> CellView {
    let mut text = String::new();
    let mut images = Vec::new();
    for out in &result.outputs {
        match out {
            Output::Stream { text: t, .. } => text.push_str(t),
            Output::Result { data, .. } | Output::Display { data } => {
                if let Some(png) = &data.image_png {
                    let path = image_dir.join(format!("{stem}-{}.png", images.len() + 1));
                    match save_png(&path, png) {
                        Ok(()) => {
                            text.push_str(&image_saved(&path));
                            text.push('\n');
                            images.push(ImagePart {
                                path: path.display().to_string(),
                                png_base64: png.clone(),
                            });
                        }
                        Err(e) => {
                            text.push_str(&image_not_saved(&e));
                            text.push('\n');
                        }
                    }
                } else if let Some(t) = &data.text_plain {
                    text.push_str(t);
                    text.push('\n');
                }
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
    let mut text = cap(text.trim_end(), limit);
    if text.trim().is_empty() {
        text = EMPTY_OUTPUT.to_string();
    }
    CellView { text, images }
}

fn ensure_newline(s: &mut String) {
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
}

fn save_png(path: &Path, b64: &str) -> Result<(), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, bytes).map_err(|e| e.to_string())
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

/// Keeps the head and tail of `text` when it is longer than `limit` characters.
pub fn cap(text: &str, limit: usize) -> String {
    let n = text.chars().count();
    if n <= limit {
        return text.to_string();
    }
    let half = limit / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(n - half).collect();
    format!("{head}\n{TRIMMED_OUTPUT}\n{tail}")
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
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let dir = dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default();
        let v = render(&result(vec![], ExecStatus::Ok), &dir, "t1", 100);
        assert_eq!(v.text, EMPTY_OUTPUT);
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
    fn images_are_saved_and_named() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG fake");
        let out = vec![
            Output::Stream {
                name: StreamName::Stdout,
                text: "plotting\n".into(),
            },
            Output::Display {
                data: MimeBundle {
                    text_plain: Some("<Figure>".into()),
                    image_png: Some(png),
                },
            },
        ];
        let v = render(&result(out, ExecStatus::Ok), dir.path(), "turn2", 1000);
        let path = dir.path().join("turn2-1.png");
        assert_eq!(
            v.text,
            format!("plotting\n[image saved to {}]", path.display())
        );
        assert_eq!(std::fs::read(&path)?, b"\x89PNG fake");
        assert_eq!(v.images.len(), 1);
        Ok(())
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
        assert!(c.ends_with("99\n"));
    }
}

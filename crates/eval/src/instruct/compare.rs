//! Comparing a replayed observation with the recorded one (the pack's `FORMAT.md` §8): exactly
//! first, then after rules that forgive what legitimately varies between the machine that
//! generated a row and this one. Each verdict names the rules it needed.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// A rule that forgives one kind of variation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Object reprs with memory addresses (`<… at 0x7f…>`).
    MemoryAddress,
    /// Durations printed by the code (`0.0123 s`, `12 ms`, `1.2 seconds`).
    Timing,
    /// Tracebacks: only the exception's type and the cell's own frame (`Cell In[N], line L`
    /// and its numbered source lines) are compared; library frames, paths, line numbers and
    /// messages differ between Python and library versions.
    Traceback,
}

impl Rule {
    pub const ALL: [Rule; 3] = [Rule::MemoryAddress, Rule::Timing, Rule::Traceback];

    pub fn name(self) -> &'static str {
        match self {
            Rule::MemoryAddress => "memory-address",
            Rule::Timing => "timing",
            Rule::Traceback => "traceback",
        }
    }

    fn apply(self, text: &str) -> String {
        match self {
            Rule::MemoryAddress => ADDRESS.replace_all(text, "at 0x…").into_owned(),
            Rule::Timing => TIMING.replace_all(text, "<duration>").into_owned(),
            Rule::Traceback => reduce_traceback(text),
        }
    }
}

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| super::literal_regex(r"at 0x[0-9a-fA-F]{4,16}"));
static TIMING: LazyLock<Regex> = LazyLock::new(|| {
    super::literal_regex(r"\b\d+(\.\d+)?(e-?\d+)?\s?(seconds|second|secs|sec|ms|µs|us|ns|s)\b")
});
/// IPython's traceback header: the rule line, then `XxxError   Traceback (most recent call last)`.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    super::literal_regex(r"(?m)^-{20,}\n(\S+)\s+Traceback \(most recent call last\)")
});
static CELL_FRAME: LazyLock<Regex> =
    LazyLock::new(|| super::literal_regex(r"^Cell In\s?\[\d+\], line \d+"));

/// Keeps what precedes a traceback, the exception's type and the cell's own frames (the
/// `Cell In[…]` line and the source lines under it); drops the rest of the traceback.
fn reduce_traceback(text: &str) -> String {
    let Some(m) = HEADER.captures(text) else {
        return text.to_string();
    };
    let start = m.get(0).map_or(0, |g| g.start());
    let mut out = format!("{}{} Traceback\n", &text[..start], &m[1]);
    let mut in_cell = false;
    for line in text[start..].lines().skip(2) {
        if CELL_FRAME.is_match(line) {
            in_cell = true;
            out.push_str(line);
            out.push('\n');
        } else if !(line.starts_with(' ') || line.starts_with("---->")) {
            // A blank line, a library frame (`File …`) or the exception line ends the frame.
            in_cell = false;
        } else if in_cell {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The outcome of comparing one observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Byte for byte.
    Exact,
    /// Equal once these rules were applied to both sides.
    Tolerated(Vec<Rule>),
    /// Different even so.
    Differs,
}

/// Compares `recorded` with `replayed`, trying the fewest rules first.
pub fn compare(recorded: &str, replayed: &str) -> Comparison {
    if recorded == replayed {
        return Comparison::Exact;
    }
    // Three rules: every subset, smallest first, so the verdict names only what was needed.
    let mut subsets: Vec<Vec<Rule>> = (1u8..8)
        .map(|mask| {
            Rule::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, r)| *r)
                .collect()
        })
        .collect();
    subsets.sort_by_key(Vec::len);
    for rules in subsets {
        let norm = |t: &str| rules.iter().fold(t.to_string(), |acc, r| r.apply(&acc));
        if norm(recorded) == norm(replayed) {
            return Comparison::Tolerated(rules);
        }
    }
    Comparison::Differs
}

/// A unified line diff, recorded (`-`) against replayed (`+`).
pub fn diff(recorded: &str, replayed: &str) -> String {
    similar::TextDiff::from_lines(recorded, replayed)
        .unified_diff()
        .context_radius(2)
        .header("recorded", "replayed")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_tolerated() {
        assert_eq!(compare("a", "a"), Comparison::Exact);
        assert_eq!(
            compare("<object at 0x7f3a2b1c>", "<object at 0x55d0e1f2a0>"),
            Comparison::Tolerated(vec![Rule::MemoryAddress])
        );
        assert_eq!(
            compare("took 0.52 s", "took 0.013 s"),
            Comparison::Tolerated(vec![Rule::Timing])
        );
        assert_eq!(compare("1", "2"), Comparison::Differs);
    }

    #[test]
    fn tracebacks_keep_type_and_cell_frame() {
        let old = "hi\n---------------------------------------------------------------------------\nTypeError                                 Traceback (most recent call last)\nCell In[1], line 3\n      1 x = 1\n----> 3 f(x)\n\nFile /usr/local/lib/python3.8/dist-packages/sympy/core.py:10, in f(a)\n     9 def f(a):\n---> 10     raise TypeError('old')\n\nTypeError: old message";
        let new = "hi\n---------------------------------------------------------------------------\nTypeError                                 Traceback (most recent call last)\nCell In[1], line 3\n      1 x = 1\n----> 3 f(x)\n\nFile ~/.cache/venv/lib/python3.11/site-packages/sympy/core.py:12, in f(a)\n     11 def f(a):\n---> 12     raise TypeError('new')\n\nTypeError: new message";
        assert_eq!(
            compare(old, new),
            Comparison::Tolerated(vec![Rule::Traceback])
        );
        let other_line = new.replace("----> 3 f(x)", "----> 3 g(x)");
        assert_eq!(compare(old, &other_line), Comparison::Differs);
        let other_type = new.replace("TypeError   ", "ValueError  ");
        assert_eq!(compare(old, &other_type), Comparison::Differs);
    }
}

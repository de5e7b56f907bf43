//! Spots a reply caught in a loop. Greedy decoding of a small model can fall into writing the
//! same lines over and over until the token limit, which costs minutes on a CPU and buries
//! whatever the reply had to say.

use crate::config::LoopCut;

/// Where the repetition starts when the complete lines of `text` end with the same block of
/// lines written `cut.copies` times in a row: the byte offset just after the first copy.
pub fn loop_start(text: &str, cut: &LoopCut) -> Option<usize> {
    if cut.copies < 2 {
        return None;
    }
    let complete = &text[..text.rfind('\n')? + 1];
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut at = 0;
    for line in complete.split_inclusive('\n') {
        lines.push((at, line.trim_end()));
        at += line.len();
    }
    let n = lines.len();
    let copies = cut.copies;
    (1..=cut.max_block_lines)
        .filter(|b| b * copies <= n)
        .find_map(|b| {
            let block = |k: usize| &lines[n - (k + 1) * b..n - k * b];
            let last = block(0);
            let chars: usize = last
                .iter()
                .map(|(_, l)| l.chars().filter(|c| !c.is_whitespace()).count())
                .sum();
            let same =
                |other: &[(usize, &str)]| other.iter().zip(last).all(|((_, x), (_, y))| x == y);
            (chars >= cut.min_block_chars && (1..copies).all(|k| same(block(k))))
                .then(|| lines[n - (copies - 1) * b].0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loop_start(text: &str) -> Option<usize> {
        super::loop_start(text, &LoopCut::default())
    }

    #[test]
    fn a_line_written_three_times_is_a_loop() {
        let text = "<thought>Let me see.\nThe answer is computed below.\nThe answer is computed below.\nThe answer is computed below.\n";
        let at = loop_start(text);
        assert_eq!(
            at.map(|a| &text[..a]),
            Some("<thought>Let me see.\nThe answer is computed below.\n")
        );
    }

    #[test]
    fn a_block_of_lines_repeated_is_a_loop() {
        let block = "x = compute(1)\nprint(x)\n";
        let text = format!("<execute>\n{block}{block}{block}");
        let at = loop_start(&text);
        assert_eq!(
            at.map(|a| &text[..a]),
            Some(format!("<execute>\n{block}").as_str())
        );
    }

    #[test]
    fn ordinary_replies_are_not_loops() {
        assert_eq!(loop_start("no newline at all"), None);
        assert_eq!(
            loop_start("<execute>\nfor i in range(3):\n    print(i)\n</execute>\n"),
            None
        );
        // Short lines repeat in ordinary text.
        assert_eq!(loop_start("a = 1\n\n\n\n}\n}\n}\n"), None);
        // Two copies are not yet a loop.
        assert_eq!(
            loop_start("The answer is computed below.\nThe answer is computed below.\n"),
            None
        );
        // The line being written does not count until it is complete.
        assert_eq!(
            loop_start("print('same line')\nprint('same line')\nprint('same line')"),
            None
        );
    }
}

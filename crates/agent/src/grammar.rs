//! The GBNF grammar that constrains a task reply to the protocol: an optional thought, then
//! either code to run or the final answer.

/// Replies: `<thought>…</thought>` (optional), then `<execute>…</execute>` or
/// `<solution>…</solution>`. Tag bodies cannot contain `</`, so a body ends only at its own
/// closing tag; generation then stops at `</execute>` as usual.
pub const TASK_GRAMMAR: &str = r#"root     ::= thought? (execute | solution)
thought  ::= "<thought>" body "</thought>" ws
execute  ::= "<execute>" body "</execute>"
solution ::= "<solution>" body "</solution>"
body     ::= ([^<] | "<" [^/])*
ws       ::= [ \t\n]*
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_used_is_defined() {
        let defined: Vec<&str> = TASK_GRAMMAR
            .lines()
            .filter_map(|l| l.split_once("::="))
            .map(|(n, _)| n.trim())
            .collect();
        for name in ["root", "thought", "execute", "solution", "body", "ws"] {
            assert!(defined.contains(&name), "{name} is not defined");
        }
    }
}

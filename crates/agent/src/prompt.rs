//! Every text the model reads that the loop writes itself: the system prompts, the nudges and
//! hints, and the wrapper and placeholders of execution output. Kept in one place so that the
//! exact wording can be reviewed and snapshot-tested. What the cells print, and the engine's
//! notices (`ExecResult::notice`: time limits, restarts, truncation), come from elsewhere.

use crate::config::{Mode, PromptStyle};
use crate::tools::ToolInfo;

/// What the system prompt needs to know about the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptContext<'a> {
    pub mode: Mode,
    pub style: PromptStyle,
    /// Whether the session can reach the network, so that `!pip install` is worth mentioning.
    pub network: bool,
    /// Modules already imported in the session.
    pub preloaded: &'a [String],
    /// The user's functions available in the session.
    pub tools: &'a [ToolInfo],
}

/// The system prompt for a session.
pub fn system_prompt(ctx: &PromptContext<'_>) -> String {
    match ctx.style {
        PromptStyle::Ours => ours(ctx),
        PromptStyle::Seed => seed(ctx),
    }
}

fn ours(ctx: &PromptContext<'_>) -> String {
    let mut s = String::new();
    s.push_str(
        "You are a helpful assistant who answers by writing and running Python code.\n\
         \n\
         You have a Python session that works like a Jupyter notebook: variables, functions and \
         imports stay from one run to the next. To run code, write it between <execute> and \
         </execute> and stop there. You will then receive what the code printed, and you continue \
         from that.\n\
         \n\
         Rules:\n\
         - Do a little at a time: run a short piece of code, read its output, then take the next step.\n\
         - Compute, do not guess: use code for arithmetic, counting, dates and text, and print() the result.\n\
         - Do in the code everything the question asks for, such as rounding or a date format.\n\
         - Copy the numbers and text of the question into your code exactly; put text in quotes.\n\
         - Prefer the ready functions of Python and its standard library (sum, max, sorted, the math and statistics modules...) to writing your own.\n\
         - If the code fails, read the error and run corrected code. Never run code that already failed.\n",
    );
    if !ctx.preloaded.is_empty() {
        s.push_str(&format!(
            "- Already imported: {}.\n",
            ctx.preloaded.join(", ")
        ));
    }
    if ctx.network {
        s.push_str("- To install a missing package, run `!pip install NAME` in <execute>.\n");
    }
    match ctx.mode {
        Mode::Task => s.push_str(
            "- You may think first, briefly, in <thought>...</thought>.\n\
             - When the output shows the answer, write only that answer between <solution> and </solution>, in the form the question asks for.\n",
        ),
        Mode::Chat => s.push_str(
            "- When the output gives you what you need, answer the user in plain words, without tags.\n",
        ),
    }
    push_tools(&mut s, ctx.tools);
    // No `User:`/`Assistant:` labels: a small model copies them into its replies. Without
    // them the examples still cannot be continued wrongly, since generation stops at
    // `</execute>`. Examples from different fields, so that a small model does not take
    // one example's code for the answer to every task.
    for (k, ex) in EXAMPLES.iter().enumerate() {
        let asked = match ctx.mode {
            Mode::Task => "The task",
            Mode::Chat => "The user writes",
        };
        s.push_str(&format!(
            "\nExample {}. {asked}: {}\n\nYour reply:\n<execute>\n{}\n</execute>\n\n\
             The message you receive:\n{OUTPUT_HEADER}{}\n\nYour reply:\n",
            k + 1,
            ex.task,
            ex.code,
            ex.output
        ));
        match ctx.mode {
            Mode::Task => s.push_str(&format!("<solution>{}</solution>\n", ex.answer)),
            Mode::Chat => s.push_str(&format!("{}\n", ex.reply)),
        }
    }
    s
}

/// A worked example of the protocol in the system prompt.
struct Example {
    task: &'static str,
    code: &'static str,
    output: &'static str,
    /// The `<solution>` of task mode.
    answer: &'static str,
    /// The plain answer of chat mode.
    reply: &'static str,
}

/// The examples show code that takes its values from the question, prints the result, and an
/// answer in the form the question asked for.
const EXAMPLES: [Example; 3] = [
    Example {
        task: "A box holds 24 eggs. How many boxes are needed for 1000 eggs?",
        code: "eggs = 1000\nper_box = 24\nprint(math.ceil(eggs / per_box))",
        output: "42",
        answer: "42",
        reply: "42 boxes are needed for 1000 eggs.",
    },
    Example {
        task: "Which letters appear more than once in 'programming'? Answer as a \
               comma-separated list in alphabetical order.",
        code: "text = 'programming'\nprint(sorted(set(c for c in text if text.count(c) > 1)))",
        output: "['g', 'm', 'r']",
        answer: "g, m, r",
        reply: "The letters that appear more than once are g, m and r.",
    },
    Example {
        task: "Is 2 to the power of 10 greater than 1000? Answer yes or no.",
        code: "print(2 ** 10 > 1000)",
        output: "True",
        answer: "yes",
        reply: "Yes: 2 to the power of 10 is 1024, which is greater than 1000.",
    },
];

/// The content of the original CodeAct demo prompt, reworded; no example on purpose.
fn seed(ctx: &PromptContext<'_>) -> String {
    let mut s = String::new();
    s.push_str(
        "This is a conversation between a curious user and an AI assistant. The assistant gives \
         helpful, detailed and polite answers. When it helps, the assistant can use an interactive \
         Python environment (like a Jupyter notebook) and will receive the output of the code it \
         runs. Code to run must be placed inside an <execute> tag, for example: \
         <execute> print(\"Hello World!\") </execute>.\n\
         The assistant should try a few things at a time rather than put a lot of code in one \
         <execute> block. It must import packages and define variables before using them.",
    );
    if ctx.network {
        s.push_str(
            " It can install packages with pip, as in <execute> !pip install [package] </execute>.",
        );
    }
    s.push_str(
        "\nThe assistant should stop using <execute> and answer once it has the answer from the \
         execution results. Where possible it should run the code for the user with <execute> \
         rather than just show it. Its replies should be concise, but it should state its reasoning.",
    );
    if ctx.mode == Mode::Task {
        s.push_str(
            "\nThe final answer to the task must be given inside a <solution> tag, for example: \
             <solution> 42 </solution>.",
        );
    }
    push_tools(&mut s, ctx.tools);
    s.push('\n');
    s
}

fn push_tools(s: &mut String, tools: &[ToolInfo]) {
    if tools.is_empty() {
        return;
    }
    s.push_str("\nThese functions are already defined in the session; call them in your code:\n");
    for t in tools {
        if t.doc.is_empty() {
            s.push_str(&format!("- {}{}\n", t.name, t.signature));
        } else {
            s.push_str(&format!("- {}{}: {}\n", t.name, t.signature, t.doc));
        }
    }
}

/// Begins every message that carries execution output.
pub const OUTPUT_HEADER: &str = "Execution Output:\n";

/// Stands in for the output of a cell that printed nothing.
pub const EMPTY_OUTPUT: &str = "[the code ran and printed nothing; use print() to see a value]";

/// Stands in for the output of a cell that printed nothing but ended by assigning a variable.
pub fn empty_output_with_value(name: &str, value: &str) -> String {
    format!("[the code printed nothing; {name} is now {value}]")
}

/// Stands in for an image a cell displayed, saved to `path` (relative to the session's working
/// directory, so the model's code can open it).
pub fn image_saved(path: &str) -> String {
    format!("[image saved to {path}]")
}

/// Stands in for an image a cell displayed that could not be saved.
pub fn image_not_saved(why: &str) -> String {
    format!("[an image could not be saved: {why}]")
}

/// Marks a cell output or an observation shortened to fit; the same marker the engine's types
/// put in a rich output's text form cut to its limit.
pub const TRIMMED_OUTPUT: &str = codeact_protocol::mime::TRIMMED;

/// Replaces old observations when the conversation outgrows its budget.
pub const EARLIER_OUTPUT_TRIMMED: &str = "[earlier output trimmed]";

/// Replaces old turns dropped from the prompt when trimming outputs was not enough.
pub const EARLIER_TURNS_DROPPED: &str = "[earlier messages dropped to fit the context]";

/// Follows the output of a cell that raised.
pub const AFTER_ERROR: &str =
    "The code raised an error. Fix it and run it again, or try another way.";

/// Sent when a reply both runs code and gives a solution.
pub const SOLUTION_TOO_EARLY: &str =
    "Your code was run, but your solution was ignored because you had not seen the output yet. \
     Read the output above, then give the final answer in <solution>...</solution>.";

/// Sent when the same failing code comes back.
pub const SAME_CODE_AGAIN: &str =
    "This is the same code that failed before, and it failed again. Do not repeat it: change the \
     approach.";

/// Follows a task's successful cell output.
pub const ANSWER_REMINDER: &str =
    "If this output answers the task, reply with the answer in <solution>...</solution>.";

/// Sent when changed code fails with the error it had before.
pub const SAME_ERROR_AGAIN: &str =
    "This is the same error as before. The change did not fix it: rewrite the failing part \
     another way.";

/// Sent once when an answer comes right after a failed cell (task mode).
pub const QUESTION_SOLUTION: &str =
    "Your last code failed, so this answer was not computed. Fix the code and run it, or, if you \
     are sure, give the same answer again in <solution>...</solution>.";

/// Sent once when a task is answered before any code ran.
pub const QUESTION_NO_CODE: &str =
    "You have not run any code, so this answer was not computed. Run code that prints the \
     answer.";

/// Sent once when a task is answered right after a cell that printed nothing.
pub const QUESTION_NOTHING_PRINTED: &str =
    "Your last code printed nothing, so this answer was not computed. Run it again with print() \
     around the value you need.";

/// Sent once when an answer comes right after a failed cell (chat mode).
pub const QUESTION_REPLY: &str =
    "Your last code failed, so this answer may not be right. Fix the code and run it, or, if you \
     are sure, repeat your answer.";

/// Sent once in task mode when a reply neither runs code nor gives a solution.
pub const NUDGE_PROTOCOL: &str =
    "Please either run Python code between <execute> and </execute>, or give the final answer \
     between <solution> and </solution>.";

/// Told to the model when a conversation with history gets a fresh Python session (it was
/// resumed from a file, or its session expired).
pub const SESSION_RESET: &str =
    "[Note: this conversation now runs in a new Python session. Variables, functions and files \
     from before are gone; the standard imports and tools are loaded again.]";

/// Told to the model after a task answered by several attempts in separate sessions.
pub const SELF_CONSISTENCY_NOTE: &str =
    "[Note: the previous answer was chosen among several attempts run in separate Python \
     sessions, so their variables are not defined in this session.]";

/// Sent when the code used an undefined name that appears in the user's message: most often a
/// word from the question written without quotes.
pub fn quote_hint(name: &str) -> String {
    format!(
        "`{name}` is not a variable. If you meant the text \"{name}\" from the question, write it \
         as a string in quotes: '{name}'."
    )
}

/// Sent when the code called a function that does not exist: small models call helpers such as
/// `is_prime` as if they were built in.
pub fn define_hint(name: &str) -> String {
    format!("`{name}` is not defined. Write it with def in the same code, before it is used.")
}

/// Follows the output of a failed cell when later blocks of the same reply were skipped.
pub fn skipped_blocks(n: usize) -> String {
    if n == 1 {
        "[1 later code block was not run because this one failed]".to_string()
    } else {
        format!("[{n} later code blocks were not run because this one failed]")
    }
}

/// The text of a message that carries execution output.
pub fn observation_message(cells: &[String]) -> String {
    let mut s = String::from(OUTPUT_HEADER);
    s.push_str(&cells.join("\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_is_mentioned_only_with_network() {
        let pre = vec!["math".to_string()];
        let mut ctx = PromptContext {
            mode: Mode::Task,
            style: PromptStyle::Ours,
            network: false,
            preloaded: &pre,
            tools: &[],
        };
        assert!(!system_prompt(&ctx).contains("pip"));
        ctx.network = true;
        assert!(system_prompt(&ctx).contains("!pip install"));
        ctx.style = PromptStyle::Seed;
        assert!(system_prompt(&ctx).contains("!pip install"));
        ctx.network = false;
        assert!(!system_prompt(&ctx).contains("pip"));
    }

    #[test]
    fn chat_mode_does_not_ask_for_solution_tags() {
        let ctx = PromptContext {
            mode: Mode::Chat,
            style: PromptStyle::Ours,
            network: false,
            preloaded: &[],
            tools: &[],
        };
        let p = system_prompt(&ctx);
        assert!(!p.contains("<solution>"));
        assert!(!p.contains("Already imported"));
    }
}

//! The MINT protocol's strings as CodeActInstruct was generated with them (the pack's
//! `prompts/strings.json`, read from `xingyaoww/code-act` at `d607f56`). They are data the
//! model sees and must stay byte for byte; a test compares them with the pack.

/// The generation template; fields `{max_total_steps}`, `{max_propose_solution}`,
/// `{tool_desc}`, `{in_context_example}`, `{task_prompt}`. Ends with a newline.
pub const TEMPLATE: &str =
    include_str!("../../data/codeactinstruct/prompts/template_with_tool.txt");
/// The help text of an invalid action (ends with `. \n`).
pub const INVALID_ACTION: &str =
    include_str!("../../data/codeactinstruct/prompts/invalid_action_message.txt");
/// The three system messages of released rows.
pub const SYSTEM_NO_TOOLS: &str =
    include_str!("../../data/codeactinstruct/prompts/system_no_tools.txt");
pub const SYSTEM_WIKIPEDIA: &str =
    include_str!("../../data/codeactinstruct/prompts/system_wikipedia.txt");
pub const SYSTEM_ALFWORLD: &str =
    include_str!("../../data/codeactinstruct/prompts/system_alfworld.txt");
/// The rendered `{tool_desc}` blocks of the original's two tool sets.
pub const TOOL_DESC_WIKIPEDIA: &str =
    include_str!("../../data/codeactinstruct/prompts/tool_desc_wikipedia.txt");
pub const TOOL_DESC_ALFWORLD: &str =
    include_str!("../../data/codeactinstruct/prompts/tool_desc_alfworld.txt");

/// The in-context example of each task family.
pub const EXAMPLE_REASONING: &str =
    include_str!("../../data/codeactinstruct/prompts/in_context_examples/reasoning.txt");
pub const EXAMPLE_TABULAR: &str =
    include_str!("../../data/codeactinstruct/prompts/in_context_examples/tabular.txt");
pub const EXAMPLE_APPS: &str =
    include_str!("../../data/codeactinstruct/prompts/in_context_examples/APPS.txt");
/// ALFWorld's examples by game-name prefix.
pub const EXAMPLES_ALFWORLD: &[(&str, &str)] = &[
    (
        "pick_and_place",
        include_str!("../../data/codeactinstruct/prompts/in_context_examples/alfworld_put.txt"),
    ),
    (
        "pick_clean_then_place",
        include_str!("../../data/codeactinstruct/prompts/in_context_examples/alfworld_clean.txt"),
    ),
    (
        "pick_heat_then_place",
        include_str!("../../data/codeactinstruct/prompts/in_context_examples/alfworld_heat.txt"),
    ),
    (
        "pick_cool_then_place",
        include_str!("../../data/codeactinstruct/prompts/in_context_examples/alfworld_cool.txt"),
    ),
    (
        "look_at_obj",
        include_str!("../../data/codeactinstruct/prompts/in_context_examples/alfworld_examine.txt"),
    ),
    (
        "pick_two_obj",
        include_str!("../../data/codeactinstruct/prompts/in_context_examples/alfworld_puttwo.txt"),
    ),
];

pub const TASK_PREFIX: &str = "Task:\n";
pub const TOOL_DESC_HEADER: &str =
    "Tool function available (already imported in <execute> environment):\n";
pub const ASSISTANT_PREFIX: &str = "Assistant:\n";
pub const OBSERVATION_PREFIX: &str = "Observation:\n";
pub const WRONG_ANSWER: &str = "Your answer is wrong.\n";
pub const LAST_STEP: &str = "You should take the last step to propose a solution.\n";
pub const EMPTY_OUTPUT: &str = "[Executed Successfully with No Output]";
pub const TRUNCATE_AT_CHARS: usize = 2000;
pub const TRUNCATION_SUFFIX: &str = "...\n[Output Truncated]";
pub const TIMEOUT_SECONDS: u64 = 30;
/// The setting part of every row id: 5 steps, 2 proposals, tools, count-down.
pub const EXP_SETTING: &str = "max5_p2+tool+cd";
pub const MAX_STEPS: u32 = 5;
pub const MAX_PROPOSALS: u32 = 2;

/// The OpenAI-chat stop sequences of generation.
pub const STOP_WORDS: &[&str] = &["\nObservation:", "\nExpert feedback:", "\nTask:", "\n---"];

/// What the conversion to released rows splits the first message on, and the sentence it
/// replaces in the instructions.
pub const FIRST_MESSAGE_SPLIT: &str = "\n---\n\nTask:";
pub const THOUGHT_SENTENCE: &str = "At each turn, you should first provide your step-by-step thinking for solving the task. Your thought process should be enclosed using \"<thought>\" tag, for example: <thought> I need to print \"Hello World!\" </thought>.\n\nAfter that, you have two options:";
pub const THOUGHT_SENTENCE_RELEASED: &str = "At each turn, you should first provide your step-by-step thinking for solving the task. After that, you have two options:";

/// The count-down line after an action: `steps_left` and `chances_left` as the original
/// computes them (they may be 0; the wording stays "1 steps").
pub fn countdown(steps_left: u32, chances_left: u32) -> String {
    let mut s = format!(
        "You have {steps_left} steps left and {chances_left} chances to propose solution left.\n"
    );
    if steps_left <= 1 {
        s.push_str(LAST_STEP);
    }
    s
}

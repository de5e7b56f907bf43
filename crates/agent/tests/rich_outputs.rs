//! What the model reads of rich outputs, through the whole loop: a scripted model, real Python
//! sessions. HTML as readable text, Markdown as its source, a DataFrame as its text table, a
//! figure saved into the session's working directory and named, where the next cell opens it.

mod common;

use codeact_agent::prompt::ANSWER_REMINDER;
use codeact_agent::{Agent, AgentConfig};
use codeact_protocol::{AgentEvent, EndReason};
use common::{manager, ScriptedLlm};

#[tokio::test]
async fn the_model_reads_each_rich_output_in_its_text_form() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let llm = ScriptedLlm::replies(&[
        "<execute>\n\
         import pandas as pd\n\
         import matplotlib.pyplot as plt\n\
         from IPython.display import display, HTML, Markdown\n\
         display(HTML('<p>Sales &amp; costs</p><ul><li>north</li><li>south</li></ul>'))\n\
         display(Markdown('**Q1**'))\n\
         plt.plot([10, 20])\n\
         pd.DataFrame({'q': [1, 2], 'sales': [10, 20]})\n\
         </execute>",
        "<execute>\nfrom PIL import Image\nprint(Image.open('outputs/turn1-cell1-1.png').format)\n</execute>",
        "<solution>30</solution>",
    ]);
    let sessions = manager().await?;
    let config = AgentConfig {
        output_dir: dir.path().join("images"),
        ..AgentConfig::task()
    };
    let agent = Agent::new(llm.clone(), sessions.clone(), config);
    let out = agent.run_task("What were the total sales?").finish().await;
    assert_eq!(out.end, EndReason::Solution, "{:?}", out.events);

    let observation = "Sales & costs\n* north\n* south\n\
                       **Q1**\n   q  sales\n0  1     10\n1  2     20\n\
                       [image saved to outputs/turn1-cell1-1.png]";
    assert_eq!(
        llm.last_message(1),
        format!("Execution Output:\n{observation}\n\n{ANSWER_REMINDER}")
    );
    // The named file is in the session, and the model's next cell can open it.
    let session = agent.conversation().await.session_id;
    let png = sessions
        .read_file(&session, "outputs/turn1-cell1-1.png")
        .await?;
    assert!(png.starts_with(b"\x89PNG"));
    assert_eq!(
        llm.last_message(2),
        format!("Execution Output:\nPNG\n\n{ANSWER_REMINDER}")
    );
    // The event keeps the whole bundle for front ends; the user's copy is on the host.
    let (result, images) = out
        .events
        .iter()
        .find_map(|e| match e {
            AgentEvent::Observation { result, images, .. } => {
                Some((result.clone(), images.clone()))
            }
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("no observation"))?;
    let html = result.outputs[0].data().and_then(|d| d.text("text/html"));
    assert_eq!(
        html,
        Some("<p>Sales &amp; costs</p><ul><li>north</li><li>south</li></ul>")
    );
    assert_eq!(images.len(), 1);
    assert_eq!(std::fs::read(&images[0])?, png);
    Ok(())
}

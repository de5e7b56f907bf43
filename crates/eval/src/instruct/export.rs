//! Rows in the formats fine-tuning tools read (the pack's `FORMAT.md` §7). The faithful forms
//! keep observations as user turns, as CodeActAgent was trained; only the ShareGPT
//! tool-role variant changes that, on request.

use serde_json::{json, Value};

use super::row::{to_jsonl, Role, Row};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI `messages` JSONL, as TRL's `SFTTrainer` reads conversational rows.
    Openai,
    /// LLaMA-Factory's ShareGPT formatting, with its `dataset_info.json` entry.
    Sharegpt,
    /// The rows as they are, with an Axolotl `chat_template` config.
    Axolotl,
    /// ChatML text, as CodeActAgent was trained (`<|im_start|>role\ncontent<|im_end|>\n`).
    Chatml,
    /// Parquet with the released schema.
    Parquet,
}

/// Options of an export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// ShareGPT: observations as `observation` turns instead of `human` (the text the model
    /// sees then depends on the template's observation formatter).
    pub observation_role: bool,
    /// The dataset's name in `dataset_info.json`.
    pub name: Option<String>,
}

/// One file an export writes: its name relative to the output's directory, and its bytes.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The files of `rows` exported as `format`; the data file is named `file_name`.
pub fn export(
    rows: &[Row],
    format: Format,
    file_name: &str,
    opts: &ExportOptions,
) -> Result<Vec<ExportFile>, String> {
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| "codeactinstruct".into());
    let data = |bytes: Vec<u8>| ExportFile {
        name: file_name.to_string(),
        bytes,
    };
    Ok(match format {
        Format::Openai => vec![data(
            to_jsonl(&rows.iter().map(openai).collect::<Vec<_>>()).into_bytes(),
        )],
        Format::Sharegpt => {
            let lines: Vec<Value> = rows
                .iter()
                .map(|r| sharegpt(r, opts.observation_role))
                .collect();
            vec![
                data(to_jsonl(&lines).into_bytes()),
                ExportFile {
                    name: "dataset_info.json".into(),
                    bytes: pretty(&dataset_info(&name, file_name, opts.observation_role)),
                },
            ]
        }
        Format::Axolotl => vec![
            data(to_jsonl(rows).into_bytes()),
            ExportFile {
                name: "axolotl.yaml".into(),
                bytes: axolotl_config(file_name).into_bytes(),
            },
        ],
        Format::Chatml => {
            let lines: Vec<Value> = rows
                .iter()
                .map(|r| json!({"id": r.id, "text": chatml(r)}))
                .collect();
            vec![data(to_jsonl(&lines).into_bytes())]
        }
        Format::Parquet => vec![data(
            super::parquet::write_rows(rows).map_err(|e| e.to_string())?,
        )],
    })
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s.into_bytes()
}

/// `{"messages": [{"role", "content"}…], "id"}`.
pub fn openai(row: &Row) -> Value {
    let messages: Vec<Value> = row
        .conversations
        .iter()
        .map(|t| json!({"role": t.role.as_str(), "content": t.content}))
        .collect();
    json!({"messages": messages, "id": row.id})
}

/// `{"conversations": [{"from", "value"}…], "system"}`: a leading system turn becomes
/// `system`; observations are `human` turns, or `observation` turns with `observation_role`.
pub fn sharegpt(row: &Row, observation_role: bool) -> Value {
    let mut system = Value::Null;
    let mut turns = Vec::new();
    for (i, t) in row.conversations.iter().enumerate() {
        let from = match t.role {
            Role::System if i == 0 => {
                system = Value::String(t.content.clone());
                continue;
            }
            Role::System => "system",
            Role::Assistant => "gpt",
            Role::User if observation_role && t.content.starts_with("Observation:\n") => {
                "observation"
            }
            Role::User => "human",
        };
        turns.push(json!({"from": from, "value": t.content}));
    }
    let mut v = json!({"conversations": turns, "id": row.id});
    if !system.is_null() {
        v["system"] = system;
    }
    v
}

/// LLaMA-Factory's `dataset_info.json` with one entry for the ShareGPT file.
pub fn dataset_info(name: &str, file_name: &str, observation_role: bool) -> Value {
    let mut tags = json!({
        "role_tag": "from", "content_tag": "value", "user_tag": "human",
        "assistant_tag": "gpt", "system_tag": "system",
    });
    if observation_role {
        tags["observation_tag"] = json!("observation");
        tags["function_tag"] = json!("function_call");
    }
    json!({ name: {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system"},
        "tags": tags,
    }})
}

/// `existing` (a `dataset_info.json`'s text, if the file exists) with the entries of `ours`
/// added or replaced; the other datasets' entries are kept.
pub fn merge_dataset_info(existing: Option<&str>, ours: &[u8]) -> Result<Vec<u8>, String> {
    let ours: Value = serde_json::from_slice(ours).map_err(|e| e.to_string())?;
    let mut all = match existing {
        Some(text) if !text.trim().is_empty() => serde_json::from_str::<Value>(text)
            .map_err(|e| format!("not JSON, so it cannot be updated: {e}"))?,
        _ => json!({}),
    };
    let (Some(all_map), Some(our_map)) = (all.as_object_mut(), ours.as_object()) else {
        return Err("not a JSON object, so it cannot be updated".into());
    };
    for (k, v) in our_map {
        all_map.insert(k.clone(), v.clone());
    }
    Ok(pretty(&all))
}

/// Axolotl's `chat_template` dataset config for the rows file, loss on assistant turns only.
pub fn axolotl_config(file_name: &str) -> String {
    format!(
        "# Axolotl: train on CodeActInstruct rows as CodeActAgent was (ChatML, loss on assistant turns).
chat_template: chatml
datasets:
  - path: {file_name}
    ds_type: json
    type: chat_template
    field_messages: conversations
    message_property_mappings:
      role: role
      content: content
    roles_to_train: [\"assistant\"]
    train_on_eos: turn
"
    )
}

/// The row as ChatML text: `<|im_start|>{role}\n{content}<|im_end|>\n` per message.
pub fn chatml(row: &Row) -> String {
    row.conversations
        .iter()
        .map(|t| format!("<|im_start|>{}\n{}<|im_end|>\n", t.role.as_str(), t.content))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruct::row::Turn;

    fn row() -> Row {
        Row {
            id: "f/reasoning/algebra/1/m/s".into(),
            conversations: vec![
                Turn::new(Role::System, "sys"),
                Turn::new(Role::User, "Task:\nt"),
                Turn::new(Role::Assistant, "<execute>1</execute>"),
                Turn::new(Role::User, "Observation:\nOut[1]: 1"),
                Turn::new(Role::Assistant, "<solution>1</solution>"),
            ],
        }
    }

    /// LLaMA-Factory's rule: human/observation at even positions, gpt at odd ones.
    fn llama_factory_accepts(v: &Value) -> bool {
        v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .all(|(i, t)| {
                let from = t["from"].as_str().unwrap();
                if i % 2 == 0 {
                    from == "human" || from == "observation"
                } else {
                    from == "gpt" || from == "function_call"
                }
            })
    }

    #[test]
    fn sharegpt_both_ways() {
        for obs in [false, true] {
            let v = sharegpt(&row(), obs);
            assert_eq!(v["system"], "sys");
            assert!(llama_factory_accepts(&v));
            assert_eq!(
                v["conversations"][2]["from"],
                if obs { "observation" } else { "human" }
            );
        }
    }

    #[test]
    fn chatml_and_openai() {
        let text = chatml(&row());
        assert!(text.starts_with(
            "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nTask:\nt<|im_end|>\n"
        ));
        assert_eq!(openai(&row())["messages"][4]["role"], "assistant");
        let files = export(
            &[row()],
            Format::Sharegpt,
            "x.jsonl",
            &ExportOptions::default(),
        )
        .unwrap();
        assert_eq!(files[1].name, "dataset_info.json");
    }
}

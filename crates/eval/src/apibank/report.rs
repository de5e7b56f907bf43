//! The summaries of an API-Bank evaluation: the original scoring and the corrected one.

use super::run::{ApiBankOptions, ApiBankRecord};
use crate::summary::{Outcome, Summary};

/// The original scoring and the corrected one, rows by dialogue level, with the samples that
/// need the internet counted apart.
pub(super) fn summaries(
    model: &str,
    options: &ApiBankOptions,
    records: &[&ApiBankRecord],
) -> (Summary, Summary) {
    let modes: Vec<String> = options
        .modes
        .iter()
        .map(|m| m.short().to_string())
        .collect();
    let group = |r: &ApiBankRecord| {
        if r.scored.needs_network || r.corrected.needs_network {
            "needs internet".to_string()
        } else if r.file.contains("-level-2-") {
            "level-2 dialogues".to_string()
        } else {
            "level-1 dialogues".to_string()
        }
    };
    let outcomes = |pick: &dyn Fn(&ApiBankRecord) -> bool| -> Vec<Outcome> {
        let mut v: Vec<Outcome> = records
            .iter()
            .map(|r| Outcome {
                group: group(r),
                mode: r.action_mode.short().to_string(),
                item: r.sample.clone(),
                correct: pick(r),
            })
            .collect();
        v.sort_by_key(|o| match o.group.as_str() {
            "level-1 dialogues" => 0,
            "level-2 dialogues" => 1,
            _ => 2,
        });
        v
    };
    let mut original = Summary::new(
        "API-Bank level-1",
        model,
        &modes,
        1,
        &outcomes(&|r| r.is_correct),
    );
    original.notes.push(
        "Scored as the original does, quirks included (comparable with the paper); \"all\" counts every sample, the ones that need the internet too.".into(),
    );
    let mut corrected = Summary::new(
        "API-Bank level-1 (corrected)",
        model,
        &modes,
        1,
        &outcomes(&|r| r.corrected.correct),
    );
    let mut fixes: Vec<&str> = records
        .iter()
        .flat_map(|r| r.corrected.corrections.iter().map(String::as_str))
        .collect();
    fixes.sort_unstable();
    fixes.dedup();
    corrected.notes.push(format!(
        "The same replies with the original's distorting quirks fixed; fixes that changed a verdict here: {}.",
        if fixes.is_empty() { "none".to_string() } else { fixes.join(", ") }
    ));
    if options.execute_code {
        let executed: Vec<&ApiBankRecord> = records
            .iter()
            .copied()
            .filter(|r| r.executed.is_some())
            .collect();
        let ok = executed
            .iter()
            .filter(|r| r.executed.as_ref().is_some_and(|e| e.scored.correct))
            .count();
        let code_runs = records
            .iter()
            .filter(|r| r.action_mode == crate::m3tooleval::ActionMode::Code)
            .count();
        let note = format!(
            "Code replies run as Python (--execute-code): {ok}/{} made the right call{}.",
            executed.len(),
            if executed.len() < code_runs {
                format!(
                    " ({} code replies were recorded without it)",
                    code_runs - executed.len()
                )
            } else {
                String::new()
            }
        );
        original.notes.push(note.clone());
        corrected.notes.push(note);
    }
    if let Some(f) = &options.filter {
        for s in [&mut original, &mut corrected] {
            s.notes.push(format!(
                "Selection: samples matching {f:?}; the results file may hold more."
            ));
        }
    }
    (original, corrected)
}

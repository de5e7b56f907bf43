//! `--execute-code`: a code reply run as Python in a fresh session where every API name is a
//! recorder of its calls, and the call it really makes scored (the original only parses code).

use serde_json::Value;

use super::run::{incorrect_scored, Executed, ModeRun, SampleInfo, Scored};
use crate::pypkg::{self, py_str};
use crate::EvalError;

impl ModeRun<'_> {
    /// Runs a code reply in a fresh session where every API name is a recorder of its calls
    /// (nothing else of the benchmark is there), and scores the first call it makes with the
    /// corrected scoring.
    pub(super) async fn execute(
        &self,
        info: &SampleInfo,
        reply: &str,
        recorders: &str,
    ) -> Result<Executed, EvalError> {
        let code: Option<String> = self.call("code_of", &[py_str(reply)]).await?;
        let no_call = |code, error| Executed {
            code,
            call: None,
            error,
            scored: Scored {
                cause: "no_api_call".into(),
                ..incorrect_scored()
            },
        };
        let Some(code) = code else {
            let why = "the reply is not Python and holds no [...] call".to_string();
            return Ok(no_call(None, Some(why)));
        };
        let session = format!("{}-exec-{}", self.scorer, pypkg::next_id());
        let outcome = async {
            let setup = self.sessions.execute(&session, recorders).await?;
            if setup.status != codeact_protocol::ExecStatus::Ok {
                return Err(EvalError::Python(format!(
                    "setting up the API recorders failed: {}",
                    setup.text().trim()
                )));
            }
            let result = self
                .sessions
                .execute_with(
                    &session,
                    &code,
                    Some(std::time::Duration::from_secs(30)),
                    None,
                )
                .await?;
            let error = (result.status != codeact_protocol::ExecStatus::Ok)
                .then(|| result.text().trim().to_string());
            // The code may have ended its interpreter or deleted the record: no call, then.
            let calls: Vec<Value> = pypkg::call(self.sessions, &session, RECORDED_CELL)
                .await
                .unwrap_or_default();
            Ok::<_, EvalError>((error, calls))
        }
        .await;
        let _ = self.sessions.delete(&session).await;
        let (error, calls) = outcome?;
        let Some(call) = calls.into_iter().next() else {
            return Ok(no_call(Some(code), error));
        };
        let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
        let args = call.get("args").cloned().unwrap_or(Value::Null);
        let scored: Scored = self
            .call(
                "score_call",
                &[
                    py_str(&info.sample),
                    self.mode_arg(),
                    py_str(name),
                    pypkg::py_json(&args),
                    "corrected=True".into(),
                ],
            )
            .await?;
        Ok(Executed {
            code: Some(code),
            call: Some(call),
            error,
            scored,
        })
    }
}

/// A cell binding each API name to a function that notes its call (`params`: the declared
/// parameter names, which name positional arguments; `argN` past them) and returns None.
/// Arguments are snapshotted as JSON when the call is made (others as their repr).
pub(super) fn recorder_cell(params: &Value) -> String {
    format!(
        r#"def __codeact_recorders(signatures):
    import json
    calls = []
    def snapshot(value):
        try:
            return json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError, RecursionError):
            return repr(value)
    def recorder(name, params):
        def record(*args, **kwargs):
            bound = {{params[i] if i < len(params) else f"arg{{i}}": v for i, v in enumerate(args)}}
            bound.update(kwargs)
            calls.append({{"name": name, "args": {{str(k): snapshot(v) for k, v in bound.items()}}}})
        record.__name__ = record.__qualname__ = name
        return record
    for name, names in signatures.items():
        globals()[name] = recorder(name, names)
    return calls
__codeact_calls = __codeact_recorders({signatures})
del __codeact_recorders
"#,
        signatures = pypkg::py_json(params)
    )
}

/// Prints the recorded calls as the evaluation packages' `emit` does.
const RECORDED_CELL: &str =
    "print('codeact-eval ' + __import__('json').dumps(__codeact_calls, default=repr))\n";

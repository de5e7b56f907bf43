//! Rich outputs through the HTTP API over the real sandboxed local backend: every MIME type a
//! value offers comes back in `/v1/sessions/{id}/execute` (text as strings, images as base64,
//! JSON types as JSON values, metadata), streamed events carry the same bundles, and the seed
//! `/execute` returns each output's text form. The cases are shared with the Jupyter backend's
//! tests (`crates/exec/tests/rich_cases`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../exec/tests/rich_cases/mod.rs"]
mod rich_cases;

use codeact_protocol::{ExecResult, ExecStatus, Output};
use common::{quick_config, unique, TestServer};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_rich_output_keeps_its_bundle_and_text_form() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("rich-");
    let seed_id = unique("rich-seed-");
    for case in rich_cases::CASES {
        let r = srv.exec(&id, case.code).await;
        (case.check)(&r);
        // The seed endpoint's text is the same text form.
        let (seed, _) = srv.seed(&seed_id, case.code).await;
        assert_eq!(seed, r.text(), "{}: {}", case.kind, case.code);
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_answer_is_jupyters_data_and_metadata() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("rich-json-");
    let code = "from IPython.display import display, JSON, HTML, Image\n\
                import base64\n\
                display(JSON({'k': [1, None]}))\n\
                display(Image(data=base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='), width=40))\n\
                HTML('<i>x</i>')";
    let r = srv
        .post(
            &format!("/v1/sessions/{id}/execute"),
            &json!({ "code": code }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let outputs = r.body["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 3, "{r:?}");
    assert_eq!(outputs[0]["type"], "display");
    assert_eq!(
        outputs[0]["data"]["application/json"],
        json!({"k": [1, null]})
    );
    assert_eq!(
        outputs[0]["metadata"]["application/json"]["expanded"],
        false
    );
    assert!(outputs[1]["data"]["image/png"]
        .as_str()
        .unwrap()
        .starts_with("iVBOR"));
    assert_eq!(outputs[1]["metadata"]["image/png"]["width"], 40);
    assert_eq!(outputs[2]["type"], "result");
    assert_eq!(outputs[2]["data"]["text/html"], "<i>x</i>");
    assert_eq!(
        outputs[2]["data"]["text/plain"],
        "<IPython.core.display.HTML object>"
    );
    // An output without metadata has no metadata key, as before.
    let r = srv
        .post(
            &format!("/v1/sessions/{id}/execute"),
            &json!({ "code": "6 * 7" }),
        )
        .await;
    let out = &r.body["outputs"][0];
    assert_eq!(out["data"], json!({"text/plain": "42"}), "{r:?}");
    assert!(out.get("metadata").is_none(), "{r:?}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_outputs_carry_the_whole_bundle() {
    let srv = TestServer::start(quick_config()).await;
    let id = unique("rich-stream-");
    let code = "from IPython.display import display, Markdown, SVG\n\
                display(Markdown('*a*'))\n\
                display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))";
    let resp = srv
        .http
        .post(srv.url(&format!("/v1/sessions/{id}/execute")))
        .json(&json!({ "code": code, "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let mut outputs = Vec::new();
    let mut done = None;
    let mut event = "";
    for line in body.lines() {
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim();
        } else if let Some(d) = line.strip_prefix("data:") {
            let v: Value = serde_json::from_str(d.trim()).unwrap();
            match event {
                "output" => outputs.push(serde_json::from_value::<Output>(v).unwrap()),
                "done" => done = Some(serde_json::from_value::<ExecResult>(v).unwrap()),
                _ => {}
            }
        }
    }
    let done = done.unwrap_or_else(|| panic!("no done event: {body}"));
    assert_eq!(done.status, ExecStatus::Ok);
    assert_eq!(outputs, done.outputs, "{body}");
    let md = outputs[0].data().unwrap();
    assert_eq!(md.text("text/markdown"), Some("*a*"));
    assert!(outputs[1]
        .data()
        .unwrap()
        .text("image/svg+xml")
        .unwrap()
        .contains("<svg"));
    srv.stop().await;
}

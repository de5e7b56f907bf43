//! The conversation store against SQLite (a file) and a real PostgreSQL (the private cluster
//! `scripts/test.sh` starts; `CODEACT_TEST_POSTGRES_URL`): one code path, the same checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use codeact_protocol::history::{Author, MessageStatus};
use codeact_protocol::{AgentEvent, EndReason, Message};
use codeact_server::history::{branch, History};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Everything the server asks of the store, on `store`, for a user nobody else uses.
async fn exercise(store: &History) {
    let (alice, bob) = (unique("alice"), unique("bob"));
    let first = store.create(&alice, "Plots", "script").await.unwrap();
    let second = store
        .create(&alice, "50% of_the data", "script")
        .await
        .unwrap();
    store.create(&bob, "Bob's", "script").await.unwrap();

    // Most recently updated first; each user sees only their own.
    let u1 = store
        .add_message(
            &first.id,
            None,
            Author::User,
            "plot y=x^2",
            MessageStatus::Done,
        )
        .await
        .unwrap();
    let listed = store.list(&alice, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [first.id.as_str(), second.id.as_str()]
    );
    assert!(store.get(&bob, &first.id).await.unwrap().is_none());
    assert_eq!(store.list(&bob, None).await.unwrap().len(), 1);

    // Search: titles and message text, case-insensitive, with % and _ taken literally.
    let found = |q: &'static str| {
        let alice = alice.clone();
        async move {
            store
                .list(&alice, Some(q))
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.title)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("PLOT").await, ["Plots"]);
    assert_eq!(found("Y=X^2").await, ["Plots"]);
    assert_eq!(found("50%").await, ["50% of_the data"]);
    assert!(found("5_%").await.is_empty());
    assert!(found("Bob").await.is_empty());

    // A reply: running, its steps appended one by one, then finished with its transcript.
    let a1 = store
        .add_message(
            &first.id,
            Some(&u1.id),
            Author::Assistant,
            "",
            MessageStatus::Running,
        )
        .await
        .unwrap();
    let steps = [
        AgentEvent::CodeAction {
            code: "print(1)".into(),
            origin: codeact_protocol::ActionOrigin::ExecuteTag,
        },
        AgentEvent::AssistantMessage {
            text: "It is 1.".into(),
        },
        AgentEvent::End {
            reason: EndReason::Reply,
        },
    ];
    for (i, s) in steps.iter().enumerate() {
        store.add_step(&a1.id, i as i64, s).await.unwrap();
    }
    let transcript = vec![Message::user("plot y=x^2"), Message::assistant("It is 1.")];
    store
        .finish_message(&a1.id, "It is 1.", MessageStatus::Done, &transcript)
        .await
        .unwrap();
    let row = store.get(&alice, &first.id).await.unwrap().unwrap();
    assert_eq!(row.head.as_deref(), Some(a1.id.as_str()));
    let all = store.messages(&first.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].message.steps, steps);
    assert_eq!(all[1].transcript, transcript);
    assert_eq!(all[1].message.status, MessageStatus::Done);

    // An edit of the first message is a branch beside it.
    let u1b = store
        .add_message(
            &first.id,
            None,
            Author::User,
            "plot y=x^3",
            MessageStatus::Done,
        )
        .await
        .unwrap();
    let all = store.messages(&first.id).await.unwrap();
    let shown = branch(&all, Some(&u1b.id));
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].message.siblings, [u1.id.clone(), u1b.id.clone()]);
    assert_eq!(branch(&all, Some(&a1.id)).len(), 2);

    store.rename(&first.id, "Renamed").await.unwrap();
    let row = store.get(&alice, &first.id).await.unwrap().unwrap();
    assert_eq!(row.summary.title, "Renamed");

    store.delete(&first.id).await.unwrap();
    assert!(store.get(&alice, &first.id).await.unwrap().is_none());
    assert!(store.messages(&first.id).await.unwrap().is_empty());
    assert_eq!(store.list(&alice, None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_keeps_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/history.sqlite3");
    let store = History::open_sqlite(&path).await.unwrap();
    exercise(&store).await;

    // A reply running when the server died is interrupted when the store is opened again,
    // with its steps kept; migrations run once.
    let owner = unique("carol");
    let c = store.create(&owner, "t", "m").await.unwrap();
    let a = store
        .add_message(&c.id, None, Author::Assistant, "", MessageStatus::Running)
        .await
        .unwrap();
    let step = AgentEvent::Feedback { text: "x".into() };
    store.add_step(&a.id, 0, &step).await.unwrap();
    drop(store);
    let store = History::open_sqlite(&path).await.unwrap();
    let all = store.messages(&c.id).await.unwrap();
    assert_eq!(all[0].message.status, MessageStatus::Interrupted);
    assert_eq!(all[0].message.steps, [step]);
}

#[tokio::test]
async fn postgres_keeps_conversations() {
    let Ok(url) = std::env::var("CODEACT_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED: set CODEACT_TEST_POSTGRES_URL (scripts/test.sh starts a PostgreSQL and sets it)"
        );
        return;
    };
    let store = History::open(&url).await.unwrap();
    exercise(&store).await;
    // Opening an up-to-date database again changes nothing.
    let again = History::open(&url).await.unwrap();
    assert!(again
        .list(&unique("nobody"), None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_bad_url_is_a_clear_error() {
    let err = History::open("postgres://me:hunter2@127.0.0.1:1/none")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("history database"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

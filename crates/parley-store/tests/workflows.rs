//! Workflows on both engines: drafts and versions per workspace, the trigger follower's lease
//! and cursor (runs started with the cursor's move, once per workflow and event), runs leased
//! one server at a time, each step recorded with the run's move, waits that make a run due
//! later, and cancellation.

use std::collections::BTreeMap;

use parley_core::Timestamp;
use parley_core::ids::{ContactId, ConversationId, EventId};
use parley_store::testing::TestDatabase;
use parley_store::{NewRun, NewWorkflow, RunMove, RunShare, RunStatus, RunStep, StoreError, WorkflowPatch};
use serde_json::json;

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

fn step(seq: i64, id: &str, outcome: &str) -> RunStep {
    RunStep {
        seq,
        step: id.into(),
        kind: "add_note".into(),
        outcome: outcome.into(),
        detail: json!({"note_id": seq}),
        at: NOW,
    }
}

#[tokio::test]
async fn workflows_are_drafted_published_and_kept_per_workspace() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let (ws, owner, _) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
        let (other, _, _) = parley_store::testing::workspace_with_channel(store, "globex", NOW).await;
        let new = NewWorkflow {
            name: "Unassign after close",
            draft: "{\"v\":1}",
            once_per_contact: false,
            created_by: Some(owner),
        };
        let w = store.create_workflow(ws, new, NOW).await.unwrap();
        assert_eq!((w.version, w.active), (0, false), "{:?}", db.url);
        assert!(store.active_workflows().await.unwrap().is_empty(), "not published, not active");

        let w = store.publish_workflow(ws, w.id, "{\"v\":1}", Some(owner), NOW).await.unwrap();
        let patch = WorkflowPatch { draft: Some("{\"v\":2}".into()), active: Some(true), ..WorkflowPatch::default() };
        let w = store.update_workflow(ws, w.id, patch, NOW.plus_secs(1)).await.unwrap();
        assert_eq!((w.version, w.active, w.draft.as_str()), (1, true, "{\"v\":2}"));
        let active = store.active_workflows().await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].definition, "{\"v\":1}", "runs start on the published version, not the draft");
        let w = store.publish_workflow(ws, w.id, "{\"v\":2}", Some(owner), NOW.plus_secs(2)).await.unwrap();
        assert_eq!(w.version, 2);
        assert_eq!(store.workflow_version(ws, w.id, 1).await.unwrap(), "{\"v\":1}");
        assert_eq!(store.active_workflows().await.unwrap()[0].definition, "{\"v\":2}");

        // Another workspace sees nothing of it.
        assert!(matches!(store.workflow(other, w.id).await, Err(StoreError::NotFound)));
        assert!(matches!(store.workflow_version(other, w.id, 1).await, Err(StoreError::NotFound)));
        assert!(matches!(
            store.update_workflow(other, w.id, WorkflowPatch::default(), NOW).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(store.delete_workflow(other, w.id).await, Err(StoreError::NotFound)));
        assert!(store.workflows(other).await.unwrap().is_empty());
        assert_eq!(store.workflows(ws).await.unwrap().len(), 1);
        store.delete_workflow(ws, w.id).await.unwrap();
        assert!(store.workflows(ws).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_follower_starts_runs_once_and_runs_move_step_by_step() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let (ws, owner, _) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
        let new = NewWorkflow { name: "w", draft: "{}", once_per_contact: true, created_by: Some(owner) };
        let w = store.create_workflow(ws, new, NOW).await.unwrap();
        let w = store.publish_workflow(ws, w.id, "{}", None, NOW).await.unwrap();

        // One server holds the follower; it starts where the log stands.
        let until = NOW.plus_secs(30);
        let at = store.lease_follower("a", NOW, until).await.unwrap().expect("a takes it");
        assert!(at.get() > 0, "{:?}: the fixture wrote events", db.url);
        assert_eq!(store.lease_follower("b", NOW.plus_secs(1), until).await.unwrap(), None, "a holds it");
        let events = store.events_after(EventId(0), 100).await.unwrap();
        assert!(events.iter().all(|e| e.workspace_id == ws));
        assert_eq!(events.last().unwrap().id, at);

        let run_for = |event: i64, conv: i64| NewRun {
            workspace_id: ws,
            workflow_id: w.id,
            version: w.version,
            conversation_id: Some(ConversationId(conv)),
            contact_id: Some(ContactId(conv * 10)),
            trigger_event_id: Some(EventId(event)),
            trigger_key: None,
            first_step: "first".into(),
            memory: json!({"trigger": {"event": event}}),
        };
        let to = EventId(at.get() + 2);
        assert!(!store.start_runs("b", to, &[run_for(at.get() + 1, 1)], NOW).await.unwrap(), "b has no lease");
        assert!(store.runs(ws, w.id, 10).await.unwrap().is_empty(), "nothing written");
        let started = store.start_runs("a", to, &[run_for(at.get() + 1, 1), run_for(at.get() + 2, 2)], NOW).await;
        assert!(started.unwrap());
        assert_eq!(store.lease_follower("a", NOW, until).await.unwrap(), Some(to), "the cursor moved");
        // The same event again (a replayed batch) starts nothing new; the cursor never goes back.
        let again = store.start_runs("a", EventId(to.get() + 1), &[run_for(at.get() + 1, 1)], NOW).await.unwrap();
        assert!(again);
        assert_eq!(store.runs(ws, w.id, 10).await.unwrap().len(), 2);
        assert!(store.ran_for_contact(w.id, ContactId(10)).await.unwrap());
        assert!(!store.ran_for_contact(w.id, ContactId(30)).await.unwrap());
        // Taken over after the lease ran out.
        assert!(store.lease_follower("b", until.plus_secs(1), until.plus_secs(60)).await.unwrap().is_some());

        let hour_ago = NOW.plus_secs(-3600);
        assert_eq!(store.conversation_runs(w.id, ConversationId(1), hour_ago).await.unwrap(), (true, 1));
        assert_eq!(store.conversation_runs(w.id, ConversationId(1), NOW.plus_secs(1)).await.unwrap(), (true, 0));
        assert_eq!(store.conversation_runs(w.id, ConversationId(3), hour_ago).await.unwrap(), (false, 0));

        // Runs are leased one server at a time.
        let claimed = store.claim_runs("a", NOW, NOW.plus_secs(60), &RunShare::any(10)).await.unwrap();
        assert_eq!(claimed.len(), 2, "{:?}", db.url);
        assert!(
            store.claim_runs("b", NOW.plus_secs(1), NOW.plus_secs(60), &RunShare::any(10)).await.unwrap().is_empty()
        );
        let run = claimed[0].clone();
        assert_eq!((run.status, run.step.as_deref(), run.seq), (RunStatus::Running, Some("first"), 0));
        let first = claimed.iter().find(|r| r.conversation_id == Some(ConversationId(1))).unwrap();
        assert_eq!(first.memory, json!({"trigger": {"event": at.get() + 1}}), "the memory it started with");

        // A step, then a wait: due again only when it ends.
        let jumps = BTreeMap::from([("loop".to_owned(), 1)]);
        let later = NOW.plus_secs(3600);
        let next = RunMove::Next { step: "second".into(), at: later };
        let moved =
            store.record_step(&run, "a", &step(0, "first", "done"), &jumps, &json!({}), next, NOW).await.unwrap();
        assert_eq!((moved.seq, moved.step.as_deref(), moved.wake_at), (1, Some("second"), Some(later)));
        assert_eq!(moved.jumps, jumps);
        // Recording the same step twice (a stale copy of the run) is refused.
        let stale =
            store.record_step(&run, "a", &step(0, "first", "done"), &jumps, &json!({}), RunMove::Done, NOW).await;
        assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
        assert!(
            store
                .claim_runs("b", NOW.plus_secs(61), NOW.plus_secs(120), &RunShare::any(10))
                .await
                .unwrap()
                .iter()
                .all(|r| r.id != run.id),
            "waiting"
        );
        let due = store.claim_runs("b", later, later.plus_secs(60), &RunShare::any(10)).await.unwrap();
        let mine = due.iter().find(|r| r.id == run.id).expect("due after the wait").clone();
        let wrong_holder =
            store.record_step(&mine, "a", &step(1, "second", "done"), &jumps, &json!({}), RunMove::Done, later).await;
        assert!(matches!(wrong_holder, Err(StoreError::Conflict { .. })));
        let done = store
            .record_step(&mine, "b", &step(1, "second", "done"), &jumps, &json!({}), RunMove::Done, later)
            .await
            .unwrap();
        assert_eq!((done.status, done.step), (RunStatus::Done, None));
        let conv = run.conversation_id.unwrap();
        assert!(!store.conversation_runs(w.id, conv, hour_ago).await.unwrap().0, "done: nothing running there");
        let history = store.run_steps(ws, run.id).await.unwrap();
        assert_eq!(history.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["first", "second"]);
        assert_eq!(history[0].detail, json!({"note_id": 0}));

        // The other run is cancelled with its conversation's.
        let other = claimed[1].clone();
        assert_eq!(store.cancel_runs(ws, other.conversation_id.unwrap(), None, later).await.unwrap(), 1);
        assert_eq!(store.run(ws, other.id).await.unwrap().status, RunStatus::Cancelled);
        let failed = store
            .record_step(
                &other,
                "a",
                &step(0, "first", "failed"),
                &jumps,
                &json!({}),
                RunMove::Failed("x".into()),
                later,
            )
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict { .. })), "a cancelled run takes no step");
        let (foreign, _, _) = parley_store::testing::workspace_with_channel(store, "globex", NOW).await;
        assert!(matches!(store.run(foreign, run.id).await, Err(StoreError::NotFound)));
        assert!(matches!(store.run_steps(foreign, run.id).await, Err(StoreError::NotFound)));
        // Finished runs are forgotten after their retention; running ones never.
        assert_eq!(store.prune_runs(later).await.unwrap(), 0, "changed at `later`, not before");
        assert_eq!(store.prune_runs(later.plus_secs(1)).await.unwrap(), 2);
        assert!(matches!(store.run_steps(ws, run.id).await, Err(StoreError::NotFound)));
    }
}

#[tokio::test]
async fn a_question_waits_until_woken_and_runs_on_a_conversation_take_turns() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let (ws, owner, _) = parley_store::testing::workspace_with_channel(store, "acme", NOW).await;
        let new = NewWorkflow { name: "w", draft: "{}", once_per_contact: false, created_by: Some(owner) };
        let w = store.create_workflow(ws, new, NOW).await.unwrap();
        let w = store.publish_workflow(ws, w.id, "{}", None, NOW).await.unwrap();
        let on = |conv: i64| NewRun {
            workspace_id: ws,
            workflow_id: w.id,
            version: w.version,
            conversation_id: Some(ConversationId(conv)),
            contact_id: None,
            trigger_event_id: None,
            trigger_key: None,
            first_step: "ask".into(),
            memory: json!({}),
        };
        let a = store.start_run(&on(1), NOW).await.unwrap();
        let b = store.start_run(&on(1), NOW).await.unwrap();
        let c = store.start_run(&on(2), NOW).await.unwrap();

        // Two runs on conversation 1: one is leased, the other waits its turn.
        let claimed = store.claim_runs("a", NOW, NOW.plus_secs(60), &RunShare::any(10)).await.unwrap();
        let ids: Vec<i64> = claimed.iter().map(|r| r.id).collect();
        assert_eq!(ids, [a.id, c.id], "{:?}", db.url);
        assert!(
            store.claim_runs("b", NOW.plus_secs(1), NOW.plus_secs(60), &RunShare::any(10)).await.unwrap().is_empty()
        );

        // The question is asked: the run sleeps a day unless woken.
        let deadline = NOW.plus_secs(86_400);
        let asking = json!({"asking": {"step": "ask", "since_message": 5, "attempts": 0, "deadline": 0}});
        let next = RunMove::Next { step: "ask".into(), at: deadline };
        let (none, empty) = (BTreeMap::new(), json!({}));
        let asked = step(0, "ask", "waiting");
        let waiting = store.record_step(&claimed[0], "a", &asked, &none, &asking, next, NOW).await.unwrap();
        assert_eq!(waiting.memory, asking);
        // Now the other run on conversation 1 may go.
        let turn = store.claim_runs("b", NOW.plus_secs(1), NOW.plus_secs(60), &RunShare::any(10)).await.unwrap();
        assert_eq!(turn.iter().map(|r| r.id).collect::<Vec<_>>(), [b.id]);
        store.record_step(&turn[0], "b", &step(0, "ask", "done"), &none, &empty, RunMove::Done, NOW).await.unwrap();
        // A message on another conversation wakes nothing; one on its own wakes it (once).
        assert_eq!(store.wake_awaiting(&[ConversationId(2)], NOW.plus_secs(5)).await.unwrap(), 0);
        assert_eq!(store.wake_awaiting(&[ConversationId(1)], NOW.plus_secs(5)).await.unwrap(), 1);
        assert_eq!(store.wake_awaiting(&[ConversationId(1)], NOW.plus_secs(6)).await.unwrap(), 0, "already due");
        let woken = store.claim_runs("a", NOW.plus_secs(70), NOW.plus_secs(130), &RunShare::any(10)).await.unwrap();
        let woken = woken.into_iter().find(|r| r.id == a.id).expect("woken by the reply");
        // Woken with nothing to do: back to sleep until its deadline, no step recorded.
        store.snooze_run(&woken, "a", deadline).await.unwrap();
        assert!(
            matches!(store.snooze_run(&woken, "a", deadline).await, Err(StoreError::Conflict { .. })),
            "lease gone"
        );
        let run = store.run(ws, a.id).await.unwrap();
        assert_eq!((run.seq, run.wake_at), (1, Some(deadline)));
        // A run that no longer waits for a reply is not woken.
        let due = store.claim_runs("a", deadline, deadline.plus_secs(60), &RunShare::any(10)).await.unwrap();
        let mine = due.into_iter().find(|r| r.id == a.id).unwrap();
        let later = deadline.plus_secs(3600);
        let next = RunMove::Next { step: "after".into(), at: later };
        store
            .record_step(&mine, "a", &step(1, "ask", "answered"), &BTreeMap::new(), &json!({}), next, deadline)
            .await
            .unwrap();
        assert_eq!(store.wake_awaiting(&[ConversationId(1)], deadline.plus_secs(1)).await.unwrap(), 0);
        // A cancelled run keeps its reason.
        let mine = store.claim_runs("a", later, later.plus_secs(60), &RunShare::any(10)).await.unwrap();
        let mine = mine.into_iter().find(|r| r.id == a.id).unwrap();
        let stop = RunMove::Cancelled("a person replied".into());
        let cancelled = step(2, "after", "cancelled");
        let stopped = store.record_step(&mine, "a", &cancelled, &none, &empty, stop, later).await.unwrap();
        assert_eq!((stopped.status, stopped.error.as_deref()), (RunStatus::Cancelled, Some("a person replied")));

        // Alone: not while the workflow runs on the conversation; a key once.
        let alone = store.start_run_alone(&on(4), NOW).await.unwrap();
        let again = store.start_run_alone(&on(4), NOW).await;
        assert!(matches!(again, Err(StoreError::Conflict { field: "conversation" })), "{again:?}");
        store.cancel_runs(ws, ConversationId(4), None, NOW).await.unwrap();
        assert_ne!(store.start_run_alone(&on(4), NOW).await.unwrap().id, alone.id, "after it ended");
        // Runs a scan starts are started once per key.
        let keyed = |key: &str| NewRun { trigger_key: Some(key.to_owned()), ..on(3) };
        assert_eq!(store.start_keyed_runs(&[keyed("k1"), keyed("k2")], NOW).await.unwrap(), 2);
        assert_eq!(store.start_keyed_runs(&[keyed("k1"), keyed("k3")], NOW).await.unwrap(), 1, "k1 again");
        assert_eq!(store.conversation_runs(w.id, ConversationId(3), NOW).await.unwrap(), (true, 3));
    }
}

#[tokio::test]
async fn a_claim_leaves_each_workspace_its_share() {
    for db in TestDatabase::all().await {
        let store = db.store.as_ref();
        let mut due = Vec::new();
        for (name, runs) in [("acme", 5), ("globex", 2)] {
            let (ws, owner, _) = parley_store::testing::workspace_with_channel(store, name, NOW).await;
            let new = NewWorkflow { name: "w", draft: "{}", once_per_contact: false, created_by: Some(owner) };
            let w = store.create_workflow(ws, new, NOW).await.unwrap();
            let w = store.publish_workflow(ws, w.id, "{}", None, NOW).await.unwrap();
            for _ in 0..runs {
                store.start_run(&contactless(&w), NOW).await.unwrap();
            }
            due.push(ws);
        }
        let (acme, globex) = (due[0], due[1]);
        let count = |runs: &[parley_store::Run], ws| runs.iter().filter(|r| r.workspace_id == ws).count();

        // Acme's five are older, and one of them is already going here: acme gets one more.
        let share = RunShare { limit: 10, per_workspace: 2, going: [(acme, 1)].into() };
        let claimed = store.claim_runs("a", NOW, NOW.plus_secs(60), &share).await.unwrap();
        assert_eq!((count(&claimed, acme), count(&claimed, globex)), (1, 2), "{:?}", db.url);

        // Acme at its share: its backlog fills the oldest places, and still hides no one else's
        // (one place asked, the first four due all acme's).
        let later = NOW.plus_secs(61);
        let (other, _, _) = parley_store::testing::workspace_with_channel(store, "initech", NOW).await;
        let new = NewWorkflow { name: "w", draft: "{}", once_per_contact: false, created_by: None };
        let w = store.create_workflow(other, new, NOW).await.unwrap();
        let w = store.publish_workflow(other, w.id, "{}", None, NOW).await.unwrap();
        store.start_run(&contactless(&w), NOW.plus_secs(1)).await.unwrap();
        let share = RunShare { limit: 1, per_workspace: 2, going: [(acme, 2), (globex, 2)].into() };
        let claimed = store.claim_runs("a", later, later.plus_secs(60), &share).await.unwrap();
        assert_eq!(claimed.iter().map(|r| r.workspace_id).collect::<Vec<_>>(), [other], "{:?}", db.url);
        // Without shares, the oldest first.
        let claimed = store.claim_runs("b", later, later.plus_secs(60), &RunShare::any(1)).await.unwrap();
        assert_eq!(claimed.iter().map(|r| r.workspace_id).collect::<Vec<_>>(), [acme]);
    }
}

/// A run of `w` on no conversation nor contact, from a step `call`.
fn contactless(w: &parley_store::Workflow) -> NewRun {
    NewRun {
        workspace_id: w.workspace_id,
        workflow_id: w.id,
        version: w.version,
        conversation_id: None,
        contact_id: None,
        trigger_event_id: None,
        trigger_key: None,
        first_step: "call".into(),
        memory: json!({}),
    }
}

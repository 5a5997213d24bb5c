//! Group commit of link creation (issue 18): concurrent creations share one transaction, and
//! none of them can fail its neighbours; a database that fails under a batch fails every waiter
//! with a 503 and writes nothing of it.

use authlink::{
    domain::{AccountType, AuthConfigId, ConnectedAccountId, LinkToken, ToolkitSlug},
    store::{NewLink, ProjectId},
};
use serde_json::{Value, json};

use crate::{
    db::{Backend, NO_ARGS},
    helpers::{TestApp, assert_error, assert_unavailable, spawn_app},
};

/// How many requests are in flight at once: more than the batcher's workers, so batches form.
const CONCURRENT: usize = 32;
/// The request of the alias already taken, and the two racing for one new alias.
const TAKEN: usize = 7;
const TWINS: [usize; 2] = [12, 13];

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap()
}

async fn accounts_of(app: &TestApp, user: &str) -> i64 {
    app.db.scalar::<i64, _>("select count(*) from connected_account where user_id = $1", [user]).await
}

async fn links_of(app: &TestApp, user: &str) -> i64 {
    app.db
        .scalar::<i64, _>(
            "select count(*) from link l join connected_account a on a.id = l.connected_account_id
             where a.user_id = $1",
            [user],
        )
        .await
}

/// Sends `bodies` to the session's link endpoint all at once; the responses in the same order.
async fn all_at_once(app: &TestApp, session: &str, bodies: Vec<Value>) -> Vec<crate::helpers::Resp> {
    futures::future::join_all(bodies.into_iter().map(|body| app.link(session, body))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_taken_alias_fails_only_its_own_request_among_concurrent_creates() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]}})).await;
    let taken = app.link_ok(&session, json!({"toolkit": "github", "alias": "work"})).await;

    // One request with the taken alias, two racing for the same new one, the rest free.
    let bodies = (0..CONCURRENT)
        .map(|i| match i {
            TAKEN => json!({"toolkit": "github", "alias": "work"}),
            _ if TWINS.contains(&i) => json!({"toolkit": "github", "alias": "twin"}),
            _ if i % 2 == 0 => json!({"toolkit": "github", "alias": format!("alias_{i}")}),
            _ => json!({"toolkit": "github"}),
        })
        .collect();
    let responses = all_at_once(&app, &session, bodies).await;

    assert_error(&responses[TAKEN], 409, "ConnectedAccount_AliasAlreadyExists");
    let twins: Vec<u16> = TWINS.iter().map(|i| responses[*i].status).collect();
    assert!(twins.contains(&201) && twins.contains(&409), "exactly one of the twins wins: {twins:?}");
    let loser = TWINS.iter().find(|i| responses[**i].status == 409).unwrap();
    assert_error(&responses[*loser], 409, "ConnectedAccount_AliasAlreadyExists");

    let mut created = Vec::new();
    for (i, r) in responses.iter().enumerate() {
        if i == TAKEN || i == *loser {
            continue;
        }
        let body = r.expect(201, &format!("request {i}"));
        let id = body["connected_account_id"].as_str().unwrap().to_owned();
        let token = body["link_token"].as_str().unwrap();
        assert_eq!(body["redirect_url"], format!("{}/link/{token}", app.base), "request {i}");
        assert_eq!(body["experimental"], json!({"account_type": "PRIVATE"}), "request {i}");
        // Its own rows, committed before the answer: readable at once.
        let account = app.get(&format!("connected_accounts/{id}")).await;
        let account = account.expect(200, &format!("account of request {i}"));
        assert_eq!(account["status"], "INITIATED", "request {i}");
        assert_eq!(account["auth_config"]["id"], ac, "request {i}");
        let alias = match i {
            _ if TWINS.contains(&i) => json!("twin"),
            _ if i % 2 == 0 => json!(format!("alias_{i}")),
            _ => Value::Null,
        };
        assert_eq!(account["alias"], alias, "request {i}");
        let page = app.anonymous().get(&format!("/link/{token}")).await;
        assert!(page.status < 400, "the link page of request {i}: {}", page.status);
        created.push(id);
    }
    created.sort();
    created.dedup();
    assert_eq!(created.len(), CONCURRENT - 2, "one account per created link");
    assert!(!created.contains(&taken));
    // Rows match the answers: the first link, plus one account and one link per 201.
    assert_eq!(accounts_of(&app, "user_1").await, count(CONCURRENT - 1));
    assert_eq!(links_of(&app, "user_1").await, count(CONCURRENT - 1));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_that_fails_in_the_database_fails_alone() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]}})).await;
    let faulty = app.create_session(json!({"user_id": "faulty", "toolkits": {"enable": ["github"]}})).await;
    // A fault only the database sees: a trigger refusing the faulty user's accounts.
    match app.db.backend() {
        Backend::Postgres => {
            app.db
                .execute(
                    "create function refuse_faulty() returns trigger language plpgsql as $$
                     begin if new.user_id = 'faulty' then raise exception 'refused'; end if; return new; end $$",
                    NO_ARGS,
                )
                .await;
            app.db
                .execute(
                    "create trigger refuse_faulty before insert on connected_account
                     for each row execute function refuse_faulty()",
                    NO_ARGS,
                )
                .await;
        }
        Backend::Sqlite => {
            app.db
                .execute(
                    "create trigger refuse_faulty before insert on connected_account when new.user_id = 'faulty'
                     begin select raise(abort, 'refused'); end",
                    NO_ARGS,
                )
                .await;
        }
    }
    let requests = (0..CONCURRENT).map(|i| {
        let session = if i % 8 == 3 { faulty.clone() } else { session.clone() };
        let app = &app;
        async move { (i, app.link(&session, json!({"toolkit": "github"})).await) }
    });
    let responses = futures::future::join_all(requests).await;
    let mut ok = 0;
    for (i, r) in &responses {
        if i % 8 == 3 {
            assert_eq!(r.status, 500, "request {i} of the faulty user: {}", r.text);
        } else {
            r.expect(201, &format!("request {i}, a neighbour of the faulty ones"));
            ok += 1;
        }
    }
    assert_eq!(ok, CONCURRENT - CONCURRENT / 8);
    assert_eq!(accounts_of(&app, "user_1").await, count(ok));
    assert_eq!(links_of(&app, "user_1").await, count(ok));
    assert_eq!(accounts_of(&app, "faulty").await, 0);
    app.cleanup().await;
}

/// PostgreSQL: a connection that dies in the middle of a batch (a trigger terminates its own
/// backend when the `killer` user's account is inserted) fails that whole batch with 503s and
/// writes none of it; the requests of other batches are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_lost_mid_batch_answers_503_to_the_batch_and_writes_none_of_it() {
    let app = spawn_app().await;
    if app.db.backend() != Backend::Postgres {
        app.cleanup().await;
        return;
    }
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]}})).await;
    let killer = app.create_session(json!({"user_id": "killer", "toolkits": {"enable": ["github"]}})).await;
    app.db
        .execute(
            "create function kill_own_backend() returns trigger language plpgsql as $$
             begin if new.user_id = 'killer' then perform pg_terminate_backend(pg_backend_pid()); end if;
             return new; end $$",
            NO_ARGS,
        )
        .await;
    app.db
        .execute(
            "create trigger kill_own_backend before insert on connected_account
             for each row execute function kill_own_backend()",
            NO_ARGS,
        )
        .await;
    let requests = (0..CONCURRENT).map(|i| {
        let session = if i == CONCURRENT / 2 { killer.clone() } else { session.clone() };
        let app = &app;
        async move { app.link(&session, json!({"toolkit": "github"})).await }
    });
    let responses = futures::future::join_all(requests).await;
    assert_unavailable(&responses[CONCURRENT / 2], "the killer's own request");
    let mut created = 0;
    for (i, r) in responses.iter().enumerate() {
        match r.status {
            201 => created += 1,
            _ => assert_unavailable(r, &format!("request {i}, in the killer's batch")),
        }
    }
    // Nothing half-written: exactly the answered 201s exist, each with its link.
    assert_eq!(accounts_of(&app, "user_1").await, created);
    assert_eq!(links_of(&app, "user_1").await, created);
    assert_eq!(accounts_of(&app, "killer").await, 0);
    // The pool recovers: the next link is created.
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    r.expect(201, "after the lost connection");
    app.cleanup().await;
}

/// A store whose pool is closed fails every queued link with "unavailable" (a 503), none hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closed_pool_fails_every_waiting_link_as_unavailable() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]}})).await;
    let project: String = app.db.scalar("select cast(id as text) from project where name = 'project-a'", NO_ARGS).await;
    let project = ProjectId(project.parse().unwrap());
    app.db.close().await;

    let link = |i: usize| NewLink {
        account_id: ConnectedAccountId::generate(),
        user_id: format!("user_{i}"),
        toolkit: ToolkitSlug::parse("github").unwrap(),
        auth_config_id: AuthConfigId::parse(&ac).unwrap(),
        alias: None,
        account_type: AccountType::Private,
        acl: None,
        token_hash: LinkToken::generate().hash(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
        callback_url: None,
        session_id: None,
        link_url_sealed: None,
    };
    let links: Vec<NewLink> = (0..CONCURRENT).map(link).collect();
    let started = std::time::Instant::now();
    let results = futures::future::join_all(links.iter().map(|l| app.store.create_link(project, l))).await;
    for (i, result) in results.iter().enumerate() {
        let err = result.as_ref().expect_err("no link without a database");
        assert!(err.is_unavailable(), "link {i}: {err:?}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "answered, not hung: {:?}", started.elapsed());
    // Over HTTP: every one a 503 the client may retry.
    let responses = all_at_once(&app, &session, vec![json!({"toolkit": "github"}); 8]).await;
    for (i, r) in responses.iter().enumerate() {
        assert_unavailable(r, &format!("request {i} without a database"));
    }
    app.cleanup().await;
}

/// Holds what every link write needs until dropped with [`Gate::open`]: on PostgreSQL a row lock
/// on every auth config (each batch share-locks its configs), on SQLite the write lock. Requests
/// sent meanwhile queue in the batcher, so the batches written after it opens are large.
enum Gate {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

impl Gate {
    async fn close(db: &crate::db::Db) -> Self {
        match db {
            crate::db::Db::Pg(pool) => {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("select id from auth_config for update").execute(&mut *tx).await.unwrap();
                Self::Pg(tx)
            }
            crate::db::Db::Lite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                sqlx::query("select 1").execute(&mut *tx).await.unwrap();
                Self::Lite(tx)
            }
        }
    }

    async fn open(self) {
        match self {
            Self::Pg(tx) => tx.commit().await.unwrap(),
            Self::Lite(tx) => tx.commit().await.unwrap(),
        }
    }
}

/// Many links of two projects written in the same batches (PostgreSQL: one multi-row statement
/// per batch, checked by a statement trigger counting its rows): each gets its own account,
/// link and `initiated` event with its own id, delivered only to its own project's
/// subscription; a taken alias and the loser of two racing for one new alias fail alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_batch_writes_each_link_its_own_rows_and_events_across_projects() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]}})).await;
    let other_key = app.new_project_key("project-b").await;
    let other = app.as_key(&other_key);
    app.create_auth_config_with(&other, "github", json!({})).await;
    let r = other.post("tool_router/session", json!({"user_id": "user_b", "toolkits": {"enable": ["github"]}})).await;
    let other_session = r.expect(201, "project b's session")["session_id"].as_str().unwrap().to_owned();
    let initiated = ["composio.connected_account.initiated"];
    let ours = crate::webhooks::subscribe(&app, "https://a.example.com/h", &initiated).await;
    let r = other
        .post("webhook_subscriptions", json!({"webhook_url": "https://b.example.com/h", "enabled_events": initiated}))
        .await;
    let theirs = r.expect(201, "project b's subscription").clone();
    app.link_ok(&session, json!({"toolkit": "github", "alias": "work"})).await;
    if app.db.backend() == Backend::Postgres {
        for sql in [
            "create table batch_size (n bigint not null)",
            "create function log_batch_size() returns trigger language plpgsql as $$
             begin insert into batch_size select count(*) from new_rows; return null; end $$",
            "create trigger log_batch_size after insert on connected_account referencing new table as new_rows
             for each statement execute function log_batch_size()",
        ] {
            app.db.execute(sql, NO_ARGS).await;
        }
    }

    let gate = Gate::close(&app.db).await;
    let requests = (0..CONCURRENT).map(|i| {
        let body = match i {
            TAKEN => json!({"toolkit": "github", "alias": "work"}),
            _ if TWINS.contains(&i) => json!({"toolkit": "github", "alias": "twin"}),
            _ => json!({"toolkit": "github"}),
        };
        let (app, other, session, other_session) = (&app, &other, &session, &other_session);
        async move {
            if i % 4 == 2 {
                other.post(&format!("tool_router/session/{other_session}/link"), body).await
            } else {
                app.link(session, body).await
            }
        }
    });
    let (responses, ()) = futures::future::join(futures::future::join_all(requests), async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        gate.open().await;
    })
    .await;

    assert_error(&responses[TAKEN], 409, "ConnectedAccount_AliasAlreadyExists");
    let twins: Vec<u16> = TWINS.iter().map(|i| responses[*i].status).collect();
    assert!(twins.contains(&201) && twins.contains(&409), "exactly one of the twins wins: {twins:?}");
    let mut created = Vec::new();
    for (i, r) in responses.iter().enumerate() {
        if r.status == 409 && (i == TAKEN || TWINS.contains(&i)) {
            continue;
        }
        let id = r.expect(201, &format!("request {i}"))["connected_account_id"].as_str().unwrap().to_owned();
        let project = if i % 4 == 2 { "project-b" } else { "project-a" };
        created.push((id, project));
    }
    assert_eq!(created.len(), CONCURRENT - 2);
    for (id, project) in &created {
        let events = app
            .db
            .rows(
                "select cast(e.id as text) as id, p.name as project,
                        (select count(*) from webhook_delivery d where d.event_id = e.id) as deliveries,
                        (select max(cast(d.subscription_id as text)) from webhook_delivery d where d.event_id = e.id)
                            as subscription
                 from webhook_event e join project p on p.id = e.project_id
                 where e.connected_account_id = $1 and e.event_type = 'composio.connected_account.initiated'",
                [id.as_str()],
            )
            .await;
        assert_eq!(events.len(), 1, "one initiated event for {id}");
        assert_eq!(events[0].get::<String>("project"), *project, "{id}'s event is its project's");
        assert_eq!(events[0].get::<i64>("deliveries"), 1, "{id}: one delivery, to its own project's subscription");
        let subscription = if *project == "project-a" { &ours } else { &theirs };
        assert_eq!(events[0].get::<String>("subscription"), subscription["id"].as_str().unwrap(), "{id}");
        assert_eq!(links_of_account(&app, id).await, 1, "{id} has its link");
    }
    let distinct: i64 = app.db.scalar("select count(distinct id) from webhook_event", NO_ARGS).await;
    assert_eq!(distinct, count(created.len() + 1), "every event has its own id (the first link's too)");
    if app.db.backend() == Backend::Postgres {
        let largest: i64 = app.db.scalar("select max(n) from batch_size", NO_ARGS).await;
        assert!(largest > 1, "links were written several to a statement (largest batch {largest})");
    }
    app.cleanup().await;
}

async fn links_of_account(app: &TestApp, id: &str) -> i64 {
    app.db.scalar::<i64, _>("select count(*) from link where connected_account_id = $1", [id]).await
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Propagation end to end (issue 6; DECISIONS A11, B16, C2, C4): `cis serve` processes fed over
//! real sockets, relying parties ([`TestRp`]) that verify every bearer token against the serve's
//! issuer over HTTP, the SQLite queue across a SIGKILL.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use cis_e2e::rp::{Behaviour, Delivery, TestRp};
use cis_e2e::*;
use futures::StreamExt as _;
use serde_json::{Value, json};

/// Starts `cis serve` notifying `rps`, and tells each RP to trust the serve's issuer as
/// `serve.json` describes it.
async fn serve_notifying(rps: &[&TestRp], options: ServeOptions) -> CisServer {
    let urls: Vec<&str> = rps.iter().map(|rp| rp.url.as_str()).collect();
    let cis = CisServer::start_with(options.env("CIS_RP_URLS", &urls.join(",")));
    let trust = cis.rp_trust();
    for rp in rps {
        rp.trust(trust.clone()).await;
    }
    cis
}

/// Asserts a delivery is exactly `{"operation","id","time"}` for `user_id`, with a `time`
/// between `not_before` and when it arrived, and a token the RP verified.
fn assert_notification(delivery: &Delivery, operation: &str, user_id: &str, not_before: f64) {
    let body = delivery.body.as_object().unwrap();
    assert_eq!(
        body.keys().collect::<Vec<_>>(),
        ["operation", "id", "time"],
        "{body:?}"
    );
    assert_eq!(delivery.operation(), Some(operation), "{body:?}");
    assert_eq!(delivery.user_id(), Some(user_id), "{body:?}");
    let time = body["time"].as_f64().expect("time is a number of seconds");
    // Whole seconds may truncate: allow one second before the request was sent.
    assert!(
        time >= not_before.floor() - 1.0 && time <= delivery.received_epoch + 1.0,
        "time {time} not between {not_before} and {}",
        delivery.received_epoch
    );
    assert!(delivery.token.is_ok(), "token: {:?}", delivery.token);
    assert_eq!(delivery.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_reaches_every_rp_with_a_verified_token() {
    let first = TestRp::start().await;
    let second = TestRp::start().await;
    let mut cis = serve_notifying(
        &[&first, &second],
        ServeOptions::default().arg("--allow-delete"),
    )
    .await;
    let trust = cis.rp_trust();
    assert_eq!(trust.issuer, format!("{}/", cis.url("issuer_url")));

    // The RPs really check tokens: a probe RP with the same trust refuses a missing token, an
    // API token (wrong audience) and a token signed by another key, and accepts a token minted
    // by the serve's issuer for the hook audience.
    let probe = TestRp::start().await;
    probe.trust(trust.clone()).await;
    let issuer = cis.issuer();
    let api_token = cis.token("write");
    let forged = cis_http::DevIssuer::generate(&cis.url("issuer_url"))
        .unwrap()
        .mint("evil", &trust.audience, ["x"], Duration::from_secs(600))
        .unwrap();
    let expired = issuer
        .sign(
            &json!({"iss": trust.issuer, "aud": trust.audience, "sub": "old", "exp": now() - 600}),
        )
        .unwrap();
    let good = issuer
        .mint("probe", &trust.audience, ["x"], Duration::from_secs(600))
        .unwrap();
    let body = json!({"operation": "update", "id": "probe", "time": now()});
    for (token, expected) in [
        (None, 401),
        (Some(&api_token), 401),
        (Some(&forged), 401),
        (Some(&expired), 401),
        (Some(&good), 200),
    ] {
        let mut request = cis.http.post(&probe.url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status, expected, "{:?}", probe.deliveries().last());
    }

    let signer = cis.signer();
    let writer = cis.writer();
    let profile = new_user(6001, &signer);
    let user_id = user_id_of(&profile);
    let uri = format!("/v2/user?user_id={}", encode(&user_id));
    let deadline = Duration::from_secs(60);
    let count = |n: usize| move |seen: &[Delivery]| seen.len() >= n;

    let sent = epoch_now();
    let (status, answer) = cis.post("/v2/user", Some(&writer), &profile).await;
    assert_eq!(
        (status, answer["condition"].as_str()),
        (200, Some("create")),
        "{answer}"
    );
    for rp in [&first, &second] {
        let seen = rp
            .wait_until(deadline, "create notification", count(1))
            .await;
        assert_notification(&seen[0], "create", &user_id, sent);
    }

    let sent = epoch_now();
    let update = change(
        &profile,
        "fun_title",
        json!("propagated"),
        "mozilliansorg",
        &signer,
    );
    let (status, answer) = cis.post(&uri, Some(&writer), &update).await;
    assert_eq!(
        (status, answer["condition"].as_str()),
        (200, Some("update")),
        "{answer}"
    );
    for rp in [&first, &second] {
        let seen = rp
            .wait_until(deadline, "update notification", count(2))
            .await;
        assert_notification(&seen[1], "update", &user_id, sent);
    }

    // The same update again is a no-op: nothing is written, so nothing is notified (checked
    // below: the delete's notification is the next one).
    let (status, answer) = cis.post(&uri, Some(&writer), &update).await;
    assert_eq!(
        (status, answer["condition"].as_str()),
        (200, Some("noop")),
        "{answer}"
    );

    // A graceful restart resumes from the saved checkpoint: nothing is delivered twice.
    assert!(
        cis.stop(Duration::from_secs(60)),
        "cis serve did not stop on SIGTERM"
    );
    cis.restart();

    let sent = epoch_now();
    let (status, answer) = cis.call("DELETE", &cis.change(&uri), Some(&writer)).await;
    assert_eq!(
        (status, answer["condition"].as_str()),
        (200, Some("delete")),
        "{answer}"
    );
    for rp in [&first, &second] {
        let seen = rp
            .wait_until(deadline, "delete notification", count(3))
            .await;
        assert_notification(&seen[2], "delete", &user_id, sent);
        assert_eq!(
            seen.len(),
            3,
            "no repeat, no notification for the no-op: {seen:?}"
        );
    }
}

fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

const USERS: usize = 200;
const CHANGES_PER_USER: usize = 5;
/// Attributes the updates rotate through besides `fun_title` (all owned by mozilliansorg).
const ROTATING: [&str; 4] = ["description", "location", "pronouns", "alternative_name"];

/// One queued change: whose, which of theirs (0 = the create), and the body.
struct Planned {
    user: usize,
    round: usize,
    body: Value,
}

/// The changes of `USERS` users, `CHANGES_PER_USER` each: the signed new profile, then updates
/// that each set `fun_title` to a value naming the round plus one rotating attribute. Updates
/// carry the user's signed `user_id` so they can travel in a `/v2/users` batch.
fn plan(signer: &cis_crypto::Signer) -> Vec<Vec<Planned>> {
    let profiles: Vec<Value> = std::thread::scope(|scope| {
        let halves: Vec<_> = (0..2)
            .map(|half| {
                scope.spawn(move || {
                    (0..USERS)
                        .filter(|u| u % 2 == half)
                        .map(|u| (u, new_user(70_000 + u as u64, signer)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Value)> =
            halves.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_by_key(|(u, _)| *u);
        all.into_iter().map(|(_, p)| p).collect()
    });
    (0..CHANGES_PER_USER)
        .map(|round| {
            profiles
                .iter()
                .enumerate()
                .map(|(user, profile)| {
                    let body = if round == 0 {
                        profile.clone()
                    } else {
                        let tag = format!("u{user}-r{round}");
                        let mut body =
                            change(profile, "fun_title", json!(tag), "mozilliansorg", signer);
                        let rotating = ROTATING[(user + round) % ROTATING.len()];
                        add_change(
                            &mut body,
                            profile,
                            rotating,
                            new_value(profile, rotating, &tag),
                            "mozilliansorg",
                            signer,
                        );
                        body["user_id"] = profile["user_id"].clone();
                        body
                    };
                    Planned { user, round, body }
                })
                .collect()
        })
        .collect()
}

/// Sends one round (one change per user, so order per user does not depend on how requests
/// interleave): even users in `/v2/users` batches of 20, odd users one by one, four requests in
/// flight. Returns (user, round, sequence number) for every change, all answered 202.
async fn post_round(
    cis: &CisServer,
    writer: &str,
    round: &[Planned],
) -> Vec<(usize, usize, String)> {
    enum Request<'a> {
        Batch(Vec<&'a Planned>),
        Single(&'a Planned),
    }
    let (batched, single): (Vec<&Planned>, Vec<&Planned>) =
        round.iter().partition(|p| p.user % 2 == 0);
    let mut requests: Vec<Request> = batched
        .chunks(20)
        .map(|c| Request::Batch(c.to_vec()))
        .collect();
    requests.extend(single.into_iter().map(Request::Single));
    let answers = futures::stream::iter(requests)
        .map(|request| async move {
            match request {
                Request::Batch(changes) => {
                    let bodies: Vec<&Value> = changes.iter().map(|c| &c.body).collect();
                    let (status, answer) =
                        cis.post("/v2/users", Some(writer), &json!(bodies)).await;
                    assert_eq!(status, 202, "{answer}");
                    assert_eq!(answer["failed"], 0, "{answer}");
                    let results = answer["results"].as_array().unwrap();
                    assert_eq!(results.len(), changes.len());
                    changes
                        .iter()
                        .zip(results)
                        .map(|(c, r)| {
                            assert_eq!(r["condition"], "queued", "{r}");
                            (
                                c.user,
                                c.round,
                                r["sequence_number"].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect::<Vec<_>>()
                }
                Request::Single(c) => {
                    let (status, answer) = cis.post("/v2/user", Some(writer), &c.body).await;
                    assert_eq!(status, 202, "{answer}");
                    assert_eq!(answer["condition"], "queued", "{answer}");
                    vec![(
                        c.user,
                        c.round,
                        answer["sequence_number"].as_str().unwrap().to_owned(),
                    )]
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    answers.into_iter().flatten().collect()
}

/// `/v2/status` of each sequence number: "pending", "integrated" or "rejected: <reason>".
async fn statuses(cis: &CisServer, numbers: &[String]) -> HashMap<String, String> {
    futures::stream::iter(numbers)
        .map(|sn| async move {
            let (status, body) = cis
                .call(
                    "GET",
                    &cis.change(&format!("/v2/status?sequenceNumber={sn}")),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{sn}: {body}");
            let state = match body["status"].as_str().unwrap() {
                "rejected" => format!("rejected: {}", body["reason"]),
                other => other.to_owned(),
            };
            (sn.clone(), state)
        })
        .buffer_unordered(8)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_queued_changes_survive_sigkill_in_order_and_reach_the_rp() {
    let rp = TestRp::start().await;
    let mut cis = serve_notifying(
        &[&rp],
        ServeOptions::default().env("CIS_STREAM_BYPASS", "false"),
    )
    .await;
    let signer = cis.signer();
    let rounds = plan(&signer);
    let mut writer = cis.writer();

    let mut queued: Vec<(usize, usize, String)> = Vec::new();
    let kill_after_round = 2;
    let mut kills = 0usize;
    for (index, round) in rounds.iter().enumerate() {
        queued.extend(post_round(&cis, &writer, round).await);
        if index == kill_after_round {
            // Mid-load: 600 changes queued, the processor and the notifier busy with them.
            // (Only the last round is sampled, to kill with as much of the backlog as can be.)
            let numbers: Vec<String> = queued[queued.len() - USERS..]
                .iter()
                .map(|(_, _, sn)| sn.clone())
                .collect();
            let before = statuses(&cis, &numbers).await;
            let pending = before.values().filter(|s| *s == "pending").count();
            eprintln!(
                "SIGKILL with {pending} of the last {} queued changes pending, {} notifications delivered",
                numbers.len(),
                rp.accepted().len()
            );
            cis.kill();
            kills += 1;
            cis.restart();
            writer = cis.writer();
        }
    }
    // And again right after the last change is queued, while the backlog is being worked off.
    cis.kill();
    kills += 1;
    cis.restart();
    assert_eq!(queued.len(), USERS * CHANGES_PER_USER);
    let distinct: std::collections::BTreeSet<&String> =
        queued.iter().map(|(_, _, sn)| sn).collect();
    assert_eq!(
        distinct.len(),
        queued.len(),
        "every queued change has its own sequence number"
    );

    // Every sequence number ends integrated; none is lost or rejected.
    let mut waiting: Vec<String> = queued.iter().map(|(_, _, sn)| sn.clone()).collect();
    let started = Instant::now();
    let deadline = Duration::from_secs(300);
    loop {
        let now = statuses(&cis, &waiting).await;
        let rejected: Vec<&String> = now.values().filter(|s| s.starts_with("rejected")).collect();
        assert!(rejected.is_empty(), "rejected: {rejected:?}");
        waiting.retain(|sn| now[sn] != "integrated");
        if waiting.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < deadline,
            "{} changes still pending after {deadline:?}, e.g. {:?}",
            waiting.len(),
            &waiting[..waiting.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Order per user: the stored profile holds each user's last change.
    let last_round = CHANGES_PER_USER - 1;
    let user_ids: Vec<String> = rounds[0].iter().map(|p| user_id_of(&p.body)).collect();
    let reads = futures::stream::iter(rounds[last_round].iter())
        .map(|planned| {
            let cis = &cis;
            let user_id = &user_ids[planned.user];
            async move { (planned, cis.read_user(user_id).await) }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for (planned, stored) in reads {
        let original = &rounds[0][planned.user].body;
        assert_eq!(stored["user_id"]["value"], json!(user_ids[planned.user]));
        assert_eq!(
            stored["first_name"]["value"],
            original["first_name"]["value"]
        );
        assert_eq!(
            stored["fun_title"]["value"],
            json!(format!("u{}-r{last_round}", planned.user)),
            "user {}: the last change must win",
            planned.user
        );
        let rotating = ROTATING[(planned.user + last_round) % ROTATING.len()];
        let attr = cis_profile::attribute(&stored, rotating).unwrap();
        let sent = cis_profile::attribute(&planned.body, rotating).unwrap();
        let key = if sent.contains_key("values") {
            "values"
        } else {
            "value"
        };
        assert_eq!(attr[key], sent[key], "user {} {rotating}", planned.user);
    }

    // The RP saw every change of every user, create first, each with a valid token.
    let expected = USERS * CHANGES_PER_USER;
    let user_index: HashMap<&str, usize> = user_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let seen = rp
        .wait_until(Duration::from_secs(180), "every change notified", |seen| {
            let mut per_user = vec![0usize; USERS];
            for d in seen.iter().filter(|d| d.accepted()) {
                if let Some(&u) = d.user_id().and_then(|id| user_index.get(id)) {
                    per_user[u] += 1;
                }
            }
            per_user.iter().all(|n| *n >= CHANGES_PER_USER)
        })
        .await;
    let refused: Vec<&Delivery> = seen.iter().filter(|d| !d.accepted()).collect();
    assert!(refused.is_empty(), "deliveries the RP refused: {refused:?}");
    let mut operations: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for d in &seen {
        let user = user_index[d.user_id().unwrap()];
        assert_eq!(d.body.as_object().unwrap().len(), 3, "{}", d.body);
        assert!(d.body["time"].is_number(), "{}", d.body);
        operations
            .entry(user)
            .or_default()
            .push(d.operation().unwrap());
    }
    let mut repeats = 0;
    for (user, ops) in &operations {
        assert_eq!(ops[0], "create", "user {user}: {ops:?}");
        let creates = ops.iter().filter(|o| **o == "create").count();
        let updates = ops.iter().filter(|o| **o == "update").count();
        assert_eq!(creates + updates, ops.len(), "user {user}: {ops:?}");
        assert!(updates >= CHANGES_PER_USER - 1, "user {user}: {ops:?}");
        // A repeated create can only be the same event again, right after the first.
        assert!(
            creates == 1 || ops[..creates].iter().all(|o| *o == "create"),
            "{ops:?}"
        );
        repeats += ops.len() - CHANGES_PER_USER;
    }
    // The local notifier settles one event at a time and saves its checkpoint after each:
    // only a kill between an RP's 200 and that save makes the one event in flight go again,
    // so at most one repeat per kill per RP. (A change integrated but not yet acked when the
    // processor is killed is integrated again after the restart: a no-op, which writes no
    // event, so it adds no notification.)
    assert!(
        repeats <= kills,
        "{repeats} repeated notifications for {kills} kill(s): {} deliveries for {expected} changes",
        seen.len()
    );
    eprintln!(
        "{} deliveries for {expected} changes, {repeats} repeated",
        seen.len()
    );
}

/// `cis notify status` once `done` holds for its answer, polling.
async fn notify_status_until<F>(cis: &CisServer, what: &str, mut done: F) -> Value
where
    F: FnMut(&Value) -> bool,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, status) = cis.cli(&["notify", "status"]);
        assert_eq!(code, 0, "{status}");
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_rp_gets_dead_letters_that_replay_delivers_once() {
    let healthy = TestRp::start().await;
    let failing = TestRp::start().await;
    failing.set_behaviour(Behaviour::Failing);
    let cis = serve_notifying(
        &[&healthy, &failing],
        ServeOptions::default()
            .env("CIS_API_IDENTIFIER", "hook.e2e.example")
            .env("CIS_NOTIFIER_MAX_ATTEMPTS", "2")
            .env("CIS_NOTIFIER_TIMEOUT_SECONDS", "5"),
    )
    .await;
    assert_eq!(cis.rp_trust().audience, "hook.e2e.example");
    let signer = cis.signer();
    let writer = cis.writer();
    let profile = new_user(6101, &signer);
    let user_id = user_id_of(&profile);
    let uri = format!("/v2/user?user_id={}", encode(&user_id));
    let deadline = Duration::from_secs(60);

    let (status, _) = cis.post("/v2/user", Some(&writer), &profile).await;
    assert_eq!(status, 200);
    let update = change(
        &profile,
        "fun_title",
        json!("dead letter"),
        "mozilliansorg",
        &signer,
    );
    let (status, _) = cis.post(&uri, Some(&writer), &update).await;
    assert_eq!(status, 200);

    // The healthy RP gets both at once; the failing one is tried twice per change (valid
    // tokens, answered 503), then each change becomes a dead letter for that RP only.
    let seen = healthy
        .wait_until(deadline, "healthy RP", |s| s.len() >= 2)
        .await;
    assert_eq!(
        seen.iter()
            .map(|d| d.operation().unwrap())
            .collect::<Vec<_>>(),
        ["create", "update"]
    );
    let letters = notify_status_until(&cis, "two dead letters", |s| s["count"] == 2).await;
    assert_eq!(letters["unreplayed"], 2, "{letters}");
    for (letter, operation) in letters["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["create", "update"])
    {
        assert_eq!(letter["rp"], json!(failing.url), "{letter}");
        assert_eq!(letter["operation"], operation, "{letter}");
        assert_eq!(letter["user_id"], json!(user_id), "{letter}");
        assert_eq!(letter["attempts"], 2, "{letter}");
        assert_eq!(letter["status"], 503, "{letter}");
        assert_eq!(letter["replayed"], false, "{letter}");
    }
    let attempts = failing.deliveries();
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    assert!(attempts.iter().all(|d| d.status == 503 && d.token.is_ok()));

    // The RP recovers; replay delivers each letter to it, in order, and to nobody else.
    failing.set_behaviour(Behaviour::Healthy);
    let (code, report) = cis.cli(&["notify", "replay"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["delivered_count"], 2, "{report}");
    assert_eq!(report["failed_count"], 0, "{report}");
    let replayed: Vec<Delivery> = failing.accepted();
    assert_eq!(replayed.len(), 2, "{replayed:?}");
    assert_notification(&replayed[0], "create", &user_id, 0.0);
    assert_notification(&replayed[1], "update", &user_id, 0.0);
    let letters = notify_status_until(&cis, "all replayed", |s| s["unreplayed"] == 0).await;
    assert_eq!(letters["count"], 2, "{letters}");

    // Nothing is left to replay, and the healthy RP was never called again.
    let (code, report) = cis.cli(&["notify", "replay"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["delivered_count"], 0, "{report}");
    assert_eq!(failing.deliveries().len(), 6);
    assert_eq!(healthy.deliveries().len(), 2);
}

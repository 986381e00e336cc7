#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Person API over real HTTP against a `cis serve` process filled by `cis seed`, as DinoPark
//! and the publishers read it (person-api spec; DECISIONS A9, B13–B15): every lookup route with
//! several scope sets equals `cis profile filter` on the stored profile, paging returns each user
//! once, inactive users only with `active=False|Any`, bad parameters are 400 JSON naming them.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use cis_e2e::*;
use serde_json::{Value, json};

const SCOPE_SETS: [&str; 4] = [
    "",
    "classification:workgroup display:authenticated display:vouched",
    "classification:mozilla_confidential classification:workgroup classification:workgroup:staff_only display:staff display:ndaed display:vouched display:authenticated",
    "read:fullprofile display:all",
];

fn seed(cis: &CisServer, users: usize) -> Value {
    let out = Command::new(cis_bin())
        .args([
            "seed",
            "--quiet",
            "--users",
            &users.to_string(),
            "--data-dir",
        ])
        .arg(&cis.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "cis seed: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What `cis profile filter` prints for `profile` and these scopes.
fn cli_filter(profile: &Value, scopes: &str, filter_display: Option<&str>) -> Value {
    let mut args = vec!["profile", "filter", "--scopes", scopes];
    if let Some(level) = filter_display {
        args.extend(["--filter-display", level]);
    }
    args.push("-");
    let mut child = Command::new(cis_bin())
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(profile.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn all_ids(cis: &CisServer, auth: &str, active: &str) -> Vec<Value> {
    let mut users = Vec::new();
    for method in ["ad", "github", "google-oauth2", "oauth2", "email"] {
        let url = cis.person(&format!(
            "/v2/users/id/all?connectionMethod={method}&active={active}"
        ));
        let (status, body) = cis.call("GET", &url, Some(auth)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["nextPage"], Value::Null);
        users.extend(body["users"].as_array().unwrap().iter().cloned());
    }
    users
}

#[tokio::test]
async fn every_lookup_route_filters_exactly_like_the_cli() {
    let cis = CisServer::start(&[]);
    let summary = seed(&cis, 12);
    assert!(summary.to_string().contains("12"), "{summary}");
    let reader = cis.reader();
    let users = all_ids(&cis, &reader, "Any").await;
    assert_eq!(users.len(), 12, "{users:?}");

    for user in users.iter().take(6) {
        let user_id = user["user_id"].as_str().unwrap();
        let stored = cis.read_user(user_id).await;
        assert_eq!(stored["user_id"]["value"], json!(user_id));
        let routes = [
            format!("/v2/user/user_id/{}", encode(user_id)),
            format!(
                "/v2/user/uuid/{}",
                encode(stored["uuid"]["value"].as_str().unwrap())
            ),
            format!(
                "/v2/user/primary_username/{}",
                encode(stored["primary_username"]["value"].as_str().unwrap())
            ),
        ];
        for scopes in SCOPE_SETS {
            let auth = format!(
                "Bearer {}",
                cis.token(if scopes.is_empty() {
                    "classification:public"
                } else {
                    scopes
                })
            );
            let expected = cli_filter(&stored, scopes, None);
            for route in &routes {
                let (status, body) = cis.call("GET", &cis.person(route), Some(&auth)).await;
                assert_eq!(status, 200, "{route}: {body}");
                assert_eq!(body, expected, "{route} with scopes {scopes:?}");
            }
            let expected = cli_filter(&stored, scopes, Some("vouched"));
            let route = format!("{}?filterDisplay=vouched", routes[0]);
            let (_, body) = cis.call("GET", &cis.person(&route), Some(&auth)).await;
            assert_eq!(body, expected, "{route} with scopes {scopes:?}");
        }
        // Emails are shared by several accounts in real data; the route answers one of them,
        // filtered the same way.
        let email = stored["primary_email"]["value"].as_str().unwrap();
        let (status, body) = cis
            .call(
                "GET",
                &cis.person(&format!("/v2/user/primary_email/{}", encode(email))),
                Some(&reader),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["primary_email"]["value"], json!(email));
    }

    // Absent users: 200 {}.
    let (status, body) = cis
        .call(
            "GET",
            &cis.person("/v2/user/user_id/nobody%7Chere"),
            Some(&reader),
        )
        .await;
    assert_eq!((status, body), (200, json!({})));
}

#[tokio::test]
async fn paging_returns_every_user_exactly_once_and_inactive_only_on_request() {
    let cis = CisServer::start(&[]);
    seed(&cis, 40);
    let reader = cis.reader();

    // Deactivate one user, as the access provider does.
    let signer = cis.signer();
    let writer = cis.writer();
    let victim = all_ids(&cis, &reader, "Any").await[0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = cis.read_user(&victim).await;
    let body = change(&stored, "active", json!(false), "access_provider", &signer);
    let (status, answer) = cis
        .post(
            &format!("/v2/user?user_id={}", encode(&victim)),
            Some(&writer),
            &body,
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    let mut seen = Vec::new();
    let mut next: Option<Value> = None;
    for _ in 0..100 {
        let url = match &next {
            None => cis.person("/v2/users"),
            Some(page) => cis.person(&format!("/v2/users?nextPage={}", encode(&page.to_string()))),
        };
        let (status, body) = cis.call("GET", &url, Some(&reader)).await;
        assert_eq!(status, 200, "{body}");
        for item in body["Items"].as_array().unwrap() {
            seen.push(item["user_id"]["value"].as_str().unwrap().to_owned());
        }
        if body["nextPage"].is_null() {
            next = None;
            break;
        }
        next = Some(body["nextPage"].clone());
    }
    assert!(next.is_none(), "paging did not end");
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a user was returned twice");
    assert_eq!(
        seen.len(),
        39,
        "every active user once, the inactive one not"
    );
    assert!(!unique.contains(&victim));

    let active_ids: BTreeSet<String> = all_ids(&cis, &reader, "True")
        .await
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect();
    let inactive: Vec<Value> = all_ids(&cis, &reader, "False").await;
    assert_eq!(active_ids.len(), 39);
    assert!(!active_ids.contains(&victim));
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0]["user_id"], json!(victim));
    assert_eq!(all_ids(&cis, &reader, "any").await.len(), 40);

    let route = format!("/v2/user/user_id/{}", encode(&victim));
    let (_, body) = cis.call("GET", &cis.person(&route), Some(&reader)).await;
    assert_eq!(body, json!({}), "an inactive user is hidden by default");
    let (_, body) = cis
        .call(
            "GET",
            &cis.person(&format!("{route}?active=False")),
            Some(&reader),
        )
        .await;
    assert_eq!(body["user_id"]["value"], json!(victim));
}

#[tokio::test]
async fn bad_parameters_and_missing_tokens_are_json_errors() {
    let cis = CisServer::start(&[]);
    let reader = cis.reader();
    let (status, body) = cis
        .call(
            "GET",
            &cis.person("/v2/users/id/all?connectionMethod=ad&active=maybe"),
            Some(&reader),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("active"),
        "{body}"
    );

    let (status, body) = cis
        .call(
            "GET",
            &cis.person("/v2/users?nextPage=%7Bnot-json"),
            Some(&reader),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("nextPage"),
        "{body}"
    );

    let (status, body) = cis
        .call(
            "GET",
            &cis.person("/v2/users/id/all?connectionMethod=ad"),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["code"].is_string());

    let (status, body) = cis
        .call(
            "GET",
            &cis.person("/v2/user/metadata/someone%40example.com"),
            None,
        )
        .await;
    assert_eq!(status, 401, "metadata needs a token (B13): {body}");

    let (status, body) = cis.call("GET", &cis.person("/v2/openapi.json"), None).await;
    assert_eq!(status, 200);
    assert!(body["paths"].get("/v2/users/id/all").is_some(), "{body}");
}

//! Person use cases over both embedded backends (memory and SQLite): the same answers from each,
//! paging that visits every user once, the active filter, AND-ed search criteria, and filtering
//! that is exactly `cis_profile::filter_profile`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use cis_core::person::{
    ActiveFilter, AttributeSearch, IdListing, ListUsers, PersonError, PersonOptions, PersonService,
    QueryParams, Selector, View,
};
use cis_profile::{FakeOptions, ScopeGrant, fake_profile, filter_profile, sanitized_profile};
use cis_vault::{MemoryVault, PageToken, ProfileRecord, ProfileStore, WriteOp};
use cis_vault_sqlite::SqliteVault;
use serde_json::{Value, json};

const USERS: u64 = 1000;

fn profile(n: u64) -> Value {
    let mut p = fake_profile(n, &FakeOptions::default());
    // Unique, sortable ids across five connection methods.
    let method = [
        "ad|Mozilla-LDAP",
        "email",
        "github",
        "google-oauth2",
        "oauth2|firefoxaccounts",
    ][(n % 5) as usize];
    p["user_id"]["value"] = json!(format!("{method}|u{n:05}"));
    p["primary_email"]["value"] = json!(format!("u{n:05}@example.com"));
    p["uuid"]["value"] = json!(format!("00000000-0000-4000-8000-{n:012}"));
    p["primary_username"]["value"] = json!(format!("user{n:05}"));
    p["active"]["value"] = json!(n % 7 != 4);
    p["staff_information"]["staff"]["value"] = json!(n.is_multiple_of(3));
    p["staff_information"]["title"]["value"] = json!(if n.is_multiple_of(2) {
        "Engineer"
    } else {
        "Manager"
    });
    p
}

fn profiles() -> Vec<Value> {
    (0..USERS).map(profile).collect()
}

async fn fill(store: &dyn ProfileStore, profiles: &[Value]) {
    // One batch: SQLite commits it as one transaction instead of a thousand fsyncs.
    let ops = profiles
        .iter()
        .map(|p| {
            let flat = sanitized_profile(p).as_object().cloned().unwrap();
            WriteOp::Create(ProfileRecord::from_profile(p.clone(), flat).unwrap())
        })
        .collect();
    for result in store.write_batch(ops).await {
        result.unwrap();
    }
}

async fn backends(
    profiles: &[Value],
) -> Vec<(&'static str, PersonService, Option<tempfile::TempDir>)> {
    let options = PersonOptions {
        users_page_size: 41,
        search_page_size: 23,
        ..PersonOptions::default()
    };
    let memory = Arc::new(MemoryVault::new());
    fill(memory.as_ref(), profiles).await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteVault::open(dir.path().join("vault.sqlite")).unwrap());
    fill(sqlite.as_ref(), profiles).await;
    vec![
        ("memory", PersonService::new(memory, options.clone()), None),
        ("sqlite", PersonService::new(sqlite, options), Some(dir)),
    ]
}

fn user_id(p: &Value) -> String {
    p["user_id"]["value"].as_str().unwrap().to_owned()
}

fn expected_ids(profiles: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = profiles.iter().filter(|p| keep(p)).map(user_id).collect();
    ids.sort();
    ids
}

fn is_active(p: &Value) -> bool {
    p["active"]["value"] == true
}

#[tokio::test]
async fn list_users_pages_visit_every_user_once_per_active_filter() {
    let profiles = profiles();
    for (name, service, _dir) in backends(&profiles).await {
        for (active, keep) in [
            (ActiveFilter::Active, Some(true)),
            (ActiveFilter::Inactive, Some(false)),
            (ActiveFilter::Any, None),
        ] {
            let mut seen = Vec::new();
            let mut after: Option<PageToken> = None;
            loop {
                let page = service
                    .list_users(
                        ListUsers {
                            primary_email: None,
                            active,
                            after: after.clone(),
                        },
                        &View::full(),
                    )
                    .await
                    .unwrap();
                assert!(page.items.len() <= 41);
                seen.extend(page.items.iter().map(user_id));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            let expected = expected_ids(&profiles, |p| keep.is_none_or(|k| is_active(p) == k));
            assert_eq!(seen, expected, "{name} {active:?}");
        }
    }
}

#[tokio::test]
async fn id_listing_is_complete_and_filtered_by_prefix_and_active() {
    let profiles = profiles();
    for (name, service, _dir) in backends(&profiles).await {
        for method in ["ad", "email", "github", "google-oauth2", "oauth2"] {
            for (active, keep) in [
                (ActiveFilter::Active, Some(true)),
                (ActiveFilter::Inactive, Some(false)),
                (ActiveFilter::Any, None),
            ] {
                let mut got: Vec<String> = service
                    .list_user_ids(IdListing {
                        connection_method: method.into(),
                        active,
                    })
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.user_id)
                    .collect();
                got.sort();
                let expected = expected_ids(&profiles, |p| {
                    user_id(p).starts_with(method) && keep.is_none_or(|k| is_active(p) == k)
                });
                assert_eq!(got, expected, "{name} {method} {active:?}");
            }
        }
        let err = service
            .list_user_ids(IdListing {
                connection_method: String::new(),
                active: ActiveFilter::Any,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PersonError::InvalidParameter { name, .. } if name == "connectionMethod")
        );
    }
}

#[tokio::test]
async fn search_ands_every_criterion_and_pages_once() {
    let profiles = profiles();
    let params = |pairs: &[(&str, &str)]| {
        QueryParams(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    for (name, service, _dir) in backends(&profiles).await {
        for (pairs, keep) in [
            (
                vec![
                    ("staff_information.staff", "True"),
                    ("staff_information.title", "Engineer"),
                ],
                Box::new(|p: &Value| {
                    is_active(p)
                        && p["staff_information"]["staff"]["value"] == true
                        && p["staff_information"]["title"]["value"] == "Engineer"
                }) as Box<dyn Fn(&Value) -> bool>,
            ),
            (
                vec![
                    ("staff_information.staff", "False"),
                    ("not_staff_information.title", "Engineer"),
                    ("active", "any"),
                ],
                Box::new(|p: &Value| {
                    p["staff_information"]["staff"]["value"] == false
                        && p["staff_information"]["title"]["value"] != "Engineer"
                }),
            ),
            (
                vec![("staff_information.staff", "true"), ("active", "False")],
                Box::new(|p: &Value| {
                    !is_active(p) && p["staff_information"]["staff"]["value"] == true
                }),
            ),
        ] {
            let base = AttributeSearch::from_params(&params(&pairs)).unwrap();
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = service
                    .search(
                        AttributeSearch {
                            after: after.clone(),
                            ..base.clone()
                        },
                        &View::full(),
                    )
                    .await
                    .unwrap();
                assert!(page.users.len() <= 23);
                seen.extend(page.users.iter().map(|h| h.user_id.clone()));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            let expected = expected_ids(&profiles, &keep);
            assert!(!expected.is_empty(), "{pairs:?}");
            assert_eq!(seen, expected, "{name} {pairs:?}");
        }
    }
}

#[tokio::test]
async fn lookups_filter_exactly_like_the_cli_on_both_backends() {
    let profiles = profiles();
    let scope_sets: [&[&str]; 5] = [
        &[],
        &["display:all"],
        &["classification:workgroup:staff_only", "display:all"],
        &["read:fullprofile", "display:staff", "display:none"],
        &["read:fullprofile", "display:all"],
    ];
    for (name, service, _dir) in backends(&profiles).await {
        for p in profiles.iter().step_by(97) {
            for scopes in scope_sets {
                for filter_display in [None, Some("ndaed")] {
                    let view = View::new(scopes, filter_display);
                    let mut expected = p.clone();
                    filter_profile(
                        &mut expected,
                        &ScopeGrant::from_scopes(scopes),
                        filter_display,
                    );
                    for selector in Selector::ALL {
                        let key = p[selector.as_str()]["value"].as_str().unwrap();
                        let got = service
                            .get_user(selector, key, ActiveFilter::Any, &view)
                            .await
                            .unwrap();
                        assert_eq!(
                            got.as_ref(),
                            Some(&expected),
                            "{name} {selector:?} {scopes:?}"
                        );
                        // The byte answer (served from prepared profiles where it can be) is
                        // exactly the serialised `Value` answer, whatever the cache holds.
                        for _ in 0..2 {
                            let bytes = service
                                .get_user_json(selector, key, ActiveFilter::Any, &view)
                                .await
                                .unwrap();
                            assert_eq!(
                                bytes,
                                Some(serde_json::to_vec(&expected).unwrap()),
                                "{name} {selector:?} {scopes:?} bytes"
                            );
                        }
                        let wrong_state = if is_active(p) {
                            ActiveFilter::Inactive
                        } else {
                            ActiveFilter::Active
                        };
                        assert_eq!(
                            service
                                .get_user(selector, key, wrong_state, &view)
                                .await
                                .unwrap(),
                            None
                        );
                        assert_eq!(
                            service
                                .get_user_json(selector, key, wrong_state, &view)
                                .await
                                .unwrap(),
                            None
                        );
                    }
                }
            }
        }
        let metadata = service.metadata("u00000@example.com").await.unwrap();
        assert!(metadata.cis);
        let metadata = service.metadata("nobody@example.com").await.unwrap();
        assert!(!metadata.cis && !metadata.ldap);
    }
}

#[tokio::test]
async fn both_backends_answer_the_same() {
    let profiles = profiles();
    let all = backends(&profiles).await;
    let view = View::new(&["classification:workgroup", "display:all"], None);
    let mut answers = Vec::new();
    for (_, service, _dir) in &all {
        let users = service
            .list_users(ListUsers::default(), &view)
            .await
            .unwrap();
        let mut ids: Vec<_> = service
            .list_user_ids(IdListing {
                connection_method: "github".into(),
                active: ActiveFilter::Active,
            })
            .await
            .unwrap();
        ids.sort();
        answers.push((users, ids));
    }
    assert_eq!(answers[0], answers[1]);
    let first: BTreeSet<_> = answers[0].1.iter().map(|e| e.user_id.clone()).collect();
    assert!(!first.is_empty());
}

/// The prepared-profile cache behind lookups by user_id never answers with an old profile: a
/// write by another process (a second connection to the same SQLite file) or a delete shows at
/// once, different scope sets get their own filtering of the same cached profile, and a
/// corrupt stored profile is an error naming the user, not a panic or a stale answer.
#[tokio::test]
async fn cached_lookups_follow_every_write_and_never_mix_scope_sets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.sqlite");
    let reader = Arc::new(SqliteVault::open(&path).unwrap());
    let writer = SqliteVault::open(&path).unwrap();
    let original = profile(7);
    let id = user_id(&original);
    fill(&writer, std::slice::from_ref(&original)).await;
    let service = PersonService::new(reader.clone(), PersonOptions::default());
    let staff = View::new(
        &["classification:workgroup:staff_only", "display:all"],
        None,
    );
    let public = View::new::<&str>(&[], None);
    let bytes_for = |p: &Value, scopes: &[&str]| {
        let mut p = p.clone();
        filter_profile(&mut p, &ScopeGrant::from_scopes(scopes), None);
        serde_json::to_vec(&p).unwrap()
    };
    let lookup = |view: View| {
        let service = &service;
        let id = id.clone();
        async move {
            service
                .get_user_json(Selector::UserId, &id, ActiveFilter::Any, &view)
                .await
        }
    };

    let first = lookup(staff.clone()).await.unwrap().unwrap();
    assert_eq!(
        first,
        bytes_for(
            &original,
            &["classification:workgroup:staff_only", "display:all"]
        )
    );
    assert_eq!(service.cached_profiles(), 1);
    let narrow = lookup(public.clone()).await.unwrap().unwrap();
    assert_eq!(narrow, bytes_for(&original, &[]));
    assert_ne!(
        narrow, first,
        "the public view must not see the staff view's answer"
    );
    assert_eq!(
        lookup(staff.clone()).await.unwrap().unwrap(),
        first,
        "cache hit answers like the first read"
    );

    // Another process changes the user: the next lookup sees it.
    let mut changed = original.clone();
    changed["first_name"]["value"] = json!("Changed-Elsewhere");
    let stored = writer.get_by_user_id(&id).await.unwrap().unwrap();
    let flat = sanitized_profile(&changed).as_object().cloned().unwrap();
    writer
        .update(
            ProfileRecord::from_profile(changed.clone(), flat).unwrap(),
            &stored.sequence_number,
        )
        .await
        .unwrap();
    let after = lookup(staff.clone()).await.unwrap().unwrap();
    assert_eq!(
        after,
        bytes_for(
            &changed,
            &["classification:workgroup:staff_only", "display:all"]
        )
    );
    assert!(
        String::from_utf8(after)
            .unwrap()
            .contains("Changed-Elsewhere")
    );

    // Deleted elsewhere: gone at once, and dropped from the cache.
    writer.delete(&id, None).await.unwrap();
    assert_eq!(lookup(staff.clone()).await.unwrap(), None);
    assert_eq!(service.cached_profiles(), 0);

    // A zero-byte cache still answers correctly, it just holds nothing.
    fill(&writer, std::slice::from_ref(&original)).await;
    let uncached = PersonService::new(
        reader,
        PersonOptions {
            profile_cache_bytes: 0,
            ..PersonOptions::default()
        },
    );
    let got = uncached
        .get_user_json(Selector::UserId, &id, ActiveFilter::Any, &public)
        .await
        .unwrap();
    assert_eq!(got, Some(bytes_for(&original, &[])));
    assert_eq!(uncached.cached_profiles(), 0);

    // A stored profile that is not JSON: an error that names the user.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE profiles SET profile = '{not json', sequence_number = sequence_number || 'x' \
         WHERE user_id = ?1",
        [&id],
    )
    .unwrap();
    match lookup(staff).await {
        Err(PersonError::Vault(e)) => assert!(e.to_string().contains(&id), "{e}"),
        other => panic!("expected a corrupt-profile error, got {other:?}"),
    }
}

//! The DynamoDB backend against a moto server (`eval "$(ci/moto.sh start)"`). Each test uses
//! its own table, so they run in parallel. Without an endpoint they skip, saying so.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ProjectionType, StreamViewType};
use cis_vault::{
    AttributeCriterion, AttributeQuery, PageRequest, ProfileStore, SequenceNumber, UserIdFilter,
    VaultError, WriteOp,
};
use cis_vault_dynamodb::ensure_vault;
use serde_json::json;
use support::*;

#[tokio::test]
async fn curator_creates_everything_once_then_changes_nothing() {
    let Some(endpoint) = endpoint("curator_creates_everything_once_then_changes_nothing") else {
        return;
    };
    let client = client(&endpoint);
    let table = unique_table("cur");
    let spec = spec(&table);

    let first = ensure_vault(&client, &spec).await.unwrap();
    assert!(first.created_table);
    assert_eq!(first.created_indexes, spec.index_names());
    assert!(first.enabled_stream);
    assert_eq!(first.tags_set, ["cis_environment", "application"]);
    assert!(!first.unchanged);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);

    let second = ensure_vault(&client, &spec).await.unwrap();
    assert!(second.unchanged, "{second:?}");
    assert!(!second.created_table && second.created_indexes.is_empty());
    assert!(!second.enabled_stream && second.tags_set.is_empty());

    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let t = described.table.unwrap();
    assert_eq!(t.key_schema().len(), 1);
    assert_eq!(t.key_schema()[0].attribute_name(), "id");
    assert_eq!(*t.key_schema()[0].key_type(), KeyType::Hash);
    let gsis: HashMap<_, _> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let keys: Vec<_> = g
                .key_schema()
                .iter()
                .map(|k| {
                    (
                        k.attribute_name().to_owned(),
                        k.key_type().as_str().to_owned(),
                    )
                })
                .collect();
            assert_eq!(
                g.projection().and_then(|p| p.projection_type()),
                Some(&ProjectionType::All)
            );
            (g.index_name().unwrap().to_owned(), keys)
        })
        .collect();
    let hash_range = |attr: &str| {
        vec![
            (attr.to_owned(), "HASH".to_owned()),
            ("id".to_owned(), "RANGE".to_owned()),
        ]
    };
    assert_eq!(gsis.len(), 4);
    assert_eq!(
        gsis[&format!("{table}-sequence_number")],
        vec![("sequence_number".to_owned(), "HASH".to_owned())]
    );
    assert_eq!(
        gsis[&format!("{table}-primary_username")],
        hash_range("primary_username")
    );
    assert_eq!(
        gsis[&format!("{table}-primary_email")],
        hash_range("primary_email")
    );
    assert_eq!(gsis[&format!("{table}-user_uuid")], hash_range("user_uuid"));
    let stream = t.stream_specification().unwrap();
    assert!(stream.stream_enabled());
    assert_eq!(stream.stream_view_type(), Some(&StreamViewType::KeysOnly));
    let tags = client
        .list_tags_of_resource()
        .resource_arn(t.table_arn().unwrap())
        .send()
        .await
        .unwrap();
    let tags: HashMap<_, _> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags.get("cis_environment"), Some(&"purple"));
    assert_eq!(tags.get("application"), Some(&"identity-vault"));

    client
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn curator_completes_a_bare_table() {
    let Some(endpoint) = endpoint("curator_completes_a_bare_table") else {
        return;
    };
    let client = client(&endpoint);
    let table = unique_table("bare");
    let spec = spec(&table);
    // A table as someone may have created it by hand: the key only, a stale tag, no stream.
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .tags(
            aws_sdk_dynamodb::types::Tag::builder()
                .key("cis_environment")
                .value("other")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let first = ensure_vault(&client, &spec).await.unwrap();
    assert!(!first.created_table);
    assert_eq!(first.created_indexes, spec.index_names());
    assert!(first.enabled_stream);
    assert_eq!(first.tags_set, ["cis_environment", "application"]);

    let second = ensure_vault(&client, &spec).await.unwrap();
    assert!(second.unchanged, "{second:?}");

    let t = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(t.global_secondary_indexes().len(), 4);
    assert_eq!(
        t.stream_specification().and_then(|s| s.stream_view_type()),
        Some(&StreamViewType::KeysOnly)
    );
    client
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn items_have_the_python_layout() {
    let Some(endpoint) = endpoint("items_have_the_python_layout") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "layout", 2).await;
    let record = record("ad|Mozilla-LDAP|jdoe", "jdoe@example.com", true);
    let sn = vault.create(record.clone()).await.unwrap();
    let raw = vault
        .client()
        .get_item()
        .table_name(vault.table_name())
        .key("id", AttributeValue::S(record.user_id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut names: Vec<_> = raw.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "active",
            "flat_profile",
            "id",
            "primary_email",
            "primary_username",
            "profile",
            "sequence_number",
            "user_uuid"
        ]
    );
    assert_eq!(
        raw["sequence_number"],
        AttributeValue::S(sn.as_str().to_owned())
    );
    assert_eq!(raw["active"], AttributeValue::Bool(true));
    let AttributeValue::S(text) = &raw["profile"] else {
        panic!("profile must be a JSON string")
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(text).unwrap(),
        record.profile
    );
    let AttributeValue::M(flat) = &raw["flat_profile"] else {
        panic!("flat_profile must be a map")
    };
    assert_eq!(
        flat["first_name"],
        AttributeValue::S("First ad|Mozilla-LDAP|jdoe".into())
    );
    drop_table(&vault).await;
}

#[tokio::test]
async fn conditional_writes_detect_conflicts() {
    let Some(endpoint) = endpoint("conditional_writes_detect_conflicts") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "cond", 2).await;
    let a = record("email|a", "a@example.com", true);

    let sn1 = vault.create(a.clone()).await.unwrap();
    let err = vault.create(a.clone()).await.unwrap_err();
    assert!(
        matches!(&err, VaultError::Conflict { current: Some(c), .. } if *c == sn1),
        "{err}"
    );

    let mut changed = a.clone();
    changed.primary_email = "a2@example.com".into();
    changed.profile["primary_email"]["value"] = json!("a2@example.com");
    let sn2 = vault.update(changed.clone(), &sn1).await.unwrap();
    assert_ne!(sn1, sn2);
    // A writer that read before the update loses, and learns the current number.
    let err = vault.update(a.clone(), &sn1).await.unwrap_err();
    assert!(
        matches!(&err, VaultError::Conflict { current: Some(c), .. } if *c == sn2),
        "{err}"
    );
    let stored = vault.get_by_user_id("email|a").await.unwrap().unwrap();
    assert_eq!(stored.sequence_number, sn2);
    assert_eq!(stored.primary_email, "a2@example.com");
    assert_eq!(stored.profile, changed.profile);

    let missing = record("email|missing", "m@example.com", true);
    let err = vault.update(missing, &sn1).await.unwrap_err();
    assert!(matches!(err, VaultError::NotFound { .. }), "{err}");

    let err = vault.delete("email|a", Some(&sn1)).await.unwrap_err();
    assert!(matches!(err, VaultError::Conflict { .. }), "{err}");
    vault.delete("email|a", Some(&sn2)).await.unwrap();
    assert!(vault.get_by_user_id("email|a").await.unwrap().is_none());
    let err = vault.delete("email|a", None).await.unwrap_err();
    assert!(matches!(err, VaultError::NotFound { .. }), "{err}");
    drop_table(&vault).await;
}

#[tokio::test]
async fn index_lookups_find_every_match() {
    let Some(endpoint) = endpoint("index_lookups_find_every_match") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "gsi", 2).await;
    let ldap = record("ad|Mozilla-LDAP|jdoe", "jdoe@example.com", true);
    let github = record("github|123", "jdoe@example.com", true);
    let other = record("email|x", "x@example.com", false);
    let sn = vault.create(ldap.clone()).await.unwrap();
    vault.create(github.clone()).await.unwrap();
    vault.create(other).await.unwrap();

    let by_email = vault
        .find_by_primary_email("jdoe@example.com")
        .await
        .unwrap();
    let ids: Vec<_> = by_email.iter().map(|p| p.user_id.as_str()).collect();
    assert_eq!(ids, ["ad|Mozilla-LDAP|jdoe", "github|123"]);
    let by_uuid = vault.find_by_uuid(&ldap.uuid).await.unwrap();
    assert_eq!(by_uuid.len(), 1);
    assert_eq!(by_uuid[0].user_id, ldap.user_id);
    let by_name = vault
        .find_by_primary_username(&github.primary_username)
        .await
        .unwrap();
    assert_eq!(by_name[0].user_id, github.user_id);
    let by_sn = vault.find_by_sequence_number(&sn).await.unwrap().unwrap();
    assert_eq!(by_sn.user_id, ldap.user_id);
    assert!(
        vault
            .find_by_sequence_number(&SequenceNumber::new("1"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        vault
            .find_by_primary_email("nobody@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    drop_table(&vault).await;
}

#[tokio::test]
async fn batches_beyond_one_transaction_report_each_op() {
    let Some(endpoint) = endpoint("batches_beyond_one_transaction_report_each_op") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "batch", 2).await;
    let existing = record("email|existing", "e@example.com", true);
    let existing_sn = vault.create(existing.clone()).await.unwrap();

    let mut ops: Vec<WriteOp> = (0..230)
        .map(|i| {
            WriteOp::Create(record(
                &format!("email|u{i:03}"),
                "b@example.com",
                i % 2 == 0,
            ))
        })
        .collect();
    // A duplicate (applied after the first) and a create that must conflict.
    ops.insert(
        50,
        WriteOp::Create(record("email|u000", "b@example.com", true)),
    );
    ops.push(WriteOp::Create(existing.clone()));
    // A stale update and a good one.
    ops.push(WriteOp::Update {
        record: existing.clone(),
        expected: SequenceNumber::new("0"),
    });
    ops.push(WriteOp::Update {
        record: existing.clone(),
        expected: existing_sn.clone(),
    });
    let results = vault.write_batch(ops).await;
    assert_eq!(results.len(), 234);
    let conflicts: Vec<_> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Err(VaultError::Conflict { .. })))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(conflicts, [50, 231, 232]);
    let oks = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(oks, 231);
    let last = results[233].as_ref().unwrap();
    assert_eq!(
        vault
            .get_by_user_id("email|existing")
            .await
            .unwrap()
            .unwrap()
            .sequence_number,
        *last
    );
    let ids = vault.list_user_ids(UserIdFilter::default()).await.unwrap();
    assert_eq!(ids.len(), 231);
    drop_table(&vault).await;
}

#[tokio::test]
async fn parallel_id_listing_and_paging_see_every_user_once() {
    let Some(endpoint) = endpoint("parallel_id_listing_and_paging_see_every_user_once") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "scan", 4).await;
    let mut ops = Vec::new();
    for i in 0..60 {
        let prefix = if i % 3 == 0 {
            "ad|Mozilla-LDAP"
        } else {
            "github"
        };
        ops.push(WriteOp::Create(record(
            &format!("{prefix}|{i}"),
            "s@example.com",
            i % 2 == 0,
        )));
    }
    assert!(vault.write_batch(ops).await.iter().all(Result::is_ok));

    let all = vault.list_user_ids(UserIdFilter::default()).await.unwrap();
    assert_eq!(all.len(), 60);
    let ad_active = vault
        .list_user_ids(UserIdFilter {
            user_id_prefix: Some("ad|".into()),
            active: Some(true),
        })
        .await
        .unwrap();
    let expected: BTreeSet<String> = (0..60)
        .filter(|i| i % 3 == 0 && i % 2 == 0)
        .map(|i| format!("ad|Mozilla-LDAP|{i}"))
        .collect();
    let got: BTreeSet<String> = ad_active.iter().map(|e| e.user_id.clone()).collect();
    assert_eq!(got, expected);
    assert!(
        ad_active
            .iter()
            .all(|e| e.active && e.uuid.starts_with("uuid-"))
    );

    for active in [None, Some(false)] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = vault
                .list_profiles(PageRequest {
                    after,
                    limit: 7,
                    active,
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 7);
            seen.extend(page.items.into_iter().map(|p| p.user_id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let unique: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "a profile was listed twice");
        assert_eq!(seen.len(), if active.is_none() { 60 } else { 30 });
    }
    drop_table(&vault).await;
}

#[tokio::test]
async fn attribute_queries_filter_the_flat_profile() {
    let Some(endpoint) = endpoint("attribute_queries_filter_the_flat_profile") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "attr", 2).await;
    let mut ops = Vec::new();
    for i in 0..20 {
        let mut r = record(&format!("email|{i:02}"), "q@example.com", true);
        if i % 4 == 0 {
            r.flat_profile["access_information"]["ldap"] = json!({});
        }
        r.flat_profile["staff_information"]["staff"] = json!(i % 2 == 0);
        ops.push(WriteOp::Create(r));
    }
    assert!(vault.write_batch(ops).await.iter().all(Result::is_ok));
    let group = vec![
        "access_information".to_owned(),
        "ldap".to_owned(),
        "team_moco".to_owned(),
    ];
    let staff = vec!["staff_information".to_owned(), "staff".to_owned()];
    let mut found = BTreeSet::new();
    let mut after = None;
    loop {
        let page = vault
            .find_by_attributes(AttributeQuery {
                criteria: vec![
                    AttributeCriterion::Exists {
                        path: group.clone(),
                    },
                    AttributeCriterion::Equals {
                        path: staff.clone(),
                        value: json!(true),
                    },
                ],
                active: Some(true),
                after,
                limit: 3,
            })
            .await
            .unwrap();
        found.extend(page.items.into_iter().map(|p| p.user_id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected: BTreeSet<String> = (0..20)
        .filter(|i| i % 2 == 0 && i % 4 != 0)
        .map(|i| format!("email|{i:02}"))
        .collect();
    assert_eq!(found, expected);
    drop_table(&vault).await;
}

#[tokio::test]
async fn one_oversized_profile_fails_alone_in_a_batch() {
    let Some(endpoint) = endpoint("one_oversized_profile_fails_alone_in_a_batch") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "big", 2).await;
    let mut big = record("email|big", "big@example.com", true);
    // Over DynamoDB's 400 KB item limit.
    big.profile["pad"] = json!("x".repeat(450_000));
    let results = vault
        .write_batch(vec![
            WriteOp::Create(record("email|a", "a@example.com", true)),
            WriteOp::Create(big),
            WriteOp::Create(record("email|b", "b@example.com", true)),
        ])
        .await;
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(results[1].is_err());
    assert!(results[2].is_ok(), "{:?}", results[2]);
    assert!(vault.get_by_user_id("email|b").await.unwrap().is_some());
    assert!(vault.get_by_user_id("email|big").await.unwrap().is_none());
    drop_table(&vault).await;
}

#[tokio::test]
async fn null_valued_groups_match_equality_with_null() {
    let Some(endpoint) = endpoint("null_valued_groups_match_equality_with_null") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "null", 2).await;
    let member = record("email|member", "m@example.com", true);
    let mut other = record("email|other", "o@example.com", true);
    other.flat_profile["access_information"]["ldap"] = json!({"team_moco": "x"});
    let mut none = record("email|none", "n@example.com", true);
    none.flat_profile["access_information"]["ldap"] = json!({});
    for r in [member, other, none] {
        vault.create(r).await.unwrap();
    }
    let path = vec![
        "access_information".to_owned(),
        "ldap".to_owned(),
        "team_moco".to_owned(),
    ];
    let query = |criterion| AttributeQuery {
        criteria: vec![criterion],
        active: None,
        after: None,
        limit: 10,
    };
    let ids = |page: cis_vault::Page<cis_vault::StoredProfile>| {
        page.items
            .into_iter()
            .map(|p| p.user_id)
            .collect::<BTreeSet<_>>()
    };
    let eq = vault
        .find_by_attributes(query(AttributeCriterion::Equals {
            path: path.clone(),
            value: serde_json::Value::Null,
        }))
        .await
        .unwrap();
    assert_eq!(ids(eq), BTreeSet::from(["email|member".to_owned()]));
    let ne = vault
        .find_by_attributes(query(AttributeCriterion::NotEquals {
            path,
            value: serde_json::Value::Null,
        }))
        .await
        .unwrap();
    assert_eq!(
        ids(ne),
        BTreeSet::from(["email|none".to_owned(), "email|other".to_owned()])
    );
    drop_table(&vault).await;
}

#[tokio::test]
async fn a_failing_segment_fails_the_whole_scan() {
    let Some(endpoint) = endpoint("a_failing_segment_fails_the_whole_scan") else {
        return;
    };
    let vault = fresh_vault(&endpoint, "segfail", 4).await;
    let ops = (0..40)
        .map(|i| WriteOp::Create(record(&format!("email|{i:02}"), "f@example.com", true)))
        .collect();
    assert!(vault.write_batch(ops).await.iter().all(Result::is_ok));

    let mut scan = cis_vault_dynamodb::ParallelScan::new(vault.table_name(), 4);
    scan.projection = Some("id".into());
    let all = scan
        .run(vault.client(), |item| {
            Ok(match item.get("id") {
                Some(AttributeValue::S(id)) => id.clone(),
                _ => String::new(),
            })
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 40);
    // One item that its segment cannot process: the scan reports it instead of returning the
    // other 39.
    let err = scan
        .run(vault.client(), |item| match item.get("id") {
            Some(AttributeValue::S(id)) if id == "email|17" => {
                Err(VaultError::corrupt(id.clone(), "test"))
            }
            _ => Ok(()),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Corrupt { key, .. } if key == "email|17"),
        "{err}"
    );
    // A segment the service refuses (here: every segment, the table is gone) is an error too.
    drop_table(&vault).await;
    let err = vault
        .list_user_ids(UserIdFilter::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("scan segment"), "{err}");
}

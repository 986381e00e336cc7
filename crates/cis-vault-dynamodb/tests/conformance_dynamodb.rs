//! The storage conformance suite of `cis-vault` on DynamoDB (a moto server; each case gets its
//! own table). Without `CIS_TEST_DYNAMODB_ENDPOINT` / `AWS_ENDPOINT_URL` every case skips,
//! saying so.
//!
//! The cases are listed here rather than through `profile_store_conformance!` so that each can
//! skip; `case_list_matches_the_suite` fails when the suite gains a case this list lacks.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use cis_vault::BoxFuture;
use cis_vault::conformance::Harness;
use cis_vault_dynamodb::DynamoVault;

struct DynamoHarness {
    endpoint: String,
}

impl Harness for DynamoHarness {
    type Store = DynamoVault;

    fn fresh(&self) -> BoxFuture<'_, Arc<DynamoVault>> {
        Box::pin(async { Arc::new(support::fresh_vault(&self.endpoint, "conf", 4).await) })
    }

    fn corrupt_profile<'a>(
        &'a self,
        store: &'a DynamoVault,
        user_id: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            store
                .client()
                .update_item()
                .table_name(store.table_name())
                .key("id", AttributeValue::S(user_id.to_owned()))
                .update_expression("SET profile = :p")
                .condition_expression("attribute_exists(id)")
                .expression_attribute_values(
                    ":p",
                    AttributeValue::S("{\"user_id\": {\"value\": ".into()),
                )
                .send()
                .await
                .unwrap();
        })
    }
}

macro_rules! dynamo_cases {
    ($($case:ident),+ $(,)?) => {
        const CASES: &[&str] = &[$(stringify!($case)),+];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(endpoint) = support::endpoint(concat!("conformance ", stringify!($case))) else {
                    return;
                };
                cis_vault::conformance::$case(&DynamoHarness { endpoint }).await;
            }
        )+
    };
}

dynamo_cases!(
    create_then_get_by_every_index,
    create_of_existing_user_conflicts,
    update_is_conditional_on_sequence_number,
    delete_removes_every_index_entry,
    shared_email_and_username_return_every_account,
    profile_text_round_trips_exactly,
    invalid_records_are_refused,
    concurrent_conditional_updates_have_one_winner_per_round,
    write_batch_gives_each_op_its_own_result,
    write_batch_larger_than_a_dynamodb_transaction,
    pagination_over_more_than_one_page,
    thousand_user_listing_matches_expectation,
    find_by_attributes_ands_criteria_and_pages,
    corrupt_profile_is_reported_not_panicked,
);

#[test]
fn case_list_matches_the_suite() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cis-vault/src/conformance.rs"
    );
    let Ok(source) = std::fs::read_to_string(path) else {
        eprintln!("SKIPPED case_list_matches_the_suite: {path} is not readable");
        return;
    };
    let start = source
        .find("macro_rules! profile_store_conformance")
        .expect("the suite's macro");
    let body = &source[start..];
    let body = &body[body.find("$harness;").unwrap() + "$harness;".len()..];
    let body = &body[..body.find(");").unwrap()];
    let suite: Vec<&str> = body
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        suite, CASES,
        "update dynamo_cases! to the suite's case list"
    );
}

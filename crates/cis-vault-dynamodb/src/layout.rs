use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, StreamSpecification,
    StreamViewType, Tag,
};

use crate::error::DynamoVaultError;

/// The attributes with a GSI of their own, in the order the Python CIS created them.
/// `sequence_number` is hash-only; the others have `id` as range key (§7.2).
pub const INDEXED_ATTRIBUTES: [&str; 4] = [
    "sequence_number",
    "primary_username",
    "primary_email",
    "user_uuid",
];

/// `<table>-<attribute>`, the GSI naming of A10.
pub fn index_name(table_name: &str, attribute: &str) -> String {
    format!("{table_name}-{attribute}")
}

/// How the table (and each GSI) is billed when the curator creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Billing {
    PayPerRequest,
    Provisioned { read_units: i64, write_units: i64 },
}

/// Everything the curator ensures: the table of §7.2, its four GSIs, a KEYS_ONLY stream and the
/// two tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultTableSpec {
    pub table_name: String,
    /// The `cis_environment` tag value.
    pub environment: String,
    pub billing: Billing,
    /// How long to wait for the table or a new index to become ACTIVE.
    pub max_wait: Duration,
    pub poll_interval: Duration,
}

impl VaultTableSpec {
    /// `<environment>-identity-vault`, billed as the Python curator did: on demand for
    /// production, development and testing; 5/5 provisioned for anything else (§7.2).
    pub fn for_environment(environment: &str) -> Self {
        Self::for_table(format!("{environment}-identity-vault"), environment)
    }

    /// A table named explicitly (`CIS_DYNAMODB_ARN`), tagged for `environment`.
    pub fn for_table(table_name: impl Into<String>, environment: &str) -> Self {
        let billing = match environment {
            "production" | "development" | "testing" => Billing::PayPerRequest,
            _ => Billing::Provisioned {
                read_units: 5,
                write_units: 5,
            },
        };
        Self {
            table_name: table_name.into(),
            environment: environment.to_owned(),
            billing,
            max_wait: Duration::from_secs(600),
            poll_interval: Duration::from_secs(5),
        }
    }

    pub fn index_names(&self) -> Vec<String> {
        INDEXED_ATTRIBUTES
            .iter()
            .map(|attribute| index_name(&self.table_name, attribute))
            .collect()
    }

    pub fn tags(&self) -> Vec<(&'static str, String)> {
        vec![
            ("cis_environment", self.environment.clone()),
            ("application", "identity-vault".to_owned()),
        ]
    }

    pub(crate) fn billing_mode(&self) -> BillingMode {
        match self.billing {
            Billing::PayPerRequest => BillingMode::PayPerRequest,
            Billing::Provisioned { .. } => BillingMode::Provisioned,
        }
    }

    pub(crate) fn throughput(&self) -> Result<Option<ProvisionedThroughput>, DynamoVaultError> {
        match self.billing {
            Billing::PayPerRequest => Ok(None),
            Billing::Provisioned {
                read_units,
                write_units,
            } => ProvisionedThroughput::builder()
                .read_capacity_units(read_units)
                .write_capacity_units(write_units)
                .build()
                .map(Some)
                .map_err(|e| DynamoVaultError::build("ProvisionedThroughput", e)),
        }
    }

    pub(crate) fn attribute_definitions(
        &self,
    ) -> Result<Vec<AttributeDefinition>, DynamoVaultError> {
        std::iter::once("id")
            .chain(INDEXED_ATTRIBUTES)
            .map(attribute_definition)
            .collect()
    }

    /// The key schema of the GSI on `attribute`.
    pub(crate) fn index_key_schema(
        attribute: &str,
    ) -> Result<Vec<KeySchemaElement>, DynamoVaultError> {
        let mut schema = vec![key(attribute, KeyType::Hash)?];
        if attribute != "sequence_number" {
            schema.push(key("id", KeyType::Range)?);
        }
        Ok(schema)
    }

    pub(crate) fn table_key_schema() -> Result<Vec<KeySchemaElement>, DynamoVaultError> {
        Ok(vec![key("id", KeyType::Hash)?])
    }

    pub(crate) fn global_secondary_index(
        &self,
        attribute: &str,
    ) -> Result<GlobalSecondaryIndex, DynamoVaultError> {
        GlobalSecondaryIndex::builder()
            .index_name(index_name(&self.table_name, attribute))
            .set_key_schema(Some(Self::index_key_schema(attribute)?))
            .projection(projection_all())
            .set_provisioned_throughput(self.throughput()?)
            .build()
            .map_err(|e| DynamoVaultError::build("GlobalSecondaryIndex", e))
    }

    pub(crate) fn stream_specification() -> Result<StreamSpecification, DynamoVaultError> {
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::KeysOnly)
            .build()
            .map_err(|e| DynamoVaultError::build("StreamSpecification", e))
    }

    pub(crate) fn sdk_tags(tags: &[(&'static str, String)]) -> Result<Vec<Tag>, DynamoVaultError> {
        tags.iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(*k)
                    .value(v)
                    .build()
                    .map_err(|e| DynamoVaultError::build("Tag", e))
            })
            .collect()
    }
}

pub(crate) fn projection_all() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

pub(crate) fn attribute_definition(name: &str) -> Result<AttributeDefinition, DynamoVaultError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| DynamoVaultError::build("AttributeDefinition", e))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, DynamoVaultError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| DynamoVaultError::build("KeySchemaElement", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_key_schemas_match_the_python_layout() {
        let spec = VaultTableSpec::for_environment("production");
        assert_eq!(spec.table_name, "production-identity-vault");
        assert_eq!(spec.billing, Billing::PayPerRequest);
        assert_eq!(
            spec.index_names(),
            [
                "production-identity-vault-sequence_number",
                "production-identity-vault-primary_username",
                "production-identity-vault-primary_email",
                "production-identity-vault-user_uuid",
            ]
        );
        let seq = VaultTableSpec::index_key_schema("sequence_number").unwrap();
        assert_eq!(seq.len(), 1);
        assert_eq!(seq[0].attribute_name(), "sequence_number");
        let email = VaultTableSpec::index_key_schema("primary_email").unwrap();
        assert_eq!(
            email
                .iter()
                .map(|k| (k.attribute_name(), k.key_type().clone()))
                .collect::<Vec<_>>(),
            [("primary_email", KeyType::Hash), ("id", KeyType::Range)]
        );
        let defs = spec.attribute_definitions().unwrap();
        assert_eq!(defs.len(), 5);
        assert!(
            defs.iter()
                .all(|d| *d.attribute_type() == ScalarAttributeType::S)
        );
    }

    #[test]
    fn other_environments_are_provisioned_and_tagged() {
        let spec = VaultTableSpec::for_environment("purple");
        assert_eq!(
            spec.billing,
            Billing::Provisioned {
                read_units: 5,
                write_units: 5
            }
        );
        assert_eq!(
            spec.tags(),
            [
                ("cis_environment", "purple".to_owned()),
                ("application", "identity-vault".to_owned())
            ]
        );
        let gsi = spec.global_secondary_index("user_uuid").unwrap();
        assert_eq!(gsi.index_name(), "purple-identity-vault-user_uuid");
        assert!(gsi.provisioned_throughput().is_some());
    }
}

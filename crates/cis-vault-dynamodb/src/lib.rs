//! cis-vault-dynamodb

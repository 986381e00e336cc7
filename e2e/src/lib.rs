//! cis-e2e

//! cis-config

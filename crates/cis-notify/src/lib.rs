//! Webhook notifier (placeholder while the crate is being written).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cis_config::{
    ChangeSettings, ClientCredentialsSource, ConfigError, NotifierSettings, PersonSettings, Secret,
    SecretManagerKind, Source, UuidSaltSource, WellKnownMode, parse_bool,
};

fn src(pairs: &[(&str, &str)]) -> Source {
    Source::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn invalid_var(err: ConfigError) -> String {
    match err {
        ConfigError::Invalid { var, .. } => var,
        ConfigError::Missing { var } => var,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn change_defaults() {
    let s = ChangeSettings::from_source(&src(&[("CIS_ENVIRONMENT", "testing")])).unwrap();
    assert!(s.verify_signatures);
    assert!(s.verify_publishers);
    assert!(!s.allow_delete);
    assert!(s.require_write_scope);
    assert!(s.stream_bypass);
    assert_eq!(s.common.table_name(), "testing-identity-vault");
    assert_eq!(s.kinesis_stream_name(), "cis-input-testing");
    assert_eq!(s.auth.issuer, "https://auth-dev.mozilla.auth0.com/");
    assert_eq!(
        s.auth.jwks_url,
        "https://auth-dev.mozilla.auth0.com/.well-known/jwks.json"
    );
    assert_eq!(s.auth.audience, "https://change.sso.allizom.org");
    assert!(s.auth.jwt_validation);
    assert_eq!(s.auth.jwks_ttl, Duration::from_secs(600));
    assert_eq!(s.common.secret_manager.kind, SecretManagerKind::File);
    assert_eq!(s.common.well_known.mode, WellKnownMode::File);
    assert_eq!(
        s.common.well_known.discovery_url,
        "https://auth.mozilla.com/.well-known/mozilla-iam"
    );
    assert_eq!(s.uuid_salt, UuidSaltSource::Missing);
}

#[test]
fn change_deployed_production_values() {
    let s = ChangeSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "production"),
        (
            "CIS_DYNAMODB_ARN",
            "arn:aws:dynamodb:us-west-2:320464205386:table/production-identity-vault",
        ),
        (
            "CIS_KINESIS_ARN",
            "arn:aws:kinesis:us-west-2:320464205386:stream/cis-input-production",
        ),
        ("CHANGE_SERVICE_AUTH0_DOMAIN", "auth.mozilla.auth0.com"),
        ("CHANGE_SERVICE_API_IDENTIFIER", "api.sso.mozilla.com"),
        ("CIS_JWT_VALIDATION", "true"),
        ("CIS_VERIFY_PUBLISHERS", "true"),
        ("CIS_VERIFY_SIGNATURES", "True"),
        ("CIS_ALLOW_DELETE", "false"),
        ("CIS_SECRET_MANAGER_SSM_PATH", "/iam/cis/production/keys"),
        (
            "CIS_SECRET_MANAGER_SSM_UUID_SALT",
            "/iam/cis/production/uuid_salt",
        ),
        ("CIS_PUBLIC_KEY_NAME", "publisher"),
        ("CIS_STREAM_BYPASS", "true"),
        ("CIS_ASSUME_ROLE_ARN", "None"),
        ("CIS_REQUESTS_CACHE_BACKEND", "memory"),
        ("CIS_DYNAMODB_TRANSACTIONS", "true"),
        ("CIS_SIGNING_KEY_NAME", "change_service_signing_key"),
        ("CIS_SECRET_MANAGER", "aws-ssm"),
        ("CIS_WELL_KNOWN_MODE", "https"),
    ]))
    .unwrap();
    assert_eq!(s.common.table_name(), "production-identity-vault");
    assert_eq!(s.kinesis_stream_name(), "cis-input-production");
    assert_eq!(s.auth.issuer, "https://auth.mozilla.auth0.com/");
    assert_eq!(s.auth.audience, "api.sso.mozilla.com");
    assert_eq!(s.common.assume_role_arn, None);
    assert_eq!(s.common.secret_manager.kind, SecretManagerKind::AwsSsm);
    assert_eq!(
        s.common.secret_manager.ssm_parameter("cis"),
        "/iam/cis/production/keys/cis"
    );
    assert_eq!(
        s.uuid_salt,
        UuidSaltSource::Ssm {
            parameter: "/iam/cis/production/uuid_salt".into()
        }
    );
    assert_eq!(s.common.well_known.mode, WellKnownMode::Https);
    assert_eq!(
        s.common.well_known.public_key_name.as_deref(),
        Some("publisher")
    );
}

#[test]
fn booleans_are_strict_and_name_the_variable() {
    assert_eq!(parse_bool("TRUE"), Some(true));
    assert_eq!(parse_bool(" False "), Some(false));
    for bad in ["1", "yes", "on", "'true'", "tru"] {
        assert_eq!(parse_bool(bad), None, "{bad}");
    }
    for var in [
        "CIS_ALLOW_DELETE",
        "CIS_VERIFY_SIGNATURES",
        "CIS_VERIFY_PUBLISHERS",
        "CIS_REQUIRE_WRITE_SCOPE",
        "CIS_STREAM_BYPASS",
        "CIS_JWT_VALIDATION",
    ] {
        let err = ChangeSettings::from_source(&src(&[("CIS_ENVIRONMENT", "local"), (var, "yes")]))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(var), "{text}");
        assert!(text.contains("\"yes\""), "{text}");
    }
}

#[test]
fn false_values_and_empty_means_default() {
    let s = ChangeSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CIS_VERIFY_SIGNATURES", "false"),
        ("CIS_VERIFY_PUBLISHERS", "FALSE"),
        ("CIS_REQUIRE_WRITE_SCOPE", "false"),
        ("CIS_ALLOW_DELETE", "true"),
        ("CIS_STREAM_BYPASS", ""),
    ]))
    .unwrap();
    assert!(!s.verify_signatures);
    assert!(!s.verify_publishers);
    assert!(!s.require_write_scope);
    assert!(s.allow_delete);
    assert!(s.stream_bypass);
}

#[test]
fn environment_is_required_and_checked() {
    let err = ChangeSettings::from_source(&src(&[])).unwrap_err();
    assert!(matches!(&err, ConfigError::Missing { var } if var == "CIS_ENVIRONMENT"));
    assert_eq!(err.to_string(), "CIS_ENVIRONMENT is required but not set");
    let err = ChangeSettings::from_source(&src(&[("CIS_ENVIRONMENT", "a/b")])).unwrap_err();
    assert_eq!(invalid_var(err), "CIS_ENVIRONMENT");
}

#[test]
fn bad_enum_and_url_values_fail_fast() {
    let cases: &[(&str, &str)] = &[
        ("CIS_SECRET_MANAGER", "vault"),
        ("CIS_WELL_KNOWN_MODE", "ftp"),
        ("CIS_DISCOVERY_URL", "auth.mozilla.com/.well-known"),
        ("CIS_DYNAMODB_ARN", "production-identity-vault"),
        ("CIS_DYNALITE_PORT", "abc"),
        ("CIS_SECRET_MANAGER_SSM_PATH", "iam/cis"),
        ("CHANGE_SERVICE_AUTH0_DOMAIN", "auth.mozilla.auth0.com/path"),
        ("CHANGE_SERVICE_ALGORITHMS", "HS256"),
        ("CHANGE_SERVICE_JWKS_URL", "not a url"),
        ("CIS_JWKS_TTL_SECONDS", "0"),
        ("CIS_JWKS_TTL_SECONDS", "-5"),
        ("CIS_JWKS_FETCH_TIMEOUT_SECONDS", "ten"),
    ];
    for (var, value) in cases {
        let err = ChangeSettings::from_source(&src(&[("CIS_ENVIRONMENT", "local"), (var, value)]))
            .unwrap_err();
        assert_eq!(invalid_var(err), *var, "{var}={value}");
    }
}

#[test]
fn jwt_validation_bypass_only_in_local() {
    let s = ChangeSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CIS_JWT_VALIDATION", "false"),
    ]))
    .unwrap();
    assert!(!s.auth.jwt_validation);
    let err = ChangeSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "production"),
        ("CIS_JWT_VALIDATION", "false"),
    ]))
    .unwrap_err();
    assert_eq!(invalid_var(err), "CIS_JWT_VALIDATION");

    // The original defaulted PERSON_API_ENVIRONMENT to "local", so the flag alone disabled
    // auth; here the person environment follows CIS_ENVIRONMENT.
    let err = PersonSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "production"),
        ("PERSON_API_JWT_VALIDATION", "false"),
    ]))
    .unwrap_err();
    assert_eq!(invalid_var(err), "PERSON_API_JWT_VALIDATION");
}

#[test]
fn local_issuer_with_scheme_and_explicit_jwks() {
    let s = ChangeSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CHANGE_SERVICE_AUTH0_DOMAIN", "http://127.0.0.1:8765/"),
        ("CHANGE_SERVICE_API_IDENTIFIER", "api.local"),
    ]))
    .unwrap();
    assert_eq!(s.auth.issuer, "http://127.0.0.1:8765/");
    assert_eq!(
        s.auth.jwks_url,
        "http://127.0.0.1:8765/.well-known/jwks.json"
    );

    let s = ChangeSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CHANGE_SERVICE_JWKS_URL", "http://127.0.0.1:9/keys.json"),
    ]))
    .unwrap();
    assert_eq!(s.auth.jwks_url, "http://127.0.0.1:9/keys.json");
    assert_eq!(s.auth.issuer, "https://auth-dev.mozilla.auth0.com/");
}

#[test]
fn person_settings() {
    let s = PersonSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "production"),
        ("PERSON_API_AUTH0_DOMAIN", "auth.mozilla.auth0.com"),
        ("PERSON_API_API_IDENTIFIER", "api.sso.mozilla.com"),
        ("PERSON_API_ADVANCED_SEARCH", "true"),
    ]))
    .unwrap();
    assert_eq!(s.auth.issuer, "https://auth.mozilla.auth0.com/");
    assert_eq!(s.auth.audience, "api.sso.mozilla.com");
    assert!(s.advanced_search);
    assert!(!s.public_metadata);
    assert!(s.auth.jwt_validation);

    let s = PersonSettings::from_source(&src(&[("CIS_ENVIRONMENT", "development")])).unwrap();
    assert_eq!(s.auth.audience, "api.dev.sso.allizom.org");
    assert!(!s.advanced_search);

    let s = PersonSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("PERSON_API_PUBLIC_METADATA", "true"),
    ]))
    .unwrap();
    assert!(s.public_metadata);

    let err = PersonSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("PERSON_API_GRAPHQL", "true"),
    ]))
    .unwrap_err();
    assert_eq!(invalid_var(err), "PERSON_API_GRAPHQL");
}

#[test]
fn notifier_settings() {
    let s = NotifierSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "development"),
        (
            "CIS_RP_URLS",
            "https://dinopark.k8s.dev.sso.allizom.org/events/update, https://auth0-cis-webhook-consumer.dev.sso.allizom.org/post,",
        ),
        ("CIS_API_IDENTIFIER", "hook.dev.sso.allizom.org"),
        ("CIS_AUTHZERO_TENANT", "auth.mozilla.auth0.com"),
        ("CIS_SECRET_MANAGER_SSM_PATH", "/iam/cis/development/webhook_notifier"),
    ]))
    .unwrap();
    assert_eq!(
        s.rp_urls,
        vec![
            "https://dinopark.k8s.dev.sso.allizom.org/events/update",
            "https://auth0-cis-webhook-consumer.dev.sso.allizom.org/post"
        ]
    );
    assert_eq!(s.token_url, "https://auth.mozilla.auth0.com/oauth/token");
    assert_eq!(
        s.credentials,
        ClientCredentialsSource::Ssm {
            client_id_parameter: "/iam/cis/development/webhook_notifier/client_id".into(),
            client_secret_parameter: "/iam/cis/development/webhook_notifier/client_secret".into(),
        }
    );
    assert_eq!(s.max_attempts, 5);
    assert_eq!(s.request_timeout, Duration::from_secs(10));

    let err = NotifierSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CIS_RP_URLS", "https://ok.example/x,ftp://bad"),
    ]))
    .unwrap_err();
    assert_eq!(invalid_var(err), "CIS_RP_URLS");

    let err = NotifierSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CIS_NOTIFIER_CLIENT_ID", "abc"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("CIS_NOTIFIER_CLIENT_SECRET"));

    let err = NotifierSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CIS_NOTIFIER_MAX_ATTEMPTS", "0"),
    ]))
    .unwrap_err();
    assert_eq!(invalid_var(err), "CIS_NOTIFIER_MAX_ATTEMPTS");
}

#[test]
fn secrets_are_redacted() {
    let s = NotifierSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CIS_NOTIFIER_CLIENT_ID", "client-abc"),
        ("CIS_NOTIFIER_CLIENT_SECRET", "hunter2-very-secret"),
        ("CIS_AUTHZERO_TENANT", "http://127.0.0.1:8765"),
    ]))
    .unwrap();
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("[redacted]"));
    assert_eq!(s.token_url, "http://127.0.0.1:8765/oauth/token");
    match &s.credentials {
        ClientCredentialsSource::Direct { client_secret, .. } => {
            assert_eq!(client_secret.expose(), "hunter2-very-secret");
            assert_eq!(client_secret.to_string(), "[redacted]");
        }
        other => panic!("{other:?}"),
    }

    let c = ChangeSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CIS_UUID_SALT", "salty-salt-value"),
    ]))
    .unwrap();
    assert!(!format!("{c:?}").contains("salty"));
    assert_eq!(
        c.uuid_salt,
        UuidSaltSource::Value(Secret::new("salty-salt-value".to_string()))
    );

    let secret = Secret::new(String::from("x"));
    assert_eq!(format!("{secret:?}"), "[redacted]");
    assert_eq!(format!("{secret}"), "[redacted]");
}

#[test]
fn toml_file_under_env() {
    let toml = r#"
        CIS_JWKS_TTL_SECONDS = 60

        [cis]
        environment = "local"
        allow_delete = true
        verify_signatures = false
        rp_urls = ["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"]

        [change_service]
        auth0_domain = "http://127.0.0.1:8765"
    "#;
    // env wins over the file
    let source = src(&[("CIS_VERIFY_SIGNATURES", "true")])
        .with_toml_str(toml, "local.toml")
        .unwrap();
    let s = ChangeSettings::from_source(&source).unwrap();
    assert!(s.allow_delete);
    assert!(s.verify_signatures);
    assert_eq!(s.auth.issuer, "http://127.0.0.1:8765/");
    assert_eq!(s.common.environment, "local");
    assert_eq!(s.auth.jwks_ttl, Duration::from_secs(60));
    let n = NotifierSettings::from_source(&source).unwrap();
    assert_eq!(n.rp_urls.len(), 2);
}

#[test]
fn toml_top_level_keys_and_file_errors() {
    let source = src(&[])
        .with_toml_str(
            "CIS_ENVIRONMENT = \"local\"\nCIS_JWKS_TTL_SECONDS = 60\n",
            "t.toml",
        )
        .unwrap();
    let s = ChangeSettings::from_source(&source).unwrap();
    assert_eq!(s.auth.jwks_ttl, Duration::from_secs(60));

    let err = src(&[])
        .with_toml_str("[cis]\nalow_delete = true\n", "typo.toml")
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("typo.toml") && text.contains("CIS_ALOW_DELETE"),
        "{text}"
    );

    let err = src(&[]).with_toml_str("[cis\n", "broken.toml").unwrap_err();
    assert!(matches!(err, ConfigError::File { .. }));

    let err = src(&[])
        .with_toml_file(std::path::Path::new("/nonexistent/cis.toml"))
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cis.toml"));

    // A bad bool in the file still names the variable.
    let source = src(&[])
        .with_toml_str(
            "[cis]\nenvironment = \"local\"\nallow_delete = \"maybe\"\n",
            "t.toml",
        )
        .unwrap();
    let err = ChangeSettings::from_source(&source).unwrap_err();
    assert_eq!(invalid_var(err), "CIS_ALLOW_DELETE");
}

#[test]
fn dynalite_endpoint_and_home_expansion() {
    let s = ChangeSettings::from_source(&src(&[
        ("CIS_ENVIRONMENT", "local"),
        ("CIS_DYNALITE_PORT", "8000"),
        ("HOME", "/home/tester"),
    ]))
    .unwrap();
    assert_eq!(
        s.common.dynamodb_endpoint.as_deref(),
        Some("http://localhost:8000")
    );
    assert_eq!(
        s.common.secret_manager.file_path,
        std::path::PathBuf::from("/home/tester/.mozilla-iam/keys/")
    );
    assert_eq!(s.common.table_name(), "local-identity-vault");
}

//! The `cis` binary end to end: real processes, real files, the reference data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn cis(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cis"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            // The process may exit before reading (usage errors): a broken pipe is fine.
            let _ = pipe.write_all(bytes);
        }
    }
    child.wait_with_output().unwrap()
}

fn json_out(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn e2e_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared().join("profiles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("e2e-"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 11);
    files
}

#[test]
fn validate_accepts_reference_profiles_and_the_null_profile() {
    for file in e2e_fixtures()
        .into_iter()
        .chain([shared().join("schema/user_profile_null.json")])
    {
        let out = cis(&["profile", "validate", &path_str(&file)], None);
        assert_eq!(out.status.code(), Some(0), "{}", file.display());
        assert_eq!(json_out(&out)["valid"], true);
    }
}

#[test]
fn validate_lists_every_violation_with_its_path_and_exits_1() {
    let mut profile: Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("schema/user_profile_null.json")).unwrap(),
    )
    .unwrap();
    profile["user_id"]["value"] = Value::from(5);
    profile["staff_information"]["cost_center"]["metadata"]["display"] = "ndaed".into();
    let out = cis(
        &["profile", "validate", "-"],
        Some(profile.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let body = json_out(&out);
    assert_eq!(body["valid"], false);
    let paths: Vec<String> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    assert!(paths.iter().any(|p| p.contains("user_id")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("cost_center")), "{paths:?}");
}

#[test]
fn usage_and_io_errors_exit_2_with_a_message() {
    let out = cis(&["profile", "validate", "/nonexistent/profile.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/profile.json"));

    let out = cis(&["profile", "validate", "-"], Some(b"{not json"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));

    let out = cis(&["profile", "frobnicate"], None);
    assert_eq!(out.status.code(), Some(2));

    let out = cis(&["profile", "sign", "--key", "nokeyfile"], Some(b"{}"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PUBLISHER=PEM_FILE"));
}

#[test]
fn verify_reports_the_known_ssh_and_pgp_mismatches_of_the_e2e_fixtures() {
    let well_known = path_str(&shared().join("well-known/dev.mozilla-iam.json"));
    let mut failing = std::collections::BTreeMap::<String, usize>::new();
    for file in e2e_fixtures() {
        let out = cis(
            &[
                "profile",
                "verify",
                "--well-known",
                &well_known,
                &path_str(&file),
            ],
            None,
        );
        let body = json_out(&out);
        let failures = body["failures"].as_array().unwrap();
        for failure in failures {
            let path = failure["path"].as_str().unwrap();
            assert!(
                path == "ssh_public_keys" || path == "pgp_public_keys",
                "{}: unexpected failure {failure}",
                file.display()
            );
            assert!(!failure["reason"].as_str().unwrap().is_empty());
            *failing.entry(path.to_owned()).or_default() += 1;
        }
        if failures.is_empty() {
            assert_eq!(out.status.code(), Some(0));
            assert_eq!(body["verified"], true);
        } else {
            assert_eq!(out.status.code(), Some(1));
            assert_eq!(body["verified"], false);
        }
    }
    // Spec §13.3: each of the two attributes fails in 7 of the 11 files.
    assert_eq!(failing.get("ssh_public_keys"), Some(&7));
    assert_eq!(failing.get("pgp_public_keys"), Some(&7));
}

#[test]
fn sign_then_verify_round_trip_and_tamper_detection() {
    let dir = tempfile::tempdir().unwrap();
    let key = path_str(&shared().join("keys/fake-publisher-key_0.priv.pem"));
    let fake_wk = path_str(&shared().join("keys/fake-well-known.json"));
    let unsigned = cis(&["profile", "fake", "--seed", "3", "--unsigned"], None);
    assert_eq!(unsigned.status.code(), Some(0));

    let key_args: Vec<String> = ["ldap", "hris", "mozilliansorg", "access_provider", "cis"]
        .iter()
        .flat_map(|p| ["--key".to_owned(), format!("{p}={key}")])
        .collect();
    let mut args: Vec<&str> = vec!["profile", "sign"];
    args.extend(key_args.iter().map(String::as_str));
    args.push("-");
    let signed = cis(&args, Some(&unsigned.stdout));
    assert_eq!(
        signed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let signed_profile = json_out(&signed);
    let signed_path = dir.path().join("signed.json");
    std::fs::write(&signed_path, signed_profile.to_string()).unwrap();

    let out = cis(
        &[
            "profile",
            "verify",
            "--well-known",
            &fake_wk,
            &path_str(&signed_path),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let mut tampered = signed_profile.clone();
    tampered["user_id"]["value"] = "someone|else".into();
    let out = cis(
        &["profile", "verify", "--well-known", &fake_wk, "-"],
        Some(tampered.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let body = json_out(&out);
    assert_eq!(body["failures"][0]["path"], "user_id");
}

#[test]
fn fake_profiles_are_deterministic_valid_and_signed_by_dev_keys() {
    let a = cis(&["profile", "fake", "--seed", "42"], None);
    let b = cis(&["profile", "fake", "--seed", "42"], None);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout);
    let out = cis(
        &["profile", "verify", "--well-known", "dev", "-"],
        Some(&a.stdout),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cis(&["profile", "validate"], Some(&a.stdout));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cis(&["profile", "check-publishers"], Some(&a.stdout));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let lines = cis(&["profile", "fake", "--seed", "1", "--count", "5"], None);
    let text = String::from_utf8(lines.stdout).unwrap();
    let ids: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["user_id"]["value"].to_string())
        .collect();
    assert_eq!(ids.len(), 5);
}

#[test]
fn check_publishers_rejects_a_wrong_publisher() {
    let fake = cis(&["profile", "fake", "--seed", "9", "--unsigned"], None);
    let stored = json_out(&fake);
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    std::fs::write(&old, stored.to_string()).unwrap();
    let mut changed = stored.clone();
    changed["first_name"]["value"] = "Changed".into();
    changed["first_name"]["signature"]["publisher"]["name"] = "ldap".into();
    let out = cis(
        &["profile", "check-publishers", "--old", &path_str(&old), "-"],
        Some(changed.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let body = json_out(&out);
    assert_eq!(body["allowed"], false);
    assert_eq!(body["violations"][0]["path"], "first_name");
    assert_eq!(body["violations"][0]["publisher"], "ldap");
}

#[test]
fn merge_reports_full_paths() {
    let fake = cis(&["profile", "fake", "--seed", "11", "--unsigned"], None);
    let stored = json_out(&fake);
    let dir = tempfile::tempdir().unwrap();
    let stored_path = dir.path().join("stored.json");
    std::fs::write(&stored_path, stored.to_string()).unwrap();
    let mut patch = stored.clone();
    patch["staff_information"]["title"]["value"] = "Chief Tester".into();
    let out = cis(
        &["profile", "merge", "--stored", &path_str(&stored_path), "-"],
        Some(patch.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0));
    let body = json_out(&out);
    assert_eq!(
        body["changed"],
        serde_json::json!(["staff_information.title"])
    );
    assert_eq!(
        body["profile"]["staff_information"]["title"]["value"],
        "Chief Tester"
    );
}

#[test]
fn filter_removes_what_the_scopes_do_not_grant() {
    let profile = shared().join("profiles/e2e-0.json");
    let out = cis(
        &["profile", "filter", "--scopes", "", &path_str(&profile)],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let body = json_out(&out);
    // No scopes: only PUBLIC classification and public display survive.
    for (path, attr) in cis_attributes(&body) {
        assert_eq!(attr["metadata"]["classification"], "PUBLIC", "{path}");
        assert_eq!(attr["metadata"]["display"], "public", "{path}");
    }
    let out = cis(
        &[
            "profile",
            "filter",
            "--scopes",
            "read:fullprofile display:all",
            &path_str(&profile),
        ],
        None,
    );
    let full: Value = serde_json::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(json_out(&out), full);
}

fn cis_attributes(profile: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, item) in profile.as_object().unwrap() {
        if item.get("signature").is_some() {
            out.push((name.clone(), item.clone()));
        } else if let Some(group) = item.as_object() {
            for (child, attr) in group {
                out.push((format!("{name}.{child}"), attr.clone()));
            }
        }
    }
    out
}

#[test]
fn uuid_matches_the_python_vectors() {
    let out = cis(
        &["profile", "uuid", "--salt", "12345", "--user-id", "test"],
        None,
    );
    let body = json_out(&out);
    assert_eq!(body["uuid"], "d0224f82-9d7b-595c-ad37-f56feebd751a");
    assert_eq!(body["primary_username"], "r--0CJPgp17WVytN_Vv7r11Gg==");
}

#[test]
fn jwks_of_a_pem_matches_the_reference_key() {
    let pem = path_str(&shared().join("keys/fake-publisher-key_0.pub.pem"));
    let out = cis(&["keys", "jwks", &format!("example={pem}")], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = json_out(&out);
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(shared().join("keys/fake-publisher-key_0.pub.jwks")).unwrap(),
    )
    .unwrap();
    let reference_key = reference
        .get("keys")
        .map(|k| k[0].clone())
        .unwrap_or(reference);
    assert_eq!(body["keys"][0]["n"], reference_key["n"]);
    assert_eq!(body["keys"][0]["e"], reference_key["e"]);
    assert_eq!(body["keys"][0]["kid"], "example");
}

#[test]
fn vault_ensure_creates_the_table_then_changes_nothing() {
    let Ok(endpoint) = std::env::var("CIS_TEST_DYNAMODB_ENDPOINT") else {
        eprintln!(
            "SKIPPED vault_ensure: CIS_TEST_DYNAMODB_ENDPOINT is not set (ci/test.sh starts moto)"
        );
        return;
    };
    let environment = format!("clitest{}", std::process::id());
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_cis"))
            .args([
                "vault",
                "ensure",
                "--environment",
                &environment,
                "--endpoint-url",
                &endpoint,
            ])
            .env_remove("CIS_DYNAMODB_ARN")
            .env_remove("CIS_DEAD_LETTER_TABLE")
            .env_remove("CIS_INGEST_STATUS_TABLE")
            .output()
            .unwrap()
    };
    let first = run();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report = json_out(&first);
    assert_eq!(report["vault"]["created_table"], true, "{report}");
    assert_eq!(
        report["vault"]["table_name"],
        format!("{environment}-identity-vault")
    );
    assert_eq!(
        report["dead_letters"]["table_name"],
        format!("{environment}-cis-notifier-dead-letters")
    );
    assert_eq!(report["dead_letters"]["created_table"], true);
    assert_eq!(
        report["ingest_status"]["table_name"],
        format!("{environment}-cis-ingest-status")
    );
    assert_eq!(report["ingest_status"]["created_table"], true);
    assert_eq!(report["unchanged"], false);
    let second = run();
    assert_eq!(second.status.code(), Some(0));
    let report = json_out(&second);
    assert_eq!(report["unchanged"], true, "{report}");
    assert_eq!(report["vault"]["created_table"], false);
    assert_eq!(report["dead_letters"]["created_table"], false);
}

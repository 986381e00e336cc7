//! Reading profiles from files or stdin and printing JSON.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Reads `path` (`None` or `-` = stdin) as text.
pub fn read_text(path: Option<&Path>) -> Result<String> {
    match path {
        None => read_stdin(),
        Some(p) if p.as_os_str() == "-" => read_stdin(),
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        }
    }
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read standard input")?;
    Ok(text)
}

/// Reads and parses one JSON document, naming the source and the position on error.
pub fn read_json(path: Option<&Path>) -> Result<Value> {
    let text = read_text(path)?;
    parse_json(&text, &describe(path))
}

pub fn parse_json(text: &str, source: &str) -> Result<Value> {
    if text.trim().is_empty() {
        bail!("{source} is empty: expected a JSON profile");
    }
    serde_json::from_str(text).with_context(|| format!("{source} is not valid JSON"))
}

/// Reads a profile: a JSON object.
pub fn read_profile(path: Option<&Path>) -> Result<Value> {
    let value = read_json(path)?;
    if !value.is_object() {
        bail!(
            "{} is not a JSON object: a profile is an object",
            describe(path)
        );
    }
    Ok(value)
}

pub fn describe(path: Option<&Path>) -> String {
    match path {
        None => "standard input".to_owned(),
        Some(p) if p.as_os_str() == "-" => "standard input".to_owned(),
        Some(p) => p.display().to_string(),
    }
}

/// Prints `value` as one line of compact JSON (document key order kept).
pub fn print_json(value: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value).context("cannot write to standard output")?;
    out.write_all(b"\n")
        .context("cannot write to standard output")?;
    Ok(())
}

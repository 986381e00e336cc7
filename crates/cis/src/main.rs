//! `cis`: the operator and developer CLI of the Change Integration Service.
//!
//! Exit status: 0 = ok, 1 = rejected (invalid, unverified, not allowed), 2 = usage or I/O error.

mod datadir;
mod dev_keys;
mod input;
mod notify_cmd;
mod profile_cmd;
mod seed;
mod serve;
mod token;
mod vault_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cis", version, about = "CIS, the Change Integration Service", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with profile v2 documents: validate, sign, verify, filter, merge, fake.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Key utilities.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run CIS locally: Change API, Person API, dev token issuer and well-known document.
    Serve(serve::ServeArgs),
    /// Create realistic users through a running Change API, as the publishers do.
    Seed(seed::SeedArgs),
    /// Mint a bearer token from a `cis serve` data directory's dev issuer.
    Token(token::TokenArgs),
    /// Webhook dead letters of a `cis serve` data directory: list them, redeliver them.
    #[command(subcommand)]
    Notify(notify_cmd::NotifyCommand),
    /// Operate the DynamoDB identity vault.
    #[command(subcommand)]
    Vault(VaultCommand),
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Create or complete the vault table, its four GSIs, the KEYS_ONLY stream and the tags
    /// (what the curator Lambda does); idempotent.
    Ensure(vault_cmd::EnsureArgs),
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// Validate against the profile v2 JSON schema; lists every violation.
    Validate(FileArg),
    /// Sign every non-null attribute whose publisher has a key.
    Sign {
        /// PUBLISHER=PEM_FILE (or a private JWK file); repeatable.
        #[arg(long = "key", value_name = "PUBLISHER=PEM_FILE", required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        file: FileArg,
    },
    /// Verify every signed attribute against the publishers' keys.
    Verify {
        /// A mozilla-iam well-known document: file path, http(s) URL, or `dev` for the built-in dev keys.
        #[arg(long, value_name = "FILE_OR_URL")]
        well_known: String,
        #[command(flatten)]
        file: FileArg,
    },
    /// Filter a profile as the Person API does for a token with these scopes.
    Filter {
        /// Space-separated OAuth scopes, e.g. "classification:workgroup display:staff".
        #[arg(long, default_value = "")]
        scopes: String,
        /// The Person API's `filterDisplay` query parameter.
        #[arg(long, value_name = "LEVEL")]
        filter_display: Option<String>,
        #[command(flatten)]
        file: FileArg,
    },
    /// Check the publisher rules for a change from --old (default: the null profile) to FILE.
    CheckPublishers {
        /// The stored profile; omitted = a new user (the null profile).
        #[arg(long, value_name = "FILE")]
        old: Option<PathBuf>,
        #[command(flatten)]
        file: FileArg,
    },
    /// Merge FILE into the stored profile; prints the result and the changed attribute paths.
    Merge {
        #[arg(long, value_name = "FILE")]
        stored: PathBuf,
        #[command(flatten)]
        file: FileArg,
    },
    /// Derive uuid and primary_username from the uuid salt and a user_id.
    Uuid {
        #[arg(long)]
        salt: String,
        #[arg(long)]
        user_id: String,
    },
    /// Generate realistic fake profiles signed with the dev publisher keys.
    Fake {
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print N profiles (seeds seed..seed+N) as JSON lines.
        #[arg(long)]
        count: Option<u64>,
        /// Leave the signatures empty.
        #[arg(long)]
        unsigned: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a JWKS document with the public halves of RSA keys (PEM, private or public).
    Jwks {
        /// PEM files; the key id is the file stem unless given as KID=FILE.
        #[arg(required = true, value_name = "PEM_FILE")]
        files: Vec<String>,
    },
}

#[derive(Args)]
struct FileArg {
    /// The profile file; `-` or omitted = standard input.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

/// What a command concluded; errors are reported separately (exit 2).
pub enum Outcome {
    Ok,
    Rejected,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Profile(cmd) => profile_cmd::run(cmd),
        Command::Keys(cmd) => profile_cmd::run_keys(cmd),
        Command::Serve(args) => serve::run(args),
        Command::Seed(args) => seed::run(args),
        Command::Token(args) => token::run(args),
        Command::Vault(VaultCommand::Ensure(args)) => vault_cmd::ensure(args),
        Command::Notify(cmd) => notify_cmd::run(cmd),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Rejected) => ExitCode::from(1),
        Err(error) => {
            eprintln!("cis: {error:#}");
            ExitCode::from(2)
        }
    }
}

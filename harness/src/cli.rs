//! The command line: raw flags (clap) turned into a validated [`RunConfig`], plus the glue that
//! starts the mock IdP and, without `--target`, the bundled reference target.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::check::{Mode, Validation};
use crate::error::{HarnessError, exit_code};
use crate::report::{TerminalStyle, render_terminal};
use crate::scenario::{self, Catalogue};
use crate::spec::SpecVersion;
use crate::{Limits, Options, RunConfig};

/// Judges an MCP server's OAuth 2.1 authorization: discovery, challenges, token validation,
/// scopes, audience, JWKS rotation and introspection.
///
/// Without --target, runs against the bundled reference target (a correct MCP server, or one of
/// its deliberately broken variants with --reference-variant).
#[derive(Debug, Parser)]
#[command(name = "mcp-auth-conformance", version, about, long_about)]
pub struct Cli {
    /// The MCP endpoint to judge, e.g. http://127.0.0.1:8000/mcp.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Variant of the bundled reference target to run against when --target is absent.
    #[arg(long, value_name = "NAME", default_value = "conformant")]
    pub reference_variant: String,

    /// Use a standalone mock IdP (its issuer URL) instead of starting one in this process.
    #[arg(long, value_name = "URL")]
    pub idp: Option<String>,

    /// Port of the in-process mock IdP; stable so a configured target keeps working across runs.
    #[arg(long, value_name = "PORT", default_value_t = 9400)]
    pub idp_port: u16,

    /// Where the in-process mock IdP keeps its keys (default: the user's state directory).
    #[arg(long, value_name = "DIR")]
    pub idp_state_dir: Option<PathBuf>,

    /// MCP revision to judge against.
    #[arg(long, value_name = "REVISION", default_value = "2026-07-28")]
    pub spec_version: SpecVersion,

    /// Override the detected target mode (A, B, C or D).
    #[arg(long, value_name = "MODE")]
    pub mode: Option<Mode>,

    /// Override how the target is assumed to validate tokens (jwt or introspection).
    #[arg(long, value_name = "KIND")]
    pub validation: Option<Validation>,

    /// A scope the target requires (repeatable); overrides what the target advertises.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,

    /// Audience the target expects in tokens (default: the target URL).
    #[arg(long, value_name = "URI")]
    pub audience: Option<String>,

    /// Run only these checks: an ID, or an area such as `jwt` (repeatable).
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,

    /// Also load scenario files from this directory (repeatable).
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenario_dirs: Vec<PathBuf>,

    /// Deadline for one exchange with the target, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,

    /// Largest response body read from the target, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body: usize,

    /// Seconds the JWKS checks wait for the target to pick up a new key.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub jwks_wait: u64,

    /// Refetch cool-down (seconds) the JWKS checks allow the target before judging it.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub jwks_cooldown: u64,

    /// Write the JSON report here.
    #[arg(long, value_name = "FILE", default_value = "mcp-auth-report.json")]
    pub json: PathBuf,

    /// Do not write the JSON report.
    #[arg(long)]
    pub no_json: bool,

    /// List every check with its level, modes and references, then exit.
    #[arg(long)]
    pub list: bool,
}

/// Runs the binary; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::CONFORMANT
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit_code::INTERNAL;
        }
    };
    match runtime.block_on(run_cli(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Loads the built-in scenarios plus those in `dirs`.
pub fn load_catalogue(dirs: &[PathBuf]) -> Result<Catalogue, HarnessError> {
    let mut catalogue = scenario::load_builtin()?;
    for dir in dirs {
        catalogue.extend(scenario::load_dir(dir)?)?;
    }
    Ok(catalogue)
}

fn list(catalogue: &Catalogue, spec: SpecVersion) -> String {
    let mut out = String::new();
    for (path, s) in &catalogue.scenarios {
        let modes: Vec<String> = s.modes.iter().map(|m| format!("{m:?}")).collect();
        let refs: Vec<&str> = s.references.iter().map(|r| r.id.as_str()).collect();
        out.push_str(&format!(
            "{:<40} {:<6} modes {:<8} {}\n    {}\n    {}\n",
            s.id,
            s.level_for(spec).to_string(),
            modes.join(""),
            s.title,
            refs.join("; "),
            path
        ));
    }
    out
}

fn default_state_dir(port: u16) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(
        base.join("mcp-auth-conformance")
            .join(format!("mock-idp-{port}")),
    )
}

async fn run_cli(cli: Cli) -> Result<i32, HarnessError> {
    let catalogue = load_catalogue(&cli.scenario_dirs)?;
    if cli.list {
        print!("{}", list(&catalogue, cli.spec_version));
        return Ok(exit_code::CONFORMANT);
    }
    let variant: reference_target::Variant = cli
        .reference_variant
        .parse()
        .map_err(|_| HarnessError::Usage(format!("unknown --reference-variant {:?}; see `cargo run -p reference-target -- --list-variants`", cli.reference_variant)))?;

    // The mock IdP: standalone, or in this process on a stable port (ephemeral for the demo).
    let mut local_idp = None;
    let idp_url = match &cli.idp {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let demo = cli.target.is_none();
            let port = if demo { 0 } else { cli.idp_port };
            let config = mock_idp::IdpConfig {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                state_dir: if demo {
                    None
                } else {
                    cli.idp_state_dir
                        .clone()
                        .or_else(|| default_state_dir(port))
                },
                ..Default::default()
            };
            let idp = mock_idp::MockIdp::start(config).await.map_err(|e| {
                HarnessError::Idp(format!(
                    "cannot start on 127.0.0.1:{port}: {e} (is a standalone mock-idp already running there? then pass --idp http://127.0.0.1:{port})"
                ))
            })?;
            let url = idp.issuer();
            local_idp = Some(idp);
            url
        }
    };

    // The target: the user's, or the bundled reference target.
    let mut reference = None;
    let target = match &cli.target {
        Some(t) => t.clone(),
        None => {
            let trust = match variant.validation() {
                reference_target::ValidationKind::Jwt => reference_target::Trust::Jwt {
                    jwks_uri: format!("{idp_url}/jwks"),
                },
                reference_target::ValidationKind::Introspection => {
                    reference_target::Trust::Introspection {
                        endpoint: format!("{idp_url}/introspect"),
                        client_id: "conformance-rs".into(),
                        client_secret: "conformance-rs-secret".into(),
                    }
                }
            };
            let running = reference_target::serve(reference_target::TargetConfig {
                issuer: idp_url.clone(),
                trust,
                variant,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                HarnessError::Internal(format!("cannot start the reference target: {e:#}"))
            })?;
            let url = running.url();
            eprintln!(
                "No --target given: running against the bundled reference target ({}) at {url}",
                variant.name()
            );
            reference = Some(running);
            url
        }
    };

    let idp = crate::idp::IdpClient::new(&idp_url)?;
    let info = idp.info().await?;
    let audience = cli.audience.clone().unwrap_or_else(|| target.clone());
    if cli.target.is_some() {
        eprintln!("Configure the target to trust the mock IdP:");
        eprintln!("  issuer                  {}", info.issuer);
        eprintln!("  JWKS URL                {}", info.jwks_uri);
        eprintln!(
            "  introspection endpoint  {} (client {} / {}, HTTP Basic)",
            info.introspection_endpoint,
            info.introspection_client_id,
            info.introspection_client_secret
        );
        eprintln!("  audience                {audience}");
        eprintln!();
    }

    let config = RunConfig {
        target,
        audience: cli.audience.clone(),
        spec: cli.spec_version,
        idp_url,
        limits: Limits {
            deadline: Duration::from_millis(cli.timeout_ms),
            max_body: cli.max_body,
        },
        options: Options {
            scopes: if cli.scopes.is_empty() {
                None
            } else {
                Some(cli.scopes.clone())
            },
            validation: cli.validation,
            mode: cli.mode,
            jwks_wait: Duration::from_secs(cli.jwks_wait),
            jwks_cooldown: Duration::from_secs(cli.jwks_cooldown),
        },
        checks: cli.checks.clone(),
        catalogue,
    };
    let result = crate::run(config).await;
    if let Some(r) = reference {
        r.shutdown().await;
    }
    if let Some(i) = local_idp {
        i.shutdown().await;
    }
    let report = result?;
    print!("{}", render_terminal(&report, TerminalStyle::detect()));
    if !cli.no_json {
        std::fs::write(&cli.json, report.to_json()).map_err(|e| {
            HarnessError::Internal(format!("cannot write {}: {e}", cli.json.display()))
        })?;
        println!("JSON report written to {}", cli.json.display());
    }
    Ok(if report.summary.conformant {
        exit_code::CONFORMANT
    } else {
        exit_code::NON_CONFORMANT
    })
}

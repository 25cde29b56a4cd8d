//! The command line: raw flags (clap) turned into a validated [`RunConfig`], plus the glue that
//! starts the mock IdP and, without `--target`, the bundled reference target.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::check::{Mode, Validation};
use crate::error::{HarnessError, exit_code};
use crate::report::{TerminalStyle, render_terminal};
use crate::scenario::{Catalogue, selected};
use crate::spec::SpecVersion;
use crate::{Limits, Options, RunConfig, load_catalogue};

/// Judges an MCP server's OAuth 2.1 authorization: discovery, challenges, token validation,
/// scopes, audience, JWKS rotation and introspection.
///
/// Without --target, runs against the bundled reference target (a correct MCP server, or one of
/// its deliberately broken variants with --reference-variant); a build without the default `demo`
/// feature has none.
#[derive(Debug, Parser)]
#[command(name = "mcp-auth-conformance", version, about, long_about)]
pub struct Cli {
    /// The MCP endpoint to judge, e.g. http://127.0.0.1:8000/mcp (also --url, as the official
    /// conformance suite names it).
    #[arg(long, value_name = "URL", alias = "url")]
    pub target: Option<String>,

    /// Variant of the bundled reference target to run against when --target is absent.
    #[arg(long, value_name = "NAME", default_value = "conformant")]
    pub reference_variant: String,

    /// Use a standalone mock IdP (its issuer URL) instead of starting one in this process.
    #[arg(long, value_name = "URL")]
    pub idp: Option<String>,

    /// The control token of a standalone mock IdP started with one (required when it listens
    /// beyond loopback, as in a container); sent as a Bearer token to its control API only.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MOCK_IDP_CONTROL_TOKEN",
        hide_env_values = true,
        requires = "idp"
    )]
    pub idp_control_token: Option<String>,

    /// Port of the in-process mock IdP; stable so a configured target keeps working across runs.
    #[arg(long, value_name = "PORT", default_value_t = 9400)]
    pub idp_port: u16,

    /// Where the in-process mock IdP keeps its keys (default: the user's state directory).
    #[arg(long, value_name = "DIR")]
    pub idp_state_dir: Option<PathBuf>,

    /// MCP revision to judge against.
    #[arg(long, value_name = "REVISION", default_value = "2026-07-28")]
    pub spec_version: SpecVersion,

    /// Which eras of the MCP wire to judge: auto (every era the target speaks: a 2026-07-28
    /// request first, then initialize), legacy (initialize and sessions) or modern (the stateless
    /// 2026-07-28 wire).
    #[arg(long, value_name = "ERA", value_enum, default_value_t = crate::context::EraChoice::Auto)]
    pub era: crate::context::EraChoice,

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

    /// Also write the official MCP conformance suite's checks.json format here.
    #[arg(long, value_name = "FILE")]
    pub checks_json: Option<PathBuf>,

    /// Write JUnit XML here (one test case per check).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Write a Markdown summary here (e.g. "$GITHUB_STEP_SUMMARY"; appended to if it exists).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Write an SVG badge ("MCP auth: 41/44 MUST") here.
    #[arg(long, value_name = "FILE")]
    pub badge: Option<PathBuf>,

    /// Write a shields.io endpoint JSON here.
    #[arg(long, value_name = "FILE")]
    pub shields: Option<PathBuf>,

    /// Write every format into this directory: report.json, checks.json, junit.xml, summary.md,
    /// badge.svg, shields.json.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Replace times, durations, ports and session IDs in written files by fixed values, so
    /// reports can be committed and compared.
    #[arg(long)]
    pub normalize: bool,

    /// Known failures (the official conformance suite's expected-failures format): listed
    /// failures do not fail the run, listed checks that pass do.
    #[arg(long, value_name = "FILE")]
    pub expected_failures: Option<PathBuf>,

    /// Start the target with this shell command (the mock IdP's settings in its environment,
    /// see the README), wait until it listens, run, and stop it. Without --target the target is
    /// `http://127.0.0.1:<free port>/mcp`; port 0 in --target also picks a free port.
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,

    /// Keep the output of --command in this file (default: shown only if it fails to start).
    #[arg(long, value_name = "FILE", requires = "command")]
    pub command_log: Option<PathBuf>,

    /// Seconds --command may take to start listening.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub command_timeout: u64,

    /// A shell command that restarts a target you run yourself (--target without --command);
    /// dcr.client-usable runs it last, to see whether registered clients survive a restart, and
    /// jwks.outage-fails-closed shows a JWKS outage to a restarted target when the running one
    /// is inside a refetch cool-down. Targets started with --command, and the bundled reference
    /// target, are restarted by the harness itself.
    #[arg(long, value_name = "CMD", conflicts_with = "command")]
    pub restart_cmd: Option<String>,

    /// A valid token the target accepts, used wherever a check needs an ordinary valid token
    /// (for targets that accept only pre-shared tokens). Also read from the environment, so it
    /// stays out of shell history.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MCP_CONFORMANCE_TOKEN",
        hide_env_values = true,
        conflicts_with = "static_token"
    )]
    pub token: Option<String>,

    /// Mint one valid token before the run, pass it to --command as MCP_AUTH_STATIC_TOKEN and use
    /// it as --token (for static token verifiers).
    #[arg(long)]
    pub static_token: bool,

    /// Progress on stderr: auto (live on a terminal, one line per check when $CI is set), live,
    /// lines or off.
    #[arg(long, value_name = "HOW", value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,

    /// List every check with its level, modes and references, then exit (--check filters).
    #[arg(long)]
    pub list: bool,

    /// A client pre-registered at the target's authorization server, used by the headless login
    /// instead of dynamic registration (modes C and D).
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// The secret of --client-id (a confidential client). Also read from the environment, so it
    /// stays out of shell history.
    #[arg(
        long,
        value_name = "SECRET",
        env = "MCP_CONFORMANCE_CLIENT_SECRET",
        hide_env_values = true,
        requires = "client_id"
    )]
    pub client_secret: Option<String>,

    /// How --client-id authenticates at the token endpoint: none, client_secret_basic or
    /// client_secret_post (default: basic with a secret, none without).
    #[arg(long, value_name = "METHOD", value_enum, requires = "client_id")]
    pub client_auth_method: Option<ClientAuthMethod>,

    /// Print the authorization URL and wait for a person to log in, where the login page cannot
    /// be answered headlessly.
    #[arg(long)]
    pub interactive: bool,

    /// Modes C and D: the username of a test account, typed into a login form's username or
    /// e-mail input. Also read from the environment; redacted in every report.
    #[arg(
        long,
        value_name = "USER",
        env = "MCP_CONFORMANCE_LOGIN_USER",
        hide_env_values = true
    )]
    pub login_user: Option<String>,

    /// Modes C and D: the test account's password, typed into a login form's password inputs.
    /// Also read from the environment, so it stays out of shell history; redacted in every report.
    #[arg(
        long,
        value_name = "PASS",
        env = "MCP_CONFORMANCE_LOGIN_PASSWORD",
        hide_env_values = true
    )]
    pub login_password: Option<String>,

    /// Modes C and D: a login form field to fill, by its name (repeatable): a tenant, a one-time
    /// code, an input the username guess misses. Also from MCP_CONFORMANCE_LOGIN_FIELDS, one
    /// NAME=VALUE per line (the flags win for the same name); redacted in every report.
    #[arg(long = "login-field", value_name = "NAME=VALUE")]
    pub login_fields: Vec<String>,

    /// How token-endpoint errors are judged where the RFCs and common practice disagree: rfc
    /// (invalid_grant with 400 only) or lenient (401 accepted too).
    #[arg(long, value_name = "PROFILE", default_value = "rfc")]
    pub profile: crate::context::Profile,

    /// The target's tool that calls a downstream API (the URL given to --command as
    /// MCP_DOWNSTREAM_URL): passthrough.no-downstream-forward calls it and looks at the
    /// credential that arrives there.
    #[arg(long, value_name = "NAME", default_value = "call_downstream")]
    pub downstream_tool: String,

    /// An operation that needs more scope than listing does, for the per-operation scope checks:
    /// tools/call:NAME, resources/read:URI or prompts/get:NAME (set for the bundled reference
    /// target).
    #[arg(long, value_name = "METHOD:NAME")]
    pub scoped_operation: Option<crate::context::ScopedOperation>,

    /// A scope that implies narrower ones in the target's own scope model, e.g.
    /// `admin=read,write` (repeatable): scope.hierarchy checks that a token with the broader scope
    /// is enough wherever the narrower ones are needed (set for the bundled reference target).
    #[arg(long, value_name = "BROAD=NARROW,...")]
    pub scope_implies: Vec<crate::context::ScopeImplication>,

    /// The target is set up to fetch Client ID Metadata Documents from loopback http URLs (the
    /// mock IdP hosts them): a document it does not use is then a failure of the cimd.* checks
    /// rather than "not testable" (the default, since a server must refuse private addresses).
    /// Implied for the bundled reference target.
    #[arg(long)]
    pub cimd_loopback: bool,

    /// Modes C and D: the headless login registers with a Client ID Metadata Document (hosted by
    /// the mock IdP at a loopback URL) instead of dynamic registration. Implies --cimd-loopback.
    #[arg(long, conflicts_with = "client_id")]
    pub cimd_login: bool,

    /// Also fetch from this origin (repeatable; '*' for any). By default the harness contacts only
    /// the target's origin, the authorization servers its metadata names and the mock IdP, so a
    /// URL a hostile target names cannot make it fetch (and report) another service; link-local
    /// addresses are never contacted.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM), naming the signal.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
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

/// The `--list` text: every selected check with its level, modes, title, references and file.
pub fn list(catalogue: &Catalogue, spec: SpecVersion, filters: &[String]) -> String {
    let mut out = String::new();
    for (path, s) in catalogue
        .scenarios
        .iter()
        .filter(|(_, s)| selected(filters, &s.id))
    {
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
        let text = list(&catalogue, cli.spec_version, &cli.checks);
        if text.is_empty() {
            return Err(HarnessError::Usage(format!(
                "no check matches --check {}",
                cli.checks.join(" --check ")
            )));
        }
        print!("{text}");
        return Ok(exit_code::CONFORMANT);
    }
    if let Some(f) = cli.checks.iter().find(|f| {
        !catalogue
            .scenarios
            .iter()
            .any(|(_, s)| selected(std::slice::from_ref(f), &s.id))
    }) {
        return Err(HarnessError::Usage(format!(
            "--check {f:?} matches no check (see --list)"
        )));
    }
    // The test account first: a malformed one is a usage error before anything starts, and its
    // values are secrets before anything can print them.
    let login = login_account(&cli)?;
    let baseline = cli
        .expected_failures
        .as_deref()
        .map(|p| crate::Baseline::load(p, &catalogue))
        .transpose()?;
    let progress = cli.progress.resolve();
    #[cfg(feature = "demo")]
    let variant: reference_target::Variant = cli
        .reference_variant
        .parse()
        .map_err(|_| HarnessError::Usage(format!("unknown --reference-variant {:?}; see `cargo run -p reference-target -- --list-variants`", cli.reference_variant)))?;
    // A build without the bundled server says so before it starts anything.
    #[cfg(not(feature = "demo"))]
    if cli.target.is_none() && cli.command.is_none() {
        return Err(no_bundled_server());
    }

    // The mock IdP: standalone, or in this process on a stable port (ephemeral for the demo).
    let mut local_idp = None;
    let idp_url = match &cli.idp {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let demo = cli.target.is_none() && cli.command.is_none();
            let port = if demo { 0 } else { cli.idp_port };
            let config = mock_idp::IdpConfig {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                // An OAuth proxy's upstream, like GitHub or Google: configured clients only.
                authz: mock_idp::AuthzSettings {
                    registration: mock_idp::RegistrationMode::PreRegistered,
                    ..Default::default()
                },
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

    // The target: the user's (started by --command or already running), or the bundled
    // reference target.
    #[cfg(feature = "demo")]
    let mut reference = None;
    #[cfg(not(feature = "demo"))]
    let reference: Option<crate::restart::RestartableReference> = None;
    let target_arg = match (&cli.target, &cli.command) {
        (Some(t), Some(_)) => Some(crate::spawn::resolve_port(t)?),
        (None, Some(_)) => Some(crate::spawn::resolve_port("http://127.0.0.1:0/mcp")?),
        (t, None) => t.clone(),
    };
    let target = match &target_arg {
        Some(t) => t.clone(),
        #[cfg(not(feature = "demo"))]
        None => return Err(no_bundled_server()),
        #[cfg(feature = "demo")]
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
            let reference_config = reference_target::TargetConfig {
                issuer: idp_url.clone(),
                trust,
                variant,
                ..Default::default()
            };
            let running = reference_target::serve(reference_config.clone())
                .await
                .map_err(|e| {
                    HarnessError::Internal(format!("cannot start the reference target: {e:#}"))
                })?;
            let url = running.url();
            eprintln!(
                "No --target given: running against the bundled reference target ({}) at {url}",
                variant.name()
            );
            reference = Some(crate::restart::RestartableReference::new(
                running,
                reference_config,
            ));
            url
        }
    };

    let control_token = cli
        .idp_control_token
        .clone()
        .map(crate::redact::Secret::new);
    let idp = crate::idp::IdpClient::new(&idp_url, control_token.clone())?;
    let info = idp.info().await?;
    let audience = cli.audience.clone().unwrap_or_else(|| target.clone());
    // Credentials given on the command line are secrets wherever they show up in evidence
    // (an echoing error page, a form body), not only where the redactor knows the field.
    for given in [&cli.token, &cli.client_secret].into_iter().flatten() {
        crate::redact::Secret::new(given.as_str());
    }
    let mut valid_token = cli.token.clone();
    if cli.static_token {
        let minted = idp
            .mint(&serde_json::json!({
                "audience": audience,
                "scope": if cli.scopes.is_empty() { serde_json::Value::Null } else { cli.scopes.join(" ").into() },
                // Long enough for any run; a static verifier has no expiry of its own to check.
                "lifetime_secs": 86_400,
            }))
            .await?;
        valid_token = Some(minted.token);
    }
    // The upstream client an OAuth proxy at the target uses at the mock IdP.
    idp.add_client(&crate::spawn::upstream_client(&target))
        .await?;
    let spawned: crate::restart::SpawnedSlot = Default::default();
    let mut restart = None;
    if let Some(command) = &cli.command {
        let env = crate::spawn::TargetEnv {
            target_url: target.clone(),
            issuer: info.issuer.clone(),
            jwks_uri: info.jwks_uri.clone(),
            introspection_url: info.introspection_endpoint.clone(),
            client_id: info.introspection_client_id.clone(),
            client_secret: info.introspection_client_secret.clone(),
            audience: audience.clone(),
            required_scopes: cli.scopes.clone(),
            static_token: valid_token.clone().filter(|_| cli.static_token),
        };
        let log = cli.command_log.clone();
        let timeout = Duration::from_secs(cli.command_timeout);
        let command = command.clone();
        restart = Some(crate::restart::command_restarter(
            spawned.clone(),
            command.clone(),
            env.clone(),
            log.clone(),
            timeout,
        ));
        let started = tokio::task::spawn_blocking(move || {
            crate::spawn::SpawnedTarget::start(&command, &env, log, timeout)
        })
        .await
        .map_err(|e| HarnessError::Internal(format!("starting --command: {e}")))??;
        eprintln!(
            "Started the target (pid {}) for {target} with --command",
            started.pid()
        );
        if let Ok(mut slot) = spawned.lock() {
            *slot = Some(started);
        }
    } else if cli.target.is_some() {
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
        eprintln!(
            "  an OAuth proxy's upstream: authorization {0}/authorize, token {0}/token, client {1} / {2} (client_secret_basic or client_secret_post), callback {3}{4}",
            info.issuer,
            crate::spawn::UPSTREAM_CLIENT_ID,
            crate::spawn::UPSTREAM_CLIENT_SECRET,
            url::Url::parse(&target)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            crate::spawn::UPSTREAM_CALLBACK_PATH,
        );
        eprintln!();
    }
    if restart.is_none() {
        restart = match (&reference, &cli.restart_cmd) {
            (Some(r), _) => Some(r.restarter()),
            (None, Some(cmd)) => Some(crate::restart::shell_restarter(
                cmd.clone(),
                target.clone(),
                Duration::from_secs(cli.command_timeout),
            )),
            (None, None) => None,
        };
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
            valid_token,
            progress,
            client_id: cli.client_id.clone(),
            client_secret: cli.client_secret.clone(),
            client_auth_method: cli.client_auth_method.map(|m| m.as_str().to_string()),
            interactive: cli.interactive,
            login,
            profile: cli.profile,
            downstream_tool: cli.downstream_tool.clone(),
            cimd_loopback: cli.cimd_loopback || cli.cimd_login || reference.is_some(),
            cimd_login: cli.cimd_login,
            allow_origins: cli.allow_origins.clone(),
            era: cli.era,
            // The bundled reference target's own scope model, unless given.
            scoped_operation: cli
                .scoped_operation
                .clone()
                .or_else(|| reference.as_ref().map(reference_scoped_operation)),
            scope_implies: match &reference {
                Some(r) if cli.scope_implies.is_empty() => reference_scope_hierarchy(r),
                _ => cli.scope_implies.clone(),
            },
            idp_control_token: control_token,
        },
        checks: cli.checks.clone(),
        catalogue,
        baseline,
        restart,
    };
    // Ctrl-C or SIGTERM ends the run the same way as its end does: the started server's process
    // group is stopped, the reference target and the IdP are shut down.
    let result = tokio::select! {
        result = crate::run(config) => result,
        signal = interrupted() => Err(HarnessError::Internal(format!(
            "interrupted by {signal}; the started server was stopped"
        ))),
    };
    let started = spawned.lock().ok().and_then(|mut slot| slot.take());
    if let Some(mut t) = started {
        tokio::task::spawn_blocking(move || t.stop()).await.ok();
    }
    if let Some(r) = reference {
        r.shutdown().await;
    }
    if let Some(i) = local_idp {
        i.shutdown().await;
    }
    let report = result?;
    print!("{}", render_terminal(&report, TerminalStyle::detect()));
    for (path, text, append) in outputs(&cli, &report) {
        write_output(&path, &text, append)?;
        println!("Wrote {}", path.display());
    }
    Ok(if report.passes() {
        exit_code::CONFORMANT
    } else {
        exit_code::NON_CONFORMANT
    })
}

/// Without `--target` or `--command`, a build without the `demo` feature has nothing to judge.
#[cfg(not(feature = "demo"))]
fn no_bundled_server() -> HarnessError {
    HarnessError::Usage(
        "no --target or --command given, and this build has no bundled reference server (it \
         needs the `demo` feature, on by default): pass --target URL or --command CMD"
            .into(),
    )
}

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    /// A live line on a terminal, one line per check when `$CI` is set, else nothing.
    Auto,
    Live,
    Lines,
    Off,
}

impl ProgressArg {
    fn resolve(self) -> crate::Progress {
        use std::io::IsTerminal as _;
        match self {
            ProgressArg::Auto if std::io::stderr().is_terminal() => crate::Progress::Live,
            ProgressArg::Auto if std::env::var_os("CI").is_some() => crate::Progress::Lines,
            ProgressArg::Auto | ProgressArg::Off => crate::Progress::Off,
            ProgressArg::Live => crate::Progress::Live,
            ProgressArg::Lines => crate::Progress::Lines,
        }
    }
}

/// `--client-auth-method`: how a pre-registered client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

impl ClientAuthMethod {
    fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }
}

/// A report format.
type Renderer = fn(&crate::Report) -> String;

/// Every file the command line asked for: (path, contents, append).
fn outputs(cli: &Cli, report: &crate::Report) -> Vec<(PathBuf, String, bool)> {
    use crate::report::{
        render_badge_svg, render_checks_json, render_junit, render_markdown, render_shields_json,
    };
    let normalized;
    let (report, finish): (&crate::Report, fn(String) -> String) = if cli.normalize {
        normalized = report.normalized();
        (&normalized, |t: String| crate::report::normalize_text(&t))
    } else {
        (report, |t: String| t)
    };
    let own_json = || {
        if cli.normalize {
            report.normalized_json() + "\n"
        } else {
            report.to_json() + "\n"
        }
    };
    let mut files = Vec::new();
    if !cli.no_json {
        files.push((cli.json.clone(), own_json(), false));
    }
    let formats: [(&Option<PathBuf>, &str, Renderer); 5] = [
        (&cli.checks_json, "checks.json", render_checks_json),
        (&cli.junit, "junit.xml", render_junit),
        (&cli.markdown, "summary.md", render_markdown),
        (&cli.badge, "badge.svg", render_badge_svg),
        (&cli.shields, "shields.json", render_shields_json),
    ];
    for (flag, name, render) in formats {
        let text = finish(render(report));
        if let Some(path) = flag {
            // A step summary collects several steps: append rather than overwrite Markdown.
            files.push((path.clone(), text.clone(), name == "summary.md"));
        }
        if let Some(dir) = &cli.out_dir {
            files.push((dir.join(name), text, false));
        }
    }
    if let Some(dir) = &cli.out_dir {
        files.push((dir.join("report.json"), own_json(), false));
    }
    files
}

fn write_output(path: &std::path::Path, text: &str, append: bool) -> Result<(), HarnessError> {
    use std::io::Write as _;
    let fail =
        |e: std::io::Error| HarnessError::Internal(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

/// The environment variable with `--login-field` values, one `NAME=VALUE` per line.
pub const LOGIN_FIELDS_ENV: &str = "MCP_CONFORMANCE_LOGIN_FIELDS";

/// The test account of `--login-user`, `--login-password` and `--login-field` (after the fields of
/// `MCP_CONFORMANCE_LOGIN_FIELDS`). Every value becomes a [`crate::redact::Secret`] here, before
/// anything can print it; the errors name the flag or line, never the value.
fn login_account(cli: &Cli) -> Result<crate::browser::login::LoginAccount, HarnessError> {
    use crate::redact::Secret;
    let mut fields: Vec<(String, Secret)> = Vec::new();
    let mut add = |name: String, value: Secret| match fields.iter_mut().find(|(n, _)| *n == name) {
        Some(field) => field.1 = value,
        None => fields.push((name, value)),
    };
    if let Some(lines) = std::env::var_os(LOGIN_FIELDS_ENV) {
        let lines = lines.to_string_lossy().into_owned();
        for (number, line) in lines.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (name, value) = login_field(line).map_err(|why| {
                HarnessError::Usage(format!("{LOGIN_FIELDS_ENV}, line {}: {why}", number + 1))
            })?;
            add(name, value);
        }
    }
    for (number, arg) in cli.login_fields.iter().enumerate() {
        let (name, value) = login_field(arg).map_err(|why| {
            HarnessError::Usage(format!("--login-field (number {}): {why}", number + 1))
        })?;
        add(name, value);
    }
    Ok(crate::browser::login::LoginAccount {
        user: cli.login_user.clone().map(Secret::new),
        password: cli.login_password.clone().map(Secret::new),
        fields,
    })
}

/// One `NAME=VALUE`: the name up to the first `=`, the value (a secret) after it.
fn login_field(text: &str) -> Result<(String, crate::redact::Secret), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err("expected NAME=VALUE (there is no '=')".to_string());
    };
    let name = name.trim();
    if name.is_empty() {
        return Err("expected NAME=VALUE (the name is empty)".to_string());
    }
    Ok((name.to_string(), crate::redact::Secret::new(value)))
}

/// The bundled reference target's operation that needs more scope than listing does.
#[cfg(feature = "demo")]
fn reference_scoped_operation(
    _: &crate::restart::RestartableReference,
) -> crate::context::ScopedOperation {
    crate::context::ScopedOperation(crate::rpc::McpCall::ToolsCall {
        name: reference_target::operation::ADMIN_TOOL.to_string(),
        arguments: serde_json::json!({}),
    })
}

// Without the `demo` feature there is no reference target to ask (the type has no values).
#[cfg(not(feature = "demo"))]
fn reference_scoped_operation(
    reference: &crate::restart::RestartableReference,
) -> crate::context::ScopedOperation {
    match *reference {}
}

#[cfg(not(feature = "demo"))]
fn reference_scope_hierarchy(
    reference: &crate::restart::RestartableReference,
) -> Vec<crate::context::ScopeImplication> {
    match *reference {}
}

/// The bundled reference target's scope hierarchy.
#[cfg(feature = "demo")]
fn reference_scope_hierarchy(
    _: &crate::restart::RestartableReference,
) -> Vec<crate::context::ScopeImplication> {
    reference_target::operation::SCOPE_HIERARCHY
        .iter()
        .map(|(broad, narrower)| crate::context::ScopeImplication {
            broad: (*broad).to_string(),
            narrower: narrower.iter().map(|n| (*n).to_string()).collect(),
        })
        .collect()
}

//! `mock-idp`: the mock IdP as a standalone server, on loopback unless told otherwise.
//!
//! Prints one machine-readable line first (`mock-idp ready {json}`), then the same facts for
//! humans, and serves until Ctrl-C or SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Parser;
use clap::builder::FalseyValueParser;
use mock_idp::config::FileConfig;
use mock_idp::{Audience, ConsentMode, IdpConfig, MintRequest, MockIdp, Persona, RegistrationMode};
use serde::Serialize;

/// A mock OAuth 2.1 / OpenID Connect authorization server for tests and local development.
///
/// Settings come from flags, then MOCK_IDP_* environment variables, then --config FILE, then
/// defaults. Every flag has its variable (a switch is on unless it is `false`, `0`, `no` or
/// `off`). `mock-idp init` prints a commented configuration file.
#[derive(Debug, Parser)]
#[command(name = "mock-idp", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// A TOML configuration file (see `mock-idp init`).
    #[arg(long, value_name = "FILE", env = "MOCK_IDP_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (an IP address, or `localhost`) [default: 127.0.0.1].
    #[arg(long, env = "MOCK_IDP_HOST")]
    host: Option<String>,
    /// Port to listen on (0 picks a free one) [default: 9400].
    #[arg(long, env = "MOCK_IDP_PORT")]
    port: Option<u16>,
    /// Where signing keys persist, so a restart serves the same JWKS
    /// [default: $XDG_STATE_HOME/mcp-auth-conformance/mock-idp-<port>, or ~/.local/state/...].
    #[arg(long, value_name = "DIR", env = "MOCK_IDP_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Keep keys in memory only: every start publishes a new JWKS.
    #[arg(long, env = "MOCK_IDP_EPHEMERAL", value_parser = FalseyValueParser::new())]
    ephemeral: bool,
    /// Allow listening on a non-loopback address (a container's 0.0.0.0): the IdP hands out
    /// tokens to anyone who asks. Needs --control-token too.
    #[arg(long, env = "MOCK_IDP_ALLOW_NON_LOOPBACK", value_parser = FalseyValueParser::new())]
    allow_non_loopback: bool,
    /// The public issuer URL, when clients reach the IdP under another name than the address
    /// it listens on (a container, a reverse proxy): metadata, endpoint URLs and the `iss` of
    /// tokens use it [default: http://HOST:PORT].
    #[arg(long, value_name = "URL", env = "MOCK_IDP_ISSUER")]
    issuer: Option<String>,
    /// Every /_control/* request must then carry `Authorization: Bearer TOKEN`; required when
    /// listening beyond loopback. Prefer the variable, which stays out of process listings.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MOCK_IDP_CONTROL_TOKEN",
        hide_env_values = true
    )]
    control_token: Option<String>,
    /// Also print a valid access token for --audience (and --scope).
    #[arg(long, env = "MOCK_IDP_PRINT_TOKEN", value_parser = FalseyValueParser::new())]
    print_token: bool,
    /// The audience of minted tokens when none is asked for (e.g. your MCP server's URL).
    #[arg(long, value_name = "URL", env = "MOCK_IDP_AUDIENCE")]
    audience: Option<String>,
    /// The scope of the token printed by --print-token.
    #[arg(long, value_name = "S", env = "MOCK_IDP_SCOPE")]
    scope: Option<String>,
    /// Client registration: `dynamic` (RFC 7591 at /register) or `pre-registered` (configured
    /// clients only, no registration endpoint).
    #[arg(long, value_name = "MODE", env = "MOCK_IDP_REGISTRATION")]
    registration: Option<String>,
    /// Consent: `auto` (approve at once) or `page` (a login and consent page).
    #[arg(long, value_name = "MODE", env = "MOCK_IDP_CONSENT")]
    consent: Option<String>,
    /// Imitate a provider: `standard`, `github` or `saas` (see docs/personas.md).
    #[arg(long, value_name = "NAME", env = "MOCK_IDP_PERSONA")]
    persona: Option<String>,
    /// Accept HTTPS URLs as client IDs (Client ID Metadata Documents).
    #[arg(long, env = "MOCK_IDP_CLIENT_ID_METADATA_DOCUMENTS", value_parser = FalseyValueParser::new())]
    client_id_metadata_documents: bool,
    /// How the log (one line per protocol request, on stderr; RUST_LOG filters it, default
    /// `info`, `off` for none) is written: `text` or `json` (one object per line).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value_t = LogFormat::Text,
        env = "MOCK_IDP_LOG_FORMAT"
    )]
    log_format: LogFormat,
    /// Let metadata-document URLs be http and resolve to loopback or private addresses
    /// (for tests; this is an SSRF hole anywhere else).
    #[arg(long, env = "MOCK_IDP_ALLOW_PRIVATE_METADATA_URLS", value_parser = FalseyValueParser::new())]
    allow_private_metadata_urls: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per line, the event's fields at the top level.
    Json,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print a commented example configuration file and exit.
    Init,
}

/// The machine-readable ready line's payload.
#[derive(Serialize)]
struct Ready<'a> {
    issuer: &'a str,
    /// The address the server is bound to (the issuer may name another).
    listening_on: String,
    metadata_url: &'a str,
    authorization_endpoint: &'a str,
    token_endpoint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<&'a str>,
    jwks_uri: &'a str,
    userinfo_endpoint: &'a str,
    introspection_endpoint: &'a str,
    revocation_endpoint: &'a str,
    control_url: &'a str,
    /// Whether control requests need the control token (never the token itself).
    control_token_required: bool,
    health_url: String,
    introspection_client_id: &'a str,
    introspection_client_secret: &'a str,
    token_client_id: &'a str,
    token_client_secret: &'a str,
    /// The other issuers: name → issuer URL.
    issuers: std::collections::BTreeMap<String, String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = init_logging(args.log_format, std::env::var("RUST_LOG").ok()) {
        eprintln!("mock-idp: {err:#}");
        return ExitCode::from(2);
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mock-idp: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Command::Init) = args.command {
        print!("{}", mock_idp::config::EXAMPLE);
        return Ok(());
    }
    let config = config(&args)?;
    let control_token_required = config.control_token.is_some();
    let state_dir = config.state_dir.clone();
    let server = MockIdp::start(config).await?;
    let info = server.idp().info();
    let ready = Ready {
        issuer: &info.issuer,
        listening_on: server.addr().to_string(),
        metadata_url: &info.metadata_url,
        authorization_endpoint: &info.authorization_endpoint,
        token_endpoint: &info.token_endpoint,
        registration_endpoint: info.registration_endpoint.as_deref(),
        jwks_uri: &info.jwks_uri,
        userinfo_endpoint: &info.userinfo_endpoint,
        introspection_endpoint: &info.introspection_endpoint,
        revocation_endpoint: &info.revocation_endpoint,
        control_url: &info.control_url,
        control_token_required,
        health_url: format!("{}/healthz", info.issuer),
        introspection_client_id: &info.introspection_client_id,
        introspection_client_secret: &info.introspection_client_secret,
        token_client_id: &info.token_client_id,
        token_client_secret: &info.token_client_secret,
        issuers: server
            .issuer_names()
            .filter_map(|n| Some((n.to_owned(), server.issuer_idp(n)?.info().issuer)))
            .collect(),
    };
    // The ready line and the banner go out in one write: a reader that takes the ready line and
    // closes the pipe (`| head -n 1`) must not make a later line fail, which would end the server.
    let mut banner = String::new();
    macro_rules! say {
        ($($line:tt)*) => {{
            banner.push_str(&format!($($line)*));
            banner.push('\n');
        }};
    }
    say!("mock-idp ready {}", serde_json::to_string(&ready)?);
    say!("  issuer:                 {}", info.issuer);
    say!("  metadata:               {}", info.metadata_url);
    say!("  authorization_endpoint: {}", info.authorization_endpoint);
    match &info.registration_endpoint {
        Some(url) => say!("  registration_endpoint:  {url}"),
        None => say!("  registration:           pre-registered clients only"),
    }
    say!("  jwks_uri:               {}", info.jwks_uri);
    say!("  token_endpoint:         {}", info.token_endpoint);
    say!("  introspection_endpoint: {}", info.introspection_endpoint);
    say!("  revocation_endpoint:    {}", info.revocation_endpoint);
    if ready.control_token_required {
        say!(
            "  control_url:            {} (Authorization: Bearer <control token>)",
            info.control_url
        );
    } else {
        say!("  control_url:            {}", info.control_url);
    }
    if server.addr().ip().is_unspecified() || info.issuer != format!("http://{}", server.addr()) {
        say!("  listening on:           {}", server.addr());
    }
    say!(
        "  introspection client:   {} / {}",
        info.introspection_client_id,
        info.introspection_client_secret
    );
    say!(
        "  token client:           {} / {} (client_credentials)",
        info.token_client_id,
        info.token_client_secret
    );
    match &state_dir {
        Some(dir) => say!(
            "  keys:                   {} (active {})",
            dir.display(),
            info.active_kid
        ),
        None => say!(
            "  keys:                   in memory (active {})",
            info.active_kid
        ),
    }
    if args.print_token {
        let minted = server.idp().mint(&MintRequest {
            audience: args.audience.clone().map(Audience::One),
            scope: args.scope.clone(),
            ..MintRequest::default()
        })?;
        say!("  access token:           {}", minted.token);
    }
    for (name, url) in &ready.issuers {
        say!("  issuer {name:<16} {url}");
    }
    say!("  stop with Ctrl-C");
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        // Nobody reading stdout is not a reason to stop serving.
        let _ = stdout.write_all(banner.as_bytes());
        let _ = stdout.flush();
    }

    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

fn config(args: &Args) -> anyhow::Result<IdpConfig> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path).map_err(anyhow::Error::msg)?,
        None => FileConfig::default(),
    };
    let host = args
        .host
        .clone()
        .or(file.host.clone())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = args.port.or(file.port).unwrap_or(9400);
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()
            .with_context(|| format!("--host {host:?} is not an IP address"))?
    };
    let control_token = args.control_token.clone().or(file.control_token.clone());
    if let Some(problem) = non_loopback_problem(ip, args.allow_non_loopback, &control_token) {
        bail!(problem);
    }
    let issuer = args.issuer.clone().or(file.issuer.clone());
    if let Some(problem) = issuer.as_deref().and_then(mock_idp::config::issuer_problem) {
        bail!("--issuer: {problem}");
    }
    // Checked here rather than declared to clap, which would count a switch turned off by its
    // variable (`MOCK_IDP_EPHEMERAL=0`) as given.
    if args.ephemeral && args.state_dir.is_some() {
        bail!("--state-dir and --ephemeral contradict each other: keys persist, or they do not");
    }
    if args.print_token && args.audience.is_none() {
        bail!("--print-token needs --audience (the token is minted for it)");
    }
    let ephemeral = args.ephemeral || (args.state_dir.is_none() && file.ephemeral == Some(true));
    let state_dir = if ephemeral {
        None
    } else if let Some(dir) = args.state_dir.clone().or(file.state_dir.clone()) {
        Some(dir)
    } else {
        Some(default_state_dir(port)?)
    };
    let mut authz = file.authz.clone();
    if let Some(mode) = &args.registration {
        authz.registration = flag("--registration", mode, RegistrationMode::NAMES)?;
    }
    if let Some(mode) = &args.consent {
        authz.consent = flag("--consent", mode, ConsentMode::NAMES)?;
    }
    if let Some(persona) = &args.persona {
        authz.persona = flag("--persona", persona, Persona::NAMES)?;
    }
    if args.client_id_metadata_documents {
        authz.client_id_metadata_documents = true;
    }
    if args.allow_private_metadata_urls {
        authz.allow_private_metadata_urls = true;
    }
    Ok(IdpConfig {
        addr: SocketAddr::new(ip, port),
        state_dir,
        default_audience: args.audience.clone().or(file.audience.clone()),
        authz,
        issuers: file.issuers.clone(),
        issuer,
        control_token,
        ..IdpConfig::default()
    })
}

/// Why the IdP may not listen on `ip`, if it may not: beyond loopback it hands out tokens to
/// anyone (so the user must say they mean it), and its control API would let anyone mint any
/// token, change keys and inject faults (so it needs a control token).
fn non_loopback_problem(
    ip: IpAddr,
    allowed: bool,
    control_token: &Option<String>,
) -> Option<String> {
    if ip.is_loopback() {
        return None;
    }
    let mut missing = Vec::new();
    if !allowed {
        missing.push(
            "--allow-non-loopback (MOCK_IDP_ALLOW_NON_LOOPBACK=1): this IdP hands out tokens to \
             anyone who asks",
        );
    }
    if control_token.as_deref().is_none_or(str::is_empty) {
        missing.push(
            "--control-token TOKEN (MOCK_IDP_CONTROL_TOKEN): otherwise anyone who reaches it \
             could mint tokens, change keys and inject faults through /_control",
        );
    }
    (!missing.is_empty()).then(|| {
        format!(
            "refusing to listen on non-loopback address {ip} without {}",
            missing.join(", and ")
        )
    })
}

/// Installs the subscriber the library's events go to: stderr (stdout carries the ready line
/// programs wait for), filtered by `RUST_LOG` (`info` when unset or empty).
fn init_logging(format: LogFormat, rust_log: Option<String>) -> anyhow::Result<()> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = logging_filter(rust_log.as_deref())?;
    let text = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        LogFormat::Text => text.boxed(),
        LogFormat::Json => text.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .context("cannot install the log subscriber")
}

/// The filter `RUST_LOG` names (`info`, `mock_idp=debug`, `off`, ...): target prefixes and
/// levels, without EnvFilter's span and field directives (which would bring in regular
/// expressions).
fn logging_filter(rust_log: Option<&str>) -> anyhow::Result<tracing_subscriber::filter::Targets> {
    match rust_log.map(str::trim).filter(|spec| !spec.is_empty()) {
        None => Ok(tracing_subscriber::filter::Targets::new()
            .with_default(tracing_subscriber::filter::LevelFilter::INFO)),
        Some(spec) => spec.parse().map_err(|e| {
            anyhow::anyhow!(
                "RUST_LOG={spec:?} is not a filter ({e}); use a level (info, off) or target=level pairs separated by commas"
            )
        }),
    }
}

/// The value of a flag that takes one of a closed set of names.
fn flag<T: std::str::FromStr>(name: &str, value: &str, names: &[&str]) -> anyhow::Result<T> {
    value.parse().map_err(|_| {
        let expected = match names {
            [init @ .., last] if !init.is_empty() => format!("{} or {last}", init.join(", ")),
            _ => names.join(""),
        };
        anyhow::anyhow!("{name} {value:?}: expected {expected}")
    })
}

/// `$XDG_STATE_HOME/mcp-auth-conformance/mock-idp-<port>`, else `~/.local/state/...`.
fn default_state_dir(port: u16) -> anyhow::Result<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let base = match absolute("XDG_STATE_HOME") {
        Some(state) => state,
        None => absolute("HOME")
            .map(|home| home.join(".local").join("state"))
            .context(
                "neither XDG_STATE_HOME nor HOME is set: pass --state-dir DIR or --ephemeral",
            )?,
    };
    Ok(base
        .join("mcp-auth-conformance")
        .join(format!("mock-idp-{port}")))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn non_loopback_is_refused_unless_allowed_and_guarded_by_a_control_token() {
        let args = Args::parse_from(["mock-idp", "--host", "0.0.0.0", "--ephemeral"]);
        let err = config(&args).expect_err("neither").to_string();
        assert!(err.contains("--allow-non-loopback"), "{err}");
        assert!(err.contains("--control-token"), "{err}");
        let args = Args::parse_from([
            "mock-idp",
            "--host",
            "0.0.0.0",
            "--ephemeral",
            "--allow-non-loopback",
        ]);
        let err = config(&args).expect_err("no control token").to_string();
        assert!(!err.contains("--allow-non-loopback"), "{err}");
        assert!(err.contains("--control-token"), "{err}");
        let args = Args::parse_from([
            "mock-idp",
            "--host",
            "0.0.0.0",
            "--ephemeral",
            "--control-token",
            "t0ken",
        ]);
        let err = config(&args).expect_err("not allowed").to_string();
        assert!(err.contains("--allow-non-loopback"), "{err}");
        assert!(!err.contains("--control-token"), "{err}");
        let args = Args::parse_from([
            "mock-idp",
            "--host",
            "0.0.0.0",
            "--ephemeral",
            "--allow-non-loopback",
            "--control-token",
            "t0ken",
            "--issuer",
            "http://idp.example.test:9400/",
        ]);
        let guarded = config(&args).expect("allowed and guarded");
        assert_eq!(guarded.control_token.as_deref(), Some("t0ken"));
        assert_eq!(
            guarded.issuer.as_deref(),
            Some("http://idp.example.test:9400/")
        );
        let args = Args::parse_from(["mock-idp", "--host", "localhost", "--ephemeral"]);
        assert_eq!(
            config(&args).expect("ok").addr,
            "127.0.0.1:9400".parse().expect("addr")
        );
    }

    #[test]
    fn named_flags_list_their_names() {
        let args = Args::parse_from(["mock-idp", "--ephemeral", "--persona", "gitlab"]);
        let err = config(&args).expect_err("unknown persona");
        assert_eq!(
            err.to_string(),
            "--persona \"gitlab\": expected standard, github or saas"
        );
        let args = Args::parse_from(["mock-idp", "--ephemeral", "--registration", "open"]);
        let err = config(&args).expect_err("unknown mode");
        assert_eq!(
            err.to_string(),
            "--registration \"open\": expected dynamic or pre-registered"
        );
        let args = Args::parse_from(["mock-idp", "--ephemeral", "--consent", "page"]);
        assert_eq!(
            config(&args).expect("page").authz.consent,
            ConsentMode::Page
        );
    }

    #[test]
    fn every_flag_has_its_environment_variable() {
        let command = Args::command();
        let missing: Vec<String> = command
            .get_arguments()
            .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
            .filter(|arg| {
                let id = arg.get_id().as_str().to_ascii_uppercase();
                arg.get_env()
                    .and_then(|env| env.to_str())
                    .is_none_or(|env| env != format!("MOCK_IDP_{id}"))
            })
            .map(|arg| arg.get_id().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "flags without MOCK_IDP_<NAME>: {missing:?}"
        );
    }

    #[test]
    fn rust_log_filters_the_request_lines() {
        use tracing::Level;
        let default = logging_filter(None).expect("default");
        assert!(default.would_enable(mock_idp::events::TARGET, &Level::INFO));
        assert!(!default.would_enable(mock_idp::events::TARGET, &Level::DEBUG));
        let off = logging_filter(Some("off")).expect("off");
        assert!(!off.would_enable(mock_idp::events::TARGET, &Level::ERROR));
        let narrow = logging_filter(Some("warn,mock_idp::request=info")).expect("pairs");
        assert!(narrow.would_enable(mock_idp::events::TARGET, &Level::INFO));
        assert!(!narrow.would_enable("hyper", &Level::INFO));
        assert!(logging_filter(Some("mock_idp=loud")).is_err());
        assert_eq!(
            Args::parse_from(["mock-idp", "--log-format", "json"]).log_format,
            LogFormat::Json
        );
    }

    #[test]
    fn a_bad_issuer_is_refused_before_anything_starts() {
        let args = Args::parse_from(["mock-idp", "--ephemeral", "--issuer", "idp.example.test"]);
        let err = config(&args).expect_err("not a URL").to_string();
        assert!(err.starts_with("--issuer: "), "{err}");
    }

    #[test]
    fn print_token_needs_an_audience() {
        let args = Args::parse_from(["mock-idp", "--ephemeral", "--print-token"]);
        assert!(config(&args).is_err());
        let args = Args::parse_from([
            "mock-idp",
            "--ephemeral",
            "--print-token",
            "--audience",
            "http://x",
        ]);
        assert!(config(&args).is_ok());
    }

    #[test]
    fn state_dir_choice() {
        let args = Args::parse_from(["mock-idp", "--state-dir", "/tmp/x"]);
        assert_eq!(
            config(&args).expect("ok").state_dir,
            Some(PathBuf::from("/tmp/x"))
        );
        let args = Args::parse_from(["mock-idp", "--ephemeral"]);
        assert_eq!(config(&args).expect("ok").state_dir, None);
        let args = Args::parse_from(["mock-idp", "--ephemeral", "--state-dir", "/x"]);
        assert!(config(&args).is_err());
        let dir = default_state_dir(9400);
        if let Ok(dir) = dir {
            assert!(dir.ends_with("mcp-auth-conformance/mock-idp-9400"));
        }
    }
}

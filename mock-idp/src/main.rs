//! `mock-idp`: the mock IdP as a standalone server on loopback.
//!
//! Prints one machine-readable line first (`mock-idp ready {json}`), then the same facts for
//! humans, and serves until Ctrl-C or SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Parser;
use mock_idp::config::FileConfig;
use mock_idp::{Audience, ConsentMode, IdpConfig, MintRequest, MockIdp, Persona, RegistrationMode};
use serde::Serialize;

/// A mock OAuth 2.1 / OpenID Connect authorization server for tests and local development.
///
/// Settings come from flags, then MOCK_IDP_* environment variables, then --config FILE, then
/// defaults. `mock-idp init` prints a commented configuration file.
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
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "ephemeral",
        env = "MOCK_IDP_STATE_DIR"
    )]
    state_dir: Option<PathBuf>,
    /// Keep keys in memory only: every start publishes a new JWKS.
    #[arg(long)]
    ephemeral: bool,
    /// Allow listening on a non-loopback address (the IdP has no real security).
    #[arg(long)]
    allow_non_loopback: bool,
    /// Also print a valid access token for --audience (and --scope).
    #[arg(long, requires = "audience")]
    print_token: bool,
    /// The audience of minted tokens when none is asked for (e.g. your MCP server's URL).
    #[arg(long, value_name = "URL", env = "MOCK_IDP_AUDIENCE")]
    audience: Option<String>,
    /// The scope of the token printed by --print-token.
    #[arg(long, value_name = "S")]
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
    #[arg(long)]
    client_id_metadata_documents: bool,
    /// Let metadata-document URLs be http and resolve to loopback or private addresses
    /// (for tests; this is an SSRF hole anywhere else).
    #[arg(long)]
    allow_private_metadata_urls: bool,
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
    match run(Args::parse()).await {
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
    let state_dir = config.state_dir.clone();
    let server = MockIdp::start(config).await?;
    let info = server.idp().info();
    let ready = Ready {
        issuer: &info.issuer,
        metadata_url: &info.metadata_url,
        authorization_endpoint: &info.authorization_endpoint,
        token_endpoint: &info.token_endpoint,
        registration_endpoint: info.registration_endpoint.as_deref(),
        jwks_uri: &info.jwks_uri,
        userinfo_endpoint: &info.userinfo_endpoint,
        introspection_endpoint: &info.introspection_endpoint,
        revocation_endpoint: &info.revocation_endpoint,
        control_url: &info.control_url,
        health_url: format!("{}/healthz", info.issuer),
        introspection_client_id: &info.introspection_client_id,
        introspection_client_secret: &info.introspection_client_secret,
        token_client_id: &info.token_client_id,
        token_client_secret: &info.token_client_secret,
        issuers: server
            .issuer_names()
            .map(|n| (n.to_owned(), format!("{}/{n}", info.issuer)))
            .collect(),
    };
    println!("mock-idp ready {}", serde_json::to_string(&ready)?);
    println!("  issuer:                 {}", info.issuer);
    println!("  metadata:               {}", info.metadata_url);
    println!("  authorization_endpoint: {}", info.authorization_endpoint);
    match &info.registration_endpoint {
        Some(url) => println!("  registration_endpoint:  {url}"),
        None => println!("  registration:           pre-registered clients only"),
    }
    println!("  jwks_uri:               {}", info.jwks_uri);
    println!("  token_endpoint:         {}", info.token_endpoint);
    println!("  introspection_endpoint: {}", info.introspection_endpoint);
    println!("  revocation_endpoint:    {}", info.revocation_endpoint);
    println!("  control_url:            {}", info.control_url);
    println!(
        "  introspection client:   {} / {}",
        info.introspection_client_id, info.introspection_client_secret
    );
    println!(
        "  token client:           {} / {} (client_credentials)",
        info.token_client_id, info.token_client_secret
    );
    match &state_dir {
        Some(dir) => println!(
            "  keys:                   {} (active {})",
            dir.display(),
            info.active_kid
        ),
        None => println!(
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
        println!("  access token:           {}", minted.token);
    }
    for name in server.issuer_names() {
        println!("  issuer {name:<16} {}/{name}", info.issuer);
    }
    println!("  stop with Ctrl-C");

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
    if !ip.is_loopback() && !args.allow_non_loopback {
        bail!(
            "refusing to listen on non-loopback address {ip}: this IdP hands out tokens to anyone \
             (pass --allow-non-loopback to insist)"
        );
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
        ..IdpConfig::default()
    })
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
    fn non_loopback_is_refused_unless_allowed() {
        let args = Args::parse_from(["mock-idp", "--host", "0.0.0.0", "--ephemeral"]);
        assert!(config(&args).is_err());
        let args = Args::parse_from([
            "mock-idp",
            "--host",
            "0.0.0.0",
            "--ephemeral",
            "--allow-non-loopback",
        ]);
        assert!(config(&args).is_ok());
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
    fn print_token_needs_an_audience() {
        assert!(Args::try_parse_from(["mock-idp", "--print-token"]).is_err());
        assert!(
            Args::try_parse_from(["mock-idp", "--print-token", "--audience", "http://x"]).is_ok()
        );
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
        assert!(Args::try_parse_from(["mock-idp", "--ephemeral", "--state-dir", "/x"]).is_err());
        let dir = default_state_dir(9400);
        if let Ok(dir) = dir {
            assert!(dir.ends_with("mcp-auth-conformance/mock-idp-9400"));
        }
    }
}

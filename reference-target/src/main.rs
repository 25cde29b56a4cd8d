//! The `reference-target` command: runs one reference target variant until Ctrl-C.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use clap::Parser;
use reference_target::{TargetConfig, Trust, ValidationKind, Variant};

/// An MCP server with correct bearer-token auth, or with one chosen fault.
#[derive(Debug, Parser)]
#[command(name = "reference-target", version)]
struct Args {
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The variant to run (see --list-variants).
    #[arg(long, default_value = "conformant")]
    variant: Variant,
    /// The trusted token issuer.
    #[arg(long, default_value = reference_target::DEFAULT_ISSUER)]
    issuer: String,
    /// The JWKS URL; default: issuer + /jwks.
    #[arg(long)]
    jwks_uri: Option<String>,
    /// The introspection endpoint, used by introspection variants; default: issuer + /introspect.
    #[arg(long)]
    introspection_endpoint: Option<String>,
    /// The client id for introspection.
    #[arg(long, default_value = "conformance-rs")]
    introspection_client_id: String,
    /// The client secret for introspection.
    #[arg(long, default_value = "conformance-rs-secret")]
    introspection_client_secret: String,
    /// The audience tokens must carry; default: the MCP endpoint URL.
    #[arg(long)]
    audience: Option<String>,
    /// A scope every request needs (repeatable); default: mcp:tools.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Print every variant with its description and exit.
    #[arg(long)]
    list_variants: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.list_variants {
        // Written with writeln! so a closed pipe (`| head`) ends the listing instead of panicking.
        let mut out = std::io::stdout().lock();
        for variant in Variant::ALL {
            if writeln!(out, "{:<32} {}", variant.name(), variant.description()).is_err() {
                break;
            }
        }
        return Ok(());
    }
    let issuer = args.issuer.trim_end_matches('/').to_owned();
    let trust = match args.variant.validation() {
        ValidationKind::Jwt => Trust::Jwt {
            jwks_uri: args.jwks_uri.unwrap_or_else(|| format!("{issuer}/jwks")),
        },
        ValidationKind::Introspection => Trust::Introspection {
            endpoint: args
                .introspection_endpoint
                .unwrap_or_else(|| format!("{issuer}/introspect")),
            client_id: args.introspection_client_id,
            client_secret: args.introspection_client_secret,
        },
    };
    let defaults = TargetConfig::default();
    let config = TargetConfig {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        issuer: args.issuer,
        trust,
        audience: args.audience,
        required_scopes: if args.scopes.is_empty() {
            defaults.required_scopes.clone()
        } else {
            args.scopes
        },
        variant: args.variant,
        ..defaults
    };
    let target = reference_target::serve(config)
        .await
        .context("starting the reference target")?;
    println!(
        "reference-target listening on {} (variant {})",
        target.url(),
        args.variant.name()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    target.shutdown().await;
    Ok(())
}

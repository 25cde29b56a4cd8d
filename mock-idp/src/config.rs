//! How to start the IdP: [`IdpConfig`] (the Rust API's settings), the configuration file
//! (`mock-idp --config FILE`, TOML) and the commented example that `mock-idp init` prints. Flags
//! and environment variables override what the file says.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::authz::AuthzSettings;

/// How to start a [`MockIdp`](crate::MockIdp).
#[derive(Clone, PartialEq, Eq)]
pub struct IdpConfig {
    /// Where to listen; default `127.0.0.1:0` (an ephemeral port).
    pub addr: SocketAddr,
    /// `None`: keys in memory only. `Some(dir)`: keys persisted in `dir/keys.json` and reloaded.
    pub state_dir: Option<PathBuf>,
    /// The `aud` minted tokens get when the request names none (no `aud` claim if `None`).
    pub default_audience: Option<String>,
    /// The client allowed to call the introspection endpoint; default `conformance-rs`.
    pub introspection_client_id: String,
    /// Its secret; default `conformance-rs-secret`.
    pub introspection_client_secret: String,
    /// The client allowed to use `client_credentials` at `/token`; default `conformance-client`.
    pub token_client_id: String,
    /// Its secret; default `conformance-client-secret`.
    pub token_client_secret: String,
    /// The authorization server: registration mode, clients, consent, lifetimes.
    pub authz: AuthzSettings,
    /// More issuers, each at `{root}/{name}` with its own keys (in `state_dir/{name}`), clients
    /// and registration mode.
    pub issuers: Vec<IssuerConfig>,
    /// How long slow clients may take, and how many connections are served at once.
    pub limits: ServeLimits,
    /// The public issuer URL (`http[s]://HOST[:PORT][/path]`, no trailing slash), when clients
    /// reach the IdP under another name than the address it is bound to (a container, a reverse
    /// proxy): the metadata, every endpoint URL and the `iss` of tokens use it. `None`:
    /// `http://{bound address}`. Only [`MockIdp::start`](crate::MockIdp::start) reads it.
    pub issuer: Option<String>,
    /// When set, every `/_control/*` request must carry `Authorization: Bearer <token>`.
    /// [`MockIdp::start`](crate::MockIdp::start) refuses to listen beyond loopback without one.
    pub control_token: Option<String>,
}

/// What slow or numerous clients may cost the server. A connection that breaks a deadline is
/// closed; connections beyond the cap wait in the listen queue until one closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// A request head must arrive whole within this long of the connection opening or of the
    /// previous answer on it: the deadline for slow headers, and the idle timeout of a
    /// keep-alive connection. The wait starts when the connection opens and when an answer is
    /// ready, so sending the answer counts against it (a client that will not read its answer
    /// for a whole deadline is cut off); the time a request takes to answer never does. Only
    /// [`MockIdp::start`](crate::MockIdp::start) applies it.
    pub header_read_timeout: Duration,
    /// A request body must arrive whole within this long of its head; a late one gets 408.
    pub body_read_timeout: Duration,
    /// The most connections served at once. Only [`MockIdp::start`](crate::MockIdp::start)
    /// applies it.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(15),
            body_read_timeout: Duration::from_secs(15),
            max_connections: 1024,
        }
    }
}

impl Default for IdpConfig {
    fn default() -> Self {
        IdpConfig {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            state_dir: None,
            default_audience: None,
            introspection_client_id: "conformance-rs".to_owned(),
            introspection_client_secret: "conformance-rs-secret".to_owned(),
            token_client_id: "conformance-client".to_owned(),
            token_client_secret: "conformance-client-secret".to_owned(),
            authz: AuthzSettings::default(),
            issuers: Vec::new(),
            limits: ServeLimits::default(),
            issuer: None,
            control_token: None,
        }
    }
}

impl std::fmt::Debug for IdpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpConfig")
            .field("addr", &self.addr)
            .field("state_dir", &self.state_dir)
            .field("default_audience", &self.default_audience)
            .field("introspection_client_id", &self.introspection_client_id)
            .field("introspection_client_secret", &"[redacted]")
            .field("token_client_id", &self.token_client_id)
            .field("token_client_secret", &"[redacted]")
            .field("authz", &self.authz)
            .field("issuers", &self.issuers)
            .field("limits", &self.limits)
            .field("issuer", &self.issuer)
            .field(
                "control_token",
                &self.control_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The whole file. Every table and field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub host: Option<String>,
    /// Port (0: a free one).
    pub port: Option<u16>,
    /// Where keys persist.
    pub state_dir: Option<PathBuf>,
    /// Keys in memory only.
    pub ephemeral: Option<bool>,
    /// The `aud` of tokens that name no resource.
    pub audience: Option<String>,
    /// The public issuer URL, when it is not `http://HOST:PORT`.
    pub issuer: Option<String>,
    /// The bearer token the control API requires.
    pub control_token: Option<String>,
    /// The root issuer's authorization server.
    pub authz: AuthzSettings,
    /// More issuers, each under `/{name}` with its own keys, clients and mode.
    pub issuers: Vec<IssuerConfig>,
}

/// An issuer besides the root one, served at `/{name}` of the same listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The path segment: lowercase letters, digits and `-`.
    pub name: String,
    /// Its public issuer URL; default the root issuer's plus `/{name}`. Set it when a proxy
    /// publishes this issuer under a name of its own.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The `aud` of tokens that name no resource.
    #[serde(default)]
    pub audience: Option<String>,
    /// Its authorization server.
    #[serde(default)]
    pub authz: AuthzSettings,
}

/// Path segments an issuer may not take: the root issuer's own endpoints.
const RESERVED: &[&str] = &[
    "jwks",
    "token",
    "introspect",
    "revoke",
    "authorize",
    "register",
    "userinfo",
    "healthz",
    "_control",
    "_probe",
    ".well-known",
];

impl IssuerConfig {
    /// Why the name cannot be used, if it cannot.
    pub fn name_problem(&self) -> Option<String> {
        let ok_chars = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok_chars {
            return Some(format!(
                "issuer name {:?} must be lowercase letters, digits and '-'",
                self.name
            ));
        }
        RESERVED
            .contains(&self.name.as_str())
            .then(|| format!("issuer name {:?} is reserved for an endpoint", self.name))
    }
}

/// Why `url` cannot be a public issuer URL, if it cannot: an `http` or `https` URL with a host,
/// without user name, query or fragment (RFC 8414 §2). A trailing slash is dropped.
pub fn issuer_problem(url: &str) -> Option<String> {
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => return Some(format!("issuer {url:?} is not a URL: {e}")),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Some(format!("issuer {url:?} must be an http or https URL"));
    }
    if parsed.host().is_none() {
        return Some(format!("issuer {url:?} has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some(format!("issuer {url:?} must not carry credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Some(format!(
            "issuer {url:?} must not have a query or fragment (RFC 8414 §2)"
        ));
    }
    None
}

/// A checked public issuer URL without its trailing slash.
pub(crate) fn issuer_url(url: &str) -> Result<String, String> {
    match issuer_problem(url) {
        Some(problem) => Err(problem),
        None => Ok(url.trim_end_matches('/').to_owned()),
    }
}

impl FileConfig {
    /// Reads and checks a file; errors name the file, and the line and field where TOML knows
    /// them.
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        FileConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses file contents.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        let config: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(problem) = config.issuer.as_deref().and_then(issuer_problem) {
            return Err(problem);
        }
        let mut names: Vec<&str> = Vec::new();
        for issuer in &config.issuers {
            if let Some(problem) = issuer.name_problem() {
                return Err(problem);
            }
            if let Some(problem) = issuer.issuer.as_deref().and_then(issuer_problem) {
                return Err(format!("issuer {:?}: {problem}", issuer.name));
            }
            if names.contains(&issuer.name.as_str()) {
                return Err(format!("issuer name {:?} appears twice", issuer.name));
            }
            names.push(&issuer.name);
        }
        Ok(config)
    }
}

/// What `mock-idp init` prints: every setting, commented, with its default.
pub const EXAMPLE: &str = r#"# mock-idp configuration. Every setting is optional; shown values are the defaults
# unless marked "example". Flags and MOCK_IDP_* environment variables override this file.

# host = "127.0.0.1"        # loopback only, unless --allow-non-loopback and a control_token
# port = 9400               # 0 picks a free port (the ready line says which)
# state_dir = "/path/to/dir" # keys persist here, so restarts serve the same JWKS
# ephemeral = false          # true: keys in memory only
# audience = "http://127.0.0.1:8000/mcp"   # example: aud of tokens that name no resource
# issuer = "http://idp.example.test:9400"  # example: the public issuer URL (default http://HOST:PORT)
# control_token = "change-me"   # example: /_control/* then needs Authorization: Bearer change-me

# The root issuer (http://HOST:PORT).
[authz]
# Imitate a provider's documented quirks (docs/personas.md): "standard", "github"
# (pre-registered only, no discovery documents, form-encoded token answers unless JSON is
# accepted, errors with HTTP 200, resource ignored) or "saas" (open DCR, Client ID Metadata
# Documents, refresh rotation for every client). A persona overrides the settings it concerns.
persona = "standard"
# "dynamic": RFC 7591 registration at /register (like WorkOS AuthKit, Descope).
# "pre-registered": configured clients only, no registration_endpoint (like GitHub, Google, Azure).
registration = "dynamic"
# "auto" approves at once as default_subject; "page" shows a login and consent page.
consent = "auto"
default_subject = "conformance-user"
# resources = ["http://127.0.0.1:8000/mcp"]   # example: other resources get invalid_target
access_token_ttl_secs = 300
refresh_token_ttl_secs = 86400
code_ttl_secs = 60
# Public clients' refresh tokens always rotate; confidential ones only when this is true.
rotate_confidential_refresh_tokens = false
scopes_supported = ["openid", "profile", "email", "offline_access"]
# Keys: "RS256", "ES256" or "EdDSA" (keys already in state_dir keep theirs).
signing_alg = "RS256"
# key_rotation_secs = 3600   # example: announce a new key every hour...
key_overlap_secs = 30        # ...activate it 30 s later, retire the old one 30 s after that

# A pre-registered public client (example). Loopback redirect URIs accept any port
# (RFC 8252 §7.3) unless redirect_policy says otherwise: "loopback-any-port", "strict",
# or the deliberately wrong "prefix" and "any" for fault tests.
# [[authz.clients]]
# client_id = "my-app"
# redirect_uris = ["http://127.0.0.1:3000/callback"]
# grant_types = ["authorization_code", "refresh_token"]
# token_endpoint_auth_method = "none"   # or client_secret_basic / client_secret_post (strict)
# A confidential client (one with a client_secret) that names no method may use both
# client_secret_basic and client_secret_post, as at real providers; a list says which:
#   token_endpoint_auth_methods = ["client_secret_post", "client_secret_basic"]
# scope = "openid mcp:tools"            # what it may ask for; any scope when absent
# redirect_policy = "loopback-any-port"

# A second issuer at http://HOST:PORT/github with its own keys and clients (example);
# its metadata is served at /.well-known/oauth-authorization-server/github and
# /github/.well-known/openid-configuration. Its public URL is the root issuer's plus /github
# unless `issuer` says otherwise.
# [[issuers]]
# name = "github"
# [issuers.authz]
# registration = "pre-registered"
# [[issuers.authz.clients]]
# client_id = "proxy"
# client_secret = "proxy-secret"
# redirect_uris = ["http://127.0.0.1:8000/auth/callback"]
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{ConsentMode, RegistrationMode};

    #[test]
    fn the_example_parses_and_so_does_it_uncommented() {
        assert_eq!(
            FileConfig::parse(EXAMPLE).expect("example").authz,
            AuthzSettings::default()
        );
        let uncommented: String = EXAMPLE
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| !r.starts_with(' ') && r.contains(['=', '[']))
                    .unwrap_or(l)
            })
            .map(|l| l.split("   #").next().unwrap_or(l).to_owned() + "\n")
            .collect();
        let config = FileConfig::parse(&uncommented).expect("uncommented example");
        assert_eq!(config.port, Some(9400));
        assert_eq!(
            config.issuer.as_deref(),
            Some("http://idp.example.test:9400")
        );
        assert_eq!(config.control_token.as_deref(), Some("change-me"));
        assert_eq!(config.issuers[0].name, "github");
        assert_eq!(
            config.issuers[0].authz.registration,
            RegistrationMode::PreRegistered
        );
        assert_eq!(config.authz.clients[0].client_id, "my-app");
        assert_eq!(config.authz.consent, ConsentMode::Auto);
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let err = FileConfig::parse("[authz]\nconsent = \"maybe\"\n").expect_err("bad value");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("consent"), "{err}");
        let err = FileConfig::parse("[authz]\nconsnet = \"page\"\n").expect_err("unknown field");
        assert!(err.contains("consnet"), "{err}");
        let err = FileConfig::parse("[[issuers]]\nname = \"token\"\n").expect_err("reserved");
        assert!(err.contains("reserved"), "{err}");
        let err = FileConfig::parse("issuer = \"idp.example\"\n").expect_err("not a URL");
        assert!(err.contains("not a URL"), "{err}");
    }

    #[test]
    fn issuer_urls_are_checked_and_lose_their_trailing_slash() {
        assert_eq!(
            issuer_url("https://idp.example.test/tenant/"),
            Ok("https://idp.example.test/tenant".to_owned())
        );
        assert_eq!(
            issuer_url("http://idp.example.test:9400"),
            Ok("http://idp.example.test:9400".to_owned())
        );
        for bad in [
            "idp.example.test",
            "ftp://idp.example.test",
            "https://idp.example.test/?x=1",
            "https://idp.example.test/#f",
            "https://user:pw@idp.example.test",
        ] {
            assert!(issuer_url(bad).is_err(), "{bad}");
        }
    }
}

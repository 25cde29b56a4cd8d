//! The state one run shares between discovery, steps and probes.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::browser::agent::UserAgent;
use crate::browser::login::LoginAccount;
use crate::check::{Mode, Validation};
use crate::error::HarnessError;
use crate::idp::{IdpClient, IdpInfo, MintedToken};
use crate::mcp::McpEndpoint;
use crate::restart::TargetRestart;
use crate::rpc::McpCall;
use crate::spec::SpecVersion;
use crate::target::{Exchange, TargetClient};
use crate::urls::origin_of;

/// Knobs of a run that checks read.
#[derive(Debug, Clone)]
pub struct Options {
    /// Required scopes, overriding what the target advertises.
    pub scopes: Option<Vec<String>>,
    pub validation: Option<Validation>,
    pub mode: Option<Mode>,
    /// How long the JWKS checks wait for a target to pick up a new key.
    pub jwks_wait: Duration,
    /// The refetch cool-down the JWKS checks allow a target (PyJWT and `jose` use about 30 s).
    pub jwks_cooldown: Duration,
    /// A pre-shared token the target accepts (`--token`, or minted for `--static-token`): used
    /// wherever a check needs an ordinary valid token, for targets that accept no minted one.
    pub valid_token: Option<String>,
    /// How the runner shows progress on stderr.
    pub progress: Progress,
    /// A client pre-registered at the target's authorization server (`--client-id`), used
    /// instead of dynamic registration.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// `none`, `client_secret_basic` or `client_secret_post` for `--client-id`.
    pub client_auth_method: Option<String>,
    /// Print the authorization URL and wait for a person instead of the headless walk.
    pub interactive: bool,
    /// The test account the headless walk fills login forms with (`--login-user`,
    /// `--login-password`, `--login-field`); its values are redacted in every report.
    pub login: LoginAccount,
    /// How token-endpoint error statuses are judged.
    pub profile: Profile,
    /// The tool that calls the downstream API (`passthrough.no-downstream-forward`).
    pub downstream_tool: String,
    /// The target fetches Client ID Metadata Documents from the mock IdP's loopback http URLs
    /// (a test setup; the bundled reference target does): a document it does not fetch is then
    /// a failure, not a refusal it owes to its SSRF protection.
    pub cimd_loopback: bool,
    /// The headless login registers with a Client ID Metadata Document the mock IdP hosts,
    /// instead of DCR (`--cimd-login`; implies `cimd_loopback`).
    pub cimd_login: bool,
    /// Which eras of the MCP wire to judge (`--era`).
    pub era: EraChoice,
    /// More origins the harness may fetch from (`--allow-origin`; `*` allows any), beyond the
    /// target's, its authorization servers' and the mock IdP's.
    pub allow_origins: Vec<String>,
    /// An operation that needs more scope than every request does (`--scoped-operation`): the
    /// per-operation scope checks call it.
    pub scoped_operation: Option<ScopedOperation>,
    /// The target's scope hierarchy, as its author declares it (`--scope-implies`).
    pub scope_implies: Vec<ScopeImplication>,
    /// The control token of a standalone mock IdP that requires one (`--idp-control-token`).
    pub idp_control_token: Option<crate::redact::Secret>,
}

/// `--scoped-operation`: a `tools/call`, `resources/read` or `prompts/get` of one tool,
/// resource or prompt, written `tools/call:NAME`, `resources/read:URI` or `prompts/get:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedOperation(pub McpCall);

impl std::str::FromStr for ScopedOperation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (method, name) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not METHOD:NAME (e.g. tools/call:admin_report)"))?;
        if name.is_empty() {
            return Err(format!("{s:?} names no tool, resource or prompt"));
        }
        let call = match method {
            "tools/call" => McpCall::ToolsCall {
                name: name.to_string(),
                arguments: serde_json::json!({}),
            },
            "resources/read" => McpCall::ResourcesRead {
                uri: name.to_string(),
            },
            "prompts/get" => McpCall::PromptsGet {
                name: name.to_string(),
            },
            other => {
                return Err(format!(
                    "{other:?} is not tools/call, resources/read or prompts/get"
                ));
            }
        };
        Ok(ScopedOperation(call))
    }
}

impl std::fmt::Display for ScopedOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}",
            self.0.method(),
            self.0.name().unwrap_or_default()
        )
    }
}

/// `--scope-implies BROAD=NARROW[,NARROW...]`: a broader scope and the narrower ones it implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeImplication {
    pub broad: String,
    pub narrower: Vec<String>,
}

impl std::str::FromStr for ScopeImplication {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (broad, narrower) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not BROAD=NARROW[,NARROW...]"))?;
        let narrower: Vec<String> = narrower
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        let broad = broad.trim();
        if broad.is_empty() || narrower.is_empty() || broad.contains(' ') {
            return Err(format!(
                "{s:?} needs one broader scope and at least one narrower one"
            ));
        }
        Ok(ScopeImplication {
            broad: broad.to_string(),
            narrower,
        })
    }
}

/// `--era`: which eras of the MCP wire a run judges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EraChoice {
    /// Every era the target speaks: a modern (2026-07-28) request first, then `initialize`, as
    /// the spec tells dual-era clients; a server that speaks both is judged on both.
    #[default]
    Auto,
    /// Only the legacy wire (`initialize`, sessions).
    Legacy,
    /// Only the stateless 2026-07-28 wire.
    Modern,
}

/// Where the RFCs and common MCP practice disagree, which one a run follows. The report names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Profile {
    /// RFC 6749 exactly: `invalid_grant` and the other token errors with HTTP 400.
    #[default]
    Rfc,
    /// Also accepts `invalid_grant` with HTTP 401, which some MCP servers send on purpose so
    /// that clients start a new login (FastMCP).
    Lenient,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Rfc => "rfc",
            Profile::Lenient => "lenient",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rfc" => Ok(Profile::Rfc),
            "lenient" => Ok(Profile::Lenient),
            _ => Err(format!("unknown profile {s:?}; expected rfc or lenient")),
        }
    }
}

/// Progress of a run on stderr, for runs long enough to look hung (JWKS cool-downs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nothing (tests, piped output).
    #[default]
    Off,
    /// One line per check as it starts (CI logs).
    Lines,
    /// One line rewritten in place (a terminal).
    Live,
}

impl Progress {
    /// Shows that check `index` of `total` is starting.
    pub fn starting(self, index: usize, total: usize, id: &str) {
        match self {
            Progress::Off => {}
            Progress::Lines => eprintln!("[{index}/{total}] {id}"),
            Progress::Live => {
                use std::io::Write as _;
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K[{index}/{total}] {id}");
                let _ = err.flush();
            }
        }
    }

    /// Clears the live line once the run is over.
    pub fn finish(self) {
        if self == Progress::Live {
            use std::io::Write as _;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scopes: None,
            validation: None,
            mode: None,
            jwks_wait: Duration::from_secs(5),
            jwks_cooldown: Duration::from_secs(30),
            valid_token: None,
            progress: Progress::Off,
            client_id: None,
            client_secret: None,
            client_auth_method: None,
            interactive: false,
            login: LoginAccount::default(),
            profile: Profile::Rfc,
            downstream_tool: "call_downstream".to_string(),
            cimd_loopback: false,
            cimd_login: false,
            allow_origins: Vec::new(),
            era: EraChoice::Auto,
            scoped_operation: None,
            scope_implies: Vec::new(),
            idp_control_token: None,
        }
    }
}

/// Shared, read-mostly state of one run.
#[derive(Debug)]
pub struct Ctx {
    pub target: TargetClient,
    /// The target's MCP endpoint: its URL exactly as given, the judged revision, the negotiated
    /// protocol version.
    pub mcp: McpEndpoint,
    /// The audience tokens are minted for (the target URL unless `--audience`).
    pub audience: String,
    pub spec: SpecVersion,
    pub idp: IdpClient,
    pub idp_info: IdpInfo,
    pub options: Options,
    /// What the JWKS checks share: they run in order and build on each other.
    pub jwks_story: Mutex<JwksStory>,
    /// The access token the target's own authorization server issued to the headless login
    /// (modes C and D): the valid token of the run.
    pub issued_token: OnceLock<String>,
    /// The scope the headless login asked for (the issued token carries it).
    pub issued_scope: OnceLock<String>,
    /// The browser of the headless login; its cookies last for the run.
    pub agent: UserAgent,
    /// The loopback listener behind the login's redirect URI, held for the run so its port
    /// stays the harness's.
    callback: Mutex<Option<std::net::TcpListener>>,
    callback_port: OnceLock<Option<u16>>,
    /// How to restart the target, when the run knows one (`dcr.client-usable`,
    /// `jwks.outage-fails-closed`).
    pub restart: Option<TargetRestart>,
}

/// State of the key-rotation sequence the JWKS checks walk through.
#[derive(Debug, Default)]
pub struct JwksStory {
    /// A key announced in the JWKS before the run, so the target's first fetch already holds it.
    pub announced_kid: Option<String>,
    /// A token signed by the key that the rotation retired.
    pub old_token: Option<MintedToken>,
    pub retired_kid: Option<String>,
    /// The IdP log position just before the rotation.
    pub rotation_mark: Option<u64>,
    /// What the rotation's refetch showed about unusable keys in the JWKS (the rotation publishes
    /// them too, so one refetch window serves both checks).
    pub unusable: Option<UnusableKeys>,
}

/// How a target took a JWKS holding keys it cannot use, seen by the rotation's refetch.
#[derive(Debug, Clone)]
pub enum UnusableKeys {
    /// A token signed by the new key was accepted with them in the set.
    Ignored { kid: String },
    /// It refetched and refused the new key while they were in the set, and accepted it once
    /// they were gone: one unusable key made it drop the whole set.
    BrokeTheSet { kid: String, refused: Exchange },
}

impl Ctx {
    pub fn new(
        target: TargetClient,
        target_url: String,
        audience: String,
        spec: SpecVersion,
        idp: IdpClient,
        idp_info: IdpInfo,
        options: Options,
    ) -> Ctx {
        Ctx {
            agent: UserAgent::new(target.clone()),
            target,
            mcp: McpEndpoint::new(target_url, spec),
            audience,
            spec,
            idp,
            idp_info,
            options,
            jwks_story: Mutex::new(JwksStory::default()),
            issued_token: OnceLock::new(),
            issued_scope: OnceLock::new(),
            callback: Mutex::new(None),
            callback_port: OnceLock::new(),
            restart: None,
        }
    }

    /// The port of the loopback redirect URI, bound on first use.
    pub fn callback_port(&self) -> Option<u16> {
        *self.callback_port.get_or_init(|| {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).ok()?;
            let port = listener.local_addr().ok()?.port();
            if let Ok(mut slot) = self.callback.lock() {
                *slot = Some(listener);
            }
            Some(port)
        })
    }

    /// The redirect listener, for `--interactive` (which waits for the browser on it).
    pub fn take_callback_listener(&self) -> Option<tokio::net::TcpListener> {
        let listener = self.callback.lock().ok()?.take()?;
        listener.set_nonblocking(true).ok()?;
        tokio::net::TcpListener::from_std(listener).ok()
    }

    /// The token that stands for "a valid token" in this run: `--token`, or the one the
    /// target's own authorization server issued to the headless login.
    pub fn valid_token(&self) -> Option<&str> {
        self.options
            .valid_token
            .as_deref()
            .or_else(|| self.issued_token.get().map(String::as_str))
    }

    /// The target's origin (`scheme://host:port`).
    pub fn origin(&self) -> String {
        origin_of(&self.mcp.url)
    }

    /// Mints a token; the audience defaults to [`Ctx::audience`], and a `null` scope means none.
    pub async fn mint(&self, request: &Value) -> Result<MintedToken, HarnessError> {
        let mut request = request.as_object().cloned().unwrap_or_default();
        if let Some(token) = self.valid_token()
            && self.is_ordinary(&request)
        {
            return Ok(MintedToken {
                token: token.to_string(),
                claims: Value::Object(Default::default()),
                kid: None,
            });
        }
        request
            .entry("audience")
            .or_insert_with(|| Value::String(self.audience.clone()));
        if request.get("scope").is_some_and(Value::is_null) {
            request.remove("scope");
        }
        self.idp.mint(&Value::Object(request)).await
    }

    /// Whether a mint request asks for nothing but a valid token for the target: no claim, header,
    /// key or defect of its own, the default audience and the required scopes (or none).
    fn is_ordinary(&self, request: &serde_json::Map<String, Value>) -> bool {
        request.iter().all(|(k, v)| match k.as_str() {
            "audience" => v.as_str() == Some(self.audience.as_str()),
            "format" => v.as_str() == Some("jwt"),
            "scope" => {
                let asked: std::collections::BTreeSet<&str> =
                    v.as_str().unwrap_or_default().split_whitespace().collect();
                if self.options.valid_token.is_none() {
                    // The issued token carries exactly the scope the login asked for.
                    let issued: std::collections::BTreeSet<&str> = self
                        .issued_scope
                        .get()
                        .map(|s| s.split_whitespace().collect())
                        .unwrap_or_default();
                    return asked == issued;
                }
                let required: std::collections::BTreeSet<&str> = self
                    .options
                    .scopes
                    .iter()
                    .flatten()
                    .map(String::as_str)
                    .collect();
                v.is_null() || required.is_empty() || asked == required
            }
            _ => false,
        })
    }
}

//! The state one run shares between discovery, steps and probes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::check::{Mode, Validation};
use crate::error::HarnessError;
use crate::idp::{IdpClient, IdpInfo, MintedToken};
use crate::spec::SpecVersion;
use crate::target::TargetClient;

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scopes: None,
            validation: None,
            mode: None,
            jwks_wait: Duration::from_secs(5),
            jwks_cooldown: Duration::from_secs(30),
        }
    }
}

/// Shared, read-mostly state of one run.
#[derive(Debug)]
pub struct Ctx {
    pub target: TargetClient,
    /// The MCP endpoint URL exactly as given.
    pub target_url: String,
    /// The audience tokens are minted for (the target URL unless `--audience`).
    pub audience: String,
    pub spec: SpecVersion,
    pub idp: IdpClient,
    pub idp_info: IdpInfo,
    pub options: Options,
    /// What the JWKS checks share: they run in order and build on each other.
    pub jwks_story: Mutex<JwksStory>,
    /// The protocol version the target chose in the positive control's `initialize`, sent in
    /// `MCP-Protocol-Version` on every later request.
    pub negotiated_version: OnceLock<String>,
    next_id: AtomicU64,
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
            target,
            target_url,
            audience,
            spec,
            idp,
            idp_info,
            options,
            jwks_story: Mutex::new(JwksStory::default()),
            negotiated_version: OnceLock::new(),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The protocol version for requests after `initialize`: the negotiated one, else the judged revision.
    pub fn protocol_version(&self) -> String {
        self.negotiated_version
            .get()
            .cloned()
            .unwrap_or_else(|| self.spec.as_str().to_string())
    }

    /// The target's origin (`scheme://host:port`).
    pub fn origin(&self) -> String {
        url::Url::parse(&self.target_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// Mints a token; the audience defaults to [`Ctx::audience`], and a `null` scope means none.
    pub async fn mint(&self, request: &Value) -> Result<MintedToken, HarnessError> {
        let mut request = request.as_object().cloned().unwrap_or_default();
        request
            .entry("audience")
            .or_insert_with(|| Value::String(self.audience.clone()));
        if request.get("scope").is_some_and(Value::is_null) {
            request.remove("scope");
        }
        self.idp.mint(&Value::Object(request)).await
    }
}

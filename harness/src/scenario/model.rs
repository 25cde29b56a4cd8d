//! The scenario data model (serde, strict).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::check::{Level, Mode, Reference, Validation};
use crate::spec::SpecVersion;

/// One check, as written in a scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Stable check ID, `area.name` (e.g. `jwt.expired-rejected`).
    pub id: String,
    pub title: String,
    /// What the check does and why it matters, for people reading the report.
    pub description: String,
    /// Level in every revision unless `level_by_version` says otherwise.
    pub level: Level,
    #[serde(default)]
    pub level_by_version: BTreeMap<SpecVersion, Level>,
    /// Target modes the check applies to; others are reported as skipped.
    pub modes: Vec<Mode>,
    /// Token validation kind the check applies to; absent means any.
    #[serde(default)]
    pub validation: Option<Validation>,
    /// Revisions the check applies to; absent means all.
    #[serde(default)]
    pub spec_versions: Option<Vec<SpecVersion>>,
    /// Preconditions; when one is unmet the check is not testable.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// How to fix a failure, in one or two sentences.
    pub fix: String,
    pub references: Vec<Reference>,
    /// Run after every other check (it changes the IdP's keys or faults).
    #[serde(default)]
    pub last: bool,
    /// The check restarts the target: it runs after every other check, `last` ones included.
    #[serde(default)]
    pub restarts: bool,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

impl Scenario {
    pub fn area(&self) -> &str {
        self.id.split('.').next().unwrap_or("")
    }

    pub fn level_for(&self, spec: SpecVersion) -> Level {
        self.level_by_version
            .get(&spec)
            .copied()
            .unwrap_or(self.level)
    }
}

/// A precondition established before checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// A valid token was accepted (the positive control passed).
    ValidToken,
    /// The unauthenticated request got a `Bearer` challenge.
    BearerChallenge,
    /// A protected-resource metadata document was obtained.
    Prm,
    /// The positive control obtained an `Mcp-Session-Id`.
    Session,
    /// The target's required scopes are known and not empty.
    RequiredScopes,
    /// The headless login against the target's own authorization server obtained tokens
    /// (modes C and D).
    Login,
}

/// One step: an optional IdP action, then either a built-in probe or one request to the target,
/// then the expectations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Names the step so later steps can reuse its token (`token.from_step`).
    #[serde(default)]
    pub name: Option<String>,
    /// Short text shown in findings for this step.
    #[serde(default)]
    pub describe: Option<String>,
    /// The built-in probe deciding the step on its own, named by the check ID it decides.
    #[serde(default)]
    pub probe: Option<String>,
    /// What to tell the mock IdP before the request.
    #[serde(default)]
    pub idp: Option<IdpAction>,
    /// The token to mint (or reuse) for this request.
    #[serde(default)]
    pub token: Option<TokenSpec>,
    /// Raw `Authorization` header values; `${token}` is the step's token. Defaults to
    /// `Bearer ${token}` when a token is given and to no header otherwise.
    #[serde(default)]
    pub authorization: Option<Vec<String>>,
    /// HTTP method; POST by default.
    #[serde(default)]
    pub http_method: Option<HttpMethod>,
    /// MCP method sent in a POST body; `initialize` by default.
    #[serde(default)]
    pub mcp: Option<String>,
    /// Query string appended to the target URL (templated).
    #[serde(default)]
    pub query: Option<String>,
    /// Send the positive control's `Mcp-Session-Id`.
    #[serde(default)]
    pub session: bool,
    /// Preconditions on the answer; when unmet the check is not testable.
    #[serde(default)]
    pub require: Option<Expect>,
    /// Assertions on the answer; when unmet the check fails.
    #[serde(default)]
    pub expect: Option<Expect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
}

/// A change to the mock IdP made before a step's request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpAction {
    /// Make an endpoint misbehave for the rest of the check (faults are cleared after each check).
    #[serde(default)]
    pub fault: Option<FaultSpec>,
    /// Revoke the token of the named earlier step.
    #[serde(default)]
    pub revoke: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `jwks`, `introspect`, `token` or `metadata`.
    pub endpoint: String,
    /// `status`, `hang`, `garbage` or `delay`.
    pub kind: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub ms: Option<u64>,
}

/// How to obtain the step's token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Reuse the token of an earlier step instead of minting.
    #[serde(default)]
    pub from_step: Option<String>,
    /// Change a reused token: `flip-signature` or `flip-payload`.
    #[serde(default)]
    pub mutate: Option<String>,
    /// A typed defect of the mock IdP (see docs/contracts.md), e.g. `expired`.
    #[serde(default)]
    pub defect: Option<String>,
    /// `jwt` (default) or `opaque`.
    #[serde(default)]
    pub format: Option<String>,
    /// Audience; string or array (templated). Default: the target URL (or `--audience`).
    #[serde(default)]
    pub audience: Option<Value>,
    /// Scope string (templated). Default: the target's required scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Claims merged into the token; `null` removes one (templated).
    #[serde(default)]
    pub claims: Option<serde_json::Map<String, Value>>,
    /// JOSE header fields merged in; `null` removes one (templated).
    #[serde(default)]
    pub header: Option<serde_json::Map<String, Value>>,
    /// Fields merged into the IdP's introspection answer for this token; `null` removes one.
    #[serde(default)]
    pub introspection: Option<serde_json::Map<String, Value>>,
}

/// Assertions about one answer of the target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The status must be one of these.
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// `true`: 2xx with a JSON-RPC result. `false`: not 2xx.
    #[serde(default)]
    pub accepted: Option<bool>,
    /// Assertions on the Bearer challenge in `WWW-Authenticate`.
    #[serde(default)]
    pub challenge: Option<ChallengeExpect>,
    /// The body, if any, is not HTML.
    #[serde(default)]
    pub body_not_html: Option<bool>,
    /// The mock IdP received no request whose path starts with this, during the step.
    #[serde(default)]
    pub idp_not_requested: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeExpect {
    /// A `Bearer` challenge must be present (implied by every other field).
    #[serde(default)]
    pub bearer: Option<bool>,
    /// The `error` attribute must equal this.
    #[serde(default)]
    pub error: Option<String>,
    /// These parameters must be present and not empty.
    #[serde(default)]
    pub has: Vec<String>,
    /// These parameters must be absent.
    #[serde(default)]
    pub lacks: Vec<String>,
    /// The `scope` parameter must name every required scope.
    #[serde(default)]
    pub scope_covers_required: Option<bool>,
}

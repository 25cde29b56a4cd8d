//! The harness's side of the mock IdP: its HTTP control API, whether the IdP runs in this process
//! or standalone (`--idp URL`).
//!
//! Control payloads are handled as JSON values on purpose: the control API is a wire interface,
//! and the harness must not share Rust types with the mock IdP (see ARCHITECTURE.md).

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::HarnessError;

/// What the harness needs to know about the IdP, read from `GET /_control/info`.
#[derive(Debug, Clone)]
pub struct IdpInfo {
    pub issuer: String,
    pub jwks_uri: String,
    pub token_endpoint: String,
    pub introspection_endpoint: String,
    pub control_url: String,
    pub introspection_client_id: String,
    pub introspection_client_secret: String,
    pub token_client_id: String,
}

/// A client of the mock IdP's control API.
#[derive(Debug, Clone)]
pub struct IdpClient {
    http: reqwest::Client,
    control_url: String,
    /// The bearer token of a control API that requires one (a mock IdP beyond loopback).
    control_token: Option<crate::redact::Secret>,
}

/// One protocol request the IdP received, as recorded by it.
#[derive(Debug, Clone)]
pub struct IdpRequest {
    pub seq: u64,
    pub at_ms: u64,
    pub endpoint: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: serde_json::Map<String, Value>,
    pub body: String,
    pub status: u16,
}

impl IdpClient {
    /// `base` is the IdP's issuer URL (the control API lives under `/_control`); `control_token`
    /// is the bearer token its control API requires, if it was started with one.
    pub fn new(
        base: &str,
        control_token: Option<crate::redact::Secret>,
    ) -> Result<IdpClient, HarnessError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| HarnessError::Idp(format!("cannot build an HTTP client: {e}")))?;
        Ok(IdpClient {
            http,
            control_url: format!("{}/_control", base.trim_end_matches('/')),
            control_token,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, HarnessError> {
        let url = format!("{}{path}", self.control_url);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(token) = &self.control_token {
            req = req.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            req = req.json_value(&body);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| HarnessError::Idp(format!("{method} {url}: {e}")))?;
        let status = resp.status();
        // A standalone IdP is trusted, but its answers are still read under a size bound.
        const MAX_CONTROL_ANSWER: usize = 32 * 1024 * 1024;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| HarnessError::Idp(format!("{method} {url}: {e}")))?
        {
            if bytes.len() + chunk.len() > MAX_CONTROL_ANSWER {
                return Err(HarnessError::Idp(format!(
                    "{method} {url}: answer larger than {MAX_CONTROL_ANSWER} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            return Err(HarnessError::Idp(format!(
                "{method} {url} answered {status}: {text}"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| HarnessError::Idp(format!("{method} {url}: answer is not JSON: {e}")))
    }

    pub async fn info(&self) -> Result<IdpInfo, HarnessError> {
        let v = self.call(reqwest::Method::GET, "/info", None).await?;
        let s = |k: &str| -> Result<String, HarnessError> {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| HarnessError::Idp(format!("control /info lacks {k}")))
        };
        Ok(IdpInfo {
            issuer: s("issuer")?,
            jwks_uri: s("jwks_uri")?,
            token_endpoint: s("token_endpoint")?,
            introspection_endpoint: s("introspection_endpoint")?,
            control_url: s("control_url")?,
            introspection_client_id: s("introspection_client_id")?,
            introspection_client_secret: s("introspection_client_secret")?,
            token_client_id: s("token_client_id")?,
        })
    }

    /// Mints a token; `request` is a MintRequest as documented in docs/contracts.md.
    pub async fn mint(&self, request: &Value) -> Result<MintedToken, HarnessError> {
        let v = self
            .call(reqwest::Method::POST, "/mint", Some(request.clone()))
            .await?;
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| HarnessError::Idp("mint answer lacks token".into()))?
            .to_string();
        Ok(MintedToken {
            token,
            claims: v.get("claims").cloned().unwrap_or(Value::Null),
            kid: v.get("kid").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// `(kid, state)` pairs in creation order.
    pub async fn keys(&self) -> Result<Vec<(String, String)>, HarnessError> {
        let v = self.call(reqwest::Method::GET, "/keys", None).await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| {
                Some((
                    k.get("kid")?.as_str()?.to_string(),
                    k.get("state")?.as_str()?.to_string(),
                ))
            })
            .collect())
    }

    pub async fn announce_key(&self) -> Result<String, HarnessError> {
        let v = self
            .call(reqwest::Method::POST, "/keys/announce", Some(json!({})))
            .await?;
        kid_of(&v)
    }

    /// Makes a new key active and retires the old one; returns `(new, retired)`.
    pub async fn rotate_keys(&self) -> Result<(String, Option<String>), HarnessError> {
        let v = self
            .call(reqwest::Method::POST, "/keys/rotate", Some(json!({})))
            .await?;
        Ok((
            kid_of(&v)?,
            v.get("retired").and_then(Value::as_str).map(str::to_string),
        ))
    }

    pub async fn add_extra_jwk(&self, jwk: Value) -> Result<(), HarnessError> {
        self.call(
            reqwest::Method::POST,
            "/keys/extra",
            Some(json!({ "jwk": jwk })),
        )
        .await
        .map(drop)
    }

    pub async fn clear_extra_jwks(&self) -> Result<(), HarnessError> {
        self.call(reqwest::Method::DELETE, "/keys/extra", None)
            .await
            .map(drop)
    }

    pub async fn override_introspection(
        &self,
        token: &str,
        response: Value,
    ) -> Result<(), HarnessError> {
        self.call(
            reqwest::Method::POST,
            "/introspection/override",
            Some(json!({"token": token, "response": response})),
        )
        .await
        .map(drop)
    }

    pub async fn revoke(&self, token: &str) -> Result<(), HarnessError> {
        self.call(
            reqwest::Method::POST,
            "/revoke",
            Some(json!({ "token": token })),
        )
        .await
        .map(drop)
    }

    /// Revokes everything one authorization code of this IdP led to (the user withdrew that
    /// grant at the identity provider).
    pub async fn revoke_grant(&self, code: &str) -> Result<(), HarnessError> {
        self.call(
            reqwest::Method::POST,
            "/revoke/grant",
            Some(json!({ "code": code })),
        )
        .await
        .map(drop)
    }

    pub async fn set_fault(
        &self,
        endpoint: &str,
        fault: Value,
        times: Option<u32>,
    ) -> Result<(), HarnessError> {
        self.call(
            reqwest::Method::POST,
            "/faults",
            Some(json!({"endpoint": endpoint, "fault": fault, "times": times})),
        )
        .await
        .map(drop)
    }

    pub async fn clear_faults(&self) -> Result<(), HarnessError> {
        self.call(reqwest::Method::DELETE, "/faults", None)
            .await
            .map(drop)
    }

    pub async fn requests_since(&self, since: u64) -> Result<Vec<IdpRequest>, HarnessError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/requests?since={since}"),
                None,
            )
            .await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|r| IdpRequest {
                seq: r.get("seq").and_then(Value::as_u64).unwrap_or(0),
                at_ms: r.get("at_ms").and_then(Value::as_u64).unwrap_or(0),
                endpoint: r
                    .get("endpoint")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                method: r
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                path: r
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                query: r.get("query").and_then(Value::as_str).map(str::to_string),
                headers: r
                    .get("headers")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                body: r
                    .get("body")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                status: r.get("status").and_then(Value::as_u64).unwrap_or(0) as u16,
            })
            .collect())
    }

    /// The highest sequence number recorded so far (0 when the log is empty).
    pub async fn last_seq(&self) -> Result<u64, HarnessError> {
        let v = self
            .call(reqwest::Method::GET, "/requests/last", None)
            .await?;
        Ok(v.get("seq").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Makes `kid` the signing key (publishing it again if it was retired).
    pub async fn activate_key(&self, kid: &str) -> Result<(), HarnessError> {
        self.call(
            reqwest::Method::POST,
            "/keys/activate",
            Some(json!({ "kid": kid })),
        )
        .await
        .map(drop)
    }

    /// Removes a key that does not sign from the JWKS (it can still sign tokens on request).
    pub async fn retire_key(&self, kid: &str) -> Result<(), HarnessError> {
        self.call(
            reqwest::Method::POST,
            "/keys/retire",
            Some(json!({ "kid": kid })),
        )
        .await
        .map(drop)
    }

    /// Deletes a key that does not sign.
    pub async fn forget_key(&self, kid: &str) -> Result<(), HarnessError> {
        self.call(
            reqwest::Method::POST,
            "/keys/forget",
            Some(json!({ "kid": kid })),
        )
        .await
        .map(drop)
    }

    pub async fn now(&self) -> Result<i64, HarnessError> {
        let v = self.call(reqwest::Method::GET, "/clock", None).await?;
        v.get("now")
            .and_then(Value::as_i64)
            .ok_or_else(|| HarnessError::Idp("clock answer lacks now".into()))
    }

    /// Adds (or replaces) a configured client (`POST /_control/clients`).
    /// Serves a document at `{issuer}/documents/{name}` (`document` as in `POST /_control/documents`).
    pub async fn host_document(&self, document: &Value) -> Result<(), HarnessError> {
        self.call(reqwest::Method::POST, "/documents", Some(document.clone()))
            .await
            .map(drop)
    }

    pub async fn add_client(&self, client: &Value) -> Result<(), HarnessError> {
        self.call(reqwest::Method::POST, "/clients", Some(client.clone()))
            .await
            .map(drop)
    }

    pub async fn reset(&self) -> Result<(), HarnessError> {
        self.call(reqwest::Method::POST, "/reset", Some(json!({})))
            .await
            .map(drop)
    }
}

fn kid_of(v: &Value) -> Result<String, HarnessError> {
    v.get("kid")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| HarnessError::Idp("key answer lacks kid".into()))
}

/// A token the IdP minted for a step.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub token: String,
    pub claims: Value,
    pub kid: Option<String>,
}

trait JsonValueBody {
    fn json_value(self, body: &Value) -> Self;
}

impl JsonValueBody for reqwest::RequestBuilder {
    fn json_value(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}

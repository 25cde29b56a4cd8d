//! The RFC 7662 introspection client.
//!
//! Each call posts `token=...&token_type_hint=access_token` with HTTP Basic client
//! authentication. Answers are not cached, so a revocation at the authorization server takes
//! effect on the very next request. This module only obtains the answer; judging it (active,
//! audience, expiry, issuer, token type) is the job of the auth module.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::variant::Variant;

/// Largest introspection answer accepted; a bigger one counts as a failed call.
pub const INTROSPECTION_MAX_BYTES: usize = 64 * 1024;
/// Time limit of one introspection call, connection to last body byte.
pub const INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// A client of one introspection endpoint.
pub struct Introspector {
    endpoint: String,
    client_id: String,
    client_secret: String,
    client: reqwest::Client,
    variant: Variant,
}

impl Introspector {
    /// A client for `endpoint` authenticating as `client_id` / `client_secret`.
    pub fn new(
        endpoint: String,
        client_id: String,
        client_secret: String,
        client: reqwest::Client,
        variant: Variant,
    ) -> Self {
        Introspector {
            endpoint,
            client_id,
            client_secret,
            client,
            variant,
        }
    }

    /// Asks the endpoint about `token`. Anything but a 200 answer holding a JSON object within
    /// the size and time limits is an error, described for the `error_description`.
    pub async fn introspect(&self, token: &str) -> Result<Map<String, Value>, String> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(INTROSPECTION_TIMEOUT)
            .body(form);
        // introspect-unauthenticated: the call goes out without any client authentication.
        if self.variant != Variant::IntrospectUnauthenticated {
            request = request.header(
                reqwest::header::AUTHORIZATION,
                basic_authorization(&self.client_id, &self.client_secret),
            );
        }
        let response = request
            .send()
            .await
            .map_err(|err| format!("introspection failed: {}", crate::http::error_chain(&err)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "introspection answered {}",
                response.status().as_u16()
            ));
        }
        let body = crate::http::read_capped(response, INTROSPECTION_MAX_BYTES)
            .await
            .map_err(|err| format!("introspection failed: {err}"))?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(answer)) => Ok(answer),
            _ => Err("introspection answer is not a JSON object".to_owned()),
        }
    }
}

/// The `Authorization` value for HTTP Basic client authentication as RFC 6749 §2.3.1 defines
/// it: client id and secret are each form-urlencoded before being joined and base64-encoded.
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(client_secret));
    format!("Basic {}", STANDARD.encode(credentials))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_authorization_form_encodes_each_part() {
        assert_eq!(
            basic_authorization("conformance-rs", "conformance-rs-secret"),
            format!(
                "Basic {}",
                STANDARD.encode("conformance-rs:conformance-rs-secret")
            )
        );
        assert_eq!(
            basic_authorization("a b:c", "p%w"),
            format!("Basic {}", STANDARD.encode("a+b%3Ac:p%25w"))
        );
    }
}

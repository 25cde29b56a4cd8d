//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1).

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::api::RefusalReason;
use crate::authz::clients::{AuthMethod, ClientRecord};
use crate::idp::Client;
use crate::oauth_error::OAuthError;
use crate::routes::form::Form;

/// Standard base64, padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Credentials a request presents.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) id: String,
    pub(crate) secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The credentials in the `Authorization: Basic` header or in the form; `None` when there are none.
/// Authorization headers with other schemes are ignored. Using both methods at once is an error.
pub(crate) fn presented(
    headers: &HeaderMap,
    form: &Form,
) -> Result<Option<Credentials>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(
            OAuthError::invalid_request("more than one Authorization header")
                .because(RefusalReason::ClientAuth),
        );
    }
    if let Some(basic) = first.and_then(|value| basic_payload(value.as_bytes())) {
        let credentials = decode_basic(basic)?;
        if form.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method (Basic and client_secret)",
            )
            .because(RefusalReason::ClientAuth));
        }
        if form.get("client_id").is_some_and(|id| id != credentials.id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Basic credentials",
            )
            .because(RefusalReason::ClientAuth));
        }
        return Ok(Some(credentials));
    }
    match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(Some(Credentials {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })),
        (None, Some(_)) => Err(
            OAuthError::invalid_request("client_secret without client_id")
                .because(RefusalReason::ClientAuth),
        ),
        // A client_id alone is a public client, which this IdP does not have.
        (_, None) => Ok(None),
    }
}

/// The client among `allowed` that the credentials authenticate.
pub(crate) fn authenticate<'a>(
    presented: Option<&Credentials>,
    allowed: &[&'a Client],
) -> Result<&'a Client, OAuthError> {
    let Some(credentials) = presented else {
        return Err(OAuthError::invalid_client("client authentication required"));
    };
    allowed
        .iter()
        .copied()
        .find(|client| {
            let id_ok = verify_slices_are_equal(client.id.as_bytes(), credentials.id.as_bytes());
            let secret_ok =
                verify_slices_are_equal(client.secret.as_bytes(), credentials.secret.as_bytes());
            id_ok.is_ok() && secret_ok.is_ok()
        })
        .ok_or_else(|| OAuthError::invalid_client("unknown client or wrong secret"))
}

/// How a request to the token (or revocation) endpoint identified its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presented {
    /// Nothing: no credentials and no `client_id`.
    Nothing,
    /// A public client's `client_id` alone.
    PublicId(String),
    /// A secret, by Basic or in the form.
    Secret(Credentials, AuthMethod),
}

/// Reads the client's identification without judging it.
pub(crate) fn presented_client(headers: &HeaderMap, form: &Form) -> Result<Presented, OAuthError> {
    let basic_used = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| basic_payload(v.as_bytes()).is_some());
    Ok(match presented(headers, form)? {
        Some(credentials) => {
            let method = if basic_used {
                AuthMethod::ClientSecretBasic
            } else {
                AuthMethod::ClientSecretPost
            };
            Presented::Secret(credentials, method)
        }
        None => match form.get("client_id") {
            Some(id) => Presented::PublicId(id.to_owned()),
            None => Presented::Nothing,
        },
    })
}

/// Authenticates a registered client by a method it may use (RFC 6749 §2.3, RFC 7591 §2): every
/// failure is 401 `invalid_client` (RFC 6749 §5.2). With `either_secret_method` (a persona whose
/// provider has no per-client method), a confidential client may use either secret method.
pub(crate) fn authenticate_registered(
    presented: &Presented,
    lookup: impl Fn(&str) -> Option<ClientRecord>,
    either_secret_method: bool,
) -> Result<ClientRecord, OAuthError> {
    match presented {
        Presented::Nothing => Err(OAuthError::invalid_client(
            "client authentication required (or client_id for a public client)",
        )),
        Presented::PublicId(id) => {
            let client = lookup(id).ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
            if client.is_public() {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client(format!(
                    "this client must authenticate with {}",
                    client.accepted.names()
                )))
            }
        }
        Presented::Secret(credentials, method) => {
            let client = lookup(&credentials.id)
                .ok_or_else(|| OAuthError::invalid_client("unknown client or wrong secret"))?;
            let Some(secret) = client.client_secret.as_deref() else {
                return Err(OAuthError::invalid_client(
                    "this is a public client: send client_id without a secret",
                ));
            };
            if verify_slices_are_equal(secret.as_bytes(), credentials.secret.as_bytes()).is_err() {
                return Err(OAuthError::invalid_client("unknown client or wrong secret"));
            }
            if !client.accepted.contains(*method) && !either_secret_method {
                return Err(OAuthError::invalid_client(format!(
                    "this client is registered for {}, not {}",
                    client.accepted.names(),
                    method.name()
                )));
            }
            Ok(client)
        }
    }
}

/// The part after `Basic ` (scheme case-insensitive), if the header uses that scheme.
fn basic_payload(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..6)?;
    (scheme.eq_ignore_ascii_case(b"basic ")).then(|| value[6..].trim_ascii())
}

fn decode_basic(payload: &[u8]) -> Result<Credentials, OAuthError> {
    let decoded = LENIENT_BASE64
        .decode(payload)
        .map_err(|_| OAuthError::invalid_client("Basic credentials are not valid base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| OAuthError::invalid_client("Basic credentials are not UTF-8"))?;
    let (id, secret) = text
        .split_once(':')
        .ok_or_else(|| OAuthError::invalid_client("Basic credentials lack a ':'"))?;
    Ok(Credentials {
        id: form_decode(id),
        secret: form_decode(secret),
    })
}

/// Undoes the form-urlencoding RFC 6749 §2.3.1 applies to Basic credentials (`+` and `%XX`).
/// A malformed escape is kept literally.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    // The decoded bytes become the string without a copy when they are UTF-8 (nearly always);
    // `from_utf8_lossy(..).into_owned()` copied them every time.
    String::from_utf8(out)
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn client() -> Client {
        Client {
            id: "my client".into(),
            secret: "s:e%cret".into(),
        }
    }

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).expect("header"),
        );
        headers
    }

    fn form(body: &str) -> Form<'_> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        Form::parse(&headers, body.as_bytes()).expect("form")
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let creds = presented(&basic("my+client", "s%3Ae%25cret"), &Form::default())
            .expect("ok")
            .expect("some");
        assert_eq!(
            creds,
            Credentials {
                id: "my client".into(),
                secret: "s:e%cret".into()
            }
        );
        let c = client();
        assert!(authenticate(Some(&creds), &[&c]).is_ok());
        // Unencoded credentials without reserved characters work as well.
        let plain = presented(&basic("a", "b"), &Form::default()).expect("ok");
        assert_eq!(plain.map(|c| c.id), Some("a".to_owned()));
        // Escapes that decode to bytes which are not UTF-8 become replacement characters.
        assert_eq!(
            form_decode("a%ffb%e2%82%ac%e2"),
            "a\u{fffd}b\u{20ac}\u{fffd}"
        );
    }

    #[test]
    fn post_credentials() {
        let creds = presented(
            &HeaderMap::new(),
            &form("client_id=my+client&client_secret=s%3Ae%25cret"),
        )
        .expect("ok");
        let c = client();
        assert!(authenticate(creds.as_ref(), &[&c]).is_ok());
        assert_eq!(
            presented(&HeaderMap::new(), &form("client_id=x")).expect("ok"),
            None
        );
        assert!(presented(&HeaderMap::new(), &form("client_secret=x")).is_err());
    }

    #[test]
    fn failures() {
        let c = client();
        let err = authenticate(None, &[&c]).expect_err("none");
        assert_eq!((err.status().as_u16(), err.code()), (401, "invalid_client"));
        let wrong = Credentials {
            id: "my client".into(),
            secret: "nope".into(),
        };
        assert!(authenticate(Some(&wrong), &[&c]).is_err());

        let mut bad = HeaderMap::new();
        bad.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic %%%not-base64"),
        );
        let err = presented(&bad, &Form::default()).expect_err("bad base64");
        assert_eq!(err.code(), "invalid_client");
        let mut no_colon = HeaderMap::new();
        no_colon.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("basic YWJj"),
        );
        assert!(presented(&no_colon, &Form::default()).is_err());

        let both = presented(&basic("a", "b"), &form("client_secret=b"));
        assert_eq!(both.expect_err("two methods").code(), "invalid_request");
        let mismatch = presented(&basic("a", "b"), &form("client_id=z"));
        assert_eq!(mismatch.expect_err("mismatch").code(), "invalid_request");

        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(presented(&bearer, &Form::default()).expect("ignored"), None);
    }

    #[test]
    fn form_decoding_edge_cases() {
        assert_eq!(form_decode("a%2"), "a%2");
        assert_eq!(form_decode("%zz"), "%zz");
        assert_eq!(form_decode("%41+%42"), "A B");
    }
}

//! Rendering of `WWW-Authenticate: Bearer` challenges (RFC 6750 §3, RFC 9110 §11.6.1).
//!
//! A challenge is built from its parts and rendered in one place, so that the quoting rules hold
//! for every answer the target sends. Values are always quoted-strings; descriptions are reduced
//! to the characters RFC 6750 allows in `error_description`, which excludes `"` and `\`, so no
//! escaping is ever needed.

/// The parts of one Bearer challenge. Absent parts are not rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// The `error` code (`invalid_request`, `invalid_token`, `insufficient_scope`).
    pub error: Option<String>,
    /// A human-readable `error_description`.
    pub error_description: Option<String>,
    /// The `resource_metadata` URL (RFC 9728 §5.1).
    pub resource_metadata: Option<String>,
    /// The space-separated `scope` the resource requires.
    pub scope: Option<String>,
    /// Render `resource_metadata` without quotes. Only the `unquoted-challenge-params` variant
    /// sets this: a URL contains `/` and `:`, which the token syntax forbids, so the header is
    /// then malformed on purpose.
    pub unquoted_resource_metadata: bool,
}

impl Challenge {
    /// The header value, e.g. `Bearer error="invalid_token", error_description="expired"`.
    pub fn render(&self) -> String {
        let mut params: Vec<String> = Vec::new();
        if let Some(error) = &self.error {
            params.push(quoted_param("error", error));
        }
        if let Some(description) = &self.error_description {
            params.push(quoted_param("error_description", description));
        }
        if let Some(url) = &self.resource_metadata {
            if self.unquoted_resource_metadata {
                params.push(format!("resource_metadata={}", sanitize(url)));
            } else {
                params.push(quoted_param("resource_metadata", url));
            }
        }
        if let Some(scope) = &self.scope {
            params.push(quoted_param("scope", scope));
        }
        if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        }
    }
}

fn quoted_param(name: &str, value: &str) -> String {
    format!("{name}=\"{}\"", sanitize(value))
}

/// Keeps only the characters RFC 6750 §3 allows in attribute values
/// (`%x20-21 / %x23-5B / %x5D-7E`): printable ASCII without `"` and `\`.
///
/// Dropping the two quoting characters (instead of escaping them) keeps every rendered value a
/// plain quoted-string that any parser, even a naive one, reads the same way.
pub fn sanitize(value: &str) -> String {
    value
        .chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_credentials_challenge_has_no_error() {
        let challenge = Challenge {
            resource_metadata: Some(
                "http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp".into(),
            ),
            scope: Some("mcp:tools".into()),
            ..Challenge::default()
        };
        assert_eq!(
            challenge.render(),
            "Bearer resource_metadata=\"http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:tools\""
        );
    }

    #[test]
    fn invalid_token_challenge_lists_each_param_once_in_quotes() {
        let challenge = Challenge {
            error: Some("invalid_token".into()),
            error_description: Some("token \"expired\" \\ long ago\n".into()),
            resource_metadata: Some("http://h/prm".into()),
            scope: Some("a b".into()),
            unquoted_resource_metadata: false,
        };
        assert_eq!(
            challenge.render(),
            "Bearer error=\"invalid_token\", error_description=\"token expired  long ago\", resource_metadata=\"http://h/prm\", scope=\"a b\""
        );
    }

    #[test]
    fn unquoted_variant_drops_the_quotes_of_resource_metadata_only() {
        let challenge = Challenge {
            resource_metadata: Some("http://h/prm".into()),
            scope: Some("s".into()),
            unquoted_resource_metadata: true,
            ..Challenge::default()
        };
        assert_eq!(
            challenge.render(),
            "Bearer resource_metadata=http://h/prm, scope=\"s\""
        );
    }

    #[test]
    fn empty_challenge_is_just_the_scheme() {
        assert_eq!(Challenge::default().render(), "Bearer");
    }

    #[test]
    fn sanitize_keeps_printable_ascii_without_quote_and_backslash() {
        assert_eq!(sanitize("a\"b\\c\td é~"), "abcd ~");
    }
}

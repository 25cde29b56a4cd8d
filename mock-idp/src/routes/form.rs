//! `application/x-www-form-urlencoded` request bodies (RFC 6749 §3.2, Appendix B).

use axum::http::{HeaderMap, header};

use crate::oauth_error::OAuthError;

/// Parameters that may appear more than once (RFC 8707 `resource`); any other repeat is an error.
const REPEATABLE: &[&str] = &["resource"];

/// A parsed form. Parameters with empty values count as absent (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub(crate) struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    /// Parses a form body. A `Content-Type` other than the form type is refused; a body without
    /// any `Content-Type` is refused unless it is empty.
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
        match headers.get(header::CONTENT_TYPE) {
            Some(value) if is_form(value.as_bytes()) => {}
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "Content-Type must be application/x-www-form-urlencoded",
                ));
            }
            None if body.is_empty() => return Ok(Form::default()),
            None => {
                return Err(OAuthError::invalid_request(
                    "a body needs Content-Type: application/x-www-form-urlencoded",
                ));
            }
        }
        let params: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .into_owned()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        for (i, (name, _)) in params.iter().enumerate() {
            if !REPEATABLE.contains(&name.as_str())
                && params[..i].iter().any(|(earlier, _)| earlier == name)
            {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name:?} is repeated"
                )));
            }
        }
        Ok(Form { params })
    }

    /// The value of a parameter that appears at most once.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a (repeatable) parameter, in order.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_form(content_type: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(content_type) else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(content_type: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        headers
    }

    #[test]
    fn parses_decodes_and_drops_empty_values() {
        let form = Form::parse(
            &headers(Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8")),
            b"grant_type=client_credentials&scope=a+b%3Ac&empty=&resource=x&resource=y",
        )
        .expect("form");
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("a b:c"));
        assert_eq!(form.get("empty"), None);
        assert_eq!(form.all("resource").collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn refuses_repeats_and_other_content_types() {
        let form_type = headers(Some("application/x-www-form-urlencoded"));
        let repeated = Form::parse(&form_type, b"token=a&token=b").expect_err("repeat");
        assert_eq!(repeated.code(), "invalid_request");
        assert!(Form::parse(&headers(Some("application/json")), b"{}").is_err());
        assert!(Form::parse(&headers(None), b"token=a").is_err());
        assert!(Form::parse(&headers(None), b"").is_ok());
        // Bytes that are not UTF-8 are decoded lossily, not refused.
        assert!(Form::parse(&form_type, b"token=%ff%fe\xff").is_ok());
    }
}

//! `application/x-www-form-urlencoded` request bodies (RFC 6749 §3.2, Appendix B).

use std::borrow::Cow;
use std::collections::HashSet;

use axum::http::{HeaderMap, header};

use crate::oauth_error::OAuthError;

/// Parameters that may appear more than once (RFC 8707 `resource`); any other repeat is an error.
pub(crate) const REPEATABLE: &[&str] = &["resource"];

/// The most parameters a form (or an authorization request's query) may carry; no request of
/// the protocol needs more than a few dozen.
pub(crate) const MAX_PARAMS: usize = 256;

/// A parsed form. Parameters with empty values count as absent (RFC 6749 §3.1). Names and values
/// borrow from the body unless they needed decoding.
#[derive(Debug, Default)]
pub(crate) struct Form<'a> {
    params: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Form<'a> {
    /// Parses a form body. A `Content-Type` other than the form type is refused; a body without
    /// any `Content-Type` is refused unless it is empty.
    pub(crate) fn parse(headers: &HeaderMap, body: &'a [u8]) -> Result<Form<'a>, OAuthError> {
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
        let mut params: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
        let mut seen = Distinct::default();
        for (count, (name, value)) in pairs(body).enumerate() {
            if count >= MAX_PARAMS {
                return Err(too_many_parameters());
            }
            if value.is_empty() {
                continue;
            }
            seen.check(&name)?;
            params.push((name, value));
        }
        Ok(Form { params })
    }

    /// The value of a parameter that appears at most once.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Every value of a (repeatable) parameter, in order.
    pub(crate) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.params
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// The parameter names met so far, to refuse a repeat in time linear in the request's size: the
/// first few are compared one by one (what every real request needs, with no hashing), the rest
/// through a set.
#[derive(Debug, Default)]
pub(crate) struct Distinct<'a> {
    few: Vec<Cow<'a, str>>,
    many: HashSet<Cow<'a, str>>,
}

/// How many names are compared one by one before a set takes over.
const SCAN: usize = 16;

impl<'a> Distinct<'a> {
    /// Refuses a name that was met before, unless it may repeat. Takes the `Cow` itself (not a
    /// `&str`) so that a name borrowed from the request is kept without a copy.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn check(&mut self, name: &Cow<'a, str>) -> Result<(), OAuthError> {
        if REPEATABLE.contains(&name.as_ref()) {
            return Ok(());
        }
        let new = if self.few.len() < SCAN {
            let new = !self.few.contains(name);
            if new {
                self.few.push(name.clone());
            }
            new
        } else {
            if self.many.is_empty() {
                self.many.extend(self.few.iter().cloned());
            }
            self.many.insert(name.clone())
        };
        if new {
            Ok(())
        } else {
            Err(OAuthError::invalid_request(format!(
                "parameter {name:?} is repeated"
            )))
        }
    }
}

/// `invalid_request` for a request with more than [`MAX_PARAMS`] parameters.
pub(crate) fn too_many_parameters() -> OAuthError {
    OAuthError::invalid_request(format!("more than {MAX_PARAMS} parameters"))
}

/// The name/value pairs of an `application/x-www-form-urlencoded` body, decoded as the WHATWG URL
/// standard says (the same result as `url::form_urlencoded::parse`, which the tests check): split
/// on `&`, skip empty pieces, split each at its first `=`, `+` is a space, `%XX` a byte, and bytes
/// that are not UTF-8 become U+FFFD.
///
/// Written here because the token and introspection endpoints parse a form on every request and
/// their values (tokens, codes) rarely need decoding: such a value is borrowed after one scan,
/// where the general decoder walks it byte by byte and copies it. The scans use `memchr`, which
/// looks at many bytes at a time: byte by byte, finding the separators in a 700-byte token and
/// learning that it needs no decoding cost a fifth of an introspection's own work.
fn pairs(body: &[u8]) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    let mut rest = body;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let (piece, tail) = match memchr::memchr(b'&', rest) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = tail;
            if !piece.is_empty() {
                return Some(piece);
            }
        }
        None
    })
    .map(|piece| match memchr::memchr(b'=', piece) {
        Some(at) => (decode(&piece[..at]), decode(&piece[at + 1..])),
        None => (decode(piece), Cow::Borrowed("")),
    })
}

/// One form-encoded name or value.
fn decode(raw: &[u8]) -> Cow<'_, str> {
    if memchr::memchr2(b'%', b'+', raw).is_none()
        && let Ok(text) = std::str::from_utf8(raw)
    {
        return Cow::Borrowed(text);
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&first, tail)) = rest.split_first() {
        match (first, tail) {
            (b'+', _) => {
                bytes.push(b' ');
                rest = tail;
            }
            (b'%', [high, low, after @ ..])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                bytes.push(hex_value(*high) << 4 | hex_value(*low));
                rest = after;
            }
            (other, _) => {
                bytes.push(other);
                rest = tail;
            }
        }
    }
    Cow::Owned(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
    })
}

/// The value of an ASCII hex digit (the caller has checked it is one).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit
            .to_ascii_uppercase()
            .wrapping_sub(b'A')
            .wrapping_add(10),
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

    fn reference(body: &[u8]) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body).into_owned().collect()
    }

    fn ours(body: &[u8]) -> Vec<(String, String)> {
        pairs(body)
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn decodes_as_the_url_crate_does() {
        for body in [
            &b""[..],
            b"&&a&=b&c=&=&d==e=",
            b"a+b=c+d%20e%2",
            b"%zz=%4%41%e2%82%ac%E2%82%AC",
            b"t=%ff%fe\xff&u=\xe2\x82",
            b"token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln&token_type_hint=access_token",
        ] {
            assert_eq!(ours(body), reference(body), "{body:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decodes_any_body_as_the_url_crate_does(
            body in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(&b"&=+%aAfF09zZ"[..]),
                    proptest::num::u8::ANY,
                ],
                0..40,
            )
        ) {
            proptest::prop_assert_eq!(ours(&body), reference(&body));
        }
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

    #[test]
    fn a_64_kib_form_is_judged_whole_and_the_parameter_count_is_capped() {
        let form_type = headers(Some("application/x-www-form-urlencoded"));
        // 256 distinct parameters with long values: accepted, every one readable.
        let body: String = (0..MAX_PARAMS)
            .map(|i| format!("p{i}={}", "v".repeat(240)))
            .collect::<Vec<_>>()
            .join("&");
        assert!(body.len() > 60 * 1024);
        let form = Form::parse(&form_type, body.as_bytes()).expect("256 parameters");
        assert_eq!(form.get("p255").map(str::len), Some(240));
        // One more, even an empty one, is refused.
        let over = format!("{body}&x");
        let err = Form::parse(&form_type, over.as_bytes()).expect_err("257 parameters");
        assert_eq!(err.code(), "invalid_request");
        // A repeat at the end of a long form is found.
        let repeated = format!("{}&p0=again", &body[..body.len() / 2]);
        let err = Form::parse(&form_type, repeated.as_bytes()).expect_err("repeat");
        assert_eq!(err.description(), Some("parameter \"p0\" is repeated"));
        // `resource` may repeat up to the cap.
        let resources = vec!["resource=x"; MAX_PARAMS].join("&");
        let form = Form::parse(&form_type, resources.as_bytes()).expect("resources");
        assert_eq!(form.all("resource").count(), MAX_PARAMS);
    }
}

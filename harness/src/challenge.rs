//! A parser for `WWW-Authenticate` (RFC 9110 §11.6.1) that is lenient and strict at once.
//!
//! Real clients read challenges leniently, so the harness does too when it needs a value; the
//! same pass records every syntax violation, which `www.challenge-syntax` reports.

/// One challenge: an auth-scheme with either a token68 or auth-params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as sent (compare case-insensitively).
    pub scheme: String,
    pub token68: Option<String>,
    /// Parameter names lowercased, values unquoted, in order of appearance.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer")
    }

    /// The first value of a parameter (names are case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every challenge found, and every way the header broke the grammar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedChallenges {
    pub challenges: Vec<Challenge>,
    pub violations: Vec<String>,
}

impl ParsedChallenges {
    pub fn bearer(&self) -> Option<&Challenge> {
        self.challenges.iter().find(|c| c.is_bearer())
    }
}

/// Parses all `WWW-Authenticate` field values of one response (they form one list).
pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> ParsedChallenges {
    let mut result = ParsedChallenges::default();
    for value in values {
        let parsed = parse(value);
        result.challenges.extend(parsed.challenges);
        result.violations.extend(parsed.violations);
    }
    result
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
}

/// Parses one field value.
pub fn parse(value: &str) -> ParsedChallenges {
    let mut out = ParsedChallenges::default();
    let mut c = Cursor {
        s: value.as_bytes(),
        i: 0,
    };
    loop {
        // Skip empty list elements.
        loop {
            c.skip_ws();
            if c.peek() == Some(b',') {
                c.i += 1;
            } else {
                break;
            }
        }
        if c.at_end() {
            break;
        }
        let scheme = c.take_while(is_tchar).to_string();
        if scheme.is_empty() {
            out.violations.push(format!(
                "expected an auth-scheme at byte {} of {value:?}",
                c.i
            ));
            // Resynchronise at the next comma.
            c.take_while(|b| b != b',');
            continue;
        }
        let mut challenge = Challenge {
            scheme,
            token68: None,
            params: Vec::new(),
        };
        let had_space = matches!(c.peek(), Some(b' ' | b'\t'));
        c.skip_ws();
        if had_space && !c.at_end() && c.peek() != Some(b',') {
            parse_challenge_body(&mut c, &mut challenge, &mut out.violations);
        }
        check_duplicates(&challenge, &mut out.violations);
        out.challenges.push(challenge);
    }
    out
}

fn parse_challenge_body(
    c: &mut Cursor<'_>,
    challenge: &mut Challenge,
    violations: &mut Vec<String>,
) {
    // Decide between token68 and auth-params by looking ahead.
    let save = c.i;
    let word = c.take_while(is_token68_char);
    let mut equals = 0;
    while c.peek() == Some(b'=') {
        equals += 1;
        c.i += 1;
    }
    let after_eq = c.i;
    c.skip_ws();
    let ends_here = c.at_end() || c.peek() == Some(b',');
    let is_param_name = !word.is_empty() && word.bytes().all(is_tchar);
    if !word.is_empty()
        && (equals == 0 || ends_here)
        && !(equals == 1 && is_param_name && !ends_here)
    {
        if equals == 1 && is_param_name && ends_here {
            // `name=` with an empty value: an auth-param missing its value.
            violations.push(format!("parameter {word:?} has no value"));
            challenge
                .params
                .push((word.to_ascii_lowercase(), String::new()));
        } else {
            challenge.token68 = Some(format!("{word}{}", "=".repeat(equals)));
        }
        return;
    }
    c.i = save;
    let _ = after_eq;
    // auth-param list.
    loop {
        c.skip_ws();
        let name = c.take_while(is_tchar).to_string();
        if name.is_empty() {
            violations.push(format!("expected a parameter name at byte {}", c.i));
            c.take_while(|b| b != b',');
        } else {
            c.skip_ws();
            if c.peek() != Some(b'=') {
                // Not a parameter: the start of the next challenge. Rewind to the name.
                c.i -= name.len();
                while c.i > 0 && matches!(c.s[c.i - 1], b' ' | b'\t') {
                    c.i -= 1;
                }
                return;
            }
            c.i += 1;
            c.skip_ws();
            let value = if c.peek() == Some(b'"') {
                read_quoted(c, &name, violations)
            } else {
                let token = c.take_while(is_tchar).to_string();
                // Lenient reading: take everything up to the next comma or space, as clients do.
                let junk = c.take_while(|b| b != b',' && b != b' ' && b != b'\t');
                if !junk.is_empty() {
                    violations.push(format!(
                        "parameter {name:?} has an unquoted value containing characters not allowed in a token ({:?}); it must be a quoted-string",
                        format!("{token}{junk}")
                    ));
                } else if token.is_empty() {
                    violations.push(format!("parameter {name:?} has no value"));
                }
                format!("{token}{junk}")
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        c.skip_ws();
        match c.peek() {
            None => return,
            Some(b',') => {
                c.i += 1;
                // The next element is either another parameter or a new challenge.
                c.skip_ws();
                let save = c.i;
                let name = c.take_while(is_tchar);
                c.skip_ws();
                let is_param = !name.is_empty() && c.peek() == Some(b'=');
                c.i = save;
                if !is_param {
                    return;
                }
            }
            Some(other) => {
                violations.push(format!(
                    "unexpected character {:?} after a parameter",
                    other as char
                ));
                c.take_while(|b| b != b',');
            }
        }
    }
}

fn read_quoted(c: &mut Cursor<'_>, name: &str, violations: &mut Vec<String>) -> String {
    c.i += 1; // opening quote
    let mut value = Vec::new();
    loop {
        match c.peek() {
            None => {
                violations.push(format!(
                    "parameter {name:?} has an unterminated quoted-string"
                ));
                break;
            }
            Some(b'"') => {
                c.i += 1;
                break;
            }
            Some(b'\\') => {
                c.i += 1;
                if let Some(b) = c.peek() {
                    value.push(b);
                    c.i += 1;
                }
            }
            Some(b) => {
                if b < 0x20 && b != b'\t' {
                    violations.push(format!("parameter {name:?} contains a control character"));
                }
                value.push(b);
                c.i += 1;
            }
        }
    }
    String::from_utf8_lossy(&value).into_owned()
}

fn check_duplicates(challenge: &Challenge, violations: &mut Vec<String>) {
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in &challenge.params {
        if seen.contains(&name.as_str()) {
            violations.push(format!(
                "parameter {name:?} appears more than once in the {} challenge",
                challenge.scheme
            ));
        }
        seen.push(name);
    }
}

/// RFC 6750 §3 rules that go beyond the generic grammar, for a Bearer challenge.
pub fn bearer_violations(challenge: &Challenge) -> Vec<String> {
    let mut v = Vec::new();
    if challenge.token68.is_some() {
        v.push(
            "the Bearer challenge uses token68 syntax; RFC 6750 §3 requires auth-param syntax"
                .to_string(),
        );
    }
    if let Some(scope) = challenge.param("scope") {
        if scope.contains(',') {
            v.push(format!(
                "scope {scope:?} contains a comma; RFC 6750 §3 scope is a space-delimited list"
            ));
        }
        if scope.bytes().any(|b| {
            !(b == b' ' || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        }) {
            v.push(format!(
                "scope {scope:?} contains characters outside NQCHAR (RFC 6749 §3.3)"
            ));
        }
    }
    for attr in ["error", "error_description"] {
        if let Some(value) = challenge.param(attr)
            && value.bytes().any(|b| {
                !(b == 0x20
                    || b == 0x21
                    || (0x23..=0x5b).contains(&b)
                    || (0x5d..=0x7e).contains(&b))
            })
        {
            v.push(format!(
                "{attr} contains characters RFC 6750 §3 does not allow"
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_params() {
        let p = parse(r#"Bearer resource_metadata="http://h/.well-known/x", scope="a b""#);
        assert!(p.violations.is_empty(), "{:?}", p.violations);
        let b = p.bearer().unwrap();
        assert_eq!(b.param("resource_metadata"), Some("http://h/.well-known/x"));
        assert_eq!(b.param("SCOPE"), Some("a b"));
    }

    #[test]
    fn parses_several_challenges() {
        let p = parse(r#"Basic realm="x", Bearer error="invalid_token", DPoP algs="ES256""#);
        assert!(p.violations.is_empty(), "{:?}", p.violations);
        let schemes: Vec<_> = p.challenges.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "DPoP"]);
        assert_eq!(p.bearer().unwrap().param("error"), Some("invalid_token"));
    }

    #[test]
    fn bare_scheme_and_token68() {
        let p = parse("Bearer");
        assert_eq!(p.challenges.len(), 1);
        assert!(p.challenges[0].params.is_empty());
        let p = parse("Negotiate abc+/==");
        assert_eq!(p.challenges[0].token68.as_deref(), Some("abc+/=="));
    }

    #[test]
    fn unquoted_url_is_a_violation_but_still_read() {
        let p = parse("Bearer resource_metadata=http://127.0.0.1:9/x, scope=\"a\"");
        assert_eq!(p.violations.len(), 1, "{:?}", p.violations);
        assert_eq!(
            p.bearer().unwrap().param("resource_metadata"),
            Some("http://127.0.0.1:9/x")
        );
        assert_eq!(p.bearer().unwrap().param("scope"), Some("a"));
    }

    #[test]
    fn duplicates_and_unterminated_quotes_are_violations() {
        assert_eq!(parse(r#"Bearer realm="a", realm="b""#).violations.len(), 1);
        assert_eq!(parse(r#"Bearer realm="a"#).violations.len(), 1);
    }

    #[test]
    fn escaped_quotes_are_unescaped() {
        let p = parse(r#"Bearer error_description="say \"hi\"""#);
        assert_eq!(
            p.bearer().unwrap().param("error_description"),
            Some(r#"say "hi""#)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn well_formed_params_round_trip(name in "[a-z_]{1,12}", value in "[ !#-\\[\\]-~]{0,40}") {
            let header = format!("Bearer {name}=\"{value}\"");
            let p = parse(&header);
            proptest::prop_assert!(p.violations.is_empty(), "{:?}", p.violations);
            proptest::prop_assert_eq!(p.bearer().unwrap().param(&name), Some(value.as_str()));
        }
    }
}

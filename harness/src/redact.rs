//! Redaction of secrets and of run-specific values.
//!
//! Secrets (tokens, client secrets) are redacted in every piece of evidence the harness keeps.
//! Values the user hands over as secrets (a test account for login forms) are [`Secret`]s: they
//! are redacted wherever they appear, whatever the field or encoding, since a login page may echo
//! them anywhere. Run-specific values (ports, session ids) are normalised only for snapshots and
//! committed reports, so that the same behaviour always renders the same text.

use std::sync::RwLock;

/// Replaces bearer tokens, JWTs, opaque mock tokens and credentials in `text` with placeholders,
/// and every [`Secret`] made in this process.
pub fn redact_secrets(text: &str) -> String {
    let text = redact_given(text);
    let text = redact_scheme_credentials(&text);
    let text = redact_query_secrets(&text);
    let text = replace_values(&text, SECRET_KEYS, |_| "[REDACTED]".to_string());
    redact_token_like_words(&text)
}

/// A value the user gave the harness as a secret: a test account's username, password or login
/// field. Making one registers it for the rest of the process, so every redaction
/// ([`redact_secrets`], which every piece of evidence goes through, and [`redact_given`], which
/// the run applies to the whole report) replaces it: the registry is process-wide because
/// evidence is rendered far from the options, and it only grows, because a value seen once must
/// not show up in a later report of the same process either. Its `Debug` shows no value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The value itself, for the one place that types it into a form.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// One spelling of a given secret, and whether it is replaced anywhere or only where it stands
/// alone.
#[derive(Debug)]
struct Spelling {
    text: String,
    anywhere: bool,
}

/// Every spelling of every [`Secret`] made so far, longest first (so a secret that contains
/// another is replaced whole).
static GIVEN: RwLock<Vec<Spelling>> = RwLock::new(Vec::new());

/// Values this long are replaced wherever they occur; shorter ones (a username such as `admin`)
/// only where no letter or digit touches them, so that they do not eat into ordinary words.
const ANYWHERE_FROM: usize = 8;

fn register(value: &str) {
    if value.is_empty() {
        return;
    }
    let anywhere = value.chars().count() >= ANYWHERE_FROM;
    let Ok(mut given) = GIVEN.write() else {
        return;
    };
    for text in spellings(value) {
        if !given.iter().any(|s| s.text == text) {
            given.push(Spelling { text, anywhere });
        }
    }
    given.sort_by_key(|s| std::cmp::Reverse(s.text.len()));
}

/// How a value travels: as typed; form-urlencoded (a POSTed form, a query); percent-encoded as
/// RFC 3986 and JavaScript's `encodeURIComponent` do, in either case of hex digit; HTML-escaped
/// the ways common template engines do it; and inside a JSON string, plain or ASCII-only (as
/// Python's `json.dumps` writes it).
fn spellings(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    out.push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    for keep in ["-._~", "-._~!'()*"] {
        let upper = percent_encode(value, keep);
        out.push(lower_hex(&upper));
        out.push(upper);
    }
    for (apostrophe, quote) in [
        ("&#39;", "&quot;"),
        ("&#x27;", "&quot;"),
        ("&#39;", "&#34;"),
    ] {
        out.push(
            value
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', quote)
                .replace('\'', apostrophe),
        );
    }
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    let ascii: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    out.push(json);
    out.push(ascii);
    out.sort();
    out.dedup();
    out.retain(|s| !s.is_empty());
    out
}

/// Percent-encodes every byte but ASCII letters, digits and `keep`, with upper-case hex digits.
fn percent_encode(value: &str, keep: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || keep.as_bytes().contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The same percent-encoding with lower-case hex digits (`%c3%a9`), as some servers write it.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[at + escape.len()..];
    }
    out.push_str(rest);
    out
}

/// Replaces every spelling of every [`Secret`] made in this process with `[REDACTED]`.
pub fn redact_given(text: &str) -> String {
    let Ok(given) = GIVEN.read() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for spelling in given.iter() {
        if out.contains(&spelling.text) {
            out = replace_spelling(&out, spelling);
        }
    }
    out
}

fn replace_spelling(text: &str, spelling: &Spelling) -> String {
    let needle = spelling.text.as_str();
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find(needle) {
        let start = from + found;
        let end = start + needle.len();
        // Touched by a letter or digit on a side where the value itself starts or ends with one.
        let glued_before = word(text[..start].chars().next_back()) && word(needle.chars().next());
        let glued_after = word(text[end..].chars().next()) && word(needle.chars().next_back());
        let alone = !glued_before && !glued_after;
        if spelling.anywhere || alone {
            out.push_str(&text[copied..start]);
            out.push_str("[REDACTED]");
            copied = end;
            from = end;
        } else {
            from = start + needle.chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Members and parameters whose values are secrets wherever they appear: in JSON bodies (plain
/// or escaped inside a report string) and in forms and URLs.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "registration_access_token",
    "code_verifier",
    "csrf",
    "csrf_token",
];

/// Members and parameters whose values differ between runs (random state, PKCE challenges,
/// issued client ids, consent transactions) and are normalised for snapshots.
const RUN_KEYS: &[&str] = &[
    "state",
    "code_challenge",
    "client_id",
    "txn_id",
    "request_id",
    "nonce",
    "client_id_issued_at",
    "registration_client_uri",
];

/// Replaces the value after `key=` (a form or query parameter) or after `"key":` (a JSON member,
/// possibly with escaped quotes) with `with(key)`. One pass over the text per key, so a hostile
/// body full of keys costs time in proportion to its length.
fn replace_values(text: &str, keys: &[&str], with: impl Fn(&str) -> String) -> String {
    let mut out = text.to_string();
    for key in keys {
        out = replace_values_of(&out, key, &with);
    }
    out
}

fn replace_values_of(text: &str, key: &str, with: &impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    // `text[copied..]` is not in `out` yet.
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find(key) {
        let start = from + found;
        let end_key = start + key.len();
        from = end_key;
        // The key must stand alone: not the tail of a longer name.
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[end_key..];
        let value_start = if rest.starts_with('=') {
            end_key + 1
        } else {
            // `"key": "value"`, `\"key\":\"value\"`, or a number.
            let trimmed = rest.trim_start_matches(['\\', '"']);
            // An HTML form field: `name="key" value="..."`.
            let after_colon = if let Some(v) = trimmed.strip_prefix(" value=") {
                v
            } else if let Some(v) = trimmed.strip_prefix(':') {
                v
            } else {
                continue;
            };
            let after_colon = after_colon.trim_start_matches(' ');
            let after_quote = after_colon.trim_start_matches(['\\', '"']);
            text.len() - after_quote.len()
        };
        let value_len = text[value_start..]
            .find(['&', ' ', '"', '\\', '\n', ',', '}'])
            .unwrap_or(text.len() - value_start);
        if value_len == 0 {
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(&with(key));
        copied = value_start + value_len;
        from = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// `Bearer abc` → `Bearer [REDACTED]`, `Basic abc` → `Basic [REDACTED]`, keeping the scheme's
/// spelling so evidence still shows `bearer` versus `Bearer`.
fn redact_scheme_credentials(text: &str) -> String {
    let starts = scheme_starts(text);
    let mut out = String::with_capacity(text.len());
    // `text[at..]` is what is left to copy or redact.
    let mut at = 0;
    for pos in starts {
        if pos < at {
            continue;
        }
        out.push_str(&text[at..pos]);
        let after = &text[pos..];
        let scheme_len = after.find(' ').unwrap_or(after.len());
        out.push_str(&after[..scheme_len]);
        let tail = &after[scheme_len..];
        let spaces = tail.len() - tail.trim_start_matches(' ').len();
        out.push_str(&tail[..spaces]);
        let creds = &tail[spaces..];
        // A credential is one token68 word, so it ends at the first space: prose such as
        // "the provided bearer token is invalid" then loses at most one word.
        let creds_len = creds.find([',', '"', '\n', ' ']).unwrap_or(creds.len());
        // `Bearer error="invalid_token"` is a challenge with auth-params, not a credential.
        let is_auth_param =
            creds[..creds_len].ends_with('=') && creds[creds_len..].starts_with('"');
        // "bearer token" in an error description is prose, not a credential.
        let is_prose = matches!(
            creds[..creds_len].to_ascii_lowercase().as_str(),
            "token" | "tokens" | "credential" | "credentials" | "authentication" | "auth"
        );
        if is_auth_param || is_prose {
            out.push_str(&creds[..creds_len]);
        } else if creds_len > 0 {
            out.push_str("[REDACTED]");
        }
        at = text.len() - creds[creds_len..].len();
    }
    out.push_str(&text[at..]);
    out
}

/// Where a `Bearer ` or `Basic ` scheme (any case) starts a value: at the start of the text or
/// after whitespace, a quote, a comma or a colon; in order.
fn scheme_starts(text: &str) -> Vec<usize> {
    let lower = text.to_ascii_lowercase();
    let mut starts: Vec<usize> = ["bearer ", "basic "]
        .iter()
        .flat_map(|scheme| lower.match_indices(scheme).map(|(i, _)| i))
        .filter(|&i| i == 0 || matches!(lower.as_bytes()[i - 1], b' ' | b'"' | b',' | b'\n' | b':'))
        .collect();
    starts.sort_unstable();
    starts
}

fn redact_query_secrets(text: &str) -> String {
    let mut out = text.to_string();
    for key in [
        "access_token=",
        "client_secret=",
        "token=",
        "refresh_token=",
        "code=",
    ] {
        out = redact_query_value(&out, key);
    }
    out
}

/// One pass over `text`, redacting the value of every `key=` that starts a parameter.
fn redact_query_value(text: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find(key) {
        let start = search_from + found;
        let preceded_ok =
            start == 0 || matches!(text.as_bytes()[start - 1], b'?' | b'&' | b' ' | b'"');
        let value_start = start + key.len();
        if !preceded_ok {
            search_from = value_start;
            continue;
        }
        let value_end = text[value_start..]
            .find(['&', ' ', '"', '\n'])
            .map(|e| value_start + e)
            .unwrap_or(text.len());
        if value_end > value_start {
            out.push_str(&text[copied..value_start]);
            out.push_str("[REDACTED]");
            copied = value_end;
            search_from = value_end;
        } else {
            search_from = value_start + 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=')
}

/// JWT-shaped words (`eyJ…` with dots) and mock opaque tokens become `[TOKEN]`.
fn redact_token_like_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let looks_like_jwt = word.starts_with("eyJ") && word.contains('.') && word.len() > 16;
        let looks_like_opaque = word.starts_with("mock_at_") || word.starts_with("mock_rt_");
        if looks_like_jwt || looks_like_opaque {
            out.push_str("[TOKEN]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_token_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Normalises values that differ between runs: loopback ports, session ids and timings.
pub fn normalize_run_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Also percent-encoded, as in a redirect_uri or resource query parameter.
    let hosts = [
        "127.0.0.1:",
        "localhost:",
        "[::1]:",
        "127.0.0.1%3A",
        "localhost%3A",
        "%5B%3A%3A1%5D%3A",
    ];
    let mut finder = Earliest::new(&hosts);
    while let Some((i, len)) = finder.next_in(text, text.len() - rest.len()) {
        let i = i - (text.len() - rest.len());
        out.push_str(&rest[..i + len]);
        let after = &rest[i + len..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("[PORT]");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    let out = replace_values(&out, RUN_KEYS, |key| {
        format!("[{}]", key.to_ascii_uppercase())
    });
    normalize_jsonrpc_ids(&normalize_session_ids(&out))
}

/// JSON-RPC request IDs count the requests of a run, and waiting loops send a varying number.
fn normalize_jsonrpc_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let keys = ["\\\"id\\\":", "\"id\":"];
    let mut finder = Earliest::new(&keys);
    while let Some((i, len)) = finder.next_in(text, text.len() - rest.len()) {
        let i = i - (text.len() - rest.len());
        out.push_str(&rest[..i + len]);
        let after = &rest[i + len..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("[ID]");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The earliest of several needles at or after a position, each needle's next occurrence kept so
/// that every needle is searched for once over the whole text (not once per match).
struct Earliest<'n> {
    needles: &'n [&'n str],
    /// Per needle: its next occurrence at or after the last position asked for, `None` when
    /// there is none left, and not yet known while `searched_from` is behind.
    next: Vec<Option<usize>>,
    searched_from: Vec<usize>,
}

impl<'n> Earliest<'n> {
    fn new(needles: &'n [&'n str]) -> Self {
        Earliest {
            needles,
            next: vec![None; needles.len()],
            searched_from: vec![0; needles.len()],
        }
    }

    /// The earliest `(position, needle length)` at or after `from`; at one position, the
    /// shorter needle.
    fn next_in(&mut self, text: &str, from: usize) -> Option<(usize, usize)> {
        for (k, needle) in self.needles.iter().enumerate() {
            let stale = self.next[k].is_some_and(|p| p < from)
                || (self.next[k].is_none()
                    && self.searched_from[k] <= from
                    && self.searched_from[k] != usize::MAX);
            if stale {
                self.next[k] = text[from..].find(needle).map(|i| from + i);
                self.searched_from[k] = if self.next[k].is_some() {
                    from
                } else {
                    usize::MAX
                };
            }
        }
        self.next
            .iter()
            .zip(self.needles)
            .filter_map(|(p, n)| p.map(|p| (p, n.len())))
            .min()
    }
}

fn normalize_session_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let lower = line.to_ascii_lowercase();
        if let Some(i) = lower.find("mcp-session-id: ") {
            let start = i + "mcp-session-id: ".len();
            let end = line[start..]
                .find(['"', '\n', ','])
                .map(|e| start + e)
                .unwrap_or(line.len());
            out.push_str(&line[..start]);
            out.push_str("[SESSION]");
            out.push_str(&line[end..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_credentials_are_redacted_and_scheme_kept() {
        assert_eq!(redact_secrets("bearer abc.def"), "bearer [REDACTED]");
        assert_eq!(redact_secrets("Bearer"), "Bearer");
        assert_eq!(
            redact_secrets("The provided bearer token is invalid"),
            "The provided bearer token is invalid"
        );
        assert_eq!(redact_secrets("Bearer abc def"), "Bearer [REDACTED] def");
        assert_eq!(redact_secrets("Basic dXNlcjpwYXNz"), "Basic [REDACTED]");
    }

    #[test]
    fn challenges_are_not_mistaken_for_credentials() {
        let challenge = r#"Bearer error="invalid_token", scope="a b""#;
        assert_eq!(redact_secrets(challenge), challenge);
        assert_eq!(redact_secrets("Bearer realm=\"x\""), "Bearer realm=\"x\"");
    }

    #[test]
    fn jwts_in_bodies_and_urls_are_redacted() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
        assert_eq!(
            redact_secrets(&format!("{{\"t\":\"{jwt}\"}}")),
            "{\"t\":\"[TOKEN]\"}"
        );
        assert_eq!(
            redact_secrets(&format!("http://h/mcp?access_token={jwt}")),
            "http://h/mcp?access_token=[REDACTED]"
        );
    }

    #[test]
    fn ports_and_sessions_are_normalised() {
        assert_eq!(
            normalize_run_values(
                "http://127.0.0.1:4312/mcp and [::1]:80\nmcp-session-id: abc-123\n"
            ),
            "http://127.0.0.1:[PORT]/mcp and [::1]:[PORT]\nmcp-session-id: [SESSION]\n"
        );
    }

    #[test]
    fn oauth_secrets_and_run_values_are_replaced_in_forms_and_json() {
        assert_eq!(
            redact_secrets(
                r#"code_verifier=abc&x=1 {"client_secret": "s3cr3t", "refresh_token":"r"}"#
            ),
            r#"code_verifier=[REDACTED]&x=1 {"client_secret": "[REDACTED]", "refresh_token":"[REDACTED]"}"#
        );
        assert_eq!(
            normalize_run_values(
                r#"/authorize?client_id=dcr_1&state=xyz&scope=a {\"client_id\":\"dcr_2\",\"client_id_issued_at\":17}"#
            ),
            r#"/authorize?client_id=[CLIENT_ID]&state=[STATE]&scope=a {\"client_id\":\"[CLIENT_ID]\",\"client_id_issued_at\":[CLIENT_ID_ISSUED_AT]}"#
        );
        assert_eq!(
            normalize_run_values("redirect_uri=http%3A%2F%2F127.0.0.1%3A42023%2Fcallback"),
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A[PORT]%2Fcallback"
        );
        assert_eq!(
            normalize_run_values(r#"<input name=\"request_id\" value=\"a2178\">"#),
            r#"<input name=\"request_id\" value=\"[REQUEST_ID]\">"#
        );
        assert_eq!(
            redact_secrets(r#"<input type="hidden" name="csrf" value="e3cc">"#),
            r#"<input type="hidden" name="csrf" value="[REDACTED]">"#
        );
        // Longer names that end in a key are left alone.
        assert_eq!(normalize_run_values("oauth_state=1"), "oauth_state=1");
    }

    #[test]
    fn given_secrets_are_redacted_in_every_spelling() {
        // Values no other test of this process uses: the registry is process-wide.
        let secret = Secret::new("Pä55 w&rd\"<'x>/redact-test");
        assert_eq!(format!("{secret:?}"), "Secret([REDACTED])");
        for spelling in [
            "Pä55 w&rd\"<'x>/redact-test",
            "P%C3%A455+w%26rd%22%3C%27x%3E%2Fredact-test",
            "P%C3%A455%20w%26rd%22%3C%27x%3E%2Fredact-test",
            "P%c3%a455%20w%26rd%22%3c%27x%3e%2fredact-test",
            "P%C3%A455%20w%26rd%22%3C'x%3E%2Fredact-test",
            "Pä55 w&amp;rd&quot;&lt;&#39;x&gt;/redact-test",
            "Pä55 w&amp;rd&#34;&lt;&#39;x&gt;/redact-test",
            "Pä55 w&amp;rd&quot;&lt;&#x27;x&gt;/redact-test",
            r#"Pä55 w&rd\"<'x>/redact-test"#,
            r#"P\u00e455 w&rd\"<'x>/redact-test"#,
        ] {
            let text = format!("password={spelling}&next=1 {{\"p\":\"{spelling}\"}}");
            assert_eq!(
                redact_secrets(&text),
                r#"password=[REDACTED]&next=1 {"p":"[REDACTED]"}"#,
                "{spelling}"
            );
        }
    }

    #[test]
    fn short_given_secrets_are_redacted_only_where_they_stand_alone() {
        Secret::new("qzv7");
        assert_eq!(
            redact_given("user=qzv7 hello qzv7, xqzv7 qzv7x <b>qzv7</b>"),
            "user=[REDACTED] hello [REDACTED], xqzv7 qzv7x <b>[REDACTED]</b>"
        );
        // A long one is redacted even inside a longer word.
        Secret::new("longer-secret-9f1");
        assert_eq!(redact_given("xlonger-secret-9f1x"), "x[REDACTED]x");
        Secret::new("");
        assert_eq!(redact_given("nothing here"), "nothing here");
    }

    #[test]
    fn jsonrpc_ids_are_normalised_plain_and_escaped() {
        assert_eq!(
            normalize_run_values(r#"{"id":12,"x":"{\"id\":413,\"jsonrpc\":\"2.0\"}","id": "a"}"#),
            r#"{"id":[ID],"x":"{\"id\":[ID],\"jsonrpc\":\"2.0\"}","id": "a"}"#
        );
    }
}

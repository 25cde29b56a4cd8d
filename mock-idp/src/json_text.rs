//! Small JSON documents written straight into bytes: the claims of the tokens `/token` issues and
//! its answer, made once per token. Building a `serde_json` map for them and serialising it cost
//! more than everything else the endpoint does but the signature (a dozen allocations, and
//! serde_json's byte-by-byte escaping of a 700-character token). What these helpers write is what
//! serde_json writes for the same values, byte for byte (the tests of their users hold them to it).

/// Appends `text` as a JSON string, escaped as serde_json escapes it.
pub(crate) fn push_str(out: &mut Vec<u8>, text: &str) {
    if needs_escape(text.as_bytes()) {
        // Rare here (tokens, URLs and scopes seldom hold a quote, a backslash or a control
        // character): serde_json's own escaping, so that both paths agree.
        serde_json::to_writer(&mut *out, text).unwrap_or_default();
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// Appends `"name":`.
pub(crate) fn push_name(out: &mut Vec<u8>, name: &str) {
    push_str(out, name);
    out.push(b':');
}

/// Appends an integer as JSON.
pub(crate) fn push_i64(out: &mut Vec<u8>, number: i64) {
    serde_json::to_writer(&mut *out, &number).unwrap_or_default();
}

/// Appends a JSON array of strings.
pub(crate) fn push_str_array<'a>(out: &mut Vec<u8>, items: impl IntoIterator<Item = &'a str>) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, item);
    }
    out.push(b']');
}

/// Whether serde_json would escape a byte of `bytes`: a quote, a backslash or a control
/// character. Written without an early exit, so that the compiler checks many bytes at a time.
fn needs_escape(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |found, &b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in [
            "",
            "plain",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "quote \" and backslash \\",
            "controls \u{0}\u{8}\t\n\u{c}\r\u{1f} and DEL \u{7f}",
            "non-ASCII é 日本 \u{2028}",
            "https://mcp.example.test/mcp?a=b&c=d#f",
        ] {
            let mut out = Vec::new();
            push_str(&mut out, text);
            assert_eq!(
                out,
                serde_json::to_vec(text).expect("serialise"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn numbers_names_and_arrays() {
        // Members in the order serde_json writes a map's (sorted), so the bytes can be compared.
        let mut out = Vec::new();
        out.push(b'{');
        push_name(&mut out, "aud");
        push_str_array(&mut out, ["a", "b\"c"]);
        out.push(b',');
        push_name(&mut out, "exp");
        push_i64(&mut out, -1_800_000_000);
        out.push(b',');
        push_name(&mut out, "none");
        push_str_array(&mut out, []);
        out.push(b'}');
        let expected =
            serde_json::json!({"exp": -1_800_000_000_i64, "aud": ["a", "b\"c"], "none": []});
        assert_eq!(out, serde_json::to_vec(&expected).expect("serialise"));
    }
}

//! Just enough HTML reading for a headless user agent: the forms of a login or consent page.
//!
//! Consent pages are small server-rendered documents; the agent needs each form's action,
//! method, the fields a browser would submit (hidden and checked inputs, CSRF tokens) and the
//! submit buttons to choose between. A tolerant tag scanner does that without an HTML engine;
//! pages that only work with JavaScript are reported as such by the caller.

/// One `<form>` as a browser would submit it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// The `action` attribute as written (empty: the page's own URL).
    pub action: String,
    /// `get` or `post` (lowercase; `get` when absent, as in browsers).
    pub method: String,
    /// Fields a submission carries without a button: hidden, text, checked boxes and radios.
    pub fields: Vec<(String, String)>,
    /// Submit buttons: name (may be empty), value, and visible label.
    pub buttons: Vec<Button>,
}

/// A submit control of a form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Button {
    pub name: String,
    pub value: String,
    pub label: String,
}

/// Which way a consent decision goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

impl Button {
    fn words(&self) -> String {
        format!("{} {} {}", self.name, self.value, self.label).to_ascii_lowercase()
    }

    fn says_no(&self) -> bool {
        let w = self.words();
        ["deny", "cancel", "reject", "decline", "refuse"]
            .iter()
            .any(|k| w.contains(k))
    }

    fn says_yes(&self) -> bool {
        let w = self.words();
        [
            "approve",
            "allow",
            "accept",
            "authorize",
            "authorise",
            "consent",
            "continue",
            "grant",
            "yes",
            "confirm",
            "sign in",
            "login",
            "log in",
        ]
        .iter()
        .any(|k| w.contains(k))
    }
}

impl Form {
    /// The button a person making `decision` would press, if the form offers one.
    pub fn button_for(&self, decision: Decision) -> Option<&Button> {
        match decision {
            Decision::Approve => self
                .buttons
                .iter()
                .find(|b| b.says_yes() && !b.says_no())
                .or_else(|| match self.buttons.as_slice() {
                    [only] if !only.says_no() => Some(only),
                    _ => None,
                }),
            Decision::Deny => self.buttons.iter().find(|b| b.says_no()),
        }
    }

    /// The submitted name/value pairs when `button` is pressed.
    pub fn submission(&self, button: Option<&Button>) -> Vec<(String, String)> {
        let mut pairs = self.fields.clone();
        if let Some(b) = button
            && !b.name.is_empty()
        {
            pairs.push((b.name.clone(), b.value.clone()));
        }
        pairs
    }

    /// The value of a field, by name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One tag: its lowercase name (with a leading `/` for end tags), attributes and where it ends.
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    end: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn has(&self, name: &str) -> bool {
        self.attrs.iter().any(|(n, _)| n == name)
    }
}

/// Reads the tag starting at `start` (which holds `<`).
fn read_tag(html: &str, start: usize) -> Option<Tag> {
    let bytes = html.as_bytes();
    let mut i = start + 1;
    let name_start = i;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
        if bytes[i] == b'/' && i > name_start {
            break;
        }
        i += 1;
    }
    let name = html.get(name_start..i)?.to_ascii_lowercase();
    if name.is_empty() || name.starts_with('!') {
        return None;
    }
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        if bytes[i] == b'>' {
            return Some(Tag {
                name,
                attrs,
                end: i + 1,
            });
        }
        let key_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let key = html.get(key_start..i)?.to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let v_start = i + 1;
                let v_end = bytes[v_start..]
                    .iter()
                    .position(|&b| b == quote)
                    .map(|p| v_start + p)?;
                value = decode_entities(html.get(v_start..v_end)?);
                i = v_end + 1;
            } else {
                let v_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                value = decode_entities(html.get(v_start..i)?);
            }
        }
        if !key.is_empty() {
            attrs.push((key, value));
        }
    }
}

/// Decodes the character references that appear in attribute values and labels.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        let window = &rest.as_bytes()[..rest.len().min(12)];
        let Some(semi) = window.iter().position(|&b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The page's visible text, tags removed and whitespace collapsed (for judging what a consent
/// page shows).
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    let lower = html.to_ascii_lowercase();
    while i < html.len() {
        if html.as_bytes()[i] == b'<' {
            // Script and style contents are not shown.
            for skipped in ["script", "style"] {
                if lower[i..].starts_with(&format!("<{skipped}")) {
                    let close = format!("</{skipped}");
                    i = lower[i..].find(&close).map_or(html.len(), |p| i + p);
                }
            }
            match html[i..].find('>') {
                Some(p) => i += p + 1,
                None => break,
            }
            out.push(' ');
        } else {
            let next = html[i..].find('<').map_or(html.len(), |p| i + p);
            out.push_str(&decode_entities(&html[i..next]));
            i = next;
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every form of the page.
pub fn forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut current: Option<Form> = None;
    let mut open_button: Option<(Button, usize)> = None;
    let mut i = 0;
    while let Some(pos) = html[i..].find('<') {
        let start = i + pos;
        let Some(tag) = read_tag(html, start) else {
            i = start + 1;
            continue;
        };
        i = tag.end;
        match tag.name.as_str() {
            "form" => {
                if let Some(done) = current.take() {
                    forms.push(done);
                }
                current = Some(Form {
                    action: tag.attr("action").unwrap_or("").to_string(),
                    method: tag.attr("method").unwrap_or("get").to_ascii_lowercase(),
                    ..Form::default()
                });
            }
            "/form" => {
                if let Some(done) = current.take() {
                    forms.push(done);
                }
            }
            "input" => {
                let Some(form) = current.as_mut() else {
                    continue;
                };
                let kind = tag.attr("type").unwrap_or("text").to_ascii_lowercase();
                let name = tag.attr("name").unwrap_or("").to_string();
                let value = tag.attr("value").unwrap_or("").to_string();
                match kind.as_str() {
                    "submit" | "image" => form.buttons.push(Button {
                        name,
                        label: value.clone(),
                        value,
                    }),
                    "checkbox" | "radio" => {
                        if tag.has("checked") && !name.is_empty() {
                            let value = if tag.has("value") { value } else { "on".into() };
                            form.fields.push((name, value));
                        }
                    }
                    "button" | "reset" | "file" => {}
                    _ => {
                        if !name.is_empty() && !tag.has("disabled") {
                            form.fields.push((name, value));
                        }
                    }
                }
            }
            "button" => {
                let kind = tag.attr("type").unwrap_or("submit").to_ascii_lowercase();
                if kind == "submit" && current.is_some() {
                    open_button = Some((
                        Button {
                            name: tag.attr("name").unwrap_or("").to_string(),
                            value: tag.attr("value").unwrap_or("").to_string(),
                            label: String::new(),
                        },
                        tag.end,
                    ));
                }
            }
            "/button" => {
                if let (Some((mut button, from)), Some(form)) =
                    (open_button.take(), current.as_mut())
                {
                    button.label = visible_text(&html[from..start]);
                    form.buttons.push(button);
                }
            }
            _ => {}
        }
    }
    if let Some(done) = current.take() {
        forms.push(done);
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><body>
      <h1>Allow &quot;My App&quot;?</h1>
      <form method="POST" action="/consent?x=1&amp;y=2">
        <input type="hidden" name="txn_id" value="abc">
        <input type=hidden name=csrf_token value='t0k&amp;en'>
        <input type="checkbox" name="scope" value="read" checked>
        <input type="checkbox" name="scope" value="write">
        <button type="submit" name="action" value="approve">Allow access</button>
        <button type="submit" name="action" value="deny">Deny</button>
      </form></body></html>"#;

    #[test]
    fn reads_fields_buttons_and_entities() {
        let forms = forms(PAGE);
        assert_eq!(forms.len(), 1);
        let f = &forms[0];
        assert_eq!(f.action, "/consent?x=1&y=2");
        assert_eq!(f.method, "post");
        assert_eq!(f.field("csrf_token"), Some("t0k&en"));
        assert_eq!(
            f.fields,
            vec![
                ("txn_id".to_string(), "abc".to_string()),
                ("csrf_token".to_string(), "t0k&en".to_string()),
                ("scope".to_string(), "read".to_string()),
            ]
        );
        assert_eq!(f.button_for(Decision::Approve).unwrap().value, "approve");
        assert_eq!(f.button_for(Decision::Deny).unwrap().value, "deny");
        assert!(
            f.submission(f.button_for(Decision::Approve))
                .contains(&("action".to_string(), "approve".to_string()))
        );
    }

    #[test]
    fn a_lone_button_approves_and_text_is_visible() {
        let page = r#"<form action="/go"><input type="submit" value="Continue"></form><script>var a="<b>";</script>"#;
        let f = &forms(page)[0];
        assert_eq!(f.method, "get");
        assert_eq!(f.button_for(Decision::Approve).unwrap().value, "Continue");
        assert!(f.button_for(Decision::Deny).is_none());
        assert!(visible_text(PAGE).contains("Allow \"My App\"?"));
        assert!(!visible_text(page).contains("var a"));
    }

    #[test]
    fn hostile_markup_does_not_panic() {
        for page in [
            "<",
            "<form",
            "<input name='x",
            "&#xFFFFFFFF;",
            "<form><button>",
            "<<<>>>",
            "<form action=\"é\">ü</form>",
        ] {
            let _ = forms(page);
            let _ = visible_text(page);
        }
    }
}

//! Reading login and consent pages as a browser does: each form's action, method, the fields a
//! submission carries (hidden and text inputs, checked boxes and radios, selected options,
//! textareas, controls tied to a form by `form="id"`), the ones a person types into (which a
//! test account fills: [`Form::username_input`], [`Form::password_inputs`]) and its submit
//! buttons, and the text a person sees.
//!
//! The page is read with a WHATWG HTML tokenizer (`html5gum`), so comments, `<script>`, `<style>`
//! and `<template>` contents are never mistaken for forms, every character reference is decoded,
//! and reading costs time in proportion to the page's length whatever its markup. There is no
//! tree builder and no JavaScript: pages that need either are reported as such by the caller.

use html5gum::{DefaultEmitter, Token, Tokenizer};

/// One `<form>` as a browser would submit it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    /// The `action` attribute as written (empty: the page's own URL).
    pub action: String,
    /// `get` or `post` (lowercase; `get` when absent, as in browsers).
    pub method: String,
    /// Fields a submission carries without a button: hidden, text, checked boxes and radios.
    pub fields: Vec<(String, String)>,
    /// Which of `fields` a person types into (text-like inputs, passwords, textareas).
    pub inputs: Vec<Input>,
    /// Submit buttons: name (may be empty), value, and visible label.
    pub buttons: Vec<Button>,
}

/// A control a person types into: a text-like `<input>` (text, email, password, and every type
/// a browser shows as a text box) or a `<textarea>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    /// Its place in [`Form::fields`].
    pub field: usize,
    /// The `type` attribute in lower case (`text` when absent), or `textarea`.
    pub kind: String,
    /// What the page says it is for, in lower case: its name, id, `autocomplete`, `placeholder`
    /// and `aria-label`.
    pub hints: String,
    /// `readonly`: shown with a value nobody can change (a username echoed on a password page).
    pub readonly: bool,
}

impl Input {
    /// Whether it takes a username, an e-mail address or a login name: an e-mail input, or one
    /// whose name, id, autocomplete hint, placeholder or label says so (`username`, `j_username`,
    /// `login`, `loginfmt`, `identifier`, `email`, `autocomplete="username"`, ...).
    pub fn takes_username(&self) -> bool {
        if self.kind == "password" || self.kind == "textarea" {
            return false;
        }
        self.kind == "email"
            || [
                "user",
                "mail",
                "login",
                "account",
                "identifier",
                "principal",
                "uid",
            ]
            .iter()
            .any(|w| self.hints.contains(w))
    }
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

    /// Whether it says no only by cancelling ("Cancel", "Back to the app"): on a login form that
    /// leaves the login, not a refusal of consent.
    pub fn is_cancel_only(&self) -> bool {
        let w = self.words();
        w.contains("cancel")
            && !["deny", "reject", "decline", "refuse"]
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
            // The first page of a login that asks for the password next.
            "next",
            "proceed",
            "submit",
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

    /// The password inputs.
    pub fn password_inputs(&self) -> impl Iterator<Item = &Input> {
        self.inputs.iter().filter(|i| i.kind == "password")
    }

    /// The input a username or e-mail address goes in, if the form has one a person can type in.
    pub fn username_input(&self) -> Option<&Input> {
        self.inputs
            .iter()
            .find(|i| !i.readonly && i.takes_username())
    }

    /// Whether the form logs a person in: it asks for a password, or for a username (the first
    /// page of a login that asks for the password next).
    pub fn is_login(&self) -> bool {
        self.password_inputs().next().is_some() || self.username_input().is_some()
    }

    /// The name of the field an input fills.
    pub fn name_of(&self, input: &Input) -> &str {
        self.fields
            .get(input.field)
            .map(|(n, _)| n.as_str())
            .unwrap_or_default()
    }

    /// The value of a field, by name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a page offers: its forms and its visible text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageContent {
    pub forms: Vec<Form>,
    /// Text outside tags, scripts, styles and templates, whitespace collapsed.
    pub text: String,
    /// `<meta http-equiv="refresh" content="0; url=...">`: the URL, which some servers use
    /// instead of a redirect.
    pub refresh: Option<String>,
}

/// Every form of the page.
pub fn forms(html: &str) -> Vec<Form> {
    read_page(html).forms
}

/// The page's visible text, tags removed and whitespace collapsed (for judging what a consent
/// page shows).
pub fn visible_text(html: &str) -> String {
    read_page(html).text
}

/// Which form a control belongs to.
#[derive(Debug, Clone)]
enum Owner {
    /// The form it is inside (by index).
    Enclosing(usize),
    /// `form="id"`: the form with that ID, wherever it is.
    Id(String),
    /// Neither: it is submitted with no form.
    Nothing,
}

/// A control met in the page, in document order (the order a submission lists them in).
#[derive(Debug, Clone)]
enum Control {
    /// Name, value, and what a person types into it, if they do.
    Field(String, String, Option<Input>),
    Button(Button),
}

/// Input types that are not text boxes: a test account never types into them.
const NOT_TYPED: &[&str] = &[
    "hidden",
    "checkbox",
    "radio",
    "submit",
    "image",
    "button",
    "reset",
    "file",
    "color",
    "date",
    "datetime-local",
    "month",
    "week",
    "time",
    "range",
];

/// An open `<select>`: its options so far.
struct Select {
    owner: Owner,
    name: String,
    multiple: bool,
    disabled: bool,
    /// (value, selected, disabled) per option.
    options: Vec<(String, bool, bool)>,
    /// The open option: its `value` attribute (if any), text so far, `selected`, `disabled`.
    open: Option<(Option<String>, String, bool, bool)>,
}

impl Select {
    fn close_option(&mut self) {
        if let Some((value, text, selected, disabled)) = self.open.take() {
            let value = value.unwrap_or_else(|| collapse(&text));
            self.options.push((value, selected, disabled));
        }
    }

    /// The values a submission carries, by the selectedness rules of a browser: for a single
    /// select the last option marked `selected`, else the first that is not disabled.
    fn submitted(mut self) -> Vec<Control> {
        self.close_option();
        if self.disabled || self.name.is_empty() {
            return Vec::new();
        }
        let values: Vec<String> = if self.multiple {
            self.options
                .iter()
                .filter(|(_, selected, disabled)| *selected && !*disabled)
                .map(|(v, _, _)| v.clone())
                .collect()
        } else {
            let chosen = self
                .options
                .iter()
                .rev()
                .find(|(_, selected, _)| *selected)
                .or_else(|| self.options.iter().find(|(_, _, disabled)| !*disabled));
            chosen
                .filter(|(_, _, disabled)| !*disabled)
                .map(|(v, _, _)| vec![v.clone()])
                .unwrap_or_default()
        };
        values
            .into_iter()
            .map(|v| Control::Field(self.name.clone(), v, None))
            .collect()
    }
}

fn text_of(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a page in one pass of the tokenizer.
pub fn read_page(html: &str) -> PageContent {
    let mut emitter = DefaultEmitter::default();
    // Script, style, textarea and title contents are text, not markup, as in a browser.
    emitter.naively_switch_states(true);
    let mut forms: Vec<(Form, Option<String>)> = Vec::new();
    let mut controls: Vec<(Owner, Control)> = Vec::new();
    let mut current_form: Option<usize> = None;
    let mut text = String::new();
    let mut hidden_depth = 0usize; // inside <template>: inert, neither shown nor submitted
    let mut raw: Option<String> = None; // inside <script> or <style>: not shown
    let mut select: Option<Select> = None;
    let mut textarea: Option<(Owner, Input, String, bool, String)> = None;
    let mut button: Option<(Owner, Button, String)> = None;
    let mut refresh = None;
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = text_of(&tag.name);
                let attr = |n: &str| tag.attributes.get(n.as_bytes()).map(|v| text_of(&v.value));
                let has = |n: &str| tag.attributes.contains_key(n.as_bytes());
                if name == "template" {
                    hidden_depth += 1;
                    continue;
                }
                if hidden_depth > 0 {
                    continue;
                }
                text.push(' ');
                if name == "script" || name == "style" {
                    raw = Some(name);
                    continue;
                }
                let owner = || match attr("form") {
                    Some(id) => Owner::Id(id),
                    None => current_form.map_or(Owner::Nothing, Owner::Enclosing),
                };
                match name.as_str() {
                    // A form inside an open form is ignored, as the HTML parser does.
                    "form" if current_form.is_none() => {
                        forms.push((
                            Form {
                                action: attr("action").unwrap_or_default(),
                                method: attr("method")
                                    .unwrap_or_else(|| "get".into())
                                    .to_ascii_lowercase(),
                                ..Form::default()
                            },
                            attr("id"),
                        ));
                        current_form = Some(forms.len() - 1);
                    }
                    "input" => {
                        let kind = attr("type")
                            .unwrap_or_else(|| "text".into())
                            .to_ascii_lowercase();
                        let name = attr("name").unwrap_or_default();
                        let value = attr("value");
                        if has("disabled") {
                            continue;
                        }
                        let control = match kind.as_str() {
                            "submit" | "image" => Some(Control::Button(Button {
                                name,
                                label: value.clone().unwrap_or_default(),
                                value: value.unwrap_or_default(),
                            })),
                            "checkbox" | "radio" if has("checked") && !name.is_empty() => Some(
                                Control::Field(name, value.unwrap_or_else(|| "on".into()), None),
                            ),
                            "checkbox" | "radio" | "button" | "reset" | "file" => None,
                            _ if !name.is_empty() => {
                                let typed = (!NOT_TYPED.contains(&kind.as_str())).then(|| Input {
                                    field: 0,
                                    hints: hints(&name, &attr),
                                    kind: kind.clone(),
                                    readonly: has("readonly"),
                                });
                                Some(Control::Field(name, value.unwrap_or_default(), typed))
                            }
                            _ => None,
                        };
                        if let Some(c) = control {
                            controls.push((owner(), c));
                        }
                    }
                    "button" => {
                        let kind = attr("type")
                            .unwrap_or_else(|| "submit".into())
                            .to_ascii_lowercase();
                        if kind == "submit" && !has("disabled") {
                            button = Some((
                                owner(),
                                Button {
                                    name: attr("name").unwrap_or_default(),
                                    value: attr("value").unwrap_or_default(),
                                    label: String::new(),
                                },
                                String::new(),
                            ));
                        }
                    }
                    "select" => {
                        if let Some(open) = select.take() {
                            let owner = open.owner.clone();
                            controls
                                .extend(open.submitted().into_iter().map(|c| (owner.clone(), c)));
                        }
                        select = Some(Select {
                            owner: owner(),
                            name: attr("name").unwrap_or_default(),
                            multiple: has("multiple"),
                            disabled: has("disabled"),
                            options: Vec::new(),
                            open: None,
                        });
                    }
                    "option" => {
                        if let Some(s) = select.as_mut() {
                            s.close_option();
                            s.open = Some((
                                attr("value"),
                                String::new(),
                                has("selected"),
                                has("disabled"),
                            ));
                        }
                    }
                    "textarea" => {
                        let name = attr("name").unwrap_or_default();
                        textarea = Some((
                            owner(),
                            Input {
                                field: 0,
                                hints: hints(&name, &attr),
                                kind: "textarea".into(),
                                readonly: has("readonly"),
                            },
                            name,
                            has("disabled"),
                            String::new(),
                        ));
                    }
                    "meta" => {
                        let is_refresh =
                            attr("http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("refresh"));
                        if is_refresh && refresh.is_none() {
                            refresh = attr("content").and_then(|c| refresh_url(&c));
                        }
                    }
                    _ => {}
                }
            }
            Token::EndTag(tag) => {
                let name = text_of(&tag.name);
                if name == "template" {
                    hidden_depth = hidden_depth.saturating_sub(1);
                    continue;
                }
                if hidden_depth > 0 {
                    continue;
                }
                text.push(' ');
                if raw.as_deref() == Some(name.as_str()) {
                    raw = None;
                    continue;
                }
                match name.as_str() {
                    "form" => current_form = None,
                    "button" => {
                        if let Some((owner, mut b, label)) = button.take() {
                            b.label = collapse(&label);
                            controls.push((owner, Control::Button(b)));
                        }
                    }
                    "option" => {
                        if let Some(s) = select.as_mut() {
                            s.close_option();
                        }
                    }
                    "select" => {
                        if let Some(open) = select.take() {
                            let owner = open.owner.clone();
                            controls
                                .extend(open.submitted().into_iter().map(|c| (owner.clone(), c)));
                        }
                    }
                    "textarea" => {
                        if let Some((owner, input, name, disabled, value)) = textarea.take()
                            && !disabled
                            && !name.is_empty()
                        {
                            // The parser drops a newline right after <textarea>.
                            let value = value.strip_prefix('\n').unwrap_or(&value).to_string();
                            controls.push((owner, Control::Field(name, value, Some(input))));
                        }
                    }
                    _ => {}
                }
            }
            Token::String(s) => {
                if hidden_depth > 0 || raw.is_some() {
                    continue;
                }
                let chunk = text_of(&s.value);
                if let Some((_, _, _, _, value)) = textarea.as_mut() {
                    value.push_str(&chunk);
                    continue;
                }
                if let Some(Select {
                    open: Some((_, option_text, _, _)),
                    ..
                }) = select.as_mut()
                {
                    option_text.push_str(&chunk);
                }
                if let Some((_, _, label)) = button.as_mut() {
                    label.push_str(&chunk);
                }
                text.push_str(&chunk);
            }
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    // Whatever the page left open counts as closed at its end, as in a browser.
    if let Some(open) = select.take() {
        let owner = open.owner.clone();
        controls.extend(open.submitted().into_iter().map(|c| (owner.clone(), c)));
    }
    if let Some((owner, mut b, label)) = button.take() {
        b.label = collapse(&label);
        controls.push((owner, Control::Button(b)));
    }
    for (owner, control) in controls {
        let index = match owner {
            Owner::Enclosing(i) => Some(i),
            Owner::Id(id) => forms
                .iter()
                .position(|(_, fid)| fid.as_deref() == Some(id.as_str())),
            Owner::Nothing => None,
        };
        let Some((form, _)) = index.and_then(|i| forms.get_mut(i)) else {
            continue;
        };
        match control {
            Control::Field(n, v, typed) => {
                if let Some(input) = typed {
                    form.inputs.push(Input {
                        field: form.fields.len(),
                        ..input
                    });
                }
                form.fields.push((n, v));
            }
            Control::Button(b) => form.buttons.push(b),
        }
    }
    PageContent {
        forms: forms.into_iter().map(|(f, _)| f).collect(),
        text: collapse(&text),
        refresh,
    }
}

/// What a typed control says it is for: its name, id, `autocomplete`, `placeholder` and
/// `aria-label`, in lower case.
fn hints(name: &str, attr: &impl Fn(&str) -> Option<String>) -> String {
    let mut words = vec![name.to_string()];
    words.extend(
        ["id", "autocomplete", "placeholder", "aria-label"]
            .iter()
            .filter_map(|a| attr(a)),
    );
    words.join(" ").to_lowercase()
}

/// The URL of a refresh `content` value: `0; url=...` (quotes around the URL allowed).
fn refresh_url(content: &str) -> Option<String> {
    let at = content.to_ascii_lowercase().find("url=")?;
    let url = content[at + 4..].trim().trim_matches(['\'', '"']);
    (!url.is_empty()).then(|| url.to_string())
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
    fn reads_meta_refresh() {
        let page = r#"<html><head><meta http-equiv="Refresh" content="0; url=http://127.0.0.1:1/cb?code=a&amp;state=b"></head></html>"#;
        assert_eq!(
            read_page(page).refresh.as_deref(),
            Some("http://127.0.0.1:1/cb?code=a&state=b")
        );
        assert_eq!(read_page("<html></html>").refresh, None);
        // Only a real meta element counts, not one in a comment or a script.
        let hidden = r#"<!-- <meta http-equiv="refresh" content="0; url=/a"> --><script>"<meta http-equiv='refresh' content='0; url=/b'>"</script>"#;
        assert_eq!(read_page(hidden).refresh, None);
    }

    #[test]
    fn decoys_in_comments_scripts_and_templates_are_not_forms() {
        let page = r#"<!-- <form action="/decoy"><button>Allow</button></form> -->
            <script>document.write('<form action="/script"><button>Allow</button></form>')</script>
            <template><form action="/template"><button>Allow</button></form></template>
            <form action="/real" method="post"><button name="ok" value="1">Allow</button></form>"#;
        let forms = forms(page);
        assert_eq!(forms.len(), 1, "{forms:?}");
        assert_eq!(forms[0].action, "/real");
        assert!(!visible_text(page).contains("document.write"));
    }

    #[test]
    fn selects_textareas_and_form_owners() {
        let page = r#"<form id="login" action="/login" method="post">
              <select name="tenant"><option value="a">A</option><option selected>B &amp; co</option></select>
              <select name="lang"><option disabled>pick</option><option value="en">English</option></select>
              <select name="roles" multiple><option selected>read</option><option>write</option><option selected value="admin">Admin</option></select>
              <textarea name="note">
line &hellip;</textarea>
              <input name="off" value="x" disabled>
              <form action="/nested"><input name="inner" value="kept"></form>
            </form>
            <input form="login" name="outside" value="yes">
            <button form="login" name="go" value="1">Sign&nbsp;in</button>"#;
        let forms = forms(page);
        assert_eq!(
            forms.len(),
            1,
            "a nested form is ignored, as in a browser: {forms:?}"
        );
        let f = &forms[0];
        assert_eq!(
            f.fields,
            vec![
                ("tenant".to_string(), "B & co".to_string()),
                ("lang".to_string(), "en".to_string()),
                ("roles".to_string(), "read".to_string()),
                ("roles".to_string(), "admin".to_string()),
                ("note".to_string(), "line …".to_string()),
                ("inner".to_string(), "kept".to_string()),
                ("outside".to_string(), "yes".to_string()),
            ]
        );
        assert_eq!(f.buttons.len(), 1);
        // A no-break space is white space to a reader, so the label reads "Sign in".
        assert_eq!(f.buttons[0].label, "Sign in");
        assert_eq!(f.button_for(Decision::Approve).unwrap().value, "1");
    }

    #[test]
    fn inputs_a_person_types_into_are_told_from_the_others() {
        let page = r#"<form id="f" method="post">
              <input type="hidden" name="csrf" value="c">
              <input name="who" placeholder="Email or phone">
              <input type="PASSWORD" name="pw" autocomplete="current-password">
              <input type="date" name="born">
              <input type="x-unknown" name="odd">
              <input type="checkbox" name="remember" checked>
              <textarea name="note" readonly>n</textarea>
            </form>
            <input form="f" type="email" name="outside" id="Mail" aria-label="Work e-mail">"#;
        let f = &forms(page)[0];
        let typed: Vec<(&str, &str, &str, bool)> = f
            .inputs
            .iter()
            .map(|i| (f.name_of(i), i.kind.as_str(), i.hints.as_str(), i.readonly))
            .collect();
        assert_eq!(
            typed,
            vec![
                ("who", "text", "who email or phone", false),
                ("pw", "password", "pw current-password", false),
                // An unknown type is a text box, as in a browser.
                ("odd", "x-unknown", "odd", false),
                ("note", "textarea", "note", true),
                ("outside", "email", "outside mail work e-mail", false),
            ]
        );
        assert_eq!(f.password_inputs().count(), 1);
        assert_eq!(f.username_input().map(|i| f.name_of(i)), Some("who"));
        assert!(f.is_login());
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
            "<select><option>",
            "<textarea>",
            "</template></template><form>",
        ] {
            let _ = forms(page);
            let _ = visible_text(page);
        }
    }
}

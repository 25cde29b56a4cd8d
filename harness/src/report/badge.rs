//! The badge: an SVG rendered here, and the shields.io endpoint JSON for those who let shields.io
//! draw it (`https://img.shields.io/endpoint?url=...`). Both say `MCP auth: 41/44 MUST`.

use super::Report;

const LABEL: &str = "MCP auth";

/// The badge's message and colour: green when every applicable MUST passed, yellow when the only
/// shortfall is untestable checks, red when a MUST failed.
fn message_and_color(report: &Report) -> (String, &'static str, &'static str) {
    let s = &report.summary;
    let message = s.must_fraction();
    if !report.positive_control.passed {
        return ("no valid token accepted".into(), "lightgrey", "#9f9f9f");
    }
    if s.conformant {
        (message, "brightgreen", "#4c1")
    } else if s.must.failed == 0 {
        (message, "yellow", "#dfb317")
    } else {
        (message, "red", "#e05d44")
    }
}

/// The shields.io endpoint document (schema version 1).
pub fn render_shields_json(report: &Report) -> String {
    let (message, color, _) = message_and_color(report);
    let value = serde_json::json!({
        "schemaVersion": 1,
        "label": LABEL,
        "message": message,
        "color": color,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Approximate width in pixels of text in 11 px Verdana, the badge font: close enough that the
/// text never overflows its box.
fn text_width(text: &str) -> u32 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'I' | '.' | ',' | ':' | ';' | '|' | '!' | '\'' => 4,
            'f' | 'j' | 'r' | 't' | ' ' | '(' | ')' | '[' | ']' | '/' => 5,
            'm' | 'w' | 'M' | 'W' => 10,
            'A'..='Z' => 8,
            _ => 7,
        })
        .sum()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A flat badge as a self-contained SVG.
pub fn render_badge_svg(report: &Report) -> String {
    let (message, _, fill) = message_and_color(report);
    let left = text_width(LABEL) + 12;
    let right = text_width(&message) + 12;
    let total = left + right;
    let label = escape(LABEL);
    let msg = escape(&message);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {msg}">
  <title>{label}: {msg}</title>
  <linearGradient id="s" x2="0" y2="100%">
    <stop offset="0" stop-color="#bbb" stop-opacity=".1"/>
    <stop offset="1" stop-opacity=".1"/>
  </linearGradient>
  <clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>
  <g clip-path="url(#r)">
    <rect width="{left}" height="20" fill="#555"/>
    <rect x="{left}" width="{right}" height="20" fill="{fill}"/>
    <rect width="{total}" height="20" fill="url(#s)"/>
  </g>
  <g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
    <text x="{lx}" y="15" fill="#010101" fill-opacity=".3">{label}</text>
    <text x="{lx}" y="14">{label}</text>
    <text x="{rx}" y="15" fill="#010101" fill-opacity=".3">{msg}</text>
    <text x="{rx}" y="14">{msg}</text>
  </g>
</svg>
"##,
        lx = left / 2,
        rx = left + right / 2,
    )
}

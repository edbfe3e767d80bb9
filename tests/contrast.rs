//! Colour contrast of the reader-facing pages (WCAG 2.2, 1.4.3: 4.5:1 for text), in
//! both colour schemes. The colours are read from the one `<style>` block every page
//! shares (`templates/partials/head.hbs`): its custom properties for light mode and
//! their dark-mode overrides. Each text colour the CSS uses must be one of the
//! pairs below, so a colour added without a check here fails too.

use std::collections::BTreeMap;

/// (text, background) custom properties: every pair of them the pages show.
const PAIRS: &[(&str, &str)] = &[
    ("--fg", "--bg"),
    ("--accent", "--bg"),
    ("--muted", "--bg"),
    // Buttons: their text on the accent colour, and the destructive one's on its own.
    ("--on-accent", "--accent"),
    ("--on-danger", "--danger"),
];

/// What `color:` may be set to: a text colour of [`PAIRS`], or the parent's.
const TEXT: &[&str] = &[
    "var(--fg)",
    "var(--accent)",
    "var(--muted)",
    "var(--on-accent)",
    "var(--on-danger)",
    "inherit",
];

/// What `background:` may be set to: a background of [`PAIRS`].
/// `transparent` shows the page's own background (the outlined secondary button).
const BACKGROUNDS: &[&str] = &["var(--bg)", "var(--accent)", "var(--danger)", "transparent"];

fn style() -> String {
    let head = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/partials/head.hbs"),
    )
    .unwrap();
    let start = head.find("<style>").expect("a style block") + "<style>".len();
    let end = start + head[start..].find("</style>").unwrap();
    head[start..end].to_string()
}

/// Every rule as (its selector with the at-rules around it, its declarations).
fn rules(css: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut preludes: Vec<String> = Vec::new();
    let mut text = String::new();
    for c in css.chars() {
        match c {
            '{' => {
                preludes.push(text.trim().to_string());
                text.clear();
            }
            '}' => {
                let selector = preludes.join(" ");
                preludes.pop();
                let declarations: Vec<(String, String)> = text
                    .split(';')
                    .filter_map(|d| d.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                if !declarations.is_empty() {
                    out.push((selector, declarations));
                }
                text.clear();
            }
            _ => text.push(c),
        }
    }
    out
}

/// The custom properties of `:root` in the light scheme and in the dark one.
fn schemes(css: &str) -> [(&'static str, BTreeMap<String, String>); 2] {
    let mut light = BTreeMap::new();
    let mut dark = BTreeMap::new();
    for (selector, declarations) in rules(css) {
        let vars = declarations
            .into_iter()
            .filter(|(k, _)| k.starts_with("--"));
        if selector == ":root" {
            light.extend(vars);
        } else if selector == "@media (prefers-color-scheme: dark) :root" {
            dark.extend(vars);
        }
    }
    let dark = light.clone().into_iter().chain(dark).collect();
    [("light", light), ("dark", dark)]
}

/// `#rgb` or `#rrggbb` as 0–1 channels.
fn rgb(hex: &str) -> [f64; 3] {
    let hex = hex.strip_prefix('#').expect("a #hex colour");
    let channel = |s: &str| u8::from_str_radix(s, 16).unwrap() as f64 / 255.0;
    match hex.len() {
        3 => [0, 1, 2].map(|i| channel(&hex[i..i + 1].repeat(2))),
        6 => [0, 2, 4].map(|i| channel(&hex[i..i + 2])),
        _ => panic!("not a colour: #{hex}"),
    }
}

/// WCAG's relative luminance.
fn luminance(hex: &str) -> f64 {
    let [r, g, b] = rgb(hex).map(|c| {
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    });
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

fn ratio(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn the_formula_gives_known_ratios() {
    assert!((ratio("#000", "#fff") - 21.0).abs() < 1e-9);
    assert!((ratio("#777777", "#ffffff") - 4.48).abs() < 0.01);
    // The buttons before issue #19: white on the dark scheme's accent.
    assert!((ratio("#ffffff", "#f0a46b") - 2.05).abs() < 0.01);
}

#[test]
fn every_text_colour_reaches_4_5_to_1_in_both_schemes() {
    let css = style();
    for (scheme, vars) in schemes(&css) {
        for (text, background) in PAIRS {
            let (Some(fg), Some(bg)) = (vars.get(*text), vars.get(*background)) else {
                panic!("{scheme}: {text} or {background} is not set");
            };
            let contrast = ratio(fg, bg);
            assert!(
                contrast >= 4.5,
                "{scheme}: {text} {fg} on {background} {bg} is {contrast:.2}:1"
            );
        }
    }
}

#[test]
fn the_css_sets_colours_only_from_the_checked_pairs() {
    let css = style();
    let rules = rules(&css);
    assert!(rules.len() > 20, "the parser found the rules: {rules:?}");
    for (selector, declarations) in &rules {
        let get = |name: &str| {
            declarations
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(color) = get("color") {
            assert!(TEXT.contains(&color), "{selector}: color: {color}");
        }
        for name in ["background", "background-color"] {
            if let Some(background) = get(name) {
                assert!(
                    BACKGROUNDS.contains(&background),
                    "{selector}: {name}: {background}"
                );
            }
        }
        // On the accent colour, text is the colour paired with it, and that colour
        // only appears there.
        let on_accent = get("background") == Some("var(--accent)");
        assert_eq!(
            on_accent,
            get("color") == Some("var(--on-accent)"),
            "{selector}: text on the accent colour must be var(--on-accent)"
        );
    }
    // The page itself has the colours the pairs are checked on.
    let root = rules
        .iter()
        .find(|(s, d)| s == "html" && d.iter().any(|(k, _)| k == "background"))
        .expect("html sets the background");
    assert!(root.1.contains(&("background".into(), "var(--bg)".into())));
    assert!(root.1.contains(&("color".into(), "var(--fg)".into())));
}

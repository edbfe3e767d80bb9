//! Rendering emails from the templates: HTML with its CSS inlined (mail clients drop
//! `<style>` blocks), and a plain-text part with the same content.

use serde::Serialize;

use crate::store::NewContent;
use crate::templates::{TemplateError, Templates};

/// What every email says about its sender.
#[derive(Debug, Clone)]
pub struct EmailContext {
    pub site_title: String,
    pub postal_address: String,
    /// How long confirmation links work.
    pub confirm_hours: u32,
}

/// Inlines the `<style>` rules into `style` attributes; on a parser failure the HTML
/// goes out as written rather than not at all.
pub fn inline_css(html: &str) -> String {
    let inliner = css_inline::CSSInliner::options()
        .keep_style_tags(false)
        .build();
    match inliner.inline(html) {
        Ok(inlined) => inlined,
        Err(e) => {
            tracing::warn!("cannot inline the email's CSS: {e}");
            html.to_string()
        }
    }
}

#[derive(Serialize)]
struct ConfirmData<'a> {
    subject: &'a str,
    site_title: &'a str,
    greeting: &'a str,
    frequency: &'a str,
    audiences: &'a [String],
    confirm_url: &'a str,
    expires_hours: u32,
    postal_address: &'a str,
    unsubscribe_url: Option<&'a str>,
    preferences_url: Option<&'a str>,
}

/// The double opt-in email: one link, no marketing. The greeting and the link are
/// markers, so everyone who chose the same things shares one frozen content.
pub fn confirmation(
    templates: &Templates,
    ctx: &EmailContext,
    frequency: &str,
    audience_names: &[String],
) -> Result<NewContent, TemplateError> {
    let greeting = super::marker("greeting");
    let confirm_url = super::marker("confirm_url");
    let subject = format!("Confirm your subscription to {}", ctx.site_title);
    let data = ConfirmData {
        subject: &subject,
        site_title: &ctx.site_title,
        greeting: &greeting,
        frequency,
        audiences: audience_names,
        confirm_url: &confirm_url,
        expires_hours: ctx.confirm_hours,
        postal_address: &ctx.postal_address,
        unsubscribe_url: None,
        preferences_url: None,
    };
    let html = inline_css(&templates.render("confirm.html", &data)?);
    let text = templates.render("confirm.txt", &data)?;
    Ok(NewContent {
        subject,
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_has_the_link_in_both_parts() {
        let ctx = EmailContext {
            site_title: "News & Co".into(),
            postal_address: "1 Road, Town".into(),
            confirm_hours: 72,
        };
        let frozen = confirmation(
            &Templates::embedded(),
            &ctx,
            "weekly",
            &["HR teams".into(), "Developers".into(), "Finance".into()],
        )
        .unwrap();
        let vars = serde_json::json!({
            "greeting": "Hello Ada <3,",
            "confirm_url": "https://news.example.test/confirm?token=1.c.2.abc",
        });
        let vars = vars.as_object().unwrap();
        let content = NewContent {
            subject: frozen.subject.clone(),
            text: super::super::fill(&frozen.text, vars, false),
            html: super::super::fill(&frozen.html, vars, true),
        };
        assert_eq!(content.subject, "Confirm your subscription to News & Co");
        assert!(
            content
                .text
                .contains("https://news.example.test/confirm?token=1.c.2.abc")
        );
        assert!(content.text.contains("Hello Ada <3,"), "{}", content.text);
        assert!(
            content
                .text
                .contains("for HR teams, Developers and Finance."),
            "{}",
            content.text
        );
        assert!(content.text.contains("1 Road, Town"));
        assert!(
            content
                .html
                .contains("href=\"https://news.example.test/confirm?token=1.c.2.abc\"")
        );
        assert!(content.html.contains("Ada &lt;3"), "{}", content.html);
        assert!(!content.html.contains("<style"), "CSS is inlined");
        assert!(content.html.contains("style=\""), "CSS is inlined");
    }
}

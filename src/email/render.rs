//! Rendering emails from the templates: HTML with its CSS inlined (mail clients drop
//! `<style>` blocks), and a plain-text part with the same content.

use serde::Serialize;

use crate::model::{Group, NewContent};
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
    let (html, text) = templates.render_pair("confirm.html", "confirm.txt", &data)?;
    let html = inline_css(&html);
    Ok(NewContent {
        subject,
        text,
        html,
    })
}

#[derive(Serialize)]
struct More {
    count: usize,
    one: bool,
    url: String,
}

#[derive(Serialize)]
struct DigestData<'a> {
    subject: &'a str,
    site_title: &'a str,
    heading: String,
    date_label: String,
    greeting: String,
    intro: String,
    groups: &'a [Group],
    more: Option<More>,
    postal_address: &'a str,
    unsubscribe_url: String,
    preferences_url: String,
}

/// What one digest email lists.
pub struct DigestParts<'a> {
    pub name: &'a str,
    pub subject: Option<&'a str>,
    /// The day of the run on the subscriber's clock.
    pub local_date: chrono::NaiveDate,
    pub groups: &'a [Group],
    pub more: usize,
    pub site_url: &'a str,
}

/// One digest's frozen content. The greeting and the personal links are markers, so
/// every subscriber with the same articles shares it.
pub fn digest(
    templates: &Templates,
    ctx: &EmailContext,
    parts: &DigestParts<'_>,
) -> Result<NewContent, TemplateError> {
    let count: usize = parts.groups.iter().map(|g| g.articles.len()).sum::<usize>() + parts.more;
    let spoken = parts.name.replace('-', " ");
    let mut title_name = spoken.clone();
    if let Some(first) = title_name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let subject = match parts.subject {
        Some(subject) => subject.to_string(),
        None => format!(
            "{}: your {spoken} digest, {}",
            ctx.site_title,
            parts.local_date.format("%-d %B")
        ),
    };
    let data = DigestData {
        subject: &subject,
        site_title: &ctx.site_title,
        heading: format!("{title_name} digest"),
        date_label: parts.local_date.format("%A %-d %B %Y").to_string(),
        greeting: super::marker("greeting"),
        intro: if count == 1 {
            "Here is 1 new brief for you.".into()
        } else {
            format!("Here are {count} new briefs for you.")
        },
        groups: parts.groups,
        more: (parts.more > 0).then(|| More {
            count: parts.more,
            one: parts.more == 1,
            url: parts.site_url.to_string(),
        }),
        postal_address: &ctx.postal_address,
        unsubscribe_url: super::marker("unsubscribe_url"),
        preferences_url: super::marker("preferences_url"),
    };
    let (html, text) = templates.render_pair("digest.html", "digest.txt", &data)?;
    let html = inline_css(&html);
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

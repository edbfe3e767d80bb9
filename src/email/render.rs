//! Rendering emails from the templates: HTML with its CSS inlined (mail clients drop
//! `<style>` blocks), and a plain-text part with the same content. The dark-mode block
//! (`<style data-css-inline="ignore">`) is left as a block for the clients that read
//! `prefers-color-scheme`; the inlined light colours hold where they do not.
//!
//! The HTML opens with a preheader, the line a mailbox shows beside the subject: kept
//! out of sight by size and opacity (not `display: none`, which some clients show and
//! screen readers skip). The text part leaves it out: its first lines say as much.
//! The text part is frozen already wrapped as `format=flowed` (see [`super::flowed`]).

use serde::Serialize;

use crate::model::{EVERYTHING, Group, Heading, NewContent};
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
    preheader: String,
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
        preheader: format!(
            "One click confirms your {frequency} digest of {}; the link works for {} hours.",
            ctx.site_title, ctx.confirm_hours
        ),
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
    frozen(templates, "confirm", &subject, &data)
}

/// A one-link email's content: its two templates (`{name}.html`, `{name}.txt`)
/// rendered, the HTML's CSS inlined.
fn frozen(
    templates: &Templates,
    name: &str,
    subject: &str,
    data: &impl Serialize,
) -> Result<NewContent, TemplateError> {
    let (html, text) =
        templates.render_pair(&format!("{name}.html"), &format!("{name}.txt"), data)?;
    Ok(NewContent {
        subject: subject.to_string(),
        text: super::flowed::encode(&text),
        html: inline_css(&html),
    })
}

#[derive(Serialize)]
struct LinkData<'a> {
    subject: &'a str,
    preheader: String,
    site_title: &'a str,
    greeting: &'a str,
    preferences_url: &'a str,
    postal_address: &'a str,
    unsubscribe_url: Option<&'a str>,
}

/// The email someone asks for from the preferences page when they have lost theirs:
/// one fresh link to their preferences. The greeting and the link are markers, so
/// every such email shares one frozen content.
pub fn preferences_link(
    templates: &Templates,
    ctx: &EmailContext,
) -> Result<NewContent, TemplateError> {
    let greeting = super::marker("greeting");
    let preferences_url = super::marker("preferences_url");
    let subject = format!("Your link to your {} preferences", ctx.site_title);
    let data = LinkData {
        subject: &subject,
        preheader: format!(
            "A fresh link to your {} preferences, as you asked.",
            ctx.site_title
        ),
        site_title: &ctx.site_title,
        greeting: &greeting,
        preferences_url: &preferences_url,
        postal_address: &ctx.postal_address,
        unsubscribe_url: None,
    };
    frozen(templates, "preferences_link", &subject, &data)
}

#[derive(Serialize)]
struct Link {
    name: String,
    url: String,
}

/// The new articles an email does not list, and where on the site they are.
#[derive(Serialize)]
struct Rest {
    count: usize,
    one: bool,
    links: Vec<Link>,
}

#[derive(Serialize)]
struct DigestData<'a> {
    subject: &'a str,
    preheader: String,
    site_title: &'a str,
    heading: String,
    date_label: String,
    greeting: String,
    count_line: String,
    groups: &'a [Group],
    rest: Option<Rest>,
    /// The edition's page in the public archive ("View in browser"); none when the
    /// digest is not archived.
    archive_url: Option<&'a str>,
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
    /// New articles beyond the digest's limit, and the audiences they are under.
    pub more: usize,
    pub more_in: &'a [Heading],
    /// The site's base URL, ending in `/`.
    pub site_url: &'a str,
    /// The absolute URL of this edition in the public archive, the same for every
    /// reader of it; none when the digest is not archived.
    pub archive_url: Option<&'a str>,
}

fn briefs(n: usize) -> &'static str {
    if n == 1 { "brief" } else { "briefs" }
}

/// "A", "A and B", "A, B and C".
fn spoken_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What the email holds: "5 new briefs", or "20 of 35 new briefs; the rest are on the
/// site" when the digest's limit left some out.
fn count_line(listed: usize, more: usize) -> String {
    if more == 0 {
        format!("{listed} new {}", briefs(listed))
    } else {
        let total = listed + more;
        format!(
            "{listed} of {total} new {}; the rest are on the site",
            briefs(total)
        )
    }
}

/// The line a mailbox shows beside the subject: the count, the audiences, and the
/// first title.
fn preheader(count: &str, groups: &[Group]) -> String {
    let names: Vec<&str> = groups
        .iter()
        .filter(|g| g.slug != EVERYTHING)
        .map(|g| g.name.as_str())
        .collect();
    let mut line = count.split(';').next().unwrap_or(count).to_string();
    if !names.is_empty() {
        line.push_str(" for ");
        line.push_str(&spoken_list(&names));
    }
    if let Some(first) = groups.iter().flat_map(|g| &g.articles).next() {
        line.push_str(": ");
        line.push_str(&first.title);
    }
    line
}

/// Where the articles of an audience are on the site: its page, or the home page for
/// those that match no audience.
fn audience_link(site_url: &str, heading: &Heading) -> Link {
    if heading.slug == EVERYTHING {
        Link {
            name: "everything else".into(),
            url: site_url.to_string(),
        }
    } else {
        Link {
            name: heading.name.clone(),
            url: format!(
                "{}/audiences/{}/",
                site_url.trim_end_matches('/'),
                heading.slug
            ),
        }
    }
}

/// One digest's frozen content. The greeting and the personal links are markers, so
/// every subscriber with the same articles shares it.
pub fn digest(
    templates: &Templates,
    ctx: &EmailContext,
    parts: &DigestParts<'_>,
) -> Result<NewContent, TemplateError> {
    let listed: usize = parts.groups.iter().map(|g| g.articles.len()).sum();
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
    let count = count_line(listed, parts.more);
    let rest = (parts.more > 0).then(|| {
        let mut links: Vec<Link> = parts
            .more_in
            .iter()
            .map(|h| audience_link(parts.site_url, h))
            .collect();
        if links.is_empty() {
            links.push(Link {
                name: "the latest briefs".into(),
                url: parts.site_url.to_string(),
            });
        }
        Rest {
            count: parts.more,
            one: parts.more == 1,
            links,
        }
    });
    let data = DigestData {
        subject: &subject,
        preheader: preheader(&count, parts.groups),
        site_title: &ctx.site_title,
        heading: format!("{title_name} digest"),
        date_label: parts.local_date.format("%A %-d %B %Y").to_string(),
        greeting: super::marker("greeting"),
        count_line: count,
        groups: parts.groups,
        rest,
        archive_url: parts.archive_url,
        postal_address: &ctx.postal_address,
        unsubscribe_url: super::marker("unsubscribe_url"),
        preferences_url: super::marker("preferences_url"),
    };
    let (html, text) = templates.render_pair("digest.html", "digest.txt", &data)?;
    let html = inline_css(&html);
    Ok(NewContent {
        subject,
        text: super::flowed::encode(&text),
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferences_link_email_has_the_link_in_both_parts() {
        let ctx = EmailContext {
            site_title: "News & Co".into(),
            postal_address: "1 Road, Town".into(),
            confirm_hours: 72,
        };
        let frozen = preferences_link(&Templates::embedded(), &ctx).unwrap();
        let marker = crate::email::marker("preferences_url");
        assert!(frozen.text.contains(&marker), "{}", frozen.text);
        assert!(frozen.html.contains(&marker), "{}", frozen.html);
        assert!(frozen.subject.contains("News & Co"));
        assert!(frozen.html.contains("News &amp; Co"));
    }

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
        assert_eq!(
            content.html.matches("<style").count(),
            1,
            "only the dark-mode block is kept"
        );
        assert!(content.html.contains("<style data-css-inline=\"keep\">"));
        assert!(content.html.contains("@media (prefers-color-scheme: dark)"));
        assert!(
            !content.html.contains("body { margin"),
            "the light rules are inlined"
        );
        assert!(content.html.contains("style=\""), "CSS is inlined");
        assert!(
            !content.html.contains("style=\"background: #1c1a18"),
            "dark colours stay in the block"
        );
        assert!(content.html.contains(
            ">One click confirms your weekly digest of News &amp; Co; the link works for 72 hours."
        ));
    }

    #[test]
    fn the_count_says_what_the_email_holds() {
        assert_eq!(count_line(1, 0), "1 new brief");
        assert_eq!(count_line(5, 0), "5 new briefs");
        assert_eq!(
            count_line(20, 15),
            "20 of 35 new briefs; the rest are on the site"
        );
        assert_eq!(
            count_line(1, 1),
            "1 of 2 new briefs; the rest are on the site"
        );
    }

    #[test]
    fn audience_pages_and_the_home_page_for_the_rest() {
        let heading = |slug: &str, name: &str| Heading {
            slug: slug.into(),
            name: name.into(),
        };
        let link = audience_link("https://x.test/news/", &heading("hr", "HR teams"));
        assert_eq!(
            (link.name.as_str(), link.url.as_str()),
            ("HR teams", "https://x.test/news/audiences/hr/")
        );
        let link = audience_link("https://x.test/news/", &heading(EVERYTHING, "More"));
        assert_eq!(
            (link.name.as_str(), link.url.as_str()),
            ("everything else", "https://x.test/news/")
        );
        assert_eq!(spoken_list(&["A"]), "A");
        assert_eq!(spoken_list(&["A", "B", "C"]), "A, B and C");
    }
}

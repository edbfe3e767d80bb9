#!/usr/bin/env python3
"""Turns a generated crier corpus into a minimal, theme-less Hugo site.

    python3 benches/scripts/hugo_site.py CORPUS_DIR SITE_DIR [--limit 50]

CORPUS_DIR is what ../shared/corpus/gen_articles.py wrote (articles/, expected.jsonl).
SITE_DIR gets hugo.toml, layouts/_default/{baseof,single,list}.html and one
content/<slug>.md per article, with TOML front matter:

    title       the article's title
    date        its publication date
    tags        its audiences (the slugs crier derived, from expected.jsonl)
    categories  its category

and, as the body, the brief's text after the title line in Markdown: the section
headings become `##` headings, bullets stay bullets, every other line is a paragraph.
`<` is written as `&lt;` so that Hugo prints the text rather than dropping it as raw
HTML. Markdown articles (`.md`, front matter then body) keep their body as is.

Every list page (home, taxonomies, terms) shows its newest `limit` pages and has an
RSS feed of `limit` items, as crier's feeds have `[feeds] limit` entries.
"""

import argparse
import json
import os
import shutil
import sys

HEADINGS = {
    "what's actually new",
    "if you want more",
    "worth knowing",
    "who should care",
    "what to do about it",
    "honest take",
    "sources",
}

HUGO_TOML = """baseURL = "https://news.example.test/"
title = "crier bench"
languageCode = "en"
disableKinds = ["sitemap", "robotsTXT", "404"]
rssLimit = {limit}
enableRobotsTXT = false

[taxonomies]
tag = "tags"
category = "categories"

[outputs]
home = ["HTML", "RSS"]
section = ["HTML", "RSS"]
taxonomy = ["HTML", "RSS"]
term = ["HTML", "RSS"]
"""

BASEOF = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ .Title }} · {{ .Site.Title }}</title>
{{ range .AlternativeOutputFormats -}}
<link rel="{{ .Rel }}" type="{{ .MediaType.Type }}" href="{{ .Permalink }}">
{{ end -}}
</head>
<body>
<header><a href="{{ .Site.BaseURL }}">{{ .Site.Title }}</a></header>
<main>
{{ block "main" . }}{{ end }}
</main>
</body>
</html>
"""

SINGLE = """{{ define "main" }}
<article>
<h1>{{ .Title }}</h1>
<p class="meta"><time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "2006-01-02" }}</time>
{{ range .Params.categories }} · {{ . }}{{ end }}</p>
<p class="tags">{{ range .Params.tags }}<span>{{ . }}</span>{{ end }}</p>
{{ .Content }}
</article>
{{ end }}
"""

LIST = """{{ define "main" }}
<h1>{{ .Title }}</h1>
<ul>
{{ range first {limit} .Pages }}
<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> {{ .Date.Format "2006-01-02" }}</li>
{{ end }}
</ul>
{{ end }}
"""


def toml_string(s):
    # JSON string escapes are valid in TOML basic strings.
    return json.dumps(s, ensure_ascii=False)


def brief_body(text):
    blocks = []  # each a list of lines; bullets in a row share one block
    for line in text.split("\n")[2:]:  # after the header and title lines
        line = line.strip().replace("<", "&lt;")
        if not line:
            continue
        if line.rstrip(":").lower().replace("\u2019", "'") in HEADINGS:
            blocks.append([f"## {line}"])
        elif line.startswith("- ") and blocks and blocks[-1][0].startswith("- "):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return "\n\n".join("\n".join(b) for b in blocks) + "\n"


def markdown_body(text):
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4 :].lstrip("\n")
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("site")
    ap.add_argument("--limit", type=int, default=50)
    args = ap.parse_args()

    articles = os.path.join(args.corpus, "articles")
    expected = os.path.join(args.corpus, "expected.jsonl")
    if not os.path.isfile(expected):
        sys.exit(f"{expected} is missing")
    if os.path.exists(args.site):
        shutil.rmtree(args.site)
    content = os.path.join(args.site, "content")
    layouts = os.path.join(args.site, "layouts", "_default")
    os.makedirs(content)
    os.makedirs(layouts)
    with open(os.path.join(args.site, "hugo.toml"), "w") as f:
        f.write(HUGO_TOML.format(limit=args.limit))
    with open(os.path.join(layouts, "baseof.html"), "w") as f:
        f.write(BASEOF)
    with open(os.path.join(layouts, "single.html"), "w") as f:
        f.write(SINGLE)
    with open(os.path.join(layouts, "list.html"), "w") as f:
        f.write(LIST.replace("{limit}", str(args.limit)))

    count = 0
    with open(expected, encoding="utf-8") as meta_lines:
        for line in meta_lines:
            meta = json.loads(line)
            name = meta["file"]
            with open(os.path.join(articles, name), encoding="utf-8") as f:
                text = f.read()
            body = markdown_body(text) if name.endswith(".md") else brief_body(text)
            stem = os.path.splitext(os.path.basename(name))[0]
            front = [
                "+++",
                f"title = {toml_string(meta['title'])}",
                f"date = {meta['published']}",
                "tags = [" + ", ".join(toml_string(a) for a in meta["audiences"]) + "]",
                f"categories = [{toml_string(meta['category'])}]",
                "+++",
                "",
            ]
            with open(os.path.join(content, stem + ".md"), "w", encoding="utf-8") as f:
                f.write("\n".join(front) + body)
            count += 1
    print(f"{count} articles written to {content}")


if __name__ == "__main__":
    main()

//! A tiny extractor for the `<pre>` blocks of the MediaWiki documentation page.
//!
//! The page is machine-generated MediaWiki HTML in which `<pre>` never nests, so a
//! scanner is enough and simpler to audit than a full HTML parser: it walks the document
//! once, skipping comments, `<script>` and `<style>`, remembers the text of the latest
//! `<h2>`/`<h3>`/`<h4>` headline, and for every `<pre>` takes its text content as spec
//! §0.2 defines it: tags removed (an auto-link `<a …>URL</a>` becomes `URL`), entities
//! decoded (`&nbsp;` becomes U+00A0), nothing else changed.

/// One `<pre>` element of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreBlock {
    /// 0-based position among the page's `<pre>` elements, in document order.
    pub index: usize,
    /// Text of the nearest preceding `<h2>`/`<h3>`/`<h4>` (whitespace collapsed), or "".
    pub heading: String,
    /// The element's text content.
    pub text: String,
}

/// Extracts every `<pre>` block of `html`, in document order.
///
/// Fails when a `<pre>` or a heading is not closed.
pub fn extract_pre_blocks(html: &str) -> Result<Vec<PreBlock>, String> {
    let lower = html.to_ascii_lowercase();
    let mut blocks = Vec::new();
    let mut heading = String::new();
    let mut pos = 0;
    while let Some(offset) = lower[pos..].find('<') {
        let at = pos + offset;
        let rest = &lower[at..];
        if rest.starts_with("<!--") {
            pos = skip_past(&lower, at, "-->");
        } else if let Some(name) = ["script", "style"]
            .into_iter()
            .find(|name| is_open_tag(rest, name))
        {
            pos = skip_past(&lower, at, &format!("</{name}"));
        } else if let Some(level) = ["h2", "h3", "h4"]
            .into_iter()
            .find(|name| is_open_tag(rest, name))
        {
            let (inner, next) = element_content(html, &lower, at, level)?;
            heading = collapse_whitespace(&text_content(inner));
            pos = next;
        } else if is_open_tag(rest, "pre") {
            let (inner, next) = element_content(html, &lower, at, "pre")?;
            let mut text = text_content(inner);
            // HTML drops one newline directly after `<pre>` (it is not content).
            if text.starts_with('\n') {
                text.remove(0);
            }
            blocks.push(PreBlock {
                index: blocks.len(),
                heading: heading.clone(),
                text,
            });
            pos = next;
        } else {
            pos = at + 1;
        }
    }
    Ok(blocks)
}

/// True when `rest` starts with the opening tag `<name` (followed by `>`, `/` or space).
fn is_open_tag(rest: &str, name: &str) -> bool {
    rest.strip_prefix('<')
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c == '>' || c == '/' || c.is_ascii_whitespace())
}

/// Position just past the first `needle` at or after `from` (or the end of input).
fn skip_past(lower: &str, from: usize, needle: &str) -> usize {
    lower[from..]
        .find(needle)
        .map_or(lower.len(), |i| from + i + needle.len())
}

/// Content between the end of the opening tag at `at` and the matching `</name>`, and the
/// position after the closing tag.
fn element_content<'a>(
    html: &'a str,
    lower: &str,
    at: usize,
    name: &str,
) -> Result<(&'a str, usize), String> {
    let start = tag_end(lower, at).ok_or_else(|| format!("unterminated <{name}> tag"))?;
    let close = format!("</{name}");
    let end = lower[start..]
        .find(&close)
        .map(|i| start + i)
        .ok_or_else(|| format!("<{name}> at byte {at} is never closed"))?;
    let after = tag_end(lower, end).unwrap_or(lower.len());
    Ok((&html[start..end], after))
}

/// Position just past the `>` that ends the tag starting at `at`, honouring quoted
/// attribute values.
fn tag_end(s: &str, at: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s[at..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(at + i + 1),
            (None, _) => {}
        }
    }
    None
}

/// Removes tags and decodes entities.
pub fn text_content(fragment: &str) -> String {
    let mut stripped = String::with_capacity(fragment.len());
    let mut pos = 0;
    while let Some(offset) = fragment[pos..].find('<') {
        let at = pos + offset;
        stripped.push_str(&fragment[pos..at]);
        pos = if fragment[at..].starts_with("<!--") {
            skip_past(fragment, at, "-->")
        } else {
            tag_end(fragment, at).unwrap_or(fragment.len())
        };
    }
    stripped.push_str(&fragment[pos..]);
    decode_entities(&stripped)
}

/// Decodes `&nbsp;` (to U+00A0), `&lt;`, `&gt;`, `&amp;`, `&quot;`, `&apos;` and numeric
/// references (`&#NN;`, `&#xHH;`). Anything else is left as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest
            .find(';')
            .filter(|&semi| semi <= 12)
            .and_then(|semi| decode_entity(&rest[1..semi]).map(|c| (c, semi + 1)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
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

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "nbsp" => Some('\u{a0}'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

fn collapse_whitespace(s: &str) -> String {
    s.split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_pre_text_with_heading() {
        let html = "<h2>Intro</h2><pre>a</pre>\
            <h3> <span class=\"mw-headline\" id=\"x\"><b>QR&amp;code</b></span></h3>\
            <p>x</p><pre>http: POST\n<a href=\"https://h/p?x=1\" class=\"external free\">https://h/p?x=1</a>\n</pre>";
        let blocks = extract_pre_blocks(html).expect("well formed");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].heading, "Intro");
        assert_eq!(blocks[0].text, "a");
        assert_eq!(blocks[1].index, 1);
        assert_eq!(blocks[1].heading, "QR&code");
        assert_eq!(blocks[1].text, "http: POST\nhttps://h/p?x=1\n");
    }

    #[test]
    fn decodes_entities_and_keeps_unknown_ones() {
        assert_eq!(
            decode_entities("\"k\"&nbsp;: &lt;x&gt; &amp;amp; &#65;&#x42; &quot; &bogus; & x"),
            "\"k\"\u{a0}: <x> &amp; AB \" &bogus; & x"
        );
    }

    #[test]
    fn ignores_pre_inside_comments_and_scripts() {
        let html = "<!-- <pre>no</pre> --><script>var s='<pre>no</pre>';</script>\
            <PRE class=\"x\">yes</PRE><preface>no</preface>";
        let blocks = extract_pre_blocks(html).expect("well formed");
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].text, "yes");
    }

    #[test]
    fn leading_newline_after_pre_is_not_content() {
        let blocks = extract_pre_blocks("<pre>\n{}\n</pre>").expect("well formed");
        assert_eq!(blocks[0].text, "{}\n");
    }

    #[test]
    fn unclosed_pre_is_an_error() {
        assert!(extract_pre_blocks("<pre>{").is_err());
    }

    #[test]
    fn tag_with_gt_in_quoted_attribute() {
        assert_eq!(text_content("<a title=\"a>b\">x</a>"), "x");
    }
}

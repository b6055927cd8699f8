//! Turns the page into fixture files (in memory), and writes or checks them.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::blocks::{BLOCKS, BlockSpec, Role};
use crate::html::{PreBlock, extract_pre_blocks};
use crate::json::{self, Json};
use crate::repair::{TEXT_RULES, VALUE_RULES, repair_json};
use crate::xml::check_well_formed;

/// Name of the manifest inside the fixture directory.
pub const MANIFEST: &str = "manifest.json";

/// The generated files: name inside `tests/fixtures/` → content.
pub type Files = BTreeMap<String, String>;

/// How a block was classified from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Xml,
    Skip,
}

impl Kind {
    fn of(text: &str) -> Kind {
        let t = text.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            Kind::Json
        } else if t.starts_with('<') {
            Kind::Xml
        } else {
            Kind::Skip
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Json => "json",
            Kind::Xml => "xml",
            Kind::Skip => "skip",
        }
    }
}

/// Generates every fixture and the manifest from the page's HTML.
pub fn generate(html: &str) -> Result<Files, String> {
    let blocks = extract_pre_blocks(html)?;
    if blocks.len() != BLOCKS.len() {
        return Err(format!(
            "the page has {} <pre> blocks, the block table (xtask/src/blocks.rs) expects {}",
            blocks.len(),
            BLOCKS.len()
        ));
    }
    let mut files = Files::new();
    let mut entries = Vec::new();
    for (block, spec) in blocks.iter().zip(BLOCKS.iter()) {
        let entry = process(block, spec, &mut files)
            .map_err(|e| format!("<pre> block {}: {e}", block.index))?;
        entries.push(entry);
    }
    files.insert(MANIFEST.to_owned(), json::to_pretty(&manifest(entries)));
    Ok(files)
}

fn process(block: &PreBlock, spec: &BlockSpec, files: &mut Files) -> Result<Json, String> {
    let kind = Kind::of(&block.text);
    let expected = match (spec.role, spec.fixture) {
        (Role::RequestLine, _) | (_, None) => Kind::Skip,
        (_, Some(name)) if name.ends_with(".xml") => Kind::Xml,
        _ => Kind::Json,
    };
    if kind != expected {
        return Err(format!(
            "the table says {} but the content looks like {}",
            expected.as_str(),
            kind.as_str()
        ));
    }
    let mut repairs: Vec<&str> = Vec::new();
    let mut notes: Vec<String> = spec.notes.iter().map(|&n| n.to_owned()).collect();
    let mut outcome = Vec::new();
    match (kind, spec.fixture) {
        (Kind::Skip, _) => {
            let (method, url) = request_line(&block.text)?;
            if url_path(url) != spec.endpoint {
                return Err(format!(
                    "request line names {url}, the table says {}",
                    spec.endpoint
                ));
            }
            if url.starts_with("http://") {
                notes.push("The page writes `http://`; the SDK uses HTTPS (spec §2.1).".to_owned());
            }
            outcome.push((
                "skip_reason",
                Json::str(format!(
                    "HTTP request line (`{method} {url}`), not a payload"
                )),
            ));
        }
        (Kind::Json, Some(name)) => {
            let (value, applied) = repair_json(&block.text).map_err(|e| {
                format!(
                    "still invalid JSON after repairs {:?}: {}",
                    e.applied, e.error
                )
            })?;
            let text = json::to_pretty(&value);
            // Belt and braces: what we write must be valid for serde_json too.
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| format!("generated JSON rejected by serde_json: {e}"))?;
            repairs = applied;
            files.insert(name.to_owned(), text);
            outcome.push(("fixture", Json::str(name)));
        }
        (Kind::Xml, Some(name)) => {
            check_well_formed(&block.text).map_err(|e| format!("XML is not well formed: {e}"))?;
            files.insert(name.to_owned(), block.text.clone());
            outcome.push(("fixture", Json::str(name)));
        }
        (_, None) => return Err("payload without a fixture name".to_owned()),
    }
    let mut members = vec![
        (
            "index",
            Json::int(i64::try_from(block.index).unwrap_or(i64::MAX)),
        ),
        ("heading", Json::str(block.heading.clone())),
        ("kind", Json::str(kind.as_str())),
        ("role", Json::str(spec.role.as_str())),
        ("endpoint", Json::str(spec.endpoint)),
    ];
    members.extend(outcome);
    members.push(("repairs", Json::strings(repairs)));
    members.push(("notes", Json::strings(notes)));
    Ok(Json::object(members))
}

/// Splits `http请求方式: POST\nURL\n` into the method and the URL.
fn request_line(text: &str) -> Result<(&str, &str), String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let method = first
        .rsplit([':', '：', ' '])
        .next()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()))
        .ok_or_else(|| format!("not a request line: {first:?}"))?;
    let url = lines
        .next()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .ok_or_else(|| "request line without a URL".to_owned())?;
    if lines.next().is_some() {
        return Err("unexpected text after the request line".to_owned());
    }
    Ok((method, url))
}

/// The path of an absolute URL, without query.
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

fn manifest(blocks: Vec<Json>) -> Json {
    let rules = TEXT_RULES
        .iter()
        .map(|r| (r.name, "text", r.description))
        .chain(VALUE_RULES.iter().map(|r| (r.name, "value", r.description)))
        .map(|(name, stage, description)| {
            Json::object([
                ("name", Json::str(name)),
                ("stage", Json::str(stage)),
                ("description", Json::str(description)),
            ])
        })
        .collect();
    Json::object([
        (
            "generated",
            Json::str(
                "GENERATED by `cargo xtask fixtures` from ../shared/seeds/card-distribution.html. \
                 Do not edit by hand: change xtask/src and re-run. `cargo xtask fixtures --check` \
                 verifies that the committed files are fresh.",
            ),
        ),
        (
            "format",
            Json::str(
                "JSON fixtures are the repaired examples re-printed in serde_json's pretty layout, \
                 keys in source order, with a final newline (the page's insignificant whitespace is \
                 not kept). The XML fixture is the block's text unchanged. Semantic defects are \
                 notes, not repairs.",
            ),
        ),
        (
            "pre_blocks",
            Json::int(i64::try_from(blocks.len()).unwrap_or(i64::MAX)),
        ),
        ("rules", Json::Array(rules)),
        ("blocks", Json::Array(blocks)),
    ])
}

/// Writes `files` into `dir` (created if needed) and deletes files there that are not
/// generated any more. Returns the names written or removed.
pub fn write(dir: &Path, files: &Files) -> Result<Vec<String>, String> {
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut changed = Vec::new();
    for (name, content) in files {
        let path = dir.join(name);
        if fs::read(&path).ok().as_deref() != Some(content.as_bytes()) {
            fs::write(&path, content).map_err(|e| format!("write {}: {e}", path.display()))?;
            changed.push(format!("wrote {name}"));
        }
    }
    for name in existing_files(dir)? {
        if !files.contains_key(&name) {
            let path = dir.join(&name);
            fs::remove_file(&path).map_err(|e| format!("remove {}: {e}", path.display()))?;
            changed.push(format!("removed {name}"));
        }
    }
    Ok(changed)
}

/// Compares `files` with what is in `dir`; returns one line per file that is missing,
/// differs, or is extra.
pub fn check(dir: &Path, files: &Files) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for (name, content) in files {
        let path = dir.join(name);
        match fs::read(&path) {
            Ok(bytes) if bytes == content.as_bytes() => {}
            Ok(_) => problems.push(format!(
                "{} differs from the generated content",
                path.display()
            )),
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    for name in existing_files(dir)? {
        if !files.contains_key(&name) {
            problems.push(format!(
                "{} is not generated (extra file)",
                dir.join(name).display()
            ));
        }
    }
    Ok(problems)
}

fn existing_files(dir: &Path) -> Result<Vec<String>, String> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("read {}: {e}", dir.display())),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("read {}: {e}", dir.display()))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_parts() {
        assert_eq!(
            request_line(
                "http请求方式: POST\nhttps://api.weixin.qq.com/card/qrcode/create?access_token=TOKEN\n"
            ),
            Ok((
                "POST",
                "https://api.weixin.qq.com/card/qrcode/create?access_token=TOKEN"
            ))
        );
        assert!(request_line("just text\n").is_err());
        assert_eq!(
            url_path("http://api.weixin.qq.com/card/code/deposit?access_token=A"),
            "/card/code/deposit"
        );
    }

    #[test]
    fn classification() {
        assert_eq!(Kind::of(" {\n}"), Kind::Json);
        assert_eq!(Kind::of("<xml></xml>"), Kind::Xml);
        assert_eq!(Kind::of("http请求方式: POST"), Kind::Skip);
    }

    #[test]
    fn wrong_block_count_is_an_error() {
        let err = generate("<pre>{}</pre>").expect_err("one block only");
        assert!(err.contains("expects 24"), "{err}");
    }

    #[test]
    fn check_names_missing_differing_and_extra_files() {
        let dir = std::env::temp_dir().join(format!("xtask-check-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut files = Files::new();
        files.insert("a.json".into(), "{}\n".into());
        files.insert("b.json".into(), "[]\n".into());
        assert_eq!(write(&dir, &files).expect("writable").len(), 2);
        assert!(check(&dir, &files).expect("readable").is_empty());
        assert!(
            write(&dir, &files).expect("writable").is_empty(),
            "second write changes nothing"
        );

        fs::write(dir.join("a.json"), "{ }\n").expect("writable");
        fs::remove_file(dir.join("b.json")).expect("exists");
        fs::write(dir.join("c.json"), "1\n").expect("writable");
        let problems = check(&dir, &files).expect("readable");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("a.json") && problems[0].contains("differs"));
        assert!(problems[1].contains("b.json") && problems[1].contains("missing"));
        assert!(problems[2].contains("c.json") && problems[2].contains("extra"));

        let changed = write(&dir, &files).expect("writable");
        assert_eq!(changed, ["wrote a.json", "wrote b.json", "removed c.json"]);
        let _ = fs::remove_dir_all(&dir);
    }
}

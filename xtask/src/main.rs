//! Workspace tasks. `cargo xtask fixtures [--check] [--doc PATH]` turns the documented
//! examples of the card-distribution page into test fixtures under `tests/fixtures/`.

mod blocks;
mod generate;
mod html;
mod json;
mod repair;
mod xml;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask fixtures [--check] [--doc PATH]

  fixtures          regenerate tests/fixtures/ from the documentation page
  --check           regenerate in memory and fail if a committed file differs
  --doc PATH        the page (default: ../shared/seeds/card-distribution.html,
                    relative to the workspace root)";

/// The workspace root (xtask's parent directory).
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The page's default location.
fn default_doc() -> PathBuf {
    workspace_root().join("../shared/seeds/card-distribution.html")
}

/// Where the fixtures live.
fn fixtures_dir() -> PathBuf {
    workspace_root().join("tests/fixtures")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((task, rest)) = args.split_first() else {
        return Err(format!("no task given\n{USAGE}"));
    };
    match task.as_str() {
        "fixtures" => {}
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return Ok(());
        }
        other => return Err(format!("unknown task `{other}`\n{USAGE}")),
    }
    let mut check = false;
    let mut doc = default_doc();
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--doc" => {
                doc = rest
                    .next()
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("--doc needs a path\n{USAGE}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let html = std::fs::read_to_string(&doc).map_err(|e| format!("read {}: {e}", doc.display()))?;
    let files = generate::generate(&html)?;
    let dir = fixtures_dir();
    if check {
        let problems = generate::check(&dir, &files)?;
        if !problems.is_empty() {
            return Err(format!(
                "fixtures are stale (run `cargo xtask fixtures`):\n  {}",
                problems.join("\n  ")
            ));
        }
        println!(
            "fixtures are fresh: {} files in {}",
            files.len(),
            dir.display()
        );
    } else {
        let changed = generate::write(&dir, &files)?;
        for line in &changed {
            println!("{line}");
        }
        println!(
            "{} files in {} ({} changed)",
            files.len(),
            dir.display(),
            changed.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page, when it is present next to the workspace.
    fn page() -> Option<String> {
        let path = default_doc();
        match std::fs::read_to_string(&path) {
            Ok(html) => Some(html),
            Err(_) => {
                println!("note: {} not present; test skipped", path.display());
                None
            }
        }
    }

    #[test]
    fn committed_fixtures_are_fresh() {
        let Some(html) = page() else { return };
        let files = generate::generate(&html).expect("the page generates");
        let problems = generate::check(&fixtures_dir(), &files).expect("fixture dir readable");
        assert!(
            problems.is_empty(),
            "run `cargo xtask fixtures`: {problems:#?}"
        );
    }

    #[test]
    fn generation_is_deterministic() {
        let Some(html) = page() else { return };
        let first = generate::generate(&html).expect("the page generates");
        let second = generate::generate(&html).expect("the page generates");
        assert_eq!(first, second);
    }

    #[test]
    fn every_block_is_in_the_manifest_with_a_fixture_or_a_skip_reason() {
        let Some(html) = page() else { return };
        let files = generate::generate(&html).expect("the page generates");
        let manifest: serde_json::Value =
            serde_json::from_str(&files[generate::MANIFEST]).expect("manifest is JSON");
        let blocks = manifest["blocks"].as_array().expect("blocks array");
        assert_eq!(blocks.len(), 24);
        for (i, block) in blocks.iter().enumerate() {
            assert_eq!(block["index"], i);
            assert!(block["heading"].as_str().is_some_and(|h| !h.is_empty()));
            match block["fixture"].as_str() {
                Some(name) => assert!(files.contains_key(name), "{name}"),
                None => assert!(block["skip_reason"].as_str().is_some(), "block {i}"),
            }
        }
        assert!(
            manifest["generated"]
                .as_str()
                .is_some_and(|s| s.contains("cargo xtask fixtures"))
        );
    }

    #[test]
    fn repairs_match_the_spec_defect_lists() {
        let Some(html) = page() else { return };
        let files = generate::generate(&html).expect("the page generates");
        let manifest: serde_json::Value =
            serde_json::from_str(&files[generate::MANIFEST]).expect("manifest is JSON");
        let repairs = |i: usize| -> Vec<&str> {
            manifest["blocks"][i]["repairs"]
                .as_array()
                .expect("repairs array")
                .iter()
                .filter_map(|r| r.as_str())
                .collect()
        };
        assert_eq!(repairs(1), ["nbsp_outside_strings"]);
        assert_eq!(repairs(3), ["line_comment", "url_spaces"]);
        assert_eq!(repairs(5), ["url_spaces"]);
        assert_eq!(repairs(11), ["nbsp_outside_strings", "id_spaces"]);
        assert_eq!(repairs(12), ["fullwidth_comma"]);
        assert_eq!(repairs(15), ["missing_comma"]);
        assert_eq!(
            repairs(19),
            [
                "nbsp_outside_strings",
                "fullwidth_comma",
                "number_as_string"
            ]
        );
        for valid in [2, 6, 8, 9, 14, 17, 18, 20, 22, 23] {
            assert!(
                repairs(valid).is_empty(),
                "block {valid}: {:?}",
                repairs(valid)
            );
        }
    }

    /// Parses the spec's `<!-- seed-pre:N -->` markers and the fenced block after each.
    fn spec_blocks(spec: &str) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let mut rest = spec;
        // Markers start a line; the prose also mentions `<!-- seed-pre:N -->` inline.
        while let Some(at) = rest.find("\n<!-- seed-pre:") {
            rest = &rest[at + "\n<!-- seed-pre:".len()..];
            let end = rest.find(" -->").expect("marker closes");
            let index: usize = rest[..end].parse().expect("marker index");
            rest = &rest[end..];
            let fence = rest.find("\n```").expect("fence follows marker");
            rest = &rest[fence + 1..];
            let body_start = rest.find('\n').expect("fence line ends") + 1;
            rest = &rest[body_start..];
            let close = rest.find("\n```").expect("fence closes") + 1;
            out.push((index, rest[..close].to_owned()));
            rest = &rest[close..];
        }
        out
    }

    #[test]
    fn extraction_matches_the_spec_byte_for_byte() {
        let Some(html) = page() else { return };
        let spec_path = workspace_root().join("../shared/spec/card-distribution.md");
        let Ok(spec) = std::fs::read_to_string(&spec_path) else {
            println!("note: {} not present; test skipped", spec_path.display());
            return;
        };
        let blocks = html::extract_pre_blocks(&html).expect("the page extracts");
        let expected = spec_blocks(&spec);
        assert_eq!(expected.len(), 24, "the spec quotes all 24 blocks");
        for (index, text) in expected {
            assert_eq!(blocks[index].text, text, "seed-pre:{index}");
        }
    }

    #[test]
    fn headings_come_from_the_page() {
        let Some(html) = page() else { return };
        let blocks = html::extract_pre_blocks(&html).expect("the page extracts");
        assert_eq!(blocks[0].heading, "创建二维码接口");
        assert_eq!(blocks[8].heading, "导入code接口");
        assert_eq!(blocks[19].heading, "投放渠道数据统计");
        assert_eq!(blocks[23].heading, "设置测试白名单");
    }

    #[test]
    fn damaged_input_fails_cleanly() {
        let Some(html) = page() else { return };
        // Truncated pages: an error (or fewer blocks), never a panic.
        for cut in (0..html.len())
            .step_by(211)
            .filter(|&i| html.is_char_boundary(i))
        {
            let _ = generate::generate(&html[..cut]);
        }
        // Every prefix of every block through the repair pipeline: Ok or Err, no panic.
        for block in html::extract_pre_blocks(&html).expect("the page extracts") {
            let text = &block.text;
            for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                let _ = repair::repair_json(&text[..cut]);
                let _ = xml::check_well_formed(&text[..cut]);
            }
        }
    }

    #[test]
    fn cli_rejects_unknown_arguments() {
        assert!(run(&[]).is_err());
        assert!(run(&["nope".into()]).is_err());
        assert!(run(&["fixtures".into(), "--bogus".into()]).is_err());
        assert!(run(&["fixtures".into(), "--doc".into()]).is_err());
        let missing = run(&[
            "fixtures".into(),
            "--check".into(),
            "--doc".into(),
            "/nonexistent/page.html".into(),
        ]);
        assert!(missing.is_err_and(|e| e.contains("/nonexistent/page.html")));
    }
}

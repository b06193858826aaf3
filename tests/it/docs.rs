//! The repository stands on its own: its comments and pages cite only
//! documents inside it, the tests `docs/security.md` names exist, and the
//! links between the pages resolve.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Folders whose files must not cite documents outside the repository.
const FOLDERS: &[&str] = &[
    "src",
    "tests",
    "templates",
    "migrations",
    "examples",
    "benches",
    "scripts",
    "docs",
    ".ci",
    "conformance",
];
/// Single files checked as well.
const FILES: &[&str] = &[
    "README.md",
    "Cargo.toml",
    "clippy.toml",
    "build.rs",
    "kagi.example.toml",
];
/// Folders never read: build output, installed packages, the benchmark peer's run data.
const SKIPPED: &[&str] = &["target", "node_modules", ".peer", ".venv"];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIPPED.contains(&name.as_str()) {
                files_under(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

fn checked_files() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut files = Vec::new();
    for folder in FOLDERS {
        files_under(&root.join(folder), &mut files);
    }
    files.extend(FILES.iter().map(|f| root.join(f)));
    files.sort();
    files
}

/// Why `line` points outside the repository, if it does.
fn outside_reference(line: &str) -> Option<&'static str> {
    // Spelled in pieces so this file does not match itself.
    let shared = concat!("..", "/shared");
    let fixed: &[(&str, &'static str)] = &[
        (concat!("PROD", "UCT"), "the product specification"),
        (shared, "the shared folder"),
        (concat!("crate-", "stack"), "the notes on the crate stack"),
        (concat!("STYLE", ".md"), "the style guide"),
        (
            concat!("conformance-", "checklist"),
            "the conformance checklist",
        ),
        (concat!("seed ", "step"), "the seed guide"),
        (concat!("seed ", "rule"), "the seed guide"),
        (concat!("seed ", "guide"), "the seed guide"),
        (concat!("seed ", "\""), "the seed guide"),
        (concat!("seed", "'s"), "the seed guide"),
    ];
    if let Some((_, what)) = fixed.iter().find(|(text, _)| line.contains(text)) {
        return Some(what);
    }
    // "requirement 17", "requirements 2, 3": the numbered list outside the
    // repository (docs/security.md numbers them R1 to R38).
    let word = concat!("require", "ment");
    let mut rest = line;
    while let Some(at) = rest.find(word) {
        let after = rest[at + word.len()..].trim_start_matches('s');
        if after
            .strip_prefix(' ')
            .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_digit()))
        {
            return Some("the numbered security requirements");
        }
        rest = &rest[at + word.len()..];
    }
    None
}

#[test]
fn no_file_cites_a_document_outside_the_repository() {
    let this = Path::new(ROOT).join(file!());
    let mut found = Vec::new();
    for path in checked_files() {
        if path.ends_with("tests/it/docs.rs") || path == this {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(what) = outside_reference(line) {
                let shown = path.strip_prefix(ROOT).unwrap_or(&path).display();
                found.push(format!("{shown}:{}: cites {what}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "cite docs/ or an RFC instead (docs/product.md, docs/security.md#rN, docs/architecture.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_outside_reference_check_catches_each_form() {
    let word = concat!("PROD", "UCT");
    for line in [
        format!("// Re-authenticate ({word} §2)"),
        format!("/// ({} {} 17)", "security", concat!("require", "ment")),
        format!("//! ({}s 2, 3 and 9)", concat!("require", "ment")),
        format!("// ({} 3)", concat!("seed ", "step")),
        format!("# see {}/STYLE", concat!("..", "/shared")),
        format!("# ({}.md §4.2)", concat!("crate-", "stack")),
    ] {
        assert!(outside_reference(&line).is_some(), "{line}");
    }
    for line in [
        "/// The TOTP seed, sealed with the data key.",
        "/// (`docs/security.md#r17`, RFC 6238 §5.2)",
        "OpenID Connect Unmet Authentication Requirements 1.0",
        "the 38 security requirements, each with its tests",
    ] {
        assert!(outside_reference(line).is_none(), "{line}");
    }
}

/// `it::a::b::name` or `lib::a::b::tests::name` → (the file, the test name).
fn test_location(cited: &str) -> Option<(Vec<PathBuf>, String)> {
    let mut parts: Vec<&str> = cited.split("::").collect();
    let name = parts.pop()?.to_owned();
    let binary = parts.remove(0);
    parts.retain(|p| *p != "tests");
    let root = Path::new(ROOT);
    let base = match binary {
        "it" => root.join("tests/it"),
        "lib" => root.join("src"),
        _ => return None,
    };
    let joined = parts.join("/");
    let candidates = if parts.is_empty() {
        vec![base.join("lib.rs")]
    } else {
        vec![
            base.join(format!("{joined}.rs")),
            base.join(format!("{joined}/mod.rs")),
            // A module's unit tests in a file of their own (`mod tests;`).
            base.join(format!("{joined}/tests.rs")),
        ]
    };
    Some((candidates, name))
}

/// Every `it::…` or `lib::…` path in backticks on a page.
fn cited_tests(page: &str) -> Vec<String> {
    page.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            (s.starts_with("it::") || s.starts_with("lib::"))
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_test_the_security_page_cites_exists() {
    let page = std::fs::read_to_string(Path::new(ROOT).join("docs/security.md")).unwrap();
    let cited = cited_tests(&page);
    assert!(cited.len() > 100, "only {} tests cited", cited.len());
    let mut missing = Vec::new();
    for test in &cited {
        let (files, name) = test_location(test).unwrap();
        let found = files.iter().any(|f| {
            std::fs::read_to_string(f).is_ok_and(|text| text.contains(&format!("fn {name}(")))
        });
        if !found {
            missing.push(format!("{test} (looked in {files:?})"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/security.md cites tests that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_requirement_has_its_anchor_and_its_tests_or_a_stated_gap() {
    let page = std::fs::read_to_string(Path::new(ROOT).join("docs/security.md")).unwrap();
    for n in 1..=38 {
        let anchor = format!("<a id=\"r{n}\"></a>");
        let start = page
            .find(&anchor)
            .unwrap_or_else(|| panic!("no anchor r{n}"));
        let rest = &page[start + anchor.len()..];
        let section = &rest[..rest.find("<a id=\"r").unwrap_or(rest.len())];
        assert!(section.contains(&format!("### R{n}. ")), "R{n} heading");
        assert!(section.contains("*Source:*"), "R{n} names its source");
        assert!(
            section.contains("*Proved by:*") || section.contains("*Gap:*"),
            "R{n} names its tests or its gap"
        );
    }
}

/// The anchors a page offers: `<a id="…">` and its headings' GitHub slugs.
fn anchors(page: &str) -> Vec<String> {
    let mut out: Vec<String> = page
        .split("<a id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect();
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix('#') {
            let text = heading.trim_start_matches('#').trim();
            let slug: String = text
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            out.push(slug);
        }
    }
    out
}

/// Relative links of a Markdown page: `](target)`.
fn links(page: &str) -> Vec<String> {
    page.split("](")
        .skip(1)
        .filter_map(|s| s.split(')').next())
        .filter(|t| !t.contains("://") && !t.starts_with("mailto:"))
        .map(str::to_owned)
        .collect()
}

fn check_target(from: &Path, target: &str, problems: &mut Vec<String>) {
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let path = if file.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().unwrap().join(file)
    };
    let shown = from
        .strip_prefix(ROOT)
        .unwrap_or(from)
        .display()
        .to_string();
    if !path.exists() {
        problems.push(format!("{shown}: {target}: no such file"));
        return;
    }
    if !anchor.is_empty() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if !anchors(&text).iter().any(|a| a == anchor) {
            problems.push(format!("{shown}: {target}: no such anchor"));
        }
    }
}

#[test]
fn links_between_the_pages_and_from_the_code_resolve() {
    let root = Path::new(ROOT);
    let mut problems = Vec::new();
    let mut pages = vec![
        root.join("README.md"),
        root.join("examples/README.md"),
        root.join("benches/README.md"),
    ];
    files_under(&root.join("docs"), &mut pages);
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for target in links(&text) {
            check_target(page, &target, &mut problems);
        }
    }
    // Comments cite `docs/<page>.md#<anchor>`: the page and the anchor must exist.
    for path in checked_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if path.ends_with("tests/it/docs.rs") {
            continue;
        }
        for cite in text.split("docs/").skip(1) {
            let end = cite
                .find(|c: char| !(c.is_ascii_alphanumeric() || "._-#".contains(c)))
                .unwrap_or(cite.len());
            let target = cite[..end].trim_end_matches('.');
            if target.contains(".md") && !path.starts_with(root.join("docs")) {
                check_target(
                    &root.join("README.md"),
                    &format!("docs/{target}"),
                    &mut problems,
                );
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_readme_stays_short() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines; move detail into docs/"
    );
}

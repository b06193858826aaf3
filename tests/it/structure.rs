//! Dependencies point down (`docs/architecture.md#layers`): the modules of
//! `src/` import each other without cycles, and the layer rules that keep
//! frameworks at the edges hold.
//!
//! The check reads the source text rather than asking the compiler: every
//! `crate::…` and `super::…` path outside `#[cfg(test)] mod tests` counts as
//! an import (unit tests may reach anything to build their fixtures), and so
//! does a bare `module::…` path in `lib.rs`, where the top-level modules are
//! in scope. Comments are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path: `["http", "pages", "login"]`; the crate root is empty.
type ModPath = Vec<String>;

/// One source file: its module path, and its code without comments and unit tests.
struct SourceFile {
    module: ModPath,
    code: String,
}

/// The crate under test; `CARGO_MANIFEST_DIR` may point the check at another
/// checkout of the same crate (to see it fail on an older commit).
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code without `//` comments and without the trailing unit-test module.
fn code_of(text: &str) -> String {
    let text = text
        .find("#[cfg(test)]\nmod tests")
        .map_or(text, |at| &text[..at]);
    text.lines()
        .map(|line| match line.find("//") {
            // `"https://…"` is code, not a comment.
            Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The library's files (`main.rs` is the binary, which may use anything).
fn library(src: &Path) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let mut files = Vec::new();
    for path in paths {
        let relative = path.strip_prefix(src).unwrap().with_extension("");
        let mut module: ModPath = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if module == ["main"] {
            continue;
        }
        // `mod.rs` and `lib.rs` are the module of their folder.
        if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
            module.pop();
        }
        let code = code_of(&std::fs::read_to_string(&path).unwrap());
        files.push(SourceFile { module, code });
    }
    files
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The names a `use` group `{a::b, c::{d, e}, f}` starts with, one level deep:
/// `a::b`, `c::d`, `c::e`, `f`. `text` starts just after the `{`.
fn group_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in text.chars() {
        match c {
            '{' => {
                depth += 1;
                item.push(c);
            }
            '}' if depth == 0 => break,
            '}' => {
                depth -= 1;
                item.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut item)),
            _ => item.push(c),
        }
    }
    out.push(item);
    out.into_iter()
        .flat_map(|item| {
            let item = item.trim().to_owned();
            match item.find("::{") {
                Some(at) => {
                    let head: Vec<String> = path_segments(&item[..at]);
                    group_paths(&item[at + 3..])
                        .into_iter()
                        .map(|tail| head.iter().cloned().chain(tail).collect())
                        .collect::<Vec<_>>()
                }
                None => vec![path_segments(&item)],
            }
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// `a::b::C as D` → `["a", "b", "C"]`.
fn path_segments(text: &str) -> Vec<String> {
    text.split(" as ")
        .next()
        .unwrap_or_default()
        .split("::")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.chars().all(is_ident))
        .collect()
}

/// Every path that starts with `keyword::` in `code`, without the keyword;
/// a group `keyword::{a, b}` gives one path per member.
fn paths_after(code: &str, keyword: &str) -> Vec<Vec<String>> {
    let needle = format!("{keyword}::");
    let mut out = Vec::new();
    for (at, _) in code.match_indices(&needle) {
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        // `a::crate::…` is not a crate path; the inner `super` of
        // `super::super::…` was read with the first.
        if code[..at].ends_with("::") {
            continue;
        }
        let rest = &code[at + needle.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            out.extend(group_paths(group));
        } else {
            let end = rest
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(rest.len());
            out.push(path_segments(&rest[..end]));
        }
    }
    out
}

/// The modules each file refers to, as absolute paths (possibly reaching into items).
fn references(file: &SourceFile, top_level: &BTreeSet<String>) -> Vec<ModPath> {
    let mut out = paths_after(&file.code, "crate");
    // `super::` from `a/b.rs` and from `a/b/mod.rs` alike is `a`.
    for path in paths_after(&file.code, "super") {
        let mut base = file.module.clone();
        base.pop();
        let mut rest = path.as_slice();
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        out.push(base.into_iter().chain(rest.iter().cloned()).collect());
    }
    // In `lib.rs` the top-level modules are in scope by their bare names.
    if file.module.is_empty() {
        for name in top_level {
            out.extend(paths_after(&file.code, name).into_iter().map(|tail| {
                std::iter::once(name.clone())
                    .chain(tail)
                    .collect::<ModPath>()
            }));
        }
    }
    out
}

/// A directed graph over module names, with one file that made each edge.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

/// The graph of top-level modules (`crate` is `lib.rs`), and the graph of
/// files, where a module's use of its own submodules (a route table, a
/// re-export) does not count: that is a parent assembling its parts.
fn graphs(src: &Path) -> (Graph, Graph) {
    let files = library(src);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let top_level: BTreeSet<String> = modules
        .iter()
        .filter(|m| m.len() == 1)
        .map(|m| m[0].clone())
        .collect();
    let mut top = Graph::new();
    let mut by_file = Graph::new();
    for file in &files {
        let from_top = file
            .module
            .first()
            .cloned()
            .unwrap_or_else(|| "crate".into());
        for path in references(file, &top_level) {
            let to_top = match path.first() {
                Some(first) if top_level.contains(first) => first.clone(),
                _ => "crate".to_owned(),
            };
            if to_top != from_top {
                top.entry(from_top.clone())
                    .or_default()
                    .entry(to_top)
                    .or_insert_with(|| name(&file.module));
            }
            // The longest prefix of the path that is a module with a file.
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p))
                .unwrap_or_default();
            if target != file.module && !target.starts_with(&file.module) {
                by_file
                    .entry(name(&file.module))
                    .or_default()
                    .entry(name(&target))
                    .or_insert_with(|| name(&file.module));
            }
        }
    }
    (top, by_file)
}

/// One cycle of `graph`, as the modules along it, if there is any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

/// `a → b (in file x) → a (in file y)`.
fn describe(cycle: &[String], graph: &Graph) -> String {
    let mut out = cycle[0].clone();
    for pair in cycle.windows(2) {
        let file = &graph[&pair[0]][&pair[1]];
        out.push_str(&format!(" → {} (in {file})", pair[1]));
    }
    out
}

fn assert_acyclic(graph: &Graph, what: &str) {
    if let Some(cycle) = find_cycle(graph) {
        panic!(
            "{what} import each other: {}. Move the shared item down to a module both may use (docs/architecture.md#layers).",
            describe(&cycle, graph)
        );
    }
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let (top, _) = graphs(&crate_dir().join("src"));
    assert!(
        top.contains_key("http") && top.contains_key("crate"),
        "{top:?}"
    );
    assert_acyclic(&top, "top-level modules");
}

#[test]
fn source_files_import_each_other_without_cycles() {
    let (_, by_file) = graphs(&crate_dir().join("src"));
    assert_acyclic(&by_file, "source files");
}

#[test]
fn lower_layers_never_import_the_layers_above_them() {
    let (top, _) = graphs(&crate_dir().join("src"));
    let rules: &[(&[&str], &[&str])] = &[
        (
            &[
                "store", "audit", "model", "error", "config", "clock", "paths",
            ],
            &["authn", "oidc", "http", "state", "cli", "crate"],
        ),
        (
            &["crypto", "mail", "templates", "metrics", "outbound"],
            &["authn", "oidc", "http", "state", "cli", "crate"],
        ),
        (&["state"], &["authn", "oidc", "http", "cli", "crate"]),
        (&["authn", "oidc"], &["http", "cli", "crate", "startup"]),
        (&["http"], &["cli", "crate"]),
    ];
    let mut broken = Vec::new();
    for (lower, above) in rules {
        for module in *lower {
            for target in top.get(*module).into_iter().flat_map(BTreeMap::keys) {
                if above.contains(&target.as_str()) {
                    broken.push(format!("{module} → {target} (in {})", top[*module][target]));
                }
            }
        }
    }
    assert!(broken.is_empty(), "imports that point up: {broken:#?}");
}

#[test]
fn frameworks_stay_at_the_edges() {
    let src = crate_dir().join("src");
    let files = library(&src);
    // (crate, the only top-level modules that may name it)
    let rules: &[(&str, &[&str])] = &[
        ("axum", &["http"]),
        ("axum_extra", &["http"]),
        ("axum_server", &["http"]),
        ("sqlx", &["store"]),
        ("clap", &["cli"]),
    ];
    let mut broken = Vec::new();
    for file in &files {
        let top = file.module.first().map_or("crate", String::as_str);
        for (framework, allowed) in rules {
            if !allowed.contains(&top) && !paths_after(&file.code, framework).is_empty() {
                broken.push(format!("{framework} in {}", name(&file.module)));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "frameworks outside their layer: {broken:#?}"
    );
}

#[test]
fn the_check_finds_a_cycle_through_a_use_group_and_super() {
    let dir = std::env::temp_dir().join(format!("kagi-structure-{}", std::process::id()));
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod http;\npub mod state;\n");
    write("state.rs", "use crate::{clock, http::metrics::Metrics};\n");
    write("http/mod.rs", "pub mod metrics;\npub mod pages;\n");
    write(
        "http/metrics.rs",
        "// crate::nothing\nuse crate::state::AppState;\n",
    );
    write("http/pages.rs", "use super::extract::Browser;\n");
    write(
        "http/extract.rs",
        "fn f() { super::pages::with_cookie() }\n",
    );
    let (top, by_file) = graphs(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        find_cycle(&top),
        Some(vec!["http".into(), "state".into(), "http".into()])
    );
    let cycle = find_cycle(&by_file).unwrap();
    assert!(
        cycle.contains(&"http::extract".to_owned()) && cycle.contains(&"http::pages".to_owned()),
        "{cycle:?}"
    );
}

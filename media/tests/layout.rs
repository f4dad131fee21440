//! The media crate's files form no import loop: every `crate::` or `super::` path a file names,
//! and every child module it declares, leads to modules that never name the file back. Each kind then stays in
//! its own folder, and the graph knows no kind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `graph/element.rs` → `graph::element`; `endpoints/webrtc/mod.rs` → `endpoints::webrtc`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// Module paths a file names: `crate::a::b::Item` and `super::x::Item`, resolved to the longest
/// known module.
fn imports(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // Comments aside, and the file's unit tests, whose `super::` is the file itself.
    let code: String = text
        .lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for (prefix, base) in [("crate::", String::new()), ("super::", parent(module))] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let path: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            loop {
                let candidate = join(&base, &segments.join("::"));
                if modules.contains(&candidate) {
                    // The crate root only declares and re-exports; any other module counts,
                    // the parent that `super::Item` names included.
                    if !candidate.is_empty() && candidate != module {
                        out.insert(candidate);
                    }
                    break;
                }
                if segments.pop().is_none() {
                    break;
                }
            }
            rest = &after[path.len()..];
        }
    }
    // A module that declares a child reaches everything the child re-exports through it.
    for line in code.lines() {
        let line = line.trim();
        let decl = line
            .strip_prefix("pub(crate) mod ")
            .or_else(|| line.strip_prefix("pub mod "))
            .or_else(|| line.strip_prefix("mod "));
        if let Some(child) = decl.and_then(|d| d.strip_suffix(';')) {
            let child = join(module, child);
            if modules.contains(&child) {
                out.insert(child);
            }
        }
    }
    out
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map_or(String::new(), |(p, _)| p.to_string())
}

fn join(base: &str, path: &str) -> String {
    if path.is_empty() {
        base.to_string()
    } else if base.is_empty() {
        path.to_string()
    } else {
        format!("{base}::{path}")
    }
}

#[test]
fn no_file_of_the_media_crate_imports_itself_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let graph: BTreeMap<String, BTreeSet<String>> = files
        .iter()
        .map(|f| {
            let m = module_of(&src, f);
            let text = std::fs::read_to_string(f).unwrap();
            let deps = imports(&m, &text, &modules);
            (m, deps)
        })
        .collect();
    assert!(graph.contains_key("graph::element") && graph.contains_key("endpoints::webrtc"));

    // Depth-first search for a path back to the start.
    fn find_loop(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flatten() {
            if *next == path[0] {
                let mut found = path.clone();
                found.push(next.clone());
                return Some(found);
            }
            if !path.contains(next) {
                path.push(next.clone());
                if let Some(found) = find_loop(graph, path) {
                    return Some(found);
                }
                path.pop();
            }
        }
        None
    }
    for start in graph.keys().filter(|m| !m.is_empty()) {
        if let Some(cycle) = find_loop(&graph, &mut vec![start.clone()]) {
            panic!("import loop: {}", cycle.join(" -> "));
        }
    }
}

//! The daemon's source files import one way: the graph of `crate::…` / `super::…` paths
//! between the files of `src/` has no cycle, and no file names a module of a higher layer
//! (the layers of the architecture Addendum, listed in `src/lib.rs`). Test modules
//! (`#[cfg(test)] mod tests`, kept at the end of each file) are left out: they may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of a module path (its first segment decides).
fn layer(module: &str) -> Option<u8> {
    let top = module.split("::").next().unwrap_or("");
    Some(match top {
        "motion" | "civil_time" | "firmware" | "multipart" | "systemd" | "ir_auto" | "selftest"
        | "log_limit" | "heartbeat" => 0,
        "settings" | "local_time" | "store" | "state" | "listener" => 1,
        "media" | "streams" | "alarm" | "recorder" | "ir" | "ptz" | "accounts" | "net" => 2,
        "cgi" => 3,
        "http" | "web" | "rtsp" | "onvif" => 4,
        "daemon" | "supervisor" => 5,
        _ => return None,
    })
}

/// `src/a/b.rs` -> `a::b`, `src/a/mod.rs` -> `a`, `src/lib.rs` -> ``.
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

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("main.rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments, string contents and its test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '\'' => {
                // A char literal ('x', '\n', '"') is skipped; a lifetime is kept.
                let ahead: Vec<char> = chars.clone().take(3).collect();
                if ahead.first() == Some(&'\\') {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                } else if ahead.get(1) == Some(&'\'') {
                    chars.next();
                    chars.next();
                } else {
                    out.push(c);
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path the code names from `crate::` or `super::`, with `use` groups expanded, made
/// absolute (segments after `crate`).
fn named_paths(module: &str, code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` statements, groups expanded.
    for statement in code.split(';') {
        let trimmed = statement.trim_start();
        let body = trimmed
            .strip_prefix("pub use ")
            .or_else(|| trimmed.strip_prefix("pub(crate) use "))
            .or_else(|| trimmed.strip_prefix("use "));
        if let Some(body) = body {
            let flat: String = body.split_whitespace().collect::<Vec<_>>().join("");
            for path in expand(&flat) {
                out.push(path);
            }
        }
    }
    // Inline paths such as `crate::media::MOTION_QUEUE`.
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0
            || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        if starts_word && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let mut j = i;
            while j < bytes.len()
                && (bytes[j].is_alphanumeric() || bytes[j] == '_' || bytes[j] == ':')
            {
                j += 1;
            }
            let path: String = bytes[i..j].iter().collect();
            out.push(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
            i = j;
        } else {
            i += 1;
        }
    }
    out.into_iter()
        .filter_map(|path| absolute(module, &path))
        .collect()
}

/// `a::{b, c::{d}}` -> `a::b`, `a::c::d`.
fn expand(flat: &str) -> Vec<Vec<String>> {
    match flat.find('{') {
        None => vec![
            flat.split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ],
        Some(open) => {
            let prefix = &flat[..open];
            let inner = &flat[open + 1..flat.rfind('}').unwrap_or(flat.len())];
            let mut parts = Vec::new();
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(&inner[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            parts.push(&inner[start..]);
            parts
                .into_iter()
                .filter(|p| !p.is_empty())
                .flat_map(|p| expand(&format!("{prefix}{p}")))
                .collect()
        }
    }
}

fn absolute(module: &str, path: &[String]) -> Option<Vec<String>> {
    let mut here: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut segments = path.iter().peekable();
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
            here.clear();
        }
        Some("super") => {
            while segments.peek().is_some_and(|s| *s == "super") {
                segments.next();
                here.pop()?;
            }
        }
        _ => return None,
    }
    here.extend(segments.filter(|s| *s != "self").cloned());
    Some(here)
}

#[test]
fn test_imports_between_source_files_have_no_cycle_and_never_run_up() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        for path in named_paths(module, &code(&text)) {
            // The longest prefix of the path that is a file's module.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains_key(m));
            let Some(target) = target else { continue };
            if &target == module || target.is_empty() {
                continue;
            }
            if let (Some(from), Some(to)) = (layer(module), layer(&target)) {
                if to > from {
                    upward.push(format!("{module} (L{from}) -> {target} (L{to})"));
                }
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    assert!(
        upward.is_empty(),
        "imports running up the layers:\n{}",
        upward.join("\n")
    );
    assert!(
        edges
            .get("cgi::commands::config")
            .is_some_and(|e| e.contains("settings")),
        "the parser sees the imports"
    );
    // Depth-first search for a cycle.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for module in modules.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(module, &edges, &mut state, &mut stack) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn test_use_groups_expand_and_super_resolves() {
    let paths = expand("super::super::{error::{CgiError,CgiResult},command::Request}");
    assert_eq!(paths.len(), 3);
    assert_eq!(
        absolute("cgi::commands::config", &paths[2]).unwrap(),
        ["cgi", "command", "Request"]
    );
    let code = code(
        "use crate::a::B; // crate::c::D\nlet q = '\"'; let x = \"crate::e\"; crate::f::g(); fn h<'a>() {}",
    );
    let named = named_paths("x", &code);
    assert!(named.contains(&vec!["a".into(), "B".into()]));
    assert!(named.contains(&vec!["f".into(), "g".into()]));
    assert!(!named.iter().any(|p| p[0] == "c" || p[0] == "e"));
}

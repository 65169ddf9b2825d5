//! No module imports its caller: within each crate of the workspace, the graph of "module X
//! uses an item defined in module Y" has no cycle.
//!
//! A circle (`mnist` calls the parsers, the parsers return `mnist`'s types) means neither file
//! can be read, tested or moved alone; the fix is a leaf module both sides use. This test reads
//! every crate's `src/` as text — the files form the modules (`a.rs` and `a/mod.rs` are `a`,
//! `a/b.rs` is `a::b`) — and collects the paths each module names: `crate::…`, `super::…`,
//! `self::…`, and paths through its own child modules, `use` trees with braces included.
//! Comments, string literals and `#[cfg(test)]` modules are left out (a test module may use its
//! parent freely).
//!
//! A path resolves to the deepest module it names. When that module only re-exports the item
//! (`pub use mnist::Mnist;` in `lib.rs`), the edge goes to where the item is defined, so a
//! crate root (or a `mod.rs`) that re-exports its modules' items is not a caller of them: a
//! re-export is how a module is seen from outside, not something it uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module's path inside its crate: `[]` for the root, `["mnist", "pickle"]`, …
type ModulePath = Vec<String>;

/// A module's source with comments, strings and test modules removed.
struct Module {
    code: String,
}

#[test]
fn no_crate_has_an_import_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut report = Vec::new();
    for member in workspace_members(root) {
        let modules = modules_of(&root.join(&member).join("src"));
        assert!(!modules.is_empty(), "{member}: no modules found");
        let graph = graph(&modules);
        if let Some(cycle) = find_cycle(&graph) {
            let names: Vec<_> = cycle.iter().map(display).collect();
            report.push(format!("{member}: {}", names.join(" → ")));
        }
    }
    assert!(report.is_empty(), "import circles:\n{}", report.join("\n"));
}

#[test]
fn the_checker_finds_a_circle_and_sees_through_re_exports() {
    let module = |file: &str, code: &str| {
        let mut modules = BTreeMap::new();
        add_module(&mut modules, module_path(Path::new(file)), strip(code));
        modules
    };
    // `mnist` calls the parser, the parser returns `mnist`'s type: a circle.
    let circle: BTreeMap<_, _> = [
        module("lib.rs", "pub mod mnist; pub use mnist::Mnist;"),
        module(
            "mnist/mod.rs",
            "mod pickle; pub struct Mnist; fn load() { pickle::parse() }",
        ),
        module(
            "mnist/pickle.rs",
            "use super::Mnist; pub fn parse() -> Mnist { todo!() }",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let cycle = find_cycle(&graph(&circle)).expect("a circle");
    assert!(cycle.contains(&vec!["mnist".to_string()]));
    assert!(cycle.contains(&vec!["mnist".to_string(), "pickle".to_string()]));

    // The type in a leaf both use: no circle, even though the parser names it through the
    // crate root's re-export and the root re-exports from both.
    let leaf: BTreeMap<_, _> = [
        module(
            "lib.rs",
            "pub mod mnist; pub use mnist::{Mnist, dataset::Split};",
        ),
        module(
            "mnist/mod.rs",
            "mod dataset; mod pickle; pub use dataset::Mnist; fn load() { pickle::parse() }",
        ),
        module("mnist/dataset.rs", "pub struct Mnist; pub struct Split;"),
        module(
            "mnist/pickle.rs",
            "use crate::{Mnist, mnist::dataset::Split}; // use super::load\n\
             /* crate::mnist::load */ fn parse() -> Mnist { \"super::load\"; todo!() }",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let leaf_graph = graph(&leaf);
    assert_eq!(find_cycle(&leaf_graph), None, "{leaf_graph:?}");
    let pickle = vec!["mnist".to_string(), "pickle".to_string()];
    let dataset = vec!["mnist".to_string(), "dataset".to_string()];
    assert_eq!(leaf_graph[&pickle], BTreeSet::from([dataset]));

    // `super` inside an inline module is the file's module, not the file's parent.
    let inline: BTreeMap<_, _> = [
        module("lib.rs", "pub mod streaming;"),
        module(
            "streaming.rs",
            "mod portable { pub fn f() {} } mod avx2 { use super::portable; } fn g() { avx2::h() }",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let inline_graph = graph(&inline);
    let streaming = vec!["streaming".to_string()];
    let avx2 = vec!["streaming".to_string(), "avx2".to_string()];
    let portable = vec!["streaming".to_string(), "portable".to_string()];
    assert_eq!(inline_graph[&avx2], BTreeSet::from([portable]));
    assert_eq!(inline_graph[&streaming], BTreeSet::from([avx2]));
    assert_eq!(find_cycle(&inline_graph), None);
}

/// The workspace's members, from the root `Cargo.toml`'s `members = [...]`.
fn workspace_members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let start = manifest.find("members").expect("a members list");
    let list = &manifest[start..];
    let list = &list[list.find('[').unwrap() + 1..list.find(']').unwrap()];
    list.split(',')
        .map(|entry| entry.split('#').next().unwrap().trim().trim_matches('"'))
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every `.rs` file under `src`, keyed by its module path (binaries' and libraries' roots both
/// map to `[]`; a crate here has one or the other).
fn modules_of(src: &Path) -> BTreeMap<ModulePath, Module> {
    let mut modules = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap();
                let code = strip(&std::fs::read_to_string(&path).unwrap());
                add_module(&mut modules, module_path(relative), code);
            }
        }
    }
    modules
}

/// Adds a module, and each inline `mod name { … }` in it as a module of its own.
fn add_module(modules: &mut BTreeMap<ModulePath, Module>, path: ModulePath, mut code: String) {
    let mut search_from = 0;
    while let Some(found) = code[search_from..].find("mod ") {
        let at = search_from + found;
        search_from = at + 4;
        if is_ident_char(code[..at].chars().next_back()) {
            continue; // `cmod `, not the keyword
        }
        let after = &code[at + 4..];
        let name: String = after
            .trim_start()
            .chars()
            .take_while(|&c| c.is_alphanumeric() || c == '_')
            .collect();
        let rest = after.trim_start()[name.len()..].trim_start();
        if name.is_empty() || !rest.starts_with('{') {
            continue; // `mod name;`: a file of its own
        }
        let open = at + code[at..].find('{').unwrap();
        let mut depth = 0;
        let mut close = code.len();
        for (offset, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + offset;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = code[open + 1..close.min(code.len())].to_string();
        code.replace_range(at..(close + 1).min(code.len()), "");
        search_from = at;
        let mut inner = path.clone();
        inner.push(name);
        add_module(modules, inner, body);
    }
    modules.insert(path, Module { code });
}

/// `lib.rs` → `[]`, `a.rs` → `[a]`, `a/mod.rs` → `[a]`, `a/b.rs` → `[a, b]`.
fn module_path(relative: &Path) -> ModulePath {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn display(module: &ModulePath) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// Removes comments, string and char literals (their text could look like paths) and
/// `#[cfg(test)] mod … { … }` blocks.
fn strip(source: &str) -> String {
    let bytes: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = |i: usize, j: usize| bytes.get(i + j).copied().unwrap_or('\0');
        match (bytes[i], rest(i, 1)) {
            ('/', '/') => {
                while i < bytes.len() && bytes[i] != '\n' {
                    i += 1;
                }
            }
            ('/', '*') => {
                let mut depth = 0;
                while i < bytes.len() {
                    if bytes[i] == '/' && rest(i, 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == '*' && rest(i, 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            ('r', '"') | ('r', '#') if !is_ident_char(i.checked_sub(1).map(|p| bytes[p])) => {
                // raw string r"…" or r#"…"#
                let mut j = i + 1;
                let mut hashes = 0;
                while bytes.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if bytes.get(j) != Some(&'"') {
                    out.push(bytes[i]);
                    i += 1;
                    continue;
                }
                j += 1;
                while j < bytes.len() {
                    if bytes[j] == '"' && (1..=hashes).all(|h| bytes.get(j + h) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            ('"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != '"' {
                    i += if bytes[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            ('\'', c) if rest(i, 2) == '\'' || (c == '\\' && rest(i, 3) == '\'') => {
                // a char literal ('a', '\n'); lifetimes ('a) are left alone
                i += if c == '\\' { 4 } else { 3 };
                out.push_str("' '");
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    remove_test_modules(&out)
}

fn is_ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

fn remove_test_modules(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = &out[at..];
        let Some(brace) = after.find('{') else { break };
        let header = &after[..brace];
        if !header.contains("mod ") || header.contains(';') {
            // `#[cfg(test)]` on something else: drop only the attribute
            out.replace_range(at..at + "#[cfg(test)]".len(), "");
            continue;
        }
        let mut depth = 0;
        let mut end = out.len();
        for (offset, c) in out[at + brace..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + brace + offset + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
    out
}

/// Splits code into identifiers and the punctuation that paths are made of.
fn tokens(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".into());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// Expands the path (or `use` tree) starting at `tokens[start]` into full paths, each a list
/// of segments; `*` stands for a glob.
fn expand(tokens: &[String], start: usize) -> Vec<Vec<String>> {
    expand_aliased(tokens, start)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

/// [`expand`], with the name each path is imported as when a `use` renames it (`as name`).
fn expand_aliased(tokens: &[String], start: usize) -> Vec<(Vec<String>, Option<String>)> {
    type Out = Vec<(Vec<String>, Option<String>)>;
    fn tree(tokens: &[String], mut i: usize, prefix: Vec<String>, out: &mut Out) -> usize {
        let mut path = prefix;
        loop {
            match tokens.get(i).map(String::as_str) {
                Some("{") => {
                    i += 1;
                    loop {
                        match tokens.get(i).map(String::as_str) {
                            Some("}") => return i + 1,
                            Some(",") => i += 1,
                            None => return i,
                            _ => i = tree(tokens, i, path.clone(), out),
                        }
                    }
                }
                Some(segment) if segment == "*" || is_ident_char(segment.chars().next()) => {
                    path.push(segment.to_string());
                    i += 1;
                    if tokens.get(i).map(String::as_str) == Some("::") {
                        i += 1;
                    } else {
                        let mut alias = None;
                        if tokens.get(i).map(String::as_str) == Some("as") {
                            alias = tokens.get(i + 1).cloned();
                            i += 2;
                        }
                        out.push((path, alias));
                        return i;
                    }
                }
                _ => {
                    out.push((path, None));
                    return i;
                }
            }
        }
    }
    let mut out = Vec::new();
    tree(tokens, start, Vec::new(), &mut out);
    out
}

/// Every path a module names, made absolute: `crate::a::B`, `super::B`, `self::a::B` and
/// `a::B` for a child module `a`.
fn paths_named(module: &ModulePath, code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let tokens = tokens(code);
    let mut paths = Vec::new();
    for i in 0..tokens.len() {
        let previous = i.checked_sub(1).map(|p| tokens[p].as_str());
        if previous == Some("::") || tokens.get(i + 1).map(String::as_str) != Some("::") {
            continue; // not the start of a path
        }
        let base: Vec<String> = match tokens[i].as_str() {
            "crate" => Vec::new(),
            "self" => module.clone(),
            "super" => module[..module.len().saturating_sub(1)].to_vec(),
            child if children.contains(child) => {
                let mut base = module.clone();
                base.push(child.to_string());
                base
            }
            _ => continue,
        };
        for tail in expand(&tokens, i + 2) {
            let mut path = base.clone();
            let mut tail = tail.into_iter().peekable();
            // `super::super::x`
            while tail.peek().map(String::as_str) == Some("super") {
                tail.next();
                path.pop();
            }
            path.extend(tail);
            paths.push(path);
        }
    }
    paths
}

/// For each module, the items it re-exports (`pub use path::Item;`, `pub use path as name;`)
/// and where they come from: a module path in this crate, or `None` for another crate.
fn re_exports(
    modules: &BTreeMap<ModulePath, Module>,
    children: &BTreeMap<ModulePath, BTreeSet<String>>,
) -> BTreeMap<ModulePath, BTreeMap<String, Option<Vec<String>>>> {
    let mut map = BTreeMap::new();
    for (path, module) in modules {
        let tokens = tokens(&module.code);
        let mut items = BTreeMap::new();
        for i in 0..tokens.len() {
            if tokens[i] != "pub" || tokens.get(i + 1).map(String::as_str) != Some("use") {
                continue;
            }
            for (segments, alias) in expand_aliased(&tokens, i + 2) {
                let Some(first) = segments.first() else {
                    continue;
                };
                let target = match first.as_str() {
                    "crate" => Some(segments[1..].to_vec()),
                    "self" => Some([path.clone(), segments[1..].to_vec()].concat()),
                    "super" => Some(
                        [
                            path[..path.len().saturating_sub(1)].to_vec(),
                            segments[1..].to_vec(),
                        ]
                        .concat(),
                    ),
                    child if children[path].contains(child) => {
                        Some([path.clone(), segments.clone()].concat())
                    }
                    _ => None, // another crate
                };
                let name = alias.or_else(|| segments.last().cloned());
                if let Some(name) = name.filter(|n| n != "*") {
                    items.insert(name, target);
                }
            }
        }
        map.insert(path.clone(), items);
    }
    map
}

/// The module an absolute path leads to: the deepest module it names, followed through
/// re-exports to where the item is defined.
fn resolve(
    path: &[String],
    modules: &BTreeMap<ModulePath, Module>,
    re_exports: &BTreeMap<ModulePath, BTreeMap<String, Option<Vec<String>>>>,
    depth: usize,
) -> Option<ModulePath> {
    let deepest = (0..=path.len())
        .rev()
        .find(|&n| modules.contains_key(&path[..n]))?;
    let module = path[..deepest].to_vec();
    if let Some(item) = path.get(deepest).filter(|_| depth < 8) {
        match re_exports[&module].get(item) {
            // an item of another crate, named through this one: no edge inside the crate
            Some(None) => return None,
            Some(Some(target)) if target.as_slice() != path => {
                return resolve(target, modules, re_exports, depth + 1).or(Some(module));
            }
            _ => {}
        }
    }
    Some(module)
}

/// The edges "module X uses something defined in module Y" (X ≠ Y).
fn graph(modules: &BTreeMap<ModulePath, Module>) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let mut children: BTreeMap<ModulePath, BTreeSet<String>> = modules
        .keys()
        .map(|p| (p.clone(), BTreeSet::new()))
        .collect();
    for path in modules.keys() {
        if let Some((last, parent)) = path.split_last() {
            children
                .entry(parent.to_vec())
                .or_default()
                .insert(last.clone());
        }
    }
    let re_exports = re_exports(modules, &children);
    let mut graph = BTreeMap::new();
    for (path, module) in modules {
        let mut targets = BTreeSet::new();
        for named in paths_named(path, &module.code, &children[path]) {
            // a module's own re-exports are how it is seen from outside, not what it uses
            if let Some(target) = resolve(&named, modules, &re_exports, 0)
                && &target != path
                && !re_exported_by(path, &named, &re_exports)
            {
                targets.insert(target);
            }
        }
        graph.insert(path.clone(), targets);
    }
    graph
}

/// Whether `named` is the target of one of `module`'s own `pub use` lines.
fn re_exported_by(
    module: &ModulePath,
    named: &[String],
    re_exports: &BTreeMap<ModulePath, BTreeMap<String, Option<Vec<String>>>>,
) -> bool {
    re_exports[module]
        .values()
        .any(|target| target.as_deref() == Some(named))
}

/// A cycle in `graph`, as the modules along it (first = last), if there is one.
fn find_cycle(graph: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Option<Vec<ModulePath>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &ModulePath,
        graph: &BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        marks: &mut BTreeMap<ModulePath, Mark>,
        stack: &mut Vec<ModulePath>,
    ) -> Option<Vec<ModulePath>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack.iter().position(|n| n == node).unwrap();
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

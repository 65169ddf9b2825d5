//! No module imports its caller: within each crate of the workspace, the graph of "module X
//! uses an item defined in module Y" has no cycle. And in the bench, the runners (which take
//! the measurements) and the renderers (which show them) never import each other, and no
//! module imports both.
//!
//! A circle (`mnist` calls the parsers, the parsers return `mnist`'s types) means neither file
//! can be read, tested or moved alone; the fix is a leaf module both sides use. This test
//! parses every crate's `src/` with `syn` — the files form the modules (`a.rs` and `a/mod.rs`
//! are `a`, `a/b.rs` is `a::b`; an inline `mod a { … }` is a module of its own) — and collects
//! the paths each module names: `crate::…`, `super::…`, `self::…`, and paths through its own
//! child modules, in `use` trees and in code. `#[cfg(test)]` items are left out (a test module
//! may use its parent freely); so are paths inside macro calls, which `syn` does not parse.
//!
//! A path resolves to the deepest module it names. When that module only re-exports the item
//! (`pub use mnist::Mnist;` in `lib.rs`), the edge goes to where the item is defined, so a
//! crate root (or a `mod.rs`) that re-exports its modules' items is not a caller of them: a
//! re-export is how a module is seen from outside, not something it uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use syn::visit::Visit;

/// A module's path inside its crate: `[]` for the root, `["mnist", "pickle"]`, …
type ModulePath = Vec<String>;

/// What a module names, as written (resolved against the module tree later).
#[derive(Debug, Default)]
struct Module {
    /// Paths it uses, in `use` items and in code.
    uses: Vec<Vec<String>>,
    /// `pub use` items: the name it re-exports and the path it comes from.
    re_exports: Vec<(String, Vec<String>)>,
    /// Its child modules' names.
    children: BTreeSet<String>,
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

/// The bench's runners: they take measurements into `Results`.
const RUNNERS: [&str; 3] = ["cpu", "gpu", "python"];
/// The bench's renderers: they show `Results`.
const RENDERERS: [&str; 4] = ["table", "chart", "docs", "splice"];

#[test]
fn no_bench_module_imports_both_a_runner_and_a_renderer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&modules_of(&src));
    let bench = |name: &str| vec!["bench".to_string(), name.to_string()];
    for name in RUNNERS.iter().chain(&RENDERERS) {
        assert!(graph.contains_key(&bench(name)), "no module bench::{name}");
    }
    let mut report = Vec::new();
    for (module, uses) in &graph {
        let runners: Vec<_> = RUNNERS
            .iter()
            .filter(|r| uses.contains(&bench(r)))
            .collect();
        let renderers: Vec<_> = RENDERERS
            .iter()
            .filter(|r| uses.contains(&bench(r)))
            .collect();
        let is = |group: &[&str]| group.iter().any(|name| *module == bench(name));
        if (!runners.is_empty() && (!renderers.is_empty() || is(&RENDERERS)))
            || (!renderers.is_empty() && is(&RUNNERS))
        {
            report.push(format!(
                "{} uses runners {runners:?} and renderers {renderers:?}",
                display(module)
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn the_checker_finds_a_circle_and_sees_through_re_exports() {
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

#[test]
fn the_runner_rule_sees_a_runner_importing_a_renderer() {
    let modules: BTreeMap<_, _> = [
        module("lib.rs", "pub mod bench;"),
        module("bench.rs", "mod cpu; mod table;"),
        module("bench/cpu.rs", "use super::table::format; fn run() {}"),
        module("bench/table.rs", "pub fn format() {}"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let graph = graph(&modules);
    let cpu = vec!["bench".to_string(), "cpu".to_string()];
    let table = vec!["bench".to_string(), "table".to_string()];
    assert_eq!(graph[&cpu], BTreeSet::from([table]));
}

/// `code` parsed as the file `file` of a crate's `src/`, as [`modules_of`] reads it.
fn module(file: &str, code: &str) -> BTreeMap<ModulePath, Module> {
    let mut modules = BTreeMap::new();
    let parsed = syn::parse_file(code).unwrap_or_else(|err| panic!("{file}: {err}"));
    add_items(&mut modules, module_path(Path::new(file)), &parsed.items);
    modules
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

/// Every `.rs` file under `src`, parsed, keyed by its module path (a library's root or, in a
/// crate without one, the binary's maps to `[]`).
fn modules_of(src: &Path) -> BTreeMap<ModulePath, Module> {
    let mut modules = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                // A binary beside a library is another crate, which uses the library by name.
                if path == src.join("main.rs") && src.join("lib.rs").is_file() {
                    continue;
                }
                let code = std::fs::read_to_string(&path).unwrap();
                let file = syn::parse_file(&code)
                    .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
                let module = module_path(path.strip_prefix(src).unwrap());
                add_items(&mut modules, module, &file.items);
            }
        }
    }
    modules
}

/// Whether `attrs` hold `#[cfg(test)]`.
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
    })
}

/// Adds what `items` name to the module at `path`, and each inline `mod name { … }` as a
/// module of its own.
fn add_items(modules: &mut BTreeMap<ModulePath, Module>, path: ModulePath, items: &[syn::Item]) {
    let mut uses = Vec::new();
    for item in items {
        match item {
            syn::Item::Mod(inner) if is_test_only(&inner.attrs) => {}
            syn::Item::Mod(inner) => {
                let name = inner.ident.to_string();
                modules
                    .entry(path.clone())
                    .or_default()
                    .children
                    .insert(name.clone());
                if let Some((_, content)) = &inner.content {
                    let mut child = path.clone();
                    child.push(name);
                    add_items(modules, child, content);
                }
            }
            // A `pub use` is how a module is seen from outside; `pub(crate) use` and the
            // like are uses.
            syn::Item::Use(use_item) if matches!(use_item.vis, syn::Visibility::Public(_)) => {
                let module = modules.entry(path.clone()).or_default();
                for (segments, alias) in expand(&use_item.tree) {
                    let name = alias
                        .or_else(|| segments.last().cloned())
                        .unwrap_or_default();
                    module.re_exports.push((name, segments));
                }
            }
            item if is_test_only(item_attrs(item)) => {}
            item => {
                let mut collector = Paths::default();
                collector.visit_item(item);
                uses.extend(collector.paths);
            }
        }
    }
    modules.entry(path).or_default().uses.extend(uses);
}

/// An item's attributes (none for the kinds that cannot carry `#[cfg(test)]` here).
fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        _ => &[],
    }
}

/// Every path in the code it visits: `use` trees expanded, paths in types and expressions.
#[derive(Default)]
struct Paths {
    paths: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.paths.push(
            path.segments
                .iter()
                .map(|segment| segment.ident.to_string())
                .collect(),
        );
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, use_item: &'ast syn::ItemUse) {
        self.paths
            .extend(expand(&use_item.tree).into_iter().map(|(path, _)| path));
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(crate)`, `pub(super)`: who may see an item, not something it uses
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // a module inside a function: its own scope, rare enough to leave out
    }
}

/// A `use` tree as full paths, each with the name it is imported as when renamed; `*` stands
/// for a glob.
fn expand(tree: &syn::UseTree) -> Vec<(Vec<String>, Option<String>)> {
    match tree {
        syn::UseTree::Path(path) => expand(&path.tree)
            .into_iter()
            .map(|(mut rest, alias)| {
                rest.insert(0, path.ident.to_string());
                (rest, alias)
            })
            .collect(),
        syn::UseTree::Name(name) => vec![(vec![name.ident.to_string()], None)],
        syn::UseTree::Rename(rename) => vec![(
            vec![rename.ident.to_string()],
            Some(rename.rename.to_string()),
        )],
        syn::UseTree::Glob(_) => vec![(vec!["*".to_string()], None)],
        syn::UseTree::Group(group) => group.items.iter().flat_map(expand).collect(),
    }
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

/// `path`, named in `module`, as a path from the crate root; `None` for a path that does not
/// start in this crate (another crate, a local item, a type parameter).
fn absolute(
    module: &ModulePath,
    path: &[String],
    children: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" | "super" => module.clone(),
        child if children.contains(child) => module.clone(),
        _ => return None,
    };
    let mut rest = match first.as_str() {
        "crate" | "self" => &path[1..],
        _ => path,
    };
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// The module an absolute path leads to: the deepest module it names, followed through
/// re-exports to where the item is defined; `None` when that is another crate.
fn resolve(
    modules: &BTreeMap<ModulePath, Module>,
    path: &[String],
    depth: usize,
) -> Option<ModulePath> {
    let deepest = (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains_key(prefix))
        .unwrap_or_default();
    let Some(name) = path.get(deepest.len()) else {
        return Some(deepest);
    };
    let module = &modules[&deepest];
    let re_export = module
        .re_exports
        .iter()
        .find(|(exported, _)| exported == name);
    match re_export {
        Some((_, from)) if depth < 16 => {
            match absolute(&deepest, from, &module.children) {
                Some(mut target) => {
                    target.extend(path[deepest.len() + 1..].iter().cloned());
                    resolve(modules, &target, depth + 1)
                }
                None => None, // re-exported from another crate
            }
        }
        _ => Some(deepest),
    }
}

/// The edges "module X uses something defined in module Y" (X ≠ Y).
fn graph(modules: &BTreeMap<ModulePath, Module>) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    modules
        .iter()
        .map(|(path, module)| {
            let targets = module
                .uses
                .iter()
                .filter_map(|named| absolute(path, named, &module.children))
                .filter_map(|absolute| resolve(modules, &absolute, 0))
                .filter(|target| target != path)
                .collect();
            (path.clone(), targets)
        })
        .collect()
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

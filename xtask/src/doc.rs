//! `cargo xtask doc`: build the tutorial (`cargo doc`) and give it a contents page in reading
//! order.
//!
//! rustdoc lists a workspace's crates alphabetically in its sidebar, so `matmul_blas` (step 7)
//! comes before `matmul_data` (step 1). The tutorial is read in the order of the workspace's
//! `members`, so this command writes `target/doc/index.html` from that list: each step's
//! package, its one-line description (from its `Cargo.toml`), the stages it defines (from
//! `matmul_cuda::stages()`, the same list the bench times), each linking to the step's page,
//! and its "going further" page where it has one (a module `going_further`, found by its file,
//! `src/going_further.rs`, and titled by its heading).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

/// Options of `cargo xtask doc`.
#[derive(Debug, Args)]
#[command(
    after_help = "Runs `cargo doc --workspace --no-deps`, then writes target/doc/index.html: \
the steps in reading order, each with its stages and its going-further page, linking to its page. Every page links back \
to the one before it and on to the next."
)]
pub struct DocArgs {
    /// Open the contents page in a web browser afterwards ($BROWSER, else the system's opener).
    #[arg(long)]
    pub open: bool,

    /// Only (re)write the contents page; do not run `cargo doc` first.
    #[arg(long)]
    pub no_build: bool,
}

/// What `cargo metadata` says about the workspace, as far as the contents page needs it.
#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    target_directory: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Package {
    id: String,
    name: String,
    description: Option<String>,
    manifest_path: PathBuf,
}

/// The first line of a step's deep-dive page, `src/going_further.rs`, up to its title.
const GOING_FURTHER_HEADING: &str = "//! # Going further: ";

/// One entry of the contents page.
#[derive(Debug, PartialEq)]
struct Step {
    /// The package, e.g. `matmul-naive`.
    package: String,
    /// Its directory in the workspace, e.g. `02_naive`.
    directory: String,
    /// The `description` of its `Cargo.toml`.
    description: String,
    /// `(name, summary)` of each stage it defines.
    stages: Vec<(&'static str, &'static str)>,
    /// The title of its deep-dive page, the module `going_further`, when it has one.
    going_further: Option<String>,
}

/// Runs `cargo xtask doc`.
pub fn run(args: DocArgs) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    if !args.no_build {
        let status = Command::new(&cargo)
            .args(["doc", "--workspace", "--no-deps"])
            .status()
            .context("running `cargo doc`")?;
        if !status.success() {
            bail!("`cargo doc --workspace --no-deps` failed ({status})");
        }
    }
    let output = Command::new(&cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("running `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("reading `cargo metadata`'s output")?;
    let steps = steps(&metadata);
    let doc_dir = metadata.target_directory.join("doc");
    std::fs::create_dir_all(&doc_dir).with_context(|| format!("creating {}", doc_dir.display()))?;
    let index = doc_dir.join("index.html");
    write_atomically(&index, &contents_html(&steps))?;
    println!("contents page: {}", index.display());
    if args.open {
        open(&index);
    }
    Ok(())
}

/// The numbered crates in the order of the workspace's `members` (the reading order), each with
/// the stages it defines.
fn steps(metadata: &Metadata) -> Vec<Step> {
    let stages = matmul_cuda::stages();
    metadata
        .workspace_members
        .iter()
        .filter_map(|id| metadata.packages.iter().find(|p| &p.id == id))
        .filter(|package| package.name.starts_with("matmul-"))
        .map(|package| Step {
            package: package.name.clone(),
            directory: package
                .manifest_path
                .parent()
                .and_then(Path::file_name)
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            description: package.description.clone().unwrap_or_default(),
            stages: stages
                .iter()
                .filter(|stage| stage.defined_in.package == package.name)
                .map(|stage| (stage.name, stage.summary))
                .collect(),
            going_further: package.manifest_path.parent().and_then(going_further_title),
        })
        .collect()
}

/// The title of the deep-dive page of the crate in `crate_dir`: the heading of its
/// `src/going_further.rs` after "Going further: ", or `None` when it has no such page.
fn going_further_title(crate_dir: &Path) -> Option<String> {
    let source = std::fs::read_to_string(crate_dir.join("src/going_further.rs")).ok()?;
    let title = source.lines().next()?.strip_prefix(GOING_FURTHER_HEADING)?;
    Some(title.trim().to_owned())
}

/// The contents page: a short introduction and one entry per step, in reading order.
fn contents_html(steps: &[Step]) -> String {
    let mut html = String::from(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>matmul from foundations — contents</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; }
ol { padding-left: 1.4rem; }
li { margin: 0 0 1.1rem; }
li > a { font-weight: 600; font-size: 1.1rem; }
.dir { color: #777; font-family: ui-monospace, monospace; font-size: 0.9rem; }
ul.stages { margin: 0.3rem 0 0; padding-left: 1.2rem; font-size: 0.95rem; }
ul.stages li { margin: 0.15rem 0; }
p.further { margin: 0.3rem 0 0; font-size: 0.95rem; }
code { font-family: ui-monospace, monospace; background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; }
@media (prefers-color-scheme: dark) { body { background: #1b1b1b; color: #ddd; } a { color: #7ab3ff; } code { background: #2a2a2a; } }
</style>
</head>
<body>
<h1>matmul from foundations, in Rust</h1>
<p>The fastai lesson “matrix multiplication from foundations”, one crate per idea. A linear
layer on MNIST — five images <code>(5, 784) @ (784, 10)</code>, then all 50,000 — multiplied
by each step below, checked against the one before it, and measured by
<code>cargo xtask bench</code>. Read the steps in order; each page links to the next. Steps 6
to 8 follow the lesson's path first; each links a “going further” page with the deeper
material, listed below its step.</p>
<ol>
"#,
    );
    for step in steps {
        let crate_dir = step.package.replace('-', "_");
        html.push_str(&format!(
            "<li><a href=\"{crate_dir}/index.html\">{}</a> <span class=\"dir\">{}</span><br>{}",
            escape(&crate_dir),
            escape(&step.directory),
            escape(&step.description)
        ));
        if !step.stages.is_empty() {
            html.push_str("\n<ul class=\"stages\">\n");
            for (name, summary) in &step.stages {
                html.push_str(&format!(
                    "<li><code>{}</code>: {}</li>\n",
                    escape(name),
                    escape(summary)
                ));
            }
            html.push_str("</ul>");
        }
        if let Some(title) = &step.going_further {
            html.push_str(&format!(
                "\n<p class=\"further\">Going further: \
                 <a href=\"{crate_dir}/going_further/index.html\">{}</a></p>",
                escape(title)
            ));
        }
        html.push_str("</li>\n");
    }
    html.push_str(
        "</ol>\n<p>The runner, <code>cargo xtask</code> (<a href=\"xtask/index.html\">xtask</a>), \
         times every stage and writes the speedup table.</p>\n</body>\n</html>\n",
    );
    html
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes `path` through a temporary file in the same directory, so that an interrupted run
/// leaves the previous page (or none), never half of one.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Opens `page` in a browser as `cargo doc --open` does: `$BROWSER` if set, else the system's
/// opener. Failing to open is not an error: the path was printed.
fn open(page: &Path) {
    let openers: Vec<String> = match std::env::var("BROWSER") {
        Ok(browser) if !browser.is_empty() => vec![browser],
        _ if cfg!(target_os = "macos") => vec!["open".into()],
        _ if cfg!(windows) => vec!["explorer".into()],
        _ => vec!["xdg-open".into(), "gio open".into()],
    };
    for opener in &openers {
        let mut words = opener.split_whitespace();
        let Some(program) = words.next() else {
            continue;
        };
        if Command::new(program)
            .args(words)
            .arg(page)
            .status()
            .is_ok_and(|status| status.success())
        {
            return;
        }
    }
    eprintln!(
        "could not open a browser ({}): open {} yourself",
        openers.join(", "),
        page.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> Metadata {
        let package = |name: &str, dir: &str| Package {
            id: format!("path+file:///ws/{dir}#{name}@0.1.0"),
            name: name.into(),
            description: Some(format!("about {name} <&>")),
            manifest_path: PathBuf::from(format!("/ws/{dir}/Cargo.toml")),
        };
        let packages = vec![
            package("xtask", "xtask"),
            package("matmul-blas", "07_blas"),
            package("matmul-data", "01_data"),
            package("matmul-naive", "02_naive"),
        ];
        // `members` order, not `packages` order, is the reading order.
        let workspace_members = ["01_data", "02_naive", "07_blas", "xtask"]
            .iter()
            .map(|dir| {
                packages
                    .iter()
                    .find(|p| p.manifest_path.starts_with(format!("/ws/{dir}")))
                    .unwrap()
                    .id
                    .clone()
            })
            .collect();
        Metadata {
            packages,
            workspace_members,
            target_directory: PathBuf::from("/ws/target"),
        }
    }

    #[test]
    fn steps_follow_the_members_order_not_the_alphabet() {
        let steps = steps(&metadata());
        let packages: Vec<_> = steps.iter().map(|s| s.package.as_str()).collect();
        assert_eq!(packages, ["matmul-data", "matmul-naive", "matmul-blas"]);
        assert_eq!(steps[1].directory, "02_naive");
        assert!(steps[0].stages.is_empty(), "step 1 defines no stage");
        assert_eq!(steps[1].stages[0].0, "naive");
        assert!(steps[2].stages.iter().any(|(name, _)| *name == "streaming"));
    }

    #[test]
    fn the_page_links_each_step_in_order_and_escapes_text() {
        let html = contents_html(&steps(&metadata()));
        let data = html.find("href=\"matmul_data/index.html\"").unwrap();
        let naive = html.find("href=\"matmul_naive/index.html\"").unwrap();
        let blas = html.find("href=\"matmul_blas/index.html\"").unwrap();
        assert!(data < naive && naive < blas);
        assert!(html.contains("about matmul-data &lt;&amp;&gt;"));
        assert!(!html.contains("<&>"));
    }

    #[test]
    fn a_step_with_a_deep_dive_lists_it_under_its_entry() {
        let mut steps = steps(&metadata());
        assert!(
            steps.iter().all(|step| step.going_further.is_none()),
            "no files under /ws"
        );
        steps[2].going_further = Some("a <GEMM>".into());
        let html = contents_html(&steps);
        let blas = html.find("href=\"matmul_blas/index.html\"").unwrap();
        let further = html
            .find("<a href=\"matmul_blas/going_further/index.html\">a &lt;GEMM&gt;</a>")
            .unwrap_or_else(|| panic!("{html}"));
        assert!(blas < further);
        assert_eq!(html.matches("going_further").count(), 1, "{html}");
    }

    /// Steps 6 to 8 of this workspace each have a deep-dive page, found by its heading.
    #[test]
    fn the_workspace_steps_6_to_8_have_their_deep_dives() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for (dir, title) in [
            ("06_einsum", "how this einsum works"),
            ("07_blas", "a GEMM built in front of you"),
            ("08_cuda", "the GPU's memory hierarchy"),
        ] {
            assert_eq!(
                going_further_title(&root.join(dir)).as_deref(),
                Some(title),
                "{dir}"
            );
        }
        assert_eq!(going_further_title(&root.join("02_naive")), None);
    }
}

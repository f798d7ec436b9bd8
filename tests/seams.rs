//! The seams ARCHITECTURE.md draws, checked in the code itself: which crate
//! may depend on which (from the manifests), and that the files of a crate
//! import one another one way only (no loop of `crate::` references between
//! a crate's top-level modules; `lib.rs` and `main.rs`, which assemble the
//! modules, are left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn members() -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap_or_default();
    let list = manifest.split("members = [").nth(1).and_then(|s| s.split(']').next()).unwrap_or_default();
    let mut members: Vec<String> = list.split(',').map(|m| m.trim().trim_matches('"').to_owned()).filter(|m| !m.is_empty()).collect();
    members.push(".".to_owned());
    members
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src` belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// The first segment of every `crate::` path in `text`, including each
/// member of a `use crate::{a, b::c}` group.
fn referenced(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            out.insert(ident(rest));
            continue;
        };
        let mut depth = 0;
        let mut start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => start = true,
                c if start && !c.is_whitespace() => {
                    out.insert(ident(&group[i..]));
                    start = false;
                }
                _ => {}
            }
        }
    }
    out
}

/// Each top-level module's references to the crate's other top-level modules
/// (unit tests left out: they may reach anywhere).
fn graph(crate_dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = crate_dir.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        let to: Vec<String> = referenced(code).into_iter().filter(|m| modules.contains(m) && *m != module).collect();
        edges.entry(module).or_default().extend(to);
    }
    edges
}

/// The strongly connected components of more than one module (Tarjan).
fn loops(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let at = s.stack.iter().position(|m| *m == v).unwrap_or(0);
            let mut component: Vec<String> = s.stack.drain(at..).map(str::to_owned).collect();
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_files_of_each_crate_import_one_another_one_way() {
    let mut found = BTreeSet::new();
    for member in members() {
        for component in loops(&graph(&root().join(&member))) {
            found.insert((member.clone(), component));
        }
    }
    assert!(found.is_empty(), "import loops between a crate's modules: {found:?}");
}

#[test]
fn the_loop_finder_finds_a_loop_and_reads_use_groups() {
    assert_eq!(referenced("use crate::{a::{B, C}, d};\nlet x = crate::e::f();"), BTreeSet::from(["a".into(), "d".into(), "e".into()]));
    let edges = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned(), "c".to_owned()])),
        ("c".to_owned(), BTreeSet::new()),
    ]);
    assert_eq!(loops(&edges), vec![vec!["a".to_owned(), "b".to_owned()]]);
}

/// The dependencies of a crate, from its manifest's `[dependencies]`.
fn dependencies(member: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join(member).join("Cargo.toml")).unwrap_or_default();
    let section = manifest.lines().skip_while(|l| l.trim() != "[dependencies]").skip(1).take_while(|l| !l.starts_with('['));
    section.filter_map(|l| l.split(['=', '.']).next()).map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect()
}

#[test]
fn crates_depend_only_on_what_their_role_needs() {
    let rules: &[(&str, &[&str])] = &[
        // The domain is pure: no I/O, no HTTP, no Sunday crate.
        ("domain", &["sqlx", "axum", "tokio", "async-nats", "sunday-"]),
        // The edge knows HTTP and the domain's errors, not the services.
        ("edge", &["sunday-eventstore", "sunday-command-api", "sunday-query-api", "sunday-projector", "sunday-realtime-gateway", "sqlx"]),
        // The read-model contract does not know who writes or reads it.
        ("read-models", &["sunday-projector", "sunday-query-api", "sunday-command-api"]),
        // The relay follows the log; it knows no service.
        ("relay", &["sunday-command-api", "sunday-projector", "sunday-query-api", "sunday-realtime-gateway"]),
        // The projector writes read models from the log, never through the APIs.
        ("projector", &["sunday-command-api", "sunday-query-api", "sunday-realtime-gateway"]),
        // The load generators talk HTTP and WebSocket to a server, like any client.
        ("loadgen", &["sunday-command-api", "sunday-query-api", "sunday-projector", "sunday-realtime-gateway", "sqlx"]),
    ];
    for (member, forbidden) in rules {
        let deps = dependencies(member);
        assert!(!deps.is_empty(), "{member}'s [dependencies] were read");
        for f in *forbidden {
            let hit: Vec<_> = deps.iter().filter(|d| d.starts_with(f)).collect();
            assert!(hit.is_empty(), "{member} depends on {hit:?}");
        }
    }
}

/// The longest a source file may be: a file is one room, and a room that
/// holds more than this is two.
const MAX_LINES: usize = 400;

#[test]
fn no_source_file_is_over_400_lines() {
    let mut files = Vec::new();
    for member in members() {
        rust_files(&root().join(&member).join("src"), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap_or_default().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(files.len() > 50, "the source files were found");
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

//! The read side's seam: the query API reads the read models through their
//! contract (`sunday-read-models`) and depends on neither the projector that
//! writes them nor the command API (tests may use both, to make data).

/// The lines of one `[section]` of a manifest.
fn section<'a>(manifest: &'a str, name: &str) -> Vec<&'a str> {
    manifest.lines().skip_while(|l| l.trim() != name).skip(1).take_while(|l| !l.starts_with('[')).collect()
}

#[test]
fn the_query_api_depends_on_neither_the_projector_nor_the_command_api() {
    let dependencies = section(include_str!("../Cargo.toml"), "[dependencies]");
    assert!(dependencies.iter().any(|l| l.starts_with("sunday-read-models")), "the section was read: {dependencies:?}");
    for writer in ["sunday-projector", "sunday-command-api"] {
        assert!(!dependencies.iter().any(|l| l.starts_with(writer)), "query-api depends on {writer}");
    }
}

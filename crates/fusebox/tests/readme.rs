//! The README's Rust quickstart is `examples/quickstart.rs`, which `cargo
//! test` builds: this keeps the two the same text, so the README compiles
//! as written.

#[test]
fn the_readme_quickstart_is_the_quickstart_example() {
    let readme = include_str!("../../../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let section = readme
        .split("\n## Quickstart\n")
        .nth(1)
        .expect("the README has a Quickstart section");
    let block = section
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the Quickstart section opens with a rust block");
    assert_eq!(
        block.trim_end(),
        example.trim_end(),
        "README.md's quickstart and examples/quickstart.rs differ"
    );
}

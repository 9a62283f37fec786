//! `docs/bad-input.md` keeps at least 40 rows, and each row points at a test that exists: a
//! conformance case (`case Area.name`), or a file in the repository and, when a test name follows
//! the file, a test of that name in it.

use std::collections::BTreeSet;
use std::path::Path;

use zerobus_conformance::runner::load_cases;

#[test]
fn every_bad_input_row_points_at_a_test_that_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/bad-input.md")).expect("docs/bad-input.md");
    let cases: BTreeSet<String> =
        load_cases(&root.join("conformance/cases")).unwrap().into_iter().map(|c| c.id).collect();
    let mut rows = 0;
    let mut problems = Vec::new();
    for line in
        doc.lines().filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
    {
        rows += 1;
        let test = line.trim_end_matches('|').rsplit('|').next().unwrap_or_default();
        let mut pointed = 0;
        let mut file: Option<String> = None;
        for piece in test.split('`').skip(1).step_by(2) {
            if cases.contains(piece) {
                pointed += 1;
                file = None;
            } else if piece.contains('/') && piece.contains('.') {
                match std::fs::read_to_string(root.join(piece)) {
                    Ok(text) => {
                        pointed += 1;
                        file = Some(text);
                    }
                    Err(_) => problems.push(format!("row {rows}: {piece} does not exist")),
                }
            } else if let Some(text) = &file {
                // A test name after its file must be in that file.
                if !text.contains(piece) {
                    problems.push(format!("row {rows}: no test {piece} in the file before it"));
                }
            }
        }
        for id in test.split("case `").skip(1).filter_map(|s| s.split('`').next()) {
            if !cases.contains(id) {
                problems.push(format!("row {rows}: case {id} does not exist"));
            }
        }
        if pointed == 0 {
            problems.push(format!("row {rows} points at no test: {line}"));
        }
    }
    assert!(rows >= 40, "docs/bad-input.md has {rows} rows, at least 40 are required");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

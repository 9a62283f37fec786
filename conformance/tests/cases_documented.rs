//! Every conformance case has a section in `conformance/CASES.md` headed "### `Case.id`", and
//! every such heading names a case that exists.

use std::collections::BTreeSet;
use std::path::Path;

use zerobus_conformance::runner::load_cases;

#[test]
fn every_case_is_documented_and_every_documented_case_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = load_cases(&root.join("cases")).expect("cases load");
    assert!(!cases.is_empty(), "no cases found in {}", root.join("cases").display());
    let ids: BTreeSet<String> = cases.iter().map(|c| c.id.clone()).collect();

    let doc_path = root.join("CASES.md");
    let doc = std::fs::read_to_string(&doc_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", doc_path.display()));
    let mut documented = BTreeSet::new();
    let mut twice = Vec::new();
    for line in doc.lines() {
        let Some(rest) = line.trim_end().strip_prefix("### `") else { continue };
        let Some(id) = rest.strip_suffix('`') else { continue };
        if !documented.insert(id.to_owned()) {
            twice.push(id.to_owned());
        }
    }

    let missing: Vec<&String> = ids.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&ids).collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("cases with no \"### `id`\" section in CASES.md: {missing:?}"));
    }
    if !unknown.is_empty() {
        problems.push(format!("CASES.md documents ids that are not cases: {unknown:?}"));
    }
    if !twice.is_empty() {
        problems.push(format!("CASES.md documents these ids more than once: {twice:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! The routing conformance suite (`test-data/conformance`) through the C ABI: a C program
//! (`tests/c/conformance.c`) passes every case to `sg_route_json` and prints the answers; this
//! harness compares them with the expected order, reason and URL. Runs directly, then under
//! valgrind when it is installed (no leak, no error).
#![allow(missing_docs)]

mod common;

use common::{cc, manifest_dir, run, valgrind, work_dir};
use serde_json::{Value, json};

fn cases() -> Vec<Value> {
    let dir = manifest_dir().join("../test-data/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            v["cases"].as_array().unwrap().clone()
        })
        .collect()
}

#[test]
fn the_c_abi_routes_every_conformance_case_as_documented() {
    let cases = cases();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let dir = work_dir("conformance");
    let input = dir.join("cases.jsonl");
    let lines: Vec<String> = cases
        .iter()
        .map(|c| {
            let mut i = json!({
                "document": c["document"],
                "installId": c["installId"],
                "origins": c["origins"],
            });
            if let Some(p) = c.get("path") {
                i["path"] = p.clone();
            }
            i.to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let exe = dir.join("conformance");
    cc(&[&manifest_dir().join("tests/c/conformance.c")], &exe);
    let mut modes = vec![false];
    if valgrind().is_some() {
        modes.push(true);
    }
    for under_valgrind in modes {
        let out = run(&exe, &[input.display().to_string()], under_valgrind);
        let answers: Vec<&str> = out.lines().collect();
        assert_eq!(answers.len(), cases.len(), "one answer per case");
        let mut failures = Vec::new();
        for (c, a) in cases.iter().zip(answers) {
            let name = c["name"].as_str().unwrap();
            let Ok(got) = serde_json::from_str::<Value>(a) else {
                failures.push(format!("{name}: {a}"));
                continue;
            };
            let e = &c["expect"];
            let url_ok = e.get("url").is_none_or(|u| got["url"] == *u);
            if got["order"] != e["order"] || got["reason"] != e["reason"] || !url_ok {
                failures.push(format!("{name}: got {got}, expected {e}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

#[test]
fn sg_route_json_refuses_bad_input_with_a_status() {
    let dir = work_dir("conformance-errors");
    let input = dir.join("bad.jsonl");
    std::fs::write(
        &input,
        [
            "not json".to_owned(),
            json!({"document": {"type": "sideways"}, "installId": "a"}).to_string(),
            json!({"document": {"type": "git", "gitUrl": "https://g.example.invalid/"}})
                .to_string(),
            json!({"document": {"type": "git", "gitUrl": "https://g.example.invalid/"},
                   "installId": "a", "path": "../secrets"})
            .to_string(),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let exe = dir.join("conformance");
    cc(&[&manifest_dir().join("tests/c/conformance.c")], &exe);
    let out = run(&exe, &[input.display().to_string()], false);
    let answers: Vec<&str> = out.lines().collect();
    assert!(
        answers[0].starts_with("ERROR SG_STATUS_INVALID_ARGUMENT"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].starts_with("ERROR SG_STATUS_CONFIG_INVALID"),
        "{}",
        answers[1]
    );
    assert!(
        answers[2].starts_with("ERROR SG_STATUS_INVALID_ARGUMENT installId"),
        "{}",
        answers[2]
    );
    assert!(
        answers[3].starts_with("ERROR SG_STATUS_INVALID_PATH"),
        "{}",
        answers[3]
    );
}

//! The committed header `include/sourcegate.h` matches what cbindgen generates from the crate.
//! `SG_UPDATE_HEADER=1` rewrites it (see `ffi/check-header.sh`).
#![allow(missing_docs)]

use std::path::PathBuf;

#[test]
fn committed_header_is_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .unwrap();
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = dir.join("include/sourcegate.h");
    if std::env::var_os("SG_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `bash ffi/check-header.sh` (or SG_UPDATE_HEADER=1 cargo test -p sourcegate-ffi --test header) and commit it",
        path.display()
    );
}

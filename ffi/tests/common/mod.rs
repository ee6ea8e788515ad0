//! Helpers of the C-driven tests: the shared library's directory, a per-test work directory,
//! `cc` against the header and the library, and running a program (under valgrind when asked).
#![allow(dead_code)] // each test binary uses a part

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of the shared library: that of `$SOURCEGATE_FFI_LIB` when set (as
/// `scripts/test.sh` and the Node tests use it), else `target/<profile>`: this test binary
/// lives in `target/<profile>/deps/`.
pub(crate) fn lib_dir() -> PathBuf {
    let dir = match std::env::var_os("SOURCEGATE_FFI_LIB") {
        Some(lib) => PathBuf::from(lib).parent().unwrap().to_path_buf(),
        None => {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().to_path_buf()
        }
    };
    assert!(
        dir.join("libsourcegate_ffi.so").exists() || dir.join("libsourcegate_ffi.dylib").exists(),
        "no libsourcegate_ffi shared library in {}",
        dir.display()
    );
    dir
}

pub(crate) fn work_dir(name: &str) -> PathBuf {
    let d = lib_dir()
        .join("sourcegate-ffi-tests")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) fn cc(sources: &[&Path], out: &Path) {
    let lib = lib_dir();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1", "-pthread",
        ])
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .args(sources)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lsourcegate_ffi", "-o"])
        .arg(out)
        .status()
        .expect("cannot run cc");
    assert!(status.success(), "cc failed for {sources:?}");
}

pub(crate) fn valgrind() -> Option<PathBuf> {
    if std::env::var_os("SG_NO_VALGRIND").is_some() {
        return None;
    }
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| PathBuf::from("valgrind"))
}

/// Runs `exe args` (under valgrind if asked) and asserts success, printing its output.
pub(crate) fn run(exe: &Path, args: &[String], under_valgrind: bool) -> String {
    let mut cmd = if under_valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible",
            "--error-exitcode=1",
        ])
        .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    let out = cmd.args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!(
        "--- {} (valgrind: {under_valgrind})\n{stdout}{stderr}",
        exe.display()
    );
    assert!(
        out.status.success(),
        "{} failed ({}) under valgrind={under_valgrind}:\n{stdout}\n{stderr}",
        exe.display(),
        out.status
    );
    if under_valgrind {
        assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{stderr}");
    }
    stdout
}

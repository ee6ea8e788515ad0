//! Helpers of the C-driven tests: the shared library's directory, a per-test work directory,
//! `cc` against the header and the library, running a program (under valgrind when asked), and
//! a one-request-per-connection HTTP stand-in on a std thread ([`stub_http`]).
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

/// One request as [`stub_http`] hands it to its handler.
pub(crate) struct StubRequest {
    /// `GET`, `POST`, …
    pub(crate) method: String,
    /// The request target, e.g. `/v1/configs/marketplace_source`.
    pub(crate) path: String,
    /// The body (`content-length` bytes; empty without the header).
    pub(crate) body: Vec<u8>,
}

/// A loopback HTTP/1.1 stand-in on a std thread: each connection carries one request, which
/// `answer` turns into the whole response (status line, headers, body; `connection: close`
/// is the caller's to write). Returns `http://127.0.0.1:<port>`. Plain std networking, so a
/// C program or the C ABI can talk to it with no runtime of the test's.
pub(crate) fn stub_http(answer: impl Fn(StubRequest) -> String + Send + 'static) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut words = request_line.split_whitespace();
            let method = words.next().unwrap_or("").to_owned();
            let path = words.next().unwrap_or("").to_owned();
            let response = answer(StubRequest { method, path, body });
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

/// An empty response with this status line's code and reason (`204 No Content`), closing.
pub(crate) fn empty_response(status: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

/// A 200 JSON response with `etag: "v<version>"`, closing.
pub(crate) fn json_response(version: u64, body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: \"v{version}\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

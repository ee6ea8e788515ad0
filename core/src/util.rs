//! Small URL helpers shared by providers and the router.

use url::Url;

use crate::error::RequestError;

/// `url` with a trailing `/` on its path, so relative joins append instead of replacing the
/// last segment (RFC 3986 §5.2).
pub fn as_base(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    url
}

/// Joins a relative request path to an origin base, refusing anything that would leave it.
pub fn join_path(base: &Url, path: &str) -> Result<Url, RequestError> {
    let bad = |why| RequestError::InvalidPath {
        path: path.into(),
        why,
    };
    if path.starts_with("//") {
        return Err(bad("a network-path reference is not a path"));
    }
    let rel = path.strip_prefix('/').unwrap_or(path);
    if rel.contains('\\') {
        return Err(bad("not a relative path"));
    }
    if rel.split(['?', '#']).next().unwrap_or("").contains(':') && rel.contains("://") {
        return Err(bad("a URL with a scheme is not a path"));
    }
    if rel
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split('/')
        .any(|seg| seg == ".." || seg == "." || seg.eq_ignore_ascii_case("%2e%2e"))
    {
        return Err(bad("dot segments are not allowed"));
    }
    let url = base
        .join(rel)
        .map_err(|_| bad("cannot be joined to the origin URL"))?;
    if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
        return Err(bad("escapes the origin's base URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_path_appends_and_refuses_escapes() {
        let base: Url = "https://raw.example.com/o/r/HEAD/".parse().unwrap();
        assert_eq!(
            join_path(&base, "community-plugins.json").unwrap().as_str(),
            "https://raw.example.com/o/r/HEAD/community-plugins.json"
        );
        assert_eq!(
            join_path(&base, "/api/plugins").unwrap().as_str(),
            "https://raw.example.com/o/r/HEAD/api/plugins"
        );
        assert_eq!(
            join_path(&base, "a b/c%2Fd").unwrap().as_str(),
            "https://raw.example.com/o/r/HEAD/a%20b/c%2Fd"
        );
        for bad in [
            "https://evil.example/x",
            "//evil.example/x",
            "../secrets",
            "a/../../b",
            "a\\b",
        ] {
            assert!(join_path(&base, bad).is_err(), "{bad}");
        }
    }
}

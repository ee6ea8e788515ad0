//! Content checks: what a fetched body must be for `sourcegate::Resolver::fetch` to count it as
//! served. A body that fails its check is an origin failure (an HTML error page or a captive
//! portal answering 200, a truncated body sent without `Content-Length`): the fetch fails over
//! to the next origin and the body is never cached.
//!
//! Pure: a check takes the request path and the body and does no I/O.

use std::fmt;
use std::sync::Arc;

use serde::de::IgnoredAny;

/// A caller's own check: `Ok(())` accepts the body, `Err(why)` refuses it.
pub type CheckFn = dyn Fn(&str, &[u8]) -> Result<(), String> + Send + Sync;

/// The check applied to every body an origin answers with 2xx (set with
/// `sourcegate::ResolverBuilder::content_check`).
#[derive(Clone, Default)]
pub enum ContentCheck {
    /// No check: any 2xx body is served.
    None,
    /// The default: the body of a path whose name ends in `.json` must be a JSON text
    /// (RFC 8259, UTF-8); other paths are not checked.
    #[default]
    Auto,
    /// Every body must be a JSON text (RFC 8259, UTF-8).
    Json,
    /// Every body must be a plugin list ([`crate::registry::validate_registry`]).
    Plugins,
    /// Every body must be a theme list ([`crate::registry::validate_theme_list`]).
    Themes,
    /// A caller's closure (see [`ContentCheck::custom`]).
    Custom(Arc<CheckFn>),
}

impl fmt::Debug for ContentCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a body failed its [`ContentCheck`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content check `{check}` failed: {why}")]
pub struct ContentError {
    /// The check's name ([`ContentCheck::name`]).
    pub check: &'static str,
    /// What is wrong with the body.
    pub why: String,
}

impl ContentCheck {
    /// A check from a closure taking the request path and the body.
    ///
    /// # Examples
    /// ```
    /// use sourcegate_core::content::ContentCheck;
    /// let check = ContentCheck::custom(|_path, body| {
    ///     if body.starts_with(b"[") { Ok(()) } else { Err("not a list".into()) }
    /// });
    /// assert!(check.check("x.json", b"[1]").is_ok());
    /// assert!(check.check("x.json", b"<html>").is_err());
    /// ```
    pub fn custom(f: impl Fn(&str, &[u8]) -> Result<(), String> + Send + Sync + 'static) -> Self {
        ContentCheck::Custom(Arc::new(f))
    }

    /// A built-in check by name: `none`, `auto`, `json`, `plugins`, `themes` (as the FFI
    /// options and the drill's `--check` spell them).
    pub fn from_name(name: &str) -> Option<ContentCheck> {
        Some(match name {
            "none" => ContentCheck::None,
            "auto" => ContentCheck::Auto,
            "json" => ContentCheck::Json,
            "plugins" => ContentCheck::Plugins,
            "themes" => ContentCheck::Themes,
            _ => return None,
        })
    }

    /// The check's name (`custom` for a closure).
    pub fn name(&self) -> &'static str {
        match self {
            ContentCheck::None => "none",
            ContentCheck::Auto => "auto",
            ContentCheck::Json => "json",
            ContentCheck::Plugins => "plugins",
            ContentCheck::Themes => "themes",
            ContentCheck::Custom(_) => "custom",
        }
    }

    /// Checks the body served for `path`.
    ///
    /// # Errors
    /// [`ContentError`] naming the check and what is wrong.
    pub fn check(&self, path: &str, body: &[u8]) -> Result<(), ContentError> {
        let fail = |why: String| ContentError {
            check: self.name(),
            why,
        };
        match self {
            ContentCheck::None => Ok(()),
            ContentCheck::Auto => {
                let name = path.split(['?', '#']).next().unwrap_or(path);
                if name.ends_with(".json") {
                    check_json(body).map_err(fail)
                } else {
                    Ok(())
                }
            }
            ContentCheck::Json => check_json(body).map_err(fail),
            ContentCheck::Plugins => crate::registry::validate_registry(body)
                .map(drop)
                .map_err(|e| fail(e.to_string())),
            ContentCheck::Themes => crate::registry::validate_theme_list(body)
                .map(drop)
                .map_err(|e| fail(e.to_string())),
            ContentCheck::Custom(f) => f(path, body).map_err(fail),
        }
    }
}

/// A JSON text (RFC 8259 §2) in UTF-8 (§8.1), checked without building a value.
fn check_json(body: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8 ({e})"))?;
    serde_json::from_str::<IgnoredAny>(text)
        .map(drop)
        .map_err(|e| format!("not JSON ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_checks_refuse_html_and_truncated_json() {
        let html = b"<!DOCTYPE html><html><body>Sign in to the network</body></html>";
        let truncated = br#"[{"id":"a","repo":"o/a"},{"id":"b","re"#;
        let plugins = br#"[{"id":"a","repo":"o/a"}]"#;
        let themes = br#"[{"name":"Minimal","repo":"kepano/obsidian-minimal"}]"#;
        for check in [
            ContentCheck::Auto,
            ContentCheck::Json,
            ContentCheck::Plugins,
        ] {
            assert!(
                check.check("community-plugins.json", html).is_err(),
                "{check:?}"
            );
            assert!(
                check.check("community-plugins.json", truncated).is_err(),
                "{check:?}"
            );
            assert!(
                check.check("community-plugins.json", plugins).is_ok(),
                "{check:?}"
            );
        }
        assert!(ContentCheck::Auto.check("README.md", html).is_ok());
        assert!(ContentCheck::None.check("a.json", html).is_ok());
        assert!(ContentCheck::Themes.check("t.json", themes).is_ok());
        assert!(ContentCheck::Themes.check("t.json", plugins).is_err());
        assert!(ContentCheck::Plugins.check("p.json", themes).is_err());
        let e = ContentCheck::Json.check("a.json", html).unwrap_err();
        assert_eq!(e.check, "json");
        for name in ["none", "auto", "json", "plugins", "themes"] {
            assert_eq!(ContentCheck::from_name(name).unwrap().name(), name);
        }
        assert!(ContentCheck::from_name("xml").is_none());
    }
}

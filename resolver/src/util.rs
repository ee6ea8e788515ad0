//! Small URL helpers shared by providers and the router.

use url::Url;

/// `url` with a trailing `/` on its path, so relative joins append instead of replacing the
/// last segment (RFC 3986 §5.2).
pub(crate) fn as_base(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    url
}

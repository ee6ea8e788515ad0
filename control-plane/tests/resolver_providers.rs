//! The resolver's own providers (crate `sourcegate`) against the real service: the Supabase
//! provider through `/rest/v1` (table and RPC reads) and the control-plane provider through
//! `/v1` (ETag → 304, SSE push).

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use sourcegate::provider::{
    ConfigProvider, ControlPlaneProvider, Fetched, SupabaseProvider, SupabaseRead,
};
use url::Url;

#[tokio::test]
async fn supabase_provider_reads_through_rest_v1() {
    let ctx = start().await;
    let base = Url::parse(&ctx.base).unwrap();
    for read in [SupabaseRead::Table, SupabaseRead::Rpc] {
        let p = SupabaseProvider::new(base.clone(), anon_key())
            .unwrap()
            .with_read(read);
        match p.fetch().await.unwrap() {
            Fetched::Document(doc) => {
                assert_eq!(doc.value["type"], "git", "{read:?}");
                assert_eq!(doc.value["version"], 1, "{read:?}");
                let cfg = sourcegate::config::MarketplaceConfig::from_value(&doc.value).unwrap();
                assert_eq!(cfg.version, 1);
            }
            other => panic!("{read:?}: {other:?}"),
        }
    }
    // A publishable (non-JWT) key works too.
    let p = SupabaseProvider::new(base, "sb_publishable_abc").unwrap();
    assert!(matches!(p.fetch().await.unwrap(), Fetched::Document(_)));
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn control_plane_provider_uses_etags_and_receives_pushes() {
    let ctx = start().await;
    let p = ControlPlaneProvider::new(Url::parse(&ctx.base).unwrap()).unwrap();
    match p.fetch().await.unwrap() {
        Fetched::Document(doc) => assert_eq!(doc.version, Some(1)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(p.fetch().await.unwrap(), Fetched::NotModified));
    let mut stream = p.watch(Some(1)).await.unwrap();
    assert_eq!(
        ctx.put(Some(&service_token()), json!({"value": cdn_doc()}))
            .await
            .status(),
        200
    );
    let doc = tokio::time::timeout(Duration::from_secs(2), stream.next())
        .await
        .expect("push within 2 s")
        .expect("stream open")
        .expect("valid document");
    assert_eq!(doc.version, Some(2));
    assert_eq!(doc.value["type"], "cdn");
    match p.fetch().await.unwrap() {
        Fetched::Document(doc) => assert_eq!(doc.version, Some(2)),
        other => panic!("{other:?}"),
    }
    drop(stream);
    ctx.server.shutdown().await;
}

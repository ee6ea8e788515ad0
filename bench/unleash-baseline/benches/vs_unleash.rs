//! Sourcegate's `resolve_for` (sticky 10 % canary, warm config, a different install id per call)
//! against Unleash's Rust engine (`unleash-yggdrasil` 0.21.5) evaluating a `flexibleRollout` of
//! 10 % with `userId` stickiness for a different user id per call: the same job (a sticky
//! percentage decision), measured in the same run, on one thread and on two threads at once.
//! The two-thread figure is the mean per-call time each thread sees while both run.

#[path = "../../../resolver/benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::Criterion;
use unleash_types::client_features::{ClientFeatures, Context};
use unleash_yggdrasil::{EngineState, UpdateMessage};

const N: usize = 4096;

fn two_threads<F: Fn(u64, usize) -> Duration + Send + Sync + 'static>(
    f: Arc<F>,
    iters: u64,
) -> Duration {
    let barrier = Arc::new(Barrier::new(2));
    let hs: Vec<_> = (0..2)
        .map(|t| {
            let (f, b) = (f.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                f(iters, t * N / 2)
            })
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum::<Duration>() / 2
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let resolver = Arc::new(rt.block_on(async {
        let r = sourcegate::Resolver::builder("https://raw.example.com/o/r/HEAD/".parse().unwrap())
            .provider(sourcegate::provider::StaticProvider::Value(
                serde_json::json!({
                "type": "canary", "canaryPercent": 10,
                "gitUrl": "https://raw.example.com/o/r/HEAD/", "cdnUrl": "https://cdn.example.com/",
                "healthCheckEnabled": false}),
            ))
            .build()
            .unwrap();
        r.resolve_url("community-plugins.json").await.unwrap();
        r
    }));
    let mut engine = EngineState::default();
    let features: ClientFeatures = serde_json::from_value(serde_json::json!({
        "version": 2,
        "features": [{"name": "cdn", "enabled": true, "strategies": [{"name": "flexibleRollout",
            "parameters": {"rollout": "10", "stickiness": "userId", "groupId": "cdn"}}]}]
    }))
    .unwrap();
    engine.take_state(UpdateMessage::FullResponse(features));
    let engine = Arc::new(engine);
    let ids: Arc<Vec<String>> = Arc::new((0..N).map(|i| format!("install-{i:08}")).collect());
    let contexts: Arc<Vec<Context>> = Arc::new(
        ids.iter()
            .map(|id| Context {
                user_id: Some(id.clone()),
                ..Context::default()
            })
            .collect(),
    );
    // Sanity: both put roughly 10 % on the "CDN" side.
    let sg = ids
        .iter()
        .filter(|id| resolver.resolve_for(id, "x").unwrap().origin == sourcegate::OriginKind::Cdn)
        .count();
    let un = contexts
        .iter()
        .filter(|c| engine.is_enabled("cdn", c, &None))
        .count();
    eprintln!(
        "share on: sourcegate {:.1}%, unleash {:.1}%",
        sg as f64 * 100.0 / N as f64,
        un as f64 * 100.0 / N as f64
    );

    let sg_run = {
        let (r, ids) = (resolver.clone(), ids.clone());
        Arc::new(move |iters: u64, off: usize| {
            let s = Instant::now();
            for i in 0..iters {
                let id = &ids[(i as usize + off) % N];
                black_box(
                    r.resolve_for(black_box(id), "community-plugins.json")
                        .unwrap(),
                );
            }
            s.elapsed()
        })
    };
    let un_run = {
        let (e, cx) = (engine.clone(), contexts.clone());
        Arc::new(move |iters: u64, off: usize| {
            let s = Instant::now();
            for i in 0..iters {
                let c = &cx[(i as usize + off) % N];
                black_box(e.is_enabled(black_box("cdn"), black_box(c), &None));
            }
            s.elapsed()
        })
    };
    let mut g = c.benchmark_group("sticky_10_percent");
    {
        let f = sg_run.clone();
        g.bench_function("sourcegate_resolve_1_thread", move |b| {
            b.iter_custom(|n| f(n, 0))
        });
    }
    {
        let f = un_run.clone();
        g.bench_function("unleash_is_enabled_1_thread", move |b| {
            b.iter_custom(|n| f(n, 0))
        });
    }
    {
        let f = sg_run.clone();
        g.bench_function("sourcegate_resolve_2_threads", move |b| {
            b.iter_custom(|n| two_threads(f.clone(), n))
        });
    }
    {
        let f = un_run.clone();
        g.bench_function("unleash_is_enabled_2_threads", move |b| {
            b.iter_custom(|n| two_threads(f.clone(), n))
        });
    }
    g.finish();
}

common::quick_main!(bench);

//! `resolve_cached`: `Resolver::resolve_for` with a warm config, a sticky 10 % canary and a
//! different install id per call, on one thread and on two threads at once.
//!
//! Run: `cargo bench -p sourcegate --bench resolve_cached`. The two-thread figure is the time
//! per call seen by each thread while both run (mean of the two threads' wall times for `iters`
//! calls each), so equal figures mean no contention.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use sourcegate::Resolver;
use sourcegate::provider::StaticProvider;

fn setup() -> (tokio::runtime::Runtime, Arc<Resolver>, Arc<Vec<String>>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let resolver = rt.block_on(async {
        let r = Resolver::builder("https://raw.example.com/o/r/HEAD/".parse().unwrap())
            .provider(StaticProvider::Value(serde_json::json!({
                "type": "canary", "canaryPercent": 10,
                "gitUrl": "https://raw.example.com/o/r/HEAD/",
                "cdnUrl": "https://cdn.example.com/",
                "healthCheckEnabled": false,
            })))
            .build()
            .unwrap();
        r.resolve_url("community-plugins.json").await.unwrap();
        r
    });
    let ids = (0..4096).map(|i| format!("install-{i:08}")).collect();
    (rt, Arc::new(resolver), Arc::new(ids))
}

fn run(r: &Resolver, ids: &[String], iters: u64, offset: usize) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        let id = &ids[(i as usize + offset) & 4095];
        black_box(
            r.resolve_for(black_box(id), "community-plugins.json")
                .unwrap(),
        );
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let (_rt, resolver, ids) = setup();
    let mut g = c.benchmark_group("resolve_cached");
    g.bench_function("1_thread", |b| {
        b.iter_custom(|iters| run(&resolver, &ids, iters, 0));
    });
    g.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    let (r, ids, barrier) = (resolver.clone(), ids.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        run(&r, &ids, iters, t * 2048)
                    })
                })
                .collect();
            let times: Vec<Duration> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            // Mean of the two threads' wall times for `iters` calls each: the time per call each
            // thread sees while the other runs.
            times.iter().sum::<Duration>() / 2
        });
    });
    // Baselines measured in the same run: the sticky hash alone, and the URL join alone.
    g.bench_function("baseline_bucket_only", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(sourcegate::bucket::bucket_of(black_box(&ids[i])))
        });
    });
    // Control for the two-thread figure: the same pure hash (no shared state at all) on two
    // threads at once. If it slows down as much as resolve does, the machine (shared core
    // resources, frequency) is the cause, not contention in the resolver.
    g.bench_function("baseline_bucket_only_2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    let (ids, barrier) = (ids.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        for i in 0..iters {
                            let id = &ids[(i as usize + t * 2048) & 4095];
                            black_box(sourcegate::bucket::bucket_of(black_box(id)));
                        }
                        start.elapsed()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum::<Duration>()
                / 2
        });
    });
    let base: url::Url = "https://cdn.example.com/".parse().unwrap();
    g.bench_function("baseline_url_join_only", |b| {
        b.iter(|| black_box(base.join(black_box("community-plugins.json")).unwrap()));
    });
    g.finish();
}

common::quick_main!(bench);

//! Criterion settings shared by `resolve_cached` and the Unleash baseline
//! (`bench/unleash-baseline`, which includes this file by path), so the two measure alike.

use std::time::Duration;

use criterion::Criterion;

/// 0.5 s of warm-up, 2 s of measurement, 30 samples: short enough for a shared machine, and
/// the same in both benches so their figures compare.
pub(crate) fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

/// The bench's `main`: runs `$target` (a `fn(&mut Criterion)`) with [`quick`]'s settings.
macro_rules! quick_main {
    ($target:path) => {
        criterion::criterion_group! {
            name = benches;
            config = common::quick();
            targets = $target
        }
        criterion::criterion_main!(benches);
    };
}
pub(crate) use quick_main;

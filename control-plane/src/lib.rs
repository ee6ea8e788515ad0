//! Sourcegate control plane (work in progress: see issue 4).

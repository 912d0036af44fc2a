//! Docker Engine API bodies (API 1.44 to 1.50), as moby's `api/swagger.yaml` and
//! `api/types` define them, with fields in the order Docker prints them (the docker
//! CLI's `inspect` re-indents the daemon's bytes, so the order is what users see).
//! These are a contract of their own, kept apart from netctl's `/v1/` types.

pub mod container;
pub mod events;
pub mod filters;
pub mod network;
pub mod system;

/// The oldest and newest Engine API versions netctld answers.
pub const MIN_API_VERSION: (u32, u32) = (1, 44);
pub const MAX_API_VERSION: (u32, u32) = (1, 50);

pub fn version_text(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

/// Go's `time.Time` zero value, which Docker prints for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

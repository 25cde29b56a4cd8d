//! Scenario files: what is checked, as data.
//!
//! One TOML file describes one check: its metadata (ID, level, references, applicability) and the
//! steps that decide it. Steps are built from a fixed vocabulary implemented in Rust (the runner's
//! request steps, and the probes registered under check IDs); the files only combine them. Parsing is strict: an unknown field, a bad
//! value or an unknown probe is an error naming the file, line and field.

mod load;
mod model;

pub use load::{
    Catalogue, KnownProbe, builtin_files, load_builtin, load_dir, parse_scenario, selected,
};
pub use model::*;

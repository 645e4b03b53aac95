//! Integration tests: one binary, topical modules.

mod bad_input;
mod browser;
mod cli;
mod common;
mod corpus;
mod determinism;
mod everyday;
mod hostile;
mod layouts;
mod readme;
mod sharing;
mod spark;
mod state;
mod templates;
mod trends;
mod untrusted;
mod workflows;

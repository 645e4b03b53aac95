//! Integration tests: one binary, topical modules.

mod bad_input;
mod cli;
mod common;
mod determinism;
mod layouts;
mod trends;

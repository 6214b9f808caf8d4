//! The pricesync server and CLI: composes the library crates into an
//! actix-web service (read API, health) and the `pricesync` command.

pub mod api;
pub mod catalogue;
pub mod changes;
pub mod cli;
pub mod config;
mod http_guard;
pub mod pricing;
pub mod server;

pub use config::{Config, ConfigError};
pub use server::Application;

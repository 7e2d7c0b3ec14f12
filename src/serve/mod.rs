//! The exporter's HTTP endpoint: `/metrics`, `/-/healthy`, `/-/ready` and a landing page, with
//! optional TLS and basic auth configured by an exporter-toolkit web config file.
//!
//! Scrapes never trigger collection: the collector publishes a rendered [`state::Exposition`]
//! once per cycle and every scrape serves those bytes, so scrape cost is independent of cluster size.

mod auth;
pub mod http;
mod reload;
mod routes;
pub mod state;
mod tls;
pub mod web_config;

pub use http::{bind, serve, HttpConfig, ServeError};
pub use state::{Exposition, ServeState};
pub use web_config::{WebConfig, WebConfigError};

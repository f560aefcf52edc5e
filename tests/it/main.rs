//! The integration tests, linked as one binary: each module is one area (the file names say
//! which); `support` holds the synthetic snapshots and dashboards they share.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests print their skips and what a cleanup could not undo.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod aggregate_fd_exhaustion;
mod aggregate_groupings;
mod aggregate_kernel_rules;
mod aggregate_rules;
mod aggregate_scale;
mod all_netns;
mod boundaries;
mod broken_stderr;
mod check_netns;
mod churn_netns;
mod cli;
mod config;
mod containers_netns;
mod events_netns;
mod fd_exhaustion_netns;
mod follow_netns;
mod hostile_names;
mod hostile_names_netns;
mod lab_churn;
mod lab_states;
mod netns_match;
mod one_shot_netns;
mod owners_netns;
mod parser;
mod parser_oracle;
mod record_all_netns;
mod record_netns;
mod record_tmux;
mod serve_conventions;
mod serve_http;
mod serve_http_limits;
mod serve_metrics;
mod serve_prometheus;
mod serve_web_config;
mod snapshot_netns;
mod support;
mod tiers_netns;
mod tui_containers;
mod tui_detail;
mod tui_filter_line;
mod tui_keys;
mod tui_namespaces;
mod tui_render;
mod tui_replay;
mod tui_tmux;

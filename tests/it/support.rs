//! Helpers the test modules share.

pub mod dashboard;
pub mod synthetic;

//! Outputs that render a snapshot once: the text report and the JSON document.
//! None of them talks to the kernel or counts anything the collector did not give it.

pub mod anomaly;
pub mod check;
mod chunks;
pub mod json;
pub mod text;

//! Records the raw sock_diag datagrams of this namespace into files, for golden parser tests:
//! `cargo run --example record_dump -- DIR` writes DIR/inet-N.bin and DIR/inet6-N.bin.

// A tool run by hand, whose report is its printed output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use sockscope::collect::netlink::SockDiag;
use sockscope::model::{Family, StateSet};

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".to_owned()));
    let mut diag = SockDiag::open()?;
    for family in [Family::Inet, Family::Inet6] {
        for (i, datagram) in diag.dump_raw(family, StateSet::ALL)?.iter().enumerate() {
            let path = dir.join(format!("{}-{i}.bin", family.name()));
            std::fs::write(&path, datagram)?;
            println!("{} {} bytes", path.display(), datagram.len());
        }
    }
    Ok(())
}

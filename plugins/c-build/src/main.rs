//! `muster-c-build`: builds a muster plugin written in C into a component (see the library).
//!
//! ```sh
//! cargo run -p muster-c-build -- --world license-rule -o rule.wasm app.c
//! ```

use clap::Parser;

#[derive(Parser)]
#[command(about = "Builds a muster plugin written in C into a WebAssembly component")]
struct Cli {
    // `--wit` defaults to this repository's `wit/`.
    #[command(flatten)]
    args: muster_c_build::BuildArgs,
}

fn main() -> anyhow::Result<()> {
    let build = Cli::parse().args.build(muster_c_build::default_wit);
    muster_c_build::build(&build)?;
    Ok(())
}

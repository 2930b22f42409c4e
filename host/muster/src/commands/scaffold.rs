//! `muster plugin new --lang rust|python|js|c [--world license-rule|transformer] NAME`: a working
//! plugin (source, config, cases file, build command) from the templates in
//! `plugins/templates/` (a transformer's in `plugins/templates/transformer/`), with the Python or
//! JavaScript helper module (`plugins/sdk-python/`, `plugins/sdk-js/`) beside the source,
//! compiled into the binary so it works outside the repository.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

/// A language the scaffold knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
    C,
}

/// The world a plugin targets (in the interface's newest version, `wit/0.2.0/plugin.wit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum World {
    LicenseRule,
    Transformer,
}

impl World {
    pub fn name(self) -> &'static str {
        match self {
            World::LicenseRule => "license-rule",
            World::Transformer => "transformer",
        }
    }
}

/// The interface a scaffold is built against, copied into it as `wit/plugin.wit`: the newest
/// version this host serves.
const WIT: &str = include_str!("../../../../wit/0.2.0/plugin.wit");

/// A world's README, cases file and configuration.
fn world_files(world: World) -> [(&'static str, &'static str); 3] {
    match world {
        World::LicenseRule => [
            (
                "README.md",
                include_str!("../../../../plugins/templates/README.md"),
            ),
            (
                "cases.json",
                include_str!("../../../../plugins/templates/cases.json"),
            ),
            (
                "config.json",
                include_str!("../../../../plugins/templates/config.json"),
            ),
        ],
        World::Transformer => [
            (
                "README.md",
                include_str!("../../../../plugins/templates/transformer/README.md"),
            ),
            (
                "cases.json",
                include_str!("../../../../plugins/templates/transformer/cases.json"),
            ),
            (
                "config.json",
                include_str!("../../../../plugins/templates/transformer/config.json"),
            ),
        ],
    }
}

/// The source of `lang` for `world`.
fn source(lang: Lang, world: World) -> &'static str {
    match (lang, world) {
        (Lang::Rust, World::LicenseRule) => {
            include_str!("../../../../plugins/templates/rust/src/lib.rs")
        }
        (Lang::Rust, World::Transformer) => {
            include_str!("../../../../plugins/templates/transformer/rust/src/lib.rs")
        }
        (Lang::Python, World::LicenseRule) => {
            include_str!("../../../../plugins/templates/python/app.py")
        }
        (Lang::Python, World::Transformer) => {
            include_str!("../../../../plugins/templates/transformer/python/app.py")
        }
        (Lang::Js, World::LicenseRule) => include_str!("../../../../plugins/templates/js/app.js"),
        (Lang::Js, World::Transformer) => {
            include_str!("../../../../plugins/templates/transformer/js/app.js")
        }
        (Lang::C, World::LicenseRule) => include_str!("../../../../plugins/templates/c/app.c"),
        (Lang::C, World::Transformer) => {
            include_str!("../../../../plugins/templates/transformer/c/app.c")
        }
    }
}

/// (path in the new folder, template text, executable).
fn files(lang: Lang, world: World) -> Vec<(&'static str, &'static str, bool)> {
    let [readme, cases, config] = world_files(world);
    let mut files = vec![
        ("wit/plugin.wit", WIT, false),
        (readme.0, readme.1, false),
        (cases.0, cases.1, false),
        (config.0, config.1, false),
        (
            ".gitignore",
            "*.wasm\ntarget/\nnode_modules/\n__pycache__/\n.venv/\n",
            false,
        ),
    ];
    files.extend(match lang {
        Lang::Rust => vec![
            (
                "Cargo.toml",
                include_str!("../../../../plugins/templates/rust/Cargo.toml"),
                false,
            ),
            ("src/lib.rs", source(lang, world), false),
            (
                "build.sh",
                include_str!("../../../../plugins/templates/rust/build.sh"),
                true,
            ),
        ],
        Lang::Python => vec![
            ("app.py", source(lang, world), false),
            (
                "muster_plugin.py",
                include_str!("../../../../plugins/sdk-python/muster_plugin.py"),
                false,
            ),
            (
                "build.sh",
                include_str!("../../../../plugins/templates/python/build.sh"),
                true,
            ),
        ],
        // The JSON reader is the C example's: wasi-libc has none.
        Lang::C => vec![
            ("app.c", source(lang, world), false),
            (
                "json.c",
                include_str!("../../../../plugins/license-by-group-c/json.c"),
                false,
            ),
            (
                "json.h",
                include_str!("../../../../plugins/license-by-group-c/json.h"),
                false,
            ),
            (
                "build.sh",
                include_str!("../../../../plugins/templates/c/build.sh"),
                true,
            ),
        ],
        Lang::Js => vec![
            ("app.js", source(lang, world), false),
            (
                "muster-plugin.js",
                include_str!("../../../../plugins/sdk-js/muster-plugin.js"),
                false,
            ),
            (
                "package.json",
                include_str!("../../../../plugins/templates/js/package.json"),
                false,
            ),
            (
                "build.sh",
                include_str!("../../../../plugins/templates/js/build.sh"),
                true,
            ),
        ],
    });
    files
}

/// `muster plugin build-c`.
pub fn build_c(build: muster_c_build::Build) -> anyhow::Result<ExitCode> {
    muster_c_build::build(&build)
        .with_context(|| format!("building {} from C", build.out.display()))?;
    println!("built {}", build.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Plugin names become file, crate and package names: lowercase letters, digits and dashes.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "plugin name {name:?}: use lowercase letters, digits and dashes, starting with a letter (e.g. my-rule)"
        );
    }
    Ok(())
}

/// Writes the scaffold into `dir` (which must not exist yet).
pub fn new(lang: Lang, world: World, name: &str, dir: &Path) -> anyhow::Result<ExitCode> {
    check_name(name)?;
    if dir.exists() {
        bail!(
            "{} exists already; choose another folder with --dir",
            dir.display()
        );
    }
    let (language, source, requires) = match lang {
        Lang::Rust => (
            "Rust",
            "src/lib.rs",
            "Rust with `rustup target add wasm32-wasip2`",
        ),
        Lang::Python => ("Python", "app.py", "componentize-py 0.25.1 on PATH"),
        Lang::Js => (
            "JavaScript",
            "app.js",
            "`npm install` first: componentize-js 0.23.0",
        ),
        Lang::C => (
            "C",
            "app.c",
            "muster on PATH, and Debian's clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32",
        ),
    };
    // The README's row for the helper module, where the language has one.
    let helper_row = match lang {
        Lang::Rust => "",
        Lang::Python => {
            "| `muster_plugin.py` | helpers: read the configuration, check groups, build the answers |\n"
        }
        Lang::Js => {
            "| `muster-plugin.js` | helpers: read the configuration, check groups, build the answers |\n"
        }
        Lang::C => "| `json.c`, `json.h` | a small JSON reader, for the configuration |\n",
    };
    let lang_flag = match lang {
        Lang::Rust => "rust",
        Lang::Python => "python",
        Lang::Js => "js",
        Lang::C => "c",
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{language}}", language)
            .replace("{{lang}}", lang_flag)
            .replace("{{source}}", source)
            .replace("{{requires}}", requires)
            .replace("{{world}}", world.name())
            .replace("{{helper_row}}", helper_row)
    };
    for (path, template, executable) in files(lang, world) {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let text = if path == "wit/plugin.wit" {
            template.to_string()
        } else {
            fill(template)
        };
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", target.display()))?;
        }
    }
    let what = match world {
        World::LicenseRule => "license rule",
        World::Transformer => "transformer",
    };
    println!("created {} ({language} {what} {name})", dir.display());
    println!("  build: {}/build.sh   ({requires})", dir.display());
    println!(
        "  test:  muster plugin test {}/{name}.wasm --cases {}/cases.json",
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

//! One module per command family.

pub mod demo;
pub mod logs;
pub mod migrate_state;
pub mod plugin;
pub mod reconcile;
pub mod replay;
pub mod scaffold;
pub mod serve;
pub mod simulate;
pub mod sync;

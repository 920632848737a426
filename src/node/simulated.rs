//! (to be written)

use crate::controllers::runtime::Context;

/// Registers `count` simulated nodes and runs their pods until `ctx.stop` is cancelled.
pub async fn run(ctx: Context, count: u32) {
    let _ = count;
    ctx.stop.cancelled().await;
}

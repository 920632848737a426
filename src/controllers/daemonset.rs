//! (to be written)

use super::runtime::Context;

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    ctx.stop.cancelled().await;
}
